// SHA-256 (FIPS 180-4) whose running state can be saved and resumed. node:crypto
// cannot export a hash's state, and the mirror needs it: the digest of an
// append-mode file is carried forward over the new lines only, by whichever
// process writes next, instead of re-reading the whole file.

/** The state after some input: the eight working words, the bytes not yet in a block, the length so far. */
export interface Sha256State {
  /** 64 hex digits. */
  words: string;
  /** Base64 of the 0-63 bytes waiting for a full block. */
  pending: string;
  /** Input bytes so far. */
  bytes: number;
}

function primes(count: number): number[] {
  const found: number[] = [];
  for (let n = 2; found.length < count; n += 1) if (found.every((p) => n % p !== 0)) found.push(n);
  return found;
}
// The first 32 bits of the fractional parts of square and cube roots of the first primes (FIPS 180-4 4.2.2, 5.3.3).
const fraction32 = (x: number) => ((x - Math.floor(x)) * 2 ** 32) >>> 0;
const INITIAL = Int32Array.from(primes(8), (p) => fraction32(Math.sqrt(p)));
const K = Int32Array.from(primes(64), (p) => fraction32(Math.cbrt(p)));

const BLOCK = 64;

export class Sha256 {
  private readonly h: Int32Array;
  private readonly block = new Uint8Array(BLOCK);
  private filled: number;
  private total: number;
  private readonly w = new Int32Array(64);

  constructor(state?: Sha256State) {
    if (!state) {
      this.h = Int32Array.from(INITIAL);
      this.filled = 0;
      this.total = 0;
      return;
    }
    if (!/^[0-9a-f]{64}$/.test(state.words)) throw new Error('sha256 state: words must be 64 hex digits');
    const words = Buffer.from(state.words, 'hex');
    const pending = Buffer.from(state.pending, 'base64');
    if (!Number.isSafeInteger(state.bytes) || state.bytes < 0 || pending.length !== state.bytes % BLOCK) {
      throw new Error(`sha256 state: ${pending.length} pending bytes do not fit a length of ${state.bytes} bytes`);
    }
    this.h = Int32Array.from({ length: 8 }, (_, i) => words.readInt32BE(i * 4));
    this.block.set(pending);
    this.filled = pending.length;
    this.total = state.bytes;
  }

  update(data: Uint8Array | string): this {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.total += bytes.length;
    let offset = 0;
    if (this.filled > 0) {
      const take = Math.min(BLOCK - this.filled, bytes.length);
      this.block.set(bytes.subarray(0, take), this.filled);
      this.filled += take;
      offset = take;
      if (this.filled < BLOCK) return this;
      compress(this.h, this.w, this.block, 0);
      this.filled = 0;
    }
    for (; offset + BLOCK <= bytes.length; offset += BLOCK) compress(this.h, this.w, bytes, offset);
    this.block.set(bytes.subarray(offset), 0);
    this.filled = bytes.length - offset;
    return this;
  }

  state(): Sha256State {
    const words = Buffer.alloc(32);
    this.h.forEach((word, i) => words.writeInt32BE(word, i * 4));
    return { words: words.toString('hex'), pending: Buffer.from(this.block.subarray(0, this.filled)).toString('base64'), bytes: this.total };
  }

  /** The digest of everything so far; the hash itself can go on taking input. */
  hex(): string {
    const tail = new Sha256(this.state());
    // Padding: 0x80, zeros to 56 mod 64, then the length in bits as a 64-bit big-endian number.
    const padding = Buffer.alloc(((BLOCK + 55 - (this.total % BLOCK)) % BLOCK) + 1 + 8);
    padding[0] = 0x80;
    const bits = this.total * 8;
    padding.writeUInt32BE(Math.floor(bits / 2 ** 32), padding.length - 8);
    padding.writeUInt32BE(bits >>> 0, padding.length - 4);
    tail.update(padding);
    return tail.state().words;
  }
}

/** One 64-byte block of `bytes` at `at` into the working words `h`; `w` is scratch space. */
function compress(h: Int32Array, w: Int32Array, bytes: Uint8Array, at: number): void {
  for (let i = 0, j = at; i < 16; i += 1, j += 4) {
    w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
  }
  for (let i = 16; i < 64; i += 1) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, k = h[7]!;
  for (let i = 0; i < 64; i += 1) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (k + s1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + k) | 0;
}
