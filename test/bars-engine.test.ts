/**
 * Bars built by a real engine from the ticks an EA streams, on both backends: every timeframe
 * equals the bars src/aggregate/bars.ts builds from the same ticks (itself checked by hand in
 * test/bars.test.ts), after a backfill too; EA-sent bars win in the `bars` view; and a SIGKILL at
 * any moment leaves, after a restart, exactly the bars of a run without one.
 */
import { createServer } from 'node:net'
import t from 'tap'
import { allBars, type Bar, type PriceSource, type TickArrays } from '../src/aggregate/bars.js'
import { TIMEFRAMES, type Timeframe } from '../src/aggregate/timeframes.js'
import { connectEA, type EaClient, type Outgoing } from '../src/client/ea-client.js'
import type { Storage } from '../src/db/storage/types.js'
import { account, count, makeTokens, spawnEngine, startTestEngine, TickSource, withStorage } from './engine-helpers.js'
import { eachBackend, type Backend, type Test } from './helpers.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

interface SentTick {
  time: number
  bid: number
  ask: number
  last: number
  volume_real: number
  flags: number
}

/** A repeatable stream of sparse ticks: steps of 0..3 s (a tenth in the same millisecond), the flags MT5 sends and some it does not. */
class SparseTicks {
  #seed: number
  #bid = 1.0845
  #last = 250.5
  constructor(seed: number) {
    this.#seed = seed
  }
  random(): number {
    let x = this.#seed
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.#seed = x >>> 0
    return this.#seed / 0x100000000
  }
  /** Ticks from `from` to `to`, in time order. */
  between(from: number, to: number, mode: PriceSource): SentTick[] {
    const out: SentTick[] = []
    for (let time = from; time < to; time += this.random() < 0.1 ? 0 : 1 + Math.floor(this.random() * 3000)) {
      const r = this.random()
      if (mode === 'bid') {
        // a quote: bid and ask moved (6), only the ask (4), only the bid (2), or a sender that does not say (0)
        const flags = r < 0.55 ? 6 : r < 0.7 ? 4 : r < 0.85 ? 2 : 0
        if (flags !== 4) this.#bid = Math.round((this.#bid + (this.random() - 0.5) * 0.0004) * 1e5) / 1e5
        const ask = Math.round((this.#bid + (1 + Math.floor(this.random() * 4)) * 0.00001) * 1e5) / 1e5
        out.push({ time, bid: this.#bid, ask, last: 0, volume_real: 0, flags })
      } else {
        // an exchange symbol: trades (last and volume, 8|16 and a side) and quotes in between (2|4, last 0)
        const trade = r < 0.6
        if (trade) this.#last = Math.round((this.#last + (this.random() - 0.5) * 0.4) * 100) / 100
        const bid = Math.round((this.#last - 0.05) * 100) / 100
        out.push({ time, bid, ask: Math.round((bid + 0.1) * 100) / 100, last: trade ? this.#last : 0, volume_real: trade ? 1 + Math.floor(this.random() * 20) : 0, flags: trade ? 8 | 16 | 32 : 6 })
      }
    }
    return out
  }
}

/** tick_batch messages of at most `size` ticks, numbering ticks that share a millisecond across batches. */
function batches(symbol: string, ticks: SentTick[], size: number): Outgoing[] {
  const out: Outgoing[] = []
  for (let i = 0; i < ticks.length; i += size) {
    const part = ticks.slice(i, i + size)
    let firstIndex = 0
    for (let j = i - 1; j >= 0 && ticks[j]!.time === part[0]!.time; j--) firstIndex++
    out.push({
      type: 'tick_batch',
      symbol,
      time_msc: part.map((x) => x.time),
      bid: part.map((x) => x.bid),
      ask: part.map((x) => x.ask),
      last: part.map((x) => x.last),
      volume: part.map((x) => x.volume_real),
      volume_real: part.map((x) => x.volume_real),
      flags: part.map((x) => x.flags),
      ...(firstIndex > 0 && { first_index: firstIndex }),
    } as Outgoing)
  }
  return out
}

function columns(ticks: SentTick[]): TickArrays {
  return {
    time_msc: ticks.map((x) => x.time),
    bid: ticks.map((x) => x.bid),
    ask: ticks.map((x) => x.ask),
    last: ticks.map((x) => x.last),
    volume_real: ticks.map((x) => x.volume_real),
    flags: ticks.map((x) => x.flags),
    length: ticks.length,
  }
}

/** Every built bar of the symbol (of the account `login`), by timeframe, in time order; timeframes without bars left out. */
async function builtBars(storage: Storage, login: number, symbol: string, table = 'built_bars'): Promise<Map<Timeframe, Bar[]>> {
  const rows = await storage.query<Record<string, number | string>>(
    `select b.timeframe, b.open_time_msc, b.open, b.high, b.low, b.close, b.tick_volume, b.real_volume, b.spread
     from ${table} b join symbols s on s.id = b.symbol_id join accounts a on a.id = s.account_id
     where a.login = $1 and s.name = $2 order by b.timeframe, b.open_time_msc`,
    [login, symbol],
  )
  const out = new Map<Timeframe, Bar[]>()
  for (const tf of TIMEFRAMES) {
    const bars = rows
      .filter((r) => r.timeframe === tf)
      .map((r) => ({
        time: Number(r.open_time_msc),
        open: Number(r.open),
        high: Number(r.high),
        low: Number(r.low),
        close: Number(r.close),
        tickVolume: Number(r.tick_volume),
        realVolume: Number(r.real_volume),
        spread: Number(r.spread),
      }))
    if (bars.length > 0) out.set(tf, bars)
  }
  return out
}

/** What allBars makes of the ticks, in the same shape as builtBars. */
function expected(ticks: SentTick[], source: PriceSource, point: number, digits: number): Map<Timeframe, Bar[]> {
  const sorted = ticks.map((x, i) => ({ x, i })).sort((a, b) => a.x.time - b.x.time || a.i - b.i).map(({ x }) => x)
  const out = new Map<Timeframe, Bar[]>()
  for (const [tf, bars] of allBars(columns(sorted), source, point, digits, TIMEFRAMES)) if (bars.length > 0) out.set(tf, bars)
  return out
}

function sameBars(t: Test, actual: Map<Timeframe, Bar[]>, wanted: Map<Timeframe, Bar[]>, what: string): void {
  t.same([...actual.keys()], [...wanted.keys()], `${what}: bars at every timeframe`)
  let differing = 0
  for (const tf of TIMEFRAMES) {
    const a = actual.get(tf) ?? []
    const w = wanted.get(tf) ?? []
    if (JSON.stringify(a) !== JSON.stringify(w)) {
      differing++
      t.same(a, w, `${what}: ${tf}`)
    }
  }
  t.equal(differing, 0, `${what}: ${[...wanted.values()].reduce((n, b) => n + b.length, 0)} bars over ${wanted.size} timeframes as built from the ticks`)
}

async function eaFor(t: Test, url: string, token: string, instance: string, login: number): Promise<EaClient> {
  const ea = await connectEA(url, { token, instanceId: instance, account: account(login), ea: { name: 'BarsEA' }, minDelayMs: 20, maxDelayMs: 200 })
  t.teardown(() => ea.close())
  return ea
}

t.test('bars from streamed ticks', async (t) => {
  await eachBackend(t, 'every timeframe across minute, hour, day, week and month boundaries, a backfill, and EA-sent bars', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    t.ok(engine.bars, 'the engine builds bars by default')
    const ea = await eaFor(t, engine.url!, tokens.ea, 'bars-ea', 7301)
    await ea.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
    await ea.send({ type: 'symbol_spec', symbol: 'SBER', digits: 2, point: 0.01, chart_mode: 1 })
    await ea.flushed()
    const gen = new SparseTicks(7)
    // Saturday 30 March 2024, 23:56 server time: Sunday opens a week, and Monday 1 April a month
    const saturday = Date.UTC(2024, 2, 30, 23, 56)
    const fx = [
      ...gen.between(saturday, saturday + 8 * MINUTE, 'bid'),
      // nothing from Sunday 00:04 to 23:57: no bar in the hours between
      ...gen.between(Date.UTC(2024, 2, 31, 23, 57), Date.UTC(2024, 3, 1, 0, 5), 'bid'),
    ]
    const sber = gen.between(Date.UTC(2024, 3, 1, 9, 58), Date.UTC(2024, 3, 1, 10, 4), 'last')
    for (const m of batches('EURUSD', fx, 97)) await ea.send(m)
    for (const m of batches('SBER', sber, 50)) await ea.send(m)
    await ea.flushed()
    await engine.bars!.idle()
    await withStorage(backend, async (s) => {
      sameBars(t, await builtBars(s, 7301, 'EURUSD'), expected(fx, 'bid', 0.00001, 5), 'EURUSD from bid')
      sameBars(t, await builtBars(s, 7301, 'SBER'), expected(sber, 'last', 0.01, 2), 'SBER from last')
      const h1 = (await builtBars(s, 7301, 'EURUSD')).get('H1')!.map((b) => new Date(b.time).toISOString())
      t.same(h1, ['2024-03-30T23:00:00.000Z', '2024-03-31T00:00:00.000Z', '2024-03-31T23:00:00.000Z', '2024-04-01T00:00:00.000Z'], 'no H1 bar for the hours without ticks')
      const w1 = (await builtBars(s, 7301, 'EURUSD')).get('W1')!.map((b) => new Date(b.time).toISOString())
      t.same(w1, ['2024-03-24T00:00:00.000Z', '2024-03-31T00:00:00.000Z'], 'weeks start on Sunday')
      t.equal(await count(backend, 'select count(*) from bar_dirty'), 0, 'the work list is empty')
    })
    const c = engine.bars!.counters
    t.ok(c.builtByWriter > 0, `the writer built M1 with the ticks (${c.builtByWriter} symbol batches, ${c.writerReadBack} ticks read back)`)
    t.equal(c.leftFromTicks, 0, 'ticks streamed in order: no minute was left to be built from the ticks')
    t.equal(c.ticksRead, 0, 'the aggregator read no tick back')

    // a backfill: ticks older than everything aggregated, into bars that exist and into new ones
    const backfill = gen.between(saturday - 3 * MINUTE, saturday + 2 * MINUTE, 'bid').map((x) => ({ ...x, time: x.time - (x.time % 1000) + 999 }))
    const older = backfill.filter((x) => !fx.some((y) => y.time === x.time))
    for (const m of batches('EURUSD', older, 64)) await ea.send(m)
    await ea.flushed()
    await engine.bars!.idle()
    await withStorage(backend, async (s) => {
      sameBars(t, await builtBars(s, 7301, 'EURUSD'), expected([...fx, ...older], 'bid', 0.00001, 5), 'EURUSD after the backfill')
    })
    t.ok(c.leftFromTicks > 0 && c.ticksRead > 0, `the backfill's minutes were built from the ticks (${c.leftFromTicks} symbol batches, ${c.ticksRead} ticks read)`)

    // the EA sends the terminal's own M1 bar for one minute: it wins in the view, both stay
    const minute = Date.UTC(2024, 2, 30, 23, 57)
    await ea.send({ type: 'bar_batch', symbol: 'EURUSD', timeframe: 'M1', time: [minute], open: [1.2], high: [1.3], low: [1.1], close: [1.25], tick_volume: [99], real_volume: [0], spread: [7] } as Outgoing)
    await ea.flushed()
    await withStorage(backend, async (s) => {
      const view = await s.query<{ open_time_msc: number; source: string; open: number }>(
        `select b.open_time_msc, b.source, b.open from bars b join symbols s on s.id = b.symbol_id
         where s.name = 'EURUSD' and b.timeframe = 'M1' and b.open_time_msc between $1 and $2 order by b.open_time_msc`,
        [minute - MINUTE, minute + MINUTE],
      )
      t.same(view.map((r) => [Number(r.open_time_msc) - minute, r.source]), [[-MINUTE, 'built'], [0, 'ea'], [MINUTE, 'built']], 'the EA-sent bar wins its period, built bars fill the rest')
      t.equal(Number(view[1]!.open), 1.2)
      t.equal(await count(backend, "select count(*) from built_bars where timeframe = 'M1' and open_time_msc = $1", [minute]), 1, 'the built bar is kept beside it')
    })
  })
})

t.test('the writer continues M1 bars where it can and leaves the rest to the aggregator: the bars are the same', async (t) => {
  await eachBackend(t, 'read back, interleaved streams, a changed point', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const one = await eaFor(t, engine.url!, tokens.ea, 'bars-writer-1', 7303)
    const two = await eaFor(t, engine.url!, tokens.ea, 'bars-writer-2', 7303)
    await one.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
    await one.flushed()
    const c = engine.bars!.counters
    const sendAlone = async (ea: EaClient, ticks: SentTick[]) => {
      for (const m of batches('EURUSD', ticks, 1000)) await ea.send(m)
      await ea.flushed()
    }
    const check = async (what: string) => {
      await engine.bars!.idle()
      await withStorage(backend, async (s) => sameBars(t, await builtBars(s, 7303, 'EURUSD'), expected(await storedTicks(s, 'EURUSD'), 'bid', 0.00001, 5), what))
    }
    const m = Date.UTC(2024, 5, 3, 9, 0)
    const tick = (ms: number, flags: number, bid: number, ask: number, volume = 0): SentTick => ({ time: m + ms, bid, ask, last: 0, volume_real: volume, flags })
    // 09:00 opens with a quote without ask (no spread to count: 0 stored), then a spread of 3 comes
    await sendAlone(one, [tick(0, 2, 1.1, 0)])
    await sendAlone(one, [tick(10_000, 6, 1.10001, 1.10004)])
    // 09:01 opens with ask-only ticks that carry volume (no bar yet), then its first price tick
    await sendAlone(one, [tick(60_000, 4 | 16, 1.10001, 1.10005, 2), tick(60_500, 4 | 16, 1.10001, 1.10006, 3)])
    await sendAlone(one, [tick(61_000, 6, 1.10003, 1.10005)])
    await check('a stored spread of 0 and a minute without a bar, continued')
    t.ok(c.writerReadBack >= 3, `the writer read those two minutes back (${c.writerReadBack} ticks)`)
    t.equal(c.leftFromTicks, 0, 'and left nothing to the aggregator')
    await withStorage(backend, async (s) => {
      const [m0, m1] = (await builtBars(s, 7303, 'EURUSD')).get('M1')!
      t.equal(m0!.spread, 3, '09:00: the least spread counted is 3, not the 0 stored before it')
      t.same([m1!.tickVolume, m1!.realVolume], [1, 5], '09:01: one price tick, and the volume of the ticks before it')
    })

    // two EAs of the account stream the symbol at once, their ticks interleaving
    const gen = new SparseTicks(3)
    const a = gen.between(m + 2 * MINUTE, m + 9 * MINUTE, 'bid')
    const b = gen.between(m + 2 * MINUTE + 700, m + 9 * MINUTE, 'bid').filter((x) => !a.some((y) => y.time === x.time))
    const left = c.leftFromTicks
    for (let i = 0; i < 4; i++) {
      const part = (ticks: SentTick[]) => ticks.filter((x) => x.time >= m + (2 + 2 * i) * MINUTE && x.time < m + (4 + 2 * i) * MINUTE)
      await Promise.all([sendAlone(one, part(a)), sendAlone(two, part(b))])
    }
    await check('two streams of one symbol')
    t.ok(c.leftFromTicks > left, `ticks older than the newest stored were left to the aggregator (${c.leftFromTicks - left} symbol batches)`)

    // the point changes: every bar of the symbol counts its spread again
    await one.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 4, point: 0.0001, chart_mode: 0 })
    await one.flushed()
    await engine.bars!.idle()
    await withStorage(backend, async (s) => {
      const built = await builtBars(s, 7303, 'EURUSD')
      sameBars(t, built, expected(await storedTicks(s, 'EURUSD'), 'bid', 0.0001, 4), 'after the point changed')
      t.equal(built.get('M1')![0]!.spread, 0, '09:00: 0.3 of the new point rounds to 0')
    })
  })
})

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** The stored ticks of a symbol, in key order: what an uninterrupted aggregation would have read. */
async function storedTicks(storage: Storage, symbol: string): Promise<SentTick[]> {
  const rows = await storage.query<Record<string, number>>(
    `select t.time_msc, t.bid, t.ask, t.last, t.volume_real, t.flags from ticks t join symbols s on s.id = t.symbol_id
     where s.name = $1 order by t.time_msc, t.seq`,
    [symbol],
  )
  return rows.map((r) => ({ time: Number(r.time_msc), bid: r.bid!, ask: r.ask!, last: r.last!, volume_real: r.volume_real!, flags: Number(r.flags) }))
}

t.test('SIGKILL while bars are being built: after a restart the bars are those of a run without the kill', async (t) => {
  await eachBackend(t, 'kill, restart, finish', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const port = await freePort()
    let engine = await spawnEngine(t, backend, ['--port', String(port)])
    const ea = await connectEA(engine.url, { token: tokens.ea, instanceId: 'bars-kill-ea', account: account(7302), ea: { name: 'BarsEA' }, minDelayMs: 50, maxDelayMs: 400 })
    t.teardown(() => ea.close())
    await ea.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
    const source = new TickSource('EURUSD', Date.UTC(2024, 4, 31, 23, 0), 1.08, 11)
    const total = 600
    const sending = (async () => {
      for (let i = 0; i < total; i++) await ea.send(source.batch(200))
    })()
    for (const fraction of [0.25, 0.6]) {
      while (ea.counters.lastAckedSeq < total * fraction) await new Promise((r) => setTimeout(r, 2))
      engine.child.kill('SIGKILL')
      t.equal((await engine.exited).signal, 'SIGKILL', `killed after ${ea.counters.lastAckedSeq} of ${total + 1} messages were acknowledged`)
      engine = await spawnEngine(t, backend, ['--port', String(port)])
    }
    await sending
    await ea.flushed()
    const deadline = Date.now() + 60_000
    while ((await count(backend, 'select count(*) from bar_dirty')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    t.equal(await count(backend, 'select count(*) from bar_dirty'), 0, 'the restarted engine finished the work list')
    await withStorage(backend, async (s) => {
      const ticks = await storedTicks(s, 'EURUSD')
      t.equal(ticks.length, total * 200, 'every tick stored once')
      sameBars(t, await builtBars(s, 7302, 'EURUSD'), expected(ticks, 'bid', 0.00001, 5), 'EURUSD after two kills')
    })
    engine.child.kill('SIGTERM')
    t.equal((await engine.exited).code, 0)
  })
})
