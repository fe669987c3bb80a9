// How many releases one worker keeps on schedule: N releases of the shipped plan
// (plans/v1.4.0.yaml, evaluation every 1 min) in canary stage 1 at once, on ONE
// worker process, against the Temporal dev server and the one Prometheus of
// scripts/services.sh. The router is record-only, so the N releases share the one
// demo target (its router sends 10% to the canary so every signal has data).
// Lateness of an evaluation = when its `evaluate` activity started minus (when the
// wait timer before it started + the interval), read from each release's history.
//
// Before the canary the releases skip what is not measured here: the timeline is
// collapsed to T-0, the check lists and the red-team gate are empty, and GO is
// given by override. Each level runs `--evaluations` intervals, then the releases
// are terminated (nothing to roll back: the router only recorded weights).
//
//   bash scripts/services.sh up && source scripts/env.sh && \
//     npx tsx bench/concurrency.ts [--releases 50,100,200,500] [--evaluations 4] [--interval 1m]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { temporal } from '@temporalio/proto';
import { tsToMs } from '@temporalio/common/lib/time';
import { loadConfig, projectRoot } from '../src/config';
import YAML from 'yaml';
import { mergePlanDocs } from '../src/plan/loader';
import { parsePlan, type ReleasePlan } from '../src/plan/schema';
import { parseDuration } from '../src/plan/duration';
import { ReleaseClient } from '../src/release-client';
import { startDemoTarget } from '../demo/target';
import { workflowBundle, waitForStatus } from '../test/support/harness';
import { startWorkerProcess, type WorkerProcess } from '../test/chaos/support/worker-process';
import { percentile } from '../src/activities/checks/target-access';

const SHIPPED_PLAN = path.join(projectRoot, 'plans', 'v1.4.0.yaml');
const CLK_TCK = 100;
/** Client calls in flight at once while starting, deciding and reading histories. */
const CLIENT_CONCURRENCY = 20;

function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime
}

function rssMb(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

function pidOf(service: string): number | null {
  try {
    return Number(fs.readFileSync(path.join(loadConfig().runDir, `${service}.pid`), 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

/** Runs `work` over `items`, `limit` at a time. */
async function pooled<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  }));
  return out;
}

let planCounter = 0;
function benchPlan(interval: string): ReleasePlan {
  planCounter += 1;
  const zero = '0m';
  const doc = mergePlanDocs(YAML.parse(fs.readFileSync(SHIPPED_PLAN, 'utf8')), {
    version: `v1.4.0-bench.${Date.now()}.${planCounter}`,
    timeline: { freeze: zero, warRoom: zero, preflight: zero, blastRadius: zero, redTeam: zero, greenButton: zero, goNoGo: zero },
    // baseline-metrics stays: the CSP signal's threshold is relative to the baseline it measures.
    checks: { preflight: ['baseline-metrics'], blindSpots: [], blastRadius: [], redTeam: [], greenButton: [] },
    canary: { evaluationInterval: interval },
  }) as Record<string, unknown>;
  doc.traffic = { router: 'record-only' };
  delete doc.redTeamGate;
  return parsePlan(doc, SHIPPED_PLAN);
}

interface Evaluation {
  /** When the wait before it started (server time). */
  waitStartedAt: number;
  lateMs: number;
  instantQueries: number;
  rangeQueries: number;
}

function payloadJson(payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown {
  const data = payloads?.payloads?.[0]?.data;
  return data ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined;
}

/** Every canary evaluation of one history: its start lateness and the queries it sent. */
function evaluationsOf(history: temporal.api.history.v1.IHistory, intervalMs: number): Evaluation[] {
  const events = history.events ?? [];
  const started = new Map<number, number>(); // scheduled event id -> started at
  for (const e of events) {
    const a = e.activityTaskStartedEventAttributes;
    if (a) started.set(Number(a.scheduledEventId), tsToMs(e.eventTime));
  }
  const out: Evaluation[] = [];
  let timerStartedAt: number | null = null;
  let pending: Evaluation | null = null;
  for (const e of events) {
    const timer = e.timerStartedEventAttributes;
    if (timer && tsToMs(timer.startToFireTimeout as never) === intervalMs) timerStartedAt = tsToMs(e.eventTime);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (!scheduled) continue;
    const name = scheduled.activityType?.name;
    if (name === 'evaluate' && timerStartedAt !== null) {
      const at = started.get(Number(e.eventId));
      pending = null;
      if (at === undefined) continue; // still running when the release was terminated
      const input = payloadJson(scheduled.input) as { queries: string[] };
      pending = { waitStartedAt: timerStartedAt, lateMs: at - (timerStartedAt + intervalMs), instantQueries: input.queries.length, rangeQueries: 0 };
      out.push(pending);
      timerStartedAt = null;
    } else if (name === 'queryRanges' && pending) {
      pending.rangeQueries = (payloadJson(scheduled.input) as { ranges: unknown[] }).ranges.length;
      pending = null;
    }
  }
  return out;
}

async function promCounter(query: string): Promise<number> {
  const res = await fetch(`${loadConfig().prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
  return Number(body.data.result[0]?.value[1] ?? NaN);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      releases: { type: 'string', default: '50,100,200,500' },
      evaluations: { type: 'string', default: '4' },
      interval: { type: 'string', default: '1m' },
    },
  });
  const levels = values.releases!.split(',').map(Number);
  if (levels.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--releases: a comma-separated list of whole numbers, e.g. 50,100 (got ${values.releases})`);
  const evaluations = Number(values.evaluations);
  if (!Number.isInteger(evaluations) || evaluations < 1) throw new Error(`--evaluations: a positive whole number (got ${values.evaluations})`);
  const intervalMs = parseDuration(values.interval!);
  const config = loadConfig();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-concurrency-'));
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, (await workflowBundle()).code);
  const taskQueue = `bench-concurrency-${process.pid}-${Date.now()}`;
  // The machine-wide demo target (waits while another run holds its ports).
  const target = await startDemoTarget({ canaryPercent: 10, load: { rps: 100 }, databaseUrl: process.env.SPARK_TARGET_DATABASE_URL });
  let worker: WorkerProcess | undefined;
  const client = await ReleaseClient.connect(taskQueue);
  const rows = [
    '| releases | evaluations (steady state) | start lateness p50 / p95 / max | max as % of interval | ramp: max lateness | worker CPU (mean, % of one core) | per release | worker RSS | per release (above idle) | Temporal / Prometheus CPU | queries per evaluation (instant + range) | Prometheus queries/s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  try {
    worker = await startWorkerProcess({
      TEMPORAL_ADDRESS: config.temporalAddress, DATABASE_URL: config.databaseUrl, PROMETHEUS_URL: config.prometheusUrl,
      SPARK_TASK_QUEUE: taskQueue, SPARK_EVIDENCE_DIR: path.join(dir, 'evidence'), CHAOS_WORKFLOW_BUNDLE: bundlePath,
    }, path.join(dir, 'worker.log'));
    await sleep(3000);
    const idleRss = rssMb(worker.pid);
    const temporalPid = pidOf('temporal');
    const prometheusPid = pidOf('prometheus');
    for (const n of levels) {
      const releases = await pooled(Array.from({ length: n }), CLIENT_CONCURRENCY, async () => {
        const { release } = await client.start(benchPlan(values.interval!), 'deniz');
        await waitForStatus(client, release, (s) => s.gates.go.state === 'open', 600_000);
        await client.decide({ release, gate: 'go', decision: 'go', approver: 'bora', reason: 'concurrency bench', override: true });
        return release;
      });
      await pooled(releases, CLIENT_CONCURRENCY, (r) => waitForStatus(client, r, (s) => s.phase === 'canary', 600_000));
      // The window: every release is in the canary; it lasts `evaluations` intervals.
      const cpu0 = { worker: cpuSeconds(worker.pid), temporal: temporalPid ? cpuSeconds(temporalPid) : NaN, prometheus: prometheusPid ? cpuSeconds(prometheusPid) : NaN };
      const queries0 = await promCounter('sum(prometheus_engine_query_duration_seconds_count{slice="inner_eval"})');
      const t0 = Date.now();
      let peakRss = rssMb(worker.pid);
      const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssMb(worker!.pid)); }, 1000);
      await sleep(evaluations * intervalMs);
      clearInterval(sampler);
      const seconds = (Date.now() - t0) / 1000;
      const cpuShare = (pid: number | null, before: number) => (pid ? (cpuSeconds(pid) - before) / seconds : NaN);
      const workerCpu = cpuShare(worker.pid, cpu0.worker);
      const temporalCpu = cpuShare(temporalPid, cpu0.temporal);
      const prometheusCpu = cpuShare(prometheusPid, cpu0.prometheus);
      const queriesPerSecond = ((await promCounter('sum(prometheus_engine_query_duration_seconds_count{slice="inner_eval"})')) - queries0) / seconds;
      await pooled(releases, CLIENT_CONCURRENCY, (r) => client.client.workflow.getHandle(r).terminate('concurrency bench level over'));

      const all = (await pooled(releases, CLIENT_CONCURRENCY, async (r) => evaluationsOf(await client.client.workflow.getHandle(r).fetchHistory(), intervalMs))).flat();
      // Steady state: evaluations whose wait began once all N were in the canary. The ramp
      // (N releases started at once through a collapsed pre-canary) is reported apart.
      const evals = all.filter((e) => e.waitStartedAt >= t0);
      const rampMax = Math.max(0, ...all.filter((e) => e.waitStartedAt < t0).map((e) => e.lateMs));
      const late = evals.map((e) => e.lateMs);
      const max = Math.max(...late);
      const perEval = `${percentile(evals.map((e) => e.instantQueries), 50)} + ${percentile(evals.map((e) => e.rangeQueries), 50)}`;
      const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
      rows.push(`| ${n} | ${evals.length} | ${percentile(late, 50).toFixed(0)} / ${percentile(late, 95).toFixed(0)} / ${max.toFixed(0)} ms | ${((max / intervalMs) * 100).toFixed(1)}% | ${(rampMax / 1000).toFixed(1)} s | ${pct(workerCpu)} | ${((workerCpu * 100) / n).toFixed(2)}% | ${peakRss.toFixed(0)} MB | ${((peakRss - idleRss) / n).toFixed(2)} MB | ${pct(temporalCpu)} / ${pct(prometheusCpu)} | ${perEval} | ${queriesPerSecond.toFixed(0)} |`);
      console.log(rows.at(-1));
      if (max > intervalMs * 0.1) {
        console.log(`N=${n}: an evaluation started ${max.toFixed(0)} ms late (> 10% of ${intervalMs} ms); higher levels skipped`);
        break;
      }
    }
  } finally {
    await worker?.stop();
    await client.close();
    await target.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\ninterval ${values.interval}, ${evaluations} intervals per level, ${os.cpus().length} cores, idle worker RSS before the first level\n`);
  console.log(rows.join('\n'));
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(`concurrency bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
