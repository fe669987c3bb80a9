// Property-based fuzzing of the plan loader: whatever the file holds, loading it
// either gives a plan that keeps the run-of-show's rules or throws a PlanError
// naming the problem; nothing else ever escapes, and nothing invalid gets in.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { CHECK_CATALOGUE, CHECK_PHASES } from '../../src/plan/catalogue';
import { loadPlanFile } from '../../src/plan/loader';
import { PlanError, type ReleasePlan } from '../../src/plan/schema';

const SHIPPED = path.join(__dirname, '../../plans/v1.4.0.yaml');
const shippedDoc = YAML.parse(fs.readFileSync(SHIPPED, 'utf8')) as Record<string, unknown>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spark-fuzz-plan-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
/** Writes `text` as a plan file (next to a copy of the shipped plan, for `extends`) and loads it. */
function load(text: string): { plan?: ReleasePlan; error?: unknown } {
  const file = path.join(dir, `plan-${++fileCounter}.yaml`);
  fs.writeFileSync(file, text);
  try {
    return { plan: loadPlanFile(file) };
  } catch (error) {
    return { error };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Independent statement of the rules every accepted plan keeps (an oracle, not the schema). */
function brokenRules(plan: ReleasePlan): string[] {
  const broken: string[] = [];
  const ids = plan.people.map((p) => p.id);
  if (new Set(ids).size !== ids.length) broken.push('people ids repeat');
  if (!ids.includes(plan.incidentCommander)) broken.push('incident commander not a person');
  if (!plan.gates.go.approvers.every((a) => ids.includes(a))) broken.push('approver not a person');
  if (!(plan.gates.go.quorum >= 1 && plan.gates.go.quorum <= plan.gates.go.approvers.length)) broken.push('quorum outside 1..approvers');
  if (!(plan.timeScale > 0 && plan.timeScale <= 1)) broken.push('timeScale outside (0, 1]');
  const stages = plan.canary.stages;
  if (stages.length === 0 || stages.at(-1)!.traffic !== 100) broken.push('last stage not 100%');
  stages.forEach((s, i) => {
    if (!(s.traffic > 0 && s.traffic <= 100)) broken.push(`stage ${i} traffic ${s.traffic}`);
    if (i > 0 && s.traffic <= stages[i - 1]!.traffic) broken.push(`stage ${i} does not rise`);
    if (!(Number.isFinite(s.duration) && s.duration > 0)) broken.push(`stage ${i} duration ${s.duration}`);
  });
  const t = plan.timeline;
  const order = [t.freeze, t.warRoom, t.preflight, t.blastRadius, t.redTeam, t.greenButton, t.goNoGo];
  if (!order.every((v, i) => Number.isFinite(v) && (i === 0 || v >= order[i - 1]!))) broken.push('timeline does not run forward');
  for (const ms of [plan.canary.evaluationInterval, plan.canary.badTrendHold, plan.canary.humanWaitLimit, plan.gates.go.timeout, plan.checks.timeout, plan.metrics.queryTimeout, plan.metrics.rateWindow]) {
    if (!(Number.isFinite(ms) && ms > 0)) broken.push(`duration ${ms} not positive`);
  }
  for (const phase of CHECK_PHASES) {
    for (const id of plan.checks[phase]) if (CHECK_CATALOGUE[id]?.phase !== phase) broken.push(`check ${id} not of ${phase}`);
  }
  const signalIds = plan.signals.map((s) => s.id);
  if (signalIds.length === 0 || new Set(signalIds).size !== signalIds.length) broken.push('signals missing or repeated');
  // The plan is a workflow input: it must survive JSON unchanged (no NaN, Infinity, undefined in arrays).
  if (JSON.stringify(JSON.parse(JSON.stringify(plan))) !== JSON.stringify(plan) || /null/.test(JSON.stringify(plan.canary))) broken.push('not JSON-clean');
  return broken;
}

function expectOnlyPlanErrorOrValid(outcome: { plan?: ReleasePlan; error?: unknown }): void {
  if (outcome.error !== undefined) {
    expect(outcome.error).toBeInstanceOf(PlanError);
    const { problems } = outcome.error as PlanError;
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(/^\S.*: \S/); // every problem names its field, then says what is wrong
  } else {
    expect(brokenRules(outcome.plan!)).toEqual([]);
  }
}

// Values that break parsers: odd numbers, YAML specials, huge and empty things.
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 1e308, -1, 0, 0.5, 101, 2 ** 53 + 1, '', ' ', '0', '-5m', '1e3s', '15 minutes', '∞', '\u0000', 'null', 'true', '~', '.nan', '*anchor', 'x'.repeat(5000)),
  fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 4 }),
);

/** A path into the shipped document (keys and indices that exist), possibly one step past a leaf. */
function pathsOf(doc: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(doc)) return [prefix, ...doc.flatMap((v, i) => pathsOf(v, [...prefix, i]))];
  if (doc && typeof doc === 'object') return [prefix, ...Object.entries(doc).flatMap(([k, v]) => pathsOf(v, [...prefix, k]))];
  return [prefix];
}
const shippedPaths = pathsOf(shippedDoc).filter((p) => p.length > 0);

type Mutation = { kind: 'set'; path: (string | number)[]; value: unknown } | { kind: 'delete'; path: (string | number)[] } | { kind: 'add'; path: (string | number)[]; key: string; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...shippedPaths), value: nasty }),
  fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...shippedPaths) }),
  fc.record({ kind: fc.constant('add' as const), path: fc.constantFrom(...shippedPaths), key: fc.string({ maxLength: 12 }), value: nasty }),
);

function mutate(doc: unknown, m: Mutation): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const key of m.path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = m.path.at(-1)!;
  if (m.kind === 'set') parent[last] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if (parent[last] && typeof parent[last] === 'object' && !Array.isArray(parent[last])) {
    (parent[last] as Record<string, unknown>)[m.key] = m.value;
  }
  return copy;
}

describe('the plan loader under fuzzing', () => {
  test('arbitrary file contents: a plan or a PlanError, nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.stringMatching(/^[-:{}[\],&*!|>'"%@` \n\ta-z0-9#?]{0,200}$/)), (text) => {
        expectOnlyPlanErrorOrValid(load(text));
      }),
      { numRuns: 200 },
    );
  });

  test('arbitrary YAML documents: a plan or a PlanError, nothing else', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 3, withNullPrototype: false }), (doc) => {
        expectOnlyPlanErrorOrValid(load(YAML.stringify(doc) ?? ''));
      }),
      { numRuns: 150 },
    );
  });

  test('the shipped plan with one to three random mutations is accepted only when it keeps every rule', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
        let doc: unknown = shippedDoc;
        for (const m of mutations) {
          try {
            doc = mutate(doc, m);
          } catch {
            // The path vanished under an earlier mutation: skip this one.
          }
        }
        expectOnlyPlanErrorOrValid(load(YAML.stringify(doc)));
      }),
      { numRuns: 120 },
    );
  });

  test('hostile extends chains: missing files, directories, self and cycles end in a PlanError', () => {
    fs.writeFileSync(path.join(dir, 'self.yaml'), 'extends: ./self.yaml\n');
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom('./self.yaml', '.', '/', '/dev/null', '/proc/self/mem', '../../../../../../etc/passwd', './missing.yaml', 'x'.repeat(5000)), fc.string({ maxLength: 40 }), fc.integer()), (parent) => {
        expectOnlyPlanErrorOrValid(load(`extends: ${JSON.stringify(parent)}\n`));
      }),
      { numRuns: 100 },
    );
  });

  test('YAML alias bombs are refused, not expanded', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`)].join('\n');
    const outcome = load(bomb);
    expect(outcome.error).toBeInstanceOf(PlanError);
  });
});
