/**
 * The equity curve: account snapshots downsampled per period (M1, H1, D1), each period keeping its
 * first, highest, lowest and last equity, the balance of its last snapshot, the highest equity up
 * to its end (`peak_equity`) and the drawdown at its end from that peak. Pure: the writer loads the
 * stored point and the peak before it, calls `addSnapshot`, and stores the result.
 */

export const EQUITY_RESOLUTIONS = ['M1', 'H1', 'D1'] as const
export type EquityResolution = (typeof EQUITY_RESOLUTIONS)[number]

const PERIOD_MS: Record<EquityResolution, number> = { M1: 60_000, H1: 3_600_000, D1: 86_400_000 }

/** The start of the period `time` falls in; D1 starts at the server's midnight (MT5 times are server time). */
export function periodStart(resolution: EquityResolution, time: number): number {
  const p = PERIOD_MS[resolution]
  return time - (((time % p) + p) % p)
}

export interface EquityPoint {
  time_msc: number
  balance: number
  equity_open: number
  equity_high: number
  equity_low: number
  equity_close: number
  /** The highest equity up to the end of the period, earlier periods included. */
  peak_equity: number
  /** peak_equity - equity_close: how far below its peak the account closed the period. */
  drawdown: number
  /** drawdown / peak_equity, in percent (0 when the peak is not above 0). */
  drawdown_pct: number
  samples: number
  /** The times of the period's first and last snapshots: they decide open and close when snapshots come out of order. */
  first_time_msc: number
  last_time_msc: number
}

export interface Snapshot {
  time_msc: number
  balance: number
  equity: number
}

/**
 * The period's point once `s` is in it. `stored` is the period's point so far (undefined for a new
 * one); `peakBefore` the highest peak of the periods before it (undefined when none). A snapshot
 * older than the period's first becomes its open, one at or after its last its close and balance.
 */
export function addSnapshot(resolution: EquityResolution, stored: EquityPoint | undefined, s: Snapshot, peakBefore: number | undefined): EquityPoint {
  const time = periodStart(resolution, s.time_msc)
  const p: EquityPoint = stored
    ? { ...stored }
    : { time_msc: time, balance: s.balance, equity_open: s.equity, equity_high: s.equity, equity_low: s.equity, equity_close: s.equity, peak_equity: s.equity, drawdown: 0, drawdown_pct: 0, samples: 0, first_time_msc: s.time_msc, last_time_msc: s.time_msc }
  if (s.time_msc < p.first_time_msc) {
    p.equity_open = s.equity
    p.first_time_msc = s.time_msc
  }
  if (s.time_msc >= p.last_time_msc) {
    p.equity_close = s.equity
    p.balance = s.balance
    p.last_time_msc = s.time_msc
  }
  p.equity_high = Math.max(p.equity_high, s.equity)
  p.equity_low = Math.min(p.equity_low, s.equity)
  p.samples++
  return withPeak(p, Math.max(peakBefore ?? -Infinity, p.equity_high, stored?.peak_equity ?? -Infinity))
}

/** The point with `peak` as the highest equity up to its end, and its drawdown from it. */
export function withPeak(p: EquityPoint, peak: number): EquityPoint {
  const drawdown = Math.max(0, peak - p.equity_close)
  return { ...p, peak_equity: peak, drawdown, drawdown_pct: peak > 0 ? (drawdown / peak) * 100 : 0 }
}
