#!/usr/bin/env node
/**
 * `mt5-engine`: the command line. Each verb is one small function; configuration goes through
 * resolveConfig, so flags, `MT5E_*` variables and the config file mean the same everywhere.
 */
import { realpathSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { describeDatabase, resolveConfig, type OptionName, type ResolvedConfig } from '../config/resolve.js'
import { prepareDatabase, startEngine } from '../engine.js'
import { maskDeep, maskSecrets, redactError } from '../db/url.js'
import { EngineError, ErrorCodes } from '../errors.js'
import { createMigration, loadMigrations, type SqlFile } from '../db/migrator/files.js'
import { copyLintSchema, createLintSchema, lintSql, type LintFinding } from '../db/migrator/lint.js'
import { parseDuration, waitForDatabase } from '../db/migrator/wait.js'
import {
  createMigrator,
  type MigrationResult,
  type Migrator,
  type RunResult,
  type StatusReport,
} from '../db/migrator/migrator.js'
import { connectDashboard, type Dashboard } from '../client/dashboard-client.js'
import type { CommandSend, CommandStatusUpdate } from '../protocol/messages.js'
import { openStorage } from '../db/storage/open.js'
import { exposedToOthers } from '../db/storage/sqlite.js'
import { createToken, describeScope, listTokens, parseScope, revokeToken, setScope, type Role, type TokenInfo } from '../db/sql/tokens.js'
import type { Dialect } from '../db/storage/types.js'

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
  env: Record<string, string | undefined>
  cwd: string
  /** Writes without masking secrets: only for a new token, which must be shown exactly. */
  outExact?: (text: string) => void
}

/**
 * Every line the CLI prints goes through the masking of database secrets: a password must not
 * reach a terminal, a service log or a CI transcript, whichever message carries it.
 */
function maskedIo(io: Io): Io {
  return { ...io, out: (text) => io.out(maskSecrets(text)), err: (text) => io.err(maskSecrets(text)), outExact: io.outExact ?? io.out }
}

const commonOptions = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  database: { type: 'string' },
  synchronous: { type: 'string' },
  'busy-timeout': { type: 'string' },
  'lock-timeout': { type: 'string' },
  'migrations-dir': { type: 'string' },
  'rollbacks-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options']

const flagToOption: Record<string, OptionName> = {
  'data-dir': 'dataDir',
  database: 'database',
  synchronous: 'synchronous',
  'busy-timeout': 'busyTimeoutMs',
  'lock-timeout': 'lockTimeoutMs',
  'migrations-dir': 'migrationsDir',
  'rollbacks-dir': 'rollbacksDir',
  host: 'host',
  port: 'port',
  writers: 'writers',
  'batch-rows': 'batchRows',
  'flush-ms': 'flushMs',
  'max-inflight': 'maxInflight',
  'max-frame-bytes': 'maxFrameBytes',
  'max-pending-bytes': 'maxPendingBytes',
  'write-delay-ms': 'writeDelayMs',
  'max-connections': 'maxConnections',
  'max-outbound-bytes': 'maxOutboundBytes',
  'max-unauthenticated': 'maxUnauthenticated',
  'max-unauthenticated-per-address': 'maxUnauthenticatedPerAddress',
  'hello-timeout-ms': 'helloTimeoutMs',
  'handshake-timeout-ms': 'handshakeTimeoutMs',
  'max-refused-per-second': 'maxRefusedPerSecond',
  'auth-failure-delay-ms': 'authFailureDelayMs',
  'max-auth-failure-delay-ms': 'maxAuthFailureDelayMs',
}

export const usage = `mt5-engine: a data engine for MetaTrader 5

Usage:
  mt5-engine start [--host H] [--port P] [--no-migrate] [--migrate-only] [--writers N] [--batch-rows N]
                   [--flush-ms MS] [--max-inflight N] [--max-frame-bytes N] [--max-pending-bytes N]
                   [--max-connections N] [--max-unauthenticated N] [--max-unauthenticated-per-address N]
                   [--hello-timeout-ms MS] [--handshake-timeout-ms MS] [--max-refused-per-second N]
                   [--auth-failure-delay-ms MS] [--max-auth-failure-delay-ms MS]
  mt5-engine migrate status [--json]
  mt5-engine migrate up [--to VERSION] [--dry-run] [--allow-out-of-order]
  mt5-engine migrate down [--steps N | --to VERSION | --all] [--dry-run]
  mt5-engine migrate redo [--steps N]
  mt5-engine migrate validate
  mt5-engine migrate repair
  mt5-engine migrate create NAME [--split]
  mt5-engine migrate dump [--out FILE] [--schema NAME]...
  mt5-engine migrate lint [--dialect sqlite|postgres|both] [--rollback-drops]
  mt5-engine token create --role ea|viewer|admin --name NAME [--expires-in-days N]
                          [--account LOGIN@SERVER] [--instance ID|PREFIX*] [--magic N] [--unscoped]
                          (an ea token binds to its first EA unless bound here; docs/SECURITY.md)
  mt5-engine token scope NAME|ID (--account LOGIN@SERVER [--instance ID|PREFIX*] [--magic N] | --first-use | --unscoped)
  mt5-engine token list
  mt5-engine token revoke NAME|ID
  mt5-engine command send --token ADMIN_TOKEN --type TYPE (--instance ID | --login N --server S [--magic M])
                          [--payload JSON] [--expires-in-ms MS] [--wait-ms MS] [--url ws://host:port/v1]

Options for every command:
  --data-dir DIR          data folder (default ./data; MT5E_DATA_DIR)
  --database URL|FILE     postgres://... or a SQLite file (default DIR/mt5-engine.db; MT5E_DATABASE, else DATABASE_URL)
  --synchronous MODE      SQLite NORMAL (default) or FULL (MT5E_SYNCHRONOUS)
  --busy-timeout MS       SQLite busy timeout (default 5000; MT5E_BUSY_TIMEOUT_MS)
  --lock-timeout MS       wait for another migrator (default 30000; MT5E_LOCK_TIMEOUT_MS)
  --migrations-dir DIR    migration files (default: the package's migrations/; MT5E_MIGRATIONS_DIR)
  --rollbacks-dir DIR     rollback files (default: the package's rollbacks/; MT5E_ROLLBACKS_DIR)
  --config FILE           JSON config file (default ./mt5-engine.json if present; MT5E_CONFIG)
  --wait                  migrate: wait for the database to accept connections (up to 60s)
  --wait-timeout TIME     migrate: how long --wait waits, like 60s, 1500ms or 2m; implies --wait
  --json                  machine-readable output
`

/** Runs one command line; returns the exit code: 0 ok, 1 failed or drift, 2 usage. */
export async function runCli(argv: string[], rawIo: Io): Promise<number> {
  const [command, ...rest] = argv
  const io = maskedIo(rawIo)
  try {
    switch (command) {
      case 'start':
        return await start(rest, io)
      case 'migrate':
        return await migrate(rest, io)
      case 'token':
        return await tokenCommand(rest, io)
      case 'command':
        return await commandCommand(rest, io)
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(usage)
        return command === undefined ? 2 : 0
      default:
        throw new EngineError(ErrorCodes.USAGE, `unknown command "${command}"; run mt5-engine help`)
    }
  } catch (err) {
    return fail(err, io, argv.includes('--json'))
  }
}

function fail(err: unknown, io: Io, json: boolean): number {
  if (err instanceof EngineError) {
    // the detail and the cause may carry a driver's view of the URL: masked before printing
    const safe = redactError(err) as EngineError
    io.err(json ? JSON.stringify({ error: safe.toJSON() }) + '\n' : `error ${safe.code}: ${safe.message}\n`)
    return err.code === ErrorCodes.USAGE ? 2 : 1
  }
  if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    io.err(`error USAGE: ${err.message}; run mt5-engine help\n`)
    return 2
  }
  io.err(`error: ${redactError(err).stack ?? String(err)}\n`)
  return 1
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  return parseArgs({ args, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true })
}

function configFrom(values: Record<string, unknown>, io: Io, extra: Partial<Record<OptionName, unknown>> = {}) {
  const flags: Partial<Record<OptionName, unknown>> = { ...extra }
  for (const [flag, option] of Object.entries(flagToOption)) {
    if (values[flag] !== undefined) flags[option] = values[flag]
  }
  return resolveConfig({ flags, env: io.env, cwd: io.cwd, configFile: values.config as string | undefined })
}

async function start(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, {
    'no-migrate': { type: 'boolean' },
    'migrate-only': { type: 'boolean' },
    host: { type: 'string' },
    port: { type: 'string' },
    writers: { type: 'string' },
    'batch-rows': { type: 'string' },
    'flush-ms': { type: 'string' },
    'max-inflight': { type: 'string' },
    'max-frame-bytes': { type: 'string' },
    'max-pending-bytes': { type: 'string' },
    'write-delay-ms': { type: 'string' },
    'max-connections': { type: 'string' },
    'max-outbound-bytes': { type: 'string' },
    'max-unauthenticated': { type: 'string' },
    'max-unauthenticated-per-address': { type: 'string' },
    'hello-timeout-ms': { type: 'string' },
    'handshake-timeout-ms': { type: 'string' },
    'max-refused-per-second': { type: 'string' },
    'auth-failure-delay-ms': { type: 'string' },
    'max-auth-failure-delay-ms': { type: 'string' },
  })
  const config = configFrom(values, io, values['no-migrate'] ? { migrate: false } : {})
  // A file-size limit (ulimit -f, a service manager's LimitFSIZE) sends SIGXFSZ on the write that
  // crosses it, which would kill the engine mid-transaction; handled, the write fails with EFBIG
  // and SQLite reports it like a full disk: the EAs are told STORAGE_FAILED and the engine goes on.
  process.on('SIGXFSZ', () => {})
  const engine = await startEngine(config, { serve: !values['migrate-only'] })
  for (const w of engine.warnings) io.err(`mt5-engine: warning: ${w}\n`)
  const applied = engine.applied.filter((r) => r.status === 'applied')
  io.out(`mt5-engine: database ${describe(config)}\n`)
  if (config.dialect === 'sqlite') warnExposed(config, io)
  for (const r of applied) io.out(`  applied ${r.version}_${r.name} (${r.durationMs} ms)\n`)
  io.out(`mt5-engine: schema up to date: ${engine.status.entries.length} migrations applied, ${applied.length} of them now\n`)
  if (engine.url === undefined) return 0
  io.out(`mt5-engine: EAs and dashboards connect to ${engine.url} (HTTP health check on /health)\n`)
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

const migrateVerbs = ['status', 'up', 'down', 'redo', 'validate', 'repair', 'create', 'dump', 'lint']

/** `migrate --help` and `migrate VERB --help`: the usage lines of the verb (or all), exit 0. */
function migrateUsage(verb: string | undefined): string {
  const lines = usage.split('\n')
  const verbLines = lines.filter((l) => l.startsWith('  mt5-engine migrate ') && (!verb || l.startsWith(`  mt5-engine migrate ${verb} `) || l === `  mt5-engine migrate ${verb}`))
  const options = lines.slice(lines.findIndex((l) => l.startsWith('Options for every command'))).join('\n')
  return `Usage:\n${verbLines.join('\n')}\n\n${options}See docs/MIGRATIONS.md.\n`
}

async function migrate(args: string[], io: Io): Promise<number> {
  const [verb, ...rest] = args
  const wantsHelp = (a: string) => a === '--help' || a === '-h'
  if (verb !== undefined && (wantsHelp(verb) || verb === 'help')) {
    io.out(migrateUsage(undefined))
    return 0
  }
  if (verb !== undefined && migrateVerbs.includes(verb) && rest.some(wantsHelp)) {
    io.out(migrateUsage(verb))
    return 0
  }
  switch (verb) {
    case 'status':
      return withMigrator(rest, {}, io, async (m, values) => printStatus(await m.status(), io, Boolean(values.json)))
    case 'up':
      return withMigrator(
        rest,
        { to: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'allow-out-of-order': { type: 'boolean' } },
        io,
        async (m, values) =>
          printRun(
            await m.up({
              ...(values.to !== undefined && { to: String(values.to) }),
              dryRun: Boolean(values['dry-run']),
              allowOutOfOrder: Boolean(values['allow-out-of-order']),
            }),
            io,
            Boolean(values.json),
          ),
      )
    case 'down':
      return withMigrator(
        rest,
        { steps: { type: 'string' }, to: { type: 'string' }, all: { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
        io,
        async (m, values) => {
          const chosen = ['steps', 'to', 'all'].filter((k) => values[k] !== undefined)
          if (chosen.length > 1) throw new EngineError(ErrorCodes.USAGE, 'give at most one of --steps, --to and --all')
          return printRun(
            await m.down({
              ...(values.steps !== undefined && { steps: wholeNumber(values.steps, '--steps') }),
              ...(values.to !== undefined && { to: String(values.to) }),
              ...(values.all ? { to: '0' } : {}),
              dryRun: Boolean(values['dry-run']),
            }),
            io,
            Boolean(values.json),
          )
        },
      )
    case 'redo':
      return withMigrator(rest, { steps: { type: 'string' } }, io, async (m, values) =>
        printRun(
          await m.redo(values.steps !== undefined ? { steps: wholeNumber(values.steps, '--steps') } : {}),
          io,
          Boolean(values.json),
        ),
      )
    case 'validate':
      return withMigrator(rest, {}, io, async (m, values) => {
        const report = await m.validate()
        if (values.json) io.out(JSON.stringify(report, null, 2) + '\n')
        else {
          for (const w of report.warnings) io.out(`warning: ${w}\n`)
          for (const p of report.problems) io.out(`${p.code}: ${p.message}\n`)
          io.out(report.ok ? 'migrations are valid\n' : `${report.problems.length} problem(s)\n`)
        }
        return report.ok ? 0 : 1
      })
    case 'repair':
      return withMigrator(rest, {}, io, async (m, values) => {
        const { actions } = await m.repair()
        if (values.json) io.out(JSON.stringify({ actions }, null, 2) + '\n')
        else {
          for (const a of actions) io.out(`${a.message}\n`)
          io.out(actions.length === 0 ? 'nothing to repair\n' : `${actions.length} repair(s) done\n`)
        }
        return 0
      })
    case 'dump':
      return withMigrator(rest, { out: { type: 'string' }, schema: { type: 'string', multiple: true } }, io, async (m, values, config) => {
        const schemas = values.schema as string[] | undefined
        if (schemas && config.dialect !== 'postgres') {
          throw new EngineError(ErrorCodes.USAGE, '--schema applies to PostgreSQL only; a SQLite dump always covers the whole file')
        }
        const text = await m.dump(schemas ? { schemas } : {})
        const out = values.out === undefined ? `schema.${config.dialect}.sql` : String(values.out)
        if (out === '-') io.out(text)
        else {
          writeFileSync(resolve(io.cwd, out), text)
          io.out(`wrote ${out}\n`)
        }
        return 0
      })
    case 'create':
      return create(rest, io)
    case 'lint':
      return lint(rest, io)
    default:
      throw new EngineError(
        ErrorCodes.USAGE,
        verb === undefined
          ? 'migrate needs a verb: status, up, down, redo, validate, repair, create, dump or lint'
          : `unknown migrate verb "${verb}"; known: status, up, down, redo, validate, repair, create, dump, lint`,
      )
  }
}

async function withMigrator<O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: O,
  io: Io,
  body: (migrator: Migrator, values: Record<string, unknown>, config: ResolvedConfig) => Promise<number>,
): Promise<number> {
  const { values, positionals } = parse(args, { ...options, wait: { type: 'boolean' }, 'wait-timeout': { type: 'string' } })
  if (positionals.length > 0) throw new EngineError(ErrorCodes.USAGE, `unexpected argument "${positionals[0]}"`)
  const config = configFrom(values, io)
  const waitTimeout = (values as Record<string, unknown>)['wait-timeout']
  const storage =
    (values as Record<string, unknown>).wait || waitTimeout !== undefined
      ? await waitForDatabase(() => openStorage(config), {
          timeoutMs: waitTimeout === undefined ? 60_000 : parseDuration(String(waitTimeout), '--wait-timeout'),
          location: describeDatabase(config.database),
        })
      : await openStorage(config)
  try {
    return await body(createMigrator({ storage, ...config }), values, config)
  } finally {
    await storage.close()
  }
}

function create(args: string[], io: Io): number {
  const { values, positionals } = parse(args, { split: { type: 'boolean' } })
  if (positionals.length !== 1) {
    throw new EngineError(ErrorCodes.USAGE, 'migrate create takes one name, like: mt5-engine migrate create add_deal_index')
  }
  const config = configFrom(values, io)
  const written = createMigration({ ...config, name: positionals[0]!, split: Boolean(values.split) })
  for (const path of written) io.out(`created ${path}\n`)
  return 0
}

function lint(args: string[], io: Io): number {
  const { values } = parse(args, { dialect: { type: 'string' }, 'rollback-drops': { type: 'boolean' } })
  const which = (values.dialect as string | undefined) ?? 'both'
  if (!['sqlite', 'postgres', 'both'].includes(which)) {
    throw new EngineError(ErrorCodes.USAGE, `--dialect must be sqlite, postgres or both; got "${which}"`)
  }
  const config = configFrom(values, io)
  const dialects: Dialect[] = which === 'both' ? ['sqlite', 'postgres'] : [which as Dialect]
  const seen = new Set<string>()
  const findings: LintFinding[] = []
  const add = (found: LintFinding[]) => {
    for (const f of found) {
      const key = `${f.file}:${f.line}:${f.rule}:${f.message}`
      if (!seen.has(key)) findings.push(f)
      seen.add(key)
    }
  }
  for (const dialect of dialects) {
    // Files in version order, so that the foreign keys of earlier files are known; a rollback is
    // linted against the schema its migration left, since later ones are undone before it runs.
    const schema = createLintSchema()
    for (const m of loadMigrations(config, dialect)) {
      const options = (file: SqlFile) => ({
        dialect,
        file: file.display,
        noTransaction: file.directives.noTransaction,
        foreignKeysOff: file.directives.foreignKeysOff,
      })
      add(lintSql(m.up.text, { ...options(m.up), schema }))
      if (m.down) {
        add(lintSql(m.down.text, { ...options(m.down), schema: copyLintSchema(schema), rollback: !values['rollback-drops'] }))
      }
    }
  }
  findings.sort((a, b) => (a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) : a.file < b.file ? -1 : 1))
  if (values.json) io.out(JSON.stringify({ findings }, null, 2) + '\n')
  else {
    for (const f of findings) io.out(`${f.file}${f.line ? `:${f.line}` : ''}: ${f.level} [${f.rule}] ${f.message}\n`)
    const warnings = findings.filter((f) => f.level === 'warning').length
    io.out(`${warnings} warning(s), ${findings.length - warnings} notice(s)\n`)
  }
  return 0
}

function scopeText(t: TokenInfo): string {
  if (t.scopeMode === 'first-use') return 'binds to its first EA'
  if (t.scopeMode === 'unscoped') return 'unscoped: any account'
  const since = t.boundAt === null ? '' : ` (first use ${new Date(t.boundAt).toISOString().replace('T', ' ').slice(0, 19)})`
  return describeScope(t.scope!) + since
}

async function tokenCommand(args: string[], io: Io): Promise<number> {
  const [verb, ...rest] = args
  const { values, positionals } = parse(rest, {
    role: { type: 'string' },
    name: { type: 'string' },
    'expires-in-days': { type: 'string' },
    account: { type: 'string' },
    instance: { type: 'string' },
    magic: { type: 'string' },
    unscoped: { type: 'boolean' },
    'first-use': { type: 'boolean' },
  })
  const scope = parseScope({ account: values.account, instance: values.instance, magic: values.magic })
  const config = configFrom(values, io)
  const { storage } = await prepareDatabase(config)
  try {
    switch (verb) {
      case 'create': {
        if (values.role === undefined || values.name === undefined) {
          throw new EngineError(ErrorCodes.USAGE, 'token create needs --role ea|viewer|admin and --name NAME')
        }
        const days = values['expires-in-days'] === undefined ? undefined : wholeNumber(values['expires-in-days'], '--expires-in-days')
        const { token, info } = await createToken(storage, {
          role: values.role as Role,
          name: String(values.name),
          expiresAt: days === undefined ? null : Date.now() + days * 86_400_000,
          scope,
          unscoped: values.unscoped === true,
        })
        const exact = io.outExact ?? io.out
        if (values.json) exact(JSON.stringify({ ...maskDeep(info), token }) + '\n')
        else {
          io.out(`created ${info.role} token "${info.name}" (id ${info.id})${info.expiresAt ? `, expires ${new Date(info.expiresAt).toISOString()}` : ''}\n`)
          if (info.role === 'ea') io.out(`scope: ${scopeText(info)}\n`)
          io.out('it is shown once; only its hash is stored:\n')
          exact(`${token}\n`)
        }
        return 0
      }
      case 'list': {
        const tokens = await listTokens(storage)
        if (values.json) io.out(JSON.stringify(tokens, null, 2) + '\n')
        else {
          const when = (t: number | null) => (t === null ? '' : new Date(t).toISOString().replace('T', ' ').slice(0, 19))
          io.out(table([
            ['ID', 'NAME', 'ROLE', 'CREATED (UTC)', 'LAST USED', 'EXPIRES', 'REVOKED', 'SCOPE'],
            ...tokens.map((t) => [String(t.id), t.name, t.role, when(t.createdAt), when(t.lastUsedAt), when(t.expiresAt), when(t.revokedAt),
              t.role === 'ea' ? scopeText(t) : '']),
          ]))
        }
        return 0
      }
      case 'scope': {
        if (positionals.length !== 1) throw new EngineError(ErrorCodes.USAGE, 'token scope takes one token name or id')
        const modes = [values['first-use'] === true, values.unscoped === true, describeScope(scope) !== ''].filter(Boolean).length
        if (modes !== 1) {
          throw new EngineError(ErrorCodes.USAGE, 'token scope needs exactly one of: --account/--instance/--magic, --first-use, --unscoped')
        }
        const change = values['first-use'] ? { mode: 'first-use' as const } : values.unscoped ? { mode: 'unscoped' as const } : { scope }
        const info = await setScope(storage, positionals[0]!, change)
        if (values.json) io.out(JSON.stringify(info) + '\n')
        else io.out(`token "${info.name}": ${scopeText(info)} (connected EAs keep their sessions; the scope applies from their next hello)\n`)
        return 0
      }
      case 'revoke': {
        if (positionals.length !== 1) throw new EngineError(ErrorCodes.USAGE, 'token revoke takes one token name or id')
        await revokeToken(storage, positionals[0]!)
        io.out(`revoked ${positionals[0]}\n`)
        return 0
      }
      default:
        throw new EngineError(ErrorCodes.USAGE, `token needs a verb: create, list, scope or revoke${verb ? `; got "${verb}"` : ''}`)
    }
  } finally {
    await storage.close()
  }
}

async function commandCommand(args: string[], io: Io): Promise<number> {
  const [verb, ...rest] = args
  if (verb !== 'send') throw new EngineError(ErrorCodes.USAGE, `command needs the verb send${verb ? `; got "${verb}"` : ''}`)
  const { values } = parse(rest, {
    token: { type: 'string' },
    url: { type: 'string' },
    type: { type: 'string' },
    instance: { type: 'string' },
    login: { type: 'string' },
    server: { type: 'string' },
    magic: { type: 'string' },
    payload: { type: 'string' },
    'command-id': { type: 'string' },
    'expires-in-ms': { type: 'string' },
    'wait-ms': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
  })
  const config = configFrom(values, io)
  const tokenValue = (values.token as string | undefined) ?? io.env.MT5E_TOKEN
  if (!tokenValue) throw new EngineError(ErrorCodes.USAGE, 'command send needs an admin token: --token or MT5E_TOKEN')
  if (!values.type) throw new EngineError(ErrorCodes.USAGE, '--type is required: pause, resume, close_positions, close_all, set_risk or custom')
  let target: CommandSend['target']
  if (values.instance !== undefined) target = { instance_id: String(values.instance) }
  else if (values.login !== undefined && values.server !== undefined) {
    const login = wholeNumber(values.login, '--login')
    target = values.magic !== undefined
      ? { login, server: String(values.server), magic: Number(values.magic) }
      : { login, server: String(values.server) }
  } else throw new EngineError(ErrorCodes.USAGE, 'name the target: --instance ID, or --login N --server S [--magic M]')
  let payload: Record<string, unknown> | undefined
  if (values.payload !== undefined) {
    try {
      payload = JSON.parse(String(values.payload)) as Record<string, unknown>
    } catch (err) {
      throw new EngineError(ErrorCodes.USAGE, `--payload must be a JSON object: ${(err as Error).message}`)
    }
  }
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host
  const url = (values.url as string | undefined) ?? `ws://${host.includes(':') ? `[${host}]` : host}:${config.port}/v1`
  let dashboard: Dashboard
  try {
    dashboard = await connectDashboard(url, { token: tokenValue })
  } catch (err) {
    throw new EngineError(ErrorCodes.ENGINE_UNREACHABLE, `cannot reach the engine at ${url}: ${(err as Error).message}`, { url })
  }
  try {
    const sent = dashboard.sendCommand({
      command: values.type as CommandSend['command'],
      target,
      ...(payload !== undefined && { payload }),
      ...(values['command-id'] !== undefined && { command_id: String(values['command-id']) }),
      ...(values['expires-in-ms'] !== undefined && { expires_in_ms: wholeNumber(values['expires-in-ms'], '--expires-in-ms') }),
    })
    dashboard.on('command_status', (u: CommandStatusUpdate) => {
      io.out(values.json ? JSON.stringify(u) + '\n' : `${new Date(u.updated_at).toISOString()}  ${u.command_id}  ${u.status}${u.reason ? `  ${u.reason}` : ''}${u.result ? `  ${JSON.stringify(u.result)}` : ''}\n`)
    })
    const waitMs = values['wait-ms'] === undefined ? 30000 : Number(values['wait-ms'])
    const final = await sent.until(['succeeded', 'failed', 'rejected', 'expired'], waitMs).catch((err: Error & { code?: string }) => {
      if (err.code) throw new EngineError(ErrorCodes.USAGE, `the engine refused the command: ${err.message}`)
      io.err(`no final status within ${waitMs} ms; the command stays queued until it expires\n`)
      return undefined
    })
    return final?.status === 'succeeded' ? 0 : 1
  } finally {
    await dashboard.close()
  }
}

function wholeNumber(value: unknown, flag: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new EngineError(ErrorCodes.USAGE, `${flag} must be a whole number >= 1; got "${value}"`)
  return n
}

function printStatus(report: StatusReport, io: Io, json: boolean): number {
  if (json) {
    io.out(JSON.stringify(report, null, 2) + '\n')
    return report.drift ? 1 : 0
  }
  io.out(`${report.dialect} ${report.location}\n\n`)
  const rows = report.entries.map((e) => [
    e.version,
    e.name,
    e.state === 'modified' ? `modified (${e.modified!.join(', ')})` : e.state === 'failed' ? `failed (${e.failure!.state})` : e.state,
    e.appliedAt ? new Date(e.appliedAt).toISOString().replace('T', ' ').replace('Z', '') : '',
    e.durationMs !== undefined && e.durationMs !== null ? `${e.durationMs} ms` : '',
    e.hasRollback ? '' : 'no rollback',
  ])
  io.out(table([['VERSION', 'NAME', 'STATE', 'APPLIED AT (UTC)', 'TOOK', ''], ...rows]))
  if (report.problems.length > 0) {
    io.out(`\nproblems with the files:\n${report.problems.map((p) => `  ${p.code}: ${p.message}\n`).join('')}`)
  }
  const count = (state: string) => report.entries.filter((e) => e.state === state).length
  const summary = ['applied', 'pending', 'modified', 'missing', 'out_of_order', 'failed']
    .filter((s) => count(s) > 0)
    .map((s) => `${count(s)} ${s.replace(/_/g, ' ')}`)
  io.out(`\n${summary.join(', ') || 'no migrations'}${report.drift ? ' -- drift: see mt5-engine migrate validate' : ''}\n`)
  return report.drift ? 1 : 0
}

function printRun(run: RunResult, io: Io, json: boolean): number {
  if (json) {
    io.out(JSON.stringify({ results: run.results, error: run.error?.toJSON() }, null, 2) + '\n')
    return run.error ? 1 : 0
  }
  for (const r of run.results) io.out(resultLine(r) + '\n')
  if (run.results.length === 0 && !run.error) io.out('nothing to do\n')
  if (run.error) io.err(`error ${run.error.code}: ${run.error.message}\n`)
  return run.error ? 1 : 0
}

function resultLine(r: MigrationResult): string {
  const what = `${r.version}_${r.name}`
  switch (r.status) {
    case 'applied':
      return `applied      ${what} (${r.durationMs} ms)`
    case 'rolled_back':
      return `rolled back  ${what} (${r.durationMs} ms)`
    case 'would_apply':
      return `would apply  ${what}`
    case 'would_roll_back':
      return `would roll back ${what}`
    case 'not_run':
      return `not run      ${what}`
    case 'failed':
      return `FAILED       ${what}`
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd() + '\n').join('')
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

if (isMain()) {
  const io: Io = {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  }
  runCli(process.argv.slice(2), io).then((code) => {
    process.exitCode = code
  })
}
