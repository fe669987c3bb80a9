// What the router tests do on the traffic side: tiny upstreams that answer their
// name, and counts of which one answered requests sent through a proxy on loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts an upstream answering `text` on a free loopback port; `servers` keeps it for closing. */
export function serveText(servers: http.Server[], text: string): Promise<number> {
  const server = http.createServer((_request, response) => response.end(text));
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** One GET of `/`: the body, or `HTTP <status>` when it is not 200. No keep-alive unless `agent` says so. */
export function getText(port: number, agent: http.Agent | false = false): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve(response.statusCode === 200 ? body : `HTTP ${response.statusCode}`));
      })
      .on('error', reject);
  });
}

/** Sends `requests` requests, `parallel` at a time, and counts the answers by body. */
export async function countAnswers(port: number, requests: number, parallel = 1, agent: http.Agent | false = false): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let sent = 0; sent < requests; sent += parallel) {
    const bodies = await Promise.all(Array.from({ length: Math.min(parallel, requests - sent) }, () => getText(port, agent)));
    for (const body of bodies) counts[body] = (counts[body] ?? 0) + 1;
  }
  return counts;
}
