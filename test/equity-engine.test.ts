/**
 * The equity curve end to end on both backends: account snapshots streamed by an EA become M1,
 * H1 and D1 points in their own transaction, readable by the `equity_curve` query; a resent
 * snapshot changes nothing.
 */
import t from 'tap'
import { accountSnapshot, makeTokens, startTestEngine, testDashboard, testEA } from './engine-helpers.js'
import { eachBackend } from './helpers.js'

const T = Date.UTC(2024, 10, 19, 9, 0)

t.test('the equity curve from streamed account snapshots', async (t) => {
  await eachBackend(t, 'M1, H1 and D1 points with open, high, low, close, peak and drawdown', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const ea = await testEA(t, engine.url!, tokens.ea, 'equity-ea', 8201)
    // accountSnapshot(time, balance) sends equity = balance + 5
    // minute 1: equity 10005, 10105, 9955; minute 2: 10055, 10025
    for (const [dt, balance] of [[0, 10_000], [20_000, 10_100], [40_000, 9_950], [60_000, 10_050], [90_000, 10_020]] as const) await ea.send(accountSnapshot(T + dt, balance))
    await ea.send(accountSnapshot(T + 40_000, 9_950)) // resent: stored once, counted once
    await ea.flushed()
    const viewer = await testDashboard(t, engine.url!, tokens.viewer)
    const m1 = (await viewer.query<any>('equity_curve', { login: 8201, resolution: 'M1' })).rows
    t.same(
      m1.map((p) => [p.time_msc, p.equity_open, p.equity_high, p.equity_low, p.equity_close, p.samples, p.peak_equity, p.drawdown]),
      [
        [T, 10_005, 10_105, 9_955, 9_955, 3, 10_105, 150], // closes 150 below its 10105 peak
        [T + 60_000, 10_055, 10_055, 10_025, 10_025, 2, 10_105, 80], // the earlier peak carries over
      ],
    )
    t.ok(Math.abs(m1[1].drawdown_pct - (80 / 10_105) * 100) < 1e-9, 'drawdown in percent of the peak')
    t.equal(m1[1].balance, 10_020, 'the balance of the period\'s last snapshot')
    const h1 = (await viewer.query<any>('equity_curve', { login: 8201, resolution: 'H1' })).rows
    t.same(h1.map((p) => [p.time_msc, p.equity_open, p.equity_high, p.equity_low, p.equity_close, p.samples]), [[T, 10_005, 10_105, 9_955, 10_025, 5]])
    const d1 = (await viewer.query<any>('equity_curve', { login: 8201, resolution: 'D1' })).rows
    t.same(d1.map((p) => p.time_msc), [Date.UTC(2024, 10, 19)], 'D1 points start at the server midnight')
  })
})
