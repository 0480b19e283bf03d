/**
 * Dashboards in a process of their own (forked by crowd.ts), so that what they cost lands beside
 * the engine and not in the process measuring it: watchers subscribed to ticks, recording when
 * each event's frame arrives, and queriers running typed queries one after the other, timing each
 * from the request written to the socket to the answer's frame received. Both speak the protocol
 * over a plain `ws` socket (docs/PROTOCOL.md, docs/SUBSCRIPTIONS.md): the SDK would add its own
 * work (an object per row) to what is timed.
 */
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { decode, encode } from '../../src/protocol/codec.js'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import type { DashboardsPlan, DashboardsReply, DashboardsReport, DashboardsRequest, QueryRecord, QuerySpec, WatchRecord } from './messages.js'

const send = (reply: DashboardsReply) => process.send!(reply)
const now = () => performance.timeOrigin + performance.now()

/** A watcher that has no snapshot by then fails the run. */
const SNAPSHOT_WAIT_MS = 10_000

type Frame = { type: string; [key: string]: unknown }

/** A dashboard session: hello, welcome, then every frame to `onFrame` with its arrival time. */
async function session(url: string, token: string): Promise<{ ws: WebSocket; frames: (listener: (f: Frame, at: number, bytes: number) => void) => void }> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  let listener: (f: Frame, at: number, bytes: number) => void = () => {}
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject)
    ws.once('open', () => ws.send(encode({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'dashboard', token })))
    listener = (f) => {
      if (f.type === 'welcome') resolve()
      else if (f.type === 'error') reject(new Error(`the engine refused the dashboard's hello: ${String(f.code)}: ${String(f.message)}`))
    }
    ws.on('message', (raw: Buffer) => {
      const at = now()
      listener(decode(raw) as Frame, at, raw.length)
    })
  })
  ws.on('error', () => {})
  return { ws, frames: (l) => (listener = l) }
}

class Grow {
  #a = new Float64Array(1024)
  length = 0
  push(x: number): void {
    if (this.length === this.#a.length) {
      const b = new Float64Array(this.#a.length * 2)
      b.set(this.#a)
      this.#a = b
    }
    this.#a[this.length++] = x
  }
  take(): Float64Array {
    return this.#a.slice(0, this.length)
  }
}

interface Watcher {
  ws: WebSocket
  record: Omit<WatchRecord, 'lastTime' | 'count' | 'arrivedAt'>
  lastTime: Grow
  count: Grow
  arrivedAt: Grow
}

/** Subscribes to the ticks of one symbol; resolves once the snapshot is there. */
async function watch(plan: DashboardsPlan, index: number): Promise<Watcher> {
  const { login, symbol } = plan.watchers[index]!
  const { ws, frames } = await session(plan.url, plan.token)
  const w: Watcher = {
    ws,
    record: { watcher: index, snapshots: 0, events: 0, ticks: 0, gaps: 0, dropped: 0 },
    lastTime: new Grow(),
    count: new Grow(),
    arrivedAt: new Grow(),
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no snapshot for the ticks of ${symbol} (login ${login}) within ${SNAPSHOT_WAIT_MS} ms: does this engine serve subscriptions?`)), SNAPSHOT_WAIT_MS)
    frames((f, at) => {
      switch (f.type) {
        case 'event': {
          const times = (f.data as { time_msc?: number[] } | undefined)?.time_msc
          const n = Array.isArray(times) ? times.length : 0
          w.record.events++
          w.record.ticks += n
          w.lastTime.push(n > 0 ? times![n - 1]! : NaN)
          w.count.push(n)
          w.arrivedAt.push(at)
          return
        }
        case 'snapshot':
          w.record.snapshots++
          clearTimeout(timer)
          return resolve()
        case 'gap':
          w.record.gaps++
          w.record.dropped += Number(f.dropped ?? 0)
          return
        case 'error':
        case 'unsubscribed':
          return reject(new Error(`subscribe to ticks of ${symbol} (login ${login}) refused: ${f.type} ${String(f.code ?? f.reason)}: ${String(f.message ?? '')}`))
      }
    })
    ws.send(encode({ type: 'subscribe', request_id: `watch-${index}`, topic: 'ticks', params: { symbol, login } }))
  })
  return w
}

interface Querier {
  ws: WebSocket
  records: QueryRecord[]
  /** Sends one query and resolves with its answer (or error frame) and the time it took. */
  ask(spec: QuerySpec, id: string): Promise<{ f: Frame; ms: number; bytes: number }>
  running: Promise<void> | undefined
}

async function querier(plan: DashboardsPlan, index: number): Promise<Querier> {
  const { ws, frames } = await session(plan.url, plan.token)
  const specs = plan.queriers[index]!.queries
  let waiting: ((f: Frame, at: number, bytes: number) => void) | undefined
  frames((f, at, bytes) => {
    if (f.type === 'query_result' || f.type === 'error') waiting?.(f, at, bytes)
  })
  const ask = (spec: QuerySpec, id: string) =>
    new Promise<{ f: Frame; ms: number; bytes: number }>((resolve) => {
      const sentAt = now()
      waiting = (f, at, bytes) => {
        if (f.request_id !== id) return
        waiting = undefined
        resolve({ f, ms: at - sentAt, bytes })
      }
      ws.send(encode({ type: 'query', request_id: id, query: spec.query, params: spec.params, ...(spec.limit !== undefined && { limit: spec.limit }), ...(spec.order && { order: spec.order }) }))
    })
  return { ws, records: specs.map((s) => ({ label: s.label, ms: [], rows: 0, bytes: 0, errors: {} })), ask, running: undefined }
}

let watchers: Watcher[] = []
let queriers: Querier[] = []
let plan: DashboardsPlan | undefined
let stopping = false
let atGo = { cpu: process.cpuUsage(), at: now() }

async function loop(q: Querier, specs: QuerySpec[], pauseMs: number): Promise<void> {
  let n = 0
  while (!stopping) {
    const k = n % specs.length
    const { f, ms, bytes } = await q.ask(specs[k]!, `q-${n++}`)
    const r = q.records[k]!
    if (f.type === 'query_result') {
      r.ms.push(ms)
      r.rows = (f.rows as unknown[]).length
      r.bytes = bytes
    } else {
      const code = String(f.code)
      r.errors[code] = (r.errors[code] ?? 0) + 1
    }
    if (pauseMs > 0 && !stopping) await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
}

function report(): DashboardsReport {
  const cpu = process.cpuUsage(atGo.cpu)
  return {
    watchers: watchers.map((w) => ({ ...w.record, lastTime: w.lastTime.take(), count: Uint32Array.from(w.count.take()), arrivedAt: w.arrivedAt.take() })),
    queries: queriers.flatMap((q) => q.records),
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    wallMs: now() - atGo.at,
  }
}

process.on('message', async (request: DashboardsRequest) => {
  try {
    switch (request.kind) {
      case 'start':
        plan = request.plan
        watchers = await Promise.all(plan.watchers.map((_, i) => watch(plan!, i)))
        queriers = await Promise.all(plan.queriers.map((_, i) => querier(plan!, i)))
        return send({ kind: 'started' })
      case 'go':
        atGo = { cpu: process.cpuUsage(), at: now() }
        for (const [i, q] of queriers.entries()) q.running = loop(q, plan!.queriers[i]!.queries, plan!.queriers[i]!.pauseMs)
        return
      case 'stop': {
        stopping = true
        await Promise.all(queriers.map((q) => q.running))
        const r = report()
        for (const s of [...watchers, ...queriers]) s.ws.terminate()
        send({ kind: 'report', report: r })
        process.disconnect()
        return
      }
    }
  } catch (err) {
    send({ kind: 'failed', message: (err as Error).message })
  }
})
process.on('disconnect', () => setTimeout(() => process.exit(0), 100).unref())
