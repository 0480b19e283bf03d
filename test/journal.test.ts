import t from 'tap'
import { journalOf, pipSize, type JournalDeal, type JournalRow, type JournalSymbol } from '../src/aggregate/journal.js'
import type { Test } from './helpers.js'

// Server time as MT5 gives it: read as if UTC.
const at = (iso: string): number => Date.parse(`${iso}Z`)
const DAY = 86_400_000
const options = { tradingDayStart: (time: number) => time - (time % DAY) }

const EURUSD: JournalSymbol = { point: 0.00001, digits: 5, volume_step: 0.01 }
const USDJPY: JournalSymbol = { point: 0.001, digits: 3, volume_step: 0.01 }
const UNKNOWN: JournalSymbol = { point: null, digits: null }

let nextTicket = 1000
/** A buy/sell deal of position 7 with no money unless given. */
function deal(time: string, type: 'buy' | 'sell', entry: JournalDeal['entry'], volume: number, price: number, money: Partial<JournalDeal> = {}): JournalDeal {
  return {
    ticket: nextTicket++, position_id: 7, time_msc: at(time), type, entry, volume, price,
    profit: 0, commission: 0, swap: 0, fee: 0, magic: 42, symbol_id: 3, ...money,
  }
}

function row(deals: JournalDeal[], symbol: JournalSymbol = EURUSD): JournalRow {
  const r = journalOf(deals, symbol, options)
  if (r === undefined) throw new Error('expected a journal row')
  return r
}

/** Prices and money are float sums: compare them to 1e-9; everything else exactly. */
function near(t: Test, actual: number | null, expected: number | null, what: string): void {
  if (actual === null || expected === null) {
    t.equal(actual, expected, what)
    return
  }
  t.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≈ ${expected}`)
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}

t.test('a buy opened and closed: commission of both deals summed, pips on a 5-digit symbol', async (t) => {
  const open = deal('2024-03-04T10:00:00', 'buy', 'in', 1, 1.1, { commission: -3.5 })
  // (1.10250 - 1.10000) * 1 lot * 100,000 = 250
  const close = deal('2024-03-05T14:30:00', 'sell', 'out', 1, 1.1025, { profit: 250, commission: -3.5 })
  const r = row([open, close])
  t.equal(r.position_id, 7)
  t.equal(r.symbol_id, 3)
  t.equal(r.magic, 42)
  t.equal(r.direction, 'buy')
  t.equal(r.state, 'closed')
  t.equal(r.open_time_msc, at('2024-03-04T10:00:00'))
  t.equal(r.close_time_msc, at('2024-03-05T14:30:00'))
  t.equal(r.close_day_msc, at('2024-03-05T00:00:00'), 'booked on the close day')
  near(t, r.open_price, 1.1, 'open price')
  near(t, r.close_price, 1.1025, 'close price')
  t.equal(r.volume, 1)
  t.equal(r.volume_closed, 1)
  t.equal(r.profit, 250)
  t.equal(r.commission, -7, '-3.5 on entry + -3.5 on exit')
  t.equal(r.pips, 25, '(1.10250 - 1.10000) / 0.0001 (pip = 10 points of 0.00001)')
  t.equal(r.deal_count, 2)
  t.equal(r.first_deal_ticket, open.ticket)
  t.equal(r.last_deal_ticket, close.ticket)
  t.equal(r.reversals, 0)
})

t.test('a sell: pips count the price falling as a gain', async (t) => {
  const r = row([
    deal('2024-03-04T10:00:00', 'sell', 'in', 0.5, 1.25),
    // (1.25000 - 1.24600) * 0.5 lot * 100,000 = 200
    deal('2024-03-04T11:00:00', 'buy', 'out', 0.5, 1.246, { profit: 200 }),
  ])
  t.equal(r.direction, 'sell')
  t.equal(r.state, 'closed')
  t.equal(r.profit, 200)
  t.equal(r.pips, 40, '(open 1.25000 - close 1.24600) / 0.0001')
  const loss = row([
    deal('2024-03-04T10:00:00', 'sell', 'in', 0.5, 1.25),
    deal('2024-03-04T11:00:00', 'buy', 'out', 0.5, 1.2512, { profit: -60 }),
  ])
  t.equal(loss.pips, -12, '(1.25000 - 1.25120) / 0.0001: a sell closed higher lost 12 pips')
})

t.test('scaling in averages the open price by volume', async (t) => {
  const r = row([
    deal('2024-03-04T10:00:00', 'buy', 'in', 0.1, 1.1),
    deal('2024-03-04T10:05:00', 'buy', 'in', 0.2, 1.103),
    // 0.1 * (1.1050 - 1.1000) * 100,000 + 0.2 * (1.1050 - 1.1030) * 100,000 = 50 + 40
    deal('2024-03-04T12:00:00', 'sell', 'out', 0.3, 1.105, { profit: 90 }),
  ])
  // (0.1 * 1.1000 + 0.2 * 1.1030) / 0.3 = 0.3306 / 0.3 = 1.1020
  near(t, r.open_price, 1.102, 'open price weighted by volume')
  near(t, r.close_price, 1.105, 'close price')
  t.equal(r.volume, 0.3, 'the largest open volume, 0.1 + 0.2, read as lots')
  t.equal(r.volume_closed, 0.3)
  t.equal(r.pips, 30, '(1.1050 - 1.1020) / 0.0001')
  t.equal(r.profit, 90)
  t.equal(r.state, 'closed')
  t.equal(r.deal_count, 3)
})

t.test('partial closes average the close price over the closed volume; the last one closes', async (t) => {
  const last = deal('2024-03-06T09:00:00', 'sell', 'out', 0.2, 1.105, { profit: 100 }) // 0.2 * 0.0050 * 100,000
  const r = row([
    deal('2024-03-04T10:00:00', 'buy', 'in', 0.3, 1.1),
    deal('2024-03-05T10:00:00', 'sell', 'out', 0.1, 1.102, { profit: 20 }), // 0.1 * 0.0020 * 100,000
    last,
  ])
  // (0.1 * 1.1020 + 0.2 * 1.1050) / 0.3 = 0.3312 / 0.3 = 1.1040
  near(t, r.close_price, 1.104, 'close price weighted by closed volume')
  t.equal(r.pips, 40, '(1.1040 - 1.1000) / 0.0001')
  t.equal(r.profit, 120, '20 + 100')
  t.equal(r.close_time_msc, last.time_msc, 'closed by the deal that brought the volume to 0')
  t.equal(r.close_day_msc, at('2024-03-06T00:00:00'))
  t.equal(r.last_deal_ticket, last.ticket)
})

t.test('a position still open: no close time or day, money and pips of the closed part only', async (t) => {
  const r = row([
    deal('2024-03-04T10:00:00', 'buy', 'in', 0.3, 1.1, { commission: -2.1 }),
    deal('2024-03-05T10:00:00', 'sell', 'out', 0.1, 1.102, { profit: 20, commission: -0.7 }),
  ])
  t.equal(r.state, 'open')
  t.equal(r.close_time_msc, null)
  t.equal(r.close_day_msc, null)
  t.equal(r.volume, 0.3)
  t.equal(r.volume_closed, 0.1)
  near(t, r.close_price, 1.102, 'close price of the 0.1 closed')
  t.equal(r.pips, 20, '(1.1020 - 1.1000) / 0.0001 on the closed 0.1')
  t.equal(r.profit, 20, 'the deals carry realised profit only: the open 0.2 floats outside the journal')
  near(t, r.commission, -2.8, '-2.1 - 0.7')

  const fresh = row([deal('2024-03-04T10:00:00', 'sell', 'in', 0.3, 1.1, { commission: -2.1 })])
  t.equal(fresh.state, 'open')
  t.equal(fresh.close_price, null, 'nothing closed: no close price')
  t.equal(fresh.pips, null, 'nothing closed: no pips')
  t.equal(fresh.volume_closed, 0)
  t.equal(fresh.commission, -2.1)
})

t.test('a netting reversal (inout) closes the open volume and keeps the remainder in the same row', async (t) => {
  const open = deal('2024-03-04T10:00:00', 'buy', 'in', 1, 1.1, { commission: -5 })
  // Sells 3 lots: closes the 1 lot bought, (1.1050 - 1.1000) * 1 * 100,000 = 500, and opens 2 short.
  const reverse = deal('2024-03-04T12:00:00', 'sell', 'inout', 3, 1.105, { profit: 500, commission: -15 })
  // Buys the 2 back: (1.1050 - 1.1020) * 2 * 100,000 = 600.
  const close = deal('2024-03-04T15:00:00', 'buy', 'out', 2, 1.102, { profit: 600, commission: -10 })

  const reversed = row([open, reverse])
  t.equal(reversed.direction, 'buy', 'the direction it was opened in')
  t.equal(reversed.reversals, 1, 'now short: one reversal')
  t.equal(reversed.state, 'open', 'the remainder is still open')
  t.equal(reversed.close_time_msc, null)
  t.equal(reversed.volume, 2, 'the 2 lots short exceed the 1 lot long')
  t.equal(reversed.volume_closed, 1)
  near(t, reversed.close_price, 1.105, 'the long lot closed at the reversal price')
  t.equal(reversed.pips, 50, 'the long leg: (1.1050 - 1.1000) / 0.0001')
  t.equal(reversed.profit, 500)

  const r = row([open, reverse, close])
  t.equal(r.direction, 'buy')
  t.equal(r.reversals, 1)
  t.equal(r.state, 'closed')
  t.equal(r.close_time_msc, close.time_msc)
  // Opening fills 1 @ 1.1000 and 2 @ 1.1050: 3.31 / 3. Closing fills 1 @ 1.1050 and 2 @ 1.1020: 3.309 / 3.
  near(t, r.open_price, 3.31 / 3, 'every opening fill, both directions')
  near(t, r.close_price, 1.103, 'every closing fill, both directions')
  t.equal(r.volume, 2)
  t.equal(r.volume_closed, 3)
  t.equal(r.profit, 1100, '500 + 600')
  t.equal(r.commission, -30, '-5 - 15 - 10')
  // Per lot closed: long leg +50 pips on 1 lot, short leg (1.1050 - 1.1020) / 0.0001 = +30 on 2 lots:
  // (50 * 1 + 30 * 2) / 3 = 36.666667; and 36.67 pips * 3 lots * $10 a pip a lot = 1100, the profit.
  t.equal(r.pips, 36.666667)
  t.equal(r.deal_count, 3)
})

t.test('close-by (out_by) closes each of two hedged positions at the close-by deal price', async (t) => {
  const long = deal('2024-03-04T10:00:00', 'buy', 'in', 0.1, 1.1, { position_id: 101 })
  const short = deal('2024-03-04T11:00:00', 'sell', 'in', 0.1, 1.105, { position_id: 102 })
  // MT5 offsets the pair at the open price of the position closed by (1.1050) and books the whole
  // result on one deal: (1.1050 - 1.1000) * 0.1 * 100,000 = 50.
  const longBy = deal('2024-03-04T12:00:00', 'sell', 'out_by', 0.1, 1.105, { position_id: 101, profit: 50 })
  const shortBy = deal('2024-03-04T12:00:00', 'buy', 'out_by', 0.1, 1.105, { position_id: 102 })

  const a = row([long, longBy])
  t.equal(a.position_id, 101)
  t.equal(a.direction, 'buy')
  t.equal(a.state, 'closed')
  t.equal(a.close_time_msc, longBy.time_msc)
  t.equal(a.pips, 50, '(1.1050 - 1.1000) / 0.0001')
  t.equal(a.profit, 50)

  const b = row([short, shortBy])
  t.equal(b.position_id, 102)
  t.equal(b.direction, 'sell')
  t.equal(b.state, 'closed')
  t.equal(b.pips, 0, 'closed at its own open price')
  t.equal(b.profit, 0, 'its part of the result is on the other position\'s deal')

  // Unequal volumes: the larger one stays open with the difference.
  const big = deal('2024-03-05T10:00:00', 'buy', 'in', 0.3, 1.1, { position_id: 103 })
  const partBy = deal('2024-03-05T12:00:00', 'sell', 'out_by', 0.1, 1.105, { position_id: 103, profit: 50 })
  const c = row([big, partBy])
  t.equal(c.state, 'open')
  t.equal(c.volume, 0.3)
  t.equal(c.volume_closed, 0.1)
  t.equal(c.pips, 50)
})

t.test('the deals in any order give the same row', async (t) => {
  const deals = [
    deal('2024-03-04T10:00:00', 'buy', 'in', 0.1, 1.1, { commission: -0.7 }),
    deal('2024-03-04T10:05:00', 'buy', 'in', 0.2, 1.103, { commission: -1.4 }),
    deal('2024-03-04T12:00:00', 'sell', 'inout', 0.5, 1.105, { profit: 90, commission: -3.5, swap: -0.3 }),
    deal('2024-03-04T12:00:00', 'buy', 'out', 0.2, 1.102, { profit: 60, commission: -1.4 }), // same ms: ticket decides
    { ...deal('2024-03-04T11:00:00', 'buy', 'in', 0, 0, { profit: 10_000 }), type: 'balance', position_id: 0 },
  ]
  const expected = row(deals)
  t.equal(expected.state, 'closed')
  t.equal(expected.deal_count, 4)
  let differing = 0
  for (const order of permutations(deals)) {
    const r = row(order)
    if (JSON.stringify(r) !== JSON.stringify(expected)) differing++
  }
  t.equal(differing, 0, 'all 120 orders give the same row, bit for bit')
})

t.test('a 3-digit JPY pair counts a pip as 0.01', async (t) => {
  const r = row([
    deal('2024-03-04T10:00:00', 'buy', 'in', 0.5, 150.25),
    deal('2024-03-04T11:00:00', 'sell', 'out', 0.5, 150.73, { profit: 159.42 }),
  ], USDJPY)
  t.equal(r.pips, 48, '(150.730 - 150.250) / 0.01 (pip = 10 points of 0.001)')
  t.equal(pipSize({ point: 0.01, digits: 2 }), 0.01, '2 digits: a pip is a point')
  t.equal(pipSize({ point: 0.0001, digits: 4 }), 0.0001, '4 digits: a pip is a point')
  t.equal(pipSize({ point: null, digits: 5 }), 0.0001, 'point unknown: 10^-digits, times 10 for 5 digits')
  t.equal(pipSize({ point: 0.001, digits: null }), 0.01, 'digits unknown: read from the point')
})

t.test('with neither point nor digits known, pips are null and the rest of the row stands', async (t) => {
  const r = row([
    deal('2024-03-04T10:00:00', 'buy', 'in', 1, 1.1),
    deal('2024-03-04T11:00:00', 'sell', 'out', 1, 1.1025, { profit: 250 }),
  ], UNKNOWN)
  t.equal(r.pips, null)
  t.equal(r.state, 'closed')
  t.equal(r.profit, 250)
})

t.test('swap and fee are summed over every deal that carries them', async (t) => {
  const r = row([
    deal('2024-03-04T10:00:00', 'buy', 'in', 0.3, 1.1, { fee: -0.25 }),
    deal('2024-03-06T10:00:00', 'sell', 'out', 0.1, 1.102, { profit: 20, swap: -0.4 }),
    deal('2024-03-08T10:00:00', 'sell', 'out', 0.2, 1.105, { profit: 100, swap: -1.6, fee: -0.25 }),
  ])
  near(t, r.swap, -2, '-0.4 - 1.6')
  near(t, r.fee, -0.5, '-0.25 - 0.25')
  t.equal(r.profit, 120)
})

t.test('deals of other types are ignored: a balance deal with position_id 0 changes nothing', async (t) => {
  const deals = [
    deal('2024-03-04T10:00:00', 'buy', 'in', 1, 1.1),
    deal('2024-03-04T11:00:00', 'sell', 'out', 1, 1.1025, { profit: 250 }),
  ]
  const balance = { ...deal('2024-03-04T10:30:00', 'buy', 'in', 0, 0, { profit: 5000 }), type: 'balance', position_id: 0 }
  const commission = { ...deal('2024-03-04T23:59:00', 'buy', 'in', 0, 0, { commission: -12 }), type: 'commission_daily', position_id: 0 }
  t.strictSame(row([...deals, balance, commission]), row(deals))
  t.equal(journalOf([balance, commission], EURUSD, options), undefined, 'no buy or sell deal: no row')
})

t.test('float residue of volume sums (0.1 + 0.2 - 0.3) counts as closed', async (t) => {
  const deals = [
    deal('2024-03-04T10:00:00', 'buy', 'in', 0.1, 1.1),
    deal('2024-03-04T10:01:00', 'buy', 'in', 0.2, 1.1),
    deal('2024-03-04T11:00:00', 'sell', 'out', 0.3, 1.1025, { profit: 75 }),
  ]
  t.not(0.1 + 0.2 - 0.3, 0, 'the residue exists')
  for (const symbol of [EURUSD, UNKNOWN]) {
    const r = row(deals, symbol)
    t.equal(r.state, 'closed', `closed with volume_step ${symbol.volume_step ?? 'unknown (1e-8)'}`)
    t.equal(r.reversals, 0, 'the residue does not open the other way')
    t.equal(r.volume_closed, 0.3)
  }
  // The other way round: 0.3 - 0.1 - 0.2 leaves -2.8e-17.
  const down = row([
    deal('2024-03-04T10:00:00', 'buy', 'in', 0.3, 1.1),
    deal('2024-03-04T10:01:00', 'sell', 'out', 0.1, 1.1),
    deal('2024-03-04T11:00:00', 'sell', 'out', 0.2, 1.1),
  ])
  t.equal(down.state, 'closed')
  t.equal(down.reversals, 0)
})

t.test('a position whose opening deal is not stored yet has no row', async (t) => {
  const close = deal('2024-03-04T11:00:00', 'sell', 'out', 1, 1.1025, { profit: 250 })
  t.equal(journalOf([close], EURUSD, options), undefined)
  t.equal(journalOf([], EURUSD, options), undefined)
})

t.test('bad input is refused with a message that names it', async (t) => {
  const a = deal('2024-03-04T10:00:00', 'buy', 'in', 1, 1.1)
  const b = deal('2024-03-04T11:00:00', 'sell', 'out', 1, 1.1, { position_id: 8 })
  t.throws(() => journalOf([a, b], EURUSD, options), { name: 'RangeError', message: /positions 7 and 8/ })
  t.throws(() => journalOf([a, { ...a }], EURUSD, options), { name: 'RangeError', message: new RegExp(`ticket ${a.ticket} given twice`) })
  t.throws(() => journalOf([a], EURUSD, {} as never), { name: 'TypeError', message: /options\.tradingDayStart/ })
})
