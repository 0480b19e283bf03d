/**
 * One measured run: a fresh database, the server under test in its own process, the EAs in the
 * load generator's process, readings before `go` and after the last acknowledgement, then a
 * graceful stop and a count of what the database holds.
 */
import { defaultOptions, type EngineOptions } from '../../src/config/resolve.js'
import type { IngestCounters } from '../../src/ingest/ingest.js'
import { eaToken, freshDatabase, storedCounts, type DatabaseTarget, type StoredCounts } from './databases.js'
import { cpuSplit, startServer, type ServerProcess } from './engine-process.js'
import { runLoad } from './load.js'
import type { HostStats, LoadResult, Target } from './messages.js'
import { percentiles, type Percentiles } from './stats.js'
import { totals, type WorkloadOptions } from './workload.js'

export interface RunOptions {
  target: Target
  database: DatabaseTarget
  workload: WorkloadOptions
  /** Engine options (batchRows, flushMs, writers, maxInflight, maxPendingBytes, writeDelayMs). */
  engine: Partial<EngineOptions>
  /** Paced: ticks per second of all EAs together; undefined: as fast as acknowledgements allow. */
  ticksPerSec?: number
  /** Naive: ticks per EA. */
  naiveTicksPerEa?: number
  cpuProfileDir?: string
  /** Worker threads of the load generator the EAs are spread over (default 1). */
  clientThreads?: number
  /** The EA client: the SDK's connectEA (default) or pre-encoded frames. */
  client?: 'sdk' | 'raw'
  /** Latency statistics leave out messages sent in the first this many ms (connections and JIT warming up). */
  warmupMs?: number
  /** Sample the server's RSS this often (ms) and return the series. */
  rssSampleMs?: number
  /** Something else that runs against the engine in the same run (dashboards: bench/reads.ts). */
  companion?: Companion
}

/**
 * What runs beside the EAs in a measured run, in the run's own order: on the fresh database
 * before the engine starts, once the engine listens, at go, and after the last acknowledgement
 * (after the run's readings, so that stopping it is not measured).
 */
export interface Companion {
  /** Seed rows, make tokens: the engine is not running yet. */
  prepare?(database: string): Promise<void>
  /** The engine listens at `url`; the EAs are not connected yet. */
  start(url: string): Promise<void>
  /** The EAs are told to go, now. */
  go?(): void
  /** Every EA is acknowledged; `load` is what they measured. */
  stop(load: LoadResult): Promise<void>
}

export interface Run {
  target: Target
  ticks: number
  messages: number
  /** First send to last acknowledgement. */
  seconds: number
  ticksPerSec: number
  /** Frame bytes per second, MB = 10^6 bytes. */
  mbPerSec: number
  /** Acknowledgement latency of the messages sent after the warm-up. */
  ack: Percentiles
  /** The same, warm-up included. */
  ackAll: Percentiles
  /** Commit-to-bar lag of the engine's latest aggregation passes when the load ended, ms (absent when it builds no bars). */
  barLag?: Percentiles
  /** Ticks the aggregator read back from the database per tick ingested, and its rounds, during the run. */
  /**
   * Bar work over the run: ticks the aggregator read back per tick stored, rounds, and per symbol
   * batch whether the writer built M1 with the ticks or left it to be built from them.
   */
  barReads?: { perTick: number; rounds: number; builtByWriter: number; leftFromTicks: number; writerReadBackPerTick: number }
  /** Paced runs: sends that left late because the window was full. */
  lateSends: number
  server: {
    /** CPU cores busy on average (CPU time / wall time): whole process, main thread, writer thread(s), the rest. */
    cores: number
    mainCores: number
    writerCores: number
    otherCores: number
    /** CPU microseconds per tick: whole process, main thread, writers. */
    usPerTick: number
    mainUsPerTick: number
    writerUsPerTick: number
    /** Share of the wall time runnable but waiting for a CPU (the machine's other threads had it). */
    mainWaiting: number
    writerWaiting: number
    /** VmHWM: the process's peak resident memory since it started, MB. */
    peakRssMb: number
    rssEndMb: number
    rssSamples?: { at: number; rss: number }[]
  }
  loadGenerator: { cores: number; usPerTick: number }
  /** Where the time of an average message goes inside the engine (engine runs only), ms. */
  time?: TimeBreakdown
  /** Engine counters over the run. */
  counters?: Partial<IngestCounters>
  stored: StoredCounts
  /** The database holds exactly the rows sent, once each. */
  exact: boolean
}

export interface TimeBreakdown {
  batches: number
  ticksPerBatch: number
  messagesPerBatch: number
  /** Average per message: waiting in ingest for its batch to be handed to the writer. */
  queueWaitMs: number
  /** Average per batch: from hand-off to the result coming back, less the transaction. */
  handOffMs: number
  /** Average per batch: inside the writer's transaction, BEGIN to COMMIT. */
  commitMs: number
  /** Share of the writer's wall time spent inside transactions. */
  writerBusy: number
  /** Pauses of reading from a socket because of the memory bounds. */
  pauses: number
  peakPendingBytes: number
}

const MB = 1e6

/**
 * Paced runs measure latency after this much time: the first messages meet a writer that has
 * prepared no statement yet and code V8 has not optimised (about 40 ms, once).
 */
export const WARMUP_MS = 1000

export async function measure(o: RunOptions): Promise<Run> {
  const fresh = await freshDatabase(o.database, o.target)
  let server: ServerProcess | undefined
  try {
    const token = o.target === 'engine' ? await eaToken(fresh.database, o.database.synchronous) : ''
    await o.companion?.prepare?.(fresh.database)
    server =
      o.target === 'engine'
        ? await startServer({
            module: 'engine-host.js',
            args: { database: fresh.database, synchronous: o.database.synchronous, ...o.engine },
            ...(o.cpuProfileDir !== undefined && { cpuProfileDir: o.cpuProfileDir }),
          })
        : await startServer({ module: 'naive-server.js', args: { database: fresh.database, dialect: o.database.dialect, synchronous: o.database.synchronous } })
    const s = server
    await o.companion?.start(s.url)
    const window = o.engine.maxInflight ?? defaultOptions.maxInflight
    let before: { times: ReturnType<ServerProcess['threadTimes']>; stats: HostStats } | undefined
    let stopRss: (() => { at: number; rss: number }[]) | undefined
    let peakPending = 0
    let pendingTimer: NodeJS.Timeout | undefined
    // a run slower than this (the naive way on PostgreSQL does ~5,000 ticks/s) is stuck: fail it
    // rather than wait forever
    const slowest = o.target === 'naive' ? 500 : 5000
    const limitMs = Math.max(60_000, ((o.target === 'naive' ? (o.naiveTicksPerEa ?? 0) * o.workload.eas : o.workload.ticks) / slowest) * 1000)
    let watchdog: NodeJS.Timeout | undefined
    const tooLong = new Promise<never>((_, reject) => {
      watchdog = setTimeout(() => reject(new Error(`the run took longer than ${Math.round(limitMs / 1000)} s`)), limitMs)
    })
    tooLong.catch(() => {})
    const result: LoadResult = await runLoad(
      {
        target: o.target, url: s.url, token, workload: o.workload, window, ticksPerSec: o.ticksPerSec,
        naiveTicksPerEa: o.naiveTicksPerEa ?? 0, threads: o.clientThreads ?? 1, client: o.client ?? 'sdk',
      },
      async () => {
        before = { times: s.threadTimes(), stats: await s.stats() }
        if (o.rssSampleMs) stopRss = s.sampleRss(o.rssSampleMs)
        if (o.target === 'engine') {
          pendingTimer = setInterval(() => {
            s.stats().then((st) => (peakPending = Math.max(peakPending, st.ingest.pendingBytes)), () => {})
          }, 50)
        }
        o.companion?.go?.()
      },
      Promise.race([s.died, tooLong]),
    ).finally(() => {
      clearTimeout(watchdog)
      clearInterval(pendingTimer)
    })
    const afterTimes = s.threadTimes()
    const afterStats = await s.stats()
    const mem = s.memory()
    const rssSamples = stopRss?.()
    await o.companion?.stop(result)
    await s.stop()
    server = undefined
    const stored = await storedCounts(fresh.database, o.database.synchronous)
    return summarise(o, result, before!, { times: afterTimes, stats: afterStats }, mem, stored, rssSamples, peakPending, s.pid)
  } finally {
    server?.kill()
    await fresh.drop()
  }
}

function summarise(
  o: RunOptions,
  result: LoadResult,
  before: { times: ReturnType<ServerProcess['threadTimes']>; stats: HostStats },
  after: { times: ReturnType<ServerProcess['threadTimes']>; stats: HostStats },
  mem: { rss: number; hwm: number },
  stored: StoredCounts,
  rssSamples: { at: number; rss: number }[] | undefined,
  peakPending: number,
  pid: number,
): Run {
  const eas = result.eas
  const first = Math.min(...eas.map((e) => e.firstSendAt))
  const last = Math.max(...eas.map((e) => e.lastAckAt))
  const seconds = (last - first) / 1000
  const ticks = eas.reduce((n, e) => n + e.ticks, 0)
  const messages = eas.reduce((n, e) => n + e.messages, 0)
  const bytes = eas.reduce((n, e) => n + e.bytes, 0)
  const latencies = new Float64Array(messages)
  const steady: number[] = []
  const warm = first + (o.warmupMs ?? 0)
  let at = 0
  for (const e of eas) {
    latencies.set(e.latencies, at)
    at += e.latencies.length
    for (let i = 0; i < e.latencies.length; i++) if (e.sentAt[i]! >= warm) steady.push(e.latencies[i]!)
  }
  const writers = o.database.dialect === 'sqlite' ? 1 : (o.engine.writers ?? 2)
  const split = cpuSplit(pid, before.times, after.times, o.target === 'engine' ? writers : 0)
  const wall = split.wallMs
  const cpuMs = after.stats.cpuUserMs + after.stats.cpuSystemMs - before.stats.cpuUserMs - before.stats.cpuSystemMs
  const loadMs = result.cpuUserMs + result.cpuSystemMs
  const expected = o.target === 'engine' ? totals(o.workload) : undefined
  const exact = expected
    ? stored.ticks === expected.ticks && stored.deals === expected.deals && stored.snapshots === expected.snapshots && stored.lastSeqs === expected.messages
    : stored.ticks === ticks
  const run: Run = {
    target: o.target,
    ticks,
    messages,
    seconds,
    ticksPerSec: ticks / seconds,
    mbPerSec: bytes / MB / seconds,
    ack: percentiles(steady),
    ackAll: percentiles(latencies),
    lateSends: eas.reduce((n, e) => n + e.lateSends, 0),
    server: {
      cores: cpuMs / wall,
      mainCores: split.mainMs / wall,
      writerCores: split.writerMs / wall,
      otherCores: split.otherMs / wall,
      usPerTick: (cpuMs * 1000) / ticks,
      mainUsPerTick: (split.mainMs * 1000) / ticks,
      writerUsPerTick: (split.writerMs * 1000) / ticks,
      mainWaiting: split.mainWaiting,
      writerWaiting: split.writerWaiting,
      peakRssMb: mem.hwm / MB,
      rssEndMb: mem.rss / MB,
      ...(rssSamples && { rssSamples }),
    },
    loadGenerator: { cores: loadMs / wall, usPerTick: (loadMs * 1000) / ticks },
    stored,
    exact,
    ...(after.stats.bars && { barLag: after.stats.bars.lag }),
    ...(after.stats.bars && before.stats.bars && {
      barReads: {
        perTick: (after.stats.bars.ticksRead - before.stats.bars.ticksRead) / ticks,
        rounds: after.stats.bars.rounds - before.stats.bars.rounds,
        builtByWriter: after.stats.bars.builtByWriter - before.stats.bars.builtByWriter,
        leftFromTicks: after.stats.bars.leftFromTicks - before.stats.bars.leftFromTicks,
        writerReadBackPerTick: (after.stats.bars.writerReadBack - before.stats.bars.writerReadBack) / ticks,
      },
    }),
  }
  if (o.target === 'engine') {
    const c0 = before.stats.ingest
    const c1 = after.stats.ingest
    const d = (k: keyof IngestCounters) => ((c1[k] as number | undefined) ?? 0) - ((c0[k] as number | undefined) ?? 0)
    const batches = d('batches')
    const msgs = d('messages')
    run.counters = { batches, ticks: d('ticks'), records: d('records'), messages: msgs, pauses: d('pauses') }
    run.time = {
      batches,
      ticksPerBatch: d('ticks') / batches,
      messagesPerBatch: msgs / batches,
      queueWaitMs: d('queueWaitMs') / msgs,
      handOffMs: (d('writeMs') - d('commitMs')) / batches,
      commitMs: d('commitMs') / batches,
      writerBusy: d('commitMs') / wall / writers,
      pauses: d('pauses'),
      peakPendingBytes: peakPending,
    }
  }
  return run
}
