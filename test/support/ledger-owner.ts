// What a hostile owner of the evidence database can do: switch the append-only trigger off
// and run statements straight in SQL, in one transaction. Tests of tampering use it.
import type { Pool } from 'pg';

export type OwnerSql = (text: string, params: unknown[]) => Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;

export async function asOwner(pool: Pool, work: (sql: OwnerSql) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE evidence DISABLE TRIGGER evidence_append_only');
    await work((text, params) => client.query(text, params));
    await client.query('ALTER TABLE evidence ENABLE TRIGGER evidence_append_only');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}
