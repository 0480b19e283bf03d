/**
 * Every message on the wire, as plain interfaces. docs/PROTOCOL.md is the contract these follow;
 * docs/protocol-vectors.json pins their exact bytes.
 *
 * A frame is one binary WebSocket message holding one plain MessagePack map with a `type` string.
 * Times are integer milliseconds (MT5 server time for market and trade times, as sent). Prices and
 * money are float64. Durable EA messages carry `seq`: 1, 2, 3 ... per stream, never reused.
 */

export const PROTOCOL_VERSION = 1

// ---------------------------------------------------------------------------------------------
// EA -> engine

export interface HelloAccount {
  login: number
  server: string
  company?: string
  currency?: string
  leverage?: number
  /** ACCOUNT_MARGIN_MODE: 0 retail netting, 1 exchange, 2 retail hedging. */
  margin_mode?: number
  /** ACCOUNT_TRADE_MODE: 0 demo, 1 contest, 2 real. */
  trade_mode?: number
  /** Broker server time minus UTC, in seconds (TimeTradeServer() - TimeGMT()). */
  server_utc_offset_s?: number
}

export interface HelloEa {
  name: string
  version?: string
  magic?: number
  symbol?: string
  /** Chart timeframe: M1 ... MN1. */
  timeframe?: string
  strategy?: string
}

export interface EaHello {
  type: 'hello'
  protocol: number
  role: 'ea'
  token: string
  /** A persistent id the EA keeps across restarts (one per EA instance on a chart). */
  instance_id: string
  bridge?: { name: string; version: string }
  terminal_build?: number
  account: HelloAccount
  ea: HelloEa
  /** The last sequence number the EA saw acknowledged, for diagnostics; `welcome.resume_seq` rules. */
  last_acked_seq?: number
}

export interface SymbolSpec {
  type: 'symbol_spec'
  seq: number
  symbol: string
  digits: number
  point: number
  contract_size?: number
  tick_size?: number
  tick_value?: number
  currency_base?: string
  currency_profit?: string
  currency_margin?: string
  volume_min?: number
  volume_max?: number
  volume_step?: number
  description?: string
  /**
   * SYMBOL_CHART_MODE, the price the symbol's bars are built from: 0 Bid (FX, CFDs), 1 Last
   * (exchange symbols). Absent keeps what the engine stored before (`bid` for a new symbol).
   */
  chart_mode?: number
}

/**
 * One symbol's ticks, one array per field, all the same length (1 .. max_batch_ticks). Prices are
 * >= 0: `last` is 0 on FX and CFD symbols, `bid`/`ask` may be 0 on exchange symbols where only
 * `last` moves. `volume` is MqlTick.volume (an integer), `volume_real` MqlTick.volume_real.
 */
export interface TickBatch {
  type: 'tick_batch'
  seq: number
  symbol: string
  time_msc: number[]
  bid: number[]
  ask: number[]
  last: number[]
  volume: number[]
  volume_real: number[]
  /** MqlTick.flags as received (2 BID, 4 ASK, 8 LAST, 16 VOLUME, 32 BUY, 64 SELL; other bits kept). */
  flags: number[]
  /**
   * How many ticks at `time_msc[0]` earlier batches already sent (the EA's CopyTicksRange cursor
   * count), so each tick's index within its millisecond, part of its stored key, is the same on
   * every replay. Default 0. Ticks are in time order.
   */
  first_index?: number
  /** Present when the EA dropped ticks before this batch (its ring overflowed). */
  gap?: { dropped: number; from_msc: number; to_msc: number }
}

export interface BarBatch {
  type: 'bar_batch'
  seq: number
  symbol: string
  timeframe: string
  /** Bar open time, server time in ms. */
  time: number[]
  open: number[]
  high: number[]
  low: number[]
  close: number[]
  tick_volume: number[]
  real_volume: number[]
  spread: number[]
}

export interface Deal {
  type: 'deal'
  seq: number
  ticket: number
  order: number
  position_id: number
  time_msc: number
  /** DEAL_TYPE: 0 buy, 1 sell, 2 balance, ... */
  deal_type: number
  /** DEAL_ENTRY: 0 in, 1 out, 2 inout, 3 out_by. */
  entry: number
  symbol: string
  volume: number
  price: number
  profit: number
  commission: number
  swap: number
  fee: number
  magic: number
  /** DEAL_REASON. */
  reason: number
  comment?: string
  external_id?: string
  sl?: number
  tp?: number
}

export interface OrderEvent {
  type: 'order_event'
  seq: number
  ticket: number
  time_msc: number
  symbol: string
  /** ORDER_TYPE. */
  order_type: number
  /** ORDER_STATE. */
  state: number
  volume_initial: number
  volume_current: number
  price_open: number
  sl?: number
  tp?: number
  magic?: number
  position_id?: number
  comment?: string
  /** TRADE_TRANSACTION_TYPE of the OnTradeTransaction event that reported it (0 order_add .. 10 request). */
  event?: number
}

export interface PositionRow {
  /** POSITION_IDENTIFIER: the key (a ticket can change). */
  identifier: number
  ticket: number
  symbol: string
  /** POSITION_TYPE: 0 buy, 1 sell. */
  position_type: number
  volume: number
  price_open: number
  price_current: number
  sl: number
  tp: number
  profit: number
  swap: number
  magic: number
  time_msc: number
  comment?: string
}

/** Every open position of the account at `time_msc`; positions not listed are closed. */
export interface PositionsSnapshot {
  type: 'positions_snapshot'
  seq: number
  time_msc: number
  positions: PositionRow[]
}

export interface AccountSnapshot {
  type: 'account_snapshot'
  seq: number
  time_msc: number
  balance: number
  equity: number
  margin: number
  free_margin: number
  /** Percent; 0 when there is no margin in use. */
  margin_level: number
  profit: number
  open_positions: number
  open_volume: number
}

/** `ea_status.state`. */
export const EA_STATES = ['running', 'paused', 'stopping', 'error'] as const

export interface EaStatus {
  type: 'ea_status'
  seq: number
  time_msc: number
  state: (typeof EA_STATES)[number]
  terminal_trade_allowed: boolean
  ea_trade_allowed: boolean
  queue_depth: number
  dropped_ticks: number
  last_error?: number
  message?: string
  /** TERMINAL_CONNECTED: whether the terminal is connected to the broker's trade server. */
  connected?: boolean
}

/** `signal.signal_type`. */
export const SIGNAL_TYPES = ['buy', 'sell', 'close', 'hold'] as const

export interface Signal {
  type: 'signal'
  seq: number
  time_msc: number
  symbol: string
  signal_type: (typeof SIGNAL_TYPES)[number]
  price: number
  /** 0 .. 1. */
  confidence?: number
  strategy?: string
  timeframe?: string
  reason?: string
  metadata?: Record<string, unknown>
  /** The EA's own id for the signal, so a resent signal is stored once (the engine uses `seq:<seq>` when absent). */
  signal_id?: string
}

/** `log.level`: the EA's own levels (not the engine's log levels). */
export const EA_LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const

export interface Log {
  type: 'log'
  seq: number
  time_msc: number
  level: (typeof EA_LOG_LEVELS)[number]
  message: string
}

export const COMMAND_ACK_STATUSES = ['accepted', 'rejected', 'duplicate', 'expired'] as const

export type CommandAckStatus = (typeof COMMAND_ACK_STATUSES)[number]

export interface CommandAck {
  type: 'command_ack'
  seq: number
  command_id: string
  status: CommandAckStatus
  reason?: string
}

export interface CommandResult {
  type: 'command_result'
  seq: number
  command_id: string
  ok: boolean
  result?: Record<string, unknown>
  error?: string
}

export interface Goodbye {
  type: 'goodbye'
  reason?: string
}

/** EA messages the engine stores and acknowledges by `seq`. */
export type DurableMessage =
  | SymbolSpec
  | TickBatch
  | BarBatch
  | Deal
  | OrderEvent
  | PositionsSnapshot
  | AccountSnapshot
  | EaStatus
  | Signal
  | Log
  | CommandAck
  | CommandResult

export type EaMessage = EaHello | DurableMessage | Goodbye

// ---------------------------------------------------------------------------------------------
// Dashboard -> engine

export interface DashboardHello {
  type: 'hello'
  protocol: number
  role: 'dashboard'
  token: string
}

export const COMMAND_TYPES = ['pause', 'resume', 'close_positions', 'close_all', 'set_risk', 'custom'] as const

export type CommandType = (typeof COMMAND_TYPES)[number]

/** Exactly one way of naming the target. */
export type CommandTarget =
  | { instance_id: string }
  | { login: number; server: string; magic: number }
  | { login: number; server: string }

export interface CommandSend {
  type: 'command_send'
  /** The dashboard's own id for matching the answer. */
  request_id: string
  /** Optional client-chosen id, making a resend of the same command harmless. */
  command_id?: string
  command: CommandType
  target: CommandTarget
  payload?: Record<string, unknown>
  /** Milliseconds from now after which the command must not be delivered. Default 60000. */
  expires_in_ms?: number
}

/** A typed query (docs/QUERIES.md): one page of rows, and the cursor of the next. */
export interface QueryMessage {
  type: 'query'
  request_id: string
  /** The query's name: deals, positions, bars, ... */
  query: string
  /** Its filters, by name; each query lists those it takes. */
  params?: Record<string, unknown>
  /** Rows per page: default 1000, at most the query's maximum. */
  limit?: number
  /** The `next_cursor` of the page before. */
  cursor?: string
  /** Each query has its own default: newest first for feeds, oldest first for series. */
  order?: 'asc' | 'desc'
}

/** One read-only SELECT on the SQL console; admin tokens only. */
export interface SqlMessage {
  type: 'sql'
  request_id: string
  sql: string
  /** Rows at most: default and maximum are the engine's sqlRowLimit. */
  limit?: number
}

/** A live topic: its snapshot, then its changes as they commit (docs/SUBSCRIPTIONS.md). */
export interface SubscribeMessage {
  type: 'subscribe'
  request_id: string
  /** ticks, bars, positions, account, journal, ea_status, commands, notifications */
  topic: string
  params?: Record<string, unknown>
}

export interface UnsubscribeMessage {
  type: 'unsubscribe'
  request_id: string
  subscription_id: number
}

/** Marks notifications read (viewer or admin). */
export interface NotificationsRead {
  type: 'notifications_read'
  request_id: string
  ids: number[]
}

export type DashboardMessage = DashboardHello | CommandSend | QueryMessage | SqlMessage | SubscribeMessage | UnsubscribeMessage | NotificationsRead

// ---------------------------------------------------------------------------------------------
// Engine -> EA and dashboard

export interface Welcome {
  type: 'welcome'
  protocol: number
  /** EA streams only. */
  stream_id?: number
  /** EA streams only: every seq up to this one is stored; send from resume_seq + 1. */
  resume_seq?: number
  role: 'ea' | 'viewer' | 'admin'
  /** The engine's clock: Unix time in ms, UTC (not the broker's server time). */
  server_time: number
  limits: {
    max_frame_bytes: number
    max_batch_ticks: number
    /** Unacknowledged durable messages the EA may have in flight. */
    max_inflight: number
  }
}

export interface Ack {
  type: 'ack'
  /** Cumulative: every message up to and including seq is committed. */
  seq: number
}

export interface ErrorFrame {
  type: 'error'
  code: ProtocolErrorCode
  message: string
  /** The seq of the message that caused it, where there was one. */
  seq?: number
  /** The field at fault, as a path (`time_msc[3]`). */
  field?: string
  /** The `request_id` of the dashboard message that caused it, where there was one. */
  request_id?: string
  /** SQL_REFUSED only: the reason, one of the console's refusal codes (docs/SECURITY.md). */
  refusal?: string
}

export interface Ping {
  type: 'ping'
  /** The engine's clock: Unix time in ms, UTC (not the broker's server time). */
  server_time: number
}

export type CommandStatus =
  | 'pending'
  | 'delivered'
  | 'accepted'
  | 'rejected'
  | 'duplicate'
  | 'expired'
  | 'succeeded'
  | 'failed'

export interface Command {
  type: 'command'
  command_id: string
  command: CommandType
  payload: Record<string, unknown>
  /** The engine's clock, Unix ms UTC. The EA refuses the command (`expired`) after `expires_at`. */
  created_at: number
  expires_at: number
}

export interface CommandStatusUpdate {
  type: 'command_status'
  request_id?: string
  command_id: string
  status: CommandStatus
  command: CommandType
  /** The engine's clock, Unix ms UTC. */
  updated_at: number
  reason?: string
  result?: Record<string, unknown>
}

export interface QueryResult {
  type: 'query_result'
  request_id: string
  query: string
  columns: string[]
  /** Each row an array, in `columns` order. */
  rows: unknown[][]
  /** Where the next page starts; nil on the last page. */
  next_cursor: string | null
}

export interface SqlResult {
  type: 'sql_result'
  request_id: string
  columns: string[]
  rows: unknown[][]
  /** More rows than the limit were there. */
  truncated: boolean
  elapsed_ms: number
}

/** The answer to a request that returns nothing else (unsubscribe, notifications_read). */
export interface Done {
  type: 'done'
  request_id: string
  /** notifications_read: how many were marked. */
  count?: number
}

export type EngineMessage = Welcome | Ack | ErrorFrame | Ping | Command | CommandStatusUpdate | QueryResult | SqlResult | Done | SubscriptionFrame

/** The frames of a live subscription (src/subscriptions/hub.ts). */
export type SubscriptionFrame =
  | { type: 'subscribed'; request_id?: string; subscription_id: number; topic: string }
  | { type: 'snapshot'; subscription_id: number; topic: string; data: unknown }
  | { type: 'event'; subscription_id: number; topic: string; data: unknown }
  | { type: 'gap'; subscription_id: number; topic: string; dropped: number; reason: string }
  | { type: 'unsubscribed'; subscription_id: number; topic: string; reason?: string }

// ---------------------------------------------------------------------------------------------
// Errors and close codes

export const ProtocolErrors = {
  /** The frame is not binary, or not valid MessagePack. */
  BAD_FRAME: 'BAD_FRAME',
  /** Valid MessagePack, but not a map with a string `type`. */
  BAD_MESSAGE: 'BAD_MESSAGE',
  /** A field is missing, of the wrong type, or out of range (NaN, negative price, ragged columns). */
  BAD_FIELD: 'BAD_FIELD',
  /** `type` is not a message of the connection's role. */
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  /** Anything but `hello` before `welcome`, or no hello in time. */
  HELLO_REQUIRED: 'HELLO_REQUIRED',
  /** `hello.protocol` is a version this engine does not speak. */
  UNSUPPORTED_PROTOCOL: 'UNSUPPORTED_PROTOCOL',
  /** An unknown, revoked or expired token. */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The token may not do this: its role, or its scope, or another token streams the instance. */
  FORBIDDEN: 'FORBIDDEN',
  /** A frame above `max_frame_bytes`. */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** Too many frames per second on the connection, or refused frames from its address. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A seq skipped ahead of the next expected one. */
  SEQ_GAP: 'SEQ_GAP',
  /** A seq went backwards within a connection. */
  SEQ_REGRESSION: 'SEQ_REGRESSION',
  /** A durable message beyond `max_inflight` unacknowledged ones. */
  INFLIGHT_EXCEEDED: 'INFLIGHT_EXCEEDED',
  /** The peer left more than the engine holds for it unread. */
  SLOW_CONSUMER: 'SLOW_CONSUMER',
  /**
   * The database failed a batch, or cannot serve a hello now: nothing pending for the stream was
   * stored or acknowledged (close 4010). With a `seq`, it refused that one message by its content
   * and the session goes on (see STORAGE_REFUSED).
   */
  STORAGE_FAILED: 'STORAGE_FAILED',
  /**
   * The database refused one message by its content (a constraint) when written alone: the
   * message is recorded as refused with this code (a `message_rejected` notification), its seq is
   * consumed and acknowledged, and the stream goes on. The EA is told with a STORAGE_FAILED
   * error frame carrying the message's `seq`.
   */
  STORAGE_REFUSED: 'STORAGE_REFUSED',
  /** Another connection took over this EA instance. */
  REPLACED: 'REPLACED',
  /** A query or SQL console statement ran past its timeout and was stopped; nothing else is affected. */
  QUERY_TIMEOUT: 'QUERY_TIMEOUT',
  /** Every reader is busy and as many reads wait as may: nothing was run; retry shortly. */
  BUSY: 'BUSY',
  /** The SQL console refused the statement before running it; `refusal` says why. */
  SQL_REFUSED: 'SQL_REFUSED',
  /** The engine is stopping (close 1001). */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /**
   * The engine failed unexpectedly while handling the frame, a bug rather than the client's
   * fault; the message says what failed and the engine's log has the cause.
   */
  INTERNAL: 'INTERNAL',
} as const

export type ProtocolErrorCode = (typeof ProtocolErrors)[keyof typeof ProtocolErrors]

export const CloseCodes = {
  NORMAL: 1000,
  /** The engine is shutting down (error SHUTTING_DOWN). */
  GOING_AWAY: 1001,
  /** The peer broke WebSocket framing (RFC 6455): sent by the WebSocket library, without an error frame. */
  WS_PROTOCOL_ERROR: 1002,
  /** A text frame that is not UTF-8 (RFC 6455): sent by the WebSocket library, without an error frame. */
  INVALID_PAYLOAD: 1007,
  /** A frame above `max_frame_bytes` (the WebSocket library closes with it before any error frame). */
  MESSAGE_TOO_BIG: 1009,
  /**
   * RFC 6455's "unexpected condition". Not sent by this version: an unexpected failure is answered
   * with error INTERNAL, and an EA session that cannot go on after it closes with PROTOCOL_ERROR.
   */
  INTERNAL_ERROR: 1011,
  /** The peer broke the protocol: bad frames before hello, sequence errors. */
  PROTOCOL_ERROR: 4000,
  /** Error AUTH_FAILED. */
  AUTH_FAILED: 4001,
  /** Error FORBIDDEN: the token may not open this session. */
  FORBIDDEN: 4003,
  /** Error UNSUPPORTED_PROTOCOL. */
  UNSUPPORTED_PROTOCOL: 4004,
  /** Error RATE_LIMITED. */
  RATE_LIMITED: 4008,
  /** Error REPLACED: another connection took over the stream. */
  REPLACED: 4009,
  /** Error STORAGE_FAILED: the database failed a batch of this stream, or cannot serve a hello now. */
  STORAGE_FAILED: 4010,
  /** The peer did not read what the engine sent it (error SLOW_CONSUMER, rarely seen: see PROTOCOL.md 3.6). */
  SLOW_CONSUMER: 4011,
  /** The engine has as many sessions as it accepts, or needed an idle connection's slot; reconnect later. */
  TRY_AGAIN_LATER: 1013,
} as const
