// Evidence ledger cost against the real PostgreSQL of scripts/services.sh:
// - flush: the worker's pattern (appendMany of a few records, file mirror
//   included), timed when the release already holds each of --sizes records, to
//   show whether a flush costs more as a release grows (issue 17: at 10,000
//   records under 2x its cost at 100);
// - bulk: appendMany in batches of --bulk-batch, mirror included (goal 10,000 records/s);
// - verify: ledger.verify over a --verify record release, --runs times (goal 50,000 records/s).
// Each run writes two fresh releases named bench-ledger-*; recorded evidence is
// never deleted, so they stay in the ledger (~--body-bytes per record).
//
//   bash scripts/services.sh up && npx tsx bench/ledger.ts [--sizes 100,1000,10000,100000] [--flushes 100] [--batch 3]
//     [--bulk-batch 1000] [--verify 20000] [--runs 5] [--body-bytes 2048]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { EvidenceInput } from '../src/adapters/ledger/ledger';
import { createPostgresLedger, type PostgresLedger } from '../src/adapters/ledger/postgres';
import { loadConfig } from '../src/config';
import { percentile } from '../src/activities/checks/target-access';

function positive(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: must be a positive integer (got ${raw})`);
  return n;
}

/** Records `from`..`from + count - 1` of a release: measurement-like, append mode, one file per stage, ~`bodyBytes` each. */
function records(release: string, from: number, count: number, bodyBytes: number): EvidenceInput[] {
  const filler = 'x'.repeat(Math.max(0, bodyBytes - 80));
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return {
      release, runId: 'bench', key: `stage/${1 + (i % 5)}/measurements/${i}`, file: `logs_stage_${1 + (i % 5)}.txt`,
      kind: 'measurement' as const, mode: 'append' as const,
      body: JSON.stringify({ at: new Date(1_800_000_000_000 + i * 60_000).toISOString(), evaluation: i, filler }),
    };
  });
}

/** Appends `inputs` in batches of `batch`; returns each batch's wall time in ms. */
async function writeAll(ledger: PostgresLedger, inputs: EvidenceInput[], batch: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < inputs.length; i += batch) {
    const started = performance.now();
    await ledger.appendMany(inputs.slice(i, i + batch));
    times.push(performance.now() - started);
  }
  return times;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const rate = (count: number, ms: number) => Math.round(count / (ms / 1000)).toLocaleString('en-US');
const count = (n: number) => n.toLocaleString('en-US');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '100,1000,10000,100000' },
      flushes: { type: 'string', default: '100' },
      batch: { type: 'string', default: '3' },
      'bulk-batch': { type: 'string', default: '1000' },
      verify: { type: 'string', default: '20000' },
      runs: { type: 'string', default: '5' },
      'body-bytes': { type: 'string', default: '2048' },
    },
  });
  const sizes = values.sizes!.split(',').map((raw) => positive('sizes', raw));
  if (sizes.some((size, i) => i > 0 && size <= sizes[i - 1]!)) throw new Error(`--sizes: must be increasing (got ${values.sizes})`);
  const flushes = positive('flushes', values.flushes);
  const batch = positive('batch', values.batch);
  const bulkBatch = positive('bulk-batch', values['bulk-batch']);
  const verifyCount = positive('verify', values.verify);
  const runs = positive('runs', values.runs);
  const bodyBytes = positive('body-bytes', values['body-bytes']);

  const evidenceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ledger-'));
  const ledger = await createPostgresLedger({ databaseUrl: loadConfig().databaseUrl, evidenceDir });
  const stamp = Date.now();
  try {
    // One release grows through --sizes: loaded in bulk up to each size, then timed flushes.
    const grown = `bench-ledger-${stamp}-grow`;
    let held = 0;
    const fillMs: number[] = [];
    const medians = new Map<number, number>();
    for (const size of sizes) {
      if (size > held) {
        fillMs.push(sum(await writeAll(ledger, records(grown, held, size - held, bodyBytes), bulkBatch)));
        held = size;
      }
      const times = await writeAll(ledger, records(grown, held, flushes * batch, bodyBytes), batch);
      held += flushes * batch;
      medians.set(size, percentile(times, 50));
      console.log(
        `flush at ${count(size)} records: ${flushes} flushes of ${batch} records of ~${bodyBytes} B, per flush median ` +
          `${percentile(times, 50).toFixed(2)} ms, p95 ${percentile(times, 95).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms; ` +
          `${rate(flushes * batch, sum(times))} records/s`,
      );
    }
    const [first, last] = [sizes[0]!, sizes[sizes.length - 1]!];
    console.log(`flush cost at ${count(last)} / at ${count(first)} records: ${(medians.get(last)! / medians.get(first)!).toFixed(2)}x (medians)`);
    if (fillMs.length > 0) console.log(`bulk while growing: ${count(sizes[sizes.length - 1]!)} records loaded at ${rate(sizes[sizes.length - 1]!, sum(fillMs))} records/s`);
    const grownCheck = await ledger.verify(grown);
    if (!grownCheck.ok || grownCheck.records !== held) throw new Error(`the grown chain ${grown} does not verify: ${JSON.stringify(grownCheck)}`);
    // A full pass must find the incrementally written mirror complete.
    const rewritten = await ledger.syncMirror(grown);
    if (rewritten.length > 0) throw new Error(`the mirror of ${grown} was incomplete: a full pass rewrote ${rewritten.join(', ')}`);

    // A long chain for verification, loaded in bulk (the load is the bulk figure).
    const verified = `bench-ledger-${stamp}-verify`;
    const loadMs = sum(await writeAll(ledger, records(verified, 0, verifyCount, bodyBytes), bulkBatch));
    console.log(`bulk: ${count(verifyCount)} records in batches of ${count(bulkBatch)}: ${rate(verifyCount, loadMs)} records/s (mirror included; goal 10,000)`);
    const rates: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const result = await ledger.verify(verified);
      const ms = performance.now() - started;
      if (!result.ok || result.records !== verifyCount) throw new Error(`verification of ${verified}: ${JSON.stringify(result)}`);
      rates.push(verifyCount / (ms / 1000));
    }
    console.log(
      `verify: ${count(verifyCount)} records, ${runs} runs: median ${count(Math.round(percentile(rates, 50)))} records/s, ` +
        `min ${count(Math.round(Math.min(...rates)))}, max ${count(Math.round(Math.max(...rates)))} (goal 50,000)`,
    );
  } finally {
    await ledger.close();
    fs.rmSync(evidenceDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
