/**
 * The trade journal: one row per MT5 position (POSITION_IDENTIFIER), rebuilt from that position's
 * deals. A pure function over an array: no database, no clock. docs/JOURNAL.md gives every rule and
 * its source.
 *
 * The row depends only on the set of deals, never on their order or on an earlier row, so the unit
 * of work is "recompute one position from all its deals": a new deal of a position means calling
 * journalOf again with all of them and upserting the result.
 */

/** One deal as the `deals` table holds it (the columns the journal reads). */
export interface JournalDeal {
  ticket: number
  position_id: number
  time_msc: number
  /** 'buy' | 'sell' build the position; every other deal type is ignored. */
  type: string
  entry: 'in' | 'out' | 'inout' | 'out_by'
  volume: number
  price: number
  profit: number
  commission: number
  swap: number
  fee: number
  magic: number
  symbol_id: number | null
}

/** What the journal needs of the position's symbol (the `symbols` columns of the same names). */
export interface JournalSymbol {
  /** SYMBOL_POINT; null when unknown (then 10^-digits, and with neither, pips are null). */
  point: number | null
  /** SYMBOL_DIGITS; null when unknown (then derived from point). */
  digits: number | null
  /** SYMBOL_VOLUME_STEP; null or absent when unknown (the close tolerance is then 1e-8 lots). */
  volume_step?: number | null
}

export interface JournalOptions {
  /** Start (server time, ms) of the trading day a time falls in: books the close on its day. */
  tradingDayStart: (time_msc: number) => number
}

/** One `journal_trades` row, without the columns the journal does not own (account, stream, strategy, signal). */
export interface JournalRow {
  position_id: number
  /** The first deal's symbol that is not null; null when no deal names one. */
  symbol_id: number | null
  /** The opening deal's magic. */
  magic: number
  /** The direction the position was opened in (kept through a reversal: see `reversals`). */
  direction: 'buy' | 'sell'
  /** 'closed' once the open volume is back to 0. */
  state: 'open' | 'closed'
  /** The first deal's time. */
  open_time_msc: number
  /** The time of the deal that closed the position; null while open. */
  close_time_msc: number | null
  /** tradingDayStart(close_time_msc); null while open. */
  close_day_msc: number | null
  /** Volume-weighted price of every opening fill. */
  open_price: number
  /** Volume-weighted price of every closing fill; null while nothing is closed. */
  close_price: number | null
  /** The largest open volume the position reached, in lots. */
  volume: number
  /** The volume closed so far, in lots. */
  volume_closed: number
  /** Sums over all the position's deals (entry deals included). */
  profit: number
  commission: number
  swap: number
  fee: number
  /** Price distance won per lot closed, in pips; null while nothing is closed or the point is unknown. */
  pips: number | null
  /** Buy and sell deals of the position. */
  deal_count: number
  first_deal_ticket: number
  last_deal_ticket: number
  /** Reversals (netting `inout`) the position went through: an odd count means it is now the other way. Not a `journal_trades` column yet. */
  reversals: number
}

/** Volumes are reported to 8 decimals (MT5's volume_real precision) so float sums read as lots. */
const VOLUME_DECIMALS = 1e8
/** Pips are reported to 6 decimals: far below a point, far above float noise. */
const PIPS_DECIMALS = 1e6
const DEFAULT_VOLUME_TOLERANCE = 1e-8

/** One direction of the position, from the deal that opened it to the fill that closed it (or now). */
interface Leg {
  sign: 1 | -1
  openVolume: number
  openNotional: number
  closedVolume: number
  closedNotional: number
}

/**
 * The journal row of one position from all its deals, in any order. Deals of other types than buy
 * and sell are skipped (balance, credit, commission and the like carry position_id 0 in MT5).
 * Returns undefined when no buy/sell deal is left, or when the earliest one is not an `in` deal:
 * the position's opening deal is not stored yet, and the row would describe half a trade.
 *
 * Throws a TypeError for a missing tradingDayStart, a RangeError when the deals belong to more
 * than one position or a ticket appears twice.
 */
export function journalOf(deals: readonly JournalDeal[], symbol: JournalSymbol, options: JournalOptions): JournalRow | undefined {
  if (typeof options?.tradingDayStart !== 'function') {
    throw new TypeError('journalOf: options.tradingDayStart must be a function (time_msc) => start of its trading day in ms')
  }
  const trades = tradeDeals(deals)
  const first = trades[0]
  if (first === undefined || first.entry !== 'in') return undefined

  const tolerance = volumeTolerance(symbol.volume_step)
  const legs: Leg[] = []
  let open = 0 // signed: buy volume positive
  let maxOpen = 0
  let closeTime: number | null = null
  let profit = 0, commission = 0, swap = 0, fee = 0
  let symbolId: number | null = null
  let reversals = 0

  for (const deal of trades) {
    profit += deal.profit
    commission += deal.commission
    swap += deal.swap
    fee += deal.fee
    if (symbolId === null) symbolId = deal.symbol_id
    const sign = deal.type === 'buy' ? 1 : -1
    let volume = deal.volume
    // MT5 marks the effect with `entry`; the signed open volume gives the same effect for every
    // valid deal and stays defined for an inconsistent one (an `out` larger than what is open
    // reverses, as `inout` would).
    if (open !== 0 && Math.sign(open) !== sign) {
      const leg = legs[legs.length - 1]!
      const closing = Math.min(volume, Math.abs(open))
      leg.closedVolume += closing
      leg.closedNotional += closing * deal.price
      open += sign * closing
      volume -= closing
      if (Math.abs(open) <= tolerance) {
        open = 0
        closeTime = deal.time_msc
      }
      if (volume <= tolerance) continue
      if (open === 0) reversals++
    }
    if (open === 0) {
      legs.push({ sign, openVolume: 0, openNotional: 0, closedVolume: 0, closedNotional: 0 })
      closeTime = null
    }
    const leg = legs[legs.length - 1]!
    leg.openVolume += volume
    leg.openNotional += volume * deal.price
    open += sign * volume
    maxOpen = Math.max(maxOpen, Math.abs(open))
  }

  const last = trades[trades.length - 1]!
  const totals = legTotals(legs)
  const closed = open === 0
  return {
    position_id: first.position_id,
    symbol_id: symbolId,
    magic: first.magic,
    direction: first.type === 'buy' ? 'buy' : 'sell',
    state: closed ? 'closed' : 'open',
    open_time_msc: first.time_msc,
    close_time_msc: closed ? closeTime : null,
    close_day_msc: closed && closeTime !== null ? options.tradingDayStart(closeTime) : null,
    open_price: totals.openVolume > 0 ? totals.openNotional / totals.openVolume : first.price,
    close_price: totals.closedVolume > 0 ? totals.closedNotional / totals.closedVolume : null,
    volume: roundVolume(maxOpen),
    volume_closed: roundVolume(totals.closedVolume),
    profit,
    commission,
    swap,
    fee,
    pips: pipsOf(legs, totals.closedVolume, pipSize(symbol)),
    deal_count: trades.length,
    first_deal_ticket: first.ticket,
    last_deal_ticket: last.ticket,
    reversals,
  }
}

/** The buy and sell deals in (time_msc, ticket) order, checked to be one position's. */
function tradeDeals(deals: readonly JournalDeal[]): JournalDeal[] {
  const trades = deals.filter((d) => d.type === 'buy' || d.type === 'sell')
  trades.sort((a, b) => a.time_msc - b.time_msc || a.ticket - b.ticket)
  for (let i = 1; i < trades.length; i++) {
    const a = trades[i - 1]!, b = trades[i]!
    if (b.position_id !== a.position_id) {
      throw new RangeError(`journalOf: deals of positions ${a.position_id} and ${b.position_id} given together; pass one position's deals`)
    }
  }
  const tickets = new Set<number>()
  for (const d of trades) {
    if (tickets.has(d.ticket)) throw new RangeError(`journalOf: deal ticket ${d.ticket} given twice`)
    tickets.add(d.ticket)
  }
  return trades
}

/** Half a volume step: volumes are whole steps, so anything smaller left over is float residue. */
function volumeTolerance(step: number | null | undefined): number {
  return step !== null && step !== undefined && Number.isFinite(step) && step > 0 ? step / 2 : DEFAULT_VOLUME_TOLERANCE
}

function legTotals(legs: readonly Leg[]): Omit<Leg, 'sign'> {
  const t = { openVolume: 0, openNotional: 0, closedVolume: 0, closedNotional: 0 }
  for (const leg of legs) {
    t.openVolume += leg.openVolume
    t.openNotional += leg.openNotional
    t.closedVolume += leg.closedVolume
    t.closedNotional += leg.closedNotional
  }
  return t
}

/**
 * Pips per lot closed: each leg's (close - open) / pip, signed by the leg's direction, weighted by
 * the leg's closed volume. With one leg this is (close_price - open_price) / pip for a buy.
 */
function pipsOf(legs: readonly Leg[], closedVolume: number, pip: number | null): number | null {
  if (pip === null || closedVolume <= 0) return null
  let distance = 0
  for (const leg of legs) {
    if (leg.closedVolume <= 0) continue
    const openPrice = leg.openNotional / leg.openVolume
    distance += leg.sign * (leg.closedNotional - openPrice * leg.closedVolume)
  }
  return Math.round((distance / closedVolume / pip) * PIPS_DECIMALS) / PIPS_DECIMALS
}

/** A pip is ten points on 3- and 5-digit symbols (fractional quotes), else one point. */
export function pipSize(symbol: JournalSymbol): number | null {
  const { point, digits } = symbol
  const validPoint = point !== null && Number.isFinite(point) && point > 0
  const validDigits = digits !== null && Number.isInteger(digits) && digits >= 0
  if (!validPoint && !validDigits) return null
  const p = validPoint ? point : 1 / 10 ** digits!
  const d = validDigits ? digits : Math.round(-Math.log10(p))
  // 12 significant digits drop the float noise of `* 10` (0.00001 * 10 is not 0.0001 in binary).
  return Number((d === 3 || d === 5 ? p * 10 : p).toPrecision(12))
}

function roundVolume(v: number): number {
  return Math.round(v * VOLUME_DECIMALS) / VOLUME_DECIMALS
}
