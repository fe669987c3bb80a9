// The HAProxy router against a real haproxy on loopback: a backend of two servers
// answering "stable" and "canary", weights set and read back through the runtime API
// on a stats socket, and the split HAProxy makes counted over real requests.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTrafficRouter } from '../../src/adapters/traffic';
import { weightsFor, type HaproxyTrafficConfig } from '../../src/adapters/traffic/haproxy';
import type { TrafficRouter } from '../../src/adapters/traffic/router';
import { loadConfig, loadWorkerConfig, projectRoot, routerSettings } from '../../src/config';
import { freePort } from '../support/own-prometheus';
import { countAnswers, getText, serveText } from '../support/proxy-client';

jest.setTimeout(60_000);

const haproxyBinary = path.join(loadConfig().toolsBin, 'haproxy');
const REQUESTS = 2000;
/** Requests in flight at once, each on its own connection. */
const PARALLEL = 20;
/** How many standard deviations a count may lie from its binomial mean. */
const SIGMAS = 4.5;
const SETTLE_MS = 15_000;

let dir: string;
let haproxy: ChildProcess;
let haproxyOutput = '';
let frontendPort: number;
let config: HaproxyTrafficConfig;
let router: TrafficRouter;
const upstreams: http.Server[] = [];
const agent = new http.Agent({ keepAlive: false, maxSockets: PARALLEL });

/** The test's own line to the runtime API, beside the router's: what HAProxy says, unfiltered. */
function runtime(command: string, socket = config.socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = net.connect(socket);
    let answer = '';
    connection.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    connection.on('end', () => resolve(answer.trim()));
    connection.on('error', reject);
    connection.end(`${command}\n`);
  });
}

async function heldWeights(): Promise<string> {
  return `${await runtime('get weight app/stable')} | ${await runtime('get weight app/canary')}`;
}

beforeAll(async () => {
  if (!existsSync(haproxyBinary)) {
    throw new Error(`haproxy not found at ${haproxyBinary}; run \`bash scripts/bootstrap.sh\` (it installs Debian's haproxy: apt-get install haproxy)`);
  }
  dir = await mkdtemp(path.join(os.tmpdir(), 'spark-haproxy-'));
  const [stablePort, canaryPort] = await Promise.all([serveText(upstreams, 'stable'), serveText(upstreams, 'canary')]);
  frontendPort = await freePort();
  config = {
    router: 'haproxy',
    socket: path.join(dir, 'admin.sock'),
    backend: 'app',
    stableServer: 'stable',
    canaryServer: 'canary',
    timeoutMs: 5000,
  };
  const haproxyConfig = path.join(dir, 'haproxy.cfg');
  await writeFile(haproxyConfig, [
    'global',
    `  stats socket ${config.socket} mode 600 level admin`,
    // Reads weights but may not set them: the router must say what is missing.
    `  stats socket ${path.join(dir, 'operator.sock')} mode 600 level operator`,
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 10s',
    '  timeout server 10s',
    'frontend web',
    `  bind 127.0.0.1:${frontendPort}`,
    '  default_backend app',
    'backend app',
    // One random draw, weighted; the default random(2) takes the less busy of two draws and bends the split.
    '  balance random(1)',
    `  server stable 127.0.0.1:${stablePort} weight 1`,
    `  server canary 127.0.0.1:${canaryPort} weight 0`,
    '',
  ].join('\n'));
  haproxy = spawn(haproxyBinary, ['-db', '-f', haproxyConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy.stdout?.on('data', (chunk: Buffer) => (haproxyOutput += chunk.toString()));
  haproxy.stderr?.on('data', (chunk: Buffer) => (haproxyOutput += chunk.toString()));
  const deadline = Date.now() + SETTLE_MS;
  while ((await getText(frontendPort, agent).catch(() => 'down')) !== 'stable') {
    if (Date.now() > deadline || haproxy.exitCode !== null) throw new Error(`haproxy did not start serving within ${SETTLE_MS / 1000}s; it said:\n${haproxyOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  router = createTrafficRouter(config);
});

afterAll(async () => {
  agent.destroy();
  if (haproxy && haproxy.exitCode === null && haproxy.signalCode === null) {
    const exited = new Promise((resolve) => haproxy.once('exit', resolve));
    haproxy.kill('SIGTERM');
    await exited;
  }
  await Promise.all(upstreams.map((server) => new Promise((resolve) => server.close(resolve))));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the canary gets the planned share of real requests', () => {
  it.each([0, 1, 5, 25, 50, 100])('at %p%%', async (percent) => {
    const change = await router.setCanaryWeight(percent);
    expect(change.current).toBe(percent);
    expect(change.detail).toContain(`canary exactly ${percent}%`);
    await expect(router.currentCanaryWeight()).resolves.toBe(percent);
    const { stable, canary } = weightsFor(percent);
    await expect(heldWeights()).resolves.toBe(`${stable} (initial 1) | ${canary} (initial 0)`);

    const counts = await countAnswers(frontendPort, REQUESTS, PARALLEL, agent);
    const got = counts.canary ?? 0;
    expect((counts.stable ?? 0) + got).toBe(REQUESTS);
    const p = percent / 100;
    const mean = REQUESTS * p;
    const spread = SIGMAS * Math.sqrt(REQUESTS * p * (1 - p));
    // At 0% and 100% the spread is 0: not a single request may go the other way.
    expect(got).toBeGreaterThanOrEqual(Math.ceil(mean - spread));
    expect(got).toBeLessThanOrEqual(Math.floor(mean + spread));
  });
});

describe('weights', () => {
  it.each<[number, number, number]>([
    [0, 256, 0],
    [100, 0, 256],
    [50, 256, 256],
    [25, 255, 85],
    [1, 198, 2],
    [5, 247, 13],
    [12.5, 252, 36],
    [0.5, 199, 1],
    [99.5, 1, 199],
  ])('%p%% is exactly stable %p / canary %p, the largest weights of that share', (percent, stable, canary) => {
    expect(weightsFor(percent)).toEqual({ stable, canary });
  });

  it('takes the nearest share when no weights of 0..256 express the percent, and says so', async () => {
    expect(weightsFor(0.25)).toEqual({ stable: 256, canary: 1 });
    const change = await router.setCanaryWeight(0.25);
    expect(change.current).toBe(0.39);
    expect(change.detail).toContain('canary 0.3891%, the nearest share weights of 0..256 give to 0.25%');
    await expect(router.currentCanaryWeight()).resolves.toBe(0.39);

    expect(weightsFor(33.33)).toEqual({ stable: 256, canary: 128 });
    const third = await router.setCanaryWeight(33.33);
    expect(third).toMatchObject({ previous: 0.39, current: 33.33 });
    expect(third.detail).toContain('canary 33.3333%, the nearest share weights of 0..256 give to 33.33%');
  });

  it('reads back what HAProxy holds, also when someone else set it', async () => {
    await router.setCanaryWeight(5);
    expect(await runtime('set server app/stable weight 3')).toBe('');
    expect(await runtime('set server app/canary weight 1')).toBe('');
    await expect(router.currentCanaryWeight()).resolves.toBe(25);
    await expect(router.setCanaryWeight(5)).resolves.toMatchObject({ previous: 25, current: 5 });
  });

  it('sets the server first that keeps the half-way state between the old and new share, never both at 0', async () => {
    await router.setCanaryWeight(100);
    // Canary first would leave stable 0 / canary 0 for a moment: nothing served.
    const down = await router.setCanaryWeight(0);
    expect(down).toMatchObject({ previous: 100, current: 0 });
    expect(down.detail).toContain('set server app/stable weight 256; set server app/canary weight 0;');
    await router.setCanaryWeight(5);
    // A rollback from 5%: the canary drops to 0 with the first command.
    expect((await router.setCanaryWeight(0)).detail).toContain('set server app/canary weight 0; set server app/stable weight 256;');
  });

  it('is idempotent: the same percent again holds the same weights', async () => {
    await router.setCanaryWeight(25);
    const held = await heldWeights();
    const again = await router.setCanaryWeight(25);
    expect(again).toMatchObject({ previous: 25, current: 25 });
    expect(again.detail).toContain('get weight read back stable 255 / canary 85: canary exactly 25%');
    await expect(heldWeights()).resolves.toBe(held);
  });
});

describe('the worker configuration names the router', () => {
  async function workerFile(router: Record<string, unknown>): Promise<string> {
    const file = path.join(dir, `worker-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, JSON.stringify({ urlPrefixes: ['http://127.0.0.1:'], routers: { edge: { router: 'haproxy', ...router } } }));
    return file;
  }

  it('resolves a plan\'s `traffic: { router: haproxy, name: edge }` to the socket on this worker', async () => {
    const worker = loadWorkerConfig(await workerFile({ socket: config.socket, backend: 'app', stableServer: 'stable', canaryServer: 'canary' }));
    const settings = routerSettings(worker, { router: 'haproxy', name: 'edge' });
    expect(settings).toEqual({ ...config, timeoutMs: 5000 });
    await expect(createTrafficRouter(settings).setCanaryWeight(5)).resolves.toMatchObject({ current: 5 });
    expect(() => routerSettings(worker, { router: 'nginx', name: 'edge' })).toThrow(/traffic\.name: this worker has no nginx router "edge"/);
  });

  it('resolves a relative socket path against the project root', async () => {
    const worker = loadWorkerConfig(await workerFile({ socket: '.run/haproxy/admin.sock', backend: 'app', stableServer: 'stable', canaryServer: 'canary', timeout: '2s' }));
    expect(worker.routers.edge).toMatchObject({ socket: path.join(projectRoot, '.run/haproxy/admin.sock'), timeoutMs: 2000 });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no socket', { backend: 'app', stableServer: 'stable', canaryServer: 'canary' }, /routers\.edge\.socket: .*expected string, received undefined/],
    ['a timeout that is no duration', { socket: '/run/haproxy.sock', backend: 'app', stableServer: 'stable', canaryServer: 'canary', timeout: 'soon' }, /routers\.edge\.timeout: a duration longer than 0/],
    ['an unknown field', { socket: '/run/haproxy.sock', backend: 'app', stableServer: 'stable', canaryServer: 'canary', weight: 5 }, /routers\.edge: Unrecognized key: "weight"/],
  ])('refuses %s, naming the field', async (_case, router, message) => {
    const file = await workerFile(router);
    expect(() => loadWorkerConfig(file)).toThrow(message);
  });
});

describe('bad input is a clear error naming the field', () => {
  it.each<[string, Partial<Record<keyof HaproxyTrafficConfig, unknown>>, string]>([
    ['a missing socket', { socket: undefined }, 'traffic.socket must be a non-empty string, got undefined'],
    ['a missing backend', { backend: '' }, 'traffic.backend must be a non-empty string, got ""'],
    ['a server name that would inject a second command', { canaryServer: 'canary; set server app/stable weight 0' }, 'traffic.canaryServer must be an HAProxy name'],
    ['a zero timeout', { timeoutMs: 0 }, 'traffic.timeoutMs must be a positive whole number of milliseconds, got 0'],
  ])('refuses %s before talking to HAProxy', (_case, change, message) => {
    expect(() => createTrafficRouter({ ...config, ...change } as HaproxyTrafficConfig)).toThrow(message);
  });

  it.each([-1, 100.5, 0.125, Number.NaN])('refuses canary percent %p and leaves the weights', async (percent) => {
    await router.setCanaryWeight(5);
    const held = await heldWeights();
    await expect(router.setCanaryWeight(percent)).rejects.toThrow('canary percent must be a number from 0 to 100 with at most two decimals');
    await expect(heldWeights()).resolves.toBe(held);
  });

  it('names the server HAProxy does not know, and changes nothing', async () => {
    await router.setCanaryWeight(5);
    const held = await heldWeights();
    const wrong = createTrafficRouter({ ...config, canaryServer: 'canary-v2' });
    await expect(wrong.setCanaryWeight(25)).rejects.toThrow(`traffic.canaryServer: HAProxy answered "No such server." to "get weight app/canary-v2" on ${config.socket}`);
    await expect(wrong.currentCanaryWeight()).rejects.toThrow('traffic.canaryServer: HAProxy answered "No such server."');
    await expect(heldWeights()).resolves.toBe(held);
    await expect(createTrafficRouter({ ...config, backend: 'api' }).setCanaryWeight(25)).rejects.toThrow('traffic.backend: HAProxy answered "No such backend." to "get weight api/stable"');
  });

  it('says the socket needs level admin when it may only read', async () => {
    const reader = createTrafficRouter({ ...config, socket: path.join(dir, 'operator.sock') });
    await expect(reader.currentCanaryWeight()).resolves.toBe(5);
    await expect(reader.setCanaryWeight(25)).rejects.toThrow(/^traffic\.socket: HAProxy answered "Permission denied" to "set server app\/\w+ weight \d+" on .*operator\.sock \(the stats socket needs "level admin"\)$/);
  });

  it('names the socket when nothing is there', async () => {
    const missing = createTrafficRouter({ ...config, socket: path.join(dir, 'none.sock') });
    await expect(missing.setCanaryWeight(0)).rejects.toThrow(/^traffic\.socket: cannot reach HAProxy's runtime API at .*none\.sock \(connect ENOENT .*\); is haproxy running with "stats socket .*none\.sock level admin"\?$/);
    await expect(missing.currentCanaryWeight()).rejects.toThrow(/^traffic\.socket: cannot reach .*ENOENT/);
  });

  it('gives up on a socket that never answers after the configured timeout', async () => {
    const silent = net.createServer(() => undefined);
    const socket = path.join(dir, 'silent.sock');
    await new Promise<void>((resolve) => silent.listen(socket, resolve));
    try {
      const started = Date.now();
      await expect(createTrafficRouter({ ...config, socket, timeoutMs: 300 }).setCanaryWeight(0)).rejects.toThrow(
        `traffic.socket: HAProxy's runtime API at ${socket} did not answer "get weight app/stable" within 300 ms`,
      );
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      silent.close();
    }
  });

  // Last: it kills haproxy.
  it('names the socket of a dead haproxy', async () => {
    const exited = new Promise((resolve) => haproxy.once('exit', resolve));
    haproxy.kill('SIGKILL');
    await exited;
    expect(existsSync(config.socket)).toBe(true);
    await expect(router.setCanaryWeight(0)).rejects.toThrow(/^traffic\.socket: cannot reach HAProxy's runtime API at .*admin\.sock \(connect ECONNREFUSED /);
  });
});
