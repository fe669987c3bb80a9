import path from 'node:path';
import Decimal from 'decimal.js';
import type { InstantResult, RangeResult } from '../../src/adapters/metrics/provider';
import { loadPlanFile, loadPlanFileWith } from '../../src/plan/loader';
import type { SignalSpec } from '../../src/plan/schema';
import {
  compare,
  effectiveThreshold,
  emptyMemory,
  judge,
  passCount,
  queryTemplates,
  ratioExcessPValue,
  scaled,
  versusKey,
  type JudgeInput,
  type JudgeMemory,
  type Judgment,
  type VersusStableInput,
} from '../../src/workflows/decide';
import { dwellState, rangeQueries, samplesBy, type LegacyVersusStable } from '../../src/workflows/versus-stable';
import type { ReleasePlan } from '../../src/plan/schema';

const plan = loadPlanFile(path.join(__dirname, '../../plans/v1.4.0.yaml'));
const MIN = 60_000;
const AT = '2025-01-01T00:00:00.000Z';

const value = (v: string): InstantResult => ({ kind: 'value', value: v, series: 1, resolvedQuery: 'q', at: AT });
const noData = (reason: 'empty' | 'nan' | 'inf' = 'empty'): InstantResult => ({ kind: 'no-data', reason, resolvedQuery: 'q', at: AT });
const queryError = (message = 'HTTP 503: service unavailable'): InstantResult => ({ kind: 'query-error', message, status: 503, resolvedQuery: 'q', at: AT });

/** Raw Prometheus answers (before `scale`) of a healthy canary, by query key (see queryTemplates). */
const HEALTHY: Record<string, string> = {
  api_p95_latency: '0.142', error_rate_5xx: '0.002', ws_staleness: '8', risk_block_rate: '0.1',
  idempotency_conflicts: '0.001', csp_violations: '3', eventloop_lag_p95: '0.012', gc_pause_avg: '0.008',
  api_p95_over_400ms: '0.142', error_rate_over_3pct: '0.002', bist_staleness_over_120s: '5',
  csp_over_50_per_min: '3', idempotency_conflicts_over_5pct: '0.001', pgbouncer_saturation_over_90pct: '0.4',
  // Samples behind the ratio signals and triggers: requests and orders in the window.
  'api_p95_latency:samples': '1000', 'error_rate_5xx:samples': '1000', 'idempotency_conflicts:samples': '300', 'csp_violations:samples': '1000',
  'api_p95_over_400ms:samples': '1000', 'error_rate_over_3pct:samples': '1000', 'idempotency_conflicts_over_5pct:samples': '300',
  // The enhanced, auto-guard and enrichment triggers (":and1" is a composite's own second query: CPU, pool use).
  correlated_degradation: '0.1', non_improving_latency: '0.142', 'non_improving_latency:and1': '0.05', 'non_improving_latency:samples': '1000',
  memory_leak: '0.1', db_connection_leak: '0.1', outbox_lag_explosion: '0.1', idempotency_key_buildup: '0.5', 'idempotency_key_buildup:samples': '300',
  ws_disconnect_storm: '4', decimal_precision_errors: '0',
  latency_cpu_backpressure: '0.142', 'latency_cpu_backpressure:and1': '0.05', 'latency_cpu_backpressure:samples': '1000',
  error_risk_correlation: '0.002', 'error_risk_correlation:samples': '1000',
  eventloop_backpressure: '0.012', gc_pause_over_20ms: '0.008', dead_tuple_bloat: '400', connection_creep: '0', 'connection_creep:and1': '0.1',
};
// Each signal and trigger gets its own query key, so one can be changed alone.
const QUERIES = Object.fromEntries(Object.keys(HEALTHY).map((id) => [id, `query:${id}`]));
const BASELINE = { csp_violations: '3' };
/** canary.versusStable as releases started before the sequential tests carry it. */
const LEGACY_SETTINGS: LegacyVersusStable = { step: 60_000, minimum: 8, significance: '0.01', onWorse: 'hold' };

interface Step {
  now: number;
  results?: Record<string, InstantResult>;
  signals?: SignalSpec[];
  baseline?: Record<string, string | null>;
  /** A release started before the sequential tests: its range comparison. */
  ranges?: Record<string, { canary: RangeResult; stable: RangeResult }>;
  versus?: VersusStableInput;
  independentWindowMs?: number;
  legacy?: boolean;
  stageOver?: boolean;
  dwellExtensionOver?: boolean;
  extensionSpent?: boolean;
  onInsufficientSamples?: 'proceed' | 'hold' | 'page-human' | 'rollback';
  traffic?: { plannedPercent: number; check: NonNullable<typeof plan.canary.trafficShare> };
}

/** Runs evaluations in order, threading memory like the canary loop does; returns every judgment. */
function run(...steps: Step[]): Judgment[] {
  let memory: JudgeMemory = emptyMemory();
  return steps.map((step) => {
    const byId: Record<string, InstantResult> = { ...Object.fromEntries(Object.entries(HEALTHY).map(([id, v]) => [id, value(v)])), ...step.results };
    const results = Object.fromEntries(Object.entries(byId).map(([id, r]) => [`query:${id}`, r]));
    const queries = Object.fromEntries(Object.keys(byId).map((id) => [id, `query:${id}`]));
    const judgment = judge({
      signals: step.signals ?? plan.signals, triggers: plan.triggers, results, queries,
      baseline: step.baseline ?? BASELINE, memory, now: step.now,
      versusStable: step.versus, independentWindowMs: step.independentWindowMs,
      ...(step.ranges || step.legacy ? { legacy: { ranges: step.ranges, versusStable: LEGACY_SETTINGS } } : {}),
      stageOver: step.stageOver, dwellExtensionOver: step.dwellExtensionOver, extensionSpent: step.extensionSpent,
      onInsufficientSamples: step.onInsufficientSamples, traffic: step.traffic,
    });
    memory = judgment.memory;
    return judgment;
  });
}
const once = (results: Record<string, InstantResult> = {}, extra: Omit<Step, 'now' | 'results'> = {}) => run({ now: 0, results, ...extra })[0]!;
const signalOf = (j: Judgment, id: string) => j.signals.find((s) => s.id === id)!;
const triggerOf = (j: Judgment, id: string) => j.triggers.find((t) => t.id === id)!;
const specOf = (id: string) => plan.signals.find((s) => s.id === id)!;

describe('signals', () => {
  it('all passing: the stage is clean and continues', () => {
    const j = once();
    expect(j).toMatchObject({ action: 'continue', clean: true, missingData: false, reasons: [] });
    expect(j.cause).toBeUndefined();
    expect(passCount(j.signals)).toEqual({ passed: 8, total: 8 });
    expect(signalOf(j, 'api_p95_latency')).toMatchObject({ outcome: 'pass', value: '142', threshold: '200' });
    expect(j.triggers.every((t) => t.condition === false && !t.fired)).toBe(true);
  });

  it('one breach of a 2-of-3 signal continues, but the stage is not clean', () => {
    const j = once({ api_p95_latency: value('0.25') });
    expect(signalOf(j, 'api_p95_latency')).toMatchObject({ outcome: 'breach', value: '250', threshold: '200' });
    expect(j).toMatchObject({ action: 'continue', clean: false });
    expect(j.cause).toBeUndefined();
  });

  it('2 breaches in 3 evaluations roll back, caused by that signal', () => {
    const [, , third] = run(
      { now: 0, results: { api_p95_latency: value('0.25') } },
      { now: MIN },
      { now: 2 * MIN, results: { api_p95_latency: value('0.21') } },
    );
    expect(third).toMatchObject({ action: 'rollback', cause: 'api_p95_latency', clean: false });
    expect(third!.reasons).toEqual([expect.stringContaining('API P95 latency breached 2/3: 210ms not <= 200ms')]);
  });

  it('a breach that slid out of the window does not count', () => {
    const last = run(
      { now: 0, results: { api_p95_latency: value('0.25') } },
      { now: MIN },
      { now: 2 * MIN },
      { now: 3 * MIN, results: { api_p95_latency: value('0.25') } },
    ).at(-1)!;
    expect(last.action).toBe('continue');
    expect(last.memory.signals.api_p95_latency!.recent).toEqual(['pass', 'pass', 'breach']);
  });

  it('a 1-of-1 signal rolls back on its first breach; a hold policy holds', () => {
    expect(once({ ws_staleness: value('31') })).toMatchObject({ action: 'rollback', cause: 'ws_staleness' });
    const gc = run({ now: 0, results: { gc_pause_avg: value('0.021') } }, { now: MIN, results: { gc_pause_avg: value('0.025') } });
    expect(gc.map((j) => j.action)).toEqual(['continue', 'hold']);
    expect(gc[1]!.cause).toBe('gc_pause_avg');
  });

  it('a strict comparator breaches at the bound', () => {
    expect(signalOf(once({ risk_block_rate: value('0.5') }), 'risk_block_rate').outcome).toBe('breach');
    expect(signalOf(once({ risk_block_rate: value('0.49') }), 'risk_block_rate').outcome).toBe('pass');
  });

  it('does not change the memory it was given', () => {
    const memory = emptyMemory();
    const results = { 'query:api_p95_latency': value('0.5') };
    judge({ signals: plan.signals, triggers: plan.triggers, results, queries: QUERIES, baseline: BASELINE, memory, now: 0 });
    expect(memory).toEqual(emptyMemory());
  });
});

describe('missing data', () => {
  it.each([
    ['an empty vector', noData('empty'), 'no-data', 'no data (empty)'],
    ['NaN', noData('nan'), 'no-data', 'no data (nan)'],
    ['Inf', noData('inf'), 'no-data', 'no data (inf)'],
    ['a query error', queryError(), 'query-error', 'HTTP 503: service unavailable'],
  ])('%s never passes: the stage is not clean and waits for data', (_name, result, outcome, detail) => {
    const j = once({ ws_staleness: result });
    expect(signalOf(j, 'ws_staleness')).toMatchObject({ outcome, detail });
    expect(signalOf(j, 'ws_staleness').value).toBeUndefined();
    expect(j).toMatchObject({ action: 'continue', clean: false, missingData: true });
    expect(j.reasons).toEqual([`WebSocket staleness: ${outcome} (1/3 of budget)`]);
  });

  it('a query with no result at all is a query error', () => {
    const j = judge({ signals: plan.signals, triggers: [], results: {}, queries: QUERIES, baseline: BASELINE, memory: emptyMemory(), now: 0 });
    expect(j.signals.every((s) => s.outcome === 'query-error')).toBe(true);
    expect(j.clean).toBe(false);
  });

  it('pages a human once the budget (3 in a row) is spent, and never rolls back', () => {
    const blind = Object.fromEntries(Object.keys(HEALTHY).map((id) => [id, noData()]));
    const judgments = run(...Array.from({ length: 8 }, (_, i) => ({ now: i * MIN, results: blind })));
    expect(judgments.map((j) => j.action)).toEqual(['continue', 'continue', 'page-human', 'page-human', 'page-human', 'page-human', 'page-human', 'page-human']);
    expect(judgments.every((j) => j.missingData && !j.clean)).toBe(true);
  });

  it('fresh data restarts the budget', () => {
    const actions = run(
      { now: 0, results: { ws_staleness: queryError() } },
      { now: MIN, results: { ws_staleness: noData() } },
      { now: 2 * MIN },
      { now: 3 * MIN, results: { ws_staleness: noData() } },
      { now: 4 * MIN, results: { ws_staleness: noData() } },
      { now: 5 * MIN, results: { ws_staleness: noData() } },
    ).map((j) => j.action);
    expect(actions).toEqual(['continue', 'continue', 'continue', 'continue', 'continue', 'page-human']);
  });

  test('a trigger without data holds the stage as missing data and says which trigger', () => {
    // Today the judgment is not clean, gives no reason and no missingData, so the canary
    // loop ends the stage's bad-trend hold in a rollback blamed on "signals not passing".
    const j = once({ pgbouncer_saturation_over_90pct: noData() });
    expect(j.clean).toBe(false);
    expect(j.missingData).toBe(true);
    expect(j.reasons).toEqual([expect.stringContaining('pgbouncer_saturation_over_90pct')]);
  });
});

describe('triggers', () => {
  const P95 = 'api_p95_over_400ms';
  const slow = { [P95]: value('0.5') };

  it('a condition held shorter than `for` does not fire; held for `for` it rolls back', () => {
    const js = run({ now: 0, results: slow }, { now: 4 * MIN, results: slow }, { now: 5 * MIN, results: slow });
    expect(js.map((j) => triggerOf(j, P95))).toEqual([
      expect.objectContaining({ condition: true, since: 0, fired: false, value: '500' }),
      expect.objectContaining({ condition: true, since: 0, fired: false }),
      expect.objectContaining({ condition: true, since: 0, fired: true }),
    ]);
    expect(js.map((j) => j.action)).toEqual(['continue', 'continue', 'rollback']);
    expect(js[2]!.cause).toBe(P95);
    expect(js[0]!.clean).toBe(false);
  });

  it('a gap in the data restarts the window: two true readings around an outage are not 5 minutes of it', () => {
    const js = run({ now: 0, results: slow }, { now: 2 * MIN, results: { [P95]: queryError() } }, { now: 5 * MIN, results: slow }, { now: 10 * MIN, results: slow });
    expect(triggerOf(js[1]!, P95)).toMatchObject({ condition: null, since: null, fired: false });
    expect(js[1]!.action).toBe('continue');
    expect(js[1]!.reasons).toContain('trigger api_p95_over_400ms cannot be evaluated: HTTP 503: service unavailable (1/3 of budget)');
    expect(triggerOf(js[2]!, P95)).toMatchObject({ since: 5 * MIN, fired: false });
    expect(js[2]!.action).toBe('continue');
    expect(triggerOf(js[3]!, P95)).toMatchObject({ since: 5 * MIN, fired: true });
    expect(js[3]!.action).toBe('rollback');
  });

  it('a trigger whose query keeps failing pages after its missing-data budget (3), never rolls back on it', () => {
    const js = run(...Array.from({ length: 5 }, (_, i) => ({ now: i * MIN, results: { [P95]: queryError() } })));
    expect(js.map((j) => j.action)).toEqual(['continue', 'continue', 'page-human', 'page-human', 'page-human']);
    expect(js[2]).toMatchObject({ cause: P95, missingData: true, causes: ['trigger api_p95_over_400ms: query-error 3 times in a row (HTTP 503: service unavailable)'] });
  });

  it('releases started before the budgets (replayed) keep the start across a gap and never page for it', () => {
    const js = run({ now: 0, results: slow, legacy: true }, { now: 2 * MIN, results: { [P95]: queryError() }, legacy: true }, { now: 5 * MIN, results: slow, legacy: true });
    expect(triggerOf(js[1]!, P95)).toMatchObject({ condition: null, since: 0 });
    expect(js[2]).toMatchObject({ action: 'rollback', cause: P95 });
    const outage = run(...Array.from({ length: 4 }, (_, i) => ({ now: i * MIN, results: { [P95]: queryError() }, legacy: true })));
    expect(outage.map((j) => j.action)).toEqual(['continue', 'continue', 'continue', 'continue']);
  });

  it('a false condition resets the window', () => {
    const js = run({ now: 0, results: slow }, { now: 3 * MIN }, { now: 5 * MIN, results: slow }, { now: 9 * MIN, results: slow }, { now: 10 * MIN, results: slow });
    expect(js.map((j) => triggerOf(j, P95).since)).toEqual([0, null, 5 * MIN, 5 * MIN, 5 * MIN]);
    expect(js.map((j) => j.action)).toEqual(['continue', 'continue', 'continue', 'continue', 'rollback']);
  });

  it('a trigger with `for: 0` fires on the first evaluation', () => {
    const j = once({ csp_over_50_per_min: value('51') });
    expect(j).toMatchObject({ action: 'rollback', cause: 'csp_over_50_per_min' });
  });

  it('a rollback outranks a page, and the cause is the one that rolled back', () => {
    const blindSignals = Object.fromEntries(plan.signals.map((s) => [s.id, noData()]));
    const js = run(
      { now: 0, results: { ...blindSignals, ...slow } },
      { now: 3 * MIN, results: { ...blindSignals, ...slow } },
      { now: 5 * MIN, results: { ...blindSignals, ...slow } },
    );
    expect(js.map((j) => j.action)).toEqual(['continue', 'continue', 'rollback']);
    expect(js[2]!.cause).toBe(P95);
  });
});

describe('baseline-relative thresholds', () => {
  const csp = specOf('csp_violations');
  const cspWithoutFloor: SignalSpec = { ...csp, pass: { comparator: '<=', value: '10', relativeTo: 'baseline' } };

  it('is the baseline + 10 %, never below the floor', () => {
    expect(effectiveThreshold(csp, { csp_violations: '10' })).toBe('11');
    expect(effectiveThreshold(csp, { csp_violations: '0' })).toBe('1');
    expect(effectiveThreshold(csp, { csp_violations: null })).toBe('1');
    expect(effectiveThreshold(cspWithoutFloor, { csp_violations: '0.3' })).toBe('0.33');
  });

  it('judges the canary against the bound it resolves', () => {
    const baseline = { csp_violations: '10' };
    expect(signalOf(once({ csp_violations: value('11') }, { baseline }), 'csp_violations')).toMatchObject({ outcome: 'pass', threshold: '11' });
    expect(signalOf(once({ csp_violations: value('11.01') }, { baseline }), 'csp_violations')).toMatchObject({ outcome: 'breach', threshold: '11' });
    expect(signalOf(once({ csp_violations: value('1') }, { baseline: { csp_violations: '0' } }), 'csp_violations')).toMatchObject({ outcome: 'pass', threshold: '1' });
    expect(signalOf(once({ csp_violations: value('1.5') }, { baseline: { csp_violations: '0' } }), 'csp_violations')).toMatchObject({ outcome: 'breach', threshold: '1', detail: '1.5/kreq not <= 1/kreq' });
  });

  it('without a baseline or a floor the signal is inconclusive, never a pass', () => {
    const signals = plan.signals.map((s) => (s.id === 'csp_violations' ? cspWithoutFloor : s));
    const j = once({}, { signals, baseline: {} });
    expect(signalOf(j, 'csp_violations')).toMatchObject({ outcome: 'inconclusive', value: '3' });
    expect(signalOf(j, 'csp_violations').threshold).toBeUndefined();
    expect(j.clean).toBe(false);
  });

  it('a fixed threshold ignores the baseline', () => {
    expect(effectiveThreshold(specOf('api_p95_latency'), { api_p95_latency: '1000' })).toBe('200');
  });
});

describe('decimal exactness', () => {
  const tight: SignalSpec = { ...specOf('ws_staleness'), pass: { comparator: '<=', value: '0.3' } };

  it('0.30000000000000004 breaches <= 0.3 and 0.3 passes', () => {
    expect(signalOf(once({ ws_staleness: value('0.30000000000000004') }, { signals: [tight] }), 'ws_staleness').outcome).toBe('breach');
    expect(signalOf(once({ ws_staleness: value('0.3') }, { signals: [tight] }), 'ws_staleness').outcome).toBe('pass');
    expect(compare('0.30000000000000004', '<=', '0.3')).toBe(false);
  });

  it('applies the scale exactly', () => {
    expect(signalOf(once({ api_p95_latency: value('0.2') }), 'api_p95_latency')).toMatchObject({ outcome: 'pass', value: '200' });
    // In floating point 0.07 * 100 is 7.000000000000001.
    expect(scaled('0.07', '100')).toBe('7');
    const sevenPct: SignalSpec = { ...specOf('error_rate_5xx'), pass: { comparator: '<=', value: '7' } };
    expect(signalOf(once({ error_rate_5xx: value('0.07') }, { signals: [sevenPct] }), 'error_rate_5xx')).toMatchObject({ outcome: 'pass', value: '7' });
  });
});

describe('the shipped plan', () => {
  it('has the 8 golden signals and the 20 triggers of the spec, grouped as the spec groups them', () => {
    expect(plan.signals).toHaveLength(8);
    const groups = plan.triggers.reduce<Record<string, number>>((acc, t) => ({ ...acc, [t.group]: (acc[t.group] ?? 0) + 1 }), {});
    expect(groups).toEqual({ standard: 6, enhanced: 8, 'auto-guard': 2, enrichment: 4 });
  });

  it('every query key the judgment reads has a healthy answer in this file (so each test changes one thing)', () => {
    expect(queryTemplates(plan).map((q) => q.key).sort()).toEqual(Object.keys(HEALTHY).sort());
  });

  it('a healthy evaluation has every trigger at pass', () => {
    expect(once().triggers.map((t) => t.outcome)).toEqual(plan.triggers.map(() => 'pass'));
  });
});

describe('low-volume ratios (samples)', () => {
  const few = (ratio: string, requests: string) => ({ error_rate_5xx: value(ratio), 'error_rate_5xx:samples': value(requests) });

  it('one 5xx among a 1% canary\'s 10 requests is insufficient-samples, never a breach', () => {
    const j = once(few('0.1', '10'));
    expect(signalOf(j, 'error_rate_5xx')).toMatchObject({ outcome: 'insufficient-samples', value: '10', samples: '10', pValue: '0.0956' });
    expect(j).toMatchObject({ action: 'continue', clean: false, waitingForSamples: false });
    // Held for a whole stage it still does not act: no breach is ever counted.
    const js = run(...Array.from({ length: 6 }, (_, i) => ({ now: i * MIN, results: few('0.1', '10') })));
    expect(js.every((x) => x.action === 'continue')).toBe(true);
  });

  it('the same error in the 5xx > 3% trigger does not start its window', () => {
    const j = once({ error_rate_over_3pct: value('0.1'), 'error_rate_over_3pct:samples': value('10') });
    expect(triggerOf(j, 'error_rate_over_3pct')).toMatchObject({ outcome: 'insufficient-samples', condition: false, since: null });
  });

  it('a significant spike breaches even below the minimum: 5 of 10 requests failing at 1% traffic', () => {
    const [, second] = run({ now: 0, results: few('0.5', '10') }, { now: MIN, results: few('0.5', '10') });
    expect(signalOf(second!, 'error_rate_5xx')).toMatchObject({ outcome: 'breach', value: '50' });
    expect(second).toMatchObject({ action: 'rollback', cause: 'error_rate_5xx' });
    const t = run(
      { now: 0, results: { error_rate_over_3pct: value('0.5'), 'error_rate_over_3pct:samples': value('10') } },
      { now: 5 * MIN, results: { error_rate_over_3pct: value('0.5'), 'error_rate_over_3pct:samples': value('10') } },
    );
    expect(triggerOf(t[1]!, 'error_rate_over_3pct')).toMatchObject({ outcome: 'trigger', fired: true });
  });

  it('above the bound but not significant with enough samples is inconclusive: the stage holds', () => {
    // 3 errors in 250 requests is 1.2%, yet a 1% rate gives 3 or more errors 46% of the time.
    const j = once(few('0.012', '250'));
    expect(signalOf(j, 'error_rate_5xx')).toMatchObject({ outcome: 'inconclusive', value: '1.2' });
    expect(j).toMatchObject({ action: 'hold', cause: 'error_rate_5xx', clean: false });
  });

  it('a significant excess with enough samples is a breach', () => {
    expect(signalOf(once(few('0.04', '1000')), 'error_rate_5xx')).toMatchObject({ outcome: 'breach', value: '4' });
  });

  it('a canary without traffic (0 requests, 0/0 = NaN) is insufficient-samples, not no-data and not a breach', () => {
    const j = once({ ...few('0', '0'), error_rate_5xx: noData('nan'), api_p95_latency: noData('nan'), 'api_p95_latency:samples': value('0') });
    expect(signalOf(j, 'error_rate_5xx').outcome).toBe('insufficient-samples');
    expect(signalOf(j, 'api_p95_latency').outcome).toBe('insufficient-samples');
    expect(j).toMatchObject({ action: 'continue', missingData: false });
  });

  it('with requests counted but no ratio, the data has a hole: no-data', () => {
    expect(signalOf(once({ error_rate_5xx: noData('empty') }), 'error_rate_5xx').outcome).toBe('no-data');
  });

  it('a samples query that fails or has no series is missing data, never a pass', () => {
    expect(signalOf(once({ 'error_rate_5xx:samples': queryError() }), 'error_rate_5xx')).toMatchObject({ outcome: 'query-error', detail: 'samples query: HTTP 503: service unavailable' });
    const j = once({ 'error_rate_5xx:samples': noData('empty') });
    expect(signalOf(j, 'error_rate_5xx').outcome).toBe('no-data');
    expect(j.missingData).toBe(true);
  });

  it('at the end of the stage a signal lacking samples waits out the dwell extension, then holds and pages (the default)', () => {
    const waiting = once(few('0', '10'), { stageOver: true, extensionSpent: false });
    expect(waiting).toMatchObject({ action: 'continue', clean: false, waitingForSamples: true, unmeasured: [] });
    const spent = once(few('0', '10'), { stageOver: true, extensionSpent: true });
    expect(spent).toMatchObject({ action: 'page-human', clean: false, cause: 'error_rate_5xx', unmeasured: [] });
    expect(spent.reasons).toEqual([expect.stringMatching(/^5xx error rate: insufficient samples at the end of the stage \(0% <= 1% on only 10 of 200 samples\)$/)]);
  });

  it('proceed is only an explicit plan choice, and the stage is then promoted unmeasured', () => {
    const j = once(few('0', '10'), { stageOver: true, extensionSpent: true, onInsufficientSamples: 'proceed' });
    expect(j).toMatchObject({ action: 'continue', clean: true, unmeasured: ['5xx'] });
    // A signal's own policy wins over the plan's default.
    const strict = plan.signals.map((s) => (s.id === 'error_rate_5xx' ? { ...s, policy: { ...s.policy, onInsufficientSamples: 'page-human' as const } } : s));
    expect(once(few('0', '10'), { stageOver: true, extensionSpent: true, onInsufficientSamples: 'proceed', signals: strict })).toMatchObject({ action: 'page-human', clean: false });
  });

  describe('counts since the stage began', () => {
    const overStage = (ratio: string, requests: string) => ({ 'error_rate_5xx:stage': value(ratio), 'error_rate_5xx:samples:stage': value(requests) });
    const staged = (results: Record<string, InstantResult>, extra: Partial<Pick<JudgeInput, 'stageOver' | 'extensionSpent' | 'dwellExtensionOver' | 'onInsufficientSamples'>> = {}) => {
      const queries = { ...QUERIES, 'error_rate_5xx:stage': 'query:error_rate_5xx:stage', 'error_rate_5xx:samples:stage': 'query:error_rate_5xx:samples:stage' };
      const byId: Record<string, InstantResult> = { ...Object.fromEntries(Object.entries(HEALTHY).map(([id, v]) => [id, value(v)])), ...results };
      return judge({
        signals: plan.signals, triggers: plan.triggers, queries, baseline: BASELINE, memory: emptyMemory(), now: 0,
        results: Object.fromEntries(Object.entries(byId).map(([id, r]) => [`query:${id}`, r])), ...extra,
      });
    };

    it('settle a signal whose rate window holds too few samples: 0.1% of 250 requests since the stage began passes', () => {
      const j = staged({ ...few('0', '10'), ...overStage('0.004', '250.4') });
      expect(signalOf(j, 'error_rate_5xx')).toMatchObject({ outcome: 'pass', overStage: true, samples: '250.4', detail: '0.4% <= 1% on 250 samples since the stage began' });
      expect(j).toMatchObject({ action: 'continue', clean: true });
    });

    it('still too few over the stage: the window\'s insufficient-samples stands', () => {
      const j = staged({ ...few('0', '10'), ...overStage('0', '120') }, { stageOver: true, extensionSpent: true });
      expect(signalOf(j, 'error_rate_5xx')).toMatchObject({ outcome: 'insufficient-samples', samples: '10' });
      expect(j.action).toBe('page-human');
    });

    it('a significant excess over the stage is a breach even when each window is too small to show it', () => {
      // 12 of 300 requests failing (4%) since the stage began: p < 0.01 at a 1% bound.
      const j = staged({ ...few('0.1', '10'), ...overStage('0.04', '300') });
      expect(signalOf(j, 'error_rate_5xx')).toMatchObject({ outcome: 'breach', overStage: true, value: '4' });
    });

    it('a window with enough samples is judged on its own, whatever the stage so far says', () => {
      const j = staged(overStage('0.5', '300'));
      expect(signalOf(j, 'error_rate_5xx')).toMatchObject({ outcome: 'pass', value: '0.2' });
      expect(signalOf(j, 'error_rate_5xx').overStage).toBeUndefined();
    });
  });

  it('computes the binomial p-value from ratio x samples, rounded to whole events', () => {
    expect(ratioExcessPValue('0.1', new Decimal('10'), new Decimal('0.01'))).toBeCloseTo(1 - 0.99 ** 10, 12);
    // Prometheus extrapolates increase(): 9.97 requests count as 10, 0.997 errors as 1.
    expect(ratioExcessPValue('0.1', new Decimal('9.97'), new Decimal('0.01'))).toBeCloseTo(1 - 0.99 ** 10, 12);
  });
});

describe('composite triggers', () => {
  const CORR = 'correlated_degradation';
  it('fire only when every condition holds, for the window', () => {
    const both = { [CORR]: value('2'), error_rate_5xx: value('0.05') };
    const js = run({ now: 0, results: both }, { now: 2 * MIN, results: both });
    expect(triggerOf(js[0]!, CORR)).toMatchObject({ outcome: 'breach', condition: true, value: '2' });
    expect(triggerOf(js[1]!, CORR)).toMatchObject({ outcome: 'trigger', fired: true });
    expect(js[1]).toMatchObject({ action: 'rollback' });
    expect(js[1]!.reasons.join()).toContain('trigger correlated_degradation');
  });

  it('one false condition makes the whole false, even when another is unknown', () => {
    expect(triggerOf(once({ [CORR]: value('2') }), CORR)).toMatchObject({ condition: false, outcome: 'pass' });
    expect(triggerOf(once({ [CORR]: value('0'), error_rate_5xx: noData() }), CORR).condition).toBe(false);
  });

  it('a true condition with an unknown one is unknown: missing data, not a pass', () => {
    const j = once({ [CORR]: value('2'), error_rate_5xx: queryError() });
    expect(triggerOf(j, CORR)).toMatchObject({ condition: null, outcome: 'query-error' });
    expect(j.missingData).toBe(true);
    expect(j.clean).toBe(false);
  });

  it('reads its own second query (CPU) with its own scale', () => {
    const j = once({ non_improving_latency: value('0.5'), 'non_improving_latency:and1': value('0.05') });
    expect(triggerOf(j, 'non_improving_latency')).toMatchObject({ condition: true, detail: expect.stringContaining('and1: 5 < 25 is true') });
    expect(triggerOf(once({ non_improving_latency: value('0.5'), 'non_improving_latency:and1': value('0.9') }), 'non_improving_latency').condition).toBe(false);
  });

  it('a trigger whose action is hold holds the stage (GC pause > 20 ms)', () => {
    expect(once({ gc_pause_over_20ms: value('0.03') })).toMatchObject({ action: 'hold', cause: 'gc_pause_over_20ms' });
  });
});

describe('canary versus stable, releases started before the sequential tests (range Mann-Whitney, replay only)', () => {
  const values = (xs: number[]): RangeResult => ({ kind: 'values', values: xs.map(String), resolvedQuery: 'q', start: AT, end: AT, stepSeconds: 60 });
  const empty = (reason: 'empty' | 'nan'): RangeResult => ({ kind: 'no-data', reason, resolvedQuery: 'q', start: AT, end: AT, stepSeconds: 60 });
  const failed: RangeResult = { kind: 'query-error', message: 'HTTP 503', resolvedQuery: 'q', start: AT, end: AT, stepSeconds: 60 };
  const STABLE_LATENCY = [0.041, 0.043, 0.04, 0.042, 0.044, 0.039, 0.041, 0.043, 0.042, 0.04];
  const STABLE_ERRORS = [0.001, 0, 0.002, 0, 0.001, 0, 0, 0.001, 0, 0.001];
  const ranges = (latency: RangeResult, errors: RangeResult = values(STABLE_ERRORS)) => ({
    api_p95_latency: { canary: latency, stable: values(STABLE_LATENCY) },
    error_rate_5xx: { canary: errors, stable: values(STABLE_ERRORS) },
  });
  const cmp = (j: Judgment, id: string) => j.comparisons.find((c) => c.id === id)!;

  it('a canary like stable passes', () => {
    const j = once({}, { ranges: ranges(values([0.042, 0.04, 0.043, 0.041, 0.044, 0.04, 0.042, 0.041])) });
    expect(cmp(j, 'api_p95_latency')).toMatchObject({ outcome: 'pass', canarySamples: 8, stableSamples: 10 });
    expect(j).toMatchObject({ action: 'continue', clean: true });
  });

  it('a canary significantly slower, beyond maxIncrease, is worse than stable: the stage holds', () => {
    const j = once({}, { ranges: ranges(values([0.54, 0.55, 0.56, 0.53, 0.55, 0.57, 0.54, 0.56])) });
    expect(cmp(j, 'api_p95_latency')).toMatchObject({ outcome: 'breach', canaryMedian: '550', stableMedian: '41.5' });
    expect(Number(cmp(j, 'api_p95_latency').pValue)).toBeLessThan(0.01);
    expect(j).toMatchObject({ action: 'hold', cause: 'api_p95_latency:versus-stable', clean: false });
  });

  it('significant but within maxIncrease (25%) is not worse', () => {
    const j = once({}, { ranges: ranges(values([0.046, 0.047, 0.045, 0.048, 0.046, 0.047, 0.046, 0.048])) });
    expect(cmp(j, 'api_p95_latency')).toMatchObject({ outcome: 'pass', detail: expect.stringContaining('within 25% of stable') });
  });

  it('fewer samples than the minimum: insufficient-samples, and the stage waits for them after its duration', () => {
    const short = ranges(values([0.04, 0.041, 0.042]));
    const mid = once({}, { ranges: short });
    expect(cmp(mid, 'api_p95_latency')).toMatchObject({ outcome: 'insufficient-samples', canarySamples: 3 });
    const end = once({}, { ranges: short, stageOver: true });
    expect(end).toMatchObject({ clean: false, waitingForSamples: true, action: 'continue' });
    const spent = once({}, { ranges: short, stageOver: true, dwellExtensionOver: true });
    expect(spent).toMatchObject({ clean: true, waitingForSamples: false });
  });

  it('no series on the canary while stable has errors never passes (the Kayenta hole)', () => {
    const j = once({}, { ranges: ranges(values(STABLE_LATENCY), empty('empty')), stageOver: true, dwellExtensionOver: true });
    expect(cmp(j, 'error_rate_5xx')).toMatchObject({ outcome: 'no-data' });
    expect(j).toMatchObject({ clean: false, missingData: true, waitingForSamples: false });
  });

  it('NaN at every step (no canary traffic) is a lack of samples, not missing data', () => {
    const j = once({}, { ranges: ranges(values(STABLE_LATENCY), empty('nan')) });
    expect(cmp(j, 'error_rate_5xx')).toMatchObject({ outcome: 'insufficient-samples', canarySamples: 0 });
    expect(j.reasons).toContain('5xx error rate versus stable: insufficient samples (0 canary and 10 stable samples; 8 each needed)');
    expect(j.missingData).toBe(false);
  });

  it('a failed range query is a query error, never a pass', () => {
    const j = once({}, { ranges: { ...ranges(values(STABLE_LATENCY)), api_p95_latency: { canary: failed, stable: values(STABLE_LATENCY) } } });
    expect(cmp(j, 'api_p95_latency')).toMatchObject({ outcome: 'query-error', detail: 'canary: HTTP 503' });
    expect(j).toMatchObject({ clean: false, missingData: true });
  });

  it('ties at zero (no errors on either track) pass', () => {
    const zeros = values([0, 0, 0, 0, 0, 0, 0, 0]);
    const j = once({}, { ranges: { ...ranges(values(STABLE_LATENCY)), error_rate_5xx: { canary: zeros, stable: zeros } } });
    expect(cmp(j, 'error_rate_5xx')).toMatchObject({ outcome: 'pass', pValue: '1' });
  });
});

describe('canary versus stable: sequential tests on the counts since the stage began', () => {
  const settings = plan.canary.versusStable!;
  // 5% stage of a canary; alpha 0.01 over 2 compared signals x 4 stages.
  const versus: VersusStableInput = { settings, plannedShare: 0.05, alpha: 0.00125 };
  const LES = (specOf('api_p95_latency').versusStable as { buckets: string[] }).buckets;
  /** Shares of requests at or below each of the plan's buckets (0.025 ... 2.5 s): most requests near 60 ms. */
  const FAST = [0.05, 0.3, 0.75, 0.88, 0.94, 0.97, 0.99, 0.998, 1];
  const SLOW = [0.01, 0.05, 0.2, 0.4, 0.6, 0.75, 0.9, 0.99, 1];
  interface TrackCounts { requests: number; errors: number; shape?: number[]; meanSeconds?: number }
  const answers = (canary: TrackCounts, stable: TrackCounts): Record<string, InstantResult> => {
    const out: Record<string, InstantResult> = {};
    for (const [track, t] of [['canary', canary], ['stable', stable]] as const) {
      out[versusKey('error_rate_5xx', track, 'requests')] = value(String(t.requests));
      out[versusKey('error_rate_5xx', track, 'events')] = value(String(t.errors));
      out[versusKey('api_p95_latency', track, 'requests')] = value(String(t.requests));
      out[versusKey('api_p95_latency', track, 'sum')] = value(String(t.requests * (t.meanSeconds ?? 0.07)));
      LES.forEach((le, i) => { out[versusKey('api_p95_latency', track, `le=${le}`)] = value(String(Math.round(t.requests * (t.shape ?? FAST)[i]!))); });
    }
    return out;
  };
  const cmp = (j: Judgment, id: string) => j.comparisons.find((c) => c.id === id)!;
  const judged = (results: Record<string, InstantResult>, extra: Omit<Step, 'now' | 'results' | 'versus'> = {}) => once(results, { versus, ...extra });

  it('a canary like stable passes both tests, with the statistic, its level and the counts in the evaluation', () => {
    const j = judged(answers({ requests: 3000, errors: 6 }, { requests: 57_000, errors: 114 }));
    expect(cmp(j, 'error_rate_5xx')).toMatchObject({
      outcome: 'pass', canarySamples: 3000, stableSamples: 57_000, canaryValue: '0.2', stableValue: '0.2',
      test: { kind: 'errors', canaryEvents: 6, stableEvents: 114, alpha: '0.00125', plannedShare: '0.05', share: '0.05' },
    });
    expect(Number(cmp(j, 'error_rate_5xx').test!.logE)).toBeLessThan(Number(cmp(j, 'error_rate_5xx').test!.threshold));
    expect(cmp(j, 'error_rate_5xx').detail).toMatch(/^canary ratio 0\.2% vs stable 0\.2% over 3000 canary and 57000 stable requests since the stage began, evidence e=[\d.]+ \(rejects at 800\): not significantly worse$/);
    expect(cmp(j, 'api_p95_latency')).toMatchObject({ outcome: 'pass', test: { kind: 'latency' } });
    expect(j).toMatchObject({ action: 'continue', clean: true });
  });

  it('five times stable\'s error rate is worse than stable: the stage holds (onWorse), caused by the comparison', () => {
    const j = judged(answers({ requests: 3000, errors: 30 }, { requests: 57_000, errors: 114 }));
    expect(cmp(j, 'error_rate_5xx')).toMatchObject({ outcome: 'breach', canaryValue: '1', detail: expect.stringContaining('worse than stable by more than 50%') });
    expect(j).toMatchObject({ action: 'hold', cause: 'error_rate_5xx:versus-stable', clean: false });
  });

  it('a slower histogram and a mean beyond 25% breach; significant but within the margin passes', () => {
    const slower = judged(answers({ requests: 3000, errors: 6, shape: SLOW, meanSeconds: 0.2 }, { requests: 57_000, errors: 114 }));
    expect(cmp(slower, 'api_p95_latency')).toMatchObject({ outcome: 'breach', canaryValue: '200', stableValue: '70' });
    const within = judged(answers({ requests: 3000, errors: 6, shape: SLOW, meanSeconds: 0.08 }, { requests: 57_000, errors: 114 }));
    expect(cmp(within, 'api_p95_latency')).toMatchObject({ outcome: 'pass', detail: expect.stringContaining('different from stable, but within 25%') });
  });

  it('fewer requests than the minimum: waits, then pages at the end of the dwell extension (never passes)', () => {
    const few = answers({ requests: 150, errors: 0 }, { requests: 3000, errors: 6 });
    expect(cmp(judged(few), 'error_rate_5xx')).toMatchObject({ outcome: 'insufficient-samples', detail: expect.stringContaining('200 requests each needed') });
    expect(judged(few, { stageOver: true, extensionSpent: false })).toMatchObject({ clean: false, waitingForSamples: true, action: 'continue' });
    const spent = judged(few, { stageOver: true, extensionSpent: true });
    expect(spent).toMatchObject({ clean: false, action: 'page-human', cause: 'api_p95_latency:versus-stable' });
    expect(judged(few, { stageOver: true, extensionSpent: true, onInsufficientSamples: 'proceed' })).toMatchObject({ clean: true, unmeasured: ['p95 vs stable', '5xx vs stable'] });
  });

  it('no request series yet is no requests (insufficient); a bucket the service does not have is no data', () => {
    const none = judged({ ...answers({ requests: 0, errors: 0 }, { requests: 3000, errors: 6 }), [versusKey('error_rate_5xx', 'canary', 'requests')]: noData() });
    expect(cmp(none, 'error_rate_5xx')).toMatchObject({ outcome: 'insufficient-samples', canarySamples: 0 });
    expect(none.missingData).toBe(false);
    const hole = judged({ ...answers({ requests: 3000, errors: 6 }, { requests: 57_000, errors: 114 }), [versusKey('api_p95_latency', 'canary', 'le=0.4')]: noData() });
    expect(cmp(hole, 'api_p95_latency')).toMatchObject({ outcome: 'no-data', detail: 'canary le=0.4: no data (empty)' });
    expect(hole).toMatchObject({ clean: false, missingData: true });
  });

  it('a comparison without answers pages after the signal\'s missing-data budget (the stage can never wait on it forever)', () => {
    const failing = { ...answers({ requests: 3000, errors: 6 }, { requests: 57_000, errors: 114 }), [versusKey('error_rate_5xx', 'stable', 'events')]: queryError() };
    const js = run(...Array.from({ length: 4 }, (_, i) => ({ now: i * MIN, results: failing, versus })));
    expect(js.map((j) => j.action)).toEqual(['continue', 'continue', 'page-human', 'page-human']);
    expect(js[0]!.reasons).toContain('5xx error rate versus stable: query-error (1/3 of budget: stable events: HTTP 503: service unavailable)');
    expect(js[2]).toMatchObject({ cause: 'error_rate_5xx:versus-stable', missingData: true });
    const back = run(...[...Array.from({ length: 2 }, (_, i) => ({ now: i * MIN, results: failing, versus })), { now: 2 * MIN, results: answers({ requests: 3000, errors: 6 }, { requests: 57_000, errors: 114 }), versus }]);
    expect(back[2]!.memory.comparisons!.error_rate_5xx).toEqual({ missingStreak: 0 });
  });
});

describe('independent windows: a breach budget counts rate windows, not evaluations', () => {
  const spike = { api_p95_latency: value('0.25') };
  it('ten 1 s evaluations inside one 10 s rate window are one breach, not ten: no rollback', () => {
    const js = run(...Array.from({ length: 10 }, (_, i) => ({ now: i * 1000, results: spike, independentWindowMs: 10_000 })));
    expect(js.every((j) => j.action === 'continue')).toBe(true);
    expect(js[9]!.memory.signals.api_p95_latency).toMatchObject({ recent: ['breach'], countedAt: 0 });
  });

  it('breaches in two windows a rate window apart roll back (2 of 3)', () => {
    const js = run(...Array.from({ length: 11 }, (_, i) => ({ now: i * 1000, results: spike, independentWindowMs: 10_000 })));
    expect(js[10]).toMatchObject({ action: 'rollback', cause: 'api_p95_latency' });
  });
});

describe('outages and flapping (budgets)', () => {
  const everything = (r: InstantResult) => Object.fromEntries(Object.keys(HEALTHY).map((id) => [id, r]));

  it('a Prometheus outage pages a human after the budget and never rolls back, however long it lasts', () => {
    const js = run(...Array.from({ length: 30 }, (_, i) => ({ now: i * MIN, results: everything(queryError('connect ECONNREFUSED 127.0.0.1:9090')) })));
    expect(js.slice(0, 2).map((j) => j.action)).toEqual(['continue', 'continue']);
    expect(js.slice(2).every((j) => j.action === 'page-human' && j.missingData && !j.clean)).toBe(true);
    expect(js.some((j) => j.action === 'rollback')).toBe(false);
  });

  it('a handful of scattered query errors never exhausts the budget (the Argo hole)', () => {
    const js = run(...Array.from({ length: 20 }, (_, i) => ({ now: i * MIN, results: i % 3 === 2 ? {} : everything(queryError()) })));
    expect(js.every((j) => j.action === 'continue')).toBe(true);
  });

  it('a flapping breach (every other evaluation) is caught by 2 breaches in 3', () => {
    const slow = { api_p95_latency: value('0.3') };
    const js = run({ now: 0, results: slow }, { now: MIN }, { now: 2 * MIN, results: slow });
    expect(js.map((j) => j.action)).toEqual(['continue', 'continue', 'rollback']);
  });
});

describe('the dwell rule and the range queries of releases started before the sequential tests (versus-stable.ts)', () => {
  const demo = loadPlanFile(path.join(__dirname, '../../plans/demo.yaml'));
  const STEP = 2000; // the demo's recorded plans: one sample per track every 2 s, minimum 8, stages of 15 s
  /** A plan as such a release recorded it: canary.versusStable with step and significance, range queries with $step. */
  const recorded = (p: ReleasePlan, step: number): ReleasePlan => ({
    ...p,
    canary: { ...p.canary, versusStable: { ...LEGACY_SETTINGS, step } as unknown as ReleasePlan['canary']['versusStable'] },
    signals: p.signals.map((s) => (s.versusStable ? { ...s, versusStable: { query: s.query.replaceAll('$rate', '$step'), maxIncrease: s.versusStable.maxIncrease } as unknown as typeof s.versusStable } : s)),
  });
  const legacyDemo = { ...recorded(demo, STEP), canary: { ...recorded(demo, STEP).canary, stages: demo.canary.stages.map((s) => ({ ...s, duration: 15_000 })), maxDwellExtension: 15_000 } };

  it('counts one sample per whole step after the stage began', () => {
    expect([samplesBy(0, STEP, 1999), samplesBy(0, STEP, 2000), samplesBy(0, STEP, 15_000)]).toEqual([0, 1, 7]);
  });

  it('a 15 s stage needs 16 s for 8 samples: it may extend, and stops waiting once the extension is spent', () => {
    const extension = legacyDemo.canary.maxDwellExtension;
    expect(dwellState(legacyDemo, 0, 15_000, 14_000)).toEqual({ stageOver: false, dwellExtensionOver: false, extensionSpent: false });
    expect(dwellState(legacyDemo, 0, 15_000, 15_500)).toEqual({ stageOver: true, dwellExtensionOver: false, extensionSpent: false });
    expect(dwellState(legacyDemo, 0, 15_000, 15_000 + extension)).toEqual({ stageOver: true, dwellExtensionOver: true, extensionSpent: true });
  });

  it('does not wait when the minimum is out of reach within the extension (1 m steps in a 15 s stage)', () => {
    expect(dwellState(recorded(plan, 60_000), 0, 900_000, 900_000)).toEqual({ stageOver: true, dwellExtensionOver: false, extensionSpent: false });
    expect(dwellState(legacyDemo, 0, 15_000, 15_000)).toMatchObject({ stageOver: true, dwellExtensionOver: false });
    expect(dwellState(recorded(demo, 60_000), 0, 15_000, 15_000)).toMatchObject({ stageOver: true, dwellExtensionOver: true });
  });

  it('renders a canary and a stable range query per compared signal, $step filled in, from one step into the stage', () => {
    const queries = rangeQueries(legacyDemo, Date.parse(AT), Date.parse(AT) + 20_000);
    expect(queries.map((q) => q.key)).toEqual(['api_p95_latency:canary', 'api_p95_latency:stable', 'error_rate_5xx:canary', 'error_rate_5xx:stable']);
    expect(queries[1]).toMatchObject({ start: '2025-01-01T00:00:02.000Z', end: '2025-01-01T00:00:20.000Z', stepSeconds: 2 });
    expect(queries[1]!.query).toContain('track="stable"}[2s]');
    expect(queries[1]!.query).not.toContain('$');
  });
});

describe('plan validation of the judgment fields', () => {
  const V14 = path.join(__dirname, '../../plans/v1.4.0.yaml');
  const problems = (overrides: Record<string, unknown>): string => {
    try {
      loadPlanFileWith(V14, overrides);
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };
  const trigger = (extra: Record<string, unknown>) => ({
    triggers: [{ id: 't', title: 'T', query: 'sum(rate(x_total{track="$track"}[$rate])) / sum(rate(y_total{track="$track"}[$rate]))', comparator: '>', threshold: '0.05', for: '1m', ...extra }],
  });

  it('a composite condition names either a signal of the plan or a query of its own', () => {
    expect(problems(trigger({ and: [{ comparator: '>', threshold: '1' }] }))).toContain('triggers[0].and[0]: give either signal');
    expect(problems(trigger({ and: [{ signal: 'nope', comparator: '>', threshold: '1' }] }))).toContain('triggers[0].and[0].signal: "nope" is not a signal of this plan');
    expect(problems(trigger({ and: [{ query: 'up{job="$jobb"}', comparator: '>', threshold: '1' }] }))).toContain('triggers[0].and[0].query: unknown query placeholder $jobb');
    expect(problems(trigger({ and: [{ signal: 'error_rate_5xx', comparator: '>', threshold: '1' }] }))).toBe('');
  });

  it('a significance test needs a ratio bound in the breaching direction', () => {
    expect(problems(trigger({ threshold: '5', samples: { query: 'sum(y_total)', minimum: 0, significance: 0.01 } }))).toContain('triggers[0].samples.significance: needs a lower threshold');
    expect(problems(trigger({ comparator: '<', samples: { query: 'sum(y_total)', minimum: 0, significance: 0.01 } }))).toContain('triggers[0].samples.significance');
    expect(problems(trigger({ samples: { query: 'sum(y_total)', minimum: 0, significance: 1.5 } }))).toContain('triggers[0].samples.significance: must be a probability between 0 and 1');
    expect(problems(trigger({ samples: { query: 'sum(y_total)', minimum: 0, significance: 0.01 } }))).toBe('');
  });

  it('a comparison names its test and queries, $le only in a bucket, buckets rising, and needs canary.versusStable', () => {
    const signals = plan.signals.map((s) => ({ id: s.id, title: s.title, short: s.short, query: s.query, unit: s.unit, scale: s.scale, pass: s.pass }));
    const withStep = [{ ...signals[0], query: 'sum(rate(x_total[$step]))' }, ...signals.slice(1)];
    expect(problems({ signals: withStep })).toContain('signals[0].query: unknown query placeholder $step');
    const errors = { test: 'errors', events: 'sum(increase(e_total{track="$track"}[$rate]))', requests: 'sum(increase(r_total{track="$track"}[$rate]))', maxIncrease: 50 };
    const compared = (versusStable: Record<string, unknown>) => [{ ...signals[0], versusStable }, ...signals.slice(1)];
    expect(problems({ signals: compared(errors) })).toBe('');
    expect(problems({ signals: compared({ maxIncrease: 25 }) })).toContain('signals[0].versusStable.test');
    expect(problems({ signals: compared({ ...errors, events: 'sum(e_total{le="$le"})' }) })).toContain('signals[0].versusStable.events: unknown query placeholder $le');
    const latency = { test: 'latency', bucket: 'sum(increase(b{track="$track",le="$le"}[$rate]))', buckets: ['0.1', '0.25'], requests: errors.requests, sum: 'sum(increase(s{track="$track"}[$rate]))', maxIncrease: 25 };
    expect(problems({ signals: compared(latency) })).toBe('');
    expect(problems({ signals: compared({ ...latency, buckets: ['0.25', '0.1'] }) })).toContain('signals[0].versusStable.buckets[1]: 0.1 does not rise above 0.25');
    expect(problems({ signals: compared({ ...latency, buckets: ['+Inf'] }) })).toContain('signals[0].versusStable.buckets[0]: a bucket bound as the le label spells it');
    expect(problems({ signals: compared(errors), canary: { versusStable: undefined } })).toContain('signals[0].versusStable: needs canary.versusStable');
  });
});

describe('traffic share (is the canary receiving its planned share?)', () => {
  const check = plan.canary.trafficShare!;
  const counts = (canary: InstantResult, all: InstantResult) => ({ 'traffic-share:canary': canary, 'traffic-share:all': all });
  const judged = (canary: InstantResult, all: InstantResult, plannedPercent = 1) => {
    const queries = { ...QUERIES, 'traffic-share:canary': 'query:traffic-share:canary', 'traffic-share:all': 'query:traffic-share:all' };
    const byId: Record<string, InstantResult> = { ...Object.fromEntries(Object.entries(HEALTHY).map(([id, v]) => [id, value(v)])), ...counts(canary, all) };
    return judge({
      signals: plan.signals, triggers: plan.triggers, queries, baseline: BASELINE, memory: emptyMemory(), now: 0,
      results: Object.fromEntries(Object.entries(byId).map(([id, r]) => [`query:${id}`, r])), traffic: { plannedPercent, check },
    });
  };

  it('a canary with no requests while 2,000 flow is held and paged, never clean', () => {
    // No canary series at all is zero canary requests, not a hole in the data.
    const j = judged(noData('empty'), value('2000'));
    expect(j.trafficShare).toMatchObject({ outcome: 'breach', canaryRequests: '0', allRequests: '2000' });
    expect(j).toMatchObject({ action: 'page-human', cause: 'traffic-share', clean: false });
    expect(j.reasons.join()).toMatch(/the canary is not receiving its share: canary 0% of requests \(0 of 2000 since the stage began\), planned 1%/);
  });

  it('a canary near its share passes, and a short one is not flagged before it is significant', () => {
    expect(judged(value('21'), value('2000')).trafficShare).toMatchObject({ outcome: 'pass', observedPercent: '1.05' });
    // 2 of 300 at 1% planned: low, but 0.5% of 300 gives 2 or fewer 81% of the time.
    expect(judged(value('2'), value('300')).trafficShare!.outcome).toBe('pass');
    expect(judged(value('20'), value('2000'), 5)).toMatchObject({ action: 'page-human', cause: 'traffic-share' });
  });

  it('failed counts are missing data, not a pass', () => {
    const j = judged(queryError(), value('2000'));
    expect(j.trafficShare!.outcome).toBe('query-error');
    expect(j.reasons.join()).toContain('traffic share: canary requests: HTTP 503');
  });
});
