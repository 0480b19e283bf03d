/**
 * The trade journal end to end on both backends: deals streamed by an EA become journal rows in
 * their own transaction, readable by the `journal` query and pushed on the `journal` topic; a
 * replay changes nothing; deals stored without journal rows (by an engine older than the journal)
 * get theirs at the next start.
 */
import t from 'tap'
import type { Outgoing } from '../src/client/ea-client.js'
import { makeTokens, startTestEngine, testDashboard, testEA, withStorage } from './engine-helpers.js'
import { eachBackend } from './helpers.js'

const T0 = Date.UTC(2024, 10, 19, 9, 0)

/** A deal of position `position`: DEAL_TYPE 0 buy / 1 sell, DEAL_ENTRY 0 in / 1 out. */
const dealOf = (ticket: number, position: number, time: number, buy: boolean, entry: 0 | 1, volume: number, price: number, profit: number): Outgoing =>
  ({
    type: 'deal', ticket, order: ticket + 500, position_id: position, time_msc: time, deal_type: buy ? 0 : 1, entry, symbol: 'EURUSD',
    volume, price, profit, commission: -0.35, swap: entry === 1 ? -0.12 : 0, fee: 0, magic: 42, reason: 3,
  }) as Outgoing

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('the trade journal from streamed deals', async (t) => {
  await eachBackend(t, 'journal rows in the deals\' transaction, the journal query and topic, replays, the backfill at start', async (t, backend) => {
    const tokens = await makeTokens(backend)
    let engine = await startTestEngine(t, backend)
    const ea = await testEA(t, engine.url!, tokens.ea, 'journal-ea', 8101, { name: 'JournalEA', magic: 42, strategy: 'breakout' })
    await ea.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
    const viewer = await testDashboard(t, engine.url!, tokens.viewer)
    const journal = await viewer.subscribe('journal', { login: 8101 })
    const pushed: any[] = []
    journal.on('event', (row) => pushed.push(row))
    t.same(((await journal.snapshot) as { trades: unknown[] }).trades, [], 'an empty journal to start')

    // position 9001: buy 0.1 @ 1.10000, scale in 0.2 @ 1.10300, close all 0.3 @ 1.10500
    //   open price (0.1 * 1.1 + 0.2 * 1.103) / 0.3 = 1.102; pips (1.105 - 1.102) / 0.0001 = 30
    //   profit 45, commission 3 x -0.35 = -1.05, swap -0.12: net 43.83
    await ea.send(dealOf(1, 9001, T0, true, 0, 0.1, 1.1, 0))
    await ea.send(dealOf(2, 9001, T0 + 60_000, true, 0, 0.2, 1.103, 0))
    // position 9002 stays open: sell 0.5 @ 1.10400
    await ea.send(dealOf(3, 9002, T0 + 90_000, false, 0, 0.5, 1.104, 0))
    await ea.send(dealOf(4, 9001, T0 + 3_600_000, false, 1, 0.3, 1.105, 45))
    await ea.flushed()

    const rows = (await viewer.query<any>('journal', { login: 8101 }, { order: 'asc' })).rows
    t.equal(rows.length, 2, 'one row per position')
    const closed = rows[0]
    t.match(closed, { position_id: 9001, symbol: 'EURUSD', direction: 'buy', state: 'closed', magic: 42, strategy: 'breakout', instance_id: 'journal-ea', deal_count: 3, open_time_msc: T0, close_time_msc: T0 + 3_600_000 })
    t.ok(Math.abs(closed.open_price - 1.102) < 1e-9, `open price ${closed.open_price}`)
    t.ok(Math.abs(closed.close_price - 1.105) < 1e-9)
    t.ok(Math.abs(closed.pips - 30) < 1e-6, `pips ${closed.pips}`)
    t.ok(Math.abs(closed.net_profit - 43.83) < 1e-9, `net profit ${closed.net_profit}`)
    t.equal(closed.duration_ms, 3_600_000)
    t.match(rows[1], { position_id: 9002, direction: 'sell', state: 'open', close_time_msc: null, volume: 0.5 })

    const deadline = Date.now() + 10_000
    const seen = () => pushed.some((r) => r.position_id === 9001 && r.state === 'closed') && pushed.some((r) => r.position_id === 9002)
    while (!seen() && Date.now() < deadline) await sleep(10)
    t.ok(pushed.some((r) => r.position_id === 9001 && r.state === 'closed'), 'the journal topic pushed the closed trade')
    t.ok(pushed.some((r) => r.position_id === 9002 && r.state === 'open'), 'and the open one')

    // a reconnect resends what was not acknowledged; resent deals change nothing
    await ea.send(dealOf(4, 9001, T0 + 3_600_000, false, 1, 0.3, 1.105, 45))
    await ea.flushed()
    const again = (await viewer.query<any>('journal', { login: 8101, position_id: 9001 })).rows
    t.same([again.length, again[0].deal_count, again[0].net_profit], [1, 3, closed.net_profit], 'a deal stored twice counts once')

    // deals an older engine stored have no journal row until the next start
    await engine.close()
    await withStorage(backend, async (s) => {
      await s.query('delete from journal_trades')
      t.equal(Number((await s.query<{ n: number }>('select count(*) as n from journal_trades'))[0]!.n), 0)
    })
    engine = await startTestEngine(t, backend)
    const later = await testDashboard(t, engine.url!, tokens.viewer)
    let back: any[] = []
    for (let i = 0; i < 200 && back.length < 2; i++) {
      back = (await later.query<any>('journal', { login: 8101 })).rows
      if (back.length < 2) await sleep(25)
    }
    t.same(back.map((r) => [r.position_id, r.state, r.deal_count]).sort(), [[9001, 'closed', 3], [9002, 'open', 1]], 'the start made the missing rows again')
  })
})
