// Connection settings. With nothing set, everything points at the local
// loopback setup that scripts/services.sh starts; the same defaults live in
// scripts/env.sh for the shell side.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { RouterSettings, TrafficConfig } from './adapters/traffic/router';
import { parseDuration } from './plan/duration';
import type { WorkerAllowances } from './workflows/allowed';

export const projectRoot = path.resolve(__dirname, '..');

function env(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

export interface LocalConfig {
  temporalAddress: string;
  temporalNamespace: string;
  temporalUiUrl: string;
  taskQueue: string;
  databaseUrl: string;
  prometheusUrl: string;
  evidenceDir: string;
  runDir: string;
  toolsBin: string;
  workerMetricsPort: number;
  /**
   * How long a workflow task waits for the worker that ran the release's last one before any
   * worker may take it (Temporal's sticky queue; its default is 10 s): after a worker crash,
   * the release waits this long for its next step.
   */
  stickyQueueTimeoutMs: number;
}

export function loadConfig(): LocalConfig {
  return {
    temporalAddress: env('TEMPORAL_ADDRESS', '127.0.0.1:7233'),
    temporalNamespace: env('TEMPORAL_NAMESPACE', 'default'),
    temporalUiUrl: env('TEMPORAL_UI_URL', 'http://127.0.0.1:8233'),
    taskQueue: env('SPARK_TASK_QUEUE', 'spark-release'),
    databaseUrl: env('DATABASE_URL', 'postgres://spark:spark@127.0.0.1:55432/spark'),
    prometheusUrl: env('PROMETHEUS_URL', 'http://127.0.0.1:9090'),
    evidenceDir: env('SPARK_EVIDENCE_DIR', path.join(projectRoot, 'evidence')),
    runDir: env('SPARK_RUN_DIR', path.join(projectRoot, '.run')),
    toolsBin: env('SPARK_TOOLS_BIN', path.join(projectRoot, '.tools', 'bin')),
    workerMetricsPort: Number(env('SPARK_WORKER_METRICS_PORT', '9464')),
    stickyQueueTimeoutMs: Number(env('SPARK_STICKY_QUEUE_TIMEOUT_MS', '3000')),
  };
}

/** Loopback ports of the demo target (see demo/ and scripts/services.sh). */
export const demoPorts = {
  router: Number(env('SPARK_DEMO_ROUTER_PORT', '18080')),
  stable: Number(env('SPARK_DEMO_STABLE_PORT', '18081')),
  canary: Number(env('SPARK_DEMO_CANARY_PORT', '18082')),
  routerAdmin: Number(env('SPARK_DEMO_ROUTER_ADMIN_PORT', '18089')),
};

/** What this worker may run and reach: the release plan names routers of it, and its URLs and files must lie under it. */
export interface WorkerConfig {
  file: string;
  urlPrefixes: string[];
  /** Relative to the project root. */
  paths: string[];
  routers: Record<string, Extract<RouterSettings, { router: 'nginx' | 'command' | 'haproxy' }>>;
  /** The people registry: who may decide, with which roles and Ed25519 public key; absent, decisions are not signed. */
  people?: Record<string, { key: string; roles: string[] }>;
  decisionWindowMs: number;
}

/** What the workflow checks a plan against (src/workflows/allowed.ts): names only, nothing to run. */
export function allowancesOf(config: WorkerConfig): WorkerAllowances {
  return {
    routers: Object.fromEntries(Object.entries(config.routers).map(([name, r]) => [name, r.router])),
    urlPrefixes: config.urlPrefixes,
    paths: config.paths,
    ...(config.people ? { people: config.people } : {}),
    decisionWindowMs: config.decisionWindowMs,
  };
}

const registrySchema = z.strictObject({
  people: z.array(z.strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a person id of the plans, e.g. bora'),
    roles: z.array(z.enum(['approver', 'commander', 'starter', 'service'])).min(1),
    publicKey: z.string().regex(/^[0-9a-f]{64}$/, 'an Ed25519 public key, 64 lower-case hex digits (spark-release keys public <file>)'),
    slack: z.string().optional(),
  })).min(1),
});

/** The people registry file the deployment owns (never the plan's). */
export function loadPeopleRegistry(file: string): Record<string, { key: string; roles: string[] }> {
  const parsed = registrySchema.safeParse(readYaml(file, 'people registry'));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`people registry ${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return Object.fromEntries(parsed.data.people.map((p) => [p.id, { key: p.publicKey, roles: p.roles }]));
}

function readYaml(file: string, what: string): unknown {
  try {
    return parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${what} ${file}: ${(err as Error).message}`);
  }
}

function isPositiveDuration(text: string): boolean {
  try {
    return parseDuration(text) > 0;
  } catch {
    return false;
  }
}

const workerConfigSchema = z.strictObject({
  urlPrefixes: z.array(z.string().regex(/^https?:\/\/[^/\s]+[:/]$/, 'an http(s) origin ending in ":" or "/", e.g. http://127.0.0.1: or https://api.example.com/')).min(1),
  paths: z.array(z.string().min(1).refine((p) => !path.isAbsolute(p) && !p.split('/').includes('..'), 'relative to the project root, without ..')).default([]),
  routers: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and -'), z.discriminatedUnion('router', [
    z.strictObject({
      router: z.literal('nginx'), nginxBinary: z.string().min(1), configFile: z.string().min(1), upstream: z.string().min(1),
      stableServer: z.string().min(1), canaryServer: z.string().min(1), nginxPrefix: z.string().optional(), nginxConfig: z.string().optional(),
    }),
    z.strictObject({
      router: z.literal('command'), command: z.string().min(1), timeout: z.string().default('30s'),
      /** Prints the canary percent the backend holds (a bare number), so weights can be read back. */
      readCommand: z.string().min(1).optional(),
    }),
    z.strictObject({
      router: z.literal('haproxy'), socket: z.string().min(1), backend: z.string().min(1),
      stableServer: z.string().min(1), canaryServer: z.string().min(1),
      timeout: z.string().refine(isPositiveDuration, 'a duration longer than 0, like 5s or 500ms').default('5s'),
    }),
  ])).default({}),
  /** The people registry file, relative to the project root. */
  people: z.string().min(1).optional(),
  decisionWindow: z.string().default('5m'),
});

/** Reads $SPARK_WORKER_CONFIG (default config/worker.yaml); relative paths are the project root's. */
export function loadWorkerConfig(file = env('SPARK_WORKER_CONFIG', path.join(projectRoot, 'config', 'worker.yaml'))): WorkerConfig {
  const parsed = workerConfigSchema.safeParse(readYaml(file, 'worker configuration'));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`worker configuration ${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  const inRoot = (p: string) => (path.isAbsolute(p) ? p : path.join(projectRoot, p));
  const routers = Object.fromEntries(Object.entries(parsed.data.routers).map(([name, r]) => [name, r.router === 'nginx'
    ? { ...r, nginxBinary: r.nginxBinary.includes('/') ? inRoot(r.nginxBinary) : r.nginxBinary, configFile: inRoot(r.configFile) }
    : r.router === 'haproxy'
      ? { router: 'haproxy' as const, socket: inRoot(r.socket), backend: r.backend, stableServer: r.stableServer, canaryServer: r.canaryServer, timeoutMs: parseDuration(r.timeout) }
      : { router: 'command' as const, command: r.command, timeoutMs: parseDuration(r.timeout), ...(r.readCommand ? { readCommand: r.readCommand } : {}) }]));
  const people = parsed.data.people === undefined ? undefined : loadPeopleRegistry(inRoot(parsed.data.people));
  return {
    file, urlPrefixes: parsed.data.urlPrefixes, paths: parsed.data.paths, routers,
    ...(people ? { people } : {}), decisionWindowMs: parseDuration(parsed.data.decisionWindow),
  };
}

/** The settings a plan's `traffic` resolves to on this worker; a name it does not have, or a URL outside it, is refused. */
export function routerSettings(config: WorkerConfig, traffic: TrafficConfig): RouterSettings {
  if (traffic.router === 'record-only') return traffic;
  if (traffic.router === 'local') {
    if (!config.urlPrefixes.some((p) => traffic.adminUrl.startsWith(p))) {
      throw new Error(`traffic.adminUrl: ${traffic.adminUrl} is outside this worker's URL prefixes (${config.urlPrefixes.join(', ')}; ${config.file})`);
    }
    return traffic;
  }
  const named = config.routers[traffic.name];
  if (!named || named.router !== traffic.router) {
    throw new Error(`traffic.name: this worker has no ${traffic.router} router "${traffic.name}" (${config.file})`);
  }
  return named;
}
