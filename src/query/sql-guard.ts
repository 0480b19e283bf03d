/**
 * The SQL console's gate: decides, without touching a database, whether a text is one plain read
 * that may run. A pure function over node-sql-parser's AST plus a lexical backstop over the raw
 * text, so that a statement the parser reads differently from the database (a parser
 * differential) still cannot name a forbidden table or function. docs/SECURITY.md, "The SQL
 * console", has the rules and what the database itself adds behind them.
 */
import type { AST, TableColumnAst } from 'node-sql-parser'
import { sqlParser } from '../db/sql-parser.js'
import { isBlankSql } from '../db/storage/types.js'

export type SqlDialect = 'sqlite' | 'postgres'

/**
 * Why the guard refused a text. Stable codes: dashboards branch on them.
 * - `SQL_TOO_LONG`: longer than `maxLength` characters.
 * - `SQL_PARSE_FAILED`: the parser could not read it (refused: what is not understood is not run).
 * - `SQL_NOT_ONE_STATEMENT`: no statement (empty, only comments) or more than one.
 * - `SQL_NOT_SELECT`: not a SELECT (a write, DDL, PRAGMA, SET, ...), or a SELECT holding a
 *   data-modifying statement (`WITH x AS (DELETE ... RETURNING ...)`).
 * - `SQL_SELECT_INTO`: `SELECT ... INTO`, which creates a table.
 * - `SQL_LOCKING_CLAUSE`: `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE`, `FOR KEY SHARE`.
 * - `SQL_FORBIDDEN_TABLE`: names a denied table (`tokens` by default) or a system catalog that
 *   exposes secrets, anywhere in the text.
 * - `SQL_FORBIDDEN_FUNCTION`: names a function that sleeps, touches files, signals backends,
 *   changes settings or sequences, takes locks, or runs SQL given as text.
 */
export type SqlRefusal =
  | 'SQL_TOO_LONG'
  | 'SQL_PARSE_FAILED'
  | 'SQL_NOT_ONE_STATEMENT'
  | 'SQL_NOT_SELECT'
  | 'SQL_SELECT_INTO'
  | 'SQL_LOCKING_CLAUSE'
  | 'SQL_FORBIDDEN_TABLE'
  | 'SQL_FORBIDDEN_FUNCTION'

export const sqlRefusals: readonly SqlRefusal[] = Object.freeze([
  'SQL_TOO_LONG',
  'SQL_PARSE_FAILED',
  'SQL_NOT_ONE_STATEMENT',
  'SQL_NOT_SELECT',
  'SQL_SELECT_INTO',
  'SQL_LOCKING_CLAUSE',
  'SQL_FORBIDDEN_TABLE',
  'SQL_FORBIDDEN_FUNCTION',
])

export type GuardVerdict =
  | {
      ok: true
      /** The text to run: the caller's own, unchanged (the database parses it, not a re-print). */
      sql: string
      /** The tables it reads, as written (`schema.table` when qualified), lower case, sorted. */
      tables: string[]
    }
  | { ok: false; code: SqlRefusal; reason: string }

export interface GuardOptions {
  /** Tables that may not be named anywhere in the text. Default `['tokens']`. */
  deniedTables?: readonly string[]
  /** Longest text accepted, in characters. Default 65536. */
  maxLength?: number
}

export const guardDefaults = Object.freeze({
  deniedTables: Object.freeze(['tokens']) as readonly string[],
  maxLength: 65536,
})

/**
 * System tables and views refused on top of `deniedTables`, on both dialects (a name that does not
 * exist on one simply fails there): password hashes, other sessions' query text, foreign server
 * credentials, raw pages and sampled column values (statistics hold real values of `token_hash`).
 * `sqlite_master`/`sqlite_schema`, `information_schema` and the other catalogs stay readable.
 */
const deniedCatalogs: readonly string[] = [
  // PostgreSQL
  'pg_authid',
  'pg_shadow',
  'pg_user_mapping',
  'pg_user_mappings',
  'pg_stat_activity',
  'pg_stat_replication',
  'pg_stat_wal_receiver',
  'pg_stat_subscription',
  'pg_subscription',
  'pg_stat_statements',
  'pg_stat_statements_info',
  'pg_statistic',
  'pg_statistic_ext_data',
  'pg_stats',
  'pg_stats_ext',
  'pg_stats_ext_exprs',
  'pg_largeobject',
  'pg_hba_file_rules',
  'pg_ident_file_mappings',
  'pg_file_settings',
  // SQLite: raw database pages (every row of every table) and index samples
  'sqlite_dbpage',
  'sqlite_stat3',
  'sqlite_stat4',
]

/** Functions refused by exact name (lower case, without schema), on both dialects. */
const deniedFunctionNames = new Set<string>([
  // PostgreSQL: settings, files, signals, sequences, notifications, WAL and backups
  'set_config',
  'pg_stat_file',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_logdir_ls',
  'pg_promote',
  'pg_switch_wal',
  'pg_create_restore_point',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_notify',
  'pg_log_backend_memory_contexts',
  'pg_import_system_collations',
  'pg_stat_get_activity',
  'nextval',
  'setval',
  'loread',
  'lowrite',
  // PostgreSQL: run SQL given as text
  'ts_stat',
  'ts_rewrite',
  // SQLite
  'load_extension',
  'readfile',
  'writefile',
  'edit',
  'fts3_tokenizer',
  'zipfile',
  'sqlar_compress',
  'sqlar_uncompress',
])

/** Function families refused by pattern (lower case, without schema). */
const deniedFunctionPatterns: readonly RegExp[] = [
  /^pg_sleep/, // pg_sleep, pg_sleep_for, pg_sleep_until
  /^dblink/,
  /^pg_(try_)?advisory/,
  /_to_xml/, // query_to_xml, table_to_xml, cursor_to_xml, *_to_xmlschema, *_and_xmlschema: run or dump SQL
  /^lo_/, // large objects: lo_import, lo_export, lo_get, lo_put, ...
  /^pg_read_/, // pg_read_file, pg_read_binary_file
  /^pg_ls_/, // pg_ls_dir, pg_ls_logdir, pg_ls_waldir, ...
  /^pg_file_/, // adminpack
  /^pg_stat_reset/,
  /^pg_stat_statements/,
  /replication_slot/,
  /^pg_replication_origin/,
  /^pg_logical_/,
  /^pg_wal_replay/,
]

/** AST node types of statements other than SELECT, wherever one appears (a CTE, a subquery). */
const statementTypes = new Set([
  'insert', 'replace', 'update', 'delete', 'merge', 'upsert', 'create', 'drop', 'alter', 'truncate', 'rename',
  'grant', 'revoke', 'set', 'lock', 'unlock', 'call', 'exec', 'execute', 'transaction', 'use', 'show',
  'explain', 'load_data', 'declare', 'if', 'raise', 'comment', 'analyze', 'attach', 'detach', 'pragma',
  'vacuum', 'copy', 'prepare', 'listen', 'notify', 'do', 'reindex', 'cluster', 'refresh',
])

/** First keywords of statements that read (anything else is refused as SQL_NOT_SELECT). */
const readKeywords = new Set(['select', 'with', 'values', 'table'])

/**
 * Classifies `text` for the SQL console. Accepts exactly one SELECT that writes nothing, creates
 * nothing, locks nothing and names no denied table or function; refuses everything else,
 * including what node-sql-parser cannot read.
 */
export function guardSql(text: string, dialect: SqlDialect, options: GuardOptions = {}): GuardVerdict {
  const maxLength = options.maxLength ?? guardDefaults.maxLength
  const denied = new Set([...(options.deniedTables ?? guardDefaults.deniedTables), ...deniedCatalogs].map((n) => n.toLowerCase()))
  if (text.length > maxLength) {
    return refuse('SQL_TOO_LONG', `the statement is ${text.length} characters long; the console takes at most ${maxLength}`)
  }
  if (isBlankSql(text)) return refuse('SQL_NOT_ONE_STATEMENT', 'the text holds no statement')
  // PostgreSQL's U&"\0074okens" spells any name without its letters; node-sql-parser does not
  // read it anyway, but a refusal that does not depend on that is cheaper to trust
  if (/u&\s*["']/i.test(text)) return refuse('SQL_PARSE_FAILED', 'Unicode escapes (U&"..." and U&\'...\') are not accepted by the console')
  const parsed = parse(text, dialect)
  if ('error' in parsed) return unparsed(text, dialect, parsed.error, denied)
  const { asts, tableList } = parsed
  if (asts.length !== 1) return refuse('SQL_NOT_ONE_STATEMENT', `the text holds ${asts.length} statements; the console runs one at a time`)
  const ast = asts[0]!
  if (ast.type !== 'select') return refuse('SQL_NOT_SELECT', `only SELECT may run; this is ${describe(ast.type)}`)
  const found = walk(ast, denied)
  if (found) return found
  const tables = tablesOf(tableList)
  for (const t of tables) {
    if (!t.startsWith('select::')) return refuse('SQL_NOT_SELECT', `the statement ${t.split('::')[0]}s ${t.split('::')[2]}`)
  }
  const backstop = lexicalBackstop(text, denied)
  if (backstop) return backstop
  const names = [...new Set(tables.map((t) => {
    const [, schema, table] = t.split('::')
    return (schema && schema !== 'null' ? `${schema}.${table}` : table!).toLowerCase()
  }))].sort()
  return { ok: true, sql: text, tables: names }
}

function refuse(code: SqlRefusal, reason: string): GuardVerdict {
  return { ok: false, code, reason }
}

// -- parsing

type Parsed = { asts: AST[]; tableList: string[] } | { error: string }

const parserFor = sqlParser

/**
 * node-sql-parser 5.4's SQLite grammar refuses much of what SQLite runs: window frames
 * (`ROWS BETWEEN ...`), `OVER (ORDER BY ...)` without PARTITION BY, named windows, `NULLS LAST`,
 * `FILTER (WHERE ...)`, `IS DISTINCT FROM`. Its PostgreSQL grammar reads all of these, so a text
 * for SQLite that the SQLite grammar refuses gets a second reading by the PostgreSQL one. That is
 * safe because nothing the verdict rests on is dialect specific: the AST must still be one SELECT
 * with no forbidden node, the lexical backstop reads the raw text for forbidden names whatever
 * the grammar, and SQLite itself (a read-only, query_only connection that runs one statement
 * returning rows) refuses the rest.
 */
function parse(text: string, dialect: SqlDialect): Parsed {
  const databases = dialect === 'postgres' ? ['postgresql'] : ['sqlite', 'postgresql']
  let first: string | undefined
  for (const database of databases) {
    try {
      const result: TableColumnAst = parserFor(database).parse(text, { database })
      return { asts: Array.isArray(result.ast) ? result.ast : [result.ast], tableList: result.tableList }
    } catch (err) {
      // a SyntaxError from the grammar, or a RangeError from nesting deep enough to exhaust the stack
      first ??= err instanceof Error ? err.message : String(err)
    }
  }
  return { error: first! }
}

/**
 * A text the parser refused is refused; the code says why when the text shows it plainly, so that
 * `DROP TABLE`, `FOR UPDATE` or `select 1; garbage` are not all answered "could not parse".
 */
function unparsed(text: string, dialect: SqlDialect, error: string, denied: Set<string>): GuardVerdict {
  const code = codeOnly(text, dialect)
  const keyword = /^[\s(]*([a-z_]+)/i.exec(code)?.[1]?.toLowerCase()
  if (keyword !== undefined && !readKeywords.has(keyword)) {
    return refuse('SQL_NOT_SELECT', `only SELECT may run; this statement begins with ${keyword.toUpperCase()}`)
  }
  const named = lexicalBackstop(text, denied)
  if (named) return named
  if (/;[\s;]*\S/.test(code)) return refuse('SQL_NOT_ONE_STATEMENT', 'the text holds more than one statement; the console runs one at a time')
  if (/\(\s*(insert|update|delete|merge)\b/i.test(code) || /\b(insert\s+into|delete\s+from|merge\s+into|update\s+[\w."]+\s+set)\b/i.test(code)) {
    return refuse('SQL_NOT_SELECT', 'a data-modifying statement inside the SELECT (in WITH or a subquery) may not run')
  }
  if (/\bfor\s+(update|share|no\s+key\s+update|key\s+share)\b/i.test(code)) {
    return refuse('SQL_LOCKING_CLAUSE', 'locking clauses (FOR UPDATE, FOR SHARE, ...) may not run in the console')
  }
  if (/\binto\b/i.test(code)) return refuse('SQL_SELECT_INTO', 'SELECT ... INTO creates a table and may not run in the console')
  return refuse('SQL_PARSE_FAILED', `the console could not read the statement (${firstLine(error)}); it runs only what it can check`)
}

function firstLine(message: string): string {
  const line = message.split('\n')[0]!
  return line.length > 200 ? `${line.slice(0, 200)}...` : line
}

/**
 * The text with string literals, quoted identifiers and comments blanked out, for the keyword
 * hints of `unparsed` (which only choose a refusal code, never accept anything).
 */
function codeOnly(text: string, dialect: SqlDialect): string {
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    let end = -1
    if (c === "'" || c === '"' || (c === '`' && dialect === 'sqlite')) {
      end = i + 1
      for (;;) {
        const close = text.indexOf(c, end)
        if (close === -1) { end = text.length; break }
        if (text[close + 1] === c) { end = close + 2; continue }
        end = close + 1
        break
      }
    } else if (c === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i)
      end = nl === -1 ? text.length : nl
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2)
      end = close === -1 ? text.length : close + 2
    } else if (c === '$' && dialect === 'postgres') {
      const tag = /^\$[A-Za-z_]*\$/.exec(text.slice(i))?.[0]
      if (tag) {
        const close = text.indexOf(tag, i + tag.length)
        end = close === -1 ? text.length : close + tag.length
      }
    }
    if (end === -1) {
      out += c
      i++
    } else {
      out += ' '
      i = end
    }
  }
  return out
}

// -- the AST walk

/**
 * Visits every node of the AST (select list, FROM, joins, WHERE, GROUP BY, HAVING, ORDER BY,
 * window specifications, CTEs, subqueries at any depth, function arguments) without relying on
 * where node-sql-parser puts them: every object and array is entered.
 */
function walk(root: unknown, denied: Set<string>): GuardVerdict | undefined {
  const stack: unknown[] = [root]
  const seen = new Set<object>()
  while (stack.length > 0) {
    const node = stack.pop()
    if (node === null || typeof node !== 'object' || seen.has(node)) continue
    seen.add(node)
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item)
      continue
    }
    const n = node as Record<string, unknown>
    const verdict = checkNode(n, denied)
    if (verdict) return verdict
    for (const value of Object.values(n)) if (value !== null && typeof value === 'object') stack.push(value)
  }
  return undefined
}

function checkNode(n: Record<string, unknown>, denied: Set<string>): GuardVerdict | undefined {
  // statement types are lower case in node-sql-parser's AST; ORDER BY's 'ASC'/'DESC' are not
  const type = typeof n.type === 'string' ? n.type : undefined
  if (type !== undefined && statementTypes.has(type)) {
    return refuse('SQL_NOT_SELECT', `only SELECT may run; the statement holds ${describe(type)}`)
  }
  if (type === 'select') {
    const into = n.into as { position?: unknown; expr?: unknown } | null | undefined
    if (into && (into.position != null || into.expr != null)) {
      return refuse('SQL_SELECT_INTO', 'SELECT ... INTO creates a table and may not run in the console')
    }
    for (const key of ['for_update', 'locking_read', 'lock']) {
      if (n[key] != null && n[key] !== '') {
        return refuse('SQL_LOCKING_CLAUSE', 'locking clauses (FOR UPDATE, FOR SHARE, ...) may not run in the console')
      }
    }
  }
  if (type === 'function' || type === 'aggr_func' || type === 'window_func') {
    const name = functionName(n.name)
    if (name !== undefined && isDeniedFunction(name)) {
      return refuse('SQL_FORBIDDEN_FUNCTION', `the function ${name}() may not run in the console`)
    }
  }
  // a table in FROM or JOIN, and a column's table qualifier (`tokens.token_hash`)
  if (typeof n.table === 'string' && denied.has(n.table.toLowerCase())) {
    return refuse('SQL_FORBIDDEN_TABLE', `the table ${n.table} may not be read through the console`)
  }
  return undefined
}

/** The bare name of a function node: `{ name: [{ value }], schema }` in 5.x, or a string. */
function functionName(name: unknown): string | undefined {
  if (typeof name === 'string') return name.toLowerCase()
  const parts = (name as { name?: { value?: unknown }[] } | undefined)?.name
  const last = Array.isArray(parts) ? parts[parts.length - 1]?.value : undefined
  return typeof last === 'string' ? last.toLowerCase() : undefined
}

function isDeniedFunction(name: string): boolean {
  return deniedFunctionNames.has(name) || deniedFunctionPatterns.some((p) => p.test(name))
}

function describe(type: string): string {
  return /^[aeiou]/i.test(type) ? `an ${type.toUpperCase()}` : `a ${type.toUpperCase()}`
}

/** node-sql-parser's `type::schema::table` entries, kept whole for the statement-type check. */
function tablesOf(tableList: string[]): string[] {
  return tableList.filter((t) => t.split('::').length === 3)
}

/**
 * The last line: every word of the raw text, in code, strings and comments alike, against the
 * denied tables and functions. It cannot be fooled by how a grammar reads quotes, comments or
 * escapes (SQLite even takes `'tokens'` as a table name), at the price of refusing a text that
 * only mentions a forbidden name, e.g. `where table_name = 'tokens'`.
 */
function lexicalBackstop(text: string, denied: Set<string>): GuardVerdict | undefined {
  for (const match of text.matchAll(/[A-Za-z_][A-Za-z0-9_$]*/g)) {
    const word = match[0].toLowerCase()
    if (denied.has(word)) {
      return refuse('SQL_FORBIDDEN_TABLE', `the text names ${match[0]}, which may not be read through the console (also not in a string or comment)`)
    }
    if (isDeniedFunction(word)) {
      return refuse('SQL_FORBIDDEN_FUNCTION', `the text names ${match[0]}, a function that may not run in the console (also not in a string or comment)`)
    }
  }
  return undefined
}
