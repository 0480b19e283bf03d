/**
 * The naive way to store ticks, as a baseline: a WebSocket server that takes one JSON message per
 * tick, inserts it as its own autocommitted row and acknowledges it. Same schema, indexes and
 * durability settings as the engine (WAL, synchronous NORMAL, foreign keys on); a symbol's id is
 * looked up once and remembered. Runs in its own process, like the engine host, and speaks the
 * same IPC (listening, stats, stop).
 */
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import postgres from 'postgres'
import { WebSocketServer } from 'ws'
import type { HostReply, HostRequest, HostStats } from './messages.js'

interface NaiveTick {
  seq: number
  server: string
  symbol: string
  n: number
  time_msc: number
  bid: number
  ask: number
  last: number
  volume: number
  volume_real: number
  flags: number
}

const { database, dialect, synchronous } = JSON.parse(process.argv[2] ?? '{}') as { database: string; dialect: 'sqlite' | 'postgres'; synchronous: string }
const send = (reply: HostReply) => process.send!(reply)

const INSERT_TICK = `insert into ticks (symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing`

/** Stores one tick, autocommitted. */
type Store = (tick: NaiveTick) => Promise<void> | void

function sqliteStore(): { store: Store; close: () => void } {
  const db = new Database(database)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  db.pragma('foreign_keys = ON')
  const insert = db.prepare(INSERT_TICK.replace(/\$\d/g, '?'))
  const symbols = new Map<string, number>()
  const symbolId = (server: string, name: string): number => {
    const key = `${server}\u0000${name}`
    let id = symbols.get(key)
    if (id === undefined) {
      // symbols belong to an account: the baseline's ticks to one account per server, login 1
      db.prepare('insert into accounts (login, server, first_seen_at, last_seen_at) values (1, ?, 0, 0) on conflict (login, server) do nothing').run(server)
      const account = (db.prepare('select id from accounts where login = 1 and server = ?').get(server) as { id: number }).id
      db.prepare('insert into symbols (account_id, server, name) values (?, ?, ?) on conflict (account_id, name) do nothing').run(account, server, name)
      id = (db.prepare('select id from symbols where account_id = ? and name = ?').get(account, name) as { id: number }).id
      symbols.set(key, id)
    }
    return id
  }
  return {
    store: (t) => void insert.run(symbolId(t.server, t.symbol), t.n, t.time_msc, t.bid, t.ask, t.last, t.volume, t.volume_real, t.flags),
    close: () => db.close(),
  }
}

function postgresStore(): { store: Store; close: () => Promise<void> } {
  const sql = postgres(database, { max: 4, onnotice: () => {} })
  const symbols = new Map<string, Promise<number>>()
  const symbolId = (server: string, name: string): Promise<number> => {
    const key = `${server}\u0000${name}`
    let id = symbols.get(key)
    if (id === undefined) {
      id = (async () => {
        await sql`insert into accounts (login, server, first_seen_at, last_seen_at) values (1, ${server}, 0, 0) on conflict (login, server) do nothing`
        const [account] = await sql<{ id: number }[]>`select id from accounts where login = 1 and server = ${server}`
        await sql`insert into symbols (account_id, server, name) values (${account!.id}, ${server}, ${name}) on conflict (account_id, name) do nothing`
        const [row] = await sql<{ id: number }[]>`select id from symbols where account_id = ${account!.id} and name = ${name}`
        return Number(row!.id)
      })()
      symbols.set(key, id)
    }
    return id
  }
  return {
    store: async (t) => {
      await sql.unsafe(INSERT_TICK, [await symbolId(t.server, t.symbol), t.n, t.time_msc, t.bid, t.ask, t.last, t.volume, t.volume_real, t.flags])
    },
    close: () => sql.end({ timeout: 5 }),
  }
}

const { store, close } = dialect === 'postgres' ? postgresStore() : sqliteStore()
let ticks = 0
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
wss.on('connection', (ws) => {
  // one connection's ticks are stored in the order they came, each acknowledged after its commit
  let tail: Promise<void> = Promise.resolve()
  ws.on('message', (raw) => {
    const tick = JSON.parse(String(raw)) as NaiveTick
    const ack = () => {
      ticks++
      ws.send(`{"ack":${tick.seq}}`)
    }
    if (dialect === 'sqlite') {
      void store(tick)
      ack()
    } else {
      tail = tail.then(() => store(tick)).then(ack, (err: Error) => ws.close(1011, err.message.slice(0, 100)))
    }
  })
})
await new Promise<void>((resolve) => wss.once('listening', () => resolve()))

function memory() {
  const m = process.memoryUsage()
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external }
}

function stats(): HostStats {
  const cpu = process.cpuUsage()
  return {
    at: performance.timeOrigin + performance.now(),
    ingest: { batches: 0, ticks, records: 0, skipped: 0, failedBatches: 0, pendingBytes: 0, pauses: 0 },
    gateway: undefined,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    ...memory(),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    eventLoopUtilization: performance.eventLoopUtilization().utilization,
  }
}

process.on('message', (request: HostRequest) => {
  if (request.type === 'stats') return send({ type: 'stats', stats: stats() })
  wss.close()
  void Promise.resolve(close()).then(() => {
    send({ type: 'stopped', stats: stats() })
  })
})
process.on('disconnect', () => setTimeout(() => process.exit(0), 100).unref())

const address = wss.address() as { port: number }
send({ type: 'listening', url: `ws://127.0.0.1:${address.port}/`, pid: process.pid })
