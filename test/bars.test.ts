import t from 'tap'
import { allBars, minuteBars, rollUp, type Bar, type PriceSource, type TickArrays } from '../src/aggregate/bars.js'
import { TIMEFRAMES, nextPeriod, periodStart, sourceOf, withSources, type Timeframe } from '../src/aggregate/timeframes.js'
import type { Test } from './helpers.js'

// Server time as MT5 gives it: read as if UTC.
const at = (iso: string): number => Date.parse(`${iso}Z`)

const BID = 2
const ASK = 4
const LAST = 8
const VOLUME = 16
const BUY = 32
const SELL = 64

/** [time, flags, bid, ask, last, volume_real] */
type Row = [string, number, number, number, number, number]

function tickArrays(rows: Row[]): TickArrays {
  const col = (k: number) => Float64Array.from(rows, (r) => (k === 0 ? at(r[0]) : (r[k] as number)))
  return { time_msc: col(0), flags: col(1), bid: col(2), ask: col(3), last: col(4), volume_real: col(5), length: rows.length }
}

function bar(iso: string, open: number, high: number, low: number, close: number, tickVolume: number, realVolume: number, spread: number): Bar {
  return { time: at(iso), open, high, low, close, tickVolume, realVolume, spread }
}

/** Two bar lists, compared bar by bar so that a failure names the first bar that differs. */
function sameBars(t: Test, actual: readonly Bar[], expected: readonly Bar[], what: string): void {
  t.equal(actual.length, expected.length, `${what}: as many bars`)
  const n = Math.min(actual.length, expected.length)
  for (let i = 0; i < n; i++) {
    const a = actual[i]!
    const e = expected[i]!
    if (a.time !== e.time || a.open !== e.open || a.high !== e.high || a.low !== e.low || a.close !== e.close ||
      a.tickVolume !== e.tickVolume || a.realVolume !== e.realVolume || a.spread !== e.spread) {
      t.strictSame(a, e, `${what}: bar ${i} (${new Date(e.time).toISOString()})`)
      return
    }
  }
  t.pass(`${what}: ${n} bars equal`)
}

// ---------------------------------------------------------------------------------------------
// Periods

t.test('every timeframe: a millisecond before, at and after a boundary (2024-03-01 00:00, after 29 Feb)', async (t) => {
  // the period holding 2024-02-29 23:59:59.999, and the one after 2024-03-01 00:00's
  const before: Record<Exclude<Timeframe, 'W1' | 'MN1'>, [string, string]> = {
    M1: ['2024-02-29T23:59', '2024-03-01T00:01'],
    M2: ['2024-02-29T23:58', '2024-03-01T00:02'],
    M3: ['2024-02-29T23:57', '2024-03-01T00:03'],
    M4: ['2024-02-29T23:56', '2024-03-01T00:04'],
    M5: ['2024-02-29T23:55', '2024-03-01T00:05'],
    M6: ['2024-02-29T23:54', '2024-03-01T00:06'],
    M10: ['2024-02-29T23:50', '2024-03-01T00:10'],
    M12: ['2024-02-29T23:48', '2024-03-01T00:12'],
    M15: ['2024-02-29T23:45', '2024-03-01T00:15'],
    M20: ['2024-02-29T23:40', '2024-03-01T00:20'],
    M30: ['2024-02-29T23:30', '2024-03-01T00:30'],
    H1: ['2024-02-29T23:00', '2024-03-01T01:00'],
    H2: ['2024-02-29T22:00', '2024-03-01T02:00'],
    H3: ['2024-02-29T21:00', '2024-03-01T03:00'],
    H4: ['2024-02-29T20:00', '2024-03-01T04:00'],
    H6: ['2024-02-29T18:00', '2024-03-01T06:00'],
    H8: ['2024-02-29T16:00', '2024-03-01T08:00'],
    H12: ['2024-02-29T12:00', '2024-03-01T12:00'],
    D1: ['2024-02-29T00:00', '2024-03-02T00:00'],
  }
  const boundary = at('2024-03-01T00:00')
  for (const [tf, [previous, following]] of Object.entries(before) as [Timeframe, [string, string]][]) {
    t.equal(periodStart(tf, boundary - 1), at(previous), `${tf} before`)
    t.equal(nextPeriod(tf, at(previous)), boundary, `${tf} the period before ends at the boundary`)
    t.equal(periodStart(tf, boundary), boundary, `${tf} at`)
    t.equal(periodStart(tf, boundary + 1), boundary, `${tf} after`)
    t.equal(nextPeriod(tf, boundary), at(following), `${tf} next`)
  }
  t.equal(periodStart('MN1', boundary - 1), at('2024-02-01T00:00'), 'MN1 before: February')
  t.equal(nextPeriod('MN1', at('2024-02-01T00:00')), boundary, 'a leap February ends after the 29th')
  t.equal(periodStart('MN1', boundary), boundary, 'MN1 at')
  t.equal(periodStart('MN1', boundary + 1), boundary, 'MN1 after')
  t.equal(nextPeriod('MN1', boundary), at('2024-04-01T00:00'), 'MN1 next')
  t.equal(periodStart('W1', boundary), at('2024-02-25T00:00'), 'W1: 1 March 2024 is a Friday of the week from Sunday 25 February')
})

t.test('W1 starts on Sunday 00:00, also when the week spans a month or a year', async (t) => {
  t.equal(periodStart('W1', at('2024-03-02T23:59:59.999')), at('2024-02-25T00:00'), 'Saturday 23:59:59.999 ends the week')
  t.equal(nextPeriod('W1', at('2024-02-25T00:00')), at('2024-03-03T00:00'))
  t.equal(periodStart('W1', at('2024-03-03T00:00')), at('2024-03-03T00:00'), 'Sunday 00:00 starts one')
  t.equal(periodStart('W1', at('2024-03-03T00:00:00.001')), at('2024-03-03T00:00'))
  t.equal(nextPeriod('W1', at('2024-03-03T00:00')), at('2024-03-10T00:00'))
  for (const iso of ['2024-12-29T00:00', '2024-12-31T23:59:59.999', '2025-01-01T00:00', '2025-01-04T23:59:59.999']) {
    t.equal(periodStart('W1', at(iso)), at('2024-12-29T00:00'), `${iso} is in the week from Sunday 29 December 2024`)
  }
  t.equal(nextPeriod('W1', at('2024-12-29T00:00')), at('2025-01-05T00:00'))
  t.equal(periodStart('W1', at('2024-09-01T00:00')), at('2024-09-01T00:00'), 'a Sunday 1st starts both the week and the month')
  t.equal(periodStart('W1', 0), at('1969-12-28T00:00'), '1970-01-01 was a Thursday')
  t.equal(nextPeriod('W1', 0), at('1970-01-04T00:00'))
})

t.test('D1, H12 and MN1 at a year end, 29 February and 28 February of a common year', async (t) => {
  const yearEnd = at('2024-12-31T23:59:59.999')
  t.equal(periodStart('D1', yearEnd), at('2024-12-31T00:00'))
  t.equal(nextPeriod('D1', at('2024-12-31T00:00')), at('2025-01-01T00:00'))
  t.equal(periodStart('H12', yearEnd), at('2024-12-31T12:00'))
  t.equal(nextPeriod('H12', at('2024-12-31T12:00')), at('2025-01-01T00:00'))
  t.equal(periodStart('MN1', yearEnd), at('2024-12-01T00:00'))
  t.equal(nextPeriod('MN1', at('2024-12-01T00:00')), at('2025-01-01T00:00'), 'December rolls into the next year')
  t.equal(periodStart('MN1', at('2024-02-29T12:34:56.789')), at('2024-02-01T00:00'))
  t.equal(periodStart('D1', at('2024-02-29T12:34:56.789')), at('2024-02-29T00:00'))
  t.equal(nextPeriod('D1', at('2024-02-29T00:00')), at('2024-03-01T00:00'))
  t.equal(periodStart('MN1', at('2024-03-01T00:00')), at('2024-03-01T00:00'), '1 March 2024 starts March')
  t.equal(nextPeriod('D1', at('2023-02-28T00:00')), at('2023-03-01T00:00'), '2023 has no 29 February')
  t.equal(nextPeriod('MN1', at('2023-02-01T00:00')), at('2023-03-01T00:00'))
  t.equal(nextPeriod('D1', at('2100-02-28T00:00')), at('2100-03-01T00:00'), '2100 is not a leap year')
  t.equal(nextPeriod('MN1', at('2024-01-31T00:00')), at('2024-02-01T00:00'), 'nextPeriod of a time inside a month is the next month')
})

t.test('sourceOf: M1 for minutes and H1, H1 for hours and D1, D1 for W1 and MN1', async (t) => {
  const expected = {
    M1: null, M2: 'M1', M3: 'M1', M4: 'M1', M5: 'M1', M6: 'M1', M10: 'M1', M12: 'M1', M15: 'M1', M20: 'M1', M30: 'M1',
    H1: 'M1', H2: 'H1', H3: 'H1', H4: 'H1', H6: 'H1', H8: 'H1', H12: 'H1', D1: 'H1', W1: 'D1', MN1: 'D1',
  }
  t.strictSame(Object.fromEntries(TIMEFRAMES.map((tf) => [tf, sourceOf(tf)])), expected)
})

t.test('withSources adds every source, in TIMEFRAMES order', async (t) => {
  t.strictSame(withSources('M5,H4,W1'), ['M1', 'M5', 'H1', 'H4', 'D1', 'W1'])
  t.strictSame(withSources(' mn1 , m1 '), ['M1', 'H1', 'D1', 'MN1'], 'case and spaces do not matter')
  t.strictSame(withSources('M1,M1'), ['M1'])
  t.strictSame(withSources('all'), [...TIMEFRAMES])
  t.strictSame(withSources('ALL'), [...TIMEFRAMES])
})

t.test('withSources refuses an unknown or empty entry, naming it and the valid ones', async (t) => {
  const valid = /M1, M2, M3, M4, M5, M6, M10, M12, M15, M20, M30, H1, H2, H3, H4, H6, H8, H12, D1, W1, MN1/
  t.throws(() => withSources('M1,M7'), { message: /unknown timeframe "M7" in the timeframe list "M1,M7"/ })
  t.throws(() => withSources('M1,M7'), { message: valid })
  t.throws(() => withSources('none'), { message: /unknown timeframe "none"/ })
  t.throws(() => withSources(''), { message: /an empty entry in the timeframe list ""/ })
  t.throws(() => withSources('M1,,H1'), { message: /an empty entry in the timeframe list "M1,,H1"/ })
  t.throws(() => withSources('M1,'), { message: /an empty entry/ })
  t.throws(() => withSources('all,X'), { message: /unknown timeframe "X"/ }, 'all does not hide a bad entry')
})

// ---------------------------------------------------------------------------------------------
// Bars built by hand

// EURUSD-like, built from Bid, point 0.00001, across Saturday 31 August 2024 23:59 -> Sunday 1 September
// 00:00: a new minute, hour, day, week and month at once.
const eurusd: Row[] = [
  ['2024-08-31T23:58:10.000', BID | ASK, 1.10000, 1.10010, 0, 0], //  price tick, spread 10
  ['2024-08-31T23:58:10.000', ASK, 1.10000, 1.10004, 0, 0], //        ask only: no price tick, its 4 points do not count
  ['2024-08-31T23:58:10.000', BID, 1.10005, 1.10012, 0, 0], //        same millisecond, price tick, spread 7
  ['2024-08-31T23:58:59.999', BID, 1.09990, 1.09998, 0, 0], //        spread 8
  ['2024-08-31T23:59:30.000', ASK, 1.09990, 1.09999, 0, 0], //        the only tick of 23:59: no bar
  ['2024-09-01T00:00:00.000', ASK, 1.09990, 1.09995, 0, 0], //        first tick of the minute, ask only: does not open it
  ['2024-09-01T00:00:00.000', BID, 1.09980, 1.09995, 0, 0], //        opens 00:00, spread 15
  ['2024-09-01T00:00:00.500', BID | ASK, 1.09985, 1.09990, 0, 0], //  spread 5
  // nothing from 00:01 to 00:59; then a sender that sets no flags
  ['2024-09-01T01:00:00.000', 0, 1.10000, 1.10010, 0, 1], //          first of its minute: price tick, volume 1, spread 10
  ['2024-09-01T01:00:01.000', 0, 1.10000, 1.10008, 0, 2], //          bid unchanged: no price tick, its volume and spread left out
  ['2024-09-01T01:00:02.000', 0, 1.10002, 1.10009, 0, 0.5], //        changed: price tick, spread 7
  ['2024-09-01T01:00:03.000', 0, 1.10000, 1.10009, 0, 0.25], //       changed back: price tick, spread 9
  ['2024-09-01T01:00:04.000', VOLUME, 1.10000, 1.10009, 0, 3], //     volume only: no price tick, volume counts
  ['2024-09-01T01:00:05.000', 0, 0, 1.10009, 0, 7], //                no bid: nothing
  ['2024-09-01T01:01:00.000', 0, 1.10000, 1.10010, 0, 1], //          same bid as before, but first of its minute: opens 01:01
  ['2024-09-01T01:02:00.000', VOLUME, 1.10000, 1.10010, 0, 5], //     volume in a minute without a price tick: in no bar
]

t.test('M1 from Bid: ask-only ticks neither count nor open a bar, no bar for an empty minute, spread is the minimum', async (t) => {
  sameBars(t, minuteBars(tickArrays(eurusd), 'bid', 0.00001, 5), [
    bar('2024-08-31T23:58', 1.10000, 1.10005, 1.09990, 1.09990, 3, 0, 7),
    bar('2024-09-01T00:00', 1.09980, 1.09985, 1.09980, 1.09985, 2, 0, 5),
    bar('2024-09-01T01:00', 1.10000, 1.10002, 1.10000, 1.10000, 3, 4.75, 7),
    bar('2024-09-01T01:01', 1.10000, 1.10000, 1.10000, 1.10000, 1, 1, 10),
  ], 'M1')
})

t.test('the same ticks at H1, D1, W1 and MN1', async (t) => {
  const bars = allBars(tickArrays(eurusd), 'bid', 0.00001, 5, ['H1', 'D1', 'W1', 'MN1'])
  t.strictSame([...bars.keys()], ['H1', 'D1', 'W1', 'MN1'], 'the timeframes asked for, and only those')
  const saturday = [1.10000, 1.10005, 1.09990, 1.09990, 3, 0, 7] as const
  const sunday = [1.09980, 1.10002, 1.09980, 1.10000, 6, 5.75, 5] as const
  sameBars(t, bars.get('H1')!, [
    bar('2024-08-31T23:00', ...saturday),
    bar('2024-09-01T00:00', 1.09980, 1.09985, 1.09980, 1.09985, 2, 0, 5),
    bar('2024-09-01T01:00', 1.10000, 1.10002, 1.10000, 1.10000, 4, 5.75, 7),
  ], 'H1')
  sameBars(t, bars.get('D1')!, [bar('2024-08-31T00:00', ...saturday), bar('2024-09-01T00:00', ...sunday)], 'D1')
  sameBars(t, bars.get('W1')!, [bar('2024-08-25T00:00', ...saturday), bar('2024-09-01T00:00', ...sunday)], 'W1')
  sameBars(t, bars.get('MN1')!, [bar('2024-08-01T00:00', ...saturday), bar('2024-09-01T00:00', ...sunday)], 'MN1')
})

t.test('M1 from Last: quote ticks (last 0 or no LAST bit) are ignored, trade volume counts', async (t) => {
  const ticks = tickArrays([
    ['2024-03-15T10:00:00.000', BID | ASK, 100.00, 100.20, 0, 0], //                   quote, no trade yet: ignored
    ['2024-03-15T10:00:00.100', LAST | VOLUME | BUY, 100.00, 100.20, 100.10, 2], //    trade: price tick, spread 20
    ['2024-03-15T10:00:00.100', LAST | VOLUME | SELL, 100.00, 100.10, 100.00, 1], //   same ms: price tick, spread 10
    ['2024-03-15T10:00:01.000', BID | ASK, 99.90, 100.10, 100.00, 0], //               quote carrying the last price: ignored
    ['2024-03-15T10:00:02.000', VOLUME | BUY, 99.90, 100.10, 100.00, 4], //            trade at an unchanged price: volume only
    ['2024-03-15T10:00:03.000', LAST | VOLUME, 0, 100.40, 100.30, 1], //               price tick; one-sided quote, no spread
    ['2024-03-15T10:01:00.000', BID | ASK, 100.00, 100.20, 0, 0], //                   a minute of quotes only: no bar
    ['2024-03-15T10:02:00.000', LAST | VOLUME | BUY, 0, 0, 100.50, 1], //              no quote at all: spread 0
  ])
  sameBars(t, minuteBars(ticks, 'last', 0.01, 2), [
    bar('2024-03-15T10:00', 100.10, 100.30, 100.00, 100.30, 3, 8, 10),
    bar('2024-03-15T10:02', 100.50, 100.50, 100.50, 100.50, 1, 1, 0),
  ], 'M1 by Last')
  sameBars(t, minuteBars(ticks, 'bid', 0.01, 2), [
    bar('2024-03-15T10:00', 100.00, 100.00, 99.90, 99.90, 2, 8, 20),
    bar('2024-03-15T10:01', 100.00, 100.00, 100.00, 100.00, 1, 0, 20),
  ], 'the same ticks by Bid: the BID|ASK quotes are the price ticks, and trade volume still counts')
})

t.test('spread in points: the point when known, else 10^-digits, else 0', async (t) => {
  // USDJPY 150.123 / 150.135: 12 points at 3 digits
  const ticks = tickArrays([['2024-05-01T12:00:00.000', BID | ASK, 150.123, 150.135, 0, 0]])
  const spread = (point: number | null, digits: number | null) => minuteBars(ticks, 'bid', point, digits)[0]!.spread
  t.equal(spread(0.001, 3), 12)
  t.equal(spread(0.001, null), 12, 'the point alone is enough')
  t.equal(spread(null, 3), 12, 'point null: 10^-digits')
  t.equal(spread(0, 3), 12, 'point 0: 10^-digits')
  t.equal(spread(NaN, 3), 12, 'point NaN: 10^-digits')
  t.equal(spread(0.01, 3), 1, 'a known point wins over digits')
  t.equal(spread(null, null), 0, 'neither known: 0')
  t.equal(spread(NaN, 2.5), 0, 'digits that are not a whole number are not known')
})

t.test('ticks or bars out of time order are refused', async (t) => {
  const ticks = tickArrays([
    ['2024-05-01T12:00:01.000', BID, 1.1, 1.2, 0, 0],
    ['2024-05-01T12:00:00.000', BID, 1.1, 1.2, 0, 0],
  ])
  t.throws(() => minuteBars(ticks, 'bid', 0.1, 1), { name: 'RangeError', message: /ticks out of time order at index 1/ })
  const bars = [bar('2024-05-01T12:01', 1, 1, 1, 1, 1, 0, 0), bar('2024-05-01T12:00', 1, 1, 1, 1, 1, 0, 0)]
  t.throws(() => rollUp(bars, 'H1'), { name: 'RangeError', message: /bars out of time order at index 1/ })
  t.strictSame(minuteBars(tickArrays([]), 'bid', 0.1, 1), [], 'no ticks, no bars')
  t.strictSame(rollUp([], 'MN1'), [])
})

// ---------------------------------------------------------------------------------------------
// A generated stream of three months against independent derivations

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** mulberry32: a small seeded PRNG, so the stream is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

// A millisecond before and at each: week starts, the year end, month ends, 29 February.
const FORCED = ['2023-12-31T00:00', '2024-01-01T00:00', '2024-01-07T00:00', '2024-02-01T00:00', '2024-02-29T00:00', '2024-03-01T00:00']
  .flatMap((iso) => [at(iso) - 1, at(iso), at(iso)])

function generate(seed: number, n: number): TickArrays {
  const rnd = prng(seed)
  const times: number[] = [...FORCED]
  let time = at('2023-12-28T00:00')
  for (let i = 0; i < n; i++) {
    const r = rnd()
    time += r < 0.3 ? 0 // several ticks in one millisecond
      : r < 0.85 ? 1 + Math.floor(rnd() * 3000)
      : r < 0.9967 ? 3000 + Math.floor(rnd() * 117_000)
      : r < 0.9996 ? 2 * MINUTE + Math.floor(rnd() * 3 * HOUR)
      : 3 * HOUR + Math.floor(rnd() * 2.5 * DAY) // nights and weekends without ticks
    times.push(time)
  }
  times.sort((a, b) => a - b)
  const forced = new Set(FORCED)
  const len = times.length
  const c = () => new Float64Array(len)
  const ticks = { time_msc: Float64Array.from(times), bid: c(), ask: c(), last: c(), volume_real: c(), flags: c(), length: len }
  let bid = 110_000 // in points of 0.00001
  let last = 10_000 // in points of 0.01
  for (let i = 0; i < len; i++) {
    const r = rnd()
    let flags: number
    if (r < 0.35) flags = BID | ASK
    else if (r < 0.55) flags = BID
    else if (r < 0.7) flags = ASK
    else if (r < 0.82) flags = 0
    else if (r < 0.87) flags = VOLUME
    else if (r < 0.93) flags = LAST | VOLUME | (rnd() < 0.5 ? BUY : SELL)
    else if (r < 0.96) flags = VOLUME | (rnd() < 0.5 ? BUY : SELL)
    else flags = Math.floor(rnd() * 512) // whatever a feed sends, bits above SELL too
    if (forced.has(times[i]!)) flags = BID | ASK | LAST
    if ((flags & BID) !== 0 || (flags === 0 && rnd() < 0.5)) bid += Math.round((rnd() - 0.5) * 8)
    if ((flags & LAST) !== 0) last += Math.round((rnd() - 0.5) * 8)
    const q = rnd()
    ticks.flags[i] = flags
    ticks.bid[i] = q < 0.01 && !forced.has(times[i]!) ? 0 : bid * 0.00001
    ticks.ask[i] = q > 0.98 && !forced.has(times[i]!) ? 0 : (bid + Math.floor(rnd() * 20)) * 0.00001
    ticks.last[i] = q > 0.5 && q < 0.53 && !forced.has(times[i]!) ? 0 : last * 0.01
    // quarters: every sum is exact, whatever the order of summation
    ticks.volume_real[i] = Math.floor(rnd() * 9) * 0.25
  }
  return ticks
}

/** The start of the period of `tf` holding `time`, from calendar fields (not from periodStart). */
function calendarKey(tf: Timeframe, time: number): number {
  const d = new Date(time)
  const y = d.getUTCFullYear()
  const mo = d.getUTCMonth()
  const day = d.getUTCDate()
  const h = d.getUTCHours()
  const mi = d.getUTCMinutes()
  const n = Number(tf.slice(1))
  if (tf === 'MN1') return Date.UTC(y, mo, 1)
  if (tf === 'W1') return Date.UTC(y, mo, day - d.getUTCDay())
  if (tf === 'D1') return Date.UTC(y, mo, day)
  if (tf.startsWith('H')) return Date.UTC(y, mo, day, h - (h % n))
  return Date.UTC(y, mo, day, h, mi - (mi % n))
}

/** Bars of `tf` from M1 bars grouped by calendar key. */
function fromMinutes(m1: readonly Bar[], tf: Timeframe): Bar[] {
  const out: Bar[] = []
  for (const b of m1) {
    const key = calendarKey(tf, b.time)
    const g = out[out.length - 1]
    if (g === undefined || g.time !== key) {
      out.push({ ...b, time: key })
      continue
    }
    g.high = Math.max(g.high, b.high)
    g.low = Math.min(g.low, b.low)
    g.close = b.close
    g.tickVolume += b.tickVolume
    g.realVolume += b.realVolume
    g.spread = Math.min(g.spread, b.spread)
  }
  return out
}

/**
 * Bars of `tf` straight from the ticks grouped by calendar key, by the rules of docs/BARS.md. Where
 * a rule reads per minute (the change test of unflagged ticks, volume of a minute without a price
 * tick, spread of a minute without a two-sided quote), this keeps a minute's state beside the bar's.
 */
function fromTicks(ticks: TickArrays, source: PriceSource, point: number, tf: Timeframe): Bar[] {
  const out: Bar[] = []
  const priceOf = source === 'bid' ? ticks.bid : ticks.last
  const bit = source === 'bid' ? BID : LAST
  let period: Bar | undefined
  let minute = NaN
  let minutePrice: number | undefined // price of the minute's previous price tick
  let minuteVolume = 0
  let minuteSpread: number | undefined // smallest two-sided spread of the minute's price ticks
  const endMinute = () => {
    if (period === undefined || minutePrice === undefined) return // no price tick: the minute adds nothing
    period.realVolume += minuteVolume
    period.spread = Math.min(period.spread, minuteSpread ?? 0)
  }
  for (let i = 0; i < ticks.length; i++) {
    const time = ticks.time_msc[i]!
    if (Math.floor(time / MINUTE) * MINUTE !== minute) {
      endMinute()
      minute = Math.floor(time / MINUTE) * MINUTE
      minutePrice = undefined
      minuteVolume = 0
      minuteSpread = undefined
      const key = calendarKey(tf, minute)
      if (period === undefined || period.time !== key) {
        if (period !== undefined && period.tickVolume > 0) out.push(period)
        period = { time: key, open: 0, high: -Infinity, low: Infinity, close: 0, tickVolume: 0, realVolume: 0, spread: Infinity }
      }
    }
    const p = priceOf[i]!
    const flags = ticks.flags[i]!
    const saysNothing = (flags & (BID | ASK | LAST | VOLUME)) === 0
    const priceTick = p > 0 && ((flags & bit) !== 0 || (saysNothing && p !== minutePrice))
    if (priceTick) {
      if (period!.tickVolume === 0) period!.open = p
      period!.high = Math.max(period!.high, p)
      period!.low = Math.min(period!.low, p)
      period!.close = p
      period!.tickVolume++
      minutePrice = p
      const bid = ticks.bid[i]!
      const ask = ticks.ask[i]!
      if (bid > 0 && ask > 0) minuteSpread = Math.min(minuteSpread ?? Infinity, Math.round((ask - bid) / point))
    }
    if ((flags & VOLUME) !== 0 || (saysNothing && priceTick)) minuteVolume += ticks.volume_real[i]!
  }
  endMinute()
  if (period !== undefined && period.tickVolume > 0) out.push(period)
  return out
}

const stream = generate(20240229, 150_000)

t.test('the generated stream reaches every case it is meant to', async (t) => {
  const flags = Array.from(stream.flags)
  t.ok(flags.filter((f) => f === 0).length > 10_000, 'unflagged ticks')
  t.ok(flags.filter((f) => f === ASK).length > 10_000, 'ask-only ticks')
  t.ok(flags.filter((f) => f === VOLUME).length > 5_000, 'volume-only ticks')
  let sameMs = 0
  for (let i = 1; i < stream.length; i++) if (stream.time_msc[i] === stream.time_msc[i - 1]) sameMs++
  t.ok(sameMs > 30_000, 'ticks sharing a millisecond')
  const last = stream.time_msc[stream.length - 1]!
  t.ok(last > at('2024-03-01T00:00'), `it runs past 1 March 2024 (to ${new Date(last).toISOString()})`)
  const bars = allBars(stream, 'bid', 0.00001, 5, ['D1', 'MN1'])
  const days = new Set(bars.get('D1')!.map((b) => b.time))
  for (const iso of ['2023-12-30', '2023-12-31', '2024-01-01', '2024-02-29', '2024-03-01']) t.ok(days.has(at(`${iso}T00:00`)), `a D1 bar on ${iso}`)
  t.strictSame(bars.get('MN1')!.slice(0, 4).map((b) => new Date(b.time).toISOString().slice(0, 7)), ['2023-12', '2024-01', '2024-02', '2024-03'])
  const d1 = bars.get('D1')!
  let gaps = 0
  for (let i = 1; i < d1.length; i++) if (d1[i]!.time - d1[i - 1]!.time > DAY) gaps++
  t.ok(gaps > 0, 'days without a bar')
})

for (const [source, point, digits] of [['bid', 0.00001, 5], ['last', 0.01, 2]] as const) {
  t.test(`every timeframe by ${source}: the rolled-up chain equals M1 grouped by calendar and the ticks grouped by calendar`, async (t) => {
    const built = allBars(stream, source, point, digits, TIMEFRAMES)
    const m1 = built.get('M1')!
    t.ok(m1.length > 10_000, `${m1.length} M1 bars`)
    for (const tf of TIMEFRAMES) {
      const bars = built.get(tf)!
      sameBars(t, bars, fromMinutes(m1, tf), `${tf} against M1 grouped by calendar`)
      sameBars(t, bars, fromTicks(stream, source, point, tf), `${tf} against the ticks grouped by calendar`)
      sameBars(t, rollUp(m1, tf), bars, `${tf} straight from M1 equals the chain`)
    }
  })
}

t.test('a minute rebuilt from its own ticks alone equals that minute in the whole stream', async (t) => {
  const m1 = minuteBars(stream, 'bid', 0.00001, 5)
  const rnd = prng(7)
  const times = stream.time_msc as Float64Array
  const first = (from: number) => { // index of the first tick at or after `from`
    let lo = 0
    let hi = stream.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (times[mid]! < from) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  const slice = (a: number, b: number): TickArrays => {
    const cols = stream as unknown as Record<'time_msc' | 'bid' | 'ask' | 'last' | 'volume_real' | 'flags', Float64Array>
    return {
      time_msc: cols.time_msc.subarray(a, b), bid: cols.bid.subarray(a, b), ask: cols.ask.subarray(a, b), last: cols.last.subarray(a, b),
      volume_real: cols.volume_real.subarray(a, b), flags: cols.flags.subarray(a, b), length: b - a,
    }
  }
  let differ = 0
  for (let k = 0; k < 300; k++) {
    const expected = m1[Math.floor(rnd() * m1.length)]!
    const a = first(expected.time)
    const b = first(expected.time + MINUTE)
    const alone = minuteBars(slice(a, b), 'bid', 0.00001, 5)
    const withTickBefore = minuteBars(slice(Math.max(0, a - 1), b), 'bid', 0.00001, 5)
    const same = alone.length === 1 && JSON.stringify(alone[0]) === JSON.stringify(expected) &&
      JSON.stringify(withTickBefore[withTickBefore.length - 1]) === JSON.stringify(expected)
    if (!same) {
      differ++
      t.strictSame(alone, [expected], `minute ${new Date(expected.time).toISOString()}`)
    }
  }
  t.equal(differ, 0, '300 minutes rebuilt alone')
})

// ---------------------------------------------------------------------------------------------
// A bar continued from a seed (the writer's M1, src/db/sql/tick-bars.ts)

/** The ticks from index a to b of the columns. */
function sliceOf(ticks: TickArrays, a: number, b: number): TickArrays {
  const cols = ticks as unknown as Record<'time_msc' | 'bid' | 'ask' | 'last' | 'volume_real' | 'flags', Float64Array>
  return {
    time_msc: cols.time_msc.subarray(a, b), bid: cols.bid.subarray(a, b), ask: cols.ask.subarray(a, b), last: cols.last.subarray(a, b),
    volume_real: cols.volume_real.subarray(a, b), flags: cols.flags.subarray(a, b), length: b - a,
  }
}

/**
 * The bars of ticks[0, split) and then of ticks[split, n) continued from the stored bar of the
 * split tick's minute, as the writer continues them: undefined where the writer reads the minute
 * back instead (no bar to continue, or a stored spread of 0 followed by one above 0).
 */
function continued(ticks: TickArrays, split: number, source: PriceSource, point: number, digits: number): Bar[] | undefined {
  const before = minuteBars(sliceOf(ticks, 0, split), source, point, digits)
  const minute = ticks.time_msc[split]! - (ticks.time_msc[split]! % MINUTE)
  const prefixInMinute = split > 0 && ticks.time_msc[split - 1]! >= minute
  const stored = before.length > 0 && before[before.length - 1]!.time === minute ? before.pop()! : undefined
  if (prefixInMinute && stored === undefined) return undefined
  const seed = stored && { ...stored, spread: stored.spread === 0 ? Infinity : stored.spread }
  const after = minuteBars(sliceOf(ticks, split, ticks.length), source, point, digits, seed)
  if (seed && seed.spread === Infinity && after[0]!.spread > 0) return undefined
  return [...before, ...after]
}

t.test('a bar continued from its seed: the 01:00 minute of the hand-computed stream, split after its second tick', async (t) => {
  const ticks = tickArrays(eurusd)
  const split = eurusd.findIndex((r) => r[0] === '2024-09-01T01:00:02.000')
  // 01:00:00 opened the bar (1.10000, volume 1, spread 10); 01:00:01, flagless and unchanged, is no price tick
  const seed = bar('2024-09-01T01:00', 1.10000, 1.10000, 1.10000, 1.10000, 1, 1, 10)
  sameBars(t, minuteBars(sliceOf(ticks, split - 2, split), 'bid', 0.00001, 5), [seed], 'the seed as built from its two ticks')
  sameBars(t, minuteBars(sliceOf(ticks, split, ticks.length), 'bid', 0.00001, 5, seed), [
    bar('2024-09-01T01:00', 1.10000, 1.10002, 1.10000, 1.10000, 3, 4.75, 7),
    bar('2024-09-01T01:01', 1.10000, 1.10000, 1.10000, 1.10000, 1, 1, 10),
  ], 'continued: the flagless 01:00:03 compares with the seed\'s close chain, volumes add on')
  const other = bar('2024-09-01T00:59', 9, 9, 9, 9, 9, 9, 9)
  sameBars(t, minuteBars(sliceOf(ticks, split, ticks.length), 'bid', 0.00001, 5, other), [
    bar('2024-09-01T01:00', 1.10002, 1.10002, 1.10000, 1.10000, 2, 3.75, 7),
    bar('2024-09-01T01:01', 1.10000, 1.10000, 1.10000, 1.10000, 1, 1, 10),
  ], 'a seed of another minute is not used')
})

t.test('continuing at every split of the hand-computed streams equals building from all the ticks', async (t) => {
  {
    const [name, source, point, digits] = ['EURUSD by Bid', 'bid', 0.00001, 5] as const
    const ticks = tickArrays(eurusd)
    const whole = minuteBars(ticks, source, point, digits)
    let continuedAt = 0
    let differ = 0
    for (let split = 1; split < ticks.length; split++) {
      const bars = continued(ticks, split, source, point, digits)
      if (bars === undefined) continue
      continuedAt++
      if (JSON.stringify(bars) !== JSON.stringify(whole)) differ++, sameBars(t, bars, whole, `${name} split at ${split}`)
    }
    t.equal(differ, 0, `${name}: equal at each of the ${continuedAt} splits continued`)
    // the one read back: 00:00 split after its ask-only first tick, which made no bar to continue
    t.equal(continuedAt, ticks.length - 2, `${name}: one split of ${ticks.length - 1} is read back`)
  }
})

t.test('a stored spread of 0 cannot be continued by a spread above 0, and is read back instead', async (t) => {
  // 12:00:00 has no ask: no spread to count, stored as 0; 12:00:30 has a spread of 3
  const ticks = tickArrays([
    ['2024-05-01T12:00:00.000', BID, 1.10000, 0, 0, 0],
    ['2024-05-01T12:00:30.000', BID | ASK, 1.10001, 1.10004, 0, 0],
  ])
  t.equal(minuteBars(sliceOf(ticks, 0, 1), 'bid', 0.00001, 5)[0]!.spread, 0, 'alone, the first minute stores spread 0')
  t.equal(minuteBars(ticks, 'bid', 0.00001, 5)[0]!.spread, 3, 'with both ticks: 3')
  t.equal(continued(ticks, 1, 'bid', 0.00001, 5), undefined, 'the writer reads the minute back')
  const zero = tickArrays([
    ['2024-05-01T12:00:00.000', BID | ASK, 1.10000, 1.10000, 0, 0],
    ['2024-05-01T12:00:30.000', BID | ASK, 1.10001, 1.10004, 0, 0],
  ])
  t.equal(minuteBars(zero, 'bid', 0.00001, 5)[0]!.spread, 0, 'a real 0 stays the least')
  // bid-only ticks after a stored 0: 0 either way, so continued
  const none = tickArrays([
    ['2024-05-01T12:00:00.000', BID, 1.10000, 0, 0, 0],
    ['2024-05-01T12:00:30.000', BID, 1.10001, 0, 0, 0],
  ])
  t.strictSame(continued(none, 1, 'bid', 0.00001, 5), minuteBars(none, 'bid', 0.00001, 5), 'no spread before nor after: continued, 0')
})

t.test('continuing at random splits of the generated stream equals building from all of it, by Bid and by Last', async (t) => {
  const rnd = prng(11)
  for (const source of ['bid', 'last'] as const) {
    const whole = JSON.stringify(minuteBars(stream, source, 0.00001, 5))
    let continuedAt = 0
    let readBack = 0
    let differ = 0
    for (let k = 0; k < 60; k++) {
      const split = 1 + Math.floor(rnd() * (stream.length - 1))
      const bars = continued(stream, split, source, 0.00001, 5)
      if (bars === undefined) readBack++
      else if (continuedAt++, JSON.stringify(bars) !== whole) differ++
    }
    t.equal(differ, 0, `${source}: continued at ${continuedAt} of 60 splits, equal at each`)
    t.ok(continuedAt > 0 && readBack > 0, `${source}: both ways taken (${readBack} splits read back)`)
  }
})
