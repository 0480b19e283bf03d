import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { StatusReport } from '../src/db/migrator/migrator.js'
import { openSqlite } from '../src/db/storage/sqlite.js'
import {
  cliPath,
  eachBackend,
  fixture,
  repoRoot,
  runCliProcess,
  schemaObjects,
  tempDir,
  type CliResult,
  type MigrationFixture,
  type Test,
} from './helpers.js'

const A = '20240101000000'
const B = '20240102000000'
const C = '20240103000000'

/** Three migrations that work on both dialects, each with a rollback. */
const threeMigrations: [string, string, string | null][] = [
  [`${A}_accounts.sql`, 'CREATE TABLE accounts (id integer PRIMARY KEY, login integer NOT NULL);\n', 'DROP TABLE accounts;\n'],
  [`${B}_symbols.sql`, 'CREATE TABLE symbols (id integer PRIMARY KEY, name text NOT NULL);\n', 'DROP TABLE symbols;\n'],
  [
    `${C}_deals.sql`,
    'CREATE TABLE deals (id integer PRIMARY KEY, account_id integer REFERENCES accounts (id));\n' +
      'CREATE INDEX deals_account_idx ON deals (account_id);\n',
    'DROP INDEX deals_account_idx;\nDROP TABLE deals;\n',
  ],
]

interface Setup extends MigrationFixture {
  database: string
  cwd: string
  /** Runs `mt5-engine ARGS --migrations-dir ... --rollbacks-dir ... --database ...`. */
  run(args: string[], env?: Record<string, string>): Promise<CliResult>
}

/** The test runner's environment without MT5E_* variables, as runCliProcess passes it. */
function withoutEngineEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MT5E_')))
}

function setup(t: Test, entries = threeMigrations, database?: string): Setup {
  const dirs = fixture(t, entries)
  const cwd = tempDir(t)
  const db = database ?? join(cwd, 'engine.db')
  return {
    ...dirs,
    database: db,
    cwd,
    run: (args, env) =>
      runCliProcess(
        [...args, '--migrations-dir', dirs.migrationsDir, '--rollbacks-dir', dirs.rollbacksDir, '--database', db],
        { cwd, ...(env && { env }) },
      ),
  }
}

async function statusJson(t: Test, s: Setup): Promise<StatusReport> {
  const r = await s.run(['migrate', 'status', '--json'])
  t.equal(r.stderr, '', 'status --json writes nothing to stderr')
  return JSON.parse(r.stdout) as StatusReport
}

function states(report: StatusReport): [string, string][] {
  return report.entries.map((e) => [e.version, e.state])
}

async function dump(t: Test, s: Setup): Promise<string> {
  const r = await s.run(['migrate', 'dump', '--out', '-'])
  t.equal(r.code, 0, 'dump exits 0')
  t.match(r.stdout, /^-- mt5-engine schema/)
  return r.stdout
}

t.test('cli on both backends', async (t) => {
  await eachBackend(t, 'migrate status, up, status --json, down --all', async (t, backend) => {
    const s = setup(t, threeMigrations, backend.database)
    const fresh = await s.run(['migrate', 'status'])
    t.equal(fresh.code, 0, fresh.stderr)
    t.match(fresh.stdout, new RegExp(`^${backend.dialect} `))
    t.match(fresh.stdout, new RegExp(`${A}\\s+accounts\\s+pending`))
    t.match(fresh.stdout, new RegExp(`${C}\\s+deals\\s+pending`))
    t.match(fresh.stdout, /\n3 pending\n$/)
    if (backend.dialect === 'postgres') t.notMatch(fresh.stdout, /postgres:\/\/[^@\s]*:[^*@\s]+@/, 'no password shown')

    const before = Date.now()
    const up = await s.run(['migrate', 'up'])
    const after = Date.now()
    t.equal(up.code, 0, up.stderr)
    t.match(up.stdout, new RegExp(`applied +${A}_accounts \\(\\d+ ms\\)\\napplied +${B}_symbols .*\\napplied +${C}_deals `))

    const report = await statusJson(t, s)
    t.equal(report.dialect, backend.dialect)
    t.equal(report.drift, false)
    t.same(states(report), [
      [A, 'applied'],
      [B, 'applied'],
      [C, 'applied'],
    ])
    t.same(report.entries.map((e) => e.applyOrder), [1, 2, 3])
    for (const e of report.entries) {
      t.ok(typeof e.appliedAt === 'number' && e.appliedAt >= before - 1000 && e.appliedAt <= after, `${e.version} appliedAt is the run's time`)
    }
    const storage = await backend.open()
    t.ok((await schemaObjects(storage)).includes('deals_account_idx'), 'the schema is there')

    const again = await s.run(['migrate', 'up'])
    t.equal(again.code, 0)
    t.equal(again.stdout, 'nothing to do\n')

    const down = await s.run(['migrate', 'down', '--all'])
    t.equal(down.code, 0, down.stderr)
    t.match(down.stdout, new RegExp(`rolled back +${C}_deals .*\\nrolled back +${B}_symbols .*\\nrolled back +${A}_accounts `))
    t.same(states(await statusJson(t, s)), [
      [A, 'pending'],
      [B, 'pending'],
      [C, 'pending'],
    ])
    t.same(await schemaObjects(storage).then((o) => o.filter((n) => !n.startsWith('schema_migrations'))), [], 'only the history table is left')
  })
})

t.test('issue 17 on both backends', async (t) => {
  await eachBackend(t, 'status with an orphan rollback shows every migration and the orphan as a problem', async (t, backend) => {
    const s = setup(t, threeMigrations, backend.database)
    t.equal((await s.run(['migrate', 'up', '--to', A])).code, 0)
    writeFileSync(join(s.rollbacksDir, '20240109000000_removed.sql'), 'DROP TABLE removed;\n')
    const status = await s.run(['migrate', 'status'])
    t.equal(status.code, 1, 'a problem with the files exits 1, like drift')
    t.match(status.stdout, new RegExp(`${A}\\s+accounts\\s+applied`))
    t.match(status.stdout, new RegExp(`${C}\\s+deals\\s+pending`))
    t.match(status.stdout, /problems with the files:\n  MIGRATION_ORPHAN_ROLLBACK: rollbacks\/20240109000000_removed\.sql has no migration/)
    const json = JSON.parse((await s.run(['migrate', 'status', '--json'])).stdout) as StatusReport
    t.same(json.problems.map((p) => p.code), ['MIGRATION_ORPHAN_ROLLBACK'])
    t.equal(json.entries.length, 3)
  })
})

t.test('migrate --help and migrate VERB --help print usage and exit 0 without opening a database', async (t) => {
  const s = setup(t)
  for (const args of [['migrate', '--help'], ['migrate', '-h'], ['migrate', 'help']]) {
    const r = await runCliProcess(args, { cwd: s.cwd })
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    t.match(r.stdout, /mt5-engine migrate up \[--to VERSION\]/)
    t.match(r.stdout, /mt5-engine migrate lint /)
    t.match(r.stdout, /--database URL\|FILE/)
  }
  for (const verb of ['status', 'up', 'down', 'redo', 'validate', 'repair', 'create', 'dump', 'lint']) {
    const r = await s.run(['migrate', verb, '--help'])
    t.equal(r.code, 0, `migrate ${verb} --help: ${r.stderr}`)
    t.match(r.stdout, new RegExp(`^  mt5-engine migrate ${verb}( |$)`, 'm'))
    t.notMatch(r.stdout, verb === 'up' ? /migrate down/ : /migrate up /, 'only that verb')
    t.equal(r.stderr, '')
  }
  t.notOk(existsSync(s.database), 'no database was opened or created')
})

t.test('status exits 1 on drift and says which file changed', async (t) => {
  const s = setup(t)
  t.equal((await s.run(['migrate', 'up'])).code, 0)
  appendFileSync(join(s.migrationsDir, `${B}_symbols.sql`), '-- an edit after the fact\n')
  const r = await s.run(['migrate', 'status'])
  t.equal(r.code, 1)
  t.match(r.stdout, new RegExp(`${B}\\s+symbols\\s+modified \\(migration\\)`))
  t.match(r.stdout, /drift: see mt5-engine migrate validate/)
  const json = await s.run(['migrate', 'status', '--json'])
  t.equal(json.code, 1)
  t.equal((JSON.parse(json.stdout) as StatusReport).drift, true)
})

t.test('migrate up --dry-run lists what it would apply and changes nothing', async (t) => {
  const s = setup(t)
  t.equal((await s.run(['migrate', 'up', '--to', A])).code, 0)
  const before = await dump(t, s)
  const r = await s.run(['migrate', 'up', '--dry-run'])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, `would apply  ${B}_symbols\nwould apply  ${C}_deals\n`)
  t.equal(await dump(t, s), before, 'the schema is byte-identical')
  t.same(states(await statusJson(t, s)), [
    [A, 'applied'],
    [B, 'pending'],
    [C, 'pending'],
  ])
})

t.test('migrate down --steps, --to and --all roll back the newest first', async (t) => {
  const s = setup(t)
  const pending = (): Promise<CliResult> => s.run(['migrate', 'up'])
  t.equal((await pending()).code, 0)
  const steps = await s.run(['migrate', 'down', '--steps', '2'])
  t.equal(steps.code, 0, steps.stderr)
  t.match(steps.stdout, new RegExp(`^rolled back +${C}_deals .*\\nrolled back +${B}_symbols .*\\n$`))
  t.same(states(await statusJson(t, s)), [
    [A, 'applied'],
    [B, 'pending'],
    [C, 'pending'],
  ])

  t.equal((await pending()).code, 0)
  const to = await s.run(['migrate', 'down', '--to', A])
  t.equal(to.code, 0, to.stderr)
  t.match(to.stdout, new RegExp(`^rolled back +${C}_deals .*\\nrolled back +${B}_symbols .*\\n$`))
  t.same(states(await statusJson(t, s)).map(([, st]) => st), ['applied', 'pending', 'pending'])

  t.equal((await pending()).code, 0)
  const all = await s.run(['migrate', 'down', '--all'])
  t.equal(all.code, 0, all.stderr)
  t.equal(all.stdout.split('\n').filter((l) => l.startsWith('rolled back')).length, 3)
  t.same(states(await statusJson(t, s)).map(([, st]) => st), ['pending', 'pending', 'pending'])
  const storage = openSqlite({ path: s.database })
  t.teardown(() => storage.close())
  t.same(await schemaObjects(storage), ['schema_migrations'], 'only the history table is left')
})

t.test('usage errors exit 2 with a message', async (t) => {
  const s = setup(t)
  t.equal((await s.run(['migrate', 'up'])).code, 0)
  const both = await s.run(['migrate', 'down', '--steps', '1', '--to', A])
  t.equal(both.code, 2)
  t.match(both.stderr, /error USAGE: give at most one of --steps, --to and --all/)
  t.same(states(await statusJson(t, s)).map(([, st]) => st), ['applied', 'applied', 'applied'], 'nothing rolled back')

  const verb = await s.run(['migrate', 'sideways'])
  t.equal(verb.code, 2)
  t.match(verb.stderr, /unknown migrate verb "sideways"; known: status, up, down/)

  const command = await runCliProcess(['frobnicate'], { cwd: s.cwd })
  t.equal(command.code, 2)
  t.match(command.stderr, /unknown command "frobnicate"/)

  const flag = await s.run(['migrate', 'status', '--no-such-flag'])
  t.equal(flag.code, 2)
  t.match(flag.stderr, /error USAGE: .*--no-such-flag/)

  const steps = await s.run(['migrate', 'down', '--steps', 'two'])
  t.equal(steps.code, 2)
  t.match(steps.stderr, /--steps must be a whole number >= 1; got "two"/)
})

t.test('two migrate up processes at once apply the migration exactly once', async (t) => {
  const s = setup(t, [
    [
      `${A}_slow.sql`,
      // About a third of a second of work, so that the second process arrives while the first holds the lock.
      'CREATE TABLE slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) ' +
        'SELECT count(*) AS n FROM c;\n',
      'DROP TABLE slow;\n',
    ],
  ])
  const [one, two] = await Promise.all([s.run(['migrate', 'up']), s.run(['migrate', 'up'])])
  t.same([one.code, two.code], [0, 0], one.stderr + two.stderr)
  t.same([one.stdout, two.stdout].map((o) => o.replace(/\(\d+ ms\)/, '(N ms)')).sort(), [
    `applied      ${A}_slow (N ms)\n`,
    'nothing to do\n',
  ])
  const report = await statusJson(t, s)
  t.same(states(report), [[A, 'applied']])
})

t.test('a migration with a syntax error exits 1, names the file and the database error, and changes nothing', async (t) => {
  const s = setup(t)
  t.equal((await s.run(['migrate', 'up'])).code, 0)
  const before = await dump(t, s)
  const bad = '20240104000000_broken.sql'
  writeFileSync(join(s.migrationsDir, bad), 'CREATE TABLE half_done (id integer);\nCREATE TABL oops (x integer);\n')
  const r = await s.run(['migrate', 'up'])
  t.equal(r.code, 1)
  t.match(r.stdout, `FAILED       20240104000000_broken`)
  t.match(r.stderr, `error MIGRATION_FAILED: migrations/${bad} failed`)
  t.match(r.stderr, /SQLITE_ERROR: near "TABL": syntax error/)
  t.match(r.stderr, /nothing of it was applied/)
  t.equal(await dump(t, s), before, 'the schema is byte-identical: the first statement was rolled back too')
  t.same(states(await statusJson(t, s)).at(-1), ['20240104000000', 'pending'])
})

t.test('a wrongly named migration file exits 1 naming the file, before applying anything', async (t) => {
  const s = setup(t)
  writeFileSync(join(s.migrationsDir, '2024_bad.sql'), 'CREATE TABLE nope (id integer);\n')
  const r = await s.run(['migrate', 'up'])
  t.equal(r.code, 1)
  t.match(r.stderr, /error MIGRATION_BAD_NAME: migrations\/2024_bad\.sql does not follow/)
  t.equal(r.stdout, '')
  const storage = openSqlite({ path: s.database })
  t.teardown(() => storage.close())
  t.notOk((await schemaObjects(storage)).includes('accounts'), 'the good migrations were not applied either')
})

t.test('a failing rollback exits 1, names the rollback file and leaves the database unchanged', async (t) => {
  const entries: [string, string, string | null][] = [
    threeMigrations[0]!,
    [`${B}_symbols.sql`, 'CREATE TABLE symbols (id integer PRIMARY KEY);\n', 'DROP TABLE symbols;\nDROP TABLE no_such_table;\n'],
  ]
  const s = setup(t, entries)
  t.equal((await s.run(['migrate', 'up'])).code, 0)
  const before = await dump(t, s)
  const r = await s.run(['migrate', 'down'])
  t.equal(r.code, 1)
  t.match(r.stderr, `error MIGRATION_FAILED: rollbacks/${B}_symbols.sql failed`)
  t.match(r.stderr, /SQLITE_ERROR: no such table: no_such_table/)
  t.equal(await dump(t, s), before, 'symbols is still there')
  t.same(states(await statusJson(t, s)), [
    [A, 'applied'],
    [B, 'applied'],
  ])
})

function versionTime(version: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(version)!
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)
}

t.test('migrate create writes a migration and its rollback stamped with the current UTC time', async (t) => {
  const s = setup(t, [])
  const before = Math.floor(Date.now() / 1000) * 1000
  const r = await s.run(['migrate', 'create', 'add_things'])
  const after = Date.now()
  t.equal(r.code, 0, r.stderr)
  const [up] = readdirSync(s.migrationsDir)
  t.match(up, /^\d{14}_add_things\.sql$/)
  const version = up!.slice(0, 14)
  const at = versionTime(version)
  t.ok(at >= before && at <= after, `${version} is now in UTC`)
  t.same(readdirSync(s.rollbacksDir), [up])
  t.equal(r.stdout, `created ${join(s.migrationsDir, up!)}\ncreated ${join(s.rollbacksDir, up!)}\n`)

  const bad = await s.run(['migrate', 'create', 'Add-Things'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /MIGRATION_CREATE_FAILED: migration name "Add-Things" must be lower-case snake_case/)
})

t.test('migrate create --split writes .sqlite.sql and .postgres.sql twins in both folders', async (t) => {
  const s = setup(t, [])
  const r = await s.run(['migrate', 'create', 'add_things', '--split'])
  t.equal(r.code, 0, r.stderr)
  const ups = readdirSync(s.migrationsDir).sort()
  t.equal(ups.length, 2)
  const version = ups[0]!.slice(0, 14)
  t.same(ups, [`${version}_add_things.postgres.sql`, `${version}_add_things.sqlite.sql`])
  t.same(readdirSync(s.rollbacksDir).sort(), ups)
  t.ok(Math.abs(versionTime(version) - Date.now()) < 10000, 'stamped with the current time')
})

t.test('migrate lint exits 0; a rollback\'s drops are reported only with --rollback-drops', async (t) => {
  const s = setup(t, threeMigrations.slice(0, 1))
  const r = await s.run(['migrate', 'lint'])
  t.equal(r.code, 0, r.stderr)
  t.notMatch(r.stdout, /\[destructive\]/, 'dropping what the migration made is the rollback\'s job')
  t.match(r.stdout, /^0 warning\(s\), \d+ notice\(s\)$/m)
  const strict = await s.run(['migrate', 'lint', '--rollback-drops'])
  t.equal(strict.code, 0, strict.stderr)
  t.match(strict.stdout, new RegExp(`^rollbacks/${A}_accounts\\.sql:1: warning \\[destructive\\] .*DROP TABLE`, 'm'))
  t.notMatch(strict.stdout, /^migrations\/.*\[destructive\]/m, 'the CREATE TABLE migration is not flagged')
  t.match(strict.stdout, /^1 warning\(s\), \d+ notice\(s\)$/m)
  t.notOk(existsSync(s.database), 'lint does not open the database')
})

const ownMigrations = join(repoRoot, 'migrations')
const ownFiles = existsSync(ownMigrations) ? readdirSync(ownMigrations).filter((f) => f.endsWith('.sql')) : []

t.test(
  'start --migrate-only with the package migrations brings a new database up to date and exits 0',
  { skip: ownFiles.length === 0 && `${ownMigrations} holds no migrations yet` },
  async (t) => {
    const cwd = tempDir(t)
    const database = join(cwd, 'x.db')
    const first = await runCliProcess(['start', '--migrate-only', '--database', database], { cwd })
    t.equal(first.code, 0, first.stderr)
    t.match(first.stdout, `mt5-engine: database sqlite ${database} (WAL, synchronous=NORMAL)`)
    const versions = new Set(ownFiles.map((f) => f.slice(0, 14)))
    t.match(first.stdout, `schema up to date: ${versions.size} migrations applied, ${versions.size} of them now`)
    const second = await runCliProcess(['start', '--migrate-only', '--database', database], { cwd })
    t.equal(second.code, 0, second.stderr)
    t.match(second.stdout, `schema up to date: ${versions.size} migrations applied, 0 of them now`)
    t.notOk(existsSync(join(cwd, 'data')), 'no default data folder was created')
  },
)

t.test('start serves until SIGTERM, then closes and exits 0', async (t) => {
  const s = setup(t)
  const child = spawn(
    process.execPath,
    [cliPath, 'start', '--port', '0', '--migrations-dir', s.migrationsDir, '--rollbacks-dir', s.rollbacksDir, '--database', s.database],
    { cwd: s.cwd, env: withoutEngineEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const killer = setTimeout(() => child.kill('SIGKILL'), 20000)
  t.teardown(() => {
    clearTimeout(killer)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  await new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      if (/connect to ws:\/\/127\.0\.0\.1:\d+\/v1/.test(stdout)) resolve()
    })
    void exited.then(() => resolve())
  })
  t.match(stdout, /schema up to date: 3 migrations applied, 3 of them now/)
  const url = /connect to (ws:\/\/127\.0\.0\.1:(\d+)\/v1)/.exec(stdout)
  t.ok(url, 'prints the address it listens on')
  const health = await fetch(`http://127.0.0.1:${url?.[2]}/health`).then(
    (r) => r.status,
    (e: Error) => `${e.message}: ${String((e.cause as Error)?.message ?? e.cause)}`,
  )
  t.equal(health, 200, 'it is listening')
  child.kill('SIGTERM')
  t.equal(await exited, 0, stderr)
  t.match(stdout, /stopped/)
  t.notOk(existsSync(`${s.database}-wal`), 'the database was closed')
})

t.test('start --no-migrate refuses pending migrations with exit 1', async (t) => {
  const s = setup(t)
  const r = await s.run(['start', '--no-migrate'])
  t.equal(r.code, 1)
  t.match(r.stderr, /error MIGRATION_PENDING: refusing to start/)
})

t.test('MT5E_DATABASE is honoured and a --database flag beats it', async (t) => {
  const dirs = fixture(t, threeMigrations)
  const cwd = tempDir(t)
  const fromEnv = join(cwd, 'from-env.db')
  const dirFlags = ['--migrations-dir', dirs.migrationsDir, '--rollbacks-dir', dirs.rollbacksDir]
  const up = await runCliProcess(['migrate', 'up', ...dirFlags], { cwd, env: { MT5E_DATABASE: fromEnv } })
  t.equal(up.code, 0, up.stderr)
  t.ok(existsSync(fromEnv), 'the database named by MT5E_DATABASE was created')
  t.notOk(existsSync(join(cwd, 'data')), 'the default location was not used')
  const status = await runCliProcess(['migrate', 'status', '--json', ...dirFlags], { cwd, env: { MT5E_DATABASE: fromEnv } })
  const report = JSON.parse(status.stdout) as StatusReport
  t.equal(report.location, fromEnv)
  t.same(report.entries.map((e) => e.state), ['applied', 'applied', 'applied'])

  const flagged = join(cwd, 'flagged.db')
  const flag = await runCliProcess(['migrate', 'status', '--json', ...dirFlags, '--database', flagged], {
    cwd,
    env: { MT5E_DATABASE: fromEnv },
  })
  t.equal((JSON.parse(flag.stdout) as StatusReport).location, flagged)
})

t.test('an invalid environment value fails with CONFIG_INVALID naming the variable', async (t) => {
  const cwd = tempDir(t)
  const r = await runCliProcess(['migrate', 'status', '--database', join(cwd, 'x.db')], {
    cwd,
    env: { MT5E_SYNCHRONOUS: 'SOMETIMES' },
  })
  t.equal(r.code, 1)
  t.match(r.stderr, /error CONFIG_INVALID: MT5E_SYNCHRONOUS must be NORMAL or FULL; got "SOMETIMES"/)
})
