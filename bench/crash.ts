// Crash test: releases of the compressed workflow-test plan whose worker is
// killed with SIGKILL at chosen kill points in every phase, then restarted;
// after each release the invariants of test/chaos/support/invariants.ts are
// checked. Everything runs on its own loopback ports (own Temporal dev server,
// demo target, Prometheus); only the evidence PostgreSQL is the shared one.
//
//   npx tsx bench/crash.ts [--kills 50] [--seed 1] [--max-minutes 45] [--only <scenario>] [--out .run/chaos/crash/results.json]
//
// Exit code 0 only when every release kept every invariant and at least --kills kills happened.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from '../demo/prng';
import { PHASES } from '../src/plan/schema';
import { startChaosEnv } from '../test/chaos/support/chaos-env';
import { CrashDriver, type KillPoint, type Scenario, type ScenarioRun } from '../test/chaos/support/crash-driver';
import { INVARIANTS } from '../test/chaos/support/invariants';

/** Three kinds of release and where each is killed; together they cover every phase. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'healthy',
    expected: 'released',
    targets: [
      { trigger: { on: 'idle', phase: 'freeze' } },
      { trigger: { on: 'idle', phase: 'war-room' } },
      { trigger: { on: 'phase', phase: 'preflight' }, jitterMs: 1500 },
      { trigger: { on: 'gate-open' }, jitterMs: 300 },
      { trigger: { on: 'weight', percent: 1 } },
      { trigger: { on: 'idle', phase: 'canary', stage: 1 } },
      { trigger: { on: 'idle', phase: 'canary', stage: 2 } },
      { trigger: { on: 'weight', percent: 50 } },
      { trigger: { on: 'idle', phase: 'canary', stage: 4 } },
      { trigger: { on: 'idle', phase: 'first-night' } },
      { trigger: { on: 'evidence', like: 'announce/close-out' } },
    ],
  },
  {
    name: 'failing canary',
    expected: 'rolled-back',
    faultAtStage: 3,
    targets: [
      { trigger: { on: 'idle', phase: 'war-room' } },
      { trigger: { on: 'phase', phase: 'blast-radius' }, jitterMs: 300 },
      { trigger: { on: 'phase', phase: 'red-team' }, jitterMs: 300 },
      { trigger: { on: 'phase', phase: 'green-button' }, jitterMs: 300 },
      { trigger: { on: 'idle', phase: 'canary', stage: 0 } },
      { trigger: { on: 'weight', percent: 25 } },
      { trigger: { on: 'idle', phase: 'canary', stage: 2 } },
      { trigger: { on: 'weight', percent: 0 } },
      { trigger: { on: 'evidence', like: 'rollback/%/after' } },
      { trigger: { on: 'evidence', like: 'announce/rollback' } },
    ],
  },
  {
    name: 'aborted canary',
    expected: 'aborted',
    abortAtStage: 2,
    targets: [
      { trigger: { on: 'phase', phase: 'preflight' }, jitterMs: 3000 },
      { trigger: { on: 'phase', phase: 'go-no-go' }, jitterMs: 200 },
      { trigger: { on: 'idle', phase: 'canary', stage: 0 } },
      { trigger: { on: 'abort-sent' } },
      { trigger: { on: 'weight', percent: 0 } },
      { trigger: { on: 'evidence', like: 'verdict' } },
    ],
  },
];

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function report(runs: ScenarioRun[], kills: KillPoint[]): string {
  const lines = ['| kill phase | kills | releases that kept every invariant |', '|---|---|---|'];
  const clean = new Set(runs.filter((r) => r.violations.length === 0).map((r) => r.release));
  for (const phase of [...PHASES, 'done', 'unknown']) {
    const here = kills.filter((k) => k.phase === phase);
    if (here.length === 0) continue;
    const releases = new Set(here.map((k) => k.release));
    lines.push(`| ${phase} | ${here.length} | ${[...releases].filter((r) => clean.has(r)).length}/${releases.size} |`);
  }
  const exact = kills.filter((k) => k.target.includes('before the ack')).length;
  const recovery = kills.map((k) => k.recoveryMs).filter((v): v is number => v !== null);
  lines.push('', `kills: ${kills.length} (${exact} at an exact moment: after the router or the ledger acted, before the worker reported it)`);
  lines.push(`releases: ${runs.length}; verdicts: ${runs.map((r) => `${r.scenario} -> ${r.verdict ?? 'none'}${r.verdict === r.expected ? '' : ` (expected ${r.expected}: ${r.reason})`}`).join('; ')}`);
  lines.push(`recovery (kill to the next completed workflow task): median ${percentile(recovery, 50)} ms, p90 ${percentile(recovery, 90)} ms, max ${percentile(recovery, 100)} ms`);
  const violations = runs.flatMap((r) => r.violations);
  lines.push(`invariant violations: ${violations.length}`);
  for (const inv of INVARIANTS) lines.push(`  ${inv}: ${violations.filter((v) => v.invariant === inv).length}`);
  for (const v of violations) lines.push(`  - ${v.release} ${v.invariant}: ${v.detail}`);
  const missed = runs.flatMap((r) => r.missed.map((m) => `${r.scenario}: ${m}`));
  if (missed.length) lines.push(`kill targets the release passed before they came: ${missed.join('; ')}`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: '50' },
      seed: { type: 'string', default: '1' },
      'max-minutes': { type: 'string', default: '45' },
      out: { type: 'string', default: path.join('.run', 'chaos', 'crash', 'results.json') },
      only: { type: 'string' },
    },
  });
  const scenarios = values.only ? SCENARIOS.filter((s) => s.name === values.only) : SCENARIOS;
  if (scenarios.length === 0) throw new Error(`--only: no scenario "${values.only}" (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  const wanted = Number(values.kills);
  const seed = Number(values.seed);
  const maxMs = Number(values['max-minutes']) * 60_000;
  for (const [flag, n] of [['--kills', wanted], ['--seed', seed], ['--max-minutes', maxMs]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: must be a whole number of at least 1`);
  }
  const started = Date.now();
  const log = (line: string) => console.log(`[crash ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}`);
  const env = await startChaosEnv({ name: 'crash' });
  const driver = new CrashDriver(env, { random: seededRandom(seed), log });
  const runs: ScenarioRun[] = [];
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the worker and every service this run started`);
      process.on('uncaughtException', () => undefined); // calls cut short by the shutdown
      void env.close().finally(() => process.exit(130));
    });
  }
  try {
    await driver.start();
    for (let i = 0; driver.kills < wanted; i++) {
      if (Date.now() - started > maxMs) {
        log(`stopping: --max-minutes ${values['max-minutes']} reached after ${driver.kills} kills`);
        break;
      }
      const scenario = scenarios[i % scenarios.length]!;
      log(`release ${i + 1}: ${scenario.name}`);
      const run = await driver.run(scenario);
      runs.push(run);
      log(`  ${run.release}: ${run.verdict ?? 'no verdict'} in ${Math.round(run.durationMs / 1000)} s, ${run.kills.length} kills, ${run.violations.length} violations`);
      for (const v of run.violations) log(`  VIOLATION ${v.invariant}: ${v.detail}`);
    }
  } finally {
    await driver.close();
    await env.close();
  }
  const kills = runs.flatMap((r) => r.kills);
  fs.mkdirSync(path.dirname(values.out!), { recursive: true });
  fs.writeFileSync(values.out!, JSON.stringify({ seed, minutes: (Date.now() - started) / 60_000, runs: runs.map(({ facts: _facts, ...r }) => r) }, null, 2));
  console.log(report(runs, kills));
  console.log(`details: ${values.out}`);
  return runs.every((r) => r.violations.length === 0) && kills.length >= wanted ? 0 : 1;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (err: unknown) => {
    console.error(`crash test failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(2);
  });
}
