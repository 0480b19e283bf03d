/**
 * The narrow interface the engine needs from a database: run a whole SQL script as one unit, run a
 * transaction, query, insert a batch of rows, and take a named lock. One implementation per
 * backend (sqlite.ts, postgres.ts); no ORM, no repositories.
 *
 * Parameters are written `$1`, `$2`, ... for both backends.
 */

import { EngineError, ErrorCodes } from '../../errors.js'

export type Dialect = 'sqlite' | 'postgres'

export type Row = Record<string, unknown>

export interface Queryable {
  /** Runs one statement with parameters; returns its rows (none for statements without rows). */
  query<T = Row>(text: string, params?: readonly unknown[]): Promise<T[]>
  /** Runs a whole script as one unit, by the database's own parser: never split by us. */
  exec(script: string): Promise<void>
  /**
   * SQLite only: runs a query and calls `row` with each row as an array of its columns in select
   * order, one at a time: for reads of many rows (the aggregator's ticks), where an object per row,
   * all held at once, was most of the cost (and of the garbage collector's).
   */
  eachRow?(text: string, params: readonly unknown[], row: (values: unknown[]) => void): Promise<void>
  /**
   * Runs a query for a reader: its column names (also when no row comes back) and its rows as
   * arrays in column order. With `limit`, at most that many rows are read and `truncated` says
   * whether there were more; SQLite stops stepping the statement there.
   */
  select(text: string, params?: readonly unknown[], limit?: number): Promise<Selected>
  /** Inserts rows (each an array in `columns` order) with multi-row statements; returns the count. */
  insertRows(table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<number>
  /**
   * PostgreSQL, inside a transaction only: runs `statement` (a `COPY ... FROM STDIN`) with `data`
   * as its input. When PostgreSQL refuses the rows, the transaction is rolled back to just before
   * the COPY and the error is thrown, so the caller may go on another way.
   */
  copyIn?(statement: string, data: Uint8Array): Promise<void>
}

export interface Selected {
  columns: string[]
  rows: unknown[][]
  /** More rows than `limit` were there. */
  truncated: boolean
}

export interface TransactionOptions {
  /**
   * SQLite only: turn foreign key enforcement off for the transaction (it cannot be changed inside
   * one) and run `PRAGMA foreign_key_check` before commit, failing the transaction on any
   * violation. Needed for table rebuilds. Ignored on PostgreSQL.
   */
  foreignKeysOff?: boolean
  /**
   * A transaction that only reads, for one consistent snapshot over several queries: SQLite
   * `BEGIN` (deferred: it takes no write lock, so it works on a read-only connection and never
   * waits for the writer), PostgreSQL `BEGIN READ ONLY`.
   */
  readOnly?: boolean
}

/**
 * How many statements a script holds, by the database's own parser (`unknown` when it would not
 * say, for example because the statement refers to something that does not exist yet).
 */
export type StatementCount = 'none' | 'one' | 'many' | 'unknown'

export interface Storage extends Queryable {
  readonly dialect: Dialect
  /** The database for messages: a file path, or a URL with its password masked. */
  readonly location: string
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>
  /** Counts the statements in a script without running it. */
  countStatements(script: string): Promise<StatementCount>
  /**
   * Runs `fn` while holding an exclusive lock named `name` shared by every process using this
   * database. Waits up to `timeoutMs`, then fails with LOCK_TIMEOUT.
   */
  withLock<T>(name: string, timeoutMs: number, fn: () => Promise<T>): Promise<T>
  /**
   * SQLite: copies what the write-ahead log holds into the database file now (a PASSIVE
   * checkpoint: it never waits for readers), so that a commit later does not have to.
   */
  checkpoint?(): Promise<void>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * The error of `withLock` when another process held the lock past `timeoutMs`. It names the API
 * option (`lockTimeoutMs`) and sets `detail.option`, so that the CLI says its own flag instead.
 */
export function lockTimeoutError(name: string, location: string, timeoutMs: number, lock: string): EngineError {
  return new EngineError(
    ErrorCodes.LOCK_TIMEOUT,
    `another process held the ${name} lock on ${location} for more than ${timeoutMs} ms; wait for it to finish or raise the lockTimeoutMs option`,
    { lock, timeoutMs, option: 'lockTimeoutMs' },
  )
}

/**
 * Where the database says an error is: its native code (`SQLITE_ERROR`, SQLSTATE `42601`), its
 * message, and the 1-based character position in the statement when it gives one.
 */
export interface DatabaseErrorInfo {
  dbCode: string
  dbMessage: string
  position?: number
  /** PostgreSQL's DETAIL and HINT fields, when the server sent them. */
  detail?: string
  hint?: string
}

export function databaseErrorInfo(err: unknown): DatabaseErrorInfo {
  const e = err as { code?: unknown; message?: unknown; position?: unknown; detail?: unknown; hint?: unknown }
  const info: DatabaseErrorInfo = {
    dbCode: typeof e?.code === 'string' ? e.code : 'UNKNOWN',
    dbMessage: typeof e?.message === 'string' ? e.message : String(err),
  }
  const position = typeof e?.position === 'string' ? Number(e.position) : e?.position
  if (typeof position === 'number' && Number.isInteger(position) && position > 0) info.position = position
  if (typeof e?.detail === 'string' && e.detail !== '') info.detail = e.detail
  if (typeof e?.hint === 'string' && e.hint !== '') info.hint = e.hint
  return info
}

/** True when the text holds nothing but white space and comments. */
export function isBlankSql(text: string): boolean {
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (/\s/.test(c) || c === '\uFEFF') i++
    else if (text.startsWith('--', i)) {
      const end = text.indexOf('\n', i)
      i = end === -1 ? text.length : end + 1
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2)
      if (end === -1) return false
      i = end + 2
    } else return false
  }
  return true
}
