/**
 * Scenario `ingest` (the default): N simulated EAs stream M ticks with deals and account snapshots
 * into a real engine; in the same run, the same rows go in through the ceiling (the fastest raw
 * insert found) and the naive way (JSON, one tick per message, one autocommitted row each).
 * Repetitions interleave engine, ceiling and naive, so that each ratio compares runs made moments
 * apart on the same machine. Then a paced run at half the engine's measured maximum gives the
 * acknowledgement latency the target speaks of.
 */
import { defaultOptions } from '../src/config/resolve.js'
import { ceilingRun, chooseCeiling, type CeilingChoice, type CeilingRun } from './ceiling.js'
import { measureDecode, type DecodeCost } from './lib/decode.js'
import { describeMachine, finishMachine, type Machine } from './lib/machine.js'
import { measure, WARMUP_MS, type Run, type TimeBreakdown } from './lib/measure.js'
import type { BenchOptions } from './lib/options.js'
import { collectRows } from './lib/rows.js'
import { fmt, median, medianOf, round, spread, table, type Percentiles } from './lib/stats.js'
import { naiveWorkload } from './naive.js'

export interface TargetCheck {
  target: string
  value: number
  limit: number
  met: boolean
  /** False for a figure the issue sets as a target on the other database: shown for comparison. */
  applies: boolean
  /** How far from the limit, as a fraction of it (positive: better than needed). */
  margin: number
}

export interface IngestReport {
  scenario: 'ingest'
  dialect: 'sqlite' | 'postgres'
  engineTicksPerSec: number
  ceilingTicksPerSec: number
  naiveTicksPerSec: number
  /** Median over repetitions of engine / ceiling measured in the same repetition. */
  ratioToCeiling: number
  /**
   * The same engine run with EAs that send frames encoded before the timed part (`--client raw`):
   * what the engine does when the load generator, sharing the machine's cores, costs next to nothing.
   */
  engineRawClientTicksPerSec: number | undefined
  ratioToCeilingRawClient: number | undefined
  ratioToNaive: number
  /** At half the engine's maximum throughput. */
  ackP99Ms: number
  /** Commit-to-bar lag p99 at half load, ms (median over repetitions); undefined when the engine built no bars (`--bar-timeframes none`). */
  barLagP99Ms: number | undefined
  /** The same at full load. */
  fullLoadBarLagP99Ms: number | undefined
  /** Engine process, full load, VmHWM. */
  peakRssMb: number
  mbPerSec: number
  /** At half load, after a warm-up of WARMUP_MS. */
  ack: Percentiles
  /** The same with the warm-up. */
  ackWithWarmup: Percentiles
  warmupMs: number
  fullLoadAck: Percentiles
  halfLoadTicksPerSec: number
  engineCpu: Run['server']
  loadGenerator: Run['loadGenerator']
  timeBreakdown: TimeBreakdown | undefined
  /** The same in the paced run at half load whose p99 is the median. */
  halfLoadTimeBreakdown: TimeBreakdown | undefined
  /** The main thread's CPU per tick split: decode, validate and the copy into ingest's tick store measured on the same frames in the bench's process; the rest is WebSocket I/O, batching, hand-off and acks. `encodeUs` is the EA side: the SDK encoding those frames. */
  mainThread: DecodeCost & { totalUs: number; restUs: number }
  ceilingStrategy: string
  ceilingTrial: CeilingChoice['trial']
  /** (max - min) / median of each series: how noisy the machine was. */
  spreads: { engine: number; ceiling: number; naive: number }
  ratios: { toCeiling: number[]; toNaive: number[] }
  runs: { engine: Run[]; engineRawClient: Run[]; ceiling: CeilingRun[]; naive: Run[]; halfLoad: Run[] }
  targets: TargetCheck[]
  exact: boolean
  workload: BenchOptions['workload']
  naiveTicks: number
  engineSettings: { batchRows: number; flushMs: number; writers: number; maxInflight: number; maxPendingBytes: number; synchronous: string; barTimeframes: string }
  machine: Machine
  command: string
}

export async function runIngest(o: BenchOptions, log: (s: string) => void): Promise<IngestReport> {
  const machine = await describeMachine(o.database)
  const settings = engineSettings(o)
  const decodeCost = measureDecode(o.workload)
  log(`ingest on ${o.database.dialect}: ${o.workload.eas} EAs x ${fmt(o.workload.ticks / o.workload.eas)} ticks in batches of ${o.workload.batchTicks}, ${o.repeat} repetition(s)`)
  log(`engine settings: ${JSON.stringify(settings)}`)
  log('generating the rows for the ceiling ...')
  const rows = collectRows(o.workload)
  const choice = await chooseCeiling(o.database, rows, Math.min(rows.ticks.count, o.quick ? 200_000 : 500_000), o.quick ? 1 : 2, log)
  log(`ceiling strategy: ${choice.best.name}`)
  const engine: Run[] = []
  const engineRaw: Run[] = []
  const ceiling: CeilingRun[] = []
  const naive: Run[] = []
  const naiveW = naiveWorkload(o)
  for (let r = 1; r <= o.repeat; r++) {
    const e = await measure({ target: 'engine', database: o.database, clientThreads: o.clientThreads, client: o.client, workload: o.workload, engine: o.engine })
    engine.push(e)
    log(`[${r}/${o.repeat}] engine  ${fmt(e.ticksPerSec)} ticks/s, ack p99 ${fmt(e.ack.p99, 1)} ms (full load), ${e.exact ? 'stored exactly once' : 'STORED COUNTS DIFFER'}${e.barReads ? `; bars: ${fmt(e.barReads.rounds)} rounds, M1 built by the writer in ${fmt(e.barReads.builtByWriter)} symbol batches and from the ticks in ${fmt(e.barReads.leftFromTicks)}, ticks read back per tick ${fmt(e.barReads.perTick, 3)} (aggregator) + ${fmt(e.barReads.writerReadBackPerTick, 3)} (writer)` : ''}`)
    if (o.client === 'sdk') {
      const raw = await measure({ target: 'engine', database: o.database, clientThreads: o.clientThreads, client: 'raw', workload: o.workload, engine: o.engine })
      engineRaw.push(raw)
      log(`[${r}/${o.repeat}] engine with pre-encoded frames ${fmt(raw.ticksPerSec)} ticks/s, load generator ${fmt(raw.loadGenerator.cores, 2)} cores (SDK: ${fmt(e.loadGenerator.cores, 2)})`)
    }
    const c = await ceilingRun(o.database, rows, rows.ticks, choice.best)
    ceiling.push(c)
    log(`[${r}/${o.repeat}] ceiling ${fmt(c.ticksPerSec)} ticks/s (${c.strategy})`)
    const n = await measure({ target: 'naive', database: o.database, clientThreads: o.clientThreads, client: o.client, workload: naiveW.workload, engine: o.engine, naiveTicksPerEa: naiveW.perEa })
    naive.push(n)
    log(`[${r}/${o.repeat}] naive   ${fmt(n.ticksPerSec)} ticks/s`)
  }
  const engineTps = medianOf(engine, (e) => e.ticksPerSec)
  const halfRate = engineTps / 2
  const halfWorkload = { ...o.workload, ticks: Math.max(o.workload.eas * o.workload.batchTicks * 4, Math.round(halfRate * o.halfLoadSeconds)) }
  const halfLoad: Run[] = []
  for (let r = 1; r <= o.repeat; r++) {
    const h = await measure({ target: 'engine', database: o.database, clientThreads: o.clientThreads, client: o.client, workload: halfWorkload, engine: o.engine, ticksPerSec: halfRate, warmupMs: WARMUP_MS })
    halfLoad.push(h)
    log(`[${r}/${o.repeat}] half load ${fmt(h.ticksPerSec)} ticks/s: ack p50 ${fmt(h.ack.p50, 1)} p99 ${fmt(h.ack.p99, 1)} max ${fmt(h.ack.max, 1)} ms${h.barLag ? `; bars lag p50 ${fmt(h.barLag.p50, 1)} p99 ${fmt(h.barLag.p99, 1)} ms over ${h.barLag.count} passes` : ''}`)
  }
  if (o.profileDir) {
    log(`profiling one more engine run into ${o.profileDir} ...`)
    await measure({ target: 'engine', database: o.database, clientThreads: o.clientThreads, client: o.client, workload: o.workload, engine: o.engine, cpuProfileDir: o.profileDir })
  }
  const toCeiling = engine.map((e, i) => e.ticksPerSec / ceiling[i]!.ticksPerSec)
  const toNaive = engine.map((e, i) => e.ticksPerSec / naive[i]!.ticksPerSec)
  const rawToCeiling = engineRaw.map((e, i) => e.ticksPerSec / ceiling[i]!.ticksPerSec)
  const medianRun = engine.slice().sort((a, b) => a.ticksPerSec - b.ticksPerSec)[Math.floor((engine.length - 1) / 2)]!
  const halfMedian = halfLoad.slice().sort((a, b) => a.ack.p99 - b.ack.p99)[Math.floor((halfLoad.length - 1) / 2)]!
  const report: IngestReport = {
    scenario: 'ingest',
    dialect: o.database.dialect,
    engineTicksPerSec: round(engineTps),
    ceilingTicksPerSec: round(medianOf(ceiling, (c) => c.ticksPerSec)),
    naiveTicksPerSec: round(medianOf(naive, (n) => n.ticksPerSec)),
    ratioToCeiling: round(median(toCeiling), 3),
    engineRawClientTicksPerSec: engineRaw.length > 0 ? round(medianOf(engineRaw, (e) => e.ticksPerSec)) : undefined,
    ratioToCeilingRawClient: engineRaw.length > 0 ? round(median(rawToCeiling), 3) : undefined,
    ratioToNaive: round(median(toNaive), 1),
    ackP99Ms: round(halfMedian.ack.p99, 1),
    barLagP99Ms: halfLoad.every((h) => h.barLag) ? round(medianOf(halfLoad, (h) => h.barLag!.p99), 1) : undefined,
    fullLoadBarLagP99Ms: engine.every((e) => e.barLag) ? round(medianOf(engine, (e) => e.barLag!.p99), 1) : undefined,
    peakRssMb: round(medianOf(engine, (e) => e.server.peakRssMb), 1),
    mbPerSec: round(medianOf(engine, (e) => e.mbPerSec), 1),
    ack: roundP(halfMedian.ack),
    ackWithWarmup: roundP(halfMedian.ackAll),
    warmupMs: WARMUP_MS,
    fullLoadAck: roundP(medianRun.ack),
    halfLoadTicksPerSec: round(medianOf(halfLoad, (h) => h.ticksPerSec)),
    engineCpu: medianRun.server,
    loadGenerator: medianRun.loadGenerator,
    timeBreakdown: medianRun.time,
    halfLoadTimeBreakdown: halfMedian.time,
    mainThread: {
      encodeUs: round(decodeCost.encodeUs, 3),
      decodeUs: round(decodeCost.decodeUs, 3),
      validateUs: round(decodeCost.validateUs, 3),
      storeUs: round(decodeCost.storeUs, 3),
      bytesPerTick: round(decodeCost.bytesPerTick, 1),
      totalUs: round(medianRun.server.mainUsPerTick, 3),
      restUs: round(medianRun.server.mainUsPerTick - decodeCost.decodeUs - decodeCost.validateUs - decodeCost.storeUs, 3),
    },
    ceilingStrategy: choice.best.name,
    ceilingTrial: choice.trial.map((t) => ({ ...t, ticksPerSec: round(t.ticksPerSec), runs: t.runs.map((x) => round(x)) })),
    spreads: {
      engine: round(spread(engine.map((e) => e.ticksPerSec)), 3),
      ceiling: round(spread(ceiling.map((c) => c.ticksPerSec)), 3),
      naive: round(spread(naive.map((n) => n.ticksPerSec)), 3),
    },
    ratios: { toCeiling: toCeiling.map((x) => round(x, 3)), toNaive: toNaive.map((x) => round(x, 1)) },
    runs: { engine: engine.map(lean), engineRawClient: engineRaw.map(lean), ceiling, naive: naive.map(lean), halfLoad: halfLoad.map(lean) },
    targets: [],
    exact: engine.every((e) => e.exact) && halfLoad.every((h) => h.exact),
    workload: o.workload,
    naiveTicks: naiveW.workload.eas * naiveW.perEa,
    engineSettings: settings,
    machine: finishMachine(machine),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  }
  report.targets = targets(report, o)
  return report
}

export function engineSettings(o: BenchOptions): IngestReport['engineSettings'] {
  const e = { ...defaultOptions, ...o.engine }
  return {
    batchRows: e.batchRows,
    flushMs: e.flushMs,
    writers: o.database.dialect === 'sqlite' ? 1 : e.writers,
    maxInflight: e.maxInflight,
    maxPendingBytes: e.maxPendingBytes,
    synchronous: o.database.synchronous,
    barTimeframes: e.barTimeframes.length === 0 ? 'none' : e.barTimeframes.length === 21 ? 'all' : e.barTimeframes.join(','),
  }
}

function roundP(p: Percentiles): Percentiles {
  return { count: p.count, p50: round(p.p50, 2), p95: round(p.p95, 2), p99: round(p.p99, 2), max: round(p.max, 2), mean: round(p.mean, 2) }
}

/** A run without its RSS series, rounded for the JSON. */
function lean(r: Run): Run {
  const { rssSamples: _, ...server } = r.server
  const rounded = Object.fromEntries(Object.entries(server).map(([k, v]) => [k, round(v, 3)])) as unknown as Run['server']
  return { ...r, ticksPerSec: round(r.ticksPerSec), mbPerSec: round(r.mbPerSec, 2), seconds: round(r.seconds, 3), ack: roundP(r.ack), ackAll: roundP(r.ackAll), server: rounded }
}

function check(target: string, value: number, limit: number, higherIsBetter: boolean, applies = true): TargetCheck {
  const met = higherIsBetter ? value >= limit : value <= limit
  const margin = higherIsBetter ? value / limit - 1 : 1 - value / limit
  return { target, value, limit, met, applies, margin: round(margin, 3) }
}

/** The issue's targets: on SQLite all but the COPY ratio; on PostgreSQL the COPY ratio (the rest shown for comparison). */
function targets(r: IngestReport, o: BenchOptions): TargetCheck[] {
  const sqlite = r.dialect === 'sqlite'
  const list: TargetCheck[] = []
  if (sqlite) list.push(check('engine >= 0.85 x ceiling (SQLite)', r.ratioToCeiling, 0.85, true))
  else list.push(check('engine >= 0.7 x raw COPY (PostgreSQL)', r.ratioToCeiling, 0.7, true))
  list.push(check('engine >= 20 x naive', r.ratioToNaive, 20, true, sqlite))
  list.push(check('ack p99 <= 25 ms at half the maximum throughput', r.ackP99Ms, 25, false, sqlite))
  if (r.barLagP99Ms !== undefined) list.push(check('commit-to-bar lag p99 <= 250 ms at half the maximum throughput', r.barLagP99Ms, 250, false, sqlite))
  list.push(check(`peak RSS <= 300 MB with ${o.workload.eas} EAs at full load`, r.peakRssMb, 300, false, sqlite))
  return list
}

export function formatIngest(r: IngestReport): string {
  const lines: string[] = []
  const t = r.timeBreakdown
  lines.push(`mt5-engine bench: ingest (${r.dialect}), ${r.workload.eas} EAs, ${fmt(r.workload.ticks)} ticks, ${r.runs.engine.length} repetition(s)`)
  lines.push(`machine: ${r.machine.cores} x ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, ${r.machine.os}, Node ${r.machine.node}, ${r.machine.database}; load average ${fmt(r.machine.loadAverageStart, 2)} -> ${fmt(r.machine.loadAverageEnd ?? NaN, 2)}`)
  lines.push('')
  lines.push(
    table(
      ['', 'ticks/s (median)', 'runs', 'spread'],
      [
        ['engine (end to end)', fmt(r.engineTicksPerSec), r.runs.engine.map((e) => fmt(e.ticksPerSec)).join(' / '), `${fmt(r.spreads.engine * 100)}%`],
        [`ceiling (${r.ceilingStrategy})`, fmt(r.ceilingTicksPerSec), r.runs.ceiling.map((c) => fmt(c.ticksPerSec)).join(' / '), `${fmt(r.spreads.ceiling * 100)}%`],
        ['naive (JSON, 1 tick/message, autocommit)', fmt(r.naiveTicksPerSec), r.runs.naive.map((n) => fmt(n.ticksPerSec)).join(' / '), `${fmt(r.spreads.naive * 100)}%`],
      ],
    ),
  )
  lines.push('')
  lines.push(`engine / ceiling: ${fmt(r.ratioToCeiling, 3)} (per repetition ${r.ratios.toCeiling.join(', ')})`)
  lines.push(`engine / naive:   ${fmt(r.ratioToNaive, 1)} (per repetition ${r.ratios.toNaive.join(', ')})`)
  if (r.ratioToCeilingRawClient !== undefined) {
    const raw = r.runs.engineRawClient
    lines.push(
      `with EAs sending pre-encoded frames (--client raw; the load generator then uses ${fmt(raw[0]?.loadGenerator.cores ?? NaN, 2)} cores instead of ${fmt(r.loadGenerator.cores, 2)}): ` +
        `${fmt(r.engineRawClientTicksPerSec ?? NaN)} ticks/s, engine / ceiling ${fmt(r.ratioToCeilingRawClient, 3)}`,
    )
  }
  lines.push(`wire: ${fmt(r.mbPerSec, 1)} MB/s of frames at full load; stored exactly once: ${r.exact ? 'yes' : 'NO'}`)
  lines.push(
    `ack latency at half load (${fmt(r.halfLoadTicksPerSec)} ticks/s, after ${r.warmupMs / 1000} s): p50 ${fmt(r.ack.p50, 1)}  p95 ${fmt(r.ack.p95, 1)}  p99 ${fmt(r.ack.p99, 1)}  max ${fmt(r.ack.max, 1)} ms` +
      ` (with the warm-up: p99 ${fmt(r.ackWithWarmup.p99, 1)}, max ${fmt(r.ackWithWarmup.max, 1)})`,
  )
  lines.push(`ack latency at full load: p50 ${fmt(r.fullLoadAck.p50, 1)}  p95 ${fmt(r.fullLoadAck.p95, 1)}  p99 ${fmt(r.fullLoadAck.p99, 1)}  max ${fmt(r.fullLoadAck.max, 1)} ms`)
  lines.push(
    r.barLagP99Ms === undefined
      ? 'bars: not built in these runs (--bar-timeframes none)'
      : `bars built from the ticks: commit-to-bar lag p99 ${fmt(r.barLagP99Ms, 1)} ms at half load, ${fmt(r.fullLoadBarLagP99Ms ?? NaN, 1)} ms at full load`,
  )
  const c = r.engineCpu
  lines.push(
    `engine CPU at full load: ${fmt(c.cores, 2)} cores (main thread ${fmt(c.mainCores, 2)}, writer ${fmt(c.writerCores, 2)}, other ${fmt(c.otherCores, 2)}); ` +
      `${fmt(c.usPerTick, 2)} us/tick (main ${fmt(c.mainUsPerTick, 2)}, writer ${fmt(c.writerUsPerTick, 2)}); peak RSS ${fmt(r.peakRssMb, 1)} MB`,
  )
  lines.push(
    `waiting for a CPU (runnable, another thread had it): writer ${fmt(c.writerWaiting * 100)}% of the time, main thread ${fmt(c.mainWaiting * 100)}%`,
  )
  const m = r.mainThread
  lines.push(`load generator: ${fmt(r.loadGenerator.cores, 2)} cores, ${fmt(r.loadGenerator.usPerTick, 2)} us/tick, of which encoding ${fmt(m.encodeUs, 3)}`)
  lines.push(
    `main thread per tick: ${fmt(m.totalUs, 3)} us = decode ${fmt(m.decodeUs, 3)} + validate ${fmt(m.validateUs, 3)} + copy to tick store ${fmt(m.storeUs, 3)} ` +
      `+ WebSocket, batching, hand-off and acks ${fmt(m.restUs, 3)} (frames: ${fmt(m.bytesPerTick, 1)} bytes per tick)`,
  )
  if (t) {
    lines.push(
      `where a message's time goes at full load: queue wait ${fmt(t.queueWaitMs, 2)} ms (per message); hand-off and wait for the writer ${fmt(t.handOffMs, 2)} ms, ` +
        `transaction ${fmt(t.commitMs, 2)} ms (per batch); ${fmt(t.batches)} batches of ${fmt(t.ticksPerBatch)} ticks (${fmt(t.messagesPerBatch, 1)} messages); writer in transactions ${fmt(t.writerBusy * 100)}% of the time`,
    )
  }
  const h = r.halfLoadTimeBreakdown
  if (h) {
    lines.push(
      `at half load: queue wait ${fmt(h.queueWaitMs, 2)} ms, hand-off and wait ${fmt(h.handOffMs, 2)} ms, transaction ${fmt(h.commitMs, 2)} ms; batches of ${fmt(h.ticksPerBatch)} ticks`,
    )
  }
  lines.push('')
  lines.push(
    table(
      ['target', 'value', 'limit', 'met', 'margin'],
      r.targets.map((x) => [
        x.applies ? x.target : `(${x.target}: a SQLite target)`,
        fmt(x.value, 3),
        fmt(x.limit, 2),
        x.met ? 'yes' : x.applies ? 'NO' : 'no',
        `${x.margin > 0 ? '+' : ''}${fmt(x.margin * 100, 1)}%`,
      ]),
    ),
  )
  lines.push('')
  lines.push('ceiling trial (same prefix of rows, median ticks/s):')
  for (const x of r.ceilingTrial) lines.push(`  ${fmt(x.ticksPerSec).padStart(11)}  ${x.strategy}`)
  return lines.join('\n')
}
