// `status` of a release needs no worker once the release has ended (it reads the workflow's
// result), and a running release whose worker is gone is reported with its last known state,
// marked as such, instead of an opaque "Failed to query Workflow". Real Temporal dev server.
import { ReleaseClient, ReleaseCommandError } from '../../src/release-client';
import { startHarness, uniquePlan, type Harness } from '../support/harness';

let h: Harness | undefined;
let idle: ReleaseClient | undefined;

afterAll(async () => {
  await h?.close();
  await idle?.close();
});

test('an ended release shows its final status with no worker running', async () => {
  h = await startHarness('status-after-end');
  const plan = uniquePlan(); // nobody answers GO: the release ends NO-GO without moving traffic
  const { release } = await h.client.start(plan, 'deniz');
  expect((await h.client.result(release)).verdict).toBe('no-go');
  // What the Temporal UI shows of an ended release is final: the search attributes and the current details.
  const handle = h.client.client.workflow.getHandle(release);
  const attrs = (await handle.describe()).searchAttributes as Record<string, unknown[]>;
  expect([attrs.SparkPhase?.[0], attrs.SparkVerdict?.[0]]).toEqual(['done', 'no-go']);
  const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  expect(metadata.currentDetails).toMatch(/phase \*\*done\*\*, canary weight \*\*0%\*\*, verdict \*\*no-go\*\*/);
  const taskQueue = h.taskQueue;
  await h.close();
  h = undefined;

  idle = await ReleaseClient.connect(taskQueue);
  const status = await idle.status(release);
  expect(status).toMatchObject({ release, verdict: 'no-go', phase: 'done', canaryWeight: 0 });
  expect(status.gates.go.state).toBe('timed-out');
});

test('a running release whose worker is gone is refused with its last known state', async () => {
  idle ??= await ReleaseClient.connect(`status-no-worker-${process.pid}-${Date.now()}`);
  const { release } = await idle.start(uniquePlan(), 'deniz'); // no worker polls this task queue
  try {
    const refusal = await idle.status(release).then(() => null, (err: unknown) => err);
    expect(refusal).toBeInstanceOf(ReleaseCommandError);
    expect((refusal as Error).message).toMatch(new RegExp(`release ${release} \\(RUNNING\\): no worker answered the status query within 15 s .*Last known from the search attributes.*phase .*verdict .*Start a worker`));
  } finally {
    await idle.client.workflow.getHandle(release).terminate('test over');
  }
});
