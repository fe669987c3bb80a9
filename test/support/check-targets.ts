// The healthy and the broken demo target, for the release checks' tests and the
// preflight benchmark: demo services on free ports (healthy ones writing to
// spark_demo through pgBouncer, a broken one leaking its pgBouncer pool), a
// chronyd serving NTP on loopback, and a Prometheus of their own per target with
// the target's alert rules. PostgreSQL and pgBouncer come from
// `bash scripts/services.sh up`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import YAML from 'yaml';
import { loadConfig, projectRoot } from '../../src/config';
import { startService, type RunningService } from '../../demo/service';
import { migrate, rebuildBrokenDatabase } from '../../demo/migrate';
import { freePort } from './own-prometheus';
import { startNtpServer, stopChild } from '../../demo/ntp';
export { startNtpServer };
import type { CheckContext } from '../../src/activities/types';
import { loadPlanFileWith } from '../../src/plan/loader';
import type { ReleasePlan } from '../../src/plan/schema';
import { targetContext } from '../../src/plan/target';
import { renderCanaryQueries } from '../../src/workflows/canary';

const pgPort = process.env.SPARK_PG_PORT ?? '55432';
const bouncerPort = process.env.SPARK_PGBOUNCER_PORT ?? '56432';
export const TARGET_URLS = {
  /** The application's pool (transaction mode). */
  healthyDatabase: `postgres://spark:spark@127.0.0.1:${bouncerPort}/spark_demo`,
  /** The broken variant, inspected directly: its pgBouncer pool is leaked by its service. */
  brokenDatabase: `postgres://spark:spark@127.0.0.1:${pgPort}/spark_demo_broken`,
  brokenPool: `postgres://spark:spark@127.0.0.1:${bouncerPort}/spark_demo_broken`,
  pgbouncerAdmin: `postgres://spark:spark@127.0.0.1:${bouncerPort}/pgbouncer`,
};

interface Spawned {
  url: string;
  stop(): Promise<void>;
}


/** A Prometheus scraping `targets` as job spark-demo, with `ruleFiles` loaded. */
export async function startRulesPrometheus(targets: string[], ruleFiles: string[]): Promise<Spawned> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spark-prometheus-rules-'));
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), YAML.stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: ruleFiles,
    scrape_configs: [{ job_name: 'spark-demo', static_configs: [{ targets }] }],
  }));
  const log = fs.openSync(path.join(dir, 'prometheus.log'), 'a');
  const child = spawn(path.join(loadConfig().toolsBin, 'prometheus'), [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    // Ready: every rule evaluated and every target scraped once (the checks look at both).
    const get = <T>(api: string) => fetch(`${url}/api/v1/${api}`).then((r) => r.json() as Promise<{ data: T }>).catch(() => null);
    const rules = await get<{ groups: { rules: { lastEvaluation: string }[] }[] }>('rules');
    const scraped = await get<{ activeTargets: { health: string }[] }>('targets');
    const evaluated = rules?.data.groups.every((g) => g.rules.every((r) => !r.lastEvaluation.startsWith('0001')));
    if (evaluated && scraped?.data.activeTargets.length === targets.length && scraped.data.activeTargets.every((t) => t.health !== 'unknown')) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`prometheus on ${port} did not come up: ${fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8').slice(-1500)}`);
    await sleep(200);
  }
  return { url, stop: async () => { await stopChild(child); fs.rmSync(dir, { recursive: true, force: true }); } };
}

async function withClient(url: string, use: (c: Client) => Promise<unknown>): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`${url.replace(/:[^:@/]*@/, ':***@')} not reachable: run \`bash scripts/services.sh up\` (${(err as Error).message})`);
  }
  try {
    await use(client);
  } finally {
    await client.end();
  }
}

export interface CheckTargets {
  healthy: { stable: RunningService; canary: RunningService; prometheus: Spawned };
  broken: { canary: RunningService; prometheus: Spawned };
  ntp: Spawned;
  close(): Promise<void>;
}

export async function startCheckTargets(): Promise<CheckTargets> {
  await withClient(TARGET_URLS.healthyDatabase, (c) => migrate(c));
  await withClient(TARGET_URLS.brokenDatabase, (c) => rebuildBrokenDatabase(c));
  const started: { stop?: () => Promise<void>; close?: () => Promise<void> }[] = [];
  try {
    const ntp = await startNtpServer();
    started.push(ntp);
    const service = async (track: 'stable' | 'canary', opts: { databaseUrl: string; broken?: boolean }) => {
      const s = await startService({ track, port: await freePort(), version: track === 'stable' ? 'v1.3.0' : 'v1.4.0', seed: 7, baselineErrorRate: 0, ...opts });
      started.push(s);
      return s;
    };
    const stable = await service('stable', { databaseUrl: TARGET_URLS.healthyDatabase });
    const canary = await service('canary', { databaseUrl: TARGET_URLS.healthyDatabase });
    const brokenCanary = await service('canary', { databaseUrl: TARGET_URLS.brokenPool, broken: true });
    const host = (u: string) => new URL(u).host;
    const rules = path.join(projectRoot, 'deploy', 'prometheus', 'rules', 'slo-burn-rate.yml');
    const brokenRules = path.join(projectRoot, 'test', 'fixtures', 'prometheus', 'broken-slo-rules.yml');
    const healthyProm = await startRulesPrometheus([host(stable.url), host(canary.url)], [rules]);
    started.push(healthyProm);
    // The broken target's second instance is down: nothing listens on its port.
    const brokenProm = await startRulesPrometheus([host(brokenCanary.url), `127.0.0.1:${await freePort()}`], [brokenRules]);
    started.push(brokenProm);
    return {
      healthy: { stable, canary, prometheus: healthyProm },
      broken: { canary: brokenCanary, prometheus: brokenProm },
      ntp,
      close: () => closeAll(started),
    };
  } catch (err) {
    await closeAll(started);
    throw err;
  }
}

async function closeAll(started: { stop?: () => Promise<void>; close?: () => Promise<void> }[]): Promise<void> {
  for (const s of started.reverse()) await (s.close ?? s.stop)!.call(s);
}

/** The shipped plan pointed at one of the targets, with latency limits that leave room for a busy test machine. */
export function checkPlan(targets: CheckTargets, kind: 'healthy' | 'broken'): ReleasePlan {
  const canary = kind === 'healthy' ? targets.healthy.canary.url : targets.broken.canary.url;
  const stable = kind === 'healthy' ? targets.healthy.stable.url : targets.broken.canary.url;
  return loadPlanFileWith(path.join(projectRoot, 'plans', 'v1.4.0.yaml'), {
    version: `v1.4.0-checks.${kind}.${Date.now()}`,
    // The broken canary is 300 ms slower by construction; leaked transactions count after 1 s.
    checks: { limits: { maxLongQuerySeconds: 1, microApiP95Ms: 300, microWsP95Ms: 1000 } },
    target: {
      canaryUrl: canary,
      stableUrl: stable,
      featureFlagsUrl: `${canary}/api/flags`,
      databaseUrlEnv: kind === 'healthy' ? 'SPARK_TARGET_DATABASE_URL' : 'SPARK_BROKEN_DATABASE_URL',
      pgbouncerPool: kind === 'healthy' ? 'spark_demo' : 'spark_demo_broken',
      ntpServer: targets.ntp.url,
      prometheusUrl: targets[kind].prometheus.url,
      dashboards: [kind === 'healthy' ? 'deploy/grafana/spark-trading.json' : 'test/fixtures/grafana/broken-dashboard.json'],
      blastRadius: { duration: '2s', requestsPerSecond: 10, minSamples: 10 },
    },
  });
}

/** The environment variables the plans name, pointed at the targets. */
export function setTargetEnv(): void {
  process.env.SPARK_TARGET_DATABASE_URL = TARGET_URLS.healthyDatabase;
  process.env.SPARK_BROKEN_DATABASE_URL = TARGET_URLS.brokenDatabase;
  process.env.SPARK_TARGET_PGBOUNCER_ADMIN_URL = TARGET_URLS.pgbouncerAdmin;
}

/** What the release workflow gives the checks (src/workflows/release.ts), for this plan. */
export function checkContext(plan: ReleasePlan): CheckContext {
  const stable = renderCanaryQueries(plan, 'stable');
  return {
    signalQueries: Object.fromEntries(plan.signals.map((s) => [s.id, { query: stable.byId[s.id]!, scale: s.scale, unit: s.unit }])),
    traffic: plan.traffic, initiator: 'deniz', canaryPlan: '', limits: plan.checks.limits,
    expectedTargets: plan.metrics.expectedTargets, target: targetContext(plan),
  };
}
