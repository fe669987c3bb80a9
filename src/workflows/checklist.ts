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
    warRoomItem(plan, status),
    freezeItem(status),
  ];
}

/** The incident commander can be reached and the war-room was opened where people will see it. */
function warRoomItem(plan: ReleasePlan, status: ReleaseStatus): ChecklistItem {
  const item = 'War-room staffed: incident commander reachable, war-room opened';
  const ic = plan.people.find((p) => p.id === plan.incidentCommander);
  if (!ic?.slack && !ic?.email) return { item, ok: false, detail: `IC ${plan.incidentCommander} has no Slack id or e-mail in the plan: nobody can page them` };
  const opened = status.warRoomOpened;
  if (!opened) return { item, ok: false, detail: 'the war-room was never opened' };
  if (opened.delivered) return { item, ok: true, detail: `IC: ${ic.id}; ${opened.detail}` };
  if (opened.configured === false) return { item, ok: true, detail: `IC: ${ic.id}; no chat configured: the opening is recorded in announcements.txt only` };
  return { item, ok: false, detail: `IC: ${ic.id}; the war-room announcement failed: ${opened.detail}` };
}

/** Open pull requests are held: the SCM freeze ran, not merely the phase. */
function freezeItem(status: ReleaseStatus): ChecklistItem {
  const item = 'Change freeze in effect: open pull requests held';
  const freeze = status.scm?.find((s) => s.action === 'freeze');
  if (!freeze) return { item, ok: false, detail: 'the freeze has not run' };
  return { item, ok: freeze.status === 'done', detail: freeze.status === 'not-configured' ? 'no SCM configured (GITHUB_REPOSITORY): no pull request is held' : freeze.summary };
}
