// A release worker as its own process, so a chaos run can SIGKILL it. Settings
// come from the environment (TEMPORAL_ADDRESS, DATABASE_URL, PROMETHEUS_URL,
// SPARK_TASK_QUEUE, SPARK_EVIDENCE_DIR) like src/worker.ts; CHAOS_WORKFLOW_BUNDLE
// names a prebuilt workflow bundle so a restart takes a second, not a bundling.
// With CHAOS_STANDBY=1 the worker is built (modules loaded, connected) but polls only
// once a line arrives on stdin: a warm standby that takes over the moment another is
// killed. (Not a signal: Temporal's runtime shuts workers down on SIGUSR2.)
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createReleaseWorker } from '../../../src/worker';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const codePath = process.env.CHAOS_WORKFLOW_BUNDLE;
  if (!codePath) throw new Error('CHAOS_WORKFLOW_BUNDLE: must name a prebuilt workflow bundle');
  const worker = await createReleaseWorker({ workflowBundle: { codePath }, metricsPort: null });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => worker.shutdown());
  if (process.env.CHAOS_STANDBY === '1') {
    console.log('worker standing by');
    await new Promise((resolve) => process.stdin.once('data', resolve));
    process.stdin.pause();
  }
  const running = worker.run();
  // The parent waits for this line before it counts the worker as up.
  console.log('worker ready');
  await running;
}

main().catch((err: unknown) => {
  console.error(`worker failed: ${(err as Error).message}`);
  process.exit(1);
});
