// Idempotency keys: the 48 h TTL and its garbage collector (red team 2), key
// cardinality bounded by the TTL (corner case 2), and a burst of concurrent
// replays of one key against the canary (red team 11): first writer wins.
import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import { limit, probe, sectionCheck, targetCheck, targetOf, verdict, withDatabase } from './target-access';
import type { CheckEnv } from './types';

interface KeyCensus {
  total: number;
  /** Past expires_at by more than the GC grace: the collector fell behind. */
  overdue: number;
  /** Created longer ago than the TTL: the table keeps more than the TTL window. */
  older_than_ttl: number;
  oldest: Date | null;
  per_hour: number;
}

async function census(env: CheckEnv, db: Client): Promise<KeyCensus> {
  const { rows } = await db.query<KeyCensus>(`
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE expires_at < now() - $1 * interval '1 minute')::int AS overdue,
           count(*) FILTER (WHERE created_at < now() - $2 * interval '1 hour')::int AS older_than_ttl,
           min(created_at) AS oldest,
           count(*) FILTER (WHERE created_at > now() - interval '1 hour')::int AS per_hour
    FROM idempotency_keys`, [limit(env, 'idempotencyGcGraceMinutes'), limit(env, 'idempotencyTtlHours')]);
  return rows[0]!;
}

/** The TTL a key gets by default, measured by inserting one in a rolled-back transaction. */
async function defaultTtlHours(db: Client): Promise<number> {
  await db.query('BEGIN');
  try {
    const { rows } = await db.query<{ hours: number }>(
      `INSERT INTO idempotency_keys (key, request_sha256) VALUES ($1, 'probe')
       RETURNING extract(epoch FROM expires_at - created_at)::float8 / 3600 AS hours`, [`spark-release-probe-${randomUUID()}`]);
    return rows[0]!.hours;
  } finally {
    await db.query('ROLLBACK');
  }
}

export const rtIdempotencyTtlGc = sectionCheck((v) => `redteam_${v}.txt`, (env) =>
  withDatabase(env, async (db) => {
    const ttl = limit(env, 'idempotencyTtlHours');
    const grace = limit(env, 'idempotencyGcGraceMinutes');
    const hours = await defaultTtlHours(db);
    const c = await census(env, db);
    const indexed = await db.query(`SELECT 1 FROM pg_index ix JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = ix.indkey[0]
      WHERE ix.indrelid = 'idempotency_keys'::regclass AND a.attname = 'expires_at'`);
    const problems: string[] = [];
    if (Math.abs(hours - ttl) > 0.01) problems.push(`a new key lives ${hours.toFixed(2)} h, not ${ttl} h`);
    if (c.overdue > 0) problems.push(`${c.overdue} keys expired more than ${grace} min ago are still stored: the garbage collector is not keeping up`);
    if (!indexed.rowCount) problems.push('no index leads with expires_at: every GC pass scans the whole table');
    return verdict('Red team 2: idempotency TTL and GC', [
      `default TTL of a new key: ${hours.toFixed(2)} h (expected ${ttl} h)`,
      `keys: ${c.total}; expired beyond ${grace} min grace: ${c.overdue}; index on expires_at: ${indexed.rowCount ? 'yes' : 'no'}`,
    ], problems, `${ttl} h TTL, GC up to date, expires_at indexed`);
  }));

export const ccIdempotencyCardinality = sectionCheck((v) => `corner_cases_${v}.txt`, (env) =>
  withDatabase(env, async (db) => {
    const ttl = limit(env, 'idempotencyTtlHours');
    const c = await census(env, db);
    const problems = c.older_than_ttl > 0
      ? [`${c.older_than_ttl} of ${c.total} keys are older than the ${ttl} h TTL (oldest ${c.oldest?.toISOString()}): cardinality grows without bound`]
      : [];
    return verdict('Corner case 2: idempotency key cardinality', [
      `keys: ${c.total}, created in the last hour: ${c.per_hour}, steady state at this rate: ~${c.per_hour * ttl}`,
      `older than the TTL: ${c.older_than_ttl}; oldest: ${c.oldest?.toISOString() ?? 'none'}`,
    ], problems, `${c.total} keys, none older than ${ttl} h`);
  }));

/** Red team 11: N concurrent requests with one key make one order; a different body under the key is refused. */
export const rtIdempotencyBurstReplay = targetCheck(async (env) => {
  const burst = limit(env, 'idempotencyBurst');
  const url = new URL('/api/orders', targetOf(env).canaryUrl).href;
  const key = `spark-release-burst-${randomUUID()}`;
  const send = (quantity: number) => probe(env, url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ symbol: 'THYAO', side: 'buy', quantity, price: '100.05' }),
  });
  const answers = await Promise.all(Array.from({ length: burst }, () => send(1)));
  const other = await send(2);
  const orderIds = new Set(answers.filter((a) => a.status < 300).map((a) => (JSON.parse(a.body) as { orderId?: string }).orderId));
  const firsts = answers.filter((a) => a.status < 300 && a.headers.get('idempotent-replayed') !== 'true').length;
  const stored = await withDatabase(env, async (db) => {
    const keys = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1', [key]);
    const orders = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1', [key]);
    return { keys: keys.rows[0]!.n, orders: orders.rows[0]!.n };
  });
  const statuses = answers.reduce<Record<number, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {});
  const problems: string[] = [];
  if (firsts !== 1) problems.push(`${firsts} of ${burst} concurrent requests with one key were processed as new orders (first writer must win)`);
  if (orderIds.size > 1) problems.push(`one key produced ${orderIds.size} different orders`);
  if (answers.some((a) => a.status >= 500)) problems.push(`some replays failed: ${Object.entries(statuses).map(([s, n]) => `${n}x ${s}`).join(', ')}`);
  if (other.status !== 409) problems.push(`reusing the key with another body answered ${other.status}, not 409`);
  if (stored.keys !== 1 || stored.orders !== 1) problems.push(`the database holds ${stored.keys} key rows and ${stored.orders} orders for the key (expected 1 and 1)`);
  const v = verdict(`Red team 11: idempotency burst replay of ${env.release} (run ${env.runId})`, [
    `POST ${url} x ${burst} at once with Idempotency-Key ${key}`,
    `answers: ${Object.entries(statuses).map(([s, n]) => `${n}x ${s}`).join(', ')}; processed as new: ${firsts}; distinct order ids: ${orderIds.size}`,
    `same key, other body: ${other.status}`,
    `database: ${stored.keys} idempotency_keys rows, ${stored.orders} orders`,
  ], problems, `${burst} replays made one order; another body under the key was refused`);
  return { status: v.status, summary: v.summary, files: { 'idempotency_burst_test.txt': v.text } };
});
