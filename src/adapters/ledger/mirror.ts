// The file mirror of the ledger: <evidenceDir>/<release>/<file>, plus a
// SHA256SUMS seal. Every file is a pure function of the ledger's records, so
// a retried or crashed write is repaired by the next sync instead of adding
// or losing a line.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Hex } from './chain';
import type { EvidenceRecord } from './ledger';

/** Written next to the mirrored files; `sha256sum -c SHA256SUMS` checks them. */
export const SEAL_FILE = 'SHA256SUMS';

export type MirrorRow = Pick<EvidenceRecord, 'file' | 'mode' | 'body'>;

/** Why `name` cannot be a release directory or an evidence file name, or undefined when it can. */
export function mirrorNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (Buffer.byteLength(name, 'utf8') > 255) return 'must be at most 255 bytes';
  if (/[/\\]/.test(name)) return 'must be a single file name (no "/" or "\\")';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'must not contain control characters';
  // Names starting with "." are left to the mirror's temporary files (and exclude "." and "..").
  if (name.startsWith('.')) return 'must not start with "."';
  return undefined;
}

/**
 * Renders the mirrored files from records in seq order: a `replace` file is the
 * body of its latest record, an `append` file every body in order, each ending
 * with a newline. The result holds SEAL_FILE too.
 */
export function renderMirror(rows: Iterable<MirrorRow>): Map<string, string> {
  const files = new Map<string, { mode: MirrorRow['mode']; content: string }>();
  for (const row of rows) {
    const current = files.get(row.file);
    if (current && current.mode !== row.mode) {
      throw new Error(`evidence file ${row.file} is recorded in both modes (${current.mode} and ${row.mode})`);
    }
    if (row.mode === 'replace') {
      files.set(row.file, { mode: row.mode, content: row.body });
    } else {
      const line = row.body.endsWith('\n') ? row.body : `${row.body}\n`;
      files.set(row.file, { mode: row.mode, content: (current?.content ?? '') + line });
    }
  }
  const rendered = new Map<string, string>();
  for (const name of [...files.keys()].sort()) rendered.set(name, files.get(name)!.content);
  rendered.set(SEAL_FILE, renderSeal(rendered));
  return rendered;
}

/** sha256sum's format: `<hex>  <name>` per line, sorted by name. */
function renderSeal(files: Map<string, string>): string {
  return [...files].map(([name, content]) => `${sha256Hex(content)}  ${name}\n`).join('');
}

/** Writes the files whose content differs from disk, the seal last; returns the names written. */
export async function writeMirror(releaseDir: string, files: Map<string, string>): Promise<string[]> {
  await mkdir(releaseDir, { recursive: true });
  const written: string[] = [];
  const inOrder = [...files].sort(([a], [b]) => Number(a === SEAL_FILE) - Number(b === SEAL_FILE));
  const onDisk = await Promise.all(inOrder.map(([name]) => readIfExists(path.join(releaseDir, name))));
  for (const [index, [name, content]] of inOrder.entries()) {
    if (onDisk[index] === content) continue;
    await writeAtomically(path.join(releaseDir, name), content);
    written.push(name);
  }
  return written;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Temp file + rename: a reader or a crash sees the old or the new file, never half of one. */
async function writeAtomically(target: string, content: string): Promise<void> {
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
