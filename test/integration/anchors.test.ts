// Ledger anchors against the real PostgreSQL of `bash scripts/services.sh up`
// (DATABASE_URL): the anchorLedger activity signs the chain's head with the
// release signing key, and `evidence verify` catches what a database owner can
// do with the trigger off: rewrite a record and re-hash every record after it,
// cut the tail, or plant an anchor signed with another key.
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { createAnchorActivities, type AnchorResult } from '../../src/activities/anchor';
import { ANCHORS_FILE } from '../../src/adapters/ledger/mirror';
import { createPostgresLedger, EvidenceInputError, type PostgresLedger } from '../../src/adapters/ledger/postgres';
import { main } from '../../src/client';
import { loadConfig, projectRoot } from '../../src/config';
import { anchorLine, anchorsIn, signAnchor } from '../../src/evidence/anchor';
import { PLAN_KEY } from '../../src/evidence/completeness';
import { loadPlanFileWith } from '../../src/plan/loader';
import { asOwner as asOwnerOf } from '../support/ledger-owner';

jest.setTimeout(120_000);

const { databaseUrl } = loadConfig();
const VERSION = 'v1.4.0-anchors.1';
let admin: Pool;
let ledger: PostgresLedger;
let tmp: string;
let evidenceDir: string;
let keyFile: string;
let publicFile: string;

function writeKeyPair(name: string): { privateFile: string; publicFile: string; privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateFile = path.join(tmp, `${name}.pem`);
  const pub = path.join(tmp, `${name}.pub.pem`);
  fs.writeFileSync(privateFile, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  fs.writeFileSync(pub, publicKey.export({ format: 'pem', type: 'spki' }) as string);
  return { privateFile, publicFile: pub, privateKey };
}

beforeAll(async () => {
  admin = new Pool({ connectionString: databaseUrl, max: 2, connectionTimeoutMillis: 5000 });
  try {
    await admin.query('SELECT 1');
  } catch (error) {
    throw new Error(`PostgreSQL not reachable at ${databaseUrl}: run \`bash scripts/services.sh up\` (${(error as Error).message})`);
  }
  tmp = await mkdtemp(path.join(os.tmpdir(), 'anchors-test-'));
  evidenceDir = path.join(tmp, 'evidence');
  ledger = await createPostgresLedger({ databaseUrl, evidenceDir });
  ({ privateFile: keyFile, publicFile } = writeKeyPair('release-signing'));
});

afterAll(async () => {
  await ledger?.close();
  await admin?.end();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Runs `fn` with the given environment variables set (undefined: unset), restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(before);
  }
}

const activities = () => createAnchorActivities({ ledger, evidenceDir });

/** Takes an anchor as the workflow does: the activity signs the head, the workflow records it under anchor/<name>. */
async function anchor(release: string, name: string): Promise<Extract<AnchorResult, { taken: true }>> {
  const taken = await withEnv({ SPARK_SIGNING_KEY: keyFile }, () => activities().anchorLedger({ release, runId: 'run-1', name, at: '2026-12-02T19:00:00.000Z' }));
  if (!taken.taken) throw new Error(`anchor ${name} not taken: ${taken.problem}`);
  await ledger.append({ release, runId: 'run-1', key: `anchor/${name}`, file: `timeline_${VERSION}.txt`, kind: 'phase', mode: 'append', body: `ledger anchored at seq ${taken.seq} (${name}): ${taken.line}` });
  return taken;
}

async function appendChecks(release: string, from: number, to: number): Promise<void> {
  const inputs = [];
  for (let i = from; i <= to; i++) inputs.push({ release, runId: 'run-1', key: `check/${i}`, file: `check_${i}.txt`, kind: 'check' as const, body: `check ${i}: PASS\n` });
  await ledger.appendMany(inputs);
}

/**
 * A release with a plan (so completeness has nothing else to say), records 1-6,
 * anchor "go" at seq 6, records 8-11, anchor "end" at seq 11: 12 records.
 */
async function anchoredRelease(): Promise<string> {
  const release = `release-test-anchors-${randomUUID().slice(0, 8)}`;
  const plan = loadPlanFileWith(path.join(projectRoot, 'plans', 'v1.4.0.yaml'), { version: VERSION });
  await ledger.append({ release, runId: 'run-1', key: PLAN_KEY, file: `release_plan_${VERSION}.json`, kind: 'document', body: JSON.stringify(plan) });
  await appendChecks(release, 2, 6);
  expect((await anchor(release, 'go')).seq).toBe(6);
  await appendChecks(release, 8, 11);
  expect((await anchor(release, 'end')).seq).toBe(11);
  return release;
}

async function verify(release: string, ...args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await withEnv({ SPARK_EVIDENCE_DIR: evidenceDir, SPARK_SIGNING_KEY: undefined }, () =>
    main(['evidence', 'verify', release, ...args], (l) => out.push(l), (l) => out.push(l)));
  return { code, out };
}

type RowsSql = (text: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

/** As a hostile owner of the database would (test/support/ledger-owner.ts), reading rows. */
const asOwner = (work: (sql: RowsSql) => Promise<void>) => asOwnerOf(admin, (run) => work(async (text, params) => (await run(text, params)).rows));

// The chain encoding of docs/evidence.md, in SQL: a record's chain hash given its prev_hash ($3).
const CHAIN_HASH_SQL = `encode(sha256(convert_to((
  SELECT string_agg(octet_length(field) || ':' || field || ',', '' ORDER BY n)
    FROM unnest(ARRAY['evidence-chain-v1', $3::text, e.release, e.run_id, e.seq::text, e.key, e.file, e.kind, e.mode, e.body_sha256,
                      to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')]) WITH ORDINALITY AS f(field, n)
  ), 'UTF8')), 'hex')`;

/** Rewrites the body of record `seq`, then re-hashes it and every record after it: the chain is consistent again. */
async function rewriteAndRehash(release: string, seq: number, body: string): Promise<void> {
  await asOwner(async (sql) => {
    const changed = await sql(`UPDATE evidence SET body = $3, body_sha256 = encode(sha256(convert_to($3, 'UTF8')), 'hex') WHERE release = $1 AND seq = $2 RETURNING seq`, [release, seq, body]);
    expect(changed).toHaveLength(1);
    let [prev] = await sql('SELECT chain_hash FROM evidence WHERE release = $1 AND seq = $2', [release, seq - 1]);
    const later = await sql('SELECT seq FROM evidence WHERE release = $1 AND seq >= $2 ORDER BY seq', [release, seq]);
    for (const row of later) {
      [prev] = await sql(`UPDATE evidence e SET prev_hash = $3, chain_hash = ${CHAIN_HASH_SQL} WHERE release = $1 AND seq = $2 RETURNING chain_hash`, [release, row.seq, prev!.chain_hash]);
    }
  });
}

describe('ledger anchors', () => {
  it('are taken by the activity, once per name however often it is retried, and a clean chain verifies against them', async () => {
    const release = await anchoredRelease();
    const file = path.join(evidenceDir, release, ANCHORS_FILE);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    // A retried activity returns the anchor its first attempt took, and writes nothing.
    const retried = await withEnv({ SPARK_SIGNING_KEY: keyFile }, () => activities().anchorLedger({ release, runId: 'run-1', name: 'go', at: '2026-12-02T19:05:00.000Z' }));
    expect(retried).toMatchObject({ taken: true, seq: 6 });
    expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)).toEqual(lines);
    // The file's lines carry every chain hash up to the anchor; the published line does not.
    const records = await ledger.list(release);
    expect(anchorsIn(lines[0]!, ANCHORS_FILE).found[0]!.anchor.hashes).toEqual(records.slice(0, 6).map((r) => r.chainHash));

    const { code, out } = await verify(release, '--key', publicFile);
    expect(out).toEqual([
      expect.stringMatching(new RegExp(`^OK: 12 records of ${release} verify; head seq 12 `)),
      expect.stringMatching(/^anchors: 2 checked with key sha256:[0-9a-f]{64}: every one holds; the chain reaches seq 11, the last anchored$/),
      'completeness: reached no phase (still running); 1 of 1 expected files present',
    ]);
    expect(code).toBe(0);
  });

  it('name the record a database owner rewrote, though every hash after it was recomputed and the chain alone verifies', async () => {
    const release = await anchoredRelease();
    const mirrored = path.join(evidenceDir, release, 'check_3.txt');
    await rewriteAndRehash(release, 3, 'check 3: PASS (as the owner would have had it)\n');
    // The rewrite fools the chain: every link and hash is consistent.
    expect(await ledger.verify(release)).toMatchObject({ ok: true, records: 12 });

    const { code, out } = await verify(release, '--key', publicFile);
    expect(code).toBe(1);
    expect(out[0]).toMatch(/^OK: 12 records/);
    expect(out[1]).toMatch(/^anchors: 2 checked with key sha256:[0-9a-f]{64}: 2 PROBLEM\(S\)$/);
    expect(out[2]).toMatch(/^  REWRITTEN: record seq 3 \(key check\/3\) has chain hash [0-9a-f]{64}, but anchor "go" \(seq 6, signed at 2026-12-02T19:00:00.000Z; in ledger_anchors.jsonl line 1 and 1 more place\(s\)\) recorded [0-9a-f]{64}: it was changed/);
    expect(out[3]).toMatch(/^  REWRITTEN: record seq 3 \(key check\/3\) .* anchor "end" \(seq 11, /);
    // The mirror is left holding what was anchored.
    expect(out[4]).toBe('mirror: left as it is until every anchor is checked and holds: its files may still show what was anchored');
    expect(fs.readFileSync(mirrored, 'utf8')).toBe('check 3: PASS\n');
  });

  it('report a tail a database owner deleted, naming the anchor that covers it', async () => {
    const release = await anchoredRelease();
    await asOwner(async (sql) => {
      expect(await sql('DELETE FROM evidence WHERE release = $1 AND seq >= 9 RETURNING seq', [release])).toHaveLength(4);
    });
    expect(await ledger.verify(release)).toMatchObject({ ok: true, records: 8 });

    const { code, out } = await verify(release, '--key', publicFile);
    expect(code).toBe(1);
    expect(out.slice(1, 3)).toEqual([
      expect.stringMatching(/^anchors: 2 checked with key sha256:[0-9a-f]{64}: 1 PROBLEM\(S\)$/),
      '  MISSING TAIL: the chain ends at seq 8, but anchor "end" (seq 11, signed at 2026-12-02T19:00:00.000Z; in ledger_anchors.jsonl line 2) covers seq 11: records 9..11 are gone',
    ]);
  });

  it('report an anchor that was not signed by the release signing key, or was changed after signing', async () => {
    const release = await anchoredRelease();
    const records = await ledger.list(release);
    // The owner signs a head of their own with another key; and edits a real anchor to cover less.
    const forger = writeKeyPair('forger');
    const forged = signAnchor({ release, runId: 'run-1', name: 'close-out', seq: 12, chainHash: records[11]!.chainHash, hashesSha256: '0'.repeat(64), at: '2026-12-02T20:00:00.000Z' }, forger.privateKey);
    const real = anchorsIn(fs.readFileSync(path.join(evidenceDir, release, ANCHORS_FILE), 'utf8'), ANCHORS_FILE).found[1]!.anchor;
    const message = path.join(tmp, `${release}-message.txt`);
    fs.writeFileSync(message, `Closed. Ledger anchored: ${anchorLine(forged)}\nand: ${anchorLine({ ...real, seq: 10 })}\n`);

    const { code, out } = await verify(release, '--key', publicFile, '--anchors', message);
    expect(code).toBe(1);
    expect(out.slice(1)).toEqual([
      expect.stringMatching(/^anchors: 4 checked with key sha256:[0-9a-f]{64}: 2 PROBLEM\(S\)$/),
      expect.stringMatching(new RegExp(`^  FORGED: anchor "end" \\(seq 10, signed at 2026-12-02T19:00:00.000Z; in ${path.basename(message)} line 2\\) does not verify with key sha256:[0-9a-f]{64}: its fields were changed after signing, or another key signed it$`)),
      expect.stringMatching(new RegExp(`^  FORGED: anchor "close-out" \\(seq 12, signed at 2026-12-02T20:00:00.000Z; in ${path.basename(message)} line 1\\) does not verify`)),
      'mirror: left as it is until every anchor is checked and holds: its files may still show what was anchored',
      'completeness: reached no phase (still running); 1 of 1 expected files present',
    ]);
    // Checked with the wrong key, the release's own anchors do not verify either.
    const wrongKey = await verify(release, '--key', forger.publicFile);
    expect(wrongKey.out.slice(1, 4)).toEqual([
      expect.stringMatching(/^anchors: 2 checked with key sha256:[0-9a-f]{64}: 2 PROBLEM\(S\)$/),
      expect.stringMatching(/^  FORGED: anchor "go" \(seq 6, /),
      expect.stringMatching(/^  FORGED: anchor "end" \(seq 11, /),
    ]);
  });

  it('are not checked without a public key, and say so', async () => {
    const release = await anchoredRelease();
    const { code, out } = await verify(release);
    expect(code).toBe(1);
    expect(out[1]).toBe("anchors: 2 found but NOT CHECKED: no public key; pass --key <public.pem> (the public half of the worker's SPARK_SIGNING_KEY)");
  });

  it('report an anchor the ledger records but the anchors file lost', async () => {
    const release = await anchoredRelease();
    const file = path.join(evidenceDir, release, ANCHORS_FILE);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split('\n')[0] + '\n');
    const { code, out } = await verify(release, '--key', publicFile);
    expect(code).toBe(1);
    expect(out[2]).toBe(`  MISSING: the ledger records anchor(s) "end" (seq 11) that ${file} does not hold`);
  });

  it('are not taken over a chain that contradicts an earlier anchor, nor without a signing key', async () => {
    const release = await anchoredRelease();
    await rewriteAndRehash(release, 2, 'check 2: rewritten\n');
    const refused = await withEnv({ SPARK_SIGNING_KEY: keyFile }, () => activities().anchorLedger({ release, runId: 'run-1', name: 'close-out', at: '2026-12-02T20:00:00.000Z' }));
    expect(refused).toEqual({ taken: false, name: 'close-out', problem: expect.stringMatching(/^the ledger no longer matches the anchors taken before: REWRITTEN: record seq 2 \(key check\/2\) .*; nothing was anchored$/) });
    const unsigned = await withEnv({ SPARK_SIGNING_KEY: undefined }, () => activities().anchorLedger({ release, runId: 'run-1', name: 'close-out', at: '2026-12-02T20:00:00.000Z' }));
    expect(unsigned).toEqual({ taken: false, name: 'close-out', problem: expect.stringMatching(/^no signing key configured: set SPARK_SIGNING_KEY/) });
    expect(fs.readFileSync(path.join(evidenceDir, release, ANCHORS_FILE), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('live in a file the ledger never writes', async () => {
    const release = `release-test-anchors-${randomUUID().slice(0, 8)}`;
    await expect(ledger.append({ release, runId: 'run-1', key: 'x', file: ANCHORS_FILE, kind: 'note', body: '{}' }))
      .rejects.toThrow(new EvidenceInputError(`evidence input: field "file": ${ANCHORS_FILE} holds the worker's signed anchors, never ledger records`));
  });
});
