// An activity whose worker died after it wrote its evidence is retried with the
// same evidence keys and fresh content. The raw ledger refuses the rewrite, so
// the retry failed on every attempt (found by bench/crash.ts: an announce after
// a kill failed 5 times; a rollback's retry would loop forever). The worker's
// ledger keeps the first attempt's records instead. Real PostgreSQL.
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import { firstWriterWinsOnRetry } from '../../src/activities/evidence-retry';
import { createNotifyActivities } from '../../src/activities/notify';
import type { AnnounceRequest, RecordRollbackRequest, RollbackResult } from '../../src/activities/types';
import { createPostgresLedger, EvidenceConflictError, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { createPrometheusProvider } from '../../src/adapters/metrics/prometheus';
import { createTrafficRouter } from '../../src/adapters/traffic';
import { loadConfig } from '../../src/config';

const config = loadConfig();
let raw: PostgresLedger;
let n = 0;
const releaseName = () => `release-chaos-retry-${process.pid}-${Date.now()}-${++n}`;
const attempt = (k: number) => new MockActivityEnvironment({ attempt: k });
const tick = () => new Promise((r) => setTimeout(r, 5));

beforeAll(async () => {
  raw = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: `${config.runDir}/chaos/evidence-retry` });
});
afterAll(() => raw?.close());

function announceRequest(release: string): AnnounceRequest {
  return { release, runId: 'run-1', service: 'spark-trading', version: 'v1', channel: '#spark-deploys', text: 'ROLLBACK of v1', key: 'announce/rollback' };
}

test('a retried announce fails against the raw ledger and keeps the first record with the worker ledger', async () => {
  const release = releaseName();
  await attempt(1).run(createNotifyActivities({ ledger: raw }).announce, announceRequest(release));
  await tick();
  // The bug: the retry's body has a new timestamp under the same key.
  await expect(attempt(2).run(createNotifyActivities({ ledger: raw }).announce, announceRequest(release))).rejects.toThrow(EvidenceConflictError);

  const first = (await raw.list(release)).find((r) => r.key === 'announce/rollback')!;
  await expect(attempt(2).run(createNotifyActivities({ ledger: firstWriterWinsOnRetry(raw) }).announce, announceRequest(release))).resolves.toMatchObject({ delivered: false });
  const records = await raw.list(release);
  expect(records.filter((r) => r.key === 'announce/rollback')).toEqual([first]);
  expect(await raw.verify(release)).toMatchObject({ ok: true, records: 2 }); // the intent and the delivery
});

test('a first attempt that rewrites a recorded key is still refused', async () => {
  const release = releaseName();
  const ledger = firstWriterWinsOnRetry(raw);
  await attempt(1).run(createNotifyActivities({ ledger }).announce, announceRequest(release));
  await tick();
  await expect(attempt(1).run(createNotifyActivities({ ledger }).announce, announceRequest(release))).rejects.toThrow(EvidenceConflictError);
});

test('a rollback retried after a crash completes, keeps the first measurements and writes what is new', async () => {
  const release = releaseName();
  const deps = (ledger: typeof raw | ReturnType<typeof firstWriterWinsOnRetry>) => createActivities({
    ledger,
    metrics: createPrometheusProvider({ baseUrl: config.prometheusUrl, timeoutMs: 5000 }),
    router: (traffic) => createTrafficRouter(traffic),
  });
  const req: RecordRollbackRequest = {
    release, runId: 'run-1', service: 'spark-trading', version: 'v1',
    reason: 'chaos', cause: 'error_rate_5xx', stage: 3, fromTraffic: 25, requestedAt: '2026-11-21T10:00:00.000Z',
    trafficAt: '2026-11-21T10:00:01.000Z', weightAfter: 0, detail: 'record-only', before: null,
    queries: { up: 'up{job="prometheus"}' }, timeoutMs: 5000, flush: [],
  };
  await attempt(1).run(deps(raw).recordRollback, req);
  await tick();
  await expect(attempt(2).run(deps(raw).recordRollback, req)).rejects.toThrow(EvidenceConflictError);

  const before = await raw.list(release);
  // The retry also flushes evidence the workflow queued after the first attempt: that part is new and written.
  const flushed = { release, runId: 'run-1', key: 'warroom/late', file: 'warroom_log.txt', kind: 'warroom' as const, mode: 'append' as const, body: 'late line' };
  const result: RollbackResult = await attempt(2).run(deps(firstWriterWinsOnRetry(raw)).recordRollback, { ...req, flush: [flushed] });
  expect(result.evidence).toEqual(['rollback_20261121T100000Z.txt', 'metrics_before_rollback_20261121T100000Z.txt', 'metrics_after_rollback_20261121T100000Z.txt']);
  const after = await raw.list(release);
  expect(after.slice(0, before.length)).toEqual(before);
  expect(after.map((r) => r.key).slice(before.length)).toEqual(['warroom/late']);
  expect(await raw.verify(release)).toMatchObject({ ok: true, records: before.length + 1 });
});
