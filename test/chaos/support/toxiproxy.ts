// Toxiproxy (built from its Go module by scripts/bootstrap.sh) between the worker
// and its dependencies, driven through its HTTP API; plus a tiny HTTP responder
// for the faults a TCP proxy cannot make (HTTP 429 and 503 from Prometheus): the
// proxy's upstream is switched to it while the fault lasts.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../../src/config';
import { freePort } from '../../support/own-prometheus';

export type ToxicType = 'latency' | 'timeout' | 'reset_peer' | 'bandwidth' | 'slicer' | 'limit_data' | 'slow_close';

export interface Toxic {
  type: ToxicType;
  attributes: Record<string, number>;
  /** Share of connections it applies to (default 1). */
  toxicity?: number;
  stream?: 'upstream' | 'downstream';
}

export interface ProxyHandle {
  name: string;
  /** host:port the worker connects to. */
  listen: string;
  upstream: string;
}

export interface Toxiproxy {
  api: string;
  proxy(name: string, upstream: string): Promise<ProxyHandle>;
  addToxic(proxy: string, name: string, toxic: Toxic): Promise<void>;
  removeToxic(proxy: string, name: string): Promise<void>;
  setUpstream(proxy: string, upstream: string): Promise<void>;
  /** Disabled: every connection is closed and new ones are refused. */
  setEnabled(proxy: string, enabled: boolean): Promise<void>;
  /** Every proxy enabled, every toxic removed. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

async function call(api: string, method: string, route: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${api}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`toxiproxy ${method} ${route}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function startToxiproxy(logFile: string): Promise<Toxiproxy> {
  const binary = path.join(loadConfig().toolsBin, 'toxiproxy-server');
  if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: run \`bash scripts/bootstrap.sh\` (it builds Toxiproxy with go install)`);
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(binary, ['-host', '127.0.0.1', '-port', String(port)], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await call(api, 'GET', '/version');
      break;
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`toxiproxy-server did not start; see ${logFile}`);
      await sleep(100);
    }
  }
  return {
    api,
    async proxy(name, upstream) {
      const created = (await call(api, 'POST', '/proxies', { name, listen: `127.0.0.1:${await freePort()}`, upstream, enabled: true })) as { listen: string };
      return { name, listen: created.listen, upstream };
    },
    async addToxic(proxy, name, toxic) {
      await call(api, 'POST', `/proxies/${proxy}/toxics`, { name, type: toxic.type, stream: toxic.stream ?? 'downstream', toxicity: toxic.toxicity ?? 1, attributes: toxic.attributes });
    },
    async removeToxic(proxy, name) {
      await call(api, 'DELETE', `/proxies/${proxy}/toxics/${name}`);
    },
    async setUpstream(proxy, upstream) {
      await call(api, 'POST', `/proxies/${proxy}`, { upstream });
    },
    async setEnabled(proxy, enabled) {
      await call(api, 'POST', `/proxies/${proxy}`, { enabled });
    },
    async reset() {
      await call(api, 'POST', '/reset');
    },
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface StatusResponder {
  /** host:port */
  address: string;
  /** Requests answered so far. */
  readonly answered: number;
  close(): Promise<void>;
}

/** Answers every HTTP request with STATUS and a Prometheus-style error body (429 carries Retry-After). */
export async function startStatusResponder(status: number): Promise<StatusResponder> {
  let answered = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    answered += 1;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (status === 429) headers['retry-after'] = '2';
    res.writeHead(status, headers).end(JSON.stringify({ status: 'error', errorType: 'unavailable', error: `chaos: HTTP ${status}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    get answered() {
      return answered;
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
