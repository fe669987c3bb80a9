// Orders for the demo service: input validation, decimal pricing, the risk rule
// and a first-writer-wins idempotency store keyed by the Idempotency-Key header.
import { createHash } from 'node:crypto';
import Decimal from 'decimal.js';
import { InputError, parseJsonObject, rejectUnknownFields } from './http-json';

export const symbols = ['THYAO', 'GARAN', 'ASELS', 'AKBNK', 'BIMAS'] as const;
export type MarketSymbol = (typeof symbols)[number];

export function isMarketSymbol(value: unknown): value is MarketSymbol {
  return typeof value === 'string' && (symbols as readonly string[]).includes(value);
}

export interface Order {
  symbol: MarketSymbol;
  side: 'buy' | 'sell';
  quantity: number;
  /** Decimal string with at most 2 places, as the exchange quotes it. */
  price: string;
}

const maxQuantity = 1_000_000;
/** Orders above this notional (TRY) are refused by the risk rule. */
export const riskNotionalLimit = new Decimal(1_000_000);

export function parseOrder(raw: string): Order {
  const body = parseJsonObject(raw);
  rejectUnknownFields(body, ['symbol', 'side', 'quantity', 'price']);
  const { symbol, side, quantity, price } = body;
  if (!isMarketSymbol(symbol)) throw new InputError('symbol', `must be one of ${symbols.join(', ')}`);
  if (side !== 'buy' && side !== 'sell') throw new InputError('side', 'must be "buy" or "sell"');
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > maxQuantity) {
    throw new InputError('quantity', `must be an integer from 1 to ${maxQuantity}`);
  }
  if (typeof price !== 'string' || !/^\d{1,9}(\.\d{1,2})?$/.test(price) || new Decimal(price).lte(0)) {
    throw new InputError('price', 'must be a positive decimal string with at most 2 places, e.g. "123.45"');
  }
  return { symbol, side, quantity, price };
}

export interface Pricing {
  notional: string;
  /** True when the float result differs from the exact decimal one. */
  precisionError: boolean;
}

/** Exact decimal notional; `withFloat` reproduces the float bug and reports whether it bit. */
export function priceOrder(order: Order, withFloat: boolean): Pricing {
  const exact = new Decimal(order.price).times(order.quantity);
  if (!withFloat) return { notional: exact.toFixed(2), precisionError: false };
  const float = Number(order.price) * order.quantity;
  return { notional: String(float), precisionError: !new Decimal(float).eq(exact) };
}

export function exceedsRiskLimit(notional: string): boolean {
  return new Decimal(notional).gt(riskNotionalLimit);
}

export interface OrderOutcome {
  status: number;
  body: unknown;
}

interface StoredRequest {
  fingerprint: string;
  outcome: Promise<OrderOutcome>;
  storedAt: number;
}

export type Admission =
  | { kind: 'first'; settle: (outcome: OrderOutcome) => void }
  | { kind: 'replay'; outcome: Promise<OrderOutcome> }
  | { kind: 'conflict' };

export function fingerprint(raw: string): string {
  return createHash('sha256').update(raw).digest('hex');
}

/** First writer wins: the first request under a key is processed; a repeat with the
 * same body gets the same answer, a repeat with another body is a conflict. */
export class IdempotencyStore {
  private readonly entries = new Map<string, StoredRequest>();

  constructor(private readonly ttlMs: number) {}

  get size(): number {
    return this.entries.size;
  }

  admit(key: string, bodyFingerprint: string, now: number): Admission {
    const stored = this.entries.get(key);
    if (stored) {
      return stored.fingerprint === bodyFingerprint ? { kind: 'replay', outcome: stored.outcome } : { kind: 'conflict' };
    }
    let settle!: (outcome: OrderOutcome) => void;
    const outcome = new Promise<OrderOutcome>((resolve) => (settle = resolve));
    this.entries.set(key, { fingerprint: bodyFingerprint, outcome, storedAt: now });
    return { kind: 'first', settle };
  }

  /** Drops a key whose first request failed on our side, so a retry is processed afresh. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  /** Expires keys older than the TTL (Map iterates in insertion order, oldest first). */
  expire(now: number): void {
    for (const [key, stored] of this.entries) {
      if (now - stored.storedAt < this.ttlMs) return;
      this.entries.delete(key);
    }
  }
}
