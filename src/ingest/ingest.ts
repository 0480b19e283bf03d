/**
 * Ingest: validated durable messages wait here per stream, are gathered into write batches by
 * size and time, and go to the writer pool. A stream has at most one batch in flight, so its
 * messages commit in order and a cumulative ack is always true. Memory is bounded in bytes per
 * stream and in total (backpressure.ts): past a limit the stream's connection stops reading.
 * Ticks wait as columns of float64 (tick-store.ts), not as the arrays the decoder built: those
 * die young. The batch itself is built in batch.ts.
 */
import { ProtocolErrors, type TickBatch } from '../protocol/messages.js'
import type { WriterPool } from '../workers/writer-pool.js'
import type { CommandChange, RecordEntry, RejectedEntry, TaskError, WriteOutcome } from '../workers/tasks.js'
import { Backpressure, type Budgeted } from './backpressure.js'
import { buildBatch, type Chosen, type Pending, type StreamIdentity } from './batch.js'
import { SpareStores, TICK_BYTES, type TickStore } from './tick-store.js'

export interface IngestOptions {
  /** Rows (ticks count one each, other messages one) that trigger a write at once. */
  batchRows: number
  /** The longest a message waits for more to fill its batch, in ms. */
  flushMs: number
  /** Bytes of pending messages one stream may hold before its connection stops reading. */
  maxStreamBytes: number
  /** Bytes of pending messages all streams together may hold before every connection stops reading. */
  maxTotalBytes: number
  /** Told of every committed batch, after its streams are: the bar aggregator listens here. */
  onCommit?: (outcome: WriteOutcome) => void
  /**
   * After each commit, with what it held: `fresh` tells an item new in it from a replay of one an
   * earlier batch committed (the live feed publishes each once).
   */
  onCommitted?: (chosen: readonly Chosen[], fresh: (streamId: number, seq: number) => boolean) => void
}

/** What ingest tells a stream's connection. */
export interface StreamSink {
  /** Everything up to `seq` is committed. */
  committed(seq: number, changes: CommandChange[]): void
  /** The database failed (not the data): nothing pending was stored; the connection should close. */
  failed(error: TaskError): void
  /** The database refused this one message by itself: it is recorded as rejected and acknowledged. */
  rejected(entry: RejectedEntry): void
  /** Stop or resume reading the socket. */
  pause(): void
  resume(): void
}

/** What ingest needs of the writer pool: the engine passes its WriterPool, a test a fake. */
export type BatchWriter = Pick<WriterPool, 'slots' | 'columnBuffer' | 'write'>

interface StreamState extends StreamIdentity, Budgeted {
  sink: StreamSink
  pending: Pending[]
  pendingRows: number
  /** The ticks of the pending tick batches; a batch taking the pending messages takes it too. */
  store: TickStore | undefined
  inFlight: boolean
}

export interface IngestCounters {
  batches: number
  ticks: number
  records: number
  skipped: number
  failedBatches: number
  /** Bytes of frames waiting for the database or in a write now. */
  pendingBytes: number
  /** Times a connection was told to stop reading. */
  pauses: number
  // Where the time goes; always on, a clock read per message and per batch. Summed, so that a
  // reader takes differences between two readings. Absent on an engine that does not serve.
  /** Durable messages committed. */
  messages?: number
  /** Time committed messages waited in ingest before their batch went to a writer, ms. */
  queueWaitMs?: number
  /** Time batches spent with the writer pool: hand-off, transaction and the result coming back, ms. */
  writeMs?: number
  /** Time writers spent inside transactions, BEGIN to COMMIT, ms. */
  commitMs?: number
}


export class Ingest {
  readonly #pool: BatchWriter
  readonly #options: IngestOptions
  readonly #streams = new Map<number, StreamState>()
  #totalRows = 0
  #running = 0
  #timer: NodeJS.Timeout | undefined
  #idleWaiters: (() => void)[] = []
  /** The newest committed seq of every stream seen, kept after its state is gone. */
  readonly #committedSeq = new Map<number, number>()
  readonly #settleWaiters = new Map<number, (() => void)[]>()
  readonly #stores = new SpareStores()
  readonly counters: IngestCounters = {
    batches: 0, ticks: 0, records: 0, skipped: 0, failedBatches: 0, pendingBytes: 0, pauses: 0,
    messages: 0, queueWaitMs: 0, writeMs: 0, commitMs: 0,
  }
  readonly #budget: Backpressure

  constructor(pool: BatchWriter, options: IngestOptions) {
    this.#pool = pool
    this.#options = options
    this.#budget = new Backpressure(options, this.counters)
  }

  /** Attaches a connection to its stream; a previous connection of the same stream is detached. */
  attach(stream: StreamIdentity, sink: StreamSink): void {
    const state = this.#streams.get(stream.streamId)
    if (state) {
      this.#drop(state)
      state.sink = sink
      state.paused = false
      return
    }
    this.#streams.set(stream.streamId, {
      ...stream,
      sink,
      pending: [],
      pendingRows: 0,
      store: undefined,
      bytes: 0,
      inFlight: false,
      paused: false,
    })
  }

  /** The connection is gone: what it had pending was never acknowledged and will be resent. */
  detach(streamId: number, sink: StreamSink): void {
    const state = this.#streams.get(streamId)
    if (!state || state.sink !== sink) return
    this.#drop(state)
    state.sink = detachedSink
    if (!state.inFlight) this.#streams.delete(streamId)
    this.#budget.balance(this.#streams.values())
  }

  /**
   * Takes a tick batch. It counts against the byte limits at what it holds while it waits, its
   * ticks as float64 columns (56 bytes each), or its frame's size if that is larger: a frame
   * carries a tick in about 31 bytes, so counting frames let waiting ticks take nearly twice the
   * memory the limit names.
   */
  submitTicks(streamId: number, message: TickBatch, frameBytes: number): void {
    const state = this.#streams.get(streamId)
    if (!state) throw new Error(`stream ${streamId} is not attached`)
    const count = message.time_msc.length
    state.store ??= this.#stores.take(count)
    const offset = state.store.append(message)
    const bytes = Math.max(frameBytes, count * TICK_BYTES)
    this.#push(
      streamId,
      { kind: 'ticks', seq: message.seq, bytes, at: performance.now(), symbol: message.symbol, count, firstIndex: message.first_index ?? 0, gap: message.gap, offset },
      count,
    )
  }

  submitRecord(streamId: number, entry: RecordEntry, bytes: number): void {
    this.#push(streamId, { kind: 'record', seq: entry.seq, bytes, at: performance.now(), entry }, 1)
  }

  submitRejected(streamId: number, entry: RejectedEntry, bytes: number): void {
    this.#push(streamId, { kind: 'rejected', seq: entry.seq, bytes, at: performance.now(), entry }, 1)
  }

  /**
   * Resolves when the stream has no batch in flight, with the newest seq ingest saw committed for
   * it (undefined if none): a new connection's resume point must not move after its welcome.
   */
  async settled(streamId: number): Promise<number | undefined> {
    while (this.#streams.get(streamId)?.inFlight) {
      await new Promise<void>((resolve) => {
        const waiters = this.#settleWaiters.get(streamId) ?? []
        waiters.push(resolve)
        this.#settleWaiters.set(streamId, waiters)
      })
    }
    return this.#committedSeq.get(streamId)
  }

  /** Resolves when nothing is pending or in flight (for a clean shutdown). */
  async drain(): Promise<void> {
    this.#flushNow()
    while (this.#running > 0 || this.#totalRows > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
      this.#flushNow()
    }
  }

  #push(streamId: number, item: Pending, rows: number): void {
    const state = this.#streams.get(streamId)
    if (!state) throw new Error(`stream ${streamId} is not attached`)
    state.pending.push(item)
    state.pendingRows += rows
    this.#totalRows += rows
    this.#budget.add(state, item.bytes)
    this.#budget.balance(this.#streams.values())
    if (this.#totalRows >= this.#options.batchRows) this.#flushNow()
    else this.#timer ??= setTimeout(() => this.#flushNow(), this.#options.flushMs)
  }

  /** Forgets what the stream has pending: it was never acknowledged. */
  #drop(state: StreamState): void {
    this.#budget.drop(state, bytesOf(state.pending))
    this.#totalRows -= state.pendingRows
    state.pending = []
    state.pendingRows = 0
    state.store = undefined
  }

  /** Starts batches while the pool has free slots; what is left waits for a slot or for flushMs. */
  #flushNow(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    while (this.#running < this.#pool.slots) {
      const chosen = this.#choose()
      if (chosen.length === 0) break
      this.#running++
      void this.#write(chosen)
    }
    if (this.#totalRows > 0 && this.#running >= this.#pool.slots) return
    if (this.#totalRows > 0) this.#timer = setTimeout(() => this.#flushNow(), this.#options.flushMs)
  }

  /**
   * Streams with pending messages and no batch in flight, up to about one batch of rows. A chosen
   * stream moves to the back of the line, so that with batches in the pipeline every stream gets
   * its turn and none waits behind a busy one.
   */
  #choose(): Chosen<StreamState>[] {
    const chosen: Chosen<StreamState>[] = []
    let rows = 0
    for (const state of this.#streams.values()) {
      // a chosen stream is in flight, so meeting it again at the back ends nothing early
      if (state.inFlight || state.pending.length === 0) continue
      state.inFlight = true
      chosen.push({ state, items: state.pending, store: state.store })
      rows += state.pendingRows
      this.#totalRows -= state.pendingRows
      state.pending = []
      state.pendingRows = 0
      state.store = undefined
      this.#streams.delete(state.streamId)
      this.#streams.set(state.streamId, state)
      if (rows >= this.#options.batchRows) break
    }
    return chosen
  }

  async #write(chosen: Chosen<StreamState>[]): Promise<void> {
    const started = performance.now()
    try {
      const result = await this.#pool.write(buildBatch(chosen, this.#pool.columnBuffer))
      if (result.ok) {
        this.#committed(chosen, result.value)
        this.#timed(chosen, started, result.value.commitMs)
      }
      else if (result.error.dataError) await this.#isolate(chosen)
      else this.#failed(chosen, result.error)
    } catch (err) {
      // the pool itself failed (a worker died, or it is being destroyed): no stream's batch committed
      this.#failed(chosen, failure(err as Error).error)
    } finally {
      this.#written(chosen)
    }
  }

  /** The batch left the pipeline: its bytes, its streams, its slot and whoever waits on them. */
  #written(chosen: Chosen<StreamState>[]): void {
    this.#budget.written(chosen.reduce((n, c) => n + bytesOf(c.items), 0))
    for (const { state, items } of chosen) {
      state.inFlight = false
      this.#budget.release(state, bytesOf(items))
      if (state.sink === detachedSink && this.#streams.get(state.streamId) === state) this.#streams.delete(state.streamId)
    }
    this.#running--
    for (const { store } of chosen) if (store) this.#stores.recycle(store)
    for (const { state } of chosen) {
      const waiters = this.#settleWaiters.get(state.streamId)
      this.#settleWaiters.delete(state.streamId)
      for (const wake of waiters ?? []) wake()
    }
    this.#budget.balance(this.#streams.values())
    this.#flushNow()
    if (this.#running === 0) for (const wake of this.#idleWaiters.splice(0)) wake()
  }

  #committed(chosen: Chosen<StreamState>[], outcome: WriteOutcome): void {
    this.counters.batches++
    this.counters.ticks += outcome.counts.ticks
    this.counters.records += outcome.counts.records
    this.counters.skipped += outcome.counts.skipped
    if (this.#options.onCommitted) {
      const before = new Map(chosen.map(({ state }) => [state.streamId, this.#committedSeq.get(state.streamId) ?? 0]))
      this.#options.onCommitted(chosen, (streamId, seq) => seq > (before.get(streamId) ?? 0))
    }
    for (const { state } of chosen) {
      const seq = outcome.committed.find((c) => c.streamId === state.streamId)?.seq
      const changes = outcome.commandChanges.filter((c) => c.streamId === state.streamId)
      if (seq === undefined) continue
      if (seq > (this.#committedSeq.get(state.streamId) ?? 0)) this.#committedSeq.set(state.streamId, seq)
      state.sink.committed(seq, changes)
    }
    this.#options.onCommit?.(outcome)
  }

  #timed(chosen: Chosen[], started: number, commitMs: number): void {
    const c = this.counters
    let waited = 0
    let messages = 0
    for (const { items } of chosen) {
      for (const item of items) waited += started - item.at
      messages += items.length
    }
    c.messages! += messages
    c.queueWaitMs! += waited
    c.writeMs! += performance.now() - started
    c.commitMs! += commitMs
  }

  /**
   * The batch did not commit. Every stream in it fails as a whole: what it has pending was sent
   * after the failed messages, and writing it would move the stored high-water mark past them, so
   * that the EA, told by `resume_seq` they were stored, would never resend them. It is dropped
   * here, unacknowledged, and the EA resends all of it after reconnecting.
   */
  #failed(chosen: Chosen<StreamState>[], error: TaskError): void {
    this.counters.failedBatches++
    for (const { state } of chosen) {
      this.#drop(state)
      state.sink.failed(error)
    }
  }

  /**
   * The database refused some row of the batch. Write each message alone, in order; one the
   * database refuses by itself is recorded as rejected, which consumes its seq, so the stream
   * goes on and a resend cannot loop. This stays beside #committed and #failed: it is the same
   * bookkeeping, one message at a time.
   */
  async #isolate(chosen: Chosen<StreamState>[]): Promise<void> {
    for (let k = 0; k < chosen.length; k++) {
      const c = chosen[k]!
      // the database failing (not the data) fails this stream and every one not yet written alone
      const fail = (error: TaskError) => this.#failed(chosen.slice(k), error)
      for (const item of c.items) {
        const single = [{ state: c.state, items: [item], store: c.store }]
        const result = await this.#pool.write(buildBatch(single)).catch((err: Error) => failure(err))
        if (result.ok) {
          this.#committed(single, result.value)
          continue
        }
        if (!result.error.dataError) return fail(result.error)
        const rejected: Pending = {
          kind: 'rejected',
          seq: item.seq,
          bytes: 0,
          at: item.at,
          entry: {
            streamId: c.state.streamId,
            accountId: c.state.accountId,
            seq: item.seq,
            code: ProtocolErrors.STORAGE_REFUSED,
            message: `${result.error.dbCode ?? result.error.code}: ${result.error.message}`,
          },
        }
        const recorded = await this.#pool.write(buildBatch([{ state: c.state, items: [rejected] }])).catch((err: Error) => failure(err))
        if (!recorded.ok) return fail(recorded.error)
        this.#options.onCommitted?.([{ state: c.state, items: [rejected] }], () => true)
        c.state.sink.rejected(rejected.entry as RejectedEntry)
        c.state.sink.committed(item.seq, [])
      }
    }
  }
}

function bytesOf(items: Pending[]): number {
  return items.reduce((n, item) => n + item.bytes, 0)
}

/** A write the pool could not run at all (a worker died, or the pool is being destroyed). */
function failure(err: Error): { ok: false; error: TaskError } {
  return { ok: false, error: { code: 'STORAGE_FAILED', message: err.message, dataError: false } }
}

const detachedSink: StreamSink = { committed() {}, failed() {}, rejected() {}, pause() {}, resume() {} }
