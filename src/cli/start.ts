/** `mt5-engine start`: migrate, then serve EAs and dashboards until a signal. */
import { dirname } from 'node:path'
import { optionsHelp } from '../config/options.js'
import { describeDatabase, type ResolvedConfig } from '../config/resolve.js'
import { exposedToOthers } from '../db/storage/sqlite.js'
import { startEngine } from '../engine.js'
import { createLogger } from '../log.js'
import { configFrom, engineFlags, engineOptionNames, parse, type Io } from './io.js'

export const startUsage = '  mt5-engine start [--migrate-only] [options for start]\n'

/** The lines after "Options for start:". */
export const startOptionsUsage = optionsHelp(engineOptionNames('start'), [
  ['--migrate-only', 'apply pending migrations, then exit without serving'],
])

export async function start(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, { ...engineFlags('start'), 'migrate-only': { type: 'boolean' } })
  const config = configFrom(values, io)
  // A file-size limit (ulimit -f, a service manager's LimitFSIZE) sends SIGXFSZ on the write that
  // crosses it, which would kill the engine mid-transaction; handled, the write fails with EFBIG
  // and SQLite reports it like a full disk: the EAs are told STORAGE_FAILED and the engine goes on.
  process.on('SIGXFSZ', () => {})
  const log = createLogger(config)
  const engine = await startEngine(config, { serve: !values['migrate-only'], log })
  for (const w of engine.warnings) io.err(`mt5-engine: warning: ${w}\n`)
  const applied = engine.applied.filter((r) => r.status === 'applied')
  io.out(`mt5-engine: database ${describe(config)}\n`)
  if (config.dialect === 'sqlite') warnExposed(config, io)
  for (const r of applied) io.out(`  applied ${r.version}_${r.name} (${r.durationMs} ms)\n`)
  io.out(`mt5-engine: schema up to date: ${engine.status.entries.length} migrations applied, ${applied.length} of them now\n`)
  if (engine.url === undefined) return 0
  io.out(`mt5-engine: EAs and dashboards connect to ${engine.url} (HTTP: /health, the read-only API under /api/v1/, docs/QUERIES.md)\n`)
  io.out(`mt5-engine: make a token with: mt5-engine token create --role ea --name my-ea\n`)
  await untilSignal(io, () => engine.close())
  io.out('mt5-engine: stopped; everything acknowledged is committed\n')
  return 0
}

/** Resolves after the first SIGINT or SIGTERM has run `shutdown`; a second signal exits at once. */
async function untilSignal(io: Io, shutdown: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
      io.out(`mt5-engine: ${signal}: committing what is in flight and closing (again to force)\n`)
      const force = () => {
        io.err('mt5-engine: forced exit\n')
        process.exit(1)
      }
      process.once('SIGINT', force)
      process.once('SIGTERM', force)
      shutdown().then(resolve, (err) => {
        io.err(`mt5-engine: error while closing: ${(err as Error).message}\n`)
        resolve()
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

/**
 * A folder or database file others can read was made so before this version, or on purpose: it is
 * left alone (a backup group may rely on it), and said once at start. The folder only when it is
 * the engine's data folder: a database put in a home or /var/lib is private by its own mode.
 */
function warnExposed(config: ResolvedConfig, io: Io): void {
  const database = config.database
  for (const { path, mode } of exposedToOthers(database)) {
    const folder = path === dirname(database)
    if (folder && path !== config.dataDir) continue
    io.err(
      `mt5-engine: warning: ${path} is readable by every local user (mode ${mode.toString(8).padStart(4, '0')}) and ` +
        `${folder ? 'holds' : 'is'} the database with every account's deals; chmod ${folder ? '700' : '600'} ${path} unless that is intended\n`,
    )
  }
}

function describe(config: ResolvedConfig): string {
  return config.dialect === 'sqlite'
    ? `sqlite ${config.database} (WAL, synchronous=${config.synchronous})`
    : `postgres ${describeDatabase(config.database)}`
}
