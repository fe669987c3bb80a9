// The per-stage database evidence, read from the real PostgreSQL behind the real pgBouncer
// (scripts/services.sh starts both; scripts/env.sh names them for the worker).
import { MockActivityEnvironment } from '@temporalio/testing';
import { createStageHealthActivities } from '../../src/activities/stage-health';
import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { loadConfig } from '../../src/config';
import { loadPlanFile } from '../../src/plan/loader';
import { targetContext } from '../../src/plan/target';
import { TEST_PLAN } from '../support/harness';

const config = loadConfig();
let ledger: PostgresLedger;
const env = new MockActivityEnvironment();
const ref = () => ({ release: `release-stage-health-${process.pid}-${Date.now()}`, runId: 'run-1', service: 'spark-trading', version: 'v1' });

beforeAll(async () => {
  ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: `${config.runDir}/test/stage-health` });
});
afterAll(() => ledger?.close());

test('entering a stage writes its database health and pgBouncer pool readings', async () => {
  const target = targetContext(loadPlanFile(TEST_PLAN));
  const r = ref();
  const files: string[] = await env.run(createStageHealthActivities({ ledger }).recordStageHealth, { ...r, percent: 25, stage: 3, target, timeoutMs: 10_000 });
  expect(files).toEqual(['db_health_stage_25.txt', 'pgbouncer_stage_25.txt']);
  const bodies = Object.fromEntries((await ledger.list(r.release)).map((x) => [x.file, x.body]));
  expect(bodies['db_health_stage_25.txt']).toMatch(/at stage 3 \(25%\)[\s\S]*database=spark_demo connections=\d+ commits=\d+[\s\S]*connections by state:/);
  expect(bodies['pgbouncer_stage_25.txt']).toMatch(/pool spark_demo:\ndatabase=spark_demo user=\S+ cl_active=\d+[\s\S]*stats:\ndatabase=spark_demo/);
});

test('a database that cannot be reached is written as a failed reading, not skipped', async () => {
  const target = { ...targetContext(loadPlanFile(TEST_PLAN))!, databaseUrlEnv: 'SPARK_TEST_UNSET_DATABASE_URL' };
  const r = ref();
  await env.run(createStageHealthActivities({ ledger }).recordStageHealth, { ...r, percent: 5, stage: 2, target, timeoutMs: 10_000 });
  const db = (await ledger.list(r.release)).find((x) => x.file === 'db_health_stage_5.txt');
  expect(db?.body).toContain('reading failed: target.databaseUrlEnv names SPARK_TEST_UNSET_DATABASE_URL, which is not set');
});
