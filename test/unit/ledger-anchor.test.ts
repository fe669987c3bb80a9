// The ledger anchor's format and its check, without a database: what can be
// read from any text, which field is wrong, and each problem a chain can have.
import { generateKeyPairSync } from 'node:crypto';
import { sealRecord } from '../../src/adapters/ledger/chain';
import type { EvidenceRecord } from '../../src/adapters/ledger/ledger';
import { anchorLine, anchorsIn, checkAnchors, hashesDigest, parseAnchor, signAnchor, type RecordedAnchor } from '../../src/evidence/anchor';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const release = 'release-spark-trading-v1.4.0';

function chainOf(n: number): EvidenceRecord[] {
  const records: EvidenceRecord[] = [];
  for (let i = 1; i <= n; i++) {
    records.push(sealRecord({ release, runId: 'run-1', key: `k/${i}`, file: 'f.txt', kind: 'note', body: `record ${i}`, mode: 'append' }, records.at(-1), '2026-12-02T19:00:00.000Z'));
  }
  return records;
}

function anchorOver(records: EvidenceRecord[], seq: number, name = 'go'): RecordedAnchor {
  const hashes = records.slice(0, seq).map((r) => r.chainHash);
  const signed = signAnchor({ release, runId: 'run-1', name, seq, chainHash: hashes.at(-1)!, hashesSha256: hashesDigest(hashes), at: '2026-12-02T19:01:00.000Z' }, privateKey);
  return { ...signed, hashes };
}

describe('reading anchors', () => {
  it('finds them in any text, such as a tag annotation, with the line they are on', () => {
    const a = anchorOver(chainOf(3), 3);
    const tag = `object 1f2e\ntype commit\ntag v1.4.0\n\nv1.4.0 canary: 1%→100%\n\nLedger anchored at seq 3 (go), signed by ${a.keyid}: ${anchorLine(a)}\n`;
    const { found, problems } = anchorsIn(tag, 'tag.txt');
    expect(problems).toEqual([]);
    expect(found).toEqual([{ anchor: parseAnchor(JSON.parse(anchorLine(a)), 'x'), from: 'tag.txt line 7' }]);
  });

  it('names the field that is wrong', () => {
    const good = JSON.parse(anchorLine(anchorOver(chainOf(2), 2))) as Record<string, unknown>;
    expect(() => parseAnchor({ ...good, seq: 0 }, 'line 1')).toThrow('line 1: field "seq" must be a positive integer');
    expect(() => parseAnchor({ ...good, chainHash: 'ABC' }, 'line 1')).toThrow('line 1: field "chainHash" must be 64 lower-case hex digits');
    expect(() => parseAnchor({ ...good, sig: '' }, 'line 1')).toThrow('line 1: field "sig" must be a non-empty string');
    expect(() => parseAnchor({ ...good, hashes: ['x'] }, 'line 1')).toThrow('line 1: field "hashes" must be a list of 64-hex-digit chain hashes');
    expect(anchorsIn(`${JSON.stringify({ ...good, runId: 7 })}\n`, 'ledger_anchors.jsonl').problems).toEqual(['ledger_anchors.jsonl line 1: field "runId" must be a non-empty string']);
  });
});

describe('checking a chain against anchors', () => {
  const records = chainOf(5);
  const at = (found: RecordedAnchor[], chain = records) => checkAnchors(release, chain, found.map((anchor) => ({ anchor, from: 'test' })), publicKey);

  it('holds for the chain it was taken over, and for that chain grown longer', () => {
    expect(at([anchorOver(records, 3), anchorOver(records, 5, 'end')])).toEqual({ checked: 2, problems: [], anchoredSeq: 5 });
  });

  it('counts the same anchor found in several places once', () => {
    const a = anchorOver(records, 3);
    const { hashes: _hashes, ...published } = a;
    expect(checkAnchors(release, records, [{ anchor: published, from: 'slack' }, { anchor: a, from: 'file' }], publicKey).checked).toBe(1);
  });

  it('reports a hash list that does not match its signed digest, and still checks the head', () => {
    const a = anchorOver(records, 3);
    const edited = { ...a, hashes: [records[1]!.chainHash, records[1]!.chainHash, a.chainHash] };
    expect(at([edited]).problems).toEqual([expect.stringMatching(/^EDITED: anchor "go" \(seq 3, .*\): its list of chain hashes does not match the signed digest; only its head is checked$/)]);
  });

  it('reports an anchor of another release', () => {
    const other = signAnchor({ ...anchorOver(records, 2), release: 'release-other' }, privateKey);
    expect(at([other]).problems).toEqual([expect.stringMatching(/^OTHER RELEASE: anchor "go" .* is an anchor of release-other, not of release-spark-trading-v1\.4\.0$/)]);
  });

  it('names a removed middle record, and a head that differs when there is no list', () => {
    const a = anchorOver(records, 4);
    expect(at([a], records.filter((r) => r.seq !== 2)).problems).toEqual([expect.stringMatching(/^REWRITTEN: record seq 2 is missing, but anchor "go" .* covers it/)]);
    const { hashes: _h, ...published } = a;
    const changed = records.map((r) => (r.seq === 4 ? { ...r, chainHash: 'f'.repeat(64) } : r));
    expect(at([published], changed).problems).toEqual([expect.stringMatching(/^REWRITTEN: record seq 4 \(key k\/4\) has chain hash f{64}, but anchor "go" .* signed [0-9a-f]{64}: a record at or before seq 4 was changed/)]);
  });
});
