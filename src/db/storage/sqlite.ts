import { closeSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { EngineError, ErrorCodes } from '../../errors.js'
import type { Synchronous } from '../../config/resolve.js'
import { lockTimeoutError, type Queryable, type Row, type Selected, type StatementCount, type Storage, type TransactionOptions } from './types.js'

export interface SqliteOptions {
  /** A file path, or `:memory:`. The folder is created when missing. */
  path: string
  synchronous?: Synchronous
  busyTimeoutMs?: number
  readonly?: boolean
}

/** Native codes this file branches on: SQLite's result code, and the file system's. */
const SQLITE_BUSY = 'SQLITE_BUSY'
const SQLITE_CONSTRAINT_FOREIGNKEY = 'SQLITE_CONSTRAINT_FOREIGNKEY'
const EEXIST = 'EEXIST'

/** SQLite's limit on host parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
const MAX_PARAMETERS = 32766

/**
 * Opens a SQLite database: WAL, `synchronous` NORMAL unless FULL is asked for, a busy timeout,
 * foreign keys on.
 */
export function openSqlite(options: SqliteOptions): Storage {
  const { path, synchronous = 'NORMAL', busyTimeoutMs = 5000, readonly = false } = options
  let db: Database.Database
  try {
    if (path !== ':memory:' && !readonly) createPrivately(path)
    db = new Database(path, { timeout: busyTimeoutMs, readonly, fileMustExist: readonly })
    if (!readonly) enableWal(db, busyTimeoutMs)
    db.pragma(`synchronous = ${synchronous}`)
    db.pragma('foreign_keys = ON')
  } catch (err) {
    throw new EngineError(
      ErrorCodes.DATABASE_UNAVAILABLE,
      `cannot open SQLite database ${path}: ${(err as Error).message}`,
      { location: path, dbCode: (err as { code?: string }).code },
      { cause: err },
    )
  }
  return new SqliteStorage(db, path)
}

/**
 * SQLite would create the file 0644 (and mkdir the folder 0755): every local user could read every
 * account's deals and the token hashes. The folder is made 0700 and the file 0600 first, the
 * umask narrowing both further if it is stricter; SQLite gives `-wal`, `-shm` and journals the
 * database file's mode. What exists already is left as its owner set it (see `exposedToOthers`).
 */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  try {
    closeSync(openSync(path, 'wx', 0o600))
  } catch (err) {
    if ((err as { code?: string }).code !== EEXIST) throw err
  }
}

/**
 * The database's folder and files that every local user may read (or, for the folder, list), with
 * their modes: what `start` warns about. Empty on Windows, which has no such modes.
 */
export function exposedToOthers(path: string): { path: string; mode: number }[] {
  if (path === ':memory:' || process.platform === 'win32') return []
  const exposed: { path: string; mode: number }[] = []
  for (const candidate of [dirname(path), path, `${path}-wal`, `${path}-shm`]) {
    try {
      const mode = statSync(candidate).mode & 0o777
      if (mode & 0o004) exposed.push({ path: candidate, mode })
    } catch {
      // not there (no WAL yet): nothing to expose
    }
  }
  return exposed
}

/**
 * Switching a new database to WAL takes an exclusive lock, and when another process is switching it
 * at the same moment SQLite answers SQLITE_BUSY at once instead of calling the busy handler (waiting
 * could deadlock). Retry within the busy timeout; the wait is short and happens once, at open.
 */
function enableWal(db: Database.Database, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs
  for (;;) {
    try {
      db.pragma('journal_mode = WAL')
      return
    } catch (err) {
      if ((err as { code?: string }).code !== SQLITE_BUSY || Date.now() >= deadline) throw err
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
    }
  }
}

interface Prepared {
  stmt: Database.Statement
  /** The `$n` of each `?`, in order. */
  order: number[]
  /** The placeholders are `$1, $2, ...` in order. */
  inOrder: boolean
}

class SqliteStorage implements Storage {
  readonly dialect = 'sqlite' as const
  readonly location: string
  readonly #db: Database.Database
  /** Prepared statements by their `$n` text: preparing costs more than running a small statement. */
  readonly #statements = new Map<string, Prepared>()
  /** Transactions are queued: the connection holds one at a time. */
  #tail: Promise<unknown> = Promise.resolve()
  readonly #direct: Queryable

  constructor(db: Database.Database, location: string) {
    this.#db = db
    this.location = location
    this.#direct = {
      query: (text, params) => Promise.resolve(this.#query(text, params)),
      eachRow: (text, params, row) => Promise.resolve(this.#eachRow(text, params, row)),
      select: (text, params, limit) => Promise.resolve(this.#select(text, params, limit)),
      exec: (script) => Promise.resolve(void this.#db.exec(script)),
      insertRows: (table, columns, rows) => Promise.resolve(this.#insertRows(table, columns, rows)),
    }
  }

  async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    await this.#idle()
    return this.#query<T>(text, params)
  }

  async exec(script: string): Promise<void> {
    await this.#idle()
    this.#db.exec(script)
  }

  async insertRows(table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<number> {
    await this.#idle()
    return this.#insertRows(table, columns, rows)
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const run = async (): Promise<T> => {
      const db = this.#db
      if (options.foreignKeysOff) db.pragma('foreign_keys = OFF')
      try {
        if (db.inTransaction) db.exec('ROLLBACK')
        db.exec(options.readOnly ? 'BEGIN' : 'BEGIN IMMEDIATE')
        try {
          const result = await fn(this.#direct)
          if (options.foreignKeysOff) checkForeignKeys(db)
          db.exec('COMMIT')
          return result
        } catch (err) {
          // SQLite may have rolled back itself (SQLITE_FULL, SQLITE_IOERR); a ROLLBACK that fails
          // in turn must not hide the error that caused it
          try {
            if (db.inTransaction) db.exec('ROLLBACK')
          } catch {
            // left open: the next transaction rolls it back before it begins
          }
          throw err
        }
      } finally {
        if (options.foreignKeysOff) db.pragma('foreign_keys = ON')
      }
    }
    const result = this.#tail.then(run, run)
    this.#tail = result.catch(() => undefined)
    return result
  }

  async countStatements(script: string): Promise<StatementCount> {
    await this.#idle()
    try {
      this.#db.prepare(script)
      return 'one'
    } catch (err) {
      const message = (err as Error).message
      if (err instanceof RangeError && /more than one statement/.test(message)) return 'many'
      if (err instanceof RangeError && /no statements/.test(message)) return 'none'
      return 'unknown'
    }
  }

  async withLock<T>(name: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    if (this.location === ':memory:') return fn()
    // SQLite has no advisory locks. An exclusive transaction on a small side file is one: the
    // operating system drops it when the process dies. The wait polls with timers rather than a
    // busy timeout: better-sqlite3's busy handler sleeps on the event loop, so a holder in the same
    // process could never release and every timer and socket would stall for the whole wait.
    const lockPath = `${this.location}-${name}.lock`
    createPrivately(lockPath)
    const lock = new Database(lockPath, { timeout: 0 })
    try {
      const deadline = Date.now() + timeoutMs
      for (let wait = 25; ; wait = Math.min(wait * 2, 250)) {
        try {
          lock.exec('BEGIN EXCLUSIVE')
          break
        } catch (err) {
          if ((err as { code?: string }).code !== SQLITE_BUSY) throw err
        }
        if (Date.now() >= deadline) {
          throw lockTimeoutError(name, this.location, timeoutMs, lockPath)
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(wait, Math.max(1, deadline - Date.now()))))
      }
      return await fn()
    } finally {
      if (lock.inTransaction) lock.exec('ROLLBACK')
      lock.close()
    }
  }

  async checkpoint(): Promise<void> {
    await this.#idle()
    this.#db.pragma('wal_checkpoint(PASSIVE)')
  }

  async close(): Promise<void> {
    await this.#idle()
    if (this.#db.open) this.#db.close()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** Waits for queued transactions so that no statement runs inside someone else's. */
  #idle(): Promise<unknown> {
    return this.#tail
  }

  async eachRow(text: string, params: readonly unknown[], row: (values: unknown[]) => void): Promise<void> {
    await this.#idle()
    this.#eachRow(text, params, row)
  }

  #eachRow(text: string, params: readonly unknown[], row: (values: unknown[]) => void): void {
    const { stmt, order, inOrder } = this.#prepare(text)
    const values = inOrder && params.length === order.length ? params : order.map((n) => params[n - 1])
    // the statement is shared: raw mode only for this call
    stmt.raw(true)
    try {
      for (const r of stmt.iterate(...values)) row(r as unknown[])
    } finally {
      stmt.raw(false)
    }
  }

  async select(text: string, params: readonly unknown[] = [], limit?: number): Promise<Selected> {
    await this.#idle()
    return this.#select(text, params, limit)
  }

  #select(text: string, params: readonly unknown[] = [], limit = Infinity): Selected {
    const { stmt, order, inOrder } = this.#prepare(text)
    if (!stmt.reader) throw new TypeError('select() runs statements that return rows only')
    const values = inOrder && params.length === order.length ? params : order.map((n) => params[n - 1])
    const columns = stmt.columns().map((c) => c.name)
    const rows: unknown[][] = []
    let truncated = false
    stmt.raw(true)
    try {
      for (const r of stmt.iterate(...values)) {
        if (rows.length >= limit) {
          truncated = true
          break
        }
        rows.push(r as unknown[])
      }
    } finally {
      stmt.raw(false)
    }
    return { columns, rows, truncated }
  }

  #query<T>(text: string, params: readonly unknown[] = []): T[] {
    const { stmt, order, inOrder } = this.#prepare(text)
    // `$1, $2, ...` in order binds the parameters as they are: no copy of a 900-value tick insert.
    // Spread, not an array: better-sqlite3 binds arguments faster than array elements.
    const values = inOrder && params.length === order.length ? params : order.map((n) => params[n - 1])
    if (stmt.reader) return stmt.all(...values) as T[]
    stmt.run(...values)
    return []
  }

  #insertRows(table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): number {
    if (rows.length === 0) return 0
    const perStatement = Math.max(1, Math.min(500, Math.floor(MAX_PARAMETERS / columns.length)))
    const head = `INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) VALUES `
    const tuple = `(${columns.map(() => '?').join(', ')})`
    const full = this.#db.prepare(head + Array(perStatement).fill(tuple).join(', '))
    let i = 0
    for (; i + perStatement <= rows.length; i += perStatement) full.run(rows.slice(i, i + perStatement).flat())
    if (i < rows.length) {
      const rest = rows.slice(i)
      this.#db.prepare(head + Array(rest.length).fill(tuple).join(', ')).run(rest.flat())
    }
    return rows.length
  }

  /** Prepares `$1`-style text as SQLite's positional `?`, remembering which value goes where. */
  #prepare(text: string): Prepared {
    let prepared = this.#statements.get(text)
    if (prepared === undefined) {
      const order: number[] = []
      const sql = text.replace(/\$(\d+)/g, (_, n: string) => {
        order.push(Number(n))
        return '?'
      })
      prepared = { stmt: this.#db.prepare(sql), order, inOrder: order.every((n, i) => n === i + 1) }
      // Statements built from changing text (ad hoc queries) must not grow the cache without bound.
      if (this.#statements.size >= 500) this.#statements.clear()
      this.#statements.set(text, prepared)
    }
    return prepared
  }
}

function checkForeignKeys(db: Database.Database): void {
  const violations = db.pragma('foreign_key_check') as { table: string; rowid: number; parent: string }[]
  if (violations.length === 0) return
  const sample = violations
    .slice(0, 5)
    .map((v) => `${v.table} rowid ${v.rowid} -> ${v.parent}`)
    .join('; ')
  const err = new Error(`foreign_key_check found ${violations.length} violation(s): ${sample}`) as Error & {
    code: string
  }
  err.code = SQLITE_CONSTRAINT_FOREIGNKEY
  throw err
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}
