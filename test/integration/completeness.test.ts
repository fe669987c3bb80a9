// Evidence completeness and the signed GO/NO-GO record against the real
// PostgreSQL ledger of `bash scripts/services.sh up` (DATABASE_URL). Each test
// records its own release, shaped like what the release workflow records.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRitualActivities } from '../../src/activities/ritual';
import type { EvidenceInput } from '../../src/adapters/ledger/ledger';
import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { main } from '../../src/client';
import { loadConfig, projectRoot } from '../../src/config';
import { checkCompleteness, completenessOf, PLAN_KEY } from '../../src/evidence/completeness';
import { checkFiles } from '../../src/plan/catalogue';
import { loadPlanFileWith } from '../../src/plan/loader';
import type { Phase, ReleasePlan } from '../../src/plan/schema';
import { verifySignedFile } from '../../src/ritual/verify';
import type { GateState } from '../../src/workflows/messages';

jest.setTimeout(120_000);

const { databaseUrl } = loadConfig();
let evidenceDir: string;
let ledger: PostgresLedger;

beforeAll(async () => {
  evidenceDir = await mkdtemp(path.join(os.tmpdir(), 'completeness-test-'));
  try {
    ledger = await createPostgresLedger({ databaseUrl, evidenceDir });
  } catch (err) {
    throw new Error(`PostgreSQL not reachable at ${databaseUrl}: run \`bash scripts/services.sh up\` (${(err as Error).message})`);
  }
});

afterAll(async () => {
  await ledger?.close();
  if (evidenceDir) await rm(evidenceDir, { recursive: true, force: true });
});

/** A few checks per phase, so the test can name every file a release owes. */
const FEW_CHECKS = {
  preflight: ['identity-seal', 'baseline-metrics'],
  blindSpots: ['blind-sbom-provenance'],
  blastRadius: ['micro-prom'],
  // The shipped plan's red-team gate asks a person to confirm these two.
  redTeam: ['rt-sbom-licence-drift', 'rt-pitr-cold-start', 'cc-hsts-subdomains'],
  greenButton: ['sbom', 'canary-plan'],
};
const smallPlan = (file: string, version: string): ReleasePlan => loadPlanFileWith(path.join(projectRoot, 'plans', file), { version, checks: FEW_CHECKS });

const APPEND = new Set(['announcements.txt', 'warroom_log.txt']);

/** Records a release as the workflow would: its plan, the phases it started, and one record per file. */
async function recordRelease(plan: ReleasePlan, phases: Phase[], files: string[], end?: string): Promise<string> {
  const release = `release-test-completeness-${randomUUID().slice(0, 8)}`;
  const v = plan.version;
  const base = { release, runId: 'run-1' };
  const records: EvidenceInput[] = [
    { ...base, key: PLAN_KEY, file: `release_plan_${v}.json`, kind: 'document', body: JSON.stringify(plan) },
    ...phases.map((p): EvidenceInput => ({ ...base, key: `timeline/${p}/start`, file: `timeline_${v}.txt`, kind: 'phase', mode: 'append', body: `phase ${p} started` })),
    ...files.map((file): EvidenceInput => ({
      ...base, key: `test/${file}`, file, kind: 'check', body: `${file}\n`, mode: APPEND.has(file) || file.startsWith('logs_stage_') ? 'append' : 'replace',
    })),
  ];
  if (end) {
    records.push({ ...base, key: 'timeline/end', file: `timeline_${v}.txt`, kind: 'phase', mode: 'append', body: `release ended: ${end}` });
    records.push({ ...base, key: 'verdict', file: `verdict_${v}.txt`, kind: 'decision', body: `release: ${release}\nverdict: ${end}\n` });
  }
  await ledger.appendMany(records);
  return release;
}

describe('evidence completeness', () => {
  const v = 'v1.4.0-completeness.1';
  const plan = smallPlan('v1.4.0.yaml', v);
  const ts = '20261121T104500Z';
  // What a release that rolled back in stage 3 (25%) owes, by the spec: stages 1 and 2
  // passed (5 files each), stage 3 stopped (no summary), one rollback (3 files).
  const owed = [
    'announcements.txt', `freeze_${v}.txt`,
    `checks_preflight_${v}.txt`, 'preflight.txt', `baseline_${v}.prom`, `baseline_summary_${v}.txt`, `checks_blindSpots_${v}.txt`, `blind_spots_scan_${v}.txt`,
    `checks_blastRadius_${v}.txt`, `micro_prom_${v}.promql`, `micro_blast_${v}.log`,
    `checks_redTeam_${v}.txt`, 'sbom_restrictive_licenses.json', ...checkFiles('rt-pitr-cold-start', v), ...checkFiles('cc-hsts-subdomains', v),
    `checks_greenButton_${v}.txt`, `sbom_${v}.json`, `canary_plan_${v}.txt`,
    `go_nogo_signed_${v}.txt`,
    ...[1, 5].flatMap((p) => [`rollout_stage_${p}.txt`, `db_health_stage_${p}.txt`, `pgbouncer_stage_${p}.txt`, `logs_stage_${p}.txt`, `summary_stage_${p}.txt`]),
    'rollout_stage_25.txt', 'db_health_stage_25.txt', 'pgbouncer_stage_25.txt', 'logs_stage_25.txt', 'warroom_log.txt',
    `rollback_${ts}.txt`, `metrics_before_rollback_${ts}.txt`, `metrics_after_rollback_${ts}.txt`,
    `freeze_lift_${v}.txt`, `release_oneliner_${v}.txt`, `release_notes_${v}.md`, `mini_rca_${v}.md`,
  ];
  const missing = [`baseline_summary_${v}.txt`, `micro_blast_${v}.log`, 'db_health_stage_5.txt', `metrics_after_rollback_${ts}.txt`, `mini_rca_${v}.md`];
  const reachedCanary: Phase[] = ['freeze', 'war-room', 'preflight', 'blast-radius', 'red-team', 'green-button', 'go-no-go', 'canary'];

  it('lists, for a release rolled back in stage 3, exactly the files it owes and did not record', async () => {
    const release = await recordRelease(plan, reachedCanary, owed.filter((f) => !missing.includes(f)), 'rolled-back');
    const report = checkCompleteness(await ledger.list(release), plan);

    expect(report).toMatchObject({ reached: reachedCanary, ended: true, verdict: 'rolled-back' });
    expect(report.expected.map((e) => e.file).sort()).toEqual([...owed, `release_plan_${v}.json`, `timeline_${v}.txt`, `verdict_${v}.txt`].sort());
    expect(report.missing.map((m) => [m.file, m.phase, m.because.join(', ')])).toEqual([
      [`baseline_summary_${v}.txt`, 'preflight', 'check baseline-metrics'],
      [`micro_blast_${v}.log`, 'blast-radius', 'check micro-prom'],
      ['db_health_stage_5.txt', 'canary', 'stage 2 (5%)'],
      [`metrics_after_rollback_${ts}.txt`, 'end', `rollback at ${ts}`],
      [`mini_rca_${v}.md`, 'end', 'close-out document'],
    ]);
  });

  it('is complete when every owed file is there, and `evidence verify` says so with exit code 0', async () => {
    const release = await recordRelease(plan, reachedCanary, owed, 'rolled-back');
    const out: string[] = [];
    const code = await withEvidenceDir(() => main(['evidence', 'verify', release], (l) => out.push(l), (l) => out.push(l)));
    // The plan, 8 phase starts, one record per file, the end and the verdict.
    expect(out[0]).toMatch(new RegExp(`^OK: ${owed.length + 11} records of ${release} verify`));
    // A release recorded without the workflow took no anchors: verify says the chain stands alone.
    expect(out[1]).toMatch(/^anchors: none found \(.*ledger_anchors\.jsonl, the ledger's anchor records\): the chain is checked against itself only/);
    expect(out[2]).toBe(`completeness: reached freeze to canary (ended: rolled-back); ${owed.length + 3} of ${owed.length + 3} expected files present`);
    expect(code).toBe(0);
  });

  it('makes `evidence verify` fail and list what is missing', async () => {
    const release = await recordRelease(plan, reachedCanary, owed.filter((f) => f !== 'warroom_log.txt'), 'rolled-back');
    const out: string[] = [];
    const code = await withEvidenceDir(() => main(['evidence', 'verify', release], (l) => out.push(l), (l) => out.push(l)));
    expect(code).toBe(1);
    expect(out.slice(2)).toEqual([
      `completeness: reached freeze to canary (ended: rolled-back); ${owed.length + 2} of ${owed.length + 3} expected files present, 1 MISSING`,
      '  MISSING  canary       warroom_log.txt  war-room lines',
    ]);
  });

  it('has `evidence verify` complete a mirror left behind (a crash after the commit), and say so', async () => {
    const release = await recordRelease(plan, reachedCanary, owed, 'rolled-back');
    const dir = path.join(evidenceDir, release);
    const sbom = fs.readFileSync(path.join(dir, `sbom_${v}.json`), 'utf8');
    fs.rmSync(path.join(dir, `sbom_${v}.json`));
    fs.writeFileSync(path.join(dir, 'warroom_log.txt'), '');
    const verify = async () => {
      const out: string[] = [];
      const code = await withEvidenceDir(() => main(['evidence', 'verify', release], (l) => out.push(l), (l) => out.push(l)));
      return { code, out };
    };
    const repaired = await verify();
    expect(repaired.code).toBe(0);
    expect(repaired.out[2]).toBe(`mirror: rewrote 2 file(s) of ${dir} from the ledger: sbom_${v}.json, warroom_log.txt`);
    expect(fs.readFileSync(path.join(dir, `sbom_${v}.json`), 'utf8')).toBe(sbom);
    expect(fs.readFileSync(path.join(dir, 'warroom_log.txt'), 'utf8')).toBe('warroom_log.txt\n');
    // Nothing left to repair: the output is the chain and completeness only.
    expect((await verify()).out.filter((line) => line.startsWith('mirror:'))).toEqual([]);
  });

  it('owes nothing yet for a phase still running, and a rollback when the verdict says one happened', async () => {
    const running = await recordRelease(plan, ['freeze', 'war-room', 'preflight'], ['announcements.txt', `freeze_${v}.txt`]);
    const report = checkCompleteness(await ledger.list(running), plan);
    expect(report.ended).toBe(false);
    expect(report.expected.map((e) => e.file).sort()).toEqual(['announcements.txt', `freeze_${v}.txt`, `release_plan_${v}.json`, `timeline_${v}.txt`]);
    expect(report.missing).toEqual([]);

    const noRecord = await recordRelease(plan, reachedCanary, owed.filter((f) => !f.includes(ts)), 'rolled-back');
    expect(checkCompleteness(await ledger.list(noRecord), plan).missing.map((m) => [m.file, m.because[0]])).toEqual([
      ['rollback_<ts>.txt', 'verdict rolled-back after the canary took traffic, but no rollback record'],
    ]);
  });

  it('owes every first-night hour and the release tag when released', async () => {
    const released = smallPlan('demo.yaml', 'v1.4.0-completeness.2');
    const w = released.version;
    const stages = released.canary.stages.flatMap((s) => ['rollout', 'db_health', 'pgbouncer', 'logs', 'summary'].map((k) => `${k}_stage_${s.traffic}.txt`));
    const files = owed.filter((f) => !f.includes('stage_') && !f.includes(ts)).map((f) => f.replaceAll(v, w));
    const release = await recordRelease(released, [...reachedCanary, 'first-night', 'close-out'], [...files, ...stages, 'hourly_log_00.txt'], 'released');
    const report = checkCompleteness(await ledger.list(release), released);
    // demo.yaml watches one scaled hour: checks at 15, 30 and 60 plan minutes fall in hour 00.
    expect(report.missing.map((m) => m.file)).toEqual(['stability_report_24h.md', `git_tag_${w}.txt`]);
  });

  it('needs a plan: the recorded one, or one given with --plan', async () => {
    const release = `release-test-completeness-${randomUUID().slice(0, 8)}`;
    await ledger.append({ release, runId: 'run-1', key: 'timeline/freeze/start', file: `timeline_${v}.txt`, kind: 'phase', mode: 'append', body: 'phase freeze started' });
    const records = await ledger.list(release);
    expect(completenessOf(records)).toEqual({ ok: false, lines: [expect.stringMatching(/^completeness: unknown: the release recorded no plan .* pass --plan <file>/)] });
    expect(completenessOf(records, plan).lines[0]).toMatch(/^completeness: reached freeze to freeze \(still running\); 0 of 0 expected files present$/);
  });
});

describe('the signed GO/NO-GO record in the ledger', () => {
  it('follows the decision lines in go_nogo_signed_<v>.txt, verifies, and is recorded once however often it is retried', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const keyFile = path.join(evidenceDir, 'signing.pem');
    const publicFile = path.join(evidenceDir, 'signing.pub.pem');
    fs.writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    fs.writeFileSync(publicFile, publicKey.export({ format: 'pem', type: 'spki' }) as string);
    const release = `release-test-gonogo-${randomUUID().slice(0, 8)}`;
    const version = 'v1.4.0-gonogo.1';
    const file = `go_nogo_signed_${version}.txt`;
    const decidedAt = '2026-11-21T10:29:30.000Z';
    await ledger.append({ release, runId: 'run-1', key: 'gate/go/decision/1', file, kind: 'gate', mode: 'append', body: `${decidedAt} GO by bora for ${release} run run-1 gate go: 10/10` });
    const gate: GateState = {
      id: 'go', state: 'go', closedAt: decidedAt, approvers: ['bora'], quorum: 1,
      checklist: [{ item: 'Preflight: every check passes', ok: true, detail: '10/10 pass' }],
      decisions: [{ kind: 'gate', gate: 'go', decision: 'go', by: 'bora', reason: '10/10', at: decidedAt, release, runId: 'run-1', accepted: true }],
    };
    const activities = createRitualActivities({ ledger });
    const request = { release, runId: 'run-1', service: 'spark-trading', version, initiator: 'deniz', gate };

    const before = process.env.SPARK_SIGNING_KEY;
    process.env.SPARK_SIGNING_KEY = keyFile;
    try {
      const first = await activities.sealGoNoGo(request);
      const retried = await activities.sealGoNoGo(request);
      expect(first).toMatchObject({ signed: true, file });
      expect(retried).toEqual(first);
    } finally {
      if (before === undefined) delete process.env.SPARK_SIGNING_KEY;
      else process.env.SPARK_SIGNING_KEY = before;
    }

    const mirrored = path.join(evidenceDir, release, file);
    const text = fs.readFileSync(mirrored, 'utf8');
    expect(text.indexOf('GO by bora for')).toBeLessThan(text.indexOf('--- GO/NO-GO record'));
    expect(text.match(/"payloadType"/g)).toHaveLength(1);
    expect(verifySignedFile(mirrored, publicFile)[1]).toBe(`GO/NO-GO of spark-trading ${version} (${release}, run run-1): gate go GO, checklist 1/1`);
    expect((await ledger.verify(release)).ok).toBe(true);
  });

  it('is written and marked NOT SIGNED when the worker has no key', async () => {
    const release = `release-test-gonogo-${randomUUID().slice(0, 8)}`;
    const gate: GateState = { id: 'go', state: 'timed-out', approvers: ['bora'], quorum: 1, checklist: [], decisions: [] };
    const before = process.env.SPARK_SIGNING_KEY;
    delete process.env.SPARK_SIGNING_KEY;
    try {
      const result = await createRitualActivities({ ledger }).sealGoNoGo({ release, runId: 'run-1', service: 'spark-trading', version: 'v1', initiator: 'deniz', gate });
      expect(result).toMatchObject({ signed: false, problem: expect.stringMatching(/^no signing key configured/) });
    } finally {
      if (before !== undefined) process.env.SPARK_SIGNING_KEY = before;
    }
    expect(fs.readFileSync(path.join(evidenceDir, release, 'go_nogo_signed_v1.txt'), 'utf8')).toMatch(/gate go: TIMED-OUT.*\n[\s\S]*decision: none\nNOT SIGNED: no signing key configured/);
  });
});

/** Runs the CLI with this test's evidence directory (the CLI reads its configuration from the environment). */
async function withEvidenceDir<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env.SPARK_EVIDENCE_DIR;
  process.env.SPARK_EVIDENCE_DIR = evidenceDir;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.SPARK_EVIDENCE_DIR;
    else process.env.SPARK_EVIDENCE_DIR = before;
  }
}
