/**
 * The SQL console on SQLite runs in a child process (console-child.ts), one statement at a time,
 * killed with SIGKILL at the query timeout; a fresh one starts at once for the next statement. The
 * timeout counts from the statement's start in a child that is ready (loaded, connected), never
 * from a child's start, which a busy machine can make slow. On
 * PostgreSQL the server cancels a statement itself (statement_timeout), so the console runs on the
 * reader threads there (reader.ts).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ProtocolErrors } from '../protocol/messages.js'
import type { ConsoleResult, TaskResult } from './tasks.js'

const childFile = fileURLToPath(new URL('./console-child.js', import.meta.url))
/** Statements waiting for the console at most; one more is answered BUSY. */
const MAX_WAITING = 16

interface Job {
  id: number
  text: string
  rowLimit: number
  resolve: (r: TaskResult<ConsoleResult>) => void
}

export class ConsoleProcess {
  #child: ChildProcess | undefined
  /** The child has loaded and opened its connection. */
  #ready = false
  #running: (Job & { timer: NodeJS.Timeout }) | undefined
  readonly #waiting: Job[] = []
  #nextId = 1
  #closed = false

  constructor(
    readonly path: string,
    readonly busyTimeoutMs: number,
    readonly timeoutMs: number,
  ) {}

  run(text: string, rowLimit: number): Promise<TaskResult<ConsoleResult>> {
    if (this.#closed) return Promise.resolve(failure(ProtocolErrors.SHUTTING_DOWN, 'the engine is stopping'))
    if (this.#waiting.length >= MAX_WAITING) return Promise.resolve(failure(ProtocolErrors.BUSY, `${MAX_WAITING} SQL statements are waiting for the console; try again shortly`))
    return new Promise((resolve) => {
      this.#waiting.push({ id: this.#nextId++, text, rowLimit, resolve })
      this.#next()
    })
  }

  close(): void {
    this.#closed = true
    this.#kill()
    for (const job of this.#waiting.splice(0)) job.resolve(failure(ProtocolErrors.SHUTTING_DOWN, 'the engine is stopping'))
  }

  #next(): void {
    if (this.#running !== undefined || this.#waiting.length === 0) return
    const child = this.#spawn()
    if (!this.#ready) return
    const job = this.#waiting.shift()!
    const timer = setTimeout(() => {
      // SIGKILL: the statement stops now, its read snapshot with it
      this.#kill()
      this.#finish(job, failure(ProtocolErrors.QUERY_TIMEOUT, `the statement ran past its ${this.timeoutMs} ms timeout and was stopped`))
    }, this.timeoutMs)
    this.#running = { ...job, timer }
    child.send({ id: job.id, text: job.text, rowLimit: job.rowLimit })
  }

  #spawn(): ChildProcess {
    if (this.#child !== undefined) return this.#child
    const child = fork(childFile, [this.path, String(this.busyTimeoutMs), String(this.timeoutMs)], { execArgv: [], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] })
    child.on('message', (m: { ready?: true; id: number; ok: boolean; value?: ConsoleResult; message?: string }) => {
      if (m.ready) {
        if (this.#child !== child) return
        this.#ready = true
        return this.#next()
      }
      const job = this.#running
      if (job === undefined || job.id !== m.id) return
      this.#finish(job, m.ok ? { ok: true, value: m.value! } : failure(ProtocolErrors.STORAGE_FAILED, m.message ?? 'the console failed'))
    })
    // a failed start or kill is reported by 'exit' (or 'error' alone when there was no process)
    child.on('error', () => child.emit('exit'))
    child.on('exit', () => {
      // a child killed at a timeout is already replaced: its exit says nothing of the next statement
      if (this.#child !== child) return
      this.#child = undefined
      const starting = !this.#ready
      this.#ready = false
      const job = this.#running
      if (job !== undefined) this.#finish(job, failure(ProtocolErrors.STORAGE_FAILED, 'the SQL console process ended while running the statement'))
      // one that could not even start fails what waits, instead of being started again and again
      else if (starting) for (const waiting of this.#waiting.splice(0)) waiting.resolve(failure(ProtocolErrors.STORAGE_FAILED, 'the SQL console process could not start'))
    })
    this.#child = child
    return child
  }

  #kill(): void {
    const child = this.#child
    this.#child = undefined
    this.#ready = false
    child?.kill('SIGKILL')
    // the next statement should not wait for a start
    if (!this.#closed) this.#spawn()
  }

  #finish(job: Job, result: TaskResult<ConsoleResult>): void {
    if (this.#running?.id !== job.id) return
    clearTimeout(this.#running.timer)
    this.#running = undefined
    job.resolve(result)
    this.#next()
  }
}

function failure(code: typeof ProtocolErrors.QUERY_TIMEOUT | typeof ProtocolErrors.BUSY | typeof ProtocolErrors.STORAGE_FAILED | typeof ProtocolErrors.SHUTTING_DOWN, message: string): TaskResult<ConsoleResult> {
  return { ok: false, error: { code: code as never, message, dataError: false } }
}
