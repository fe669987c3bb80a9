// The canary's judgment of one evaluation, from the plan and Prometheus' answers: pure, so the
// live canary (canary.ts), the backtest and the simulator run the same code on the same inputs.
import type { InstantResult, RangeResult } from '../adapters/metrics/provider';
import { renderQuery } from '../adapters/metrics/query';
import { promDuration } from '../plan/duration';
import type { ReleasePlan } from '../plan/schema';
import {
  judge, queryTemplates, stageWideTemplates, TRAFFIC_ALL_KEY, TRAFFIC_CANARY_KEY, versusStableTemplates, type JudgeMemory, type Judgment,
} from './decide';
import { perTestAlpha } from './sequential';
import { dwellState, legacySettings, type TrackRanges } from './versus-stable';

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

/** patched() id of the judgment's second version: sequential canary-versus-stable tests on counts, trigger budgets
 * and gap restarts, independent breach windows, a fixed evaluation clock. Histories from before replay the first. */
export const SEQUENTIAL_RULES = 'sequential-versus-stable';

/** Does the stage compare the canary with stable? Not at 100%: stable serves nothing there. */
function compares(plan: ReleasePlan, stageIndex: number): boolean {
  const stage = plan.canary.stages[stageIndex];
  if (!stage) throw new Error(`the plan has no canary stage ${stageIndex + 1}`);
  return plan.canary.versusStable !== undefined && stage.traffic < 100 && plan.signals.some((s) => s.versusStable);
}

/** Every query of one evaluation of stage `stageIndex`, `stageAgeMs` into it: renderCanaryQueries for the
 * canary, and the counts since the stage began of both tracks for the canary-versus-stable tests. */
export function stageQueries(plan: ReleasePlan, stageIndex: number, stageAgeMs: number): { byId: Record<string, string>; unique: string[] } {
  const { byId } = renderCanaryQueries(plan, 'canary', stageAgeMs);
  if (compares(plan, stageIndex)) {
    const rate = `${Math.max(1, Math.ceil(stageAgeMs / 1000))}s`;
    for (const { key, track, template, le } of versusStableTemplates(plan)) {
      byId[key] = renderQuery(template, { service: plan.service, version: plan.version, track, rate, ...(le === undefined ? {} : { le }) });
    }
  }
  return { byId, unique: [...new Set(Object.values(byId))] };
}

/** Each comparison's level: one alpha for the whole canary, an equal part for every compared signal in every stage below 100%. */
export function comparisonAlpha(plan: ReleasePlan): number {
  const settings = plan.canary.versusStable;
  if (!settings) throw new Error('the plan has no canary.versusStable settings');
  const tests = plan.signals.filter((s) => s.versusStable).length * plan.canary.stages.filter((s) => s.traffic < 100).length;
  return perTestAlpha(Number(settings.alpha), tests);
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

/**
 * One evaluation of the decision matrix on the answers to stageQueries(plan, stageIndex, now - stageStart).
 * `legacy`: a release started before the sequential tests, replayed (its range comparison, if any).
 */
export function judgeCanary(
  ctx: CanaryEvaluationContext, results: Record<string, InstantResult>, queries: Record<string, string>, legacy?: { ranges?: TrackRanges },
): Judgment {
  const { plan, stageIndex, stageStart, stageEnd, now } = ctx;
  const stage = plan.canary.stages[stageIndex];
  if (!stage) throw new Error(`the plan has no canary stage ${stageIndex + 1}`);
  const settings = plan.canary.versusStable;
  const common = {
    signals: plan.signals, triggers: plan.triggers, results, queries,
    baseline: ctx.baseline, memory: ctx.memory, now,
    onInsufficientSamples: plan.canary.onInsufficientSamples,
    ...(plan.canary.trafficShare ? { traffic: { plannedPercent: stage.traffic, check: plan.canary.trafficShare } } : {}),
  };
  if (legacy) {
    return judge({ ...common, ...dwellState(plan, stageStart, stageEnd, now), legacy: { ...legacy, versusStable: legacySettings(plan) } });
  }
  const stageOver = now >= stageEnd;
  const extensionSpent = now >= stageEnd + plan.canary.maxDwellExtension;
  return judge({
    ...common, stageOver, extensionSpent, dwellExtensionOver: extensionSpent,
    independentWindowMs: plan.metrics.rateWindow,
    ...(settings && compares(plan, stageIndex)
      ? { versusStable: { settings, plannedShare: stage.traffic / 100, alpha: comparisonAlpha(plan) } }
      : {}),
  });
}
