/**
 * Scenario `overload`: memory under more load than the engine can take. The same engine (default
 * limits) gets, in turn: 10 EAs at full load (the baseline of the RSS target); 2x, 4x and 8x as
 * many EAs sending the largest batches the protocol allows (5000 ticks, a reconnect storm catching
 * up), so that what they may have in flight is many times the engine's byte limit; and 2x with a
 * writer slowed to 50 ms per batch (a slow disk). Bounded means the peak RSS stays flat as the
 * offered load grows, and the bytes waiting for the database stay near --max-pending-bytes while
 * the engine stops reading the sockets; every row is still stored exactly once.
 */
import { defaultOptions } from '../src/config/resolve.js'
import { describeMachine, finishMachine, type Machine } from './lib/machine.js'
import { measure, type Run } from './lib/measure.js'
import type { BenchOptions } from './lib/options.js'
import { fmt, round, table } from './lib/stats.js'
import type { WorkloadOptions } from './lib/workload.js'

export interface OverloadCase {
  name: string
  eas: number
  batchTicks: number
  ticks: number
  writeDelayMs: number
  /** What the EAs may have unacknowledged together (window x frame bytes), MB. */
  offeredInFlightMb: number
  ticksPerSec: number
  peakRssMb: number
  peakPendingMb: number
  pauses: number
  ackP99Ms: number
  exact: boolean
  /** RSS every 100 ms, MB, from go to the last ack. */
  rss: number[]
}

export interface OverloadReport {
  scenario: 'overload'
  dialect: 'sqlite' | 'postgres'
  maxPendingMb: number
  cases: OverloadCase[]
  /** Peak RSS with the most EAs over the peak with the fewest overloading EAs (1.0: flat). */
  growth: number
  bounded: boolean
  machine: Machine
  command: string
}

/** Plain MessagePack tick: about 31 bytes (five float64 columns, two small integers). */
const BYTES_PER_TICK = 31

export async function runOverload(o: BenchOptions, log: (s: string) => void): Promise<OverloadReport> {
  const machine = await describeMachine(o.database)
  const window = o.engine.maxInflight ?? defaultOptions.maxInflight
  const maxPending = o.engine.maxPendingBytes ?? defaultOptions.maxPendingBytes
  // Enough frames per EA to pass the per-stream limit (max(4 x max frame, limit / 16) = 4 MB: 26
  // frames of 5000 ticks), and more EAs each time: bounded means the peak stops growing.
  const perEa = 32
  const big = (eas: number) => ({ ...o.workload, eas, batchTicks: 5000, ticks: eas * 5000 * perEa })
  const counts = o.quick ? [o.workload.eas * 2] : [o.workload.eas * 2, o.workload.eas * 4, o.workload.eas * 8]
  const cases: { name: string; workload: WorkloadOptions; writeDelayMs: number }[] = [
    { name: `${o.workload.eas} EAs, ${o.workload.batchTicks}-tick batches (baseline)`, workload: o.workload, writeDelayMs: 0 },
    ...counts.map((n) => ({ name: `${n} EAs, 5000-tick batches`, workload: big(n), writeDelayMs: 0 })),
    {
      name: `${counts[0]} EAs, 5000-tick batches, writer slowed 50 ms per batch`,
      workload: { ...big(counts[0]!), ticks: counts[0]! * 5000 * (perEa / 2) },
      writeDelayMs: 50,
    },
  ]
  const many = Math.max(...counts)
  const out: OverloadCase[] = []
  for (const c of cases) {
    const run: Run = await measure({
      target: 'engine', database: o.database, workload: c.workload, engine: { ...o.engine, writeDelayMs: c.writeDelayMs }, rssSampleMs: 100,
      // each client thread generates its EAs' data up front: spread the big cases' gigabyte over threads
      clientThreads: Math.max(o.clientThreads, Math.ceil(c.workload.eas / 20)),
      client: o.client,
    })
    const rec: OverloadCase = {
      name: c.name,
      eas: c.workload.eas,
      batchTicks: c.workload.batchTicks,
      ticks: c.workload.ticks,
      writeDelayMs: c.writeDelayMs,
      offeredInFlightMb: round((c.workload.eas * window * c.workload.batchTicks * BYTES_PER_TICK) / 1e6, 1),
      ticksPerSec: round(run.ticksPerSec),
      peakRssMb: round(run.server.peakRssMb, 1),
      peakPendingMb: round((run.time?.peakPendingBytes ?? 0) / 1e6, 1),
      pauses: run.time?.pauses ?? 0,
      ackP99Ms: round(run.ack.p99, 1),
      exact: run.exact,
      rss: (run.server.rssSamples ?? []).map((s) => round(s.rss / 1e6, 1)),
    }
    out.push(rec)
    log(`${rec.name}: ${fmt(rec.ticksPerSec)} ticks/s, peak RSS ${fmt(rec.peakRssMb)} MB, pending peak ${fmt(rec.peakPendingMb, 1)} MB, ${rec.pauses} pauses, ${rec.exact ? 'exact' : 'COUNTS DIFFER'}`)
  }
  // growth of the peak from the first overloaded case to the heaviest: flat means bounded
  const loaded = out.filter((c) => c.writeDelayMs === 0 && c.batchTicks === 5000)
  const growth = loaded[loaded.length - 1]!.peakRssMb / loaded[0]!.peakRssMb
  const peakPending = Math.max(...out.map((c) => c.peakPendingMb))
  return {
    scenario: 'overload',
    dialect: o.database.dialect,
    maxPendingMb: round(maxPending / 1e6, 1),
    cases: out,
    growth: round(growth, 2),
    // the byte limit holds (plus what sockets had read when paused: a few frames per connection)
    bounded: peakPending <= (maxPending + many * 4 * 5000 * BYTES_PER_TICK) / 1e6 && out.every((c) => c.exact),
    machine: finishMachine(machine),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  }
}

export function formatOverload(r: OverloadReport): string {
  const lines = [`mt5-engine bench: overload (${r.dialect}), --max-pending-bytes ${fmt(r.maxPendingMb, 1)} MB`, '']
  lines.push(
    table(
      ['case', 'offered in flight MB', 'ticks/s', 'peak RSS MB', 'pending peak MB', 'pauses', 'ack p99 ms', 'exact'],
      r.cases.map((c) => [c.name, fmt(c.offeredInFlightMb), fmt(c.ticksPerSec), fmt(c.peakRssMb), fmt(c.peakPendingMb, 1), c.pauses, fmt(c.ackP99Ms), c.exact ? 'yes' : 'NO']),
    ),
  )
  lines.push('')
  lines.push(`peak RSS with the most EAs / with the fewest overloading EAs: ${fmt(r.growth, 2)}; pending bytes within the limit and every row stored once: ${r.bounded ? 'yes' : 'NO'}`)
  return lines.join('\n')
}
