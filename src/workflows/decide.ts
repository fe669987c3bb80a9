// Pure canary judgment: observations in, verdict out. No Temporal, no I/O, so it
// runs inside the workflow (deterministically) and in plain unit tests.
// Every comparison goes through decimal.js: float rounding never flips a verdict.
// docs/judgment.md describes the outcome model and the decision matrix.
import Decimal from 'decimal.js';
import type { InstantResult, RangeResult } from '../adapters/metrics/provider';
import type {
  Action, Comparator, SamplesSpec, SignalSpec, TrafficShareSpec, TriggerCondition, TriggerSpec, VersusStableSettings,
} from '../plan/schema';
import { binomialLowerTail, binomialUpperTail, mannWhitneyU, median, significant } from './stats';
import { bucketCounts, errorTest, histogramTest, type SequentialResult } from './sequential';
import type { LegacyVersusStable } from './versus-stable';

export type Outcome = 'pass' | 'breach' | 'trigger' | 'no-data' | 'query-error' | 'insufficient-samples' | 'inconclusive';

export interface SignalEvaluation {
  id: string;
  outcome: Outcome;
  /** Scaled value as a decimal string, when there was one. */
  value?: string;
  /** The bound actually applied (baseline-relative thresholds resolved). */
  threshold?: string;
  comparator: Comparator;
  /** The signal's unit, for people (values and bounds stay raw decimals). */
  unit?: string;
  detail: string;
  /** Events behind the value (the signal's samples query), when it counts them. */
  samples?: string;
  /** Exact binomial p-value of a ratio above its bound. */
  pValue?: string;
  /** Judged on the counts since the stage began (its rate window held too few samples). */
  overStage?: boolean;
}

export interface TriggerEvaluation {
  id: string;
  /** pass (false), breach (true, not yet held for its window), trigger (fired), or why there is no answer. */
  outcome: Extract<Outcome, 'pass' | 'breach' | 'trigger' | 'no-data' | 'query-error' | 'insufficient-samples'>;
  /** The condition now: true, false, or unknown when a query gave no value. */
  condition: boolean | null;
  value?: string;
  /** When the condition became true (ms, workflow time), kept across unknown evaluations. */
  since: number | null;
  fired: boolean;
  detail: string;
}

/** Canary versus stable for one signal over the stage so far. */
export interface ComparisonEvaluation {
  id: string;
  /** breach: the canary is significantly worse than stable, beyond the signal's maxIncrease. */
  outcome: Extract<Outcome, 'pass' | 'breach' | 'no-data' | 'query-error' | 'insufficient-samples'>;
  /** The signal's unit, for people (sequential test). */
  unit?: string;
  /** Requests (sequential test) or range steps (releases started before it) per track. */
  canarySamples: number;
  stableSamples: number;
  /** Sequential test: the canary's and stable's ratio (errors) or mean (latency), scaled. */
  canaryValue?: string;
  stableValue?: string;
  /** Sequential test: its statistic, the level it must reach, and the events behind it. */
  test?: {
    kind: 'errors' | 'latency';
    logE: string;
    /** log(1/alpha): the statistic at or above it rejects "no regression". */
    threshold: string;
    alpha: string;
    canaryEvents: number;
    stableEvents: number;
    /** The canary's planned and observed share of requests. */
    plannedShare: string;
    share: string;
  };
  /** Range comparison (releases started before the sequential tests): scaled medians, U and its p-value. */
  canaryMedian?: string;
  stableMedian?: string;
  u?: string;
  pValue?: string;
  detail: string;
}

export interface SignalMemory {
  recent: Outcome[];
  missingStreak: number;
  /** When the last outcome entered `recent`: only evaluations a rate window apart count as independent. */
  countedAt?: number;
}

export interface JudgeMemory {
  signals: Record<string, SignalMemory>;
  triggers: Record<string, { since: number | null; missingStreak: number }>;
  /** Consecutive evaluations a comparison had no answer. */
  comparisons?: Record<string, { missingStreak: number }>;
}

/** What the stage does after an evaluation. */
export type StageAction = 'continue' | 'hold' | 'page-human' | 'rollback';

export interface Judgment {
  memory: JudgeMemory;
  signals: SignalEvaluation[];
  triggers: TriggerEvaluation[];
  comparisons: ComparisonEvaluation[];
  action: StageAction;
  /** Every signal and comparison passed (or lacks samples where that is settled as proceed) and no
   * trigger condition is true or unknown: the stage may end. */
  clean: boolean;
  /** Not clean only because canary-versus-stable comparisons lack samples: a longer dwell may settle it. */
  waitingForSamples: boolean;
  /** Everything noted in this evaluation (the action's causes, and what is waiting or missing), for the evidence. */
  reasons: string[];
  /** What drove the action alone (the findings at its level): a rollback's or a page's reason for people. */
  causes: string[];
  /** The trigger or signal that caused a rollback. */
  cause?: string;
  /** Held (not rolled back) because data is missing: only a human or fresh data moves it. */
  missingData: boolean;
  /** Signals accepted without enough samples because the plan says proceed: "promoted unmeasured". */
  unmeasured: string[];
  /** Whether the canary receives its planned share of requests (when the plan checks it). */
  trafficShare?: TrafficShareEvaluation;
}

export function emptyMemory(): JudgeMemory {
  return { signals: {}, triggers: {}, comparisons: {} };
}

/** Query keys: a signal's or trigger's own query under its id, the rest under id + suffix (ids never contain ':'). */
export const samplesKey = (id: string) => `${id}:samples`;
export const conditionKey = (triggerId: string, index: number) => `${triggerId}:and${index + 1}`;
/** A counted signal's value and samples over the stage so far (`$rate` = the stage's age), not one rate window. */
export const stageWideKey = (id: string) => `${id}:stage`;
export const stageWideSamplesKey = (id: string) => `${id}:samples:stage`;

/** The queries behind the counts since the stage began: every signal that counts its samples. */
export function stageWideTemplates(plan: { signals: SignalSpec[] }): { key: string; template: string }[] {
  return plan.signals.filter((s) => s.samples).flatMap((s) => [
    { key: stageWideKey(s.id), template: s.query },
    { key: stageWideSamplesKey(s.id), template: s.samples!.query },
  ]);
}

/** A canary-versus-stable count since the stage began: `<signal>:vs:<track>:<requests|events|sum|le=...>`. */
export const versusKey = (id: string, track: 'canary' | 'stable', part: string) => `${id}:vs:${track}:${part}`;

/** The queries behind the canary-versus-stable tests, per track, as plan templates (with `le` for a bucket). */
export function versusStableTemplates(plan: { signals: SignalSpec[] }): { key: string; track: 'canary' | 'stable'; template: string; le?: string }[] {
  return plan.signals.flatMap((s) => {
    const vs = s.versusStable;
    if (!vs) return [];
    return (['canary', 'stable'] as const).flatMap((track) => {
      const common = [{ key: versusKey(s.id, track, 'requests'), track, template: vs.requests }];
      if (vs.test === 'errors') return [...common, { key: versusKey(s.id, track, 'events'), track, template: vs.events }];
      return [
        ...common,
        { key: versusKey(s.id, track, 'sum'), track, template: vs.sum },
        ...vs.buckets.map((le) => ({ key: versusKey(s.id, track, `le=${le}`), track, template: vs.bucket, le })),
      ];
    });
  });
}

/** Every instant query the judgment reads, by key, as plan templates. */
export function queryTemplates(plan: { signals: SignalSpec[]; triggers: TriggerSpec[] }): { key: string; template: string }[] {
  const out: { key: string; template: string }[] = [];
  for (const s of plan.signals) {
    out.push({ key: s.id, template: s.query });
    if (s.samples) out.push({ key: samplesKey(s.id), template: s.samples.query });
  }
  for (const t of plan.triggers) {
    out.push({ key: t.id, template: t.query });
    if (t.samples) out.push({ key: samplesKey(t.id), template: t.samples.query });
    t.and.forEach((c, i) => { if (c.query) out.push({ key: conditionKey(t.id, i), template: c.query }); });
  }
  return out;
}

export function compare(value: Decimal.Value, comparator: Comparator, bound: Decimal.Value): boolean {
  const v = new Decimal(value);
  switch (comparator) {
    case '<': return v.lt(bound);
    case '<=': return v.lte(bound);
    case '>': return v.gt(bound);
    case '>=': return v.gte(bound);
  }
}

/** The bound a signal is judged against; null when it depends on a baseline we do not have. */
export function effectiveThreshold(spec: SignalSpec, baseline: Record<string, string | null>): string | null {
  if (!spec.pass.relativeTo) return spec.pass.value;
  const base = baseline[spec.id];
  const floor = spec.pass.floor;
  if (base === undefined || base === null) return floor ?? null;
  const factor = new Decimal(100).plus(spec.pass.comparator.startsWith('<') ? spec.pass.value : new Decimal(spec.pass.value).neg()).div(100);
  const relative = new Decimal(base).mul(factor);
  if (floor === undefined) return relative.toString();
  return (spec.pass.comparator.startsWith('<') ? Decimal.max(relative, floor) : Decimal.min(relative, floor)).toString();
}

/** Multiplies a raw sample by the spec's scale, kept exact. */
export function scaled(raw: string, scale: string): string {
  return new Decimal(raw).mul(scale).toString();
}

type Missing = { outcome: 'no-data' | 'query-error'; detail: string };

function missingOf(result: InstantResult | undefined, what = ''): Missing | null {
  if (!result) return { outcome: 'query-error', detail: `${what}no result for this query` };
  if (result.kind === 'query-error') return { outcome: 'query-error', detail: `${what}${result.message}` };
  if (result.kind === 'no-data') return { outcome: 'no-data', detail: `${what}no data (${result.reason})` };
  return null;
}

/** How many events stand behind a value. */
type Counted = { count: Decimal; enough: boolean };

/** The count, why it is unknown, or null when the spec counts no samples. */
function countSamples(spec: SamplesSpec | undefined, result: InstantResult | undefined): Counted | Missing | null {
  if (!spec) return null;
  const missing = missingOf(result, 'samples query: ');
  if (missing) return missing;
  const count = new Decimal((result as Extract<InstantResult, { kind: 'value' }>).value);
  // No events at all is never enough, whatever the minimum: 0/0 says nothing.
  return { count, enough: count.gt(0) && count.gte(spec.minimum) };
}

/**
 * Exact one-sided binomial test of a ratio above its bound: how likely is a
 * share this high out of `count` events if the true share were the bound?
 */
export function ratioExcessPValue(rawRatio: string, count: Decimal, rawBound: Decimal): number {
  const n = count.toDecimalPlaces(0).toNumber();
  const k = Math.min(n, new Decimal(rawRatio).mul(count).toDecimalPlaces(0).toNumber());
  return binomialUpperTail(k, n, rawBound.toNumber());
}

interface Excess {
  /** The excess is real (significant, or no test asked for and enough samples). */
  counts: boolean;
  pValue?: number;
  why: string;
}

/** Whether a value beyond its bound counts, given the samples behind it. */
function judgeExcess(spec: SamplesSpec | undefined, samples: Counted | null, raw: string, scale: string, bound: string): Excess {
  if (!spec || !samples) return { counts: true, why: '' };
  if (spec.significance) {
    const p = ratioExcessPValue(raw, samples.count, new Decimal(bound).div(scale));
    const sig = significant(p, spec.significance);
    return { counts: sig, pValue: p, why: ` (p=${formatP(p)} over ${events(samples.count)} samples, ${sig ? 'significant' : 'not significant'} at ${spec.significance})` };
  }
  return { counts: samples.enough, why: samples.enough ? '' : ` (${events(samples.count)} of ${spec.minimum} samples)` };
}

function formatP(p: number): string {
  return new Decimal(p).toSignificantDigits(3).toString();
}

/** A number for people: three significant digits, no exponent (raw values stay in the evidence). */
export function readable(value: Decimal.Value): string {
  const d = new Decimal(value);
  if (d.isZero() || !d.isFinite()) return d.toString();
  return d.abs().gte(1000) ? d.toDecimalPlaces(0).toString() : d.toSignificantDigits(3).toFixed();
}

/** Events are whole: Prometheus' extrapolated increase() of 47.73 requests is shown as 48. */
const events = (count: Decimal) => count.toDecimalPlaces(0).toString();

function judgeSignal(
  spec: SignalSpec,
  result: InstantResult | undefined,
  samplesResult: InstantResult | undefined,
  baseline: Record<string, string | null>,
): SignalEvaluation {
  const base = { id: spec.id, comparator: spec.pass.comparator, unit: spec.unit };
  const samples = countSamples(spec.samples, samplesResult);
  if (samples && 'outcome' in samples) return { ...base, ...samples };
  const counted = samples ? { samples: samples.count.toString() } : {};
  const few = samples !== null && !samples.enough;
  const fewDetail = few ? `${events(samples.count)} of ${spec.samples!.minimum} samples` : '';
  const missing = missingOf(result);
  if (missing) {
    // No traffic gives 0/0: with too few samples that is a lack of samples, not a hole in the data.
    if (few && missing.outcome === 'no-data') return { ...base, ...counted, outcome: 'insufficient-samples', detail: `${fewDetail}; ${missing.detail}` };
    return { ...base, ...counted, ...missing };
  }
  const raw = (result as Extract<InstantResult, { kind: 'value' }>).value;
  const value = scaled(raw, spec.scale);
  const threshold = effectiveThreshold(spec, baseline);
  if (threshold === null) {
    return { ...base, ...counted, outcome: 'inconclusive', value, detail: 'no baseline to compare with' };
  }
  const ok = compare(value, spec.pass.comparator, threshold);
  const judged = { ...base, ...counted, value, threshold };
  const shown = `${readable(value)}${spec.unit}`;
  const bound = `${readable(threshold)}${spec.unit}`;
  const over = samples && !few ? ` on ${events(samples.count)} samples` : '';
  if (ok) {
    return few
      ? { ...judged, outcome: 'insufficient-samples', detail: `${shown} ${spec.pass.comparator} ${bound} on only ${fewDetail}` }
      : { ...judged, outcome: 'pass', detail: `${shown} ${spec.pass.comparator} ${bound}${over}` };
  }
  const excess = judgeExcess(spec.samples, samples, raw, spec.scale, threshold);
  const pValue = excess.pValue === undefined ? {} : { pValue: formatP(excess.pValue) };
  const outcome: Outcome = excess.counts ? 'breach' : few ? 'insufficient-samples' : 'inconclusive';
  return { ...judged, ...pValue, outcome, detail: `${shown} not ${spec.pass.comparator} ${bound}${excess.why}` };
}

type ConditionState = { condition: boolean | null; value?: string; detail: string; missing?: Missing; insufficient?: boolean };

function judgeCondition(
  label: string, result: InstantResult | undefined, scale: string, comparator: Comparator, threshold: string,
): ConditionState {
  const missing = missingOf(result);
  if (missing) return { condition: null, detail: `${label}${missing.detail}`, missing };
  const value = scaled((result as Extract<InstantResult, { kind: 'value' }>).value, scale);
  const condition = compare(value, comparator, threshold);
  return { condition, value, detail: `${label}${readable(value)} ${comparator} ${readable(threshold)} is ${condition}` };
}

/** The trigger's own condition, with its samples: no traffic or a non-significant excess is not a breach. */
function judgeTriggerMain(spec: TriggerSpec, result: InstantResult | undefined, samplesResult: InstantResult | undefined): ConditionState {
  const samples = countSamples(spec.samples, samplesResult);
  if (samples && 'outcome' in samples) return { condition: null, detail: samples.detail, missing: samples };
  const few = samples !== null && !samples.enough;
  const state = judgeCondition('', result, spec.scale, spec.comparator, spec.threshold);
  if (state.missing) {
    return few && state.missing.outcome === 'no-data'
      ? { condition: false, insufficient: true, detail: `${events(samples.count)} of ${spec.samples!.minimum} samples; ${state.detail}` }
      : state;
  }
  if (state.condition && samples) {
    const excess = judgeExcess(spec.samples, samples, (result as Extract<InstantResult, { kind: 'value' }>).value, spec.scale, spec.threshold);
    if (!excess.counts) return { ...state, condition: false, insufficient: true, detail: `${readable(state.value!)} ${spec.comparator} ${readable(spec.threshold)}${excess.why}` };
    return { ...state, detail: `${state.detail}${excess.why}` };
  }
  return few ? { ...state, insufficient: true } : state;
}

/** Three-valued AND: false beats unknown beats true. */
function allOf(states: ConditionState[]): boolean | null {
  if (states.some((s) => s.condition === false)) return false;
  if (states.some((s) => s.condition === null)) return null;
  return true;
}

/** What the canary-versus-stable tests of one evaluation need besides the answers. */
export interface VersusStableInput {
  settings: VersusStableSettings;
  /** The canary's planned share of requests in this stage (0..1). */
  plannedShare: number;
  /** Each test's level: the plan's alpha split over every comparison of the canary (perTestAlpha). */
  alpha: number;
}

/** An e-value from its log, for people: three significant digits, a power of ten from a million, <0.01 below (the log stays in the record). */
export function readableEvidence(logE: number): string {
  if (logE >= Math.log(1e6)) return `10^${Math.floor(logE / Math.LN10)}`;
  // Below 0.01 the counts speak against a regression; more digits say nothing more.
  if (logE < Math.log(0.01)) return '<0.01';
  return readable(new Decimal(logE).exp());
}

/**
 * Canary versus stable on the counts since the stage began (docs/judgment.md, "Canary versus stable"):
 * an anytime-valid test, so evaluating it every interval keeps a false rollback within alpha.
 * A breach needs both the test's rejection and a difference beyond the signal's maxIncrease.
 */
export function judgeVersusStable(spec: SignalSpec, input: VersusStableInput, resultOf: (key: string) => InstantResult | undefined): ComparisonEvaluation {
  const vs = spec.versusStable;
  if (!vs) throw new Error(`signal ${spec.id} is not compared with stable`);
  const base = { id: spec.id, unit: spec.unit, canarySamples: 0, stableSamples: 0 };
  const answers: Record<string, number> = {};
  const countsOf = (track: 'canary' | 'stable'): Missing | null => {
    const read = (part: string, absent: number | null): Missing | null => {
      const r = resultOf(versusKey(spec.id, track, part));
      // No series yet where nothing was served is a count of 0, not a hole in the data.
      if (r?.kind === 'no-data' && r.reason === 'empty' && absent !== null) { answers[`${track}:${part}`] = absent; return null; }
      const missing = missingOf(r, `${track} ${part}: `);
      if (missing) return missing;
      answers[`${track}:${part}`] = Math.max(0, new Decimal((r as Extract<InstantResult, { kind: 'value' }>).value).toDecimalPlaces(0).toNumber());
      return null;
    };
    const missingRequests = read('requests', 0);
    if (missingRequests) return missingRequests;
    const served = answers[`${track}:requests`]! > 0;
    const parts = vs.test === 'errors' ? ['events'] : ['sum', ...vs.buckets.map((le) => `le=${le}`)];
    for (const part of parts) {
      const missing = read(part, served ? null : 0);
      if (missing) return missing;
    }
    return null;
  };
  const missing = countsOf('canary') ?? countsOf('stable');
  if (missing) return { ...base, ...missing };
  const nc = answers['canary:requests']!;
  const ns = answers['stable:requests']!;
  const counts = { canarySamples: nc, stableSamples: ns };
  const min = input.settings.minimum;
  const tally = `${nc} canary and ${ns} stable requests since the stage began`;
  if (nc === 0 || ns === 0) return { ...base, ...counts, outcome: 'insufficient-samples', detail: `${tally}; ${min} each needed` };
  const opts = { alpha: input.alpha, plannedShare: input.plannedShare, effect: vs.effect };
  let result: SequentialResult;
  let canaryValue: Decimal;
  let stableValue: Decimal;
  if (vs.test === 'errors') {
    const k = answers['canary:events']!;
    const m = answers['stable:events']!;
    result = errorTest({ canaryRequests: nc, stableRequests: ns, canaryErrors: Math.min(k, nc), stableErrors: Math.min(m, ns) }, opts);
    canaryValue = new Decimal(k).div(nc).mul(spec.scale);
    stableValue = new Decimal(m).div(ns).mul(spec.scale);
  } else {
    const histogram = (track: 'canary' | 'stable', total: number) => bucketCounts([...vs.buckets.map((le) => answers[`${track}:le=${le}`]!), total]);
    result = histogramTest(histogram('canary', nc), histogram('stable', ns), opts);
    canaryValue = new Decimal(answers['canary:sum']!).div(nc).mul(spec.scale);
    stableValue = new Decimal(answers['stable:sum']!).div(ns).mul(spec.scale);
  }
  const allowed = stableValue.mul(new Decimal(100).plus(vs.maxIncrease).div(100));
  const beyond = canaryValue.gt(allowed);
  const rejected = result.decision === 'reject';
  const e = `evidence e=${readableEvidence(result.logE)} (rejects at ${readable(new Decimal(1).div(input.alpha))})`;
  const what = vs.test === 'errors' ? 'ratio' : 'mean';
  const shown = `canary ${what} ${readable(canaryValue)}${spec.unit} vs stable ${readable(stableValue)}${spec.unit} over ${tally}, ${e}`;
  const outcome = rejected && beyond ? 'breach' : nc < min || ns < min ? 'insufficient-samples' : 'pass';
  const verdict = outcome === 'breach' ? `worse than stable by more than ${vs.maxIncrease}%`
    : outcome === 'insufficient-samples' ? `${min} requests each needed`
      : rejected ? `different from stable, but within ${vs.maxIncrease}%` : 'not significantly worse';
  return {
    ...base, ...counts, outcome,
    canaryValue: canaryValue.toString(), stableValue: stableValue.toString(),
    test: {
      kind: vs.test, logE: String(result.logE), threshold: String(result.threshold), alpha: String(input.alpha),
      canaryEvents: result.canaryEvents, stableEvents: result.stableEvents,
      plannedShare: String(input.plannedShare), share: String(result.share),
    },
    detail: `${shown}: ${verdict}`,
  };
}

/** The range comparison (per-step Mann-Whitney) of releases started before the sequential tests: replay only. */
function judgeRangeComparison(
  spec: SignalSpec, settings: LegacyVersusStable, ranges: { canary: RangeResult; stable: RangeResult } | undefined,
): ComparisonEvaluation {
  const base = { id: spec.id, canarySamples: 0, stableSamples: 0 };
  if (!ranges) return { ...base, outcome: 'query-error', detail: 'no range result for this comparison' };
  for (const [track, r] of [['canary', ranges.canary], ['stable', ranges.stable]] as const) {
    if (r.kind === 'query-error') return { ...base, outcome: 'query-error', detail: `${track}: ${r.message}` };
    // No series at all is a hole in the data (a canary without the metric never passes);
    // NaN at every step (0/0 without traffic) is a lack of samples.
    if (r.kind === 'no-data' && r.reason === 'empty') return { ...base, outcome: 'no-data', detail: `${track}: no data (no series)` };
  }
  const canary = ranges.canary.kind === 'values' ? ranges.canary.values : [];
  const stable = ranges.stable.kind === 'values' ? ranges.stable.values : [];
  const counts = { canarySamples: canary.length, stableSamples: stable.length };
  if (canary.length < settings.minimum || stable.length < settings.minimum) {
    return { ...base, ...counts, outcome: 'insufficient-samples', detail: `${canary.length} canary and ${stable.length} stable samples; ${settings.minimum} each needed` };
  }
  const mw = mannWhitneyU(canary, stable);
  const canaryMedian = median(canary).mul(spec.scale);
  const stableMedian = median(stable).mul(spec.scale);
  const allowed = stableMedian.mul(new Decimal(100).plus(spec.versusStable!.maxIncrease).div(100));
  const sig = significant(mw.pGreater, settings.significance);
  const beyond = canaryMedian.gt(allowed);
  const worse = sig && beyond;
  const medians = `canary median ${canaryMedian.toSignificantDigits(4)}${spec.unit} vs stable ${stableMedian.toSignificantDigits(4)}${spec.unit}`;
  return {
    ...base, ...counts,
    outcome: worse ? 'breach' : 'pass',
    canaryMedian: canaryMedian.toString(),
    stableMedian: stableMedian.toString(),
    u: String(mw.u),
    pValue: formatP(mw.pGreater),
    detail: `${medians}, p=${formatP(mw.pGreater)} (${canary.length}/${stable.length} samples): ${worse ? `worse than stable by more than ${spec.versusStable!.maxIncrease}%` : !sig ? 'not significantly worse' : `within ${spec.versusStable!.maxIncrease}% of stable`}`,
  };
}

const MISSING: Outcome[] = ['no-data', 'query-error'];

export interface JudgeInput {
  signals: SignalSpec[];
  triggers: TriggerSpec[];
  /** Results keyed by the resolved query text. */
  results: Record<string, InstantResult>;
  /** Resolved query per key (see queryTemplates). */
  queries: Record<string, string>;
  baseline: Record<string, string | null>;
  memory: JudgeMemory;
  now: number;
  /** Canary versus stable on the counts since the stage began (answers under versusKey); omit to skip it. */
  versusStable?: VersusStableInput;
  /** Evaluations closer together than this (ms: the rate window) share their data: only one of them
   * enters a signal's breach budget, so k of n counts independent windows at any time scale. */
  independentWindowMs?: number;
  /** Releases started before the sequential tests (replayed by Temporal): their range comparison,
   * a trigger's `for` window kept across gaps, no missing-data budget for triggers or comparisons. */
  legacy?: { ranges?: Record<string, { canary: RangeResult; stable: RangeResult }>; versusStable?: LegacyVersusStable };
  /** The stage has run its duration: a signal still lacking samples waits (the dwell extension) for more. */
  stageOver?: boolean;
  /** Waiting longer cannot help the comparisons (dwell extension spent, or the minimum out of its reach):
   * one still lacking samples proceeds. */
  dwellExtensionOver?: boolean;
  /** The dwell extension is spent: a signal still lacking samples takes its onInsufficientSamples policy. */
  extensionSpent?: boolean;
  /** The plan's default for a signal without its own onInsufficientSamples (canary.onInsufficientSamples). */
  onInsufficientSamples?: Action;
  /** The canary's planned share of requests (percent) and the test that it receives it (canary.trafficShare). */
  traffic?: { plannedPercent: number; check: TrafficShareSpec };
}

const RANK: Record<StageAction, number> = { continue: 0, hold: 1, 'page-human': 2, rollback: 3 };

/** One evaluation of the decision matrix (spec section 6). */
export function judge(input: JudgeInput): Judgment {
  const memory: JudgeMemory = { signals: { ...input.memory.signals }, triggers: { ...input.memory.triggers } };
  const reasons: string[] = [];
  const findings: { level: StageAction; why: string }[] = [];
  let action: StageAction = 'continue';
  let cause: string | undefined;
  let missingData = false;
  const escalate = (next: StageAction, why: string, who: string) => {
    reasons.push(why);
    findings.push({ level: next, why });
    if (RANK[next] > RANK[action]) {
      action = next;
      cause = who;
    }
  };
  const apply = (policyAction: Action, why: string, who: string) => {
    if (policyAction === 'proceed') reasons.push(`${why} (policy: proceed)`);
    else escalate(policyAction, why, who);
  };
  const resultOf = (key: string) => input.results[input.queries[key] ?? ''];
  const signalsById = new Map(input.signals.map((s) => [s.id, s]));
  const stageOver = input.stageOver ?? false;
  const extensionOver = input.dwellExtensionOver ?? false;

  const conditionOf = (trigger: TriggerSpec, c: TriggerCondition, i: number): ConditionState => {
    const signal = c.signal === undefined ? undefined : signalsById.get(c.signal);
    const key = signal ? signal.id : conditionKey(trigger.id, i);
    const scale = c.scale ?? signal?.scale ?? '1';
    if (c.signal !== undefined && !signal) return { condition: null, detail: `signal ${c.signal} is not judged here`, missing: { outcome: 'query-error', detail: `signal ${c.signal} is not judged here` } };
    return judgeCondition(`${signal ? signal.short : `and${i + 1}`}: `, resultOf(key), scale, c.comparator, c.threshold);
  };

  const legacy = input.legacy !== undefined;
  const triggers = input.triggers.map((spec): TriggerEvaluation => {
    const prev = memory.triggers[spec.id] ?? { since: null, missingStreak: 0 };
    const main = judgeTriggerMain(spec, resultOf(spec.id), resultOf(samplesKey(spec.id)));
    const parts = [main, ...spec.and.map((c, i) => conditionOf(spec, c, i))];
    const condition = allOf(parts);
    const detail = parts.map((p) => p.detail).join('; ');
    if (condition === null) {
      // Unknown neither confirms nor clears the condition, and the condition has not been seen to hold
      // throughout: the `for` window starts again with the next true reading.
      const since = legacy ? prev.since : null;
      const missingStreak = prev.missingStreak + 1;
      memory.triggers[spec.id] = { since, missingStreak };
      const missing = parts.find((p) => p.condition === null)!.missing!;
      missingData = true;
      if (!legacy && missingStreak >= spec.missingDataBudget) {
        apply(spec.onMissingData, `trigger ${spec.id}: ${missing.outcome} ${missingStreak} times in a row (${missing.detail})`, spec.id);
      } else {
        reasons.push(`trigger ${spec.id} cannot be evaluated: ${missing.detail}${legacy ? '' : ` (${missingStreak}/${spec.missingDataBudget} of budget)`}`);
      }
      return { id: spec.id, outcome: missing.outcome, condition, value: main.value, since, fired: false, detail };
    }
    const since = condition ? (prev.since ?? input.now) : null;
    memory.triggers[spec.id] = { since, missingStreak: 0 };
    const fired = condition && since !== null && input.now - since >= spec.for;
    const held = condition ? ` for ${Math.round((input.now - (since ?? input.now)) / 1000)}s` : '';
    if (fired) apply(spec.action, `trigger ${spec.id}: ${spec.title} (${main.value === undefined ? 'n/a' : readable(main.value)})`, spec.id);
    const outcome = fired ? 'trigger' : condition ? 'breach' : main.insufficient ? 'insufficient-samples' : 'pass';
    return { id: spec.id, outcome, condition, value: main.value, since, fired, detail: detail + held };
  });

  const accepted = (outcome: Outcome, settled: boolean, policy: Action) => outcome === 'pass' || (outcome === 'insufficient-samples' && settled && policy === 'proceed');
  const extensionSpent = input.extensionSpent ?? stageOver;

  let unsettled = 0;
  let waiting = 0;
  const unmeasured: string[] = [];
  const signals = input.signals.map((spec) => {
    const evaluation = withStageCounts(spec, judgeSignal(spec, resultOf(spec.id), resultOf(samplesKey(spec.id)), input.baseline), () =>
      judgeSignal(spec, resultOf(stageWideKey(spec.id)), resultOf(stageWideSamplesKey(spec.id)), input.baseline), input.queries[stageWideKey(spec.id)] !== undefined);
    const onInsufficient = spec.policy.onInsufficientSamples ?? input.onInsufficientSamples ?? 'page-human';
    const prev = memory.signals[spec.id] ?? { recent: [], missingStreak: 0 };
    const independent = input.independentWindowMs === undefined || prev.countedAt === undefined || input.now - prev.countedAt >= input.independentWindowMs;
    const recent = independent ? [...prev.recent, evaluation.outcome].slice(-spec.policy.window) : prev.recent;
    const missingStreak = MISSING.includes(evaluation.outcome) ? prev.missingStreak + 1 : 0;
    memory.signals[spec.id] = input.independentWindowMs === undefined ? { recent, missingStreak }
      : { recent, missingStreak, countedAt: independent ? input.now : prev.countedAt! };
    if (evaluation.outcome === 'inconclusive') apply(spec.policy.onInconclusive, `${spec.title}: inconclusive (${evaluation.detail})`, spec.id);
    if (evaluation.outcome === 'insufficient-samples') {
      if (extensionSpent) {
        apply(onInsufficient, `${spec.title}: insufficient samples at the end of the stage (${evaluation.detail})`, spec.id);
        if (onInsufficient === 'proceed') unmeasured.push(spec.short);
      } else {
        reasons.push(`${spec.title}: insufficient samples (${evaluation.detail})`);
        if (stageOver) waiting += 1;
      }
    }
    const breaches = recent.filter((o) => o === 'breach').length;
    if (evaluation.outcome === 'breach' && breaches >= spec.policy.breachesToAct) {
      apply(spec.policy.onBreach, `${spec.title} breached ${breaches}/${recent.length}: ${evaluation.detail}`, spec.id);
    }
    if (missingStreak >= spec.policy.missingDataBudget) {
      missingData = true;
      apply(spec.policy.onMissingData, `${spec.title}: ${evaluation.outcome} ${missingStreak} times in a row (${evaluation.detail})`, spec.id);
    } else if (MISSING.includes(evaluation.outcome)) {
      missingData = true;
      reasons.push(`${spec.title}: ${evaluation.outcome} (${missingStreak}/${spec.policy.missingDataBudget} of budget)`);
    }
    if (!accepted(evaluation.outcome, extensionSpent, onInsufficient)) unsettled += 1;
    return evaluation;
  });

  const comparisonMemory = { ...input.memory.comparisons };
  memory.comparisons = comparisonMemory;
  const versus = input.versusStable;
  const sequential = versus
    ? input.signals.filter((s) => s.versusStable).map((spec) => {
      const c = judgeVersusStable(spec, versus, resultOf);
      const who = `${spec.id}:versus-stable`;
      if (c.outcome === 'breach') apply(versus.settings.onWorse, `${spec.title} versus stable: ${c.detail}`, who);
      const missingStreak = MISSING.includes(c.outcome) ? (comparisonMemory[spec.id]?.missingStreak ?? 0) + 1 : 0;
      comparisonMemory[spec.id] = { missingStreak };
      if (missingStreak >= spec.policy.missingDataBudget) {
        missingData = true;
        apply(spec.policy.onMissingData, `${spec.title} versus stable: ${c.outcome} ${missingStreak} times in a row (${c.detail})`, who);
      } else if (MISSING.includes(c.outcome)) {
        missingData = true;
        reasons.push(`${spec.title} versus stable: ${c.outcome} (${missingStreak}/${spec.policy.missingDataBudget} of budget: ${c.detail})`);
      }
      const onInsufficient = spec.policy.onInsufficientSamples ?? input.onInsufficientSamples ?? 'page-human';
      if (c.outcome === 'insufficient-samples') {
        if (extensionSpent) {
          apply(onInsufficient, `${spec.title} versus stable: insufficient samples at the end of the stage (${c.detail})`, who);
          if (onInsufficient === 'proceed') unmeasured.push(`${spec.short} vs stable`);
        } else {
          reasons.push(`${spec.title} versus stable: insufficient samples (${c.detail})`);
          if (stageOver) waiting += 1;
        }
      }
      if (!accepted(c.outcome, extensionSpent, onInsufficient)) unsettled += 1;
      return c;
    })
    : [];

  const settings = input.legacy?.versusStable;
  const ranges = input.legacy?.ranges;
  const comparisons = settings && ranges
    ? input.signals.filter((s) => s.versusStable).map((spec) => {
      const c = judgeRangeComparison(spec, settings, ranges[spec.id]);
      if (c.outcome === 'breach') apply(settings.onWorse, `${spec.title} versus stable: ${c.detail}`, `${spec.id}:versus-stable`);
      if (MISSING.includes(c.outcome)) {
        missingData = true;
        reasons.push(`${spec.title} versus stable: ${c.outcome} (${c.detail})`);
      }
      if (c.outcome === 'insufficient-samples') reasons.push(`${spec.title} versus stable: insufficient samples (${c.detail})${extensionOver ? ' (policy: proceed)' : ''}`);
      if (!accepted(c.outcome, extensionOver, 'proceed')) {
        unsettled += 1;
        if (c.outcome === 'insufficient-samples') waiting += 1;
      }
      return c;
    })
    : sequential;

  const share = input.traffic ? judgeTrafficShare(input.traffic.plannedPercent, input.traffic.check, resultOf(TRAFFIC_CANARY_KEY), resultOf(TRAFFIC_ALL_KEY)) : undefined;
  if (share?.outcome === 'breach') escalate('page-human', share.detail, 'traffic-share');
  else if (share && MISSING.includes(share.outcome)) reasons.push(`traffic share: ${share.detail}`);

  const triggersQuiet = triggers.every((t) => t.condition === false);
  const clean = unsettled === 0 && triggersQuiet && share?.outcome !== 'breach';
  const waitingForSamples = !clean && triggersQuiet && waiting === unsettled && action === 'continue';
  const causes = findings.filter((f) => f.level === action).map((f) => f.why);
  return { memory, signals, triggers, comparisons, action, clean, waitingForSamples, reasons, causes, cause, missingData, unmeasured, ...(share ? { trafficShare: share } : {}) };
}

/**
 * The evaluation a counted signal is judged by: its rate window's, unless that window holds too few
 * samples and the counts since the stage began settle it (a 1% canary gathers its samples over the stage).
 */
function withStageCounts(spec: SignalSpec, windowed: SignalEvaluation, stageWide: () => SignalEvaluation, counted: boolean): SignalEvaluation {
  if (!counted || !spec.samples || windowed.outcome !== 'insufficient-samples') return windowed;
  const overStage = stageWide();
  if (overStage.outcome !== 'pass' && overStage.outcome !== 'breach') return windowed;
  return { ...overStage, detail: `${overStage.detail} since the stage began`, overStage: true };
}

/** Keys of the traffic-share queries: canary requests and all requests since the stage began. */
export const TRAFFIC_CANARY_KEY = 'traffic-share:canary';
export const TRAFFIC_ALL_KEY = 'traffic-share:all';

export interface TrafficShareEvaluation {
  /** breach: the canary receives significantly less than `minShare` of its planned share. */
  outcome: Extract<Outcome, 'pass' | 'breach' | 'no-data' | 'query-error' | 'insufficient-samples'>;
  canaryRequests?: string;
  allRequests?: string;
  /** Observed canary share in percent. */
  observedPercent?: string;
  pValue?: string;
  detail: string;
}

/**
 * Is the canary receiving its share? Under "the router sends at least minShare x planned", the canary's
 * requests among all are at least Binomial(n, minShare x planned); far fewer, significantly, is a canary
 * not taking its traffic (a router that did not move it, a canary that cannot be reached).
 */
export function judgeTrafficShare(plannedPercent: number, spec: TrafficShareSpec, canary: InstantResult | undefined, all: InstantResult | undefined): TrafficShareEvaluation {
  const missing = missingOf(canary, 'canary requests: ') ?? missingOf(all, 'all requests: ');
  // No canary series at all while requests flow is zero canary requests, not a hole in the data.
  const canaryCount = canary?.kind === 'value' ? new Decimal(canary.value) : canary?.kind === 'no-data' && all?.kind === 'value' ? new Decimal(0) : null;
  if (canaryCount === null || all?.kind !== 'value') return { outcome: missing?.outcome ?? 'no-data', detail: missing?.detail ?? 'no request counts' };
  const n = new Decimal(all.value).toDecimalPlaces(0).toNumber();
  const k = Math.min(n, canaryCount.toDecimalPlaces(0).toNumber());
  const counts = { canaryRequests: String(k), allRequests: String(n) };
  if (n === 0) return { ...counts, outcome: 'insufficient-samples', detail: 'no requests since the stage began' };
  const observed = new Decimal(k).div(n).mul(100);
  const floor = new Decimal(plannedPercent).mul(spec.minShare).div(100).toNumber();
  const p = binomialLowerTail(k, n, floor);
  const short = significant(p, spec.significance);
  const shown = `canary ${readable(observed)}% of requests (${k} of ${n} since the stage began), planned ${plannedPercent}%`;
  return {
    ...counts, observedPercent: observed.toString(), pValue: formatP(p),
    outcome: short ? 'breach' : 'pass',
    detail: short ? `the canary is not receiving its share: ${shown} (p=${formatP(p)} below ${spec.minShare * 100}% of the plan)` : shown,
  };
}

/** Counts "6/6 PASS" style: signals that passed out of all signals. */
export function passCount(signals: SignalEvaluation[]): { passed: number; total: number } {
  return { passed: signals.filter((s) => s.outcome === 'pass').length, total: signals.length };
}
