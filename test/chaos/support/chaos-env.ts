// Everything a chaos run needs, of its own and on free loopback ports: a Temporal
// server (support/own-temporal.ts: data under .run/chaos/<name> or its own databases), the demo target, a Prometheus that
// scrapes it, the router's weight history, a prebuilt workflow bundle, and
// workers as child processes. Only the evidence PostgreSQL is shared (each
// release has its own chain); a run may route it through a fault proxy instead.
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { loadConfig, projectRoot } from '../../../src/config';
import { createPostgresLedger, type PostgresLedger } from '../../../src/adapters/ledger/postgres';
import { loadPlanFileWith } from '../../../src/plan/loader';
import { renderRuleFile } from '../../../src/rules/export';
import type { ReleasePlan } from '../../../src/plan/schema';
import { ReleaseClient } from '../../../src/release-client';
import { startDemoTarget, type DemoTarget } from '../../../demo/target';
import { startFakeGitHub, type FakeGitHub } from '../../../demo/fake-github';
import { startNtpServer } from '../../../demo/ntp';
import { GITHUB_TOKEN_FOR_TESTS, TEST_PLAN, workflowBundle, writeSigningKey } from '../../support/harness';
import { freePort, startOwnPrometheus, type OwnPrometheus } from '../../support/own-prometheus';
import { startOwnTemporal, type OwnTemporal } from './own-temporal';
import { startWeightRecorder, type WeightRecorder } from './weight-recorder';
import { startWorkerProcess, type WorkerEnv, type WorkerProcess } from './worker-process';

export interface ChaosEnvOptions {
  /** Names the directory under .run/chaos/ (wiped at start). */
  name: string;
  /** The evidence database (default: the shared one of scripts/services.sh). */
  databaseUrl?: string;
  /** Where workers reach PostgreSQL, Prometheus and the router admin API (a fault proxy); default direct. */
  routes?: (direct: { databaseUrl: string; prometheusUrl: string; routerAdminUrl: string }) => Promise<Partial<{ databaseUrl: string; prometheusUrl: string; routerAdminUrl: string }>>;
  rps?: number;
}

export interface ChaosEnv {
  dir: string;
  temporal: OwnTemporal;
  prometheus: OwnPrometheus;
  target: DemoTarget;
  /** The GitHub stand-in the freeze labels (3 open pull requests). */
  github: FakeGitHub;
  recorder: WeightRecorder;
  client: ReleaseClient;
  ledger: PostgresLedger;
  /** Direct (not proxied) database pool for the bench's own reads of the ledger. */
  db: Pool;
  taskQueue: string;
  /** The URLs the workers use (proxied when `routes` said so). */
  workerRoutes: { databaseUrl: string; prometheusUrl: string; routerAdminUrl: string };
  /** The workflow-test plan with a version never used before, steering this env's router. */
  plan(overrides?: Record<string, unknown>): ReleasePlan;
  startWorker(label?: string): Promise<WorkerProcess>;
  /** Reconnects the client (after a Temporal restart the old connection may be stale). */
  reconnect(): Promise<void>;
  close(): Promise<void>;
}

/** What every chaos plan starts from: short first-night windows, quick timeouts. */
export const CRASH_PLAN_OVERRIDES = {
  gates: { go: { timeout: '4h' } },
  checks: { timeout: '10s' },
  metrics: { queryTimeout: '3s' },
  // Four first-night checks (a plan hour) rather than two: room for a kill point on a slow machine.
  firstNight: { rhythm: [{ until: '1h', every: '15m' }], burnRate: { alerts: [{ long: '1m', short: '15s', factor: '14.4' }] } },
};

let planCounter = 0;
export async function startChaosEnv(opts: ChaosEnvOptions): Promise<ChaosEnv> {
  const config = loadConfig();
  const dir = path.join(projectRoot, '.run', 'chaos', opts.name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  // Processes first (newest first), then connections: a client closed under a live call throws.
  const closers: (() => Promise<unknown>)[] = [];
  const connections: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const c of [...closers.reverse(), ...connections]) await c().catch(() => undefined);
    closers.length = 0;
    connections.length = 0;
  };
  try {
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    fs.writeFileSync(bundlePath, (await workflowBundle()).code);

    const temporal = await startOwnTemporal(path.join(dir, 'temporal'), opts.name);
    closers.push(() => temporal.stop());

    // The release's checks need what a healthy production has, so GO needs no override:
    // the target's database through pgBouncer, an NTP server, the SLO rules, a GitHub to freeze, a signing key.
    const targetDatabaseUrl = process.env.SPARK_TARGET_DATABASE_URL;
    const pgbouncerAdminUrl = process.env.SPARK_TARGET_PGBOUNCER_ADMIN_URL;
    if (!targetDatabaseUrl || !pgbouncerAdminUrl) throw new Error('SPARK_TARGET_DATABASE_URL / SPARK_TARGET_PGBOUNCER_ADMIN_URL not set: `source scripts/env.sh` (npm test does)');
    const ports = { router: await freePort(), stable: await freePort(), canary: await freePort(), routerAdmin: await freePort() };
    const target = await startDemoTarget({ ports, load: { rps: opts.rps ?? 100 }, baselineErrorRate: 0, databaseUrl: targetDatabaseUrl });
    closers.push(() => target.stop());
    const ntp = await startNtpServer();
    closers.push(() => ntp.stop());
    const github = await startFakeGitHub({ repository: 'acme/spark', token: GITHUB_TOKEN_FOR_TESTS });
    for (const number of [101, 102, 103]) github.add({ number, title: `PR ${number}`, pullRequest: true });
    closers.push(() => github.close());
    // The shipped SLO rules, and those of the chaos plans' own burn-rate windows (as `spark-release rules export` writes them).
    const rules = path.join(projectRoot, 'deploy', 'prometheus', 'rules');
    const chaosRules = path.join(dir, 'chaos.rules.yml');
    fs.writeFileSync(chaosRules, renderRuleFile(loadPlanFileWith(TEST_PLAN, CRASH_PLAN_OVERRIDES), 'the chaos plan'));
    const prometheus = await startOwnPrometheus({
      jobs: { 'spark-demo': [`127.0.0.1:${ports.stable}`, `127.0.0.1:${ports.canary}`], 'spark-router': [`127.0.0.1:${ports.routerAdmin}`] },
      ruleFiles: [...fs.readdirSync(rules).filter((f) => f.endsWith('.yml')).map((f) => path.join(rules, f)), chaosRules],
    });
    closers.push(() => prometheus.close());
    const recorder = await startWeightRecorder(target.urls.routerAdmin);
    closers.push(() => recorder.close());

    const databaseUrl = opts.databaseUrl ?? config.databaseUrl;
    const direct = { databaseUrl, prometheusUrl: prometheus.url, routerAdminUrl: recorder.url };
    const workerRoutes = { ...direct, ...(await opts.routes?.(direct)) };

    const ledger = await createPostgresLedger({ databaseUrl, evidenceDir: path.join(dir, 'evidence') });
    connections.push(() => ledger.close());
    const db = new Pool({ connectionString: databaseUrl, max: 2 });
    db.on('error', () => undefined);
    connections.push(() => db.end());

    let connection = await Connection.connect({ address: temporal.address });
    const taskQueue = `chaos-${opts.name}`;
    const env = {
      client: new ReleaseClient(new Client({ connection }), taskQueue, connection),
    };
    connections.push(() => env.client.close());

    const workerEnv: WorkerEnv = {
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: workerRoutes.databaseUrl,
      PROMETHEUS_URL: workerRoutes.prometheusUrl,
      SPARK_TASK_QUEUE: taskQueue,
      SPARK_EVIDENCE_DIR: path.join(dir, 'evidence'),
      CHAOS_WORKFLOW_BUNDLE: bundlePath,
      SPARK_TARGET_DATABASE_URL: targetDatabaseUrl,
      SPARK_TARGET_PGBOUNCER_ADMIN_URL: pgbouncerAdminUrl,
      GITHUB_API_URL: github.url,
      GITHUB_REPOSITORY: github.repository,
      GITHUB_TOKEN: GITHUB_TOKEN_FOR_TESTS,
      SPARK_SIGNING_KEY: writeSigningKey(dir),
    };
    const workers: WorkerProcess[] = [];
    closers.push(() => Promise.all(workers.map((w) => w.kill())));
    let workerCount = 0;

    return {
      dir, temporal, prometheus, target, github, recorder, ledger, db, taskQueue, workerRoutes,
      get client() {
        return env.client;
      },
      plan(overrides = {}) {
        planCounter += 1;
        return loadPlanFileWith(TEST_PLAN, {
          version: `v1.4.0-chaos.${opts.name}.${Date.now()}.${planCounter}`,
          traffic: { router: 'local', adminUrl: workerRoutes.routerAdminUrl },
          target: { canaryUrl: target.urls.canary, stableUrl: target.urls.stable, featureFlagsUrl: `${target.urls.canary}/api/flags`, ntpServer: ntp.url },
          ...overrides,
        });
      },
      async startWorker(label = `worker-${++workerCount}`) {
        const w = await startWorkerProcess(workerEnv, path.join(dir, 'logs', `${label}.log`));
        workers.push(w);
        return w;
      },
      async reconnect() {
        await env.client.close().catch(() => undefined);
        connection = await Connection.connect({ address: temporal.address });
        env.client = new ReleaseClient(new Client({ connection }), taskQueue, connection);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
