/**
 * A Piscina reader: runs the read side's statements (typed queries, the SQL console) on its own
 * read-only connection, so that a heavy query never waits for the writer nor makes it wait.
 * SQLite opens the file `readonly` with `query_only` on, and reads from the WAL snapshot of the
 * moment the statement starts; PostgreSQL runs each statement in a `READ ONLY` transaction with
 * `statement_timeout`. A SQLite statement cannot be cut short: the pool answers QUERY_TIMEOUT at the
 * timeout and replaces the thread, which finishes its statement first (reader-pool.ts); the SQL
 * console on SQLite runs in a process instead, which is killed (console-process.ts).
 */
import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { encode } from '../protocol/codec.js'
import { shapeAnswer } from '../query/plan.js'
import { maskSecrets } from '../db/url.js'
import { EngineError } from '../errors.js'
import { ProtocolErrors } from '../protocol/messages.js'
import { openPostgres } from '../db/storage/postgres.js'
import { openSqlite } from '../db/storage/sqlite.js'
import { databaseErrorInfo, type Queryable, type Storage } from '../db/storage/types.js'
import { runConsoleSql, type ConsoleResult } from '../query/sql-console.js'
import type { ReadResult, ReaderConfig, ReaderTask, TaskResult } from './tasks.js'

const config = workerData as ReaderConfig
let storage: Promise<Storage> | undefined

function db(): Promise<Storage> {
  storage ??= (async () => {
    if (config.dialect === 'postgres') return openPostgres({ url: config.database, max: 1 })
    const s = openSqlite({ path: config.database, readonly: true, busyTimeoutMs: config.busyTimeoutMs })
    await s.exec('PRAGMA query_only = ON')
    return s
  })()
  storage.catch(() => (storage = undefined))
  return storage
}

/** PostgreSQL: one read-only transaction per statement, cut by the server at the timeout. */
function readOnly<T>(s: Storage, fn: (q: Queryable) => Promise<T>): Promise<T> {
  if (s.dialect === 'sqlite') return fn(s)
  return s.transaction(async (tx) => {
    await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(config.statementTimeoutMs))}`)
    return fn(tx)
  }, { readOnly: true })
}

async function run(task: ReaderTask): Promise<ReadResult | ConsoleResult | ArrayBuffer> {
  const s = await db()
  switch (task.kind) {
    case 'select':
      return readOnly(s, (q) => q.select(task.sql, task.values, task.limit))
    case 'select_frame': {
      const { rows } = await readOnly(s, (q) => q.select(task.sql, task.values, task.limit))
      const { requestId, plan, online } = task.frame
      const ids = new Set(online)
      const bytes = encode({ type: 'query_result', request_id: requestId, ...shapeAnswer(plan, rows, (id) => ids.has(id)) })
      // a buffer of its own, to move: the encoder's may be a slice of a larger one
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
    }
    case 'console':
      return runConsoleSql(s, task.text, { rowLimit: task.rowLimit, timeoutMs: config.statementTimeoutMs, ...(task.role !== undefined && { role: task.role }) })
  }
}

export default async function readerTask(task: ReaderTask): Promise<TaskResult<unknown> | ReturnType<typeof Piscina.move>> {
  try {
    const value = await run(task)
    if (value instanceof ArrayBuffer) return moved({ ok: true, value }, value)
    return { ok: true, value }
  } catch (err) {
    if (err instanceof EngineError) return { ok: false, error: { code: err.code, message: maskSecrets(err.message), dataError: false } }
    const info = databaseErrorInfo(err)
    // 57014: query_canceled, which statement_timeout raises
    const code = info.dbCode === '57014' ? ProtocolErrors.QUERY_TIMEOUT : ProtocolErrors.STORAGE_FAILED
    return { ok: false, error: { code, message: maskSecrets(info.dbMessage), dbCode: info.dbCode, dataError: false } }
  }
}

/** The result with `buffer` moved to the main thread rather than copied. */
function moved(result: TaskResult<unknown>, buffer: ArrayBuffer): ReturnType<typeof Piscina.move> {
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return [buffer]
    },
    get [Piscina.valueSymbol]() {
      return result
    },
  } as unknown as ArrayBuffer)
}
