// Canary judgment scenarios: full releases of the demo plan (one plan minute per
// second) against the demo target with realistic background noise (0.1% of
// requests answered 503), each with one fault injected into the canary, and the
// verdict, the time from fault onset to traffic at 0% and its physical floor.
// Everything runs on its own loopback ports (demo target, a Prometheus of its own
// scraping it every second, a worker on its own task queue); the Temporal dev
// server and the evidence PostgreSQL are the shared ones (scripts/services.sh up).
// Scenarios that kill their worker run it as a child process; the one that stops
// PostgreSQL gives that worker a PostgreSQL of its own (.run/bench/scenarios-pg).
//
//   npx tsx bench/scenarios.ts [--only error-spike,healthy-seed-1] [--write docs/benchmarks.md] [--render-only]
//
// Results go to .run/bench/scenarios.json (merged with earlier runs, so scenarios can
// run in batches) and, with --write, to the "Canary judgment scenarios" section of the
// given markdown file (--render-only rewrites it from the stored results without running anything).
// Exit code 0 only when every scenario run had its expected verdict.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime, type ActivityInterceptorsFactory } from '@temporalio/worker';
import { startDemoTarget, type DemoTarget } from '../demo/target';
import type { FaultKind } from '../demo/faults';
import { loadConfig, projectRoot, type LocalConfig } from '../src/config';
import { loadPlanFileWith } from '../src/plan/loader';
import type { ReleasePlan } from '../src/plan/schema';
import { ReleaseClient } from '../src/release-client';
import { createReleaseWorker } from '../src/worker';
import type { ReleaseStatus } from '../src/workflows/messages';
import { mergePlanDocs } from '../src/plan/loader';
import { startOwnPostgres, type OwnPostgres } from '../test/chaos/support/own-postgres';
import { startWorkerProcess, type WorkerEnv, type WorkerProcess } from '../test/chaos/support/worker-process';
import { startWeightRecorder, type WeightRecorder } from '../test/chaos/support/weight-recorder';
import { binomialUpperTail } from '../src/workflows/stats';
import { workflowBundle } from '../test/support/harness';
import { freePort, startOwnPrometheus, type OwnPrometheus } from '../test/support/own-prometheus';

const PLAN_FILE = path.join(projectRoot, 'plans', 'demo.yaml');
const SCRAPE_INTERVAL_MS = 1000;
/** plans/demo.yaml's metrics.rateWindow. */
const RATE_WINDOW_MS = loadPlanFileWith(PLAN_FILE, {}).metrics.rateWindow;
const NOISE = 0.001;
const RPS = 100;
/** Longest a scenario may run before it counts as hung. */
const SCENARIO_LIMIT_MS = 6 * 60_000;
/** Longest wait from the verdict to the end of the workflow (its close-out's last writes). */
const RESULT_LIMIT_MS = 2 * 60_000;
/** How long the first-night scenario keeps the worker's PostgreSQL down. */
const DB_OUTAGE_MS = 30_000;
/** Stage 1 at 5%, as latency-regression's stage 2: enough canary requests for the latency signal within its window. */
const FIVE_PERCENT_PLAN = { canary: { stages: [{ traffic: 5, duration: '3h' }, { traffic: 100, duration: '15m' }] } };
/** Two short stages, so the first night comes soon; then a check every 5 plan minutes (5 s) for a plan hour. */
const FIRST_NIGHT_PLAN = {
  canary: { stages: [{ traffic: 50, duration: '15m' }, { traffic: 100, duration: '15m' }] },
  firstNight: { rhythm: [{ until: '1h', every: '5m' }] },
};

/** Set by a scenario, reset before each: they let it act at an exact moment. */
interface Hooks {
  /** At the start of every activity of the bench's in-process worker. */
  activityStart?: (activityType: string) => void;
  /** Before the weight recorder forwards a PUT /weight; `drop` means the router never sees it. */
  beforeWeight?: (percent: number) => 'forward' | 'drop';
}

/** Where a release's worker runs: the bench's own process, or a child process a scenario may kill. */
type WorkerKind = 'bench' | 'process' | 'process-own-postgres';

/** A worker kill and the restart that followed (wall-clock ms). */
interface WorkerKill {
  killedAt: number;
  /** The new worker polls its task queue: a healthy worker is available. */
  readyAt: number;
}

/** A release worker as a child process: killed with SIGKILL and restarted at once. */
interface ProcessWorker {
  /** Starts a standby (not polling) unless one waits: before a scenario, so it costs no CPU during one. */
  prepare(): Promise<void>;
  /** Kills now (synchronously) and has the standby take over; resolves once it polls. */
  killAndRestart(): Promise<WorkerKill>;
  close(): Promise<void>;
}

/** One task queue with its worker: the client that starts releases on it and where its evidence goes. */
interface Lane {
  client: ReleaseClient;
  evidenceDir: string;
  worker?: ProcessWorker;
  /** The lane's own PostgreSQL (process-own-postgres). */
  postgres?: OwnPostgres;
  close(): Promise<void>;
}

interface Env {
  target: DemoTarget;
  prometheus: OwnPrometheus;
  recorder: WeightRecorder;
  hooks: Hooks;
  lane: Lane;
  release: string;
}

interface Injection {
  /** Wall-clock ms of the fault's onset (for a creep: when it first exceeds the signal's bound). */
  onset: number;
  /** Runs while the release goes on (e.g. toggling, restoring Prometheus); resolved when done. */
  done?: Promise<void>;
  /** Worker kills the scenario caused, each resolved once the new worker polls. */
  kills?: Promise<WorkerKill>[];
  /** What the bench saw of the fault (e.g. whether an evaluation was in flight), given when the router took 0%. */
  note?: (zeroAt: number | undefined) => string | undefined;
}

interface Scenario {
  name: string;
  what: string;
  expected: 'released' | 'rolled-back';
  /** 1-based canary stage at whose start the fault is injected; none for healthy runs. */
  stage?: number;
  /** Inject once the first night runs (the new version at 100%) instead of at a stage. */
  firstNight?: boolean;
  /** Plan changes of this scenario, over the bench's. */
  plan?: Record<string, unknown>;
  /** Default: the bench's in-process worker. */
  worker?: WorkerKind;
  /** A fault of the pipeline itself (Prometheus, PostgreSQL, the worker), reported in its own section. */
  pipeline?: boolean;
  seed?: number;
  inject?: (env: Env, status: () => ReleaseStatus) => Promise<Injection>;
  /** The fault must be held, not rolled back: the weight may not move while it lasts. */
  holdsWeight?: boolean;
  /** Share of canary requests the fault fails, for the sampling part of a ratio signal's floor. */
  errorShare?: number;
}

const fault = (kind: FaultKind, intensity?: number) => async (env: Env): Promise<Injection> => {
  await env.target.setFault('canary', { kind, ...(intensity === undefined ? {} : { intensity }) });
  return { onset: Date.now() };
};

/** Waits until the status shows the release paged (a human is asked), then `ms` more. */
async function pagedThen(status: () => ReleaseStatus, ms: number): Promise<void> {
  for (let i = 0; i < 600 && !status().paged; i++) await sleep(100);
  await sleep(ms);
}

const SCENARIOS: Scenario[] = [
  ...[1, 2, 3].map((seed): Scenario => ({
    name: `healthy-seed-${seed}`, what: `healthy canary, load seed ${seed}, 0.1% background 5xx`, expected: 'released', seed,
  })),
  { name: 'latency-regression', what: '+500 ms on every canary request, from stage 2 (5%)', expected: 'rolled-back', stage: 2, inject: fault('latency', 500) },
  { name: 'error-spike', what: '20% of canary requests answer 503, from stage 3 (25%)', expected: 'rolled-back', stage: 3, errorShare: 0.2, inject: fault('error-rate', 0.2) },
  { name: 'error-spike-1pct', what: '20% of canary requests answer 503, from stage 1 (1%: ~10 requests per window)', expected: 'rolled-back', stage: 1, errorShare: 0.2, inject: fault('error-rate', 0.2) },
  {
    name: 'slow-error-creep', what: 'canary 5xx creeping 0.2% -> 0.5% -> 1% -> 3% -> 6% -> 12%, 4 s a step, from stage 3 (25%); onset = first step above the 1% bound',
    expected: 'rolled-back', stage: 3, errorShare: 0.03,
    inject: async (env) => {
      let onset = 0;
      const steps = [0.002, 0.005, 0.01, 0.03, 0.06, 0.12];
      const done = (async () => {
        for (const rate of steps) {
          await env.target.setFault('canary', { kind: 'error-rate', intensity: rate }).catch(() => undefined);
          if (rate > 0.01 && onset === 0) onset = Date.now();
          await sleep(4000);
        }
      })();
      // The onset is known once the creep crosses the bound (third step).
      while (onset === 0) await sleep(50);
      return { onset, done };
    },
  },
  { name: 'event-loop-block', what: '200 ms busy-loop blocks on the canary, from stage 2', expected: 'rolled-back', stage: 2, inject: fault('event-loop-block', 200) },
  { name: 'gc-pressure', what: '300k live objects churned with 4 forced full GCs a second, from stage 2', expected: 'rolled-back', stage: 2, inject: fault('gc-pressure', 300) },
  { name: 'memory-leak', what: 'canary retains 8 MiB/s, from stage 2', expected: 'rolled-back', stage: 2, inject: fault('memory-leak', 8) },
  {
    name: 'missing-metrics', what: 'canary application metrics vanish at stage 2 for ~10 s after the page, then return',
    expected: 'released', stage: 2, holdsWeight: true,
    inject: async (env, status) => {
      await env.target.setFault('canary', { kind: 'missing-metrics' });
      const onset = Date.now();
      const done = pagedThen(status, 10_000).then(() => env.target.clearFault('canary')).then(() => undefined);
      return { onset, done };
    },
  },
  {
    name: 'flapping-metric', what: 'canary 5xx at 50% for 1 s in every 5 s (intermittent), from stage 3',
    expected: 'rolled-back', stage: 3, errorShare: 0.5,
    inject: async (env) => {
      const onset = Date.now();
      const done = (async () => {
        for (let i = 0; i < 12; i++) {
          await env.target.setFault('canary', { kind: 'error-rate', intensity: 0.5 }).catch(() => undefined);
          await sleep(1000);
          await env.target.clearFault('canary').catch(() => undefined);
          await sleep(4000);
        }
      })();
      return { onset, done };
    },
  },
  {
    name: 'prometheus-outage', what: 'the Prometheus the worker reads stops at stage 2, restarts ~10 s after the page',
    expected: 'released', stage: 2, holdsWeight: true,
    inject: async (env, status) => {
      await env.prometheus.stop();
      const onset = Date.now();
      const done = pagedThen(status, 10_000).then(() => env.prometheus.start());
      return { onset, done };
    },
  },
  {
    name: 'prometheus-frozen-at-rollback', what: '+500 ms on every canary request from stage 1 (5%); the Prometheus the worker reads is frozen (SIGSTOP) as the rollback activity starts, until the release ends',
    pipeline: true, expected: 'rolled-back', stage: 1, plan: FIVE_PERCENT_PLAN,
    inject: async (env, status) => {
      await env.target.setFault('canary', { kind: 'latency', intensity: 500 });
      const onset = Date.now();
      let frozenAt: number | undefined;
      env.hooks.activityStart = (type) => {
        if (type !== 'rollbackTraffic' || frozenAt !== undefined) return;
        frozenAt = Date.now();
        env.prometheus.freeze();
      };
      const done = (async () => {
        while (status().verdict === 'running') await sleep(100);
        env.prometheus.thaw();
      })();
      const note = (zeroAt: number | undefined) => (frozenAt === undefined ? 'Prometheus was never frozen: no rollback started'
        : `Prometheus frozen ${seconds(frozenAt - onset)} after the onset (as rollbackTraffic started), until the verdict; the router took 0% ${seconds(zeroAt === undefined ? undefined : zeroAt - frozenAt)} after the freeze`);
      return { onset, done, note };
    },
  },
  {
    name: 'first-night-db-outage', what: "first night (new version at 100%): 20% of requests answer 503 and the worker's PostgreSQL is down for 30 s, both from the same moment",
    pipeline: true, expected: 'rolled-back', firstNight: true, worker: 'process-own-postgres', errorShare: 0.2, plan: FIRST_NIGHT_PLAN,
    inject: async (env) => {
      await env.target.setFault('canary', { kind: 'error-rate', intensity: 0.2 });
      const onset = Date.now();
      env.lane.postgres!.stop();
      const done = sleep(DB_OUTAGE_MS - (Date.now() - onset)).then(() => env.lane.postgres!.start());
      return { onset, done };
    },
  },
  {
    name: 'worker-killed-at-rollback', what: '+500 ms on every canary request from stage 1 (5%); the worker (a child process) is killed (SIGKILL) as its rollback calls the router, and the call never lands; a standby worker starts polling at once',
    pipeline: true, expected: 'rolled-back', stage: 1, worker: 'process', plan: FIVE_PERCENT_PLAN,
    inject: async (env) => {
      await env.target.setFault('canary', { kind: 'latency', intensity: 500 });
      const onset = Date.now();
      const kills: Promise<WorkerKill>[] = [];
      env.hooks.beforeWeight = (percent) => {
        if (percent !== 0 || kills.length > 0) return 'forward';
        kills.push(env.lane.worker!.killAndRestart());
        return 'drop';
      };
      return { onset, kills };
    },
  },
  {
    name: 'worker-killed-after-rollback-request', what: 'healthy canary at stage 1 (5%); the incident commander rolls back while an evaluation runs, and the worker (a child process) is killed as soon as the rollback is accepted; a standby worker starts polling at once',
    pipeline: true, expected: 'rolled-back', stage: 1, worker: 'process', plan: FIVE_PERCENT_PLAN,
    inject: async (env) => {
      const handle = env.lane.client.client.workflow.getHandle(env.release);
      const evaluating = async () => ((await handle.describe()).raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'evaluate');
      while (!(await evaluating())) await sleep(20);
      await env.lane.client.canaryControl('rollback', { release: env.release, by: 'bora', reason: 'bench: roll back now' });
      const onset = Date.now();
      const kills = [env.lane.worker!.killAndRestart()];
      const inFlight = await evaluating();
      return { onset, kills, note: () => (inFlight ? 'an evaluation was in flight when the worker was killed' : 'the evaluation had returned before the kill') };
    },
  },
];

export interface ScenarioResult {
  name: string;
  what: string;
  expected: string;
  verdict: string;
  ok: boolean;
  cause?: string;
  reason?: string;
  /** Fault onset to the router answering 0% (ms). */
  toZeroMs?: number;
  floorMs?: number;
  floorWhy?: string;
  /** Onset to the first page (ms), when one was sent. */
  toPageMs?: number;
  /** Longest time between two evaluations while the fault lasted (the plan says 1 s; more is a busy machine). */
  slowestCycleMs?: number;
  /** Weights the router took while the fault lasted, until restored (for held scenarios). */
  weightsDuringFault?: number[];
  /** After a worker kill: from the new worker polling its task queue to the router answering 0% (ms). */
  readyToZeroMs?: number;
  /** From the kill to the new worker polling (ms). */
  killToReadyMs?: number;
  /** The canary weight the router answered last. */
  finalWeight?: number;
  note?: string;
  stagesPassed: number;
  canaryMs?: number;
  at: string;
}

/**
 * Time until a ratio signal's window can hold a significant excess: the fewest
 * failures k the binomial test calls significant among the window's requests,
 * arriving at canaryRps x errorShare a second. Zero when no test applies.
 */
export function samplingMs(plan: ReleasePlan, signalId: string, canaryRps: number, errorShare: number): number {
  const signal = plan.signals.find((s) => s.id === signalId);
  const level = signal?.samples?.significance;
  if (!signal || !level || errorShare <= 0) return 0;
  const n = Math.round(canaryRps * (plan.metrics.rateWindow / 1000));
  const p0 = Number(signal.pass.value) / Number(signal.scale);
  let k = 1;
  while (k <= n && binomialUpperTail(k, n, p0) >= Number(level)) k++;
  return (k / (canaryRps * errorShare)) * 1000;
}

/** When each canary evaluation and first-night check ran (ms), from the measurement evidence (logs_stage_<pct>.txt, hourly_log_<hh>.txt). */
function evaluationTimes(evidenceDir: string, release: string): number[] {
  const dir = path.join(evidenceDir, release);
  if (!fs.existsSync(dir)) return [];
  const lines = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean);
  const files = fs.readdirSync(dir);
  return [
    ...files.filter((f) => /^logs_stage_\d+\.txt$/.test(f)).flatMap(lines).map((line) => Date.parse((JSON.parse(line) as { at: string }).at)),
    // A first-night line starts with the check's time.
    ...files.filter((f) => /^hourly_log_\d+\.txt$/.test(f)).flatMap(lines).map((line) => Date.parse(line.slice(0, line.indexOf(' ')))),
  ].filter((t) => !Number.isNaN(t)).sort((a, b) => a - b);
}

/** What the floor of a rollback needs to know about the stage it happened in. */
export interface FloorContext {
  /** Requests per second the canary took in that stage. */
  canaryRps: number;
  /** Share of canary requests the fault failed (ratio signals only). */
  errorShare?: number;
  /** From the fault onset to the end of the stage's planned duration (ms): a hold only starts there. */
  untilStageEndMs: number;
  /** In the first night: the interval of its checks (ms), which take the place of evaluations; a breach acts at once. */
  firstNightCheckMs?: number;
}

/**
 * The physical floor of a rollback: one scrape, one evaluation, and the window of
 * its cause (a trigger's `for`, the further evaluations of a k-of-n signal), plus the
 * time a ratio's window needs to hold a significant count of failures. A cause whose
 * action is hold rolls back only after the stage's end and the bad-trend hold.
 */
export function rollbackFloor(plan: ReleasePlan, cause: string, ctx: FloorContext): { ms: number; why: string } {
  const evalMs = ctx.firstNightCheckMs ?? plan.canary.evaluationInterval;
  const evaluation = ctx.firstNightCheckMs ? 'first-night check' : 'evaluation';
  // A person's rollback needs no data: the stage loop takes it once the evaluation in flight returns.
  if (cause === 'manual') return { ms: evalMs, why: `the ${evaluation} in flight, at most one interval ${(evalMs / 1000).toFixed(1)}s (${cause})` };
  const parts: [string, number][] = [['scrape', SCRAPE_INTERVAL_MS], [evaluation, evalMs]];
  const signalId = cause.replace(/:versus-stable$/, '');
  const sampling = ctx.errorShare ? samplingMs(plan, signalId, ctx.canaryRps, ctx.errorShare) : 0;
  if (sampling) parts.push([`a significant count of failures at ${ctx.canaryRps} canary rps`, sampling]);
  const trigger = plan.triggers.find((t) => t.id === cause);
  const signal = plan.signals.find((s) => s.id === signalId);
  let holds = true;
  if (trigger) {
    holds = trigger.action === 'hold';
    if (trigger.for > 0) parts.push([`trigger window`, trigger.for]);
  } else if (signal && signalId === cause) {
    holds = signal.policy.onBreach === 'hold';
    if (signal.policy.breachesToAct > 1) parts.push([`${signal.policy.breachesToAct - 1} more ${evaluation}(s) for ${signal.policy.breachesToAct} breaches in ${signal.policy.window}`, (signal.policy.breachesToAct - 1) * evalMs]);
  }
  if (ctx.firstNightCheckMs) holds = false; // the first night has no stage to hold: onBreach applies
  let ms = parts.reduce((sum, [, v]) => sum + v, 0);
  if (holds) {
    if (ctx.untilStageEndMs > ms) parts.push([`until the stage's end`, ctx.untilStageEndMs - ms]);
    parts.push(['bad-trend hold', plan.canary.badTrendHold]);
    ms = Math.max(ms, ctx.untilStageEndMs) + plan.canary.badTrendHold;
  }
  return { ms, why: `${parts.map(([what, v]) => `${what} ${(v / 1000).toFixed(1)}s`).join(' + ')} (${cause})` };
}

/**
 * Makes the canary's 503 series exist before the canary takes traffic, as they do on a
 * long-running instance: Prometheus' rate() cannot see the first increment of a new
 * series, so a fresh canary's first few failures per route would otherwise be invisible.
 */
async function primeErrorSeries(target: DemoTarget): Promise<void> {
  await target.setFault('canary', { kind: 'error-rate', intensity: 1 });
  for (let i = 0; i < 2; i++) {
    await fetch(`${target.urls.canary}/api/quote?symbol=THYAO`).then((r) => r.arrayBuffer());
    await fetch(`${target.urls.canary}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `bench-prime-${Date.now()}-${i}` },
      body: JSON.stringify({ symbol: 'THYAO', side: 'buy', quantity: 1, price: '10.00' }),
    }).then((r) => r.arrayBuffer());
  }
  await target.clearFault('canary');
  // Let the primed failures leave every rate window before the canary is judged.
  await sleep(RATE_WINDOW_MS + 2 * SCRAPE_INTERVAL_MS);
}

async function runScenario(s: Scenario, lane: Lane, prometheus: OwnPrometheus, hooks: Hooks, ports: { router: number; stable: number; canary: number; routerAdmin: number }): Promise<ScenarioResult> {
  const target = await startDemoTarget({ ports, baselineErrorRate: NOISE, load: { rps: RPS, seed: s.seed ?? 7 } });
  await primeErrorSeries(target);
  const recorder = await startWeightRecorder(`http://127.0.0.1:${ports.routerAdmin}`, { beforeForward: (pct) => hooks.beforeWeight?.(pct) ?? 'forward' });
  const stamp = `${Date.now()}`;
  const plan = loadPlanFileWith(PLAN_FILE, mergePlanDocs({
    version: `v1.4.0-bench.${stamp}`,
    // Straight to the checks and the canary; one first-night check.
    timeline: { freeze: '0m', warRoom: '0m', preflight: '0m', blastRadius: '0m', redTeam: '0m', greenButton: '0m', goNoGo: '0m' },
    firstNight: { rhythm: [{ until: '1m', every: '1m' }] },
    traffic: { router: 'local', adminUrl: recorder.url },
    target: { canaryUrl: target.urls.canary, stableUrl: target.urls.stable, featureFlagsUrl: `${target.urls.canary}/api/flags` },
  }, s.plan ?? {}) as Record<string, unknown>);
  const { client } = lane;
  let status: ReleaseStatus | undefined;
  let injection: Injection | undefined;
  let restoredAt: number | undefined;
  let pagedAt: number | undefined;
  let canaryStart: number | undefined;
  try {
    const { release } = await client.start(plan, 'deniz');
    const env: Env = { target, prometheus, recorder, hooks, lane, release };
    const deadline = Date.now() + SCENARIO_LIMIT_MS;
    let approved = false;
    for (;;) {
      status = await client.status(release).catch(() => status);
      if (status) {
        if (!approved && status.gates.go.state === 'open') {
          approved = true;
          await client.decide({ release, gate: 'go', decision: 'go', approver: 'bora', reason: 'bench: go', override: true });
        }
        if (status.stage && canaryStart === undefined) canaryStart = Date.now();
        // Inject once the router carries the stage's traffic (or the first night runs), so the onset is inside it.
        const due = s.firstNight
          ? status.phase === 'first-night'
          : status.stage && status.stage.index + 1 >= (s.stage ?? 1) && status.canaryWeight === status.stage.traffic;
        if (s.inject && !injection && due) {
          injection = await s.inject(env, () => status!);
          void injection.done?.then(() => { restoredAt = Date.now(); });
          console.log(`  ${s.name}: fault injected ${s.firstNight ? 'in the first night' : `at stage ${status.stage!.index + 1} (${status.stage!.traffic}%)`}`);
        }
        if (injection && status.paged && pagedAt === undefined) pagedAt = Date.now();
        if (status.verdict !== 'running') break;
      }
      if (Date.now() > deadline) throw new Error(`${s.name}: no verdict within ${SCENARIO_LIMIT_MS / 1000}s (phase ${status?.phase})`);
      await sleep(100);
    }
    await injection?.done;
    const kills = await Promise.all(injection?.kills ?? []);
    // The verdict is set before the close-out's last writes: the worker must stay until the workflow has ended.
    const ended = await Promise.race([client.result(release).then(() => true, () => true), sleep(RESULT_LIMIT_MS, false)]);
    if (!ended) throw new Error(`${s.name}: verdict ${status!.verdict}, but the workflow had not ended ${RESULT_LIMIT_MS / 1000}s later`);
    const zero = injection ? recorder.history.find((c) => c.current === 0 && c.at >= injection!.onset) : undefined;
    // Weight changes while a held fault lasted (until it was restored): none is the expected answer.
    const faultEnd = restoredAt ?? zero?.at ?? Date.now();
    const during = injection ? recorder.history.filter((c) => c.at >= injection!.onset && c.at <= faultEnd).map((c) => c.current) : [];
    const cause = status!.rollback?.cause;
    const stageIndex = (status!.rollback?.stage ?? 1) - 1;
    const share = s.firstNight ? 100 : plan.canary.stages[stageIndex]?.traffic ?? 0;
    const stageEnd = Date.parse(status!.stages[stageIndex]?.startedAt ?? '') + (plan.canary.stages[stageIndex]?.duration ?? 0);
    const floor = cause && injection ? rollbackFloor(plan, cause, {
      canaryRps: (RPS * share) / 100, errorShare: s.errorShare, untilStageEndMs: s.firstNight ? 0 : Math.max(0, stageEnd - injection.onset),
      ...(s.firstNight ? { firstNightCheckMs: plan.firstNight.rhythm[0]!.every } : {}),
    }) : undefined;
    const verdict = status!.verdict;
    const held = s.holdsWeight ? pagedAt !== undefined && during.length === 0 : true;
    const cycles = injection ? evaluationTimes(lane.evidenceDir, status!.release).filter((t) => t >= injection!.onset && t <= (zero?.at ?? faultEnd)) : [];
    const slowestCycleMs = cycles.slice(1).reduce((max, t, i) => Math.max(max, t - cycles[i]!), 0) || undefined;
    const kill = kills.at(-1);
    const finalWeight = recorder.history.at(-1)?.current;
    // A rollback must leave the canary at 0%, whatever the verdict says.
    const zeroAtEnd = s.expected !== 'rolled-back' || finalWeight === 0;
    return {
      name: s.name, what: s.what, expected: s.expected, verdict, ok: verdict === s.expected && held && zeroAtEnd,
      cause, reason: status!.rollback?.reason,
      toZeroMs: zero && injection ? zero.at - injection.onset : undefined,
      floorMs: floor?.ms, floorWhy: floor?.why,
      toPageMs: pagedAt && injection ? pagedAt - injection.onset : undefined,
      slowestCycleMs,
      weightsDuringFault: s.holdsWeight ? during : undefined,
      readyToZeroMs: kill && zero ? zero.at - kill.readyAt : undefined,
      killToReadyMs: kill ? kill.readyAt - kill.killedAt : undefined,
      finalWeight,
      note: [injection?.note?.(zero?.at), kill && zero && zero.at < kill.killedAt ? 'the router took 0% before the kill: the kill came too late to test recovery' : undefined].filter(Boolean).join('; ') || undefined,
      stagesPassed: status!.stages.filter((st) => st.state === 'passed').length,
      canaryMs: canaryStart ? Date.now() - canaryStart : undefined,
      at: new Date().toISOString(),
    };
  } finally {
    hooks.activityStart = undefined;
    hooks.beforeWeight = undefined;
    await target.stop();
    await recorder.close();
  }
}
function seconds(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

const JUDGMENT_HEADING = '## Canary judgment scenarios';
const PIPELINE_HEADING = '## Rollback under pipeline faults (issue 14)';

function ratioOf(r: ScenarioResult): string {
  return r.toZeroMs !== undefined && r.floorMs ? (r.toZeroMs / r.floorMs).toFixed(2) : '-';
}

function verdictOf(r: ScenarioResult): string {
  return `${r.ok ? '' : '**'}${r.verdict}${r.ok ? '' : '** (unexpected)'}`;
}

function runDates(results: ScenarioResult[]): string {
  const days = [...new Set(results.map((r) => r.at.slice(0, 10)))].sort();
  return days.length === 0 ? '-' : days.length === 1 ? days[0]! : `${days[0]} to ${days.at(-1)}`;
}

export function renderSection(results: ScenarioResult[], command: string): string {
  const lines = [
    JUDGMENT_HEADING,
    '',
    `Produced by \`${command}\` (run ${runDates(results)}, on a 2-core machine shared with other work;`,
    'scenarios may run in batches with `--only`, their results merge).',
    `Each row is one full release of \`plans/demo.yaml\` (one plan minute per second: evaluation every 1 s, stages of 15 s,`,
    `bad-trend hold 15 s, human wait limit 30 s) against the demo target at ${RPS} rps with ${NOISE * 100}% background 5xx on both tracks,`,
    'scraped every second by a Prometheus of its own. "To 0%" runs from the fault onset to the router answering 0%;',
    'the floor is one scrape interval + one evaluation interval + the window of the cause (a trigger\'s `for`, the',
    'further evaluations of a k-of-n signal) and, for a ratio signal, the expected time for its window to gather the',
    'fewest failures the binomial test calls significant at the stage\'s traffic (k / (canary rps x failing share):',
    'an expectation, so a lucky run beats it); a cause that holds rolls back only after the stage\'s end and the',
    'bad-trend hold (spec: a bad trend holds, then is re-evaluated). Ratio = to 0% / floor. "Slowest eval',
    'cycle" is the longest gap between two evaluations while the fault lasted: the plan asks for 1 s; more means the',
    'machine (2 cores, shared with other test runs) delayed the worker, Prometheus or the Temporal server. Before each',
    'release the bench makes the canary\'s 503 series exist, as on a long-running instance (rate() cannot see the first',
    'increment of a series that appears), and waits out a rate window.',
    '',
    '| scenario | fault | expected | verdict | cause | to 0% | floor | ratio | slowest eval cycle | paged after | weights while held |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(`| ${r.name} | ${r.what} | ${r.expected} | ${verdictOf(r)} | ${r.cause ?? '-'} | ${seconds(r.toZeroMs)} | ${seconds(r.floorMs)} | ${ratioOf(r)} | ${seconds(r.slowestCycleMs)} | ${seconds(r.toPageMs)} | ${r.weightsDuringFault ? (r.weightsDuringFault.length ? r.weightsDuringFault.join(', ') : 'unchanged') : '-'} |`);
  }
  const floors = results.filter((r) => r.floorWhy).map((r) => `- ${r.name}: ${r.floorWhy}`);
  if (floors.length) lines.push('', 'Floors:', '', ...floors);
  return lines.join('\n') + '\n';
}

export function renderPipelineSection(results: ScenarioResult[], command: string): string {
  const lines = [
    PIPELINE_HEADING,
    '',
    `Produced by \`${command}\` (run ${runDates(results)}, on a 2-core machine shared with other work), with the`,
    'same demo target, noise, own Prometheus and floors as the canary judgment scenarios above. Each row is one release',
    'whose fault is in the pipeline itself, with one canary fault to roll back for:',
    '',
    '- `prometheus-frozen-at-rollback`: SIGSTOP to the bench\'s Prometheus from an activity interceptor of the worker the',
    '  moment `rollbackTraffic` starts (the port still accepts connections; nothing answers), SIGCONT once the release',
    '  has ended. Target: to 0% within 1.5x of the floor, because traffic moves first.',
    '- `worker-killed-*`: the worker is a child process on a task queue of its own; it is killed (SIGKILL) and a warm',
    '  standby (built and connected, not polling) starts polling at once, so a healthy worker is available from the',
    '  kill on. Killed at the rollback\'s router call (the weight recorder drops that request: the router never sees it),',
    '  or as soon as the incident commander\'s rollback was accepted while an evaluation was in flight. "Worker back to',
    '  0%" runs from the standby polling to the router answering 0%. Target: <= 10 s.',
    '- `first-night-db-outage`: two short stages (50%, 100%), then a first-night check every 5 s; the worker (a child',
    '  process) has a PostgreSQL of its own, stopped (`pg_ctl stop -m fast`) for 30 s from the onset of a 20% 503',
    '  breach. Target: never failed with the new version at 100%; rolled back, the router at 0% at the end.',
    '',
    'Stage 1 lasts 3 plan hours (3 min) since the demo plan\'s longer stage 1; every fault here starts in the stage it names.',
    'What these numbers were before the heartbeats, the 3 s sticky queue timeout and the ledger-independent',
    'evaluation: docs/reliability.md, "Fast recovery" and "No fault ends with a bad version serving".',
    '',
    '| scenario | fault | expected | verdict | cause | to 0% | floor | ratio | worker back to 0% | router at the end | slowest eval cycle |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const back = r.readyToZeroMs === undefined ? '-' : `${seconds(r.readyToZeroMs)} (standby polling ${seconds(r.killToReadyMs)} after the kill)`;
    lines.push(`| ${r.name} | ${r.what} | ${r.expected} | ${verdictOf(r)} | ${r.cause ?? '-'} | ${seconds(r.toZeroMs)} | ${seconds(r.floorMs)} | ${ratioOf(r)} | ${back} | ${r.finalWeight === undefined ? '-' : `${r.finalWeight}%`} | ${seconds(r.slowestCycleMs)} |`);
  }
  const floors = results.filter((r) => r.floorWhy).map((r) => `- ${r.name}: ${r.floorWhy}`);
  if (floors.length) lines.push('', 'Floors:', '', ...floors);
  const notes = results.filter((r) => r.note).map((r) => `- ${r.name}: ${r.note}`);
  if (notes.length) lines.push('', 'Notes:', '', ...notes);
  return lines.join('\n') + '\n';
}

/**
 * Writes each section whose scenarios have results (a section with none is left as it is),
 * the judgment scenarios' and then the pipeline faults'.
 */
function writeSections(file: string, results: ScenarioResult[], command: string): void {
  const pipeline = new Set(SCENARIOS.filter((s) => s.pipeline).map((s) => s.name));
  const judged = results.filter((r) => !pipeline.has(r.name));
  const faults = results.filter((r) => pipeline.has(r.name));
  if (judged.length) writeSection(file, JUDGMENT_HEADING, renderSection(judged, command), null);
  const only = `npx tsx bench/scenarios.ts --only ${[...pipeline].join(',')} --write ${path.relative(projectRoot, path.resolve(file))}`;
  if (faults.length) writeSection(file, PIPELINE_HEADING, renderPipelineSection(faults, only), JUDGMENT_HEADING);
}

/** Starts the worker of one kind on a task queue of its own, and a client for it. */
async function startLane(kind: WorkerKind, deps: { config: LocalConfig; prometheusUrl: string; hooks: Hooks }): Promise<Lane> {
  const { config, hooks } = deps;
  const taskQueue = `bench-scenarios-${kind}-${process.pid}`;
  const dir = path.join(config.runDir, 'bench', `scenarios-${kind}`);
  if (kind === 'bench') {
    // The interceptor lets a scenario act at the exact start of an activity (freeze Prometheus as the rollback starts).
    const atStart: ActivityInterceptorsFactory = (ctx) => ({
      inbound: { execute: (input, next) => { hooks.activityStart?.(ctx.info.activityType); return next(input); } },
    });
    const worker = await createReleaseWorker({
      config: { ...config, prometheusUrl: deps.prometheusUrl }, taskQueue, workflowBundle: await workflowBundle(), metricsPort: null,
      interceptors: { activity: [atStart] },
    });
    const running = worker.run();
    const client = await ReleaseClient.connect(taskQueue);
    return {
      client, evidenceDir: config.evidenceDir,
      async close() {
        await client.close();
        worker.shutdown();
        await running;
      },
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const postgres = kind === 'process-own-postgres' ? await startOwnPostgres(path.join(dir, 'pg')) : undefined;
  const bundle = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(bundle, (await workflowBundle()).code);
  const env: WorkerEnv = {
    TEMPORAL_ADDRESS: config.temporalAddress,
    DATABASE_URL: postgres?.url ?? config.databaseUrl,
    PROMETHEUS_URL: deps.prometheusUrl,
    SPARK_TASK_QUEUE: taskQueue,
    SPARK_EVIDENCE_DIR: path.join(dir, 'evidence'),
    CHAOS_WORKFLOW_BUNDLE: bundle,
  };
  let started = 0;
  const spawnWorker = (standby: boolean) => startWorkerProcess(env, path.join(dir, 'logs', `worker-${++started}.log`), { standby });
  let current: WorkerProcess = await spawnWorker(false);
  // A warm standby (built, connected, not polling): "a healthy worker is available" is the moment of the kill,
  // not whenever a cold start on this shared machine finishes (6-12 s seen).
  let standby: WorkerProcess | null = null;
  const worker: ProcessWorker = {
    async prepare() {
      standby ??= await spawnWorker(true);
    },
    async killAndRestart() {
      const next = standby;
      if (!next) throw new Error('no standby worker: prepare() first');
      const killedAt = Date.now();
      process.kill(current.pid, 'SIGKILL'); // before any await: the caller's moment is the kill's moment
      standby = null;
      await next.activate();
      current = next;
      return { killedAt, readyAt: Date.now() };
    },
    close: async () => {
      await current.stop();
      await standby?.stop();
    },
  };
  const client = await ReleaseClient.connect(taskQueue);
  return {
    client, evidenceDir: env.SPARK_EVIDENCE_DIR, worker, postgres,
    async close() {
      await client.close();
      await worker.close();
      try {
        postgres?.stop();
      } catch {
        // already stopped
      }
    },
  };
}

/** Replaces the section under `heading` in a markdown file, leaving the rest alone; a new one goes after the section `after` (or at the end). */
function writeSection(file: string, heading: string, section: string, after: string | null): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const endOf = (start: number) => {
    const next = text.indexOf('\n## ', start + 1);
    return next < 0 ? text.length : next + 1;
  };
  const start = text.indexOf(`${heading}\n`);
  if (start >= 0) return fs.writeFileSync(file, `${text.slice(0, start)}${section}${text.slice(endOf(start))}`);
  const anchor = after === null ? -1 : text.indexOf(`${after}\n`);
  if (anchor < 0) return fs.writeFileSync(file, `${text.trimEnd()}\n\n${section}`);
  const at = endOf(anchor);
  fs.writeFileSync(file, `${text.slice(0, at).trimEnd()}\n\n${section}\n${text.slice(at)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, write: { type: 'string' }, 'render-only': { type: 'boolean' } } });
  const only = values.only?.split(',').map((n) => n.trim());
  const unknown = only?.filter((n) => !SCENARIOS.some((s) => s.name === n)) ?? [];
  if (unknown.length) throw new Error(`--only: unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const chosen = SCENARIOS.filter((s) => !only || only.includes(s.name));
  const config = loadConfig();
  const resultsFile = path.join(config.runDir, 'bench', 'scenarios.json');
  const command = 'npx tsx bench/scenarios.ts --write docs/benchmarks.md';
  if (values['render-only']) {
    if (!values.write) throw new Error('--render-only needs --write <file>');
    const stored = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as ScenarioResult[];
    writeSections(values.write, stored, command);
    return;
  }

  const ports = { router: await freePort(), stable: await freePort(), canary: await freePort(), routerAdmin: await freePort() };
  const prometheus = await startOwnPrometheus({
    jobs: { 'spark-demo': [`127.0.0.1:${ports.stable}`, `127.0.0.1:${ports.canary}`], 'spark-router': [`127.0.0.1:${ports.routerAdmin}`] },
  });
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const hooks: Hooks = {};
  const lanes = new Map<WorkerKind, Lane>();
  const laneFor = async (kind: WorkerKind): Promise<Lane> => {
    let lane = lanes.get(kind);
    if (!lane) lanes.set(kind, (lane = await startLane(kind, { config, prometheusUrl: prometheus.url, hooks })));
    return lane;
  };
  fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
  const previous: ScenarioResult[] = fs.existsSync(resultsFile) ? JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as ScenarioResult[] : [];
  const results = new Map(previous.map((r) => [r.name, r]));
  let failures = 0;
  try {
    for (const s of chosen) {
      console.log(`${s.name}: ${s.what}`);
      const lane = await laneFor(s.worker ?? 'bench');
      await lane.worker?.prepare();
      // A scenario that stopped or froze Prometheus must not leave it so for the next.
      const result = await runScenario(s, lane, prometheus, hooks, ports).finally(() => {
        prometheus.thaw();
        return prometheus.start();
      });
      if (!result.ok) failures += 1;
      results.set(s.name, result);
      console.log(`  -> ${result.verdict}${result.cause ? ` (${result.cause})` : ''}; to 0%: ${seconds(result.toZeroMs)}, floor ${seconds(result.floorMs)}; paged after ${seconds(result.toPageMs)}${result.readyToZeroMs === undefined ? '' : `; worker back to 0%: ${seconds(result.readyToZeroMs)}`}${result.note ? `; ${result.note}` : ''}${result.ok ? '' : '  UNEXPECTED'}`);
      fs.writeFileSync(resultsFile, JSON.stringify(SCENARIOS.map((x) => results.get(x.name)).filter(Boolean), null, 2));
    }
  } finally {
    for (const lane of lanes.values()) await lane.close().catch((err: Error) => console.error(`closing a worker: ${err.message}`));
    await prometheus.close();
  }
  const ordered = SCENARIOS.map((x) => results.get(x.name)).filter((r): r is ScenarioResult => r !== undefined);
  if (values.write) writeSections(values.write, ordered, command);
  console.log(`results: ${resultsFile}${values.write ? `; section written to ${values.write}` : ''}`);
  process.exitCode = failures === 0 ? 0 : 1;
}

if (require.main === module) {
  // Exit explicitly: the Temporal runtime keeps the event loop alive after the worker stops.
  main().then(() => process.exit(process.exitCode ?? 0), (err) => {
    console.error(err);
    process.exit(1);
  });
}
