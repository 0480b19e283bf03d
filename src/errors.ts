/**
 * Every error the engine raises on purpose is an `EngineError` with a stable UPPER_SNAKE `code`
 * (listed in docs/ERRORS.md). Errors that come from a database keep its native code in
 * `detail.dbCode` (`SQLITE_ERROR`, SQLSTATE `42601`, ...), never wrapped away. The SDK clients
 * raise a `ClientError`, whose `code` is the engine's wire code (docs/PROTOCOL.md section 6) or
 * ENGINE_UNREACHABLE. test/errors-doc.test.ts keeps this file, src/protocol/messages.ts and
 * docs/ERRORS.md equal.
 */
import type { ErrorFrame, ProtocolErrorCode } from './protocol/messages.js'


export const ErrorCodes = {
  /** An option, flag or environment variable has a value the engine cannot use. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A file in migrations/ or rollbacks/ has a name that does not follow the convention. */
  MIGRATION_BAD_NAME: 'MIGRATION_BAD_NAME',
  /** Two files claim the same version. */
  MIGRATION_DUPLICATE_VERSION: 'MIGRATION_DUPLICATE_VERSION',
  /** A `.sqlite.sql` file without its `.postgres.sql` twin, or the other way round. */
  MIGRATION_MISSING_TWIN: 'MIGRATION_MISSING_TWIN',
  /** A rollback file whose migration does not exist. */
  MIGRATION_ORPHAN_ROLLBACK: 'MIGRATION_ORPHAN_ROLLBACK',
  /** A migration or rollback file holds no statement. */
  MIGRATION_EMPTY: 'MIGRATION_EMPTY',
  /** An unknown `-- mt5e:` directive, or directives that contradict each other. */
  MIGRATION_BAD_DIRECTIVE: 'MIGRATION_BAD_DIRECTIVE',
  /** A `-- mt5e:no-transaction` file holds more than one statement. */
  MIGRATION_NOT_SINGLE_STATEMENT: 'MIGRATION_NOT_SINGLE_STATEMENT',
  /** The database refused a migration or rollback; nothing of it was kept. */
  MIGRATION_FAILED: 'MIGRATION_FAILED',
  /** Applied files changed on disk, or are missing: the history and the files disagree. */
  MIGRATION_DRIFT: 'MIGRATION_DRIFT',
  /** A pending version is older than the newest applied one. */
  MIGRATION_OUT_OF_ORDER: 'MIGRATION_OUT_OF_ORDER',
  /** Migrations are pending and the engine was started with migrations turned off. */
  MIGRATION_PENDING: 'MIGRATION_PENDING',
  /** A no-transaction migration failed or was interrupted; `repair()` clears it. */
  MIGRATION_BLOCKED: 'MIGRATION_BLOCKED',
  /** `down` needs a rollback file that does not exist. */
  MIGRATION_NO_ROLLBACK: 'MIGRATION_NO_ROLLBACK',
  /** The `to` option names a version that is not known. */
  MIGRATION_UNKNOWN_VERSION: 'MIGRATION_UNKNOWN_VERSION',
  /** `create` would overwrite a file, or the name is not snake_case. */
  MIGRATION_CREATE_FAILED: 'MIGRATION_CREATE_FAILED',
  /** Another migrator held the lock for longer than the lock timeout. */
  LOCK_TIMEOUT: 'LOCK_TIMEOUT',
  /** The database could not be opened or reached. */
  DATABASE_UNAVAILABLE: 'DATABASE_UNAVAILABLE',
  /** SQLite could not write its file (SQLITE_FULL, SQLITE_IOERR): a full disk, a quota or a file-size limit. */
  DATABASE_UNWRITABLE: 'DATABASE_UNWRITABLE',
  /**
   * The gateway could not listen on its host and port: the port is taken (`EADDRINUSE`), needs
   * privileges (`EACCES`), or the address is not one of this machine's (`EADDRNOTAVAIL`).
   */
  LISTEN_FAILED: 'LISTEN_FAILED',
  /** `token create` with the name of a live token. */
  TOKEN_EXISTS: 'TOKEN_EXISTS',
  /** `token revoke` found no live token by that name or id. */
  TOKEN_NOT_FOUND: 'TOKEN_NOT_FOUND',
  /** The EA instance id is already registered to another account. */
  INSTANCE_CONFLICT: 'INSTANCE_CONFLICT',
  /** An `ea` token said hello as an account, instance or magic outside its scope (`token list`). */
  TOKEN_SCOPE: 'TOKEN_SCOPE',
  /**
   * The EA instance is streamed with another live token: only that token, or one bound to exactly
   * this instance, may open it (the other connection would be replaced).
   */
  INSTANCE_TAKEN: 'INSTANCE_TAKEN',
  /**
   * The writer refused a stream's batch that did not start right after the stream's stored
   * high-water mark: storing it would have hidden the missing messages. Nothing was written.
   */
  STREAM_GAP: 'STREAM_GAP',
  /** A command names a target the engine does not know (no such account or EA instance). */
  COMMAND_TARGET_UNKNOWN: 'COMMAND_TARGET_UNKNOWN',
  /** The engine could not be reached, or closed the connection. */
  ENGINE_UNREACHABLE: 'ENGINE_UNREACHABLE',
  /** A command-line invocation the CLI does not understand. */
  USAGE: 'USAGE',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** The plain-data form of an error: what crosses worker boundaries and goes into JSON output. */
export interface ErrorData {
  code: ErrorCode
  message: string
  detail?: Record<string, unknown>
}

export class EngineError extends Error {
  readonly code: ErrorCode
  readonly detail: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options)
    this.name = 'EngineError'
    this.code = code
    this.detail = detail
  }

  toJSON(): ErrorData {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail }
  }
}

export function isEngineError(err: unknown, code?: ErrorCode): err is EngineError {
  return err instanceof EngineError && (code === undefined || err.code === code)
}

/**
 * Whether `err` carries `code`: for errors that are not EngineErrors but have a code of the
 * unions here, such as a writer's TaskError turned into an Error, or a ClientError.
 */
export function hasCode(err: unknown, code: ErrorCode | ProtocolErrorCode): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

/**
 * The message of `err` with the API option it names (`detail.option`, written "the steps option")
 * replaced by what `flags` calls it, for a front end whose users type flags (`--steps`).
 */
export function withFlagNames(err: EngineError, flags: Readonly<Record<string, string>>): string {
  const option = err.detail?.option
  const flag = typeof option === 'string' ? flags[option] : undefined
  return flag === undefined ? err.message : err.message.replaceAll(`the ${option} option`, flag)
}

/** What a client's error can say: the code of the engine's error frame, or that it could not be reached. */
export type ClientErrorCode = ProtocolErrorCode | typeof ErrorCodes.ENGINE_UNREACHABLE

/** An error of the SDK clients (connectEA, connectDashboard). */
export class ClientError extends Error {
  readonly code: ClientErrorCode
  /** The engine's error frame, when the error is its answer. */
  readonly frame: ErrorFrame | undefined

  constructor(code: ClientErrorCode, message: string, frame?: ErrorFrame, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ClientError'
    this.code = code
    this.frame = frame
  }
}
