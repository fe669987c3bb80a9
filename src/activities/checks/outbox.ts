// The transactional outbox: lag of the oldest undelivered event (red team 3),
// delivery p99 (corner case 3: above 10 s the publisher's backoff is wrong) and
// the clock skew between the application that writes events and the database
// that stamps them (red team 13).
import type { Client } from 'pg';
import { databaseOffset, judgeOffset } from './clock';
import { limit, ms, sectionCheck, targetCheck, verdict, withDatabase } from './target-access';
import type { CheckEnv } from './types';

/** Recent deliveries the percentiles are taken over. */
const RECENT_EVENTS = 1000;
/** An undelivered event tried this often is stuck, whatever its age. */
const STUCK_ATTEMPTS = 5;

export const rtOutboxLag = sectionCheck((v) => `redteam_${v}.txt`, (env) =>
  withDatabase(env, async (db) => {
    const maxLag = limit(env, 'maxOutboxLagSeconds');
    const { rows } = await db.query<{ pending: number; lag: number | null; stuck: number; retried: number }>(`
      SELECT count(*)::int AS pending,
             extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS lag,
             count(*) FILTER (WHERE attempts >= $1)::int AS stuck,
             count(*) FILTER (WHERE attempts > 0)::int AS retried
      FROM outbox WHERE published_at IS NULL`, [STUCK_ATTEMPTS]);
    const r = rows[0]!;
    const lag = r.lag ?? 0;
    const problems: string[] = [];
    if (lag > maxLag) problems.push(`the oldest undelivered outbox event is ${lag.toFixed(0)} s old (limit ${maxLag} s): the publisher is stalled or backing off too far`);
    if (r.stuck > 0) problems.push(`${r.stuck} undelivered events were tried ${STUCK_ATTEMPTS}+ times`);
    return verdict('Red team 3: outbox lag', [`undelivered: ${r.pending} (retried ${r.retried}, stuck ${r.stuck}); oldest ${lag.toFixed(1)} s; limit ${maxLag} s`], problems, `${r.pending} undelivered, oldest ${lag.toFixed(1)} s`);
  }));

export const ccOutboxP99 = sectionCheck((v) => `corner_cases_${v}.txt`, (env) =>
  withDatabase(env, async (db) => {
    const maxP99 = limit(env, 'maxOutboxP99Seconds');
    const { rows } = await db.query<{ n: number; p50: number | null; p99: number | null }>(`
      SELECT count(*)::int AS n,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::float8 AS p50,
             percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::float8 AS p99
      FROM (SELECT extract(epoch FROM published_at - created_at) AS d FROM outbox
            WHERE published_at IS NOT NULL ORDER BY published_at DESC LIMIT ${RECENT_EVENTS}) recent`);
    const r = rows[0]!;
    const problems = r.p99 !== null && r.p99 > maxP99 ? [`outbox delivery p99 is ${r.p99.toFixed(1)} s (limit ${maxP99} s): the publisher's backoff is wrong`] : [];
    const seen = r.n ? `over the last ${r.n} deliveries: p50 ${r.p50!.toFixed(2)} s, p99 ${r.p99!.toFixed(2)} s` : 'no delivered events yet: nothing exceeded';
    return verdict('Corner case 3: outbox delivery p99', [`${seen}; limit ${maxP99} s`], problems, seen);
  }));

async function skew(env: CheckEnv, db: Client) {
  const { rows } = await db.query<{ n: number; median_ms: number | null; max_ms: number | null }>(`
    SELECT count(*)::int AS n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::float8 AS median_ms,
           max(abs(s))::float8 AS max_ms
    FROM (SELECT extract(epoch FROM created_at - occurred_at) * 1000 AS s FROM outbox ORDER BY id DESC LIMIT ${RECENT_EVENTS}) recent`);
  return { events: rows[0]!, worker: await databaseOffset(db), max: limit(env, 'maxClockDriftMs') };
}

export const rtOutboxClockSkew = targetCheck(async (env) => {
  const { events, worker, max } = await withDatabase(env, (db) => skew(env, db));
  const problems: string[] = [];
  if (events.median_ms !== null && Math.abs(events.median_ms) > max) {
    problems.push(`outbox events are stamped by the database ${(events.median_ms / 1000).toFixed(1)} s ${events.median_ms > 0 ? 'after' : 'before'} the application says they happened (median; limit ${max} ms): the clocks disagree`);
  }
  const judged = judgeOffset(worker, max);
  if (judged === 'beyond') problems.push(`the database clock is ${worker.offsetMs.toFixed(0)} ms off the worker's (limit ${max} ms)`);
  if (judged === 'unsure') problems.push(`the database clock's offset is not measured: its best round trip took ${worker.rttMs.toFixed(0)} ms, too long to tell ${max} ms`);
  const v = verdict(`Red team 13: outbox clock skew of ${env.release} (run ${env.runId})`, [
    events.n ? `created_at (database) - occurred_at (application) over the last ${events.n} events: median ${ms(events.median_ms!)}, largest ${ms(events.max_ms!)}` : 'no outbox events yet',
    `database - worker: ${ms(worker.offsetMs)} (round trip ${ms(worker.rttMs)})`,
    `limit: ${max} ms`,
  ], problems, `application, database and worker clocks within ${max} ms`);
  return { status: v.status, summary: v.summary, files: { 'outbox_clock_skew_test.txt': v.text } };
});
