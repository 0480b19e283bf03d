/**
 * A Piscina aggregator: reads ticks and built bars on its own read-only connection and computes
 * what a pass changes (src/aggregate/bar-pass.ts). It never writes: on SQLite the writer worker
 * holds the only write connection, so the results go back to the main thread, which hands them to
 * the writer (src/workers/writer.ts, task `bars_apply`).
 */
import { workerData } from 'node:worker_threads'
import { maskSecrets } from '../db/url.js'
import { EngineError } from '../errors.js'
import { ProtocolErrors } from '../protocol/messages.js'
import { computePass } from '../aggregate/bar-pass.js'
import { openPostgres } from '../db/storage/postgres.js'
import { openSqlite } from '../db/storage/sqlite.js'
import { databaseErrorInfo, type Queryable, type Storage } from '../db/storage/types.js'
import { builtBarsBetween, dirtyMinutes, dirtySymbols, symbolChart, ticksBetween, type BarChanges } from '../db/sql/bars.js'
import type { AggregatorConfig, AggregatorTask, BarPass, TaskResult } from './tasks.js'

const config = workerData as AggregatorConfig
let storage: Promise<Storage> | undefined

function db(): Promise<Storage> {
  storage ??= (async () =>
    config.dialect === 'postgres'
      ? openPostgres({ url: config.database, max: 1 })
      : openSqlite({ path: config.database, readonly: true, busyTimeoutMs: config.busyTimeoutMs }))()
  return storage
}

async function pass(storage: Queryable, symbolId: number, limit: number): Promise<BarPass> {
  const dirty = await dirtyMinutes(storage, symbolId, limit)
  const changes: BarChanges = { symbolId, bars: [], removed: [], done: dirty }
  const chart = await symbolChart(storage, symbolId)
  if (dirty.length === 0 || chart === undefined) return { changes, more: false, ticks: 0 }
  let ticks = 0
  const result = await computePass(
    {
      minutes: dirty.filter((d) => d.fromTicks).map((d) => d.minute),
      current: dirty.filter((d) => !d.fromTicks).map((d) => d.minute),
      ...chart,
      timeframes: config.timeframes,
    },
    {
      ticks: async (from, to) => {
        const t = await ticksBetween(storage, symbolId, from, to)
        ticks += t.length
        return t
      },
      bars: (timeframe, from, to) => builtBarsBetween(storage, symbolId, timeframe, from, to),
    },
  )
  for (const [timeframe, periods] of result) {
    const bars = []
    const times = []
    for (const [time, bar] of periods) {
      if (bar === null) times.push(time)
      else bars.push(bar)
    }
    if (bars.length > 0) changes.bars.push({ timeframe, bars })
    if (times.length > 0) changes.removed.push({ timeframe, times })
  }
  return { changes, more: dirty.length === limit, ticks }
}

async function run(task: AggregatorTask): Promise<unknown> {
  const storage = await db()
  switch (task.kind) {
    case 'dirty_symbols':
      return dirtySymbols(storage)
    case 'pass':
      // one read transaction: the ticks and the bars they are rolled up with are one snapshot
      return storage.transaction(async (tx) => {
        const passes: BarPass[] = []
        for (const symbolId of task.symbolIds) passes.push(await pass(tx, symbolId, task.limit))
        return passes
      }, { readOnly: true })
  }
}

export default async function aggregatorTask(task: AggregatorTask): Promise<TaskResult<unknown>> {
  try {
    return { ok: true, value: await run(task) }
  } catch (err) {
    if (err instanceof EngineError) return { ok: false, error: { code: err.code, message: maskSecrets(err.message), dataError: false } }
    const info = databaseErrorInfo(err)
    return { ok: false, error: { code: ProtocolErrors.STORAGE_FAILED, message: maskSecrets(info.dbMessage), dbCode: info.dbCode, dataError: false } }
  }
}
