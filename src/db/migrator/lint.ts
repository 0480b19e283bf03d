import type { AST, Parser } from 'node-sql-parser'
import { sqlParser } from '../sql-parser.js'

export type Dialect = 'sqlite' | 'postgres'
export type LintLevel = 'warning' | 'notice'

/** One thing a reviewer should know about a migration file. */
export interface LintFinding {
  /** The file name as given to `lintSql`. */
  file: string
  /** 'warning' for things a reviewer must look at; 'notice' for information. */
  level: LintLevel
  rule: LintRule
  /** What and why, naming the statement by its first ~60 characters on one line. */
  message: string
  /** 1-based line where the statement starts. */
  line?: number
}

export type LintRule =
  | 'destructive'
  | 'foreign-key-rebuild'
  | 'needs-no-transaction'
  | 'no-transaction-multiple'
  | 'transaction-control'
  | 'unparsed'

export interface LintOptions {
  dialect: Dialect
  file: string
  noTransaction: boolean
  /** The file carries `-- mt5e:foreign-keys-off`. Default false. */
  foreignKeysOff?: boolean
  /**
   * A rollback: its drops are its job, so DROP statements are not reported as destructive.
   * Default false.
   */
  rollback?: boolean
  /**
   * SQLite: the foreign keys of the files linted before this one, from `createLintSchema()`. It
   * is updated with this file's CREATE, DROP and RENAME statements. Without it, only references
   * made in this file are known.
   */
  schema?: LintSchema
}

/**
 * Lints one migration file. Never throws; findings are ordered by line.
 *
 * - `destructive` (warning): DROP TABLE/COLUMN/SCHEMA/FUNCTION/TYPE/DATABASE, TRUNCATE, DELETE or
 *   UPDATE without WHERE, ALTER COLUMN ... TYPE, renaming a table or column. DROP VIEW, DROP
 *   MATERIALIZED VIEW and DROP INDEX lose no data and are notices. Not in rollbacks for DROP.
 * - `foreign-key-rebuild` (warning, SQLite): DROP TABLE of a table other tables reference by
 *   foreign key, in a file without `-- mt5e:foreign-keys-off` (SQLite deletes its rows first,
 *   which fails with FOREIGN KEY constraint failed once the referencing tables hold rows); and
 *   renaming such a table away to re-create it under its name (the references follow the rename).
 * - `needs-no-transaction` (warning, only when `noTransaction` is false): statements the database
 *   refuses inside a transaction (PostgreSQL: CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY
 *   and REINDEX SCHEMA/DATABASE/SYSTEM, VACUUM, CREATE/DROP DATABASE, ALTER SYSTEM, CREATE/DROP
 *   TABLESPACE; SQLite: VACUUM).
 * - `no-transaction-multiple` (warning): a `noTransaction` file with more than one statement.
 * - `transaction-control` (warning): BEGIN, COMMIT, ROLLBACK, START TRANSACTION, SAVEPOINT,
 *   RELEASE, END, ABORT, PREPARE TRANSACTION.
 * - `unparsed` (notice): node-sql-parser rejected a statement, which was then classified by its
 *   keywords alone.
 */
export function lintSql(text: string, options: LintOptions): LintFinding[] {
  const { dialect, file, noTransaction } = options
  let statements: Statement[]
  try {
    statements = scan(String(text), dialect)
  } catch {
    // The scanner has no known throwing path; a linter must still never fail a command.
    return []
  }
  const findings: LintFinding[] = []
  const changes = statements.map(tableChange)
  for (const [k, statement] of statements.entries()) {
    const { hits, parseError } = classify(statement, dialect)
    for (const hit of hits) {
      if (hit.rule === 'needs-no-transaction' && noTransaction) continue
      if (hit.rule === 'destructive' && options.rollback && hit.what.startsWith('DROP ')) continue
      if (hit === RENAME_TABLE && takesDroppedName(changes, k)) continue
      findings.push(hitFinding(file, statement, hit))
    }
    if (parseError !== undefined) findings.push(unparsedFinding(file, statement, dialect, parseError))
  }
  if (dialect === 'sqlite') {
    const schema = options.schema ?? createLintSchema()
    findings.push(...foreignKeyFindings(file, statements, changes, schema, options.foreignKeysOff ?? false))
  }
  const second = statements[1]
  if (noTransaction && second) findings.push(multipleFinding(file, statements.length, second))
  return findings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
}

/**
 * How many statements the scanner sees. For refusing a no-transaction file early when the
 * database's parser cannot say; never for splitting what runs.
 */
export function statementCount(text: string, dialect: Dialect): number {
  try {
    return scan(String(text), dialect).length
  } catch {
    return 0
  }
}

// ---------------------------------------------------------------------------------------------
// Findings

type StatementRule = 'destructive' | 'needs-no-transaction' | 'transaction-control'

interface Hit {
  rule: StatementRule
  what: string // the construct: "DROP TABLE", "DELETE without WHERE"
  why: string
  level?: LintLevel // default 'warning'
}

const LOSES_DATA = 'deletes data that no rollback migration can bring back'
const BREAKS_USERS = 'removes an object that queries or other objects may still use'

function destructive(what: string, why: string): Hit {
  return { rule: 'destructive', what, why }
}

function needsNoTransaction(what: string, dialect: Dialect): Hit {
  const db = dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'
  const why =
    `cannot run inside a transaction, so ${db} refuses this migration; ` +
    'move it alone into a file with the no-transaction directive'
  return { rule: 'needs-no-transaction', what, why }
}

function transactionControl(what: string): Hit {
  const why =
    "in a migration file nests or ends the migrator's own transaction, which also writes the " +
    'history row (on PostgreSQL a COMMIT here commits half a migration); remove it'
  return { rule: 'transaction-control', what, why }
}

// A view, a materialized view (REFRESH rebuilds it) and an index hold no data of their own.
const HOLDS_NO_DATA = new Set(['VIEW', 'MATERIALIZED VIEW', 'INDEX'])

function dropHit(object: string): Hit {
  const losesData = object === 'TABLE' || object === 'SCHEMA' || object === 'DATABASE'
  const hit = destructive(`DROP ${object}`, losesData ? LOSES_DATA : BREAKS_USERS)
  return HOLDS_NO_DATA.has(object) ? { ...hit, why: `loses no data but ${BREAKS_USERS}`, level: 'notice' } : hit
}

const DROP_COLUMN = destructive('DROP COLUMN', LOSES_DATA)
const TRUNCATE = destructive('TRUNCATE', 'deletes every row of the table')
const ALTER_TYPE = destructive(
  'ALTER COLUMN ... TYPE',
  'rewrites the column (on PostgreSQL usually the whole table, under an exclusive lock) ' +
    'and may fail or lose precision on existing values',
)
const RENAME_WHY = 'breaks every query and deployed version that still uses the old name'
const RENAME_TABLE = destructive('RENAME of a table', RENAME_WHY)
const RENAME_COLUMN = destructive('RENAME of a column', RENAME_WHY)

function withoutWhere(verb: 'DELETE' | 'UPDATE'): Hit {
  const why = verb === 'DELETE' ? 'deletes every row of the table' : 'rewrites every row of the table'
  return destructive(`${verb} without WHERE`, why)
}

function hitFinding(file: string, statement: Statement, hit: Hit): LintFinding {
  return {
    file,
    level: hit.level ?? 'warning',
    rule: hit.rule,
    message: `${hit.what} ${hit.why}: ${excerpt(statement.text)}`,
    line: statement.line,
  }
}

function unparsedFinding(file: string, statement: Statement, dialect: Dialect, error: ParseError): LintFinding {
  // The parser counts from the statement start; on that first line its columns shift too.
  const line = statement.line + (error.line ?? 1) - 1
  const column = (error.column ?? 1) + (error.line === 1 ? statement.column - 1 : 0)
  const where = error.line === undefined ? '' : ` at line ${line}:${column}`
  return {
    file,
    level: 'notice',
    rule: 'unparsed',
    message:
      `node-sql-parser (${parserDatabase(dialect)}) could not parse ${excerpt(statement.text)}` +
      `${where} (${oneLine(error.message, 160)}); it was checked by its keywords only`,
    line: statement.line,
  }
}

function multipleFinding(file: string, count: number, second: Statement): LintFinding {
  return {
    file,
    level: 'warning',
    rule: 'no-transaction-multiple',
    message:
      `a no-transaction file must hold exactly one statement but this one holds ${count}, ` +
      `starting again at ${excerpt(second.text)}: without a transaction a failure part-way leaves ` +
      'the earlier statements applied, and PostgreSQL runs several statements sent at once in one ' +
      'implicit transaction, which CONCURRENTLY refuses',
    line: second.line,
  }
}

function excerpt(sql: string): string {
  return `"${oneLine(sql, 60)}"`
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat
}

// ---------------------------------------------------------------------------------------------
// Classification: from node-sql-parser's AST when it parses the statement, else by keywords

interface ParseError {
  message: string
  line?: number
  column?: number
}

type ParseResult = { asts: AST[]; error?: undefined } | { asts?: undefined; error: ParseError }

function classify(statement: Statement, dialect: Dialect): { hits: Hit[]; parseError?: ParseError } {
  const parsed = parse(statement.text, dialect)
  if (parsed.asts) return { hits: parsed.asts.flatMap((ast) => astHits(ast, dialect)) }
  return { hits: lexicalHits(statement.tokens, dialect), parseError: parsed.error }
}

const parserFor = (dialect: Dialect): Parser => sqlParser(parserDatabase(dialect))

function parserDatabase(dialect: Dialect): string {
  return dialect === 'postgres' ? 'postgresql' : 'sqlite'
}

function parse(sql: string, dialect: Dialect): ParseResult {
  try {
    const result = parserFor(dialect).astify(sql, { database: parserDatabase(dialect) })
    return { asts: Array.isArray(result) ? result : [result] }
  } catch (err) {
    return { error: parseError(err) }
  }
}

function parseError(err: unknown): ParseError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    message?: unknown
    location?: { start?: { line?: unknown; column?: unknown } }
  }
  const message = typeof e.message === 'string' ? e.message : String(err)
  const start = e.location?.start
  if (typeof start?.line !== 'number') return { message }
  return { message, line: start.line, column: typeof start.column === 'number' ? start.column : 0 }
}

type Node = Record<string, unknown>

function field(node: unknown, key: string): unknown {
  return typeof node === 'object' && node !== null ? (node as Node)[key] : undefined
}

function upper(value: unknown): string {
  return typeof value === 'string' ? value.toUpperCase() : ''
}

// Only the top-level node counts: trigger and function bodies parse into nested statements that
// run later, not when the migration runs. The AST is read field by field because the package's
// types leave out node types it does produce (truncate, transaction).
function astHits(ast: AST, dialect: Dialect): Hit[] {
  const keyword = upper(field(ast, 'keyword'))
  const type = upper(field(ast, 'type'))
  switch (type) {
    case 'DROP':
      return astDropHits(ast, keyword, dialect)
    case 'TRUNCATE':
      return [TRUNCATE]
    case 'DELETE':
    case 'UPDATE':
      return field(ast, 'where') ? [] : [withoutWhere(type)]
    case 'ALTER':
      return keyword === '' || keyword === 'TABLE' ? astAlterTableHits(field(ast, 'expr')) : []
    case 'CREATE':
      return astCreateHits(ast, keyword, dialect)
    case 'TRANSACTION':
      return [transactionControl(astTransactionWord(ast))]
    default:
      return []
  }
}

function astDropHits(ast: AST, keyword: string, dialect: Dialect): Hit[] {
  const hits = DROPPED_OBJECTS.has(keyword) ? [dropHit(keyword)] : []
  if (dialect === 'postgres' && keyword === 'INDEX' && upper(field(ast, 'prefix')).includes('CONCURRENTLY')) {
    hits.push(needsNoTransaction('DROP INDEX CONCURRENTLY', dialect))
  }
  return hits
}

function astAlterTableHits(actions: unknown): Hit[] {
  if (!Array.isArray(actions)) return []
  return actions.flatMap((action: unknown): Hit[] => {
    const kind = upper(field(action, 'action'))
    const resource = upper(field(action, 'resource'))
    if (kind === 'DROP' && resource === 'COLUMN') return [DROP_COLUMN]
    if (kind === 'RENAME' && resource === 'TABLE') return [RENAME_TABLE]
    if (kind === 'RENAME' && resource === 'COLUMN') return [RENAME_COLUMN]
    const changesType = upper(field(field(action, 'column'), 'suffix')).endsWith('TYPE')
    if (kind === 'ALTER' && resource === 'COLUMN' && changesType) return [ALTER_TYPE]
    return []
  })
}

function astCreateHits(ast: AST, keyword: string, dialect: Dialect): Hit[] {
  if (dialect !== 'postgres') return []
  if (keyword === 'INDEX' && field(ast, 'concurrently')) {
    return [needsNoTransaction('CREATE INDEX CONCURRENTLY', dialect)]
  }
  if (keyword === 'DATABASE') return [needsNoTransaction('CREATE DATABASE', dialect)]
  return []
}

function astTransactionWord(ast: AST): string {
  const action = upper(field(field(field(ast, 'expr'), 'action'), 'value'))
  return action === 'START' ? 'START TRANSACTION' : action || 'transaction statement'
}

// Keyword classification: the statement's tokens outside parentheses, read from the start.
function lexicalHits(tokens: Token[], dialect: Dialect): Hit[] {
  const top = tokens.filter((t) => t.depth === 0)
  const first = wordAt(top, 0)
  const second = wordAt(top, 1)
  switch (first) {
    case 'BEGIN':
    case 'COMMIT':
    case 'ROLLBACK':
    case 'SAVEPOINT':
    case 'RELEASE':
    case 'END':
    case 'ABORT':
      return [transactionControl(first)]
    case 'START':
    case 'PREPARE':
      return second === 'TRANSACTION' ? [transactionControl(`${first} TRANSACTION`)] : []
    case 'DROP':
      return lexicalDropHits(top, dialect)
    case 'TRUNCATE':
      return [TRUNCATE]
    case 'DELETE':
    case 'UPDATE':
    case 'WITH':
      return lexicalDmlHits(top)
    case 'ALTER':
      if (second === 'SYSTEM' && dialect === 'postgres') return [needsNoTransaction('ALTER SYSTEM', dialect)]
      return second === 'TABLE' ? lexicalAlterTableHits(top) : []
    case 'CREATE':
      return lexicalCreateHits(top, dialect)
    case 'REINDEX':
      return lexicalReindexHits(tokens, top, dialect)
    case 'VACUUM':
      return [needsNoTransaction('VACUUM', dialect)]
    default:
      return []
  }
}

const DROPPED_OBJECTS = new Set([
  'TABLE', 'VIEW', 'MATERIALIZED VIEW', 'INDEX', 'SCHEMA', 'FUNCTION', 'TYPE', 'DATABASE',
])

function lexicalDropHits(top: Token[], dialect: Dialect): Hit[] {
  const materialized = wordAt(top, 1) === 'MATERIALIZED'
  const object = materialized ? `MATERIALIZED ${wordAt(top, 2)}` : wordAt(top, 1)
  const hits = DROPPED_OBJECTS.has(object) ? [dropHit(object)] : []
  if (dialect !== 'postgres') return hits
  if (object === 'INDEX' && wordAt(top, 2) === 'CONCURRENTLY') {
    hits.push(needsNoTransaction('DROP INDEX CONCURRENTLY', dialect))
  }
  if (object === 'DATABASE' || object === 'TABLESPACE') hits.push(needsNoTransaction(`DROP ${object}`, dialect))
  return hits
}

const MAIN_VERBS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'VALUES', 'TABLE'])

function lexicalDmlHits(top: Token[]): Hit[] {
  // After WITH, the main verb is the first one following the closing parenthesis of a CTE body:
  // CTE names may themselves be words like "update".
  const verbAt = wordAt(top, 0) === 'WITH'
    ? top.findIndex((t, k) => t.kind === 'word' && MAIN_VERBS.has(t.text) && top[k - 1]?.text === ')')
    : 0
  const verb = wordAt(top, verbAt)
  if (verb !== 'DELETE' && verb !== 'UPDATE') return []
  const filtered = top.slice(verbAt + 1).some((t) => t.kind === 'word' && t.text === 'WHERE')
  return filtered ? [] : [withoutWhere(verb)]
}

function lexicalAlterTableHits(top: Token[]): Hit[] {
  let k = 2
  if (wordAt(top, k) === 'IF' && wordAt(top, k + 1) === 'EXISTS') k += 2
  if (wordAt(top, k) === 'ONLY') k += 1
  k = skipName(top, k)
  if (top[k]?.text === '*') k += 1
  return splitOnCommas(top.slice(k)).flatMap(alterActionHits)
}

function alterActionHits(action: Token[]): Hit[] {
  const verb = wordAt(action, 0)
  const next = wordAt(action, 1)
  if (verb === 'DROP') return next === 'CONSTRAINT' ? [] : [DROP_COLUMN]
  if (verb === 'RENAME') {
    if (next === 'TO') return [RENAME_TABLE]
    return next === 'CONSTRAINT' ? [] : [RENAME_COLUMN]
  }
  if (verb !== 'ALTER') return []
  // ALTER [COLUMN] name [SET DATA] TYPE: the name itself may be spelled "type".
  let k = skipName(action, next === 'COLUMN' ? 2 : 1)
  if (wordAt(action, k) === 'SET' && wordAt(action, k + 1) === 'DATA') k += 2
  return wordAt(action, k) === 'TYPE' ? [ALTER_TYPE] : []
}

function lexicalCreateHits(top: Token[], dialect: Dialect): Hit[] {
  if (dialect !== 'postgres') return []
  const k = wordAt(top, 1) === 'UNIQUE' ? 2 : 1
  const object = wordAt(top, k)
  if (object === 'INDEX' && wordAt(top, k + 1) === 'CONCURRENTLY') {
    return [needsNoTransaction('CREATE INDEX CONCURRENTLY', dialect)]
  }
  if (object === 'DATABASE' || object === 'TABLESPACE') return [needsNoTransaction(`CREATE ${object}`, dialect)]
  return []
}

function lexicalReindexHits(tokens: Token[], top: Token[], dialect: Dialect): Hit[] {
  if (dialect !== 'postgres') return []
  // CONCURRENTLY may also sit in the parenthesised option list (PostgreSQL 14+).
  if (tokens.some((t) => t.kind === 'word' && t.text === 'CONCURRENTLY')) {
    return [needsNoTransaction('REINDEX CONCURRENTLY', dialect)]
  }
  const object = top.slice(1).find((t) => t.kind === 'word')?.text ?? ''
  const whole = object === 'SCHEMA' || object === 'DATABASE' || object === 'SYSTEM'
  return whole ? [needsNoTransaction(`REINDEX ${object}`, dialect)] : []
}

function wordAt(tokens: Token[], k: number): string {
  const t = tokens[k]
  return t?.kind === 'word' ? t.text : ''
}

// Past a possibly qualified name: a, "a", s.a
function skipName(tokens: Token[], k: number): number {
  let at = k
  while (tokens[at]?.kind === 'word' || tokens[at]?.kind === 'quoted') {
    at += 1
    if (tokens[at]?.text !== '.') break
    at += 1
  }
  return at
}

function splitOnCommas(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]]
  for (const t of tokens) {
    if (t.kind === 'punct' && t.text === ',') parts.push([])
    else parts[parts.length - 1]?.push(t)
  }
  return parts
}

// ---------------------------------------------------------------------------------------------
// SQLite foreign keys across files. A rebuild passes on an empty test database and fails in
// production, where the referencing tables hold rows: only a model of the references sees it.

/** What the linter knows of the schema so far: for each table, the tables it references. */
export interface LintSchema {
  references: Map<string, Set<string>>
}

export function createLintSchema(): LintSchema {
  return { references: new Map() }
}

/** A copy, for linting a rollback against the schema its migration left. */
export function copyLintSchema(schema: LintSchema): LintSchema {
  return { references: new Map([...schema.references].map(([table, parents]) => [table, new Set(parents)])) }
}

type TableChange =
  | { kind: 'create'; table: string; parents: string[] }
  | { kind: 'add-references'; table: string; parents: string[] }
  | { kind: 'drop'; table: string }
  | { kind: 'rename'; table: string; to: string }

// The last step of a rebuild (new table, copy, drop, rename) gives the new table the old name:
// nothing that uses the name breaks.
function takesDroppedName(changes: (TableChange | undefined)[], k: number): boolean {
  const change = changes[k]
  if (change?.kind !== 'rename') return false
  return changes.slice(0, k).some((c) => c?.kind === 'drop' && c.table === change.to)
}

function foreignKeyFindings(
  file: string,
  statements: Statement[],
  changes: (TableChange | undefined)[],
  schema: LintSchema,
  foreignKeysOff: boolean,
): LintFinding[] {
  const findings: LintFinding[] = []
  changes.forEach((change, k) => {
    if (!change) return
    if (change.kind === 'drop' || change.kind === 'rename') {
      const children = referencing(schema, change.table)
      const recreated = changes
        .slice(k + 1)
        .some((c) => (c?.kind === 'create' && c.table === change.table) || (c?.kind === 'rename' && c.to === change.table))
      const statement = statements[k]!
      if (children.length > 0 && change.kind === 'drop' && !(recreated && foreignKeysOff)) {
        findings.push(rebuildFinding(file, statement, dropMessage(change.table, children, recreated)))
      }
      if (children.length > 0 && change.kind === 'rename' && recreated) {
        findings.push(rebuildFinding(file, statement, renameMessage(change.table, change.to, children)))
      }
    }
    applyChange(schema, change)
  })
  return findings
}

function dropMessage(table: string, children: string[], recreated: boolean): string {
  const who = `${list(children)} reference${children.length === 1 ? 's' : ''} it by foreign key`
  const fails =
    "while foreign keys are on, SQLite's DROP TABLE first deletes every row, which fails with " +
    `"FOREIGN KEY constraint failed" as soon as ${children.length === 1 ? 'that table holds' : 'those tables hold'} ` +
    'rows (an empty database passes)'
  return recreated
    ? `DROP TABLE ${table} rebuilds a table and ${who}: ${fails}; put -- mt5e:foreign-keys-off at the top of the file`
    : `DROP TABLE ${table} drops a table and ${who}: ${fails}, and with -- mt5e:foreign-keys-off the foreign key ` +
        'check before commit fails instead; drop or rebuild the referencing tables first'
}

function renameMessage(table: string, to: string, children: string[]): string {
  return (
    `ALTER TABLE ${table} RENAME TO ${to} before re-creating ${table}: ${list(children)} reference ${table} by ` +
    `foreign key, and SQLite (3.26 and later, even with foreign keys off) rewrites those references to ${to}, so they ` +
    `end up pointing at the old table and fail "FOREIGN KEY constraint failed" or the foreign key check; rebuild in ` +
    `SQLite's order instead: create the new table under another name, copy the rows, drop ${table}, rename the new ` +
    `table to ${table}, with -- mt5e:foreign-keys-off at the top of the file`
  )
}

function rebuildFinding(file: string, statement: Statement, message: string): LintFinding {
  return { file, level: 'warning', rule: 'foreign-key-rebuild', message: `${message}: ${excerpt(statement.text)}`, line: statement.line }
}

function list(names: string[]): string {
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`
}

function referencing(schema: LintSchema, table: string): string[] {
  const children: string[] = []
  for (const [child, parents] of schema.references) if (child !== table && parents.has(table)) children.push(child)
  return children.sort()
}

function applyChange(schema: LintSchema, change: TableChange): void {
  const refs = schema.references
  switch (change.kind) {
    case 'create':
      refs.set(change.table, new Set(change.parents))
      return
    case 'add-references':
      for (const p of change.parents) (refs.get(change.table) ?? refs.set(change.table, new Set()).get(change.table)!).add(p)
      return
    case 'drop':
      refs.delete(change.table)
      return
    case 'rename': {
      const own = refs.get(change.table)
      refs.delete(change.table)
      if (own) refs.set(change.to, own)
      for (const parents of refs.values()) {
        if (parents.delete(change.table)) parents.add(change.to)
      }
    }
  }
}

function tableChange(statement: Statement): TableChange | undefined {
  const top = statement.tokens.filter((t) => t.depth === 0)
  const first = wordAt(top, 0)
  if (first === 'CREATE') {
    let k = 1
    if (wordAt(top, k) === 'TEMP' || wordAt(top, k) === 'TEMPORARY') k += 1
    if (wordAt(top, k) !== 'TABLE') return undefined
    k += 1
    if (wordAt(top, k) === 'IF' && wordAt(top, k + 1) === 'NOT' && wordAt(top, k + 2) === 'EXISTS') k += 3
    const table = nameAt(top, k)
    return table === undefined ? undefined : { kind: 'create', table, parents: referenced(statement.tokens) }
  }
  if (first === 'DROP' && wordAt(top, 1) === 'TABLE') {
    const k = wordAt(top, 2) === 'IF' && wordAt(top, 3) === 'EXISTS' ? 4 : 2
    const table = nameAt(top, k)
    return table === undefined ? undefined : { kind: 'drop', table }
  }
  if (first === 'ALTER' && wordAt(top, 1) === 'TABLE') {
    const table = nameAt(top, 2)
    if (table === undefined) return undefined
    const after = skipName(top, 2)
    if (wordAt(top, after) === 'RENAME' && wordAt(top, after + 1) === 'TO') {
      const to = nameAt(top, after + 2)
      return to === undefined ? undefined : { kind: 'rename', table, to }
    }
    const parents = referenced(statement.tokens)
    return parents.length > 0 ? { kind: 'add-references', table, parents } : undefined
  }
  return undefined
}

function referenced(tokens: Token[]): string[] {
  const parents: string[] = []
  tokens.forEach((t, k) => {
    const parent = t.kind === 'word' && t.text === 'REFERENCES' ? nameAt(tokens, k + 1) : undefined
    if (parent !== undefined) parents.push(parent)
  })
  return parents
}

// The table part of a possibly qualified name, as SQLite compares it: unquoted, case-folded.
function nameAt(tokens: Token[], k: number): string | undefined {
  const end = skipName(tokens, k)
  const last = tokens[end - 1]
  if (end === k || !last || (last.kind !== 'word' && last.kind !== 'quoted')) return undefined
  return unquote(last.raw).toLowerCase()
}

function unquote(raw: string): string {
  const open = raw.charAt(0)
  if (open === '[') return raw.slice(1, -1)
  if (open === '"' || open === '`') return raw.slice(1, -1).split(open + open).join(open)
  return raw
}

// ---------------------------------------------------------------------------------------------
// Scanner: statement boundaries and keywords. The migrator never splits files (the database
// does); this only has to be good enough to name statements and count them.

interface Token {
  kind: 'word' | 'quoted' | 'literal' | 'punct'
  text: string // upper-cased for words
  raw: string // as written, quotes included
  depth: number // parenthesis depth; a parenthesis itself sits at the depth outside it
}

interface Statement {
  text: string
  line: number
  column: number
  tokens: Token[]
}

function scan(text: string, dialect: Dialect): Statement[] {
  const statements: Statement[] = []
  const positionOf = positionCounter(text)
  let current: { start: number; line: number; column: number; tokens: Token[] } | undefined
  let depth = 0
  let blocks = 0
  const finish = (end: number): void => {
    if (current) statements.push({ ...current, text: text.slice(current.start, end) })
    current = undefined
    depth = 0
    blocks = 0
  }
  let i = 0
  while (i < text.length) {
    const afterTrivia = skipTrivia(text, i, dialect)
    if (afterTrivia > i) {
      i = afterTrivia
      continue
    }
    if (text.charAt(i) === ';' && depth === 0 && blocks === 0) {
      finish(i)
      i += 1
      continue
    }
    current ??= { start: i, ...positionOf(i), tokens: [] }
    const { token, end } = readToken(text, i, dialect)
    if (token.text === ')') depth = Math.max(0, depth - 1)
    current.tokens.push({ ...token, raw: text.slice(i, end), depth })
    if (token.text === '(') depth += 1
    if (token.kind === 'word' && depth === 0) blocks = trackBlocks(current.tokens, token.text, blocks)
    i = end
  }
  finish(text.length)
  return statements
}

// Statements start in increasing order, so one pass over the text counts all their lines.
function positionCounter(text: string): (offset: number) => { line: number; column: number } {
  let at = 0
  let line = 1
  let lineStart = 0
  return (offset) => {
    for (; at < offset; at++) {
      if (text.charCodeAt(at) === 10) {
        line += 1
        lineStart = at + 1
      }
    }
    return { line, column: offset - lineStart + 1 }
  }
}

// Trigger bodies (SQLite) and BEGIN ATOMIC function bodies (PostgreSQL) hold semicolons that do not
// end the statement. Same heuristic as psql: inside CREATE [OR REPLACE] [TEMP] TRIGGER / FUNCTION /
// PROCEDURE, BEGIN opens a block, CASE opens one inside a block, END closes one.
function trackBlocks(tokens: Token[], word: string, blocks: number): number {
  if (word !== 'BEGIN' && word !== 'CASE' && word !== 'END') return blocks
  if (!hasBody(tokens)) return blocks
  if (word === 'BEGIN') return blocks + 1
  if (word === 'CASE') return blocks > 0 ? blocks + 1 : blocks
  return Math.max(0, blocks - 1)
}

function hasBody(tokens: Token[]): boolean {
  if (wordAt(tokens, 0) !== 'CREATE') return false
  let k = 1
  if (wordAt(tokens, k) === 'OR' && wordAt(tokens, k + 1) === 'REPLACE') k += 2
  if (wordAt(tokens, k) === 'TEMP' || wordAt(tokens, k) === 'TEMPORARY') k += 1
  return ['TRIGGER', 'FUNCTION', 'PROCEDURE'].includes(wordAt(tokens, k))
}

function skipTrivia(text: string, i: number, dialect: Dialect): number {
  let at = i
  for (;;) {
    const c = text.charAt(at)
    if (/\s/.test(c)) at += 1 // \s includes the byte order mark
    else if (text.startsWith('--', at)) at = lineEnd(text, at)
    else if (text.startsWith('/*', at)) at = blockCommentEnd(text, at, dialect === 'postgres')
    else return at
  }
}

function lineEnd(text: string, at: number): number {
  const nl = text.indexOf('\n', at)
  return nl < 0 ? text.length : nl
}

// PostgreSQL nests block comments; SQLite ends one at the first */. Unterminated runs to the end.
function blockCommentEnd(text: string, start: number, nested: boolean): number {
  let depth = 0
  let at = start
  while (at < text.length) {
    if (text.startsWith('/*', at)) {
      depth = nested ? depth + 1 : 1
      at += 2
    } else if (text.startsWith('*/', at)) {
      depth -= 1
      at += 2
      if (depth === 0) return at
    } else at += 1
  }
  return text.length
}

type Read = { token: Omit<Token, 'depth' | 'raw'>; end: number }

function read(kind: Token['kind'], text: string, end: number): Read {
  return { token: { kind, text }, end }
}

function readToken(text: string, i: number, dialect: Dialect): Read {
  const c = text.charAt(i)
  if (c === "'") return read('literal', c, quotedEnd(text, i, c, false))
  if (c === '"') return read('quoted', c, quotedEnd(text, i, c, false))
  if (dialect === 'sqlite' && c === '`') return read('quoted', c, quotedEnd(text, i, c, false))
  if (dialect === 'sqlite' && c === '[') return read('quoted', c, closeAt(text, i + 1, ']'))
  if (dialect === 'postgres' && c === '$') {
    const end = dollarQuoteEnd(text, i)
    if (end !== undefined) return read('literal', c, end)
  }
  // SQLite's named parameters ($a, :a, @a) must not read as keywords.
  if (dialect === 'sqlite' && (c === '$' || c === ':' || c === '@') && isWordStart(text.charAt(i + 1))) {
    return read('literal', c, wordEnd(text, i + 1))
  }
  if (isWordStart(c)) return readWord(text, i, dialect)
  if (c >= '0' && c <= '9') return read('literal', c, wordEnd(text, i + 1))
  return read('punct', c, i + 1)
}

function readWord(text: string, i: number, dialect: Dialect): Read {
  const end = wordEnd(text, i + 1)
  const word = text.slice(i, end).toUpperCase()
  // E'...' is PostgreSQL's backslash-escaped string: \' does not close it.
  if (dialect === 'postgres' && word === 'E' && text.charAt(end) === "'") {
    return read('literal', "'", quotedEnd(text, end, "'", true))
  }
  return read('word', word, end)
}

function isWordStart(c: string): boolean {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c === '_' || c > '\x7f'
}

function wordEnd(text: string, at: number): number {
  let end = at
  for (;;) {
    const c = text.charAt(end)
    if (c === '' || !(isWordStart(c) || (c >= '0' && c <= '9') || c === '$')) return end
    end += 1
  }
}

// A doubled quote (it''s) needs no case of its own: it reads as two adjacent runs.
function quotedEnd(text: string, start: number, quote: string, backslashes: boolean): number {
  let at = start + 1
  while (at < text.length) {
    const c = text.charAt(at)
    if (c === quote) return at + 1
    at += backslashes && c === '\\' ? 2 : 1
  }
  return text.length
}

function closeAt(text: string, from: number, close: string): number {
  const at = text.indexOf(close, from)
  return at < 0 ? text.length : at + close.length
}

// $$...$$ or $tag$...$tag$; `$1` is a parameter, not a quote.
function dollarQuoteEnd(text: string, start: number): number | undefined {
  const open = /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(text.slice(start, start + 256))
  if (!open) return undefined
  return closeAt(text, start + open[0].length, open[0])
}
