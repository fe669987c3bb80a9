// The command router running real shell commands, plus the router factory's
// checks and the record-only router used for dry runs.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTrafficRouter } from '../../src/adapters/traffic';
import type { RouterSettings } from '../../src/adapters/traffic/router';

jest.setTimeout(30_000);

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'spark-traffic-command-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

describe('command router', () => {
  it('passes the weights as environment variables and {weight} in the command text', async () => {
    const weights = path.join(dir, 'weights.txt');
    const router = createTrafficRouter({
      router: 'command',
      command: `printf '%s/%s {weight}' "$SPARK_CANARY_WEIGHT" "$SPARK_STABLE_WEIGHT" > '${weights}' && echo patched`,
      timeoutMs: 10_000,
    });

    const change = await router.setCanaryWeight(25);
    await expect(readFile(weights, 'utf8')).resolves.toBe('25/75 25');
    expect(change).toMatchObject({ previous: null, current: 25 });
    expect(change.detail).toContain('SPARK_CANARY_WEIGHT=25 SPARK_STABLE_WEIGHT=75 sh -c');
    expect(change.detail).toContain('stdout: patched');

    await router.setCanaryWeight(8.04);
    await expect(readFile(weights, 'utf8')).resolves.toBe('8.04/91.96 8.04');
    // The command cannot be asked what it set.
    await expect(router.currentCanaryWeight()).resolves.toBeNull();
  });

  it('reads the weight back through the read command, and refuses output that is not a percent', async () => {
    const weights = path.join(dir, 'held.txt');
    const router = createTrafficRouter({
      router: 'command', timeoutMs: 10_000,
      command: `printf '%s' "$SPARK_CANARY_WEIGHT" > '${weights}'`,
      readCommand: `cat '${weights}'`,
    });
    await router.setCanaryWeight(5);
    await expect(router.currentCanaryWeight()).resolves.toBe(5);
    await router.setCanaryWeight(0);
    await expect(router.currentCanaryWeight()).resolves.toBe(0);
    const confused = createTrafficRouter({ router: 'command', timeoutMs: 10_000, command: 'true', readCommand: 'echo "weight: 5"' });
    await expect(confused.currentCanaryWeight()).rejects.toThrow('traffic readCommand "echo \\"weight: 5\\"" must print the canary percent (0-100), printed "weight: 5"');
    const failing = createTrafficRouter({ router: 'command', timeoutMs: 10_000, command: 'true', readCommand: 'exit 3' });
    await expect(failing.currentCanaryWeight()).rejects.toThrow(/exited with code 3/);
  });

  it("fails with the command's exit code and stderr", async () => {
    const router = createTrafficRouter({
      router: 'command',
      command: 'echo "Error from server (NotFound): virtualservices \\"spark-api\\" not found" >&2; exit 3',
      timeoutMs: 10_000,
    });
    await expect(router.setCanaryWeight(5)).rejects.toThrow(
      /^traffic command ".*" exited with code 3: Error from server \(NotFound\): virtualservices "spark-api" not found$/,
    );
  });

  it('kills a command that outlives timeoutMs, including what it started', async () => {
    const pidFile = path.join(dir, 'sleeper.pid');
    const router = createTrafficRouter({
      router: 'command',
      command: `sleep 60 & echo $! > '${pidFile}'; wait`,
      timeoutMs: 500,
    });
    await expect(router.setCanaryWeight(50)).rejects.toThrow(/timed out after 500 ms and was killed$/);
    const sleeper = Number(await readFile(pidFile, 'utf8'));
    await expect(alive(sleeper)).resolves.toBe(false);
  });
});

describe('record-only router', () => {
  it('remembers the weight it would have set and moves nothing', async () => {
    const router = createTrafficRouter({ router: 'record-only' });
    await expect(router.currentCanaryWeight()).resolves.toBeNull();
    await expect(router.setCanaryWeight(5)).resolves.toMatchObject({ previous: null, current: 5 });
    await expect(router.setCanaryWeight(25)).resolves.toMatchObject({ previous: 5, current: 25, detail: expect.stringContaining('no traffic moved') });
    await expect(router.currentCanaryWeight()).resolves.toBe(25);
  });
});

describe('createTrafficRouter', () => {
  const nginx = {
    router: 'nginx',
    configFile: '/tmp/upstream.conf',
    upstream: 'spark_app',
    stableServer: '127.0.0.1:18081',
    canaryServer: '127.0.0.1:18082',
    nginxBinary: 'nginx',
  } as const;

  it.each<[string, unknown, string]>([
    ['an unknown router', { router: 'envoy' }, 'traffic.router must be one of local, nginx, command, haproxy, record-only, got "envoy"'],
    ['a local router without an http URL', { router: 'local', adminUrl: 'localhost:18089' }, 'traffic.adminUrl must be an http(s) URL, got "localhost:18089"'],
    ['an empty command', { router: 'command', command: ' ', timeoutMs: 1000 }, 'traffic.command must be a non-empty string, got " "'],
    ['a fractional timeout', { router: 'command', command: 'true', timeoutMs: 1.5 }, 'traffic.timeoutMs must be a positive whole number of milliseconds, got 1.5'],
    ['a plan\'s router name that the worker has not resolved', { router: 'command', name: 'mesh' }, 'traffic.name: the command router "mesh" is the worker\'s to resolve'],
    ['a missing nginx field', { ...nginx, configFile: undefined }, 'traffic.configFile must be a non-empty string, got undefined'],
    ['an address that would inject nginx config', { ...nginx, canaryServer: '127.0.0.1:18082; server evil' }, 'traffic.canaryServer must be one nginx word'],
  ])('refuses %s, naming the field', (_case, config, message) => {
    expect(() => createTrafficRouter(config as RouterSettings)).toThrow(message);
  });

  it.each([-1, 100.5, 0.125, Number.NaN])('refuses canary percent %p before touching the backend', async (percent) => {
    const router = createTrafficRouter({ router: 'record-only' });
    await expect(router.setCanaryWeight(percent)).rejects.toThrow('canary percent must be a number from 0 to 100 with at most two decimals');
    await expect(router.currentCanaryWeight()).resolves.toBeNull();
  });
});
