// Composition root: builds the adapters from configuration, registers the
// activities and workflows, serves the worker's own metrics.
import http from 'node:http';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createActivities } from './activities';
import { createPostgresLedger } from './adapters/ledger/postgres';
import { createPrometheusProvider } from './adapters/metrics/prometheus';
import type { TrafficConfig, TrafficRouter } from './adapters/traffic/router';
import { createTrafficRouter } from './adapters/traffic';
import { loadConfig, type LocalConfig } from './config';
import { temporalSettings } from './temporal';

export interface ReleaseWorker {
  worker: Worker;
  /** Runs until shutdown() or a fatal error; closes what it opened. */
  run(): Promise<void>;
  shutdown(): void;
}

export interface ReleaseWorkerOptions {
  config?: LocalConfig;
  taskQueue?: string;
  /** A prebuilt workflow bundle (tests build one and share it). */
  workflowBundle?: WorkerOptions['workflowBundle'];
  metricsPort?: number | null;
}

export async function createReleaseWorker(opts: ReleaseWorkerOptions = {}): Promise<ReleaseWorker> {
  const config = opts.config ?? loadConfig();
  const settings = temporalSettings();
  const ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: config.evidenceDir });
  const metrics = createPrometheusProvider({ baseUrl: config.prometheusUrl, timeoutMs: 10_000 });
  const routers = new Map<string, TrafficRouter>();
  const router = (traffic: TrafficConfig) => {
    const key = JSON.stringify(traffic);
    let r = routers.get(key);
    if (!r) routers.set(key, (r = createTrafficRouter(traffic)));
    return r;
  };
  const connection = await NativeConnection.connect(settings.connectionOptions);
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: opts.taskQueue ?? config.taskQueue,
    activities: createActivities({ ledger, metrics, router }),
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('./workflows') }),
  });
  const metricsServer = opts.metricsPort === null ? null : serveMetrics(opts.metricsPort ?? config.workerMetricsPort);
  return {
    worker,
    async run() {
      try {
        await worker.run();
      } finally {
        metricsServer?.close();
        await connection.close();
        await ledger.close();
      }
    },
    shutdown: () => worker.shutdown(),
  };
}

function serveMetrics(port: number): http.Server {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, labels: { component: 'spark-release-worker' } });
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found: the worker serves /metrics\n');
      return;
    }
    res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  });
  server.on('error', (err) => console.error(`worker metrics: cannot listen on 127.0.0.1:${port}: ${err.message}`));
  server.listen(port, '127.0.0.1');
  return server;
}

if (require.main === module) {
  createReleaseWorker()
    .then((w) => {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => w.shutdown());
      console.log(`spark-release worker polling task queue "${loadConfig().taskQueue}"`);
      return w.run();
    })
    .catch((err) => {
      console.error(`worker failed: ${(err as Error).message}`);
      process.exit(1);
    });
}
