/**
 * Scenario `ceiling`: the fastest way found to put the workload's rows into the same schema, with
 * the same indexes and durability settings, from one process with no network and no engine:
 * better-sqlite3 prepared statements in large transactions (single-row, and multi-row VALUES of
 * several widths, the widest statements SQLite's parameter limit allows included), or on
 * PostgreSQL raw COPY. Every strategy is tried on the same prefix of the rows; the best is the
 * ceiling, and it inserts all of them.
 *
 * The strategies include the engine's own statement (100-row VALUES with ON CONFLICT DO NOTHING),
 * run in-process, so the ceiling is never below what the engine's writer does internally.
 */
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import Database from 'better-sqlite3'
import postgres from 'postgres'
import { noDelaySocket } from '../src/db/storage/postgres.js'
import { freshDatabase, storedCounts, type DatabaseTarget } from './lib/databases.js'
import { describeMachine, finishMachine, type Machine } from './lib/machine.js'
import type { BenchOptions } from './lib/options.js'
import { collectRows, headOf, type Rows, type TickRows } from './lib/rows.js'
import { fmt, median, round } from './lib/stats.js'

export interface Strategy {
  name: string
  dialect: 'sqlite' | 'postgres'
  /** SQLite: rows per INSERT statement. */
  rowsPerStatement: number
  /** Rows per transaction (PostgreSQL COPY: rows per COPY; 0 = all in one). */
  rowsPerTransaction: number
  /** ON CONFLICT DO NOTHING, as the engine writes. */
  onConflict: boolean
  /** PostgreSQL: COPY (else the engine's unnest insert). */
  copy: boolean
  /** PostgreSQL COPY: binary format (else text). */
  binary?: boolean
}

export const strategies: readonly Strategy[] = Object.freeze([
  { name: 'sqlite: 1 row/statement, 50k rows/tx', dialect: 'sqlite', rowsPerStatement: 1, rowsPerTransaction: 50_000, onConflict: false, copy: false },
  { name: 'sqlite: 20 rows/statement, 50k rows/tx', dialect: 'sqlite', rowsPerStatement: 20, rowsPerTransaction: 50_000, onConflict: false, copy: false },
  { name: 'sqlite: 100 rows/statement, 50k rows/tx', dialect: 'sqlite', rowsPerStatement: 100, rowsPerTransaction: 50_000, onConflict: false, copy: false },
  { name: 'sqlite: 500 rows/statement, 50k rows/tx', dialect: 'sqlite', rowsPerStatement: 500, rowsPerTransaction: 50_000, onConflict: false, copy: false },
  { name: 'sqlite: 3640 rows/statement (parameter limit), 200k rows/tx', dialect: 'sqlite', rowsPerStatement: 3640, rowsPerTransaction: 200_000, onConflict: false, copy: false },
  { name: 'sqlite: engine statement, 100 rows + on conflict, 2k rows/tx', dialect: 'sqlite', rowsPerStatement: 100, rowsPerTransaction: 2000, onConflict: true, copy: false },
  { name: 'postgres: one text COPY of all rows', dialect: 'postgres', rowsPerStatement: 0, rowsPerTransaction: 0, onConflict: false, copy: true },
  { name: 'postgres: one binary COPY of all rows', dialect: 'postgres', rowsPerStatement: 0, rowsPerTransaction: 0, onConflict: false, copy: true, binary: true },
  { name: 'postgres: binary COPY per 20k rows', dialect: 'postgres', rowsPerStatement: 0, rowsPerTransaction: 20_000, onConflict: false, copy: true, binary: true },
  { name: 'postgres: engine statement, unnest + on conflict, 2k rows/tx', dialect: 'postgres', rowsPerStatement: 0, rowsPerTransaction: 2000, onConflict: true, copy: false },
])

export interface CeilingRun {
  strategy: string
  ticks: number
  seconds: number
  ticksPerSec: number
  /** CPU of this process during the insert, ms. */
  cpuMs: number
  /** Rows found in the database afterwards: checks the run stored what it claims. */
  stored: number
}

const TICK_COLUMNS = 'symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags'

/** Inserts `ticks` (and the deals and snapshots when `withRecords`) into a fresh database, timed. */
export async function ceilingRun(target: DatabaseTarget, rows: Rows, ticks: TickRows, strategy: Strategy, withRecords = true): Promise<CeilingRun> {
  const fresh = await freshDatabase(target, 'ceiling')
  try {
    const ids = await registerEntities(fresh.database, target, rows)
    const cpu = process.cpuUsage()
    const started = performance.now()
    if (target.dialect === 'sqlite') insertSqlite(fresh.database, target, rows, ticks, ids, strategy, withRecords)
    else await insertPostgres(fresh.database, rows, ticks, ids, strategy, withRecords)
    const seconds = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    const stored = (await storedCounts(fresh.database, target.synchronous)).ticks
    return { strategy: strategy.name, ticks: ticks.count, seconds, ticksPerSec: ticks.count / seconds, cpuMs: (used.user + used.system) / 1000, stored }
  } finally {
    await fresh.drop()
  }
}

export interface CeilingChoice {
  best: Strategy
  /** Median ticks/s of each strategy on the trial prefix. */
  trial: { strategy: string; ticksPerSec: number; runs: number[] }[]
  trialTicks: number
}

/** Tries every strategy of the dialect `rounds` times, interleaved, on the first `trialTicks` rows. */
export async function chooseCeiling(target: DatabaseTarget, rows: Rows, trialTicks: number, rounds: number, log: (s: string) => void): Promise<CeilingChoice> {
  const list = strategies.filter((s) => s.dialect === target.dialect)
  const head = headOf(rows.ticks, trialTicks)
  const runs = new Map<string, number[]>(list.map((s) => [s.name, []]))
  for (let r = 0; r < rounds; r++) {
    for (const s of list) {
      const run = await ceilingRun(target, rows, head, s, false)
      runs.get(s.name)!.push(run.ticksPerSec)
      log(`  ceiling trial ${r + 1}/${rounds}: ${s.name}: ${Math.round(run.ticksPerSec).toLocaleString('en-US')} ticks/s`)
    }
  }
  const trial = list.map((s) => ({ strategy: s.name, ticksPerSec: median(runs.get(s.name)!), runs: runs.get(s.name)! }))
  const best = list[trial.reduce((b, t, i) => (t.ticksPerSec > trial[b]!.ticksPerSec ? i : b), 0)]!
  return { best, trial, trialTicks: head.count }
}

/** Accounts, streams and symbols (each its account's), as the engine registers them on hello and on first sight. */
async function registerEntities(database: string, target: DatabaseTarget, rows: Rows): Promise<{ accounts: number[]; streams: number[]; symbols: number[] }> {
  const now = Date.now()
  const out = { accounts: [] as number[], streams: [] as number[], symbols: [] as number[] }
  if (target.dialect === 'sqlite') {
    const db = new Database(database)
    db.pragma('foreign_keys = ON')
    db.transaction(() => {
      for (const ea of rows.eas) {
        const a = db.prepare('insert into accounts (login, server, first_seen_at, last_seen_at) values (?, ?, ?, ?) returning id').get(ea.login, ea.server, now, now) as { id: number }
        const s = db.prepare("insert into streams (instance_id, account_id, ea_name, first_seen_at, last_seen_at) values (?, ?, 'BenchEA', ?, ?) returning id").get(ea.instanceId, a.id, now, now) as { id: number }
        out.accounts.push(a.id)
        out.streams.push(s.id)
      }
      for (const s of rows.symbols) {
        const r = db
          .prepare('insert into symbols (account_id, server, name, digits, point, contract_size, currency_base, currency_profit, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?) returning id')
          .get(out.accounts[s.ea], s.server, s.name, s.digits, 1 / 10 ** s.digits, s.contractSize, s.base, s.profit, now) as { id: number }
        out.symbols.push(r.id)
      }
    })()
    db.close()
    return out
  }
  const sql = postgres(database, { max: 1, onnotice: () => {} })
  try {
    for (const ea of rows.eas) {
      const [a] = await sql<{ id: number }[]>`insert into accounts (login, server, first_seen_at, last_seen_at) values (${ea.login}, ${ea.server}, ${now}, ${now}) returning id`
      const [s] = await sql<{ id: number }[]>`insert into streams (instance_id, account_id, ea_name, first_seen_at, last_seen_at) values (${ea.instanceId}, ${a!.id}, 'BenchEA', ${now}, ${now}) returning id`
      out.accounts.push(Number(a!.id))
      out.streams.push(Number(s!.id))
    }
    for (const s of rows.symbols) {
      const [r] = await sql<{ id: number }[]>`insert into symbols (account_id, server, name, digits, point, contract_size, currency_base, currency_profit, updated_at)
        values (${out.accounts[s.ea]!}, ${s.server}, ${s.name}, ${s.digits}, ${1 / 10 ** s.digits}, ${s.contractSize}, ${s.base}, ${s.profit}, ${now}) returning id`
      out.symbols.push(Number(r!.id))
    }
  } finally {
    await sql.end()
  }
  return out
}

const DEAL_SQL = `insert into deals (account_id, stream_id, ticket, order_ticket, position_id, symbol_id, time_msc, type, entry, volume,
  price, profit, commission, swap, fee, magic, reason, comment) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`
const SNAPSHOT_SQL = `insert into account_snapshots (account_id, stream_id, time_msc, balance, equity, margin, free_margin, margin_level, profit,
  open_positions, open_volume) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

function dealParams(d: unknown[], ids: { accounts: number[]; streams: number[]; symbols: number[] }): unknown[] {
  const ea = d[0] as number
  return [ids.accounts[ea], ids.streams[ea], d[1], d[2], d[3], ids.symbols[d[4] as number], ...d.slice(5)]
}

function snapshotParams(s: unknown[], ids: { accounts: number[]; streams: number[] }): unknown[] {
  const ea = s[0] as number
  return [ids.accounts[ea], ids.streams[ea], ...s.slice(1)]
}

function insertSqlite(database: string, target: DatabaseTarget, rows: Rows, t: TickRows, ids: { accounts: number[]; streams: number[]; symbols: number[] }, s: Strategy, withRecords: boolean): void {
  const db = new Database(database)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${target.synchronous}`)
  db.pragma('foreign_keys = ON')
  const k = s.rowsPerStatement
  const tuple = '(?, ?, ?, ?, ?, ?, ?, ?, ?)'
  const text = (n: number) => `insert into ticks (${TICK_COLUMNS}) values ${Array(n).fill(tuple).join(', ')}${s.onConflict ? ' on conflict do nothing' : ''}`
  const full = db.prepare(text(k))
  const one = db.prepare(text(1))
  const begin = db.prepare('begin')
  const commit = db.prepare('commit')
  const symbolIds = Int32Array.from(ids.symbols)
  const params = new Array<number>(k * 9)
  for (let from = 0; from < t.count; from += s.rowsPerTransaction) {
    const to = Math.min(t.count, from + s.rowsPerTransaction)
    begin.run()
    let i = from
    if (k === 1) {
      for (; i < to; i++) one.run(symbolIds[t.symbol[i]!]!, t.seq[i]!, t.time_msc[i]!, t.bid[i]!, t.ask[i]!, t.last[i]!, t.volume[i]!, t.volume_real[i]!, t.flags[i]!)
    } else {
      for (; i + k <= to; i += k) {
        for (let r = 0, p = 0; r < k; r++) {
          const x = i + r
          params[p++] = symbolIds[t.symbol[x]!]!
          params[p++] = t.seq[x]!
          params[p++] = t.time_msc[x]!
          params[p++] = t.bid[x]!
          params[p++] = t.ask[x]!
          params[p++] = t.last[x]!
          params[p++] = t.volume[x]!
          params[p++] = t.volume_real[x]!
          params[p++] = t.flags[x]!
        }
        full.run(...params)
      }
      for (; i < to; i++) one.run(symbolIds[t.symbol[i]!]!, t.seq[i]!, t.time_msc[i]!, t.bid[i]!, t.ask[i]!, t.last[i]!, t.volume[i]!, t.volume_real[i]!, t.flags[i]!)
    }
    commit.run()
  }
  if (withRecords) {
    const deal = db.prepare(DEAL_SQL.replace(/\$\d+/g, '?'))
    const snapshot = db.prepare(SNAPSHOT_SQL.replace(/\$\d+/g, '?'))
    db.transaction(() => {
      for (const d of rows.deals) deal.run(dealParams(d, ids))
      for (const x of rows.snapshots) snapshot.run(snapshotParams(x, ids))
    })()
  }
  db.close()
}

async function insertPostgres(database: string, rows: Rows, t: TickRows, ids: { accounts: number[]; streams: number[]; symbols: number[] }, s: Strategy, withRecords: boolean): Promise<void> {
  // the engine's socket, without Nagle's delay: COPY after COPY would stall ~40 ms each otherwise
  const sql = postgres(database, { max: 1, onnotice: () => {}, ...({ socket: noDelaySocket } as object) })
  try {
    if (s.copy) {
      const per = s.rowsPerTransaction || t.count
      for (let from = 0; from < t.count; from += per) {
        const to = Math.min(t.count, from + per)
        const stream = await sql.unsafe(`copy ticks (${TICK_COLUMNS}) from stdin${s.binary ? ' with (format binary)' : ''}`).writable()
        await pipeline(Readable.from(s.binary ? copyBinary(t, ids.symbols, from, to) : copyLines(t, ids.symbols, from, to)), stream)
      }
    } else {
      for (let from = 0; from < t.count; from += s.rowsPerTransaction) {
        const to = Math.min(t.count, from + s.rowsPerTransaction)
        const col = <A extends ArrayLike<number>>(a: A) => Array.from({ length: to - from }, (_, r) => a[from + r]!)
        await sql.unsafe(
          `insert into ticks (${TICK_COLUMNS}) select * from unnest($1::int[], $2::int[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::bigint[], $8::float8[], $9::int[]) on conflict do nothing`,
          [Array.from({ length: to - from }, (_, r) => ids.symbols[t.symbol[from + r]!]!), col(t.seq), col(t.time_msc), col(t.bid), col(t.ask), col(t.last), col(t.volume), col(t.volume_real), col(t.flags)],
        )
      }
    }
    if (withRecords) {
      await sql.begin(async (tx) => {
        for (const d of rows.deals) await tx.unsafe(DEAL_SQL, dealParams(d, ids) as postgres.ParameterOrJSON<never>[])
        for (const x of rows.snapshots) await tx.unsafe(SNAPSHOT_SQL, snapshotParams(x, ids) as postgres.ParameterOrJSON<never>[])
      })
    }
  } finally {
    await sql.end()
  }
}

/** PostgreSQL's binary COPY format in chunks of 10,000 rows (98 bytes each), as the engine writes it. */
function* copyBinary(t: TickRows, symbolIds: number[], from: number, to: number): Generator<Uint8Array> {
  const header = new Uint8Array(19)
  header.set([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00])
  yield header
  for (let start = from; start < to; start += 10_000) {
    const end = Math.min(to, start + 10_000)
    const bytes = new Uint8Array((end - start) * 98 + (end === to ? 2 : 0))
    const v = new DataView(bytes.buffer)
    let p = 0
    const field = (len: number) => {
      v.setInt32(p, len)
      p += 4
    }
    for (let i = start; i < end; i++) {
      v.setInt16(p, 9)
      p += 2
      field(4), v.setInt32(p, symbolIds[t.symbol[i]!]!), (p += 4)
      field(4), v.setInt32(p, t.seq[i]!), (p += 4)
      field(8), v.setInt32(p, Math.floor(t.time_msc[i]! / 4294967296)), v.setUint32(p + 4, t.time_msc[i]! >>> 0), (p += 8)
      field(8), v.setFloat64(p, t.bid[i]!), (p += 8)
      field(8), v.setFloat64(p, t.ask[i]!), (p += 8)
      field(8), v.setFloat64(p, t.last[i]!), (p += 8)
      field(8), v.setInt32(p, Math.floor(t.volume[i]! / 4294967296)), v.setUint32(p + 4, t.volume[i]! >>> 0), (p += 8)
      field(8), v.setFloat64(p, t.volume_real[i]!), (p += 8)
      field(4), v.setInt32(p, t.flags[i]!), (p += 4)
    }
    if (end === to) v.setInt16(p, -1)
    yield bytes
  }
}

/** COPY text lines in chunks of about 1 MB. */
function* copyLines(t: TickRows, symbolIds: number[], from: number, to: number): Generator<string> {
  let chunk = ''
  for (let i = from; i < to; i++) {
    chunk += `${symbolIds[t.symbol[i]!]}\t${t.seq[i]}\t${t.time_msc[i]}\t${t.bid[i]}\t${t.ask[i]}\t${t.last[i]}\t${t.volume[i]}\t${t.volume_real[i]}\t${t.flags[i]}\n`
    if (chunk.length > 1 << 20) {
      yield chunk
      chunk = ''
    }
  }
  if (chunk.length > 0) yield chunk
}

export interface CeilingReport {
  scenario: 'ceiling'
  dialect: 'sqlite' | 'postgres'
  ceilingTicksPerSec: number
  strategy: string
  trial: CeilingChoice['trial']
  runs: CeilingRun[]
  machine: Machine
  command: string
}

export async function runCeilingScenario(o: BenchOptions, log: (s: string) => void): Promise<CeilingReport> {
  const machine = await describeMachine(o.database)
  const rows = collectRows(o.workload)
  const choice = await chooseCeiling(o.database, rows, Math.min(rows.ticks.count, o.quick ? 200_000 : 500_000), o.quick ? 1 : 2, log)
  const runs: CeilingRun[] = []
  for (let r = 1; r <= o.repeat; r++) {
    const run = await ceilingRun(o.database, rows, rows.ticks, choice.best)
    runs.push(run)
    log(`[${r}/${o.repeat}] ceiling ${fmt(run.ticksPerSec)} ticks/s (${run.strategy}), ${fmt((run.cpuMs * 1000) / run.ticks, 2)} us CPU/tick`)
  }
  return {
    scenario: 'ceiling',
    dialect: o.database.dialect,
    ceilingTicksPerSec: round(median(runs.map((r) => r.ticksPerSec))),
    strategy: choice.best.name,
    trial: choice.trial,
    runs,
    machine: finishMachine(machine),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  }
}

export function formatCeiling(r: CeilingReport): string {
  const lines = [`ceiling (${r.dialect}): ${fmt(r.ceilingTicksPerSec)} ticks/s with ${r.strategy} (median of ${r.runs.map((x) => fmt(x.ticksPerSec)).join(' / ')})`, 'trial:']
  for (const x of r.trial) lines.push(`  ${fmt(x.ticksPerSec).padStart(11)}  ${x.strategy}`)
  return lines.join('\n')
}
