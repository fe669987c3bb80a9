// The seed's five alert rules, checked and unit-tested by promtool itself
// (deploy/prometheus/rules/alerts.yml, test/rules/alerts.test.yml).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig, projectRoot } from '../../src/config';

const promtool = path.join(loadConfig().toolsBin, 'promtool');
const rulesFile = path.join(projectRoot, 'deploy', 'prometheus', 'rules', 'alerts.yml');
const testFile = path.join(projectRoot, 'test', 'rules', 'alerts.test.yml');

function promtoolRun(...args: string[]): string {
  if (!fs.existsSync(promtool)) throw new Error(`${promtool} is missing: run \`bash scripts/bootstrap.sh\``);
  return execFileSync(promtool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('the rule file defines exactly the seed five alerts', () => {
  const doc = YAML.parse(fs.readFileSync(rulesFile, 'utf8')) as { groups: { rules: { alert: string }[] }[] };
  const alerts = doc.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort();
  expect(alerts).toEqual(['CSPViolationsHigh', 'HTTPLatencyHigh', 'IdempotencyConflictRateHigh', 'PgBouncerPoolSaturation', 'RiskBlockRateHigh']);
});

test('promtool accepts the rule file', () => {
  expect(promtoolRun('check', 'rules', rulesFile)).toMatch(/SUCCESS: 5 rules found/);
});

test('every alert fires on its breach, waits out its `for`, and stays quiet at or below its threshold', () => {
  expect(promtoolRun('test', 'rules', testFile)).toMatch(/SUCCESS/);
});

test('the unit tests cover every alert', () => {
  const tests = YAML.parse(fs.readFileSync(testFile, 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const firing = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  const quiet = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname)));
  expect([...firing].sort()).toEqual(['CSPViolationsHigh', 'HTTPLatencyHigh', 'IdempotencyConflictRateHigh', 'PgBouncerPoolSaturation', 'RiskBlockRateHigh']);
  expect([...quiet].sort()).toEqual([...firing].sort());
});
