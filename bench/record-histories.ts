// Records workflow histories from real runs for the replay test (test/replay/):
// a released, a rolled-back, an aborted and a NO-GO release, one of them with a
// worker killed mid-canary (so its history holds a timed-out workflow task).
// Everything runs on its own ports (test/chaos/support/chaos-env.ts).
//
//   npx tsx bench/record-histories.ts [--out test/replay/histories]
//
// Run it after a deliberate, patched() change to workflow code to add histories of
// the new shape; never re-record to make an unpatched change pass (docs/reliability.md).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../src/config';
import { seededRandom } from '../demo/prng';
import { startChaosEnv } from '../test/chaos/support/chaos-env';
import { CrashDriver, type Scenario } from '../test/chaos/support/crash-driver';

const RECORDED: (Scenario & { file: string })[] = [
  { file: 'released-with-kill.json', name: 'released, worker killed in stage 2', expected: 'released', targets: [{ trigger: { on: 'idle', phase: 'canary', stage: 1 } }] },
  { file: 'rolled-back.json', name: 'failing canary', expected: 'rolled-back', faultAtStage: 3, targets: [] },
  { file: 'aborted.json', name: 'aborted in stage 2', expected: 'aborted', abortAtStage: 2, targets: [] },
  { file: 'no-go.json', name: 'NO-GO', expected: 'no-go', gate: 'no-go', targets: [] },
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: path.join('test', 'replay', 'histories') } } });
  const out = values.out!;
  fs.mkdirSync(out, { recursive: true });
  // Replay needs each history's workflow ID (child workflow IDs derive from it).
  const index = path.join(out, 'workflow-ids.json');
  const ids = (fs.existsSync(index) ? JSON.parse(fs.readFileSync(index, 'utf8')) : {}) as Record<string, string>;
  const env = await startChaosEnv({ name: 'record' });
  const driver = new CrashDriver(env, { random: seededRandom(3), maxDownMs: 200 });
  try {
    await driver.start();
    for (const scenario of RECORDED) {
      const run = await driver.run(scenario);
      if (run.verdict !== scenario.expected || run.violations.length > 0) {
        throw new Error(`${scenario.name}: verdict ${run.verdict} (expected ${scenario.expected}), violations: ${JSON.stringify(run.violations)}`);
      }
      // The CLI's JSON is the format every Temporal tool reads (historyFromJSON included).
      const json = execFileSync(path.join(loadConfig().toolsBin, 'temporal'), ['workflow', 'show', '--address', env.temporal.address, '-w', run.release, '-o', 'json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      const history = JSON.parse(json) as { events: unknown[] };
      fs.writeFileSync(path.join(out, scenario.file), `${JSON.stringify(history, null, 1)}\n`);
      ids[scenario.file] = run.release;
      fs.writeFileSync(index, `${JSON.stringify(ids, null, 2)}\n`);
      console.log(`[record] ${scenario.file}: ${run.release} ${run.verdict}, ${history.events.length} events`);
    }
  } finally {
    await driver.close();
    await env.close();
  }
}

if (require.main === module) {
  main().then(() => process.exit(0), (err: unknown) => {
    console.error(`recording failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
}
