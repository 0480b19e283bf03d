/**
 * Pending ticks as columns: a TickStore per stream holds the ticks of its waiting tick batches,
 * and SpareStores keeps emptied stores for the next batches.
 */
import type { TickBatch } from '../protocol/messages.js'
import type { TickColumns } from '../workers/tasks.js'

/** The tick columns in their order in a store's buffer and in a batch's. */
export const COLUMNS = ['time_msc', 'bid', 'ask', 'last', 'volume', 'volume_real', 'flags'] as const

/** Bytes a waiting tick takes in its stream's TickStore. */
export const TICK_BYTES = COLUMNS.length * 8

/** Emptied tick stores kept for reuse, and the largest kept (in ticks, 56 bytes each: 14 MB at most in all). */
const SPARE_STORES = 16
const SPARE_STORE_MAX_TICKS = 16_384

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

/** Emptied stores for reuse, so that a busy stream does not allocate and grow a new one per batch. */
export class SpareStores {
  readonly #stores: TickStore[] = []

  /** A spare store (it grows if `ticks` do not fit), or a new one sized for them. */
  take(ticks: number): TickStore {
    return this.#stores.pop() ?? new TickStore(ticks)
  }

  /** Keeps an emptied store for reuse: a few, and none larger than a big batch. */
  recycle(store: TickStore): void {
    store.rows = 0
    if (this.#stores.length < SPARE_STORES && store.capacity <= SPARE_STORE_MAX_TICKS) this.#stores.push(store)
  }
}
