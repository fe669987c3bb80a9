// The file mirror of the ledger: <evidenceDir>/<release>/<file>, plus a
// SHA256SUMS seal. Every file is a pure function of the ledger's records
// (renderMirror). A pass after a flush costs what the flush added, not what the
// release holds: a state file records the chain position mirrored and, per
// file, its size, identity on disk, digest and (append mode) the running
// SHA-256 state, so the next pass, in this process or any other, appends the
// new lines, rehashes only them and rewrites only the changed seal lines. Any
// doubt (no state, another chain, a file changed on disk) falls back to
// rebuilding from the ledger: what was lost in a crash is repaired, never repeated.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { z } from 'zod';
import { sha256Hex } from './chain';
import type { EvidenceRecord } from './ledger';
import { Sha256, type Sha256State } from './sha256';

/** Written next to the mirrored files; `sha256sum -c SHA256SUMS` checks them. */
export const SEAL_FILE = 'SHA256SUMS';
/**
 * The worker's signed ledger anchors (src/activities/anchor.ts): kept beside the
 * mirror but never written from the ledger, so a rewritten database cannot rewrite them.
 */
export const ANCHORS_FILE = 'ledger_anchors.jsonl';
/** The mirror's own bookkeeping: a leading "." keeps it out of the evidence file names. */
export const STATE_FILE = '.mirror-state.json';
const STATE_FORMAT = 'evidence-mirror-v1';

export type MirrorRow = Pick<EvidenceRecord, 'seq' | 'file' | 'mode' | 'body'>;
export type Mode = MirrorRow['mode'];
export interface LedgerHead {
  seq: number;
  chainHash: string;
}

/** The ledger as a mirror pass reads it (one release, under the pass's lock). */
export interface MirrorSource {
  /** The release's last record, and the chain hash of record `seq` (to tell whether the state describes this chain). */
  position(seq: number): Promise<{ head?: LedgerHead; chainHashAt?: string }>;
  /**
   * The records a mirror shows with seq in (after, upTo], of one file or all, in
   * seq order: every append record, and of a replace file its latest record up to `upTo`.
   */
  rows(range: { after: number; upTo: number; file?: string }): Promise<MirrorRow[]>;
}

/** What `MirrorSource.rows` returns for a range whose every record is at hand (in seq order). */
export function rowsShown(records: readonly MirrorRow[]): MirrorRow[] {
  const latest = new Map<string, number>();
  for (const row of records) if (row.mode === 'replace') latest.set(row.file, row.seq);
  return records.filter((row) => row.mode === 'append' || latest.get(row.file) === row.seq);
}

/** Why `name` cannot be a release directory or an evidence file name, or undefined when it can. */
export function mirrorNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (Buffer.byteLength(name, 'utf8') > 255) return 'must be at most 255 bytes';
  if (/[/\\]/.test(name)) return 'must be a single file name (no "/" or "\\")';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'must not contain control characters';
  // Names starting with "." are left to the mirror's state and temporary files (and exclude "." and "..").
  if (name.startsWith('.')) return 'must not start with "."';
  return undefined;
}

/** An append file's share of one record: the body, newline-terminated. */
function line(body: string): string {
  return body.endsWith('\n') ? body : `${body}\n`;
}

/** What the records add to an append file. */
function appended(rows: readonly MirrorRow[]): string {
  return rows.map((row) => line(row.body)).join('');
}

/** Each file's mode and content, from records in seq order: a replace file its latest body, an append file every line. */
function renderFiles(rows: Iterable<MirrorRow>): Map<string, { mode: Mode; content: string }> {
  const files = new Map<string, { mode: Mode; content: string }>();
  for (const row of rows) {
    const current = files.get(row.file);
    sameMode(row.file, current?.mode, row.mode);
    files.set(row.file, { mode: row.mode, content: row.mode === 'replace' ? row.body : (current?.content ?? '') + line(row.body) });
  }
  return files;
}

function sameMode(file: string, recorded: Mode | undefined, mode: Mode): void {
  if (recorded !== undefined && recorded !== mode) {
    throw new Error(`evidence file ${file} is recorded in both modes (${recorded} and ${mode})`);
  }
}

/**
 * The mirror from scratch, from records in seq order: every file's content by
 * name, SEAL_FILE included. The reference every pass must agree with.
 */
export function renderMirror(rows: Iterable<MirrorRow>): Map<string, string> {
  const files = renderFiles(rows);
  const rendered = new Map<string, string>();
  for (const name of [...files.keys()].sort()) rendered.set(name, files.get(name)!.content);
  rendered.set(SEAL_FILE, renderSeal([...rendered].map(([name, content]) => [name, sha256Hex(content)])));
  return rendered;
}

/** sha256sum's format: `<hex>  <name>` per line, sorted by name. */
function renderSeal(digests: Iterable<[string, string]>): string {
  return [...digests]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, digest]) => `${digest}  ${name}\n`)
    .join('');
}

/** What stat said right after the mirror wrote a file: anything else on disk means someone else changed it. */
const identitySchema = z.strictObject({ bytes: z.number().int().nonnegative(), ino: z.string(), mtimeNs: z.string() });
type Identity = z.infer<typeof identitySchema>;
const fileStateSchema = identitySchema.extend({
  mode: z.enum(['replace', 'append']),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The running hash of an append file, to go on from. */
  hash: z.strictObject({ words: z.string(), pending: z.string(), bytes: z.number().int().nonnegative() }).optional(),
});
const stateSchema = z.strictObject({
  format: z.literal(STATE_FORMAT),
  seq: z.number().int().positive(),
  chainHash: z.string(),
  files: z.record(z.string(), fileStateSchema),
  seal: identitySchema,
});
type FileState = z.infer<typeof fileStateSchema>;
type MirrorState = z.infer<typeof stateSchema>;

/**
 * Brings `dir` in line with the ledger up to its current head; returns the
 * names written (SEAL_FILE included, STATE_FILE not). `full` reads every record
 * the mirror shows and compares each file's content with the disk;
 * `incremental` goes on from the state file and falls back to `full` when there
 * is none or it describes another chain. Callers serialise passes per release.
 * `ahead`: digests from prepareHashes, used where they match.
 */
export async function syncMirrorDir(
  dir: string,
  source: MirrorSource,
  pass: 'full' | 'incremental',
  ahead?: PreparedHashes,
): Promise<string[]> {
  const saved = pass === 'incremental' ? await readState(dir) : undefined;
  const { head, chainHashAt } = await source.position(saved?.state.seq ?? 0);
  if (!head) return [];
  await mkdir(dir, { recursive: true });
  if (!saved || chainHashAt !== saved.state.chainHash) return rebuild(dir, source, head);
  return goOn(dir, source, saved, head, ahead);
}

interface Saved {
  state: MirrorState;
  text: string;
}

async function readState(dir: string): Promise<Saved | undefined> {
  const text = await readIfExists(path.join(dir, STATE_FILE));
  if (text === undefined) return undefined;
  try {
    const parsed = stateSchema.safeParse(JSON.parse(text));
    return parsed.success ? { state: parsed.data, text } : undefined;
  } catch {
    return undefined; // a torn or edited state file: rebuild
  }
}

/** Every file from the ledger, written where the disk differs. */
async function rebuild(dir: string, source: MirrorSource, head: LedgerHead): Promise<string[]> {
  const rendered = renderFiles(await source.rows({ after: 0, upTo: head.seq }));
  const files: MirrorState['files'] = {};
  const written: string[] = [];
  for (const [name, { mode, content }] of [...rendered].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const target = path.join(dir, name);
    if ((await readIfExists(target)) !== content) {
      await writeAtomically(target, content);
      written.push(name);
    }
    files[name] = await fileState(target, mode, content);
  }
  return finish(dir, { format: STATE_FORMAT, seq: head.seq, chainHash: head.chainHash, files }, undefined, written);
}

/** The records after the state's position: appended to their files, replace files rewritten, changed files rebuilt. */
async function goOn(dir: string, source: MirrorSource, saved: Saved, head: LedgerHead, ahead?: PreparedHashes): Promise<string[]> {
  const { state } = saved;
  const added = new Map<string, MirrorRow[]>();
  if (head.seq > state.seq) {
    for (const row of await source.rows({ after: state.seq, upTo: head.seq })) {
      const list = added.get(row.file);
      if (list) list.push(row);
      else added.set(row.file, [row]);
    }
  }
  const disk = await changedOnDisk(dir, state);
  const files = { ...state.files };
  const touched = [...new Set([...disk.changed, ...added.keys()])];
  // Each file on its own, so their writes overlap.
  const updated = await Promise.all(
    touched.map(async (name): Promise<FileState | undefined> => {
      const target = path.join(dir, name);
      const prior = files[name];
      const fresh = added.get(name) ?? [];
      for (const row of fresh) sameMode(name, prior?.mode, row.mode);
      if (prior && (disk.changed.has(name) || (prior.mode === 'append' && prior.hash?.bytes !== prior.bytes))) {
        // Not as the mirror left it: this file alone, from the ledger.
        const rebuilt = renderFiles(await source.rows({ after: 0, upTo: head.seq, file: name })).get(name);
        return rebuilt && writeWhole(target, rebuilt.mode, rebuilt.content);
      }
      if (prior?.mode === 'append') return appendInPlace(target, prior.hash!, appended(fresh), ahead?.get(name));
      // A replace file, or a file new since the state: the rows read hold its whole content.
      const { mode, content } = renderFiles(fresh).get(name)!;
      return writeWhole(target, mode, content);
    }),
  );
  const written: string[] = [];
  touched.forEach((name, i) => {
    const file = updated[i];
    if (file) {
      files[name] = file;
      written.push(name);
    } else {
      delete files[name]; // the ledger no longer has it: no longer sealed
    }
  });
  const next = { format: STATE_FORMAT, seq: head.seq, chainHash: head.chainHash, files } as const;
  return finish(dir, next, { ...saved, sealIntact: disk.sealIntact }, written.sort());
}

async function writeWhole(target: string, mode: Mode, content: string): Promise<FileState> {
  await writeAtomically(target, content);
  return fileState(target, mode, content);
}

/**
 * The files whose size, inode or mtime is not what the mirror left (deleted,
 * truncated, edited, or half-appended by a crash), and whether the seal is as it left it.
 */
async function changedOnDisk(dir: string, state: MirrorState): Promise<{ changed: Set<string>; sealIntact: boolean }> {
  const names = Object.keys(state.files);
  const [seal, ...seen] = await Promise.all([SEAL_FILE, ...names].map((name) => identity(path.join(dir, name))));
  return {
    changed: new Set(names.filter((name, i) => !sameIdentity(seen[i], state.files[name]!))),
    sealIntact: sameIdentity(seal, state.seal),
  };
}

function sameIdentity(now: Identity | undefined, then: Identity): boolean {
  return now !== undefined && now.bytes === then.bytes && now.ino === then.ino && now.mtimeNs === then.mtimeNs;
}

async function identity(file: string): Promise<Identity | undefined> {
  try {
    const s = await stat(file, { bigint: true });
    return { bytes: Number(s.size), ino: String(s.ino), mtimeNs: String(s.mtimeNs) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function fileState(target: string, mode: Mode, content: string): Promise<FileState> {
  const onDisk = await identity(target);
  if (!onDisk) throw new Error(`mirror file ${target} vanished while it was written`);
  if (mode === 'replace') return { mode, sha256: sha256Hex(content), ...onDisk };
  const hash = new Sha256().update(content);
  return { mode, sha256: hash.hex(), hash: hash.state(), ...onDisk };
}

/**
 * Append-file hash states worked out ahead of a pass, by file name: a pass takes
 * one only when the file's saved state and the text it appends are these.
 */
export type PreparedHashes = ReadonlyMap<string, PreparedHash>;
interface PreparedHash {
  from: Sha256State;
  text: string;
  to: Sha256State;
}

/** Bytes hashed between turns of the event loop while preparing (~1 ms of JavaScript SHA-256). */
const PREPARE_CHUNK = 64 * 1024;

/**
 * Carries each append file's saved hash state over what `rows` (the records
 * right after the mirror's position, in seq order) will append, yielding to the
 * event loop between chunks: started while those records are being committed, the
 * JavaScript SHA-256 runs while PostgreSQL works instead of after it. Only a head
 * start: anything unexpected yields no entry and the pass hashes for itself.
 */
export async function prepareHashes(dir: string, rows: readonly MirrorRow[]): Promise<PreparedHashes> {
  const prepared = new Map<string, PreparedHash>();
  const saved = await readState(dir).catch(() => undefined);
  if (!saved || rows.length === 0 || saved.state.seq !== rows[0]!.seq - 1) return prepared;
  const byFile = new Map<string, MirrorRow[]>();
  for (const row of rows) {
    if (row.mode !== 'append') continue;
    const list = byFile.get(row.file);
    if (list) list.push(row);
    else byFile.set(row.file, [row]);
  }
  for (const [name, fileRows] of byFile) {
    const from = saved.state.files[name]?.hash;
    if (!from) continue;
    try {
      const hash = new Sha256(from);
      const text = appended(fileRows);
      const bytes = Buffer.from(text, 'utf8');
      for (let at = 0; at < bytes.length; at += PREPARE_CHUNK) {
        hash.update(bytes.subarray(at, at + PREPARE_CHUNK));
        await nextTurn();
      }
      prepared.set(name, { from, text, to: hash.state() });
    } catch {
      // a state the pass will refuse or rebuild anyway
    }
  }
  return prepared;
}

function sameHashState(a: Sha256State, b: Sha256State): boolean {
  return a.words === b.words && a.pending === b.pending && a.bytes === b.bytes;
}

/** Appends `text` where the file ends; the digest goes on from the saved hash state over `text` only. */
async function appendInPlace(
  target: string,
  saved: Sha256State,
  text: string,
  ahead: PreparedHash | undefined,
): Promise<FileState> {
  const handle = await open(target, 'a');
  try {
    await handle.writeFile(text, 'utf8');
    const s = await handle.stat({ bigint: true });
    const hash = ahead && sameHashState(ahead.from, saved) && ahead.text === text ? new Sha256(ahead.to) : new Sha256(saved).update(text);
    return { mode: 'append', bytes: Number(s.size), sha256: hash.hex(), hash: hash.state(), ino: String(s.ino), mtimeNs: String(s.mtimeNs) };
  } finally {
    await handle.close();
  }
}

/**
 * The seal, then the state recording it (each only when it differs from what is
 * on disk): a crash before either is caught by the next pass's checks.
 */
async function finish(
  dir: string,
  next: Omit<MirrorState, 'seal'>,
  previous: (Saved & { sealIntact: boolean }) | undefined,
  written: string[],
): Promise<string[]> {
  const seal = renderSeal(Object.entries(next.files).map(([name, file]) => [name, file.sha256]));
  const sealPath = path.join(dir, SEAL_FILE);
  const sealed = previous
    ? previous.sealIntact && renderSeal(Object.entries(previous.state.files).map(([name, file]) => [name, file.sha256])) === seal
    : (await readIfExists(sealPath)) === seal;
  if (!sealed) {
    await writeAtomically(sealPath, seal);
    written.push(SEAL_FILE);
  }
  const sealIdentity = sealed && previous ? previous.state.seal : await identity(sealPath);
  if (!sealIdentity) throw new Error(`mirror seal ${sealPath} vanished while it was written`);
  const stateText = `${JSON.stringify({ ...next, seal: sealIdentity })}\n`;
  const statePath = path.join(dir, STATE_FILE);
  const onDisk = previous ? previous.text : await readIfExists(statePath);
  if (onDisk !== stateText) await writeAtomically(statePath, stateText);
  return written;
}

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Temp file + rename: a reader or a crash sees the old or the new file, never half of one. */
export async function writeAtomically(target: string, content: string): Promise<void> {
  const temp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    await writeFile(temp, content, { encoding: 'utf8', flag: 'wx' });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
