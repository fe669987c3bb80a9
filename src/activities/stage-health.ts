// The per-stage database evidence the run-of-show owes: db_health_stage_<pct>.txt and
// pgbouncer_stage_<pct>.txt, read from the target's PostgreSQL and pgBouncer when the canary
// enters a stage. A reading that fails is written as failed: the file is owed either way,
// and a database problem never holds up the stage.
import type { Client } from 'pg';
import type { EvidenceLedger } from '../adapters/ledger/ledger';
import type { TargetContext } from '../plan/target';
import { withDatabase, withPgBouncerAdmin, pgbouncerPool } from './checks/target-access';
import type { CheckEnv } from './checks/types';
import type { CheckContext, ReleaseRef } from './types';

export interface StageHealthRequest extends ReleaseRef {
  percent: number;
  stage: number;
  target?: TargetContext;
  timeoutMs: number;
}

type Row = Record<string, unknown>;

const table = (rows: Row[]) => rows.map((r) => Object.entries(r).map(([k, v]) => `${k}=${v === null ? '-' : String(v)}`).join(' ')).join('\n');

async function databaseReading(db: Client): Promise<string> {
  const stats = await db.query(
    `SELECT current_database() AS database, numbackends AS connections, xact_commit AS commits, xact_rollback AS rollbacks,
            deadlocks, conflicts, pg_size_pretty(pg_database_size(current_database())) AS size
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  const states = await db.query(
    `SELECT coalesce(state, 'background') AS state, count(*)::int AS connections
       FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1 ORDER BY 1`,
  );
  const waits = await db.query(
    `SELECT count(*)::int AS waiting_on_locks FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
  );
  return [table(stats.rows), '', 'connections by state:', table(states.rows), '', table(waits.rows)].join('\n');
}

async function pgbouncerReading(admin: Client, pool: string): Promise<string> {
  const pools = (await admin.query('SHOW POOLS')).rows.filter((r: Row) => r.database === pool);
  const stats = (await admin.query('SHOW STATS')).rows.filter((r: Row) => r.database === pool);
  return [`pool ${pool}:`, table(pools), '', 'stats:', table(stats)].join('\n');
}

export function createStageHealthActivities(deps: { ledger: EvidenceLedger }) {
  return {
    async recordStageHealth(req: StageHealthRequest): Promise<string[]> {
      const signal = AbortSignal.timeout(req.timeoutMs);
      const env = { ...req, context: { target: req.target } as CheckContext, signal } as unknown as CheckEnv;
      const read = async (what: () => Promise<string>) => {
        if (!req.target) return 'not measured: the plan has no target section naming the database and pgBouncer';
        try {
          return await what();
        } catch (err) {
          return `reading failed: ${(err as Error).message}`;
        }
      };
      const heading = (what: string) => `${what} of ${req.release} (run ${req.runId}) at stage ${req.stage} (${req.percent}%), ${new Date().toISOString()}`;
      const [db, bouncer] = await Promise.all([
        read(() => withDatabase(env, databaseReading)),
        read(() => withPgBouncerAdmin(env, (admin) => pgbouncerReading(admin, pgbouncerPool(env)))),
      ]);
      const files = [`db_health_stage_${req.percent}.txt`, `pgbouncer_stage_${req.percent}.txt`];
      await deps.ledger.appendMany([
        { release: req.release, runId: req.runId, key: `stage/${req.stage}/db-health`, file: files[0]!, kind: 'measurement', mode: 'replace', body: `${heading('database health')}\n\n${db}\n` },
        { release: req.release, runId: req.runId, key: `stage/${req.stage}/pgbouncer`, file: files[1]!, kind: 'measurement', mode: 'replace', body: `${heading('pgBouncer pools')}\n\n${bouncer}\n` },
      ]);
      return files;
    },
  };
}
