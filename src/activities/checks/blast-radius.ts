// Micro blast radius (T-9): a bounded probe of the canary before it takes
// traffic. The API is probed at the plan's rate for the plan's duration (at
// least minSamples requests); the WebSocket by opening connections at the same
// rate (handshake and first tick) while one connection stays open for pushed
// ticks. Latency percentiles and errors go to micro_api/micro_ws and a summary
// section to micro_blast_<v>.log (PromQL sanity is micro-prom's).
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { limit, ms, percentile, probe, PROBE_HEADERS, targetCheck, targetOf, verdict } from './target-access';
import type { CheckEnv } from './types';

/** Runs `sample` at the plan's rate until the duration has passed and minSamples are taken. */
async function paced(env: CheckEnv, sample: () => Promise<void>): Promise<{ count: number; wallMs: number }> {
  const { duration, requestsPerSecond, minSamples } = targetOf(env).blastRadius;
  const gapMs = 1000 / requestsPerSecond;
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < duration || count < minSamples) {
    const at = performance.now();
    await sample();
    count += 1;
    const rest = gapMs - (performance.now() - at);
    if (rest > 0) await sleep(rest, undefined, { signal: env.signal });
  }
  return { count, wallMs: performance.now() - started };
}

const stats = (values: number[]) => `p50 ${ms(percentile(values, 50))}, p95 ${ms(percentile(values, 95))}, p99 ${ms(percentile(values, 99))}, max ${ms(Math.max(...values))}`;

export const microApi = targetCheck(async (env) => {
  const maxP95 = limit(env, 'microApiP95Ms');
  const maxErrors = limit(env, 'microMaxErrorRatio');
  const url = new URL('/api/quote', targetOf(env).canaryUrl).href;
  const log: string[] = ['at\tstatus\tms'];
  const latencies: number[] = [];
  let errors = 0;
  const run = await paced(env, async () => {
    const at = new Date().toISOString();
    try {
      const answer = await probe(env, url);
      latencies.push(answer.ms);
      if (answer.status >= 500) errors += 1;
      log.push(`${at}\t${answer.status}\t${answer.ms.toFixed(1)}`);
    } catch (err) {
      if (env.signal.aborted) throw err;
      errors += 1;
      log.push(`${at}\terror\t${(err as Error).message}`);
    }
  });
  const p95 = percentile(latencies, 95);
  const errorRatio = errors / run.count;
  const problems: string[] = [];
  if (p95 > maxP95) problems.push(`canary API p95 ${p95.toFixed(0)} ms is above ${maxP95} ms`);
  if (errorRatio > maxErrors) problems.push(`${errors} of ${run.count} probe requests failed (limit ${(maxErrors * 100).toFixed(1)}%)`);
  const summary = `GET ${url} x ${run.count} in ${ms(run.wallMs)}: ${stats(latencies)}; errors ${errors}`;
  const v = verdict(`Micro blast radius, API of ${env.release} (run ${env.runId})`, [summary, `limits: p95 ${maxP95} ms, errors ${maxErrors * 100}%`], problems, `API p95 ${p95.toFixed(0)} ms over ${run.count} requests, ${errors} errors`);
  return { status: v.status, summary: v.summary, files: { [`micro_api_${env.version}.log`]: `${log.join('\n')}\n\n${v.text}`, [`micro_blast_${env.version}.log`]: v.text } };
});

interface Tick {
  quotes?: { at?: string }[];
}

/** Age of a tick message when it arrived: now minus its newest quote's time. */
function tickAgeMs(data: WebSocket.RawData): number {
  const tick = JSON.parse(data.toString()) as Tick;
  const newest = Math.max(...(tick.quotes ?? []).map((q) => Date.parse(q.at ?? '')));
  return Date.now() - newest;
}

/** One connection: time to open (handshake) and to its first message, and that message's age; no message within `firstWithinMs` of opening is a stale feed. */
export function openSocket(url: string, signal: AbortSignal, firstWithinMs: number): Promise<{ openMs: number; firstMessageMs: number; ageMs: number; first: string; socket: WebSocket }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = new WebSocket(url, { headers: PROBE_HEADERS, handshakeTimeout: 5000 });
    let openMs = NaN;
    let answered = false;
    let silent: NodeJS.Timeout | undefined;
    const fail = (err: Error) => {
      clearTimeout(silent);
      signal.removeEventListener('abort', abort);
      socket.terminate();
      reject(err);
    };
    const abort = () => fail(new Error('aborted'));
    signal.addEventListener('abort', abort, { once: true });
    socket.once('open', () => {
      openMs = performance.now() - started;
      // Judged after the loop's I/O phase: a late event loop runs this timer before reading a tick already received.
      silent = setTimeout(() => setImmediate(() => {
        if (!answered) fail(new StaleFeedError(`no tick within ${(firstWithinMs / 1000).toFixed(1)} s of connecting`));
      }), firstWithinMs);
    });
    socket.once('message', (data) => {
      answered = true;
      clearTimeout(silent);
      signal.removeEventListener('abort', abort);
      try {
        resolve({ openMs, firstMessageMs: performance.now() - started, ageMs: tickAgeMs(data), first: data.toString(), socket });
      } catch (err) {
        fail(new Error(`the first message is not a tick: ${(err as Error).message}`));
      }
    });
    socket.on('error', fail);
    socket.once('close', () => fail(new Error('closed before its first message')));
  });
}

/** The feed sent nothing in time: the check's finding, not its failure to run. */
export class StaleFeedError extends Error {}

export const microWs = targetCheck(async (env) => {
  const maxP95 = limit(env, 'microWsP95Ms');
  const maxAge = limit(env, 'microWsMaxTickAgeMs');
  const url = new URL('/ws', targetOf(env).canaryUrl.replace(/^http/, 'ws')).href;
  const log: string[] = ['at\topen_ms\tfirst_message_ms\ttick_age_ms'];
  const handshakes: number[] = [];
  const ages: number[] = [];
  let errors = 0;
  // One connection stays open for the whole probe: the ticks it is pushed, and how old they arrive.
  let held: Awaited<ReturnType<typeof openSocket>>;
  try {
    held = await openSocket(url, env.signal, maxAge);
  } catch (err) {
    if (!(err instanceof StaleFeedError)) throw err;
    const v = verdict(`Micro blast radius, WebSocket of ${env.release} (run ${env.runId})`, [`${url}: ${err.message}`], [`${err.message} (limit ${maxAge} ms): the feed is stale`], '');
    return { status: v.status, summary: v.summary, files: { [`micro_ws_${env.version}.log`]: v.text, [`micro_blast_${env.version}.log`]: v.text } };
  }
  const pushed: number[] = [];
  held.socket.on('message', (data) => {
    try {
      pushed.push(tickAgeMs(data));
    } catch {
      errors += 1; // not a tick: counted as a failure of the feed
    }
  });
  const run = await paced(env, async () => {
    const at = new Date().toISOString();
    try {
      const s = await openSocket(url, env.signal, maxAge);
      s.socket.terminate();
      handshakes.push(s.openMs);
      ages.push(s.ageMs);
      log.push(`${at}\t${s.openMs.toFixed(1)}\t${s.firstMessageMs.toFixed(1)}\t${s.ageMs.toFixed(0)}`);
    } catch (err) {
      if (env.signal.aborted) throw err;
      errors += 1;
      log.push(`${at}\terror\t${(err as Error).message}`);
    }
  });
  held.socket.terminate();
  const p95 = percentile(handshakes, 95);
  const oldest = Math.max(held.ageMs, ...ages, ...pushed);
  const problems: string[] = [];
  if (p95 > maxP95) problems.push(`canary WebSocket handshake p95 ${p95.toFixed(0)} ms is above ${maxP95} ms`);
  if (oldest > maxAge) problems.push(`ticks arrive up to ${(oldest / 1000).toFixed(1)} s old (limit ${maxAge} ms): the feed is stale`);
  if (errors) problems.push(`${errors} of ${run.count} WebSocket connections failed`);
  const lines = [
    `${url}: ${run.count} connections in ${ms(run.wallMs)}; handshake ${stats(handshakes)}; errors ${errors}`,
    `tick age on connect: ${stats(ages)}; ${pushed.length} ticks pushed to the held connection, oldest ${ms(Math.max(0, ...pushed))}`,
    `limits: handshake p95 ${maxP95} ms, tick age ${maxAge} ms`,
  ];
  const v = verdict(`Micro blast radius, WebSocket of ${env.release} (run ${env.runId})`, lines, problems, `handshake p95 ${p95.toFixed(0)} ms over ${run.count} connections, ticks at most ${oldest.toFixed(0)} ms old`);
  return { status: v.status, summary: v.summary, files: { [`micro_ws_${env.version}.log`]: `${log.join('\n')}\n\n${v.text}`, [`micro_blast_${env.version}.log`]: v.text } };
});
