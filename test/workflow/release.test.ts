// The release workflow end to end on the real Temporal dev server, with the
// real demo target, Prometheus and PostgreSQL (see test/support/harness.ts).
import fs from 'node:fs';
import path from 'node:path';
import { createPostgresLedger } from '../../src/adapters/ledger/postgres';
import type { EvidenceLedger } from '../../src/adapters/ledger/ledger';
import { loadConfig } from '../../src/config';
import { ReleaseCommandError } from '../../src/release-client';
import { approveGo, startHarness, uniquePlan, waitForStatus, type Harness } from '../support/harness';

let h: Harness;
let ledger: EvidenceLedger;
const config = loadConfig();

beforeAll(async () => {
  h = await startHarness('release');
  ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: config.evidenceDir });
});

afterAll(async () => {
  await ledger?.close();
  await h?.close();
});

afterEach(async () => {
  await h.target.clearFault('canary');
  await h.target.setWeight(0);
});

test('a healthy release walks every phase and reaches 100%', async () => {
  const plan = uniquePlan();
  const { release } = await h.client.start(plan, 'deniz');
  await approveGo(h.client, release);
  const result = await h.client.result(release);
  const status = await h.client.status(release);

  expect(result.verdict).toBe('released');
  expect(status.stages.map((s) => [s.traffic, s.state])).toEqual([[1, 'passed'], [5, 'passed'], [25, 'passed'], [50, 'passed'], [100, 'passed']]);
  expect(status.phases.every((p) => p.state === 'done')).toBe(true);
  expect((await h.target.setWeight(100)).previousCanaryPercent).toBe(100);
  // Every check of the run-of-show has an implementation now (docs/checks.md).
  expect(status.checks.filter((c) => c.status === 'not-implemented').map((c) => c.id)).toEqual([]);
  expect(status.checks.find((c) => c.id === 'baseline-metrics')?.status).toBe('pass');
  const dir = path.join(config.evidenceDir, release);
  for (const file of ['preflight.txt', `baseline_${plan.version}.prom`, `prom_targets_${plan.version}.txt`, 'rollout_stage_1.txt', 'summary_stage_100.txt', 'warroom_log.txt', `go_nogo_signed_${plan.version}.txt`, `release_oneliner_${plan.version}.txt`, 'hourly_log_00.txt']) {
    expect(fs.existsSync(path.join(dir, file))).toBe(true);
  }
  const preflight = fs.readFileSync(path.join(dir, `checks_preflight_${plan.version}.txt`), 'utf8');
  expect(preflight).toMatch(/^PASS\s+pgbouncer-saturation\s/m);
  expect(preflight).not.toMatch(/^FAIL/m);
  expect(fs.readFileSync(path.join(dir, `go_nogo_signed_${plan.version}.txt`), 'utf8')).toMatch(/GO by bora: test: checklist 10\/10/);
  const chain = await ledger.verify(release);
  expect(chain.ok).toBe(true);
  expect(chain.records).toBeGreaterThan(50);
});

test('an error spike at stage 3 rolls back to 0% with the trigger in the evidence', async () => {
  const plan = uniquePlan();
  const { release } = await h.client.start(plan, 'deniz');
  await approveGo(h.client, release);
  await waitForStatus(h.client, release, (s) => s.stage?.index === 2);
  await h.target.setFault('canary', { kind: 'error-rate', intensity: 0.5 });
  const result = await h.client.result(release);
  const status = await h.client.status(release);

  expect(result.verdict).toBe('rolled-back');
  expect(status.rollback?.stage).toBe(3);
  expect(status.rollback?.fromTraffic).toBe(25);
  expect(['error_rate_5xx', 'error_rate_over_3pct']).toContain(status.rollback?.cause);
  expect(status.canaryWeight).toBe(0);
  expect((await h.target.setWeight(0)).previousCanaryPercent).toBe(0);
  expect(status.stages.map((s) => s.traffic)).toEqual([1, 5, 25]);
  const dir = path.join(config.evidenceDir, release);
  const record = fs.readFileSync(path.join(dir, status.rollback!.evidence[0]!), 'utf8');
  expect(record).toContain(`cause: ${status.rollback?.cause}`);
  expect(record).toContain('canary weight after: 0%');
  for (const file of status.rollback!.evidence) expect(fs.existsSync(path.join(dir, file))).toBe(true);
  expect((await ledger.verify(release)).ok).toBe(true);
});

test('a GO gate nobody answers times out as NO-GO and no traffic moves', async () => {
  const plan = uniquePlan();
  const { release } = await h.client.start(plan, 'deniz');
  const result = await h.client.result(release);
  const status = await h.client.status(release);

  expect(result.verdict).toBe('no-go');
  expect(status.gates.go.state).toBe('timed-out');
  expect(status.decisions.at(-1)).toMatchObject({ kind: 'timeout', decision: 'no-go', by: 'spark-release' });
  expect(status.stages).toEqual([]);
  expect(status.canaryWeight).toBe(0);
  expect((await h.target.setWeight(0)).previousCanaryPercent).toBe(0);
  expect(fs.existsSync(path.join(config.evidenceDir, release, 'rollout_stage_1.txt'))).toBe(false);
});

test('refused approvals change nothing; a valid NO-GO ends the release', async () => {
  const plan = uniquePlan();
  // elif is an approver of the plan, but started this release.
  const { release, runId } = await h.client.start(plan, 'elif');
  await waitForStatus(h.client, release, (s) => s.gates.go.state === 'open');
  const base = { release, gate: 'go' as const, decision: 'go' as const, reason: 'looks fine', override: true };

  await expect(h.client.decide({ ...base, approver: 'mallory' })).rejects.toThrow(/approver: "mallory" may not decide gate go/);
  await expect(h.client.decide({ ...base, approver: 'elif' })).rejects.toThrow(/"elif" started this release and may not approve it/);
  await expect(h.client.decide({ ...base, approver: 'bora', runId: 'not-this-run' })).rejects.toThrow(/no release|runId/);
  await expect(h.client.decide({ ...base, approver: 'bora', gate: 'canary' as 'go' })).rejects.toThrow(/gate: unknown gate "canary"/);
  await expect(h.client.decide({ ...base, approver: 'bora', override: undefined })).rejects.toThrow(/checklist is not 10\/10/);
  // A raw update bound to another run of this release is refused by the workflow itself.
  const { handle } = await h.client.handle(release);
  await expect(handle.executeUpdate('decideGate', { args: [{ ...base, approver: 'bora', runId: `${runId}-old` }] })).rejects.toThrow();

  let status = await h.client.status(release);
  expect(status.gates.go.state).toBe('open');
  expect(status.gates.go.decisions).toEqual([]);
  expect(status.decisions).toEqual([]);

  await h.client.decide({ ...base, decision: 'no-go', approver: 'cem', reason: 'red team not done' });
  const result = await h.client.result(release);
  status = await h.client.status(release);
  expect(result.verdict).toBe('no-go');
  expect(status.gates.go.decisions).toHaveLength(1);
  expect(status.gates.go.decisions[0]).toMatchObject({ by: 'cem', decision: 'no-go', runId, release, accepted: true });
  expect(status.stages).toEqual([]);
});

test('abort during stage 2 rolls back through the one rollback path', async () => {
  const plan = uniquePlan();
  const { release } = await h.client.start(plan, 'deniz');
  await approveGo(h.client, release);
  await waitForStatus(h.client, release, (s) => s.stage?.index === 1);
  await h.client.control(release, 'abort', { by: 'mallory', reason: 'not in the plan' });
  await h.client.control(release, 'abort', { by: 'bora', reason: 'customer incident elsewhere' });
  const result = await h.client.result(release);
  const status = await h.client.status(release);

  expect(result.verdict).toBe('aborted');
  expect(status.rollback).toMatchObject({ cause: 'abort', stage: 2, fromTraffic: 5 });
  expect(status.rollback?.completedAt).toBeDefined();
  expect(status.canaryWeight).toBe(0);
  expect((await h.target.setWeight(0)).previousCanaryPercent).toBe(0);
  const aborts = status.decisions.filter((d) => d.kind === 'abort');
  expect(aborts[0]).toMatchObject({ by: 'mallory', accepted: false });
  expect(aborts[0]?.refusal).toMatch(/not a person of this release's plan/);
  expect(aborts[1]).toMatchObject({ by: 'bora', accepted: true, reason: 'customer incident elsewhere' });
});

test('a second start of the same release is refused with a clear message', async () => {
  const plan = uniquePlan();
  const { release } = await h.client.start(plan, 'deniz');
  await expect(h.client.start(plan, 'deniz')).rejects.toThrow(ReleaseCommandError);
  await expect(h.client.start(plan, 'elif')).rejects.toThrow(`release ${release} already exists`);
  await h.client.control(release, 'abort', { by: 'deniz', reason: 'test over' });
  expect((await h.client.result(release)).verdict).toBe('aborted');
  // Even after it ended, the version is not released twice.
  await expect(h.client.start(plan, 'deniz')).rejects.toThrow(/is released once/);
});
