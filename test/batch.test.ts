import t from 'tap'
import { buildBatch, type Pending } from '../src/ingest/batch.js'
import type { TickBatch } from '../src/protocol/messages.js'
import { TickStore } from '../src/ingest/tick-store.js'
import type { RejectedEntry } from '../src/workers/tasks.js'
import { record, stream, ticks } from './ingest-fakes.js'

/** A stream's pending tick batches, appended to its own store as ingest does. */
function tickItems(store: TickStore, batches: { seq: number; symbol: string; count: number; firstIndex?: number; gap?: TickBatch['gap'] }[]): Pending[] {
  return batches.map((b) => {
    const m = ticks(b.seq, b.symbol, b.count)
    const offset = store.append(m)
    return { kind: 'ticks', seq: b.seq, bytes: 0, at: 0, symbol: b.symbol, count: b.count, firstIndex: b.firstIndex ?? 0, gap: b.gap, offset }
  })
}

t.test('streams in order of id, each a contiguous slice; segments point into one set of columns', async (t) => {
  const store5 = new TickStore(16)
  const store2 = new TickStore(16)
  const gap = { dropped: 7, from_msc: 10, to_msc: 20 }
  const items5: Pending[] = [
    ...tickItems(store5, [{ seq: 1, symbol: 'EURUSD', count: 3 }]),
    { kind: 'record', seq: 2, bytes: 0, at: 0, entry: record(5, 2) },
    ...tickItems(store5, [{ seq: 3, symbol: 'GBPUSD', count: 2, firstIndex: 4, gap }]),
  ]
  const items2 = tickItems(store2, [{ seq: 8, symbol: 'USDJPY', count: 1 }])
  const rejected: RejectedEntry = { streamId: 2, accountId: 20, seq: 9, code: 'STORAGE_REFUSED', message: 'x' }
  items2.push({ kind: 'rejected', seq: 9, bytes: 0, at: 0, entry: rejected })
  const asked: number[] = []
  const batch = buildBatch(
    [
      { state: stream(5), items: items5, store: store5 },
      { state: stream(7), items: [] },
      { state: stream(2), items: items2, store: store2 },
    ],
    (bytes) => (asked.push(bytes), new ArrayBuffer(bytes)),
  )
  t.same(asked, [6 * 56], 'one buffer for the 6 ticks, 7 columns of float64')
  t.same(batch.streams, [
    { streamId: 2, accountId: 20, server: 'server-2', fromSeq: 8, toSeq: 9 },
    { streamId: 5, accountId: 50, server: 'server-5', fromSeq: 1, toSeq: 3 },
  ], 'a stream with nothing taken is left out')
  t.same(batch.segments, [
    { streamId: 2, seq: 8, symbol: 'USDJPY', accountId: 20, server: 'server-2', start: 0, count: 1, firstIndex: 0 },
    { streamId: 5, seq: 1, symbol: 'EURUSD', accountId: 50, server: 'server-5', start: 1, count: 3, firstIndex: 0 },
    { streamId: 5, seq: 3, symbol: 'GBPUSD', accountId: 50, server: 'server-5', start: 4, count: 2, firstIndex: 4, gap },
  ])
  t.notOk('gap' in batch.segments[0]!, 'no gap key without a gap')
  t.same([...batch.ticks!.time_msc], [800, 100, 101, 102, 300, 301], 'ticks in segment order')
  t.same([...batch.ticks!.ask], [800.2, 100.2, 101.2, 102.2, 300.2, 301.2])
  t.same([...batch.ticks!.flags], [6, 6, 6, 6, 6, 6])
  t.equal(batch.ticks!.bid.buffer, batch.ticks!.time_msc.buffer, 'all columns over the one buffer')
  t.same(batch.records.map((r) => [r.streamId, r.seq]), [[5, 2]])
  t.same(batch.rejected, [rejected])
})

t.test('a batch without ticks asks for no buffer', async (t) => {
  let asked = 0
  const batch = buildBatch([{ state: stream(1), items: [{ kind: 'record', seq: 4, bytes: 0, at: 0, entry: record(1, 4) }] }], () => (asked++, new ArrayBuffer(0)))
  t.equal(asked, 0)
  t.equal(batch.ticks, undefined)
  t.same(batch.segments, [])
  t.same(batch.streams, [{ streamId: 1, accountId: 10, server: 'server-1', fromSeq: 4, toSeq: 4 }])
})
