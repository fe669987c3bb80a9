// The canary's judgment of one evaluation, from the plan and Prometheus' answers: pure, so the
// live canary (canary.ts), the backtest and the simulator run the same code on the same inputs.
import type { InstantResult, RangeResult } from '../adapters/metrics/provider';
import { renderQuery } from '../adapters/metrics/query';
import { promDuration } from '../plan/duration';
import type { ReleasePlan } from '../plan/schema';
import { judge, queryTemplates, stageWideTemplates, TRAFFIC_ALL_KEY, TRAFFIC_CANARY_KEY, type JudgeMemory, type Judgment } from './decide';
import { dwellState } from './versus-stable';

/**
 * Signal and trigger queries (with their samples and conditions), rendered for the canary and deduplicated.
 * With `stageAgeMs`: also the counts since the stage began (its age as `$rate`) and the traffic-share queries.
 */
export function renderCanaryQueries(plan: ReleasePlan, track: string, stageAgeMs?: number): { byId: Record<string, string>; unique: string[] } {
  const vars = { service: plan.service, version: plan.version, track, rate: promDuration(plan.metrics.rateWindow) };
  const byId: Record<string, string> = {};
  for (const { key, template } of queryTemplates(plan)) byId[key] = renderQuery(template, vars);
  if (stageAgeMs !== undefined) {
    // The stage's own age, never an earlier stage's traffic (a window too short for two scrapes is no data).
    const stageVars = { ...vars, rate: `${Math.max(1, Math.ceil(stageAgeMs / 1000))}s` };
    for (const { key, template } of stageWideTemplates(plan)) byId[key] = renderQuery(template, stageVars);
    const share = plan.canary.trafficShare;
    if (share) {
      byId[TRAFFIC_CANARY_KEY] = renderQuery(share.query, stageVars);
      byId[TRAFFIC_ALL_KEY] = renderQuery(share.query, { ...stageVars, track: `${track}|stable` });
    }
  }
  return { byId, unique: [...new Set(Object.values(byId))] };
}

/** Where one evaluation stands: the stage it judges, its clocks (ms), the baseline and what earlier evaluations left. */
export interface CanaryEvaluationContext {
  plan: ReleasePlan;
  stageIndex: number;
  stageStart: number;
  /** The stage's end so far (its duration, plus pauses and unjudged time). */
  stageEnd: number;
  now: number;
  baseline: Record<string, string | null>;
  memory: JudgeMemory;
}

/** One evaluation of the decision matrix on the answers to renderCanaryQueries(plan, 'canary', now - stageStart). */
export function judgeCanary(
  ctx: CanaryEvaluationContext, results: Record<string, InstantResult>, queries: Record<string, string>,
  ranges?: Record<string, { canary: RangeResult; stable: RangeResult }>,
): Judgment {
  const { plan, stageIndex, stageStart, stageEnd, now } = ctx;
  const stage = plan.canary.stages[stageIndex];
  if (!stage) throw new Error(`the plan has no canary stage ${stageIndex + 1}`);
  return judge({
    signals: plan.signals, triggers: plan.triggers, results, queries,
    baseline: ctx.baseline, memory: ctx.memory, now,
    ranges, versusStable: plan.canary.versusStable, ...dwellState(plan, stageStart, stageEnd, now),
    onInsufficientSamples: plan.canary.onInsufficientSamples,
    ...(plan.canary.trafficShare ? { traffic: { plannedPercent: stage.traffic, check: plan.canary.trafficShare } } : {}),
  });
}
