/**
 * The writer's M1 bars (built in the ticks' own transaction, src/db/sql/tick-bars.ts) against a
 * real database over a long random run: batches in order and out of it, two streams carrying one
 * symbol's ticks, ticks in the same millisecond across batches, chart changes, batches that fail
 * after their bars were planned, two batches in flight at once, and another connection storing
 * ticks and listing minutes under the writer. Every M1 bar the writer stored for a minute not left
 * to the aggregator must equal the bar built from all of that minute's stored ticks.
 */
import t from 'tap'
import { minuteBars } from '../src/aggregate/bars.js'
import { markForRebuild, symbolChart, ticksBetween } from '../src/db/sql/bars.js'
import { registerStream } from '../src/db/sql/streams.js'
import { SymbolCache, writeBatch } from '../src/db/sql/write-batch.js'
import { openSqlite } from '../src/db/storage/sqlite.js'
import { PROTOCOL_VERSION } from '../src/protocol/messages.js'
import type { RecordEntry, TickSegment, WriteBatch } from '../src/workers/tasks.js'
import { account, makeTokens } from './engine-helpers.js'
import { sqliteBackend } from './helpers.js'

const MINUTE = 60_000
const T0 = Date.UTC(2024, 5, 3, 8, 0)

t.test('M1 bars the writer builds over a random run equal bars built from every stored tick', async (t) => {
  const backend = sqliteBackend(t)
  await makeTokens(backend) // migrates
  const storage = openSqlite({ path: backend.database })
  const other = openSqlite({ path: backend.database })
  t.teardown(async () => {
    await storage.close()
    await other.close()
  })
  const hello = (id: string) => ({ type: 'hello' as const, protocol: PROTOCOL_VERSION, role: 'ea' as const, token: 'x', instance_id: id, account: account(7700), ea: { name: 'Cache' } })
  const streams = [await storage.transaction((tx) => registerStream(tx, hello('cache-a'), T0)), await storage.transaction((tx) => registerStream(tx, hello('cache-b'), T0))]
  // a tick whose bid is 9.99 fails its batch after the plan, as a full disk would
  await storage.exec(`create trigger fail_tick before insert on ticks when new.bid = 9.99 begin select raise(abort, 'injected'); end`)

  let seed = 7
  const random = () => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) / 0x100000000
  }
  const symbols = new SymbolCache()
  // a timeline per symbol, which either stream may carry on: seqs are per stream
  const seqs = streams.map(() => ({ seq: 0 }))
  const timelines = new Map(['EURUSD', 'GBPUSD'].map((s) => [s, { time: T0, sameMs: 0, bid: 1.1 }]))
  let failures = 0
  let round = 0

  const batchOf = (k: number, both = false): WriteBatch => {
    const s = streams[k]!
    const st = seqs[k]!
    const records: RecordEntry[] = []
    const segments: TickSegment[] = []
    const cols = { time_msc: [] as number[], bid: [] as number[], ask: [] as number[], last: [] as number[], volume: [] as number[], volume_real: [] as number[], flags: [] as number[] }
    const fromSeq = st.seq + 1
    // a chart change sends the symbol's every minute back to its ticks: only early, so that most are compared
    if (round < 200 && random() < 0.02) {
      st.seq++
      records.push({ streamId: s.streamId, accountId: s.accountId, server: s.server, seq: st.seq, message: { type: 'symbol_spec', seq: st.seq, symbol: 'EURUSD', digits: 5, point: random() < 0.5 ? 0.00001 : 0.0001, chart_mode: random() < 0.8 ? 0 : 1 } })
    }
    // each stream its own symbol, now and then the other's too (two streams of one symbol interleave)
    const own = k === 0 ? 'EURUSD' : 'GBPUSD'
    const symbolsHere = both || random() < 0.05 ? ['EURUSD', 'GBPUSD'] : [own]
    const fail = random() < 0.03
    for (const symbol of symbolsHere) {
      const line = timelines.get(symbol)!
      st.seq++
      const n = 1 + Math.floor(random() * 40)
      // mostly forward; now and then a backfill into the last minutes
      let time = random() < 0.02 ? line.time - Math.floor(random() * 3 * MINUTE) : line.time
      let firstIndex = 0
      const start = cols.time_msc.length
      for (let i = 0; i < n; i++) {
        const step = random() < 0.25 ? 0 : 1 + Math.floor(random() * 4000)
        if (i === 0 && step === 0 && time === line.time) firstIndex = line.sameMs
        time += i === 0 && step === 0 ? 0 : step
        line.bid = Math.max(0.5, line.bid + (random() - 0.5) * 0.001)
        const bid = Math.round(line.bid * 1e5) / 1e5
        cols.time_msc.push(time)
        cols.bid.push(fail && i === n - 1 ? 9.99 : bid)
        cols.ask.push(random() < 0.1 ? bid : bid + 0.00002)
        cols.last.push(random() < 0.5 ? bid : 0)
        cols.volume.push(0)
        cols.volume_real.push(random() < 0.3 ? 1 : 0)
        cols.flags.push(random() < 0.2 ? 8 : 6)
      }
      if (time >= line.time) {
        line.sameMs = time === line.time ? line.sameMs + n : cols.time_msc.filter((x, i) => i >= start && x === time).length
        line.time = time
      }
      segments.push({ streamId: s.streamId, seq: st.seq, symbol, accountId: s.accountId, server: s.server, start, count: n, firstIndex })
    }
    const ticks = Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, Float64Array.from(v)])) as unknown as WriteBatch['ticks']
    if (fail) {
      // nothing of a failed batch is stored: its seqs are sent again later, as an EA resends
      st.seq = fromSeq - 1
    }
    return { streams: [{ streamId: s.streamId, accountId: s.accountId, server: s.server, fromSeq, toSeq: st.seq + (fail ? segments.length + records.length : 0) }], segments, ticks, records, rejected: [] }
  }

  const write = (k: number, both = false) =>
    writeBatch(storage, batchOf(k, both), symbols, { bars: { rollUp: true } }).then(
      () => undefined,
      (err: Error) => {
        if (!/injected/.test(err.message)) throw err
        failures++
      },
    )
  for (round = 0; round < 800; round++) {
    // two batches in flight at once now and then, as the writer pipelines them
    // (both symbols in each, now and then: one symbol planned by a batch whose outcome is not in yet)
    if (random() < 0.3) {
      const both = random() < 0.3
      await Promise.all([write(0, both), write(1, both)])
    }
    else await write(random() < 0.6 ? 0 : 1)
    if (random() < 0.015) {
      // another connection stores ticks of a symbol and lists their minutes, as an import would, or
      // sends the whole symbol back to be rebuilt, as `bars rebuild` does
      const ids = (await other.query<{ id: number }>('select id from symbols order by id')).map((r) => Number(r.id))
      const id = ids[Math.floor(random() * ids.length)]!
      await other.transaction(async (tx) => {
        if (round < 200 && random() < 0.3) return void (await markForRebuild(tx, [id], Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))
        const time = Math.max(...[...timelines.values()].map((l) => l.time)) + 1 + Math.floor(random() * 2000)
        await tx.query('insert into ticks (symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags) values ($1, 0, $2, 1.2, 1.20002, 0, 0, 0, 6) on conflict do nothing', [id, time])
        await markForRebuild(tx, [id], time - (time % MINUTE), time - (time % MINUTE) + MINUTE)
      })
    }
  }
  t.ok(failures > 0, `batches failed after their plan (${failures})`)

  const [totals] = await storage.query<{ bars: number; slow: number }>(`select (select count(*) from built_bars where timeframe = 'M1') as bars, (select count(*) from bar_dirty where from_ticks = 1) as slow`)
  t.comment(`M1 bars: ${totals!.bars}, minutes listed to be built from ticks: ${totals!.slow}`)
  let compared = 0
  for (const { id } of await storage.query<{ id: number }>('select id from symbols order by id')) {
    const c = (await symbolChart(storage, Number(id)))!
    const bars = await storage.query<{ open_time_msc: number; open: number; high: number; low: number; close: number; tick_volume: number; real_volume: number; spread: number }>(
      `select b.open_time_msc, b.open, b.high, b.low, b.close, b.tick_volume, b.real_volume, b.spread from built_bars b
        where b.symbol_id = $1 and b.timeframe = 'M1'
          and not exists (select 1 from bar_dirty d where d.symbol_id = b.symbol_id and d.minute_msc = b.open_time_msc and d.from_ticks = 1)
        order by b.open_time_msc`,
      [Number(id)],
    )
    for (const bar of bars) {
      const minute = Number(bar.open_time_msc)
      const [expected] = minuteBars(await ticksBetween(storage, Number(id), minute, minute + MINUTE), c.source, c.point, c.digits)
      const got = { time: minute, open: bar.open, high: bar.high, low: bar.low, close: bar.close, tickVolume: Number(bar.tick_volume), realVolume: bar.real_volume, spread: Number(bar.spread) }
      if (JSON.stringify(got) !== JSON.stringify(expected)) t.same(got, expected, `symbol ${id}, minute ${new Date(minute).toISOString()}`)
      compared++
    }
  }
  t.ok(compared > 100, `${compared} minutes compared, every one equal to its ticks' bar`)
})
