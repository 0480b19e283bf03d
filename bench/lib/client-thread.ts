/**
 * Simulated EAs in a worker thread of the load generator (one thread holds several: each V8
 * isolate warms up its encoder on its own, so fewer threads cost the machine less). Each EA
 * generates its data, connects and waits for `go`; then it streams, as fast as the engine's
 * acknowledgements allow or paced at a given rate, and times every message from the moment it goes
 * on the wire to the acknowledgement that covers it.
 *
 * Engine target: the SDK's `connectEA` with its queue no longer than the engine's in-flight
 * window, so a message is encoded and written to the socket in the same call that queues it; or,
 * with `--client raw`, the same protocol with every frame encoded before `go` (what the load
 * generator's own CPU costs the engine on a small machine shows in the difference). Naive target:
 * one JSON text frame per tick, acknowledged one by one.
 */
import { performance } from 'node:perf_hooks'
import { parentPort, workerData } from 'node:worker_threads'
import WebSocket from 'ws'
import { connectEA, type EaClient, type Outgoing } from '../../src/client/ea-client.js'
import { decode, encode } from '../../src/protocol/codec.js'
import { PROTOCOL_VERSION, type EaHello, type EngineMessage } from '../../src/protocol/messages.js'
import type { ClientThreadData, EaResult, LoadPlan, ThreadCommand, ThreadReply } from './messages.js'
import { planEa, type EaPlan } from './workload.js'

const data = workerData as ClientThreadData
const reply = (m: ThreadReply) => parentPort!.postMessage(m)
const now = () => performance.timeOrigin + performance.now()

/** Resolves on `go` with its wall-clock time. */
const go = new Promise<number>((resolve) => parentPort!.once('message', (m: ThreadCommand) => resolve(m.at)))

interface Ea {
  index: number
  plan: LoadPlan
  /** This EA's share of the paced rate, and where in its pacing interval it starts (0..1). */
  ticksPerSec: number | undefined
  phase: number
}

interface Tracker {
  sentAt: Float64Array
  latencies: Float64Array
  sent: number
  acked: number
  firstSendAt: number
  lastAckAt: number
  /** Woken on every acknowledgement. */
  waiter: (() => void) | undefined
}

function tracker(messages: number): Tracker {
  return { sentAt: new Float64Array(messages), latencies: new Float64Array(messages), sent: 0, acked: 0, firstSendAt: 0, lastAckAt: 0, waiter: undefined }
}

/** Messages 0 .. upTo-1 are acknowledged now. */
function acknowledged(t: Tracker, upTo: number): void {
  if (upTo <= t.acked) return
  const at = now()
  for (let i = t.acked; i < upTo; i++) t.latencies[i] = at - t.sentAt[i]!
  t.acked = upTo
  t.lastAckAt = at
  const wake = t.waiter
  t.waiter = undefined
  wake?.()
}

function nextAck(t: Tracker): Promise<void> {
  return new Promise((resolve) => (t.waiter = resolve))
}

/**
 * Sends `count` messages through `put`, keeping at most `window` unacknowledged. Paced: message i
 * leaves at its slot (go + phase + the ticks before it / rate), or as soon as the window allows.
 */
async function stream(ea: Ea, t: Tracker, count: number, ticksBefore: (i: number) => number, put: (i: number) => void): Promise<number> {
  const rate = ea.ticksPerSec
  const window = ea.plan.window
  const start = await go
  let late = 0
  const offset = rate === undefined || count < 2 ? 0 : (ea.phase * ticksBefore(1) * 1000) / rate
  for (let i = 0; i < count; i++) {
    if (rate !== undefined) {
      const slot = start + offset + (ticksBefore(i) * 1000) / rate
      const wait = slot - now()
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
      else if (wait < -5) late++
    }
    while (t.sent - t.acked >= window) await nextAck(t)
    t.sentAt[i] = now()
    if (i === 0) t.firstSendAt = t.sentAt[0]!
    put(i)
    t.sent++
  }
  while (t.acked < count) await nextAck(t)
  return late
}

/** Ticks in the messages before message i (tick batches count their ticks, others nothing). */
function ticksBeforeOf(messages: Outgoing[]): (i: number) => number {
  const before = new Float64Array(messages.length + 1)
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!
    before[i + 1] = before[i]! + (m.type === 'tick_batch' ? m.time_msc.length : 0)
  }
  return (i) => before[i]!
}

function hello(ea: Ea, plan: EaPlan): EaHello {
  return {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    role: 'ea',
    token: ea.plan.token,
    instance_id: plan.instanceId,
    account: { login: plan.login, server: plan.server, company: 'Bench Markets Ltd.', currency: 'USD', leverage: 100, margin_mode: 2, trade_mode: 0, server_utc_offset_s: 7200 },
    ea: { name: 'BenchEA', version: '1.0', magic: 20_241_119, symbol: plan.symbols[0]!.name, timeframe: 'M1', strategy: 'bench' },
    bridge: { name: 'mt5-engine-bench', version: '1' },
  }
}

/** The protocol by hand with frames encoded up front: hello, welcome, then frames and cumulative acks. */
async function runRaw(ea: Ea, plan: EaPlan, ready: () => void): Promise<EaResult> {
  const ws = new WebSocket(ea.plan.url, { perMessageDeflate: false })
  let onMessage: (m: EngineMessage) => void = () => {}
  let errors = 0
  ws.on('message', (raw) => onMessage(decode(raw as Buffer) as EngineMessage))
  const welcome = await new Promise<{ resume_seq?: number }>((resolve, reject) => {
    ws.once('error', reject)
    ws.once('open', () => ws.send(encode(hello(ea, plan))))
    onMessage = (m) => {
      if (m.type === 'welcome') resolve(m)
      else if (m.type === 'error') reject(new Error(`engine refused the hello: ${m.code}: ${m.message}`))
    }
  })
  const base = welcome.resume_seq ?? 0
  const frames = plan.messages.map((m, i) => encode({ ...m, seq: base + i + 1 }))
  const t = tracker(frames.length)
  onMessage = (m) => {
    if (m.type === 'ack') acknowledged(t, m.seq - base)
    else if (m.type === 'error') errors++
  }
  ready()
  const late = await stream(ea, t, frames.length, ticksBeforeOf(plan.messages), (i) => ws.send(frames[i]!))
  ws.send(encode({ type: 'goodbye', reason: 'bench done' }))
  ws.close(1000)
  return {
    index: plan.index, messages: frames.length, ticks: plan.ticks, bytes: frames.reduce((n, f) => n + f.length, 0), firstSendAt: t.firstSendAt,
    lastAckAt: t.lastAckAt, latencies: t.latencies, sentAt: t.sentAt, lateSends: late, reconnects: 0, errors,
  }
}

/** Connects, then resolves `ready` and streams after `go`. */
async function runEngine(ea: Ea, plan: EaPlan, ready: () => void): Promise<EaResult> {
  const { url, token } = ea.plan
  const client: EaClient = await connectEA(url, {
    token,
    instanceId: plan.instanceId,
    account: { login: plan.login, server: plan.server, company: 'Bench Markets Ltd.', currency: 'USD', leverage: 100, margin_mode: 2, trade_mode: 0, server_utc_offset_s: 7200 },
    ea: { name: 'BenchEA', version: '1.0', magic: 20_241_119, symbol: plan.symbols[0]!.name, timeframe: 'M1', strategy: 'bench' },
    bridge: { name: 'mt5-engine-bench', version: '1' },
    maxQueue: ea.plan.window,
    minDelayMs: 50,
    maxDelayMs: 1000,
  })
  const messages = plan.messages
  // the frames' size, exactly (the stream is new: its seqs start after the resume point); this
  // also warms up the encoder before anything is timed
  const base = client.counters.lastAckedSeq
  const bytes = messages.reduce((n, m, i) => n + encode({ ...m, seq: base + i + 1 }).length, 0)
  const t = tracker(messages.length)
  client.on('ack', (seq: number) => acknowledged(t, seq - base))
  ready()
  // the queue has room whenever put() runs, so send() numbers, encodes and writes the frame at once
  const late = await stream(ea, t, messages.length, ticksBeforeOf(messages), (i) => void client.send(messages[i]!))
  const result: EaResult = {
    index: plan.index, messages: messages.length, ticks: plan.ticks, bytes, firstSendAt: t.firstSendAt, lastAckAt: t.lastAckAt,
    latencies: t.latencies, sentAt: t.sentAt, lateSends: late, reconnects: client.counters.reconnects, errors: client.counters.errors,
  }
  await client.close()
  return result
}

/** Naive: every tick its own JSON message, with its key (the index within its millisecond). */
function naiveFrames(plan: EaPlan, ticks: number): Buffer[] {
  const frames: Buffer[] = []
  for (const m of plan.messages) {
    if (m.type !== 'tick_batch') continue
    let ordinal = m.first_index ?? 0
    for (let i = 0; i < m.time_msc.length && frames.length < ticks; i++) {
      if (i > 0 && m.time_msc[i] !== m.time_msc[i - 1]) ordinal = 0
      const tick = {
        seq: frames.length + 1, server: plan.server, symbol: m.symbol, n: ordinal++, time_msc: m.time_msc[i], bid: m.bid[i], ask: m.ask[i],
        last: m.last[i], volume: m.volume[i], volume_real: m.volume_real[i], flags: m.flags[i],
      }
      frames.push(Buffer.from(JSON.stringify(tick)))
    }
    if (frames.length >= ticks) break
  }
  return frames
}

async function runNaive(ea: Ea, plan: EaPlan, ready: () => void): Promise<EaResult> {
  const frames = naiveFrames(plan, ea.plan.naiveTicksPerEa)
  const ws = new WebSocket(ea.plan.url, { perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  const t = tracker(frames.length)
  ws.on('message', (raw) => acknowledged(t, (JSON.parse(String(raw)) as { ack: number }).ack))
  ready()
  let bytes = 0
  const late = await stream(ea, t, frames.length, (i) => i, (i) => {
    const frame = frames[i]!
    bytes += frame.length
    ws.send(frame, { binary: false })
  })
  ws.close()
  return {
    index: plan.index, messages: frames.length, ticks: frames.length, bytes, firstSendAt: t.firstSendAt, lastAckAt: t.lastAckAt,
    latencies: t.latencies, sentAt: t.sentAt, lateSends: late, reconnects: 0, errors: 0,
  }
}

try {
  const n = data.plan.workload.eas
  const readiness: Promise<void>[] = []
  const results: Promise<EaResult>[] = []
  for (const index of data.eas) {
    const ea: Ea = {
      index,
      plan: data.plan,
      ticksPerSec: data.plan.ticksPerSec === undefined ? undefined : data.plan.ticksPerSec / n,
      phase: index / n,
    }
    const plan = planEa(data.plan.workload, index)
    let ready: () => void = () => {}
    readiness.push(new Promise<void>((resolve) => (ready = resolve)))
    const run = data.plan.target === 'naive' ? runNaive : data.plan.client === 'raw' ? runRaw : runEngine
    results.push(run(ea, plan, ready))
  }
  const failed = Promise.race(results.map((r) => r.then(() => new Promise<never>(() => {}))))
  failed.catch(() => {})
  await Promise.race([Promise.all(readiness), failed])
  reply({ type: 'ready' })
  reply({ type: 'done', results: await Promise.all(results) })
} catch (err) {
  reply({ type: 'failed', message: (err as Error).stack ?? String(err) })
}
