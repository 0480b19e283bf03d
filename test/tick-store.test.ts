import t from 'tap'
import { SpareStores, TickStore } from '../src/ingest/tick-store.js'
import type { TickColumns } from '../src/workers/tasks.js'
import { ticks } from './ingest-fakes.js'

function columns(n: number): TickColumns {
  const c = () => new Float64Array(n)
  return { time_msc: c(), bid: c(), ask: c(), last: c(), volume: c(), volume_real: c(), flags: c() }
}

t.test('append returns the row of each batch; copy gives every column back', async (t) => {
  const store = new TickStore(8)
  t.equal(store.append(ticks(1, 'EURUSD', 4, 1000)), 0)
  t.equal(store.append(ticks(2, 'EURUSD', 3, 2000)), 4)
  t.equal(store.rows, 7)
  const into = columns(5)
  store.copy(2, 4, into, 1)
  t.same([...into.time_msc], [0, 1002, 1003, 2000, 2001])
  t.same([...into.bid], [0, 1002.1, 1003.1, 2000.1, 2001.1])
  t.same([...into.ask], [0, 1002.2, 1003.2, 2000.2, 2001.2])
  t.same([...into.last], [0, 1002.3, 1003.3, 2000.3, 2001.3])
  t.same([...into.volume], [0, 1002.4, 1003.4, 2000.4, 2001.4])
  t.same([...into.volume_real], [0, 1002.5, 1003.5, 2000.5, 2001.5])
  t.same([...into.flags], [0, 6, 6, 6, 6])
})

t.test('a store holds 1024 ticks at least, doubles when full, and keeps its ticks across growing', async (t) => {
  const store = new TickStore(1)
  t.equal(store.capacity, 1024)
  store.append(ticks(1, 'EURUSD', 1000, 0))
  t.equal(store.capacity, 1024)
  t.equal(store.append(ticks(2, 'EURUSD', 100, 1000)), 1000)
  t.equal(store.capacity, 2048, 'doubled')
  store.append(ticks(3, 'EURUSD', 3000, 1100))
  t.equal(store.capacity, 4100, 'grown to the rows needed when doubling is not enough')
  const into = columns(4100)
  store.copy(0, 4100, into, 0)
  t.ok(into.time_msc.every((v, i) => v === i), 'every tick where it was appended')
  t.ok(into.volume_real.every((v, i) => v === i + 0.5))
})

t.test('spare stores: an emptied store is reused, 16 at most, none over 16,384 ticks', async (t) => {
  const spares = new SpareStores()
  const store = spares.take(10)
  store.append(ticks(1, 'EURUSD', 10))
  spares.recycle(store)
  t.equal(store.rows, 0, 'emptied')
  t.equal(spares.take(5000), store, 'taken again, whatever the size asked: it grows when it must')
  const big = new TickStore(16_385)
  spares.recycle(big)
  t.not(spares.take(1), big, 'too big to keep')
  const kept = Array.from({ length: 17 }, () => new TickStore(1))
  for (const s of kept) spares.recycle(s)
  const taken = Array.from({ length: 17 }, () => spares.take(1))
  t.same(taken.slice(0, 16), kept.slice(0, 16).reverse(), 'the last kept is taken first')
  t.notOk(kept.includes(taken[16]!), 'the 17th was not kept')
})
