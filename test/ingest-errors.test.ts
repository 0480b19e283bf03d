import t from 'tap'
import type { WriteBatch } from '../src/workers/tasks.js'
import { fakeIngest, FakeSink, finish, outcomeOf, record, seqsOf, stream, turn } from './ingest-fakes.js'

const hasRecord = (batch: WriteBatch, streamId: number, seq: number) => batch.records.some((r) => r.streamId === streamId && r.seq === seq)

t.test('a failed write fails every stream in it with all it has pending, and no other stream', async (t) => {
  const { pool, ingest } = fakeIngest(2, { batchRows: 3 })
  t.teardown(() => finish(pool, ingest))
  const sinks = [new FakeSink(), new FakeSink(), new FakeSink()]
  for (const id of [1, 2, 3]) ingest.attach(stream(id), sinks[id - 1]!)
  ingest.submitRecord(1, record(1, 1), 10)
  ingest.submitRecord(2, record(2, 1), 10)
  ingest.submitRecord(1, record(1, 2), 10)
  for (const seq of [1, 2, 3]) ingest.submitRecord(3, record(3, seq), 10)
  // queued behind the batches in flight
  ingest.submitRecord(1, record(1, 3), 10)
  ingest.submitRecord(2, record(2, 2), 10)
  ingest.submitRecord(3, record(3, 4), 10)
  t.same(pool.writes.map((w) => seqsOf(w.batch)), [['1:1,2', '2:1'], ['3:1,2,3']])
  pool.writes[0]!.refuse({ code: 'STORAGE_FAILED', dataError: false })
  await turn()
  t.same(sinks[0]!.events, ['failed STORAGE_FAILED'])
  t.same(sinks[1]!.events, ['failed STORAGE_FAILED'])
  t.same(sinks[2]!.events, [], 'stream 3 was in another write')
  t.equal(ingest.counters.failedBatches, 1)
  t.equal(ingest.counters.pendingBytes, 40, 'streams 1 and 2 pending dropped; stream 3: 30 in flight, 10 pending')
  pool.writes[1]!.commit()
  await turn()
  pool.writes[2]!.commit()
  await turn()
  t.same(sinks[2]!.events, ['committed 3', 'committed 4'])
  t.same(pool.writes.map((w) => seqsOf(w.batch)), [['1:1,2', '2:1'], ['3:1,2,3'], ['3:4']], 'nothing behind the failed messages is written')
  t.equal(ingest.counters.failedBatches, 1)
})

t.test('after a failure the stream goes on only from what the EA resends', async (t) => {
  const { pool, ingest } = fakeIngest(1, { batchRows: 2 })
  t.teardown(() => finish(pool, ingest))
  const first = new FakeSink()
  ingest.attach(stream(1), first)
  ingest.submitRecord(1, record(1, 1), 10)
  ingest.submitRecord(1, record(1, 2), 10)
  pool.writes[0]!.commit()
  await turn()
  ingest.submitRecord(1, record(1, 3), 10)
  ingest.submitRecord(1, record(1, 4), 10)
  ingest.submitRecord(1, record(1, 5), 10)
  pool.writes[1]!.crash('the writer thread died')
  await turn()
  t.same(first.events, ['committed 2', 'failed STORAGE_FAILED'], 'a pool that throws fails the batch like a database failure')
  t.equal(pool.writes.length, 2, 'seq 5 is not written after the failed 3 and 4')
  t.equal(ingest.counters.pendingBytes, 0)
  t.equal(await ingest.settled(1), 2, 'the resume point stays before the failed messages')
  ingest.detach(1, first)
  const second = new FakeSink()
  ingest.attach(stream(1), second)
  for (const seq of [3, 4, 5]) ingest.submitRecord(1, record(1, seq), 10)
  await turn()
  t.same(seqsOf(pool.writes[2]!.batch), ['1:3,4'])
  pool.writes[2]!.commit()
  await turn()
  pool.writes[3]!.commit()
  await turn()
  t.same(second.events, ['committed 4', 'committed 5'])
})

t.test('a data error isolates the one bad message: it is recorded rejected, the others commit, in order', async (t) => {
  const { pool, ingest } = fakeIngest(1, { batchRows: 3 })
  t.teardown(() => finish(pool, ingest))
  const sink = new FakeSink()
  ingest.attach(stream(1), sink)
  pool.auto = (batch) =>
    hasRecord(batch, 1, 2)
      ? { ok: false, error: { code: 'STORAGE_FAILED', dbCode: 'SQLITE_CONSTRAINT_CHECK', message: 'CHECK constraint failed', dataError: true } }
      : { ok: true, value: outcomeOf(batch) }
  for (const seq of [1, 2, 3]) ingest.submitRecord(1, record(1, seq), 10)
  await ingest.drain()
  t.same(pool.writes.map((w) => seqsOf(w.batch)), [['1:1,2,3'], ['1:1'], ['1:2'], ['1:2'], ['1:3']], 'the batch, then each message alone, the bad one twice')
  t.same(pool.writes[3]!.batch.records, [])
  t.same(pool.writes[3]!.batch.rejected, [{ streamId: 1, accountId: 10, seq: 2, code: 'STORAGE_REFUSED', message: 'SQLITE_CONSTRAINT_CHECK: CHECK constraint failed' }], 'the second is its rejection')
  t.same(sink.events, ['committed 1', 'rejected 2', 'committed 2', 'committed 3'])
  t.same(sink.rejectedEntries.map((e) => e.message), ['SQLITE_CONSTRAINT_CHECK: CHECK constraint failed'])
  const c = ingest.counters
  t.same({ batches: c.batches, records: c.records, failedBatches: c.failedBatches, pendingBytes: c.pendingBytes }, { batches: 2, records: 2, failedBatches: 0, pendingBytes: 0 })
})

t.test('isolation goes stream by stream: a bad message of one stream leaves the others committed', async (t) => {
  const { pool, ingest } = fakeIngest(1, { batchRows: 3 })
  t.teardown(() => finish(pool, ingest))
  const sinks = [new FakeSink(), new FakeSink()]
  ingest.attach(stream(1), sinks[0]!)
  ingest.attach(stream(2), sinks[1]!)
  pool.auto = (batch) =>
    hasRecord(batch, 2, 1)
      ? { ok: false, error: { code: 'STORAGE_FAILED', dbCode: '23514', message: 'check violation', dataError: true } }
      : { ok: true, value: outcomeOf(batch) }
  ingest.submitRecord(1, record(1, 1), 10)
  ingest.submitRecord(1, record(1, 2), 10)
  ingest.submitRecord(2, record(2, 1), 10)
  await ingest.drain()
  t.same(pool.writes.map((w) => seqsOf(w.batch)), [['1:1,2', '2:1'], ['1:1'], ['1:2'], ['2:1'], ['2:1']])
  t.same(pool.writes[4]!.batch.rejected.map((r) => r.seq), [1])
  t.same(sinks[0]!.events, ['committed 1', 'committed 2'])
  t.same(sinks[1]!.events, ['rejected 1', 'committed 1'])
})

t.test('the database failing during isolation fails that stream and every one not yet written alone', async (t) => {
  const { pool, ingest } = fakeIngest(1, { batchRows: 4 })
  t.teardown(() => finish(pool, ingest))
  const sinks = [new FakeSink(), new FakeSink(), new FakeSink()]
  for (const id of [1, 2, 3]) ingest.attach(stream(id), sinks[id - 1]!)
  let n = 0
  pool.auto = (batch) => {
    n++
    if (n === 1) return { ok: false, error: { code: 'STORAGE_FAILED', message: 'check violation', dataError: true } }
    if (hasRecord(batch, 2, 1)) return { ok: false, error: { code: 'STORAGE_FAILED', message: 'connection lost', dataError: false } }
    return { ok: true, value: outcomeOf(batch) }
  }
  ingest.submitRecord(1, record(1, 1), 10)
  ingest.submitRecord(1, record(1, 2), 10)
  ingest.submitRecord(2, record(2, 1), 10)
  ingest.submitRecord(3, record(3, 1), 10)
  await ingest.drain()
  t.same(pool.writes.map((w) => seqsOf(w.batch)), [['1:1,2', '2:1', '3:1'], ['1:1'], ['1:2'], ['2:1']], 'stream 3 is never written alone')
  t.same(sinks[0]!.events, ['committed 1', 'committed 2'])
  t.same(sinks[1]!.events, ['failed STORAGE_FAILED'])
  t.same(sinks[2]!.events, ['failed STORAGE_FAILED'])
  t.equal(ingest.counters.failedBatches, 1)
})

t.test('a rejection that cannot be recorded fails the stream: its seq is not acknowledged', async (t) => {
  const { pool, ingest } = fakeIngest(1, { batchRows: 2 })
  t.teardown(() => finish(pool, ingest))
  const sink = new FakeSink()
  ingest.attach(stream(1), sink)
  pool.auto = (batch) => {
    if (batch.rejected.length > 0) return { ok: false, error: { code: 'STORAGE_FAILED', message: 'disk full', dataError: false } }
    if (hasRecord(batch, 1, 1)) return { ok: false, error: { code: 'STORAGE_FAILED', message: 'check violation', dataError: true } }
    return { ok: true, value: outcomeOf(batch) }
  }
  ingest.submitRecord(1, record(1, 1), 10)
  ingest.submitRecord(1, record(1, 2), 10)
  await ingest.drain()
  t.same(pool.writes.map((w) => seqsOf(w.batch)), [['1:1,2'], ['1:1'], ['1:1']], 'seq 2 is not written after the unrecorded seq 1')
  t.same(sink.events, ['failed STORAGE_FAILED'])
})

t.test('a lone message the database refuses is recorded rejected, not failed: a resend would be refused again', async (t) => {
  const { pool, ingest } = fakeIngest(1, { batchRows: 1 })
  t.teardown(() => finish(pool, ingest))
  const sink = new FakeSink()
  ingest.attach(stream(1), sink)
  pool.auto = (batch) =>
    hasRecord(batch, 1, 1)
      ? { ok: false, error: { code: 'STORAGE_FAILED', dbCode: '23514', message: 'check violation', dataError: true } }
      : { ok: true, value: outcomeOf(batch) }
  ingest.submitRecord(1, record(1, 1), 10)
  await ingest.drain()
  t.same(pool.writes.map((w) => seqsOf(w.batch)), [['1:1'], ['1:1'], ['1:1']], 'the batch, the message alone, its rejection')
  t.same(pool.writes[2]!.batch.rejected.map((r) => r.seq), [1])
  t.same(sink.events, ['rejected 1', 'committed 1'], 'acknowledged as rejected; never failed')
  t.equal(ingest.counters.failedBatches, 0)
})
