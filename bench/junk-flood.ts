/**
 * Scenario `junk`: one EA's ack latency while twenty viewer dashboards flood one-byte refused
 * frames, each under its own frame rate limit and back at once whenever it is closed, against the
 * same EA with no flood in the same run. Three cases, each on a fresh engine: no flood (the
 * baseline); the flood with the engine's defaults; and the flood with the per-address budget of
 * refused frames lifted, which leaves only the cheaper refusal path to cope. The EA sends a
 * 10-tick batch every 10 ms; latency is from send to the ack that covers it.
 */
import { fork } from 'node:child_process'
import { connectEA } from '../src/client/ea-client.js'
import { createToken } from '../src/db/sql/tokens.js'
import { freshDatabase, withStorage } from './lib/databases.js'
import { startServer } from './lib/engine-process.js'
import { describeMachine, finishMachine, type Machine } from './lib/machine.js'
import type { BenchOptions } from './lib/options.js'
import { benchModule } from './lib/paths.js'
import { fmt, percentiles, round, table, type Percentiles } from './lib/stats.js'
import type { StrangerReport, StrangerRequest } from './lib/strangers.js'

const DASHBOARDS = 20
const FRAMES_PER_SECOND = 4000

export interface JunkCase {
  name: string
  ack: Percentiles
  /** Acks slower than 100 ms, of all measured. */
  over100: number
  junkSent: number
  junkAnswered: number
  /** Flooding connections the engine closed or refused (they came back each time). */
  closed: number
}

export interface JunkFloodReport {
  scenario: 'junk'
  dialect: 'sqlite' | 'postgres'
  seconds: number
  cases: JunkCase[]
  /** Ack p99 under the flood (defaults) over the p99 with no flood. */
  p99Ratio: number
  machine: Machine
  command: string
}

export async function runJunkFlood(o: BenchOptions, log: (s: string) => void): Promise<JunkFloodReport> {
  const machine = await describeMachine(o.database)
  const seconds = o.quick ? 3 : 8
  const cases: { name: string; flood: boolean; engine: Record<string, unknown> }[] = [
    { name: 'no flood (baseline)', flood: false, engine: {} },
    { name: `${DASHBOARDS} dashboards x ${FRAMES_PER_SECOND} refused frames/s, defaults`, flood: true, engine: {} },
    { name: 'the same, per-address refused budget lifted', flood: true, engine: { maxRefusedPerSecond: 1_000_000 } },
  ]
  const out: JunkCase[] = []
  for (const c of cases) {
    const rec = await runCase(o, c.name, c.flood, c.engine, seconds)
    log(`${rec.name}: ack p50 ${fmt(rec.ack.p50, 1)} ms, p99 ${fmt(rec.ack.p99, 1)} ms, ${rec.over100} of ${rec.ack.count} over 100 ms`)
    out.push(rec)
  }
  return {
    scenario: 'junk',
    dialect: o.database.dialect,
    seconds,
    cases: out,
    p99Ratio: round(out[1]!.ack.p99 / out[0]!.ack.p99, 2),
    machine: finishMachine(machine),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  }
}

async function runCase(o: BenchOptions, name: string, flood: boolean, engine: Record<string, unknown>, seconds: number): Promise<JunkCase> {
  const db = await freshDatabase(o.database, 'junk')
  const [ea, viewer] = await withStorage(db.database, o.database.synchronous, async (s) => [
    (await createToken(s, { role: 'ea', name: 'bench-ea' })).token,
    (await createToken(s, { role: 'viewer', name: 'bench-viewer' })).token,
  ])
  const server = await startServer({ module: 'engine-host.js', args: { ...o.engine, ...engine, database: db.database } })
  const crowd = fork(benchModule('strangers.js'))
  const ask = (request: StrangerRequest) =>
    new Promise<StrangerReport>((resolve) => {
      crowd.once('message', (m: { report: StrangerReport }) => resolve(m.report))
      crowd.send(request)
    })
  try {
    // the flood comes from an address of its own: the EA's address is not the one over budget
    if (flood) await ask({ kind: 'junk', url: server.url, token: viewer, connections: DASHBOARDS, framesPerSecond: FRAMES_PER_SECOND, localAddress: '127.0.0.5' })
    const client = await connectEA(server.url, { token: ea, instanceId: 'bench-junk', account: { login: 1, server: 'Bench' }, ea: { name: 'Junk' } })
    const sentAt = new Map<number, number>()
    const latencies: number[] = []
    client.on('ack', (seq: number) => {
      const now = performance.now()
      for (const [s, at] of sentAt) {
        if (s > seq) break
        latencies.push(now - at)
        sentAt.delete(s)
      }
    })
    let time = 1_732_000_000_000
    const batch = () => {
      const col = (f: (i: number) => number) => Array.from({ length: 10 }, (_, i) => f(i))
      const t0 = (time += 10)
      return { type: 'tick_batch' as const, symbol: 'EURUSD', time_msc: col((i) => t0 + i), bid: col(() => 1.08), ask: col(() => 1.08002), last: col(() => 0), volume: col(() => 0), volume_real: col(() => 0), flags: col(() => 6) }
    }
    const stream = async (ms: number, measured: boolean) => {
      const until = performance.now() + ms
      while (performance.now() < until) {
        const at = performance.now()
        const seq = await client.send(batch())
        if (measured) sentAt.set(seq, at)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      await client.flushed()
    }
    await stream(1000, false) // warm-up
    await stream(seconds * 1000, true)
    await client.close()
    const report = await ask({ kind: 'report' })
    return {
      name,
      ack: percentiles(latencies),
      over100: latencies.filter((ms) => ms > 100).length,
      junkSent: report.sent,
      junkAnswered: report.answers,
      closed: Object.values(report.closes).reduce((a, b) => a + b, 0),
    }
  } finally {
    await ask({ kind: 'stop' }).catch(() => {})
    await server.stop()
    await db.drop()
  }
}

export function formatJunkFlood(r: JunkFloodReport): string {
  const lines = [`mt5-engine bench: junk flood (${r.dialect}), ${r.seconds} s per case`, '']
  lines.push(
    table(
      ['case', 'acks', 'p50 ms', 'p99 ms', 'max ms', '> 100 ms', 'junk sent', 'answered', 'flooders closed'],
      r.cases.map((c) => [c.name, c.ack.count, fmt(c.ack.p50, 1), fmt(c.ack.p99, 1), fmt(c.ack.max, 1), c.over100, c.junkSent, c.junkAnswered, c.closed]),
    ),
  )
  lines.push('')
  lines.push(`ack p99 under the flood / without it: ${fmt(r.p99Ratio, 2)}`)
  return lines.join('\n')
}
