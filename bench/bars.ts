/**
 * Scenario `bars`: `mt5-engine bars rebuild` over N stored ticks (default 10M) against the same M1
 * aggregation as one SQL query run directly in SQLite (window functions for open and close, then
 * GROUP BY minute), in the same run, as a ratio. The rebuild does more: it writes the bars of all
 * 21 timeframes and takes each minute through the aggregator's work list; the query only reads
 * M1 out. The ticks all carry TICK_FLAG_BID, so every tick is a price tick and both must give the
 * same M1 bars: the scenario checks that they do.
 */
import Database from 'better-sqlite3'
import { runCli, type Io } from '../src/cli/main.js'
import { prepareDatabase } from '../src/engine.js'
import { describeMachine, finishMachine, type Machine } from './lib/machine.js'
import { configFor, freshDatabase } from './lib/databases.js'
import type { BenchOptions } from './lib/options.js'
import { fmt, median, round } from './lib/stats.js'

export interface BarsReport {
  scenario: 'bars'
  dialect: 'sqlite'
  ticks: number
  minutes: number
  /** Median seconds of `bars rebuild` (all timeframes, written). */
  rebuildSeconds: number
  /** Median seconds of the M1 query (read only). */
  querySeconds: number
  /** rebuild / query: how many times the query's time the rebuild takes. */
  ratio: number
  rebuildTicksPerSec: number
  queryTicksPerSec: number
  /** Every M1 bar of the rebuild equals the query's. */
  sameM1: boolean
  runs: { rebuild: number[]; query: number[] }
  machine: Machine
  command: string
}

const POINT = 0.00001

/** The M1 aggregation in SQL: open and close by window, the rest by GROUP BY. */
const M1_QUERY = `
select minute, open, max(bid) as high, min(bid) as low, close, count(*) as tick_volume, sum(volume_real) as real_volume,
       min(cast(round((ask - bid) / ${POINT}) as integer)) as spread
from (
  select time_msc - time_msc % 60000 as minute, bid, ask, volume_real,
         first_value(bid) over w as open, last_value(bid) over w as close
  from ticks where symbol_id = ?
  window w as (partition by time_msc - time_msc % 60000 order by time_msc, seq rows between unbounded preceding and unbounded following)
)
group by minute order by minute`

/** Ticks every 1..400 ms (a tenth in the same millisecond), a random-walk bid, spreads of 1..4 points, flags 6. */
function fillTicks(path: string, symbolId: number, n: number): void {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const ROWS = 500
  const tuples = Array.from({ length: ROWS }, () => '(?, ?, ?, ?, ?, 0, 0, 0, 6)').join(', ')
  const many = db.prepare(`insert into ticks (symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags) values ${tuples}`)
  let seed = 12345
  const random = () => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) / 0x100000000
  }
  let time = Date.UTC(2024, 0, 1)
  let seq = 0
  let bid = 1.08
  const params: number[] = []
  const flush = db.transaction((chunks: number[][]) => {
    for (const chunk of chunks) many.run(chunk)
  })
  let pending: number[][] = []
  for (let i = 0; i < n; i++) {
    if (random() < 0.9) {
      time += 1 + Math.floor(random() * 400)
      seq = 0
    } else seq++
    bid = Math.max(0.5, Math.round((bid + (random() - 0.5) * 0.0002) * 1e5) / 1e5)
    params.push(symbolId, seq, time, bid, Math.round((bid + (1 + Math.floor(random() * 4)) * POINT) * 1e5) / 1e5)
    if (params.length === ROWS * 5) {
      pending.push(params.splice(0))
      if (pending.length === 200) {
        flush(pending)
        pending = []
      }
    }
  }
  if (pending.length > 0) flush(pending)
  // the remainder, one row at a time
  const one = db.prepare('insert into ticks (symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags) values (?, ?, ?, ?, ?, 0, 0, 0, 6)')
  db.transaction(() => {
    for (let p = 0; p < params.length; p += 5) one.run(params.slice(p, p + 5))
  })()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
}

const quietIo = (out: string[]): Io => ({ out: (s) => void out.push(s), err: () => {}, env: {}, cwd: process.cwd() })

export async function runBars(o: BenchOptions, log: (s: string) => void): Promise<BarsReport> {
  if (o.database.dialect !== 'sqlite') throw new Error('the bars scenario runs on SQLite only: its baseline is a query run directly in SQLite')
  const machine = await describeMachine(o.database)
  const n = o.workload.ticks
  const fresh = await freshDatabase(o.database, 'bars')
  const { storage } = await prepareDatabase(configFor(fresh.database, o.database.synchronous))
  let symbolId: number
  try {
    await storage.query("insert into accounts (login, server, first_seen_at, last_seen_at) values (1, 'Bench-Server', 0, 0)")
    const [row] = await storage.query<{ id: number }>(
      "insert into symbols (account_id, server, name, digits, point) values ((select id from accounts where login = 1), 'Bench-Server', 'EURUSD', 5, $1) returning id",
      [POINT],
    )
    symbolId = Number(row!.id)
  } finally {
    await storage.close()
  }
  log(`bars: writing ${fmt(n)} ticks ...`)
  fillTicks(fresh.database, symbolId, n)
  const rebuild: number[] = []
  const query: number[] = []
  let minutes = 0
  let sameM1 = true
  try {
    for (let r = 1; r <= o.repeat; r++) {
      let started = performance.now()
      const out: string[] = []
      const code = await runCli(['bars', 'rebuild', '--database', fresh.database, '--json'], quietIo(out))
      if (code !== 0) throw new Error(`bars rebuild exited ${code}: ${out.join('')}`)
      rebuild.push((performance.now() - started) / 1000)
      minutes = (JSON.parse(out.join('')) as { minutes: number }).minutes
      const db = new Database(fresh.database, { readonly: true })
      try {
        started = performance.now()
        const rows = db.prepare(M1_QUERY).all(symbolId) as Record<string, number>[]
        query.push((performance.now() - started) / 1000)
        const built = db
          .prepare("select open_time_msc as minute, open, high, low, close, tick_volume, real_volume, spread from built_bars where symbol_id = ? and timeframe = 'M1' order by open_time_msc")
          .all(symbolId) as Record<string, number>[]
        sameM1 &&= rows.length === built.length && rows.every((q, i) => JSON.stringify(q) === JSON.stringify(built[i]))
      } finally {
        db.close()
      }
      log(`[${r}/${o.repeat}] rebuild ${fmt(rebuild[r - 1]!, 2)} s, query ${fmt(query[r - 1]!, 2)} s (${fmt(minutes)} minutes)${sameM1 ? '' : '; THE M1 BARS DIFFER'}`)
    }
  } finally {
    await fresh.drop()
  }
  const rebuildSeconds = median(rebuild)
  const querySeconds = median(query)
  return {
    scenario: 'bars',
    dialect: 'sqlite',
    ticks: n,
    minutes,
    rebuildSeconds: round(rebuildSeconds, 3),
    querySeconds: round(querySeconds, 3),
    ratio: round(rebuildSeconds / querySeconds, 2),
    rebuildTicksPerSec: round(n / rebuildSeconds),
    queryTicksPerSec: round(n / querySeconds),
    sameM1,
    runs: { rebuild: rebuild.map((x) => round(x, 3)), query: query.map((x) => round(x, 3)) },
    machine: finishMachine(machine),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  }
}

export function formatBars(r: BarsReport): string {
  return [
    `mt5-engine bench: bars rebuild (sqlite), ${fmt(r.ticks)} ticks in ${fmt(r.minutes)} minutes, ${r.runs.rebuild.length} repetition(s)`,
    `machine: ${r.machine.cores} x ${r.machine.cpuModel}, Node ${r.machine.node}`,
    '',
    `bars rebuild (21 timeframes, written):       ${fmt(r.rebuildSeconds, 2)} s  ${fmt(r.rebuildTicksPerSec)} ticks/s  (runs ${r.runs.rebuild.join(' / ')})`,
    `one SQL query, M1 only, read (GROUP BY):     ${fmt(r.querySeconds, 2)} s  ${fmt(r.queryTicksPerSec)} ticks/s  (runs ${r.runs.query.join(' / ')})`,
    `rebuild / query: ${fmt(r.ratio, 2)}x the time; M1 bars identical: ${r.sameM1 ? 'yes' : 'NO'}`,
  ].join('\n')
}
