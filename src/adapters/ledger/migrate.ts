// Applies deploy/postgres/migrations/NNN_name.sql in order, each once and in
// its own transaction, recorded in schema_migrations. A session advisory lock
// makes concurrent runners (several workers starting together) take turns.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from 'pg';
import { projectRoot } from '../../config';
import { sha256Hex } from './chain';

export const migrationsDir = path.join(projectRoot, 'deploy', 'postgres', 'migrations');

/** Arbitrary, fixed: the bigint advisory-lock key every migration runner agrees on. */
const MIGRATION_LOCK_KEY = '7305912611802100001';
const MIGRATION_NAME = /^\d{3}_[a-z0-9_]+\.sql$/;

/** Applies the pending migrations; returns the names applied by this call. */
export async function migrate(pool: Pool, dir: string = migrationsDir): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const misnamed = names.find((name) => !MIGRATION_NAME.test(name));
  if (misnamed) throw new Error(`migration ${path.join(dir, misnamed)} must be named NNN_lower_snake.sql`);

  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      sha256 text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ name: string; sha256: string }>('SELECT name, sha256 FROM schema_migrations');
    const appliedSha = new Map(rows.map((row) => [row.name, row.sha256]));
    const applied: string[] = [];
    for (const name of names) {
      const sql = await readFile(path.join(dir, name), 'utf8');
      const sha256 = sha256Hex(sql);
      const previous = appliedSha.get(name);
      if (previous !== undefined) {
        if (previous !== sha256) {
          throw new Error(`migration ${name} changed after it was applied (sha256 ${previous} -> ${sha256}); add a new migration instead`);
        }
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)', [name, sha256]);
        await client.query('COMMIT');
      } catch (error) {
        // The session is discarded below either way: keep the migration's own error.
        await client.query('ROLLBACK').catch(() => undefined);
        throw new Error(`migration ${name} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(name);
    }
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    return applied;
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    // A failed session may still hold the lock or a transaction: discard it rather than pool it.
    client.release(broken);
  }
}
