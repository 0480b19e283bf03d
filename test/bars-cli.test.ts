/**
 * `mt5-engine bars rebuild` and `bars verify` as a user runs them, on both backends: verify lists
 * where built bars and EA-sent bars differ and exits 1; rebuild restores built bars that were lost
 * or damaged, from the stored ticks, and says how much it did.
 */
import t from 'tap'
import { connectEA, type Outgoing } from '../src/client/ea-client.js'
import { account, count, makeTokens, startTestEngine, TickSource, withStorage } from './engine-helpers.js'
import { eachBackend, runCliProcess, type Backend } from './helpers.js'

type BarRow = Record<string, number>

async function builtM1(backend: Backend): Promise<BarRow[]> {
  return withStorage(backend, (s) =>
    s.query<BarRow>("select open_time_msc, open, high, low, close, tick_volume, real_volume, spread from built_bars where timeframe = 'M1' order by open_time_msc"),
  )
}

async function allBuilt(backend: Backend): Promise<string> {
  const rows = await withStorage(backend, (s) => s.query('select * from built_bars order by symbol_id, timeframe, open_time_msc'))
  return JSON.stringify(rows.map((r) => Object.values(r).map(Number)))
}

t.test('bars verify and bars rebuild', async (t) => {
  await eachBackend(t, 'verify finds the differences; rebuild restores damaged and deleted bars', async (t, backend) => {
    const tokens = await makeTokens(backend)
    {
      const engine = await startTestEngine(t, backend)
      const ea = await connectEA(engine.url!, { token: tokens.ea, instanceId: 'bars-cli-ea', account: account(7401), ea: { name: 'BarsEA' }, minDelayMs: 20, maxDelayMs: 200 })
      await ea.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
      const source = new TickSource('EURUSD', Date.UTC(2024, 5, 3, 9, 0), 1.08, 5)
      for (let i = 0; i < 40; i++) await ea.send(source.batch(500))
      await ea.flushed()
      await engine.bars!.idle()
      // the terminal's own bars for the first two minutes: one as built here, one with another close
      const [first, second] = await builtM1(backend)
      const ea2 = (b: BarRow, close: number) =>
        ({ type: 'bar_batch', symbol: 'EURUSD', timeframe: 'M1', time: [Number(b.open_time_msc)], open: [b.open], high: [Math.max(b.high!, close)], low: [Math.min(b.low!, close)], close: [close], tick_volume: [Number(b.tick_volume)], real_volume: [0], spread: [b.spread] }) as Outgoing
      await ea.send(ea2(first!, first!.close!))
      await ea.send(ea2(second!, second!.close! + 0.001))
      await ea.flushed()
      await ea.close()
      await engine.close()
    }
    const db = ['--database', backend.database]
    const good = await allBuilt(backend)
    t.ok((await count(backend, 'select count(*) from built_bars')) > 21, 'the engine built bars')

    let r = await runCliProcess(['bars', 'verify', ...db])
    t.equal(r.code, 1, `verify exits 1 when bars differ: ${r.stderr}`)
    t.match(r.stdout, /2 EA-sent bars compared with built bars: 1 differ/)
    t.match(r.stdout, /EURUSD\s+M1\s+2024-06-03 09:01\s+close/, 'the differing bar and field are named')
    r = await runCliProcess(['bars', 'verify', '--json', ...db])
    const report = JSON.parse(r.stdout) as { compared: number; differing: number; differences: { timeframe: string; fields: Record<string, unknown> }[] }
    t.same([report.compared, report.differing, report.differences[0]!.timeframe], [2, 1, 'M1'], '--json says the same')
    t.ok('close' in report.differences[0]!.fields, 'with the fields that differ')

    // damage: a wrong M1 bar, a deleted H1 bar, and everything gone for W1
    await withStorage(backend, async (s) => {
      await s.query("update built_bars set high = high + 1 where timeframe = 'M1' and open_time_msc = (select min(open_time_msc) from built_bars where timeframe = 'M1')")
      await s.query("delete from built_bars where timeframe in ('H1', 'W1')")
    })
    t.not(await allBuilt(backend), good)
    r = await runCliProcess(['bars', 'rebuild', '--symbol', 'EURUSD', '--from', '2024-06-03', '--to', '2024-06-04', ...db])
    t.equal(r.code, 0, `rebuild exits 0: ${r.stderr}`)
    t.match(r.stdout, /rebuilt the bars of \d+ minutes from 20,000 ticks/, r.stdout)
    t.match(r.stderr, /rebuilding bars: .* minutes \(100%\)/, 'progress is shown on stderr')
    t.equal(await allBuilt(backend), good, 'every built bar is back as the engine built it')
    t.equal(await count(backend, 'select count(*) from bar_dirty'), 0, 'nothing left on the work list')

    r = await runCliProcess(['bars', 'rebuild', '--symbol', 'NOSUCH', ...db])
    t.equal(r.code, 2)
    t.match(r.stderr, /no symbol matches --symbol NOSUCH/)
    r = await runCliProcess(['bars', 'rebuild', '--from', '2024-02-30', ...db])
    t.equal(r.code, 2)
    t.match(r.stderr, /--from: 2024-02-30 is not a date/)
    r = await runCliProcess(['bars', 'frobnicate', ...db])
    t.equal(r.code, 2)
    t.match(r.stderr, /bars needs a verb: rebuild or verify; got "frobnicate"/)
  })
})
