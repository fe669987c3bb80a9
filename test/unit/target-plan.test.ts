// The plan's target section and red-team gate, and the gate's update input:
// bad input is refused naming the field.
import path from 'node:path';
import { projectRoot } from '../../src/config';
import { loadPlanFileWith } from '../../src/plan/loader';
import { PlanError } from '../../src/plan/schema';
import { targetProblems } from '../../src/plan/target';
import { parseRedTeamConfirm } from '../../src/workflows/validate';

const shipped = path.join(projectRoot, 'plans', 'v1.4.0.yaml');

function problemsOf(overrides: Record<string, unknown>): string[] {
  try {
    loadPlanFileWith(shipped, overrides);
    return [];
  } catch (err) {
    if (err instanceof PlanError) return err.problems;
    throw err;
  }
}

test('the shipped plan names its target and a person for every red-team item no machine can finish', () => {
  const plan = loadPlanFileWith(shipped, {});
  expect(plan.target?.databaseUrlEnv).toBe('SPARK_TARGET_DATABASE_URL');
  expect(plan.target?.blastRadius.duration).toBe(30_000);
  expect(plan.redTeamGate?.items.map((i) => i.check).sort()).toEqual(['cc-hsts-subdomains', 'rt-pitr-cold-start']);
});

test('a secret in place of an environment variable name is refused naming the field', () => {
  expect(problemsOf({ target: { databaseUrlEnv: 'postgres://spark:secret@db/spark' } })).toEqual([
    'target.databaseUrlEnv: the name of an environment variable, e.g. SPARK_TARGET_DATABASE_URL',
  ]);
});

test('a probe longer than the check timeout is refused', () => {
  expect(problemsOf({ target: { blastRadius: { duration: '60s' } } })).toEqual([
    'target.blastRadius.duration: 60s does not fit in checks.timeout (40s) with 5s to spare: shorten it or raise checks.timeout',
  ]);
});

test('the PITR check without a gate item, and a stranger as confirmer, are refused', () => {
  expect(problemsOf({ redTeamGate: { confirmers: ['mallory'], timeout: '3m', items: [{ id: 'hsts', check: 'cc-hsts-subdomains', text: 'subdomains on HTTPS' }] } })).toEqual([
    'redTeamGate.confirmers[0]: "mallory" is not in people',
    'redTeamGate: rt-pitr-cold-start needs a person\'s confirmation: add an item with check: rt-pitr-cold-start',
  ]);
});

test('target checks without a target section are refused', () => {
  const checks = { redTeam: ['rt-outbox-lag'], blastRadius: [], timeout: 40_000 };
  expect(targetProblems({ people: [], checks, plannedChecks: ['identity-seal', 'time-drift', 'rt-outbox-lag'] })).toEqual([
    { path: ['target'], message: 'the checks time-drift, rt-outbox-lag need a target section (URLs, database, pgBouncer)' },
  ]);
});

describe('confirmRedTeamItem input', () => {
  const good = { release: 'release-spark-trading-v1.4.0', runId: 'r1', item: 'pitr-cold-start', by: 'elif', confirmed: true, note: 'restored to a spare host' };

  test('a complete confirmation parses', () => {
    expect(parseRedTeamConfirm(good)).toEqual(good);
  });

  test.each([
    [{ ...good, note: ' ' }, 'note: must say why'],
    [{ ...good, confirmed: 'yes' }, 'confirmed: must be true or false'],
    [{ ...good, approver: 'elif' }, 'approver: unknown field'],
    ['confirm', 'red-team confirmation: must be an object'],
  ])('%j is refused: %s', (input, message) => {
    expect(() => parseRedTeamConfirm(input)).toThrow(message);
  });
});
