/**
 * M1 bars built in the ticks' own transaction. When a batch's ticks of a symbol all come after
 * every tick stored for it, and no minute from the first of them on waits to be built again from
 * its ticks, the writer continues the stored M1 bar with the new ticks and stores the result with
 * them: the minute is current the moment the ticks commit, and the aggregator never reads them
 * back. It then only rolls the timeframes above M1 up from the stored M1 bars (bar_dirty
 * from_ticks 0). Where the stored bar cannot be continued (its minute has ticks but no price tick
 * yet, or its stored spread 0 may have meant "none to count"), the writer reads that one minute's
 * stored ticks back and builds it from them and the new ones. Any other batch (ticks older than
 * the newest stored, a replay, two streams of one symbol interleaving, a minute already waiting)
 * leaves its minutes for the aggregator to build from the ticks (from_ticks 1), as `bars rebuild`
 * does. docs/BARS.md, "How the engine keeps bars current", says why both give the same bars.
 */
import { minuteBars, type Bar, type TickArrays } from '../../aggregate/bars.js'
import type { TickColumns, TickSegment } from '../../workers/tasks.js'
import type { Dialect, Queryable } from '../storage/types.js'
import { symbolChart, ticksBetween, upsertBars } from './bars.js'

const MINUTE_MS = 60_000
/** bar_dirty rows per statement (3 parameters each). */
const DIRTY_STATEMENT_ROWS = 256
/** The first key of pg_advisory_xact_lock(int, int) that serializes writers on one symbol's bars ('mt5b'). */
const BAR_LOCK_SPACE = 0x6d743562

export interface SegmentOf {
  segment: TickSegment
  symbolId: number
}

/** What a batch does to one symbol's bars. */
interface SymbolPlan {
  symbolId: number
  /** Minutes the ticks fall in, ascending. */
  minutes: number[]
  /** The M1 bars of those minutes, continued from the stored ones; undefined when the aggregator builds them from the ticks. */
  bars: Bar[] | undefined
}

export interface MinutePlan {
  symbols: SymbolPlan[]
  /** Stored ticks read back to build a minute whose bar could not be continued. */
  readBack: number
}

/**
 * Decides, per symbol, before the ticks go in (it reads the newest stored tick), and computes the
 * M1 bars where the writer builds them. On PostgreSQL, where several writers run, each takes a
 * per-symbol transaction lock first, in symbol order, so that no other writer stores ticks of the
 * symbol between this check and this commit.
 */
export async function planMinuteBars(tx: Queryable, dialect: Dialect, cols: TickColumns, segments: readonly SegmentOf[], ordinals: (segment: TickSegment) => Int32Array): Promise<MinutePlan> {
  const bySymbol = new Map<number, TickSegment[]>()
  for (const { segment, symbolId } of segments) {
    const list = bySymbol.get(symbolId)
    if (list === undefined) bySymbol.set(symbolId, [segment])
    else list.push(segment)
  }
  const plan: MinutePlan = { symbols: [], readBack: 0 }
  const slow = (symbolId: number, minutes: number[]) => plan.symbols.push({ symbolId, minutes, bars: undefined })
  for (const symbolId of [...bySymbol.keys()].sort((a, b) => a - b)) {
    if (dialect === 'postgres') await tx.query('select pg_advisory_xact_lock($1, $2)', [BAR_LOCK_SPACE, symbolId])
    const list = bySymbol.get(symbolId)!
    const ticks = gather(cols, list)
    const minutes = minutesOf(ticks)
    const ordered = keysIncrease(cols, list, ordinals)
    if (ordered === undefined) {
      slow(symbolId, minutes)
      continue
    }
    const [newest] = await tx.query<{ time_msc: number; seq: number }>(
      'select time_msc, seq from ticks where symbol_id = $1 order by time_msc desc, seq desc limit 1',
      [symbolId],
    )
    const firstTime = ticks.time_msc[0]!
    if (newest !== undefined && !(firstTime > Number(newest.time_msc) || (firstTime === Number(newest.time_msc) && ordered.firstOrdinal > Number(newest.seq)))) {
      slow(symbolId, minutes)
      continue
    }
    const firstMinute = minutes[0]!
    const waiting = await tx.query('select 1 from bar_dirty where symbol_id = $1 and minute_msc >= $2 and from_ticks = 1 limit 1', [symbolId, firstMinute])
    if (waiting.length > 0) {
      slow(symbolId, minutes)
      continue
    }
    const { source, point, digits } = (await symbolChart(tx, symbolId))!
    let bars: Bar[] | undefined
    if (newest !== undefined && Number(newest.time_msc) - (Number(newest.time_msc) % MINUTE_MS) === firstMinute) {
      // the minute has ticks already: its bar is continued
      const [stored] = await tx.query<{ open: number; high: number; low: number; close: number; tick_volume: number; real_volume: number; spread: number }>(
        `select open, high, low, close, tick_volume, real_volume, spread from built_bars
          where symbol_id = $1 and timeframe = 'M1' and open_time_msc = $2`,
        [symbolId, firstMinute],
      )
      if (stored !== undefined) {
        const spread = Number(stored.spread)
        // a stored spread of 0 is a real 0 or "no spread to count" (Infinity before it is stored)
        const seed = { time: firstMinute, open: stored.open, high: stored.high, low: stored.low, close: stored.close, tickVolume: Number(stored.tick_volume), realVolume: stored.real_volume, spread: spread === 0 ? Infinity : spread }
        bars = minuteBars(ticks, source, point, digits, seed)
        // min(0 or none, s) with s > 0: only the stored ticks know which the 0 was
        if (seed.spread === Infinity && bars[0]!.spread > 0) bars = undefined
      }
      if (bars === undefined) {
        // no bar to continue (no price tick in the minute yet: the volume before the first one is
        // not in any bar), or its spread undecided: the minute is built from its stored ticks and these
        const before = await ticksBetween(tx, symbolId, firstMinute, firstMinute + MINUTE_MS)
        plan.readBack += before.length
        bars = minuteBars(concat(before, ticks), source, point, digits)
      }
    } else {
      bars = minuteBars(ticks, source, point, digits)
    }
    plan.symbols.push({ symbolId, minutes, bars })
  }
  return plan
}

/**
 * After the ticks are in: stores the M1 bars the writer built and puts minutes on the aggregator's
 * work list, in the same transaction, so a committed tick's minute is always either current or
 * listed. The writer's own minutes are listed (from_ticks 0) only when timeframes above M1 are
 * built. A minute already listed has its version raised, which tells an aggregation computing it
 * meanwhile that it is out of date; one listed for a build from ticks stays so. Rows go in sorted
 * (symbol, minute), the order every writer takes their locks in on PostgreSQL. Returns the symbols
 * with minutes listed.
 */
export async function storeMinuteBars(tx: Queryable, plan: MinutePlan, rollUp: boolean): Promise<number[]> {
  const rows: number[] = []
  const listed: number[] = []
  for (const { symbolId, minutes, bars } of plan.symbols) {
    if (bars !== undefined) {
      await upsertBars(tx, symbolId, 'M1', bars)
      if (!rollUp || bars.length === 0) continue
      for (const bar of bars) rows.push(symbolId, bar.time, 0)
    } else {
      for (const minute of minutes) rows.push(symbolId, minute, 1)
    }
    listed.push(symbolId)
  }
  for (let from = 0; from < rows.length; from += DIRTY_STATEMENT_ROWS * 3) {
    const chunk = rows.slice(from, from + DIRTY_STATEMENT_ROWS * 3)
    await tx.query(dirtyInsertSql(chunk.length / 3), chunk)
  }
  return listed
}

const dirtyInsertTexts = new Map<number, string>()
function dirtyInsertSql(rows: number): string {
  let text = dirtyInsertTexts.get(rows)
  if (text === undefined) {
    const tuples: string[] = []
    for (let r = 0; r < rows; r++) tuples.push(`($${3 * r + 1}, $${3 * r + 2}, $${3 * r + 3})`)
    text = `insert into bar_dirty (symbol_id, minute_msc, from_ticks) values ${tuples.join(', ')}
            on conflict (symbol_id, minute_msc) do update set version = bar_dirty.version + 1,
              from_ticks = case when excluded.from_ticks > bar_dirty.from_ticks then excluded.from_ticks else bar_dirty.from_ticks end`
    if (dirtyInsertTexts.size < 64) dirtyInsertTexts.set(rows, text)
  }
  return text
}

/** The segments' ticks as one column set, in batch order (views when there is one segment). */
function gather(cols: TickColumns, list: readonly TickSegment[]): TickArrays {
  if (list.length === 1) {
    const { start, count } = list[0]!
    const view = (a: Float64Array) => a.subarray(start, start + count)
    return { time_msc: view(cols.time_msc), bid: view(cols.bid), ask: view(cols.ask), last: view(cols.last), volume_real: view(cols.volume_real), flags: view(cols.flags), length: count }
  }
  let n = 0
  for (const s of list) n += s.count
  const out = { time_msc: new Float64Array(n), bid: new Float64Array(n), ask: new Float64Array(n), last: new Float64Array(n), volume_real: new Float64Array(n), flags: new Float64Array(n), length: n }
  let at = 0
  for (const { start, count } of list) {
    for (const k of ['time_msc', 'bid', 'ask', 'last', 'volume_real', 'flags'] as const) out[k].set(cols[k].subarray(start, start + count), at)
    at += count
  }
  return out
}

function concat(a: TickArrays, b: TickArrays): TickArrays {
  const n = a.length + b.length
  const out = { time_msc: new Float64Array(n), bid: new Float64Array(n), ask: new Float64Array(n), last: new Float64Array(n), volume_real: new Float64Array(n), flags: new Float64Array(n), length: n }
  for (const k of ['time_msc', 'bid', 'ask', 'last', 'volume_real', 'flags'] as const) {
    out[k].set(a[k] as ArrayLike<number>, 0)
    out[k].set(b[k] as ArrayLike<number>, a.length)
  }
  return out
}

/** The distinct minutes of ticks in batch order, ascending. */
function minutesOf(ticks: TickArrays): number[] {
  const set = new Set<number>()
  let previous = -1
  for (let i = 0; i < ticks.length; i++) {
    const t = ticks.time_msc[i]!
    const minute = t - (t % MINUTE_MS)
    if (minute !== previous) set.add((previous = minute))
  }
  return [...set].sort((a, b) => a - b)
}

/**
 * Whether the (time_msc, ordinal) keys of the segments, one after another, rise strictly: then
 * they are the order the ticks are stored and read in, and none repeats another. Returns the first
 * tick's ordinal, or undefined when they do not.
 */
function keysIncrease(cols: TickColumns, list: readonly TickSegment[], ordinals: (segment: TickSegment) => Int32Array): { firstOrdinal: number } | undefined {
  let lastTime = -Infinity
  let lastOrdinal = -1
  let firstOrdinal = -1
  for (const segment of list) {
    const o = ordinals(segment)
    for (let r = 0; r < segment.count; r++) {
      const t = cols.time_msc[segment.start + r]!
      if (t < lastTime || (t === lastTime && o[r]! <= lastOrdinal)) return undefined
      if (firstOrdinal < 0) firstOrdinal = o[r]!
      lastTime = t
      lastOrdinal = o[r]!
    }
  }
  return { firstOrdinal }
}
