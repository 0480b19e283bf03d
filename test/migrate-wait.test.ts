import { createServer } from 'node:net'
import postgres from 'postgres'
import t from 'tap'
import { eachBackend, fixture, runCliProcess, tempDir } from './helpers.js'

const adminUrl = process.env.MT5E_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** A port nothing listens on: one the kernel just handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const oneMigration: [string, string, string | null][] = [
  ['20240101000000_accounts.sql', 'CREATE TABLE accounts (id integer PRIMARY KEY);\n', 'DROP TABLE accounts;\n'],
]

t.test('migrate --wait', async (t) => {
  await t.test('gives up with DATABASE_UNAVAILABLE after --wait-timeout on a closed port', async (t) => {
    const dirs = fixture(t, oneMigration)
    const port = await closedPort()
    const started = Date.now()
    const r = await runCliProcess(
      ['migrate', 'up', '--database', `postgres://postgres:secret@127.0.0.1:${port}/nothing`, '--wait', '--wait-timeout', '1500ms',
        '--migrations-dir', dirs.migrationsDir, '--rollbacks-dir', dirs.rollbacksDir],
      { cwd: tempDir(t) },
    )
    const took = Date.now() - started
    t.equal(r.code, 1)
    t.match(r.stderr, /^error DATABASE_UNAVAILABLE: the database at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/nothing did not accept connections within 1500 ms \(--wait-timeout\); the last attempt said: .*ECONNREFUSED/)
    t.match(r.stderr, /or wait longer with --wait-timeout/)
    t.notMatch(r.stderr, /secret/, 'the password is masked')
    t.ok(took >= 1400, `it waited (${took} ms)`)
    t.ok(took < 10000, `and no longer than it was told to, give or take start-up (${took} ms)`)
  })

  await t.test('a bad --wait-timeout is a usage error', async (t) => {
    const r = await runCliProcess(['migrate', 'status', '--wait-timeout', 'soon', '--data-dir', tempDir(t)])
    t.equal(r.code, 2)
    t.match(r.stderr, /USAGE: --wait-timeout takes a duration like 60s, 1500ms or 2m; got "soon"/)
  })

  await eachBackend(t, 'waits for a database that is there at once', async (t, backend) => {
    const dirs = fixture(t, oneMigration)
    const r = await runCliProcess(
      ['migrate', 'up', '--wait', '--database', backend.database, '--migrations-dir', dirs.migrationsDir, '--rollbacks-dir', dirs.rollbacksDir],
      { cwd: tempDir(t) },
    )
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /applied +20240101000000_accounts/)
  })

  await eachBackend(t, 'applies once a PostgreSQL database created after the wait began appears', async (t, backend) => {
    if (backend.dialect === 'sqlite') return
    const name = `mt5e_wait_${process.pid}_${Date.now().toString(36)}`
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
    t.teardown(async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end()
    })
    const dirs = fixture(t, oneMigration)
    const started = Date.now()
    const running = runCliProcess(
      ['migrate', 'up', '--database', url.toString(), '--wait-timeout', '30s', '--migrations-dir', dirs.migrationsDir,
        '--rollbacks-dir', dirs.rollbacksDir],
      { cwd: tempDir(t) },
    )
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await admin.unsafe(`create database ${name}`)
    const r = await running
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /applied +20240101000000_accounts/)
    t.ok(Date.now() - started >= 1500, 'it was still waiting when the database came')
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
    const rows = await sql`select version from schema_migrations`
    await sql.end()
    t.equal(rows.length, 1, 'the history is in the new database')
  })
})
