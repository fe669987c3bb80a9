// The demo target the pipeline releases: stable and canary service instances and
// the weighted router, each its own child process (so a fault that blocks the
// canary's event loop blocks only the canary), plus a bounded load generator
// sending traffic through the router.
//
//   tsx demo/target.ts up [--stable-version v1.3.0] [--canary-version v1.4.0] [--rps 60] [--no-load]
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { demoPorts, projectRoot } from '../src/config';
import { numberFlag, onShutdown, runCli } from './cli-args';
import { InputError } from './http-json';
import { parseFault, type ActiveFault, type FaultKind } from './faults';
import { lockPorts } from './port-lock';
import { Client } from 'pg';
import { migrate } from './migrate';
import { loadLimits, startLoad, type LoadOptions, type LoadRun } from './load';
import type { Track } from './service-metrics';

export type DemoPorts = typeof demoPorts;

export interface DemoTargetOptions {
  ports?: Partial<DemoPorts>;
  stableVersion?: string;
  canaryVersion?: string;
  canaryPercent?: number;
  idempotencyTtlSeconds?: number;
  /** Healthy 503 share of each service (default 0.001). */
  baselineErrorRate?: number;
  /** The demo database (normally through pgBouncer): migrated first, then written by both services. */
  databaseUrl?: string;
  /** Load through the router; false for none. Defaults: 60 rps for 3 hours. */
  load?: Omit<LoadOptions, 'targetUrl' | 'durationMs'> & { durationMs?: number } | false;
  startTimeoutMs?: number;
  /** How long to wait for another target on the same ports to stop (default 15 min). */
  lockTimeoutMs?: number;
  /** Each line a child prints, e.g. for a log; by default kept only for error messages. */
  onOutput?: (child: ChildName, line: string) => void;
}

export type ChildName = Track | 'router';

export interface DemoTargetUrls {
  router: string;
  routerAdmin: string;
  stable: string;
  canary: string;
}

export interface WeightAnswer {
  canaryPercent: number;
  previousCanaryPercent: number;
}

export interface DemoTarget {
  urls: DemoTargetUrls;
  pids: Record<ChildName, number>;
  load: LoadRun | null;
  setFault(track: Track, fault: { kind: FaultKind; intensity?: number | null }): Promise<ActiveFault>;
  clearFault(track: Track): Promise<ActiveFault | null>;
  setWeight(canaryPercent: number): Promise<WeightAnswer>;
  /** Stops the load and every child; resolves when no child process is left. */
  stop(): Promise<void>;
}

const tsxBin = path.join(projectRoot, 'node_modules', '.bin', 'tsx');
const outputTailChars = 4000;
const termGraceMs = 5000;

/** One demo program as a child process of its own group; the release checks' targets use it too. */
export class ChildProc {
  private tail = '';
  private exited = false;
  readonly exit: Promise<number | null>;
  private readonly proc: ChildProcess;

  constructor(
    readonly name: ChildName,
    script: string,
    args: string[],
    onOutput?: (child: ChildName, line: string) => void,
  ) {
    // Own process group (detached) so stop() can reach tsx and the node process it
    // starts; stdin stays open as a lifeline: the child exits when it closes.
    this.proc = spawn(tsxBin, [path.join(projectRoot, 'demo', script), ...args, '--exit-with-parent'], {
      cwd: projectRoot,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      stream?.setEncoding('utf8').on('data', (chunk: string) => {
        this.tail = (this.tail + chunk).slice(-outputTailChars);
        if (onOutput) for (const line of chunk.split('\n')) if (line !== '') onOutput(name, line);
      });
    }
    this.exit = new Promise((resolve) => {
      this.proc.on('exit', (code) => {
        this.exited = true;
        resolve(code);
      });
      this.proc.on('error', () => resolve(null));
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get hasExited(): boolean {
    return this.exited;
  }

  get output(): string {
    return this.tail;
  }

  /** SIGTERM to the whole group, SIGKILL after a grace period, then waits until the group is empty. */
  async stop(): Promise<void> {
    this.signalGroup('SIGTERM');
    const kill = setTimeout(() => this.signalGroup('SIGKILL'), termGraceMs);
    await this.exit;
    clearTimeout(kill);
    for (let i = 0; i < 50 && this.groupAlive(); i++) {
      if (i === 25) this.signalGroup('SIGKILL');
      await sleep(100);
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.proc.pid === undefined) return; // never spawned: nothing to signal
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // The group is already gone.
    }
  }

  private groupAlive(): boolean {
    if (this.proc.pid === undefined) return false;
    try {
      process.kill(-this.proc.pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function request<T>(url: string, method: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

async function answersHealthz(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

export async function waitUntilHealthy(children: ChildProc[], urls: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = children.find((child) => child.hasExited);
    if (dead) throw new Error(`${dead.name} exited during start-up:\n${dead.output}`);
    const healthy = await Promise.all(urls.map(answersHealthz));
    if (healthy.every(Boolean)) return;
    if (Date.now() > deadline) {
      const waiting = urls.filter((_, i) => !healthy[i]).join(', ');
      const logs = children.map((child) => `--- ${child.name}\n${child.output}`).join('\n');
      throw new Error(`demo target not healthy after ${timeoutMs} ms (waiting for ${waiting})\n${logs}`);
    }
    await sleep(100);
  }
}

async function migrateDatabase(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await migrate(client);
  } finally {
    await client.end();
  }
}

export async function startDemoTarget(opts: DemoTargetOptions = {}): Promise<DemoTarget> {
  const ports: DemoPorts = { ...demoPorts, ...opts.ports };
  const unlock = await lockPorts(ports.router, opts.lockTimeoutMs ?? 15 * 60_000);
  const local = (port: number) => `http://127.0.0.1:${port}`;
  const urls: DemoTargetUrls = {
    router: local(ports.router),
    routerAdmin: local(ports.routerAdmin),
    stable: local(ports.stable),
    canary: local(ports.canary),
  };
  const serviceArgs = (track: Track, version: string): string[] => [
    '--track', track,
    '--port', String(ports[track]),
    '--version', version,
    '--idempotency-ttl-seconds', String(opts.idempotencyTtlSeconds ?? 300),
    '--baseline-error-rate', String(opts.baselineErrorRate ?? 0.001),
    ...(opts.databaseUrl ? ['--database-url', opts.databaseUrl] : []),
  ];
  if (opts.databaseUrl) await migrateDatabase(opts.databaseUrl);
  const children = [
    new ChildProc('stable', 'service.ts', serviceArgs('stable', opts.stableVersion ?? 'v1.3.0'), opts.onOutput),
    new ChildProc('canary', 'service.ts', serviceArgs('canary', opts.canaryVersion ?? 'v1.4.0'), opts.onOutput),
    new ChildProc(
      'router',
      'router.ts',
      [
        '--port', String(ports.router),
        '--admin-port', String(ports.routerAdmin),
        '--stable-url', urls.stable,
        '--canary-url', urls.canary,
        '--canary-percent', String(opts.canaryPercent ?? 0),
      ],
      opts.onOutput,
    ),
  ];
  const stopChildren = () => Promise.all(children.map((child) => child.stop())).then(() => unlock());
  let load: LoadRun | null = null;
  try {
    // The router's own /healthz is proxied, so it also proves a backend answers through it.
    await waitUntilHealthy(children, [urls.stable, urls.canary, urls.routerAdmin, urls.router], opts.startTimeoutMs ?? 30_000);
    if (opts.load !== false) {
      load = startLoad({ durationMs: 3 * 3600 * 1000, ...opts.load, targetUrl: urls.router });
    }
  } catch (err) {
    await stopChildren();
    throw err;
  }

  const serviceUrl = (track: Track): string => urls[track];
  return {
    urls,
    pids: { stable: children[0]!.pid, canary: children[1]!.pid, router: children[2]!.pid },
    load,
    async setFault(track, fault) {
      const spec = parseFault(fault);
      const answer = await request<{ active: ActiveFault }>(`${serviceUrl(track)}/admin/fault`, 'PUT', spec);
      return answer.active;
    },
    async clearFault(track) {
      const answer = await request<{ cleared: ActiveFault | null }>(`${serviceUrl(track)}/admin/fault`, 'DELETE');
      return answer.cleared;
    },
    setWeight(canaryPercent) {
      return request<WeightAnswer>(`${urls.routerAdmin}/weight`, 'PUT', { canaryPercent });
    },
    async stop() {
      await load?.stop();
      await stopChildren();
    },
  };
}

const USAGE = 'usage: tsx demo/target.ts up [--stable-version v] [--canary-version v] [--canary-percent n] [--rps n] [--load-duration s] [--no-load]';

function parseTargetArgs(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        'stable-version': { type: 'string' },
        'canary-version': { type: 'string' },
        'canary-percent': { type: 'string' },
        rps: { type: 'string' },
        'load-duration': { type: 'string' },
        'no-load': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    // node:util's message ("Unknown option '--x'") is clear; its stack is not for people.
    if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) throw new InputError('arguments', `${(err as Error).message}\n${USAGE}`);
    throw err;
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseTargetArgs(process.argv.slice(2));
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals[0] !== 'up' || positionals.length !== 1) throw new InputError('command', `expected "up"\n${USAGE}`);
  const target = await startDemoTarget({
    stableVersion: values['stable-version'],
    canaryVersion: values['canary-version'],
    canaryPercent: numberFlag(values['canary-percent'], '--canary-percent', 0, 0, 100),
    load: values['no-load']
      ? false
      : {
          rps: numberFlag(values.rps, '--rps', 60, 0.1, loadLimits.maxRps),
          durationMs: numberFlag(values['load-duration'], '--load-duration', 10_800, 1, loadLimits.maxDurationMs / 1000) * 1000,
        },
    onOutput: (child, line) => console.log(`[${child}] ${line}`),
  });
  console.log(JSON.stringify({ urls: target.urls, pids: target.pids }));
  onShutdown(() => target.stop(), false);
}

if (require.main === module) runCli(main);
