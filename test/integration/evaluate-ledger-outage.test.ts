// An evaluation carries the evidence queued since the last one. With the ledger's PostgreSQL
// down, the queries still answer: the activity fails without a retry and hands the answers
// back in the failure's details, so a breach is acted on while the ledger is away
// (bench/scenarios.ts first-night-db-outage); the records stay queued for the next write.
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import { EVIDENCE_NOT_FLUSHED } from '../../src/activities/types';
import type { EvidenceInput } from '../../src/adapters/ledger/ledger';
import type { InstantResult } from '../../src/adapters/metrics/provider';
import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { createPrometheusProvider } from '../../src/adapters/metrics/prometheus';
import { createTrafficRouter } from '../../src/adapters/traffic';
import { loadConfig } from '../../src/config';
import { startOwnPostgres, type OwnPostgres } from '../chaos/support/own-postgres';

const config = loadConfig();
const dir = path.join(config.runDir, 'test', 'evaluate-ledger-outage');
let postgres: OwnPostgres;
let ledger: PostgresLedger;

beforeAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  postgres = await startOwnPostgres(path.join(dir, 'pg'));
  ledger = await createPostgresLedger({ databaseUrl: postgres.url, evidenceDir: path.join(dir, 'evidence') });
}, 120_000);
afterAll(async () => {
  await ledger.close();
  postgres.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('with the ledger down the evaluation still answers, in a non-retryable failure; the same flush lands once it is back', async () => {
  const acts = createActivities({ ledger, metrics: createPrometheusProvider({ baseUrl: config.prometheusUrl, timeoutMs: 5000 }), router: createTrafficRouter });
  const release = `release-evaluate-outage-${process.pid}-${Date.now()}`;
  const flush: EvidenceInput[] = [{ release, runId: 'run-1', key: 'stage/1/measurements/1', file: 'logs_stage_1.txt', kind: 'measurement', mode: 'append', body: '{"evaluation":1}' }];
  const req = { queries: ['vector(42)'], timeoutMs: 5000, flush };
  const env = new MockActivityEnvironment();

  postgres.stop();
  const failure = await env.run(acts.evaluate, req).then(() => null, (err: unknown) => err);
  expect(failure).toBeInstanceOf(ApplicationFailure);
  const app = failure as ApplicationFailure;
  expect(app).toMatchObject({ type: EVIDENCE_NOT_FLUSHED, nonRetryable: true });
  expect(app.message).toMatch(/^the evidence ledger did not take 1 queued record\(s\): /);
  expect(app.details?.[0]).toMatchObject({ 'vector(42)': { kind: 'value', value: '42' } });

  postgres.start();
  const answers: Record<string, InstantResult> = await env.run(acts.evaluate, req);
  expect(answers['vector(42)']).toMatchObject({ kind: 'value', value: '42' });
  expect((await ledger.verify(release)).ok).toBe(true);
  expect((await ledger.list(release)).map((r) => r.key)).toEqual(['stage/1/measurements/1']);
}, 120_000);
