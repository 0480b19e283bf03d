/**
 * Scenario `naive`: the naive way to store ticks, for the ratio the issue asks about. Each EA
 * sends one JSON text frame per tick; the server (lib/naive-server.ts, its own process) parses it,
 * inserts one autocommitted row and acknowledges it. The EAs keep the same number of messages in
 * flight as the engine allows, so the naive server is never idle waiting for a client.
 */
import { describeMachine, finishMachine, type Machine } from './lib/machine.js'
import { measure, type Run } from './lib/measure.js'
import type { BenchOptions } from './lib/options.js'
import { fmt, medianOf, round } from './lib/stats.js'
import type { WorkloadOptions } from './lib/workload.js'

/** The naive run's share of the workload: the first ticks of every EA. */
export function naiveWorkload(o: BenchOptions): { workload: WorkloadOptions; perEa: number } {
  const perEa = Math.ceil(o.naiveTicks / o.workload.eas)
  return { workload: { ...o.workload, ticks: perEa * o.workload.eas }, perEa }
}

export interface NaiveReport {
  scenario: 'naive'
  dialect: 'sqlite' | 'postgres'
  naiveTicksPerSec: number
  runs: Run[]
  machine: Machine
  command: string
}

export async function runNaiveScenario(o: BenchOptions, log: (s: string) => void): Promise<NaiveReport> {
  const machine = await describeMachine(o.database)
  const w = naiveWorkload(o)
  const runs: Run[] = []
  for (let r = 1; r <= o.repeat; r++) {
    const n = await measure({ target: 'naive', database: o.database, clientThreads: o.clientThreads, client: o.client, workload: w.workload, engine: o.engine, naiveTicksPerEa: w.perEa })
    runs.push(n)
    log(`[${r}/${o.repeat}] naive ${fmt(n.ticksPerSec)} ticks/s, ack p99 ${fmt(n.ack.p99, 1)} ms, server ${fmt(n.server.usPerTick, 1)} us CPU/tick`)
  }
  return {
    scenario: 'naive',
    dialect: o.database.dialect,
    naiveTicksPerSec: round(medianOf(runs, (r) => r.ticksPerSec)),
    runs,
    machine: finishMachine(machine),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  }
}

export function formatNaive(r: NaiveReport): string {
  return `naive (${r.dialect}): ${fmt(r.naiveTicksPerSec)} ticks/s (median of ${r.runs.map((x) => fmt(x.ticksPerSec)).join(' / ')})`
}
