/**
 * The gateway's options with their defaults, its counters, and the services every connection of
 * it shares.
 */
import { Admission, type AdmissionOptions } from './admission.js'
import type { Connection } from './connection.js'
import { LineBudget } from './line-budget.js'
import type { CommandRouter } from '../commands/router.js'
import type { Ingest } from '../ingest/ingest.js'
import { silentLogger, type Logger } from '../log.js'
import { limits } from '../protocol/validate.js'
import type { QueryService } from '../query/service.js'
import type { LiveFeed } from '../subscriptions/live.js'
import type { WriterPool } from '../workers/writer-pool.js'

/** The gateway's options, with the admission limits for strangers (src/gateway/admission.ts). */
export interface GatewayOptions extends AdmissionOptions {
  host: string
  /** 0 picks a free port. */
  port: number
  /** Largest frame accepted; a larger one closes the connection with 1009. Default 1 MiB. */
  maxFrameBytes: number
  /** Unacknowledged durable messages an EA may have in flight (told in `welcome`). */
  maxInflight: number
  /** Frames per second one connection may send before RATE_LIMITED. */
  maxFramesPerSecond: number
  /** Ping interval; a peer that misses one pong is dropped. */
  heartbeatMs: number
  /** A WebSocket connection that has not sent a valid hello by then is closed. Default 5000. */
  helloTimeoutMs: number
  /**
   * A TCP connection that has not completed its HTTP request (the upgrade) by then is destroyed,
   * and so is one idle that long between requests. Default 5000.
   */
  handshakeTimeoutMs: number
  /** Authenticated sessions at most; more are closed at once with 1013. Strangers do not count. */
  maxConnections: number
  /**
   * Bytes the engine may hold unsent for one connection (its peer is not reading). Over this for
   * `outboundGraceMs`, or over twice this at any moment, the connection is closed with 4011.
   */
  maxOutboundBytes: number
  outboundGraceMs: number
  /** How long a closing connection waits for the peer's close frame before the socket is destroyed. */
  closeGraceMs: number
  /** The gateway's logger: admission and every connection log through children of it. Default silentLogger. */
  log?: Logger
}

export const defaultGatewayOptions: Readonly<GatewayOptions> = Object.freeze({
  host: '127.0.0.1',
  port: 8787,
  maxFrameBytes: limits.maxFrameBytes,
  maxInflight: limits.maxInflight,
  maxFramesPerSecond: limits.maxFramesPerSecond,
  heartbeatMs: limits.pingIntervalMs,
  helloTimeoutMs: limits.helloTimeoutMs,
  handshakeTimeoutMs: 5000,
  maxConnections: 1000,
  maxUnauthenticated: 128,
  maxUnauthenticatedPerAddress: 32,
  maxRefusedPerSecond: 1000,
  authFailureDelayMs: 250,
  maxAuthFailureDelayMs: 3000,
  log: silentLogger,
  maxOutboundBytes: limits.maxOutboundBytes,
  outboundGraceMs: limits.outboundGraceMs,
  closeGraceMs: 250,
})

export interface GatewayCounters {
  connections: number
  frames: number
  bytes: number
  errors: number
  /** Connections closed because they did not read what the engine sent them (4011). */
  slowConsumers: number
  /** Connections not yet authenticated, now. */
  unauthenticated: number
  /** TCP connections closed at once for want of an unauthenticated slot, or evicted to make one. */
  turnedAway: number
}

/** What the engine gives the gateway. */
export interface GatewayServices {
  pool: WriterPool
  ingest: Ingest
  commands: CommandRouter
  /** Typed queries, on the reader workers. */
  queries: QueryService
  /** Live topics for dashboards. */
  live: LiveFeed
}

/** What every connection of one gateway shares. */
export interface Deps extends GatewayServices {
  /** The connection that holds each stream (from its registration on): a new one replaces it. */
  streams: Map<number, Connection>
  /** Set once the engine stops accepting: hellos still being checked are answered SHUTTING_DOWN. */
  stopping: boolean
  admission: Admission
  /** Authenticated sessions now: what maxConnections limits. */
  sessions: number
  /** The gateway's logger (`component: 'gateway'`); each connection logs through a child of it. */
  log: Logger
  /**
   * Lines about single connections (refused, closed, errors answered) are debug and info chatter
   * that a flood multiplies: a budget for the gateway bounds them. Warnings and errors have a
   * budget of their own, so that chatter cannot crowd them out.
   */
  chatter: LineBudget
  alarms: LineBudget
}

export function gatewayDeps(options: GatewayOptions, services: GatewayServices): Deps {
  const log = (options.log ?? silentLogger).child({ component: 'gateway' })
  return {
    ...services,
    streams: new Map(),
    stopping: false,
    admission: new Admission({ ...options, log }),
    sessions: 0,
    log,
    chatter: new LineBudget(CHATTER_PER_SECOND),
    alarms: new LineBudget(ALARMS_PER_SECOND),
  }
}

/** Lines per second about single connections, over the whole gateway. */
const CHATTER_PER_SECOND = 100
const ALARMS_PER_SECOND = 20
