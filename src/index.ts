/**
 * mt5-engine's public API: what a program builds on. Start an engine from a resolved config, talk
 * to it with the EA and dashboard clients, open its storage or run its migrations, and speak the
 * protocol (its message types, codes and codec). Everything else is internal and may change in any
 * release; test/public-api.test.ts lists exactly what is here, so a change to it is deliberate.
 */
export { resolveConfig, defaultOptions, envNames, flagNames, describeDatabase } from './config/resolve.js'
export type { EngineOptions, ResolvedConfig, ResolveInput, Synchronous } from './config/resolve.js'
export { startEngine } from './engine.js'
export type { Engine, StartOptions } from './engine.js'
export { createLogger } from './log.js'
export type { Logger, LogFormat, LogLevel } from './log.js'
export { ClientError, EngineError, ErrorCodes, hasCode, isEngineError } from './errors.js'
export type { ClientErrorCode, ErrorCode, ErrorData } from './errors.js'

export { connectEA } from './client/ea-client.js'
export type { EaClient, EaClientOptions, EaClientCounters, Outgoing } from './client/ea-client.js'
export { connectDashboard } from './client/dashboard-client.js'
export type { Dashboard, DashboardOptions, QueryOptions, QueryPage, SentCommand } from './client/dashboard-client.js'
export { typedQueries } from './client/typed-queries.js'
export type { TypedQueries } from './client/typed-queries.js'
export type * from './client/query-types.js'

export { encode, decode, ProtocolError } from './protocol/codec.js'
export { limits } from './protocol/validate.js'
export * from './protocol/messages.js'

export { openStorage } from './db/storage/open.js'
export { openSqlite } from './db/storage/sqlite.js'
export type { SqliteOptions } from './db/storage/sqlite.js'
export { openPostgres } from './db/storage/postgres.js'
export type { PostgresOptions } from './db/storage/postgres.js'
export type { Dialect, Queryable, Storage, StatementCount, TransactionOptions } from './db/storage/types.js'
export { createMigrator } from './db/migrator/migrator.js'
export type {
  Migrator,
  MigratorOptions,
  MigrationResult,
  MigrationState,
  RunResult,
  StatusEntry,
  StatusReport,
  UpOptions,
  DownOptions,
  RepairAction,
  RepairResult,
  ValidateReport,
} from './db/migrator/migrator.js'
