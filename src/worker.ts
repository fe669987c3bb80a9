// Composition root: builds the adapters from configuration, registers the
// activities and workflows, serves the worker's own metrics.
import http from 'node:http';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Registry } from 'prom-client';
import { createActivities } from './activities';
import { firstWriterWinsOnRetry } from './activities/evidence-retry';
import { createPostgresLedger } from './adapters/ledger/postgres';
import { createPrometheusProvider } from './adapters/metrics/prometheus';
import { scmFromEnv, type ScmAdapters } from './adapters/scm';
import { notifierFromEnv } from './adapters/chat/slack';
import { withWebhookFromEnv } from './adapters/chat/webhook';
import { pagerFromEnv } from './adapters/pager';
import type { TrafficConfig, TrafficRouter } from './adapters/traffic/router';
import { createTrafficRouter } from './adapters/traffic';
import { allowancesOf, loadConfig, loadWorkerConfig, routerSettings, type LocalConfig, type WorkerConfig } from './config';
import { createPipelineMetrics, releasesByPhaseFrom } from './metrics/pipeline';
import { bridgeRuntimeMetrics, installWorkerRuntime, type RuntimeMetricsBridge } from './metrics/runtime';
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
  /** What may run and be reached (default: $SPARK_WORKER_CONFIG or config/worker.yaml). */
  workerConfig?: WorkerConfig;
  /** The freeze and tag adapters (default: from the environment; tests pass their GitHub stand-in). */
  scm?: ScmAdapters;
  /** Extra worker interceptors (benches use one to act at the exact start of an activity). */
  interceptors?: WorkerOptions['interceptors'];
}

export async function createReleaseWorker(opts: ReleaseWorkerOptions = {}): Promise<ReleaseWorker> {
  const config = opts.config ?? loadConfig();
  if (!Number.isInteger(config.stickyQueueTimeoutMs) || config.stickyQueueTimeoutMs < 1) {
    throw new Error(`SPARK_STICKY_QUEUE_TIMEOUT_MS: must be a whole number of milliseconds, at least 1 (got ${config.stickyQueueTimeoutMs})`);
  }
  const allowed = opts.workerConfig ?? loadWorkerConfig(); // a bad file stops the worker at once
  const settings = temporalSettings();
  const scm = opts.scm ?? scmFromEnv(); // before anything opens: a bad variable stops the worker at once
  // Slack and the pager from SLACK_BOT_TOKEN / SLACK_API_URL and SPARK_PAGER_WEBHOOK / SPARK_PAGER_COMMAND;
  // unset, every announcement and page is recorded as not delivered.
  const notifier = withWebhookFromEnv(notifierFromEnv());
  const pager = pagerFromEnv();
  const ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: config.evidenceDir });
  const metrics = createPrometheusProvider({ baseUrl: config.prometheusUrl, timeoutMs: 10_000 });
  const routers = new Map<string, TrafficRouter>();
  const router = (traffic: TrafficConfig) => {
    const key = JSON.stringify(traffic);
    let r = routers.get(key);
    // Resolved by name here too: an activity never runs what the worker's configuration does not name.
    if (!r) routers.set(key, (r = createTrafficRouter(routerSettings(allowed, traffic))));
    return r;
  };
  const connection = await NativeConnection.connect(settings.connectionOptions);
  const pipeline = createPipelineMetrics({ releasesByPhase: releasesByPhaseFrom(new Client({ connection, namespace: settings.namespace })) });
  const runtimeMetrics = bridgeRuntimeMetrics(pipeline.registry);
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: opts.taskQueue ?? config.taskQueue,
    // After a crash the release's next workflow task goes to any worker after this, not Temporal's 10 s.
    stickyQueueScheduleToStartTimeout: config.stickyQueueTimeoutMs,
    // A retry after a worker crash keeps the evidence its first attempt wrote (src/activities/evidence-retry.ts).
    activities: createActivities({ ledger: firstWriterWinsOnRetry(ledger), metrics, router, scm, pipeline, notifier, pager, allowances: allowancesOf(allowed), evidenceDir: config.evidenceDir }),
    sinks: pipeline.sinks,
    ...(opts.interceptors ? { interceptors: opts.interceptors } : {}),
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('./workflows') }),
  });
  const metricsServer = opts.metricsPort === null ? null : serveMetrics(opts.metricsPort ?? config.workerMetricsPort, pipeline.registry, runtimeMetrics);
  return {
    worker,
    async run() {
      try {
        await worker.run();
      } finally {
        metricsServer?.close();
        runtimeMetrics.stop();
        await connection.close();
        await ledger.close();
      }
    },
    shutdown: () => worker.shutdown(),
  };
}

function serveMetrics(port: number, registry: Registry, runtimeMetrics: RuntimeMetricsBridge): http.Server {
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found: the worker serves /metrics\n');
      return;
    }
    runtimeMetrics.drain();
    res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  });
  server.on('error', (err) => console.error(`worker metrics: cannot listen on 127.0.0.1:${port}: ${err.message}`));
  server.listen(port, '127.0.0.1');
  return server;
}

if (require.main === module) {
  installWorkerRuntime();
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
