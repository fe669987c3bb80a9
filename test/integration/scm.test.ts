// The freeze through Octokit against a local fake of GitHub's REST API, the tag
// with real git in throwaway repositories, and the close-out activities that
// record both in the real evidence ledger (PostgreSQL of `scripts/services.sh up`).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { scmFromEnv } from '../../src/adapters/scm';
import { createGitTagger, TagRefusedError } from '../../src/adapters/scm/git';
import { createGitHubFreeze, GitHubError } from '../../src/adapters/scm/github';
import { createCloseoutActivities } from '../../src/activities/closeout';
import { loadConfig } from '../../src/config';
import { startFakeGitHub, type FakeGitHub } from '../../demo/fake-github';

const exec = promisify(execFile);
const git = async (cwd: string, ...args: string[]) => (await exec('git', ['-C', cwd, ...args])).stdout.trim();
const TOKEN = 'ghp_test_token';

let gh: FakeGitHub;
let dir: string;

beforeEach(async () => {
  gh = await startFakeGitHub({ repository: 'acme/spark', token: TOKEN, pageSize: 2 });
  // Five open pull requests (three pages), one closed, and an issue that is not a pull request.
  for (const n of [11, 12, 13, 14, 15]) gh.add({ number: n, title: `PR ${n}`, pullRequest: true, labels: n === 12 ? ['hold-for-canary'] : ['feature'] });
  gh.add({ number: 9, title: 'old PR', pullRequest: true, state: 'closed' });
  gh.add({ number: 20, title: 'an issue', pullRequest: false, labels: ['hold-for-canary'] });
  dir = await mkdtemp(path.join(tmpdir(), 'scm-test-'));
});

afterEach(async () => {
  await gh.close();
  await rm(dir, { recursive: true, force: true });
});

const labels = (n: number) => gh.issues.get(n)!.labels;

describe('the GitHub freeze (Octokit against a local fake)', () => {
  it('labels every open pull request across pages, and nothing else', async () => {
    const freeze = createGitHubFreeze({ apiUrl: gh.url, repository: 'acme/spark', token: TOKEN });
    const change = await freeze.hold('hold-for-canary');

    expect(change).toEqual({ repository: 'acme/spark', label: 'hold-for-canary', changed: [15, 14, 13, 11], unchanged: [12] });
    for (const n of [11, 12, 13, 14, 15]) expect(labels(n)).toContain('hold-for-canary');
    expect(labels(11)).toEqual(['feature', 'hold-for-canary']);
    expect(labels(9)).toEqual([]);
    expect(gh.requests.filter((r) => r.startsWith('GET /repos/acme/spark/pulls'))).toHaveLength(3);
    // Again: nothing left to change.
    expect((await freeze.hold('hold-for-canary')).changed).toEqual([]);
  });

  it('lifts the label from open pull requests only, keeping their other labels', async () => {
    const freeze = createGitHubFreeze({ apiUrl: `${gh.url}/`, repository: 'acme/spark', token: TOKEN });
    await freeze.hold('hold-for-canary');
    const change = await freeze.lift('hold-for-canary');

    expect(change.changed.sort()).toEqual([11, 12, 13, 14, 15]);
    for (const n of [11, 12, 13, 14, 15]) expect(labels(n)).not.toContain('hold-for-canary');
    expect(labels(11)).toEqual(['feature']);
    // The issue that is not a pull request keeps its label.
    expect(labels(20)).toEqual(['hold-for-canary']);
    expect(await freeze.lift('hold-for-canary')).toMatchObject({ changed: [], unchanged: [] });
  });

  it('refuses bad credentials for good, and leaves server errors to the retries', async () => {
    const wrong = createGitHubFreeze({ apiUrl: gh.url, repository: 'acme/spark', token: 'nope' });
    const refused = await wrong.hold('hold-for-canary').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GitHubError);
    expect(refused).toMatchObject({ status: 401, retryable: false });
    expect((refused as Error).message).toMatch(/list open pull requests of acme\/spark: 401 Bad credentials/);

    gh.failNext(502);
    const flaky = createGitHubFreeze({ apiUrl: gh.url, repository: 'acme/spark', token: TOKEN });
    await expect(flaky.hold('hold-for-canary')).rejects.toMatchObject({ status: 502, retryable: true });
    expect((await flaky.hold('hold-for-canary')).changed).toHaveLength(4);
  });

  it('reports an unreachable API as retryable', async () => {
    const url = gh.url;
    await gh.close();
    const freeze = createGitHubFreeze({ apiUrl: url, repository: 'acme/spark', token: TOKEN, timeoutMs: 2000 });
    await expect(freeze.hold('hold-for-canary')).rejects.toMatchObject({ retryable: true });
    gh = await startFakeGitHub({ repository: 'acme/spark' }); // for afterEach
  });
});

describe('the release tag (real git)', () => {
  async function repo(bare = false): Promise<{ path: string; head: string; first: string }> {
    const work = path.join(dir, 'work');
    await exec('git', ['init', '-q', '-b', 'main', work]);
    const commit = async (msg: string) => {
      fs.writeFileSync(path.join(work, 'file.txt'), msg);
      await git(work, 'add', '.');
      await git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', msg);
      return git(work, 'rev-parse', 'HEAD');
    };
    const first = await commit('first');
    const head = await commit('second');
    if (!bare) return { path: work, head, first };
    const origin = path.join(dir, 'origin.git');
    await exec('git', ['clone', '-q', '--bare', work, origin]);
    return { path: origin, head, first };
  }

  it('creates an annotated tag on the named commit, once', async () => {
    const r = await repo();
    const tagger = createGitTagger({ repository: r.path, tagger: { name: 'spark-release', email: 'release@acme.test' } });
    const result = await tagger.tag({ name: 'v1.4.0', commit: r.first.slice(0, 10), message: 'v1.4.0 canary: 1%→100%' });

    expect(result).toEqual({ repository: r.path, name: 'v1.4.0', commit: r.first, created: true });
    expect(await git(r.path, 'cat-file', '-t', 'v1.4.0')).toBe('tag');
    expect(await git(r.path, 'rev-parse', 'v1.4.0^{commit}')).toBe(r.first);
    expect(await git(r.path, 'tag', '-l', '--format=%(contents:subject)|%(taggername)', 'v1.4.0')).toBe('v1.4.0 canary: 1%→100%|spark-release');
    // A retry finds it in place.
    expect(await tagger.tag({ name: 'v1.4.0', commit: r.first, message: 'again' })).toMatchObject({ created: false, commit: r.first });
  });

  it('tags HEAD of a bare origin when the plan names no commit', async () => {
    const r = await repo(true);
    const result = await createGitTagger({ repository: r.path }).tag({ name: 'v1.4.0', message: 'm' });
    expect(result).toMatchObject({ commit: r.head, created: true });
    expect(await git(r.path, 'rev-parse', 'refs/tags/v1.4.0^{commit}')).toBe(r.head);
  });

  it('refuses what retrying cannot fix: a tag elsewhere, a bad name, an unknown commit, no repository', async () => {
    const r = await repo();
    const tagger = createGitTagger({ repository: r.path });
    await tagger.tag({ name: 'v1.4.0', commit: r.first, message: 'm' });
    await expect(tagger.tag({ name: 'v1.4.0', commit: r.head, message: 'm' })).rejects.toThrow(new RegExp(`^tag: v1\\.4\\.0 already exists in .* on ${r.first}, not ${r.head}`));
    await expect(tagger.tag({ name: 'v1..4', message: 'm' })).rejects.toThrow(/^tag: "v1\.\.4" is not a valid git tag name/);
    await expect(tagger.tag({ name: 'v1.4.1', commit: 'deadbeef', message: 'm' })).rejects.toThrow(/^commit: deadbeef is not a commit/);
    const missing = createGitTagger({ repository: path.join(dir, 'nope') });
    await expect(missing.tag({ name: 'v1.4.0', message: 'm' })).rejects.toBeInstanceOf(TagRefusedError);
    expect(await git(r.path, 'rev-parse', 'v1.4.0^{commit}')).toBe(r.first);
  });
});

describe('scmFromEnv', () => {
  it('configures nothing when nothing is set', () => {
    expect(scmFromEnv({})).toEqual({ github: null, git: null });
  });

  it('builds both adapters from the variables', () => {
    const scm = scmFromEnv({ GITHUB_API_URL: gh.url, GITHUB_REPOSITORY: 'acme/spark', GITHUB_TOKEN: TOKEN, SPARK_GIT_REPO: dir });
    expect(scm.github?.repository).toBe('acme/spark');
    expect(scm.git?.repository).toBe(dir);
  });

  it('names the variable that is wrong', () => {
    expect(() => scmFromEnv({ GITHUB_REPOSITORY: 'spark' })).toThrow(/^GITHUB_REPOSITORY: "spark" is not owner\/name/);
    expect(() => scmFromEnv({ GITHUB_REPOSITORY: 'acme/spark', GITHUB_API_URL: 'not a url' })).toThrow(/^GITHUB_API_URL: "not a url" is not a URL/);
  });
});

describe('the close-out activities record what was done, and what was not', () => {
  let ledger: PostgresLedger;
  beforeAll(async () => {
    ledger = await createPostgresLedger({ databaseUrl: loadConfig().databaseUrl, evidenceDir: path.join(tmpdir(), 'scm-evidence') });
  });
  afterAll(async () => ledger?.close());

  const ref = () => ({ release: `scm-test-${randomUUID()}`, runId: 'run-1', service: 'spark-trading', version: 'v1.4.0' });
  const evidence = async (release: string, file: string) => (await ledger.list(release)).find((r) => r.file === file)?.body ?? '';

  it('says "not configured" when the worker has no adapters', async () => {
    const acts = createCloseoutActivities({ ledger });
    const r = ref();
    const freeze = await acts.applyFreeze({ ...r, file: 'freeze_v1.4.0.txt', label: 'hold-for-canary' });
    const tag = await acts.tagRelease({ ...r, file: 'git_tag_v1.4.0.txt', tag: 'v1.4.0', message: 'm' });
    expect(freeze).toMatchObject({ action: 'freeze', status: 'not-configured', summary: 'freeze (label hold-for-canary): not configured, nothing was done' });
    expect(tag.status).toBe('not-configured');
    expect(await evidence(r.release, 'freeze_v1.4.0.txt')).toContain('status: not-configured');
    expect(await evidence(r.release, 'git_tag_v1.4.0.txt')).toContain('status: not-configured');
  });

  it('freezes, lifts and tags through the adapters, with the pull requests in the evidence', async () => {
    const work = path.join(dir, 'repo');
    await exec('git', ['init', '-q', work]);
    await git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'release');
    const acts = createCloseoutActivities({ ledger, scm: scmFromEnv({ GITHUB_API_URL: gh.url, GITHUB_REPOSITORY: 'acme/spark', GITHUB_TOKEN: TOKEN, SPARK_GIT_REPO: work }) });
    const r = ref();

    expect(await acts.applyFreeze({ ...r, file: 'freeze_v1.4.0.txt', label: 'hold-for-canary' })).toMatchObject({ status: 'done' });
    expect(await evidence(r.release, 'freeze_v1.4.0.txt')).toContain('labelled: #15 #14 #13 #11\nalready labelled: #12');
    expect(await acts.liftFreeze({ ...r, file: 'freeze_lift_v1.4.0.txt', label: 'hold-for-canary' })).toMatchObject({ status: 'done', summary: 'removed hold-for-canary from 5 open pull request(s) in acme/spark' });
    const tag = await acts.tagRelease({ ...r, file: 'git_tag_v1.4.0.txt', tag: 'v1.4.0', message: 'one-liner' });
    expect(tag.summary).toMatch(/^created tag v1\.4\.0 on [0-9a-f]{40} in .* \(HEAD: the plan names no commit\)$/);
    expect(await git(work, 'tag', '-l')).toBe('v1.4.0');
  });

  it('records a refusal as failed and throws what a retry may fix', async () => {
    const acts = createCloseoutActivities({ ledger, scm: scmFromEnv({ GITHUB_API_URL: gh.url, GITHUB_REPOSITORY: 'acme/spark', GITHUB_TOKEN: 'wrong' }) });
    const r = ref();
    const failed = await acts.applyFreeze({ ...r, file: 'freeze_v1.4.0.txt', label: 'hold-for-canary' });
    expect(failed.status).toBe('failed');
    expect(failed.summary).toMatch(/FAILED: GitHub list open pull requests of acme\/spark: 401/);

    gh.failNext(503);
    const flaky = createCloseoutActivities({ ledger, scm: scmFromEnv({ GITHUB_API_URL: gh.url, GITHUB_REPOSITORY: 'acme/spark', GITHUB_TOKEN: TOKEN }) });
    await expect(flaky.liftFreeze({ ...r, file: 'freeze_lift_v1.4.0.txt', label: 'hold-for-canary' })).rejects.toMatchObject({ retryable: true });
    expect(await evidence(r.release, 'freeze_lift_v1.4.0.txt')).toBe('');
  });
});
