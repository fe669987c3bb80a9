// Multi-window, multi-burn-rate SLO alerts (Google SRE workbook, ch. 5): the error
// budget burns at `ratio / (1 - objective)`; an alert fires only when both its long
// and its short window burn faster than its factor. The long window makes it
// significant, the short one makes it stop firing soon after recovery.
// Pure, like decide.ts: it runs in the workflow and in plain unit tests.
import Decimal from 'decimal.js';
import type { InstantResult } from '../adapters/metrics/provider';
import { renderQuery } from '../adapters/metrics/query';
import { formatDuration, promDuration } from '../plan/duration';
import type { ReleasePlan } from '../plan/schema';

type BurnRateSpec = ReleasePlan['firstNight']['burnRate'];

export interface BurnAlertQueries {
  /** e.g. "1h/5m". */
  name: string;
  factor: string;
  long: string;
  short: string;
}

export interface BurnWindow {
  query: string;
  /** Budget burn rate (1 = exactly on budget), when the window had data. */
  burn?: string;
  detail: string;
}

export interface BurnEvaluation {
  name: string;
  factor: string;
  long: BurnWindow;
  short: BurnWindow;
  /** Both windows burn faster than the factor. Unknown data never fires. */
  firing: boolean;
  /** A window had no value: the alert could not be judged. */
  unknown: boolean;
}

/** The error-ratio query of every alert, over its long and its short window. */
export function renderBurnQueries(spec: BurnRateSpec, vars: { service: string; version: string; track: string }): BurnAlertQueries[] {
  const render = (windowMs: number) => renderQuery(spec.errorRatio, { ...vars, window: promDuration(windowMs) });
  return spec.alerts.map((a) => ({
    name: `${formatDuration(a.long)}/${formatDuration(a.short)}`,
    factor: a.factor,
    long: render(a.long),
    short: render(a.short),
  }));
}

function burnOf(query: string, result: InstantResult | undefined, budget: Decimal): BurnWindow {
  if (!result) return { query, detail: 'no result for this query' };
  if (result.kind === 'query-error') return { query, detail: result.message };
  if (result.kind === 'no-data') return { query, detail: `no data (${result.reason})` };
  const burn = new Decimal(result.value).div(budget);
  return { query, burn: burn.toString(), detail: `error ratio ${result.value}, burn ${burn.toDecimalPlaces(2).toString()}x` };
}

/** Judges every alert from instant results keyed by query text. */
export function judgeBurnRate(spec: BurnRateSpec, alerts: BurnAlertQueries[], results: Record<string, InstantResult>): BurnEvaluation[] {
  const budget = new Decimal(100).minus(spec.objective).div(100);
  return alerts.map((a) => {
    const long = burnOf(a.long, results[a.long], budget);
    const short = burnOf(a.short, results[a.short], budget);
    const unknown = long.burn === undefined || short.burn === undefined;
    const firing = !unknown && new Decimal(long.burn!).gt(a.factor) && new Decimal(short.burn!).gt(a.factor);
    return { name: a.name, factor: a.factor, long, short, firing, unknown };
  });
}

/** "1h/5m 0.3x/0.1x <14.4x" for logs and the war-room. */
export function describeBurn(e: BurnEvaluation): string {
  const x = (w: BurnWindow) => (w.burn === undefined ? 'n/a' : `${new Decimal(w.burn).toDecimalPlaces(2).toString()}x`);
  return `${e.name} ${x(e.long)}/${x(e.short)} ${e.firing ? 'FIRING >' : '<='}${e.factor}x`;
}
