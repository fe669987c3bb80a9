// The demo service's Prometheus metrics. Names are a contract: the release plan's
// PromQL reads them, so change them only together with the plan.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Track = 'stable' | 'canary';

export interface ServiceLabels {
  service: 'spark-trading';
  track: Track;
  version: string;
}

/** Where the gauges read their value at scrape time. */
export interface GaugeSources {
  wsStalenessSeconds(): number;
  feedStalenessSeconds(): number;
  eventLoopLagP95Seconds(): number;
  dbActiveConnections(): number;
  dbMaxConnections(): number;
  outboxLagSeconds(): number;
  deadTuples(): number;
  idempotencyKeysStored(): number;
}

export const httpDurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5];

function sampledGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

export function createServiceMetrics(labels: ServiceLabels, sources: GaugeSources) {
  // Process metrics and application metrics live apart so the missing-metrics
  // fault can drop the application ones while the target still answers.
  const processRegistry = new Registry();
  const appRegistry = new Registry();
  processRegistry.setDefaultLabels(labels);
  appRegistry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: processRegistry });
  const registers = [appRegistry];

  const gauge = (name: string, help: string, read: () => number) => sampledGauge(appRegistry, name, help, read);
  gauge('ws_staleness_seconds', 'Seconds since the last market tick was pushed to WebSocket clients.', sources.wsStalenessSeconds);
  new Gauge({
    name: 'market_feed_staleness_seconds',
    help: 'Seconds since the market-data feed last updated.',
    labelNames: ['feed'],
    registers,
    collect() {
      this.set({ feed: 'bist' }, sources.feedStalenessSeconds());
    },
  });
  gauge('spark_eventloop_lag_p95_seconds', 'Event-loop delay p95 over the last completed window.', sources.eventLoopLagP95Seconds);
  gauge('db_pool_active_connections', 'Database pool connections in use.', sources.dbActiveConnections);
  gauge('db_pool_max_connections', 'Database pool size.', sources.dbMaxConnections);
  gauge('outbox_lag_seconds', 'Age of the oldest undelivered outbox event.', sources.outboxLagSeconds);
  gauge('pg_dead_tuples', 'Dead tuples awaiting autovacuum.', sources.deadTuples);
  gauge('idempotency_keys_stored', 'Idempotency keys currently stored.', sources.idempotencyKeysStored);

  const counter = (name: string, help: string) => new Counter({ name, help, registers });
  return {
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route, method and status code.',
      labelNames: ['route', 'method', 'status_code'],
      buckets: httpDurationBuckets,
      registers,
    }),
    wsDisconnects: counter('ws_disconnects_total', 'WebSocket connections that closed.'),
    riskBlocks: counter('risk_blocks_total', 'Orders refused by the risk rule.'),
    idempotencyRequests: counter('idempotency_requests_total', 'Order requests carrying an Idempotency-Key.'),
    idempotencyConflicts: counter('idempotency_conflicts_total', 'Idempotency-Keys reused with a different body (409).'),
    cspViolations: counter('csp_violations_total', 'CSP violation reports received.'),
    decimalPrecisionErrors: counter('decimal_precision_errors_total', 'Order prices that lost decimal precision.'),
    contentType: appRegistry.contentType,
    async render(includeApp: boolean): Promise<string> {
      const processText = await processRegistry.metrics();
      return includeApp ? processText + '\n' + (await appRegistry.metrics()) : processText;
    },
  };
}

export type ServiceMetrics = ReturnType<typeof createServiceMetrics>;

const eventLoopResolutionMs = 10;

/** Event-loop delay p95 of the last completed window, less the sampling resolution
 * (the monitor's own timer period is not lag). */
export class EventLoopLagWindow {
  private readonly histogram = monitorEventLoopDelay({ resolution: eventLoopResolutionMs });
  private readonly timer: NodeJS.Timeout;
  private lastP95Seconds = 0;

  constructor(windowMs: number) {
    this.histogram.enable();
    this.timer = setInterval(() => {
      const p95Ns = this.histogram.count > 0 ? this.histogram.percentile(95) : 0;
      this.lastP95Seconds = Math.max(0, (p95Ns / 1e6 - eventLoopResolutionMs) / 1000);
      this.histogram.reset();
    }, windowMs);
  }

  get p95Seconds(): number {
    return this.lastP95Seconds;
  }

  close(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
