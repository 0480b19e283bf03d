/** `mt5-engine migrate VERB`: the migrator's verbs, each over a database opened for it alone. */
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describeDatabase, type ResolvedConfig } from '../config/resolve.js'
import { createMigration, loadMigrations, type SqlFile } from '../db/migrator/files.js'
import { copyLintSchema, createLintSchema, lintSql, type LintFinding } from '../db/migrator/lint.js'
import {
  createMigrator,
  type MigrationResult,
  type Migrator,
  type RunResult,
  type StatusReport,
} from '../db/migrator/migrator.js'
import { parseDuration, waitForDatabase } from '../db/migrator/wait.js'
import { openStorage } from '../db/storage/open.js'
import type { Dialect } from '../db/storage/types.js'
import { EngineError, ErrorCodes, withFlagNames } from '../errors.js'
import { commonOptionsUsage, configFrom, optionFlags, parse, table, wholeNumber, type Io, type Options } from './io.js'

export const migrateUsageLines = `  mt5-engine migrate status [--json]
  mt5-engine migrate up [--to VERSION] [--dry-run] [--allow-out-of-order]
  mt5-engine migrate down [--steps N | --to VERSION | --all] [--dry-run]
  mt5-engine migrate redo [--steps N]
  mt5-engine migrate validate
  mt5-engine migrate repair
  mt5-engine migrate create NAME [--split]
  mt5-engine migrate dump [--out FILE] [--schema NAME]...
  mt5-engine migrate lint [--dialect sqlite|postgres|both] [--rollback-drops]
`

const migrateVerbs = ['status', 'up', 'down', 'redo', 'validate', 'repair', 'create', 'dump', 'lint']

/** `migrate --help` and `migrate VERB --help`: the usage lines of the verb (or all), exit 0. */
function migrateUsage(verb: string | undefined): string {
  const lines = migrateUsageLines.trimEnd().split('\n')
  const verbLines = lines.filter((l) => !verb || l.startsWith(`  mt5-engine migrate ${verb} `) || l === `  mt5-engine migrate ${verb}`)
  return `Usage:\n${verbLines.join('\n')}\n\nOptions for every command:\n${commonOptionsUsage}See docs/MIGRATIONS.md.\n`
}

export async function migrate(args: string[], io: Io): Promise<number> {
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

async function withMigrator<O extends Options>(
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
  if (run.error) io.err(`error ${run.error.code}: ${withFlagNames(run.error, optionFlags)}\n`)
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
