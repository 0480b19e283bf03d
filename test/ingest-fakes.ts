/**
 * A fake writer pool and fake sinks for testing Ingest without a database: the pool holds each
 * write until the test answers it (or answers at once by a rule), and a sink records what ingest
 * told its connection. The real-database path is tested by ingest.test.ts, faults.test.ts and
 * crash.test.ts.
 */
import { Ingest, type BatchWriter, type IngestOptions, type StreamSink } from '../src/ingest/ingest.js'
import type { TickBatch } from '../src/protocol/messages.js'
import type { CommandChange, RecordEntry, RejectedEntry, TaskError, TaskResult, WriteBatch, WriteOutcome } from '../src/workers/tasks.js'

export interface HeldWrite {
  batch: WriteBatch
  /** When the write reached the pool (performance.now()). */
  at: number
  answered: boolean
  /** Commits the batch: every stream in it up to its toSeq. */
  commit(extra?: Partial<WriteOutcome>): void
  /** The database refused the batch (or failed, with dataError false). */
  refuse(error: Partial<TaskError> & { dataError: boolean }): void
  /** The pool itself failed: the write's promise rejects. */
  crash(message: string): void
}

/** What a real writer answers for a batch it committed: each stream's toSeq, rows by kind. */
export function outcomeOf(batch: WriteBatch, extra: Partial<WriteOutcome> = {}): WriteOutcome {
  return {
    committed: batch.streams.map((s) => ({ streamId: s.streamId, seq: s.toSeq })),
    counts: { ticks: batch.segments.reduce((n, s) => n + s.count, 0), records: batch.records.length, skipped: 0 },
    commandChanges: [],
    barSymbols: [],
    minuteBars: { built: 0, fromTicks: 0, readBack: 0 },
    commitMs: 0,
    ...extra,
  }
}

export class FakePool implements BatchWriter {
  readonly slots: number
  readonly writes: HeldWrite[] = []
  inFlight = 0
  maxInFlight = 0
  /** When set, each write is answered at once by what this returns, instead of being held. */
  auto: ((batch: WriteBatch) => TaskResult<WriteOutcome>) | undefined

  constructor(slots: number) {
    this.slots = slots
  }

  columnBuffer(bytes: number): ArrayBuffer {
    return new ArrayBuffer(bytes)
  }

  write(batch: WriteBatch): Promise<TaskResult<WriteOutcome>> {
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    return new Promise((resolve, reject) => {
      const answer = (fn: () => void) => {
        if (held.answered) throw new Error('this write was answered already')
        held.answered = true
        this.inFlight--
        fn()
      }
      const held: HeldWrite = {
        batch,
        at: performance.now(),
        answered: false,
        commit: (extra) => answer(() => resolve({ ok: true, value: outcomeOf(batch, extra) })),
        refuse: (error) => answer(() => resolve({ ok: false, error: { code: 'STORAGE_FAILED', message: 'refused', ...error } })),
        crash: (message) => answer(() => reject(new Error(message))),
      }
      this.writes.push(held)
      if (this.auto) {
        const result = this.auto(batch)
        answer(() => resolve(result))
      }
    })
  }

  /** The writes not yet answered. */
  get held(): HeldWrite[] {
    return this.writes.filter((w) => !w.answered)
  }
}

/** Records, in order, what ingest told one connection. */
export class FakeSink implements StreamSink {
  readonly events: string[] = []
  readonly changes: CommandChange[][] = []
  readonly rejectedEntries: RejectedEntry[] = []

  committed(seq: number, changes: CommandChange[]): void {
    this.events.push(`committed ${seq}`)
    this.changes.push(changes)
  }

  failed(error: TaskError): void {
    this.events.push(`failed ${error.code}`)
  }

  rejected(entry: RejectedEntry): void {
    this.events.push(`rejected ${entry.seq}`)
    this.rejectedEntries.push(entry)
  }

  pause(): void {
    this.events.push('pause')
  }

  resume(): void {
    this.events.push('resume')
  }
}

export const stream = (streamId: number) => ({ streamId, accountId: streamId * 10, server: `server-${streamId}` })

export function record(streamId: number, seq: number): RecordEntry {
  return { ...stream(streamId), seq, message: { type: 'log', message: `log ${seq}` } }
}

/** A tick batch of `count` ticks whose values are `base` + the tick's index, by column. */
export function ticks(seq: number, symbol: string, count: number, base = seq * 100): TickBatch {
  const col = (offset: number) => Array.from({ length: count }, (_, i) => base + i + offset)
  return { type: 'tick_batch', seq, symbol, time_msc: col(0), bid: col(0.1), ask: col(0.2), last: col(0.3), volume: col(0.4), volume_real: col(0.5), flags: col(0).map(() => 6) }
}

/** Lets every answered write run its continuation (the batch's ack, the next batch). */
export const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The seqs of each stream in a batch, as `streamId:seq,seq` in seq order, records, ticks and rejected alike. */
export function seqsOf(batch: WriteBatch): string[] {
  return batch.streams.map((s) => {
    const seqs = [
      ...batch.records.filter((r) => r.streamId === s.streamId).map((r) => r.seq),
      ...batch.segments.filter((g) => g.streamId === s.streamId).map((g) => g.seq),
      ...batch.rejected.filter((r) => r.streamId === s.streamId).map((r) => r.seq),
    ].sort((a, b) => a - b)
    return `${s.streamId}:${seqs.join(',')}`
  })
}

export const LONG_FLUSH = 60_000

/** An Ingest over a fake pool; the options default to limits no test reaches unless it sets them. */
export function fakeIngest(slots: number, options: Partial<IngestOptions> = {}) {
  const pool = new FakePool(slots)
  const ingest = new Ingest(pool, { batchRows: 1000, flushMs: LONG_FLUSH, maxStreamBytes: 1e9, maxTotalBytes: 1e9, ...options })
  return { pool, ingest }
}

/** Commits everything held and anything written from now on, and waits for ingest to be idle. */
export async function finish(pool: FakePool, ingest: Ingest): Promise<void> {
  pool.auto = (batch) => ({ ok: true, value: outcomeOf(batch) })
  for (const w of pool.held) w.commit()
  await ingest.drain()
}
