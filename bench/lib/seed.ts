/**
 * History for the read scenarios, written into a fresh bench database before the engine starts:
 * accounts of their own (so that nothing the EAs stream touches them), a month of M1 bars for one
 * symbol (weekdays only, as an FX symbol trades) in built_bars, and trade journal rows across the
 * accounts and symbols in journal_trades (which no aggregator fills yet). Seeded: every run writes
 * the same rows.
 */
import type { Queryable, Storage } from '../../src/db/storage/types.js'
import { eaIdentity, START_MSC, type WorkloadOptions } from './workload.js'

export const SEED_SERVER = 'SeedBroker-Live'
export const SEED_LOGINS = [7_000_001, 7_000_002, 7_000_003, 7_000_004, 7_000_005] as const
export const SEED_SYMBOLS = ['EURUSD', 'GBPUSD', 'XAUUSD', 'US500'] as const
/** The month of bars: October 2024 (23 weekdays), server time. */
export const MONTH_START = Date.UTC(2024, 9, 1)
export const MONTH_END = Date.UTC(2024, 10, 1)
/** The account and symbol whose month of M1 bars is seeded. */
export const BARS_LOGIN = SEED_LOGINS[0]
export const BARS_SYMBOL = 'EURUSD'

const MINUTE = 60_000
const DAY = 86_400_000
const CHUNK = 500

export interface Seeded {
  bars: number
  journal: number
}

/** xorshift32, as the workload's. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 0x100000000
  }
}

export async function seedHistory(storage: Storage, journalRows: number): Promise<Seeded> {
  return storage.transaction(async (tx) => {
    const accounts: number[] = []
    for (const login of SEED_LOGINS) {
      const [row] = await tx.query<{ id: number }>(
        'INSERT INTO accounts (login, server, company, currency, currency_digits, leverage, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id',
        [login, SEED_SERVER, 'Seed Markets Ltd.', 'USD', 2, 100, MONTH_START, MONTH_END],
      )
      accounts.push(Number(row!.id))
    }
    const symbols = new Map<string, number>()
    for (const [k, accountId] of accounts.entries()) {
      for (const name of SEED_SYMBOLS) {
        const digits = name === 'XAUUSD' || name === 'US500' ? 2 : 5
        const [row] = await tx.query<{ id: number }>(
          'INSERT INTO symbols (account_id, server, name, digits, point) VALUES ($1, $2, $3, $4, $5) RETURNING id',
          [accountId, SEED_SERVER, name, digits, 1 / 10 ** digits],
        )
        symbols.set(`${k}:${name}`, Number(row!.id))
      }
    }
    const bars = await seedBars(tx, symbols.get(`0:${BARS_SYMBOL}`)!)
    const journal = await seedJournal(tx, accounts, symbols, journalRows)
    return { bars, journal }
  })
}

/**
 * The streamed EAs' accounts and symbols, as a terminal that streamed before leaves them: a
 * dashboard can subscribe to a symbol's ticks only once the engine has seen it, and the watchers
 * subscribe before the EAs start, so that they get every tick. The EAs' hello and symbol specs
 * then update these rows.
 */
export async function seedStreamedSymbols(storage: Storage, w: WorkloadOptions): Promise<void> {
  await storage.transaction(async (tx) => {
    for (let i = 0; i < w.eas; i++) {
      const id = eaIdentity(w, i)
      const [row] = await tx.query<{ id: number }>(
        'INSERT INTO accounts (login, server, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $3) RETURNING id',
        [id.login, id.server, START_MSC],
      )
      for (const symbol of id.symbols) await tx.query('INSERT INTO symbols (account_id, server, name) VALUES ($1, $2, $3)', [row!.id, id.server, symbol.name])
    }
  })
}

async function insert(tx: Queryable, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) await tx.insertRows(table, columns, rows.slice(i, i + CHUNK))
}

/** Every minute of every weekday of the month, a random walk around 1.09. */
async function seedBars(tx: Queryable, symbolId: number): Promise<number> {
  const r = random(0xba25)
  const rows: unknown[][] = []
  let close = 109_000
  for (let day = MONTH_START; day < MONTH_END; day += DAY) {
    const weekday = new Date(day).getUTCDay()
    if (weekday === 0 || weekday === 6) continue
    for (let t = day; t < day + DAY; t += MINUTE) {
      const open = close
      close = Math.max(1000, open + Math.round((r() - 0.5) * 12))
      const high = Math.max(open, close) + Math.floor(r() * 4)
      const low = Math.min(open, close) - Math.floor(r() * 4)
      rows.push([symbolId, 'M1', t, open / 1e5, high / 1e5, low / 1e5, close / 1e5, 20 + Math.floor(r() * 280), 0, Math.floor(r() * 3)])
    }
  }
  await insert(tx, 'built_bars', ['symbol_id', 'timeframe', 'open_time_msc', 'open', 'high', 'low', 'close', 'tick_volume', 'real_volume', 'spread'], rows)
  return rows.length
}

/** Positions spread over the month, the accounts and their symbols; the newest hundredth still open. */
async function seedJournal(tx: Queryable, accounts: number[], symbols: Map<string, number>, count: number): Promise<number> {
  const r = random(0x10a7)
  const strategies = ['trend', 'mean_revert', 'breakout']
  const rows: unknown[][] = []
  for (let i = 0; i < count; i++) {
    const k = i % accounts.length
    const name = SEED_SYMBOLS[Math.floor(r() * SEED_SYMBOLS.length)]!
    const open = MONTH_START + Math.floor((i / count) * (MONTH_END - MONTH_START - DAY)) + Math.floor(r() * 60_000)
    const closed = i < count * 0.99
    const duration = Math.floor(-Math.log(1 - r()) * 3_600_000)
    const price = name === 'XAUUSD' ? 2650 : name === 'US500' ? 5900 : name === 'GBPUSD' ? 1.265 : 1.085
    const move = (r() - 0.48) * price * 0.002
    const volume = Math.round((0.01 + r()) * 100) / 100
    const profit = closed ? Math.round(move * volume * 100_000) / 100 : 0
    const strategy = strategies[i % strategies.length]!
    const confidence = Math.round(r() * 100) / 100
    rows.push([
      accounts[k], 1_000_000 + i, symbols.get(`${k}:${name}`), 20_241_100 + (i % 3), strategy, r() < 0.5 ? 'buy' : 'sell', closed ? 'closed' : 'open',
      open, closed ? open + duration : null, closed ? Math.floor((open + duration) / 86_400_000) * 86_400_000 : null, price, closed ? price + move : null,
      volume, closed ? volume : 0, profit, -0.35 * volume * 10, 0, 0, closed ? Math.round(move * 1e4 * 10) / 10 : null, closed ? 2 : 1,
      confidence, JSON.stringify({ signal: strategy, confidence, timeframe: 'M15', note: 'seeded by the bench' }),
    ])
  }
  await insert(
    tx,
    'journal_trades',
    ['account_id', 'position_id', 'symbol_id', 'magic', 'strategy', 'direction', 'state', 'open_time_msc', 'close_time_msc', 'close_day_msc', 'open_price', 'close_price',
      'volume', 'volume_closed', 'profit', 'commission', 'swap', 'fee', 'pips', 'deal_count', 'signal_confidence', 'reasoning'],
    rows,
  )
  return rows.length
}
