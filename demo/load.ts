// Bounded load generator for the demo target. Loopback targets only; every run has
// a duration, a request-rate cap and an in-flight cap, and stops by itself.
// Mix: quotes, orders with Idempotency-Keys (a few legitimate retries), WebSocket
// clients that reconnect every minute or so, and, when asked, orders over the risk
// limit and CSP violation reports at a given rate per minute.
//
//   tsx demo/load.ts [--target http://127.0.0.1:18080] [--rps 60] [--duration 300] [--seed 7]
//                    [--ws-clients 4] [--risky-orders-per-minute 0] [--csp-reports-per-minute 0]
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { demoPorts } from '../src/config';
import { numberFlag, runCli } from './cli-args';
import { InputError } from './http-json';
import { symbols } from './orders';
import { seededRandom, type Random } from './prng';

export interface LoadOptions {
  targetUrl: string;
  durationMs: number;
  rps?: number;
  seed?: number;
  wsClients?: number;
  /** Orders over the risk limit (refused, risk_blocks_total). Default 0: even one in a
   * short rate window at a small canary share breaches "< 0.5/min". */
  riskyOrdersPerMinute?: number;
  /** CSP violation reports (csp_violations_total). Default 0, for the same reason. */
  cspReportsPerMinute?: number;
}

export interface LoadStats {
  sent: number;
  /** Answers by HTTP status code. */
  statuses: Record<string, number>;
  transportErrors: number;
  /** Requests not sent because too many were still in flight. */
  skipped: number;
  wsConnects: number;
  wsMessages: number;
}

export interface LoadRun {
  stats(): LoadStats;
  /** Stops early; resolves once in-flight requests have settled. */
  stop(): Promise<LoadStats>;
  /** Resolves when the run ends (duration reached or stopped). */
  done: Promise<LoadStats>;
}

export const loadLimits = { maxRps: 1000, maxDurationMs: 24 * 3600 * 1000, maxWsClients: 50 };
const tickMs = 20;
const maxInFlight = 200;
const requestTimeoutMs = 10_000;
const orderShare = 0.3;
/** Of orders: resent with the same key and body, as a client does after a timeout. */
const retryShare = 0.05;
const wsSessionMs = 60_000;
const wsReconnectDelayMs = 250;

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Checks the options; throws InputError naming the field. */
export function checkLoadOptions(opts: LoadOptions): Required<LoadOptions> {
  let target: URL;
  try {
    target = new URL(opts.targetUrl);
  } catch {
    throw new InputError('targetUrl', `is not a URL (got ${JSON.stringify(opts.targetUrl)})`);
  }
  if (target.protocol !== 'http:' || !isLoopback(target.hostname)) {
    throw new InputError('targetUrl', `must be an http:// URL on loopback (got ${JSON.stringify(opts.targetUrl)})`);
  }
  const bounded = (field: keyof LoadOptions, value: number, min: number, max: number): number => {
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new InputError(field, `must be a number from ${min} to ${max} (got ${value})`);
    }
    return value;
  };
  return {
    targetUrl: target.origin,
    durationMs: bounded('durationMs', opts.durationMs, 1, loadLimits.maxDurationMs),
    rps: bounded('rps', opts.rps ?? 60, 0.1, loadLimits.maxRps),
    seed: opts.seed ?? 7,
    wsClients: Math.round(bounded('wsClients', opts.wsClients ?? 4, 0, loadLimits.maxWsClients)),
    riskyOrdersPerMinute: bounded('riskyOrdersPerMinute', opts.riskyOrdersPerMinute ?? 0, 0, 600),
    cspReportsPerMinute: bounded('cspReportsPerMinute', opts.cspReportsPerMinute ?? 0, 0, 600),
  };
}

interface SentOrder {
  key: string;
  body: string;
}

export function startLoad(options: LoadOptions): LoadRun {
  const opts = checkLoadOptions(options);
  const random = seededRandom(opts.seed);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const stats: LoadStats = { sent: 0, statuses: {}, transportErrors: 0, skipped: 0, wsConnects: 0, wsMessages: 0 };
  const recentOrders: SentOrder[] = [];
  const inFlight = new Set<Promise<void>>();
  const sockets = new Set<WebSocket>();
  const wsTimers = new Set<NodeJS.Timeout>();
  let running = true;
  let orderSeq = 0;
  // Keys unique per run: a second run must not collide with keys the services still hold.
  const runId = randomUUID().slice(0, 8);
  let owed = 0;
  const requestsPerMinute = opts.rps * 60;
  const riskyOrderShare = opts.riskyOrdersPerMinute / (requestsPerMinute * orderShare);
  const cspShare = opts.cspReportsPerMinute / (requestsPerMinute * (1 - orderShare));

  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

  const send = (method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): void => {
    if (inFlight.size >= maxInFlight) {
      stats.skipped += 1;
      return;
    }
    stats.sent += 1;
    const request = new Promise<void>((resolve) => {
      const req = http.request(`${opts.targetUrl}${path}`, { method, agent, headers, timeout: requestTimeoutMs }, (res) => {
        const status = String(res.statusCode);
        stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
        res.resume();
        res.on('end', resolve).on('error', resolve);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        stats.transportErrors += 1;
        resolve();
      });
      req.end(body);
    });
    inFlight.add(request);
    void request.then(() => inFlight.delete(request));
  };

  const sendOrder = (order: SentOrder): void =>
    send('POST', '/api/orders', order.body, { 'content-type': 'application/json', 'idempotency-key': order.key });

  const newOrder = (): SentOrder => {
    orderSeq += 1;
    const oversize = random() < riskyOrderShare;
    const body = JSON.stringify({
      symbol: pick(symbols),
      side: random() < 0.5 ? 'buy' : 'sell',
      quantity: oversize ? 100_000 : 1 + Math.floor(random() * 100),
      price: (50 + random() * 450).toFixed(2),
    });
    return { key: `load-${runId}-${orderSeq}`, body };
  };

  const sendOne = (): void => {
    if (random() >= orderShare) {
      if (random() < cspShare) send('POST', '/csp-report', '{"csp-report":{"violated-directive":"script-src"}}');
      else send('GET', `/api/quote?symbol=${pick(symbols)}`);
      return;
    }
    if (recentOrders.length > 0 && random() < retryShare) return sendOrder(pick(recentOrders));
    const order = newOrder();
    recentOrders.push(order);
    if (recentOrders.length > 50) recentOrders.shift();
    sendOrder(order);
  };

  const ticker = setInterval(() => {
    owed += (opts.rps * tickMs) / 1000;
    for (; owed >= 1; owed -= 1) sendOne();
  }, tickMs);

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      wsTimers.delete(timer);
      fn();
    }, ms);
    wsTimers.add(timer);
    return timer;
  };

  const connectWs = (): void => {
    if (!running) return;
    const socket = new WebSocket(`${opts.targetUrl.replace(/^http/, 'ws')}/ws`);
    let sessionEnd: NodeJS.Timeout | undefined;
    sockets.add(socket);
    socket.on('open', () => {
      stats.wsConnects += 1;
      // Sessions end after about a minute so reconnections follow the router's weights.
      sessionEnd = later(wsSessionMs * (0.8 + 0.4 * random()), () => socket.close());
    });
    socket.on('message', () => (stats.wsMessages += 1));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (sessionEnd) {
        clearTimeout(sessionEnd);
        wsTimers.delete(sessionEnd);
      }
      if (running) later(wsReconnectDelayMs, connectWs);
    });
  };
  for (let i = 0; i < opts.wsClients; i++) connectWs();

  let finish!: (stats: LoadStats) => void;
  const done = new Promise<LoadStats>((resolve) => (finish = resolve));
  const stop = async (): Promise<LoadStats> => {
    if (running) {
      running = false;
      clearInterval(ticker);
      clearTimeout(deadline);
      for (const timer of wsTimers) clearTimeout(timer);
      for (const socket of sockets) socket.terminate();
      await Promise.all(inFlight);
      agent.destroy();
      finish({ ...stats });
    }
    return done;
  };
  const deadline = setTimeout(() => void stop(), opts.durationMs);

  return { stats: () => ({ ...stats, statuses: { ...stats.statuses } }), stop, done };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      rps: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      'ws-clients': { type: 'string' },
      'risky-orders-per-minute': { type: 'string' },
      'csp-reports-per-minute': { type: 'string' },
    },
  });
  const run = startLoad({
    targetUrl: values.target ?? `http://127.0.0.1:${demoPorts.router}`,
    rps: numberFlag(values.rps, '--rps', 60, 0.1, loadLimits.maxRps),
    durationMs: numberFlag(values.duration, '--duration', 300, 1, loadLimits.maxDurationMs / 1000) * 1000,
    seed: numberFlag(values.seed, '--seed', 7, 0, 2 ** 32 - 1),
    wsClients: numberFlag(values['ws-clients'], '--ws-clients', 4, 0, loadLimits.maxWsClients),
    riskyOrdersPerMinute: numberFlag(values['risky-orders-per-minute'], '--risky-orders-per-minute', 0, 0, 600),
    cspReportsPerMinute: numberFlag(values['csp-reports-per-minute'], '--csp-reports-per-minute', 0, 0, 600),
  });
  const stopNow = (): void => void run.stop();
  process.on('SIGINT', stopNow);
  process.on('SIGTERM', stopNow);
  console.log(JSON.stringify(await run.done));
}

if (require.main === module) runCli(main);
