// The plan cannot run code: a release whose plan names a router, URL or file the
// worker's configuration (config/worker.yaml) does not have is refused by its first
// activity, before anything else runs, on the real Temporal dev server.
import { temporal } from '@temporalio/proto';
import { WorkflowFailedError } from '@temporalio/client';
import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { loadConfig, loadWorkerConfig, routerSettings } from '../../src/config';
import { ReleaseClient } from '../../src/release-client';
import { createReleaseWorker, type ReleaseWorker } from '../../src/worker';
import { uniquePlan, workflowBundle } from '../support/harness';

const taskQueue = `test-worker-config-${process.pid}-${Date.now()}`;
let client: ReleaseClient;
let worker: ReleaseWorker;
let running: Promise<void>;
let ledger: PostgresLedger;

beforeAll(async () => {
  client = await ReleaseClient.connect(taskQueue);
  worker = await createReleaseWorker({ taskQueue, workflowBundle: await workflowBundle(), metricsPort: null });
  running = worker.run();
  const config = loadConfig();
  ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: config.evidenceDir });
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await client?.close();
  await ledger?.close();
});

test.each<[string, Record<string, unknown>, RegExp]>([
  ['an unknown command router', { traffic: { router: 'command', name: 'rm-rf' } }, /traffic\.name: the worker has no command router "rm-rf" \(its command routers: demo-admin\)/],
  ['an nginx router the worker has only as a command', { traffic: { router: 'nginx', name: 'demo-admin' } }, /traffic\.name: the worker has no nginx router "demo-admin" \(its nginx routers: edge\)/],
  ['an HAProxy router the worker does not have', { traffic: { router: 'haproxy', name: 'edge' } }, /traffic\.name: the worker has no haproxy router "edge" \(its haproxy routers: none\)/],
  ['a target host outside the URL prefixes', { target: { canaryUrl: 'http://evil.example:18082' } }, /target\.canaryUrl: http:\/\/evil\.example:18082 is outside the worker's URL prefixes/],
  ['a local router on a foreign host', { traffic: { router: 'local', adminUrl: 'http://127.0.0.1.evil.example/' } }, /traffic\.adminUrl: .* is outside the worker's URL prefixes/],
  ['a path outside the worker\'s paths', { target: { migrations: '/etc/ssl/private' }, ritual: { lockfile: '../../secrets.json' } }, /target\.migrations: \/etc\/ssl\/private is outside the worker's paths.*; ritual\.lockfile: \.\.\/\.\.\/secrets\.json is outside/],
])('a plan naming %s is refused before anything runs', async (_name, overrides, expected) => {
  // The traffic section replaces the plan's (a merge would keep its adminUrl); the workflow gets it unparsed, as from any starter.
  const { traffic, ...rest } = overrides;
  const plan = uniquePlan(rest);
  const { release } = await client.start(traffic ? { ...plan, traffic: traffic as typeof plan.traffic } : plan, 'deniz');
  const failure = await client.result(release).then(() => null, (err: unknown) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect(String((failure as WorkflowFailedError).cause?.message)).toMatch(/^plan refused by the worker's configuration: /);
  expect(String((failure as WorkflowFailedError).cause?.message)).toMatch(expected);
  // Nothing ran: the one activity is the one that read the worker's allowances, and no evidence was written.
  const { handle } = await client.handle(release);
  const { events } = await handle.fetchHistory();
  const activities = events!.filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
  expect(activities.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)).toEqual(['workerAllowances']);
  expect(await ledger.list(release)).toEqual([]);
}, 60_000);

test('the worker resolves a plan\'s router by name and refuses what its configuration does not hold', () => {
  const config = loadWorkerConfig();
  expect(routerSettings(config, { router: 'command', name: 'demo-admin' })).toMatchObject({ router: 'command', timeoutMs: 10_000 });
  expect(() => routerSettings(config, { router: 'command', name: 'rm-rf' })).toThrow(/traffic\.name: this worker has no command router "rm-rf"/);
  expect(() => routerSettings(config, { router: 'local', adminUrl: 'http://10.0.0.1:18089' })).toThrow(/traffic\.adminUrl: http:\/\/10\.0\.0\.1:18089 is outside/);
  expect(() => loadWorkerConfig('/nonexistent/worker.yaml')).toThrow(/worker configuration \/nonexistent\/worker\.yaml: ENOENT/);
});
