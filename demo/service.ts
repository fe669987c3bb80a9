// The demo "spark-trading" service: one process per instance (stable or canary).
// Quotes, idempotent orders, a market-tick WebSocket, Prometheus metrics, and the
// fault admin API. Healthy noise is seeded (--seed) so a run can be replayed.
//
//   tsx demo/service.ts --track canary --version v1.4.0 [--port 18082] [--seed 2] [--database-url URL] [--broken]
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { demoPorts } from '../src/config';
import { numberFlag, onShutdown, portFlag, runCli } from './cli-args';
import { FaultController } from './faults';
import { InputError, readBody, sendInputError, sendJson } from './http-json';
import { MarketFeed, type Tick } from './market-feed';
import {
  IdempotencyStore,
  exceedsRiskLimit,
  fingerprint,
  isMarketSymbol,
  parseOrder,
  priceOrder,
  type Order,
  type OrderOutcome,
} from './orders';
import { seededRandom, type Random } from './prng';
import { EventLoopLagWindow, createServiceMetrics, type ServiceMetrics, type Track } from './service-metrics';
import { SimulatedDatabase } from './simulated-database';
import { DemoDatabase } from './database';
import { previewOrder } from './money';
import { CSP_REPORT_PATH, STATIC_ASSETS, featureFlags, setSecurityHeaders, tradingPage } from './web-surface';

export interface ServiceOptions {
  track: Track;
  port: number;
  version: string;
  seed: number;
  idempotencyTtlSeconds?: number;
  /** Healthy share of API requests answered 503 (default 0.001). */
  baselineErrorRate?: number;
  /** Orders are written to this database (through pgBouncer); without it the database is simulated. */
  databaseUrl?: string;
  /** The broken build the release checks must refuse (docs/checks.md): headers, flags, money, idempotency, a connection leak. */
  broken?: boolean;
}

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

const maxIdempotencyKeyLength = 200;
const unavailable: OrderOutcome = { status: 503, body: { error: 'upstream unavailable' } };
/** Dead tuples left by one order's writes (order row, position, balance). */
const deadTuplesPerOrder = 3;
const eventLoopWindowMs = 5000;
/** The broken build's API is this much slower (its queries miss an index). */
const brokenExtraLatencyMs = 300;
/** Connections the broken build leaks (the size of its pgBouncer pool). */
const brokenLeakedConnections = 4;
/** Requests carrying this header are synthetic (release checks): they stay out of the golden signals. */
const probeHeader = 'x-spark-probe';

/** Healthy latency: 20-60 ms, with a 2% tail of up to 90 ms more. */
function healthyLatencyMs(random: Random): number {
  const base = 20 + 40 * random();
  return random() < 0.02 ? base + 30 + 60 * random() : base;
}

class TradingService {
  private readonly faults: FaultController;
  private readonly random: Random;
  private readonly metrics: ServiceMetrics;
  private readonly db: SimulatedDatabase;
  private readonly database: DemoDatabase | null;
  private readonly feed: MarketFeed;
  private readonly idempotency: IdempotencyStore;
  private readonly eventLoop: EventLoopLagWindow;
  private readonly keyExpiry: NodeJS.Timeout;
  private readonly sockets = new Set<WebSocket>();
  private lastTick: Tick | null = null;
  private lastTickPushedAt = Date.now();
  private orderSeq = 0;
  private previousOrderKey: string | null = null;

  constructor(private readonly opts: ServiceOptions) {
    this.random = seededRandom(opts.seed);
    this.faults = new FaultController({
      reportCspViolations: (n) => this.metrics.cspViolations.inc(n),
      leakDbConnections: (n) => this.db.leak(n),
      releaseLeakedDbConnections: () => this.db.releaseLeaked(),
      addDeadTuples: (n) => this.db.addDeadTuples(n),
      dropWebSocketClients: () => this.sockets.forEach((socket) => socket.terminate()),
    });
    this.db = new SimulatedDatabase({
      random: this.random,
      publisherStalled: () => this.faults.is('outbox-lag'),
      autovacuumStalled: () => this.faults.is('dead-tuple-bloat'),
    });
    this.database = opts.databaseUrl
      ? new DemoDatabase({ url: opts.databaseUrl, publisherStalled: () => this.faults.is('outbox-lag') })
      : null;
    this.idempotency = new IdempotencyStore((opts.idempotencyTtlSeconds ?? 300) * 1000);
    this.keyExpiry = setInterval(() => {
      if (!this.faults.is('idempotency-key-buildup')) this.idempotency.expire(Date.now());
    }, 1000);
    this.eventLoop = new EventLoopLagWindow(eventLoopWindowMs);
    this.feed = new MarketFeed(this.random, () => this.faults.is('ws-stale'), (tick) => this.pushTick(tick));
    this.metrics = createServiceMetrics(
      { service: 'spark-trading', track: opts.track, version: opts.version },
      {
        wsStalenessSeconds: () => (Date.now() - this.lastTickPushedAt) / 1000,
        feedStalenessSeconds: () => this.feed.stalenessSeconds(Date.now()),
        eventLoopLagP95Seconds: () => this.eventLoop.p95Seconds,
        dbActiveConnections: () => this.db.activeConnections,
        dbMaxConnections: () => this.db.maxConnections,
        outboxLagSeconds: () => this.db.outboxLagSeconds(Date.now()),
        deadTuples: () => this.db.deadTuples,
        idempotencyKeysStored: () => this.idempotency.size,
      },
    );
  }

  /** The real database's background work, or (broken build) its connection leak. */
  async start(): Promise<void> {
    if (this.opts.broken) await this.database?.leak(brokenLeakedConnections);
    else this.database?.startBackgroundWork();
  }

  acceptSocket(socket: WebSocket, req: IncomingMessage): void {
    this.sockets.add(socket);
    const probe = req.headers[probeHeader] !== undefined;
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (!probe) this.metrics.wsDisconnects.inc();
    });
    if (this.lastTick) socket.send(JSON.stringify(this.lastTick));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-spark-track', this.opts.track);
    res.setHeader('x-spark-version', this.opts.version);
    const path = new URL(req.url ?? '/', 'http://service').pathname;
    // Operational endpoints stay out of the request histogram.
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok', track: this.opts.track, version: this.opts.version });
    if (path === '/metrics') return this.serveMetrics(res);
    if (path === '/admin/fault') return this.faults.handleAdmin(req, res);

    const nonce = setSecurityHeaders(res, this.opts.broken ?? false);
    const probe = req.headers[probeHeader] !== undefined;
    const route = ['/api/quote', '/api/orders', CSP_REPORT_PATH].includes(path) ? path : 'unmatched';
    if (!probe) {
      const stopTimer = this.metrics.httpDuration.startTimer({ route, method: req.method ?? 'UNKNOWN' });
      res.on('finish', () => stopTimer({ status_code: String(res.statusCode) }));
    }
    try {
      if (route === '/api/quote' && req.method === 'GET') return await this.quote(req, res);
      if (route === '/api/orders' && req.method === 'POST') return await this.order(req, res, probe);
      // The broken build lost its report endpoint.
      if (route === CSP_REPORT_PATH && req.method === 'POST' && !this.opts.broken) return await this.cspReport(req, res, probe);
      if (path === '/' && req.method === 'GET') return this.sendText(res, 'text/html; charset=utf-8', tradingPage(nonce, this.opts.version, this.opts.broken ?? false));
      const asset = STATIC_ASSETS[path];
      if (asset && req.method === 'GET') return this.sendText(res, asset.type, asset.body);
      if (path === '/api/flags' && req.method === 'GET') return sendJson(res, 200, { service: 'spark-trading', version: this.opts.version, flags: featureFlags(this.opts.broken ?? false) });
      if (path === '/api/orders/preview' && req.method === 'POST') return sendJson(res, 200, previewOrder(await readBody(req), this.opts.broken ?? false));
      if (route === 'unmatched') return sendJson(res, 404, { error: `no route ${path}` });
      sendJson(res, 405, { error: `${req.method} not allowed on ${path}` });
    } catch (err) {
      sendInputError(res, err);
    }
  }

  async close(): Promise<void> {
    await this.database?.close();
    this.faults.clear();
    this.feed.close();
    this.db.close();
    this.eventLoop.close();
    clearInterval(this.keyExpiry);
    this.sockets.forEach((socket) => socket.terminate());
  }

  private sendText(res: ServerResponse, type: string, body: string): void {
    res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private async serveMetrics(res: ServerResponse): Promise<void> {
    const text = await this.metrics.render(!this.faults.is('missing-metrics'));
    res.writeHead(200, { 'content-type': this.metrics.contentType });
    res.end(text);
  }

  private pushTick(tick: Tick): void {
    this.lastTick = tick;
    const message = JSON.stringify(tick);
    for (const socket of this.sockets) socket.send(message);
    this.lastTickPushedAt = Date.now();
    this.db.write(0, Date.now());
  }

  /** The work every API request does: latency (healthy noise plus any latency fault),
   * then maybe a failure. Returns false when the request should fail with a 5xx. */
  private async work(): Promise<boolean> {
    const latencyFault = this.faults.amount('latency');
    await sleep(healthyLatencyMs(this.random) + latencyFault * (0.9 + 0.2 * this.random()) + (this.opts.broken ? brokenExtraLatencyMs : 0));
    return this.random() >= (this.opts.baselineErrorRate ?? 0.001) + this.faults.amount('error-rate');
  }

  private async quote(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const symbol = new URL(req.url ?? '/', 'http://service').searchParams.get('symbol') ?? 'THYAO';
    if (!isMarketSymbol(symbol)) throw new InputError('symbol', `unknown symbol ${JSON.stringify(symbol)}`);
    if (await this.work()) sendJson(res, 200, this.feed.quote(symbol));
    else sendJson(res, unavailable.status, unavailable.body);
  }

  private async order(req: IncomingMessage, res: ServerResponse, probe: boolean): Promise<void> {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '' || key.length > maxIdempotencyKeyLength) {
      throw new InputError('Idempotency-Key', `header is required (1-${maxIdempotencyKeyLength} characters)`);
    }
    const raw = await readBody(req);
    const order = parseOrder(raw);
    if (!probe) this.metrics.idempotencyRequests.inc();
    // The broken build lost its idempotency middleware: every repeat is placed again.
    if (this.opts.broken) {
      const placed = await this.placeOrder(order, key, raw);
      return sendJson(res, placed.status, placed.body);
    }
    // The idempotency-conflicts fault looks keys up in the wrong slot (the previous
    // order's), so unrelated orders collide.
    const previous = this.previousOrderKey;
    this.previousOrderKey = key;
    const storeKey = previous !== null && this.random() < this.faults.amount('idempotency-conflicts') ? previous : key;
    const admission = this.idempotency.admit(storeKey, fingerprint(raw), Date.now());
    if (admission.kind === 'conflict') {
      if (!probe) this.metrics.idempotencyConflicts.inc();
      return sendJson(res, 409, { error: 'Idempotency-Key was used with a different body', field: 'Idempotency-Key' });
    }
    if (admission.kind === 'replay') {
      const outcome = await admission.outcome;
      return sendJson(res, outcome.status, outcome.body, { 'idempotent-replayed': 'true' });
    }
    const outcome = await this.placeOrder(order, key, raw);
    admission.settle(outcome);
    if (outcome.status >= 500) this.idempotency.forget(storeKey);
    sendJson(res, outcome.status, outcome.body);
  }

  private async placeOrder(order: Order, key: string, raw: string): Promise<OrderOutcome> {
    if (!this.db.acquire()) return { status: 503, body: { error: 'database pool exhausted' } };
    try {
      if (!(await this.work())) return unavailable;
      const pricing = priceOrder(order, this.random() < this.faults.amount('decimal-errors'));
      if (pricing.precisionError) this.metrics.decimalPrecisionErrors.inc();
      if (exceedsRiskLimit(pricing.notional) || this.random() < this.faults.amount('risk-blocks')) {
        this.metrics.riskBlocks.inc();
        return { status: 422, body: { error: 'refused by risk rule', notional: pricing.notional } };
      }
      this.db.write(deadTuplesPerOrder, Date.now());
      if (this.database && !this.opts.broken) {
        try {
          await this.database.recordOrder({ idempotencyKey: key, requestSha256: fingerprint(raw), ...order, notional: pricing.notional });
        } catch (err) {
          return { status: 503, body: { error: `database write failed: ${(err as Error).message}` } };
        }
      }
      this.orderSeq += 1;
      return {
        status: 201,
        body: { orderId: `${this.opts.track}-${this.orderSeq}`, ...order, notional: pricing.notional, status: 'accepted' },
      };
    } finally {
      this.db.release();
    }
  }

  private async cspReport(req: IncomingMessage, res: ServerResponse, probe: boolean): Promise<void> {
    await readBody(req);
    if (!probe) this.metrics.cspViolations.inc();
    res.writeHead(204).end();
  }
}

export async function startService(opts: ServiceOptions): Promise<RunningService> {
  const service = new TradingService(opts);
  await service.start();
  const server = http.createServer((req, res) => {
    service.handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
    });
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (socket, req) => service.acceptSocket(socket, req));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    async close() {
      await service.close();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      track: { type: 'string' },
      port: { type: 'string' },
      version: { type: 'string' },
      seed: { type: 'string' },
      'idempotency-ttl-seconds': { type: 'string' },
      'baseline-error-rate': { type: 'string' },
      'exit-with-parent': { type: 'boolean', default: false },
      'database-url': { type: 'string' },
      broken: { type: 'boolean', default: false },
    },
  });
  if (values.track !== 'stable' && values.track !== 'canary') {
    throw new InputError('--track', `must be "stable" or "canary" (got ${JSON.stringify(values.track)})`);
  }
  if (!values.version) throw new InputError('--version', 'is required, e.g. v1.4.0');
  const running = await startService({
    track: values.track,
    port: portFlag(values.port, '--port', demoPorts[values.track]),
    version: values.version,
    seed: numberFlag(values.seed, '--seed', values.track === 'stable' ? 1 : 2, 0, 2 ** 32 - 1),
    idempotencyTtlSeconds: numberFlag(values['idempotency-ttl-seconds'], '--idempotency-ttl-seconds', 300, 1, 172_800),
    baselineErrorRate: numberFlag(values['baseline-error-rate'], '--baseline-error-rate', 0.001, 0, 1),
    databaseUrl: values['database-url'],
    broken: values.broken,
  });
  console.log(`spark-trading ${values.track} ${values.version} listening on ${running.url}`);
  onShutdown(() => running.close(), values['exit-with-parent']);
}

if (require.main === module) runCli(main);
