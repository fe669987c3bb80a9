import path from 'node:path';
import { CHECK_CATALOGUE, CHECK_PHASES } from '../../src/plan/catalogue';
import { loadPlanFile } from '../../src/plan/loader';
import { PHASES, type ReleasePlan } from '../../src/plan/schema';
import { buildChecklist } from '../../src/workflows/checklist';
import type { CheckResult, CheckStatus, PhaseRecord, ReleaseStatus } from '../../src/workflows/messages';

const plan = loadPlanFile(path.join(__dirname, '../../plans/v1.4.0.yaml'));

/** A result for every check the plan lists: `pass` unless `statuses` says otherwise. */
function results(p: ReleasePlan, statuses: Record<string, CheckStatus> = {}): CheckResult[] {
  return CHECK_PHASES.flatMap((phase) =>
    p.checks[phase].map((id) => ({ id, phase, status: statuses[id] ?? 'pass', summary: '', files: CHECK_CATALOGUE[id]!.files, durationMs: 5 })),
  );
}

type Scm = NonNullable<ReleaseStatus['scm']>[number];
const FROZEN: Scm = { action: 'freeze', status: 'done', summary: 'freeze: 3 open pull requests labelled hold-for-canary', at: '2026-12-03T08:00:00Z', file: 'freeze_v1.4.0.txt' };
const OPENED = { delivered: true, detail: 'delivered to #spark-warroom-v1-4-0', configured: true };

function status(checks: CheckResult[], extra: Partial<ReleaseStatus> = {}): ReleaseStatus {
  return {
    scm: [FROZEN], warRoomOpened: OPENED,
    release: 'release-spark-trading-v1.4.0', runId: 'run-1', service: plan.service, version: plan.version,
    initiator: 'deniz', incidentCommander: plan.incidentCommander, phase: 'go-no-go',
    phases: PHASES.map((phase) => ({ phase, state: phase === 'freeze' ? 'done' : 'pending' as PhaseRecord['state'] })),
    stage: null, stages: [], canaryWeight: 0, held: false, paged: false, signals: [], triggers: [],
    gates: { go: { id: 'go', state: 'open', approvers: plan.gates.go.approvers, quorum: 1, checklist: [], decisions: [] } },
    decisions: [], checks, warroom: [], verdict: 'running', rollback: null, dryRun: false, ...extra,
  };
}

const okFlags = (items: { ok: boolean }[]) => items.map((i) => i.ok);

describe('buildChecklist', () => {
  it('has 10 items, all ok when every check passed, the canary takes 0% and the freeze is on', () => {
    const items = buildChecklist(plan, status(results(plan)), 0);
    expect(items).toHaveLength(10);
    expect(okFlags(items)).toEqual(Array(10).fill(true));
    expect(items[0]).toEqual({ item: 'Preflight: every check passes', ok: true, detail: '10/10 pass' });
    expect(items[3]!.detail).toBe('20/20 pass');
  });

  it('a not-implemented check makes its phase item not ok', () => {
    const items = buildChecklist(plan, status(results(plan, { 'postgres-bloat': 'not-implemented' })), 0);
    expect(items[0]).toEqual({ item: 'Preflight: every check passes', ok: false, detail: '9/10 pass; 1 not implemented' });
    expect(okFlags(items).filter((ok) => !ok)).toHaveLength(1);
  });

  it('a not-implemented named check makes its item not ok', () => {
    const items = buildChecklist(plan, status(results(plan, { sbom: 'not-implemented' })), 0);
    expect(items[5]).toEqual({ item: 'SBOM and build provenance recorded', ok: false, detail: 'sbom: not-implemented' });
    // The green-button phase has no item of its own: only the named checks speak for it.
    expect(okFlags(items).filter((ok) => !ok)).toHaveLength(1);
  });

  it('names failing checks', () => {
    const items = buildChecklist(plan, status(results(plan, { 'blind-decimal': 'fail', 'blind-slo-burn-alerts': 'timeout', 'blind-feature-flags': 'not-implemented' })), 0);
    expect(items[1]).toMatchObject({ ok: false, detail: '6/9 pass; 1 not implemented; failing: blind-decimal, blind-slo-burn-alerts' });
  });

  it('is not ok before the checks have run', () => {
    const items = buildChecklist(plan, status([]), 0);
    expect(items.slice(0, 7).map((i) => [i.ok, i.detail])).toEqual([
      [false, '0/10 pass'], [false, '0/9 pass'], [false, '0/3 pass'], [false, '0/20 pass'],
      [false, 'baseline-metrics: not planned'], [false, 'sbom: not planned; build-provenance: not planned'], [false, 'canary-plan: not planned'],
    ]);
  });

  it('an empty phase is not ok', () => {
    const noRedTeam: ReleasePlan = { ...plan, checks: { ...plan.checks, redTeam: [] } };
    expect(buildChecklist(noRedTeam, status(results(noRedTeam)), 0)[3]).toMatchObject({ ok: false, detail: 'no checks planned' });
  });

  const noContact: ReleasePlan = { ...plan, people: plan.people.map((p) => (p.id === plan.incidentCommander ? { id: p.id, name: p.name } : p)) };
  it.each([
    ['the router reported no weight', plan, null, {}, 7, 'router did not report a weight'],
    ['the canary still takes traffic', plan, 5, {}, 7, 'canary weight 5%'],
    ['the freeze has not run', plan, 0, { scm: [] }, 9, 'the freeze has not run'],
    ['no SCM holds the pull requests', plan, 0, { scm: [{ ...FROZEN, status: 'not-configured' as const }] }, 9, 'no SCM configured (GITHUB_REPOSITORY): no pull request is held'],
    ['the freeze failed', plan, 0, { scm: [{ ...FROZEN, status: 'failed' as const, summary: 'freeze: FAILED: HTTP 502' }] }, 9, 'freeze: FAILED: HTTP 502'],
    ['the war-room announcement failed', plan, 0, { warRoomOpened: { delivered: false, detail: 'not delivered: channel_not_found', configured: true } }, 8, 'IC: bora; the war-room announcement failed: not delivered: channel_not_found'],
    ['the war-room was never opened', plan, 0, { warRoomOpened: undefined }, 8, 'the war-room was never opened'],
    ['nobody can page the incident commander', noContact, 0, {}, 8, 'IC bora has no Slack id or e-mail in the plan: nobody can page them'],
  ] as const)('is not ok when %s', (_name, p, weight, extra, index, detail) => {
    const items = buildChecklist(p, status(results(p), extra as Partial<ReleaseStatus>), weight);
    expect(items[index]).toMatchObject({ ok: false, detail });
    expect(okFlags(items).filter((ok) => !ok)).toHaveLength(1);
  });

  it('a war-room recorded where no chat is configured counts as opened, and says so', () => {
    const items = buildChecklist(plan, status(results(plan), { warRoomOpened: { delivered: false, detail: 'not delivered: Slack not configured', configured: false } }), 0);
    expect(items[8]).toMatchObject({ ok: true, detail: 'IC: bora; no chat configured: the opening is recorded in announcements.txt only' });
  });
});
