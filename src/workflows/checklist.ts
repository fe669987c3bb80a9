// The 10-item GO/NO-GO checklist (spec section 5), computed from what the
// run has measured. An item whose checks are not implemented is not ok.
import type { CheckPhase } from '../plan/catalogue';
import type { ReleasePlan } from '../plan/schema';
import type { ChecklistItem, ReleaseStatus } from './messages';

export function buildChecklist(plan: ReleasePlan, status: ReleaseStatus, canaryWeight: number | null): ChecklistItem[] {
  const phaseItem = (item: string, phase: CheckPhase): ChecklistItem => {
    const planned = plan.checks[phase];
    const results = status.checks.filter((c) => c.phase === phase);
    const passed = results.filter((c) => c.status === 'pass').length;
    const notImplemented = results.filter((c) => c.status === 'not-implemented').length;
    const failing = results.filter((c) => c.status !== 'pass' && c.status !== 'not-implemented').map((c) => c.id);
    const ok = planned.length > 0 && passed === planned.length;
    const parts = [`${passed}/${planned.length} pass`];
    if (notImplemented) parts.push(`${notImplemented} not implemented`);
    if (failing.length) parts.push(`failing: ${failing.join(', ')}`);
    return { item, ok, detail: planned.length === 0 ? 'no checks planned' : parts.join('; ') };
  };
  const checkItem = (item: string, ids: string[]): ChecklistItem => {
    const results = ids.map((id) => status.checks.find((c) => c.id === id));
    const missing = ids.filter((_, i) => !results[i]);
    const bad = results.filter((r) => r && r.status !== 'pass').map((r) => `${r!.id}: ${r!.status}`);
    return {
      item,
      ok: missing.length === 0 && bad.length === 0,
      detail: [...missing.map((m) => `${m}: not planned`), ...bad].join('; ') || 'pass',
    };
  };
  const freeze = status.phases.find((p) => p.phase === 'freeze');
  return [
    phaseItem('Preflight: every check passes', 'preflight'),
    phaseItem('Blind spots: every check passes', 'blindSpots'),
    phaseItem('Micro blast radius: the canary answers within its limits', 'blastRadius'),
    phaseItem('Red team and corner cases: every automated check passes', 'redTeam'),
    checkItem('Baseline of every golden signal captured', ['baseline-metrics']),
    checkItem('SBOM and build provenance recorded', ['sbom', 'build-provenance']),
    checkItem('Canary plan recorded', ['canary-plan']),
    {
      item: 'Rollback path ready: router answers and the canary takes 0%',
      ok: canaryWeight === 0,
      detail: canaryWeight === null ? 'router did not report a weight' : `canary weight ${canaryWeight}%`,
    },
    { item: 'War-room staffed: incident commander named', ok: plan.people.some((p) => p.id === plan.incidentCommander), detail: `IC: ${plan.incidentCommander}` },
    { item: 'Change freeze in effect', ok: freeze?.state === 'done', detail: `freeze phase ${freeze?.state ?? 'missing'}` },
  ];
}
