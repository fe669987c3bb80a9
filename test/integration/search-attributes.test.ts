// The client asks the real server which Spark* search attributes a namespace has
// before a release starts: a workflow upserting one the namespace lacks would fail
// its workflow task, so a release only sets them when all six are registered.
import { Client, Connection } from '@temporalio/client';
import { status as grpcStatus } from '@grpc/grpc-js';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { msToTs } from '@temporalio/common/lib/time';
import { ReleaseClient } from '../../src/release-client';
import { temporalSettings } from '../../src/temporal';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/visibility';

const ALL = Object.values(SEARCH_ATTRIBUTES).map((k) => k.name).sort();
// One namespace for every run (the dev server keeps them): it has SparkStage, with the wrong type.
const BARE = 'spark-inspection-test';

let connection: Connection;

beforeAll(async () => {
  connection = await Connection.connect({ address: temporalSettings().connectionOptions.address });
  await connection.workflowService.registerNamespace({ namespace: BARE, workflowExecutionRetentionPeriod: msToTs('1 day') }).catch((err: { code?: number }) => {
    if (err.code !== grpcStatus.ALREADY_EXISTS) throw err;
  });
  // A new namespace becomes usable once the server's namespace cache refreshes (seconds).
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await connection.operatorService.addSearchAttributes({ namespace: BARE, searchAttributes: { SparkStage: encodeSearchAttributeIndexedValueType('KEYWORD')! } });
      break;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === grpcStatus.ALREADY_EXISTS) break;
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
});

afterAll(async () => {
  await connection?.close();
});

test('the default namespace of the dev server has all six (scripts/services.sh registers them)', async () => {
  const client = new ReleaseClient(new Client({ connection, namespace: 'default' }), 'unused');
  expect(await client.missingSearchAttributes()).toEqual([]);
});

test('a namespace without them lacks all six, and one of the wrong type counts as missing', async () => {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: BARE });
  expect(Object.keys(customAttributes ?? {})).toContain('SparkStage');
  const client = new ReleaseClient(new Client({ connection, namespace: BARE }), 'unused');
  expect((await client.missingSearchAttributes()).sort()).toEqual(ALL);
});

test('a namespace the server does not know counts as lacking all six', async () => {
  const client = new ReleaseClient(new Client({ connection, namespace: 'spark-no-such-namespace' }), 'unused');
  expect((await client.missingSearchAttributes()).sort()).toEqual(ALL);
});
