// Records workflow histories from real runs for the replay test (test/replay/):
// a released, a rolled-back, an aborted and a NO-GO release, one of them with a
// worker killed mid-canary (so its history holds a timed-out workflow task), and
// a release whose first night continues as new (each run of that child is a history).
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

const RECORDED: (Scenario & { file: string; children?: boolean })[] = [
  // Each evaluation of the 4.5 s stages also asks for the canary-versus-stable counts of both tracks.
  {
    file: 'released-with-kill.json', name: 'released, worker killed in stage 2', expected: 'released', targets: [{ trigger: { on: 'idle', phase: 'canary', stage: 1 } }],
  },
  { file: 'rolled-back.json', name: 'failing canary', expected: 'rolled-back', faultAtStage: 3, targets: [] },
  { file: 'aborted.json', name: 'aborted in stage 2', expected: 'aborted', abortAtStage: 2, targets: [] },
  { file: 'no-go.json', name: 'NO-GO', expected: 'no-go', gate: 'no-go', targets: [] },
  // 16 first-night checks: more than one run of the child holds (CHECKS_PER_RUN), so it continues as new.
  {
    file: 'released-first-night.json', name: 'released, first night continued as new', expected: 'released', targets: [],
    children: true, plan: { firstNight: { rhythm: [{ until: '4h', every: '15m' }], burnRate: { alerts: [{ long: '1m', short: '15s', factor: '14.4' }] } } },
  },
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
      const temporal = (args: string[]) => execFileSync(path.join(loadConfig().toolsBin, 'temporal'), [...args, '--address', env.temporal.address, '-o', 'json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      const save = (file: string, workflowId: string, runId?: string) => {
        const history = JSON.parse(temporal(['workflow', 'show', '-w', workflowId, ...(runId ? ['-r', runId] : [])])) as { events: unknown[] };
        fs.writeFileSync(path.join(out, file), `${JSON.stringify(history, null, 1)}\n`);
        ids[file] = workflowId;
        fs.writeFileSync(index, `${JSON.stringify(ids, null, 2)}\n`);
        return history.events.length;
      };
      const events = save(scenario.file, run.release);
      if (scenario.children) {
        // Every run of the first-night child, oldest first: the first ends in continue-as-new.
        const child = `${run.release}-first-night`;
        const runs = (JSON.parse(temporal(['workflow', 'list', '-q', `WorkflowId='${child}'`])) as { execution: { runId: string }; startTime: string }[])
          .sort((a, b) => a.startTime.localeCompare(b.startTime));
        if (runs.length < 2) throw new Error(`${scenario.name}: the first night ran ${runs.length} time(s); expected a continue-as-new`);
        for (const [i, r] of runs.entries()) {
          const file = scenario.file.replace('.json', `-child-${i + 1}.json`);
          console.log(`[record] ${file}: ${child} run ${i + 1} of ${runs.length}, ${save(file, child, r.execution.runId)} events`);
        }
      }
      console.log(`[record] ${scenario.file}: ${run.release} ${run.verdict}, ${events} events`);
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
