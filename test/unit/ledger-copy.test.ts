import fc from 'fast-check';
import { BinaryCopyRows, type CopyRow } from '../../src/adapters/ledger/copy';

type Field = { text: string } | { int4: number } | null;

/** COPY's binary format, written by hand from the documented layout (the decoder's reference). */
function encode(rows: Field[][]): Buffer {
  const parts = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), int32(0), int32(0)];
  for (const row of rows) {
    parts.push(int16(row.length));
    for (const field of row) {
      if (field === null) parts.push(int32(-1));
      else if ('text' in field) parts.push(int32(Buffer.byteLength(field.text)), Buffer.from(field.text));
      else parts.push(int32(4), int32(field.int4));
    }
  }
  parts.push(int16(-1));
  return Buffer.concat(parts);
}
function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function decodeRow(shape: Field[]) {
  return (row: CopyRow) =>
    shape.map((field, i) => (field === null ? null : 'text' in field ? { text: row.text(i) } : { int4: row.int4(i) }));
}

/** Feeds `data` cut at `cuts` (offsets) and returns every row decoded. */
function feed(data: Buffer, cuts: number[], decode: (row: CopyRow) => Field[]): { rows: Field[][]; reader: BinaryCopyRows } {
  const reader = new BinaryCopyRows();
  const rows: Field[][] = [];
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b).concat(data.length)) {
    rows.push(...reader.take(data.subarray(from, cut), decode));
    from = cut;
  }
  return { rows, reader };
}

const field = fc.oneof(
  fc.string({ unit: 'grapheme' }).map((text) => ({ text })),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((int4) => ({ int4 })),
);

describe('BinaryCopyRows', () => {
  it('decodes the same rows wherever the output is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(field, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 30 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (shape, count, rawCuts) => {
          const rows = Array.from({ length: count }, () => shape);
          const data = encode(rows);
          const { rows: decoded, reader } = feed(data, rawCuts.map((c) => c % (data.length + 1)), decodeRow(shape));
          expect(decoded).toEqual(rows);
          expect(() => reader.finish()).not.toThrow();
        },
      ),
    );
  });

  it('gives bytes as received: UTF-8 unchanged, tabs, newlines and backslashes literal', () => {
    const text = 'tab\there\\back\r\nslash \\. é ✓ 😀';
    const reader = new BinaryCopyRows();
    const [bytes] = reader.take(encode([[{ text }]]), (row) => row.bytes(0));
    expect(bytes).toEqual(Buffer.from(text, 'utf8'));
  });

  it('refuses output cut off inside a row or before the trailer, NULL where a value is read, and another format', () => {
    const data = encode([[{ text: 'one' }, { int4: 1 }], [{ text: 'two' }, { int4: 2 }]]);
    const decode = decodeRow([{ text: '' }, { int4: 0 }]);
    for (const end of [data.length - 1, data.length - 2, data.length - 5]) {
      const { reader } = feed(data.subarray(0, end), [], decode);
      expect(() => reader.finish()).toThrow('COPY output ended inside a row or without its trailer');
    }
    expect(() => new BinaryCopyRows().take(encode([[null]]), (row) => row.text(0))).toThrow('COPY field 0 is NULL');
    expect(() => new BinaryCopyRows().take(encode([[{ text: 'abc' }]]), (row) => row.int4(0))).toThrow(
      'COPY field 0 has 3 bytes, an integer has 4',
    );
    expect(() => new BinaryCopyRows().take(encode([[{ text: 'abc' }]]), (row) => row.text(1))).toThrow(
      'COPY row has 1 fields, field 1 asked for',
    );
    expect(() => new BinaryCopyRows().take(Buffer.from('release\tseq\n'.repeat(3)), (row) => row.text(0))).toThrow(
      'COPY output is not in the binary format',
    );
  });
});
