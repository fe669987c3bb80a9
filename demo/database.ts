// The demo service's real database work, when it is given one (--database-url,
// normally through pgBouncer in transaction mode): each accepted order is
// written with its idempotency key, its position and its outbox event in one
// transaction; a publisher drains the outbox at least once; a garbage collector
// deletes expired idempotency keys (48 h TTL). Without a database the service
// keeps its simulated one, so the demo runs without PostgreSQL.
import { Pool } from 'pg';

export interface OrderRecord {
  idempotencyKey: string;
  requestSha256: string;
  symbol: string;
  side: 'buy' | 'sell';
  quantity: number;
  price: string;
  notional: string;
}

export interface DemoDatabaseOptions {
  url: string;
  /** The outbox publisher pauses while this holds (the outbox-lag fault). */
  publisherStalled: () => boolean;
  /** The application's clock: outbox events carry its time (default Date.now). */
  now?: () => number;
}

const publishPeriodMs = 200;
const gcPeriodMs = 60_000;
const publishBatch = 100;
/** Orders without an account in the demo land on this one, as manual positions (no strategy). */
const demoAccount = 'demo-account';

export class DemoDatabase {
  private readonly pool: Pool;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly leaked: { release(): void; query(sql: string): Promise<unknown> }[] = [];
  private publishing = false;

  constructor(private readonly opts: DemoDatabaseOptions) {
    this.pool = new Pool({ connectionString: opts.url, max: 5, connectionTimeoutMillis: 5000 });
    // A lost server connection must not crash the service; the next query reconnects.
    this.pool.on('error', (err) => console.error(`database: ${err.message}`));
  }

  /** Starts the outbox publisher and the idempotency-key garbage collector. */
  startBackgroundWork(): void {
    this.timers.push(
      setInterval(() => void this.publishOutbox(), publishPeriodMs),
      setInterval(() => void this.collectExpiredKeys(), gcPeriodMs),
    );
  }

  /** Writes an accepted order: key (first writer wins), order, position and outbox event, atomically. */
  async recordOrder(order: OrderRecord): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        'INSERT INTO idempotency_keys (key, request_sha256, response_status) VALUES ($1, $2, 201) ON CONFLICT (key) DO NOTHING',
        [order.idempotencyKey, order.requestSha256],
      );
      await client.query(
        'INSERT INTO orders (account_id, symbol, side, quantity, price, notional, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [demoAccount, order.symbol, order.side, order.quantity, order.price, order.notional, order.idempotencyKey],
      );
      const signed = order.side === 'buy' ? order.quantity : -order.quantity;
      await client.query(
        `INSERT INTO positions (account_id, symbol, strategy_id, quantity, average_price) VALUES ($1, $2, NULL, $3, $4)
         ON CONFLICT (account_id, symbol) WHERE strategy_id IS NULL
         DO UPDATE SET quantity = positions.quantity + EXCLUDED.quantity, updated_at = now()`,
        [demoAccount, order.symbol, signed, order.price],
      );
      await client.query('INSERT INTO outbox (topic, payload, occurred_at) VALUES ($1, $2, $3)', [
        'order.accepted',
        JSON.stringify({ key: order.idempotencyKey, symbol: order.symbol, side: order.side, quantity: order.quantity, price: order.price }),
        new Date((this.opts.now ?? Date.now)()),
      ]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** The broken build's bug: takes connections, opens a transaction and never ends it. */
  async leak(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const client = await this.pool.connect();
      await client.query('BEGIN');
      await client.query('SELECT 1');
      this.leaked.push(client);
    }
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const client of this.leaked.splice(0)) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
    await this.pool.end();
  }

  /** Marks a batch published (there is no broker in the demo; a real publisher sends first). */
  private async publishOutbox(): Promise<void> {
    if (this.publishing || this.opts.publisherStalled()) return;
    this.publishing = true;
    try {
      await this.pool.query(
        `UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1
         WHERE id IN (SELECT id FROM outbox WHERE published_at IS NULL AND next_attempt_at <= now()
                      ORDER BY id LIMIT ${publishBatch} FOR UPDATE SKIP LOCKED)`,
      );
    } catch (err) {
      console.error(`outbox publisher: ${(err as Error).message}`);
    } finally {
      this.publishing = false;
    }
  }

  private async collectExpiredKeys(): Promise<void> {
    await this.pool.query('DELETE FROM idempotency_keys WHERE expires_at < now()').catch((err: Error) => console.error(`idempotency GC: ${err.message}`));
  }
}
