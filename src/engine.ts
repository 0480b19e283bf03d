/**
 * Engine start-up: open the database, bring its schema up to date (or refuse on drift), and hand
 * back a handle that closes everything it opened.
 */
import type { ResolvedConfig } from './config.js'
import { EngineError, ErrorCodes } from './errors.js'
import { createMigrator, type MigrationResult, type StatusReport } from './migrator/migrator.js'
import { openStorage } from './storage/open.js'
import type { Storage } from './storage/types.js'

export interface Engine {
  readonly storage: Storage
  /** Migrations applied while starting (empty when none were pending or `migrate` is off). */
  readonly applied: MigrationResult[]
  /** The migration status after start-up. */
  readonly status: StatusReport
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Opens the database and applies pending migrations (unless `config.migrate` is false). Refuses to
 * start when applied migration files changed or went missing, when a run is blocked, or, with
 * `migrate` off, when migrations are pending.
 */
export async function startEngine(config: ResolvedConfig): Promise<Engine> {
  const storage = await openStorage(config)
  try {
    const migrator = createMigrator({ storage, ...config })
    let applied: MigrationResult[] = []
    if (config.migrate) {
      const run = await migrator.up()
      applied = run.results
      if (run.error) throw run.error
    }
    const status = await migrator.status()
    const pending = status.entries.filter((e) => e.state !== 'applied')
    if (pending.length > 0) {
      throw new EngineError(
        status.drift ? ErrorCodes.MIGRATION_DRIFT : ErrorCodes.MIGRATION_PENDING,
        `refusing to start: the schema is not up to date (${pending
          .map((e) => `${e.version}_${e.name}: ${e.state}`)
          .join(', ')}); see mt5-engine migrate status`,
        { versions: pending.map((e) => e.version) },
      )
    }
    const close = () => storage.close()
    return { storage, applied, status, close, [Symbol.asyncDispose]: close }
  } catch (err) {
    await storage.close()
    throw err
  }
}
