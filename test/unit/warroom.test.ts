import path from 'node:path';
import { loadPlanFile } from '../../src/plan/loader';
import type { SignalEvaluation } from '../../src/workflows/decide';
import { formatValue, warRoomLine } from '../../src/workflows/warroom';

const plan = loadPlanFile(path.join(__dirname, '../../plans/v1.4.0.yaml'));

/** Scaled values in the plan's signal order: p95 5xx ws risk idemp csp eloop gc. */
const VALUES = ['142.3456', '0.2', '8', '0.1', '0.1', '3', '12.04', '8.004'];

function evaluations(overrides: Record<string, Partial<SignalEvaluation>> = {}): SignalEvaluation[] {
  return plan.signals.map((s, i) => ({
    id: s.id, outcome: 'pass', value: VALUES[i], threshold: s.pass.value, comparator: s.pass.comparator, detail: '',
    ...overrides[s.id],
  }));
}

const line = (opts: Partial<Parameters<typeof warRoomLine>[0]> = {}) =>
  warRoomLine({ elapsedMs: 0, stageIndex: 0, traffic: 1, specs: plan.signals, evaluations: evaluations(), action: 'proceed', ...opts });

// The spec's line: `:00 | Stage 1 (1%) | p95=142ms 5xx=0.2% ... | 6/6 PASS | IC: Proceed`.
const SPEC_SHAPE = /^\+\d{2,}:\d{2} \| Stage \d+ \(\d+%\) \| (?:[a-z0-9]+=\S+ )*[a-z0-9]+=\S+ \| \d+\/\d+ (?:PASS|GATHERING|NOT CLEAN) \| IC: [A-Z][a-z ,]+$/;

describe('warRoomLine', () => {
  it('writes the spec line: time, stage, every signal, the pass count and the IC call', () => {
    const text = line({ elapsedMs: 3 * 60_000 });
    expect(text).toBe('+03:00 | Stage 1 (1%) | p95=142ms 5xx=0.2% ws=8s risk=0.1/min idemp=0.1% csp=3/kreq eloop=12ms gc=8ms | 8/8 PASS | IC: Proceed');
    expect(text).toMatch(SPEC_SHAPE);
  });

  it('marks a breached value, counts it out and says what the IC does', () => {
    const text = line({
      elapsedMs: 65_500, stageIndex: 2, traffic: 25, action: 'rollback',
      evaluations: evaluations({ api_p95_latency: { outcome: 'breach', value: '412.6' } }),
    });
    expect(text).toBe('+01:05 | Stage 3 (25%) | p95=413ms! 5xx=0.2% ws=8s risk=0.1/min idemp=0.1% csp=3/kreq eloop=12ms gc=8ms | 7/8 NOT CLEAN | IC: Roll back');
    expect(text).toMatch(SPEC_SHAPE);
  });

  it('shows why a signal has no value, and a signal that was not evaluated', () => {
    const text = line({
      action: 'page-human',
      evaluations: evaluations({ ws_staleness: { outcome: 'no-data', value: undefined } }).filter((e) => e.id !== 'gc_pause_avg'),
    });
    expect(text).toContain(' ws=n/a(no-data) ');
    expect(text).toContain(' gc=n/a(missing) | 6/8 NOT CLEAN | IC: Hold, paging a human');
    expect(text).toMatch(SPEC_SHAPE);
  });

  it('marks a value that cannot be judged yet with ? and says when the stage waits for samples', () => {
    const text = line({
      action: 'extend',
      evaluations: evaluations({
        error_rate_5xx: { outcome: 'insufficient-samples', value: '10' },
        csp_violations: { outcome: 'inconclusive', value: '3' },
      }),
    });
    expect(text).toContain(' 5xx=10%? ');
    expect(text).toContain(' csp=3/kreq? ');
    expect(text).toContain('| 6/8 GATHERING | IC: Extend dwell, waiting for samples');
    expect(text).toMatch(SPEC_SHAPE);
  });

  it('counts minutes past the hour instead of wrapping', () => {
    expect(line({ elapsedMs: 125 * 60_000 + 59_999 })).toMatch(/^\+125:59 \| Stage 1/);
  });
});

describe('formatValue', () => {
  it.each([
    ['142.5', 'ms', '143ms'],
    ['99.95', 'ms', '100ms'],
    ['12.34', 'ms', '12.3ms'],
    ['0.125', '%', '0.13%'],
    ['0.30000000000000004', '', '0.3'],
    ['3', '/min', '3/min'],
  ])('%s%s -> %s', (value, unit, shown) => {
    expect(formatValue(value, unit)).toBe(shown);
  });

  it('says n/a without a value', () => {
    expect(formatValue(undefined, 'ms')).toBe('n/a');
  });
});
