// The evidence ledger against the real PostgreSQL of `bash scripts/services.sh up`
// (DATABASE_URL). Every test writes its own release, so tests never share records.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdtemp, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'pg';
import { loadConfig, projectRoot } from '../../src/config';
import { sealRecord, sha256Hex } from '../../src/adapters/ledger/chain';
import type { EvidenceInput, EvidenceRecord } from '../../src/adapters/ledger/ledger';
import { migrate } from '../../src/adapters/ledger/migrate';
import { renderMirror, STATE_FILE } from '../../src/adapters/ledger/mirror';
import {
  createPostgresLedger,
  EvidenceConflictError,
  EvidenceInputError,
  verifyRelease,
  type PostgresLedger,
} from '../../src/adapters/ledger/postgres';
import { asOwner } from '../support/ledger-owner';

jest.setTimeout(120_000);

const { databaseUrl } = loadConfig();
let admin: Pool;
let evidenceDir: string;
let ledger: PostgresLedger;

beforeAll(async () => {
  admin = new Pool({ connectionString: databaseUrl, max: 3, connectionTimeoutMillis: 5000 });
  try {
    await admin.query('SELECT 1');
  } catch (error) {
    throw new Error(
      `PostgreSQL not reachable at ${databaseUrl}: run \`bash scripts/services.sh up\` (${(error as Error).message})`,
    );
  }
  evidenceDir = await mkdtemp(path.join(tmpdir(), 'ledger-test-'));
  ledger = await createPostgresLedger({ databaseUrl, evidenceDir });
});

afterAll(async () => {
  await ledger?.close();
  await admin?.end();
  if (evidenceDir) await rm(evidenceDir, { recursive: true, force: true });
});

function newRelease(label: string): string {
  return `release-test-${label}-${randomUUID().slice(0, 8)}`;
}

function evidence(release: string, key: string, overrides: Partial<EvidenceInput> = {}): EvidenceInput {
  return { release, runId: 'run-1', key, file: 'preflight.txt', kind: 'check', body: `${key} PASS`, ...overrides };
}

async function storedRows(release: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM evidence WHERE release = $1', [release]);
  return rows[0]!.n;
}

/** Simulates deliberate tampering: the append-only trigger has to be switched off first. */
async function tamper(sql: string, params: unknown[]): Promise<void> {
  await asOwner(admin, async (run) => {
    expect((await run(sql, params)).rowCount).toBe(1);
  });
}

async function appendFive(release: string): Promise<EvidenceRecord[]> {
  return ledger.appendMany([1, 2, 3, 4, 5].map((i) => evidence(release, `check-${i}`, { file: `check_${i}.txt` })));
}

describe('migrate', () => {
  // A scratch schema first in search_path gets its own schema_migrations and evidence table.
  async function withScratchSchema(run: (pools: [Pool, Pool], schema: string) => Promise<void>): Promise<void> {
    const schema = `ledger_migrate_${randomUUID().slice(0, 8)}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    const pools: [Pool, Pool] = [
      new Pool({ connectionString: databaseUrl, max: 1, options: `-c search_path=${schema}` }),
      new Pool({ connectionString: databaseUrl, max: 1, options: `-c search_path=${schema}` }),
    ];
    try {
      await run(pools, schema);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    }
  }

  it('applies every migration exactly once when two processes run it at the same time', async () => {
    await withScratchSchema(async ([first, second], schema) => {
      const applied = await Promise.all([migrate(first), migrate(second)]);
      expect(applied.flat()).toEqual(['001_evidence.sql', '002_evidence_hex_checks.sql']);
      const { rows } = await admin.query(`SELECT name FROM ${schema}.schema_migrations ORDER BY name`);
      expect(rows).toEqual([{ name: '001_evidence.sql' }, { name: '002_evidence_hex_checks.sql' }]);
      const tables = await admin.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
        [schema],
      );
      expect(tables.rows.map((row) => row.table_name)).toEqual(['evidence', 'schema_migrations']);
      expect(await migrate(first)).toEqual([]);
    });
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ledger-migrations-'));
    try {
      await withScratchSchema(async ([pool]) => {
        await writeFile(path.join(dir, '001_probe.sql'), 'CREATE TABLE probe (id int);');
        expect(await migrate(pool, dir)).toEqual(['001_probe.sql']);
        await writeFile(path.join(dir, '001_probe.sql'), 'CREATE TABLE probe (id bigint);');
        await expect(migrate(pool, dir)).rejects.toThrow(/migration 001_probe\.sql changed after it was applied/);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('append', () => {
  it('stores the same key once and returns the stored record on a retry', async () => {
    const release = newRelease('idempotent');
    const first = await ledger.append(evidence(release, 'preflight/summary'));
    const retry = await ledger.append({ ...evidence(release, 'preflight/summary'), runId: 'run-2' });
    expect(retry).toEqual(first);
    expect(first).toMatchObject({ seq: 1, runId: 'run-1', mode: 'replace', bodySha256: sha256Hex('preflight/summary PASS') });
    expect(await storedRows(release)).toBe(1);
  });

  it('refuses the same key with a different body, naming the key, and keeps the stored body', async () => {
    const release = newRelease('conflict');
    await ledger.append(evidence(release, 'gate/go-nogo', { body: 'GO' }));
    const rewrite = ledger.append(evidence(release, 'gate/go-nogo', { body: 'NO-GO' }));
    await expect(rewrite).rejects.toThrow(EvidenceConflictError);
    await expect(rewrite).rejects.toThrow(/evidence key "gate\/go-nogo" .* different body/);
    await expect(ledger.append(evidence(release, 'gate/go-nogo', { body: 'GO', kind: 'gate' }))).rejects.toThrow(
      /different kind/,
    );
    expect((await ledger.list(release)).map((r) => r.body)).toEqual(['GO']);
  });

  it('checks keys and modes within one batch too, and a refused batch records none of it', async () => {
    const release = newRelease('batch');
    const stored = await ledger.appendMany([evidence(release, 'a'), evidence(release, 'b'), evidence(release, 'a')]);
    expect(stored.map((r) => r.seq)).toEqual([1, 2, 1]);
    expect(stored[2]).toEqual(stored[0]);
    await expect(
      ledger.appendMany([evidence(release, 'c'), evidence(release, 'c', { body: 'c FAIL' })]),
    ).rejects.toThrow(/evidence key "c" .* different body/);
    await expect(
      ledger.appendMany([
        evidence(release, 'line-1', { file: 'log.txt', mode: 'append' }),
        evidence(release, 'whole', { file: 'log.txt' }),
      ]),
    ).rejects.toThrow(/evidence file log\.txt .* recorded in mode append/);
    expect(await storedRows(release)).toBe(2);
    expect((await ledger.verify(release)).ok).toBe(true);
  });

  it('refuses to record one file in both modes, naming the file', async () => {
    const release = newRelease('modes');
    await ledger.append(evidence(release, 'line-1', { file: 'warroom_log.txt', mode: 'append' }));
    await expect(ledger.append(evidence(release, 'whole', { file: 'warroom_log.txt' }))).rejects.toThrow(
      /evidence file warroom_log\.txt .* recorded in mode append/,
    );
    expect(await storedRows(release)).toBe(1);
  });

  it('names the offending field of bad input and stores nothing', async () => {
    const release = newRelease('invalid');
    await expect(ledger.append(evidence(release, 'x', { file: '../escape.txt' }))).rejects.toThrow(
      new EvidenceInputError('evidence input: field "file": must be a single file name (no "/" or "\\")'),
    );
    await expect(ledger.append(evidence(release, 'x', { file: 'SHA256SUMS' }))).rejects.toThrow(/field "file"/);
    await expect(ledger.append(evidence(release, '', { kind: 'guess' as never }))).rejects.toThrow(
      /field "key": must not be empty; field "kind": /,
    );
    expect(await storedRows(release)).toBe(0);
  });

  it('stores a body PostgreSQL cannot hold (NUL, lone surrogate) with those characters replaced and a note, in its batch', async () => {
    const release = newRelease('unstorable');
    const [first, second] = await ledger.appendMany([
      evidence(release, 'nul', { body: 'nul\u0000byte' }),
      evidence(release, 'surrogate', { body: 'lone \ud800 half' }),
    ]);
    expect(first!.body).toBe('nul\ufffdbyte\n[ledger: 1 character(s) PostgreSQL cannot store (NUL or lone surrogates) replaced with U+FFFD]');
    expect(second!.body).toMatch(/^lone \ufffd half\n\[ledger: 1 character/);
    expect((await ledger.verify(release)).ok).toBe(true);
  });

  it('records a batch in input order, all or nothing', async () => {
    const release = newRelease('batch');
    const records = await appendFive(release);
    expect(records.map((r) => [r.seq, r.key])).toEqual([1, 2, 3, 4, 5].map((i) => [i, `check-${i}`]));

    const conflicting = [evidence(release, 'check-6'), evidence(release, 'check-1', { body: 'changed' })];
    await expect(ledger.appendMany(conflicting)).rejects.toThrow(/evidence key "check-1"/);
    expect(await storedRows(release)).toBe(5);
    await expect(ledger.appendMany([evidence(release, 'a'), evidence(newRelease('other'), 'b')])).rejects.toThrow(
      /one release at a time/,
    );
  });

  it('numbers concurrent appends from many promises and two pools 1..n without gaps or duplicates', async () => {
    const release = newRelease('concurrent');
    const other = await createPostgresLedger({ databaseUrl, evidenceDir });
    try {
      const line = (key: string) => evidence(release, key, { file: 'warroom_log.txt', kind: 'warroom', mode: 'append', body: key });
      const writes = [ledger, other].flatMap((writer, w) => [
        ...Array.from({ length: 30 }, (_, i) => writer.append(line(`pool-${w}/line-${i}`))),
        // The same keys from both pools at once: each must be stored once.
        ...Array.from({ length: 10 }, (_, i) => writer.append(line(`shared/line-${i}`))),
      ]);
      const results = await Promise.all(writes);

      const records = await ledger.list(release);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.key)).size).toBe(70);
      for (const result of results) expect(records[result.seq - 1]).toEqual(result);
      await expect(ledger.verify(release)).resolves.toMatchObject({ ok: true, records: 70 });

      const mirrored = await readFile(path.join(evidenceDir, release, 'warroom_log.txt'), 'utf8');
      expect(mirrored).toBe(records.map((r) => `${r.body}\n`).join(''));
    } finally {
      await other.close();
    }
  });
});

describe('append-only table and chain verification', () => {
  it('rejects UPDATE, DELETE and TRUNCATE of recorded evidence', async () => {
    const release = newRelease('trigger');
    await appendFive(release);
    const attempts = [
      [`UPDATE evidence SET body = 'forged' WHERE release = $1 AND seq = 2`, [release]],
      [`DELETE FROM evidence WHERE release = $1 AND seq = 2`, [release]],
      [`TRUNCATE evidence`, []],
    ] as const;
    for (const [sql, params] of attempts) {
      const client = await admin.connect();
      try {
        // Inside a transaction that is rolled back, so a missing trigger cannot destroy data.
        await client.query('BEGIN');
        await expect(client.query(sql, [...params])).rejects.toThrow(/evidence is append-only: (UPDATE|DELETE|TRUNCATE)/);
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    }
    await expect(ledger.verify(release)).resolves.toMatchObject({ ok: true, records: 5 });
  });

  it('takes only 64 lower-case hex digits in the hash columns', async () => {
    const hex = 'a'.repeat(63);
    const insert = (column: 'body_sha256' | 'prev_hash' | 'chain_hash', value: string) =>
      `INSERT INTO evidence (release, seq, run_id, key, file, kind, mode, body, body_sha256, prev_hash, chain_hash, recorded_at)
       SELECT '${newRelease('hex')}', 1, 'r', 'k', 'f.txt', 'note', 'replace', 'b', h.body_sha256, h.prev_hash, h.chain_hash, '2026-01-01T00:00:00Z'
         FROM (SELECT repeat('0', 64) AS body_sha256, repeat('0', 64) AS prev_hash, repeat('0', 64) AS chain_hash) AS h0,
              LATERAL (SELECT ${['body_sha256', 'prev_hash', 'chain_hash'].map((c) => (c === column ? `$1::text AS ${c}` : `h0.${c}`)).join(', ')}) AS h`;
    const client = await admin.connect();
    try {
      for (const column of ['body_sha256', 'prev_hash', 'chain_hash'] as const) {
        for (const value of [`${hex}A`, hex, `${hex}0f`, `${hex}g`, `${hex}\n`, `${hex}é`, '']) {
          await client.query('BEGIN');
          await expect(client.query(insert(column, value), [value])).rejects.toThrow(`violates check constraint "evidence_${column}_check"`);
          await client.query('ROLLBACK');
        }
        // Rolled back: nothing is recorded.
        await client.query('BEGIN');
        await expect(client.query(insert(column, `${hex}f`), [`${hex}f`])).resolves.toMatchObject({ rowCount: 1 });
        await client.query('ROLLBACK');
      }
    } finally {
      client.release();
    }
  });

  it('verifies an intact chain and reports its head', async () => {
    const release = newRelease('intact');
    const records = await appendFive(release);
    await expect(ledger.verify(release)).resolves.toEqual({
      release,
      records: 5,
      ok: true,
      head: { seq: 5, chainHash: records[4]!.chainHash },
    });
  });

  it('finds a tampered body at its seq', async () => {
    const release = newRelease('tampered-body');
    await appendFive(release);
    await tamper(`UPDATE evidence SET body = 'check-3 FAIL' WHERE release = $1 AND seq = 3`, [release]);
    await expect(ledger.verify(release)).resolves.toMatchObject({
      ok: false,
      records: 3,
      firstBroken: { seq: 3, key: 'check-3', problem: 'body hash mismatch' },
    });
  });

  it('finds a tampered chain hash at its seq', async () => {
    const release = newRelease('tampered-chain');
    await appendFive(release);
    await tamper(`UPDATE evidence SET chain_hash = $2 WHERE release = $1 AND seq = 2`, [release, sha256Hex('forged')]);
    await expect(ledger.verify(release)).resolves.toMatchObject({
      ok: false,
      firstBroken: { seq: 2, key: 'check-2', problem: 'chain mismatch' },
    });
  });

  it('finds a deleted middle record as a gap', async () => {
    const release = newRelease('deleted');
    await appendFive(release);
    await tamper(`DELETE FROM evidence WHERE release = $1 AND seq = 3`, [release]);
    await expect(ledger.verify(release)).resolves.toMatchObject({
      ok: false,
      firstBroken: { seq: 4, key: 'check-4', problem: 'seq gap', detail: 'seq 3 missing before seq 4' },
    });
  });

  it('agrees with the by-hand SQL check of docs/evidence.md', async () => {
    const docs = await readFile(path.join(projectRoot, 'docs', 'evidence.md'), 'utf8');
    const query = /```sql\n(-- Verify a release[\s\S]*?)```/.exec(docs)?.[1];
    expect(query).toBeDefined();
    const check = async (release: string) =>
      (await admin.query(query!.replace(":'release'", '$1'), [release])).rows.filter(
        (row) => !(row.seq_ok && row.body_ok && row.link_ok && row.chain_ok),
      );

    const intact = newRelease('by-hand');
    await ledger.appendMany([evidence(intact, 'ü✓ unicode', { body: 'multi\nline ✓\n' }), evidence(intact, 'plain')]);
    await expect(check(intact)).resolves.toEqual([]);

    const tampered = newRelease('by-hand-tampered');
    await appendFive(tampered);
    await tamper(`UPDATE evidence SET body = 'forged' WHERE release = $1 AND seq = 3`, [tampered]);
    await expect(check(tampered)).resolves.toEqual([
      { seq: 3, key: 'check-3', seq_ok: true, body_ok: false, link_ok: true, chain_ok: true },
    ]);
  });

  it('stores and verifies, byte for byte, what COPY escapes or could misread, and releases named with quotes', async () => {
    const release = `${newRelease('copy')}-o'brien`;
    const awkward = ['tab\there', 'back\\slash \\N \\. \\t', 'cr\r\nlf\n', '\\.', 'é ✓ 😀 \u0001\u007f', ''];
    const stored = await ledger.appendMany(
      awkward.map((body, i) => evidence(release, `key\t${i}\\`, { file: 'awkward_log.txt', mode: 'append', body })),
    );
    const listed = await ledger.list(release);
    expect(listed).toEqual(stored);
    expect(listed.map((record) => record.body)).toEqual(awkward);
    expect(listed.map((record) => record.bodySha256)).toEqual(awkward.map((body) => sha256Hex(body)));
    await expect(ledger.verify(release)).resolves.toMatchObject({ ok: true, records: awkward.length });
    await expect(ledger.verify(`${release}' OR true --`)).resolves.toEqual({ release: `${release}' OR true --`, records: 0, ok: true });
    expect(await readFile(path.join(evidenceDir, release, 'awkward_log.txt'), 'utf8')).toBe(
      awkward.map((body) => (body.endsWith('\n') ? body : `${body}\n`)).join(''),
    );
  });

  it('verifies 10,000 records in batches and finds a break near the end', async () => {
    const release = newRelease('bulk');
    const records: EvidenceRecord[] = [];
    for (let i = 1; i <= 10_000; i += 1) {
      const input = { release, runId: 'run-1', key: `measurement-${i}`, file: 'hourly_log_00.txt', kind: 'measurement' as const, mode: 'append' as const, body: `:${i} | p95=142ms 5xx=0.2% | PASS` };
      records.push(sealRecord(input, records.at(-1), new Date(Date.UTC(2025, 0, 1) + i).toISOString()));
    }
    const column = <K extends keyof EvidenceRecord>(field: K) => records.map((r) => r[field]);
    await admin.query(
      `INSERT INTO evidence (release, seq, run_id, key, file, kind, mode, body, body_sha256, prev_hash, chain_hash, recorded_at)
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                            $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[])`,
      [column('release'), column('seq'), column('runId'), column('key'), column('file'), column('kind'), column('mode'),
        column('body'), column('bodySha256'), column('prevHash'), column('chainHash'), column('recordedAt')],
    );

    await expect(verifyRelease(admin, release, { batchSize: 1000 })).resolves.toEqual({
      release,
      records: 10_000,
      ok: true,
      head: { seq: 10_000, chainHash: records[9_999]!.chainHash },
    });
    await tamper(`UPDATE evidence SET body = 'forged' WHERE release = $1 AND seq = 9501`, [release]);
    await expect(verifyRelease(admin, release, { batchSize: 1000 })).resolves.toMatchObject({
      records: 9501,
      firstBroken: { seq: 9501, problem: 'body hash mismatch' },
    });
  });
});

describe('mirror', () => {
  const run = promisify(execFile);

  it('mirrors replace files as the latest body and append files as every body in order, sealed', async () => {
    const release = newRelease('mirror');
    await ledger.append(evidence(release, 'summary-1', { file: 'summary_stage_1.txt', body: 'first draft' }));
    await ledger.append(evidence(release, 'summary-2', { file: 'summary_stage_1.txt', body: 'stage 1: 6/6 PASS\n' }));
    const log = (key: string, body: string) =>
      evidence(release, key, { file: 'warroom_log.txt', kind: 'warroom', mode: 'append', body });
    await ledger.appendMany([log(':00', ':00 | Stage 1 (1%) | 6/6 PASS'), log(':01', ':01 | Stage 1 (1%) | 6/6 PASS\n')]);
    await ledger.append(log(':01', ':01 | Stage 1 (1%) | 6/6 PASS\n'));
    await ledger.append(log(':02', 'two\nlines'));

    const dir = path.join(evidenceDir, release);
    const read = (name: string) => readFile(path.join(dir, name), 'utf8');
    expect(await read('summary_stage_1.txt')).toBe('stage 1: 6/6 PASS\n');
    expect(await read('warroom_log.txt')).toBe(
      ':00 | Stage 1 (1%) | 6/6 PASS\n:01 | Stage 1 (1%) | 6/6 PASS\ntwo\nlines\n',
    );
    const seal = await read('SHA256SUMS');
    expect(seal).toBe(
      `${sha256Hex(await read('summary_stage_1.txt'))}  summary_stage_1.txt\n` +
        `${sha256Hex(await read('warroom_log.txt'))}  warroom_log.txt\n`,
    );
    const checked = await run('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: dir });
    expect(checked.stdout).toBe('summary_stage_1.txt: OK\nwarroom_log.txt: OK\n');
  });

  it('completes the mirror on a retry after a failed mirror write, without repeating a line', async () => {
    const release = newRelease('mirror-retry');
    const line = (key: string) => evidence(release, key, { file: 'warroom_log.txt', kind: 'warroom', mode: 'append', body: key });
    await ledger.append(line('line-1'));
    // A file where the release directory's files should go makes the mirror write fail after the commit.
    const dir = path.join(evidenceDir, release);
    await rm(dir, { recursive: true });
    await writeFile(dir, 'in the way');
    await expect(ledger.append(line('line-2'))).rejects.toThrow();
    expect(await storedRows(release)).toBe(2);

    await rm(dir);
    const retried = await ledger.append(line('line-2'));
    expect(retried.seq).toBe(2);
    expect(await readFile(path.join(dir, 'warroom_log.txt'), 'utf8')).toBe('line-1\nline-2\n');
  });

  it('rewrites missing or edited mirror files from the ledger and leaves the rest alone', async () => {
    const release = newRelease('mirror-heal');
    await appendFive(release);
    const dir = path.join(evidenceDir, release);
    await rm(path.join(dir, 'check_2.txt'));
    await writeFile(path.join(dir, 'check_4.txt'), 'edited on disk');
    expect(await ledger.syncMirror(release)).toEqual(['check_2.txt', 'check_4.txt']);
    expect(await readFile(path.join(dir, 'check_4.txt'), 'utf8')).toBe('check-4 PASS');
    expect(await ledger.syncMirror(release)).toEqual([]);
  });

  /** The mirrored files of a directory (not the mirror's own dot files), by name. */
  async function mirrored(dir: string): Promise<Map<string, string>> {
    const names = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
    return new Map(await Promise.all(names.map(async (name) => [name, await readFile(path.join(dir, name), 'utf8')] as const)));
  }

  /** What a mirror built from scratch out of the ledger holds: the renderer, and a full pass into an empty directory. */
  async function fromScratch(release: string): Promise<Map<string, string>> {
    const scratch = await mkdtemp(path.join(tmpdir(), 'ledger-scratch-'));
    const fresh = await createPostgresLedger({ databaseUrl, evidenceDir: scratch });
    try {
      await fresh.syncMirror(release);
      const built = await mirrored(path.join(scratch, release));
      expect(built).toEqual(renderMirror(await ledger.list(release)));
      return built;
    } finally {
      await fresh.close();
      await rm(scratch, { recursive: true, force: true });
    }
  }

  const inode = async (file: string) => (await stat(file)).ino;

  /** Flush `n` of a release shaped like the canary's: measurement lines, war-room lines, a summary rewritten. */
  function flush(release: string, n: number): EvidenceInput[] {
    return [
      evidence(release, `m/${n}`, { file: `logs_stage_${1 + (n % 3)}.txt`, kind: 'measurement', mode: 'append', body: `{"n":${n},"p95":"142ms ✓"}` }),
      evidence(release, `w/${n}`, { file: 'warroom_log.txt', kind: 'warroom', mode: 'append', body: n % 4 === 0 ? `:${n} two\nlines\n` : `:${n} | PASS` }),
      ...(n % 5 === 0 ? [evidence(release, `s/${n}`, { file: `summary_stage_${1 + (n % 3)}.txt`, kind: 'stage', body: `after flush ${n}\n` })] : []),
    ];
  }

  it('after many flushes appends in place and equals a from-scratch rebuild byte for byte, seal included', async () => {
    const release = newRelease('mirror-incremental');
    const dir = path.join(evidenceDir, release);
    await ledger.appendMany(flush(release, 0));
    const firstInode = await inode(path.join(dir, 'warroom_log.txt'));
    for (let n = 1; n <= 60; n += 1) {
      await ledger.appendMany(flush(release, n));
      if (n % 10 === 0) await ledger.appendMany(flush(release, n)); // an idempotent repeat (an activity retry)
    }
    // Same inode: the war-room log was appended to, never rewritten.
    expect(await inode(path.join(dir, 'warroom_log.txt'))).toBe(firstInode);
    const incremental = await mirrored(dir);
    expect(incremental).toEqual(await fromScratch(release));
    expect([...incremental.keys()]).toEqual([
      'SHA256SUMS', 'logs_stage_1.txt', 'logs_stage_2.txt', 'logs_stage_3.txt',
      'summary_stage_1.txt', 'summary_stage_2.txt', 'summary_stage_3.txt', 'warroom_log.txt',
    ]);
    await expect(run('sha256sum', ['--check', '--strict', '--quiet', 'SHA256SUMS'], { cwd: dir })).resolves.toMatchObject({ stdout: '' });
    expect(await ledger.syncMirror(release)).toEqual([]);
  });

  it('rebuilds on the next flush a deleted, truncated, edited or half-appended file and a deleted seal', async () => {
    const release = newRelease('mirror-damage');
    const dir = path.join(evidenceDir, release);
    for (let n = 0; n < 12; n += 1) await ledger.appendMany(flush(release, n));
    await rm(path.join(dir, 'logs_stage_1.txt'));
    await truncate(path.join(dir, 'logs_stage_2.txt'), 10);
    await writeFile(path.join(dir, 'summary_stage_1.txt'), 'edited on disk');
    await appendFile(path.join(dir, 'warroom_log.txt'), ':12 | half a li'); // a crash in the middle of an append
    await rm(path.join(dir, 'SHA256SUMS'));
    expect(await ledger.syncMirror(release, 'incremental')).toEqual([
      'logs_stage_1.txt', 'logs_stage_2.txt', 'summary_stage_1.txt', 'warroom_log.txt', 'SHA256SUMS',
    ]);
    await ledger.appendMany(flush(release, 12));
    expect(await mirrored(dir)).toEqual(await fromScratch(release));
    expect(await ledger.syncMirror(release, 'incremental')).toEqual([]);
  });

  it('catches up records committed without a mirror write (a crash between commit and files), in a fresh process too', async () => {
    const release = newRelease('mirror-crash');
    const dir = path.join(evidenceDir, release);
    for (let n = 0; n < 5; n += 1) await ledger.appendMany(flush(release, n));
    const logInode = await inode(path.join(dir, 'warroom_log.txt'));
    // Another writer whose mirror goes elsewhere: its records are committed, this directory never saw them.
    const elsewhere = await mkdtemp(path.join(tmpdir(), 'ledger-elsewhere-'));
    const crashed = await createPostgresLedger({ databaseUrl, evidenceDir: elsewhere });
    try {
      for (let n = 5; n < 9; n += 1) await crashed.appendMany(flush(release, n));
    } finally {
      await crashed.close();
      await rm(elsewhere, { recursive: true, force: true });
    }
    // A new process (own pool, nothing in memory) goes on from the state file.
    const next = await createPostgresLedger({ databaseUrl, evidenceDir });
    try {
      await next.appendMany(flush(release, 9));
    } finally {
      await next.close();
    }
    expect(await inode(path.join(dir, 'warroom_log.txt'))).toBe(logInode);
    expect(await mirrored(dir)).toEqual(await fromScratch(release));
  });

  it('rebuilds from the ledger when the state file is missing, torn or describes another chain', async () => {
    const release = newRelease('mirror-state');
    const dir = path.join(evidenceDir, release);
    const statePath = path.join(dir, STATE_FILE);
    for (let n = 0; n < 6; n += 1) await ledger.appendMany(flush(release, n));
    const state = JSON.parse(await readFile(statePath, 'utf8'));
    expect(state).toMatchObject({ seq: (await ledger.list(release)).length, files: { 'warroom_log.txt': { mode: 'append' } } });

    const damage = [() => rm(statePath), () => writeFile(statePath, '{"format":"evidence-mirror-v1","seq":')];
    for (const [i, spoil] of damage.entries()) {
      await writeFile(path.join(dir, 'warroom_log.txt'), 'stale'); // the rebuild compares every file with the ledger
      await spoil();
      await ledger.appendMany(flush(release, 6 + i));
      expect(await mirrored(dir)).toEqual(await fromScratch(release));
    }

    // Another chain's mirror (as after restoring another database), untouched since it was written, at the same seq.
    const other = newRelease('mirror-other-chain');
    const count = (await ledger.list(release)).length;
    await ledger.appendMany(
      Array.from({ length: count }, (_, i) => evidence(other, `o/${i}`, { file: 'warroom_log.txt', kind: 'warroom', mode: 'append', body: `other ${i}` })),
    );
    await rm(dir, { recursive: true });
    await rename(path.join(evidenceDir, other), dir);
    expect(await ledger.syncMirror(release, 'incremental')).not.toEqual([]);
    expect(await mirrored(dir)).toEqual(await fromScratch(release));
  });
});
