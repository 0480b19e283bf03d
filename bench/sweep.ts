/**
 * Scenario `sweep`: varies one setting at a time around the engine's defaults (batch rows, flush
 * interval, in-flight window, writers on PostgreSQL, and the number of EAs), measuring at each
 * point the full-load throughput and the p99 acknowledgement latency at half of that throughput.
 * Prints a table, draws bench/results/sweep-<dialect>.svg and recommends, for each engine setting,
 * among the values within the 25 ms latency target and within 5% of the highest throughput, the
 * one with the lowest latency at half load (for the in-flight window: the lowest peak memory).
 */
import type { EngineOptions } from '../src/config/resolve.js'
import { engineSettings } from './ingest.js'
import { chart, type Panel } from './lib/chart.js'
import { describeMachine, finishMachine, type Machine } from './lib/machine.js'
import { measure, WARMUP_MS, type Run } from './lib/measure.js'
import type { BenchOptions } from './lib/options.js'
import { fmt, median, round, table } from './lib/stats.js'

export const LATENCY_TARGET_MS = 25

type Setting = 'batch-rows' | 'flush-ms' | 'max-inflight' | 'writers' | 'clients'

interface Axis {
  setting: Setting
  option: keyof EngineOptions | undefined
  values: number[]
  quickValues: number[]
  postgresOnly?: boolean
  /** Among values as fast as the best (within 5%), the one lowest in this wins. */
  tieBreak: (p: SweepPoint) => number
}

const axes: Axis[] = [
  { setting: 'batch-rows', option: 'batchRows', values: [500, 1000, 2000, 5000, 10000, 20000], quickValues: [500, 2000, 10000], tieBreak: (p) => p.halfLoadP99Ms },
  { setting: 'flush-ms', option: 'flushMs', values: [1, 2, 5, 10, 20, 50], quickValues: [2, 10, 20], tieBreak: (p) => p.halfLoadP99Ms },
  // below 16 an EA sending small messages over a slower link would wait on acks
  // the window only matters at full load: what it queues is memory and latency
  { setting: 'max-inflight', option: 'maxInflight', values: [16, 32, 64, 128], quickValues: [16, 64], tieBreak: (p) => p.peakRssMb },
  { setting: 'writers', option: 'writers', values: [1, 2, 4], quickValues: [1, 2], postgresOnly: true, tieBreak: (p) => p.halfLoadP99Ms },
  { setting: 'clients', option: undefined, values: [1, 2, 5, 10, 20, 40], quickValues: [1, 10, 20], tieBreak: (p) => p.halfLoadP99Ms },
]

export interface SweepPoint {
  setting: Setting
  value: number
  ticksPerSec: number
  fullLoadP99Ms: number
  halfLoadTicksPerSec: number
  halfLoadP50Ms: number
  halfLoadP99Ms: number
  engineCores: number
  usPerTick: number
  peakRssMb: number
  runs: number
}

export interface SweepReport {
  scenario: 'sweep'
  dialect: 'sqlite' | 'postgres'
  base: ReturnType<typeof engineSettings>
  workload: BenchOptions['workload']
  points: SweepPoint[]
  /** Per engine setting: the recommended value. */
  recommended: Partial<Record<Setting, number>>
  notes: string[]
  machine: Machine
  command: string
}

export async function runSweep(o: BenchOptions, log: (s: string) => void): Promise<{ report: SweepReport; svg: string }> {
  const machine = await describeMachine(o.database)
  const base = engineSettings(o)
  const notes: string[] = []
  const points: SweepPoint[] = []
  const chosen = axes.filter((a) => (o.only ? o.only.includes(a.setting) : true))
  const grid: { axis: Axis; value: number; full: Run[]; half: Run[] }[] = []
  for (const axis of chosen) {
    if (axis.postgresOnly && o.database.dialect === 'sqlite') {
      notes.push('writers: not swept on SQLite, which has exactly one writer (the only write connection of the file)')
      continue
    }
    for (const value of o.quick ? axis.quickValues : axis.values) grid.push({ axis, value, full: [], half: [] })
  }
  // Rounds over the whole grid rather than repetitions back to back: a burst of someone else's
  // load then spoils one run of several points, and the median drops it.
  for (let r = 0; r < o.repeat; r++) {
    for (const g of grid) {
      const engine: Partial<EngineOptions> = { ...o.engine }
      let workload = o.workload
      if (g.axis.option) (engine as Record<string, number>)[g.axis.option] = g.value
      else workload = { ...o.workload, eas: g.value }
      const f = await measure({ target: 'engine', database: o.database, workload, engine, clientThreads: o.clientThreads })
      const rate = f.ticksPerSec / 2
      const halfWorkload = { ...workload, ticks: Math.max(workload.eas * workload.batchTicks * 4, Math.round(rate * o.halfLoadSeconds)) }
      const h = await measure({ target: 'engine', database: o.database, workload: halfWorkload, engine, ticksPerSec: rate, clientThreads: o.clientThreads, client: o.client, warmupMs: WARMUP_MS })
      g.full.push(f)
      g.half.push(h)
      log(`[${r + 1}/${o.repeat}] ${g.axis.setting}=${g.value}: ${fmt(f.ticksPerSec)} ticks/s, half-load p99 ${fmt(h.ack.p99, 1)} ms, full-load p99 ${fmt(f.ack.p99, 1)} ms, RSS ${fmt(f.server.peakRssMb)} MB`)
    }
  }
  for (const { axis, value, full, half } of grid) {
    points.push({
      setting: axis.setting,
      value,
      ticksPerSec: round(median(full.map((f) => f.ticksPerSec))),
      fullLoadP99Ms: round(median(full.map((f) => f.ack.p99)), 1),
      halfLoadTicksPerSec: round(median(half.map((h) => h.ticksPerSec))),
      halfLoadP50Ms: round(median(half.map((h) => h.ack.p50)), 1),
      halfLoadP99Ms: round(median(half.map((h) => h.ack.p99)), 1),
      engineCores: round(median(full.map((f) => f.server.cores)), 2),
      usPerTick: round(median(full.map((f) => f.server.usPerTick)), 2),
      peakRssMb: round(median(full.map((f) => f.server.peakRssMb)), 1),
      runs: full.length,
    })
  }
  const recommended: SweepReport['recommended'] = {}
  for (const axis of chosen) {
    if (!axis.option) continue
    const mine = points.filter((p) => p.setting === axis.setting)
    if (mine.length > 0) recommended[axis.setting] = recommend(mine, axis.tieBreak, Number((base as Record<string, unknown>)[axis.option] ?? NaN))
  }
  const clients = points.filter((p) => p.setting === 'clients')
  if (clients.length > 0) {
    const best = Math.max(...clients.map((p) => p.ticksPerSec))
    const saturated = clients.find((p) => p.ticksPerSec >= best * 0.95)
    notes.push(`clients: throughput reaches 95% of its maximum (${fmt(best)} ticks/s) from ${saturated?.value} EAs on`)
  }
  const report: SweepReport = {
    scenario: 'sweep',
    dialect: o.database.dialect,
    base,
    workload: o.workload,
    points,
    recommended,
    notes,
    machine: finishMachine(machine),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  }
  return { report, svg: draw(report) }
}

/**
 * Among the values within the latency target (all of them when none is), those within 5% of the
 * highest throughput; of these, the lowest in `tieBreak`. Values within 15% of that lowest are a
 * tie, as the machine's noise makes them: then the current default stays if it is one of them.
 */
export function recommend(points: SweepPoint[], tieBreak: (p: SweepPoint) => number, current: number): number {
  const within = points.filter((p) => p.halfLoadP99Ms <= LATENCY_TARGET_MS)
  const candidates = within.length > 0 ? within : points
  const best = Math.max(...candidates.map((p) => p.ticksPerSec))
  const fast = candidates.filter((p) => p.ticksPerSec >= best * 0.95)
  const lowest = fast.reduce((b, p) => (tieBreak(p) < tieBreak(b) ? p : b))
  const tied = fast.filter((p) => tieBreak(p) <= tieBreak(lowest) * 1.15)
  return tied.some((p) => p.value === current) ? current : lowest.value
}

function draw(r: SweepReport): string {
  const defaults: Partial<Record<Setting, number>> = {
    'batch-rows': r.base.batchRows,
    'flush-ms': r.base.flushMs,
    'max-inflight': r.base.maxInflight,
    writers: r.base.writers,
    clients: r.workload.eas,
  }
  const names: Record<Setting, string> = {
    'batch-rows': 'batch rows (--batch-rows)',
    'flush-ms': 'flush interval, ms (--flush-ms)',
    'max-inflight': 'in-flight window (--max-inflight)',
    writers: 'writers (--writers)',
    clients: 'simulated EAs',
  }
  const panels: Panel[] = []
  for (const setting of [...new Set(r.points.map((p) => p.setting))]) {
    const mine = r.points.filter((p) => p.setting === setting)
    panels.push({
      title: names[setting],
      labels: mine.map((p) => fmt(p.value)),
      throughput: mine.map((p) => p.ticksPerSec),
      latency: mine.map((p) => p.halfLoadP99Ms),
      recommended: r.recommended[setting] === undefined ? -1 : mine.findIndex((p) => p.value === r.recommended[setting]),
      current: mine.findIndex((p) => p.value === defaults[setting]),
    })
  }
  const m = r.machine
  return chart(
    `mt5-engine sweep (${r.dialect}): throughput and ack p99 at half load`,
    `${r.workload.eas} EAs, ${fmt(r.workload.ticks)} ticks per full-load run, batches of ${r.workload.batchTicks}; ${m.cores} x ${m.cpuModel}, Node ${m.node}, ${m.database.split(' on ')[0]}; ${m.date.slice(0, 10)}`,
    panels,
    LATENCY_TARGET_MS,
  )
}

export function formatSweep(r: SweepReport): string {
  const lines = [`mt5-engine bench: sweep (${r.dialect}), base settings ${JSON.stringify(r.base)}`, '']
  lines.push(
    table(
      ['setting', 'value', 'ticks/s', 'p99 full load ms', 'p99 half load ms', 'p50 half load ms', 'engine cores', 'us/tick', 'peak RSS MB'],
      r.points.map((p) => [p.setting, fmt(p.value), fmt(p.ticksPerSec), fmt(p.fullLoadP99Ms, 1), fmt(p.halfLoadP99Ms, 1), fmt(p.halfLoadP50Ms, 1), fmt(p.engineCores, 2), fmt(p.usPerTick, 2), fmt(p.peakRssMb)]),
    ),
  )
  lines.push('')
  lines.push(`recommended: ${Object.entries(r.recommended).map(([k, v]) => `--${k} ${v}`).join(' ') || '(nothing swept)'}`)
  for (const n of r.notes) lines.push(`note: ${n}`)
  return lines.join('\n')
}
