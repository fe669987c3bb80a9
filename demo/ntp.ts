// A real NTP server on loopback (Debian's chronyd, serving its local clock; it
// never touches the system clock), for the time-drift checks of the demo and tests.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface NtpServer {
  /** host:port, as the plan's target.ntpServer wants it. */
  url: string;
  stop(): Promise<void>;
}

async function freeUdpishPort(): Promise<number> {
  // A free TCP port is free enough for UDP on loopback in practice; chronyd fails loudly otherwise.
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the child has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(kill);
}

export async function startNtpServer(): Promise<NtpServer> {
  const binary = ['/usr/sbin/chronyd', '/usr/bin/chronyd'].find((b) => fs.existsSync(b));
  if (!binary) throw new Error('chronyd is not installed: apt-get install chrony (or run scripts/bootstrap.sh)');
  const port = await freeUdpishPort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spark-chrony-'));
  fs.chmodSync(dir, 0o777);
  fs.writeFileSync(path.join(dir, 'chrony.conf'), [
    `port ${port}`, 'bindaddress 127.0.0.1', 'allow 127.0.0.1', 'local stratum 8', 'cmdport 0',
    `pidfile ${dir}/chronyd.pid`, `driftfile ${dir}/drift`,
  ].join('\n'));
  const child = spawn(binary, ['-x', '-d', '-f', path.join(dir, 'chrony.conf')], { stdio: 'ignore' });
  await sleep(300);
  if (child.exitCode !== null) throw new Error(`chronyd exited with ${child.exitCode}`);
  return { url: `127.0.0.1:${port}`, stop: async () => { await stopChild(child); fs.rmSync(dir, { recursive: true, force: true }); } };
}
