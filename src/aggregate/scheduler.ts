/**
 * Drives bar aggregation from commits. Every committed tick batch names the symbols whose minutes
 * it put on the work list (bar_dirty); each such symbol gets a pass: an aggregator worker computes
 * the bars from the stored ticks, the writer stores them and takes the minutes off the list in one
 * transaction. One pass per symbol at a time, so a pass always sees the bars the one before it
 * stored; a commit during a pass queues another. Nothing is held here that is not also in the
 * database: after a crash, `start()` finds the work list and finishes it.
 */
import type { Logger } from '../log.js'
import { ProtocolErrors } from '../protocol/messages.js'
import type { AggregatorPool } from '../workers/aggregator-pool.js'
import type { TaskError } from '../workers/tasks.js'
import type { WriterPool } from '../workers/writer-pool.js'

export interface BarSchedulerOptions {
  /** Minutes one pass computes at most (a backfill or a rebuild takes several passes). Default 1440. */
  minutesPerPass?: number
  /** Wait before a failed pass is tried again, ms. Default 1000. */
  retryMs?: number
  log: Logger
}

export interface BarSchedulerCounters {
  passes: number
  /** Minutes taken off the work list. */
  minutes: number
  ticksRead: number
  failures: number
}

/** Commit-to-bar lags kept for percentiles: the most recent ones. */
const LAG_SAMPLES = 8192

export class BarScheduler {
  readonly counters: BarSchedulerCounters = { passes: 0, minutes: 0, ticksRead: 0, failures: 0 }
  readonly #pool: AggregatorPool
  readonly #writer: Pick<WriterPool, 'applyBars'>
  readonly #minutesPerPass: number
  readonly #retryMs: number
  readonly #log: Logger
  /** Symbols waiting for a pass, oldest first; a running one may be here too (it runs again after). */
  readonly #queued = new Set<number>()
  readonly #running = new Set<number>()
  /** Per symbol, when the oldest commit not yet covered by a started pass arrived (performance.now()). */
  readonly #since = new Map<number, number>()
  readonly #retries = new Set<NodeJS.Timeout>()
  readonly #idleWaiters: (() => void)[] = []
  readonly #lags = new Float64Array(LAG_SAMPLES)
  #lagCount = 0
  #closed = false

  constructor(pool: AggregatorPool, writer: Pick<WriterPool, 'applyBars'>, options: BarSchedulerOptions) {
    this.#pool = pool
    this.#writer = writer
    this.#minutesPerPass = options.minutesPerPass ?? 1440
    this.#retryMs = options.retryMs ?? 1000
    this.#log = options.log
  }

  /** Queues every symbol with minutes on the work list: what a crash or a stop left undone. */
  async start(): Promise<void> {
    let result: Awaited<ReturnType<AggregatorPool['dirtySymbols']>>
    try {
      result = await this.#pool.dirtySymbols()
    } catch (err) {
      if (this.#closed) return
      result = { ok: false, error: { code: ProtocolErrors.STORAGE_FAILED, message: (err as Error).message, dataError: false } }
    }
    if (!result.ok) {
      this.#fail(undefined, result.error)
      this.#retry(() => void this.start())
      return
    }
    this.committed(result.value)
  }

  /** Symbols whose ticks just committed. */
  committed(symbolIds: readonly number[], at = performance.now()): void {
    if (this.#closed || symbolIds.length === 0) return
    for (const id of symbolIds) {
      if (!this.#since.has(id)) this.#since.set(id, at)
      this.#queued.add(id)
    }
    this.#pump()
  }

  /** Resolves once no pass is running or queued (retries waiting count as queued). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /** Commit-to-stored lags of the most recent passes, ms, in no order. */
  lags(): Float64Array {
    return this.#lags.slice(0, Math.min(this.#lagCount, LAG_SAMPLES))
  }

  /** Stops queuing, waits for the running passes, closes the aggregator pool. What is left stays on the work list. */
  async close(): Promise<void> {
    this.#closed = true
    this.#queued.clear()
    for (const timer of this.#retries) clearTimeout(timer)
    this.#retries.clear()
    await this.idle()
    await this.#pool.close()
  }

  #isIdle(): boolean {
    return this.#running.size === 0 && this.#queued.size === 0 && this.#retries.size === 0
  }

  #pump(): void {
    if (this.#closed) this.#queued.clear()
    for (const id of this.#queued) {
      if (this.#running.size >= this.#pool.threads) break
      if (this.#running.has(id)) continue
      this.#queued.delete(id)
      void this.#run(id)
    }
    if (this.#isIdle()) for (const wake of this.#idleWaiters.splice(0)) wake()
  }

  async #run(symbolId: number): Promise<void> {
    this.#running.add(symbolId)
    const covered = this.#since.get(symbolId)
    this.#since.delete(symbolId)
    try {
      const pass = await this.#pool.pass(symbolId, this.#minutesPerPass)
      if (!pass.ok) return this.#failed(symbolId, covered, pass.error)
      const { changes, more, ticks } = pass.value
      let cleared = 0
      if (changes.done.length > 0) {
        const applied = await this.#writer.applyBars(changes)
        if (!applied.ok) return this.#failed(symbolId, covered, applied.error)
        cleared = applied.value
      }
      this.counters.passes++
      this.counters.minutes += cleared
      this.counters.ticksRead += ticks
      if (covered !== undefined) this.#lags[this.#lagCount++ % LAG_SAMPLES] = performance.now() - covered
      // minutes left for later, or ticks that came into a minute while it was computed
      if (more || cleared < changes.done.length) this.#queued.add(symbolId)
    } catch (err) {
      // the pool itself failed (a worker died, or it is closing)
      this.#failed(symbolId, covered, { code: ProtocolErrors.STORAGE_FAILED, message: (err as Error).message, dataError: false })
    } finally {
      this.#running.delete(symbolId)
      this.#pump()
    }
  }

  /** The minutes stay on the work list; the symbol is tried again after a pause. */
  #failed(symbolId: number, covered: number | undefined, error: TaskError): void {
    if (covered !== undefined && !this.#since.has(symbolId)) this.#since.set(symbolId, covered)
    this.#fail(symbolId, error)
    this.#retry(() => this.committed([symbolId]))
  }

  #fail(symbolId: number | undefined, error: TaskError): void {
    this.counters.failures++
    if (this.#closed) return
    this.#log.warn({ component: 'aggregator', symbolId, code: error.code, dbCode: error.dbCode, cause: error.message }, 'a bar aggregation pass failed; it is retried')
  }

  #retry(again: () => void): void {
    if (this.#closed) return
    const timer = setTimeout(() => {
      this.#retries.delete(timer)
      again()
      this.#pump()
    }, this.#retryMs)
    timer.unref()
    this.#retries.add(timer)
  }
}
