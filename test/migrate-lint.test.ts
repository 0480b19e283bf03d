import { writeFileSync } from 'node:fs'
import t from 'tap'
import { copyLintSchema, createLintSchema, lintSql, type LintFinding, type LintSchema } from '../src/db/migrator/lint.js'
import { createMigrator } from '../src/db/migrator/migrator.js'
import { fixture, runCliProcess, sqliteBackend, tempDir } from './helpers.js'

const PARENTS = 'CREATE TABLE accounts (id integer PRIMARY KEY, login integer NOT NULL);\n'
const CHILDREN =
  'CREATE TABLE deals (id integer PRIMARY KEY, account_id integer NOT NULL REFERENCES accounts (id));\n' +
  'CREATE TABLE "Orders" (id integer PRIMARY KEY, account_id integer, FOREIGN KEY (account_id) REFERENCES "accounts" (id));\n'

/** SQLite's own order: new table, copy, drop, rename. */
const REBUILD =
  'CREATE TABLE accounts_new (id integer PRIMARY KEY, login integer NOT NULL CHECK (login > 0));\n' +
  'INSERT INTO accounts_new SELECT id, login FROM accounts;\n' +
  'DROP TABLE accounts;\n' +
  'ALTER TABLE accounts_new RENAME TO accounts;\n'

/** The order that looks right and is not: the references follow the rename to accounts_old. */
const RENAME_AWAY =
  'ALTER TABLE accounts RENAME TO accounts_old;\n' +
  'CREATE TABLE accounts (id integer PRIMARY KEY, login integer NOT NULL CHECK (login > 0));\n' +
  'INSERT INTO accounts SELECT id, login FROM accounts_old;\n' +
  'DROP TABLE accounts_old;\n'

function schemaAfter(...files: string[]): LintSchema {
  const schema = createLintSchema()
  for (const text of files) lintSql(text, { dialect: 'sqlite', file: 'earlier.sql', noTransaction: false, schema })
  return schema
}

function rebuildFindings(findings: LintFinding[]): LintFinding[] {
  return findings.filter((f) => f.rule === 'foreign-key-rebuild')
}

t.test('a SQLite rebuild of a table other files reference is flagged, with the directive that fixes it', async (t) => {
  const schema = schemaAfter(PARENTS, CHILDREN)
  const [finding, ...more] = rebuildFindings(
    lintSql(REBUILD, { dialect: 'sqlite', file: 'migrations/3_checks.sql', noTransaction: false, schema: copyLintSchema(schema) }),
  )
  t.equal(more.length, 0)
  t.equal(finding?.level, 'warning')
  t.equal(finding?.line, 3, 'on the DROP TABLE')
  t.match(finding?.message, /^DROP TABLE accounts rebuilds a table and deals, orders reference it by foreign key/)
  t.match(finding?.message, /FOREIGN KEY constraint failed/)
  t.match(finding?.message, /put -- mt5e:foreign-keys-off at the top of the file/)

  const withDirective = lintSql(REBUILD, {
    dialect: 'sqlite', file: 'migrations/3_checks.sql', noTransaction: false, foreignKeysOff: true, schema: copyLintSchema(schema),
  })
  t.same(rebuildFindings(withDirective), [], 'silent once foreign keys are off')
  t.notOk(withDirective.some((f) => /RENAME/.test(f.message)), 'the rename that ends a rebuild breaks no name')

  const alone = lintSql(PARENTS + REBUILD, { dialect: 'sqlite', file: 'x.sql', noTransaction: false })
  t.same(rebuildFindings(alone), [], 'nobody references accounts: a rebuild is safe')
  const sameFile = lintSql(PARENTS + CHILDREN + REBUILD, { dialect: 'sqlite', file: 'x.sql', noTransaction: false })
  t.equal(rebuildFindings(sameFile).length, 1, 'references made earlier in the same file count too')
  t.same(rebuildFindings(lintSql(REBUILD, { dialect: 'postgres', file: 'x.sql', noTransaction: false, schema })), [], 'SQLite only')
})

t.test('renaming a referenced table away to re-create it is flagged even with foreign keys off', async (t) => {
  const schema = schemaAfter(PARENTS, CHILDREN)
  const findings = rebuildFindings(
    lintSql(RENAME_AWAY, { dialect: 'sqlite', file: 'x.sql', noTransaction: false, foreignKeysOff: true, schema }),
  )
  t.equal(findings.length, 2, 'the rename, and the drop of the table the references now name')
  t.equal(findings[0]?.line, 1)
  t.match(findings[0]?.message, /rewrites those references to accounts_old/)
  t.match(findings[0]?.message, /create the new table under another name, copy the rows, drop accounts, rename/)
  t.match(findings[1]?.message, /^DROP TABLE accounts_old drops a table and deals, orders reference it/)
  t.same(
    rebuildFindings(lintSql('ALTER TABLE accounts RENAME TO trading_accounts;\n', { dialect: 'sqlite', file: 'x.sql', noTransaction: false, schema: schemaAfter(PARENTS, CHILDREN) })),
    [],
    'a plain rename carries the references along and is fine',
  )
})

t.test('dropping the children first, as a rollback does, is not flagged', async (t) => {
  const schema = schemaAfter(PARENTS, CHILDREN)
  const findings = lintSql('DROP TABLE "Orders";\nDROP TABLE deals;\nDROP TABLE accounts;\n', {
    dialect: 'sqlite', file: 'rollbacks/1.sql', noTransaction: false, rollback: true, schema,
  })
  t.same(findings, [], 'no foreign key finding, and no destructive warning in a rollback')
})

t.test('a rollback\'s drops are its job; DROP VIEW and DROP INDEX lose no data', async (t) => {
  const text = 'DROP VIEW v;\nDROP INDEX i;\nDROP TABLE t;\nALTER TABLE u DROP COLUMN c;\nDELETE FROM w;\n'
  const rollback = lintSql(text, { dialect: 'postgres', file: 'r.sql', noTransaction: false, rollback: true })
  t.same(rollback.filter((f) => f.level === 'warning').map((f) => `${f.line}:${f.rule}`), ['5:destructive'],
    'only the DELETE without WHERE is still a warning')
  const migration = lintSql(text, { dialect: 'postgres', file: 'm.sql', noTransaction: false })
  const levels = migration.filter((f) => f.rule === 'destructive').map((f) => `${f.line}:${f.level}`)
  t.same(levels, ['1:notice', '2:notice', '3:warning', '4:warning', '5:warning'])
  t.match(migration[0]?.message, /^DROP VIEW loses no data but removes an object/)
})

t.test('the flagged rebuild really fails once rows exist, and MIGRATION_FAILED names the directive', async (t) => {
  const dirs = fixture(t, [
    ['20240101000000_accounts.sql', PARENTS, null],
    ['20240102000000_deals.sql', CHILDREN, null],
    ['20240103000000_seed.sql', 'INSERT INTO accounts VALUES (1, 100);\nINSERT INTO deals VALUES (1, 1);\n', null],
    ['20240104000000_checks.sql', REBUILD, null],
  ])
  const storage = await sqliteBackend(t).open()
  const migrator = createMigrator({ storage, ...dirs })
  const run = await migrator.up()
  t.equal(run.error?.code, 'MIGRATION_FAILED')
  t.match(run.error?.message, /20240104000000_checks\.sql failed: SQLITE_CONSTRAINT_FOREIGNKEY: FOREIGN KEY constraint failed/)
  t.match(run.error?.message, /-- mt5e:foreign-keys-off/)

  const lint = await runCliProcess(['migrate', 'lint', '--dialect', 'sqlite', '--migrations-dir', dirs.migrationsDir,
    '--rollbacks-dir', dirs.rollbacksDir], { cwd: tempDir(t) })
  t.equal(lint.code, 0, lint.stderr)
  t.match(lint.stdout, /^migrations\/20240104000000_checks\.sql:3: warning \[foreign-key-rebuild\] DROP TABLE accounts rebuilds/m,
    'lint knows the references from the earlier files')

  writeFileSync(`${dirs.migrationsDir}/20240104000000_checks.sql`, `-- mt5e:foreign-keys-off\n${REBUILD}`)
  const fixed = await migrator.up()
  t.equal(fixed.error, undefined, fixed.error?.message ?? 'applied with the directive')
  t.same(await storage.query('select count(*) as n from deals'), [{ n: 1 }], 'the rows survive')
})
