/**
 * The migrator: applies and rolls back SQL files, one transaction per file together with its
 * history row, under a lock shared by every process using the database. Runs return a result per
 * migration and an error instead of throwing, so that a caller always learns what was applied.
 */
import { performance } from 'node:perf_hooks'
import { EngineError, ErrorCodes, type ErrorData } from '../../errors.js'
import { databaseErrorInfo, type Storage } from '../storage/types.js'
import { dumpSchema, type DumpOptions } from './dump.js'
import { loadMigrations, problemsError, scanMigrations, type Migration, type MigrationDirs, type SqlFile } from './files.js'
import { statementCount } from './lint.js'
import {
  deleteHistory,
  ensureHistory,
  historyExists,
  insertHistory,
  readHistory,
  setHistoryChecksums,
  setHistoryState,
  type HistoryRow,
} from './history.js'

export interface MigratorOptions extends MigrationDirs {
  storage: Storage
  /** How long to wait for another migrator's lock. Default 30000 ms. */
  lockTimeoutMs?: number
}

export type MigrationState = 'applied' | 'pending' | 'modified' | 'missing' | 'out_of_order' | 'failed'

export interface StatusEntry {
  version: string
  name: string
  state: MigrationState
  /** Epoch milliseconds, for applied (and modified, failed) migrations. */
  appliedAt?: number
  durationMs?: number | null
  applyOrder?: number
  /** What changed for `modified`: the migration file, its rollback, or both. */
  modified?: ('migration' | 'rollback')[]
  /** For `failed`: the history state and the recorded error. */
  failure?: { state: string; error: string | null }
  hasRollback: boolean
  file?: string
}

export interface StatusReport {
  dialect: Storage['dialect']
  location: string
  entries: StatusEntry[]
  /**
   * What is wrong with the files themselves (a bad name, an orphan rollback, a missing twin...):
   * status still shows every migration it could read, and these beside them.
   */
  problems: ErrorData[]
  /**
   * Applied files changed or missing, failed runs, pending files older than the newest applied, or
   * any problem with the files.
   */
  drift: boolean
}

export type ResultStatus = 'applied' | 'rolled_back' | 'failed' | 'not_run' | 'would_apply' | 'would_roll_back'

export interface MigrationResult {
  version: string
  name: string
  direction: 'up' | 'down'
  status: ResultStatus
  durationMs?: number
  file: string
  error?: ErrorData
}

export interface RunResult {
  results: MigrationResult[]
  /** Why the run stopped early or refused to start; undefined when everything asked for was done. */
  error?: EngineError
}

export interface UpOptions {
  /** Apply up to and including this version. */
  to?: string
  dryRun?: boolean
  /** Apply pending versions older than the newest applied one (after a branch merge). */
  allowOutOfOrder?: boolean
}

export interface DownOptions {
  /** Roll back this many migrations, newest applied first. Default 1. */
  steps?: number
  /** Roll back everything applied after this version (`0`: everything). */
  to?: string
  dryRun?: boolean
}

export interface RepairAction {
  version: string
  name: string
  action: 'checksum_updated' | 'forgotten' | 'failed_run_cleared' | 'failed_rollback_cleared'
  message: string
}

/** What `repair()` changed in the history, one action per version; empty when nothing needed it. */
export interface RepairResult {
  actions: RepairAction[]
}

export interface ValidateReport {
  ok: boolean
  problems: ErrorData[]
  warnings: string[]
}

export interface Migrator {
  status(): Promise<StatusReport>
  up(options?: UpOptions): Promise<RunResult>
  down(options?: DownOptions): Promise<RunResult>
  redo(options?: { steps?: number }): Promise<RunResult>
  validate(): Promise<ValidateReport>
  /**
   * Clears failed and interrupted no-transaction runs, forgets applied migrations whose files are
   * gone and accepts the current checksums of edited ones. Throws LOCK_TIMEOUT when another
   * migrator holds the lock (nothing was changed then).
   */
  repair(): Promise<RepairResult>
  dump(options?: DumpOptions): Promise<string>
}

const LOCK_NAME = 'migrate'

/** How messages name the way out of drift and blocked runs, for users of the CLI and of this API alike. */
const REPAIR = 'mt5-engine migrate repair (repair() from the API)'

export function createMigrator(options: MigratorOptions): Migrator {
  const { storage } = options
  const lockTimeoutMs = options.lockTimeoutMs ?? 30000
  const load = (): Migration[] => loadMigrations(options, storage.dialect)

  async function currentEntries(): Promise<{ migrations: Migration[]; history: HistoryRow[]; entries: StatusEntry[] }> {
    const migrations = load()
    const history = (await historyExists(storage)) ? await readHistory(storage) : []
    return { migrations, history, entries: reconcile(migrations, history) }
  }

  /** Runs `body` under the lock; an EngineError it throws becomes the run's error. */
  async function locked(body: (results: MigrationResult[]) => Promise<void>): Promise<RunResult> {
    const results: MigrationResult[] = []
    try {
      await storage.withLock(LOCK_NAME, lockTimeoutMs, async () => {
        await ensureHistory(storage)
        await body(results)
      })
      const failed = results.find((r) => r.status === 'failed')
      return failed?.error ? { results, error: fromData(failed.error) } : { results }
    } catch (err) {
      if (err instanceof EngineError) return { results, error: err }
      throw err
    }
  }

  async function upInner(results: MigrationResult[], opts: UpOptions & { only?: Set<string> }): Promise<void> {
    const { migrations, entries } = await currentEntries()
    refuseDrift(entries)
    let pending = entries.filter((e) => e.state === 'pending' || e.state === 'out_of_order')
    if (opts.only) pending = pending.filter((e) => opts.only!.has(e.version))
    if (opts.to !== undefined) {
      const to = opts.to
      if (!entries.some((e) => e.version === to)) throw unknownVersion(to, entries)
      pending = pending.filter((e) => e.version <= to)
    }
    const late = pending.filter((e) => e.state === 'out_of_order')
    if (late.length > 0 && !opts.allowOutOfOrder && !opts.only) {
      throw new EngineError(
        ErrorCodes.MIGRATION_OUT_OF_ORDER,
        `${late.map((e) => e.file).join(', ')} ${late.length === 1 ? 'is' : 'are'} older than the newest applied ` +
          `migration; set the allowOutOfOrder option if that is intended (e.g. after merging a branch)`,
        { versions: late.map((e) => e.version), option: 'allowOutOfOrder' },
      )
    }
    const byVersion = new Map(migrations.map((m) => [m.version, m]))
    const chosen = pending.map((e) => byVersion.get(e.version)!)
    // Rollbacks too: a file that could be applied but never undone is better found now.
    await preflight(chosen.flatMap((m) => (m.down ? [m.up, m.down] : [m.up])))
    await runEach(results, chosen, 'up', opts.dryRun ?? false)
  }

  async function downInner(results: MigrationResult[], opts: DownOptions): Promise<Migration[]> {
    const { migrations, history, entries } = await currentEntries()
    refuseDrift(entries)
    const applied = history.filter((r) => r.state === 'applied').reverse()
    let targets: HistoryRow[]
    if (opts.to !== undefined) {
      if (/^0+$/.test(opts.to)) targets = applied
      else {
        const anchor = applied.find((r) => r.version === opts.to)
        if (!anchor) throw unknownVersion(opts.to, entries, 'applied ')
        targets = applied.filter((r) => r.apply_order > anchor.apply_order)
      }
    } else {
      const steps = opts.steps ?? 1
      if (!Number.isInteger(steps) || steps < 1) {
        throw new EngineError(ErrorCodes.CONFIG_INVALID, `the steps option must be a whole number >= 1; got ${steps}`, { option: 'steps' })
      }
      targets = applied.slice(0, steps)
    }
    const byVersion = new Map(migrations.map((m) => [m.version, m]))
    const chosen = targets.map((r) => byVersion.get(r.version)!)
    const noRollback = chosen.filter((m) => m.down === undefined)
    if (noRollback.length > 0) {
      throw new EngineError(
        ErrorCodes.MIGRATION_NO_ROLLBACK,
        `cannot roll back: no rollback file for ${noRollback.map((m) => m.up.display).join(', ')} ` +
          `(expected rollbacks/${noRollback[0]!.up.display.split('/').pop()}); nothing was changed`,
        { versions: noRollback.map((m) => m.version) },
      )
    }
    await preflight(chosen.map((m) => m.down!))
    return runEach(results, chosen, 'down', opts.dryRun ?? false)
  }

  /** Runs migrations one by one and stops at the first failure; returns those that succeeded. */
  async function runEach(
    results: MigrationResult[],
    list: Migration[],
    direction: 'up' | 'down',
    dryRun: boolean,
  ): Promise<Migration[]> {
    const done: Migration[] = []
    let failed = false
    for (const m of list) {
      const file = direction === 'up' ? m.up : m.down!
      const base = { version: m.version, name: m.name, direction, file: file.display }
      if (dryRun) results.push({ ...base, status: direction === 'up' ? 'would_apply' : 'would_roll_back' })
      else if (failed) results.push({ ...base, status: 'not_run' })
      else {
        const outcome = direction === 'up' ? await applyUp(m) : await applyDown(m)
        results.push({ ...base, ...outcome })
        if (outcome.status === 'failed') failed = true
        else done.push(m)
      }
    }
    return done
  }

  type Outcome = Pick<MigrationResult, 'status' | 'durationMs' | 'error'>

  async function applyUp(m: Migration): Promise<Outcome> {
    const started = performance.now()
    const row = {
      version: m.version,
      name: m.name,
      checksum: m.up.checksum,
      rollbackChecksum: m.down?.checksum ?? null,
      appliedAt: Date.now(),
    }
    if (m.up.directives.noTransaction) {
      await refuseSeveralStatements(m.up)
      await insertHistory(storage, { ...row, durationMs: null, state: 'running' })
      try {
        if (!m.up.commentOnly) await storage.exec(m.up.text)
      } catch (err) {
        const error = migrationFailed(m.up, err, true)
        await setHistoryState(storage, m.version, 'failed', { error: error.message })
        return { status: 'failed', error: error.toJSON() }
      }
      const durationMs = elapsed(started)
      await setHistoryState(storage, m.version, 'applied', { durationMs })
      return { status: 'applied', durationMs }
    }
    try {
      await storage.transaction(
        async (tx) => {
          if (!m.up.commentOnly) await tx.exec(m.up.text)
          await insertHistory(tx, { ...row, durationMs: elapsed(started), state: 'applied' })
        },
        { foreignKeysOff: m.up.directives.foreignKeysOff },
      )
      return { status: 'applied', durationMs: elapsed(started) }
    } catch (err) {
      return { status: 'failed', error: migrationFailed(m.up, err, false).toJSON() }
    }
  }

  async function applyDown(m: Migration): Promise<Outcome> {
    const file = m.down!
    const started = performance.now()
    if (file.directives.noTransaction) {
      await refuseSeveralStatements(file)
      await setHistoryState(storage, m.version, 'rolling_back')
      try {
        if (!file.commentOnly) await storage.exec(file.text)
      } catch (err) {
        const error = migrationFailed(file, err, true)
        await setHistoryState(storage, m.version, 'rollback_failed', { error: error.message })
        return { status: 'failed', error: error.toJSON() }
      }
      await deleteHistory(storage, m.version)
      return { status: 'rolled_back', durationMs: elapsed(started) }
    }
    try {
      await storage.transaction(
        async (tx) => {
          if (!file.commentOnly) await tx.exec(file.text)
          await deleteHistory(tx, m.version)
        },
        { foreignKeysOff: file.directives.foreignKeysOff },
      )
      return { status: 'rolled_back', durationMs: elapsed(started) }
    } catch (err) {
      return { status: 'failed', error: migrationFailed(file, err, false).toJSON() }
    }
  }

  /**
   * The database's parser decides, and only when it will not say (SQLite compiles a statement
   * before it looks past it, so `create index ... on a_table_not_made_yet` is `unknown`) the
   * linter's scanner does. The scanner never splits anything that runs: it only refuses early.
   */
  async function severalStatements(file: SqlFile): Promise<boolean> {
    if (!file.directives.noTransaction || file.commentOnly) return false
    const counted = await storage.countStatements(file.text)
    if (counted !== 'unknown') return counted === 'many'
    return statementCount(file.text, storage.dialect) > 1
  }

  function notSingle(file: SqlFile): ErrorData {
    return {
      code: ErrorCodes.MIGRATION_NOT_SINGLE_STATEMENT,
      message:
        `${file.display} is marked -- mt5e:no-transaction but holds more than one statement; ` +
        `a file that runs outside a transaction must hold exactly one, so split it into several versions`,
      detail: { file: file.display },
    }
  }

  /** Checks every file a run will need before the first one runs, and lists all that would not. */
  async function preflight(files: SqlFile[]): Promise<void> {
    const problems: ErrorData[] = []
    for (const file of files) if (await severalStatements(file)) problems.push(notSingle(file))
    if (problems.length > 0) throw problemsError(problems, 'files would not run; nothing was run')
  }

  // Checked again at the file's turn: the preflight's answer may have been the scanner's.
  async function refuseSeveralStatements(file: SqlFile): Promise<void> {
    if ((await storage.countStatements(file.text)) === 'many') {
      const p = notSingle(file)
      throw new EngineError(p.code, p.message, p.detail)
    }
  }

  return {
    async status() {
      const { migrations, problems } = scanMigrations(options, storage.dialect)
      const history = (await historyExists(storage)) ? await readHistory(storage) : []
      const entries = reconcile(migrations, history)
      return {
        dialect: storage.dialect,
        location: storage.location,
        entries,
        problems,
        drift: problems.length > 0 || entries.some((e) => e.state !== 'applied' && e.state !== 'pending'),
      }
    },

    up(opts = {}) {
      return locked((results) => upInner(results, opts))
    },

    down(opts = {}) {
      return locked(async (results) => void (await downInner(results, opts)))
    },

    redo(opts = {}) {
      return locked(async (results) => {
        const undone = await downInner(results, { steps: opts.steps ?? 1 })
        if (results.some((r) => r.status === 'failed')) return
        await upInner(results, { only: new Set(undone.map((m) => m.version)) })
      })
    },

    async validate() {
      const problems: ErrorData[] = []
      const warnings: string[] = []
      let entries: StatusEntry[] = []
      let migrations: Migration[] = []
      const scanned = scanMigrations(options, storage.dialect)
      problems.push(...scanned.problems)
      migrations = scanned.migrations
      entries = reconcile(migrations, (await historyExists(storage)) ? await readHistory(storage) : [])
      for (const e of entries) {
        const p = entryProblem(e)
        if (p) problems.push(p)
      }
      for (const m of migrations) {
        if (!m.down) warnings.push(`${m.up.display} has no rollback file; down cannot undo it`)
        for (const file of [m.up, m.down]) {
          if (file && (await severalStatements(file))) problems.push(notSingle(file))
        }
      }
      return { ok: problems.length === 0, problems, warnings }
    },

    async repair(): Promise<RepairResult> {
      const actions: RepairAction[] = []
      const run = await locked(async () => {
        const migrations = load()
        const byVersion = new Map(migrations.map((m) => [m.version, m]))
        for (const row of await readHistory(storage)) {
          const action = await repairRow(row, byVersion.get(row.version))
          if (action) actions.push(action)
        }
      })
      if (run.error) throw run.error
      return { actions }
    },

    dump(opts = {}) {
      return dumpSchema(storage, opts)
    },
  }

  async function repairRow(row: HistoryRow, m: Migration | undefined): Promise<RepairAction | undefined> {
    const base = { version: row.version, name: row.name }
    if (row.state === 'running' || row.state === 'failed') {
      await deleteHistory(storage, row.version)
      return {
        ...base,
        action: 'failed_run_cleared',
        message:
          `cleared the failed run of ${row.version}_${row.name}: it counts as pending again; check the database ` +
          `for anything it left half done (for example an INVALID index) before running up`,
      }
    }
    if (row.state === 'rolling_back' || row.state === 'rollback_failed') {
      await setHistoryState(storage, row.version, 'applied')
      return {
        ...base,
        action: 'failed_rollback_cleared',
        message: `cleared the failed rollback of ${row.version}_${row.name}: it counts as applied again`,
      }
    }
    if (!m) {
      await deleteHistory(storage, row.version)
      return {
        ...base,
        action: 'forgotten',
        message: `forgot ${row.version}_${row.name}: its file is gone (its schema changes, if any, stay)`,
      }
    }
    const rollbackChecksum = m.down?.checksum ?? null
    if (row.checksum !== m.up.checksum || (rollbackChecksum !== null && row.rollback_checksum !== rollbackChecksum)) {
      await setHistoryChecksums(storage, row.version, m.up.checksum, rollbackChecksum)
      return { ...base, action: 'checksum_updated', message: `accepted the current files of ${m.up.display}` }
    }
    return undefined
  }
}

/** Joins the files and the history into one entry per version, sorted by version. */
export function reconcile(migrations: Migration[], history: HistoryRow[]): StatusEntry[] {
  const rows = new Map(history.map((r) => [r.version, r]))
  const newestApplied = history.reduce((max, r) => (r.version > max ? r.version : max), '')
  const entries: StatusEntry[] = []
  for (const m of migrations) {
    const row = rows.get(m.version)
    const base = { version: m.version, name: m.name, hasRollback: m.down !== undefined, file: m.up.display }
    if (!row) {
      entries.push({ ...base, state: m.version < newestApplied ? 'out_of_order' : 'pending' })
      continue
    }
    const applied = { appliedAt: row.applied_at, durationMs: row.duration_ms, applyOrder: row.apply_order }
    if (row.state !== 'applied') {
      entries.push({ ...base, ...applied, state: 'failed', failure: { state: row.state, error: row.error } })
      continue
    }
    const modified: ('migration' | 'rollback')[] = []
    if (row.checksum !== m.up.checksum) modified.push('migration')
    if (row.rollback_checksum !== null && row.rollback_checksum !== (m.down?.checksum ?? null)) modified.push('rollback')
    entries.push(modified.length ? { ...base, ...applied, state: 'modified', modified } : { ...base, ...applied, state: 'applied' })
  }
  for (const row of history) {
    if (migrations.some((m) => m.version === row.version)) continue
    entries.push({
      version: row.version,
      name: row.name,
      state: 'missing',
      appliedAt: row.applied_at,
      durationMs: row.duration_ms,
      applyOrder: row.apply_order,
      hasRollback: false,
    })
  }
  return entries.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
}

function entryProblem(e: StatusEntry): ErrorData | undefined {
  const label = e.file ?? `${e.version}_${e.name}`
  switch (e.state) {
    case 'modified':
      return {
        code: ErrorCodes.MIGRATION_DRIFT,
        message: `${label} was applied but its ${e.modified!.join(' and ')} file changed since`,
        detail: { version: e.version, modified: e.modified },
      }
    case 'missing':
      return {
        code: ErrorCodes.MIGRATION_DRIFT,
        message: `${label} was applied but its file is missing`,
        detail: { version: e.version },
      }
    case 'failed':
      return {
        code: ErrorCodes.MIGRATION_BLOCKED,
        message: `${label} ${e.failure!.state === 'running' || e.failure!.state === 'rolling_back' ? 'was interrupted' : 'failed'} ` +
          `outside a transaction (${e.failure!.state}${e.failure!.error ? `: ${e.failure!.error}` : ''}); ` +
          `check the database, then run ${REPAIR}`,
        detail: { version: e.version, state: e.failure!.state },
      }
    case 'out_of_order':
      return {
        code: ErrorCodes.MIGRATION_OUT_OF_ORDER,
        message: `${label} is pending but older than the newest applied migration`,
        detail: { version: e.version },
      }
    default:
      return undefined
  }
}

/** Refuses to run on drift (changed or missing applied files) and on blocked (failed) runs. */
function refuseDrift(entries: StatusEntry[]): void {
  const drift = entries.filter((e) => e.state === 'modified' || e.state === 'missing').map(entryProblem) as ErrorData[]
  if (drift.length > 0) {
    throw new EngineError(
      ErrorCodes.MIGRATION_DRIFT,
      `the applied migrations and the files disagree:\n${drift.map((p) => `  - ${p.message}`).join('\n')}\n` +
        `restore the files, or accept deliberate edits with ${REPAIR}`,
      { problems: drift },
    )
  }
  const blocked = entries.filter((e) => e.state === 'failed').map(entryProblem) as ErrorData[]
  if (blocked.length > 0) {
    throw new EngineError(ErrorCodes.MIGRATION_BLOCKED, blocked.map((p) => p.message).join('\n'), { problems: blocked })
  }
}

function unknownVersion(version: string, entries: StatusEntry[], what = ''): EngineError {
  return new EngineError(
    ErrorCodes.MIGRATION_UNKNOWN_VERSION,
    `the to option names ${version}, which is not a known ${what}migration version; ${what ? 'applied' : 'known'} versions: ` +
      (entries
        .filter((e) => !what || e.state === 'applied')
        .map((e) => e.version)
        .join(', ') || 'none'),
    { version, option: 'to' },
  )
}

/** The database refused a file: name the file, the database's code and message, and where. */
export function migrationFailed(file: SqlFile, err: unknown, recorded: boolean): EngineError {
  if (err instanceof EngineError) return err
  const info = databaseErrorInfo(err)
  const where = info.position ? lineAndColumn(file.text, info.position) : undefined
  const at = where ? ` at line ${where.line}, column ${where.column}` : ''
  const after = recorded
    ? `; the failure is recorded and blocks further runs until ${REPAIR}`
    : '; nothing of it was applied'
  // PostgreSQL's DETAIL and HINT are often the useful half (2BP01 names the dependent objects).
  const server = (info.detail ? `\nDETAIL: ${info.detail}` : '') + (info.hint ? `\nHINT: ${info.hint}` : '')
  const rebuild =
    info.dbCode.startsWith('SQLITE_CONSTRAINT_FOREIGNKEY') && !file.directives.foreignKeysOff
      ? '\nHINT: if this file rebuilds a table that others reference (drop and re-create), put ' +
        '-- mt5e:foreign-keys-off at its top: DROP TABLE deletes the rows while foreign keys are on'
      : ''
  return new EngineError(
    ErrorCodes.MIGRATION_FAILED,
    `${file.display} failed${at}: ${info.dbCode}: ${info.dbMessage}${after}${server}${rebuild}`,
    { file: file.display, ...info, ...where },
    { cause: err },
  )
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = Array.from(text).slice(0, position - 1).join('')
  const lines = before.split('\n')
  return { line: lines.length, column: lines[lines.length - 1]!.length + 1 }
}

function fromData(data: ErrorData): EngineError {
  return new EngineError(data.code, data.message, data.detail)
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started)
}
