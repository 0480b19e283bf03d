/** mt5-engine's programmatic API. */
export { resolveConfig, defaultOptions, envNames, flagNames, describeDatabase } from './config/resolve.js'
export type { EngineOptions, ResolvedConfig, ResolveInput, Synchronous } from './config/resolve.js'
export { startEngine } from './engine.js'
export type { Engine } from './engine.js'
export { EngineError, ErrorCodes, isEngineError } from './errors.js'
export type { ErrorCode, ErrorData } from './errors.js'
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
  ValidateReport,
} from './db/migrator/migrator.js'
export { loadMigrations, createMigration, checksum } from './db/migrator/files.js'
export type { Migration, SqlFile, Directives } from './db/migrator/files.js'
export { lintSql } from './db/migrator/lint.js'
export type { LintFinding, LintRule } from './db/migrator/lint.js'
export { runCli } from './cli/main.js'
export { prepareDatabase } from './engine.js'
export type { StartOptions } from './engine.js'
export { connectEA } from './client/ea-client.js'
export type { EaClient, EaClientOptions, EaClientCounters, Outgoing } from './client/ea-client.js'
export { connectDashboard } from './client/dashboard-client.js'
export type { Dashboard, DashboardOptions, SentCommand } from './client/dashboard-client.js'
export { encode, decode, ProtocolError } from './protocol/codec.js'
export { parseEaMessage, parseDashboardMessage, parseHello, limits } from './protocol/validate.js'
export * from './protocol/messages.js'
export { createToken, listTokens, revokeToken, verifyToken } from './db/sql/tokens.js'
export type { Role, TokenInfo } from './db/sql/tokens.js'
