// The nginx router against a real nginx on loopback: two upstream servers
// answer "stable" and "canary", and the split nginx makes is counted.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTrafficRouter } from '../../src/adapters/traffic';
import { renderUpstream } from '../../src/adapters/traffic/nginx';
import type { NginxTrafficConfig } from '../../src/adapters/traffic/nginx';
import type { TrafficRouter, WeightChange } from '../../src/adapters/traffic/router';
import { loadConfig } from '../../src/config';
import { countAnswers, getText, serveText } from '../support/proxy-client';

jest.setTimeout(60_000);

const nginxBinary = path.join(loadConfig().toolsBin, 'nginx');
const REQUESTS = 100;
/** Bound on waiting for nginx to start or to finish a reload. */
const SETTLE_MS = 15_000;

let prefix: string;
let nginx: ChildProcess;
let nginxOutput = '';
let nginxPort: number;
let config: NginxTrafficConfig;
let router: TrafficRouter;
const upstreams: http.Server[] = [];

async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${SETTLE_MS / 1000}s; nginx said:\n${nginxOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Pids of the nginx master's worker processes. */
async function workerPids(): Promise<Set<string>> {
  const master = String(nginx.pid);
  const workers = new Set<string>();
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // Fields after the parenthesised name: state, ppid, ...
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (ppid === master && state !== 'Z') workers.add(pid);
  }
  return workers;
}

/** `nginx -s reload` returns before the new workers serve; wait until only new ones are left. */
async function setAndSettle(percent: number, using: TrafficRouter = router): Promise<WeightChange> {
  const before = await workerPids();
  const change = await using.setCanaryWeight(percent);
  await until('nginx did not replace its workers after reload', async () => {
    const now = await workerPids();
    return now.size > 0 && [...now].every((pid) => !before.has(pid));
  });
  return change;
}

beforeAll(async () => {
  if (!existsSync(nginxBinary)) throw new Error(`nginx not found at ${nginxBinary}; run \`bash scripts/bootstrap.sh\``);
  prefix = await mkdtemp(path.join(os.tmpdir(), 'spark-nginx-'));
  // nginx runs its workers as "nobody" when started as root; they must reach their temp dirs.
  await chmod(prefix, 0o755);
  await mkdir(path.join(prefix, 'tmp'));
  const [stablePort, canaryPort] = await Promise.all([serveText(upstreams, 'stable'), serveText(upstreams, 'canary')]);
  const [stableServer, canaryServer] = [`127.0.0.1:${stablePort}`, `127.0.0.1:${canaryPort}`];
  nginxPort = await freePort();
  config = {
    router: 'nginx',
    configFile: path.join(prefix, 'spark-upstream.conf'),
    upstream: 'spark_app',
    stableServer,
    canaryServer,
    nginxBinary,
    nginxPrefix: prefix,
    nginxConfig: path.join(prefix, 'nginx.conf'),
  };
  const temp = (name: string): string => `  ${name}_temp_path ${path.join(prefix, 'tmp', name)};`;
  await writeFile(
    config.nginxConfig as string,
    [
      // One worker: its weighted round robin is deterministic, so the split can be counted exactly.
      'worker_processes 1;',
      `pid ${path.join(prefix, 'nginx.pid')};`,
      `error_log ${path.join(prefix, 'error.log')} notice;`,
      'events { worker_connections 64; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp),
      `  include ${config.configFile};`,
      `  server { listen 127.0.0.1:${nginxPort}; location / { proxy_pass http://${config.upstream}; } }`,
      '}',
      '',
    ].join('\n'),
  );
  // nginx will not start without the included file; everything after goes through the router.
  await writeFile(config.configFile, renderUpstream(config, 0));
  nginx = spawn(nginxBinary, ['-c', config.nginxConfig as string, '-p', prefix, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  nginx.stdout?.on('data', (chunk: Buffer) => (nginxOutput += chunk.toString()));
  nginx.stderr?.on('data', (chunk: Buffer) => (nginxOutput += chunk.toString()));
  await until('nginx did not start serving', async () => (await getText(nginxPort)) === 'stable');
  router = createTrafficRouter(config);
});

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx.once('exit', resolve));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await Promise.all(upstreams.map((server) => new Promise((resolve) => server.close(resolve))));
  if (prefix) await rm(prefix, { recursive: true, force: true });
});

it('sends the configured share of requests to the canary', async () => {
  // nginx's smooth weighted round robin repeats every 100 picks at weights that sum to 100,
  // so 100 consecutive requests split exactly by the weights.
  for (const percent of [0, 25, 100]) {
    await setAndSettle(percent);
    const counts = await countAnswers(nginxPort, REQUESTS);
    expect({ percent, stable: counts.stable ?? 0, canary: counts.canary ?? 0 }).toEqual({ percent, stable: REQUESTS - percent, canary: percent });
    await expect(router.currentCanaryWeight()).resolves.toBe(percent);
  }
});

it('marks a server that gets nothing as down rather than weight=0', async () => {
  await setAndSettle(0);
  const text = await readFile(config.configFile, 'utf8');
  expect(text).toContain(`server ${config.stableServer} weight=100;`);
  expect(text).toContain(`server ${config.canaryServer} down;`);
});

it('is idempotent: setting the same weight again reports it and leaves the same file', async () => {
  const first = await setAndSettle(25);
  const textAfterFirst = await readFile(config.configFile, 'utf8');
  const second = await setAndSettle(25);
  expect(first.current).toBe(25);
  expect(second).toMatchObject({ previous: 25, current: 25 });
  expect(second.detail).toContain(`server ${config.canaryServer} weight=25;`);
  await expect(readFile(config.configFile, 'utf8')).resolves.toBe(textAfterFirst);
});

it('scales a fractional percent to whole weights nginx accepts', async () => {
  await expect(setAndSettle(0.5)).resolves.toMatchObject({ current: 0.5 });
  const text = await readFile(config.configFile, 'utf8');
  expect(text).toContain(`server ${config.stableServer} weight=995;`);
  expect(text).toContain(`server ${config.canaryServer} weight=5;`);
  await expect(router.currentCanaryWeight()).resolves.toBe(0.5);
});

it('keeps the previous file and traffic when nginx refuses the new config', async () => {
  await setAndSettle(25);
  const accepted = await readFile(config.configFile, 'utf8');
  const broken = createTrafficRouter({ ...config, canaryServer: '127.0.0.1:99999' });

  await expect(broken.setCanaryWeight(50)).rejects.toThrow(
    new RegExp(`nginx refused canary 50% for upstream spark_app; ${config.configFile} restored: .*-t .*invalid port in upstream "127\\.0\\.0\\.1:99999"`, 's'),
  );
  await expect(readFile(config.configFile, 'utf8')).resolves.toBe(accepted);
  await expect(router.currentCanaryWeight()).resolves.toBe(25);
  const counts = await countAnswers(nginxPort, REQUESTS);
  expect(counts).toEqual({ stable: 75, canary: 25 });
});

it('cannot tell the weight when its file does not exist', async () => {
  const elsewhere = createTrafficRouter({ ...config, configFile: path.join(prefix, 'never-written.conf') });
  await expect(elsewhere.currentCanaryWeight()).resolves.toBeNull();
});
