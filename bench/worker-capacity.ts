// How many releases one worker carries: N dry-run releases of the compressed
// workflow-test plan at once on one worker process (own Temporal, demo target,
// Prometheus; the router only records weights), measuring the worker's CPU and
// memory and how late the canary evaluations ran against their interval.
//
//   npx tsx bench/worker-capacity.ts [--releases 5,10,20]
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startChaosEnv } from '../test/chaos/support/chaos-env';
import { CRASH_PLAN_OVERRIDES } from '../test/chaos/support/chaos-env';
import { waitForStatus } from '../test/support/harness';

const TICKS_PER_SECOND = 100;

function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime + stime
}

function rssMb(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { releases: { type: 'string', default: '5,10,20' } } });
  const counts = values.releases!.split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--releases: a comma-separated list of whole numbers, e.g. 5,10,20');
  const env = await startChaosEnv({ name: 'capacity' });
  const worker = await env.startWorker();
  const rows: string[] = ['| releases at once | worker CPU (mean) | worker RSS (peak) | evaluation interval 1.2 s: p50 / p95 / max late | verdicts |', '|---|---|---|---|---|'];
  try {
    for (const n of counts) {
      const cpu0 = cpuSeconds(worker.pid);
      const t0 = Date.now();
      let peak = rssMb(worker.pid);
      const sampler = setInterval(() => { peak = Math.max(peak, rssMb(worker.pid)); }, 500);
      const releases = await Promise.all(Array.from({ length: n }, async () => {
        const started = await env.client.start(env.plan(CRASH_PLAN_OVERRIDES), 'deniz', true);
        await waitForStatus(env.client, started.release, (s) => s.gates.go.state === 'open', 300_000);
        await env.client.decide({ release: started.release, gate: 'go', decision: 'go', approver: 'bora', reason: 'capacity', override: true });
        return started.release;
      }));
      const verdicts = await Promise.all(releases.map((r) => env.client.result(r).then((x) => x.verdict)));
      clearInterval(sampler);
      const cpu = (cpuSeconds(worker.pid) - cpu0) / ((Date.now() - t0) / 1000);
      // Lateness: gap between consecutive evaluations of a stage minus the planned interval.
      const late: number[] = [];
      for (const r of releases) {
        const at = (await env.ledger.list(r)).filter((x) => /^stage\/\d+\/measurements\/\d+$/.test(x.key))
          .map((x) => ({ stage: x.key.split('/')[1], at: Date.parse((JSON.parse(x.body) as { at: string }).at) }));
        for (let i = 1; i < at.length; i++) if (at[i]!.stage === at[i - 1]!.stage) late.push(at[i]!.at - at[i - 1]!.at - 1200);
      }
      late.sort((a, b) => a - b);
      const q = (p: number) => late[Math.min(late.length - 1, Math.floor(p * late.length))] ?? 0;
      const tally = Object.entries(verdicts.reduce<Record<string, number>>((acc, v) => ({ ...acc, [v]: (acc[v] ?? 0) + 1 }), {})).map(([v, c]) => `${c} ${v}`).join(', ');
      rows.push(`| ${n} | ${(cpu * 100).toFixed(0)}% of a core | ${peak.toFixed(0)} MB | ${q(0.5)} / ${q(0.95)} / ${late.at(-1) ?? 0} ms | ${tally} |`);
      console.log(rows.at(-1));
      await sleep(2000);
    }
  } finally {
    await worker.stop();
    await env.close();
  }
  console.log(rows.join('\n'));
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(`capacity bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
