#!/usr/bin/env node
/**
 * `mt5-engine`: the command line. Each verb is one small function; configuration goes through
 * resolveConfig, so flags, `MT5E_*` variables and the config file mean the same everywhere.
 */
import { realpathSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { describeDatabase, resolveConfig, type OptionName, type ResolvedConfig } from './config.js'
import { startEngine } from './engine.js'
import { EngineError, ErrorCodes } from './errors.js'
import { createMigration, loadMigrations } from './migrator/files.js'
import { lintSql, type LintFinding } from './migrator/lint.js'
import {
  createMigrator,
  type MigrationResult,
  type Migrator,
  type RunResult,
  type StatusReport,
} from './migrator/migrator.js'
import { openStorage } from './storage/open.js'
import type { Dialect } from './storage/types.js'

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
  env: Record<string, string | undefined>
  cwd: string
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
}

export const usage = `mt5-engine: a data engine for MetaTrader 5

Usage:
  mt5-engine start [--data-dir DIR] [--database URL|FILE] [--no-migrate]
  mt5-engine migrate status [--json]
  mt5-engine migrate up [--to VERSION] [--dry-run] [--allow-out-of-order]
  mt5-engine migrate down [--steps N | --to VERSION | --all] [--dry-run]
  mt5-engine migrate redo [--steps N]
  mt5-engine migrate validate
  mt5-engine migrate repair
  mt5-engine migrate create NAME [--split]
  mt5-engine migrate dump [--out FILE]
  mt5-engine migrate lint [--dialect sqlite|postgres|both]

Options for every command:
  --data-dir DIR          data folder (default ./data; MT5E_DATA_DIR)
  --database URL|FILE     postgres://... or a SQLite file (default DIR/mt5-engine.db; MT5E_DATABASE)
  --synchronous MODE      SQLite NORMAL (default) or FULL (MT5E_SYNCHRONOUS)
  --busy-timeout MS       SQLite busy timeout (default 5000; MT5E_BUSY_TIMEOUT_MS)
  --lock-timeout MS       wait for another migrator (default 30000; MT5E_LOCK_TIMEOUT_MS)
  --migrations-dir DIR    migration files (default: the package's migrations/; MT5E_MIGRATIONS_DIR)
  --rollbacks-dir DIR     rollback files (default: the package's rollbacks/; MT5E_ROLLBACKS_DIR)
  --config FILE           JSON config file (default ./mt5-engine.json if present; MT5E_CONFIG)
  --json                  machine-readable output
`

/** Runs one command line; returns the exit code: 0 ok, 1 failed or drift, 2 usage. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'start':
        return await start(rest, io)
      case 'migrate':
        return await migrate(rest, io)
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
    io.err(json ? JSON.stringify({ error: err.toJSON() }) + '\n' : `error ${err.code}: ${err.message}\n`)
    return err.code === ErrorCodes.USAGE ? 2 : 1
  }
  if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    io.err(`error USAGE: ${err.message}; run mt5-engine help\n`)
    return 2
  }
  io.err(`error: ${(err as Error)?.stack ?? String(err)}\n`)
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
    host: { type: 'string' },
    port: { type: 'string' },
  })
  const config = configFrom(values, io, values['no-migrate'] ? { migrate: false } : {})
  const engine = await startEngine(config)
  try {
    const applied = engine.applied.filter((r) => r.status === 'applied')
    const total = engine.status.entries.length
    io.out(`mt5-engine: database ${describe(config)}\n`)
    for (const r of applied) io.out(`  applied ${r.version}_${r.name} (${r.durationMs} ms)\n`)
    io.out(`mt5-engine: schema up to date: ${total} migrations applied, ${applied.length} of them now\n`)
  } finally {
    await engine.close()
  }
  return 0
}

function describe(config: ResolvedConfig): string {
  return config.dialect === 'sqlite'
    ? `sqlite ${config.database} (WAL, synchronous=${config.synchronous})`
    : `postgres ${describeDatabase(config.database)}`
}

async function migrate(args: string[], io: Io): Promise<number> {
  const [verb, ...rest] = args
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
      return withMigrator(rest, { out: { type: 'string' } }, io, async (m, values, config) => {
        const text = await m.dump()
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
  const { values, positionals } = parse(args, options)
  if (positionals.length > 0) throw new EngineError(ErrorCodes.USAGE, `unexpected argument "${positionals[0]}"`)
  const config = configFrom(values, io)
  const storage = await openStorage(config)
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
  const { values } = parse(args, { dialect: { type: 'string' } })
  const which = (values.dialect as string | undefined) ?? 'both'
  if (!['sqlite', 'postgres', 'both'].includes(which)) {
    throw new EngineError(ErrorCodes.USAGE, `--dialect must be sqlite, postgres or both; got "${which}"`)
  }
  const config = configFrom(values, io)
  const dialects: Dialect[] = which === 'both' ? ['sqlite', 'postgres'] : [which as Dialect]
  const seen = new Set<string>()
  const findings: LintFinding[] = []
  for (const dialect of dialects) {
    for (const m of loadMigrations(config, dialect)) {
      for (const file of [m.up, m.down]) {
        if (!file) continue
        for (const f of lintSql(file.text, { dialect, file: file.display, noTransaction: file.directives.noTransaction })) {
          const key = `${f.file}:${f.line}:${f.rule}:${f.message}`
          if (!seen.has(key)) findings.push(f)
          seen.add(key)
        }
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
