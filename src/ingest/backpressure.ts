/**
 * The byte budget of ingest: bytes pending per stream and in total, and the connections told to
 * stop reading past a limit and to resume once below half of it (the gap keeps a connection near
 * the limit from pausing and resuming at every message).
 */

/** What the budget keeps of a stream; the stream's state carries it. */
export interface Budgeted {
  sink: { pause(): void; resume(): void }
  /** Bytes pending plus bytes in the batch in flight. */
  bytes: number
  /** Stopped by its own limit (a stop by the total limit is not recorded per stream). */
  paused: boolean
}

export interface ByteLimits {
  /** Bytes one stream may hold before its connection stops reading. */
  maxStreamBytes: number
  /** Bytes all streams together may hold before every connection stops reading. */
  maxTotalBytes: number
}

export class Backpressure {
  readonly #limits: ByteLimits
  readonly #counters: { pendingBytes: number; pauses: number }
  #total = 0
  #globalPause = false

  /** `counters.pendingBytes` follows the total; `counters.pauses` counts every pause() told. */
  constructor(limits: ByteLimits, counters: { pendingBytes: number; pauses: number }) {
    this.#limits = limits
    this.#counters = counters
  }

  /** A message joined the stream's pending; past the stream's limit its connection stops reading. */
  add(stream: Budgeted, bytes: number): void {
    stream.bytes += bytes
    this.#total += bytes
    this.#counters.pendingBytes = this.#total
    if (stream.bytes > this.#limits.maxStreamBytes && !stream.paused) {
      stream.paused = true
      this.#counters.pauses++
      stream.sink.pause()
    }
  }

  /** Pending messages dropped unwritten: their connection left, or their stream failed. */
  drop(stream: Budgeted, bytes: number): void {
    this.#total -= bytes
    stream.bytes -= bytes
    this.#counters.pendingBytes = this.#total
  }

  /** A batch of `bytes` left the pipeline, committed or not. */
  written(bytes: number): void {
    this.#total -= bytes
    this.#counters.pendingBytes = this.#total
  }

  /**
   * The stream's share of a batch that left: at half its limit or below, a stream its own limit
   * stopped reads again, unless the total limit still holds every connection.
   */
  release(stream: Budgeted, bytes: number): void {
    stream.bytes -= bytes
    if (stream.paused && stream.bytes <= this.#limits.maxStreamBytes / 2) {
      stream.paused = false
      if (!this.#globalPause) stream.sink.resume()
    }
  }

  /**
   * Pauses every connection when the total passes its limit, and resumes them at half of it, but
   * those their own limit still holds.
   */
  balance(streams: Iterable<Budgeted>): void {
    const limit = this.#limits.maxTotalBytes
    if (!this.#globalPause && this.#total > limit) {
      this.#globalPause = true
      for (const s of streams) {
        if (s.paused) continue
        this.#counters.pauses++
        s.sink.pause()
      }
    } else if (this.#globalPause && this.#total <= limit / 2) {
      this.#globalPause = false
      for (const s of streams) if (!s.paused) s.sink.resume()
    }
  }
}
