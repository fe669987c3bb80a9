// Prisma migration status (preflight 4, blind spot 2): the release's migrations
// directory against the database's _prisma_migrations, as `prisma migrate
// status` reads them: pending, failed, modified after applying, unknown.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from 'pg';
import { projectRoot } from '../../config';
import { targetCheck, targetOf, TargetSettingError, verdict, withDatabase } from './target-access';
import type { CheckEnv } from './types';

export interface Migration {
  name: string;
  sql: string;
  /** sha256 of migration.sql, as Prisma records it. */
  checksum: string;
}

/** The migrations of a Prisma migrations directory (one folder each), oldest first. */
export function readMigrations(dir: string): Migration[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

export interface MigrationStatus {
  lines: string[];
  problems: string[];
}

export async function migrationStatus(env: CheckEnv, db: Client): Promise<MigrationStatus> {
  const dir = targetOf(env).migrations;
  let local: Migration[];
  try {
    local = readMigrations(path.resolve(projectRoot, dir));
  } catch (err) {
    throw new TargetSettingError(`target.migrations: cannot read ${dir}: ${(err as Error).message}`);
  }
  const lines = [`${local.length} migrations found in ${dir}`];
  const table = await db.query(`SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present`);
  if (!table.rows[0].present) {
    return { lines: [...lines, 'no _prisma_migrations table'], problems: ['the database was never migrated (no _prisma_migrations table)'] };
  }
  const { rows } = await db.query<AppliedRow>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at');
  const applied = new Map(rows.filter((r) => r.finished_at && !r.rolled_back_at).map((r) => [r.migration_name, r]));
  const failed = rows.filter((r) => !r.finished_at && !r.rolled_back_at).map((r) => r.migration_name);
  const pending = local.filter((m) => !applied.has(m.name)).map((m) => m.name);
  const modified = local.filter((m) => applied.has(m.name) && applied.get(m.name)!.checksum !== m.checksum).map((m) => m.name);
  const localNames = new Set(local.map((m) => m.name));
  const unknown = [...applied.keys()].filter((name) => !localNames.has(name));
  for (const m of local) lines.push(`${applied.has(m.name) ? 'applied' : 'PENDING'}  ${m.name}  sha256 ${m.checksum.slice(0, 12)}`);
  const problems: string[] = [];
  if (pending.length) problems.push(`${pending.length} migration${pending.length > 1 ? 's have' : ' has'} not yet been applied: ${pending.join(', ')}`);
  if (failed.length) problems.push(`failed migrations (started, never finished): ${failed.join(', ')}`);
  if (modified.length) problems.push(`migrations changed after they were applied (checksum differs): ${modified.join(', ')}`);
  if (unknown.length) problems.push(`the database has migrations this release does not know: ${unknown.join(', ')}`);
  if (!problems.length) lines.push('Database schema is up to date!');
  return { lines, problems };
}

export const prismaMigrations = targetCheck(async (env) => {
  const { lines, problems } = await withDatabase(env, (db) => migrationStatus(env, db));
  const v = verdict(`Prisma migration status of ${env.release} (run ${env.runId})`, lines, problems, 'database schema is up to date');
  return { status: v.status, summary: v.summary, files: { [`prisma_status_${env.version}.txt`]: v.text } };
});

/** Blind spot 2: up to date, nothing pending, and no Prisma shadow database on the production server. */
export const blindPrismaMigrate = targetCheck(async (env) => {
  const v = await withDatabase(env, async (db) => {
    const { lines, problems } = await migrationStatus(env, db);
    const shadows = await db.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db%'`);
    lines.push(`shadow databases: ${shadows.rows.map((r) => r.datname).join(', ') || 'none'}`);
    if (shadows.rowCount) problems.push(`a Prisma shadow database exists on the production server: ${shadows.rows.map((r) => r.datname).join(', ')}`);
    return verdict('Blind spot 2: Prisma migrate', lines, problems, 'migrations up to date, no shadow database');
  });
  return { status: v.status, summary: v.summary, files: { [`blind_spots_scan_${env.version}.txt`]: v.text } };
});
