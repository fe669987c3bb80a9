// The first night and the close-out.
// 1. The full shipped 24 h rhythm (34 checks) under Temporal's time-skipping test
//    server (.tools/bin/temporal-test-server), with the real activities against the
//    real Prometheus and evidence ledger, then the breach policies with test
//    activities (the tests there are about what a breach does, not about data).
// 2. Whole releases on the real dev server (test/support/harness.ts) with the demo
//    target, Prometheus, PostgreSQL, a local fake GitHub and a real git repository:
//    freeze, risks update, first-night rollback and abort, close-out documents, tag.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowClient } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { InstantResult } from '../../src/adapters/metrics/provider';
import type { EvidenceInput, EvidenceLedger } from '../../src/adapters/ledger/ledger';
import { createPostgresLedger } from '../../src/adapters/ledger/postgres';
import { createPrometheusProvider } from '../../src/adapters/metrics/prometheus';
import { createTrafficRouter } from '../../src/adapters/traffic';
import { createActivities } from '../../src/activities';
import { main } from '../../src/client';
import type { ReleaseActivities } from '../../src/activities/types';
import { loadConfig } from '../../src/config';
import { loadPlanFile, loadPlanFileWith } from '../../src/plan/loader';
import type { ReleasePlan } from '../../src/plan/schema';
import { renderBurnQueries } from '../../src/workflows/burn-rate';
import { renderCanaryQueries } from '../../src/workflows/canary-judgment';
import { samplesKey } from '../../src/workflows/decide';
import type { FirstNightInput, FirstNightResult } from '../../src/workflows/first-night';
import { setRisksUpdate } from '../../src/workflows/messages';
import { startFakeGitHub, type FakeGitHub } from '../../demo/fake-github';
import { approveGo, approveGoOverriding, GITHUB_TOKEN_FOR_TESTS, stableServing, startHarness, uniquePlan, waitForStatus, workflowBundle, type Harness } from '../support/harness';

const exec = promisify(execFile);
const config = loadConfig();
const SHIPPED = path.join(__dirname, '../../plans/v1.4.0.yaml');
const TEST_SERVER = path.join(config.toolsBin, 'temporal-test-server');
const MIN = 60_000;

let h: Harness;
let ledger: EvidenceLedger;
let gh: FakeGitHub;
let gitDir: string;
let commit: string;

beforeAll(async () => {
  // The worker's SCM adapters: a GitHub stand-in and a throwaway repository.
  gh = await startFakeGitHub({ repository: 'acme/spark', token: GITHUB_TOKEN_FOR_TESTS, pageSize: 2 });
  gitDir = await mkdtemp(path.join(tmpdir(), 'first-night-git-'));
  await exec('git', ['init', '-q', gitDir]);
  await exec('git', ['-C', gitDir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'v1.4.0']);
  commit = (await exec('git', ['-C', gitDir, 'rev-parse', 'HEAD'])).stdout.trim();
  h = await startHarness('first-night', { github: gh, gitRepo: gitDir });
  ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: config.evidenceDir });
});

afterAll(async () => {
  await ledger?.close();
  await h?.close();
  await gh?.close();
  if (gitDir) await rm(gitDir, { recursive: true, force: true });
});

/** The plan's check times in minutes, computed here on its own: every `every` up to each `until`. */
function plannedMinutes(plan: ReleasePlan): number[] {
  const out: number[] = [];
  let t = 0;
  for (const step of plan.firstNight.rhythm) {
    for (t += step.every; t <= step.until; t += step.every) out.push(t / MIN);
    t = step.until;
  }
  return out;
}

type History = Awaited<ReturnType<ReturnType<WorkflowClient['getHandle']>['fetchHistory']>>;

/** History length of every execution of a continue-as-new chain, first to last. */
async function historyLengths(client: WorkflowClient, workflowId: string, firstRunId: string): Promise<number[]> {
  const lengths: number[] = [];
  let runId: string | null | undefined = firstRunId;
  while (runId) {
    const history: History = await client.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    lengths.push(events.length);
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return lengths;
}

function firstNightInput(plan: ReleasePlan, release: string, startedAt: number): FirstNightInput {
  return {
    release: { release, runId: 'time-skipping', service: plan.service, version: plan.version },
    plan, baseline: {}, warRoomChannel: '#spark-warroom-v1-4-0', startedAt, checkIndex: 0, memory: null, summary: null,
  };
}

describe('the shipped 24 h first night under time skipping', () => {
  let env: TestWorkflowEnvironment;
  const plan = loadPlanFile(SHIPPED);

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: TEST_SERVER } } });
  });
  afterAll(async () => env?.teardown());

  async function runWatch(activities: object, input: FirstNightInput): Promise<{ result: FirstNightResult; histories: number[] }> {
    const taskQueue = `first-night-ts-${Date.now()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities });
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start('firstNightWorkflow', { taskQueue, workflowId: input.release.release, args: [input] });
      const result = (await handle.result()) as FirstNightResult;
      return { result, histories: await historyLengths(env.client.workflow, input.release.release, handle.firstExecutionRunId) };
    });
  }

  test('34 checks at the planned times, 3 small histories, 24 hourly logs (real Prometheus and ledger)', async () => {
    const metrics = createPrometheusProvider({ baseUrl: config.prometheusUrl, timeoutMs: 10_000 });
    await h.target.setWeight(100); // the canary serves everything after promotion
    // Under time skipping the 24 h take seconds of Prometheus' clock: first let the canary gather its samples.
    const requests = renderCanaryQueries(plan, 'canary').byId[samplesKey('error_rate_5xx')]!;
    const enough = Number(plan.signals.find((s) => s.id === 'error_rate_5xx')!.samples?.minimum ?? 0) * 5;
    for (let tries = 0; tries < 120; tries++) {
      const r = await metrics.instant(requests);
      if (r.kind === 'value' && Number(r.value) >= enough) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const real = createActivities({ ledger, metrics, router: createTrafficRouter });
    // The evaluation activity sees the server's (skipped) clock: it must match the workflow's.
    const scheduled: number[] = [];
    const activities: ReleaseActivities = {
      ...real,
      evaluate: (req) => {
        scheduled.push(Context.current().info.scheduledTimestampMs);
        return real.evaluate(req);
      },
    };
    const release = `first-night-ts-${process.pid}-${Date.now()}`;
    const startedAt = await env.currentTimeMs();
    const { result, histories } = await runWatch(activities, firstNightInput(plan, release, startedAt));

    expect(result.kind).toBe('watched');
    const checks = result.summary.checks;
    expect(checks).toHaveLength(34);
    expect(plannedMinutes(plan)).toHaveLength(34);
    // Each check ran in the very minute the plan puts it, by the workflow's clock and the server's.
    expect(checks.map((c) => Math.floor(c.elapsedMs / MIN))).toEqual(plannedMinutes(plan));
    expect(scheduled.map((t) => Math.floor((t - startedAt) / MIN))).toEqual(plannedMinutes(plan));
    expect(checks.every((c) => c.outcome === 'ok' && c.passed === c.total)).toBe(true);
    // continue-as-new every 12 checks: 3 executions, each history far below Temporal's 4,096-event suggestion.
    expect(histories).toHaveLength(3);
    expect(result.summary.runs).toBe(3);
    for (const length of histories) expect(length).toBeLessThan(200);

    const records = await ledger.list(release);
    const logs = records.filter((r) => /^hourly_log_\d\d\.txt$/.test(r.file));
    expect([...new Set(logs.map((r) => r.file))].sort()).toEqual(Array.from({ length: 24 }, (_, i) => `hourly_log_${String(i).padStart(2, '0')}.txt`));
    expect(logs.filter((r) => r.file === 'hourly_log_00.txt').map((r) => r.body.match(/first night (\d+)\/34/)![1])).toEqual(['1', '2', '3', '4']);
    expect(logs.find((r) => r.file === 'hourly_log_23.txt')!.body).toMatch(/first night 34\/34 \| .* \| 8\/8 PASS \| IC: Continue \| burn 1h\/5m [\d.]+x\/[\d.]+x <=14\.4x, 6h\/30m [\d.]+x\/[\d.]+x <=6x/);
    expect(records.filter((r) => r.file === 'pages.txt')).toEqual([]);
    expect((await ledger.verify(release)).ok).toBe(true);
  });

  describe('a breach', () => {
    const signals = renderCanaryQueries(plan, 'canary');
    const burn = renderBurnQueries(plan.firstNight.burnRate, { service: plan.service, version: plan.version, track: 'canary' });
    /** Healthy answers: each signal at half its bound on plenty of samples, triggers at 0, no errors burning the budget. */
    const sampleQueries = new Set([...plan.signals, ...plan.triggers].filter((x) => x.samples).map((x) => signals.byId[samplesKey(x.id)]!));
    const healthy: Record<string, string> = Object.fromEntries([
      ...signals.unique.map((q) => [q, sampleQueries.has(q) ? '100000' : '0'] as const),
      ...plan.signals.filter((s) => !s.pass.relativeTo).map((s) => [signals.byId[s.id]!, String(Number(s.pass.value) / Number(s.scale) / 2)] as const),
    ]);

    /** Test activities: the burn rate of the 1h/5m alert at 20x during `burning` checks. */
    function scripted(burning: (check: number) => boolean) {
      const calls = { announce: [] as string[], page: [] as string[], evidence: [] as EvidenceInput[] };
      let check = 0;
      const activities: Partial<ReleaseActivities> = {
        async evaluate(req) {
          check += 1;
          calls.evidence.push(...req.flush);
          const hot = burning(check);
          const value = (q: string) => (q === burn[0]!.long || q === burn[0]!.short ? (hot ? '0.2' : '0.001') : healthy[q] ?? '0');
          return Object.fromEntries(req.queries.map((q): [string, InstantResult] => [q, { kind: 'value', value: value(q), series: 1, resolvedQuery: q, at: new Date().toISOString() }]));
        },
        async recordEvidence(records) {
          calls.evidence.push(...records);
          return records.length;
        },
        async announce(req) {
          calls.announce.push(`${req.channel} ${req.text}`);
          return { delivered: true, detail: 'test' };
        },
        async page(req) {
          calls.page.push(req.key);
          return { delivered: true, detail: 'test' };
        },
      };
      return { calls, activities };
    }

    test('with onBreach rollback: hands the rollback to the parent at that check, before any post, with the records it had queued', async () => {
      const { calls, activities } = scripted((n) => n >= 5);
      const startedAt = await env.currentTimeMs();
      const { result } = await runWatch(activities, firstNightInput(plan, `first-night-breach-${Date.now()}`, startedAt));

      expect(result).toMatchObject({ kind: 'rollback', cause: 'slo-burn-1h/5m' });
      if (result.kind !== 'rollback') throw new Error('unreachable');
      expect(result.reason).toMatch(/^first night 5\/34: SLO burn rate 1h\/5m 20x\/20x FIRING >14\.4x$/);
      expect(result.summary.checks).toHaveLength(5);
      expect(Math.floor(result.summary.checks[4]!.elapsedMs / MIN)).toBe(75);
      expect(result.summary.checks.map((c) => c.outcome)).toEqual(['ok', 'ok', 'ok', 'ok', 'breach']);
      // Traffic first: the parent rolls back, then tells the war-room; the breach's records go with the rollback's evidence.
      expect(calls.announce).toEqual([]);
      expect(calls.page).toEqual([]);
      expect(calls.evidence.filter((e) => e.file === 'hourly_log_01.txt')).toEqual([]);
      expect(result.pending?.filter((e) => e.file === 'hourly_log_01.txt').map((e) => e.key)).toEqual(['first-night/check/5']);
    });

    test('with onBreach page-human: pages, keeps watching all 34 checks, and a recovered burn is not a breach', async () => {
      const paging = loadPlanFileWith(SHIPPED, { firstNight: { onBreach: 'page-human' } });
      const { calls, activities } = scripted((n) => n === 20);
      const startedAt = await env.currentTimeMs();
      const { result } = await runWatch(activities, firstNightInput(paging, `first-night-page-${Date.now()}`, startedAt));

      expect(result.kind).toBe('watched');
      if (result.kind !== 'watched') throw new Error('unreachable');
      expect(result.summary.checks).toHaveLength(34);
      expect(result.summary.checks.filter((c) => c.outcome !== 'ok').map((c) => [c.n, c.outcome])).toEqual([[20, 'breach']]);
      expect(calls.page).toEqual(['page/first-night/20']);
      expect(calls.announce).toEqual([expect.stringMatching(/FIRST NIGHT BREACH .* first night 20\/34: .*Paging a human\.$/)]);
    });

    test('a ledger, chat and pager outage during a breach neither fails the watch nor stops the rollback', async () => {
      const { activities } = scripted((n) => n >= 3);
      const down = async () => { throw ApplicationFailure.nonRetryable('connect ECONNREFUSED 127.0.0.1:55432'); };
      const outage: Partial<ReleaseActivities> = { ...activities, recordEvidence: down, announce: down, page: down };
      const { result } = await runWatch(outage, firstNightInput(plan, `first-night-outage-${Date.now()}`, await env.currentTimeMs()));
      expect(result).toMatchObject({ kind: 'rollback', cause: 'slo-burn-1h/5m' });

      const paging = loadPlanFileWith(SHIPPED, { firstNight: { onBreach: 'page-human' } });
      const watched = await runWatch(outage, firstNightInput(paging, `first-night-outage-page-${Date.now()}`, await env.currentTimeMs()));
      expect(watched.result.kind).toBe('watched');
      expect(watched.result.summary.checks).toHaveLength(34);
    });

    test('no data all night ends unverified under the default policy, and rolls back under onMissingData: rollback', async () => {
      const silent: Partial<ReleaseActivities> = {
        ...scripted(() => false).activities,
        async evaluate(req) {
          const at = new Date().toISOString();
          return Object.fromEntries(req.queries.map((q): [string, InstantResult] => [q, { kind: 'query-error', message: 'Prometheus unreachable', resolvedQuery: q, at }]));
        },
      };
      const { result } = await runWatch(silent, firstNightInput(plan, `first-night-silent-${Date.now()}`, await env.currentTimeMs()));
      expect(result.kind).toBe('watched');
      if (result.kind !== 'watched') throw new Error('unreachable');
      expect(result.unverified).toBe('34 of 34 first-night checks had no data (budget 2)');

      const strict = loadPlanFileWith(SHIPPED, { firstNight: { onMissingData: 'rollback' } });
      const rolled = await runWatch(silent, firstNightInput(strict, `first-night-silent-rb-${Date.now()}`, await env.currentTimeMs()));
      expect(rolled.result).toMatchObject({ kind: 'rollback', cause: 'first-night-missing-data' });
      expect(rolled.result.summary.checks).toHaveLength(3);
    });
  });
});

describe('whole releases with freeze, first night and close-out (real dev server)', () => {
  const dir = (release: string) => path.join(config.evidenceDir, release);
  const read = (release: string, file: string) => fs.readFileSync(path.join(dir(release), file), 'utf8');
  const heldPrs = () => [...gh.issues.values()].filter((i) => i.labels.includes('hold-for-canary')).map((i) => i.number).sort();

  beforeEach(async () => {
    // An earlier test may have left the router at 100%: the baseline needs stable's traffic.
    await stableServing(h);
    gh.issues.clear();
    for (const n of [101, 102, 103]) gh.add({ number: n, title: `PR ${n}`, pullRequest: true });
  });
  afterEach(async () => {
    await h.target.clearFault('canary');
    await h.target.setWeight(0);
  });

  test('a healthy release: freeze at T-30, risks from a human, first night, notes, freeze lifted, tag created, ledger anchored', async () => {
    const plan = uniquePlan({ commit });
    // The worker signs with the release signing key it reads at each activity: this release's only.
    const keys = await mkdtemp(path.join(tmpdir(), 'first-night-key-'));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    fs.writeFileSync(path.join(keys, 'signing.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    fs.writeFileSync(path.join(keys, 'signing.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }) as string);
    const keyBefore = process.env.SPARK_SIGNING_KEY;
    process.env.SPARK_SIGNING_KEY = path.join(keys, 'signing.pem');
    const restoreKey = async () => {
      if (keyBefore === undefined) delete process.env.SPARK_SIGNING_KEY;
      else process.env.SPARK_SIGNING_KEY = keyBefore;
      await rm(keys, { recursive: true, force: true });
    };
    try {
      await healthyRelease(plan, path.join(keys, 'signing.pub.pem'));
    } finally {
      await restoreKey();
    }
  });

  async function healthyRelease(plan: ReleasePlan, publicKeyFile: string): Promise<void> {
    const { release, runId } = await h.client.start(plan, 'deniz');
    await waitForStatus(h.client, release, (s) => s.phase !== 'freeze');
    // The freeze is on while the release runs.
    expect(heldPrs()).toEqual([101, 102, 103]);

    const { handle } = await h.client.handle(release);
    const risk = { description: 'Ledger replica lag under the new batch size', owner: 'elif', due: '2026-12-01', mitigation: 'Alert on lag > 5 s', status: 'open' as const };
    await expect(handle.executeUpdate(setRisksUpdate, { args: [{ release, runId, by: 'mallory', reason: 'x', risks: [risk] }] })).rejects.toThrow();
    await handle.executeUpdate(setRisksUpdate, { args: [{ release, runId, by: 'bora', reason: 'IC review', risks: [risk] }] });
    await approveGo(h.client, release);
    const result = await h.client.result(release);
    const status = await h.client.status(release);

    expect(result.verdict).toBe('released');
    expect(status.firstNight?.checks.map((c) => c.outcome)).toEqual(['ok', 'ok']);
    expect(heldPrs()).toEqual([]);
    expect(status.scm?.map((o) => [o.action, o.status])).toEqual([['freeze', 'done'], ['lift-freeze', 'done'], ['tag', 'done']]);
    expect((await exec('git', ['-C', gitDir, 'rev-parse', `${plan.version}^{commit}`])).stdout.trim()).toBe(commit);

    const oneLiner = read(release, `release_oneliner_${plan.version}.txt`);
    // At 1% of a compressed test a stage may pass on too few samples: then the counts are per stage.
    expect(oneLiner).toMatch(new RegExp(`^${plan.version.replace(/\./g, '\\.')} canary: 1%→100%, (every stage 8/8 signals pass|signals pass per stage( [0-8]/8){5}); rollback=0; p95=[\\d.]+ms, 5xx=[\\d.]+%, .*, gc=[\\d.]+ms\\.\\n$`));
    // The tag carries the one-liner and the close-out anchor.
    const closeOut = status.anchors?.find((a) => a.name === 'close-out');
    if (!closeOut?.taken) throw new Error(`close-out anchor not taken: ${JSON.stringify(closeOut)}`);
    const tagText = (await exec('git', ['-C', gitDir, 'tag', '-l', '--format=%(contents)', plan.version])).stdout.trim();
    expect(tagText).toBe(`${oneLiner.trim()}\n\nLedger anchored at seq ${closeOut.seq} (close-out), signed by ${closeOut.keyid}: ${closeOut.line}`);
    const notes = read(release, `release_notes_${plan.version}.md`);
    expect(notes).toMatch(/\| 5 \| 100% \| [\dms.]+ \| passed \| 8\/8 \|/);
    expect(notes).toContain('| 1 | Ledger replica lag under the new batch size | elif, due 2026-12-01 | Alert on lag > 5 s | open |');
    expect(notes).toContain('| 2 | (not entered) |');
    expect(notes).toMatch(/## Rollback events\nNone\./);
    expect(notes).toContain('- Freeze lift: removed hold-for-canary from 3 open pull request(s) in acme/spark');
    expect(read(release, 'stability_report_24h.md')).toContain('2 of 2 planned checks');
    expect(read(release, `mini_rca_${plan.version}.md`)).toContain(`| release | ${release} (run ${runId}) |`);
    expect(read(release, `remaining_risks_${plan.version}.txt`)).toMatch(/remaining risks set by bora: IC review/);
    expect(read(release, 'announcements.txt')).toMatch(/released: 5 stages passed, rollback=0, first night 2 checks\. Freeze lift: removed hold-for-canary from 3.*Ledger anchored at seq \d+ \(close-out\)/);
    expect((await ledger.verify(release)).ok).toBe(true);

    // Anchored at the gate, at close-out and last over the whole ledger; published in the war-room,
    // the signed GO/NO-GO record and the anchors file, and each one holds.
    expect(status.anchors?.map((a) => [a.name, a.taken])).toEqual([['go', true], ['close-out', true], ['end', true]]);
    expect(read(release, 'announcements.txt')).toMatch(new RegExp(`#spark-warroom-\\S+ GO/NO-GO of spark-trading ${plan.version.replace(/\./g, '\\.')} closed: GO\\. Ledger anchored at seq \\d+ \\(go\\)`));
    expect(read(release, `go_nogo_signed_${plan.version}.txt`)).toMatch(/\nLedger anchored at seq \d+ \(go\), signed by sha256:[0-9a-f]{64}: \{"anchor":"spark-ledger-anchor-v1"/);
    expect(read(release, 'ledger_anchors.jsonl').split('\n').filter(Boolean)).toHaveLength(3);
    const records = await ledger.list(release);
    const end = status.anchors!.at(-1)!;
    expect(end.taken && end.seq).toBe(records.length);
    const tagFile = path.join(dir(release), '..', `${release}-tag.txt`);
    fs.writeFileSync(tagFile, (await exec('git', ['-C', gitDir, 'cat-file', 'tag', plan.version])).stdout);
    const out: string[] = [];
    await main(['evidence', 'verify', release, '--key', publicKeyFile, '--anchors', tagFile], (l) => out.push(l), (l) => out.push(l));
    fs.rmSync(tagFile);
    expect(out[1]).toMatch(new RegExp(`^anchors: 3 checked with key sha256:[0-9a-f]{64}: every one holds; the chain reaches seq ${records.length}, the last anchored$`));
  }

  test('errors during the first night burn the budget: war-room post, the parent\'s rollback, notes and RCA, freeze lifted, no tag', async () => {
    // 8 checks 4.5 s apart; burn-rate windows short enough for a test on Prometheus' real clock.
    const plan = uniquePlan({
      commit,
      firstNight: { rhythm: [{ until: '2h', every: '15m' }], burnRate: { alerts: [{ long: '20s', short: '5s', factor: 5 }] } },
    });
    const { release } = await h.client.start(plan, 'deniz');
    // The shared Prometheus holds the shipped plan's SLO rules (1 h, 6 h), none for this plan's 20 s window.
    await approveGoOverriding(h.client, release, ['Blind spots: every check passes'], 'test: the shared Prometheus has no SLO rule for the 20 s window');
    await waitForStatus(h.client, release, (s) => s.phase === 'first-night');
    await h.target.setFault('canary', { kind: 'error-rate', intensity: 0.5 });
    const result = await h.client.result(release);
    const status = await h.client.status(release);

    expect(result.verdict).toBe('rolled-back');
    expect(status.rollback).toMatchObject({ stage: 5, fromTraffic: 100 });
    expect(status.canaryWeight).toBe(0);
    expect((await h.target.setWeight(0)).previousCanaryPercent).toBe(0);
    const breach = status.firstNight!.checks.at(-1)!;
    expect(breach.outcome).toBe('breach');
    expect(status.firstNight!.checks.length).toBeLessThan(8);
    expect(breach.burn[0]).toMatch(/^20s\/5s [\d.]+x\/[\d.]+x FIRING >5x$/);
    expect(read(release, 'announcements.txt')).toMatch(new RegExp(`ROLLBACK of ${plan.version.replaceAll('.', '\\.')} during the first night: first night ${breach.n}/8: `));
    expect(read(release, `hourly_log_${breach.hour}.txt`)).toContain(`first night ${breach.n}/8`);
    expect(heldPrs()).toEqual([]);
    expect(status.scm?.map((o) => o.action)).toEqual(['freeze', 'lift-freeze']);
    expect((await exec('git', ['-C', gitDir, 'tag', '-l', plan.version])).stdout.trim()).toBe('');
    const notes = read(release, `release_notes_${plan.version}.md`);
    expect(notes).toContain(`| ${status.rollback!.requestedAt} |`);
    expect(notes).toContain(status.rollback!.evidence[0]!);
    expect(read(release, `release_oneliner_${plan.version}.txt`)).toContain(`rolled back from 100% during the first night (check ${breach.n}/8), ${breach.passed}/8 signals pass; rollback=1 (${status.rollback!.cause}); p95=`);
    expect(read(release, `mini_rca_${plan.version}.md`)).toMatch(new RegExp(`- First night check ${breach.n} at .*: burn 20s/5s .*FIRING`));
    expect(read(release, 'stability_report_24h.md')).toContain(`Result: **BREACH at check ${breach.n}`);
  });

  test('an abort during the first night cancels the watch and rolls back through the same path', async () => {
    const plan = uniquePlan({ firstNight: { rhythm: [{ until: '2h', every: '15m' }] } });
    const { release } = await h.client.start(plan, 'deniz');
    await approveGo(h.client, release);
    await waitForStatus(h.client, release, (s) => s.phase === 'first-night');
    await h.client.control(release, 'abort', { by: 'bora', reason: 'customer incident elsewhere' });
    const result = await h.client.result(release);
    const status = await h.client.status(release);

    expect(result.verdict).toBe('aborted');
    expect(status.rollback).toMatchObject({ cause: 'abort', stage: 5, fromTraffic: 100 });
    expect(status.canaryWeight).toBe(0);
    const child = await h.client.client.workflow.getHandle(`${release}-first-night`).describe();
    expect(child.status.name).toBe('CANCELLED');
    expect(heldPrs()).toEqual([]);
    expect(fs.existsSync(path.join(dir(release), `mini_rca_${plan.version}.md`))).toBe(true);
  });
});
