import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { CHECK_CATALOGUE } from '../../src/plan/catalogue';
import { loadPlanFile, loadPlanFileWith } from '../../src/plan/loader';
import { parsePlan, PlanError, type ReleasePlan } from '../../src/plan/schema';

const SHIPPED = path.join(__dirname, '../../plans/v1.4.0.yaml');
const DEMO = path.join(__dirname, '../../plans/demo.yaml');
const fixture = (name: string) => path.join(__dirname, '../fixtures/plans', name);
const MIN = 60_000;
const HOUR = 60 * MIN;

/** The PlanError a call throws; fails the test when it does not throw one. */
function planError(load: () => unknown): PlanError {
  try {
    load();
  } catch (err) {
    if (err instanceof PlanError) return err;
    throw err;
  }
  throw new Error('expected a PlanError, but the plan loaded');
}

/** A fresh, unparsed copy of the shipped plan document, to break on purpose. */
function shippedDoc(): Record<string, any> {
  return YAML.parse(fs.readFileSync(SHIPPED, 'utf8'));
}

describe('the shipped v1.4.0 plan reproduces the run-of-show', () => {
  const plan = loadPlanFile(SHIPPED);

  it('runs 5 canary stages: 1/5/25/50/100% for 15/15/15/15/30 min', () => {
    expect(plan.canary.stages).toEqual([
      { traffic: 1, duration: 15 * MIN },
      { traffic: 5, duration: 15 * MIN },
      { traffic: 25, duration: 15 * MIN },
      { traffic: 50, duration: 15 * MIN },
      { traffic: 100, duration: 30 * MIN },
    ]);
  });

  it('judges the 8 golden signals against the spec thresholds, in their units', () => {
    const rows = plan.signals.map((s) => [s.id, s.pass.comparator, s.pass.value, s.unit, s.scale, s.pass.relativeTo ?? null, s.pass.floor ?? null]);
    expect(rows).toEqual([
      ['api_p95_latency', '<=', '200', 'ms', '1000', null, null],
      ['error_rate_5xx', '<=', '1', '%', '100', null, null],
      ['ws_staleness', '<=', '30', 's', '1', null, null],
      ['risk_block_rate', '<', '0.5', '/min', '1', null, null],
      ['idempotency_conflicts', '<=', '1', '%', '100', null, null],
      // baseline + 10 %
      ['csp_violations', '<=', '10', '/kreq', '1', 'baseline', '1'],
      ['eventloop_lag_p95', '<=', '50', 'ms', '1000', null, null],
      ['gc_pause_avg', '<=', '20', 'ms', '1000', null, null],
    ]);
  });

  it('arms the 6 standard rollback triggers with their thresholds and windows', () => {
    // The 14 enhanced, auto-guard and enrichment triggers are checked in test/unit/decide.test.ts.
    const rows = plan.triggers.filter((t) => t.group === 'standard').map((t) => [t.id, t.group, t.comparator, t.threshold, t.scale, t.for, t.action]);
    expect(rows).toEqual([
      ['api_p95_over_400ms', 'standard', '>', '400', '1000', 5 * MIN, 'rollback'],
      ['error_rate_over_3pct', 'standard', '>', '3', '100', 5 * MIN, 'rollback'],
      ['bist_staleness_over_120s', 'standard', '>', '120', '1', 3 * MIN, 'rollback'],
      ['csp_over_50_per_min', 'standard', '>', '50', '1', 0, 'rollback'],
      ['idempotency_conflicts_over_5pct', 'standard', '>', '5', '100', 3 * MIN, 'rollback'],
      ['pgbouncer_saturation_over_90pct', 'standard', '>', '90', '100', 3 * MIN, 'rollback'],
    ]);
  });

  it('places the timeline at T-30, -20, -10, -9, -5, -2 and 0 min', () => {
    expect(plan.timeline).toEqual({
      freeze: -30 * MIN, warRoom: -20 * MIN, preflight: -10 * MIN, blastRadius: -9 * MIN,
      redTeam: -5 * MIN, greenButton: -2 * MIN, goNoGo: 0,
    });
  });

  it('watches the first night every 15 min to 2 h, every 30 min to 6 h, hourly to 24 h', () => {
    expect(plan.firstNight.rhythm).toEqual([
      { until: 2 * HOUR, every: 15 * MIN },
      { until: 6 * HOUR, every: 30 * MIN },
      { until: 24 * HOUR, every: HOUR },
    ]);
  });

  it('gives the GO gate 30 min, one approver out of three, never the initiator', () => {
    expect(plan.gates.go).toMatchObject({ timeout: 30 * MIN, quorum: 1, approvers: ['bora', 'cem', 'elif'], onTimeout: 'no-go', allowInitiator: false });
  });

  it('lists the spec check counts: 10 preflight, 9 blind spots, 3 blast radius, 15+5 red team, 6 green button', () => {
    const { preflight, blindSpots, blastRadius, redTeam, greenButton } = plan.checks;
    expect([preflight, blindSpots, blastRadius, redTeam, greenButton].map((list) => list.length)).toEqual([10, 9, 3, 20, 6]);
    expect(Object.keys(CHECK_CATALOGUE).sort()).toEqual([...preflight, ...blindSpots, ...blastRadius, ...redTeam, ...greenButton].sort());
  });

  it('keeps the policy defaults the shipped profile relies on: missing data pages a human after 3', () => {
    for (const s of plan.signals) expect(s.policy).toMatchObject({ missingDataBudget: 3, onMissingData: 'page-human' });
  });
});

/** Every duration that timeScale compresses, by name. */
function scaledDurations(plan: ReleasePlan): Record<string, number> {
  const out: Record<string, number> = { ...plan.timeline };
  out['gates.go.timeout'] = plan.gates.go.timeout;
  out['canary.evaluationInterval'] = plan.canary.evaluationInterval;
  out['canary.badTrendHold'] = plan.canary.badTrendHold;
  out['canary.humanWaitLimit'] = plan.canary.humanWaitLimit;
  plan.canary.stages.forEach((s, i) => (out[`canary.stages[${i}].duration`] = s.duration));
  plan.triggers.forEach((t) => (out[`triggers.${t.id}.for`] = t.for));
  return out;
}

describe('the demo plan', () => {
  const shipped = loadPlanFile(SHIPPED);
  const demo = loadPlanFile(DEMO);

  it('compresses every plan duration by 60; only stage 1 is longer, so its 1% canary gathers its samples', () => {
    const expected = Object.fromEntries(Object.entries(scaledDurations(shipped)).map(([k, ms]) => [k, ms / 60]));
    expect(scaledDurations(demo)).toEqual({ ...expected, 'canary.stages[0].duration': 3 * 3600_000 / 60 });
    expect(demo.canary.stages.map((s) => s.traffic)).toEqual(shipped.canary.stages.map((s) => s.traffic));
  });

  it('compresses its own first-night rhythm (one scaled hour) too', () => {
    expect(demo.firstNight.rhythm).toEqual([
      { until: 30_000, every: 15_000 },
      { until: 60_000, every: 30_000 },
    ]);
  });

  it('keeps the windows Prometheus and the checks measure in real time', () => {
    expect(demo.metrics.rateWindow).toBe(10_000);
    expect(demo.metrics.queryTimeout).toBe(shipped.metrics.queryTimeout);
    expect(demo.metrics.queryTimeout).toBe(10_000);
    expect(demo.checks.timeout).toBe(shipped.checks.timeout);
    expect(demo.checks.timeout).toBe(40_000);
  });

  it('inherits everything else from the shipped plan', () => {
    expect(demo.signals).toEqual(shipped.signals);
    expect(demo.triggers.map((t) => ({ ...t, for: 0 }))).toEqual(shipped.triggers.map((t) => ({ ...t, for: 0 })));
    expect(demo.checks).toEqual(shipped.checks);
    expect(demo.people).toEqual(shipped.people);
  });
});

describe('extends and overrides', () => {
  it('replaces arrays and merges objects key by key', () => {
    const plan = loadPlanFile(fixture('three-stages.yaml'));
    expect(plan.canary.stages.map((s) => s.traffic)).toEqual([10, 50, 100]);
    expect(plan.canary.badTrendHold).toBe(15 * MIN);
    expect(plan.gates.go).toMatchObject({ quorum: 2, timeout: 30 * MIN, approvers: ['bora', 'cem', 'elif'] });
  });

  it('applies overrides on top of the file, before validation', () => {
    const plan = loadPlanFileWith(SHIPPED, { timeScale: 0.5, canary: { badTrendHold: '4m' } });
    expect(plan.canary.stages[0]!.duration).toBe(7.5 * MIN);
    expect(plan.canary.badTrendHold).toBe(2 * MIN);
    expect(() => loadPlanFileWith(SHIPPED, { canary: { badTrendHold: 'later' } })).toThrow(/canary\.badTrendHold: "later" is not a duration/);
  });
});

describe('the traffic router', () => {
  it('names one of the worker\'s HAProxy routers', () => {
    const doc = shippedDoc();
    doc.traffic = { router: 'haproxy', name: 'edge' };
    expect(parsePlan(doc).traffic).toEqual({ router: 'haproxy', name: 'edge' });
  });

  it('never gives a socket path: that is the worker\'s', () => {
    const doc = shippedDoc();
    doc.traffic = { router: 'haproxy', name: 'edge', socket: '/run/haproxy/admin.sock' };
    expect(planError(() => parsePlan(doc)).problems).toEqual([expect.stringMatching(/^traffic: Unrecognized key: "socket"/)]);
  });
});

describe('a malformed plan is refused, each problem naming its field', () => {
  const cases: [string, (doc: Record<string, any>) => void, RegExp][] = [
    ['missing field', (d) => delete d.incidentCommander, /^incidentCommander: .*expected string, received undefined/],
    ['missing nested field', (d) => delete d.canary.stages[0].duration, /^canary\.stages\[0\]\.duration: .*expected string, received undefined/],
    ['wrong type', (d) => (d.canary.stages[0].traffic = '1%'), /^canary\.stages\[0\]\.traffic: .*expected number, received string/],
    ['bad duration', (d) => (d.canary.stages[0].duration = '15 minutes'), /^canary\.stages\[0\]\.duration: "15 minutes" is not a duration/],
    ['negative stage duration', (d) => (d.canary.stages[1].duration = '-15m'), /^canary\.stages\[1\]\.duration: must not be negative \(got "-15m"\)/],
    ['zero gate timeout', (d) => (d.gates.go.timeout = '0'), /^gates\.go\.timeout: must be longer than 0/],
    ['stage traffic not rising', (d) => (d.canary.stages[2].traffic = 5), /^canary\.stages\[2\]\.traffic: 5% does not rise above the previous stage's 5%/],
    ['last stage not 100%', (d) => d.canary.stages.pop(), /^canary\.stages: the last stage must take 100% of traffic \(it takes 50%\)/],
    ['unknown check id', (d) => (d.checks.preflight[3] = 'prisma-migration'), /^checks\.preflight\[3\]: unknown check "prisma-migration"/],
    ['check in the wrong phase', (d) => (d.checks.preflight[0] = 'sbom'), /^checks\.preflight\[0\]: "sbom" belongs to greenButton, not preflight/],
    ['check listed twice', (d) => d.checks.blastRadius.push('micro-ws'), /^checks\.blastRadius: check "micro-ws" is listed twice/],
    ['approver not in people', (d) => (d.gates.go.approvers[1] = 'zeynep'), /^gates\.go\.approvers\[1\]: "zeynep" is not in people/],
    ['incident commander not in people', (d) => (d.incidentCommander = 'zeynep'), /^incidentCommander: "zeynep" is not in people/],
    ['quorum above the approvers', (d) => (d.gates.go.quorum = 4), /^gates\.go\.quorum: quorum 4 exceeds the 3 approvers/],
    ['unknown query placeholder', (d) => (d.signals[2].query = 'max(ws_staleness_seconds{zone="$foo"})'), /^signals\[2\]\.query: unknown query placeholder \$foo/],
    ['timeline running backwards', (d) => (d.timeline.preflight = '-25m'), /^timeline\.preflight: comes before warRoom/],
    ['unknown top-level key', (d) => (d.rollout = 'fast'), /^\(top level\): Unrecognized key: "rollout"/],
    ['unknown nested key', (d) => (d.canary.stages[0].weight = 1), /^canary\.stages\[0\]: Unrecognized key: "weight"/],
    ['threshold not a plain decimal', (d) => (d.signals[0].pass.value = '2e2'), /^signals\[0\]\.pass\.value: must be a plain decimal number/],
    ['k-of-n that cannot fit', (d) => (d.signals[0].policy.breachesToAct = 4), /^signals\[0\]\.policy\.breachesToAct: 4 breaches cannot fit in a window of 3/],
    ['baseline threshold without a baseline check', (d) => d.checks.preflight.splice(8, 1), /^signals\[5\]\.pass\.relativeTo: a baseline-relative threshold needs the baseline-metrics preflight check/],
    ['first-night interval longer than its step', (d) => (d.firstNight.rhythm[1].every = '5h'), /^firstNight\.rhythm\[1\]\.every: the interval is longer than its step/],
    ['timeScale above 1', (d) => (d.timeScale = 60), /^timeScale: must be a number above 0 and at most 1/],
  ];

  it.each(cases)('%s', (_name, breakIt, expected) => {
    const doc = shippedDoc();
    breakIt(doc);
    expect(planError(() => parsePlan(doc)).problems).toEqual([expect.stringMatching(expected)]);
  });

  it('reports several problems of one plan together', () => {
    const err = planError(() => loadPlanFile(fixture('several-problems.yaml')));
    expect(err.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^timeline\.freeze: "soon" is not a duration/),
        expect.stringMatching(/^canary\.stages\[0\]\.traffic: .*expected number/),
        expect.stringMatching(/^canary\.stages\[1\]\.duration: "15 minutes" is not a duration/),
        expect.stringMatching(/^\(top level\): Unrecognized key: "rollout"/),
      ]),
    );
    expect(err.problems).toHaveLength(4);
    expect(err.message).toContain(fixture('several-problems.yaml'));
  });

  it('reports several cross-field problems together', () => {
    const doc = shippedDoc();
    doc.gates.go.quorum = 4;
    doc.timeline.preflight = '-25m';
    doc.canary.stages[2].traffic = 5;
    doc.checks.redTeam.push('sbom');
    expect(planError(() => parsePlan(doc)).problems.map((p) => p.split(':')[0])).toEqual([
      'gates.go.quorum', 'timeline.preflight', 'checks.redTeam[20]', 'canary.stages[2].traffic',
    ]);
  });

  it('says when the file is not YAML', () => {
    const err = planError(() => loadPlanFile(fixture('invalid-yaml.yaml')));
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) expect(p).toMatch(/^YAML: .* at line \d+, column \d+/);
    expect(err.message).toContain('invalid-yaml.yaml');
  });

  it('refuses duplicate keys, pointing at the line', () => {
    const err = planError(() => loadPlanFile(fixture('duplicate-keys.yaml')));
    expect(err.problems).toEqual([expect.stringMatching(/^YAML: Map keys must be unique at line 4, column 3/)]);
  });

  it('refuses a document that is not a mapping', () => {
    expect(planError(() => loadPlanFile(fixture('not-a-mapping.yaml'))).problems).toEqual(['(top level): must be a mapping of plan fields']);
  });

  test('parsePlan blames the top level, not timeScale, for a document that is a list', () => {
    expect(planError(() => parsePlan([{ apiVersion: 'spark-release/v1' }])).problems).toEqual([expect.stringMatching(/^\(top level\): /)]);
  });

  it('stops an extends cycle', () => {
    const err = planError(() => loadPlanFile(fixture('cycle-a.yaml')));
    expect(err.problems).toEqual(['extends: more than 5 levels (a cycle?)']);
    expect(err.message).toMatch(/cycle-[ab]\.yaml/);
  });

  it('names a missing file', () => {
    const missing = fixture('no-such-plan.yaml');
    const err = planError(() => loadPlanFile(missing));
    expect(err.problems).toEqual(['cannot read the plan file: ENOENT']);
    expect(err.message).toContain(missing);
  });
});
