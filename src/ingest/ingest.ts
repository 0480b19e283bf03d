/**
 * Ingest: validated durable messages wait here per stream, are gathered into write batches by
 * size and time, and go to the writer pool. A stream has at most one batch in flight, so its
 * messages commit in order and a cumulative ack is always true. Memory is bounded in bytes per
 * stream and in total: past a limit the stream's connection stops reading. Ticks wait as columns
 * of float64 (a TickStore per stream), not as the arrays the decoder built: those die young.
 */
import type { TickBatch } from '../protocol/messages.js'
import type { WriterPool } from '../workers/writer-pool.js'
import type {
  CommandChange,
  RecordEntry,
  RejectedEntry,
  TaskError,
  TickColumns,
  TickSegment,
  WriteBatch,
  WriteOutcome,
} from '../workers/tasks.js'

export interface IngestOptions {
  /** Rows (ticks count one each, other messages one) that trigger a write at once. */
  batchRows: number
  /** The longest a message waits for more to fill its batch, in ms. */
  flushMs: number
  /** Bytes of pending messages one stream may hold before its connection stops reading. */
  maxStreamBytes: number
  /** Bytes of pending messages all streams together may hold before every connection stops reading. */
  maxTotalBytes: number
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

/**
 * `at`: when the message reached ingest (performance.now()), for the queue-wait counter. A tick
 * batch's ticks are rows `offset` .. `offset + count` of its stream's TickStore.
 */
type Pending =
  | { kind: 'ticks'; seq: number; bytes: number; at: number; symbol: string; count: number; firstIndex: number; gap: TickBatch['gap']; offset: number }
  | { kind: 'record'; seq: number; bytes: number; at: number; entry: RecordEntry }
  | { kind: 'rejected'; seq: number; bytes: number; at: number; entry: RejectedEntry }

interface StreamState {
  streamId: number
  accountId: number
  server: string
  sink: StreamSink
  pending: Pending[]
  pendingRows: number
  /** The ticks of the pending tick batches; a batch taking the pending messages takes it too. */
  store: TickStore | undefined
  /** Bytes pending plus bytes in the batch in flight. */
  bytes: number
  inFlight: boolean
  paused: boolean
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
  readonly #pool: WriterPool
  readonly #options: IngestOptions
  readonly #streams = new Map<number, StreamState>()
  #totalBytes = 0
  #totalRows = 0
  #running = 0
  #timer: NodeJS.Timeout | undefined
  #globalPause = false
  #idleWaiters: (() => void)[] = []
  /** The newest committed seq of every stream seen, kept after its state is gone. */
  readonly #committedSeq = new Map<number, number>()
  readonly #settleWaiters = new Map<number, (() => void)[]>()
  /** Emptied stores for reuse, so that a busy stream does not allocate and grow a new one per batch. */
  readonly #stores: TickStore[] = []
  readonly counters: IngestCounters = {
    batches: 0, ticks: 0, records: 0, skipped: 0, failedBatches: 0, pendingBytes: 0, pauses: 0,
    messages: 0, queueWaitMs: 0, writeMs: 0, commitMs: 0,
  }

  constructor(pool: WriterPool, options: IngestOptions) {
    this.#pool = pool
    this.#options = options
  }

  /** Attaches a connection to its stream; a previous connection of the same stream is detached. */
  attach(stream: { streamId: number; accountId: number; server: string }, sink: StreamSink): void {
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
    this.#balance()
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
    state.store ??= this.#stores.pop() ?? new TickStore(count)
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
    state.bytes += item.bytes
    this.#totalRows += rows
    this.#totalBytes += item.bytes
    this.counters.pendingBytes = this.#totalBytes
    if (state.bytes > this.#options.maxStreamBytes && !state.paused) {
      state.paused = true
      this.counters.pauses++
      state.sink.pause()
    }
    this.#balance()
    if (this.#totalRows >= this.#options.batchRows) this.#flushNow()
    else this.#timer ??= setTimeout(() => this.#flushNow(), this.#options.flushMs)
  }

  #drop(state: StreamState): void {
    for (const item of state.pending) this.#totalBytes -= item.bytes
    this.#totalRows -= state.pendingRows
    state.bytes -= state.pending.reduce((n, item) => n + item.bytes, 0)
    state.pending = []
    state.pendingRows = 0
    state.store = undefined
    this.counters.pendingBytes = this.#totalBytes
  }

  /** Pauses or resumes every connection against the total byte limit. */
  #balance(): void {
    const limit = this.#options.maxTotalBytes
    if (!this.#globalPause && this.#totalBytes > limit) {
      this.#globalPause = true
      for (const s of this.#streams.values()) {
        if (s.paused) continue
        this.counters.pauses++
        s.sink.pause()
      }
    } else if (this.#globalPause && this.#totalBytes <= limit / 2) {
      this.#globalPause = false
      for (const s of this.#streams.values()) if (!s.paused) s.sink.resume()
    }
  }

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
  #choose(): Chosen[] {
    const chosen: Chosen[] = []
    let rows = 0
    for (const state of this.#streams.values()) {
      // a chosen stream is in flight, so meeting it again at the back ends nothing early
      if (state.inFlight || state.pending.length === 0) continue
      state.inFlight = true
      chosen.push({ state, items: state.pending, rows: state.pendingRows, store: state.store })
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

  async #write(chosen: Chosen[]): Promise<void> {
    const bytes = chosen.reduce((n, c) => n + c.items.reduce((m, i) => m + i.bytes, 0), 0)
    const started = performance.now()
    try {
      const result = await this.#pool.write(buildBatch(chosen, this.#pool.columnBuffer))
      if (result.ok) {
        this.#committed(chosen, result.value)
        this.#timed(chosen, started, result.value.commitMs)
      }
      else if (result.error.dataError && (chosen.length > 1 || chosen[0]!.items.length > 1)) await this.#isolate(chosen)
      else this.#failed(chosen, result.error)
    } catch (err) {
      // the pool itself failed (a worker died, or it is being destroyed): no stream's batch committed
      this.#failed(chosen, failure(err as Error).error)
    } finally {
      this.#totalBytes -= bytes
      this.counters.pendingBytes = this.#totalBytes
      for (const { state } of chosen) {
        state.inFlight = false
        state.bytes -= chosen.find((c) => c.state === state)!.items.reduce((m, i) => m + i.bytes, 0)
        if (state.paused && state.bytes <= this.#options.maxStreamBytes / 2) {
          state.paused = false
          if (!this.#globalPause) state.sink.resume()
        }
        if (state.sink === detachedSink && this.#streams.get(state.streamId) === state) this.#streams.delete(state.streamId)
      }
      this.#running--
      for (const { store } of chosen) if (store) this.#recycle(store)
      for (const { state } of chosen) {
        const waiters = this.#settleWaiters.get(state.streamId)
        this.#settleWaiters.delete(state.streamId)
        for (const wake of waiters ?? []) wake()
      }
      this.#balance()
      this.#flushNow()
      if (this.#running === 0) for (const wake of this.#idleWaiters.splice(0)) wake()
    }
  }

  /** Keeps an emptied store for reuse: a few, and none larger than a big batch. */
  #recycle(store: TickStore): void {
    store.rows = 0
    if (this.#stores.length < SPARE_STORES && store.capacity <= SPARE_STORE_MAX_TICKS) this.#stores.push(store)
  }

  #committed(chosen: { state: StreamState; items: Pending[] }[], outcome: WriteOutcome): void {
    this.counters.batches++
    this.counters.ticks += outcome.counts.ticks
    this.counters.records += outcome.counts.records
    this.counters.skipped += outcome.counts.skipped
    for (const { state } of chosen) {
      const seq = outcome.committed.find((c) => c.streamId === state.streamId)?.seq
      const changes = outcome.commandChanges.filter((c) => c.streamId === state.streamId)
      if (seq === undefined) continue
      if (seq > (this.#committedSeq.get(state.streamId) ?? 0)) this.#committedSeq.set(state.streamId, seq)
      state.sink.committed(seq, changes)
    }
  }

  #timed(chosen: { items: Pending[] }[], started: number, commitMs: number): void {
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
  #failed(chosen: { state: StreamState }[], error: TaskError): void {
    this.counters.failedBatches++
    for (const { state } of chosen) {
      this.#drop(state)
      state.sink.failed(error)
    }
  }

  /**
   * The database refused some row of the batch. Write each message alone, in order; one the
   * database refuses by itself is recorded as rejected, which consumes its seq, so the stream
   * goes on and a resend cannot loop.
   */
  async #isolate(chosen: Chosen[]): Promise<void> {
    for (let k = 0; k < chosen.length; k++) {
      const c = chosen[k]!
      // the database failing (not the data) fails this stream and every one not yet written alone
      const fail = (error: TaskError) => this.#failed(chosen.slice(k), error)
      for (const item of c.items) {
        const single = [{ state: c.state, items: [item], rows: 1, store: c.store }]
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
            code: 'STORAGE_REFUSED',
            message: `${result.error.dbCode ?? result.error.code}: ${result.error.message}`,
          },
        }
        const recorded = await this.#pool.write(buildBatch([{ state: c.state, items: [rejected] }])).catch((err: Error) => failure(err))
        if (!recorded.ok) return fail(recorded.error)
        c.state.sink.rejected(rejected.entry as RejectedEntry)
        c.state.sink.committed(item.seq, [])
      }
    }
  }
}

/** A write the pool could not run at all (a worker died, or the pool is being destroyed). */
function failure(err: Error): { ok: false; error: TaskError } {
  return { ok: false, error: { code: 'STORAGE_FAILED', message: err.message, dataError: false } }
}

const detachedSink: StreamSink = { committed() {}, failed() {}, rejected() {}, pause() {}, resume() {} }

/** Emptied tick stores kept for reuse, and the largest kept (in ticks, 56 bytes each: 14 MB at most in all). */
const SPARE_STORES = 16
const SPARE_STORE_MAX_TICKS = 16_384

/** The tick columns in their order in a store's buffer and in a batch's. */
const COLUMNS = ['time_msc', 'bid', 'ask', 'last', 'volume', 'volume_real', 'flags'] as const

/** Bytes a waiting tick takes in its stream's TickStore. */
const TICK_BYTES = COLUMNS.length * 8

/**
 * One stream's pending ticks as seven float64 columns in one buffer, appended as tick batches
 * arrive. Holding the decoder's arrays instead costs the same bytes while they live, but they live
 * long enough to reach V8's old generation, which then grows to several times what is pending
 * (measured: a 383 MB heap for 67 MB of pending frames). Copied out here, they die young.
 */
export class TickStore {
  rows = 0
  #buffer: ArrayBuffer
  #columns: Float64Array[]

  constructor(capacity: number) {
    this.#buffer = new ArrayBuffer(Math.max(1024, capacity) * COLUMNS.length * 8)
    this.#columns = this.#views(this.#buffer)
  }

  get capacity(): number {
    return this.#buffer.byteLength / (COLUMNS.length * 8)
  }

  /** Appends a batch's ticks; returns the row of its first. */
  append(m: TickBatch): number {
    const n = m.time_msc.length
    const at = this.rows
    if (at + n > this.capacity) this.#grow(at + n)
    const c = this.#columns
    c[0]!.set(m.time_msc, at)
    c[1]!.set(m.bid, at)
    c[2]!.set(m.ask, at)
    c[3]!.set(m.last, at)
    c[4]!.set(m.volume, at)
    c[5]!.set(m.volume_real, at)
    c[6]!.set(m.flags, at)
    this.rows = at + n
    return at
  }

  /** Copies rows `from` .. `from + count` into `into` at row `at`. */
  copy(from: number, count: number, into: TickColumns, at: number): void {
    for (let k = 0; k < COLUMNS.length; k++) into[COLUMNS[k]!].set(this.#columns[k]!.subarray(from, from + count), at)
  }

  #grow(rows: number): void {
    const buffer = new ArrayBuffer(Math.max(rows, this.capacity * 2) * COLUMNS.length * 8)
    const columns = this.#views(buffer)
    for (let k = 0; k < COLUMNS.length; k++) columns[k]!.set(this.#columns[k]!.subarray(0, this.rows))
    this.#buffer = buffer
    this.#columns = columns
  }

  #views(buffer: ArrayBuffer): Float64Array[] {
    const capacity = buffer.byteLength / (COLUMNS.length * 8)
    return COLUMNS.map((_, k) => new Float64Array(buffer, k * capacity * 8, capacity))
  }
}

/** A stream's messages taken into one write batch, with the store that holds their ticks. */
interface Chosen {
  state: StreamState
  items: Pending[]
  rows: number
  store: TickStore | undefined
}

/**
 * Builds one write batch; tick columns are concatenated into typed arrays over one buffer that
 * transfers to the writer without a copy (and comes back for the next batch: see writer-pool.ts).
 */
export function buildBatch(
  chosen: { state: StreamState | { streamId: number; accountId: number; server: string }; items: Pending[]; store?: TickStore | undefined }[],
  columnBuffer: (bytes: number) => ArrayBuffer = (bytes) => new ArrayBuffer(bytes),
): WriteBatch {
  let tickCount = 0
  for (const c of chosen) for (const item of c.items) if (item.kind === 'ticks') tickCount += item.count
  let ticks: TickColumns | undefined
  if (tickCount > 0) {
    const buffer = columnBuffer(tickCount * COLUMNS.length * 8)
    const column = (k: number) => new Float64Array(buffer, k * tickCount * 8, tickCount)
    ticks = { time_msc: column(0), bid: column(1), ask: column(2), last: column(3), volume: column(4), volume_real: column(5), flags: column(6) }
  }
  const batch: WriteBatch = { streams: [], segments: [], ticks, records: [], rejected: [] }
  let at = 0
  for (const { state, items, store } of [...chosen].sort((a, b) => a.state.streamId - b.state.streamId)) {
    if (items.length === 0) continue
    batch.streams.push({
      streamId: state.streamId,
      accountId: state.accountId,
      server: state.server,
      fromSeq: items[0]!.seq,
      toSeq: items[items.length - 1]!.seq,
    })
    for (const item of items) {
      if (item.kind === 'record') batch.records.push(item.entry)
      else if (item.kind === 'rejected') batch.rejected.push(item.entry)
      else {
        const segment: TickSegment = { streamId: state.streamId, seq: item.seq, symbol: item.symbol, accountId: state.accountId, server: state.server, start: at, count: item.count, firstIndex: item.firstIndex }
        if (item.gap) segment.gap = item.gap
        batch.segments.push(segment)
        store!.copy(item.offset, item.count, ticks!, at)
        at += item.count
      }
    }
  }
  return batch
}
