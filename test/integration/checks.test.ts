// The release checks of the target (preflight, blind spots, micro blast radius,
// red team and corner cases) through the real runChecks activity: against the
// healthy demo target every check passes and its evidence file is written;
// against the broken variant each fails, saying why. Real PostgreSQL, pgBouncer,
// Prometheus, chronyd and demo services (test/support/check-targets.ts); the
// same targets and reasons as bench/checks.ts, which also runs the SBOM checks,
// the baseline and micro-prom, under load.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { CheckOutcome } from '../../src/activities/types';
import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { createPrometheusProvider } from '../../src/adapters/metrics/prometheus';
import { loadConfig } from '../../src/config';
import { CHECK_CATALOGUE, checkFiles, type CheckPhase } from '../../src/plan/catalogue';
import type { ReleasePlan } from '../../src/plan/schema';
import { BROKEN_APART, BROKEN_BECAUSE, checkContext, checkPlan, setTargetEnv, startCheckTargets, TARGET_URLS, type CheckTargets } from '../support/check-targets';

jest.setTimeout(180_000);

/** Checks of the green button ritual and those judged on live golden signals are other tests' business. */
const OTHER_TESTS = ['blind-sbom-provenance', 'rt-sbom-attached', 'rt-sbom-licence-drift', 'baseline-metrics', 'micro-prom'];
const PHASES: CheckPhase[] = ['preflight', 'blindSpots', 'blastRadius', 'redTeam'];
const checksOf = (phase: CheckPhase) => Object.keys(CHECK_CATALOGUE).filter((id) => CHECK_CATALOGUE[id]!.phase === phase && !OTHER_TESTS.includes(id));

let targets: CheckTargets;
let ledger: PostgresLedger;
let evidenceDir: string;
let archiving: boolean;

beforeAll(async () => {
  targets = await startCheckTargets();
  evidenceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'checks-test-'));
  ledger = await createPostgresLedger({ databaseUrl: loadConfig().databaseUrl, evidenceDir });
  setTargetEnv(targets);
  // Real orders on the healthy canary, so the outbox has deliveries to measure.
  for (let i = 0; i < 5; i++) {
    await fetch(`${targets.healthy.canary.url}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `checks-test-${Date.now()}-${i}` },
      body: JSON.stringify({ symbol: 'GARAN', side: 'buy', quantity: 2, price: '112.30' }),
    });
  }
  const { Client } = await import('pg');
  const db = new Client({ connectionString: TARGET_URLS.brokenDatabase });
  await db.connect();
  archiving = (await db.query<{ archive_mode: string }>('SHOW archive_mode')).rows[0]!.archive_mode !== 'off';
  await db.end();
});

afterAll(async () => {
  await ledger?.close();
  await targets?.close();
  if (evidenceDir) fs.rmSync(evidenceDir, { recursive: true, force: true });
});

async function runPhase(kind: 'healthy' | 'broken', plan: ReleasePlan, phase: CheckPhase, checks = checksOf(phase)): Promise<CheckOutcome[]> {
  const activities = createActivities({
    ledger,
    metrics: createPrometheusProvider({ baseUrl: targets[kind].prometheus.url, timeoutMs: 5000 }),
    router: () => { throw new Error('checks do not route traffic'); },
  });
  const release = `release-checks-test-${plan.version}`;
  return new MockActivityEnvironment().run(activities.runChecks, {
    release, runId: 'run-1', service: plan.service, version: plan.version, phase, checks, timeoutMs: plan.checks.timeout,
    context: checkContext(plan),
  });
}

const describeAll = (results: CheckOutcome[]) => results.map((r) => `${r.id}: ${r.status}: ${r.summary}`).join('\n');

describe.each(PHASES)('%s checks', (phase) => {
  test('pass against the healthy target and write their evidence files', async () => {
    const plan = checkPlan(targets, 'healthy');
    const results = await runPhase('healthy', plan, phase);
    // The local PostgreSQL may run without WAL archiving: then PITR is impossible, and the check must say so.
    const pitr = results.find((r) => r.id === 'rt-pitr-cold-start');
    if (pitr && !archiving) expect(pitr.summary).toMatch(/WAL archiving is off \(archive_mode\): no point-in-time recovery is possible/);
    const notPassing = results.filter((r) => r.status !== 'pass' && !(r === pitr && !archiving));
    expect(describeAll(notPassing)).toBe('');
    const dir = path.join(evidenceDir, `release-checks-test-${plan.version}`);
    for (const r of results) {
      for (const file of checkFiles(r.id, plan.version)) expect(fs.existsSync(path.join(dir, file)) ? file : `${r.id} did not write ${file}`).toBe(file);
    }
    expect(fs.readFileSync(path.join(dir, `checks_${phase}_${plan.version}.txt`), 'utf8')).toContain(results[0]!.id);
  });

  test('fail against the broken target, each for its reason', async () => {
    const plan = checkPlan(targets, 'broken');
    // A check whose broken condition is a server setting runs against a broken server of its own.
    const apart = checksOf(phase).filter((id) => BROKEN_APART[id]);
    const results = [
      ...await runPhase('broken', plan, phase, checksOf(phase).filter((id) => !BROKEN_APART[id])),
      ...(await Promise.all(apart.map((id) => runPhase('broken', checkPlan(targets, 'broken', BROKEN_APART[id]), phase, [id])))).flat(),
    ];
    for (const r of results) {
      const reason = BROKEN_BECAUSE[r.id];
      if (!reason) throw new Error(`no expected failure for ${r.id}`);
      expect(`${r.id}: ${r.status}: ${r.summary}`).toMatch(new RegExp(`^${r.id}: fail: .*${reason.source}`));
    }
  });
});

test('a check that needs a setting the worker lacks fails naming it', async () => {
  const plan = checkPlan(targets, 'healthy');
  delete process.env.SPARK_BROKEN_DATABASE_URL;
  try {
    const results = await runPhase('broken', { ...plan, target: { ...plan.target!, databaseUrlEnv: 'SPARK_BROKEN_DATABASE_URL' } }, 'preflight');
    expect(results.find((r) => r.id === 'prisma-migrations')!.summary).toBe(
      "target.databaseUrlEnv names SPARK_BROKEN_DATABASE_URL, which is not set in the worker's environment");
  } finally {
    process.env.SPARK_BROKEN_DATABASE_URL = TARGET_URLS.brokenDatabase;
  }
});
