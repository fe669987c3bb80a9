// A Temporal server of our own on free loopback ports, so chaos runs can restart it
// without touching the shared one of scripts/services.sh. SPARK_CHAOS_TEMPORAL picks it:
// `dev` (default), the pinned CLI's dev server with its own SQLite file; `postgres`, the
// server of scripts/temporal-pg.sh with its own two databases in the shared PostgreSQL.
// Its state survives a restart, as the shared one's does.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { loadConfig, projectRoot } from '../../../src/config';
import { freePort } from '../../support/own-prometheus';

/** The Spark* search attributes, as scripts/services.sh registers them. */
const SEARCH_ATTRIBUTES = ['SparkService=Keyword', 'SparkVersion=Keyword', 'SparkPhase=Keyword', 'SparkStage=Int', 'SparkCanaryWeight=Int', 'SparkVerdict=Keyword'];

export interface OwnTemporal {
  address: string;
  /** SIGTERM, then SIGKILL; resolves when the server has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same databases. */
  start(): Promise<void>;
}

async function serving(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: '1s' } as Parameters<typeof Connection.connect>[0]);
    await connection.healthService.check({});
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** The server SPARK_CHAOS_TEMPORAL names; `name` tells its databases from other runs'. */
export async function startOwnTemporal(dir: string, name: string): Promise<OwnTemporal> {
  const kind = process.env.SPARK_CHAOS_TEMPORAL ?? 'dev';
  if (kind === 'dev') return startOwnDevServer(dir);
  if (kind === 'postgres') return startOwnPostgresServer(dir, name);
  throw new Error(`SPARK_CHAOS_TEMPORAL must be dev or postgres, not ${JSON.stringify(kind)}`);
}

async function startOwnDevServer(dir: string): Promise<OwnTemporal> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const dbFile = path.join(dir, 'temporal.db');
  const logFile = path.join(dir, 'temporal.log');
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const log = fs.openSync(logFile, 'a');
    const proc = spawn(path.join(loadConfig().toolsBin, 'temporal'), [
      'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port),
      '--http-port', String(await freePort()), '--metrics-port', String(await freePort()),
      '--db-filename', dbFile, '--namespace', 'default', '--log-level', 'error',
      '--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=true',
      ...SEARCH_ATTRIBUTES.flatMap((sa) => ['--search-attribute', sa]),
    ], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 60_000;
    while (!(await serving(address))) {
      if (proc.exitCode !== null) throw new Error(`temporal dev server on ${address} exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`temporal dev server on ${address} not serving within 60 s; see ${logFile}`);
      await sleep(200);
    }
  };
  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGTERM');
    const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
    child = null;
  };
  await start();
  return { address, stop, start };
}

/** The first of `count` consecutive free loopback ports, below the ephemeral range (where Temporal's own clients take theirs). */
async function freePortBlock(count: number): Promise<number> {
  const free = (port: number) => new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    let all = true;
    for (let p = base; p < base + count && all; p++) all = await free(p);
    if (all) return base;
  }
  throw new Error(`no ${count} consecutive free loopback ports found between 20000 and 30000`);
}

async function startOwnPostgresServer(dir: string, name: string): Promise<OwnTemporal> {
  const port = await freePortBlock(10);
  const env = {
    ...process.env,
    SPARK_RUN_DIR: dir,
    SPARK_TEMPORAL_PG_PORT: String(port),
    SPARK_TEMPORAL_PG_DB: `temporal_chaos_${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}`,
  };
  const script = path.join(projectRoot, 'scripts', 'temporal-pg.sh');
  const run = async (command: 'up' | 'down' | 'reset') => {
    try {
      await promisify(execFile)('bash', [script, command], { env });
    } catch (err) {
      const { stderr } = err as { stderr?: string };
      throw new Error(`scripts/temporal-pg.sh ${command} (own server on 127.0.0.1:${port}) failed: ${stderr?.trim() || String(err)}`);
    }
  };
  // A run's databases are fresh, as the dev server's SQLite file is.
  await run('reset');
  await run('up');
  return { address: `127.0.0.1:${port}`, stop: () => run('down'), start: () => run('up') };
}
