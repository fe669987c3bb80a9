// A Temporal dev server of our own (the pinned CLI in .tools/bin) on free loopback
// ports with its own SQLite file, so chaos runs can restart it without touching the
// shared one of scripts/services.sh. The file survives a restart, as the shared one does.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../../../src/config';
import { freePort } from '../../support/own-prometheus';

/** The Spark* search attributes, as scripts/services.sh registers them. */
const SEARCH_ATTRIBUTES = ['SparkService=Keyword', 'SparkVersion=Keyword', 'SparkPhase=Keyword', 'SparkStage=Int', 'SparkCanaryWeight=Int', 'SparkVerdict=Keyword'];

export interface OwnTemporal {
  address: string;
  dbFile: string;
  /** SIGTERM, SIGKILL after 10 s; resolves when the server has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same database file. */
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

export async function startOwnTemporal(dir: string): Promise<OwnTemporal> {
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
  return { address, dbFile, stop, start };
}
