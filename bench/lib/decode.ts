/**
 * The main thread's share per tick, measured on the workload's own frames in this process: plain
 * MessagePack decoding (codec.ts: the scan that refuses what is not plain, then msgpackr),
 * validation (validate.ts), and ingest's copy of the columns into its tick store. The gateway
 * does not time these itself, so this is how the report splits the engine's main-thread CPU. And
 * the EA's side: encoding the same messages (codec.ts, what the SDK's send() does).
 */
import { TickStore } from '../../src/ingest/tick-store.js'
import { decode, encode } from '../../src/protocol/codec.js'
import type { TickBatch } from '../../src/protocol/messages.js'
import { parseEaMessage } from '../../src/protocol/validate.js'
import { planEa, type WorkloadOptions } from './workload.js'

export interface DecodeCost {
  /** CPU microseconds per tick. */
  encodeUs: number
  decodeUs: number
  validateUs: number
  storeUs: number
  /** Frame bytes per tick. */
  bytesPerTick: number
}

export function measureDecode(w: WorkloadOptions): DecodeCost {
  const plan = planEa({ ...w, eas: 1, ticks: Math.min(w.ticks, 200 * w.batchTicks) }, 0)
  const frames = plan.messages.filter((m) => m.type === 'tick_batch').map((m, i) => encode({ ...m, seq: i + 1 }))
  const ticks = plan.ticks
  const bytes = frames.reduce((n, f) => n + f.length, 0)
  const time = (fn: () => void) => {
    fn() // warm up
    let best = Infinity
    for (let r = 0; r < 5; r++) {
      const t0 = process.cpuUsage()
      fn()
      const t = process.cpuUsage(t0)
      best = Math.min(best, t.user + t.system)
    }
    return best / ticks
  }
  const decoded = frames.map((f) => decode(f))
  const parsed = decoded.map((d) => parseEaMessage(d) as TickBatch)
  const messages = plan.messages.filter((m) => m.type === 'tick_batch')
  const encodeUs = time(() => {
    for (let i = 0; i < messages.length; i++) encode({ ...messages[i]!, seq: i + 1 })
  })
  const decodeUs = time(() => {
    for (const f of frames) decode(f)
  })
  const validateUs = time(() => {
    for (const d of decoded) parseEaMessage(d)
  })
  const storeUs = time(() => {
    const store = new TickStore(ticks)
    for (const m of parsed) store.append(m)
  })
  return { encodeUs, decodeUs, validateUs, storeUs, bytesPerTick: bytes / ticks }
}
