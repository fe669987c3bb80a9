// How the checks reach the released service: the plan's target section, the
// database and pgBouncer URLs from the worker's environment, HTTP probes
// marked as synthetic, and the limits they apply. A missing setting fails the
// check with a message that says what to set; it never passes unchecked.
import { Client } from 'pg';
import type { TargetContext } from '../../plan/target';
import type { Check, CheckEnv, CheckReport } from './types';

/** A setting the check needs is missing or wrong: the check fails with this message. */
export class TargetSettingError extends Error {}

/** Marks the checks' requests so the service keeps them out of its golden signals. */
export const PROBE_HEADERS = { 'x-spark-probe': 'spark-release' };

export function targetOf(env: CheckEnv): TargetContext {
  if (!env.context.target) throw new TargetSettingError('the plan has no target section (canaryUrl, databaseUrlEnv, ...): nothing to inspect');
  return env.context.target;
}

/** A number of the plan's checks.limits; missing is a setting error naming the field. */
export function limit(env: CheckEnv, name: string): number {
  const value = env.context.limits[name];
  if (value === undefined) throw new TargetSettingError(`checks.limits.${name} is not set in the plan`);
  return value;
}

function fromEnv(field: 'databaseUrlEnv' | 'pgbouncerAdminUrlEnv', env: CheckEnv): string {
  const name = targetOf(env)[field];
  const value = process.env[name];
  if (!value) throw new TargetSettingError(`target.${field} names ${name}, which is not set in the worker's environment`);
  return value;
}

/** The application's pgBouncer pool: the plan's, else the database URL's database name. */
export function pgbouncerPool(env: CheckEnv): string {
  return targetOf(env).pgbouncerPool ?? decodeURIComponent(new URL(fromEnv('databaseUrlEnv', env)).pathname.slice(1));
}

/** Connection attempts when connecting times out: a busy worker reads the answer after its own timer fires. */
const CONNECT_ATTEMPTS = 3;
const timedOut = (err: unknown) => /timeout/i.test((err as Error).message);

async function withClient<T>(connectionString: string, env: CheckEnv, use: (client: Client) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = new Client({ connectionString, connectionTimeoutMillis: 5000, application_name: 'spark-release-check' });
    // A timed-out check must not leave its connection behind.
    const abort = () => void client.end().catch(() => undefined);
    env.signal.addEventListener('abort', abort, { once: true });
    try {
      try {
        await client.connect();
      } catch (err) {
        if (attempt < CONNECT_ATTEMPTS && timedOut(err) && !env.signal.aborted) continue;
        throw err;
      }
      return await use(client);
    } finally {
      env.signal.removeEventListener('abort', abort);
      await client.end().catch(() => undefined);
    }
  }
}

/** A connection to the target database (a URL through pgBouncer in transaction mode works). */
export function withDatabase<T>(env: CheckEnv, use: (db: Client) => Promise<T>): Promise<T> {
  return withClient(fromEnv('databaseUrlEnv', env), env, use);
}

/** pgBouncer's admin console; it speaks the simple query protocol only (no parameters). */
export function withPgBouncerAdmin<T>(env: CheckEnv, use: (admin: Client) => Promise<T>): Promise<T> {
  return withClient(fromEnv('pgbouncerAdminUrlEnv', env), env, use);
}

export interface ProbeAnswer {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

/** One synthetic HTTP request to the target, timed. */
export async function probe(env: CheckEnv, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<ProbeAnswer> {
  const started = performance.now();
  const res = await fetch(url, { ...init, headers: { ...PROBE_HEADERS, ...init.headers }, signal: env.signal, redirect: 'manual' });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body, ms: performance.now() - started };
}

/** An evidence section: its heading, what was seen, and the verdict with every problem. */
export function verdict(heading: string, lines: string[], problems: string[], passSummary: string): { status: 'pass' | 'fail'; summary: string; text: string } {
  const failed = problems.length > 0;
  const result = failed ? `FAIL: ${problems.join('; ')}` : `PASS: ${passSummary}`;
  return {
    status: failed ? 'fail' : 'pass',
    summary: failed ? problems.join('; ') : passSummary,
    text: `${[`== ${heading}`, ...lines, `result: ${result}`].join('\n')}\n`,
  };
}

/** A check over the target: a missing setting is its failure, with the message that says what to set. */
export function targetCheck(run: (env: CheckEnv) => Promise<CheckReport>): Check {
  return async (env) => {
    try {
      return await run(env);
    } catch (err) {
      if (err instanceof TargetSettingError) return { status: 'fail', summary: err.message, files: {} };
      throw err;
    }
  };
}

/** A check whose whole evidence is one verdict section in `file` (shared files hold each check's section). */
export function sectionCheck(file: (version: string) => string, run: (env: CheckEnv) => Promise<ReturnType<typeof verdict>>): Check {
  return targetCheck(async (env) => {
    const v = await run(env);
    return { status: v.status, summary: v.summary, files: { [file(env.version)]: v.text } };
  });
}

/** p-th percentile (0..100) of values, nearest rank; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const ms = (n: number) => `${Number.isFinite(n) ? n.toFixed(1) : 'n/a'} ms`;
