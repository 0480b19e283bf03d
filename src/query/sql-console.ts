/**
 * Runs one guarded read for the SQL console on a reader's connection. The guard (sql-guard.ts) is
 * the first wall; the connection is the second: SQLite opened read-only with `query_only`, and on
 * PostgreSQL a READ ONLY transaction with a server-side statement timeout and, when configured, a
 * role without write grants. docs/SECURITY.md, "The SQL console".
 */
import { EngineError, ErrorCodes } from '../errors.js'
import { quoteIdent } from '../db/storage/sqlite.js'
import type { Queryable, Selected, Storage } from '../db/storage/types.js'
import { guardSql, type SqlRefusal } from './sql-guard.js'

export interface ConsoleOptions {
  /** Most rows returned; `truncated` says when there were more. */
  rowLimit: number
  /**
   * PostgreSQL: the server cancels the statement after this many ms (`statement_timeout`).
   * SQLite cannot be interrupted from the thread that runs the statement: the caller runs this in
   * a reader worker and terminates the worker when the time is up.
   */
  timeoutMs: number
  /** PostgreSQL: `SET LOCAL ROLE` to this role (one without write grants and without `tokens`). */
  role?: string
  /** Tables the guard refuses. Default `['tokens']`. */
  deniedTables?: readonly string[]
}

export type ConsoleResult =
  | { ok: true; columns: string[]; rows: unknown[][]; truncated: boolean; elapsedMs: number }
  | { ok: false; code: SqlRefusal | (typeof ConsoleOutcomes)[keyof typeof ConsoleOutcomes]; reason: string }

/**
 * The console's own outcomes besides the guard's refusals: returned values documented in
 * docs/SECURITY.md ("The SQL console"), not EngineError codes.
 */
export const ConsoleOutcomes = Object.freeze({
  /** PostgreSQL cancelled the statement after `timeoutMs`. */
  SQL_TIMEOUT: 'SQL_TIMEOUT',
  /** The database refused the statement; `reason` holds its code and message. */
  SQL_FAILED: 'SQL_FAILED',
} as const)

/** SQLSTATE 57014, query_canceled: what `statement_timeout` raises. */
const QUERY_CANCELED = '57014'

const CURSOR = 'mt5e_console'

/**
 * Guards `text`, then runs it on `storage`, which the caller opened for reading (SQLite
 * `openSqlite({ path, readonly: true })`). Refusals, timeouts and database errors are returned,
 * never thrown; only invalid options throw (CONFIG_INVALID).
 *
 * Values come back JSON and MessagePack friendly: BLOB/bytea as base64 text, integers beyond
 * 2^53 as decimal text (PostgreSQL only: better-sqlite3 already rounds them to a double), dates as
 * ISO 8601 text, NaN and infinities as 'NaN', 'Infinity', '-Infinity'.
 */
export async function runConsoleSql(storage: Storage, text: string, options: ConsoleOptions): Promise<ConsoleResult> {
  validate(options)
  const verdict = guardSql(text, storage.dialect, options.deniedTables ? { deniedTables: options.deniedTables } : {})
  if (!verdict.ok) return verdict
  const started = performance.now()
  let selected: Selected
  try {
    selected = storage.dialect === 'postgres' ? await runPostgres(storage, verdict.sql, options) : await runSqlite(storage, verdict.sql, options)
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown }
    const message = typeof e?.message === 'string' ? e.message : String(err)
    if (e?.code === QUERY_CANCELED) {
      return { ok: false, code: ConsoleOutcomes.SQL_TIMEOUT, reason: `the statement ran longer than ${options.timeoutMs} ms and was cancelled (${message})` }
    }
    return { ok: false, code: ConsoleOutcomes.SQL_FAILED, reason: typeof e?.code === 'string' ? `${e.code}: ${message}` : message }
  }
  const elapsedMs = Math.round((performance.now() - started) * 1000) / 1000
  return { ok: true, columns: selected.columns, rows: selected.rows.map((r) => r.map(plain)), truncated: selected.truncated, elapsedMs }
}

function validate(options: ConsoleOptions): void {
  const positive = (name: 'rowLimit' | 'timeoutMs') => {
    const v = options[name]
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new EngineError(ErrorCodes.CONFIG_INVALID, `runConsoleSql: ${name} must be a positive integer, got ${String(v)}`, { option: name })
    }
  }
  positive('rowLimit')
  positive('timeoutMs')
  if (options.role !== undefined && (typeof options.role !== 'string' || options.role === '')) {
    throw new EngineError(ErrorCodes.CONFIG_INVALID, 'runConsoleSql: role must be a non-empty role name, or left out', { option: 'role' })
  }
}

/**
 * SQLite: `readonly: true` opens the file SQLITE_OPEN_READONLY, but `openSqlite` does not set
 * `query_only`, so it is set here on every run (idempotent, and it also covers the temp schema,
 * which a read-only connection may otherwise write). `select()` prepares exactly one statement,
 * runs it only if it returns rows (ATTACH, VACUUM or PRAGMA assignments never run) and stops
 * stepping at the row limit. No timeout here: see `ConsoleOptions.timeoutMs`.
 */
async function runSqlite(storage: Storage, sql: string, options: ConsoleOptions): Promise<Selected> {
  await storage.exec('PRAGMA query_only = ON')
  return storage.select(sql, [], options.rowLimit)
}

/**
 * PostgreSQL: a READ ONLY transaction whose settings last only for it (`SET LOCAL`), and a cursor,
 * so that the server stops producing rows after `rowLimit + 1` instead of sending them all.
 * The extended protocol postgres.js uses refuses several statements in one text on its own.
 */
async function runPostgres(storage: Storage, sql: string, options: ConsoleOptions): Promise<Selected> {
  return storage.transaction(
    async (tx: Queryable) => {
      await tx.query(`SET LOCAL statement_timeout = ${options.timeoutMs}`)
      await tx.query(`SET LOCAL idle_in_transaction_session_timeout = ${Math.max(options.timeoutMs, 1000)}`)
      if (options.role !== undefined) await tx.query(`SET LOCAL ROLE ${quoteIdent(options.role)}`)
      await tx.query(`DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${sql}`)
      return tx.select(`FETCH FORWARD ${options.rowLimit + 1} FROM ${CURSOR}`, [], options.rowLimit)
    },
    { readOnly: true },
  )
}

/** One value as JSON and MessagePack carry it without extensions. */
function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null
  switch (typeof value) {
    case 'bigint':
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString()
    case 'number':
      return Number.isFinite(value) ? value : String(value)
    case 'string':
    case 'boolean':
      return value
    case 'object':
      if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString()
      if (Array.isArray(value)) return value.map(plain)
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
    default:
      return String(value)
  }
}
