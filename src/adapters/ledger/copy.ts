// PostgreSQL's COPY for the ledger's bulk paths (docs/benchmarks.md, "Evidence ledger"): rows in
// as COPY's text format, rows out as its binary format, whose text fields are the stored
// UTF-8 bytes, so a verifier can hash a body without decoding it into a string.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

/** `COPY <table> (<columns>) FROM STDIN` of `rows`, each a value per column. */
export async function copyIn(client: PoolClient, table: string, columns: readonly string[], rows: readonly string[][]): Promise<void> {
  const text = rows.map((row) => `${row.map(copyText).join('\t')}\n`).join('');
  await pipeline(Readable.from([text]), client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`)));
}

const TEXT_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
/** A field in COPY's text format: backslash, tab, newline and carriage return escaped, the rest literal. */
function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => TEXT_ESCAPES[c]!);
}

/** One row of binary COPY output; valid only during the `decode` call that receives it. */
export interface CopyRow {
  readonly fields: number;
  /** A text field, decoded from UTF-8. */
  text(field: number): string;
  /** A field's bytes (a view into the received data). */
  bytes(field: number): Buffer;
  /** An `integer` field. */
  int4(field: number): number;
}

/**
 * Runs `COPY (...) TO STDOUT (FORMAT binary)` and yields its rows as they
 * arrive, each batch what the data received so far completes, through `decode`.
 * Stopping early reads the rest of the output first, so the connection is left
 * between statements, ready for the next.
 */
export async function* copyOut<T>(client: PoolClient, statement: string, decode: (row: CopyRow) => T): AsyncGenerator<T[]> {
  const chunks = (client.query(copyTo(statement)) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const rows = new BinaryCopyRows();
  let complete = false;
  try {
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      const batch = rows.take(next.value, decode);
      if (batch.length > 0) yield batch;
    }
    rows.finish();
    complete = true;
  } finally {
    if (!complete) while (!(await chunks.next()).done);
  }
}

// The binary format (https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4): a header
// (signature, int32 flags, int32 extension length and extension), tuples (int16 field
// count, then per field an int32 length, -1 for NULL, and the bytes), an int16 -1 trailer.
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER = SIGNATURE.length + 8;

/** Decodes binary COPY output fed in chunks split anywhere. */
export class BinaryCopyRows implements CopyRow {
  private pending: Buffer = Buffer.alloc(0);
  private headerRead = false;
  private ended = false;
  // The current row: its data, and per field where the bytes start and how many there are.
  private data: Buffer = this.pending;
  private starts = new Int32Array(16);
  private lengths = new Int32Array(16);
  fields = 0;

  /** The rows that `chunk` completes, through `decode`. */
  take<T>(chunk: Buffer, decode: (row: CopyRow) => T): T[] {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: T[] = [];
    let at = 0;
    if (!this.headerRead) {
      const seen = Math.min(data.length, SIGNATURE.length);
      if (!data.subarray(0, seen).equals(SIGNATURE.subarray(0, seen))) throw new Error('COPY output is not in the binary format');
      if (data.length < HEADER || data.length < HEADER + data.readInt32BE(HEADER - 4)) {
        this.pending = data;
        return out;
      }
      at = HEADER + data.readInt32BE(HEADER - 4);
      this.headerRead = true;
    }
    while (!this.ended && at + 2 <= data.length) {
      const fields = data.readInt16BE(at);
      if (fields === -1) {
        this.ended = true;
        at += 2;
        break;
      }
      const end = this.locate(data, at + 2, fields);
      if (end === undefined) break;
      this.data = data;
      this.fields = fields;
      out.push(decode(this));
      at = end;
    }
    this.pending = data.subarray(at);
    return out;
  }

  /** Records where each field of the tuple at `at` lies; undefined while the tuple is incomplete. */
  private locate(data: Buffer, at: number, fields: number): number | undefined {
    if (fields > this.starts.length) {
      this.starts = new Int32Array(fields);
      this.lengths = new Int32Array(fields);
    }
    let p = at;
    for (let i = 0; i < fields; i += 1) {
      if (p + 4 > data.length) return undefined;
      const length = data.readInt32BE(p);
      this.starts[i] = p + 4;
      this.lengths[i] = length;
      p += 4 + Math.max(length, 0);
      if (p > data.length) return undefined;
    }
    return p;
  }

  /** Throws unless the output seen so far is whole (header, rows, trailer). */
  finish(): void {
    if (!this.ended || this.pending.length > 0) throw new Error('COPY output ended inside a row or without its trailer');
  }

  bytes(field: number): Buffer {
    const start = this.start(field);
    return this.data.subarray(start, start + this.lengths[field]!);
  }

  text(field: number): string {
    const start = this.start(field);
    return this.data.toString('utf8', start, start + this.lengths[field]!);
  }

  int4(field: number): number {
    const start = this.start(field);
    if (this.lengths[field] !== 4) throw new Error(`COPY field ${field} has ${this.lengths[field]} bytes, an integer has 4`);
    return this.data.readInt32BE(start);
  }

  private start(field: number): number {
    if (field >= this.fields) throw new Error(`COPY row has ${this.fields} fields, field ${field} asked for`);
    if (this.lengths[field]! < 0) throw new Error(`COPY field ${field} is NULL`);
    return this.starts[field]!;
  }
}
