// Simulated BIST market-data feed: a seeded random walk per symbol, one update a second.
import Decimal from 'decimal.js';
import type { Random } from './prng';
import { symbols, type MarketSymbol } from './orders';

export interface Quote {
  symbol: MarketSymbol;
  bid: string;
  ask: string;
  at: string;
}

export interface Tick {
  type: 'tick';
  seq: number;
  quotes: Quote[];
}

const startPrices: Record<MarketSymbol, string> = {
  THYAO: '285.50',
  GARAN: '112.30',
  ASELS: '64.85',
  AKBNK: '58.40',
  BIMAS: '498.75',
};
const tickPeriodMs = 1000;
/** Prices are quoted on a 0.05 TRY tick. */
export const priceTick = new Decimal('0.05');

export class MarketFeed {
  private readonly mids = new Map<MarketSymbol, Decimal>();
  private seq = 0;
  private lastUpdate = Date.now();
  private readonly timer: NodeJS.Timeout;

  /** `stalled` is checked each period: while true the feed sends nothing. */
  constructor(
    private readonly random: Random,
    stalled: () => boolean,
    onTick: (tick: Tick) => void,
  ) {
    for (const symbol of symbols) this.mids.set(symbol, new Decimal(startPrices[symbol]));
    this.timer = setInterval(() => {
      if (stalled()) return;
      onTick(this.step());
    }, tickPeriodMs);
  }

  quote(symbol: MarketSymbol): Quote {
    const mid = this.mids.get(symbol) ?? new Decimal(startPrices[symbol]);
    return {
      symbol,
      bid: mid.minus(priceTick).toFixed(2),
      ask: mid.plus(priceTick).toFixed(2),
      at: new Date(this.lastUpdate).toISOString(),
    };
  }

  stalenessSeconds(now: number): number {
    return (now - this.lastUpdate) / 1000;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private step(): Tick {
    for (const [symbol, mid] of this.mids) {
      const ticksMoved = Math.round((this.random() - 0.5) * 4);
      const next = mid.plus(priceTick.times(ticksMoved));
      this.mids.set(symbol, next.gt(priceTick.times(10)) ? next : mid);
    }
    this.lastUpdate = Date.now();
    this.seq += 1;
    return { type: 'tick', seq: this.seq, quotes: symbols.map((s) => this.quote(s)) };
  }
}
