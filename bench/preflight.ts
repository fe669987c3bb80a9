// Wall time of the whole preflight (T-10): the 10 preflight and the blind-spot
// checks, run as the release workflow runs them (both phases at once, every
// check in parallel, through the real runChecks activity) against the healthy
// demo target: PostgreSQL through pgBouncer, chronyd, Prometheus, demo services.
// The seeds allow 60 s; the goal is 5 s. Numbers go to docs/benchmarks.md.
//
//   bash scripts/services.sh up && npx tsx bench/preflight.ts [--runs 10]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../src/activities';
import { createPostgresLedger } from '../src/adapters/ledger/postgres';
import { createPrometheusProvider } from '../src/adapters/metrics/prometheus';
import { loadConfig } from '../src/config';
import type { CheckPhase } from '../src/plan/catalogue';
import type { CheckOutcome } from '../src/activities/types';
import { checkContext, checkPlan, setTargetEnv, startCheckTargets } from '../test/support/check-targets';
import { percentile } from '../src/activities/checks/target-access';

/** Needs the ritual's signing key; measured with the green button. */
const NOT_HERE = ['blind-sbom-provenance'];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: must be a positive integer (got ${values.runs})`);
  const targets = await startCheckTargets();
  const evidenceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-preflight-'));
  const ledger = await createPostgresLedger({ databaseUrl: loadConfig().databaseUrl, evidenceDir });
  setTargetEnv(targets);
  try {
    const activities = createActivities({
      ledger,
      metrics: createPrometheusProvider({ baseUrl: targets.healthy.prometheus.url, timeoutMs: 5000 }),
      router: () => { throw new Error('preflight does not route traffic'); },
    });
    const walls: number[] = [];
    const slowest = new Map<string, number>();
    let statuses: Record<string, number> = {};
    for (let i = 0; i < runs; i++) {
      const plan = checkPlan(targets, 'healthy');
      const context = checkContext(plan);
      const run = (phase: CheckPhase): Promise<CheckOutcome[]> => new MockActivityEnvironment().run(activities.runChecks, {
        release: `release-bench-preflight-${plan.version}`, runId: `run-${i}`, service: plan.service, version: plan.version,
        phase, checks: plan.checks[phase].filter((c) => !NOT_HERE.includes(c)), timeoutMs: plan.checks.timeout, context,
      });
      const started = performance.now();
      const results = (await Promise.all([run('preflight'), run('blindSpots')])).flat();
      walls.push(performance.now() - started);
      statuses = results.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }), {});
      for (const r of results) slowest.set(r.id, Math.max(slowest.get(r.id) ?? 0, r.durationMs));
    }
    const top = [...slowest].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([id, ms]) => `${id} ${ms} ms`).join(', ');
    console.log(`preflight + blind spots, ${Object.values(statuses).reduce((a, b) => a + b, 0)} checks in parallel, ${runs} runs`);
    console.log(`wall time: median ${percentile(walls, 50).toFixed(0)} ms, max ${Math.max(...walls).toFixed(0)} ms (seed budget 60000 ms, goal 5000 ms)`);
    // baseline-metrics fails here: the bench sends no traffic, so the golden signals have no baseline.
    console.log(`last run: ${Object.entries(statuses).map(([s, n]) => `${n} ${s}`).join(', ')}; slowest checks (max over runs): ${top}`);
  } finally {
    await ledger.close();
    await targets.close();
    fs.rmSync(evidenceDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
