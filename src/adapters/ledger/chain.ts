// Pure hashing and verification of the evidence chain: no I/O, shared by the
// PostgreSQL ledger, the CLI and the tests. The encoding is specified in
// docs/evidence.md; change it only together with CHAIN_FORMAT.
import { createHash } from 'node:crypto';
import type { ChainProblem, ChainVerification, EvidenceInput, EvidenceRecord } from './ledger';

/** prev_hash of the first record of every release. */
export const GENESIS_HASH = '0'.repeat(64);
/** First field of every chain preimage, so a future encoding can never collide with this one. */
export const CHAIN_FORMAT = 'evidence-chain-v1';

/** The fields a chain hash covers, in preimage order (after CHAIN_FORMAT). */
export type ChainFields = Pick<
  EvidenceRecord,
  'prevHash' | 'release' | 'runId' | 'seq' | 'key' | 'file' | 'kind' | 'mode' | 'bodySha256' | 'recordedAt'
>;

/** Of a text's UTF-8 encoding, or of bytes as they are. */
export function sha256Hex(data: string | Uint8Array): string {
  const hash = createHash('sha256');
  return (typeof data === 'string' ? hash.update(data, 'utf8') : hash.update(data)).digest('hex');
}

/** A record as verification reads it: the body may come as its UTF-8 bytes, hashed without decoding. */
export type StoredRecord = Omit<EvidenceRecord, 'body'> & { body: string | Uint8Array };

const netstring = (field: string) => `${Buffer.byteLength(field, 'utf8')}:${field},`;

/** Netstring encoding (`<byte length>:<bytes>,`) of every field: no separator can be forged. */
export function chainPreimage(fields: ChainFields): string {
  // One concatenation, not an array joined: every record of a bulk load and of a verification passes here.
  return (
    netstring(CHAIN_FORMAT) + netstring(fields.prevHash) + netstring(fields.release) + netstring(fields.runId) +
    netstring(String(fields.seq)) + netstring(fields.key) + netstring(fields.file) + netstring(fields.kind) +
    netstring(fields.mode) + netstring(fields.bodySha256) + netstring(fields.recordedAt)
  );
}

export function chainHash(fields: ChainFields): string {
  return sha256Hex(chainPreimage(fields));
}

/** Builds the record that follows `prev` (undefined for the first record of a release). */
export function sealRecord(
  input: Required<EvidenceInput>,
  prev: { seq: number; chainHash: string } | undefined,
  recordedAt: string,
): EvidenceRecord {
  // Field by field rather than spread: sealing is a bulk load's main cost in JavaScript, and spreads are ~2x slower.
  const record: EvidenceRecord = {
    release: input.release,
    runId: input.runId,
    key: input.key,
    file: input.file,
    kind: input.kind,
    body: input.body,
    mode: input.mode,
    seq: prev ? prev.seq + 1 : 1,
    prevHash: prev ? prev.chainHash : GENESIS_HASH,
    bodySha256: sha256Hex(input.body),
    recordedAt,
    chainHash: '',
  };
  record.chainHash = chainHash(record);
  return record;
}

/**
 * Checks records one at a time, in seq order, and remembers the first broken
 * link; feed it from memory or from batches of any size.
 */
export class ChainVerifier {
  private checked = 0;
  private last: { seq: number; chainHash: string } | undefined;
  private broken: ChainVerification['firstBroken'];

  constructor(readonly release: string) {}

  /** Returns false once the chain is broken; later records are not checked. */
  check(record: StoredRecord): boolean {
    if (this.broken) return false;
    this.checked += 1;
    const problem = this.problemOf(record);
    if (problem) {
      this.broken = { seq: record.seq, key: record.key, ...problem };
      return false;
    }
    this.last = { seq: record.seq, chainHash: record.chainHash };
    return true;
  }

  result(): ChainVerification {
    const outcome: ChainVerification = { release: this.release, records: this.checked, ok: !this.broken };
    if (this.broken) outcome.firstBroken = this.broken;
    if (this.last) outcome.head = this.last;
    return outcome;
  }

  private problemOf(record: StoredRecord): { problem: ChainProblem; detail: string } | undefined {
    if (record.release !== this.release) {
      return { problem: 'wrong release', detail: `record belongs to ${JSON.stringify(record.release)}` };
    }
    const expectedSeq = (this.last?.seq ?? 0) + 1;
    if (record.seq !== expectedSeq) {
      if (this.last && record.seq === this.last.seq) {
        return { problem: 'duplicate seq', detail: `seq ${record.seq} appears twice` };
      }
      if (record.seq > expectedSeq) {
        const missing = expectedSeq === record.seq - 1 ? `${expectedSeq}` : `${expectedSeq}..${record.seq - 1}`;
        return { problem: 'seq gap', detail: `seq ${missing} missing before seq ${record.seq}` };
      }
      return { problem: 'seq out of order', detail: `seq ${record.seq} follows seq ${this.last?.seq ?? 0}` };
    }
    const bodySha256 = sha256Hex(record.body);
    if (bodySha256 !== record.bodySha256) {
      return { problem: 'body hash mismatch', detail: `stored ${record.bodySha256}, body hashes to ${bodySha256}` };
    }
    const expectedPrev = this.last?.chainHash ?? GENESIS_HASH;
    if (record.prevHash !== expectedPrev) {
      const of = this.last ? `chain_hash of seq ${this.last.seq}` : 'the genesis hash';
      return { problem: 'chain mismatch', detail: `prev_hash ${record.prevHash} is not ${of} (${expectedPrev})` };
    }
    const computed = chainHash(record);
    if (computed !== record.chainHash) {
      return { problem: 'chain mismatch', detail: `stored chain_hash ${record.chainHash}, fields hash to ${computed}` };
    }
    return undefined;
  }
}

export function verifyChain(release: string, records: Iterable<StoredRecord>): ChainVerification {
  const verifier = new ChainVerifier(release);
  for (const record of records) {
    if (!verifier.check(record)) break;
  }
  return verifier.result();
}

/** Verifies batches as they arrive and stops pulling at the first broken link. */
export async function verifyChainBatches(
  release: string,
  batches: AsyncIterable<readonly StoredRecord[]>,
): Promise<ChainVerification> {
  const verifier = new ChainVerifier(release);
  outer: for await (const batch of batches) {
    for (const record of batch) {
      if (!verifier.check(record)) break outer;
    }
  }
  return verifier.result();
}
