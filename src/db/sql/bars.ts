/**
 * The SQL of the bar aggregator: its work list (bar_dirty), the ticks and built bars it reads, and
 * the one transaction that stores what it computed and takes the minutes off the list.
 */
import type { Bar, PriceSource, TickArrays } from '../../aggregate/bars.js'
import type { Timeframe } from '../../aggregate/timeframes.js'
import type { Queryable } from '../storage/types.js'

/** A minute on the work list, with the version the aggregator read. */
export interface DirtyMinute {
  minute: number
  version: number
  /** Its M1 bar is built again from its ticks; else the writer built it and only the timeframes above need rolling up. */
  fromTicks: boolean
}

/** What one aggregation pass over a symbol changed: bars to store, periods left without a bar, minutes done. */
export interface BarChanges {
  symbolId: number
  /** Bars to insert or replace, by timeframe. */
  bars: { timeframe: Timeframe; bars: Bar[] }[]
  /** Periods whose ticks no longer make a bar (none has a price tick): their built bar goes. */
  removed: { timeframe: Timeframe; times: number[] }[]
  /** Minutes computed, at the version read: each leaves the work list unless a tick came in since. */
  done: DirtyMinute[]
}

export interface SymbolChart {
  source: PriceSource
  point: number | null
  digits: number | null
}

/** Symbols with minutes on the work list: what a crash or a stop left to do. */
export async function dirtySymbols(q: Queryable): Promise<number[]> {
  const rows = await q.query<{ symbol_id: number }>('select distinct symbol_id from bar_dirty order by symbol_id')
  return rows.map((r) => Number(r.symbol_id))
}

/** The symbol's oldest minutes on the work list, at most `limit`. */
export async function dirtyMinutes(q: Queryable, symbolId: number, limit: number): Promise<DirtyMinute[]> {
  const rows = await q.query<{ minute_msc: number; version: number; from_ticks: number }>(
    'select minute_msc, version, from_ticks from bar_dirty where symbol_id = $1 order by minute_msc limit $2',
    [symbolId, limit],
  )
  return rows.map((r) => ({ minute: Number(r.minute_msc), version: Number(r.version), fromTicks: Number(r.from_ticks) !== 0 }))
}

/** What the symbol's chart is built from, and its point for spreads; undefined for an unknown symbol. */
export async function symbolChart(q: Queryable, symbolId: number): Promise<SymbolChart | undefined> {
  const [row] = await q.query<{ chart_mode: string; point: number | null; digits: number | null }>(
    'select chart_mode, point, digits from symbols where id = $1',
    [symbolId],
  )
  if (row === undefined) return undefined
  return {
    source: row.chart_mode === 'last' ? 'last' : 'bid',
    point: row.point === null ? null : Number(row.point),
    digits: row.digits === null ? null : Number(row.digits),
  }
}

/** The symbol's ticks with from <= time_msc < to, in stored order, as columns. */
export async function ticksBetween(q: Queryable, symbolId: number, from: number, to: number): Promise<TickArrays> {
  const text = `select time_msc, bid, ask, last, volume_real, flags from ticks
     where symbol_id = $1 and time_msc >= $2 and time_msc < $3 order by time_msc, seq`
  const columns = new TickColumnsBuilder()
  // row by row where the backend can: objects for every tick, all held at once, were most of a pass's time
  if (q.eachRow) await q.eachRow(text, [symbolId, from, to], (r) => columns.push(r as number[]))
  else for (const r of await q.query<Record<string, number>>(text, [symbolId, from, to])) columns.push([r.time_msc!, r.bid!, r.ask!, r.last!, r.volume_real!, r.flags!])
  return columns.done()
}

/** Tick columns filled row by row, doubling as they fill. */
class TickColumnsBuilder {
  #n = 0
  #time = new Float64Array(1024)
  #bid = new Float64Array(1024)
  #ask = new Float64Array(1024)
  #last = new Float64Array(1024)
  #volume = new Float64Array(1024)
  #flags = new Int32Array(1024)

  push(r: number[]): void {
    if (this.#n === this.#time.length) this.#grow()
    const i = this.#n++
    this.#time[i] = Number(r[0])
    this.#bid[i] = r[1]!
    this.#ask[i] = r[2]!
    this.#last[i] = r[3]!
    this.#volume[i] = r[4]!
    this.#flags[i] = r[5]!
  }

  #grow(): void {
    const size = this.#time.length * 2
    const grow = <A extends Float64Array | Int32Array>(a: A, make: (n: number) => A): A => {
      const b = make(size)
      b.set(a)
      return b
    }
    this.#time = grow(this.#time, (n) => new Float64Array(n))
    this.#bid = grow(this.#bid, (n) => new Float64Array(n))
    this.#ask = grow(this.#ask, (n) => new Float64Array(n))
    this.#last = grow(this.#last, (n) => new Float64Array(n))
    this.#volume = grow(this.#volume, (n) => new Float64Array(n))
    this.#flags = grow(this.#flags, (n) => new Int32Array(n))
  }

  done(): TickArrays {
    const n = this.#n
    return {
      time_msc: this.#time.subarray(0, n),
      bid: this.#bid.subarray(0, n),
      ask: this.#ask.subarray(0, n),
      last: this.#last.subarray(0, n),
      volume_real: this.#volume.subarray(0, n),
      flags: this.#flags.subarray(0, n),
      length: n,
    }
  }
}

/** Built bars of one timeframe with from <= open time < to, in time order. */
export async function builtBarsBetween(q: Queryable, symbolId: number, timeframe: Timeframe, from: number, to: number): Promise<Bar[]> {
  const rows = await q.query<{
    open_time_msc: number
    open: number
    high: number
    low: number
    close: number
    tick_volume: number
    real_volume: number
    spread: number
  }>(
    `select open_time_msc, open, high, low, close, tick_volume, real_volume, spread from built_bars
     where symbol_id = $1 and timeframe = $2 and open_time_msc >= $3 and open_time_msc < $4 order by open_time_msc`,
    [symbolId, timeframe, from, to],
  )
  return rows.map((r) => ({
    time: Number(r.open_time_msc),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    tickVolume: Number(r.tick_volume),
    realVolume: r.real_volume,
    spread: r.spread,
  }))
}

/** Bar rows per upsert statement (10 parameters each). */
const BAR_STATEMENT_ROWS = 200
/** Keys per delete statement. */
const DELETE_STATEMENT_KEYS = 400

/**
 * Stores one pass's changes, inside the caller's transaction: bars upserted, bars of emptied
 * periods deleted, and every computed minute taken off the work list if its version is still the
 * one read (a tick that committed meanwhile raised it, and the minute waits for the next pass).
 * Returns how many minutes left the list.
 */
export async function applyBarChanges(tx: Queryable, changes: BarChanges): Promise<number> {
  const { symbolId } = changes
  for (const { timeframe, bars } of changes.bars) await upsertBars(tx, symbolId, timeframe, bars)
  for (const { timeframe, times } of changes.removed) {
    for (let from = 0; from < times.length; from += DELETE_STATEMENT_KEYS) {
      const chunk = times.slice(from, from + DELETE_STATEMENT_KEYS)
      const list = chunk.map((_, i) => `$${i + 3}`).join(', ')
      await tx.query(`delete from built_bars where symbol_id = $1 and timeframe = $2 and open_time_msc in (${list})`, [symbolId, timeframe, ...chunk])
    }
  }
  let cleared = 0
  for (let from = 0; from < changes.done.length; from += DELETE_STATEMENT_KEYS / 2) {
    const chunk = changes.done.slice(from, from + DELETE_STATEMENT_KEYS / 2)
    const params: unknown[] = [symbolId]
    const keys: string[] = []
    for (const d of chunk) {
      keys.push(`(minute_msc = $${params.length + 1} and version = $${params.length + 2})`)
      params.push(d.minute, d.version)
    }
    const rows = await tx.query<{ minute_msc: number }>(
      `delete from bar_dirty where symbol_id = $1 and (${keys.join(' or ')}) returning minute_msc`,
      params,
    )
    cleared += rows.length
  }
  return cleared
}

/** Inserts or replaces built bars of one symbol and timeframe. */
export async function upsertBars(tx: Queryable, symbolId: number, timeframe: Timeframe, bars: readonly Bar[]): Promise<void> {
  for (let from = 0; from < bars.length; from += BAR_STATEMENT_ROWS) {
    const chunk = bars.slice(from, from + BAR_STATEMENT_ROWS)
    const params: unknown[] = []
    const tuples: string[] = []
    for (const b of chunk) {
      const k = params.length
      tuples.push(`($${k + 1}, $${k + 2}, $${k + 3}, $${k + 4}, $${k + 5}, $${k + 6}, $${k + 7}, $${k + 8}, $${k + 9}, $${k + 10})`)
      params.push(symbolId, timeframe, b.time, b.open, b.high, b.low, b.close, b.tickVolume, b.realVolume, b.spread)
    }
    await tx.query(
      `insert into built_bars (symbol_id, timeframe, open_time_msc, open, high, low, close, tick_volume, real_volume, spread)
       values ${tuples.join(', ')}
       on conflict (symbol_id, timeframe, open_time_msc) do update set
         open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
         tick_volume = excluded.tick_volume, real_volume = excluded.real_volume, spread = excluded.spread`,
      params,
    )
  }
}

/**
 * Puts every minute holding ticks of the symbols (all when `symbolIds` is empty) with
 * from <= time_msc < to on the work list: `bars rebuild`. The aggregator then computes them again
 * from the ticks, as it does after any commit. Minutes already listed get a new version. Returns
 * how many minutes were listed.
 */
export async function markForRebuild(tx: Queryable, symbolIds: readonly number[], from: number, to: number): Promise<number> {
  const which = symbolIds.length === 0 ? '' : `and symbol_id in (${symbolIds.map((_, i) => `$${i + 3}`).join(', ')})`
  const rows = await tx.query(
    `insert into bar_dirty (symbol_id, minute_msc)
     select distinct symbol_id, time_msc - time_msc % 60000 from ticks where time_msc >= $1 and time_msc < $2 ${which}
     on conflict (symbol_id, minute_msc) do update set version = bar_dirty.version + 1, from_ticks = 1
     returning 1`,
    [from, to, ...symbolIds],
  )
  return rows.length
}
