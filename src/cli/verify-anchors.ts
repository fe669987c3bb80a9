// `evidence verify`, after the chain: the chain against every ledger anchor
// found in the release's ledger_anchors.jsonl, in the anchor records of the
// ledger itself (they can be removed there, never forged), and in the texts
// given with --anchors (a saved war-room message, `git cat-file tag <tag>`).
import fs from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { EvidenceRecord } from '../adapters/ledger/ledger';
import { ANCHORS_FILE } from '../adapters/ledger/mirror';
import { ANCHOR_FORMAT, ANCHOR_RECORD_KEY, anchorLine, anchorsIn, checkAnchors, type FoundAnchor } from '../evidence/anchor';
import { keyIdOf, loadPublicKey, loadSigningKey, SIGNING_KEY_ENV } from '../ritual/dsse';

export interface AnchorVerifyOptions {
  release: string;
  records: readonly EvidenceRecord[];
  /** The release's evidence directory (the mirror's). */
  dir: string;
  /** --anchors: more texts to read anchors from. */
  extra?: string[];
  /** --key: the public key; default the public half of $SPARK_SIGNING_KEY. */
  keyFile?: string;
}

function readText(file: string, option: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${option} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function publicKeyOf(keyFile: string | undefined): KeyObject | undefined {
  if (keyFile) return loadPublicKey(keyFile);
  return process.env[SIGNING_KEY_ENV] ? loadSigningKey().publicKey : undefined;
}

/** The lines to print, and whether every anchor holds. */
export function verifyAnchors(o: AnchorVerifyOptions): { ok: boolean; lines: string[] } {
  const file = path.join(o.dir, ANCHORS_FILE);
  const exists = fs.existsSync(file);
  const fromFile = exists ? anchorsIn(readText(file, 'anchors file'), ANCHORS_FILE) : { found: [], problems: [] };
  const problems = [...fromFile.problems];
  const found: FoundAnchor[] = [...fromFile.found];
  for (const extra of o.extra ?? []) {
    const read = anchorsIn(readText(extra, '--anchors'), path.basename(extra));
    if (read.found.length === 0 && read.problems.length === 0) problems.push(`--anchors ${extra}: holds no ledger anchor ({"anchor":"${ANCHOR_FORMAT}",...})`);
    problems.push(...read.problems);
    found.push(...read.found);
  }
  // Only the workflow's own anchor records: a reason a person typed cannot plant one.
  const inLedger = o.records
    .filter((r) => ANCHOR_RECORD_KEY.test(r.key))
    .flatMap((r) => anchorsIn(r.body, `${r.file} seq ${r.seq}`).found);
  const inFile = new Set(fromFile.found.map((f) => anchorLine(f.anchor)));
  const notInFile = inLedger.filter((f) => !inFile.has(anchorLine(f.anchor))).map((f) => `"${f.anchor.name}" (seq ${f.anchor.seq})`);
  if (notInFile.length > 0) {
    problems.push(`MISSING: the ledger records anchor(s) ${notInFile.join(', ')} that ${exists ? `${file} does not hold` : `${file}, which does not exist, should hold`}`);
  }
  found.push(...inLedger);

  if (found.length === 0) {
    const lines = [`anchors: none found (${file}, the ledger's anchor records${o.extra?.length ? ', --anchors' : ''}): the chain is checked against itself only, which the database's owner can rewrite`];
    return { ok: problems.length === 0, lines: [...lines, ...problems.map((p) => `  ${p}`)] };
  }
  const key = publicKeyOf(o.keyFile);
  if (!key) {
    return {
      ok: false,
      lines: [`anchors: ${new Set(found.map((f) => anchorLine(f.anchor))).size} found but NOT CHECKED: no public key; pass --key <public.pem> (the public half of the worker's ${SIGNING_KEY_ENV})`, ...problems.map((p) => `  ${p}`)],
    };
  }
  const chain = o.records.map(({ seq, key: k, chainHash }) => ({ seq, key: k, chainHash }));
  const report = checkAnchors(o.release, chain, found, key);
  problems.push(...report.problems);
  const head = `anchors: ${report.checked} checked with key ${keyIdOf(key)}`;
  if (problems.length === 0) {
    return { ok: true, lines: [`${head}: every one holds; the chain reaches seq ${report.anchoredSeq}, the last anchored`] };
  }
  return { ok: false, lines: [`${head}: ${problems.length} PROBLEM(S)`, ...problems.map((p) => `  ${p}`)] };
}
