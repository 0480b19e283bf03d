/**
 * What waits in ingest (Pending), and buildBatch, which turns the messages taken from streams
 * into one WriteBatch for a writer.
 */
import type { TickBatch } from '../protocol/messages.js'
import type { RecordEntry, RejectedEntry, TickColumns, TickSegment, WriteBatch } from '../workers/tasks.js'
import { COLUMNS, type TickStore } from './tick-store.js'

/**
 * A durable message waiting for its batch. `at`: when it reached ingest (performance.now()), for
 * the queue-wait counter. A tick batch's ticks are rows `offset` .. `offset + count` of its
 * stream's TickStore.
 */
export type Pending =
  | { kind: 'ticks'; seq: number; bytes: number; at: number; symbol: string; count: number; firstIndex: number; gap: TickBatch['gap']; offset: number }
  | { kind: 'record'; seq: number; bytes: number; at: number; entry: RecordEntry }
  | { kind: 'rejected'; seq: number; bytes: number; at: number; entry: RejectedEntry }

/** The stream a batch's slice is written for. */
export interface StreamIdentity {
  streamId: number
  accountId: number
  server: string
}

/**
 * A stream's messages taken into one write batch, with the store that holds their ticks (none
 * needed when no item is a tick batch).
 */
export interface Chosen<S extends StreamIdentity = StreamIdentity> {
  state: S
  items: Pending[]
  store?: TickStore | undefined
}

/**
 * Builds one write batch; tick columns are concatenated into typed arrays over one buffer that
 * transfers to the writer without a copy (and comes back for the next batch: see writer-pool.ts).
 * Streams go in order of streamId, each one's messages in the order taken.
 */
export function buildBatch(
  chosen: Chosen[],
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
