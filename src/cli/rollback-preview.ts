// `rollback --dry-run`: what a rollback of a release would change, checked by
// the same rules the workflow applies, without sending anything.
import type { TrafficConfig } from '../adapters/traffic/router';
import type { ReleasePlan } from '../plan/schema';
import type { ReleaseStatus } from '../workflows/messages';
import { checkCanaryControl, commandContextOf } from '../workflows/validate';

function describeRouter(t: TrafficConfig): string {
  switch (t.router) {
    case 'local': return `local router at ${t.adminUrl}`;
    case 'nginx': return `worker's nginx router "${t.name}"`;
    case 'command': return `worker's command router "${t.name}" with SPARK_CANARY_WEIGHT=0`;
    case 'haproxy': return `worker's HAProxy router "${t.name}" (canary server weight 0)`;
    case 'record-only': return 'record-only router (nothing outside the evidence changes)';
  }
}

/** Throws the workflow's refusal when the rollback would be refused; otherwise the lines to print. */
export function previewRollback(status: ReleaseStatus, plan: ReleasePlan, by: string, reason: string, stage?: number): string[] {
  checkCanaryControl('rollback', { release: status.release, runId: status.runId, by, reason, ...(stage ? { stage } : {}) }, commandContextOf(status, plan));
  const current = status.stage!;
  const queries = [...plan.signals.map((s) => s.id), ...plan.triggers.map((t) => t.id)];
  return [
    `DRY RUN: nothing was sent to ${status.release}.`,
    `A rollback by ${by} would:`,
    `  1. stop stage ${current.index + 1} (${current.traffic}%) and set the canary weight ${status.canaryWeight}% -> 0% through the ${describeRouter(plan.traffic)}${status.dryRun ? ' (this release is a dry run: the weight is only recorded)' : ''}, one call bounded by ${plan.rollback.routerTimeout / 1000} s`,
    `  2. read the weight back from the router and retry steps 1-2 until it reports 0% (Prometheus is not asked before traffic is at 0%)`,
    `  3. write metrics_before_rollback_<ts>.txt from the last evaluation the release already holds (${queries.length} signal and trigger values: ${queries.join(', ')})`,
    `  4. query the same ${queries.length} values once more, each bounded by ${plan.metrics.queryTimeout / 1000} s, for metrics_after_rollback_<ts>.txt (a query that fails is recorded as failed), and write rollback_<ts>.txt`,
    `  5. record "rollback by ${by} at stage ${current.index + 1}: ${reason}" in decisions.txt and end the release as rolled-back`,
    `  6. announce the rollback, its reason and its evidence in the war-room`,
    `Run it without --dry-run to roll back.`,
  ];
}
