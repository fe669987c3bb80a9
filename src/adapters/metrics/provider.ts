// What a metrics backend can tell the canary judgment. Values stay strings
// (as Prometheus sends them) so decisions can compare them with decimal.js.

/** One instant query's answer. An empty vector or NaN is `no-data`, never a value. */
export type InstantResult =
  | { kind: 'value'; value: string; series: number; resolvedQuery: string; at: string }
  | { kind: 'no-data'; reason: 'empty' | 'nan' | 'inf'; resolvedQuery: string; at: string }
  | { kind: 'query-error'; message: string; status?: number; resolvedQuery: string; at: string };

/** A range query's samples for one series (for canary-versus-stable tests). NaN and
 * Inf samples are left out of `values`; when nothing else is left it is `no-data`. */
export type RangeResult =
  | { kind: 'values'; values: string[]; resolvedQuery: string; start: string; end: string; stepSeconds: number }
  | { kind: 'no-data'; reason: 'empty' | 'nan' | 'inf'; resolvedQuery: string; start: string; end: string; stepSeconds: number }
  | { kind: 'query-error'; message: string; status?: number; resolvedQuery: string; start: string; end: string; stepSeconds: number };

export interface ScrapeTarget {
  job: string;
  instance: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  lastScrape: string;
}

export interface MetricsProvider {
  /** Evaluates `query` at `at` (default: now) within `timeoutMs` (default: the provider's).
   * Never throws for query or transport errors. */
  instant(query: string, at?: Date, timeoutMs?: number): Promise<InstantResult>;
  range(query: string, start: Date, end: Date, stepSeconds: number, timeoutMs?: number): Promise<RangeResult>;
  /** Active scrape targets. Throws when the backend cannot be reached. */
  targets(): Promise<ScrapeTarget[]>;
}
