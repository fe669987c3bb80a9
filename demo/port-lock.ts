// One demo target per set of ports on a machine: a second one (another test file,
// another checkout, the demo) waits for the first to stop instead of failing on a
// busy port. A pid file in the temp dir; a dead holder's lock is taken over.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (up to `timeoutMs`) for the lock on `port`; returns its release. */
export async function lockPorts(port: number, timeoutMs: number): Promise<() => void> {
  const file = path.join(os.tmpdir(), `spark-release-demo-target-${port}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(fs.readFileSync(file, 'utf8'));
      if (!holder || !alive(holder)) fs.rmSync(file, { force: true });
      else if (Date.now() > deadline) throw new Error(`the demo target ports are held by process ${holder} (${file}); stop it or wait`);
      else await sleep(1000);
    }
  }
}
