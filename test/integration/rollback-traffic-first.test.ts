// Rollback moves traffic first: with Prometheus frozen (it accepts connections and never
// answers, as a SIGSTOPped server does), the canary still reaches 0% through the real demo
// router, and the evidence written afterwards says which measurements could not be taken.
// Real PostgreSQL, the real demo router, a real TCP listener standing in for a frozen Prometheus.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { RollbackResult, RollbackTrafficResult } from '../../src/activities/types';
import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { createPrometheusProvider } from '../../src/adapters/metrics/prometheus';
import { createTrafficRouter } from '../../src/adapters/traffic';
import { loadConfig } from '../../src/config';
import { startRouter, type RunningRouter } from '../../demo/router';

const config = loadConfig();
let ledger: PostgresLedger;
let frozen: net.Server;
let frozenUrl: string;
let router: RunningRouter;
const held: net.Socket[] = [];

beforeAll(async () => {
  ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: `${config.runDir}/test/rollback-traffic-first` });
  frozen = net.createServer((socket) => held.push(socket)); // reads nothing, answers nothing
  await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
  frozenUrl = `http://127.0.0.1:${(frozen.address() as AddressInfo).port}`;
  // Upstreams are never called: only the admin API (the weight) is used here.
  router = await startRouter({ port: 0, adminPort: 0, stableUrl: 'http://127.0.0.1:9', canaryUrl: 'http://127.0.0.1:9', canaryPercent: 25 });
});
afterAll(async () => {
  for (const s of held) s.destroy();
  await new Promise((r) => frozen.close(r));
  await router.close();
  await ledger.close();
});

test('a frozen Prometheus neither delays the canary reaching 0% nor stops the rollback completing', async () => {
  const acts = createActivities({
    ledger,
    metrics: createPrometheusProvider({ baseUrl: frozenUrl, timeoutMs: 60_000 }),
    router: (traffic) => createTrafficRouter(traffic),
  });
  const ref = { release: `release-rollback-first-${process.pid}-${Date.now()}`, runId: 'run-1', service: 'spark-trading', version: 'v1' };
  const traffic = { router: 'local' as const, adminUrl: router.adminUrl };
  const env = new MockActivityEnvironment();

  const moved: RollbackTrafficResult = await env.run(acts.rollbackTraffic, { ...ref, traffic, dryRun: false, timeoutMs: 5000, generation: 1 });
  expect(moved.weightAfter).toBe(0);
  expect(await createTrafficRouter(traffic).currentCanaryWeight()).toBe(0);
  expect(held).toHaveLength(0); // Prometheus was not asked anything on the way to 0%

  const before = { at: '2026-12-02T10:00:00.000Z', results: { 'p95 query': { kind: 'value' as const, value: '412', series: 1, resolvedQuery: 'p95 query', at: '2026-12-02T10:00:00.000Z' } } };
  const recorded: RollbackResult = await env.run(acts.recordRollback, {
    ...ref, reason: 'p95 over 400 ms', cause: 'api_p95_over_400ms', stage: 3, fromTraffic: 25, requestedAt: '2026-12-02T10:00:01.000Z',
    trafficAt: moved.at, weightAfter: moved.weightAfter, detail: moved.detail, before,
    queries: { api_p95: 'p95 query' }, timeoutMs: 300, flush: [],
  });
  expect(recorded.evidence).toEqual(['rollback_20261202T100001Z.txt', 'metrics_before_rollback_20261202T100001Z.txt', 'metrics_after_rollback_20261202T100001Z.txt']);
  const bodies = Object.fromEntries((await ledger.list(ref.release)).map((r) => [r.file, r.body]));
  expect(bodies['metrics_before_rollback_20261202T100001Z.txt']).toContain('api_p95: 412 (at 2026-12-02T10:00:00.000Z)');
  expect(bodies['metrics_after_rollback_20261202T100001Z.txt']).toMatch(/api_p95: query error: Prometheus at .* did not answer within 300 ms/);
  expect(bodies['rollback_20261202T100001Z.txt']).toContain('canary weight after: 0%');
  expect(await ledger.verify(ref.release)).toMatchObject({ ok: true, records: 3 });
});
