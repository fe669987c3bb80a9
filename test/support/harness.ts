// Real components for workflow tests: the demo target (stable, canary, router
// as child processes, scraped by the real Prometheus), a worker on its own task
// queue against the real Temporal dev server, and the evidence ledger in the
// real PostgreSQL. `bash scripts/services.sh up` must have started them.
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';
import { loadConfig, type WorkerConfig } from '../../src/config';
import { loadPlanFileWith } from '../../src/plan/loader';
import type { ReleasePlan } from '../../src/plan/schema';
import { ReleaseClient } from '../../src/release-client';
import { createReleaseWorker, type ReleaseWorker } from '../../src/worker';
import { installWorkerRuntime } from '../../src/metrics/runtime';
import type { ReleaseStatus } from '../../src/workflows/messages';
import { startDemoTarget, type DemoTarget } from '../../demo/target';
import { startNtpServer, type NtpServer } from '../../demo/ntp';

let ntp: NtpServer | undefined;

export const TEST_PLAN = path.join(__dirname, '..', 'fixtures', 'plans', 'workflow-test.yaml');

let bundle: WorkflowBundle | undefined;
let runtimeInstalled = false;

export async function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('WARN') });
  return bundle;
}

export interface Harness {
  target: DemoTarget;
  client: ReleaseClient;
  taskQueue: string;
  close(): Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

export async function startHarness(name: string, opts: { workerMetricsPort?: number; workerConfig?: WorkerConfig } = {}): Promise<Harness> {
  const config = loadConfig();
  if (!(await reachable(`${config.prometheusUrl}/-/ready`))) {
    throw new Error(`Prometheus not reachable at ${config.prometheusUrl}: run \`bash scripts/services.sh up\``);
  }
  if (!runtimeInstalled) {
    installWorkerRuntime(new DefaultLogger('WARN'));
    runtimeInstalled = true;
  }
  const taskQueue = `test-${name}-${process.pid}-${Date.now()}`;
  // Realistic background 5xx (0.1%, the target's default): the judgment's samples rule keeps it from failing a 1% canary.
  ntp ??= await startNtpServer();
  // Through pgBouncer when scripts/env.sh is sourced (npm test does), as the checks expect.
  const target = await startDemoTarget({ load: { rps: 100 }, databaseUrl: process.env.SPARK_TARGET_DATABASE_URL });
  let worker: ReleaseWorker | undefined;
  let client: ReleaseClient | undefined;
  try {
    client = await ReleaseClient.connect(taskQueue);
    worker = await createReleaseWorker({ taskQueue, workflowBundle: await workflowBundle(), metricsPort: opts.workerMetricsPort ?? null, workerConfig: opts.workerConfig });
  } catch (err) {
    await target.stop();
    await client?.close();
    throw err;
  }
  const running = worker.run();
  return {
    target,
    client,
    taskQueue,
    async close() {
      worker!.shutdown();
      await running;
      await client!.close();
      await target.stop();
      await ntp?.stop();
      ntp = undefined;
    },
  };
}

let counter = 0;
/** The test plan with a version no other run has used (a version is released once). */
export function uniquePlan(overrides: Record<string, unknown> = {}): ReleasePlan {
  counter += 1;
  return loadPlanFileWith(TEST_PLAN, {
    version: `v1.4.0-test.${Date.now()}.${process.pid}.${counter}`,
    ...(ntp ? { target: { ntpServer: ntp.url } } : {}),
    ...overrides,
  });
}

/** Polls the status query until `predicate` holds; fails with the last status after `timeoutMs`. */
export async function waitForStatus(
  client: ReleaseClient,
  release: string,
  predicate: (s: ReleaseStatus) => boolean,
  timeoutMs = 120_000,
): Promise<ReleaseStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ReleaseStatus | undefined;
  while (Date.now() < deadline) {
    last = await client.status(release);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`status of ${release} did not reach the expected state within ${timeoutMs} ms; last: phase ${last?.phase}, verdict ${last?.verdict}, stage ${last?.stage?.index}`);
}
