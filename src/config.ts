// Connection settings. With nothing set, everything points at the local
// loopback setup that scripts/services.sh starts; the same defaults live in
// scripts/env.sh for the shell side.
import path from 'node:path';

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
  };
}

/** Loopback ports of the demo target (see demo/ and scripts/services.sh). */
export const demoPorts = {
  router: Number(env('SPARK_DEMO_ROUTER_PORT', '18080')),
  stable: Number(env('SPARK_DEMO_STABLE_PORT', '18081')),
  canary: Number(env('SPARK_DEMO_CANARY_PORT', '18082')),
  routerAdmin: Number(env('SPARK_DEMO_ROUTER_ADMIN_PORT', '18089')),
};
