/**
 * The protocol's limits (docs/PROTOCOL.md section 8): what one frame, batch, string or session may
 * hold. The gateway and the validators read them from here; `welcome` tells a client the first
 * three, which the engine's configuration may change.
 */
import type { Welcome } from './messages.js'

/** The protocol's limits. `limits` holds the defaults; `welcome` tells a client the first three. */
export interface ProtocolLimits {
  /** Largest frame accepted, in bytes. Default 1 MiB. */
  readonly maxFrameBytes: number
  /** Ticks in one `tick_batch`. Default 5000. */
  readonly maxBatchTicks: number
  /** Unacknowledged durable messages an EA may have in flight. Default 16. */
  readonly maxInflight: number
  /** Bars in one `bar_batch`. Default 5000. */
  readonly maxBatchBars: number
  /** Rows in one `positions_snapshot`. Default 10000. */
  readonly maxPositions: number
  /** `hello` frames on one connection (one failed hello may be corrected). Default 2. */
  readonly maxHellos: number
  /** Frames other than `hello` before `welcome`: each is answered, the last one closes. Default 3. */
  readonly maxFramesBeforeHello: number
  /** Time from connect to a valid `hello` before the engine closes. Default 5000 ms. */
  readonly helloTimeoutMs: number
  /** Frames one connection may send within a second; the next is RATE_LIMITED (close 4008). Default 5000. */
  readonly maxFramesPerSecond: number
  /** How often the engine pings (WebSocket ping and `ping`); a missed pong drops the peer. Default 15000 ms. */
  readonly pingIntervalMs: number
  /** Bytes the engine holds unsent for a peer that does not read; past it, close 4011 (3.6). Default 8 MiB. */
  readonly maxOutboundBytes: number
  /** How long a peer may stay past `maxOutboundBytes` before the close. Default 5000 ms. */
  readonly outboundGraceMs: number
  /** Length of `token`, in UTF-8 bytes. Default 256. */
  readonly maxTokenBytes: number
  /** Length of ids (`instance_id`, `command_id`, `request_id`), in UTF-8 bytes. Default 128. */
  readonly maxIdBytes: number
  /** Length of symbol names, in UTF-8 bytes. Default 64. */
  readonly maxSymbolBytes: number
  /** Length of names, versions, comments, currencies and free-form map keys, in UTF-8 bytes. Default 128. */
  readonly maxNameBytes: number
  /** Length of free text (messages, reasons, descriptions, free-form map strings), in UTF-8 bytes. Default 8192. */
  readonly maxTextBytes: number
  /** Nesting of free-form maps (`metadata`, `payload`, `result`), the map itself counting 1. Default 8. */
  readonly maxMapDepth: number
  /** Values (at every level together) in one free-form map. Default 1000. */
  readonly maxMapValues: number
  /** Length of an SQL console statement, in UTF-8 bytes. Default 65536. */
  readonly maxSqlBytes: number
  /** `command_send.expires_in_ms` when absent. Default 60000. */
  readonly defaultCommandExpiresMs: number
  /** Largest `command_send.expires_in_ms`. Default 86400000 (a day). */
  readonly maxCommandExpiresMs: number
}

export const limits: ProtocolLimits = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxBatchTicks: 5000,
  maxInflight: 16,
  maxBatchBars: 5000,
  maxPositions: 10_000,
  maxHellos: 2,
  maxFramesBeforeHello: 3,
  helloTimeoutMs: 5000,
  maxFramesPerSecond: 5000,
  pingIntervalMs: 15_000,
  maxOutboundBytes: 8 * 1024 * 1024,
  outboundGraceMs: 5000,
  maxTokenBytes: 256,
  maxIdBytes: 128,
  maxSymbolBytes: 64,
  maxNameBytes: 128,
  maxTextBytes: 8192,
  maxMapDepth: 8,
  maxMapValues: 1000,
  maxSqlBytes: 65_536,
  defaultCommandExpiresMs: 60_000,
  maxCommandExpiresMs: 86_400_000,
})

/** `welcome.limits` for these limits. */
export function welcomeLimits(lim: ProtocolLimits = limits): Welcome['limits'] {
  return { max_frame_bytes: lim.maxFrameBytes, max_batch_ticks: lim.maxBatchTicks, max_inflight: lim.maxInflight }
}
