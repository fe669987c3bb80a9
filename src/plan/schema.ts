// The release plan: every stage, signal, trigger, gate, window and check of a
// release. Parsing turns durations into milliseconds and applies `timeScale`,
// so a demo or a test compresses the whole run-of-show without touching code.
import { z } from 'zod';
import { CHECK_CATALOGUE, CHECK_PHASES } from './catalogue';
import { parseDuration } from './duration';
import { validateTemplate } from '../adapters/metrics/query';

/** Placeholders a signal or trigger query may use. */
export const QUERY_VARS = ['service', 'version', 'track', 'rate'] as const;

export const PHASES = [
  'freeze', 'war-room', 'preflight', 'blast-radius', 'red-team', 'green-button', 'go-no-go',
  'canary', 'first-night', 'close-out',
] as const;
export type Phase = (typeof PHASES)[number];

export const ACTIONS = ['proceed', 'hold', 'rollback', 'page-human'] as const;
export type Action = (typeof ACTIONS)[number];
export const COMPARATORS = ['<', '<=', '>', '>='] as const;
export type Comparator = (typeof COMPARATORS)[number];

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
  });

  const outcomePolicy = z.strictObject({
    /** Breaches among the last `window` evaluations that make the signal act. */
    breachesToAct: z.number().int().min(1).default(1),
    window: z.number().int().min(1).default(1),
    onBreach: z.enum(ACTIONS).default('rollback'),
    /** Consecutive no-data / query-error evaluations tolerated (stage held meanwhile) before `onMissingData`. */
    missingDataBudget: z.number().int().min(1).default(3),
    onMissingData: z.enum(ACTIONS).default('page-human'),
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
  });

  const stage = z.strictObject({
    traffic: z.number().gt(0).max(100),
    duration: duration(),
  });

  const checkList = z.array(z.string()).default([]);

  const traffic = z.discriminatedUnion('router', [
    z.strictObject({ router: z.literal('local'), adminUrl: z.string().url() }),
    z.strictObject({
      router: z.literal('nginx'), configFile: z.string().min(1), upstream: z.string().min(1),
      stableServer: z.string().min(1), canaryServer: z.string().min(1),
      nginxBinary: z.string().default('nginx'), nginxPrefix: z.string().optional(), nginxConfig: z.string().optional(),
    }),
    z.strictObject({ router: z.literal('command'), command: z.string().min(1), timeoutMs: z.number().int().positive().default(30000) }),
    z.strictObject({ router: z.literal('record-only') }),
  ]);

  const rhythmStep = z.strictObject({ until: duration(), every: duration() });

  return z
    .strictObject({
      apiVersion: z.literal('spark-release/v1'),
      service: id,
      version: z.string().regex(/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'a semantic version such as v1.4.0'),
      commit: z.string().regex(/^[0-9a-f]{7,40}$/, 'a git commit hash').optional(),
      timeScale: z.number().positive().max(1).default(1),
      people: z.array(person).min(1),
      incidentCommander: id,
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
      }),
      firstNight: z.strictObject({
        rhythm: z.array(rhythmStep).min(1),
      }),
      traffic,
      notifications: z.strictObject({
        deploysChannel: z.string().regex(/^#[a-z0-9._-]+$/),
        warRoomChannel: z.string().regex(/^#[a-z0-9._{}-]+$/),
      }),
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
      const dupSignal = dup(plan.signals.map((s) => s.id));
      if (dupSignal) ctx.addIssue({ code: 'custom', path: ['signals'], message: `signal "${dupSignal}" is defined twice` });
      const dupTrigger = dup(plan.triggers.map((t) => t.id));
      if (dupTrigger) ctx.addIssue({ code: 'custom', path: ['triggers'], message: `trigger "${dupTrigger}" is defined twice` });
      const queryProblems = (query: string, path: (string | number)[]) =>
        validateTemplate(query, QUERY_VARS).forEach((message) => ctx.addIssue({ code: 'custom', path, message }));
      plan.signals.forEach((s, i) => queryProblems(s.query, ['signals', i, 'query']));
      plan.triggers.forEach((t, i) => queryProblems(t.query, ['triggers', i, 'query']));
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
      let until = 0;
      plan.firstNight.rhythm.forEach((step, i) => {
        if (step.until <= until) ctx.addIssue({ code: 'custom', path: ['firstNight', 'rhythm', i, 'until'], message: 'each step must end later than the one before' });
        if (step.every > step.until - until) ctx.addIssue({ code: 'custom', path: ['firstNight', 'rhythm', i, 'every'], message: 'the interval is longer than its step' });
        until = step.until;
      });
    });
}

export type ReleasePlan = z.output<ReturnType<typeof buildSchema>>;
export type SignalSpec = ReleasePlan['signals'][number];
export type TriggerSpec = ReleasePlan['triggers'][number];
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
