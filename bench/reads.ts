/**
 * Scenario `reads`: what dashboards cost ingest, and what ingest costs dashboards. Three
 * measurements, each against a baseline measured in the same run:
 *
 * 1. Full-rate ingest (the `ingest` scenario's engine run) with WATCHERS dashboards subscribed to
 *    ticks of the streamed symbols and QUERIERS dashboards running typed queries in a loop,
 *    against the same run without them and against the ceiling, repetitions interleaved.
 * 2. At half the full rate measured without readers: from commit to a watcher receiving the event.
 *    The commit itself is not visible from outside the engine, so it is bracketed per event by
 *    the message holding the event's last tick, all clocks epoch ms on one machine: the EA sent it
 *    before the commit (send -> event, an upper bound) and got its ack after it (ack -> event,
 *    below the true figure by the ack's own way back; negative when the event came first).
 * 3. A month of M1 bars and a 10,000-row journal page, seeded before the engine starts, queried
 *    one after the other while ingest runs at half load, and the same on an idle engine.
 */
import { createToken } from '../src/db/sql/tokens.js'
import { ceilingRun, chooseCeiling, type CeilingRun } from './ceiling.js'
import { engineSettings, type IngestReport, type TargetCheck } from './ingest.js'
import { startCrowd, type Crowd } from './lib/crowd.js'
import { freshDatabase, withStorage } from './lib/databases.js'
import { startServer } from './lib/engine-process.js'
import { describeMachine, finishMachine, type Machine } from './lib/machine.js'
import { measure, WARMUP_MS, type Companion, type Run } from './lib/measure.js'
import type { DashboardsPlan, DashboardsReport, LoadResult, QuerySpec, TickWatch } from './lib/messages.js'
import type { BenchOptions } from './lib/options.js'
import { measureReadCost, type ReadCost } from './lib/read-cost.js'
import { collectRows } from './lib/rows.js'
import { BARS_LOGIN, BARS_SYMBOL, MONTH_END, MONTH_START, seedHistory, seedStreamedSymbols, type Seeded } from './lib/seed.js'
import { fmt, median, medianOf, percentiles, round, table, type Percentiles } from './lib/stats.js'
import { eaIdentity, planEa, type WorkloadOptions } from './lib/workload.js'

/** Dashboards subscribed to ticks, one symbol each, spread over the streamed symbols. */
const WATCHERS = 20
/** Dashboards running queries in a loop during the full-rate runs. */
const QUERIERS = 5
/** What a querier waits between an answer and its next query: a dashboard refreshing a few panels a second. */
const QUERY_PAUSE_MS = 100
const JOURNAL_ROWS = 50_000
const JOURNAL_PAGE = 10_000
const HOUR = 3_600_000

export interface QueryFigures {
  label: string
  rows: number
  bytes: number
  ms: Percentiles
  errors: Record<string, number>
}

export interface ReadsReport {
  scenario: 'reads'
  dialect: 'sqlite' | 'postgres'
  seeded: Seeded
  watchers: number
  queriers: number
  queryPauseMs: number
  /** 1. Full rate, medians over repetitions. */
  engineTicksPerSec: number
  engineBusyTicksPerSec: number
  ceilingTicksPerSec: number
  ratioToCeiling: number
  ratioToCeilingBusy: number
  /** Busy over plain, median of the repetitions' ratios. */
  busyOverPlain: number
  ratios: { plain: number[]; busy: number[]; busyOverPlain: number[] }
  /** What the dashboards got during the busy full-rate runs (all repetitions). */
  busyDashboards: { events: number; ticks: number; gaps: number; dropped: number; queries: QueryFigures[]; cores: number }
  /** 2. Half load. */
  halfLoadTicksPerSec: number
  sendToEvent: Percentiles
  ackToEvent: Percentiles
  /** The EAs' own ack latency in the same runs. */
  ack: Percentiles
  latencyEvents: { matched: number; unmatched: number; gaps: number }
  /** 3. Reads, pooled over repetitions. */
  readsIdle: QueryFigures[]
  readsIngesting: QueryFigures[]
  readsIngestTicksPerSec: number
  /** The same queries step by step in the bench's process, idle (lib/read-cost.ts). */
  readCost: ReadCost[]
  runs: { plain: Run[]; busy: Run[]; ceiling: CeilingRun[]; latency: Run[]; reads: Run[] }
  targets: TargetCheck[]
  exact: boolean
  workload: WorkloadOptions
  engineSettings: IngestReport['engineSettings']
  machine: Machine
  command: string
}

/** Dashboard d watches symbol floor(d / eas) of EA d % eas: every EA's first symbols first. */
function watches(w: WorkloadOptions): (TickWatch & { ea: number })[] {
  return Array.from({ length: WATCHERS }, (_, d) => {
    const id = eaIdentity(w, d % w.eas)
    return { ea: id.index, login: id.login, symbol: id.symbols[Math.floor(d / w.eas) % id.symbols.length]!.name }
  })
}

/** The queries of a busy dashboard: the last hours of bars, the newest deals, the newest ticks of a streamed symbol. */
function busyQueries(w: WorkloadOptions): QuerySpec[] {
  const ea = eaIdentity(w, 0)
  return [
    { label: 'bars, last 6 hours (M1)', query: 'bars', params: { symbol: BARS_SYMBOL, login: BARS_LOGIN, timeframe: 'M1', from: MONTH_END - 6 * HOUR, to: MONTH_END } },
    { label: 'deals, newest page', query: 'deals', params: {}, limit: 1000 },
    { label: 'ticks, newest page', query: 'ticks', params: { symbol: ea.symbols[0]!.name, login: ea.login }, limit: 1000, order: 'desc' },
  ]
}

const READS: QuerySpec[] = [
  { label: 'bars, a month of M1', query: 'bars', params: { symbol: BARS_SYMBOL, login: BARS_LOGIN, timeframe: 'M1', from: MONTH_START, to: MONTH_END }, limit: 50_000 },
  { label: `journal, ${JOURNAL_PAGE.toLocaleString('en-US')}-row page`, query: 'journal', params: {}, limit: JOURNAL_PAGE },
]

/**
 * Dashboards beside a run: seeds the history and makes a viewer token before the engine starts,
 * then runs the dashboards `plan` gives (none: the history only).
 */
function dashboards(o: BenchOptions, plan: (url: string, token: string) => DashboardsPlan, done: (r: DashboardsReport, load: LoadResult) => void) {
  let token = ''
  let crowd: Crowd | undefined
  let seeded: Seeded | undefined
  const companion: Companion & { kill(): void; seeded(): Seeded } = {
    async prepare(database) {
      await withStorage(database, o.database.synchronous, async (s) => {
        seeded = await seedHistory(s, JOURNAL_ROWS)
        await seedStreamedSymbols(s, o.workload)
        token = (await createToken(s, { role: 'viewer', name: 'bench-dashboards' })).token
      })
    },
    async start(url) {
      const p = plan(url, token)
      if (p.watchers.length > 0 || p.queriers.length > 0) crowd = await startCrowd(p)
    },
    go: () => crowd?.go(),
    async stop(load) {
      if (crowd) done(await crowd.stop(), load)
    },
    kill: () => crowd?.kill(),
    seeded: () => seeded!,
  }
  return companion
}

async function withCompanion<T>(c: { kill(): void }, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } finally {
    c.kill()
  }
}

function figures(records: DashboardsReport['queries'][]): QueryFigures[] {
  const byLabel = new Map<string, DashboardsReport['queries']>()
  for (const list of records) for (const q of list) byLabel.set(q.label, [...(byLabel.get(q.label) ?? []), q])
  return [...byLabel].map(([label, qs]) => {
    const errors: Record<string, number> = {}
    for (const q of qs) for (const [code, n] of Object.entries(q.errors)) errors[code] = (errors[code] ?? 0) + n
    const last = qs[qs.length - 1]!
    return { label, rows: last.rows, bytes: last.bytes, ms: roundP(percentiles(qs.flatMap((q) => q.ms))), errors }
  })
}

/**
 * Each event's latency from the message that holds its last tick. A watcher subscribed before
 * the EAs started on a fresh database, so (until a gap) its events' ticks, counted, are its
 * symbol's ticks in order: the running count says which message each event ends in, and the
 * tick's time is checked against the event's.
 */
function eventLatencies(w: WorkloadOptions, watched: ReturnType<typeof watches>, report: DashboardsReport, load: LoadResult, warmupMs: number) {
  const sendToEvent: number[] = []
  const ackToEvent: number[] = []
  let matched = 0
  let unmatched = 0
  let gaps = 0
  const first = Math.min(...load.eas.map((e) => e.firstSendAt))
  const plans = new Map<number, ReturnType<typeof planEa>>()
  for (const rec of report.watchers) {
    const watch = watched[rec.watcher]!
    gaps += rec.gaps
    const plan = plans.get(watch.ea) ?? planEa(w, watch.ea)
    plans.set(watch.ea, plan)
    const ea = load.eas.find((e) => e.index === watch.ea)!
    // the watched symbol's messages, with the count of its ticks before each
    const mine: { index: number; start: number; times: number[] }[] = []
    let total = 0
    for (const [index, m] of plan.messages.entries()) {
      if (m.type !== 'tick_batch' || m.symbol !== watch.symbol) continue
      mine.push({ index, start: total, times: m.time_msc })
      total += m.time_msc.length
    }
    let seen = 0
    let p = 0
    for (let e = 0; e < rec.arrivedAt.length; e++) {
      seen += rec.count[e]!
      const last = seen - 1
      while (p < mine.length - 1 && mine[p]!.start + mine[p]!.times.length <= last) p++
      const m = mine[p]
      if (rec.gaps > 0 || m === undefined || m.times[last - m.start] !== rec.lastTime[e]) {
        unmatched++
        continue
      }
      matched++
      const sentAt = ea.sentAt[m.index]!
      if (sentAt < first + warmupMs) continue
      sendToEvent.push(rec.arrivedAt[e]! - sentAt)
      ackToEvent.push(rec.arrivedAt[e]! - (sentAt + ea.latencies[m.index]!))
    }
  }
  return { sendToEvent, ackToEvent, matched, unmatched, gaps }
}

/** The read queries on an engine with the history and nothing streaming, for `seconds`. */
async function idleReads(o: BenchOptions, seconds: number): Promise<DashboardsReport> {
  const fresh = await freshDatabase(o.database, 'reads_idle')
  let report: DashboardsReport | undefined
  const c = dashboards(o, (url, token) => ({ url, token, watchers: [], queriers: [{ queries: READS, pauseMs: 0 }] }), (r) => (report = r))
  const server = await (async () => {
    await c.prepare!(fresh.database)
    return startServer({ module: 'engine-host.js', args: { database: fresh.database, synchronous: o.database.synchronous, ...o.engine } })
  })()
  try {
    await withCompanion(c, async () => {
      await c.start(server.url)
      c.go!()
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
      await c.stop({ eas: [], cpuUserMs: 0, cpuSystemMs: 0 })
    })
    return report!
  } finally {
    await server.stop()
    await fresh.drop()
  }
}

export async function runReads(o: BenchOptions, log: (s: string) => void): Promise<ReadsReport> {
  const machine = await describeMachine(o.database)
  const w = o.workload
  const watched = watches(w)
  log(`reads on ${o.database.dialect}: ${w.eas} EAs x ${fmt(w.ticks / w.eas)} ticks, ${WATCHERS} dashboards watching ticks, ${QUERIERS} querying; ${o.repeat} repetition(s)`)
  log('generating the rows for the ceiling ...')
  const rows = collectRows(w)
  const choice = await chooseCeiling(o.database, rows, Math.min(rows.ticks.count, o.quick ? 200_000 : 500_000), 1, log)
  log(`ceiling strategy: ${choice.best.name}`)
  const run = (companion: Companion, more: Partial<Parameters<typeof measure>[0]> = {}) =>
    measure({ target: 'engine', database: o.database, clientThreads: o.clientThreads, client: o.client, workload: w, engine: o.engine, companion, ...more })
  const plain: Run[] = []
  const busy: Run[] = []
  const ceiling: CeilingRun[] = []
  const busyReports: DashboardsReport[] = []
  let seeded: Seeded | undefined
  const busyPlan = (url: string, token: string): DashboardsPlan => ({
    url,
    token,
    watchers: watched.map(({ login, symbol }) => ({ login, symbol })),
    queriers: Array.from({ length: QUERIERS }, (_, i) => {
      const qs = busyQueries(w)
      return { queries: [...qs.slice(i % qs.length), ...qs.slice(0, i % qs.length)], pauseMs: QUERY_PAUSE_MS }
    }),
  })
  for (let r = 1; r <= o.repeat; r++) {
    const none = dashboards(o, (url, token) => ({ url, token, watchers: [], queriers: [] }), () => {})
    const p = await withCompanion(none, () => run(none))
    seeded = none.seeded()
    plain.push(p)
    log(`[${r}/${o.repeat}] engine, no dashboards ${fmt(p.ticksPerSec)} ticks/s${p.exact ? '' : ', STORED COUNTS DIFFER'}`)
    const withReaders = dashboards(o, busyPlan, (rep) => busyReports.push(rep))
    const b = await withCompanion(withReaders, () => run(withReaders))
    busy.push(b)
    const rep = busyReports[busyReports.length - 1]!
    log(
      `[${r}/${o.repeat}] engine, ${WATCHERS} watching + ${QUERIERS} querying ${fmt(b.ticksPerSec)} ticks/s${b.exact ? '' : ', STORED COUNTS DIFFER'}; ` +
        `events ${fmt(rep.watchers.reduce((n, x) => n + x.events, 0))}, gaps ${fmt(rep.watchers.reduce((n, x) => n + x.gaps, 0))}, queries ${fmt(rep.queries.reduce((n, q) => n + q.ms.length, 0))}`,
    )
    const c = await ceilingRun(o.database, rows, rows.ticks, choice.best)
    ceiling.push(c)
    log(`[${r}/${o.repeat}] ceiling ${fmt(c.ticksPerSec)} ticks/s`)
  }
  const plainTps = medianOf(plain, (x) => x.ticksPerSec)
  const halfRate = plainTps / 2
  const halfWorkload = { ...w, ticks: Math.max(w.eas * w.batchTicks * 4, Math.round(halfRate * o.halfLoadSeconds)) }
  const half = (companion: Companion) => run(companion, { workload: halfWorkload, ticksPerSec: halfRate, warmupMs: WARMUP_MS })

  const latency: Run[] = []
  const sendToEvent: number[] = []
  const ackToEvent: number[] = []
  const acks: number[] = []
  const counts = { matched: 0, unmatched: 0, gaps: 0 }
  for (let r = 1; r <= o.repeat; r++) {
    const c = dashboards(o, (url, token) => ({ url, token, watchers: watched.map(({ login, symbol }) => ({ login, symbol })), queriers: [] }), (rep, load) => {
      const l = eventLatencies(halfWorkload, watched, rep, load, WARMUP_MS)
      sendToEvent.push(...l.sendToEvent)
      ackToEvent.push(...l.ackToEvent)
      counts.matched += l.matched
      counts.unmatched += l.unmatched
      counts.gaps += l.gaps
      const first = Math.min(...load.eas.map((e) => e.firstSendAt))
      for (const e of load.eas) for (let i = 0; i < e.latencies.length; i++) if (e.sentAt[i]! >= first + WARMUP_MS) acks.push(e.latencies[i]!)
    })
    const h = await withCompanion(c, () => half(c))
    latency.push(h)
    log(`[${r}/${o.repeat}] half load ${fmt(h.ticksPerSec)} ticks/s with ${WATCHERS} watching: send -> event p99 so far ${fmt(percentiles(sendToEvent).p99, 1)} ms, ack -> event p99 ${fmt(percentiles(ackToEvent).p99, 1)} ms`)
  }

  const idle: DashboardsReport['queries'][] = []
  const ingesting: DashboardsReport['queries'][] = []
  const reads: Run[] = []
  for (let r = 1; r <= o.repeat; r++) {
    const i = await idleReads(o, o.halfLoadSeconds)
    idle.push(i.queries)
    log(`[${r}/${o.repeat}] reads, ingest idle: ${i.queries.map((q) => `${q.label} p50 ${fmt(percentiles(q.ms).p50, 1)} ms (${q.ms.length})`).join('; ')}`)
    const c = dashboards(o, (url, token) => ({ url, token, watchers: [], queriers: [{ queries: READS, pauseMs: 0 }] }), (rep) => ingesting.push(rep.queries))
    const h = await withCompanion(c, () => half(c))
    reads.push(h)
    const last = ingesting[ingesting.length - 1]!
    log(`[${r}/${o.repeat}] reads, ingest at ${fmt(h.ticksPerSec)} ticks/s: ${last.map((q) => `${q.label} p50 ${fmt(percentiles(q.ms).p50, 1)} ms (${q.ms.length})`).join('; ')}`)
  }

  log('timing the reads step by step ...')
  const readCost = await measureReadCost(o.database, READS, JOURNAL_ROWS, o.quick ? 3 : 7)

  if (o.profileDir) {
    log(`profiling one more busy engine run into ${o.profileDir} ...`)
    const c = dashboards(o, busyPlan, () => {})
    await withCompanion(c, () => run(c, { cpuProfileDir: o.profileDir }))
  }

  const ratioPlain = plain.map((x, i) => x.ticksPerSec / ceiling[i]!.ticksPerSec)
  const ratioBusy = busy.map((x, i) => x.ticksPerSec / ceiling[i]!.ticksPerSec)
  const busyOverPlain = busy.map((x, i) => x.ticksPerSec / plain[i]!.ticksPerSec)
  const busyWall = busyReports.reduce((n, x) => n + x.wallMs, 0)
  const report: ReadsReport = {
    scenario: 'reads',
    dialect: o.database.dialect,
    seeded: seeded!,
    watchers: WATCHERS,
    queriers: QUERIERS,
    queryPauseMs: QUERY_PAUSE_MS,
    engineTicksPerSec: round(plainTps),
    engineBusyTicksPerSec: round(medianOf(busy, (x) => x.ticksPerSec)),
    ceilingTicksPerSec: round(medianOf(ceiling, (x) => x.ticksPerSec)),
    ratioToCeiling: round(median(ratioPlain), 3),
    ratioToCeilingBusy: round(median(ratioBusy), 3),
    busyOverPlain: round(median(busyOverPlain), 3),
    ratios: { plain: ratioPlain.map((x) => round(x, 3)), busy: ratioBusy.map((x) => round(x, 3)), busyOverPlain: busyOverPlain.map((x) => round(x, 3)) },
    busyDashboards: {
      events: busyReports.reduce((n, x) => n + x.watchers.reduce((m, y) => m + y.events, 0), 0),
      ticks: busyReports.reduce((n, x) => n + x.watchers.reduce((m, y) => m + y.ticks, 0), 0),
      gaps: busyReports.reduce((n, x) => n + x.watchers.reduce((m, y) => m + y.gaps, 0), 0),
      dropped: busyReports.reduce((n, x) => n + x.watchers.reduce((m, y) => m + y.dropped, 0), 0),
      queries: figures(busyReports.map((x) => x.queries)),
      cores: round(busyReports.reduce((n, x) => n + x.cpuUserMs + x.cpuSystemMs, 0) / busyWall, 2),
    },
    halfLoadTicksPerSec: round(medianOf(latency, (x) => x.ticksPerSec)),
    sendToEvent: roundP(percentiles(sendToEvent)),
    ackToEvent: roundP(percentiles(ackToEvent)),
    ack: roundP(percentiles(acks)),
    latencyEvents: counts,
    readsIdle: figures(idle),
    readsIngesting: figures(ingesting),
    readsIngestTicksPerSec: round(medianOf(reads, (x) => x.ticksPerSec)),
    readCost,
    runs: { plain: plain.map(lean), busy: busy.map(lean), ceiling, latency: latency.map(lean), reads: reads.map(lean) },
    targets: [],
    exact: [...plain, ...busy, ...latency, ...reads].every((x) => x.exact),
    workload: w,
    engineSettings: engineSettings(o),
    machine: finishMachine(machine),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  }
  report.targets = targets(report)
  return report
}

function roundP(p: Percentiles): Percentiles {
  return { count: p.count, p50: round(p.p50, 2), p95: round(p.p95, 2), p99: round(p.p99, 2), max: round(p.max, 2), mean: round(p.mean, 2) }
}

/** A run without its per-thread detail the report does not use. */
function lean(r: Run): Run {
  const { rssSamples: _, ...server } = r.server
  return { ...r, ticksPerSec: round(r.ticksPerSec), seconds: round(r.seconds, 3), ack: roundP(r.ack), ackAll: roundP(r.ackAll), server }
}

function check(target: string, value: number, limit: number, higherIsBetter: boolean, applies = true): TargetCheck {
  const met = higherIsBetter ? value >= limit : value <= limit
  const margin = higherIsBetter ? value / limit - 1 : 1 - value / limit
  return { target, value, limit, met, applies, margin: round(margin, 3) }
}

function targets(r: ReadsReport): TargetCheck[] {
  const sqlite = r.dialect === 'sqlite'
  const list = [
    check(`engine >= 0.8 x ceiling with ${r.watchers} dashboards watching ticks and ${r.queriers} querying (SQLite)`, r.ratioToCeilingBusy, 0.8, true, sqlite),
    check('commit-to-dashboard p99 <= 50 ms at half load (taken as send -> event, an upper bound)', r.sendToEvent.p99, 50, false),
  ]
  for (const q of r.readsIngesting) list.push(check(`${q.label}: p99 <= 50 ms while ingest runs at half load`, q.ms.p99, 50, false))
  return list
}

export function formatReads(r: ReadsReport): string {
  const lines: string[] = []
  lines.push(`mt5-engine bench: reads (${r.dialect}), ${r.workload.eas} EAs, ${fmt(r.workload.ticks)} ticks at full rate, ${r.runs.plain.length} repetition(s)`)
  lines.push(`machine: ${r.machine.cores} x ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, Node ${r.machine.node}, ${r.machine.database}; load average ${fmt(r.machine.loadAverageStart, 2)} -> ${fmt(r.machine.loadAverageEnd ?? NaN, 2)}`)
  lines.push(`history seeded before each engine start: ${fmt(r.seeded.bars)} M1 bars of ${BARS_SYMBOL} (a month of weekdays), ${fmt(r.seeded.journal)} journal rows over 5 accounts and 4 symbols`)
  lines.push('')
  lines.push(`1. full-rate ingest with ${r.watchers} dashboards watching ticks (one streamed symbol each) and ${r.queriers} querying in a loop (${r.queryPauseMs} ms between answer and next query)`)
  lines.push(
    table(
      ['', 'ticks/s (median)', 'runs', '/ ceiling'],
      [
        ['engine, no dashboards', fmt(r.engineTicksPerSec), r.runs.plain.map((x) => fmt(x.ticksPerSec)).join(' / '), `${fmt(r.ratioToCeiling, 3)} (${r.ratios.plain.join(', ')})`],
        ['engine, dashboards busy', fmt(r.engineBusyTicksPerSec), r.runs.busy.map((x) => fmt(x.ticksPerSec)).join(' / '), `${fmt(r.ratioToCeilingBusy, 3)} (${r.ratios.busy.join(', ')})`],
        ['ceiling', fmt(r.ceilingTicksPerSec), r.runs.ceiling.map((x) => fmt(x.ticksPerSec)).join(' / '), ''],
      ],
    ),
  )
  lines.push(`with dashboards / without, same repetition: ${fmt(r.busyOverPlain, 3)} (${r.ratios.busyOverPlain.join(', ')})`)
  const cpu = (runs: Run[]) => {
    const m = (f: (x: Run['server']) => number) => fmt(medianOf(runs, (x) => f(x.server)), 2)
    return `${m((x) => x.mainCores)} + ${m((x) => x.writerCores)} + ${m((x) => x.otherCores)} cores, writer waiting for a CPU ${fmt(medianOf(runs, (x) => x.server.writerWaiting) * 100)}%`
  }
  lines.push(`engine CPU (main thread + writer + the rest, readers included): no dashboards ${cpu(r.runs.plain)}; dashboards busy ${cpu(r.runs.busy)}`)
  const d = r.busyDashboards
  lines.push(`the dashboards got ${fmt(d.events)} events (${fmt(d.ticks)} ticks), ${fmt(d.gaps)} gaps (${fmt(d.dropped)} deltas dropped); their process used ${fmt(d.cores, 2)} cores`)
  lines.push(queryTable(d.queries))
  lines.push('')
  lines.push(`2. commit to dashboard at half load (${fmt(r.halfLoadTicksPerSec)} ticks/s, ${r.watchers} watching, after ${WARMUP_MS / 1000} s; ${fmt(r.latencyEvents.matched)} events matched to their message, ${fmt(r.latencyEvents.unmatched)} not, ${fmt(r.latencyEvents.gaps)} gaps)`)
  lines.push(
    table(
      ['', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      [
        ['send -> event (upper bound: the EA sent it before the commit)', fmt(r.sendToEvent.count), fmt(r.sendToEvent.p50, 1), fmt(r.sendToEvent.p95, 1), fmt(r.sendToEvent.p99, 1), fmt(r.sendToEvent.max, 1)],
        ['ack -> event (the EA got its ack after the commit)', fmt(r.ackToEvent.count), fmt(r.ackToEvent.p50, 1), fmt(r.ackToEvent.p95, 1), fmt(r.ackToEvent.p99, 1), fmt(r.ackToEvent.max, 1)],
        ["the EAs' send -> ack, same runs", fmt(r.ack.count), fmt(r.ack.p50, 1), fmt(r.ack.p95, 1), fmt(r.ack.p99, 1), fmt(r.ack.max, 1)],
      ],
    ),
  )
  lines.push('')
  lines.push(`3. reads one after the other, ingest idle and ingest at half load (${fmt(r.readsIngestTicksPerSec)} ticks/s)`)
  lines.push(
    table(
      ['query', 'rows', 'frame', 'idle p50', 'idle p99', 'ingesting p50', 'p99', 'max', 'answers', 'p99 ingesting / idle'],
      r.readsIngesting.map((q) => {
        const i = r.readsIdle.find((x) => x.label === q.label)!
        return [q.label, fmt(q.rows), `${fmt(q.bytes / 1e6, 2)} MB`, fmt(i.ms.p50, 1), fmt(i.ms.p99, 1), fmt(q.ms.p50, 1), fmt(q.ms.p99, 1), fmt(q.ms.max, 1), `${q.ms.count} (idle ${i.ms.count})`, fmt(q.ms.p99 / i.ms.p99, 2)]
      }),
    ),
  )
  lines.push('where a read goes, step by step in the bench process with nothing else running (medians, ms; the answers above are timed up to the frame received, so without the decode):')
  lines.push(
    table(
      ['query', 'rows', 'SQL (read-only tx)', 'reader -> main (structured clone)', 'shape', 'encode frame', 'sum', 'dashboard decode'],
      r.readCost.map((c) => [c.label, fmt(c.rows), fmt(c.sqlMs, 1), fmt(c.cloneMs, 1), fmt(c.shapeMs, 1), fmt(c.encodeMs, 1), fmt(c.sqlMs + c.cloneMs + c.shapeMs + c.encodeMs, 1), fmt(c.decodeMs, 1)]),
    ),
  )
  lines.push('')
  lines.push(
    table(
      ['target', 'value', 'limit', 'met', 'margin'],
      r.targets.map((x) => [x.applies ? x.target : `(${x.target})`, fmt(x.value, 3), fmt(x.limit, 2), x.met ? 'yes' : x.applies ? 'NO' : 'no', Number.isFinite(x.margin) ? `${x.margin > 0 ? '+' : ''}${fmt(x.margin * 100, 1)}%` : 'n/a']),
    ),
  )
  lines.push(`stored exactly once in every run: ${r.exact ? 'yes' : 'NO'}`)
  return lines.join('\n')
}

function queryTable(qs: QueryFigures[]): string {
  return table(
    ['query', 'rows', 'answers', 'p50 ms', 'p99 ms', 'max ms', 'refused'],
    qs.map((q) => [q.label, fmt(q.rows), fmt(q.ms.count), fmt(q.ms.p50, 1), fmt(q.ms.p99, 1), fmt(q.ms.max, 1), Object.entries(q.errors).map(([k, v]) => `${k} ${v}`).join(', ') || '-']),
  )
}
