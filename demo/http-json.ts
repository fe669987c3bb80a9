// JSON in and out for the demo's small HTTP APIs, with errors that name the field.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A client mistake: answered 400 with the offending field named. */
export class InputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'InputError';
  }
}

const maxBodyBytes = 64 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBodyBytes) throw new InputError('body', `larger than ${maxBodyBytes} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JSON object body; anything else is an InputError on `body`. */
export function parseJsonObject(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new InputError('body', 'is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InputError('body', 'must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function rejectUnknownFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw new InputError(key, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Answers an InputError with 400 and rethrows anything else. */
export function sendInputError(res: ServerResponse, err: unknown): void {
  if (!(err instanceof InputError)) throw err;
  sendJson(res, 400, { error: err.message, field: err.field });
}
