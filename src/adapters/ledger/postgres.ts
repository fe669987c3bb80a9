// The evidence ledger in PostgreSQL (table `evidence`, deploy/postgres/migrations)
// with its file mirror. Appends for one release are serialised by a
// transaction-scoped advisory lock on the release, so seq is 1..n without gaps
// however many processes write.
import path from 'node:path';
import { Pool, type PoolClient } from 'pg';
import { z } from 'zod';
import { sealRecord, verifyChainBatches, type StoredRecord } from './chain';
import { copyIn, copyOut, type CopyRow } from './copy';
import {
  evidenceKinds,
  type ChainVerification,
  type EvidenceInput,
  type EvidenceLedger,
  type EvidenceRecord,
} from './ledger';
import { migrate } from './migrate';
import {
  ANCHORS_FILE,
  mirrorNameProblem,
  prepareHashes,
  rowsShown,
  SEAL_FILE,
  syncMirrorDir,
  type MirrorRow,
  type MirrorSource,
  type PreparedHashes,
} from './mirror';

export interface PostgresLedgerOptions {
  databaseUrl: string;
  evidenceDir: string;
  /** Connections per process; appends hold one briefly, verification one per call. */
  poolSize?: number;
}

/** The input can never be recorded (retrying will not help). */
export class EvidenceInputError extends Error {
  override name = 'EvidenceInputError';
}

/** The key is already recorded with other content: recorded evidence is never rewritten. */
export class EvidenceConflictError extends Error {
  override name = 'EvidenceConflictError';

  constructor(
    readonly release: string,
    readonly key: string,
    readonly fields: string[],
  ) {
    super(
      `evidence key ${JSON.stringify(key)} of release ${release} is already recorded with a different ` +
        `${fields.join(', ')}; recorded evidence is never rewritten, record it under a new key`,
    );
  }
}

/** Migrates the database (safe when several processes start together) and opens the ledger. */
export async function createPostgresLedger(options: PostgresLedgerOptions): Promise<PostgresLedger> {
  const pool = new Pool({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 4,
    application_name: 'spark-release-ledger',
  });
  // An idle connection that dies (server restart) is dropped by the pool and
  // the next query reconnects; without a listener the error would crash the process.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new PostgresLedger(pool, options.evidenceDir);
}

// Two-key advisory locks: (class, hashtext(release)). A hash collision only
// makes two releases take turns.
const LOCK_CLASS = { append: 1_702_001, mirror: 1_702_002 } as const;

const UTC_MILLIS = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
/** recorded_at as the chain hashes it. */
const RECORDED_AT = `to_char(recorded_at AT TIME ZONE 'UTC', ${UTC_MILLIS})`;
const RECORD_COLUMNS = `release, run_id AS "runId", seq, key, file, kind, mode, body,
  body_sha256 AS "bodySha256", prev_hash AS "prevHash", chain_hash AS "chainHash", ${RECORDED_AT} AS "recordedAt"`;

export class PostgresLedger implements EvidenceLedger {
  constructor(
    private readonly pool: Pool,
    readonly evidenceDir: string,
  ) {}

  async append(input: EvidenceInput): Promise<EvidenceRecord> {
    const [record] = await this.appendMany([input]);
    return record!;
  }

  /** All inputs must belong to one release; they are recorded in one transaction, in order. */
  async appendMany(inputs: EvidenceInput[]): Promise<EvidenceRecord[]> {
    const parsed = parseInputs(inputs);
    const release = parsed[0]?.release;
    if (release === undefined) return [];
    const other = parsed.find((input) => input.release !== release);
    if (other) {
      throw new EvidenceInputError(`appendMany takes one release at a time, got ${release} and ${other.release}`);
    }
    let ahead: Promise<PreparedHashes> | undefined;
    const { records, fresh } = await inTransaction(this.pool, 'BEGIN', (client) =>
      recordInOrder(client, release, parsed, (rows) => {
        ahead = prepareHashes(path.join(this.evidenceDir, release), rows);
      }),
    );
    await this.mirrorPass(release, 'incremental', fresh, await ahead);
    return records;
  }

  async list(release: string): Promise<EvidenceRecord[]> {
    const { rows } = await this.pool.query<EvidenceRecord>(
      `SELECT ${RECORD_COLUMNS} FROM evidence WHERE release = $1 ORDER BY seq`,
      [release],
    );
    return rows;
  }

  verify(release: string): Promise<ChainVerification> {
    return verifyRelease(this.pool, release);
  }

  /**
   * Brings the release's mirror in line with the ledger; returns the names
   * written. `full` (the default) compares every file with the ledger;
   * `incremental`, what every append runs, goes on from the mirror's state
   * file and reads only the records after it. Passes for one release take
   * turns, and each reads the ledger after taking its turn, so the last pass
   * always mirrors every committed record.
   */
  async syncMirror(release: string, pass: 'full' | 'incremental' = 'full'): Promise<string[]> {
    const problem = mirrorNameProblem(release);
    if (problem) throw new EvidenceInputError(`release ${JSON.stringify(release)}: ${problem}`);
    return this.mirrorPass(release, pass, [], undefined);
  }

  /**
   * `recorded`: records this process just committed, in seq order, so the pass
   * need not read them back; `ahead`: their append files' digests, worked out during the commit.
   */
  private mirrorPass(
    release: string,
    pass: 'full' | 'incremental',
    recorded: readonly EvidenceRecord[],
    ahead: PreparedHashes | undefined,
  ): Promise<string[]> {
    return inTransaction(this.pool, 'BEGIN', async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS.mirror, release]);
      return syncMirrorDir(path.join(this.evidenceDir, release), mirrorSource(client, release, recorded), pass, ahead);
    });
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * Verifies a release's chain from a consistent snapshot, fetching `batchSize`
 * records at a time (keyset pagination on seq), and stops at the first broken link.
 */
export async function verifyRelease(
  pool: Pool,
  release: string,
  options: { batchSize?: number } = {},
): Promise<ChainVerification> {
  const batchSize = options.batchSize ?? 2000;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new EvidenceInputError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  return inTransaction(pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', (client) =>
    verifyChainBatches(release, recordBatches(client, release, batchSize)),
  );
}

function mirrorSource(client: PoolClient, release: string, recorded: readonly EvidenceRecord[]): MirrorSource {
  return {
    async position(seq) {
      const { rows } = await client.query<{ seq: number | null; chainHash: string | null; chainHashAt: string | null }>(
        `SELECT head.seq, head.chain_hash AS "chainHash",
                (SELECT chain_hash FROM evidence WHERE release = $1 AND seq = $2) AS "chainHashAt"
           FROM (SELECT 1) AS one
           LEFT JOIN LATERAL (SELECT seq, chain_hash FROM evidence WHERE release = $1 ORDER BY seq DESC LIMIT 1) AS head ON true`,
        [release, seq],
      );
      const row = rows[0]!;
      return {
        head: row.seq === null || row.chainHash === null ? undefined : { seq: row.seq, chainHash: row.chainHash },
        chainHashAt: row.chainHashAt ?? undefined,
      };
    },
    async rows({ after, upTo, file }) {
      // Records are never changed once committed: the ones at hand are what a read would return.
      if (file === undefined && recorded[0]?.seq === after + 1 && recorded.at(-1)!.seq === upTo) return rowsShown(recorded);
      // Only the bodies a file shows: every append record, the latest replace record up to upTo.
      const { rows } = await client.query<MirrorRow>(
        `SELECT seq, file, mode, body FROM evidence e
          WHERE release = $1 AND seq > $2 AND seq <= $3 AND ($4::text IS NULL OR file = $4)
            AND (mode = 'append' OR seq = (SELECT max(seq) FROM evidence f WHERE f.release = e.release AND f.file = e.file AND f.seq <= $3))
          ORDER BY seq`,
        [release, after, upTo, file ?? null],
      );
      return rows;
    },
  };
}

/**
 * A release's records in pages of `batchSize`, each page yielded in pieces as it
 * arrives. Binary COPY rather than SELECT: verification checks one piece while
 * PostgreSQL sends the next, and hashes each body from its bytes, never decoded
 * into a string (docs/benchmarks.md). COPY takes no parameters: the release is quoted.
 */
async function* recordBatches(client: PoolClient, release: string, batchSize: number): AsyncGenerator<StoredRecord[]> {
  let afterSeq = 0;
  for (;;) {
    let rows = 0;
    const page = `COPY (SELECT ${STORED_COLUMNS} FROM evidence WHERE release = ${client.escapeLiteral(release)}
      AND seq > ${afterSeq} ORDER BY seq LIMIT ${batchSize}) TO STDOUT (FORMAT binary)`;
    for await (const records of copyOut(client, page, storedRecord)) {
      rows += records.length;
      afterSeq = records.at(-1)!.seq;
      yield records;
    }
    if (rows < batchSize) return;
  }
}

const STORED_COLUMNS = `release, run_id, seq, key, file, kind, mode, body, body_sha256, prev_hash, chain_hash, ${RECORDED_AT}`;

function storedRecord(row: CopyRow): StoredRecord {
  if (row.fields !== 12) throw new Error(`evidence COPY row has ${row.fields} fields, expected 12`);
  return {
    release: row.text(0), runId: row.text(1), seq: row.int4(2), key: row.text(3), file: row.text(4),
    kind: row.text(5) as EvidenceRecord['kind'], mode: row.text(6) as EvidenceRecord['mode'], body: row.bytes(7),
    bodySha256: row.text(8), prevHash: row.text(9), chainHash: row.text(10), recordedAt: row.text(11),
  };
}

/**
 * `records` answers every input in order; `fresh` holds the ones this call
 * stored, in seq order, also handed to `whileStoring` just before their INSERT is sent.
 */
async function recordInOrder(
  client: PoolClient,
  release: string,
  inputs: Required<EvidenceInput>[],
  whileStoring: (fresh: readonly EvidenceRecord[]) => void,
): Promise<{ records: EvidenceRecord[]; fresh: EvidenceRecord[] }> {
  // Waits for every other append to this release; released at COMMIT/ROLLBACK.
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS.append, release]);
  const { rows } = await client.query<{ recordedAt: string; seq: number | null; chainHash: string | null }>(
    `SELECT to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC', ${UTC_MILLIS}) AS "recordedAt",
            head.seq, head.chain_hash AS "chainHash"
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (SELECT seq, chain_hash FROM evidence WHERE release = $1 ORDER BY seq DESC LIMIT 1) AS head ON true`,
    [release],
  );
  const { recordedAt, seq, chainHash } = rows[0]!;
  let head = seq === null || chainHash === null ? undefined : { seq, chainHash };

  // One look-up of the batch's keys and files, one multi-row INSERT: the cost of a batch
  // does not grow with the records already in the release.
  const [stored, modes] = await Promise.all([
    client.query<EvidenceRecord>(
      `SELECT ${RECORD_COLUMNS} FROM evidence WHERE release = $1 AND key = ANY($2::text[])`,
      [release, inputs.map((input) => input.key)],
    ),
    // One record per file is enough (a file has one mode): an index probe each, however long the file.
    client.query<{ file: string; mode: EvidenceRecord['mode'] }>(
      `SELECT f.file, m.mode FROM unnest($2::text[]) AS f(file)
         CROSS JOIN LATERAL (SELECT mode FROM evidence WHERE release = $1 AND file = f.file ORDER BY seq DESC LIMIT 1) AS m`,
      [release, [...new Set(inputs.map((input) => input.file))]],
    ),
  ]);
  const byKey = new Map(stored.rows.map((record) => [record.key, record]));
  const modeOf = new Map(modes.rows.map((row) => [row.file, row.mode]));
  const fresh: EvidenceRecord[] = [];
  const records: EvidenceRecord[] = [];
  for (const input of inputs) {
    const candidate = sealRecord(input, head, recordedAt);
    const existing = byKey.get(candidate.key);
    if (existing) {
      records.push(sameRecord(existing, candidate));
      continue;
    }
    const mode = modeOf.get(candidate.file);
    if (mode !== undefined && mode !== candidate.mode) {
      throw new EvidenceInputError(
        `evidence file ${candidate.file} of release ${candidate.release} is recorded in mode ${mode}; ` +
          `key ${JSON.stringify(candidate.key)} cannot record it in mode ${candidate.mode}`,
      );
    }
    byKey.set(candidate.key, candidate);
    modeOf.set(candidate.file, candidate.mode);
    fresh.push(candidate);
    records.push(candidate);
    head = candidate;
  }
  if (fresh.length === 0) return { records, fresh };
  whileStoring(fresh);
  // COPY: PostgreSQL takes it ~15% faster than one INSERT of unnest()ed arrays (docs/benchmarks.md).
  // The sealed records are what was stored (recordedAt came from the server, in its text form).
  await copyIn(
    client,
    'evidence',
    COPY_COLUMNS.map(([column]) => column),
    fresh.map((record) => COPY_COLUMNS.map(([, field]) => String(record[field]))),
  );
  return { records, fresh };
}

/** The columns a COPY into evidence fills, each with the record field it takes. */
const COPY_COLUMNS: readonly (readonly [string, keyof EvidenceRecord])[] = [
  ['release', 'release'], ['seq', 'seq'], ['run_id', 'runId'], ['key', 'key'], ['file', 'file'], ['kind', 'kind'],
  ['mode', 'mode'], ['body', 'body'], ['body_sha256', 'bodySha256'], ['prev_hash', 'prevHash'],
  ['chain_hash', 'chainHash'], ['recorded_at', 'recordedAt'],
];

/** The stored record when `candidate` re-sends it unchanged; a conflict names what differs. */
function sameRecord(stored: EvidenceRecord, candidate: EvidenceRecord): EvidenceRecord {
  const differing = [
    ...(stored.bodySha256 === candidate.bodySha256 ? [] : ['body']),
    ...(['file', 'kind', 'mode'] as const).filter((field) => stored[field] !== candidate[field]),
  ];
  if (differing.length > 0) throw new EvidenceConflictError(candidate.release, candidate.key, differing);
  return stored;
}

async function inTransaction<T>(pool: Pool, begin: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection that drops while checked out emits 'error' on the client (the pool only
  // listens on idle ones); unheard, that kills the worker. The query under way fails anyway.
  const dropped = () => undefined;
  client.on('error', dropped);
  let result: T;
  try {
    await client.query(begin);
    result = await work(client);
    await client.query('COMMIT');
  } catch (error) {
    // A session whose ROLLBACK fails is broken: destroy it instead of pooling it.
    const rollbackError = await client.query('ROLLBACK').then(
      () => undefined,
      (failure: unknown) => (failure instanceof Error ? failure : new Error(String(failure))),
    );
    client.removeListener('error', dropped);
    client.release(rollbackError);
    throw error;
  }
  client.removeListener('error', dropped);
  client.release();
  return result;
}

function wellFormed(text: string): boolean {
  return !text.includes('\u0000') && !/\p{Cs}/u.test(text);
}

/**
 * A body is free text, often a person's: what PostgreSQL cannot store (NUL, lone
 * surrogates) becomes U+FFFD with a note, so one record never refuses a batch.
 */
function storableBody(body: unknown): unknown {
  if (typeof body !== 'string' || wellFormed(body)) return body;
  let replaced = 0;
  const clean = body.replace(/\u0000|\p{Cs}/gu, () => {
    replaced += 1;
    return '\ufffd';
  });
  return `${clean}\n[ledger: ${replaced} character(s) PostgreSQL cannot store (NUL or lone surrogates) replaced with U+FFFD]`;
}
const text = z.string().refine(wellFormed, 'must not contain NUL characters or lone UTF-16 surrogates');
const mirrorName = text.superRefine((name, ctx) => {
  const problem = mirrorNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const evidenceInputSchema = z.strictObject({
  release: mirrorName,
  runId: text.min(1, 'must not be empty'),
  key: text.min(1, 'must not be empty'),
  file: mirrorName
    .refine((name) => name !== SEAL_FILE, `${SEAL_FILE} is the mirror's seal`)
    .refine((name) => name !== ANCHORS_FILE, `${ANCHORS_FILE} holds the worker's signed anchors, never ledger records`),
  kind: z.enum(evidenceKinds),
  body: text,
  mode: z.enum(['replace', 'append']).default('replace'),
});

function parseInputs(inputs: EvidenceInput[]): Required<EvidenceInput>[] {
  if (!Array.isArray(inputs)) throw new EvidenceInputError('appendMany expects an array of evidence inputs');
  return inputs.map((input, index) => {
    const parsed = evidenceInputSchema.safeParse(
      typeof input === 'object' && input !== null ? { ...input, body: storableBody(input.body) } : input,
    );
    if (parsed.success) return parsed.data;
    const where = inputs.length > 1 ? `evidence input [${index}]` : 'evidence input';
    const problems = parsed.error.issues.map((issue) =>
      issue.path.length > 0 ? `field "${issue.path.join('.')}": ${issue.message}` : issue.message,
    );
    throw new EvidenceInputError(`${where}: ${problems.join('; ')}`);
  });
}
