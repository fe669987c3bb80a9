// What a release shows in the Temporal UI: search attribute values, current
// details, and summaries, from the status alone.
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/config';
import { loadPlanFile } from '../../src/plan/loader';
import { PHASES } from '../../src/plan/schema';
import type { ReleaseStatus, StageRecord } from '../../src/workflows/messages';
import {
  activitySummary, gateWaitSeconds, oneLine, registerSearchAttributesCommand, renderCurrentDetails, SEARCH_ATTRIBUTES, searchAttributeValues, timerSummary,
} from '../../src/workflows/visibility';

const plan = loadPlanFile(path.join(projectRoot, 'plans', 'v1.4.0.yaml'));

function status(overrides: Partial<ReleaseStatus> = {}): ReleaseStatus {
  return {
    release: 'release-spark-trading-v1.4.0', runId: 'run-1', service: 'spark-trading', version: 'v1.4.0',
    initiator: 'deniz', incidentCommander: 'bora', phase: 'freeze',
    phases: PHASES.map((phase) => ({ phase, state: phase === 'freeze' ? 'running' : 'pending' })),
    stage: null, stages: [], canaryWeight: 0, held: false, paged: false, signals: [], triggers: [],
    gates: { go: { id: 'go', state: 'pending', approvers: ['bora', 'cem', 'elif'], quorum: 1, checklist: [], decisions: [] } },
    decisions: [], checks: [], warroom: [], verdict: 'running', rollback: null, dryRun: false,
    ...overrides,
  };
}

function stage(index: number, traffic: number, state: StageRecord['state'], evaluations: number, passed = 8): StageRecord {
  return { index, traffic, state, startedAt: '2026-11-21T10:00:00.000Z', evaluations, passed, total: 8, values: {} };
}

const inCanary = () => {
  const stages = [stage(0, 1, 'passed', 15), stage(1, 5, 'passed', 15), stage(2, 25, 'running', 4, 7)];
  return status({
    phase: 'canary', stages, stage: stages[2]!, canaryWeight: 25,
    warroom: ['+33:00 | Stage 3 (25%) | p95=142ms | 7/8 NOT CLEAN | IC: Continue'],
  });
};

const valueOf = (s: ReleaseStatus, name: string) => searchAttributeValues(s).find((p) => p.key.name === name)?.value;

test('the attribute names are the ones scripts/service-lib.sh lists (services.sh and temporal-pg.sh register them), with the same types', () => {
  const script = fs.readFileSync(path.join(projectRoot, 'scripts', 'service-lib.sh'), 'utf8');
  const registered = /SEARCH_ATTRIBUTES=\(([^)]*)\)/.exec(script)![1]!.trim().split(/\s+/).sort();
  const ours = Object.values(SEARCH_ATTRIBUTES).map((k) => `${k.name}=${k.type === 'INT' ? 'Int' : 'Keyword'}`).sort();
  expect(ours).toEqual(registered);
  const command = registerSearchAttributesCommand('spark');
  expect(registerSearchAttributesCommand('spark', ['SparkStage'])).toBe('temporal operator search-attribute create --namespace spark --name SparkStage --type Int');
  for (const entry of registered) {
    const [name, type] = entry.split('=');
    expect(command).toContain(`temporal operator search-attribute create --namespace spark --name ${name} --type ${type}`);
  }
});

test('before the canary a release has no stage attribute; in the canary it has the 1-based stage and weight', () => {
  const before = status();
  expect(valueOf(before, 'SparkPhase')).toBe('freeze');
  expect(valueOf(before, 'SparkStage')).toBeUndefined();
  expect(valueOf(before, 'SparkVerdict')).toBe('running');
  const during = inCanary();
  expect(valueOf(during, 'SparkPhase')).toBe('canary');
  expect(valueOf(during, 'SparkStage')).toBe(3);
  expect(valueOf(during, 'SparkCanaryWeight')).toBe(25);
  expect(valueOf(during, 'SparkService')).toBe('spark-trading');
  expect(valueOf(during, 'SparkVersion')).toBe('v1.4.0');
});

test('a fractional weight is a whole number (Int attribute)', () => {
  expect(valueOf(status({ canaryWeight: 0.5 }), 'SparkCanaryWeight')).toBe(1);
  expect(valueOf(status({ canaryWeight: 12.4 }), 'SparkCanaryWeight')).toBe(12);
});

test('current details carry the full stage table, pending stages included', () => {
  const text = renderCurrentDetails(inCanary(), plan);
  expect(text).toContain('**spark-trading v1.4.0**: phase **canary**, canary weight **25%**, verdict **running**');
  expect(text).toContain('| stage | traffic | state | evaluations | signals passed |');
  expect(text).toContain('| 1 | 1% | passed | 15 | 8 of 8 |');
  expect(text).toContain('| 3 | 25% | **running** | 4 | 7 of 8 |');
  expect(text).toContain('| 4 | 50% | pending | - | - |');
  expect(text).toContain('| 5 | 100% | pending | - | - |');
  expect(text).toContain('War-room: +33:00 | Stage 3 (25%)');
  expect(text).toContain('Phases: freeze ▶ · war-room · preflight');
});

test('current details show an open gate with its deadline, and a rollback with its cause', () => {
  const open = status({ phase: 'go-no-go' });
  open.gates.go = { ...open.gates.go, state: 'open', deadline: '2026-11-21T11:00:00.000Z', checklist: [{ item: 'a', ok: true, detail: '' }, { item: 'b', ok: false, detail: '' }] };
  expect(renderCurrentDetails(open, plan)).toContain('GO/NO-GO: **open**, checklist 1 of 2, NO-GO at 2026-11-21T11:00:00.000Z');
  const rolled = status({
    phase: 'done', verdict: 'rolled-back',
    rollback: { reason: 'trigger error_rate_over_3pct', cause: 'error_rate_over_3pct', stage: 3, fromTraffic: 25, requestedAt: 'x', completedAt: '2026-11-21T10:40:00.000Z', evidence: [] },
  });
  expect(renderCurrentDetails(rolled, plan)).toContain('Rollback from 25% (error_rate_over_3pct): trigger error_rate_over_3pct; completed 2026-11-21T10:40:00.000Z');
});

test('activity summaries read like the run-of-show', () => {
  const s = inCanary();
  expect(activitySummary('runChecks', [{ phase: 'preflight', checks: plan.checks.preflight }], status())).toBe('Preflight: 10 checks');
  expect(activitySummary('runChecks', [{ phase: 'redTeam', checks: plan.checks.redTeam }], status())).toBe('Red team and corner cases: 20 checks');
  expect(activitySummary('setCanaryWeight', [{ percent: 25, dryRun: false }], s)).toBe('Stage 3 (25%): route 25% of traffic to the canary');
  expect(activitySummary('evaluate', [{ queries: ['a', 'b'] }], s)).toBe('Stage 3 (25%): evaluation 4 (2 signal and trigger queries)');
  expect(activitySummary('recordRollback', [{ fromTraffic: 25, cause: 'abort', reason: 'aborted by bora: test' }], s)).toBe('ROLLBACK evidence from 25% to 0% (abort): aborted by bora: test');
  const rolling = { ...s, rollback: { reason: 'x', cause: 'abort', stage: 3, fromTraffic: 25, requestedAt: '', evidence: [] } };
  expect(activitySummary('rollbackTraffic', [{ dryRun: false }], rolling)).toBe('ROLLBACK: route 0% of traffic to the canary (from 25%, abort)');
  expect(activitySummary('recordEvidence', [[{}, {}, {}]], s)).toBe('Seal 3 evidence records');
});

test('timer summaries say what the release waits for, at the plan\'s times', () => {
  expect(timerSummary.phase('war-room', plan.timeline.warRoom).summary).toBe('Wait for T-20m: war-room opens');
  expect(timerSummary.phase('go-no-go', plan.timeline.goNoGo).summary).toBe('Wait for T-0: GO/NO-GO');
  expect(timerSummary.gate(plan).summary).toBe('GO/NO-GO: wait for bora, cem, elif (NO-GO after 30m)');
  expect(timerSummary.evaluation(inCanary()).summary).toBe('Stage 3 (25%): wait for the next evaluation');
});

test('summaries are one line of at most 200 UTF-8 bytes, cut with an ellipsis', () => {
  expect(oneLine('a\n  b')).toBe('a b');
  const turkish = 'ş'.repeat(150); // 300 bytes
  const cut = oneLine(turkish);
  expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(200);
  expect(cut.endsWith('…')).toBe(true);
  const exact = 'x'.repeat(200);
  expect(oneLine(exact)).toBe(exact);
  expect(oneLine(exact + 'y')).toHaveLength(198);
});

test('a gate wait is the time from opening to closing, and unknown while open', () => {
  const gate = status().gates.go;
  expect(gateWaitSeconds({ ...gate, openedAt: '2026-11-21T10:00:00.000Z' })).toBeNull();
  expect(gateWaitSeconds({ ...gate, openedAt: '2026-11-21T10:00:00.000Z', closedAt: '2026-11-21T10:02:30.500Z' })).toBe(150.5);
});
