// Schema migrations of the demo target's database, in Prisma's layout and with
// Prisma's bookkeeping (`_prisma_migrations`, sha256 checksums), so the
// preflight's migration check reads what `prisma migrate status` would.
// `--broken` rebuilds the broken variant used by the checks' negative tests.
//
//   tsx demo/migrate.ts --database-url postgres://... [--broken]
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { projectRoot } from '../src/config';
import { readMigrations, type Migration } from '../src/activities/checks/prisma';
import { runCli } from './cli-args';
import { InputError } from './http-json';

export const MIGRATIONS_DIR = path.join(projectRoot, 'deploy', 'demo-postgres', 'migrations');
const BROKEN_SQL = path.join(projectRoot, 'deploy', 'demo-postgres', 'broken.sql');
/** The lock id Prisma takes while migrating. */
const MIGRATE_LOCK = 72707369;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

/** Applies the migrations not yet recorded, each in its own transaction; returns their names. */
export async function migrate(client: Client, migrations: Migration[] = readMigrations(MIGRATIONS_DIR)): Promise<string[]> {
  await client.query(CREATE_TABLE);
  const applied: string[] = [];
  for (const m of migrations) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
      const done = await client.query('SELECT 1 FROM _prisma_migrations WHERE migration_name = $1 AND finished_at IS NOT NULL', [m.name]);
      if (done.rowCount === 0) {
        await client.query(m.sql);
        await client.query(
          `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count)
           VALUES ($1, $2, clock_timestamp(), $3, 1)`,
          [randomUUID(), m.checksum, m.name],
        );
        applied.push(m.name);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
    }
  }
  return applied;
}

/**
 * Rebuilds the broken variant from scratch: every migration but the last (so one is
 * pending and the partial unique index is missing), then deploy/demo-postgres/broken.sql.
 * Needs a direct connection (not through pgBouncer): it changes database settings.
 */
export async function rebuildBrokenDatabase(client: Client): Promise<void> {
  await client.query(`SELECT pg_catalog.set_config('search_path', 'public', false)`);
  await client.query('DROP SCHEMA IF EXISTS public CASCADE; DROP SCHEMA IF EXISTS clock_skew CASCADE; CREATE SCHEMA public');
  const db = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
  await client.query(`ALTER DATABASE "${db.replaceAll('"', '""')}" RESET search_path`);
  await migrate(client, readMigrations(MIGRATIONS_DIR).slice(0, -1));
  await client.query(fs.readFileSync(BROKEN_SQL, 'utf8'));
  await client.query('ANALYZE');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'database-url': { type: 'string' }, broken: { type: 'boolean', default: false } },
  });
  const url = values['database-url'];
  if (!url) throw new InputError('--database-url', 'is required, e.g. postgres://spark:spark@127.0.0.1:55432/spark_demo');
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    if (values.broken) {
      await rebuildBrokenDatabase(client);
      console.log('broken variant rebuilt');
    } else {
      const applied = await migrate(client);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database schema is up to date');
    }
  } finally {
    await client.end();
  }
}

if (require.main === module) runCli(main);
