// The release plan: every stage, signal, trigger, gate, window and check of a
// release. Parsing turns durations into milliseconds and applies `timeScale`,
// so a demo or a test compresses the whole run-of-show without touching code.
import { z } from 'zod';
import { ACTIONS, COMPARATORS, REMAINING_RISKS, type Comparator } from './vocabulary';
import { remainingRiskSchema } from './risks';
import { CHECK_CATALOGUE, CHECK_PHASES } from './catalogue';
import { parseDuration } from './duration';
import { validateTemplate } from '../adapters/metrics/query';
import { ritualProblems, ritualSchema } from '../ritual/plan';
import { buildRedTeamGateSchema, buildTargetSchema, targetProblems } from './target';

/** Placeholders a signal or trigger query may use. */
export const QUERY_VARS = ['service', 'version', 'track', 'rate'] as const;

export { PHASES, ACTIONS, COMPARATORS, REMAINING_RISKS, type Phase, type Action, type Comparator } from './vocabulary';
export { remainingRiskSchema, type RemainingRisk } from './risks';

const id = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lower-case letters, digits, - and _');


/** Builds the schema for one time scale: every duration is parsed, then scaled. */
function buildSchema(timeScale: number) {
  const duration = (opts: { allowNegative?: boolean; allowZero?: boolean } = {}) =>
    z.string().transform((text, ctx) => {
      let ms: number;
      try {
        ms = parseDuration(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
      if (ms < 0 && !opts.allowNegative) {
        ctx.addIssue({ code: 'custom', message: `must not be negative (got "${text}")` });
        return z.NEVER;
      }
      if (ms === 0 && !opts.allowZero) {
        ctx.addIssue({ code: 'custom', message: 'must be longer than 0' });
        return z.NEVER;
      }
      return Math.round(ms * timeScale);
    });
  // Windows that Prometheus evaluates (rate windows) are not scaled: Prometheus' clock is real.
  const realDuration = z.string().transform((text, ctx) => {
    try {
      const ms = parseDuration(text);
      if (ms > 0) return ms;
      ctx.addIssue({ code: 'custom', message: 'must be longer than 0' });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
    return z.NEVER;
  });
  const decimalString = z
    .union([z.number(), z.string()])
    .transform((v) => String(v).trim())
    .refine((v) => /^-?\d+(\.\d+)?$/.test(v), 'must be a plain decimal number such as 200 or 0.5');

  const person = z.strictObject({
    id,
    name: z.string().min(1),
    slack: z.string().regex(/^[UW][A-Z0-9]+$/, 'a Slack user ID such as U024BE7LH').optional(),
    email: z.string().email().optional(),
  });

  const gate = z.strictObject({
    title: z.string().min(1).optional(),
    approvers: z.array(id).min(1, 'a gate needs at least one approver'),
    quorum: z.number().int().min(1).default(1),
    timeout: duration(),
    onTimeout: z.enum(['no-go']).default('no-go'),
    allowInitiator: z.boolean().default(false),
    /** While the gate waits, the war-room is reminded this often of who has not decided. */
    remindEvery: duration().optional(),
    /** After this long without a decision, the pager reaches `escalateTo` (default: the incident commander). */
    escalateAfter: duration().optional(),
    escalateTo: z.array(id).default([]),
  });

  const outcomePolicy = z.strictObject({
    /** Breaches among the last `window` evaluations that make the signal act. */
    breachesToAct: z.number().int().min(1).default(1),
    window: z.number().int().min(1).default(1),
    onBreach: z.enum(ACTIONS).default('rollback'),
    /** Consecutive no-data / query-error evaluations tolerated (stage held meanwhile) before `onMissingData`. */
    missingDataBudget: z.number().int().min(1).default(3),
    onMissingData: z.enum(ACTIONS).default('page-human'),
    /** Applied when the stage and its dwell extension have run and the signal still lacks samples
     * (default: canary.onInsufficientSamples). */
    onInsufficientSamples: z.enum(ACTIONS).optional(),
    /** A value above the bound that is not yet significant (see `samples.significance`), or no baseline to compare with. */
    onInconclusive: z.enum(ACTIONS).default('hold'),
  });

  const probability = decimalString.refine((v) => Number(v) > 0 && Number(v) < 1, 'must be a probability between 0 and 1, such as 0.05');

  /** How many events stand behind a value, so a handful of requests cannot pass or fail a stage. */
  const samples = z.strictObject({
    /** Events in the same window as the value (e.g. requests behind an error ratio); may use the same placeholders. */
    query: z.string().min(1),
    /** Fewer events than this (or none at all): insufficient-samples, unless the breach is significant. */
    minimum: z.number().min(0),
    /** For a ratio of events (0..1 before `scale`): a value above the bound breaches only when an exact
     * one-sided binomial test puts it below this probability at the bound; otherwise it is inconclusive. */
    significance: probability.optional(),
  });

  const threshold = z.strictObject({
    comparator: z.enum(COMPARATORS),
    value: decimalString,
    /** When set, `value` is a percentage above (or below) the preflight baseline of this signal. */
    relativeTo: z.enum(['baseline']).optional(),
    /** Lowest allowed bound when the baseline is near zero (same unit as the signal). */
    floor: decimalString.optional(),
  });

  const signal = z.strictObject({
    id,
    title: z.string().min(1),
    short: z.string().min(1),
    query: z.string().min(1),
    unit: z.string().default(''),
    /** The query's value is multiplied by this before comparing and reporting (seconds -> ms: 1000). */
    scale: decimalString.default('1'),
    pass: threshold,
    policy: outcomePolicy.prefault({}),
    samples: samples.optional(),
    /** Also judge the canary against stable on the counts since the stage began, with an anytime-valid
     * sequential test (settings in canary.versusStable; docs/judgment.md, "Canary versus stable").
     * Every query reads one track ($track) over the stage so far ($rate is the stage's age). */
    versusStable: z.discriminatedUnion('test', [
      z.strictObject({
        /** errors: the canary's share of these events against its share of requests. */
        test: z.literal('errors'),
        events: z.string().min(1),
        requests: z.string().min(1),
        /** The relative increase the test is tuned to find (1 = twice stable's rate). */
        effect: z.number().gt(0).default(1),
        /** A significant difference counts only when the canary's ratio exceeds stable's by more than this percentage. */
        maxIncrease: decimalString,
      }),
      z.strictObject({
        /** latency: the canary's histogram against stable's, bucket by bucket. */
        test: z.literal('latency'),
        /** One cumulative bucket ($le is each of `buckets`). */
        bucket: z.string().min(1),
        /** The histogram's bucket bounds as the service labels them (le), ascending; +Inf is `requests`. */
        buckets: z.array(z.string().regex(/^\d+(\.\d+)?$/, 'a bucket bound as the le label spells it, such as 0.25')).min(1),
        requests: z.string().min(1),
        /** Sum of the observed values (mean = sum / requests), for the practical margin. */
        sum: z.string().min(1),
        effect: z.number().gt(0).default(0.25),
        /** A significant difference counts only when the canary's mean exceeds stable's by more than this percentage. */
        maxIncrease: decimalString,
      }),
    ]).optional(),
  });

  /** One more condition of a composite trigger: a signal's query (and scale) or its own query. */
  const triggerCondition = z.strictObject({
    signal: id.optional(),
    query: z.string().min(1).optional(),
    scale: decimalString.optional(),
    comparator: z.enum(COMPARATORS),
    threshold: decimalString,
  });

  const trigger = z.strictObject({
    id,
    title: z.string().min(1),
    group: z.enum(['standard', 'enhanced', 'auto-guard', 'enrichment']).default('standard'),
    query: z.string().min(1),
    scale: decimalString.default('1'),
    comparator: z.enum(COMPARATORS),
    threshold: decimalString,
    /** The condition must hold this long (across evaluations) before it fires; 0 fires at once. */
    for: duration({ allowZero: true }),
    action: z.enum(ACTIONS).default('rollback'),
    /** Composite trigger: every one of these must hold too (a combination of signals, not hard-coded). */
    and: z.array(triggerCondition).default([]),
    samples: samples.optional(),
    /** Consecutive evaluations without an answer (no data, query error) tolerated before `onMissingData`;
     * each gap also restarts the `for` window. */
    missingDataBudget: z.number().int().min(1).default(3),
    onMissingData: z.enum(ACTIONS).default('page-human'),
  });

  const stage = z.strictObject({
    traffic: z.number().gt(0).max(100),
    duration: duration(),
  });

  const checkList = z.array(z.string()).default([]);

  const routerName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'the name of one of the worker\'s routers (lower-case letters, digits and -)');
  const traffic = z.discriminatedUnion('router', [
    z.strictObject({ router: z.literal('local'), adminUrl: z.string().url() }),
    // Binaries, config paths, sockets and commands are the worker's (src/config.ts): the plan names one.
    z.strictObject({ router: z.literal('nginx'), name: routerName }),
    z.strictObject({ router: z.literal('command'), name: routerName }),
    z.strictObject({ router: z.literal('haproxy'), name: routerName }),
    z.strictObject({ router: z.literal('record-only') }),
  ]);

  const rhythmStep = z.strictObject({ until: duration(), every: duration() });
  // Multi-window burn-rate alert: fires only when both windows burn faster than `factor`.
  const burnAlert = z.strictObject({ long: realDuration, short: realDuration, factor: decimalString });

  return z
    .strictObject({
      apiVersion: z.literal('spark-release/v1'),
      service: id,
      version: z.string().regex(/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'a semantic version such as v1.4.0'),
      commit: z.string().regex(/^[0-9a-f]{7,40}$/, 'a git commit hash').optional(),
      timeScale: z.number().positive().max(1).default(1),
      people: z.array(person).min(1),
      incidentCommander: id,
      /** May hold, resume, promote now, roll back and hand over in the incident commander's stead. */
      delegates: z.array(id).default([]),
      timeline: z.strictObject({
        freeze: duration({ allowNegative: true, allowZero: true }),
        warRoom: duration({ allowNegative: true, allowZero: true }),
        preflight: duration({ allowNegative: true, allowZero: true }),
        blastRadius: duration({ allowNegative: true, allowZero: true }),
        redTeam: duration({ allowNegative: true, allowZero: true }),
        greenButton: duration({ allowNegative: true, allowZero: true }),
        goNoGo: duration({ allowNegative: true, allowZero: true }),
      }),
      gates: z.strictObject({ go: gate }),
      checks: z.strictObject({
        /** Per-check time limit; real time (a check talks to real systems). */
        timeout: realDuration,
        preflight: checkList,
        blindSpots: checkList,
        blastRadius: checkList,
        redTeam: checkList,
        greenButton: checkList,
        /** Numeric limits the checks apply (e.g. maxClockDriftMs: 250); see docs/plan.md. */
        limits: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9]*$/), z.number()).default({}),
      }),
      metrics: z.strictObject({
        /** Range window for rate()/histogram queries ($rate in PromQL). */
        rateWindow: realDuration,
        /** Real time: a network timeout does not compress with the plan. */
        queryTimeout: realDuration,
        /** Scrape jobs the preflight expects, with how many targets each (all must be up). */
        expectedTargets: z.record(z.string().min(1), z.number().int().min(1)).default({}),
      }),
      signals: z.array(signal).min(1),
      triggers: z.array(trigger).default([]),
      canary: z.strictObject({
        evaluationInterval: duration(),
        stages: z.array(stage).min(1),
        /** How long a stage that ended without a clean evaluation is held for re-evaluation. */
        badTrendHold: duration(),
        /** Longest wait for a human while paged (missing data, manual hold) before rolling back. */
        humanWaitLimit: duration(),
        /** How long a stage may outlast its duration while its signals and the canary-versus-stable comparison gather samples. */
        maxDwellExtension: duration({ allowZero: true }).prefault('0'),
        /** A signal still lacking samples when the dwell extension is spent: hold and page (a person may promote
         * with a reason). `proceed` promotes the stage unmeasured, and every line and record says so. */
        onInsufficientSamples: z.enum(ACTIONS).default('page-human'),
        /** The canary must receive its planned share: requests per track since the stage began ($track, $rate). */
        trafficShare: z.strictObject({
          query: z.string().min(1),
          /** Below this fraction of the planned share, significantly, the canary is not taking its traffic. */
          minShare: z.number().gt(0).lte(1).default(0.5),
          /** One-sided binomial p-value below which the shortfall counts. */
          significance: probability.default('0.001'),
        }).optional(),
        /** Settings of the canary-versus-stable tests of signals with `versusStable`. */
        versusStable: z.strictObject({
          /** Probability of a false rollback over the whole canary, however often it is evaluated
           * (split evenly over every compared signal in every stage below 100%). */
          alpha: probability.default('0.01'),
          /** Requests on each track before a comparison can pass (it can fail earlier: the test is anytime-valid). */
          minimum: z.number().int().min(1).default(200),
          onWorse: z.enum(ACTIONS).default('hold'),
        }).optional(),
      }),
      firstNight: z.strictObject({
        rhythm: z.array(rhythmStep).min(1),
        burnRate: z.strictObject({
          /** The SLO as a percentage of good events (99 leaves an error budget of 1%). */
          objective: decimalString,
          /** PromQL for the ratio (0..1) of bad events over `$window`. */
          errorRatio: z.string().min(1),
          alerts: z.array(burnAlert).min(1).prefault([
            { long: '1h', short: '5m', factor: '14.4' },
            { long: '6h', short: '30m', factor: '6' },
          ]),
        }),
        /** What a breach after promotion does: the parent's rollback, or a page to a human. */
        onBreach: z.enum(['rollback', 'page-human']).default('rollback'),
        /** Checks without data (no data, query error) tolerated before the watch counts as unverified. */
        missingDataBudget: z.number().int().min(0).default(2),
        /** A watch over budget: `unverified` ends "released, unverified" (paged, no tag); `rollback` rolls back. */
        onMissingData: z.enum(['unverified', 'rollback']).default('unverified'),
      }),
      rollback: z.strictObject({
        /** Real time: one router call to 0% and its read-back; Prometheus is never on this path. */
        routerTimeout: realDuration,
      }).prefault({ routerTimeout: '30s' }),
      risks: z.array(remainingRiskSchema).max(REMAINING_RISKS).default([]),
      scm: z.strictObject({
        /** Put on open pull requests at the freeze, removed at close-out. */
        holdLabel: z.string().trim().min(1).max(50).default('hold-for-canary'),
        /** The release tag; {version} is the plan's version. */
        tag: z.string().min(1).default('{version}'),
      }).prefault({}),
      traffic,
      notifications: z.strictObject({
        deploysChannel: z.string().regex(/^#[a-z0-9._-]+$/),
        warRoomChannel: z.string().regex(/^#[a-z0-9._{}-]+$/),
      }),
      pager: z.strictObject({
        /** Passed to the pager adapter to pick the rota (default: the service). */
        route: z.string().min(1).optional(),
      }).prefault({}),
      /** The green button's SBOM, provenance and licence policy inputs (src/ritual/plan.ts). */
      ritual: ritualSchema.optional(),
      /** Where the checks find the released service, its database and pgBouncer (src/plan/target.ts). */
      target: buildTargetSchema(() => duration()).optional(),
      /** Red-team items a named person confirms (PITR cold start, HSTS subdomains). */
      redTeamGate: buildRedTeamGateSchema(() => duration()).optional(),
    })
    .superRefine((plan, ctx) => {
      const people = new Set(plan.people.map((p) => p.id));
      const dup = (list: string[]) => list.find((v, i) => list.indexOf(v) !== i);
      const dupPerson = dup(plan.people.map((p) => p.id));
      if (dupPerson) ctx.addIssue({ code: 'custom', path: ['people'], message: `person "${dupPerson}" is listed twice` });
      if (!people.has(plan.incidentCommander)) {
        ctx.addIssue({ code: 'custom', path: ['incidentCommander'], message: `"${plan.incidentCommander}" is not in people` });
      }
      plan.gates.go.approvers.forEach((a, i) => {
        if (!people.has(a)) ctx.addIssue({ code: 'custom', path: ['gates', 'go', 'approvers', i], message: `"${a}" is not in people` });
      });
      if (plan.gates.go.quorum > plan.gates.go.approvers.length) {
        ctx.addIssue({ code: 'custom', path: ['gates', 'go', 'quorum'], message: `quorum ${plan.gates.go.quorum} exceeds the ${plan.gates.go.approvers.length} approvers` });
      }
      plan.delegates.forEach((d, i) => {
        if (!people.has(d)) ctx.addIssue({ code: 'custom', path: ['delegates', i], message: `"${d}" is not in people` });
        else if (d === plan.incidentCommander) ctx.addIssue({ code: 'custom', path: ['delegates', i], message: `"${d}" is the incident commander already` });
      });
      plan.gates.go.escalateTo.forEach((p, i) => {
        if (!people.has(p)) ctx.addIssue({ code: 'custom', path: ['gates', 'go', 'escalateTo', i], message: `"${p}" is not in people` });
      });
      for (const key of ['remindEvery', 'escalateAfter'] as const) {
        const ms = plan.gates.go[key];
        if (ms !== undefined && ms >= plan.gates.go.timeout) {
          ctx.addIssue({ code: 'custom', path: ['gates', 'go', key], message: 'must be shorter than the gate timeout (it would never happen)' });
        }
      }
      const order = ['freeze', 'warRoom', 'preflight', 'blastRadius', 'redTeam', 'greenButton', 'goNoGo'] as const;
      order.forEach((key, i) => {
        const prev = order[i - 1];
        if (prev && plan.timeline[key] < plan.timeline[prev]) {
          ctx.addIssue({ code: 'custom', path: ['timeline', key], message: `comes before ${prev}; the timeline must run forward` });
        }
      });
      for (const phase of CHECK_PHASES) {
        plan.checks[phase].forEach((check, i) => {
          const spec = CHECK_CATALOGUE[check];
          if (!spec) {
            ctx.addIssue({ code: 'custom', path: ['checks', phase, i], message: `unknown check "${check}"` });
          } else if (spec.phase !== phase) {
            ctx.addIssue({ code: 'custom', path: ['checks', phase, i], message: `"${check}" belongs to ${spec.phase}, not ${phase}` });
          }
        });
        const again = dup(plan.checks[phase]);
        if (again) ctx.addIssue({ code: 'custom', path: ['checks', phase], message: `check "${again}" is listed twice` });
      }
      for (const { path, message } of ritualProblems(plan.ritual, CHECK_PHASES.flatMap((p) => plan.checks[p]))) ctx.addIssue({ code: 'custom', path, message });
      for (const { path, message } of targetProblems({ ...plan, plannedChecks: CHECK_PHASES.flatMap((p) => plan.checks[p]) })) ctx.addIssue({ code: 'custom', path, message });
      const dupSignal = dup(plan.signals.map((s) => s.id));
      if (dupSignal) ctx.addIssue({ code: 'custom', path: ['signals'], message: `signal "${dupSignal}" is defined twice` });
      const dupTrigger = dup(plan.triggers.map((t) => t.id));
      if (dupTrigger) ctx.addIssue({ code: 'custom', path: ['triggers'], message: `trigger "${dupTrigger}" is defined twice` });
      const queryProblems = (query: string, path: (string | number)[], vars: readonly string[] = QUERY_VARS) =>
        validateTemplate(query, vars).forEach((message) => ctx.addIssue({ code: 'custom', path, message }));
      plan.signals.forEach((s, i) => queryProblems(s.query, ['signals', i, 'query']));
      plan.triggers.forEach((t, i) => queryProblems(t.query, ['triggers', i, 'query']));
      judgmentProblems(plan).forEach(({ path, message }) => ctx.addIssue({ code: 'custom', path, message }));
      plan.signals.forEach((s, i) => {
        if (s.samples) queryProblems(s.samples.query, ['signals', i, 'samples', 'query']);
        const vs = s.versusStable;
        if (vs?.test === 'errors') (['events', 'requests'] as const).forEach((q) => queryProblems(vs[q], ['signals', i, 'versusStable', q]));
        if (vs?.test === 'latency') {
          (['requests', 'sum'] as const).forEach((q) => queryProblems(vs[q], ['signals', i, 'versusStable', q]));
          queryProblems(vs.bucket, ['signals', i, 'versusStable', 'bucket'], [...QUERY_VARS, 'le']);
          vs.buckets.forEach((le, j) => {
            if (j > 0 && !(Number(le) > Number(vs.buckets[j - 1]))) ctx.addIssue({ code: 'custom', path: ['signals', i, 'versusStable', 'buckets', j], message: `${le} does not rise above ${vs.buckets[j - 1]}` });
          });
        }
      });
      plan.triggers.forEach((t, i) => {
        if (t.samples) queryProblems(t.samples.query, ['triggers', i, 'samples', 'query']);
        t.and.forEach((c, j) => { if (c.query) queryProblems(c.query, ['triggers', i, 'and', j, 'query']); });
      });
      plan.signals.forEach((s, i) => {
        if (s.policy.breachesToAct > s.policy.window) {
          ctx.addIssue({ code: 'custom', path: ['signals', i, 'policy', 'breachesToAct'], message: `${s.policy.breachesToAct} breaches cannot fit in a window of ${s.policy.window}` });
        }
        if (s.pass.relativeTo && !plan.checks.preflight.includes('baseline-metrics')) {
          ctx.addIssue({ code: 'custom', path: ['signals', i, 'pass', 'relativeTo'], message: 'a baseline-relative threshold needs the baseline-metrics preflight check' });
        }
      });
      let previous = 0;
      plan.canary.stages.forEach((stage, i) => {
        if (stage.traffic <= previous) {
          ctx.addIssue({ code: 'custom', path: ['canary', 'stages', i, 'traffic'], message: `${stage.traffic}% does not rise above the previous stage's ${previous}%` });
        }
        previous = stage.traffic;
      });
      if (previous !== 100) {
        ctx.addIssue({ code: 'custom', path: ['canary', 'stages'], message: `the last stage must take 100% of traffic (it takes ${previous}%)` });
      }
      const burn = plan.firstNight.burnRate;
      if (!(Number(burn.objective) > 0 && Number(burn.objective) < 100)) {
        ctx.addIssue({ code: 'custom', path: ['firstNight', 'burnRate', 'objective'], message: `${burn.objective} is not a percentage between 0 and 100` });
      }
      validateTemplate(burn.errorRatio, [...QUERY_VARS, 'window']).forEach((message) => ctx.addIssue({ code: 'custom', path: ['firstNight', 'burnRate', 'errorRatio'], message }));
      if (!/\$(\{window\}|window\b)/.test(burn.errorRatio)) {
        ctx.addIssue({ code: 'custom', path: ['firstNight', 'burnRate', 'errorRatio'], message: 'must use $window (each alert evaluates it over its long and short window)' });
      }
      burn.alerts.forEach((a, i) => {
        if (a.short >= a.long) ctx.addIssue({ code: 'custom', path: ['firstNight', 'burnRate', 'alerts', i, 'short'], message: 'the short window must be shorter than the long one' });
        if (!(Number(a.factor) > 0)) ctx.addIssue({ code: 'custom', path: ['firstNight', 'burnRate', 'alerts', i, 'factor'], message: 'must be above 0' });
      });
      let until = 0;
      plan.firstNight.rhythm.forEach((step, i) => {
        if (step.until <= until) ctx.addIssue({ code: 'custom', path: ['firstNight', 'rhythm', i, 'until'], message: 'each step must end later than the one before' });
        if (step.every > step.until - until) ctx.addIssue({ code: 'custom', path: ['firstNight', 'rhythm', i, 'every'], message: 'the interval is longer than its step' });
        until = step.until;
      });
    });
}

type Problem = { path: (string | number)[]; message: string };

/** Cross-field rules of the canary judgment: composite conditions, ratio samples, canary-versus-stable. */
function judgmentProblems(plan: {
  signals: { id: string; scale: string; pass: { comparator: Comparator; value: string; relativeTo?: string }; samples?: { significance?: string }; versusStable?: unknown }[];
  triggers: { scale: string; comparator: Comparator; threshold: string; samples?: { significance?: string }; and: { signal?: string; query?: string }[] }[];
  canary: { versusStable?: unknown };
}): Problem[] {
  const problems: Problem[] = [];
  const signalIds = new Set(plan.signals.map((s) => s.id));
  // A binomial test needs a ratio: the bound, unscaled, must be a fraction of events.
  const fraction = (bound: string, scale: string) => Number(scale) !== 0 && Number(bound) / Number(scale) >= 0 && Number(bound) / Number(scale) < 1;
  plan.signals.forEach((s, i) => {
    if (s.samples?.significance && (s.pass.relativeTo || !fraction(s.pass.value, s.scale) || !s.pass.comparator.startsWith('<'))) {
      problems.push({ path: ['signals', i, 'samples', 'significance'], message: 'needs a fixed upper bound (< or <=) that is a ratio of events (below 1 before scale)' });
    }
    if (s.versusStable && !plan.canary.versusStable) {
      problems.push({ path: ['signals', i, 'versusStable'], message: 'needs canary.versusStable (alpha, minimum, onWorse)' });
    }
  });
  plan.triggers.forEach((t, i) => {
    if (t.samples?.significance && (!fraction(t.threshold, t.scale) || !t.comparator.startsWith('>'))) {
      problems.push({ path: ['triggers', i, 'samples', 'significance'], message: 'needs a lower threshold (> or >=) that is a ratio of events (below 1 before scale)' });
    }
    t.and.forEach((c, j) => {
      if ((c.signal === undefined) === (c.query === undefined)) {
        problems.push({ path: ['triggers', i, 'and', j], message: 'give either signal (reuse a signal\'s query) or query, not both' });
      } else if (c.signal !== undefined && !signalIds.has(c.signal)) {
        problems.push({ path: ['triggers', i, 'and', j, 'signal'], message: `"${c.signal}" is not a signal of this plan` });
      }
    });
  });
  return problems;
}

export type ReleasePlan = z.output<ReturnType<typeof buildSchema>>;
export type SignalSpec = ReleasePlan['signals'][number];
export type TriggerSpec = ReleasePlan['triggers'][number];
export type TriggerCondition = TriggerSpec['and'][number];
export type SamplesSpec = NonNullable<SignalSpec['samples']>;
export type VersusStableSettings = NonNullable<ReleasePlan['canary']['versusStable']>;
export type TrafficShareSpec = NonNullable<ReleasePlan['canary']['trafficShare']>;
export type StageSpec = ReleasePlan['canary']['stages'][number];
export type GateSpec = ReleasePlan['gates']['go'];
export type Person = ReleasePlan['people'][number];

export class PlanError extends Error {
  constructor(readonly problems: string[], source: string) {
    super(`invalid release plan (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PlanError';
  }
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)), '');
}

/** Validates a parsed YAML/JSON document; every problem names its field. */
export function parsePlan(doc: unknown, source = 'plan'): ReleasePlan {
  const scaleResult = z
    .object({ timeScale: z.number().positive().max(1).optional() })
    .safeParse(doc && typeof doc === 'object' && !Array.isArray(doc) ? doc : {});
  if (!scaleResult.success) {
    throw new PlanError([`timeScale: must be a number above 0 and at most 1`], source);
  }
  const result = buildSchema(scaleResult.data.timeScale ?? 1).safeParse(doc);
  if (!result.success) {
    throw new PlanError(
      result.error.issues.map((issue) => `${formatPath(issue.path) || '(top level)'}: ${issue.message}`),
      source,
    );
  }
  return result.data;
}
