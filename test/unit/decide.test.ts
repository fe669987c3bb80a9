import path from 'node:path';
import type { InstantResult } from '../../src/adapters/metrics/provider';
import { loadPlanFile } from '../../src/plan/loader';
import type { SignalSpec } from '../../src/plan/schema';
import {
  compare,
  effectiveThreshold,
  emptyMemory,
  judge,
  passCount,
  scaled,
  type JudgeMemory,
  type Judgment,
} from '../../src/workflows/decide';

const plan = loadPlanFile(path.join(__dirname, '../../plans/v1.4.0.yaml'));
const MIN = 60_000;
const AT = '2025-01-01T00:00:00.000Z';

const value = (v: string): InstantResult => ({ kind: 'value', value: v, series: 1, resolvedQuery: 'q', at: AT });
const noData = (reason: 'empty' | 'nan' | 'inf' = 'empty'): InstantResult => ({ kind: 'no-data', reason, resolvedQuery: 'q', at: AT });
const queryError = (message = 'HTTP 503: service unavailable'): InstantResult => ({ kind: 'query-error', message, status: 503, resolvedQuery: 'q', at: AT });

/** Raw Prometheus answers (before `scale`) of a healthy canary, by signal / trigger id. */
const HEALTHY: Record<string, string> = {
  api_p95_latency: '0.142', error_rate_5xx: '0.002', ws_staleness: '8', risk_block_rate: '0.1',
  idempotency_conflicts: '0.001', csp_violations: '3', eventloop_lag_p95: '0.012', gc_pause_avg: '0.008',
  api_p95_over_400ms: '0.142', error_rate_over_3pct: '0.002', bist_staleness_over_120s: '5',
  csp_over_50_per_min: '3', idempotency_conflicts_over_5pct: '0.001', pgbouncer_saturation_over_90pct: '0.4',
};
// Each signal and trigger gets its own query key, so one can be changed alone.
const QUERIES = Object.fromEntries(Object.keys(HEALTHY).map((id) => [id, `query:${id}`]));
const BASELINE = { csp_violations: '3' };

interface Step {
  now: number;
  results?: Record<string, InstantResult>;
  signals?: SignalSpec[];
  baseline?: Record<string, string | null>;
}

/** Runs evaluations in order, threading memory like the canary loop does; returns every judgment. */
function run(...steps: Step[]): Judgment[] {
  let memory: JudgeMemory = emptyMemory();
  return steps.map((step) => {
    const byId: Record<string, InstantResult> = { ...Object.fromEntries(Object.entries(HEALTHY).map(([id, v]) => [id, value(v)])), ...step.results };
    const results = Object.fromEntries(Object.entries(byId).map(([id, r]) => [`query:${id}`, r]));
    const judgment = judge({
      signals: step.signals ?? plan.signals, triggers: plan.triggers, results, queries: QUERIES,
      baseline: step.baseline ?? BASELINE, memory, now: step.now,
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

  it('an unknown evaluation in the window keeps the start of the condition', () => {
    const js = run({ now: 0, results: slow }, { now: 2 * MIN, results: { [P95]: queryError() } }, { now: 5 * MIN, results: slow });
    expect(triggerOf(js[1]!, P95)).toMatchObject({ condition: null, since: 0, fired: false });
    expect(js[1]!.action).toBe('continue');
    expect(triggerOf(js[2]!, P95)).toMatchObject({ since: 0, fired: true });
    expect(js[2]!.action).toBe('rollback');
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
    expect(effectiveThreshold(csp, { csp_violations: '0' })).toBe('5');
    expect(effectiveThreshold(csp, { csp_violations: null })).toBe('5');
    expect(effectiveThreshold(cspWithoutFloor, { csp_violations: '0.3' })).toBe('0.33');
  });

  it('judges the canary against the bound it resolves', () => {
    const baseline = { csp_violations: '10' };
    expect(signalOf(once({ csp_violations: value('11') }, { baseline }), 'csp_violations')).toMatchObject({ outcome: 'pass', threshold: '11' });
    expect(signalOf(once({ csp_violations: value('11.01') }, { baseline }), 'csp_violations')).toMatchObject({ outcome: 'breach', threshold: '11' });
    expect(signalOf(once({ csp_violations: value('5') }, { baseline: { csp_violations: '0' } }), 'csp_violations')).toMatchObject({ outcome: 'pass', threshold: '5' });
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
