import t from 'tap'
import { lintSql, type Dialect, type LintFinding } from '../src/db/migrator/lint.js'

const FILE = 'migrations/0007_example.sql'

function lint(sql: string, dialect: Dialect, noTransaction = false): LintFinding[] {
  return lintSql(sql, { dialect, file: FILE, noTransaction })
}

// Compact `line:rule` list, in the order the linter returned it.
function summary(findings: LintFinding[]): string[] {
  return findings.map((f) => `${f.line ?? '?'}:${f.rule}`)
}

function warnings(findings: LintFinding[]): string[] {
  return findings.filter((f) => f.level === 'warning').map((f) => f.rule)
}

// Statements node-sql-parser 5.4.0 rejects take the keyword path and add an 'unparsed' notice, so
// `parsed` pins which classifier each case exercises.
interface Case {
  dialect: Dialect
  sql: string
  rules: string[]
  parsed: boolean
}

const IDENTITY = 'ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY'

const cases: Case[] = [
  // destructive
  { dialect: 'postgres', sql: 'DROP TABLE users', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'DROP TABLE IF EXISTS a, b CASCADE', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'DROP VIEW v', rules: [], parsed: true }, // a notice: no data lost
  { dialect: 'postgres', sql: 'DROP TYPE mood', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'DROP SCHEMA s CASCADE', rules: ['destructive'], parsed: false },
  { dialect: 'postgres', sql: 'DROP FUNCTION f(int)', rules: ['destructive'], parsed: false },
  { dialect: 'postgres', sql: 'DROP MATERIALIZED VIEW mv', rules: [], parsed: false },
  { dialect: 'postgres', sql: 'TRUNCATE ticks', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'ALTER TABLE t DROP COLUMN c', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'ALTER TABLE t ADD COLUMN c int, DROP d', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'ALTER TABLE t ALTER COLUMN c TYPE bigint', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'ALTER TABLE t ALTER COLUMN c SET DATA TYPE bigint', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'ALTER TABLE s.t RENAME TO u', rules: ['destructive'], parsed: true },
  { dialect: 'postgres', sql: 'ALTER TABLE t RENAME COLUMN a TO b', rules: ['destructive'], parsed: false },
  { dialect: 'postgres', sql: 'ALTER TABLE app.deals RENAME COLUMN a TO b', rules: ['destructive'], parsed: false },
  { dialect: 'postgres', sql: 'ALTER TABLE ONLY "T" RENAME a TO b', rules: ['destructive'], parsed: false },
  { dialect: 'sqlite', sql: 'DROP TABLE users', rules: ['destructive'], parsed: true },
  { dialect: 'sqlite', sql: 'DROP INDEX ticks_by_time', rules: [], parsed: false },
  { dialect: 'sqlite', sql: 'ALTER TABLE t DROP COLUMN c', rules: ['destructive'], parsed: true },
  { dialect: 'sqlite', sql: 'ALTER TABLE t RENAME TO u', rules: ['destructive'], parsed: true },
  { dialect: 'sqlite', sql: 'ALTER TABLE t RENAME COLUMN a TO b', rules: ['destructive'], parsed: true },
  { dialect: 'sqlite', sql: 'ALTER TABLE t RENAME a TO b', rules: ['destructive'], parsed: false },
  // look destructive but are not
  { dialect: 'postgres', sql: 'ALTER TABLE t DROP CONSTRAINT t_pkey', rules: [], parsed: true },
  { dialect: 'postgres', sql: 'ALTER TABLE t ALTER COLUMN type SET NOT NULL', rules: [], parsed: true },
  { dialect: 'postgres', sql: 'ALTER TABLE t ALTER COLUMN c DROP DEFAULT', rules: [], parsed: true },
  // identity columns make the parser fail, so these exercise the keyword path
  { dialect: 'postgres', sql: `ALTER TABLE t DROP CONSTRAINT t_pkey, ${IDENTITY}`, rules: [], parsed: false },
  { dialect: 'postgres', sql: `ALTER TABLE t ALTER COLUMN type SET NOT NULL, ${IDENTITY}`, rules: [], parsed: false },
  { dialect: 'postgres', sql: `ALTER TABLE t ALTER type TYPE bigint, ${IDENTITY}`, rules: ['destructive'], parsed: false },
  { dialect: 'postgres', sql: 'ALTER TABLE t RENAME CONSTRAINT a TO b', rules: [], parsed: false },
  { dialect: 'postgres', sql: 'ALTER SCHEMA s RENAME TO u', rules: [], parsed: true },
  { dialect: 'postgres', sql: "ALTER TYPE mood ADD VALUE 'meh'", rules: [], parsed: false },
  { dialect: 'sqlite', sql: 'ALTER TABLE t ADD COLUMN c TEXT', rules: [], parsed: true },
  { dialect: 'sqlite', sql: 'PRAGMA foreign_keys = OFF', rules: [], parsed: false },
  // needs-no-transaction
  { dialect: 'postgres', sql: 'CREATE INDEX CONCURRENTLY i ON t (a)', rules: ['needs-no-transaction'], parsed: true },
  { dialect: 'postgres', sql: 'CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)', rules: ['needs-no-transaction'], parsed: true },
  { dialect: 'postgres', sql: 'DROP INDEX CONCURRENTLY i', rules: ['needs-no-transaction'], parsed: true },
  { dialect: 'postgres', sql: 'REINDEX INDEX CONCURRENTLY i', rules: ['needs-no-transaction'], parsed: false },
  { dialect: 'postgres', sql: 'REINDEX (CONCURRENTLY) TABLE t', rules: ['needs-no-transaction'], parsed: false },
  { dialect: 'postgres', sql: 'REINDEX DATABASE app', rules: ['needs-no-transaction'], parsed: false },
  { dialect: 'postgres', sql: 'VACUUM ANALYZE ticks', rules: ['needs-no-transaction'], parsed: false },
  { dialect: 'postgres', sql: 'CREATE DATABASE app', rules: ['needs-no-transaction'], parsed: true },
  { dialect: 'postgres', sql: 'DROP DATABASE app', rules: ['destructive', 'needs-no-transaction'], parsed: false },
  { dialect: 'postgres', sql: "ALTER SYSTEM SET work_mem = '64MB'", rules: ['needs-no-transaction'], parsed: false },
  { dialect: 'postgres', sql: "CREATE TABLESPACE fast LOCATION '/ssd'", rules: ['needs-no-transaction'], parsed: false },
  { dialect: 'postgres', sql: 'CREATE INDEX i ON t (a)', rules: [], parsed: true },
  { dialect: 'postgres', sql: 'REINDEX TABLE t', rules: [], parsed: false },
  { dialect: 'sqlite', sql: 'VACUUM', rules: ['needs-no-transaction'], parsed: false },
  { dialect: 'sqlite', sql: 'REINDEX t', rules: [], parsed: false },
  // transaction-control
  { dialect: 'postgres', sql: 'BEGIN', rules: ['transaction-control'], parsed: true },
  { dialect: 'postgres', sql: 'COMMIT', rules: ['transaction-control'], parsed: true },
  { dialect: 'postgres', sql: 'START TRANSACTION', rules: ['transaction-control'], parsed: true },
  { dialect: 'postgres', sql: 'SAVEPOINT before_backfill', rules: ['transaction-control'], parsed: false },
  { dialect: 'postgres', sql: 'ROLLBACK TO SAVEPOINT before_backfill', rules: ['transaction-control'], parsed: false },
  { dialect: 'postgres', sql: 'END', rules: ['transaction-control'], parsed: false },
  { dialect: 'sqlite', sql: 'BEGIN IMMEDIATE', rules: ['transaction-control'], parsed: false },
  { dialect: 'sqlite', sql: 'COMMIT', rules: ['transaction-control'], parsed: false },
  { dialect: 'sqlite', sql: 'END TRANSACTION', rules: ['transaction-control'], parsed: false },
  { dialect: 'sqlite', sql: 'RELEASE sp', rules: ['transaction-control'], parsed: false },
]

for (const c of cases) {
  const verdict = c.rules.length ? c.rules.join(' + ') : 'nothing'
  const path = c.parsed ? 'from the AST' : 'by keywords when the parser fails'
  t.test(`${c.dialect}: ${c.sql} is reported as ${verdict}, ${path}`, async (t) => {
    const findings = lint(`${c.sql};\n`, c.dialect)
    t.same(warnings(findings), c.rules)
    t.equal(findings.some((f) => f.rule === 'unparsed'), !c.parsed, 'unparsed notice only when the parser failed')
    for (const f of findings) t.equal(f.line, 1)
  })
}

t.test('every finding names the file, the statement and one line of text', async (t) => {
  const sql = `DROP TABLE very_long_table_name_that_goes_on_and_on_and_on_for_quite_a_while\n  CASCADE;\n`
  const [finding, ...rest] = lint(sql, 'postgres')
  t.equal(rest.length, 0)
  t.equal(finding?.file, FILE)
  t.equal(finding?.level, 'warning')
  t.match(finding?.message, /^DROP TABLE .*: "DROP TABLE very_long_table_name_that_goes_on_and_on_and_o\.\.\."$/)
  t.notMatch(finding?.message, /\n/)
})

t.test('needs-no-transaction is silent in a file with the no-transaction directive', async (t) => {
  t.same(lint('CREATE INDEX CONCURRENTLY i ON t (a);', 'postgres', true), [])
  t.same(summary(lint('VACUUM;', 'sqlite', true)), ['1:unparsed'])
  t.same(summary(lint('VACUUM;', 'sqlite', false)), ['1:needs-no-transaction', '1:unparsed'])
})

t.test('CREATE INDEX CONCURRENTLY IF NOT EXISTS is caught by keywords with an unparsed notice', async (t) => {
  const sql = '-- speeds up the dashboard\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ticks_time ON ticks (time_msc);\n'
  const findings = lint(sql, 'postgres')
  t.same(summary(findings), ['2:needs-no-transaction', '2:unparsed'])
  const notice = findings.find((f) => f.rule === 'unparsed')
  t.equal(notice?.level, 'notice')
  t.match(notice?.message, 'could not parse "CREATE INDEX CONCURRENTLY IF NOT EXISTS ticks_time ON tic..."')
  t.match(notice?.message, /at line 2:\d+ \(Expected .* but "N" found\.\)/, 'carries the parser message')
  t.same(lint(sql, 'postgres', true), [notice], 'alone in a no-transaction file only the notice remains')
})

t.test('DELETE and UPDATE are destructive only without a WHERE of their own', async (t) => {
  for (const dialect of ['postgres', 'sqlite'] as const) {
    t.same(warnings(lint('DELETE FROM ticks;', dialect)), ['destructive'], `${dialect} DELETE`)
    t.same(warnings(lint('DELETE FROM ticks WHERE time_msc < 0;', dialect)), [], `${dialect} DELETE WHERE`)
    t.same(warnings(lint('UPDATE deals SET fee = 0;', dialect)), ['destructive'], `${dialect} UPDATE`)
    t.same(warnings(lint('UPDATE deals SET fee = 0 WHERE fee IS NULL;', dialect)), [], `${dialect} UPDATE WHERE`)
    const subquery = 'UPDATE deals SET fee = (SELECT max(fee) FROM fees WHERE fees.id = 1);'
    t.same(warnings(lint(subquery, dialect)), ['destructive'], `${dialect} WHERE in a subquery does not count`)
  }
  t.match(lint('DELETE FROM ticks;', 'sqlite')[0]?.message, /^DELETE without WHERE deletes every row/)
  const parameter = lint('UPDATE OR IGNORE deals SET note = :where;', 'sqlite')
  t.same(summary(parameter), ['1:destructive', '1:unparsed'], 'a parameter named :where is no WHERE')
})

t.test('a WITH statement is judged by its main DELETE, also when the parser rejects it', async (t) => {
  const bare = 'WITH old AS (SELECT id FROM t WHERE id < 10) DELETE FROM t;'
  const filtered = 'WITH old AS (SELECT id FROM t WHERE id < 10) DELETE FROM t WHERE id IN (SELECT id FROM old);'
  t.same(summary(lint(bare, 'postgres')), ['1:destructive', '1:unparsed'])
  t.same(summary(lint(filtered, 'postgres')), ['1:unparsed'])
  const named = 'WITH update AS (SELECT id FROM t) SELECT * FROM update;'
  t.same(warnings(lint(named, 'postgres')), [], 'a CTE named "update" is not the main verb')
})

t.test('a no-transaction file with two statements is reported at the second one', async (t) => {
  for (const dialect of ['postgres', 'sqlite'] as const) {
    const sql = 'CREATE INDEX a ON t (x);\n\n-- and another\nCREATE INDEX b ON t (y);\n'
    const findings = lint(sql, dialect, true)
    t.same(summary(findings), ['4:no-transaction-multiple'], dialect)
    t.match(findings[0]?.message, /exactly one statement but this one holds 2, starting again at "CREATE INDEX b ON t \(y\)"/)
    t.same(lint(sql, dialect, false), [], `${dialect}: several statements are fine with a transaction`)
  }
})

t.test('a no-transaction file with one statement and trailing comments passes', async (t) => {
  t.same(lint('CREATE INDEX CONCURRENTLY i ON t (a);\n-- done;\n/* really; */\n;\n', 'postgres', true), [])
})

t.test('a SQLite trigger body is one statement and its BEGIN ... END is not transaction control', async (t) => {
  const sql = [
    'CREATE TRIGGER deals_audit AFTER INSERT ON deals',
    'WHEN new.volume > 0',
    'BEGIN',
    '  DELETE FROM pending;',
    "  UPDATE totals SET side = CASE WHEN new.type = 0 THEN 'buy' ELSE 'sell' END;",
    '  UPDATE totals SET n = n + 1;',
    'END;',
  ].join('\n')
  t.same(lint(sql, 'sqlite'), [])
  t.same(lint(sql, 'sqlite', true), [], 'one statement: CASE ... END does not close the body early')
  t.same(summary(lint(`${sql}\nDELETE FROM pending;`, 'sqlite')), ['8:destructive'], 'the next statement is seen')
})

t.test('a dollar-quoted plpgsql body hides DROP TABLE, BEGIN and END; from the linter', async (t) => {
  const sql = [
    'CREATE OR REPLACE FUNCTION purge() RETURNS trigger AS $fn$',
    'BEGIN',
    "  EXECUTE 'DROP TABLE ' || quote_ident(TG_ARGV[0]);",
    '  DROP TABLE scratch; -- not run by the migration',
    '  RAISE NOTICE $$done; COMMIT$$;',
    '  RETURN NEW;',
    'END;',
    '$fn$ LANGUAGE plpgsql;',
    'DO $$ BEGIN PERFORM purge_all(); END $$;',
  ].join('\n')
  t.same(warnings(lint(sql, 'postgres')), [])
  const counted = lint(sql, 'postgres', true).filter((f) => f.rule === 'no-transaction-multiple')
  t.same(summary(counted), ['9:no-transaction-multiple'])
  t.match(counted[0]?.message, 'holds 2,', 'exactly two statements')
})

t.test('a BEGIN ATOMIC function body is one PostgreSQL statement', async (t) => {
  const sql = [
    'CREATE FUNCTION side(t int) RETURNS text LANGUAGE sql',
    'BEGIN ATOMIC',
    "  SELECT CASE WHEN t = 0 THEN 'buy' ELSE 'sell' END;",
    'END;',
    'COMMIT;',
  ].join('\n')
  t.same(summary(lint(sql, 'postgres')), ['1:unparsed', '5:transaction-control'])
})

t.test('comments hide statements: -- always, /* */ nested on PostgreSQL only', async (t) => {
  t.same(lint('-- DROP TABLE users;\nSELECT 1; -- COMMIT;\n', 'postgres'), [])
  t.same(lint('-- DROP TABLE users;\nSELECT 1; -- COMMIT;\n', 'sqlite'), [])
  const nested = '/* outer /* inner */ DROP TABLE users; */\nSELECT 1;\n'
  t.same(lint(nested, 'postgres'), [], 'PostgreSQL: the comment ends at the second */')
  t.same(summary(lint(nested, 'sqlite')), ['1:destructive', '1:unparsed'], 'SQLite: the comment ends at the first */')
})

t.test('semicolons in strings and quoted names do not split statements', async (t) => {
  const pg = [
    "INSERT INTO notes VALUES ('a; DROP TABLE users; b');",
    "SELECT E'it\\'s; DROP TABLE users';",
    "SELECT 'it''s; DROP TABLE users';",
    'CREATE TABLE "odd;name" ("x;y" int);',
    'SELECT $1; -- a parameter, not a dollar quote',
  ]
  for (const sql of pg) t.same(warnings(lint(sql, 'postgres', true)), [], sql)
  t.same(summary(lint('SELECT $1;\nDROP TABLE users;', 'postgres')), ['2:destructive'])
  const sqlite = ["SELECT 'it''s; DROP TABLE users';", 'CREATE TABLE [odd;name] (`x;y` INT);', 'SELECT `a;b`;']
  for (const sql of sqlite) t.same(warnings(lint(sql, 'sqlite', true)), [], sql)
})

t.test('findings carry the line where each statement starts, in line order', async (t) => {
  const sql = [
    '-- 0007: reshape deals',
    '',
    'CREATE TABLE deals_new (ticket bigint PRIMARY KEY, note text);',
    '/* a comment',
    '   over two lines; */',
    "INSERT INTO deals_new SELECT ticket, 'x;",
    "y' FROM deals;",
    'DROP TABLE',
    '  deals;',
    '',
    'ALTER TABLE deals_new RENAME TO deals; DELETE FROM audit;',
    'VACUUM;',
  ].join('\n')
  // Line 11's RENAME gives deals_new the name just dropped (a rebuild), so only its DELETE counts.
  t.same(summary(lint(sql, 'postgres')), [
    '8:destructive',
    '11:destructive',
    '12:needs-no-transaction',
    '12:unparsed',
  ])
  t.same(summary(lint(sql, 'postgres', true)), [
    '6:no-transaction-multiple',
    '8:destructive',
    '11:destructive',
    '12:unparsed',
  ])
})

t.test('the line of a parse failure inside a statement is given in file lines', async (t) => {
  const sql = 'SELECT 1;\n\nCREATE TABLE t (\n  id bigint GENERATED ALWAYS AS IDENTITY\n);\n'
  const [notice] = lint(sql, 'postgres')
  t.equal(notice?.rule, 'unparsed')
  t.equal(notice?.line, 3)
  t.match(notice?.message, / at line 4:\d+ /)
  const sameLine = lint('SELECT 1; SAVEPOINT sp;', 'postgres').find((f) => f.rule === 'unparsed')
  t.match(sameLine?.message, / at line 1:21 \(/, 'columns count from the start of the line')
})

t.test('unterminated strings, comments and dollar quotes end the scan quietly', async (t) => {
  t.same(warnings(lint("SELECT 'abc; DROP TABLE users;", 'postgres')), [])
  t.same(warnings(lint('SELECT 1; /* DROP TABLE users;', 'sqlite')), [])
  t.same(warnings(lint('DO $body$ BEGIN DROP TABLE users; END;', 'postgres')), [])
  t.same(warnings(lint('SELECT "abc; DROP TABLE users;', 'sqlite')), [])
  t.same(lint('', 'postgres'), [])
  t.same(summary(lint('\ufeffDROP INDEX i;', 'sqlite')), ['1:destructive', '1:unparsed'], 'a byte order mark is skipped')
  t.same(lint('  \n-- nothing here\n', 'sqlite', true), [])
})

t.test('random input never throws and always yields findings in line order', async (t) => {
  let seed = 12345
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
  const pieces = ["'", '"', '$$', '$a$', '--', '/*', '*/', ';', '(', ')', 'BEGIN', 'END', 'CASE', 'E\'', '\\', '\n',
    'CREATE TRIGGER', 'CREATE FUNCTION', 'DROP TABLE x', 'DELETE FROM t', 'WHERE', 'COMMIT', '[', '`', '\ud800', '\ufeff']
  let total = 0
  for (let round = 0; round < 1500; round++) {
    let sql = ''
    const length = Math.floor(random() * 40)
    for (let k = 0; k < length; k++) {
      const piece = pieces[Math.floor(random() * pieces.length)] ?? ''
      sql += random() < 0.5 ? piece : String.fromCharCode(Math.floor(random() * 0x10000))
    }
    for (const dialect of ['postgres', 'sqlite'] as const) {
      const findings = lint(sql, dialect, random() < 0.5)
      total += findings.length
      const lines = findings.map((f) => f.line ?? 0)
      const ordered = lines.every((line, k) => k === 0 || line >= (lines[k - 1] ?? 0))
      if (!ordered) t.fail(`out of order for ${JSON.stringify(sql)}`)
    }
  }
  t.ok(total > 0, 'the generator does reach the rules')
})

t.test('a parser stack overflow becomes an unparsed notice', async (t) => {
  const deep = `SELECT ${'('.repeat(5000)}1${')'.repeat(5000)};\nDROP TABLE users;`
  t.same(summary(lint(deep, 'postgres')), ['1:unparsed', '2:destructive'])
})
