// PostgreSQL instances of our own (the binaries bootstrap.sh linked into
// .tools/bin) on free loopback ports: for faults that would hurt the shared
// server (connection-pool exhaustion) and for the restore drill. As root the
// server runs as the postgres OS user, which refuses root.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../../src/config';
import { freePort } from '../../support/own-prometheus';

const pgBin = () => path.dirname(fs.realpathSync(path.join(loadConfig().toolsBin, 'initdb')));
const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL binary (as the postgres OS user when we are root); returns its stdout. */
export function pgTool(binary: string, args: string[], env: Record<string, string> = {}): string {
  const file = path.join(pgBin(), binary);
  const [cmd, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), file, ...args]]
    : [file, args];
  return execFileSync(cmd, argv, { cwd: '/', encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Hands a directory to the postgres OS user (when we are root). */
export function ownByPostgres(dir: string): void {
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
}

export interface OwnPostgres {
  data: string;
  port: number;
  /** postgres://spark:spark@127.0.0.1:<port>/spark once createSparkDatabase ran. */
  url: string;
  /** SQL as the server's superuser, over the socket. */
  psql(sql: string): string;
  stop(): void;
  /** Starts a stopped server again, on the same port with the same data. */
  start(): void;
}

export function initCluster(data: string): void {
  fs.mkdirSync(path.dirname(data), { recursive: true });
  ownByPostgres(path.dirname(data));
  pgTool('initdb', ['-D', data, '--data-checksums', '--auth-local=peer', '--auth-host=scram-sha-256', '--encoding=UTF8', '--locale=C']);
}

/** Starts the cluster in DATA with SETTINGS appended to its postgresql.conf, on a free port. */
export async function startCluster(data: string, socketDir: string, settings = ''): Promise<OwnPostgres> {
  const port = await freePort();
  fs.mkdirSync(socketDir, { recursive: true });
  fs.appendFileSync(path.join(data, 'postgresql.conf'), `\n# started by test/chaos/support/own-postgres.ts\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${socketDir}'\n${settings}\n`);
  ownByPostgres(data);
  ownByPostgres(socketDir);
  const start = () => void pgTool('pg_ctl', ['start', '-w', '-t', '120', '-D', data, '-l', path.join(data, 'server.log')]);
  start();
  return {
    data,
    port,
    url: `postgres://spark:spark@127.0.0.1:${port}/spark`,
    psql: (sql) => pgTool('psql', ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port), '-d', 'postgres', '-c', sql]),
    stop: () => void pgTool('pg_ctl', ['stop', '-m', 'fast', '-w', '-D', data]),
    start,
  };
}

/** Role and database `spark` (password `spark`), as scripts/services.sh makes them. */
export function createSparkDatabase(server: OwnPostgres): void {
  server.psql("CREATE ROLE spark LOGIN SUPERUSER PASSWORD 'spark'");
  server.psql('CREATE DATABASE spark OWNER spark');
}

/** A fresh cluster under DIR, started, with the spark database. */
export async function startOwnPostgres(dir: string, settings = ''): Promise<OwnPostgres> {
  const data = path.join(dir, 'data');
  initCluster(data);
  const server = await startCluster(data, path.join(dir, 'socket'), settings);
  createSparkDatabase(server);
  return server;
}
