// Fenced weight writes against the real demo router: a stage-weight attempt that is still in
// flight when the rollback sets 0% lands after it, and the rollback sets 0% again; a stage write
// that arrives after the rollback is refused. The canary stays at 0% either way.
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { RollbackTrafficResult } from '../../src/activities/types';
import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { createPrometheusProvider } from '../../src/adapters/metrics/prometheus';
import { createTrafficRouter } from '../../src/adapters/traffic';
import type { TrafficConfig, TrafficRouter } from '../../src/adapters/traffic/router';
import { loadConfig } from '../../src/config';
import { startRouter, type RunningRouter } from '../../demo/router';

const config = loadConfig();
let ledger: PostgresLedger;
let router: RunningRouter;
const env = new MockActivityEnvironment();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  ledger = await createPostgresLedger({ databaseUrl: config.databaseUrl, evidenceDir: `${config.runDir}/test/weight-fence` });
  router = await startRouter({ port: 0, adminPort: 0, stableUrl: 'http://127.0.0.1:9', canaryUrl: 'http://127.0.0.1:9', canaryPercent: 5 });
});
afterAll(async () => {
  await router.close();
  await ledger.close();
});

/** The real router, with the stage's weight change held up on its way (a slow network, a busy nginx). */
function slowStageRouter(traffic: TrafficConfig): TrafficRouter {
  const real = createTrafficRouter(traffic);
  return {
    kind: real.kind,
    setCanaryWeight: async (percent) => {
      if (percent > 0) await sleep(600);
      return real.setCanaryWeight(percent);
    },
    currentCanaryWeight: () => real.currentCanaryWeight(),
  };
}

test('a delayed stage write that lands after the rollback leaves the canary at 0%, and a later one is refused', async () => {
  const acts = createActivities({ ledger, metrics: createPrometheusProvider({ baseUrl: config.prometheusUrl, timeoutMs: 5000 }), router: slowStageRouter });
  const traffic = { router: 'local' as const, adminUrl: router.adminUrl };
  const ref = { release: `release-fence-${process.pid}-${Date.now()}`, runId: 'run-1', service: 'spark-trading', version: 'v1' };
  const real = createTrafficRouter(traffic);

  const stage = env.run(acts.setCanaryWeight, { ...ref, traffic, percent: 25, dryRun: false, generation: 2 });
  await sleep(50); // the stage write is on its way when the rollback starts
  const rolled: RollbackTrafficResult = await env.run(acts.rollbackTraffic, { ...ref, traffic, dryRun: false, timeoutMs: 5000, generation: 3 });
  await stage; // it did land, 25% for a moment ...
  expect(rolled.weightAfter).toBe(0);
  expect(rolled.detail).toMatch(/set again after 1 older write\(s\) in flight/);
  expect(await real.currentCanaryWeight()).toBe(0); // ... and the rollback set 0% after it

  await expect(env.run(acts.setCanaryWeight, { ...ref, traffic, percent: 25, dryRun: false, generation: 2 }))
    .rejects.toThrow('weight 25% (generation 2) refused: generation 3 was applied after it');
  await sleep(700);
  expect(await real.currentCanaryWeight()).toBe(0);
});
