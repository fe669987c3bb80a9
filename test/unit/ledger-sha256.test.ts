import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { Sha256 } from '../../src/adapters/ledger/sha256';

const native = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('resumable SHA-256', () => {
  it('agrees with node:crypto at every length around the block and padding boundaries', () => {
    for (let length = 0; length <= 200; length += 1) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 0xff);
      expect(new Sha256().update(bytes).hex()).toBe(native(bytes));
    }
  });

  it('resumed from a saved (JSON) state at any split, gives the digest of the whole input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        let hash = new Sha256();
        let from = 0;
        for (const point of [...points, bytes.length]) {
          hash.update(bytes.subarray(from, point));
          expect(hash.hex()).toBe(native(bytes.subarray(0, point)));
          hash = new Sha256(JSON.parse(JSON.stringify(hash.state())));
          from = point;
        }
        expect(hash.hex()).toBe(native(bytes));
      }),
    );
  });

  it('hashes strings as UTF-8', () => {
    expect(new Sha256().update('ü✓ line\n').hex()).toBe(createHash('sha256').update('ü✓ line\n', 'utf8').digest('hex'));
  });

  it('refuses a state whose pending bytes do not fit its length, naming the field', () => {
    const state = new Sha256().update('x'.repeat(70)).state();
    expect(() => new Sha256({ ...state, bytes: 64 })).toThrow(/6 pending bytes do not fit a length of 64 bytes/);
    expect(() => new Sha256({ ...state, words: 'zz' })).toThrow(/words must be 64 hex digits/);
  });
});
