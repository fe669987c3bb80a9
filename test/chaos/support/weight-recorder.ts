// The demo router's weight history: an HTTP pass-through in front of its admin
// API that keeps every weight change the router accepted, with the time it
// answered. The router itself keeps only the current weight.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WeightChangeSeen {
  /** Wall-clock ms when the router answered. */
  at: number;
  previous: number;
  current: number;
}

export interface WeightRecorder {
  url: string;
  /** Every accepted PUT /weight, in the order the router answered them. */
  readonly history: WeightChangeSeen[];
  /** Emits `change` (WeightChangeSeen) after the router answered and before the caller gets the answer. */
  readonly events: EventEmitter;
  close(): Promise<void>;
}

export interface WeightRecorderOptions {
  /**
   * Called with the percent of each PUT /weight before it is forwarded; `drop` closes the
   * caller's connection and the router never sees the request (a worker killed mid-call).
   */
  beforeForward?: (percent: number) => 'forward' | 'drop';
}

function askedPercent(body: Buffer): number | null {
  try {
    const pct = (JSON.parse(body.toString('utf8')) as { canaryPercent?: unknown }).canaryPercent;
    return typeof pct === 'number' ? pct : null;
  } catch {
    return null; // the router answers a bad body itself
  }
}

export async function startWeightRecorder(routerAdminUrl: string, opts: WeightRecorderOptions = {}): Promise<WeightRecorder> {
  const upstream = new URL(routerAdminUrl);
  const history: WeightChangeSeen[] = [];
  const events = new EventEmitter();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (opts.beforeForward && req.method === 'PUT' && req.url === '/weight') {
        const asked = askedPercent(Buffer.concat(chunks));
        if (asked !== null && opts.beforeForward(asked) === 'drop') {
          req.socket.destroy();
          return;
        }
      }
      const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (c: Buffer) => body.push(c));
        answer.on('end', () => {
          const text = Buffer.concat(body).toString('utf8');
          if (req.method === 'PUT' && req.url === '/weight' && answer.statusCode === 200) {
            const { canaryPercent, previousCanaryPercent } = JSON.parse(text) as { canaryPercent: number; previousCanaryPercent: number };
            const change = { at: Date.now(), previous: previousCanaryPercent, current: canaryPercent };
            history.push(change);
            events.emit('change', change);
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers).end(text);
        });
      });
      forward.on('error', (err) => res.writeHead(502).end(`router admin: ${err.message}`));
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    history,
    events,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
