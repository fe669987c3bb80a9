// The webhook notifier against a local receiver that checks the signature,
// refuses a bad one, fails the first tries on purpose and dedupes by key.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { unconfiguredNotifier } from '../../src/adapters/chat/notifier';
import { createWebhookNotifier, withWebhookFromEnv, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../../src/adapters/chat/webhook';

const SECRET = 'receiver-secret';
let server: http.Server;
let url: string;
/** Requests to fail with 503 before accepting, to force retries. */
let failNext = 0;
let requests = 0;
/** The idempotency key of every correctly signed request, in order, retries included. */
const keys: string[] = [];
const delivered = new Map<string, Record<string, unknown>>();

beforeAll(async () => {
  server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      requests += 1;
      const timestamp = String(request.headers[TIMESTAMP_HEADER] ?? '');
      const expected = Buffer.from(signWebhook(SECRET, timestamp, body));
      const given = Buffer.from(String(request.headers[SIGNATURE_HEADER] ?? ''));
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
        response.statusCode = 401;
        return response.end('bad signature');
      }
      const key = String(request.headers[IDEMPOTENCY_HEADER]);
      keys.push(key);
      if (failNext > 0) {
        failNext -= 1;
        response.statusCode = 503;
        return response.end();
      }
      if (!delivered.has(key)) delivered.set(key, JSON.parse(body));
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

beforeEach(() => {
  failNext = 0;
  requests = 0;
  delivered.clear();
  keys.length = 0;
});

const notifier = (secret: string) => createWebhookNotifier({ url, secret, maxAttempts: 4, backoffMs: 10, timeoutMs: 5000 });

test('a signed message is delivered with its JSON body', async () => {
  const result = await notifier(SECRET).post('#release', { text: 'stage 2 of 5: 5%' });
  expect(result).toMatchObject({ delivered: true, attempts: 1 });
  expect([...delivered.values()]).toEqual([{ type: 'post', channel: '#release', text: 'stage 2 of 5: 5%' }]);
});

test('a bad signature is refused and not retried', async () => {
  const result = await notifier('wrong-secret').post('#release', { text: 'x' });
  expect(result).toMatchObject({ delivered: false, attempts: 1 });
  expect(result.detail).toMatch(/answered HTTP 401/);
  expect(delivered.size).toBe(0);
});

test('retries after 503s reach the receiver once per idempotency key', async () => {
  failNext = 2;
  const first = await notifier(SECRET).post('#release', { text: 'one' });
  const second = await notifier(SECRET).update({ channel: 'C1', ts: '1.2' }, { text: 'two' });
  expect(first).toMatchObject({ delivered: true, attempts: 3 });
  expect(second).toMatchObject({ delivered: true, attempts: 1 });
  expect(requests).toBe(4);
  // The three tries of the first message share one key; the second message has its own.
  expect(new Set(keys.slice(0, 3)).size).toBe(1);
  expect(keys[3]).not.toBe(keys[0]);
  expect([...delivered.values()].map((m) => m.text)).toEqual(['one', 'two']);
});

test('a receiver that keeps failing is reported, not thrown', async () => {
  failNext = 10;
  const result = await notifier(SECRET).ephemeral('#release', 'U1', 'why');
  expect(result).toMatchObject({ delivered: false, attempts: 4 });
  expect(result.detail).toMatch(/after 4 attempts: HTTP 503/);
});

test('bad settings name the field', () => {
  expect(() => createWebhookNotifier({ url: 'ftp://x', secret: 's', maxAttempts: 1, backoffMs: 1, timeoutMs: 1 })).toThrow(/webhook url/);
  expect(() => createWebhookNotifier({ url, secret: '', maxAttempts: 1, backoffMs: 1, timeoutMs: 1 })).toThrow(/webhook secret/);
  expect(() => createWebhookNotifier({ url, secret: 's', maxAttempts: 0, backoffMs: 1, timeoutMs: 1 })).toThrow(/webhook maxAttempts/);
});

test('from the environment: without a chat the webhook is the notifier; without a URL nothing changes', async () => {
  expect(withWebhookFromEnv(unconfiguredNotifier, {})).toBe(unconfiguredNotifier);
  const fromEnv = withWebhookFromEnv(unconfiguredNotifier, { SPARK_WEBHOOK_URL: url, SPARK_WEBHOOK_SECRET: SECRET, SPARK_WEBHOOK_BACKOFF_MS: '10' });
  expect(await fromEnv.post('#release', { text: 'via env' })).toMatchObject({ delivered: true });
  expect([...delivered.values()].map((m) => m.text)).toEqual(['via env']);
  expect(() => withWebhookFromEnv(unconfiguredNotifier, { SPARK_WEBHOOK_URL: url })).toThrow(/SPARK_WEBHOOK_SECRET must be set/);
});
