import fc from 'fast-check';
import {
  chainHash,
  chainPreimage,
  GENESIS_HASH,
  sealRecord,
  sha256Hex,
  verifyChain,
  verifyChainBatches,
} from '../../src/adapters/ledger/chain';
import type { EvidenceRecord } from '../../src/adapters/ledger/ledger';

const RELEASE = 'release-unit-v0.0.1';

function buildChain(length: number): EvidenceRecord[] {
  const records: EvidenceRecord[] = [];
  for (let i = 0; i < length; i += 1) {
    const recordedAt = new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString();
    const input = {
      release: RELEASE,
      runId: 'run-1',
      key: `stage-1/check-${i}`,
      file: i % 2 === 0 ? 'warroom_log.txt' : `summary_stage_${i}.txt`,
      kind: 'measurement' as const,
      mode: i % 2 === 0 ? ('append' as const) : ('replace' as const),
      body: `value ${i}: p95=142ms ünïcödé ✓`,
    };
    records.push(sealRecord(input, records.at(-1), recordedAt));
  }
  return records;
}

async function* inBatches(records: EvidenceRecord[], sizes: number[], pulled: { batches: number }) {
  let offset = 0;
  for (let i = 0; offset < records.length; i += 1) {
    const size = sizes[i % sizes.length]!;
    pulled.batches += 1;
    yield records.slice(offset, offset + size);
    offset += size;
  }
}

describe('chain encoding', () => {
  // The worked example of docs/evidence.md; the shell recipe there reproduces these hashes.
  const example = sealRecord(
    {
      release: 'release-spark-trading-v1.4.0',
      runId: 'run-1',
      key: 'preflight/summary',
      file: 'preflight.txt',
      kind: 'check',
      mode: 'replace',
      body: 'preflight: 10/10 PASS\n',
    },
    undefined,
    '2025-01-01T00:00:00.000Z',
  );

  it('matches the documented worked example byte for byte', () => {
    expect(example.bodySha256).toBe('458f427e723c5b70ba4911e390b28c17323e60440643e9aae2f14f4615b9ba34');
    expect(chainPreimage(example)).toBe(
      '17:evidence-chain-v1,64:0000000000000000000000000000000000000000000000000000000000000000,' +
        '28:release-spark-trading-v1.4.0,5:run-1,1:1,17:preflight/summary,13:preflight.txt,5:check,' +
        '7:replace,64:458f427e723c5b70ba4911e390b28c17323e60440643e9aae2f14f4615b9ba34,' +
        '24:2025-01-01T00:00:00.000Z,',
    );
    expect(example.chainHash).toBe('b4e2ad6c5875be18175127794a88172a233e8901ce8779dbce581918b5491320');
  });

  it('counts bytes, not UTF-16 units, in the length prefixes', () => {
    expect(chainPreimage({ ...example, key: 'ü✓' })).toContain(',5:ü✓,');
  });

  it('never lets field boundaries shift without changing the hash', () => {
    const shifted = { ...example, key: 'preflight/summary13:preflight.txt', file: 'x' };
    expect(chainHash(shifted)).not.toBe(example.chainHash);
    expect(chainHash({ ...example, key: 'ab', file: 'c' })).not.toBe(chainHash({ ...example, key: 'a', file: 'bc' }));
  });

  it('links each record to the previous chain hash, starting at the genesis hash', () => {
    const records = buildChain(4);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(records[0]!.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < records.length; i += 1) expect(records[i]!.prevHash).toBe(records[i - 1]!.chainHash);
    expect(records[2]!.bodySha256).toBe(sha256Hex(records[2]!.body));
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and reports its head', () => {
    const records = buildChain(6);
    expect(verifyChain(RELEASE, records)).toEqual({
      release: RELEASE,
      records: 6,
      ok: true,
      head: { seq: 6, chainHash: records[5]!.chainHash },
    });
  });

  it('accepts an empty release', () => {
    expect(verifyChain(RELEASE, [])).toEqual({ release: RELEASE, records: 0, ok: true });
  });

  const broken = (records: EvidenceRecord[]) => verifyChain(RELEASE, records).firstBroken;

  it('finds a changed body at its seq', () => {
    const records = buildChain(5);
    records[2] = { ...records[2]!, body: 'value 2: all fine' };
    expect(broken(records)).toMatchObject({ seq: 3, key: 'stage-1/check-2', problem: 'body hash mismatch' });
    expect(verifyChain(RELEASE, records)).toMatchObject({ ok: false, records: 3, head: { seq: 2 } });
  });

  it('gives the same verdict for bodies given as their UTF-8 bytes, and finds a changed byte', () => {
    const records = buildChain(6);
    const asBytes = records.map((record) => ({ ...record, body: Buffer.from(record.body, 'utf8') }));
    expect(verifyChain(RELEASE, asBytes)).toEqual(verifyChain(RELEASE, records));
    const changed = Buffer.from(asBytes[4]!.body);
    changed[changed.length - 1]! ^= 1;
    asBytes[4] = { ...asBytes[4]!, body: changed };
    expect(verifyChain(RELEASE, asBytes).firstBroken).toMatchObject({ seq: 5, problem: 'body hash mismatch' });
  });

  it('finds a changed body whose body hash was recomputed as a chain mismatch at its seq', () => {
    const records = buildChain(5);
    records[2] = { ...records[2]!, body: 'forged', bodySha256: sha256Hex('forged') };
    expect(broken(records)).toMatchObject({ seq: 3, problem: 'chain mismatch' });
  });

  it('finds a replaced chain hash at its seq', () => {
    const records = buildChain(5);
    records[1] = { ...records[1]!, chainHash: sha256Hex('forged') };
    expect(broken(records)).toMatchObject({ seq: 2, problem: 'chain mismatch' });
  });

  it('finds a record re-sealed in place at the next seq, whose prev_hash no longer matches', () => {
    const records = buildChain(5);
    const forged = { ...records[1]!, body: 'forged', bodySha256: sha256Hex('forged') };
    records[1] = { ...forged, chainHash: chainHash(forged) };
    expect(broken(records)).toMatchObject({ seq: 3, problem: 'chain mismatch' });
    expect(broken(records)!.detail).toContain('chain_hash of seq 2');
  });

  it('finds a first record that does not start from the genesis hash', () => {
    const [first] = buildChain(1);
    const relinked = { ...first!, prevHash: 'f'.repeat(64) };
    expect(broken([{ ...relinked, chainHash: chainHash(relinked) }])).toMatchObject({
      seq: 1,
      problem: 'chain mismatch',
      detail: expect.stringContaining('genesis'),
    });
  });

  it('finds a deleted record as a gap at the following seq', () => {
    const records = buildChain(6);
    records.splice(2, 2);
    expect(broken(records)).toEqual({
      seq: 5,
      key: 'stage-1/check-4',
      problem: 'seq gap',
      detail: 'seq 3..4 missing before seq 5',
    });
  });

  it('finds a duplicated seq and an out-of-order seq', () => {
    const records = buildChain(4);
    expect(broken([...records.slice(0, 3), records[2]!, records[3]!])).toMatchObject({ seq: 3, problem: 'duplicate seq' });
    expect(broken([records[0]!, records[2]!, records[1]!])).toMatchObject({ seq: 3, problem: 'seq gap' });
    expect(broken([records[0]!, records[1]!, records[0]!])).toMatchObject({ seq: 1, problem: 'seq out of order' });
  });

  it('refuses a record of another release', () => {
    const records = buildChain(2);
    expect(verifyChain('release-other', records).firstBroken).toMatchObject({ seq: 1, problem: 'wrong release' });
  });

  it('detects a change to any covered field of any record, at that record', () => {
    const fields = ['runId', 'key', 'file', 'kind', 'mode', 'body', 'bodySha256', 'prevHash', 'chainHash', 'recordedAt'] as const;
    const records = buildChain(8);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.constantFrom(...fields), fc.string({ minLength: 1 }), (index, field, suffix) => {
        const tampered = records.slice();
        const original = tampered[index]!;
        tampered[index] = { ...original, [field]: `${original[field]}${suffix}` };
        const result = verifyChain(RELEASE, tampered);
        return !result.ok && result.firstBroken!.seq === original.seq;
      }),
    );
  });
});

describe('verifyChainBatches', () => {
  it('gives the same verdict as verifyChain whatever the batch sizes', async () => {
    const records = buildChain(40);
    const withGap = [...records.slice(0, 17), ...records.slice(18)];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }), async (sizes) => {
        for (const chain of [records, withGap]) {
          const batched = await verifyChainBatches(RELEASE, inBatches(chain, sizes, { batches: 0 }));
          expect(batched).toEqual(verifyChain(RELEASE, chain));
        }
      }),
    );
  });

  it('stops pulling batches at the first broken link', async () => {
    const records = buildChain(50);
    records[12] = { ...records[12]!, body: 'tampered' };
    const pulled = { batches: 0 };
    const result = await verifyChainBatches(RELEASE, inBatches(records, [10], pulled));
    expect(result.firstBroken).toMatchObject({ seq: 13, problem: 'body hash mismatch' });
    expect(result.records).toBe(13);
    expect(pulled.batches).toBe(2);
  });
});
