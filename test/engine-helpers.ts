/**
 * Fixtures for tests that run a real engine: in this process (a real gateway on port 0 and real
 * Piscina workers) or as a child process that can be killed, plus tokens and simulated EA data.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { resolveConfig, type EngineOptions } from '../src/config/resolve.js'
import { startEngine, type Engine } from '../src/engine.js'
import { openStorage } from '../src/db/storage/open.js'
import type { Storage } from '../src/db/storage/types.js'
import { createToken, listTokens, type Role, type TokenInfo } from '../src/db/sql/tokens.js'
import { connectDashboard, type Dashboard } from '../src/client/dashboard-client.js'
import { connectEA, type EaClient, type Outgoing } from '../src/client/ea-client.js'
import type { HelloEa } from '../src/protocol/messages.js'
import { cliPath, repoRoot, type Backend, type Test } from './helpers.js'

export interface Tokens {
  ea: string
  viewer: string
  admin: string
}

/** Starts an engine in this process on `backend` with the package's migrations; closed at teardown. */
export async function startTestEngine(t: Test, backend: Backend, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const config = resolveConfig({
    flags: { database: backend.database, port: 0, host: '127.0.0.1', ...options },
    env: {},
    cwd: repoRoot,
  })
  const engine = await startEngine(config)
  t.teardown(() => engine.close())
  return engine
}

/**
 * Creates one token of each role (migrating the database first if needed). The ea token is
 * unscoped, because most tests stream several EAs with it; test/security.test.ts covers scopes.
 */
export async function makeTokens(backend: Backend): Promise<Tokens> {
  const config = resolveConfig({ flags: { database: backend.database }, env: {}, cwd: repoRoot })
  const { prepareDatabase } = await import('../src/engine.js')
  const { storage } = await prepareDatabase(config)
  try {
    const make = async (role: Role) => (await createToken(storage, { role, name: `${role}-${Math.random().toString(36).slice(2, 8)}`, unscoped: role === 'ea' })).token
    return { ea: await make('ea'), viewer: await make('viewer'), admin: await make('admin') }
  } finally {
    await storage.close()
  }
}

/** The live token named `name`, as `token list` shows it. */
export async function tokenInfo(backend: Backend, name: string): Promise<TokenInfo> {
  const found = (await withStorage(backend, listTokens)).find((x) => x.name === name && x.revokedAt === null)
  if (!found) throw new Error(`no live token ${name}`)
  return found
}

export async function withStorage<T>(backend: Backend, fn: (storage: Storage) => Promise<T>): Promise<T> {
  const config = resolveConfig({ flags: { database: backend.database }, env: {}, cwd: repoRoot })
  const storage = await openStorage(config)
  try {
    return await fn(storage)
  } finally {
    await storage.close()
  }
}

export async function count(backend: Backend, sql: string, params: unknown[] = []): Promise<number> {
  return withStorage(backend, async (s) => Number(Object.values((await s.query<Record<string, unknown>>(sql, params))[0]!)[0]))
}

export interface EngineProcess {
  child: ChildProcess
  url: string
  output: () => string
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `mt5-engine start` as a child process on a free port and waits until it listens. */
export async function spawnEngine(t: Test, backend: Backend, args: string[] = [], env: Record<string, string> = {}): Promise<EngineProcess> {
  const child = spawn(process.execPath, [cliPath, 'start', '--database', backend.database, '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...stripEngineEnv(process.env), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine did not start within 30 s:\n${out}`)), 30000)
    const check = () => {
      const m = /connect to (ws:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        child.stdout!.off('data', check)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', check)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`engine exited (${code ?? signal}) before listening:\n${out}`))
    })
  })
  return { child, url, output: () => out, exited }
}

function stripEngineEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('MT5E_')) out[k] = v
  return out
}

/**
 * Realistic ticks for one symbol: `time_msc` moves 1..40 ms at a time with several ticks now and
 * then in the same millisecond (numbered with `first_index` across batches), a random-walk bid and
 * a spread of 1..3 points.
 */
export class TickSource {
  #time: number
  #bid: number
  #sameMsCount = 0
  #seed: number
  constructor(
    readonly symbol: string,
    start = 1_732_000_000_000,
    bid = 1.08,
    seed = 1,
  ) {
    this.#time = start
    this.#bid = bid
    this.#seed = seed
  }

  #random(): number {
    // xorshift: repeatable across runs, so a failing test fails the same way again
    let x = this.#seed
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.#seed = x >>> 0
    return this.#seed / 0x100000000
  }

  batch(n: number): Outgoing & { type: 'tick_batch' } {
    const cols = { time_msc: [] as number[], bid: [] as number[], ask: [] as number[], last: [] as number[], volume: [] as number[], volume_real: [] as number[], flags: [] as number[] }
    let firstIndex = 0
    for (let i = 0; i < n; i++) {
      if (this.#random() < 0.85 || (i === 0 && this.#sameMsCount === 0)) {
        this.#time += 1 + Math.floor(this.#random() * 40)
        this.#sameMsCount = 0
      }
      // The first tick of a batch may share its millisecond with ticks sent before: say how many.
      if (i === 0) firstIndex = this.#sameMsCount
      this.#sameMsCount++
      this.#bid = Math.max(0.5, this.#bid + (this.#random() - 0.5) * 0.0002)
      const bid = Math.round(this.#bid * 100000) / 100000
      cols.time_msc.push(this.#time)
      cols.bid.push(bid)
      cols.ask.push(Math.round((bid + (1 + Math.floor(this.#random() * 3)) * 0.00001) * 100000) / 100000)
      cols.last.push(0)
      cols.volume.push(0)
      cols.volume_real.push(0)
      cols.flags.push(6)
    }
    return { type: 'tick_batch', symbol: this.symbol, ...cols, ...(firstIndex > 0 && { first_index: firstIndex }) }
  }
}

export function account(login: number) {
  return { login, server: 'MetaQuotes-Demo', company: 'MetaQuotes Ltd.', currency: 'USD', leverage: 100, margin_mode: 2, trade_mode: 0, server_utc_offset_s: 7200 }
}

export function deal(ticket: number, time: number, magic = 42): Outgoing {
  return {
    type: 'deal', ticket, order: ticket + 100000, position_id: ticket + 200000, time_msc: time, deal_type: ticket % 2, entry: 0,
    symbol: 'EURUSD', volume: 0.1, price: 1.08, profit: 0, commission: -0.35, swap: 0, fee: 0, magic, reason: 3,
  } as Outgoing
}

export function accountSnapshot(time: number, balance = 10000): Outgoing {
  return {
    type: 'account_snapshot', time_msc: time, balance, equity: balance + 5, margin: 100, free_margin: balance - 95,
    margin_level: 10005, profit: 5, open_positions: 1, open_volume: 0.1,
  } as Outgoing
}

export const dataPath = (dir: string) => join(dir, 'engine.db')

/** An EA of account `login` connected to `url` (fast reconnects), closed at teardown. */
export async function testEA(t: Test, url: string, token: string, instanceId: string, login: number, ea: HelloEa = { name: 'TestEA', magic: 42 }): Promise<EaClient> {
  const client = await connectEA(url, { token, instanceId, account: account(login), ea, minDelayMs: 20, maxDelayMs: 200 })
  t.teardown(() => client.close())
  return client
}

/** A dashboard connected to `url`, closed at teardown. */
export async function testDashboard(t: Test, url: string, token: string): Promise<Dashboard> {
  const d = await connectDashboard(url, { token })
  t.teardown(() => d.close())
  return d
}
