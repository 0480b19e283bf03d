/**
 * Drives bar aggregation from commits. Every committed tick batch names the symbols whose minutes
 * it put on the work list (bar_dirty). Aggregation runs in rounds: a round takes every symbol
 * queued since the last one, an aggregator worker computes their bars from the stored ticks in one
 * read transaction, and the writer stores them and takes the minutes off the list in one write
 * transaction. One round at a time, so a round always sees the bars the one before it stored; a
 * commit during a round queues its symbols for the next. Rounds start at most every `intervalMs`:
 * under load a round covers many batches, so the writer spends one small transaction per interval
 * on bars, not one per batch. Nothing is held here that is not also in the database: after a
 * crash, `start()` finds the work list and finishes it.
 */
import type { Logger } from '../log.js'
import { ProtocolErrors } from '../protocol/messages.js'
import type { AggregatorPool } from '../workers/aggregator-pool.js'
import type { TaskError } from '../workers/tasks.js'
import type { WriterPool } from '../workers/writer-pool.js'

export interface BarSchedulerOptions {
  /** Minutes one round computes at most per symbol (a backfill or a rebuild takes several rounds). Default 1440. */
  minutesPerPass?: number
  /** Symbols one round takes at most; the rest wait for the next. Default 256. */
  symbolsPerRound?: number
  /** The least time from one round's start to the next one's, ms. Default 50. */
  intervalMs?: number
  /** Wait before a failed round is tried again, ms. Default 1000. */
  retryMs?: number
  log: Logger
  /** After each round's bars committed: the symbols whose bars changed (the live feed reads them). */
  onApplied?: (symbolIds: number[]) => void
}

export interface BarSchedulerCounters {
  rounds: number
  /** Symbol passes, a round holding one per symbol. */
  passes: number
  /** Minutes taken off the work list. */
  minutes: number
  ticksRead: number
  /** Symbol batches whose M1 bars the writer built with the ticks. */
  builtByWriter: number
  /** Symbol batches whose minutes were left to be built from the ticks (a backfill, a replay, interleaved streams). */
  leftFromTicks: number
  /** Stored ticks the writer read back to build a minute it could not continue. */
  writerReadBack: number
  failures: number
}

/** Commit-to-bar lags kept for percentiles: the most recent ones. */
const LAG_SAMPLES = 8192

export class BarScheduler {
  readonly counters: BarSchedulerCounters = { rounds: 0, passes: 0, minutes: 0, ticksRead: 0, builtByWriter: 0, leftFromTicks: 0, writerReadBack: 0, failures: 0 }
  readonly #pool: AggregatorPool
  readonly #writer: Pick<WriterPool, 'applyBars'>
  readonly #onApplied: ((symbolIds: number[]) => void) | undefined
  readonly #minutesPerPass: number
  readonly #symbolsPerRound: number
  readonly #intervalMs: number
  readonly #retryMs: number
  readonly #log: Logger
  /** Symbols waiting for a round, oldest first. */
  readonly #queued = new Set<number>()
  /** Per symbol, when the oldest commit not yet covered by a started round arrived (performance.now()). */
  readonly #since = new Map<number, number>()
  readonly #idleWaiters: (() => void)[] = []
  readonly #lags = new Float64Array(LAG_SAMPLES)
  #lagCount = 0
  #running = false
  #timer: NodeJS.Timeout | undefined
  #lastStart = -Infinity
  #closed = false

  constructor(pool: AggregatorPool, writer: Pick<WriterPool, 'applyBars'>, options: BarSchedulerOptions) {
    this.#pool = pool
    this.#writer = writer
    this.#minutesPerPass = options.minutesPerPass ?? 1440
    this.#symbolsPerRound = options.symbolsPerRound ?? 256
    this.#intervalMs = options.intervalMs ?? 50
    this.#retryMs = options.retryMs ?? 1000
    this.#log = options.log
    this.#onApplied = options.onApplied
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
      this.#fail(result.error)
      if (!this.#closed) setTimeout(() => void this.start(), this.#retryMs).unref()
      return
    }
    this.committed(result.value)
  }

  /** Symbols whose ticks just committed with minutes listed; `minuteBars` as the writer counted them. */
  committed(symbolIds: readonly number[], at = performance.now(), minuteBars?: { built: number; fromTicks: number; readBack: number }): void {
    if (minuteBars !== undefined) {
      this.counters.builtByWriter += minuteBars.built
      this.counters.leftFromTicks += minuteBars.fromTicks
      this.counters.writerReadBack += minuteBars.readBack
    }
    if (this.#closed || symbolIds.length === 0) return
    for (const id of symbolIds) {
      if (!this.#since.has(id)) this.#since.set(id, at)
      this.#queued.add(id)
    }
    this.#schedule(0)
  }

  /** Resolves once no round is running or queued. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /** Commit-to-stored lags of the most recent rounds' symbols, ms, in no order. */
  lags(): Float64Array {
    return this.#lags.slice(0, Math.min(this.#lagCount, LAG_SAMPLES))
  }

  /** Stops queuing, waits for the running round, closes the aggregator pool. What is left stays on the work list. */
  async close(): Promise<void> {
    this.#closed = true
    this.#queued.clear()
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.idle()
    await this.#pool.close()
  }

  #isIdle(): boolean {
    return !this.#running && this.#timer === undefined && (this.#queued.size === 0 || this.#closed)
  }

  #wakeIdle(): void {
    if (this.#isIdle()) for (const wake of this.#idleWaiters.splice(0)) wake()
  }

  /** A round after `delayMs` at least, and no sooner than `intervalMs` after the last one started. */
  #schedule(delayMs: number): void {
    if (this.#closed || this.#running || this.#timer !== undefined || this.#queued.size === 0) return this.#wakeIdle()
    const wait = Math.max(delayMs, this.#lastStart + this.#intervalMs - performance.now(), 0)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#round()
    }, wait)
  }

  async #round(): Promise<void> {
    if (this.#closed || this.#queued.size === 0) return this.#wakeIdle()
    this.#running = true
    this.#lastStart = performance.now()
    const symbols: number[] = []
    for (const id of this.#queued) {
      if (symbols.length >= this.#symbolsPerRound) break
      symbols.push(id)
    }
    const covered = new Map<number, number | undefined>()
    for (const id of symbols) {
      this.#queued.delete(id)
      covered.set(id, this.#since.get(id))
      this.#since.delete(id)
    }
    let delay = 0
    try {
      const passes = await this.#pool.pass(symbols, this.#minutesPerPass)
      if (!passes.ok) throw passes.error
      const work = passes.value.filter((p) => p.changes.done.length > 0)
      const applied = work.length > 0 ? await this.#writer.applyBars(work.map((p) => p.changes)) : { ok: true as const, value: [] }
      if (!applied.ok) throw applied.error
      if (work.length > 0) this.#onApplied?.(work.map((p) => p.changes.symbolId))
      const now = performance.now()
      this.counters.rounds++
      this.counters.passes += passes.value.length
      for (const p of passes.value) this.counters.ticksRead += p.ticks
      for (const [id, since] of covered) if (since !== undefined) this.#lags[this.#lagCount++ % LAG_SAMPLES] = now - since
      work.forEach((p, i) => {
        const cleared = applied.value[i]!
        this.counters.minutes += cleared
        // minutes left for later, or ticks that came into a minute while it was computed
        if (p.more || cleared < p.changes.done.length) this.#queued.add(p.changes.symbolId)
      })
    } catch (err) {
      // the minutes stay on the work list; the symbols are tried again after a pause
      const error: TaskError = isTaskError(err) ? err : { code: ProtocolErrors.STORAGE_FAILED, message: (err as Error).message, dataError: false }
      for (const [id, since] of covered) {
        this.#queued.add(id)
        if (since !== undefined && !this.#since.has(id)) this.#since.set(id, since)
      }
      this.#fail(error)
      delay = this.#retryMs
    } finally {
      this.#running = false
      this.#schedule(delay)
    }
  }

  #fail(error: TaskError): void {
    this.counters.failures++
    if (this.#closed) return
    this.#log.warn({ component: 'aggregator', code: error.code, dbCode: error.dbCode, cause: error.message }, 'a bar aggregation round failed; it is retried')
  }
}

function isTaskError(err: unknown): err is TaskError {
  return typeof err === 'object' && err !== null && 'code' in err && 'dataError' in err && !(err instanceof Error)
}
