/**
 * The Piscina pool of reader workers (src/workers/reader.ts), with the read side's two bounds:
 * at most `maxQueue` reads wait for a reader (one more is refused at once, BUSY), and a read runs
 * at most `timeoutMs`. A task past its timeout is aborted: Piscina ends its thread and starts a
 * fresh one. That frees the caller, not the core: better-sqlite3 cannot interrupt a
 * statement, so a terminated thread finishes it first. Typed queries are indexed and limited, so
 * that stays short; the SQL console, whose statements are anyone's, runs in a process on SQLite,
 * killed at the timeout (console-process.ts).
 */
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { maskSecrets } from '../db/url.js'
import { silentLogger, type Logger } from '../log.js'
import { ProtocolErrors } from '../protocol/messages.js'
import { ConsoleProcess } from './console-process.js'
import type { ConsoleResult, FrameRequest, ReadResult, ReaderConfig, ReaderTask, TaskResult } from './tasks.js'

export interface ReaderPoolOptions {
  threads: number
  /** A query running longer is aborted (QUERY_TIMEOUT). */
  timeoutMs: number
  /** Reads waiting for a reader at most; one more is refused (BUSY). */
  maxQueue: number
}

export interface ReaderPool {
  readonly threads: number
  readonly timeoutMs: number
  select(sql: string, values: unknown[], limit: number): Promise<TaskResult<ReadResult>>
  /** A typed query answered as its encoded `query_result` frame. */
  selectFrame(sql: string, values: unknown[], limit: number, frame: FrameRequest): Promise<TaskResult<ArrayBuffer>>
  /** One SQL console statement: guarded, then run read-only (src/query/sql-console.ts). */
  console(text: string, rowLimit: number): Promise<TaskResult<ConsoleResult>>
  close(): Promise<void>
}

const workerFile = fileURLToPath(new URL('./reader.js', import.meta.url))

export function createReaderPool(config: Omit<ReaderConfig, 'statementTimeoutMs'> & { sqlRole?: string }, options: ReaderPoolOptions, log: Logger = silentLogger): ReaderPool {
  const piscina = new Piscina({
    filename: workerFile,
    // started by the first read, not with the engine, whose first seconds EAs reconnecting need
    minThreads: 0,
    maxThreads: options.threads,
    maxQueue: options.maxQueue,
    idleTimeout: Number.MAX_SAFE_INTEGER,
    // PostgreSQL cuts the statement itself a little before the pool gives up on it
    workerData: { ...config, statementTimeoutMs: Math.max(1, options.timeoutMs - 50) } satisfies ReaderConfig,
  })
  piscina.on('error', (err: Error) => {
    log.error({ component: 'reader', cause: maskSecrets(err.stack ?? err.message) }, 'a reader thread failed and was replaced')
  })
  // SQLite: a process of its own, which the timeout can stop (console-process.ts)
  const consoleProcess = config.dialect === 'sqlite' ? new ConsoleProcess(config.database, config.busyTimeoutMs, options.timeoutMs) : undefined
  const run = async <T>(task: ReaderTask): Promise<TaskResult<T>> => {
    const signal = AbortSignal.timeout(options.timeoutMs)
    try {
      return (await piscina.run(task, { signal })) as TaskResult<T>
    } catch (err) {
      if (signal.aborted) {
        return { ok: false, error: { code: ProtocolErrors.QUERY_TIMEOUT, message: `the query ran past its ${options.timeoutMs} ms timeout and was stopped`, dataError: false } }
      }
      if (/queue is full/i.test((err as Error).message)) {
        return { ok: false, error: { code: ProtocolErrors.BUSY, message: `${options.maxQueue} reads are waiting for a reader; try again shortly`, dataError: false } }
      }
      throw err
    }
  }
  return {
    threads: options.threads,
    timeoutMs: options.timeoutMs,
    select: (sql, values, limit) => run({ kind: 'select', sql, values, limit }),
    selectFrame: (sql, values, limit, frame) => run({ kind: 'select_frame', sql, values, limit, frame }),
    console: (text, rowLimit) =>
      consoleProcess !== undefined ? consoleProcess.run(text, rowLimit) : run({ kind: 'console', text, rowLimit, ...(config.sqlRole !== undefined && { role: config.sqlRole }) }),
    close: async () => {
      consoleProcess?.close()
      await piscina.destroy()
    },
  }
}
