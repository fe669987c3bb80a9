// The target database's health: sequences (preflight 6), bloat and autovacuum
// (preflight 10), time and sequences together (blind spot 1), and the part of
// the PITR cold-start proof a machine can check (red team 8: WAL archiving).
import type { Client } from 'pg';
import { readDrift } from './clock';
import { limit, sectionCheck, targetCheck, verdict, withDatabase } from './target-access';
import type { CheckEnv } from './types';

interface SequenceRow {
  sequence: string;
  last_value: string | null;
  max_value: string;
  owner: string | null;
  table_name: string | null;
  column_name: string | null;
}

/** Every sequence: how much of its range is used, and whether its table holds ids it has not handed out yet. */
export async function sequenceAnomalies(env: CheckEnv, db: Client): Promise<{ lines: string[]; problems: string[] }> {
  const maxUsage = limit(env, 'maxSequenceUsage');
  const { rows } = await db.query<SequenceRow>(`
    SELECT format('%I.%I', s.schemaname, s.sequencename) AS sequence, s.last_value::text, s.max_value::text,
           d.refobjid::regclass::text AS owner, d.refobjid::regclass::text AS table_name, a.attname AS column_name
    FROM pg_sequences s
    JOIN pg_class c ON c.relname = s.sequencename AND c.relnamespace = s.schemaname::regnamespace
    LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    ORDER BY 1`);
  const lines = ['sequence\tlast_value\tmax_value\tusage\towned_by\tmax_in_table'];
  const problems: string[] = [];
  for (const r of rows) {
    let last = BigInt(r.last_value ?? '0');
    const usage = Number(last) / Number(r.max_value);
    let maxInTable: bigint | null = null;
    if (r.table_name && r.column_name) {
      const q = await db.query<{ max: string | null }>(`SELECT max(${quoteIdent(r.column_name)})::text AS max FROM ${r.table_name}`);
      maxInTable = q.rows[0]!.max === null ? null : BigInt(q.rows[0]!.max);
    }
    // Read the sequence again after max(): a row the max saw took its id from the sequence before it committed,
    // so inserts racing the check can only move the sequence ahead of that max, never behind it.
    if (maxInTable !== null) {
      const again = await db.query<{ last: string | null }>('SELECT pg_sequence_last_value($1::regclass)::text AS last', [r.sequence]);
      last = BigInt(again.rows[0]!.last ?? '0');
    }
    lines.push(`${r.sequence}\t${r.last_value === null && maxInTable === null ? '(never used)' : last}\t${r.max_value}\t${(usage * 100).toFixed(4)}%\t${r.owner ? `${r.table_name}.${r.column_name}` : '-'}\t${maxInTable ?? '-'}`);
    if (maxInTable !== null && maxInTable > last) {
      problems.push(`${r.sequence} is behind ${r.table_name}.${r.column_name}: it will hand out ${last + 1n}, the table already holds ids up to ${maxInTable}`);
    }
    if (usage > maxUsage) problems.push(`${r.sequence} has used ${(usage * 100).toFixed(1)}% of its range (limit ${maxUsage * 100}%)`);
  }
  if (rows.length === 0) lines.push('(no sequences)');
  return { lines, problems };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export const sequenceAnomaliesCheck = targetCheck(async (env) => {
  const { lines, problems } = await withDatabase(env, (db) => sequenceAnomalies(env, db));
  const v = verdict(`Sequence anomalies of ${env.release} (run ${env.runId})`, lines, problems, `${lines.length - 1} sequences ahead of their tables, with room`);
  return { status: v.status, summary: v.summary, files: { [`sequences_${env.version}.txt`]: v.text } };
});

const AUTOVACUUM_SETTINGS = ['autovacuum', 'autovacuum_work_mem', 'maintenance_work_mem', 'autovacuum_max_workers', 'autovacuum_naptime', 'autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_threshold'];

export const postgresBloat = targetCheck(async (env) => {
  const maxDead = limit(env, 'maxDeadTuples');
  return withDatabase(env, async (db) => {
    const top = await db.query<{ table: string; n_live_tup: string; n_dead_tup: string; last_autovacuum: Date | null }>(`
      SELECT format('%I.%I', schemaname, relname) AS table, n_live_tup::text, n_dead_tup::text, last_autovacuum
      FROM pg_stat_user_tables ORDER BY n_dead_tup DESC, relname LIMIT 5`);
    const disabled = await db.query<{ table: string }>(`
      SELECT format('%I.%I', n.nspname, c.relname) AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND 'autovacuum_enabled=false' = ANY (c.reloptions)
      ORDER BY 1`);
    const settings = await db.query<{ name: string; setting: string; unit: string | null }>(
      'SELECT name, setting, unit FROM pg_settings WHERE name = ANY ($1) ORDER BY name', [AUTOVACUUM_SETTINGS]);
    const deadProblems: string[] = [];
    const vacuumProblems: string[] = [];
    const deadLines = ['table\tlive_tuples\tdead_tuples\tlast_autovacuum'];
    for (const r of top.rows) {
      deadLines.push(`${r.table}\t${r.n_live_tup}\t${r.n_dead_tup}\t${r.last_autovacuum?.toISOString() ?? 'never'}`);
      if (Number(r.n_dead_tup) > maxDead) deadProblems.push(`${r.table} has ${r.n_dead_tup} dead tuples (limit ${maxDead})`);
    }
    const setting = (name: string) => settings.rows.find((s) => s.name === name);
    if (setting('autovacuum')?.setting !== 'on') vacuumProblems.push('autovacuum is off on the server');
    if (disabled.rowCount) vacuumProblems.push(`autovacuum is disabled on ${disabled.rows.map((r) => r.table).join(', ')}`);
    const memLines = ['setting\tvalue\tunit', ...settings.rows.map((s) => `${s.name}\t${s.setting}\t${s.unit ?? ''}`),
      `tables with autovacuum disabled: ${disabled.rows.map((r) => r.table).join(', ') || 'none'}`];
    const dead = verdict(`Top-5 dead tuples of ${env.release}`, deadLines, deadProblems, 'no table above the dead-tuple limit');
    const mem = verdict(`Autovacuum and its memory of ${env.release}`, memLines, vacuumProblems, 'autovacuum on everywhere');
    const problems = [...deadProblems, ...vacuumProblems];
    return {
      status: problems.length ? 'fail' : 'pass',
      summary: problems.length ? problems.join('; ') : `top dead tuples ${top.rows[0]?.n_dead_tup ?? 0} (limit ${maxDead}); autovacuum on everywhere, autovacuum_work_mem ${setting('autovacuum_work_mem')?.setting}`,
      files: { 'pg_dead_tuples_top5.txt': dead.text, 'pg_autovacuum_mem.txt': mem.text },
    };
  });
});

const blindSpotsFile = (v: string) => `blind_spots_scan_${v}.txt`;

/** Blind spot 1: NTP and database clocks, and sequences. */
export const blindTimeSequences = sectionCheck(blindSpotsFile, (env) =>
  withDatabase(env, async (db) => {
    const drift = await readDrift(env, db);
    const seq = await sequenceAnomalies(env, db);
    return verdict('Blind spot 1: time and sequences', [...drift.lines, ...seq.lines], [...drift.problems, ...seq.problems], 'clocks within limits, sequences sound');
  }));

/** Red team 8, the machine's part: PITR needs WAL archived without failures; a person proves the cold start (red-team gate). */
export const rtPitrColdStart = sectionCheck((v) => `redteam_${v}.txt`, (env) =>
  withDatabase(env, async (db) => {
    const settings = await db.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_command', 'archive_library') ORDER BY name`);
    const archiver = await db.query<{ archived_count: string; last_archived_wal: string | null; last_archived_time: Date | null; failed_count: string; last_failed_time: Date | null }>(
      'SELECT archived_count::text, last_archived_wal, last_archived_time, failed_count::text, last_failed_time FROM pg_stat_archiver');
    const s = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]));
    const a = archiver.rows[0]!;
    const problems: string[] = [];
    if (s.wal_level === 'minimal') problems.push('wal_level is minimal: WAL cannot replay a restore');
    if (s.archive_mode === 'off') problems.push('WAL archiving is off (archive_mode): no point-in-time recovery is possible');
    else if (!s.archive_command && !s.archive_library) problems.push('archive_mode is on but no archive_command or archive_library is set');
    if (a.last_failed_time && (!a.last_archived_time || a.last_failed_time > a.last_archived_time)) {
      problems.push(`the last WAL archiving attempt failed (${a.last_failed_time.toISOString()})`);
    }
    const lines = [
      ...settings.rows.map((r) => `${r.name}: ${r.setting || '(empty)'}`),
      `archived: ${a.archived_count} segments, last ${a.last_archived_wal ?? 'none'} at ${a.last_archived_time?.toISOString() ?? 'never'}; failed: ${a.failed_count}`,
      'cold start: a person confirms it at the red-team gate (item with check rt-pitr-cold-start)',
    ];
    return verdict('Red team 8: PITR cold-start proof (machine part)', lines, problems, 'WAL archiving on and not failing; the cold start awaits a person');
  }));
