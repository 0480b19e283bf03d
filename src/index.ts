/** mt5-engine's programmatic API. */
export { resolveConfig, defaultOptions, envNames, flagNames, describeDatabase } from './config.js'
export type { EngineOptions, ResolvedConfig, ResolveInput, Synchronous } from './config.js'
export { startEngine } from './engine.js'
export type { Engine } from './engine.js'
export { EngineError, ErrorCodes, isEngineError } from './errors.js'
export type { ErrorCode, ErrorData } from './errors.js'
export { openStorage } from './storage/open.js'
export { openSqlite } from './storage/sqlite.js'
export type { SqliteOptions } from './storage/sqlite.js'
export { openPostgres } from './storage/postgres.js'
export type { PostgresOptions } from './storage/postgres.js'
export type { Dialect, Queryable, Storage, StatementCount, TransactionOptions } from './storage/types.js'
export { createMigrator } from './migrator/migrator.js'
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
} from './migrator/migrator.js'
export { loadMigrations, createMigration, checksum } from './migrator/files.js'
export type { Migration, SqlFile, Directives } from './migrator/files.js'
export { lintSql } from './migrator/lint.js'
export type { LintFinding, LintRule } from './migrator/lint.js'
export { runCli } from './cli.js'
export { prepareDatabase } from './engine.js'
export type { StartOptions } from './engine.js'
export { connectEA } from './client/ea-client.js'
export type { EaClient, EaClientOptions, EaClientCounters, Outgoing } from './client/ea-client.js'
export { connectDashboard } from './client/dashboard-client.js'
export type { Dashboard, DashboardOptions, SentCommand } from './client/dashboard-client.js'
export { encode, decode, ProtocolError } from './protocol/codec.js'
export { parseEaMessage, parseDashboardMessage, parseHello, limits } from './protocol/validate.js'
export * from './protocol/messages.js'
export { createToken, listTokens, revokeToken, verifyToken } from './store/tokens.js'
export type { Role, TokenInfo } from './store/tokens.js'
