// Canary versus stable as releases started before the sequential tests ran it (patch
// 'sequential-versus-stable' in canary.ts): range queries behind a per-step Mann-Whitney.
// Kept only so that such releases replay on this worker; new releases never take this path.
import { ActivityFailure } from '@temporalio/workflow';
import type { RangeResult } from '../adapters/metrics/provider';
import { renderQuery } from '../adapters/metrics/query';
import { promDuration } from '../plan/duration';
import type { RangeQuery } from '../activities/types';
import type { Action, ReleasePlan } from '../plan/schema';
import type { ReleaseRun } from './run';

export type TrackRanges = Record<string, { canary: RangeResult; stable: RangeResult }>;

/** canary.versusStable as those releases' plans carry it (before alpha replaced step and significance). */
export interface LegacyVersusStable { step: number; minimum: number; significance: string; onWorse: Action }

/** The legacy settings of a plan recorded in such a release's history. */
export function legacySettings(plan: ReleasePlan): LegacyVersusStable | undefined {
  return plan.canary.versusStable as unknown as LegacyVersusStable | undefined;
}

/** A signal's own range query, when its recorded plan gave one. */
const rangeQueryOf = (signal: ReleasePlan['signals'][number]) => (signal.versusStable as { query?: string } | undefined)?.query;

/** Samples per track a comparison has at `at`: one per whole step after the stage began. */
export function samplesBy(stageStart: number, stepMs: number, at: number): number {
  return Math.max(0, Math.floor((at - stageStart) / stepMs));
}

/**
 * Where the stage stands on its dwell. `stageOver`: the planned duration has run.
 * `dwellExtensionOver`: waiting longer cannot give the comparison its minimum,
 * because the extension is spent or the minimum is out of its reach.
 * `extensionSpent`: the stage has also run its dwell extension (signals lacking samples stop waiting).
 */
export function dwellState(plan: ReleasePlan, stageStart: number, stageEnd: number, now: number): { stageOver: boolean; dwellExtensionOver: boolean; extensionSpent: boolean } {
  const stageOver = now >= stageEnd;
  const settings = legacySettings(plan);
  const limit = stageEnd + plan.canary.maxDwellExtension;
  const reachable = settings?.step !== undefined && samplesBy(stageStart, settings.step, limit) >= settings.minimum;
  const extensionSpent = now >= limit;
  return { stageOver, dwellExtensionOver: stageOver && (!reachable || extensionSpent), extensionSpent };
}

/** The canary and stable range queries (keys `<signal>:canary|stable`) over [stageStart + step, now]. */
export function rangeQueries(plan: ReleasePlan, stageStart: number, now: number): RangeQuery[] {
  const settings = legacySettings(plan);
  if (!settings) return [];
  const stepSeconds = settings.step / 1000;
  const start = new Date(stageStart + settings.step).toISOString();
  const end = new Date(now).toISOString();
  return plan.signals.filter((s) => s.versusStable).flatMap((s) => (['canary', 'stable'] as const).map((track) => ({
    key: `${s.id}:${track}`,
    query: renderQuery(rangeQueryOf(s) ?? s.query, {
      service: plan.service, version: plan.version, track,
      rate: promDuration(plan.metrics.rateWindow), step: promDuration(settings.step),
    }),
    start, end, stepSeconds,
  })));
}

/**
 * Range results of every signal with `versusStable`, canary and stable, over the
 * stage so far; undefined when the plan compares nothing or stable takes no traffic.
 * A failed activity is a query error for each, never a pass.
 */
export async function compareWithStable(run: ReleaseRun, stageStart: number): Promise<TrackRanges | undefined> {
  const { plan } = run;
  const signals = plan.signals.filter((s) => s.versusStable);
  const settings = legacySettings(plan);
  // At 100% stable serves nothing: there is no one to compare with.
  if (!settings || signals.length === 0 || (run.status.stage?.traffic ?? 0) >= 100) return undefined;
  const now = Date.now();
  const ranges = rangeQueries(plan, stageStart, now);
  const { start, end, stepSeconds } = ranges[0]!;
  if (samplesBy(stageStart, settings.step, now) === 0) {
    // Not one full step into the stage: nothing to ask Prometheus yet.
    const empty: RangeResult = { kind: 'values', values: [], resolvedQuery: '', start, end, stepSeconds };
    return Object.fromEntries(signals.map((s) => [s.id, { canary: empty, stable: empty }]));
  }
  let results: Record<string, RangeResult>;
  try {
    results = await run.activities.queryRanges({ ranges });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const message = `range queries failed: ${err.cause?.message ?? err.message}`;
    results = Object.fromEntries(ranges.map((r) => [r.key, { kind: 'query-error', message, resolvedQuery: r.query, start, end, stepSeconds } as RangeResult]));
  }
  const missing = (key: string): RangeResult => ({ kind: 'query-error', message: 'no result for this range query', resolvedQuery: key, start, end, stepSeconds });
  return Object.fromEntries(signals.map((s) => [s.id, {
    canary: results[`${s.id}:canary`] ?? missing(`${s.id}:canary`),
    stable: results[`${s.id}:stable`] ?? missing(`${s.id}:stable`),
  }]));
}
