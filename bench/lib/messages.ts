/**
 * Messages between the bench's processes and threads, as plain data: the orchestrator, the engine
 * host, the naive server, the load generator and its EA threads.
 */
import type { BarSchedulerCounters } from '../../src/aggregate/scheduler.js'
import type { IngestCounters } from '../../src/ingest/ingest.js'
import type { Percentiles } from './stats.js'
import type { WorkloadOptions } from './workload.js'

// --- engine host and naive server <-> orchestrator ---------------------------------------------

export type HostRequest = { type: 'stats' } | { type: 'stop' }

export interface HostStats {
  /** Wall clock, epoch ms (fractional). */
  at: number
  ingest: IngestCounters
  gateway: { connections: number; frames: number; bytes: number; errors: number } | undefined
  cpuUserMs: number
  cpuSystemMs: number
  rssBytes: number
  maxRssBytes: number
  /** The main thread's V8 heap and what lives outside it (buffers), bytes. */
  heapUsedBytes: number
  heapTotalBytes: number
  externalBytes: number
  /** Of the main thread, since the process started. */
  eventLoopUtilization: number
  /** The bar aggregator, when the engine builds bars: passes so far and the commit-to-bar lag of the latest ones, ms. */
  bars?: BarSchedulerCounters & { lag: Percentiles }
}

export type HostReply =
  | { type: 'listening'; url: string; pid: number }
  | { type: 'stats'; stats: HostStats }
  | { type: 'stopped'; stats: HostStats }
  | { type: 'failed'; message: string }

// --- load generator <-> orchestrator -----------------------------------------------------------

export type Target = 'engine' | 'naive'

export interface LoadPlan {
  target: Target
  url: string
  /** An `ea` token (engine only). */
  token: string
  workload: WorkloadOptions
  /** Durable messages an EA keeps unacknowledged at most (the engine's max_inflight). */
  window: number
  /** Ticks per second all EAs together send, evenly paced; undefined: as fast as acks allow. */
  ticksPerSec: number | undefined
  /** Naive only: ticks each EA sends (a prefix of its workload). */
  naiveTicksPerEa: number
  /** Worker threads the EAs are spread over. */
  threads: number
  /** Engine target: the SDK's connectEA, or frames encoded before go. */
  client: 'sdk' | 'raw'
}

export type LoadRequest = { type: 'start'; plan: LoadPlan } | { type: 'go' }

export interface EaResult {
  index: number
  messages: number
  ticks: number
  /** Frame bytes put on the wire. */
  bytes: number
  /** Wall clock, epoch ms. */
  firstSendAt: number
  lastAckAt: number
  /** Per message: send to acknowledgement, ms. */
  latencies: Float64Array
  /** Per message: when it went on the wire, epoch ms. */
  sentAt: Float64Array
  /** Paced runs: sends that left more than 5 ms after their slot (the engine held the window full). */
  lateSends: number
  reconnects: number
  errors: number
}

export interface LoadResult {
  eas: EaResult[]
  /** The load generator process, all its threads. */
  cpuUserMs: number
  cpuSystemMs: number
}

export type LoadReply = { type: 'ready' } | { type: 'done'; result: LoadResult } | { type: 'failed'; message: string }

// --- load generator <-> client threads ---------------------------------------------------------

export interface ClientThreadData {
  plan: LoadPlan
  /** The EAs this thread runs. */
  eas: number[]
}

export type ThreadCommand = { type: 'go'; at: number }

export type ThreadReply = { type: 'ready' } | { type: 'done'; results: EaResult[] } | { type: 'failed'; message: string }

// --- dashboards process <-> orchestrator (bench/lib/dashboards.ts) ------------------------------

/** One dashboard watching the ticks of one symbol of one account. */
export interface TickWatch {
  login: number
  symbol: string
}

/** One typed query a dashboard runs, as the protocol's `query` message carries it. */
export interface QuerySpec {
  /** The name the report gives it. */
  label: string
  query: string
  params: Record<string, unknown>
  limit?: number
  order?: 'asc' | 'desc'
}

export interface DashboardsPlan {
  url: string
  /** A viewer token. */
  token: string
  /** One dashboard per entry, subscribed to that symbol's ticks. */
  watchers: TickWatch[]
  /** One dashboard per entry, running its queries in turn, one at a time, from `go` to `stop`. */
  queriers: { queries: QuerySpec[]; pauseMs: number }[]
}

export type DashboardsRequest = { kind: 'start'; plan: DashboardsPlan } | { kind: 'go' } | { kind: 'stop' }

export interface WatchRecord {
  watcher: number
  snapshots: number
  events: number
  ticks: number
  gaps: number
  /** What the gaps said was dropped. */
  dropped: number
  /** Per event: its last tick's time_msc, its tick count, and when its frame arrived (epoch ms). */
  lastTime: Float64Array
  count: Uint32Array
  arrivedAt: Float64Array
}

export interface QueryRecord {
  label: string
  /** Per answer: from the request written to the socket to the answer's frame received, ms (decode not included). */
  ms: number[]
  /** Rows of the last answer. */
  rows: number
  /** Bytes of the last answer's frame. */
  bytes: number
  /** Refusals by error code. */
  errors: Record<string, number>
}

export interface DashboardsReport {
  watchers: WatchRecord[]
  queries: QueryRecord[]
  /** This process from `go` to `stop`. */
  cpuUserMs: number
  cpuSystemMs: number
  wallMs: number
}

export type DashboardsReply = { kind: 'started' } | { kind: 'report'; report: DashboardsReport } | { kind: 'failed'; message: string }
