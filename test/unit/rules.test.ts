// `spark-release rules export`: the generated rule file matches the shipped plan,
// promtool accepts it, and its unit tests (test/rules/triggers.test.yml) show every
// trigger firing on a breaching series and silent on a healthy one. promtool is the
// pinned binary scripts/bootstrap.sh installs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { main } from '../../src/client';
import { loadConfig, projectRoot } from '../../src/config';
import { loadPlanFile, loadPlanFileWith } from '../../src/plan/loader';
import { alertName, exportRules, renderRuleFile, ruleDuration, zForSignificance } from '../../src/rules/export';

const PLAN_FILE = 'plans/v1.4.0.yaml';
const GENERATED = path.join(projectRoot, 'deploy/prometheus/rules/generated/spark-trading.rules.yml');
const TESTS = path.join(projectRoot, 'test/rules/triggers.test.yml');
const promtool = path.join(loadConfig().toolsBin, 'promtool');
const plan = loadPlanFile(path.join(projectRoot, PLAN_FILE));

function runPromtool(...args: string[]): { code: number | null; output: string } {
  if (!fs.existsSync(promtool)) throw new Error(`${promtool} is missing: run \`npm run bootstrap\``);
  const r = spawnSync(promtool, args, { encoding: 'utf8', cwd: projectRoot });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('exportRules', () => {
  const { groups } = exportRules(plan);
  const rules = groups.flatMap((g) => g.rules);
  const alerts = rules.filter((r): r is Extract<typeof r, { alert: string }> => 'alert' in r);

  it('records every signal for both tracks, alerts on every trigger, and adds the burn-rate alerts', () => {
    expect(rules.filter((r) => 'record' in r && r.record.startsWith('spark_release:signal:'))).toHaveLength(plan.signals.length * 2);
    expect(alerts.filter((a) => a.labels.trigger).map((a) => a.labels.trigger)).toEqual(plan.triggers.map((t) => t.id));
    // The blind-spot check finds SLO alerts by their slo and long_window labels.
    expect(alerts.filter((a) => a.alert === 'SparkReleaseErrorBudgetBurn').every((a) => a.labels.slo === 'availability')).toBe(true);
    expect(alerts.filter((a) => a.alert === 'SparkReleaseErrorBudgetBurn').map((a) => [a.labels.long_window, a.labels.short_window, a.labels.factor]))
      .toEqual([['1h', '5m', '14.4'], ['6h', '30m', '6']]);
  });

  it('scales, compares and holds as the plan says, with composites joined by `and on()`', () => {
    const p95 = alerts.find((a) => a.labels.trigger === 'api_p95_over_400ms')!;
    expect(p95).toMatchObject({ alert: 'SparkReleaseApiP95Over400ms', for: '5m', labels: { action: 'rollback', severity: 'critical' } });
    expect(p95.expr).toContain('* 1000 > 400)');
    expect(p95.expr).toContain('>= 5)'); // the samples minimum
    const creep = alerts.find((a) => a.labels.trigger === 'connection_creep')!;
    expect(creep.expr.split(' and on() ')).toHaveLength(2);
    expect(alerts.find((a) => a.labels.trigger === 'csp_over_50_per_min')!.for).toBeUndefined();
    expect(alerts.find((a) => a.labels.trigger === 'gc_pause_over_20ms')!.labels).toMatchObject({ action: 'hold', severity: 'warning' });
  });

  it('turns a significance level into the z of the normal approximation', () => {
    expect(zForSignificance('0.01')).toBe('2.3263');
    expect(zForSignificance('0.05')).toBe('1.6449');
    const errors = alerts.find((a) => a.labels.trigger === 'error_rate_over_3pct')!;
    expect(errors.expr).toContain('> 2.3263)');
  });

  it('the burn-rate bound is factor x (1 - objective)', () => {
    const burn = alerts.find((a) => a.labels.long_window === '1h')!;
    expect(burn.expr).toBe('spark_release:slo_error_ratio:rate1h{service="spark-trading"} > 0.144 and spark_release:slo_error_ratio:rate5m{service="spark-trading"} > 0.144');
  });

  it('names alerts and durations for people', () => {
    expect(alertName('idempotency_conflicts_over_5pct')).toBe('SparkReleaseIdempotencyConflictsOver5pct');
    expect([ruleDuration(3_600_000), ruleDuration(300_000), ruleDuration(90_000), ruleDuration(1_500)]).toEqual(['1h', '5m', '90s', '2s']);
  });

  it('follows the plan: a changed threshold changes the rule', () => {
    const triggers = plan.triggers.map((t) => (t.id === 'api_p95_over_400ms' ? { ...t, threshold: '450' } : t));
    const changed = loadPlanFileWith(path.join(projectRoot, PLAN_FILE), {});
    const expr = exportRules({ ...changed, triggers }).groups[1]!.rules.find((r) => 'alert' in r && r.labels.trigger === 'api_p95_over_400ms')!.expr;
    expect(expr).toContain('* 1000 > 450)');
  });
});

describe('the committed rule file', () => {
  it('is what `rules export` writes for the shipped plan (regenerate it after changing the plan)', () => {
    expect(fs.readFileSync(GENERATED, 'utf8')).toBe(renderRuleFile(plan, PLAN_FILE));
  });

  it('the CLI writes the same file and says what it wrote', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rules-')), 'rules.yml');
    const lines: string[] = [];
    const cwd = process.cwd();
    process.chdir(projectRoot);
    try {
      expect(await main(['rules', 'export', PLAN_FILE, '--out', out], (l) => lines.push(l))).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    expect(fs.readFileSync(out, 'utf8')).toBe(fs.readFileSync(GENERATED, 'utf8'));
    expect(lines).toEqual([`wrote ${out}: 24 recording rules and 22 alerts for spark-trading v1.4.0`]);
    expect(YAML.parse(fs.readFileSync(out, 'utf8')).groups).toHaveLength(3);
  });

  it('passes promtool check rules', () => {
    const r = runPromtool('check', 'rules', GENERATED);
    expect(r.output).toContain('SUCCESS: 46 rules found');
    expect(r.code).toBe(0);
  });

  it('passes its promtool unit tests: each trigger fires on a breaching series and stays silent on a healthy one', () => {
    const tests = YAML.parse(fs.readFileSync(TESTS, 'utf8')) as { tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
    // Every trigger's alert has a case that expects it and a case that expects silence.
    for (const t of plan.triggers) {
      const cases = tests.tests.flatMap((c) => c.alert_rule_test).filter((a) => a.alertname === alertName(t.id));
      expect([t.id, cases.some((c) => c.exp_alerts.length > 0), cases.some((c) => c.exp_alerts.length === 0)]).toEqual([t.id, true, true]);
    }
    const r = runPromtool('test', 'rules', TESTS);
    expect(r.output).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('promtool fails a rule file whose trigger does not fire (the tests can fail)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rules-'));
    fs.mkdirSync(path.join(dir, 'deploy/prometheus/rules/generated'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'test/rules'), { recursive: true });
    const broken = renderRuleFile(plan, PLAN_FILE).replace('* 1000 > 400)', '* 1000 > 900)');
    fs.writeFileSync(path.join(dir, 'deploy/prometheus/rules/generated/spark-trading.rules.yml'), broken);
    fs.copyFileSync(TESTS, path.join(dir, 'test/rules/triggers.test.yml'));
    const r = runPromtool('test', 'rules', path.join(dir, 'test/rules/triggers.test.yml'));
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('FAILED');
    expect(r.output).toContain('api_p95_over_400ms fires when every request takes 400-500 ms');
  });
});
