// False failures and right failures of the GO checks (issue 13): every preflight,
// blind-spot, blast-radius and red-team check of the catalogue, run as the release
// workflow runs them (the real runChecks activity and evidence ledger; preflight and
// blind spots at once, then the blast radius, then the red team), `--runs` times
// against the healthy demo target under load while a busy loop holds one core, and
// once against the broken variant, where each must fail for its own reason
// (BROKEN_BECAUSE in test/support/check-targets.ts). A check that errs, times out or
// does not report counts as failing; nothing counts as passed that did not run.
//
//   bash scripts/services.sh up && npx tsx bench/checks.ts --runs 20
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { startLoad } from '../demo/load';
import { createActivities } from '../src/activities';
import { percentile } from '../src/activities/checks/target-access';
import type { CheckOutcome } from '../src/activities/types';
import { createPostgresLedger, type PostgresLedger } from '../src/adapters/ledger/postgres';
import { createPrometheusProvider } from '../src/adapters/metrics/prometheus';
import { loadConfig } from '../src/config';
import { CHECK_CATALOGUE, type CheckPhase } from '../src/plan/catalogue';
import { HUMAN_CHECKS } from '../src/plan/target';
import type { ReleasePlan } from '../src/plan/schema';
import { BROKEN_APART, BROKEN_BECAUSE, checkContext, checkPlan, setTargetEnv, startCheckTargets, type CheckTargets } from '../test/support/check-targets';

const PHASES: CheckPhase[][] = [['preflight', 'blindSpots'], ['blastRadius'], ['redTeam']];
const checksOf = (phase: CheckPhase) => Object.keys(CHECK_CATALOGUE).filter((id) => CHECK_CATALOGUE[id]!.phase === phase);
const ALL = PHASES.flat().flatMap(checksOf);
/** Load on the healthy stable track while the checks run: the baseline needs traffic, and a release has it. */
const LOAD = { rps: 20, wsClients: 2 };

interface Tally {
  falseFailures: number;
  /** Healthy failures by summary, so the table's notes say why. */
  why: Map<string, number>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: must be a positive integer (got ${values.runs})`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-checks-'));
  // The worker's signing key for the SBOM checks: made for this run, as a deployment has its own.
  const keyFile = path.join(work, 'signing.pem');
  fs.writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const targets = await startCheckTargets();
  const ledger = await createPostgresLedger({ databaseUrl: loadConfig().databaseUrl, evidenceDir: path.join(work, 'evidence') });
  setTargetEnv(targets);
  // The other core: a busy loop for the whole bench.
  const burner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  const load = startLoad({ targetUrl: targets.healthy.stable.url, durationMs: 24 * 3600_000, ...LOAD });
  const started = new Date();
  const loadBefore = os.loadavg()[0]!;
  try {
    // Two scrapes of the load at least, so rate() has a baseline to give.
    await sleep(5000);
    const tallies = new Map(ALL.map((id) => [id, { falseFailures: 0, why: new Map() } as Tally]));
    const walls: number[] = [];
    // A late event loop makes every timer of the checks late: reported, so the table can be read against it.
    const lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    process.env.SPARK_SIGNING_KEY = keyFile;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const results = await runAll(targets, ledger, 'healthy', `run-${i + 1}`);
      walls.push(performance.now() - t);
      for (const id of ALL) {
        const r = results.get(id)!;
        if (r.status === 'pass') continue;
        const tally = tallies.get(id)!;
        tally.falseFailures += 1;
        const why = `${r.status}: ${r.summary}`;
        tally.why.set(why, (tally.why.get(why) ?? 0) + 1);
      }
      process.stderr.write(`healthy run ${i + 1}/${runs}: ${[...results.values()].filter((r) => r.status !== 'pass').map((r) => r.id).join(', ') || 'all pass'}\n`);
    }
    lag.disable();
    // The broken worker has no signing key: provenance cannot be recorded.
    delete process.env.SPARK_SIGNING_KEY;
    const broken = await runAll(targets, ledger, 'broken', 'run-broken');
    const loadAfter = os.loadavg()[0]!;
    const stats = await load.stop();
    console.log(table(runs, tallies, broken));
    console.log();
    console.log(`Command: \`bash scripts/services.sh up && npx tsx bench/checks.ts --runs ${runs}\``);
    console.log(`Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), node ${process.version}, ${started.toISOString().slice(0, 16)}Z; `
      + `a busy-loop node process (pid ${burner.pid}) held one core throughout; load ${LOAD.rps} rps and ${LOAD.wsClients} WebSocket clients on the healthy stable `
      + `(${stats.sent} requests, ${stats.transportErrors} transport errors); 1-min load average ${loadBefore.toFixed(1)} at the start, ${loadAfter.toFixed(1)} at the end; `
      + `event-loop delay of the bench process (the checks and the load; the demo services run in processes of their own) during the healthy runs: p99 ${(lag.percentile(99) / 1e6).toFixed(0)} ms, max ${(lag.max / 1e6).toFixed(0)} ms; `
      + `healthy run wall time median ${(percentile(walls, 50) / 1000).toFixed(1)} s, max ${(Math.max(...walls) / 1000).toFixed(1)} s. `
      + `The SBOM checks sign with an Ed25519 key the bench made; the broken run has none.`);
  } finally {
    burner.kill('SIGKILL');
    await load.stop();
    await ledger.close();
    await targets.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Every measured check once, phase by phase as the workflow runs them; a phase that throws fails each of its checks with the error. */
async function runAll(targets: CheckTargets, ledger: PostgresLedger, kind: 'healthy' | 'broken', runId: string): Promise<Map<string, CheckOutcome>> {
  const activities = createActivities({
    ledger,
    // The worker's timeout (src/worker.ts).
    metrics: createPrometheusProvider({ baseUrl: targets[kind].prometheus.url, timeoutMs: 10_000 }),
    router: () => { throw new Error('the checks do not route traffic'); },
  });
  const plans = new Map<string | undefined, ReleasePlan>();
  const planFor = (id: string) => {
    const apart = kind === 'broken' ? BROKEN_APART[id] : undefined;
    if (!plans.has(apart)) plans.set(apart, checkPlan(targets, kind, apart));
    return plans.get(apart)!;
  };
  const run = async (phase: CheckPhase): Promise<CheckOutcome[]> => {
    const byPlan = new Map<ReleasePlan, string[]>();
    for (const id of checksOf(phase)) byPlan.set(planFor(id), [...(byPlan.get(planFor(id)) ?? []), id]);
    const batches = await Promise.all([...byPlan].map(async ([plan, checks]): Promise<CheckOutcome[]> => {
      try {
        return await new MockActivityEnvironment().run(activities.runChecks, {
          release: `release-bench-checks-${plan.version}`, runId, service: plan.service, version: plan.version,
          phase, checks, timeoutMs: plan.checks.timeout, context: checkContext(plan),
        });
      } catch (err) {
        return checks.map((id): CheckOutcome => ({ id, phase, status: 'error', summary: `runChecks threw: ${(err as Error).message}`, files: [], durationMs: 0 }));
      }
    }));
    return batches.flat();
  };
  const results = new Map<string, CheckOutcome>();
  for (const phases of PHASES) for (const r of (await Promise.all(phases.map(run))).flat()) results.set(r.id, r);
  for (const id of ALL) {
    if (!results.has(id)) results.set(id, { id, phase: CHECK_CATALOGUE[id]!.phase, status: 'error', summary: 'did not report', files: [], durationMs: 0 });
  }
  return results;
}

const short = (text: string, max = 110) => (text.length > max ? `${text.slice(0, max - 1)}…` : text).replaceAll('|', '\\|').replaceAll('\n', ' ');

function table(runs: number, tallies: Map<string, Tally>, broken: Map<string, CheckOutcome>): string {
  const rows = ['| check | phase | false failures (of ' + runs + ') | right failure on broken | broken: why (shortened) |', '|---|---|---|---|---|'];
  const notes: string[] = [];
  for (const id of ALL) {
    const tally = tallies.get(id)!;
    const b = broken.get(id)!;
    const reason = BROKEN_BECAUSE[id];
    const right = b.status === 'fail' && reason !== undefined && reason.test(b.summary);
    const verdict = right ? 'yes' : `no (${b.status === 'fail' ? (reason ? 'another reason' : 'no expected reason') : b.status})`;
    const human = HUMAN_CHECKS.includes(id) ? ' (machine part; a person confirms the rest at the red-team gate)' : '';
    rows.push(`| ${id}${human} | ${CHECK_CATALOGUE[id]!.phase} | ${tally.falseFailures} | ${verdict} | ${short(b.summary)} |`);
    for (const [why, n] of tally.why) notes.push(`- ${id} (${n}x): ${short(why, 300)}`);
  }
  const passed = ALL.filter((id) => tallies.get(id)!.falseFailures === 0).length;
  const rightCount = ALL.filter((id) => broken.get(id)!.status === 'fail' && BROKEN_BECAUSE[id]?.test(broken.get(id)!.summary)).length;
  return [
    ...rows,
    '',
    `${ALL.length} checks: ${passed} with no false failure in ${runs} healthy runs; ${rightCount} of ${ALL.length} fail on the broken variant for their own reason.`,
    ...(notes.length ? ['', 'Healthy failures:', ...notes] : []),
  ].join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
