/**
 * The `schema_migrations` history table: one function per SQL operation. It is the one table the
 * engine creates from code, because the migrator needs it before any migration can run.
 */
import type { Dialect, Queryable, Storage } from '../storage/types.js'

export type HistoryState = 'applied' | 'running' | 'failed' | 'rolling_back' | 'rollback_failed'

export interface HistoryRow {
  version: string
  name: string
  checksum: string
  rollback_checksum: string | null
  applied_at: number
  apply_order: number
  duration_ms: number | null
  state: HistoryState
  error: string | null
}

export const HISTORY_TABLE = 'schema_migrations'

function createHistorySql(dialect: Dialect): string {
  const int = dialect === 'postgres' ? 'bigint' : 'integer'
  return `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (
  version text PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  rollback_checksum text,
  applied_at ${int} NOT NULL,
  apply_order ${int} NOT NULL UNIQUE,
  duration_ms ${int},
  state text NOT NULL DEFAULT 'applied'
    CHECK (state IN ('applied', 'running', 'failed', 'rolling_back', 'rollback_failed')),
  error text
)`
}

export async function historyExists(db: Storage): Promise<boolean> {
  const rows =
    db.dialect === 'postgres'
      ? await db.query<{ found: boolean }>(`select to_regclass($1) is not null as found`, [HISTORY_TABLE])
      : await db.query<{ found: number }>(`select count(*) > 0 as found from sqlite_schema where name = $1`, [
          HISTORY_TABLE,
        ])
  return Boolean(rows[0]?.found)
}

export async function ensureHistory(db: Storage): Promise<void> {
  await db.exec(createHistorySql(db.dialect))
}

export async function readHistory(db: Queryable): Promise<HistoryRow[]> {
  return db.query<HistoryRow>(
    `select version, name, checksum, rollback_checksum, applied_at, apply_order, duration_ms, state, error
       from ${HISTORY_TABLE} order by apply_order`,
  )
}

export interface NewHistoryRow {
  version: string
  name: string
  checksum: string
  rollbackChecksum: string | null
  appliedAt: number
  durationMs: number | null
  state: 'applied' | 'running'
}

export async function insertHistory(db: Queryable, row: NewHistoryRow): Promise<void> {
  await db.query(
    `insert into ${HISTORY_TABLE}
       (version, name, checksum, rollback_checksum, applied_at, apply_order, duration_ms, state)
     values ($1, $2, $3, $4, $5, (select coalesce(max(apply_order), 0) + 1 from ${HISTORY_TABLE}), $6, $7)`,
    [row.version, row.name, row.checksum, row.rollbackChecksum, row.appliedAt, row.durationMs, row.state],
  )
}

export async function setHistoryState(
  db: Queryable,
  version: string,
  state: HistoryState,
  fields: { durationMs?: number; error?: string | null } = {},
): Promise<void> {
  await db.query(
    `update ${HISTORY_TABLE}
        set state = $2, error = $3, duration_ms = coalesce($4, duration_ms)
      where version = $1`,
    [version, state, fields.error ?? null, fields.durationMs ?? null],
  )
}

export async function setHistoryChecksums(
  db: Queryable,
  version: string,
  checksum: string,
  rollbackChecksum: string | null,
): Promise<void> {
  await db.query(`update ${HISTORY_TABLE} set checksum = $2, rollback_checksum = $3 where version = $1`, [
    version,
    checksum,
    rollbackChecksum,
  ])
}

export async function deleteHistory(db: Queryable, version: string): Promise<void> {
  await db.query(`delete from ${HISTORY_TABLE} where version = $1`, [version])
}
