/**
 * `mt5-engine bars VERB`: rebuild built bars from stored ticks, and verify them against the bars
 * EAs sent for the same periods.
 */
import { BarScheduler } from '../aggregate/scheduler.js'
import { TIMEFRAMES, type Timeframe } from '../aggregate/timeframes.js'
import { markForRebuild } from '../db/sql/bars.js'
import type { Queryable } from '../db/storage/types.js'
import { prepareDatabase } from '../engine.js'
import { EngineError, ErrorCodes } from '../errors.js'
import { silentLogger } from '../log.js'
import { createAggregatorPool } from '../workers/aggregator-pool.js'
import { createWriterPool } from '../workers/writer-pool.js'
import { configFrom, engineFlags, parse, table, type Io } from './io.js'

export const barsUsageLines = `  mt5-engine bars rebuild [--symbol NAME] [--account LOGIN@SERVER] [--from TIME] [--to TIME] [--bar-timeframes LIST]
  mt5-engine bars verify [--symbol NAME] [--account LOGIN@SERVER] [--from TIME] [--to TIME] [--limit N]
                          (TIME: an ISO date like 2024-03-01 or 2024-03-01T10:00, server time; or ms since 1970)
`

/** An ISO date or date-time read as server time (no zone: MT5 times are the server's wall clock), or ms since 1970. */
export function serverTime(value: string, flag: string): number {
  if (/^\d+$/.test(value)) return Number(value)
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/.exec(value)
  if (m === null) throw new EngineError(ErrorCodes.USAGE, `${flag} must be a date like 2024-03-01, a date-time like 2024-03-01T10:00 (server time), or ms since 1970; got "${value}"`)
  const [, y, mo, d, h = '0', mi = '0', s = '0', ms = '0'] = m
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(ms.padEnd(3, '0')))
  if (new Date(t).getUTCDate() !== Number(d)) throw new EngineError(ErrorCodes.USAGE, `${flag}: ${value} is not a date`)
  return t
}

interface Selection {
  symbolIds: number[]
  from: number
  to: number
}

async function select(q: Queryable, values: Record<string, unknown>): Promise<Selection> {
  const from = values.from === undefined ? 0 : serverTime(String(values.from), '--from')
  const to = values.to === undefined ? Number.MAX_SAFE_INTEGER : serverTime(String(values.to), '--to')
  if (to <= from) throw new EngineError(ErrorCodes.USAGE, '--to must be after --from')
  const where: string[] = []
  const params: unknown[] = []
  if (values.symbol !== undefined) where.push(`s.name = $${params.push(String(values.symbol))}`)
  if (values.account !== undefined) {
    const m = /^(\d+)@(.+)$/.exec(String(values.account))
    if (m === null) throw new EngineError(ErrorCodes.USAGE, `--account must be LOGIN@SERVER; got "${values.account}"`)
    where.push(`a.login = $${params.push(Number(m[1]))} and a.server = $${params.push(m[2])}`)
  }
  if (where.length === 0) return { symbolIds: [], from, to }
  const rows = await q.query<{ id: number }>(`select s.id from symbols s join accounts a on a.id = s.account_id where ${where.join(' and ')} order by s.id`, params)
  if (rows.length === 0) throw new EngineError(ErrorCodes.USAGE, `no symbol matches ${[values.symbol && `--symbol ${values.symbol}`, values.account && `--account ${values.account}`].filter(Boolean).join(' ')}`)
  return { symbolIds: rows.map((r) => Number(r.id)), from, to }
}

/** One line that redraws itself on a terminal, or a line every 10% elsewhere (a log, a pipe). */
function progress(io: Io, tty: boolean): (done: number, total: number) => void {
  let lastTenth = -1
  return (done, total) => {
    const fraction = total === 0 ? 1 : Math.min(1, done / total)
    const text = `rebuilding bars: ${done.toLocaleString('en')} of ${total.toLocaleString('en')} minutes (${(fraction * 100).toFixed(0)}%)`
    if (tty) {
      const width = 30
      const filled = Math.round(fraction * width)
      io.err(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}${fraction === 1 ? '\n' : ''}`)
    } else if (Math.floor(fraction * 10) > lastTenth) {
      lastTenth = Math.floor(fraction * 10)
      io.err(`${text}\n`)
    }
  }
}

export async function barsCommand(args: string[], io: Io): Promise<number> {
  const [verb, ...rest] = args
  const { values } = parse(rest, {
    ...engineFlags('bars'),
    symbol: { type: 'string' },
    account: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    limit: { type: 'string' },
  })
  if (verb !== 'rebuild' && verb !== 'verify') throw new EngineError(ErrorCodes.USAGE, `bars needs a verb: rebuild or verify${verb ? `; got "${verb}"` : ''}`)
  const config = configFrom(values, io)
  const { storage } = await prepareDatabase(config)
  let selection: Selection
  try {
    selection = await select(storage, values)
    if (verb === 'verify') return await verify(storage, selection, values, io)
  } finally {
    await storage.close()
  }
  return rebuild(config, selection, values, io)
}

async function rebuild(config: ReturnType<typeof configFrom>, selection: Selection, values: Record<string, unknown>, io: Io): Promise<number> {
  if (config.barTimeframes.length === 0) throw new EngineError(ErrorCodes.USAGE, 'bars rebuild with --bar-timeframes none has nothing to build')
  const started = performance.now()
  const writer = createWriterPool(
    { database: config.database, dialect: config.dialect, synchronous: config.synchronous, busyTimeoutMs: config.busyTimeoutMs, writeDelayMs: 0, buildBars: true, rollUpBars: true },
    1,
  )
  const aggregator = createAggregatorPool({ database: config.database, dialect: config.dialect, busyTimeoutMs: config.busyTimeoutMs, timeframes: config.barTimeframes }, 1)
  const scheduler = new BarScheduler(aggregator, writer, { log: silentLogger, retryMs: 200 })
  try {
    const { storage } = await prepareDatabase(config)
    let listed: number
    try {
      listed = await storage.transaction((tx) => markForRebuild(tx, selection.symbolIds, selection.from, selection.to))
    } finally {
      await storage.close()
    }
    const show = progress(io, values.json !== true && process.stderr.isTTY === true)
    show(0, listed)
    const timer = setInterval(() => show(Math.min(scheduler.counters.minutes, listed), listed), 200)
    try {
      await scheduler.start()
      await scheduler.idle()
    } finally {
      clearInterval(timer)
    }
    show(listed, listed)
    const seconds = (performance.now() - started) / 1000
    const result = { minutes: listed, ticks: scheduler.counters.ticksRead, passes: scheduler.counters.passes, failures: scheduler.counters.failures, seconds }
    if (values.json) io.out(JSON.stringify(result) + '\n')
    else io.out(`rebuilt the bars of ${listed.toLocaleString('en')} minutes from ${result.ticks.toLocaleString('en')} ticks in ${seconds.toFixed(1)} s (${config.barTimeframes.join(', ')})\n`)
    return 0
  } finally {
    await scheduler.close()
    await writer.close()
  }
}

const FIELDS = ['open', 'high', 'low', 'close', 'tick_volume', 'real_volume', 'spread'] as const

async function verify(q: Queryable, selection: Selection, values: Record<string, unknown>, io: Io): Promise<number> {
  const limit = values.limit === undefined ? 50 : Number(values.limit)
  if (!Number.isInteger(limit) || limit < 1) throw new EngineError(ErrorCodes.USAGE, `--limit must be a whole number >= 1; got "${values.limit}"`)
  const which = selection.symbolIds.length === 0 ? '' : `and e.symbol_id in (${selection.symbolIds.map((_, i) => `$${i + 3}`).join(', ')})`
  const rows = await q.query<Record<string, unknown>>(
    `select s.name as symbol, e.timeframe, e.open_time_msc,
            ${FIELDS.map((f) => `e.${f} as ea_${f}, b.${f} as built_${f}`).join(', ')}
     from ea_bars e join symbols s on s.id = e.symbol_id
     left join built_bars b on b.symbol_id = e.symbol_id and b.timeframe = e.timeframe and b.open_time_msc = e.open_time_msc
     where e.open_time_msc >= $1 and e.open_time_msc < $2 ${which}
     order by s.name, e.timeframe, e.open_time_msc`,
    [selection.from, selection.to, ...selection.symbolIds],
  )
  const rank = (tf: unknown) => TIMEFRAMES.indexOf(tf as Timeframe)
  const differences: { symbol: string; timeframe: string; time: number; fields: Record<string, [number, number | null]> }[] = []
  let compared = 0
  let missing = 0
  for (const r of rows) {
    if (r.built_open === null) {
      missing++
      continue
    }
    compared++
    const fields: Record<string, [number, number | null]> = {}
    for (const f of FIELDS) if (Number(r[`ea_${f}`]) !== Number(r[`built_${f}`])) fields[f] = [Number(r[`ea_${f}`]), Number(r[`built_${f}`])]
    if (Object.keys(fields).length > 0) differences.push({ symbol: String(r.symbol), timeframe: String(r.timeframe), time: Number(r.open_time_msc), fields })
  }
  differences.sort((a, b) => a.symbol.localeCompare(b.symbol) || rank(a.timeframe) - rank(b.timeframe) || a.time - b.time)
  if (values.json) io.out(JSON.stringify({ compared, differing: differences.length, notBuilt: missing, differences: differences.slice(0, limit) }) + '\n')
  else {
    io.out(`${compared.toLocaleString('en')} EA-sent bars compared with built bars: ${differences.length.toLocaleString('en')} differ; ${missing.toLocaleString('en')} periods have no built bar (no ticks stored for them)\n`)
    if (differences.length > 0) {
      const time = (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 16)
      io.out(table([
        ['SYMBOL', 'TF', 'TIME (SERVER)', 'FIELD', 'EA', 'BUILT'],
        ...differences.slice(0, limit).flatMap((d) => Object.entries(d.fields).map(([f, [ea, built]]) => [d.symbol, d.timeframe, time(d.time), f, String(ea), String(built)])),
      ]))
      if (differences.length > limit) io.out(`... and ${differences.length - limit} more (--limit N)\n`)
    }
  }
  return differences.length > 0 ? 1 : 0
}
