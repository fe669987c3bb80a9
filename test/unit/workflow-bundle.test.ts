// The workflow code bundles for Temporal's sandbox and pulls in none of the
// worker-side modules (database, HTTP, licences): those belong in activities.
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

test('the workflows bundle without Node-only or worker-side modules', async () => {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: new DefaultLogger('ERROR'),
  });
  expect(code).toContain('releaseWorkflow');
  for (const forbidden of ['node_modules/pg/', 'spdx-', 'node_modules/@slack/', 'node_modules/prom-client/', 'node_modules/@octokit/']) {
    expect(code).not.toContain(forbidden);
  }
}, 120_000);
