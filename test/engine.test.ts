import { appendFileSync, existsSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { resolveConfig, type ResolvedConfig } from '../src/config/resolve.js'
import { startEngine } from '../src/engine.js'
import { EngineError } from '../src/errors.js'
import type { Storage } from '../src/db/storage/types.js'
import { eachBackend, fixture, schemaObjects, tempDir, type Backend, type MigrationFixture, type Test } from './helpers.js'

const migrations: [string, string, string | null][] = [
  ['20240101000000_accounts.sql', 'CREATE TABLE accounts (id integer PRIMARY KEY, login integer NOT NULL);\n', 'DROP TABLE accounts;\n'],
  [
    '20240102000000_deals.sql',
    'CREATE TABLE deals (id integer PRIMARY KEY, account_id integer REFERENCES accounts (id));\n' +
      'CREATE INDEX deals_account_idx ON deals (account_id);\n',
    'DROP TABLE deals;\n',
  ],
]

function configFor(t: Test, database: string, dirs: MigrationFixture, flags: Record<string, unknown> = {}): ResolvedConfig {
  return resolveConfig({
    flags: { database, ...dirs, lockTimeoutMs: 5000, host: '127.0.0.1', port: 0, writers: 1, ...flags },
    env: {},
    cwd: tempDir(t),
  })
}

async function startError(config: ResolvedConfig, serve = false): Promise<EngineError> {
  const err = await startEngine(config, { serve }).then(
    async (engine) => {
      await engine.close()
      return undefined
    },
    (e: unknown) => e,
  )
  if (!(err instanceof EngineError)) throw new Error(`expected an EngineError, got ${String(err)}`)
  return err
}

/**
 * True when no connection to the database is left. PostgreSQL lists its sessions; SQLite deletes
 * the -wal file when its last connection closes (and only then).
 */
async function noConnectionsLeft(backend: Backend, observer: Storage | undefined): Promise<boolean> {
  if (backend.dialect === 'sqlite') return !existsSync(`${backend.database}-wal`)
  for (let i = 0; i < 40; i++) {
    const [row] = await observer!.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    )
    if (row!.n === 0) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

/** Opens and closes a TCP connection; 'connected' or the error code. */
function connectTo(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
}

t.test('engine start-up', async (t) => {
  await eachBackend(t, 'startEngine applies pending migrations and reports them; a second start applies none', async (t, backend) => {
    const dirs = fixture(t, migrations)
    const config = configFor(t, backend.database, dirs)
    const engine = await startEngine(config, { serve: false })
    t.teardown(() => engine.close())
    t.same(
      engine.applied.map((r) => [r.version, r.name, r.status, r.file]),
      [
        ['20240101000000', 'accounts', 'applied', 'migrations/20240101000000_accounts.sql'],
        ['20240102000000', 'deals', 'applied', 'migrations/20240102000000_deals.sql'],
      ],
    )
    t.same(engine.status.entries.map((e) => e.state), ['applied', 'applied'])
    t.equal(engine.status.drift, false)
    t.equal(engine.status.dialect, backend.dialect)
    await engine.close()

    const again = await startEngine(config, { serve: false })
    t.teardown(() => again.close())
    t.same(again.applied, [], 'nothing is applied the second time')
    t.same(again.status.entries.map((e) => [e.version, e.state]), [
      ['20240101000000', 'applied'],
      ['20240102000000', 'applied'],
    ])
    const objects = await schemaObjects(await backend.open())
    for (const name of ['accounts', 'deals', 'deals_account_idx', 'schema_migrations']) {
      t.ok(objects.includes(name), `${name} exists`)
    }
  })

  await eachBackend(t, 'close() stops listening and leaves no database connection open', async (t, backend) => {
    const dirs = fixture(t, migrations)
    const observer = backend.dialect === 'postgres' ? await backend.open() : undefined
    const engine = await startEngine(configFor(t, backend.database, dirs))
    t.teardown(() => engine.close())
    t.match(engine.url, /^ws:\/\/127\.0\.0\.1:\d+\/v1$/, 'serving on a free port')
    t.ok(engine.port! > 0)
    t.equal(await connectTo(engine.port!), 'connected', 'listening while running')
    await engine.close()
    t.equal(await connectTo(engine.port!), 'ECONNREFUSED', 'the port is released by close()')
    t.ok(await noConnectionsLeft(backend, observer), 'no connection to the database is left after close()')
    await engine.close()
    t.pass('a second close() is harmless')
  })

  await eachBackend(t, 'a refused start leaves no connection open', async (t, backend) => {
    const dirs = fixture(t, migrations)
    const observer = backend.dialect === 'postgres' ? await backend.open() : undefined
    const err = await startError(configFor(t, backend.database, dirs, { migrate: false }))
    t.equal(err.code, 'MIGRATION_PENDING')
    t.ok(await noConnectionsLeft(backend, observer), 'the database was closed on the way out')
  })
})

t.test('startEngine refuses with MIGRATION_DRIFT when an applied file changed', async (t) => {
  const dirs = fixture(t, migrations)
  const database = join(tempDir(t), 'drift.db')
  const engine = await startEngine(configFor(t, database, dirs), { serve: false })
  await engine.close()
  appendFileSync(join(dirs.migrationsDir, '20240101000000_accounts.sql'), 'CREATE INDEX accounts_login_idx ON accounts (login);\n')
  const err = await startError(configFor(t, database, dirs))
  t.equal(err.code, 'MIGRATION_DRIFT')
  t.match(err.message, /migrations\/20240101000000_accounts\.sql was applied but its migration file changed/)
  const withoutMigrate = await startError(configFor(t, database, dirs, { migrate: false }))
  t.equal(withoutMigrate.code, 'MIGRATION_DRIFT', 'also with migrate off')
  t.match(withoutMigrate.message, /20240101000000_accounts: modified/)
})

t.test('startEngine with migrate off and pending migrations refuses with MIGRATION_PENDING and applies nothing', async (t) => {
  const dirs = fixture(t, migrations.slice(0, 1))
  const database = join(tempDir(t), 'pending.db')
  const first = await startEngine(configFor(t, database, dirs), { serve: false })
  await first.close()
  writeFileSync(join(dirs.migrationsDir, migrations[1]![0]), migrations[1]![1])
  const err = await startError(configFor(t, database, dirs, { migrate: false }))
  t.equal(err.code, 'MIGRATION_PENDING')
  t.match(err.message, /refusing to start: the schema is not up to date \(20240102000000_deals: pending\)/)
  t.same(err.detail?.versions, ['20240102000000'])

  const engine = await startEngine(configFor(t, database, dirs), { serve: false })
  t.teardown(() => engine.close())
  t.same(engine.applied.map((r) => r.version), ['20240102000000'], 'the refused start left it pending')
})

t.test('startEngine with a failing migration throws MIGRATION_FAILED and keeps the earlier ones', async (t) => {
  const dirs = fixture(t, [...migrations, ['20240103000000_broken.sql', 'CREATE TABLE half (id integer);\nCREATE TABL oops (x int);\n', null]])
  const database = join(tempDir(t), 'failed.db')
  const err = await startError(configFor(t, database, dirs))
  t.equal(err.code, 'MIGRATION_FAILED')
  t.match(err.message, /migrations\/20240103000000_broken\.sql failed: SQLITE_ERROR: .*syntax error/)
  const pending = await startError(configFor(t, database, dirs, { migrate: false }))
  t.equal(pending.code, 'MIGRATION_PENDING')
  t.same(pending.detail?.versions, ['20240103000000'], 'only the broken one is still pending')
})

t.test('a port another process holds fails with LISTEN_FAILED, naming the address and the cause', async (t) => {
  const dir = tempDir(t)
  const first = await startEngine(configFor(t, join(dir, 'a.db'), fixture(t, migrations)))
  t.teardown(() => first.close())
  const e = await startError(configFor(t, join(dir, 'b.db'), fixture(t, migrations), { port: first.port }), true)
  t.equal(e.code, 'LISTEN_FAILED')
  t.match(e.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE`))
  t.same(e.detail, { host: '127.0.0.1', port: first.port, cause: 'EADDRINUSE' })
})
