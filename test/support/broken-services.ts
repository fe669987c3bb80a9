// Services the broken target needs beyond a broken build and database: an NTP
// server whose clock is off (the time no one can agree on), and a PostgreSQL
// server of its own without WAL archiving (no point-in-time recovery), since
// archiving is a server setting the shared PostgreSQL has on.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { loadConfig } from '../../src/config';
import { freePort } from './own-prometheus';

const NTP_EPOCH_OFFSET_S = 2_208_988_800;

function writeNtpTime(buf: Buffer, at: number, unixMs: number): void {
  const seconds = Math.floor(unixMs / 1000);
  buf.writeUInt32BE(seconds + NTP_EPOCH_OFFSET_S, at);
  buf.writeUInt32BE(Math.floor(((unixMs - seconds * 1000) / 1000) * 2 ** 32), at + 4);
}

/** An SNTP server (RFC 4330) on loopback whose clock runs `offsetMs` ahead of this machine's. */
export async function startOffNtpServer(offsetMs: number): Promise<{ url: string; stop(): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => {
    if (msg.length < 48) return;
    const reply = Buffer.alloc(48);
    reply[0] = 0x24; // leap 0, version 4, mode 4 (server)
    reply[1] = 2; // stratum 2: synchronised, as far as the client can tell
    msg.copy(reply, 24, 40, 48); // originate = the client's transmit time
    const now = Date.now() + offsetMs;
    writeNtpTime(reply, 32, now);
    writeNtpTime(reply, 40, now);
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(0, '127.0.0.1', resolve));
  return { url: `127.0.0.1:${socket.address().port}`, stop: () => new Promise((resolve) => socket.close(() => resolve())) };
}

/** The server refuses to run as root: then it runs as the postgres OS user, as scripts/services.sh does. */
const asPostgres = (cmd: string, args: string[]): [string, string[]] =>
  process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];

/** A throwaway PostgreSQL server with WAL archiving off and wal_level minimal; `url` reaches its postgres database. */
export async function startUnarchivedPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const bin = path.dirname(fs.realpathSync(path.join(loadConfig().toolsBin, 'postgres')));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spark-pg-unarchived-'));
  fs.chmodSync(dir, 0o777);
  const data = path.join(dir, 'data');
  const port = await freePort();
  const run = (tool: string, args: string[]) => {
    const [cmd, argv] = asPostgres(path.join(bin, tool), args);
    const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: '/' });
    if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', data, '--encoding=UTF8', '--locale=C', '--auth=trust', '-U', 'spark']);
  const [cmd, argv] = asPostgres(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
    '-c', `unix_socket_directories=${dir}`, '-c', 'archive_mode=off', '-c', 'wal_level=minimal', '-c', 'max_wal_senders=0', '-c', 'fsync=off']);
  const child = spawn(cmd, argv, { stdio: 'ignore', cwd: '/' });
  const url = `postgres://spark@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.end();
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the unarchived PostgreSQL on ${port} did not come up: ${(err as Error).message}`);
      await sleep(200);
    }
  }
  return {
    url,
    stop: async () => {
      // Through pg_ctl: runuser does not pass a signal on to the server.
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']);
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
