// Time drift (preflight 2): the worker's clock against the database's, with the
// round trip compensated, and against an NTP server (SNTP, RFC 4330).
import dgram from 'node:dgram';
import type { Client } from 'pg';
import { limit, ms, targetCheck, targetOf, verdict, withDatabase } from './target-access';
import type { CheckEnv } from './types';

/** The worker's wall clock with sub-millisecond steps inside one exchange: anchored to Date.now() when the
 * exchange starts, since timeOrigin + performance.now() keeps the wall time of the process start and misses
 * every later step of the system clock (seen: 21 s off after a step). */
function exchangeClock(): () => number {
  const anchor = Date.now() - performance.now();
  return () => anchor + performance.now();
}

export interface ClockOffset {
  /** Other clock minus ours, at the midpoint of the exchange. */
  offsetMs: number;
  /** Round trip of the best exchange; the offset is known to ± half of it. */
  rttMs: number;
}

const SAMPLES = 5;

/** The database's clock against the worker's: the exchange with the shortest round trip wins. */
export async function databaseOffset(db: Client): Promise<ClockOffset> {
  let best: ClockOffset | null = null;
  for (let i = 0; i < SAMPLES; i++) {
    const nowMs = exchangeClock();
    const sent = nowMs();
    // Unqualified on purpose: the database's clock as every client of it sees it.
    const { rows } = await db.query<{ ms: number }>('SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS ms');
    const received = nowMs();
    const sample = { offsetMs: rows[0]!.ms - (sent + received) / 2, rttMs: received - sent };
    if (!best || sample.rttMs < best.rttMs) best = sample;
  }
  return best!;
}

const NTP_EPOCH_OFFSET_S = 2_208_988_800; // 1900-01-01 to 1970-01-01

function readNtpTime(buf: Buffer, at: number): number {
  return (buf.readUInt32BE(at) - NTP_EPOCH_OFFSET_S) * 1000 + (buf.readUInt32BE(at + 4) / 2 ** 32) * 1000;
}

/** One SNTP exchange with `server` (host:port): the server's clock against ours. */
export async function ntpOffset(server: string, signal: AbortSignal, timeoutMs = 2000): Promise<ClockOffset & { stratum: number }> {
  const [host, port] = [server.slice(0, server.lastIndexOf(':')), Number(server.slice(server.lastIndexOf(':') + 1))];
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from NTP server ${server} within ${timeoutMs} ms`)), timeoutMs);
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      const request = Buffer.alloc(48);
      request[0] = 0x23; // leap 0, version 4, mode 3 (client)
      const nowMs = exchangeClock();
      let sent = 0;
      socket.on('error', reject);
      socket.on('message', (msg) => {
        const received = nowMs();
        clearTimeout(timer);
        if (msg.length < 48) return reject(new Error(`NTP server ${server} sent ${msg.length} bytes, not a 48-byte packet`));
        const stratum = msg[1]!;
        if (stratum === 0) return reject(new Error(`NTP server ${server} is not synchronised (stratum 0, kiss-o'-death)`));
        const serverReceived = readNtpTime(msg, 32);
        const serverSent = readNtpTime(msg, 40);
        resolve({
          offsetMs: ((serverReceived - sent) + (serverSent - received)) / 2,
          rttMs: (received - sent) - (serverSent - serverReceived),
          stratum,
        });
      });
      sent = nowMs();
      socket.send(request, port, host);
    });
  } finally {
    socket.close();
  }
}

/** SAMPLES SNTP exchanges, the shortest round trip winning: a busy event loop reads an answer late, which skews the offset by half the delay and lengthens the round trip by all of it. */
export async function bestNtpOffset(server: string, signal: AbortSignal): Promise<ClockOffset & { stratum: number }> {
  let best: (ClockOffset & { stratum: number }) | null = null;
  let lastError: Error | null = null;
  for (let i = 0; i < SAMPLES; i++) {
    try {
      const sample = await ntpOffset(server, signal);
      if (!best || sample.rttMs < best.rttMs) best = sample;
    } catch (err) {
      signal.throwIfAborted();
      lastError = err as Error;
    }
  }
  if (!best) throw lastError!;
  return best;
}

/** An offset is known to ± half its round trip: past the limit even so is beyond it; a round trip too long to tell is unsure. */
export function judgeOffset(o: ClockOffset, limitMs: number): 'within' | 'beyond' | 'unsure' {
  if (Math.abs(o.offsetMs) - o.rttMs / 2 > limitMs) return 'beyond';
  if (o.rttMs / 2 > limitMs) return 'unsure';
  return Math.abs(o.offsetMs) > limitMs ? 'beyond' : 'within';
}

/** What an NTP reading says against the limit: `beyond` in the caller's words. */
export function ntpProblems(n: ClockOffset, server: string, limitMs: number, beyond: string): string[] {
  const judged = judgeOffset(n, limitMs);
  if (judged === 'beyond') return [beyond];
  if (judged === 'unsure') return [`NTP drift not measured: the best of ${SAMPLES} exchanges with ${server} took ${n.rttMs.toFixed(0)} ms, too long to tell ${limitMs} ms`];
  return [];
}

export interface DriftReading {
  lines: string[];
  problems: string[];
}

/** Worker ↔ database within maxClockDriftMs; worker ↔ NTP within maxNtpDriftMs (when the plan names a server). */
export async function readDrift(env: CheckEnv, db: Client): Promise<DriftReading> {
  const problems: string[] = [];
  const maxDb = limit(env, 'maxClockDriftMs');
  const maxNtp = limit(env, 'maxNtpDriftMs');
  const d = await databaseOffset(db);
  const lines = [
    `worker clock (UTC): ${new Date().toISOString()}`,
    `database - worker: ${ms(d.offsetMs)} (round trip ${ms(d.rttMs)}, so ± ${ms(d.rttMs / 2)}; best of ${SAMPLES}); limit ${maxDb} ms`,
  ];
  const dbJudged = judgeOffset(d, maxDb);
  if (dbJudged === 'beyond') problems.push(`the database clock is ${d.offsetMs > 0 ? 'ahead of' : 'behind'} the worker's by ${Math.abs(d.offsetMs).toFixed(0)} ms (limit ${maxDb} ms)`);
  if (dbJudged === 'unsure') problems.push(`database drift not measured: the best of ${SAMPLES} round trips took ${d.rttMs.toFixed(0)} ms, too long to tell ${maxDb} ms`);
  const server = targetOf(env).ntpServer;
  if (!server) {
    lines.push('NTP: no server in the plan (target.ntpServer)');
    problems.push('NTP drift not measured: the plan names no NTP server (target.ntpServer)');
  } else {
    try {
      const n = await bestNtpOffset(server, env.signal);
      lines.push(`NTP ${server} (stratum ${n.stratum}) - worker: ${ms(n.offsetMs)} (round trip ${ms(n.rttMs)}, so ± ${ms(n.rttMs / 2)}; best of ${SAMPLES}); limit ${maxNtp} ms`);
      problems.push(...ntpProblems(n, server, maxNtp, `the worker's clock is ${Math.abs(n.offsetMs).toFixed(0)} ms off NTP ${server} (limit ${maxNtp} ms)`));
    } catch (err) {
      lines.push(`NTP ${server}: ${(err as Error).message}`);
      problems.push(`NTP drift not measured: ${(err as Error).message}`);
    }
  }
  return { lines, problems };
}

export const timeDrift = targetCheck(async (env) => {
  const { lines, problems } = await withDatabase(env, (db) => readDrift(env, db));
  const v = verdict(`Time drift of ${env.release} (run ${env.runId})`, lines, problems, 'worker, database and NTP agree within the limits');
  return { status: v.status, summary: v.summary, files: { [`time_drift_${env.version}.txt`]: v.text } };
});
