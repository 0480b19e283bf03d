/** The equity curve's points from account snapshots, by hand. */
import t from 'tap'
import { addSnapshot, periodStart, type EquityPoint } from '../src/aggregate/equity.js'

const T = Date.UTC(2024, 10, 19, 9, 0) // a minute's start, an hour's start

t.test('period starts: M1, H1, and D1 at the server midnight', async (t) => {
  t.equal(periodStart('M1', T + 59_999), T)
  t.equal(periodStart('H1', T + 3_599_999), T)
  t.equal(periodStart('D1', T), Date.UTC(2024, 10, 19))
  t.equal(periodStart('M1', -1), -60_000, 'before 1970 too')
})

t.test('one minute of snapshots: first, highest, lowest, last; the drawdown from the peak at its end', async (t) => {
  let p: EquityPoint | undefined
  // equity 10000 -> 10060 -> 9970 -> 10010 within the minute, no earlier period
  for (const [dt, equity] of [[0, 10_000], [15_000, 10_060], [30_000, 9_970], [45_000, 10_010]] as const) p = addSnapshot('M1', p, { time_msc: T + dt, balance: 10_000, equity }, undefined)
  t.match(p, { time_msc: T, equity_open: 10_000, equity_high: 10_060, equity_low: 9_970, equity_close: 10_010, samples: 4, peak_equity: 10_060 })
  // drawdown at the close: 10060 - 10010 = 50, 50 / 10060 = 0.497018%
  t.equal(p!.drawdown, 50)
  t.ok(Math.abs(p!.drawdown_pct - 0.4970178926) < 1e-9)
})

t.test('an earlier peak carries into the next period; out-of-order snapshots keep open and close by time', async (t) => {
  // the period before peaked at 10500; this one runs 10200 .. 10300
  let p = addSnapshot('H1', undefined, { time_msc: T + 600_000, balance: 10_100, equity: 10_300 }, 10_500)
  p = addSnapshot('H1', p, { time_msc: T + 60_000, balance: 10_050, equity: 10_200 }, 10_500) // older: the new open
  t.match(p, { equity_open: 10_200, equity_close: 10_300, balance: 10_100, first_time_msc: T + 60_000, last_time_msc: T + 600_000, peak_equity: 10_500, drawdown: 200 })
  p = addSnapshot('H1', p, { time_msc: T + 900_000, balance: 10_100, equity: 10_600 }, 10_500) // a new high: no drawdown
  t.match(p, { equity_close: 10_600, equity_high: 10_600, peak_equity: 10_600, drawdown: 0, drawdown_pct: 0, samples: 3 })
})
