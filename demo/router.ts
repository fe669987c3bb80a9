// Weighted reverse proxy in front of the stable and canary instances: every HTTP
// request and WebSocket upgrade goes to one of them by a smooth weighted
// round-robin, so the canary gets exactly its share in every run of requests.
// Admin API (separate port): GET|PUT /weight {canaryPercent}, GET /metrics, GET /healthz.
//
//   tsx demo/router.ts [--port 18080] [--admin-port 18089] [--stable-url ...] [--canary-url ...]
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { Counter, Gauge, Registry } from 'prom-client';
import { demoPorts } from '../src/config';
import { numberFlag, onShutdown, portFlag, runCli } from './cli-args';
import { InputError, parseJsonObject, readBody, rejectUnknownFields, sendInputError, sendJson } from './http-json';
import type { Track } from './service-metrics';

export interface RouterOptions {
  port: number;
  adminPort: number;
  stableUrl: string;
  canaryUrl: string;
  canaryPercent?: number;
}

export interface RunningRouter {
  url: string;
  adminUrl: string;
  close(): Promise<void>;
}

/** Weights are kept in hundredths of a percent, so 0.5% is expressible. */
const weightScale = 100;

/** Validates a PUT /weight body; throws InputError naming the field. */
export function parseWeightBody(raw: string): number {
  const body = parseJsonObject(raw);
  rejectUnknownFields(body, ['canaryPercent']);
  const pct = body.canaryPercent;
  if (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100) {
    throw new InputError('canaryPercent', `must be a number from 0 to 100 (got ${JSON.stringify(pct)})`);
  }
  return Math.round(pct * weightScale) / weightScale;
}

/** Smooth weighted round-robin (as in nginx) over two tracks: deterministic, and over
 * any run of requests each track's count stays within one of its exact share. */
export class WeightedChooser {
  private canaryWeight = 0;
  private canaryCurrent = 0;
  private stableCurrent = 0;

  constructor(canaryPercent = 0) {
    this.canaryPercent = canaryPercent;
  }

  get canaryPercent(): number {
    return this.canaryWeight / weightScale;
  }

  set canaryPercent(pct: number) {
    this.canaryWeight = Math.round(pct * weightScale);
    this.canaryCurrent = 0;
    this.stableCurrent = 0;
  }

  choose(): Track {
    const total = 100 * weightScale;
    this.canaryCurrent += this.canaryWeight;
    this.stableCurrent += total - this.canaryWeight;
    if (this.canaryWeight > 0 && this.canaryCurrent > this.stableCurrent) {
      this.canaryCurrent -= total;
      return 'canary';
    }
    this.stableCurrent -= total;
    return 'stable';
  }
}

function upstreamOf(url: string, field: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(field, `must be an http:// URL (got ${JSON.stringify(url)})`);
  }
  if (parsed.protocol !== 'http:') throw new InputError(field, `must be an http:// URL (got ${JSON.stringify(url)})`);
  return parsed;
}

function listen(server: http.Server, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      resolve(`http://${address.address}:${address.port}`);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startRouter(opts: RouterOptions): Promise<RunningRouter> {
  const upstreams: Record<Track, URL> = {
    stable: upstreamOf(opts.stableUrl, 'stableUrl'),
    canary: upstreamOf(opts.canaryUrl, 'canaryUrl'),
  };
  const chooser = new WeightedChooser(opts.canaryPercent ?? 0);
  const registry = new Registry();
  new Gauge({
    name: 'router_canary_weight_percent',
    help: 'Share of requests the router sends to the canary.',
    registers: [registry],
    collect() {
      this.set(chooser.canaryPercent);
    },
  });
  const routed = new Counter({
    name: 'router_requests_total',
    help: 'Requests and WebSocket upgrades routed, by track.',
    labelNames: ['track'],
    registers: [registry],
  });
  routed.inc({ track: 'stable' }, 0);
  routed.inc({ track: 'canary' }, 0);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const sockets = new Set<Duplex>();

  const choose = (): Track => {
    const track = chooser.choose();
    routed.inc({ track });
    return track;
  };

  const proxy = http.createServer((req, res) => {
    const upstream = upstreams[choose()];
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '' },
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (err) => {
      if (res.headersSent) res.destroy();
      else sendJson(res, 502, { error: `upstream ${upstream.host}: ${err.message}` });
    });
    req.pipe(forward);
  });

  // WebSocket upgrades: replay the request head to the chosen upstream, then splice the sockets.
  proxy.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const upstream = upstreams[choose()];
    const server = net.connect(Number(upstream.port), upstream.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      server.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length > 0) server.write(head);
      client.pipe(server).pipe(client);
    });
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    const teardown = (): void => {
      client.destroy();
      server.destroy();
    };
    client.on('error', teardown).on('close', teardown);
    server.on('error', teardown).on('close', teardown);
  });

  const admin = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://router').pathname;
    void (async () => {
      if (path === '/healthz' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
      if (path === '/metrics' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': registry.contentType });
        return res.end(await registry.metrics());
      }
      if (path !== '/weight') return sendJson(res, 404, { error: `no route ${path}` });
      if (req.method === 'GET') return sendJson(res, 200, { canaryPercent: chooser.canaryPercent });
      if (req.method !== 'PUT') return sendJson(res, 405, { error: 'use GET or PUT' }, { allow: 'GET, PUT' });
      const next = parseWeightBody(await readBody(req));
      const previous = chooser.canaryPercent;
      // Re-setting the same weight keeps the round-robin position: a retried PUT changes nothing.
      if (next !== previous) chooser.canaryPercent = next;
      sendJson(res, 200, { canaryPercent: next, previousCanaryPercent: previous });
    })().catch((err: unknown) => sendInputError(res, err));
  });

  const url = await listen(proxy, opts.port);
  const adminUrl = await listen(admin, opts.adminPort).catch(async (err: unknown) => {
    await closeServer(proxy);
    throw err;
  });
  return {
    url,
    adminUrl,
    async close() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await Promise.all([closeServer(proxy), closeServer(admin)]);
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      'stable-url': { type: 'string' },
      'canary-url': { type: 'string' },
      'canary-percent': { type: 'string' },
      'exit-with-parent': { type: 'boolean', default: false },
    },
  });
  const router = await startRouter({
    port: portFlag(values.port, '--port', demoPorts.router),
    adminPort: portFlag(values['admin-port'], '--admin-port', demoPorts.routerAdmin),
    stableUrl: values['stable-url'] ?? `http://127.0.0.1:${demoPorts.stable}`,
    canaryUrl: values['canary-url'] ?? `http://127.0.0.1:${demoPorts.canary}`,
    canaryPercent: numberFlag(values['canary-percent'], '--canary-percent', 0, 0, 100),
  });
  console.log(`router listening on ${router.url} (admin ${router.adminUrl})`);
  onShutdown(() => router.close(), values['exit-with-parent']);
}

if (require.main === module) runCli(main);
