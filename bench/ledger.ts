// Evidence ledger throughput against the real PostgreSQL of scripts/services.sh:
// records written per second the way the worker writes them (small batches, each
// followed by the file-mirror refresh), and records verified per second by the
// batched chain verification. Each run writes two fresh releases named
// bench-ledger-*; recorded evidence is never deleted, so they stay in the ledger.
// Goal (issue 9): verification of at least 10,000 records per second.
//
//   bash scripts/services.sh up && npx tsx bench/ledger.ts [--write 1000] [--batch 3] [--verify 20000] [--body-bytes 2048] [--runs 5]
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

/** `count` measurement-like records (append mode, one file per stage) of about `bodyBytes` each. */
function records(release: string, count: number, bodyBytes: number): EvidenceInput[] {
  const filler = 'x'.repeat(Math.max(0, bodyBytes - 80));
  return Array.from({ length: count }, (_, i) => ({
    release, runId: 'bench', key: `stage/${1 + (i % 5)}/measurements/${i}`, file: `logs_stage_${1 + (i % 5)}.txt`,
    kind: 'measurement' as const, mode: 'append' as const,
    body: JSON.stringify({ at: new Date(1_800_000_000_000 + i * 60_000).toISOString(), evaluation: i, filler }),
  }));
}

async function writeAll(ledger: PostgresLedger, inputs: EvidenceInput[], batch: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < inputs.length; i += batch) await ledger.appendMany(inputs.slice(i, i + batch));
  return performance.now() - started;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      write: { type: 'string', default: '1000' },
      batch: { type: 'string', default: '3' },
      verify: { type: 'string', default: '20000' },
      'body-bytes': { type: 'string', default: '2048' },
      runs: { type: 'string', default: '5' },
    },
  });
  const writeCount = positive('write', values.write);
  const batch = positive('batch', values.batch);
  const verifyCount = positive('verify', values.verify);
  const bodyBytes = positive('body-bytes', values['body-bytes']);
  const runs = positive('runs', values.runs);

  const evidenceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ledger-'));
  const ledger = await createPostgresLedger({ databaseUrl: loadConfig().databaseUrl, evidenceDir });
  const stamp = Date.now();
  try {
    // Writes as the worker does them: a few records per activity, mirror refreshed after each.
    const written = `bench-ledger-${stamp}-write`;
    const writeMs = await writeAll(ledger, records(written, writeCount, bodyBytes), batch);
    console.log(`write: ${writeCount} records of ~${bodyBytes} B in batches of ${batch}: ${(writeMs / 1000).toFixed(2)} s, ${(writeCount / (writeMs / 1000)).toFixed(0)} records/s (mirror refreshed after every batch)`);

    // A long chain for verification, loaded in large batches (loading is not what is measured).
    const verified = `bench-ledger-${stamp}-verify`;
    const loadMs = await writeAll(ledger, records(verified, verifyCount, bodyBytes), 1000);
    console.log(`load: ${verifyCount} records in batches of 1000: ${(verifyCount / (loadMs / 1000)).toFixed(0)} records/s`);
    const rates: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const result = await ledger.verify(verified);
      const ms = performance.now() - started;
      if (!result.ok || result.records !== verifyCount) throw new Error(`verification of ${verified}: ${JSON.stringify(result)}`);
      rates.push(verifyCount / (ms / 1000));
    }
    console.log(`verify: ${verifyCount} records, ${runs} runs: median ${percentile(rates, 50).toFixed(0)} records/s, min ${Math.min(...rates).toFixed(0)}, max ${Math.max(...rates).toFixed(0)} (goal 10000 records/s)`);
    const wholeWrite = await ledger.verify(written);
    if (!wholeWrite.ok) throw new Error(`the small-batch chain ${written} does not verify: ${JSON.stringify(wholeWrite.firstBroken)}`);
  } finally {
    await ledger.close();
    fs.rmSync(evidenceDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
