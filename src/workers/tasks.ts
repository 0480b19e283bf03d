/**
 * Messages between the main thread and the writer workers, as plain data. Errors cross as
 * `TaskError` values, never as thrown objects: structured clone drops their properties.
 */
import type { Timeframe } from '../aggregate/timeframes.js'
import type { BarChanges } from '../db/sql/bars.js'
import type { ErrorCode } from '../errors.js'
import type { CommandStatus, CommandType, EaHello, ProtocolErrorCode, ProtocolErrors } from '../protocol/messages.js'

export interface WriterConfig {
  database: string
  dialect: 'sqlite' | 'postgres'
  synchronous: 'NORMAL' | 'FULL'
  busyTimeoutMs: number
  /** Testing aid: every write task sleeps this long first, to make the writer the bottleneck. */
  writeDelayMs: number
  /** Keep bars current with the ticks (false when no timeframe is built). */
  buildBars: boolean
  /** Timeframes above M1 are built too: the writer lists the minutes it built for the aggregator to roll up. */
  rollUpBars: boolean
}

/**
 * An EngineError's code the writer raised on purpose (INSTANCE_CONFLICT, TOKEN_SCOPE, STREAM_GAP,
 * ...), or STORAGE_FAILED for anything the database threw, its own code in `dbCode`.
 */
export type TaskErrorCode = ErrorCode | typeof ProtocolErrors.STORAGE_FAILED | typeof ProtocolErrors.QUERY_TIMEOUT | typeof ProtocolErrors.BUSY

export interface TaskError {
  code: TaskErrorCode
  message: string
  /** The database's own code (`SQLITE_CONSTRAINT_CHECK`, SQLSTATE `23514`). */
  dbCode?: string
  /** True when the data itself was refused (a constraint), false for the database failing. */
  dataError: boolean
}

/** `columns`: a write task's tick column buffer, sent back for the next batch to reuse. */
export type TaskResult<T> = ({ ok: true; value: T } | { ok: false; error: TaskError }) & { columns?: ArrayBuffer }

/** One stream's part of a write batch: its messages are seq fromSeq .. toSeq, contiguous. */
export interface StreamSlice {
  streamId: number
  accountId: number
  server: string
  fromSeq: number
  toSeq: number
}

/** One tick_batch inside the batch's concatenated tick columns. */
export interface TickSegment {
  streamId: number
  seq: number
  symbol: string
  /** The symbol's owner: market data is stored per account. */
  accountId: number
  server: string
  start: number
  count: number
  /** How many ticks at the first millisecond earlier batches already sent. */
  firstIndex: number
  gap?: { dropped: number; from_msc: number; to_msc: number }
}

/** Ticks of every segment, concatenated column by column; the buffers are transferred, not copied. */
export interface TickColumns {
  time_msc: Float64Array
  bid: Float64Array
  ask: Float64Array
  last: Float64Array
  volume: Float64Array
  volume_real: Float64Array
  flags: Float64Array
}

/** A non-tick durable message with where it came from; `message` is the validated wire message. */
export interface RecordEntry {
  streamId: number
  accountId: number
  server: string
  seq: number
  message: Record<string, unknown> & { type: string }
}

/** A message refused by validation or by the database: stored as a notification, and its seq counts as consumed. */
export interface RejectedEntry {
  streamId: number
  accountId: number
  seq: number
  /** The validator's code (BAD_FIELD, UNKNOWN_TYPE, ...), or STORAGE_REFUSED for a message the database refused. */
  code: ProtocolErrorCode
  message: string
}

export interface WriteBatch {
  streams: StreamSlice[]
  segments: TickSegment[]
  ticks: TickColumns | undefined
  records: RecordEntry[]
  rejected: RejectedEntry[]
}

export interface CommandChange {
  commandId: string
  streamId: number
  status: CommandStatus
  command: CommandType
  reason?: string
  result?: Record<string, unknown>
  at: number
}

export interface WriteOutcome {
  /** The committed high-water seq of every stream in the batch. */
  committed: { streamId: number; seq: number }[]
  /** Rows written, by kind (messages at or below the high-water mark are skipped, not counted). */
  counts: { ticks: number; records: number; skipped: number }
  commandChanges: CommandChange[]
  /** Symbols whose bars the batch's ticks made out of date (listed in bar_dirty), when bars are built. */
  barSymbols: number[]
  /** Per symbol of the batch, when bars are built: M1 built by the writer with the ticks, or left to the aggregator to build from them. */
  minuteBars: { built: number; fromTicks: number; readBack: number }
  /** Time inside the transaction, BEGIN to COMMIT, ms. */
  commitMs: number
}

export interface RegisterResult {
  streamId: number
  accountId: number
  server: string
  resumeSeq: number
  commands: PendingCommand[]
}

export interface PendingCommand {
  commandId: string
  command: CommandType
  payload: Record<string, unknown>
  createdAt: number
  expiresAt: number
}

export interface AuthResult {
  tokenId: number
  role: 'ea' | 'viewer' | 'admin'
  name: string
}

export interface NewCommand {
  commandId: string
  command: CommandType
  target:
    | { kind: 'instance'; instanceId: string }
    | { kind: 'magic'; login: number; server: string; magic: number }
    | { kind: 'account'; login: number; server: string }
  payload: Record<string, unknown>
  expiresAt: number
  issuedByTokenId: number | null
}

export interface CreatedCommand extends PendingCommand {
  accountId: number
  /** For an instance target: the stream. */
  streamId: number | null
  magic: number | null
  /** True when a command with this id already existed (a resend); nothing was changed. */
  existed: boolean
  status: CommandStatus
}

export interface AggregatorConfig {
  database: string
  dialect: 'sqlite' | 'postgres'
  busyTimeoutMs: number
  /** The timeframes built, M1 first, each after the one it is rolled up from. */
  timeframes: readonly Timeframe[]
}

/** What one aggregation pass computed, for the writer to store; `more` when minutes were left for the next pass. */
export interface BarPass {
  changes: BarChanges
  more: boolean
  /** Ticks read. */
  ticks: number
}

export type AggregatorTask = { kind: 'pass'; symbolIds: number[]; limit: number } | { kind: 'dirty_symbols' }

export type WriterTask =
  | { kind: 'authenticate'; token: string }
  | { kind: 'bars_apply'; changes: BarChanges[] }
  | { kind: 'register'; hello: EaHello; tokenId: number; now: number }
  | { kind: 'write'; batch: WriteBatch }
  | { kind: 'command_create'; command: NewCommand; now: number }
  | { kind: 'command_delivered'; commandId: string; streamId: number; now: number }
  | { kind: 'commands_expire'; now: number }
  | { kind: 'notifications_read'; ids: number[]; now: number }
  /** Journal rows for up to `limit` positions whose deals have none (stored before the journal was kept). */
  | { kind: 'journal_backfill'; after: [number, number]; limit: number }
  | { kind: 'commands_pending'; streamId: number; accountId: number; magic: number; now: number }

// ---------------------------------------------------------------------------------------------
// Readers

export interface ReaderConfig {
  database: string
  dialect: 'sqlite' | 'postgres'
  busyTimeoutMs: number
  /** PostgreSQL: the server cancels a statement running longer (statement_timeout). */
  statementTimeoutMs: number
}

export type { ConsoleResult } from '../query/sql-console.js'
import type { AnswerPlan } from '../query/plan.js'

export type ReaderTask =
  /** One typed query, built by src/query/plan.ts: at most `limit` rows are read. */
  | { kind: 'select'; sql: string; values: unknown[]; limit: number }
  /** The same, answered as the encoded bytes of its whole `query_result` frame (moved, not copied). */
  | { kind: 'select_frame'; sql: string; values: unknown[]; limit: number; frame: FrameRequest }
  /** One SQL console statement, guarded and run by src/query/sql-console.ts. */
  | { kind: 'console'; text: string; rowLimit: number; role?: string }

export interface FrameRequest {
  requestId: string
  plan: AnswerPlan
  /** ea_instances: the streams connected now. */
  online?: number[]
}

export interface ReadResult {
  columns: string[]
  rows: unknown[][]
  truncated: boolean
}
