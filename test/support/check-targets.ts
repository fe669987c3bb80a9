// The healthy and the broken demo target, for the release checks' tests and
// benchmarks: demo services, each its own process on a free port (healthy ones writing to spark_demo
// through pgBouncer, a broken one leaking its pgBouncer pool, its market feed
// stalled), a chronyd serving NTP on loopback (the broken target's NTP server is
// 5 s off), a Prometheus of their own per target with the target's alert rules,
// and for the broken target a PostgreSQL server without WAL archiving. The
// shared PostgreSQL and pgBouncer come from `bash scripts/services.sh up`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import YAML from 'yaml';
import { loadConfig, projectRoot } from '../../src/config';
import { ChildProc, waitUntilHealthy } from '../../demo/target';
import { migrate, rebuildBrokenDatabase } from '../../demo/migrate';
import { freePort } from './own-prometheus';
import { startNtpServer, stopChild } from '../../demo/ntp';
import { startOffNtpServer, startUnarchivedPostgres } from './broken-services';
export { startNtpServer };
import type { CheckContext } from '../../src/activities/types';
import { loadPlanFileWith } from '../../src/plan/loader';
import type { ReleasePlan } from '../../src/plan/schema';
import { targetContext } from '../../src/plan/target';
import { renderCanaryQueries } from '../../src/workflows/canary-judgment';

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
  healthy: { stable: Spawned; canary: Spawned; prometheus: Spawned; ntp: Spawned };
  /** `unarchived`: the broken target's PostgreSQL server for PITR (rt-pitr-cold-start), with WAL archiving off. */
  broken: { canary: Spawned; prometheus: Spawned; ntp: Spawned; unarchived: Spawned };
  close(): Promise<void>;
}

/** How far the broken target's NTP server is off. */
const BROKEN_NTP_OFFSET_MS = 5000;

export async function startCheckTargets(): Promise<CheckTargets> {
  await withClient(TARGET_URLS.healthyDatabase, (c) => migrate(c));
  await withClient(TARGET_URLS.brokenDatabase, (c) => rebuildBrokenDatabase(c));
  const started: { stop?: () => Promise<void>; close?: () => Promise<void> }[] = [];
  try {
    const ntp = await startNtpServer();
    started.push(ntp);
    const offNtp = await startOffNtpServer(BROKEN_NTP_OFFSET_MS);
    started.push(offNtp);
    const unarchived = await startUnarchivedPostgres();
    started.push(unarchived);
    // Each service its own process, as in the demo: a busy check runner does not slow the target's answers.
    const service = async (track: 'stable' | 'canary', opts: { databaseUrl: string; broken?: boolean }): Promise<Spawned> => {
      const port = await freePort();
      const child = new ChildProc(track, 'service.ts', ['--track', track, '--port', String(port), '--version', track === 'stable' ? 'v1.3.0' : 'v1.4.0',
        '--seed', '7', '--baseline-error-rate', '0', '--database-url', opts.databaseUrl, ...(opts.broken ? ['--broken'] : [])]);
      const s = { url: `http://127.0.0.1:${port}`, stop: () => child.stop() };
      started.push(s);
      await waitUntilHealthy([child], [s.url], 60_000);
      return s;
    };
    const [stable, canary, brokenCanary] = await Promise.all([
      service('stable', { databaseUrl: TARGET_URLS.healthyDatabase }),
      service('canary', { databaseUrl: TARGET_URLS.healthyDatabase }),
      service('canary', { databaseUrl: TARGET_URLS.brokenPool, broken: true }),
    ]);
    // The broken canary's market feed has stalled.
    const stalled = await fetch(`${brokenCanary.url}/admin/fault`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'ws-stale' }) });
    if (stalled.status !== 200) throw new Error(`the broken canary refused the ws-stale fault: ${stalled.status} ${await stalled.text()}`);
    const host = (u: string) => new URL(u).host;
    const rules = path.join(projectRoot, 'deploy', 'prometheus', 'rules', 'slo-burn-rate.yml');
    const brokenRules = path.join(projectRoot, 'test', 'fixtures', 'prometheus', 'broken-slo-rules.yml');
    const healthyProm = await startRulesPrometheus([host(stable.url), host(canary.url)], [rules]);
    started.push(healthyProm);
    // The broken target's second instance is down: nothing listens on its port.
    const brokenProm = await startRulesPrometheus([host(brokenCanary.url), `127.0.0.1:${await freePort()}`], [brokenRules]);
    started.push(brokenProm);
    return {
      healthy: { stable, canary, prometheus: healthyProm, ntp },
      broken: { canary: brokenCanary, prometheus: brokenProm, ntp: offNtp, unarchived },
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

/** Why each check must fail on the broken target, in the words of its summary. */
export const BROKEN_BECAUSE: Record<string, RegExp> = {
  'time-drift': /database clock is ahead of the worker's by \d{4} ms/,
  'pgbouncer-saturation': /pool spark_demo_broken: sv_active\/sv_total stayed above 0.9 .*connection leak/,
  'prisma-migrations': /1 migration has not yet been applied: 20241024000000_add_partial_unique_position/,
  'security-headers': /CSP script-src has no 'nonce-\.\.\.' source.*cross-origin-embedder-policy is missing.*HSTS max-age 86400s is below 31536000s/,
  'sequence-anomalies': /public\.orders_id_seq is behind orders\.id: .*ids up to 20/,
  'feature-flag-defaults': /flag smart-order-routing is true, away from its default false.*flag ws-delta-ticks has no explicit default/,
  'prometheus-targets': /job spark-demo: 1 of 2 targets down/,
  'postgres-bloat': /autovacuum is disabled on public\.outbox/,
  'identity-seal': /the seal's time is not one everyone agrees on: the worker's clock is \d+ ms off NTP/,
  'baseline-metrics': /no baseline for api_p95_latency/,
  'blind-time-sequences': /database clock is ahead.*orders_id_seq is behind/,
  'blind-prisma-migrate': /not yet been applied/,
  'blind-pgbouncer-mode': /pool spark_demo_broken runs in session mode, not transaction.*no session-mode pool for LISTEN\/NOTIFY.*idle in transaction/,
  'blind-decimal': /commission of 5\.00 is 0\.01, banker's rounding gives 0\.00.*off-tick price 100\.03 was accepted/,
  'blind-csp-coop-coep': /tracker\.adnet\.example is loaded by the page but not in the plan's allowlist.*report endpoint \/csp-report answered 404|CSP names no report-uri/,
  'blind-prometheus-grafana': /1 of 2 targets down.*variables without a default: track/,
  'blind-feature-flags': /no explicit default/,
  'blind-sbom-provenance': /provenance cannot be recorded: no signing key configured.*licences: .*GPL-3\.0-only/,
  'blind-slo-burn-alerts': /no SLO burn-rate alert for the 6h window/,
  'micro-api': /canary API p95 \d+ ms is above 300 ms/,
  'micro-prom': /queries find no series, so these signals cannot be judged: api_p95_latency/,
  'micro-ws': /(ticks arrive up to [\d.]+ s old|no tick within [\d.]+ s of connecting) .*the feed is stale/,
  'rt-partial-unique-collation': /no partial UNIQUE index for manual positions/,
  'rt-idempotency-ttl-gc': /a new key lives 1\.00 h, not 48 h.*500 keys expired more than 10 min ago/,
  'rt-outbox-lag': /oldest undelivered outbox event is \d+ s old \(limit 30 s\)/,
  'rt-hsts-preload': /max-age 86400s is below.*no includeSubDomains.*no preload/,
  'rt-coep-coop-compat': /COEP is missing.*beacon\.gif is loaded without crossorigin/,
  'rt-decimal-tick-alignment': /off-tick price 100\.03 was accepted/,
  'rt-pgbouncer-leak': /connection leak.*idle in transaction/,
  'rt-pitr-cold-start': /wal_level is minimal.*WAL archiving is off \(archive_mode\)/,
  'rt-slo-alert-silence': /can never fire.*severity "none": nobody is paged.*waits 7200s/,
  'rt-sbom-attached': /1 components without a hash \(first: vendored-ws@8\.23\.0\).*no signed provenance/,
  'rt-sbom-licence-drift': /GPL-3\.0-only/,
  'rt-idempotency-burst-replay': /\d+ of 20 concurrent requests with one key were processed as new orders/,
  'rt-decimal-tick-drift': /drifted from/,
  'rt-outbox-clock-skew': /stamped by the database 5\.\d s after the application/,
  'rt-csp-report-flood': /200 of 200 reports were not answered 204 \(200x 405\)/,
  'cc-partial-unique-null': /both accepted: NULLs are distinct/,
  'cc-idempotency-cardinality': /500 of \d+ keys are older than the 48 h TTL/,
  'cc-outbox-p99': /outbox delivery p99 is 30\.0 s \(limit 10 s\)/,
  'cc-hsts-subdomains': /does not cover subdomains/,
  'cc-pgbouncer-leak-ratio': /sv_active\/sv_total stayed above 0\.9/,
};

/** Checks whose broken condition is a server setting the shared PostgreSQL has right: the broken plan points them at a server of their own. */
export const BROKEN_APART: Record<string, 'unarchived'> = { 'rt-pitr-cold-start': 'unarchived' };

/** The shipped plan pointed at one of the targets, with latency limits that leave room for a busy test machine.
 * The broken one also builds its SBOM from a lock file with a denied licence and unhashed packages. */
export function checkPlan(targets: CheckTargets, kind: 'healthy' | 'broken', database?: 'unarchived'): ReleasePlan {
  const canary = kind === 'healthy' ? targets.healthy.canary.url : targets.broken.canary.url;
  const stable = kind === 'healthy' ? targets.healthy.stable.url : targets.broken.canary.url;
  const brokenDatabaseEnv = database === 'unarchived' ? 'SPARK_BROKEN_UNARCHIVED_DATABASE_URL' : 'SPARK_BROKEN_DATABASE_URL';
  return loadPlanFileWith(path.join(projectRoot, 'plans', 'v1.4.0.yaml'), {
    version: `v1.4.0-checks.${kind}.${Date.now()}`,
    // The broken canary is 300 ms slower by construction; leaked transactions count after 1 s.
    checks: { limits: { maxLongQuerySeconds: 1, microApiP95Ms: 300, microWsP95Ms: 1000 } },
    ...(kind === 'broken' ? { ritual: { lockfile: 'test/fixtures/ritual/broken-package-lock.json' } } : {}),
    target: {
      canaryUrl: canary,
      stableUrl: stable,
      featureFlagsUrl: `${canary}/api/flags`,
      databaseUrlEnv: kind === 'healthy' ? 'SPARK_TARGET_DATABASE_URL' : brokenDatabaseEnv,
      pgbouncerPool: kind === 'healthy' ? 'spark_demo' : 'spark_demo_broken',
      ntpServer: targets[kind].ntp.url,
      prometheusUrl: targets[kind].prometheus.url,
      dashboards: [kind === 'healthy' ? 'deploy/grafana/spark-trading.json' : 'test/fixtures/grafana/broken-dashboard.json'],
      blastRadius: { duration: '2s', requestsPerSecond: 10, minSamples: 10 },
    },
  });
}

/** The environment variables the plans name, pointed at the targets. */
export function setTargetEnv(targets: CheckTargets): void {
  process.env.SPARK_TARGET_DATABASE_URL = TARGET_URLS.healthyDatabase;
  process.env.SPARK_BROKEN_DATABASE_URL = TARGET_URLS.brokenDatabase;
  process.env.SPARK_BROKEN_UNARCHIVED_DATABASE_URL = targets.broken.unarchived.url;
  process.env.SPARK_TARGET_PGBOUNCER_ADMIN_URL = TARGET_URLS.pgbouncerAdmin;
}

/** What the release workflow gives the checks (src/workflows/release.ts), for this plan. */
export function checkContext(plan: ReleasePlan): CheckContext {
  const stable = renderCanaryQueries(plan, 'stable');
  return {
    signalQueries: Object.fromEntries(plan.signals.map((s) => [s.id, { query: stable.byId[s.id]!, scale: s.scale, unit: s.unit }])),
    traffic: plan.traffic, initiator: 'deniz', commit: plan.commit, canaryPlan: '', limits: plan.checks.limits, ritual: plan.ritual,
    expectedTargets: plan.metrics.expectedTargets, target: targetContext(plan),
  };
}
