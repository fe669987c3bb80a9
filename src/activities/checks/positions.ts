// The positions table's uniqueness, proven on the target database inside a
// transaction that is rolled back: the partial UNIQUE indexes and their
// collation (red team 1) and NULL strategy semantics (corner case 1).
import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import { sectionCheck, verdict, withDatabase } from './target-access';

const UNIQUE_VIOLATION = '23505';

/** Runs `body` in a transaction that is always rolled back: the probe leaves nothing behind. */
async function rolledBack<T>(db: Client, body: () => Promise<T>): Promise<T> {
  await db.query('BEGIN');
  try {
    return await body();
  } finally {
    await db.query('ROLLBACK');
  }
}

/** Inserts a position; 'rejected' when a unique index refuses it. */
async function tryInsert(db: Client, account: string, symbol: string, strategy: string | null): Promise<'accepted' | 'rejected'> {
  await db.query('SAVEPOINT probe');
  try {
    await db.query('INSERT INTO positions (account_id, symbol, strategy_id, quantity) VALUES ($1, $2, $3, 1)', [account, symbol, strategy]);
    await db.query('RELEASE SAVEPOINT probe');
    return 'accepted';
  } catch (err) {
    if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
    await db.query('ROLLBACK TO SAVEPOINT probe');
    return 'rejected';
  }
}

/** Inserts the same position twice; returns what happened to the second. */
async function duplicate(db: Client, strategy: string | null): Promise<'accepted' | 'rejected'> {
  const account = `spark-release-probe-${randomUUID()}`;
  await tryInsert(db, account, 'THYAO', strategy);
  return tryInsert(db, account, 'THYAO', strategy);
}

export const rtPartialUniqueCollation = sectionCheck((v) => `redteam_${v}.txt`, (env) =>
  withDatabase(env, async (db) => {
    const indexes = await db.query<{ def: string; predicate: string | null }>(`
      SELECT pg_get_indexdef(ix.indexrelid) AS def, pg_get_expr(ix.indpred, ix.indrelid) AS predicate
      FROM pg_index ix WHERE ix.indrelid = to_regclass('positions') AND ix.indisunique AND NOT ix.indisprimary ORDER BY 1`);
    const columns = await db.query<{ column: string; collation: string; deterministic: boolean | null }>(`
      SELECT a.attname AS column, coalesce(co.collname, '(none)') AS collation, co.collisdeterministic AS deterministic
      FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation
      WHERE a.attrelid = to_regclass('positions') AND a.attname IN ('account_id', 'symbol', 'strategy_id') ORDER BY a.attnum`);
    const dbCollation = (await db.query<{ datcollate: string }>('SELECT datcollate FROM pg_database WHERE datname = current_database()')).rows[0]!.datcollate;
    const problems: string[] = [];
    if (columns.rowCount === 0) return verdict('Red team 1: partial UNIQUE index collation', ['no positions table'], ['the target database has no positions table'], '');
    const partial = indexes.rows.filter((r) => r.predicate);
    if (!partial.some((r) => /strategy_id IS NULL/i.test(r.predicate!))) problems.push('no partial UNIQUE index for manual positions (WHERE strategy_id IS NULL): its migration is missing');
    if (!partial.some((r) => /strategy_id IS NOT NULL/i.test(r.predicate!))) problems.push('no partial UNIQUE index for strategy positions (WHERE strategy_id IS NOT NULL)');
    const loose = columns.rows.filter((c) => c.deterministic === false);
    if (loose.length) problems.push(`key columns with a nondeterministic collation (equality is not byte-wise): ${loose.map((c) => `${c.column} ${c.collation}`).join(', ')}`);
    const { sameStrategy, caseVariant } = await rolledBack(db, async () => {
      const account = `spark-release-probe-${randomUUID()}`;
      await tryInsert(db, account, 'THYAO', 'momentum');
      return { sameStrategy: await duplicate(db, 'momentum'), caseVariant: await tryInsert(db, account, 'THYAO', 'Momentum') };
    });
    if (sameStrategy !== 'rejected') problems.push('a duplicate strategy position was accepted');
    // Deterministic collations compare bytes: a case variant is another strategy.
    if (loose.length === 0 && caseVariant !== 'accepted') problems.push('strategy "Momentum" collided with "momentum" although the collation is deterministic');
    return verdict('Red team 1: partial UNIQUE index collation', [
      `database collation: ${dbCollation}`,
      ...columns.rows.map((c) => `column ${c.column}: collation ${c.collation}${c.deterministic === false ? ' (nondeterministic)' : ''}`),
      ...indexes.rows.map((r) => `unique index: ${r.def}`),
      `duplicate strategy position: ${sameStrategy}; case variant of a strategy id: ${caseVariant}`,
    ], problems, 'both partial UNIQUE indexes present, deterministic collation, duplicates refused');
  }));

export const ccPartialUniqueNull = sectionCheck((v) => `corner_cases_${v}.txt`, (env) =>
  withDatabase(env, async (db) => {
    const second = await rolledBack(db, () => duplicate(db, null));
    const problems = second === 'accepted'
      ? ['two manual positions (strategy_id NULL) for one account and symbol were both accepted: NULLs are distinct in the unique index; the partial index WHERE strategy_id IS NULL is missing']
      : [];
    return verdict('Corner case 1: partial UNIQUE NULL semantics', [`second manual position for the same account and symbol: ${second} (rolled back)`], problems, 'a second manual position is refused');
  }));
