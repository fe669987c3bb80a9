// Ledger anchors (docs/evidence.md, "Anchors"): the head of a release's chain,
// signed with the worker's release signing key (the ritual's DSSE helpers) and
// published outside the database, so that a rewritten or shortened chain no
// longer verifies. This file is the format, its parsing and the check of a
// chain against anchors; the activity that takes them is src/activities/anchor.ts.
import { createHash, type KeyObject } from 'node:crypto';
import { DsseError, keyIdOf, signEnvelope, verifyEnvelope } from '../ritual/dsse';

/** First field of every anchor, and how one is found in any text (a message, a tag, a record). */
export const ANCHOR_FORMAT = 'spark-ledger-anchor-v1';
export const ANCHOR_PAYLOAD_TYPE = 'application/vnd.spark-release.ledger-anchor.v1+json';
/** The key the workflow records each anchor it took under, `anchor/<name>` (src/workflows/anchor.ts). */
export const ANCHOR_RECORD_KEY = /^anchor\/([^/]+)$/;

/** What is signed: the chain of `release` up to `seq` ends in `chainHash`. */
export interface LedgerAnchor {
  release: string;
  runId: string;
  /** Where it was taken: the gate (`go`), `close-out` or `end`. */
  name: string;
  seq: number;
  chainHash: string;
  /** sha256 of every record's chain hash 1..seq, joined by "\n": binds the list the anchors file keeps. */
  hashesSha256: string;
  /** When it was taken (the workflow's clock). */
  at: string;
}

/** The published form: the anchor, the key's id (a hint) and the Ed25519 signature (base64). */
export interface SignedAnchor extends LedgerAnchor {
  keyid: string;
  sig: string;
}

/** The anchors file's form: also every chain hash 1..seq, so that a rewritten record can be named. */
export interface RecordedAnchor extends SignedAnchor {
  hashes?: string[];
}

/** An anchor and where it was read. */
export interface FoundAnchor {
  anchor: RecordedAnchor;
  from: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function hashesDigest(hashes: readonly string[]): string {
  return createHash('sha256').update(hashes.join('\n'), 'utf8').digest('hex');
}

/** The signed bytes: one JSON object, fields in a fixed order. */
function payloadOf(a: LedgerAnchor): Buffer {
  const { release, runId, name, seq, chainHash, hashesSha256, at } = a;
  return Buffer.from(JSON.stringify({ anchor: ANCHOR_FORMAT, release, runId, name, seq, chainHash, hashesSha256, at }), 'utf8');
}

export function signAnchor(anchor: LedgerAnchor, privateKey: KeyObject): SignedAnchor {
  const [signature] = signEnvelope(ANCHOR_PAYLOAD_TYPE, payloadOf(anchor), privateKey).signatures;
  return { ...anchor, keyid: signature!.keyid!, sig: signature!.sig };
}

/** One line of JSON; with `hashes` it is the anchors file's line, without it the form messages and tags carry. */
export function anchorLine(a: RecordedAnchor, withHashes = false): string {
  const { release, runId, name, seq, chainHash, hashesSha256, at, keyid, sig } = a;
  return JSON.stringify({
    anchor: ANCHOR_FORMAT, release, runId, name, seq, chainHash, hashesSha256, at, keyid, sig,
    ...(withHashes && a.hashes ? { hashes: a.hashes } : {}),
  });
}

/** Reads one anchor object, naming the field that is wrong. */
export function parseAnchor(value: unknown, where: string): RecordedAnchor {
  const fail = (field: string, must: string): never => {
    throw new Error(`${where}: field "${field}" ${must}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: must be a JSON object`);
  const o = value as Record<string, unknown>;
  if (o.anchor !== ANCHOR_FORMAT) fail('anchor', `must be "${ANCHOR_FORMAT}"`);
  for (const field of ['release', 'runId', 'name', 'at', 'keyid', 'sig'] as const) {
    if (typeof o[field] !== 'string' || o[field] === '') fail(field, 'must be a non-empty string');
  }
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 1) fail('seq', 'must be a positive integer');
  for (const field of ['chainHash', 'hashesSha256'] as const) {
    if (typeof o[field] !== 'string' || !HEX64.test(o[field] as string)) fail(field, 'must be 64 lower-case hex digits');
  }
  if (o.hashes !== undefined && (!Array.isArray(o.hashes) || !o.hashes.every((h) => typeof h === 'string' && HEX64.test(h)))) {
    fail('hashes', 'must be a list of 64-hex-digit chain hashes');
  }
  const anchor: RecordedAnchor = {
    release: o.release as string, runId: o.runId as string, name: o.name as string, seq: o.seq as number,
    chainHash: o.chainHash as string, hashesSha256: o.hashesSha256 as string, at: o.at as string,
    keyid: o.keyid as string, sig: o.sig as string,
  };
  if (o.hashes !== undefined) anchor.hashes = o.hashes as string[];
  return anchor;
}

// An anchor holds no nested object, so it runs from its opening brace to the first closing one.
const ANCHOR_IN_TEXT = new RegExp(`\\{"anchor":"${ANCHOR_FORMAT}"[^{}]*\\}`, 'g');

/** Every anchor in a text (an anchors file, a chat message, a tag's annotation, a record), and what could not be read. */
export function anchorsIn(text: string, source: string): { found: FoundAnchor[]; problems: string[] } {
  const found: FoundAnchor[] = [];
  const problems: string[] = [];
  for (const match of text.matchAll(ANCHOR_IN_TEXT)) {
    const where = `${source} line ${text.slice(0, match.index).split('\n').length}`;
    try {
      found.push({ anchor: parseAnchor(JSON.parse(match[0]), where), from: where });
    } catch (err) {
      problems.push(err instanceof SyntaxError ? `${where}: not JSON (${err.message})` : (err as Error).message);
    }
  }
  return { found, problems };
}

/** What a chain is checked against: its records' seq, key and chain hash, in any order. */
export type ChainEntry = { seq: number; key: string; chainHash: string };

export interface AnchorReport {
  /** Distinct anchors checked (the same anchor found in several places counts once). */
  checked: number;
  /** One line per anchor that does not hold, naming the anchor and the record. */
  problems: string[];
  /** The highest seq an anchor that verified covers, 0 when none did. */
  anchoredSeq: number;
}

function describe(a: SignedAnchor, from: string[]): string {
  const more = from.length > 1 ? ` and ${from.length - 1} more place(s)` : '';
  return `anchor "${a.name}" (seq ${a.seq}, signed at ${a.at}; in ${from[0]}${more})`;
}

/**
 * Checks a release's chain against anchors: each must be signed by `publicKey`,
 * belong to the release, find the chain reaching its seq, and find there its
 * chain hash; with the anchors file's hash list, the first record that differs is named.
 */
export function checkAnchors(release: string, chain: readonly ChainEntry[], found: readonly FoundAnchor[], publicKey: KeyObject): AnchorReport {
  // The same anchor in several places is checked once, from the copy that lists the hashes.
  const byLine = new Map<string, { anchor: RecordedAnchor; from: string[] }>();
  for (const { anchor, from } of found) {
    const seen = byLine.get(anchorLine(anchor));
    if (!seen) byLine.set(anchorLine(anchor), { anchor, from: [from] });
    else {
      seen.from.push(from);
      if (!seen.anchor.hashes && anchor.hashes) seen.anchor = anchor;
    }
  }
  const bySeq = new Map(chain.map((r) => [r.seq, r]));
  const lastSeq = chain.reduce((max, r) => Math.max(max, r.seq), 0);
  const problems: string[] = [];
  let anchoredSeq = 0;
  const anchors = [...byLine.values()].sort((x, y) => x.anchor.seq - y.anchor.seq);
  for (const { anchor: a, from } of anchors) {
    const what = describe(a, from);
    try {
      verifyEnvelope(
        { payloadType: ANCHOR_PAYLOAD_TYPE, payload: payloadOf(a).toString('base64'), signatures: [{ keyid: a.keyid, sig: a.sig }] },
        publicKey, [ANCHOR_PAYLOAD_TYPE],
      );
    } catch (err) {
      if (!(err instanceof DsseError)) throw err;
      problems.push(`FORGED: ${what} does not verify with key ${keyIdOf(publicKey)}: its fields were changed after signing, or another key signed it`);
      continue;
    }
    if (a.release !== release) {
      problems.push(`OTHER RELEASE: ${what} is an anchor of ${a.release}, not of ${release}`);
      continue;
    }
    anchoredSeq = Math.max(anchoredSeq, a.seq);
    let hashes = a.hashes;
    if (hashes && (hashes.length !== a.seq || hashes.at(-1) !== a.chainHash || hashesDigest(hashes) !== a.hashesSha256)) {
      problems.push(`EDITED: ${what}: its list of chain hashes does not match the signed digest; only its head is checked`);
      hashes = undefined;
    }
    // The first anchored record the chain no longer holds as it was signed.
    const upTo = Math.min(a.seq, lastSeq);
    const first = hashes
      ? Array.from({ length: upTo }, (_, i) => i + 1).find((seq) => bySeq.get(seq)?.chainHash !== hashes![seq - 1])
      : bySeq.has(a.seq) && bySeq.get(a.seq)!.chainHash !== a.chainHash ? a.seq : undefined;
    if (first !== undefined) {
      const record = bySeq.get(first);
      const expected = hashes ? hashes[first - 1] : a.chainHash;
      problems.push(record
        ? hashes
          ? `REWRITTEN: record seq ${first} (key ${record.key}) has chain hash ${record.chainHash}, but ${what} recorded ${expected}: it was changed, or records before it removed or reordered, after the anchor was signed`
          : `REWRITTEN: record seq ${first} (key ${record.key}) has chain hash ${record.chainHash}, but ${what} signed ${expected}: a record at or before seq ${first} was changed after the anchor was signed (the anchors file's copy names which)`
        : `REWRITTEN: record seq ${first} is missing, but ${what} covers it: records were removed after the anchor was signed`);
    }
    if (lastSeq < a.seq) {
      const gone = lastSeq + 1 === a.seq ? `record ${a.seq} is` : `records ${lastSeq + 1}..${a.seq} are`;
      problems.push(`MISSING TAIL: the chain ends at seq ${lastSeq}, but ${what} covers seq ${a.seq}: ${gone} gone`);
    }
  }
  return { checked: anchors.length, problems, anchoredSeq };
}
