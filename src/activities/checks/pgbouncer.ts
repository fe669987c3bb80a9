// pgBouncer through its admin console: pool saturation (preflight 3), pool mode
// and the LISTEN/NOTIFY pool (blind spot 3), connection leaks (red team 7,
// corner case 5: sv_active/sv_total above the limit, persistently).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'pg';
import { limit, pgbouncerPool, sectionCheck, targetCheck, verdict, withDatabase, withPgBouncerAdmin } from './target-access';
import type { CheckEnv } from './types';

type Row = Record<string, string | number | null>;

const SAMPLES = 5;
const SAMPLE_GAP_MS = 200;

async function show(admin: Client, what: 'POOLS' | 'DATABASES' | 'CONFIG'): Promise<Row[]> {
  return (await admin.query<Row>(`SHOW ${what}`)).rows;
}

const num = (row: Row | undefined, column: string) => Number(row?.[column] ?? 0);
const serverTotal = (pool: Row | undefined) => ['sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login'].reduce((sum, c) => sum + num(pool, c), 0);

export interface PoolSamples {
  pool: string;
  /** sv_active / sv_total per sample (0 with no server connection). */
  ratios: number[];
  waiting: number[];
  last: Row[];
}

/** SHOW POOLS a few times: a leak holds its connections, a busy moment does not. */
export async function samplePool(env: CheckEnv, admin: Client): Promise<PoolSamples> {
  const pool = pgbouncerPool(env);
  const ratios: number[] = [];
  const waiting: number[] = [];
  let last: Row[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await sleep(SAMPLE_GAP_MS, undefined, { signal: env.signal });
    last = await show(admin, 'POOLS');
    const rows = last.filter((r) => r.database === pool);
    const total = rows.reduce((sum, r) => sum + serverTotal(r), 0);
    ratios.push(total === 0 ? 0 : rows.reduce((sum, r) => sum + num(r, 'sv_active'), 0) / total);
    waiting.push(rows.reduce((sum, r) => sum + num(r, 'cl_waiting'), 0));
  }
  return { pool, ratios, waiting, last };
}

/** The leak rule: every sample above the limit (corner case 5). */
function leakProblems(s: PoolSamples, max: number): string[] {
  const problems: string[] = [];
  if (s.ratios.every((r) => r > max)) {
    problems.push(`pool ${s.pool}: sv_active/sv_total stayed above ${max} in all ${SAMPLES} samples (${s.ratios.map((r) => r.toFixed(2)).join(', ')}): a connection leak`);
  }
  if (s.waiting.every((w) => w > 0)) problems.push(`pool ${s.pool}: clients kept waiting for a server connection (${s.waiting.join(', ')})`);
  return problems;
}

const describeSamples = (s: PoolSamples) => `pool ${s.pool}: sv_active/sv_total per sample ${s.ratios.map((r) => r.toFixed(2)).join(', ')}; cl_waiting ${s.waiting.join(', ')}`;

export const pgbouncerSaturation = targetCheck(async (env) => {
  const max = limit(env, 'maxPoolSaturation');
  const s = await withPgBouncerAdmin(env, (admin) => samplePool(env, admin));
  if (!s.last.some((r) => r.database === s.pool)) {
    return { status: 'fail', summary: `pgBouncer has no pool for database ${s.pool} (target.pgbouncerPool)`, files: {} };
  }
  const columns = Object.keys(s.last[0] ?? {});
  const tsv = [columns.join('\t'), ...s.last.map((r) => columns.map((c) => String(r[c] ?? '')).join('\t'))];
  const problems = leakProblems(s, max);
  tsv.push(`# ${describeSamples(s)}; limit ${max}`, `# result: ${problems.length ? `FAIL: ${problems.join('; ')}` : 'PASS'}`);
  return {
    status: problems.length ? 'fail' : 'pass',
    summary: problems.length ? problems.join('; ') : `pool ${s.pool}: highest sv_active/sv_total ${Math.max(...s.ratios).toFixed(2)} (limit ${max}), nobody waiting`,
    files: { [`pgbouncer_pools_${env.version}.tsv`]: `${tsv.join('\n')}\n` },
  };
});

/** Sessions of the target database in a transaction or query for longer than the limit. */
async function longRunning(env: CheckEnv, db: Client): Promise<{ line: string; problems: string[] }> {
  const maxSeconds = limit(env, 'maxLongQuerySeconds');
  const { rows } = await db.query<{ pid: number; state: string; seconds: number; query: string }>(
    `SELECT pid, state, extract(epoch FROM now() - coalesce(xact_start, query_start))::float8 AS seconds, left(query, 80) AS query
     FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
       AND now() - coalesce(xact_start, query_start) > $1 * interval '1 second'
     ORDER BY seconds DESC`, [maxSeconds]);
  const line = `sessions in a query or transaction for more than ${maxSeconds}s: ${rows.length}${rows.length ? ` (${rows.slice(0, 3).map((r) => `pid ${r.pid} ${r.state} ${r.seconds.toFixed(0)}s: ${r.query}`).join('; ')})` : ''}`;
  const idle = rows.filter((r) => r.state.startsWith('idle in transaction')).length;
  const problems = rows.length
    ? [`${rows.length} sessions held a query or transaction open longer than ${maxSeconds}s${idle ? ` (${idle} idle in transaction: connections taken and never given back)` : ''}`]
    : [];
  return { line, problems };
}

/** Blind spot 3: transaction mode, no long-running queries, LISTEN/NOTIFY on a pool of its own. */
export const blindPgbouncerMode = sectionCheck((v) => `blind_spots_scan_${v}.txt`, async (env) => {
  const pool = pgbouncerPool(env);
  const { databases, config } = await withPgBouncerAdmin(env, async (admin) => ({ databases: await show(admin, 'DATABASES'), config: await show(admin, 'CONFIG') }));
  const defaultMode = String(config.find((r) => r.key === 'pool_mode')?.value ?? 'session');
  const modeOf = (r: Row) => String(r.pool_mode || defaultMode);
  const app = databases.find((r) => r.name === pool);
  const problems: string[] = [];
  const lines = [`default pool_mode: ${defaultMode}`, ...databases.map((r) => `pool ${r.name} -> database ${r.database}: ${modeOf(r)}, pool_size ${r.pool_size}`)];
  if (!app) {
    problems.push(`pgBouncer has no pool for database ${pool} (target.pgbouncerPool)`);
  } else {
    if (modeOf(app) !== 'transaction') problems.push(`pool ${pool} runs in ${modeOf(app)} mode, not transaction: every client holds a server connection for its whole session`);
    const listen = databases.filter((r) => r !== app && r.database === app.database && r.host === app.host && modeOf(r) === 'session');
    lines.push(`LISTEN/NOTIFY pool: ${listen.map((r) => r.name).join(', ') || 'none'}`);
    if (listen.length === 0) problems.push(`no session-mode pool for LISTEN/NOTIFY on database ${app.database}: listeners would lose notifications in transaction mode`);
  }
  const long = await withDatabase(env, (db) => longRunning(env, db));
  lines.push(long.line);
  return verdict('Blind spot 3: pgBouncer mode', lines, [...problems, ...long.problems], `pool ${pool} in transaction mode, LISTEN/NOTIFY pool present, no long-running queries`);
});

/** Red team 7: leaked connections, seen from both sides (pgBouncer's pool, PostgreSQL's sessions). */
export const rtPgbouncerLeak = sectionCheck((v) => `redteam_${v}.txt`, async (env) => {
  const max = limit(env, 'maxPoolSaturation');
  const s = await withPgBouncerAdmin(env, (admin) => samplePool(env, admin));
  const long = await withDatabase(env, (db) => longRunning(env, db));
  return verdict('Red team 7: pgBouncer leak detection', [describeSamples(s), long.line], [...leakProblems(s, max), ...long.problems], 'no pool held persistently, no session left open');
});

/** Corner case 5: sv_active/sv_total above the limit is a connection leak. */
export const ccPgbouncerLeakRatio = sectionCheck((v) => `corner_cases_${v}.txt`, async (env) => {
  const max = limit(env, 'maxPoolSaturation');
  const s = await withPgBouncerAdmin(env, (admin) => samplePool(env, admin));
  return verdict('Corner case 5: pgBouncer sv_active/sv_total', [describeSamples(s), `limit ${max}`], leakProblems(s, max).slice(0, 1), `highest ratio ${Math.max(...s.ratios).toFixed(2)}`);
});
