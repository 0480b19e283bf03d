/**
 * Bars from ticks, the MT5 way (docs/BARS.md gives every rule and its source). Plain functions over
 * column arrays: no database, no allocation per tick.
 *
 * Every bar depends only on the ticks inside its own period, never on the tick before it, so the
 * aggregator may rebuild any single minute alone, and every rule composes: a bar of any timeframe
 * rolled up from M1 bars equals the bar built from its ticks directly.
 */
import { nextPeriod, periodStart, sourceOf, TIMEFRAMES, type Timeframe } from './timeframes.js'

export type PriceSource = 'bid' | 'last'

/** MqlTick flags: which fields a tick changed against the tick before it. */
export const TICK_FLAG_BID = 2
export const TICK_FLAG_ASK = 4
export const TICK_FLAG_LAST = 8
export const TICK_FLAG_VOLUME = 16
const CHANGE_FLAGS = TICK_FLAG_BID | TICK_FLAG_ASK | TICK_FLAG_LAST | TICK_FLAG_VOLUME

/** Ticks of one symbol in (time_msc, seq) order, column by column, as the ticks table holds them. */
export interface TickArrays {
  time_msc: ArrayLike<number>
  bid: ArrayLike<number>
  ask: ArrayLike<number>
  last: ArrayLike<number>
  volume_real: ArrayLike<number>
  flags: ArrayLike<number>
  length: number
}

export interface Bar {
  /** Period start, server time, ms. */
  time: number
  open: number
  high: number
  low: number
  close: number
  /** Price ticks in the bar. */
  tickVolume: number
  realVolume: number
  /** The least spread of the bar's price ticks, in points. */
  spread: number
}

/** The point to count spreads in: the symbol's, else 10^-digits, else none (spreads are 0). */
function pointOf(point: number | null, digits: number | null): number {
  if (point !== null && Number.isFinite(point) && point > 0) return point
  if (digits !== null && Number.isInteger(digits) && digits >= 0) return 10 ** -digits
  return 0
}

/**
 * M1 bars of the ticks, in time order. A tick is a price tick when its price (bid, or last for a
 * symbol charted by Last) is above 0 and it changed that price: its flags say so (TICK_FLAG_BID,
 * or TICK_FLAG_LAST), or, for a tick whose flags say nothing of what changed, its price differs
 * from the bar's previous price tick (the first one opens the bar). Only price ticks make a bar;
 * a minute without one has none.
 *
 * `seed` continues a bar: the bar of the first tick's minute as built from the ticks before these
 * (all of them earlier), with `spread` Infinity where none of those had a spread to count. The
 * result is the bar those ticks and these make together, bit for bit: volumes are summed in tick
 * order either way. A seed of another minute is not used.
 */
export function minuteBars(ticks: TickArrays, source: PriceSource, point: number | null, digits: number | null, seed?: Bar): Bar[] {
  const bars: Bar[] = []
  const prices = source === 'bid' ? ticks.bid : ticks.last
  const changeFlag = source === 'bid' ? TICK_FLAG_BID : TICK_FLAG_LAST
  const unit = pointOf(point, digits)
  let bar: Bar | undefined
  let end = -Infinity
  if (seed !== undefined && ticks.length > 0 && seed.time === ticks.time_msc[0]! - (ticks.time_msc[0]! % 60_000)) {
    bar = { ...seed }
    end = seed.time + 60_000
  }
  /** Trade volume of the minute's ticks before its first price tick: the bar gets it when it opens. */
  let early = 0
  for (let i = 0; i < ticks.length; i++) {
    const time = ticks.time_msc[i]!
    if (i > 0 && time < ticks.time_msc[i - 1]!) throw new RangeError(`ticks out of time order at index ${i}: ${time} after ${ticks.time_msc[i - 1]}`)
    if (time >= end) {
      if (bar !== undefined) bars.push(bar)
      bar = undefined
      early = 0
      end = time - (time % 60_000) + 60_000
    }
    const flags = ticks.flags[i]!
    const price = prices[i]!
    const flagless = (flags & CHANGE_FLAGS) === 0
    // a trade's volume counts whether or not it moved the price; a flagless tick's only when it is a price tick
    const volume = (flags & TICK_FLAG_VOLUME) !== 0 ? ticks.volume_real[i]! : 0
    if (!(price > 0) || (flagless ? bar !== undefined && price === bar.close : (flags & changeFlag) === 0)) {
      if (bar !== undefined) bar.realVolume += volume
      else early += volume
      continue
    }
    const bid = ticks.bid[i]!
    const ask = ticks.ask[i]!
    const spread = unit > 0 && bid > 0 && ask > 0 ? Math.round((ask - bid) / unit) : Infinity
    if (bar === undefined) {
      bar = { time: end - 60_000, open: price, high: price, low: price, close: price, tickVolume: 1, realVolume: early, spread }
    } else {
      if (price > bar.high) bar.high = price
      if (price < bar.low) bar.low = price
      bar.close = price
      bar.tickVolume++
      if (spread < bar.spread) bar.spread = spread
    }
    bar.realVolume += flagless ? ticks.volume_real[i]! : volume
  }
  if (bar !== undefined) bars.push(bar)
  for (const b of bars) if (b.spread === Infinity) b.spread = 0
  return bars
}

/**
 * Bars of `tf` rolled up from finer bars that nest in it (its source timeframe, or M1), in time
 * order: open of the first, close of the last, the highest high, the lowest low, volumes summed,
 * the least spread.
 */
export function rollUp(bars: readonly Bar[], tf: Timeframe): Bar[] {
  const out: Bar[] = []
  let bar: Bar | undefined
  let end = -Infinity
  for (let i = 0; i < bars.length; i++) {
    const b = bars[i]!
    if (i > 0 && b.time <= bars[i - 1]!.time) throw new RangeError(`bars out of time order at index ${i}: ${b.time} after ${bars[i - 1]!.time}`)
    if (b.time >= end) {
      if (bar !== undefined) out.push(bar)
      const start = periodStart(tf, b.time)
      end = nextPeriod(tf, start)
      bar = { ...b, time: start }
      continue
    }
    const into = bar!
    if (b.high > into.high) into.high = b.high
    if (b.low < into.low) into.low = b.low
    into.close = b.close
    into.tickVolume += b.tickVolume
    into.realVolume += b.realVolume
    if (b.spread < into.spread) into.spread = b.spread
  }
  if (bar !== undefined) out.push(bar)
  return out
}

/** Bars of every timeframe in `tfs` from the ticks: M1 first, each other one rolled up from its source. */
export function allBars(ticks: TickArrays, source: PriceSource, point: number | null, digits: number | null, tfs: readonly Timeframe[] = TIMEFRAMES): Map<Timeframe, Bar[]> {
  const out = new Map<Timeframe, Bar[]>()
  const m1 = minuteBars(ticks, source, point, digits)
  const built = new Map<Timeframe, Bar[]>([['M1', m1]])
  for (const tf of TIMEFRAMES) {
    if (tf !== 'M1') built.set(tf, rollUp(built.get(sourceOf(tf)!)!, tf))
    if (tfs.includes(tf)) out.set(tf, built.get(tf)!)
  }
  return out
}
