/**
 * MT5's timeframes and the periods they cut time into. Times are MT5 server time: milliseconds
 * since 1970 of the server's wall clock, read as if it were UTC (as MT5 itself stores them), so
 * calendar arithmetic here is UTC arithmetic and never meets a daylight-saving change.
 */

export const TIMEFRAMES = ['M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12', 'M15', 'M20', 'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1'] as const
export type Timeframe = (typeof TIMEFRAMES)[number]

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const WEEK = 7 * DAY
/** 1970-01-01 was a Thursday: the first Sunday 00:00 before it is 4 days earlier. */
const SUNDAY_OFFSET = 4 * DAY

/** The fixed length of every timeframe but MN1, ms. */
const LENGTH: Record<Exclude<Timeframe, 'MN1'>, number> = {
  M1: MINUTE, M2: 2 * MINUTE, M3: 3 * MINUTE, M4: 4 * MINUTE, M5: 5 * MINUTE, M6: 6 * MINUTE, M10: 10 * MINUTE, M12: 12 * MINUTE,
  M15: 15 * MINUTE, M20: 20 * MINUTE, M30: 30 * MINUTE, H1: HOUR, H2: 2 * HOUR, H3: 3 * HOUR, H4: 4 * HOUR, H6: 6 * HOUR, H8: 8 * HOUR,
  H12: 12 * HOUR, D1: DAY, W1: WEEK,
}

/**
 * Start of the period holding `timeMsc`. Minute and hour timeframes and D1 are multiples of their
 * length from 1970 (every one divides a day, so each day starts a period: H4 at 00:00, 04:00, ...);
 * W1 starts on Sunday 00:00; MN1 on the 1st at 00:00.
 */
export function periodStart(tf: Timeframe, timeMsc: number): number {
  if (tf === 'MN1') {
    const d = new Date(timeMsc)
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
  }
  if (tf === 'W1') return timeMsc - floorMod(timeMsc + SUNDAY_OFFSET, WEEK)
  return timeMsc - floorMod(timeMsc, LENGTH[tf])
}

/** Start of the period after the one holding `timeMsc`. */
export function nextPeriod(tf: Timeframe, timeMsc: number): number {
  if (tf === 'MN1') {
    const d = new Date(timeMsc)
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
  }
  return periodStart(tf, timeMsc) + LENGTH[tf]
}

/**
 * The timeframe a timeframe's bars are rolled up from: M1 for the minute timeframes and H1 (they
 * divide an hour), H1 for the hour timeframes and D1 (they divide a day), D1 for W1 and MN1
 * (a day lies in one week and one month). Null for M1, which is built from ticks.
 */
export function sourceOf(tf: Timeframe): Timeframe | null {
  if (tf === 'M1') return null
  if (tf.startsWith('M') && tf !== 'MN1') return 'M1'
  if (tf === 'H1') return 'M1'
  if (tf.startsWith('H') || tf === 'D1') return 'H1'
  return 'D1'
}

/**
 * The timeframes of a comma-separated list (`M5,H4`, any case, or `all`) and every timeframe they
 * are rolled up from, in TIMEFRAMES order: `M5,H4,W1` gives M1, M5, H1, H4, D1, W1.
 */
export function withSources(list: string): Timeframe[] {
  const wanted = new Set<Timeframe>()
  const add = (tf: Timeframe) => {
    for (let t: Timeframe | null = tf; t !== null; t = sourceOf(t)) wanted.add(t)
  }
  for (const entry of list.split(',').map((e) => e.trim())) {
    if (entry.toLowerCase() === 'all') TIMEFRAMES.forEach(add)
    else {
      const tf = TIMEFRAMES.find((x) => x === entry.toUpperCase())
      if (tf === undefined) {
        const what = entry === '' ? 'an empty entry' : `unknown timeframe "${entry}"`
        throw new Error(`${what} in the timeframe list "${list}"; the timeframes are ${TIMEFRAMES.join(', ')}, or all`)
      }
      add(tf)
    }
  }
  return TIMEFRAMES.filter((tf) => wanted.has(tf))
}

function floorMod(a: number, n: number): number {
  return ((a % n) + n) % n
}
