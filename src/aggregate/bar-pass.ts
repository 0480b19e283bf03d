/**
 * One aggregation pass over one symbol: the minutes on its work list are built again from their
 * ticks (or, where the writer built their M1 bars with the ticks, taken as stored), and every
 * period of every other timeframe that holds one of them is rolled up again from its source
 * timeframe. Each bar is a function of the ticks in its period only, so a pass can be
 * repeated, interrupted or run twice over the same minutes and the stored bars come out the same.
 * The reads come through `source`, so this runs against the database or against arrays in a test.
 */
import { minuteBars, rollUp, type Bar, type PriceSource, type TickArrays } from './bars.js'
import { nextPeriod, periodStart, sourceOf, type Timeframe } from './timeframes.js'

const MINUTE_MS = 60_000
/** Dirty minutes closer than this are read with one tick query (the minutes between hold few ticks or none). */
const RUN_GAP_MS = 10 * MINUTE_MS

export interface PassSource {
  /** The symbol's ticks with from <= time_msc < to, in (time_msc, seq) order. */
  ticks(from: number, to: number): Promise<TickArrays>
  /** Stored built bars of `timeframe` with from <= open time < to, in time order. */
  bars(timeframe: Timeframe, from: number, to: number): Promise<Bar[]>
}

export interface PassInput {
  /** Minutes whose M1 bars are built again from their ticks, ascending. */
  minutes: readonly number[]
  /** Minutes whose stored M1 bars are current (the writer built them): only what they roll up into is built again. */
  current?: readonly number[]
  source: PriceSource
  point: number | null
  digits: number | null
  /** The timeframes built, M1 first, each after its source (as withSources returns them). */
  timeframes: readonly Timeframe[]
}

/** Per timeframe, each affected period's new bar, or null where the period has no bar now. */
export type PassResult = Map<Timeframe, Map<number, Bar | null>>

export async function computePass(input: PassInput, source: PassSource): Promise<PassResult> {
  const result: PassResult = new Map()
  const current = input.current ?? []
  if ((input.minutes.length === 0 && current.length === 0) || !input.timeframes.includes('M1')) return result
  const m1 = new Map<number, Bar | null>()
  result.set('M1', m1)
  for (const run of runsOf(input.minutes)) {
    const ticks = await source.ticks(run[0]!, run[run.length - 1]! + MINUTE_MS)
    const built = new Map<number, Bar>()
    for (const bar of minuteBars(ticks, input.source, input.point, input.digits)) built.set(bar.time, bar)
    for (const minute of run) m1.set(minute, built.get(minute) ?? null)
  }
  for (const tf of input.timeframes) {
    const from = sourceOf(tf)
    if (from === null) continue
    const changed = result.get(from)
    if (changed === undefined) continue
    const times = from === 'M1' ? [...changed.keys(), ...current] : [...changed.keys()]
    if (times.length === 0) continue
    const periods = [...new Set(times.map((t) => periodStart(tf, t)))].sort((a, b) => a - b)
    const out = new Map<number, Bar | null>()
    for (const range of rangesOf(tf, periods)) {
      const start = range[0]!
      const end = nextPeriod(tf, range[range.length - 1]!)
      const merged = new Map<number, Bar>()
      for (const bar of await source.bars(from, start, end)) merged.set(bar.time, bar)
      for (const [time, bar] of changed) {
        if (time < start || time >= end) continue
        if (bar === null) merged.delete(time)
        else merged.set(time, bar)
      }
      const rolled = new Map<number, Bar>()
      for (const bar of rollUp([...merged.values()].sort((a, b) => a.time - b.time), tf)) rolled.set(bar.time, bar)
      for (const period of range) out.set(period, rolled.get(period) ?? null)
    }
    result.set(tf, out)
  }
  return result
}

/** Ascending minutes split where the gap to the next is over RUN_GAP_MS. */
function runsOf(minutes: readonly number[]): number[][] {
  const runs: number[][] = []
  let run: number[] = []
  for (const minute of minutes) {
    if (run.length > 0 && minute - run[run.length - 1]! > RUN_GAP_MS) {
      runs.push(run)
      run = []
    }
    run.push(minute)
  }
  if (run.length > 0) runs.push(run)
  return runs
}

/** Ascending period starts split into runs of adjacent periods. */
function rangesOf(tf: Timeframe, periods: readonly number[]): number[][] {
  const ranges: number[][] = []
  let range: number[] = []
  for (const period of periods) {
    if (range.length > 0 && nextPeriod(tf, range[range.length - 1]!) !== period) {
      ranges.push(range)
      range = []
    }
    range.push(period)
  }
  if (range.length > 0) ranges.push(range)
  return ranges
}
