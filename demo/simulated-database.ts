// The demo service's stand-in for PostgreSQL behind pgBouncer: a connection pool,
// a transactional outbox with its publisher, and dead tuples with autovacuum.
// Simulated so that faults can move the same signals a real database would.
import type { Random } from './prng';

export interface SimulatedDatabaseOptions {
  random: Random;
  maxConnections?: number;
  publisherStalled: () => boolean;
  autovacuumStalled: () => boolean;
}

/** Connections held outside requests (LISTEN/NOTIFY, the outbox publisher). */
const backgroundConnections = 2;
const publishPeriodMs = 200;
const autovacuumPeriodMs = 10_000;
/** Bounds the simulated outbox; the oldest entry alone decides the lag. */
const maxPendingEvents = 100_000;

export class SimulatedDatabase {
  readonly maxConnections: number;
  private inFlight = 0;
  private leaked = 0;
  private pendingEvents: number[] = [];
  private deadTuplesCount = 0;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: SimulatedDatabaseOptions) {
    this.maxConnections = opts.maxConnections ?? 20;
    this.timers.push(
      setInterval(() => this.publishOutbox(), publishPeriodMs),
      setInterval(() => this.autovacuum(), autovacuumPeriodMs),
    );
  }

  get activeConnections(): number {
    return backgroundConnections + this.leaked + this.inFlight;
  }

  get deadTuples(): number {
    return this.deadTuplesCount;
  }

  /** Checks out a connection; false when the pool is exhausted. */
  acquire(): boolean {
    if (this.activeConnections >= this.maxConnections) return false;
    this.inFlight += 1;
    return true;
  }

  release(): void {
    this.inFlight -= 1;
  }

  /** Leaks up to one below the maximum, so the pool is saturated yet still serves. */
  leak(count: number): void {
    this.leaked = Math.min(this.leaked + count, this.maxConnections - backgroundConnections - 1);
  }

  releaseLeaked(): void {
    this.leaked = 0;
  }

  /** Records a write: an outbox event and the dead tuples its updates leave. */
  write(deadTuples: number, now: number): void {
    if (this.pendingEvents.length < maxPendingEvents) this.pendingEvents.push(now);
    this.addDeadTuples(deadTuples);
  }

  addDeadTuples(count: number): void {
    this.deadTuplesCount += count;
  }

  /** Age of the oldest undelivered outbox event. */
  outboxLagSeconds(now: number): number {
    const oldest = this.pendingEvents[0];
    return oldest === undefined ? 0 : (now - oldest) / 1000;
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  private publishOutbox(): void {
    if (!this.opts.publisherStalled()) this.pendingEvents = [];
  }

  private autovacuum(): void {
    if (this.opts.autovacuumStalled()) return;
    this.deadTuplesCount = Math.floor(this.deadTuplesCount * 0.05 * this.opts.random());
  }
}
