/**
 * Migration files on disk: names, dialect twins, directives, checksums. Everything here is checked
 * before anything touches a database, and every problem names its file.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { EngineError, ErrorCodes, type ErrorData } from '../../errors.js'
import { isBlankSql, type Dialect } from '../storage/types.js'

/** `<YYYYMMDDHHMMSS>_<snake_name>[.sqlite|.postgres].sql` */
const FILE_NAME = /^(\d{14})_([a-z0-9]+(?:_[a-z0-9]+)*)(?:\.(sqlite|postgres))?\.sql$/
const SNAKE_NAME = /^[a-z0-9]+(?:_[a-z0-9]+)*$/
const DIRECTIVE = /^--\s*mt5e:\s*(\S*)\s*$/

export interface Directives {
  /** `-- mt5e:no-transaction`: run outside a transaction; exactly one statement. */
  noTransaction: boolean
  /** `-- mt5e:foreign-keys-off`: SQLite table rebuilds; foreign_key_check runs before commit. */
  foreignKeysOff: boolean
}

export interface SqlFile {
  /** Path relative to the folder's parent, e.g. `migrations/20261101000000_core.sql`: for messages. */
  display: string
  path: string
  text: string
  checksum: string
  directives: Directives
  /**
   * The file holds comments only: it runs as a no-op and is recorded like any other (diesel, popx
   * and dbmate accept such files, and real histories are full of them: placeholders, notes, data
   * migrations that became obsolete).
   */
  commentOnly: boolean
}

export interface Migration {
  version: string
  name: string
  up: SqlFile
  /** Undefined when the rollback file does not exist: `down` then refuses. */
  down: SqlFile | undefined
}

export interface MigrationDirs {
  migrationsDir: string
  rollbacksDir: string
}

/**
 * `sha256:` of the text with a byte-order mark stripped and line endings normalised to LF, so that
 * a checkout with CRLF line endings does not look modified.
 */
export function checksum(text: string): string {
  return 'sha256:' + createHash('sha256').update(normaliseText(text)).digest('hex')
}

export function normaliseText(text: string): string {
  return text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n')
}

export function parseDirectives(text: string, display: string): Directives {
  const directives: Directives = { noTransaction: false, foreignKeysOff: false }
  for (const raw of normaliseText(text).split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    if (!line.startsWith('--')) break
    const match = DIRECTIVE.exec(line)
    if (!match) continue
    const name = match[1]
    if (name === 'no-transaction') directives.noTransaction = true
    else if (name === 'foreign-keys-off') directives.foreignKeysOff = true
    else {
      throw new EngineError(
        ErrorCodes.MIGRATION_BAD_DIRECTIVE,
        `${display}: unknown directive "${line}"; known: -- mt5e:no-transaction, -- mt5e:foreign-keys-off`,
        { file: display },
      )
    }
  }
  if (directives.noTransaction && directives.foreignKeysOff) {
    throw new EngineError(
      ErrorCodes.MIGRATION_BAD_DIRECTIVE,
      `${display}: mt5e:foreign-keys-off needs a transaction (its foreign_key_check runs before commit) ` +
        `and cannot be combined with mt5e:no-transaction`,
      { file: display },
    )
  }
  return directives
}

interface NamedFile {
  version: string
  name: string
  dialect: Dialect | undefined
  fileName: string
}

/**
 * Reads both folders and returns the migrations for `dialect`, sorted by version. Throws one
 * EngineError listing every problem found (`detail.problems`), with the first problem's code.
 */
export function loadMigrations(dirs: MigrationDirs, dialect: Dialect): Migration[] {
  const { migrations, problems } = scanMigrations(dirs, dialect)
  if (problems.length > 0) throw problemsError(problems)
  return migrations
}

/** One EngineError for a list of problems: the first one's code, every message listed. */
export function problemsError(problems: ErrorData[], heading = 'problems with migration files'): EngineError {
  const first = problems[0]!
  const message =
    problems.length === 1
      ? first.message
      : `${problems.length} ${heading}:\n` + problems.map((p) => `  - ${p.message}`).join('\n')
  return new EngineError(first.code, message, { problems })
}

/**
 * Like loadMigrations, but returns the problems instead of throwing, with every migration that
 * could be read: `status`, `validate` and `lint` show what they can beside what is wrong.
 */
export function scanMigrations(dirs: MigrationDirs, dialect: Dialect): { migrations: Migration[]; problems: ErrorData[] } {
  const problems: ErrorData[] = []
  const ups = scanFolder(dirs.migrationsDir, problems)
  const downs = scanFolder(dirs.rollbacksDir, problems)
  for (const [version, group] of downs) {
    if (!ups.has(version)) {
      problems.push(problem(ErrorCodes.MIGRATION_ORPHAN_ROLLBACK, display(dirs.rollbacksDir, group[0]!.fileName),
        `has no migration with version ${version} in ${dirs.migrationsDir}`))
    }
  }
  const migrations: Migration[] = []
  for (const version of [...ups.keys()].sort()) {
    const upName = pick(dirs.migrationsDir, ups.get(version)!, dialect, problems)
    const downGroup = downs.get(version)
    const downName = downGroup ? pick(dirs.rollbacksDir, downGroup, dialect, problems) : undefined
    if (!upName || (downGroup && !downName)) continue
    if (downName && downName.name !== upName.name) {
      problems.push(problem(ErrorCodes.MIGRATION_BAD_NAME, display(dirs.rollbacksDir, downName.fileName),
        `is named "${downName.name}" but its migration is "${upName.name}"; a rollback has the same file name`))
      continue
    }
    const up = readSqlFile(dirs.migrationsDir, upName.fileName, problems)
    const down = downName ? readSqlFile(dirs.rollbacksDir, downName.fileName, problems) : undefined
    if (up) migrations.push({ version, name: upName.name, up, down: down ?? undefined })
  }
  return { migrations, problems }
}

function scanFolder(dir: string, problems: ErrorData[]): Map<string, NamedFile[]> {
  const byVersion = new Map<string, NamedFile[]>()
  if (!existsSync(dir)) return byVersion
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith('.') || /\.md$/i.test(entry.name)) continue
    const match = FILE_NAME.exec(entry.name)
    if (!match || !validTimestamp(match[1]!)) {
      problems.push(problem(ErrorCodes.MIGRATION_BAD_NAME, display(dir, entry.name),
        'does not follow <YYYYMMDDHHMMSS>_<snake_name>.sql (or .sqlite.sql / .postgres.sql), ' +
        'with a real UTC date-time and a lower-case snake_case name'))
      continue
    }
    const file: NamedFile = {
      version: match[1]!,
      name: match[2]!,
      dialect: match[3] as Dialect | undefined,
      fileName: entry.name,
    }
    const group = byVersion.get(file.version) ?? []
    group.push(file)
    byVersion.set(file.version, group)
  }
  return byVersion
}

/** Chooses the file of a version for `dialect`, checking for duplicates and missing twins. */
function pick(dir: string, group: NamedFile[], dialect: Dialect, problems: ErrorData[]): NamedFile | undefined {
  const generic = group.filter((f) => f.dialect === undefined)
  const sqlite = group.filter((f) => f.dialect === 'sqlite')
  const pg = group.filter((f) => f.dialect === 'postgres')
  const names = new Set(group.map((f) => f.name))
  if (names.size > 1 || generic.length > 1 || sqlite.length > 1 || pg.length > 1 || (generic.length && group.length > 1)) {
    problems.push(problem(ErrorCodes.MIGRATION_DUPLICATE_VERSION, group.map((f) => display(dir, f.fileName)).join(', '),
      `share version ${group[0]!.version}; a version has one .sql file, or one .sqlite.sql and one .postgres.sql`))
    return undefined
  }
  if (generic.length === 1) return generic[0]
  if (sqlite.length !== pg.length) {
    const present = (sqlite[0] ?? pg[0])!
    const missing = present.fileName.replace(/\.(sqlite|postgres)\.sql$/, present.dialect === 'sqlite' ? '.postgres.sql' : '.sqlite.sql')
    problems.push(problem(ErrorCodes.MIGRATION_MISSING_TWIN, display(dir, present.fileName),
      `has no twin ${missing}: a version split by dialect needs both files`))
    return undefined
  }
  return dialect === 'sqlite' ? sqlite[0] : pg[0]
}

function readSqlFile(dir: string, fileName: string, problems: ErrorData[]): SqlFile | undefined {
  const path = join(dir, fileName)
  const shown = display(dir, fileName)
  const text = readFileSync(path, 'utf8')
  // A file with not even a comment is what a failed save, a truncated copy or `touch` leaves;
  // nobody means it, while a comment says the no-op is deliberate.
  if (normaliseText(text).trim() === '') {
    problems.push(problem(ErrorCodes.MIGRATION_EMPTY, shown,
      'is empty (not even a comment); write its SQL, or a comment saying why it does nothing'))
    return undefined
  }
  try {
    const directives = parseDirectives(text, shown)
    return { display: shown, path, text, checksum: checksum(text), directives, commentOnly: isBlankSql(text) }
  } catch (err) {
    if (err instanceof EngineError) problems.push(err.toJSON())
    else throw err
    return undefined
  }
}

function validTimestamp(version: string): boolean {
  const [y, mo, d, h, mi, s] = [0, 4, 6, 8, 10, 12].map((at, i) => Number(version.slice(at, at + (i === 0 ? 4 : 2))))
  const date = new Date(Date.UTC(y!, mo! - 1, d, h, mi, s))
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo! - 1 && date.getUTCDate() === d &&
    date.getUTCHours() === h && date.getUTCMinutes() === mi && date.getUTCSeconds() === s
}

function display(dir: string, fileName: string): string {
  const base = dir.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? dir
  return `${base}/${fileName}`
}

function problem(code: ErrorData['code'], file: string, text: string): ErrorData {
  return { code, message: `${file} ${text}`, detail: { file } }
}

/** The current UTC time as a version: `YYYYMMDDHHMMSS`. */
export function versionAt(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14)
}

export interface CreateOptions extends MigrationDirs {
  name: string
  /** Write `.sqlite.sql` and `.postgres.sql` twins instead of one file each. */
  split?: boolean
  now?: Date
}

/** Writes a new migration and its rollback; returns the paths written. */
export function createMigration(options: CreateOptions): string[] {
  const { name, migrationsDir, rollbacksDir } = options
  if (!SNAKE_NAME.test(name)) {
    throw new EngineError(ErrorCodes.MIGRATION_CREATE_FAILED,
      `migration name "${name}" must be lower-case snake_case, like add_deal_indexes`, { name })
  }
  const version = versionAt(options.now ?? new Date())
  const suffixes = options.split ? ['.sqlite.sql', '.postgres.sql'] : ['.sql']
  for (const dir of [migrationsDir, rollbacksDir]) {
    mkdirSync(dir, { recursive: true })
    const clash = readdirSync(dir).find((f) => f.startsWith(`${version}_`))
    if (clash) {
      throw new EngineError(ErrorCodes.MIGRATION_CREATE_FAILED,
        `${display(dir, clash)} already uses version ${version}; wait a second and run create again`, { version })
    }
  }
  const written: string[] = []
  for (const suffix of suffixes) {
    const up = join(migrationsDir, `${version}_${name}${suffix}`)
    const down = join(rollbacksDir, `${version}_${name}${suffix}`)
    writeFileSync(up, `-- ${name}: say what this migration changes and why.\n`, { flag: 'wx' })
    writeFileSync(down, `-- Undoes ${version}_${name}${suffix}: leave the schema exactly as before it.\n`, { flag: 'wx' })
    written.push(up, down)
  }
  return written
}
