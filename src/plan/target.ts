// The plan's `target` section: where the checks find the released service (its
// canary and stable URLs, its database, pgBouncer's admin console, its feature
// flags) and the red team's human gate. Secrets stay out of the plan: it names
// the environment variables the worker reads them from. Part of src/plan/schema.ts.
import { z } from 'zod';
import { CHECK_CATALOGUE } from './catalogue';

/** A duration as the plan writes it ("30s"), parsed and scaled by schema.ts. */
type PlanDuration = z.ZodType<number, string>;

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'the name of an environment variable, e.g. SPARK_TARGET_DATABASE_URL');
const url = z.string().url();

export function buildTargetSchema(duration: () => PlanDuration) {
  return z.strictObject({
    /** The canary and stable instances, reached directly (not through the router). */
    canaryUrl: url,
    stableUrl: url,
    /** The flag service's endpoint; it answers { flags: [{ key, default, value }] }. */
    featureFlagsUrl: url,
    /** Environment variable holding the target database's URL (through pgBouncer or direct). */
    databaseUrlEnv: envName,
    /** Environment variable holding pgBouncer's admin console URL (database "pgbouncer"). */
    pgbouncerAdminUrlEnv: envName,
    /** pgBouncer database the application's pool serves; default: the database URL's database name. */
    pgbouncerPool: z.string().min(1).optional(),
    /** The release's Prisma migrations directory, relative to the worker's project root. */
    migrations: z.string().min(1),
    /** host:port of an NTP server the worker's clock is compared with (SNTP). */
    ntpServer: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port, e.g. 127.0.0.1:123').optional(),
    /** The target's Prometheus (rules and alerts API); default: the worker's PROMETHEUS_URL. */
    prometheusUrl: url.optional(),
    /** Grafana dashboard JSON files, relative to the project root: every variable needs a default. */
    dashboards: z.array(z.string().min(1)).default([]),
    /** Origins a page of the service may load from (CSP allowlist), e.g. https://cdn.example.com. */
    thirdParties: z.array(z.string().regex(/^https:\/\/[^/\s]+$/, 'an https origin, e.g. https://cdn.example.com')).default([]),
    /** Micro blast radius (T-9): a bounded probe of the canary's API and WebSocket. */
    blastRadius: z.strictObject({
      duration: duration(),
      requestsPerSecond: z.number().positive().max(100).default(10),
      /** The probe runs at least this many requests (or ticks), however short the duration. */
      minSamples: z.number().int().min(1).default(10),
    }).prefault({ duration: '30s' }),
  });
}

export function buildRedTeamGateSchema(duration: () => PlanDuration) {
  return z.strictObject({
    /** People who may confirm an item; each confirmation names its person. */
    confirmers: z.array(z.string().min(1)).min(1),
    /** Unconfirmed items at the timeout fail their checks (and so the GO checklist). */
    timeout: duration(),
    items: z.array(z.strictObject({
      id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lower-case letters, digits and -'),
      /** The red-team check this item completes: it passes only when a person confirms. */
      check: z.string().min(1),
      text: z.string().trim().min(1),
    })).min(1),
  });
}

export type TargetPlan = z.output<ReturnType<typeof buildTargetSchema>>;
export type RedTeamGatePlan = z.output<ReturnType<typeof buildRedTeamGateSchema>>;

/** Red-team checks a machine cannot finish: each needs an item of the red-team gate. */
export const HUMAN_CHECKS = ['rt-pitr-cold-start', 'cc-hsts-subdomains'];

/** Checks that read the target section (everything of spec sections 2-4 but Prometheus and the ritual). */
export const TARGET_CHECKS = Object.keys(CHECK_CATALOGUE).filter(
  (id) => !['identity-seal', 'prometheus-targets', 'baseline-metrics', 'micro-prom', 'blind-sbom-provenance', 'rt-sbom-attached', 'rt-sbom-licence-drift'].includes(id)
    && CHECK_CATALOGUE[id]!.phase !== 'greenButton',
);

/** Time a blast-radius check needs beyond its probe (connecting, reporting). */
export const PROBE_MARGIN_MS = 5000;

type Problem = { path: (string | number)[]; message: string };

export function targetProblems(plan: {
  target?: TargetPlan;
  redTeamGate?: RedTeamGatePlan;
  people: { id: string }[];
  checks: { redTeam: string[]; blastRadius: string[]; timeout: number };
  plannedChecks: string[];
}): Problem[] {
  const problems: Problem[] = [];
  const needing = plan.plannedChecks.filter((c) => TARGET_CHECKS.includes(c));
  if (!plan.target && needing.length) {
    problems.push({ path: ['target'], message: `the checks ${needing.slice(0, 4).join(', ')}${needing.length > 4 ? ', ...' : ''} need a target section (URLs, database, pgBouncer)` });
  }
  const probe = plan.target?.blastRadius.duration;
  // The probe runs inside one check: it must end, with room to report, before the check's timeout.
  if (probe !== undefined && plan.checks.blastRadius.some((c) => c === 'micro-api' || c === 'micro-ws') && probe + PROBE_MARGIN_MS > plan.checks.timeout) {
    problems.push({ path: ['target', 'blastRadius', 'duration'], message: `${probe / 1000}s does not fit in checks.timeout (${plan.checks.timeout / 1000}s) with ${PROBE_MARGIN_MS / 1000}s to spare: shorten it or raise checks.timeout` });
  }
  const gate = plan.redTeamGate;
  const people = new Set(plan.people.map((p) => p.id));
  gate?.confirmers.forEach((c, i) => {
    if (!people.has(c)) problems.push({ path: ['redTeamGate', 'confirmers', i], message: `"${c}" is not in people` });
  });
  gate?.items.forEach((item, i) => {
    if (!plan.checks.redTeam.includes(item.check)) {
      problems.push({ path: ['redTeamGate', 'items', i, 'check'], message: `"${item.check}" is not a red-team check of this plan (checks.redTeam)` });
    }
  });
  const ids = gate?.items.map((i) => i.id) ?? [];
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) problems.push({ path: ['redTeamGate', 'items'], message: `item "${twice}" is listed twice` });
  for (const check of HUMAN_CHECKS.filter((c) => plan.checks.redTeam.includes(c))) {
    if (!gate?.items.some((i) => i.check === check)) {
      problems.push({ path: ['redTeamGate'], message: `${check} needs a person's confirmation: add an item with check: ${check}` });
    }
  }
  return problems;
}

/** What the checks receive of the plan: the target, and the SLO burn-rate alerts the target must have. */
export interface TargetContext extends TargetPlan {
  burnRate: { objective: string; longWindowsMs: number[] };
}

export function targetContext(plan: {
  target?: TargetPlan;
  firstNight: { burnRate: { objective: string; alerts: { long: number }[] } };
}): TargetContext | undefined {
  if (!plan.target) return undefined;
  const { objective, alerts } = plan.firstNight.burnRate;
  return { ...plan.target, burnRate: { objective, longWindowsMs: alerts.map((a) => a.long) } };
}
