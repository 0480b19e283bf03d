import { join } from 'node:path'
import t from 'tap'
import { resolveConfig } from '../src/config/resolve.js'
import { eachBackend, fixture, runCliProcess, tempDir } from './helpers.js'

t.test('DATABASE_URL names the database when MT5E_DATABASE does not', async (t) => {
  const url = 'postgres://app@db.internal:5432/trading'
  const alone = resolveConfig({ env: { DATABASE_URL: url }, cwd: '/srv' })
  t.equal(alone.database, url)
  t.equal(alone.dialect, 'postgres')
  t.equal(alone.sources.database, 'env')

  const both = resolveConfig({ env: { DATABASE_URL: url, MT5E_DATABASE: '/srv/engine.db' }, cwd: '/srv' })
  t.equal(both.database, '/srv/engine.db', 'MT5E_DATABASE wins')
  t.equal(both.dialect, 'sqlite')

  const empty = resolveConfig({ env: { DATABASE_URL: url, MT5E_DATABASE: '' }, cwd: '/srv' })
  t.equal(empty.database, url, 'an empty MT5E_DATABASE counts as unset, as for every MT5E_ variable')

  const flag = resolveConfig({ env: { DATABASE_URL: url }, flags: { database: 'x.db' }, cwd: '/srv' })
  t.equal(flag.database, '/srv/x.db', '--database wins over both')
})

t.test('runCliProcess keeps the runner\'s DATABASE_URL from the child', async (t) => {
  const saved = process.env.DATABASE_URL
  process.env.DATABASE_URL = 'postgres://nobody@127.0.0.1:1/not_the_tests'
  t.teardown(() => {
    if (saved === undefined) delete process.env.DATABASE_URL
    else process.env.DATABASE_URL = saved
  })
  const dirs = fixture(t, [])
  const dataDir = tempDir(t)
  const r = await runCliProcess(['migrate', 'status', '--data-dir', dataDir, '--migrations-dir', dirs.migrationsDir,
    '--rollbacks-dir', dirs.rollbacksDir])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, join(dataDir, 'mt5-engine.db'), 'the default SQLite file, not the runner\'s database')
})

eachBackend(t, 'the CLI takes DATABASE_URL when it is given', async (t, backend) => {
  const dirs = fixture(t, [['20240101000000_a.sql', 'CREATE TABLE a (id integer);\n', 'DROP TABLE a;\n']])
  const r = await runCliProcess(['migrate', 'up', '--migrations-dir', dirs.migrationsDir, '--rollbacks-dir', dirs.rollbacksDir],
    { cwd: tempDir(t), env: { DATABASE_URL: backend.database } })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /applied +20240101000000_a/)
  const storage = await backend.open()
  t.same(await storage.query('select version from schema_migrations'), [{ version: '20240101000000' }])
})
