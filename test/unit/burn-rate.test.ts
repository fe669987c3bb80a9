import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { InstantResult } from '../../src/adapters/metrics/provider';
import { loadPlanFile } from '../../src/plan/loader';
import { parsePlan, PlanError } from '../../src/plan/schema';
import { describeBurn, judgeBurnRate, renderBurnQueries } from '../../src/workflows/burn-rate';

const SHIPPED = path.join(__dirname, '../../plans/v1.4.0.yaml');
const plan = loadPlanFile(SHIPPED);
const spec = plan.firstNight.burnRate;
const alerts = renderBurnQueries(spec, { service: 'spark-trading', version: 'v1.4.0', track: 'canary' });
const [fast, slow] = alerts;

const value = (v: string): InstantResult => ({ kind: 'value', value: v, series: 1, resolvedQuery: 'q', at: '2026-11-21T00:00:00Z' });
const noData: InstantResult = { kind: 'no-data', reason: 'empty', resolvedQuery: 'q', at: '2026-11-21T00:00:00Z' };

/** Error ratios for the 1h/5m alert; the 6h/30m alert sees none. */
function fastAlert(long: InstantResult, short: InstantResult) {
  return judgeBurnRate(spec, alerts, { [fast!.long]: long, [fast!.short]: short, [slow!.long]: value('0'), [slow!.short]: value('0') })[0]!;
}

describe('the shipped burn-rate alerts', () => {
  it('are the SRE workbook pair: 1h/5m at 14.4x and 6h/30m at 6x, on a 99% objective', () => {
    expect(spec.objective).toBe('99');
    expect(spec.alerts).toEqual([
      { long: 3_600_000, short: 300_000, factor: '14.4' },
      { long: 21_600_000, short: 1_800_000, factor: '6' },
    ]);
    expect(alerts.map((a) => a.name)).toEqual(['1h/5m', '6h/30m']);
  });

  it('render the plan\'s error ratio over each window, for the canary', () => {
    expect(fast!.long).toContain('status_code=~"5.."}[3600s]');
    expect(fast!.short).toContain('track="canary"}[300s]');
    expect(slow!.long).toContain('[21600s]');
    expect(slow!.short).toContain('[1800s]');
  });
});

describe('judgeBurnRate', () => {
  it('fires when both windows burn faster than the factor', () => {
    // 20% errors on a 1% budget: 20x
    const e = fastAlert(value('0.2'), value('0.25'));
    expect(e).toMatchObject({ firing: true, unknown: false, long: { burn: '20' }, short: { burn: '25' } });
    expect(describeBurn(e)).toBe('1h/5m 20x/25x FIRING >14.4x');
  });

  it('does not fire on a short spike the long window does not confirm', () => {
    expect(fastAlert(value('0.01'), value('0.5')).firing).toBe(false);
  });

  it('stops firing once the short window recovers, though the long one still burns', () => {
    expect(fastAlert(value('0.3'), value('0.001')).firing).toBe(false);
  });

  it('compares in decimals: exactly the factor is not over it (0.144 / 0.01 is 14.4, not 14.399999999999999)', () => {
    const e = fastAlert(value('0.144'), value('0.144'));
    expect(e.long.burn).toBe('14.4');
    expect(e.firing).toBe(false);
    expect(fastAlert(value('0.14400001'), value('0.14400001')).firing).toBe(true);
  });

  it('never fires on missing data, and says the alert could not be judged', () => {
    const e = fastAlert(value('0.9'), noData);
    expect(e).toMatchObject({ firing: false, unknown: true });
    expect(e.short.detail).toBe('no data (empty)');
    expect(describeBurn(e)).toBe('1h/5m 90x/n/a <=14.4x');
    const error = judgeBurnRate(spec, alerts, {})[1]!;
    expect(error).toMatchObject({ firing: false, unknown: true });
    expect(error.long.detail).toBe('no result for this query');
  });

  it('judges the slow alert on its own factor', () => {
    // 7% errors: 7x, over 6x but under 14.4x
    const results = Object.fromEntries(alerts.flatMap((a) => [[a.long, value('0.07')], [a.short, value('0.07')]]));
    expect(judgeBurnRate(spec, alerts, results).map((e) => e.firing)).toEqual([false, true]);
  });
});

describe('plan validation of the burn rate', () => {
  const doc = () => YAML.parse(fs.readFileSync(SHIPPED, 'utf8'));
  const problems = (mutate: (d: any) => void): string[] => {
    const d = doc();
    mutate(d);
    try {
      parsePlan(d);
    } catch (err) {
      if (err instanceof PlanError) return err.problems;
      throw err;
    }
    return [];
  };

  it('defaults the alerts to 1h/5m at 14.4x and 6h/30m at 6x, and onBreach to rollback', () => {
    const d = doc();
    delete d.firstNight.burnRate.alerts;
    delete d.firstNight.onBreach;
    const parsed = parsePlan(d);
    expect(parsed.firstNight.burnRate.alerts).toEqual(spec.alerts);
    expect(parsed.firstNight.onBreach).toBe('rollback');
  });

  it.each([
    ['an error ratio without $window', (d: any) => (d.firstNight.burnRate.errorRatio = 'sum(rate(x[5m]))'), /^firstNight\.burnRate\.errorRatio: must use \$window/],
    ['an unknown placeholder', (d: any) => (d.firstNight.burnRate.errorRatio = 'rate(x{a="$team"}[$window])'), /^firstNight\.burnRate\.errorRatio: unknown query placeholder \$team/],
    ['a short window not shorter than the long one', (d: any) => (d.firstNight.burnRate.alerts[1].short = '6h'), /^firstNight\.burnRate\.alerts\[1\]\.short: the short window must be shorter/],
    ['an objective of 100%', (d: any) => (d.firstNight.burnRate.objective = 100), /^firstNight\.burnRate\.objective: 100 is not a percentage between 0 and 100/],
    ['a zero factor', (d: any) => (d.firstNight.burnRate.alerts[0].factor = 0), /^firstNight\.burnRate\.alerts\[0\]\.factor: must be above 0/],
    ['an unknown breach policy', (d: any) => (d.firstNight.onBreach = 'hold'), /^firstNight\.onBreach: /],
    ['no burn rate at all', (d: any) => delete d.firstNight.burnRate, /^firstNight\.burnRate: /],
  ])('refuses %s, naming the field', (_name, mutate, expected) => {
    expect(problems(mutate)).toEqual([expect.stringMatching(expected)]);
  });
});
