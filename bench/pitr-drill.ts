// Restore drill for the evidence database, on loopback: a PostgreSQL of its own
// with deploy/postgres/postgresql.pitr.conf (WAL archiving), a release's evidence
// chain, a base backup, more evidence, a chosen recovery time, then a disaster
// (more records and DROP TABLE evidence). The backup plus the archived WAL are
// restored to the chosen time with deploy/postgres/restore.conf, and
// `spark-release evidence verify` must find exactly the chain as it was then.
//
//   npx tsx bench/pitr-drill.ts [--records 300] [--keep]
//   npx tsx bench/pitr-drill.ts --release <id>   # a real release's records, copied from DATABASE_URL
//
// The restored chain must verify with the head it had at the target. With --release,
// `evidence verify` must also say word for word what it says of the source (completeness
// of the files the release's plan owes included); synthetic records have no plan.
// As root the servers run as the postgres OS user (PostgreSQL refuses root).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { createPostgresLedger } from '../src/adapters/ledger/postgres';
import type { EvidenceInput } from '../src/adapters/ledger/ledger';
import { main as cli } from '../src/client';
import { loadConfig, projectRoot } from '../src/config';
import { createSparkDatabase, initCluster, ownByPostgres, pgTool, startCluster, type OwnPostgres } from '../test/chaos/support/own-postgres';

const config = loadConfig();
const deploy = path.join(projectRoot, 'deploy', 'postgres');

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

function evidenceBatch(release: string, from: number, count: number): EvidenceInput[] {
  return Array.from({ length: count }, (_, i) => ({
    release, runId: 'drill-run', key: `drill/${from + i}`, file: 'warroom_log.txt', kind: 'warroom' as const, mode: 'append' as const,
    body: `:${String(from + i).padStart(4, '0')} | Stage 1 (1%) | p95=142ms 5xx=0.2% | 8/8 PASS | IC: Proceed`,
  }));
}

const COLUMNS = 'release, seq, run_id, key, file, kind, mode, body, body_sha256, prev_hash, chain_hash, recorded_at';

/** Copies records `from`..`to` (seq) of a release as they are stored: the chain stays the chain. */
async function copyRecords(sourceUrl: string, url: string, release: string, from: number, to: number): Promise<void> {
  const rows = await query<Record<string, unknown>>(sourceUrl, `SELECT ${COLUMNS} FROM evidence WHERE release = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`, [release, from, to]);
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    for (const row of rows) await client.query(`INSERT INTO evidence (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, COLUMNS.split(', ').map((c) => row[c]));
  } finally {
    await client.end();
  }
}

async function appendRecords(url: string, evidenceDir: string, release: string, from: number, count: number): Promise<void> {
  const ledger = await createPostgresLedger({ databaseUrl: url, evidenceDir });
  try {
    for (let i = 0; i < count; i += 50) await ledger.appendMany(evidenceBatch(release, from + i, Math.min(50, count - i)));
  } finally {
    await ledger.close();
  }
}

/** `spark-release evidence verify` against URL: its exit code and output. */
async function verifyWithCli(url: string, release: string): Promise<{ code: number; output: string }> {
  const saved = process.env.DATABASE_URL;
  process.env.DATABASE_URL = url;
  const lines: string[] = [];
  try {
    const code = await cli(['evidence', 'verify', release], (l) => lines.push(l), (l) => lines.push(l));
    return { code, output: lines.join('\n') };
  } finally {
    process.env.DATABASE_URL = saved;
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

async function drill(opts: { records: number; keep: boolean; realRelease?: string }): Promise<void> {
  const dir = path.join(config.runDir, 'chaos', 'pitr');
  fs.rmSync(dir, { recursive: true, force: true });
  const [primaryData, archive, backup, sockets, evidenceDir] = ['primary', 'wal-archive', 'base-backup', 'sockets', 'evidence'].map((d) => path.join(dir, d)) as [string, string, string, string, string];
  for (const d of [dir, archive, sockets, evidenceDir]) fs.mkdirSync(d, { recursive: true });
  ownByPostgres(dir);
  const release = opts.realRelease ?? `release-pitr-drill-${Date.now()}`;
  let records = opts.records;
  if (opts.realRelease) {
    const [row] = await query<{ n: string }>(config.databaseUrl, 'SELECT count(*) AS n FROM evidence WHERE release = $1', [release]);
    records = Number(row?.n ?? 0);
    if (records < 3) throw new Error(`--release: ${release} has ${records} evidence records in ${config.databaseUrl}; it needs at least 3`);
  }
  // Synthetic records through the ledger, or the real release's rows as stored.
  const write = (from: number, to: number) => opts.realRelease
    ? copyRecords(config.databaseUrl, primaryUrl(), release, from, to)
    : appendRecords(primaryUrl(), evidenceDir, release, from, to - from + 1);
  let primaryUrl = () => '';
  const sourceVerdict = opts.realRelease ? await verifyWithCli(config.databaseUrl, release) : null;
  const t = (label: string, since: number) => console.log(`[pitr] ${label} (${((Date.now() - since) / 1000).toFixed(1)} s)`);
  const servers: OwnPostgres[] = [];
  try {
    // 1. A primary with WAL archiving as deploy/postgres/postgresql.pitr.conf sets it.
    let since = Date.now();
    initCluster(primaryData);
    const archiveCommand = `WAL_ARCHIVE_DIR=${archive} ${path.join(deploy, 'archive-wal.sh')} "%p" "%f"`;
    const primary = await startCluster(primaryData, sockets, `include '${path.join(deploy, 'postgresql.pitr.conf')}'\narchive_command = '${archiveCommand}'`);
    servers.push(primary);
    primaryUrl = () => primary.url;
    createSparkDatabase(primary);
    t(`primary up on 127.0.0.1:${primary.port}, archiving to ${archive}`, since);

    // 2. Evidence before the base backup, the backup, then evidence after it.
    const third = Math.floor(records / 3);
    // The ledger's tables, then the records before the backup.
    await (await createPostgresLedger({ databaseUrl: primary.url, evidenceDir })).close();
    await write(1, third);
    since = Date.now();
    pgTool('pg_basebackup', ['-h', sockets, '-p', String(primary.port), '-U', 'postgres', '-D', backup, '-X', 'none', '-c', 'fast']);
    const backupBytes = Number(execFileSync('du', ['-sb', backup], { encoding: 'utf8' }).split('\t')[0]);
    t(`base backup: ${(backupBytes / 1e6).toFixed(1)} MB, WAL left to the archive`, since);
    await write(third + 1, records);
    const [target] = await query<{ at: string; count: string; head: string }>(primary.url,
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS at,
              (SELECT count(*) FROM evidence WHERE release = $1) AS count,
              (SELECT chain_hash FROM evidence WHERE release = $1 ORDER BY seq DESC LIMIT 1) AS head`, [release]);
    console.log(`[pitr] recovery target ${target!.at}: ${target!.count} records, head ${target!.head}`);
    await sleep(1500);

    // 3. The disaster after the target: more records, then the table is dropped.
    await appendRecords(primary.url, evidenceDir, release, records + 1, 50);
    await query(primary.url, 'DROP TABLE evidence');
    const [{ wal }] = (await query<{ wal: string }>(primary.url, 'SELECT pg_walfile_name(pg_switch_wal()) AS wal')) as [{ wal: string }];
    await waitFor('the last WAL segment archived', async () => fs.existsSync(path.join(archive, wal)));
    primary.stop();
    servers.length = 0;
    const segments = fs.readdirSync(archive).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;
    console.log(`[pitr] disaster: 50 more records and DROP TABLE evidence; primary stopped; ${segments} WAL segments archived`);

    // 4. Restore: the base backup, recovery.signal, deploy/postgres/restore.conf with the target.
    since = Date.now();
    const restoredData = path.join(dir, 'restored');
    fs.cpSync(backup, restoredData, { recursive: true });
    fs.chmodSync(restoredData, 0o700);
    fs.writeFileSync(path.join(restoredData, 'recovery.signal'), '');
    const restoreConf = fs.readFileSync(path.join(deploy, 'restore.conf'), 'utf8')
      .replace('@TARGET_TIME@', target!.at)
      .replace(/^restore_command = .*$/m, `restore_command = 'WAL_ARCHIVE_DIR=${archive} ${path.join(deploy, 'restore-wal.sh')} "%f" "%p"'`);
    const restored = await startCluster(restoredData, sockets, `${restoreConf}\narchive_mode = off`);
    servers.push(restored);
    await waitFor('recovery to the target', async () => (await query<{ r: boolean }>(restored.url, 'SELECT pg_is_in_recovery() AS r'))[0]?.r === false);
    t('restored and promoted', since);

    // 5. The chain as it was at the target: every record, none after, verified by the CLI.
    const verified = await verifyWithCli(restored.url, release);
    console.log(`[pitr] spark-release evidence verify ${release}: exit ${verified.code}\n[pitr]   ${verified.output}`);
    const expected = `OK: ${target!.count} records of ${release} verify; head seq ${target!.count} ${target!.head}`;
    if (verified.output.split('\n')[0] !== expected) {
      throw new Error(`restored chain differs from the chain at the target\n  expected: ${expected}\n  got:      ${verified.output}`);
    }
    // A real release: the whole verdict (completeness included) is the source's, word for word.
    if (sourceVerdict && (verified.code !== sourceVerdict.code || verified.output !== sourceVerdict.output)) {
      throw new Error(`restored release verifies differently from its source\n--- source (exit ${sourceVerdict.code})\n${sourceVerdict.output}\n--- restored (exit ${verified.code})\n${verified.output}`);
    }
    const same = sourceVerdict ? `; \`evidence verify\` says of it exactly what it says of the source (exit ${sourceVerdict.code})` : '';
    console.log(`[pitr] PASS: ${target!.count} records restored to ${target!.at}, chain head matches${same}; the 50 later records and the DROP are gone`);
  } finally {
    for (const s of servers) {
      try {
        s.stop();
      } catch {
        // already stopped
      }
    }
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const { values } = parseArgs({ options: { records: { type: 'string', default: '300' }, keep: { type: 'boolean', default: false }, release: { type: 'string' } } });
  const records = Number(values.records);
  if (!Number.isInteger(records) || records < 3) {
    console.error('--records: must be a whole number of at least 3');
    process.exit(2);
  }
  drill({ records, keep: values.keep!, ...(values.release ? { realRelease: values.release } : {}) }).then(() => process.exit(0), (err: unknown) => {
    console.error(`[pitr] FAIL: ${(err as Error).message}`);
    process.exit(1);
  });
}
