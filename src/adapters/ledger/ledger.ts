// The evidence ledger: an append-only, hash-chained record of every
// measurement and decision of a release, mirrored as the seed's files.

export const evidenceKinds = [
  'check', 'measurement', 'decision', 'gate', 'stage', 'rollback', 'warroom', 'phase', 'document', 'note',
] as const;
export type EvidenceKind = (typeof evidenceKinds)[number];

export interface EvidenceInput {
  /** The release (workflow ID), e.g. `release-spark-trading-v1.4.0`. */
  release: string;
  runId: string;
  /** Deterministic per-release key; writing the same key twice stores it once. */
  key: string;
  /** Evidence file name from the spec, e.g. `preflight.txt`. */
  file: string;
  kind: EvidenceKind;
  body: string;
  /** `replace`: the file holds this record's body. `append`: the file holds every record of that name, in order. */
  mode?: 'replace' | 'append';
}

export interface EvidenceRecord extends Required<EvidenceInput> {
  seq: number;
  bodySha256: string;
  prevHash: string;
  chainHash: string;
  recordedAt: string;
}

export type ChainProblem =
  | 'wrong release' | 'seq gap' | 'duplicate seq' | 'seq out of order' | 'body hash mismatch' | 'chain mismatch';

export interface ChainVerification {
  release: string;
  /** Records checked: all of them when ok, otherwise up to and including the first broken one. */
  records: number;
  ok: boolean;
  /** The first broken link, when there is one. */
  firstBroken?: { seq: number; key: string; problem: ChainProblem; detail: string };
  /** The last verified record: publish its chain hash to detect a later truncation of the tail. */
  head?: { seq: number; chainHash: string };
}

export interface EvidenceLedger {
  /** Appends (or, for a key already present, returns the stored record unchanged) and refreshes the mirrored file. */
  append(input: EvidenceInput): Promise<EvidenceRecord>;
  appendMany(inputs: EvidenceInput[]): Promise<EvidenceRecord[]>;
  list(release: string): Promise<EvidenceRecord[]>;
  verify(release: string): Promise<ChainVerification>;
  close(): Promise<void>;
}
