import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inspect } from 'node:util'
import t from 'tap'
import { EngineError, withFlagNames } from '../src/errors.js'
import { optionFlags } from '../src/cli/io.js'
import { openPostgres } from '../src/db/storage/postgres.js'
import { openSqlite } from '../src/db/storage/sqlite.js'
import type { Storage } from '../src/db/storage/types.js'
import { eachBackend, tempDir, type Backend, type Test } from './helpers.js'

/** Opens a second connection to the same database, closed at teardown. */
async function openAgain(t: Test, backend: Backend): Promise<Storage> {
  const s = backend.dialect === 'sqlite' ? openSqlite({ path: backend.database }) : await openPostgres({ url: backend.database })
  t.teardown(() => s.close())
  return s
}

async function count(s: Storage, table: string): Promise<number> {
  const [row] = await s.query<{ n: number }>(`select count(*) as n from ${table}`)
  return Number(row!.n)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('storage on both backends', async (t) => {
  await eachBackend(t, '$1 parameters bind by number, in any order and more than once', async (t, backend) => {
    const s = await backend.open()
    await s.exec('create table kv (k text, v text)')
    await s.query('insert into kv (k, v) values ($2, $1)', ['value-a', 'key-a'])
    await s.query('insert into kv (k, v) values ($1, $2)', ['key-b', 'key-a'])
    await s.query('insert into kv (k, v) values ($1, $2)', ['key-c', 'value-c'])
    const rows = await s.query<{ k: string; v: string }>('select k, v from kv where k = $1 or v = $1 order by k', ['key-a'])
    t.same(rows, [
      { k: 'key-a', v: 'value-a' },
      { k: 'key-b', v: 'key-a' },
    ])
    const [mixed] = await s.query('select cast($2 as text) as a, cast($1 as integer) as b, cast($2 as text) as c', [7, 'x'])
    t.same(mixed, { a: 'x', b: 7, c: 'x' })
    t.same(await s.query('update kv set v = $1 where k = $2', ['changed', 'key-c']), [], 'a statement without rows returns []')
    t.same(await s.query('select v from kv where k = $1', ['key-c']), [{ v: 'changed' }])
  })

  await eachBackend(t, 'select returns the column names, rows as arrays, and stops at a limit', async (t, backend) => {
    const s = await backend.open()
    await s.exec('create table n (id integer primary key, label text, big bigint)')
    await s.insertRows('n', ['id', 'label', 'big'], [[1, 'one', 2 ** 40], [2, 'two', 7], [3, 'three', 9]])
    t.same(await s.select('select id, label as name, big from n where id > $1 order by id', [0]), {
      columns: ['id', 'name', 'big'],
      rows: [[1, 'one', 2 ** 40], [2, 'two', 7], [3, 'three', 9]],
      truncated: false,
    }, 'bigint values within 2^53 come back as numbers')
    t.same(await s.select('select id from n order by id', [], 2), { columns: ['id'], rows: [[1], [2]], truncated: true })
    t.same(await s.select('select id from n order by id', [], 3), { columns: ['id'], rows: [[1], [2], [3]], truncated: false })
    t.same(await s.select('select id, label from n where id > $1', [10]), { columns: ['id', 'label'], rows: [], truncated: false }, 'no rows: the columns still come back')
    const inTx = await s.transaction((tx) => tx.select('select count(*) as c from n'), { readOnly: true })
    t.same(inTx.columns, ['c'])
    t.equal(Number(inTx.rows[0]![0]), 3)
  })

  await eachBackend(t, 'exec runs a whole multi-statement script', async (t, backend) => {
    const s = await backend.open()
    await s.exec(`
      -- a comment before the first statement
      create table a (id integer primary key, label text);
      insert into a (id, label) values (1, 'one; not a separator');
      insert into a (id, label) values (2, 'two');
      create table b (id integer primary key);
    `)
    t.same(await s.query('select id, label from a order by id'), [
      { id: 1, label: 'one; not a separator' },
      { id: 2, label: 'two' },
    ])
    t.equal(await count(s, 'b'), 0)
  })

  await eachBackend(t, 'a transaction commits when its function resolves', async (t, backend) => {
    const s = await backend.open()
    await s.exec('create table t (id integer primary key, name text)')
    const result = await s.transaction(async (tx) => {
      await tx.query('insert into t (id, name) values ($1, $2)', [1, 'kept'])
      await tx.exec("insert into t (id, name) values (2, 'also kept')")
      await tx.insertRows('t', ['id', 'name'], [[3, 'three']])
      return 'done'
    })
    t.equal(result, 'done', 'the function result is returned')
    const other = await openAgain(t, backend)
    t.same(await other.query('select id, name from t order by id'), [
      { id: 1, name: 'kept' },
      { id: 2, name: 'also kept' },
      { id: 3, name: 'three' },
    ], 'another connection sees the committed rows')
  })

  await eachBackend(t, 'a transaction that throws rolls back everything, DDL included', async (t, backend) => {
    const s = await backend.open()
    await s.exec('create table t (id integer primary key)')
    await s.query('insert into t (id) values (1)')
    const boom = new Error('boom')
    await t.rejects(
      s.transaction(async (tx) => {
        await tx.query('insert into t (id) values (2)')
        await tx.exec('create table made_inside (x integer); insert into made_inside (x) values (1)')
        await tx.query('delete from t where id = 1')
        throw boom
      }),
      boom,
    )
    t.same(await s.query('select id from t'), [{ id: 1 }], 'the insert and the delete are undone')
    const [{ n }] = (await s.query<{ n: number }>(
      backend.dialect === 'sqlite'
        ? `select count(*) as n from sqlite_schema where name = 'made_inside'`
        : `select count(*)::int as n from pg_class where relname = 'made_inside'`,
    )) as [{ n: number }]
    t.equal(Number(n), 0, 'the table created inside is gone')
    await s.query('insert into t (id) values (3)')
    t.equal(await count(s, 't'), 2, 'the connection is usable after the rollback')
  })

  await eachBackend(t, 'insertRows stores every row across several chunks', async (t, backend) => {
    const s = await backend.open()
    const real = backend.dialect === 'sqlite' ? 'real' : 'double precision'
    await s.exec(`create table ticks (id integer primary key, symbol text not null, price ${real} not null)`)
    // 2,503 rows: five full SQLite chunks of 500 plus a remainder; two PostgreSQL chunks of 1000 plus one.
    const rows = Array.from({ length: 2503 }, (_, i) => [i + 1, `SYM${i % 7}`, 1 + i / 4])
    t.equal(await s.insertRows('ticks', ['id', 'symbol', 'price'], rows), 2503)
    t.equal(await count(s, 'ticks'), 2503)
    const [agg] = await s.query<{ ids: number; prices: number }>('select sum(id) as ids, sum(price) as prices from ticks')
    t.equal(Number(agg!.ids), (2503 * 2504) / 2)
    t.equal(Number(agg!.prices), rows.reduce((sum, r) => sum + (r[2] as number), 0))
    t.same(await s.query('select id, symbol, price from ticks where id in ($1, $2) order by id', [1, 2503]), [
      { id: 1, symbol: 'SYM0', price: 1 },
      { id: 2503, symbol: 'SYM3', price: 626.5 },
    ])
    t.equal(await s.insertRows('ticks', ['id', 'symbol', 'price'], []), 0, 'no rows, nothing to do')
  })

  await eachBackend(t, 'countStatements tells none, one and many apart without running anything', async (t, backend) => {
    const s = await backend.open()
    t.equal(await s.countStatements(''), 'none')
    t.equal(await s.countStatements('  -- only a comment\n/* and another */\n'), 'none')
    t.equal(await s.countStatements('create table counted (id integer)'), 'one')
    t.equal(await s.countStatements('create table c1 (id integer); create table c2 (id integer);'), 'many')
    t.equal(await s.countStatements('select * from no_such_table'), 'unknown')
    const tables = await s.query(
      backend.dialect === 'sqlite'
        ? `select name from sqlite_schema where name in ('counted', 'c1', 'c2')`
        : `select relname from pg_class where relname in ('counted', 'c1', 'c2')`,
    )
    t.same(tables, [], 'no statement was executed')
  })

  await eachBackend(t, 'withLock on a second Storage waits until the first releases', async (t, backend) => {
    const first = await backend.open()
    const second = await openAgain(t, backend)
    const events: string[] = []
    let entered!: () => void
    const inside = new Promise<void>((resolve) => (entered = resolve))
    const one = first.withLock('migrate', 5000, async () => {
      events.push('first:in')
      entered()
      await sleep(300)
      events.push('first:out')
      return 1
    })
    await inside
    events.push('second:asks')
    const asked = Date.now()
    const two = second.withLock('migrate', 5000, async () => {
      events.push('second:in')
      return 2
    })
    t.same(await Promise.all([one, two]), [1, 2])
    t.same(events, ['first:in', 'second:asks', 'first:out', 'second:in'])
    t.ok(Date.now() - asked >= 250, 'the second waited for the first')
  })

  await eachBackend(t, 'withLock gives up with LOCK_TIMEOUT while another holds the lock', async (t, backend) => {
    const first = await backend.open()
    const second = await openAgain(t, backend)
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let entered!: () => void
    const inside = new Promise<void>((resolve) => (entered = resolve))
    const holder = first.withLock('migrate', 5000, async () => {
      entered()
      await held
    })
    await inside
    let ran = false
    const started = Date.now()
    const err = await second
      .withLock('migrate', 150, async () => {
        ran = true
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    const waited = Date.now() - started
    t.ok(err instanceof EngineError, 'an EngineError')
    t.equal((err as EngineError).code, 'LOCK_TIMEOUT')
    t.match((err as EngineError).message, /raise the lockTimeoutMs option/, 'the library names its option')
    t.match(withFlagNames(err as EngineError, optionFlags), /raise --lock-timeout$/, 'and the CLI its flag')
    t.notOk(ran, 'the function did not run')
    t.ok(waited >= 140 && waited < 3000, `waited about the timeout (${waited} ms)`)
    release()
    await holder
    t.equal(await second.withLock('migrate', 1000, async () => 'free'), 'free', 'the lock is free after release')
    t.equal(await first.withLock('other', 100, async () => 'other'), 'other', 'locks with other names are separate')
  })
})

t.test('SQLite opens with WAL, NORMAL synchronous, foreign keys and a busy timeout', async (t) => {
  const dir = tempDir(t)
  const s = openSqlite({ path: join(dir, 'nested', 'deeper', 'x.db') })
  t.teardown(() => s.close())
  t.equal(s.dialect, 'sqlite')
  t.same(await s.query('pragma journal_mode'), [{ journal_mode: 'wal' }])
  t.same(await s.query('pragma synchronous'), [{ synchronous: 1 }])
  t.same(await s.query('pragma foreign_keys'), [{ foreign_keys: 1 }])
  t.same(await s.query('pragma busy_timeout'), [{ timeout: 5000 }])
  const full = openSqlite({ path: join(dir, 'full.db'), synchronous: 'FULL', busyTimeoutMs: 1234 })
  t.teardown(() => full.close())
  t.same(await full.query('pragma synchronous'), [{ synchronous: 2 }])
  t.same(await full.query('pragma busy_timeout'), [{ timeout: 1234 }])
})

t.test('SQLite foreignKeysOff lets a table rebuild through and checks foreign keys before commit', async (t) => {
  const s = openSqlite({ path: join(tempDir(t), 'fk.db') })
  t.teardown(() => s.close())
  await s.exec(`
    create table parent (id integer primary key, name text);
    create table child (id integer primary key, parent_id integer not null references parent (id));
    insert into parent values (1, 'p1'), (2, 'p2');
    insert into child values (10, 1), (20, 2);
  `)
  const rebuild = `
    create table parent_new (id integer primary key, name text not null default '');
    insert into parent_new (id, name) select id, name from parent;
    drop table parent;
    alter table parent_new rename to parent;
  `
  await t.rejects(s.transaction((tx) => tx.exec(rebuild)), /FOREIGN KEY constraint failed/, 'without it the drop is refused')
  await s.transaction((tx) => tx.exec(rebuild), { foreignKeysOff: true })
  t.match(
    (await s.query<{ sql: string }>(`select sql from sqlite_schema where name = 'parent'`))[0]!.sql,
    /not null default ''/,
    'the table was rebuilt',
  )
  t.same(await s.query('select id, parent_id from child order by id'), [
    { id: 10, parent_id: 1 },
    { id: 20, parent_id: 2 },
  ])
  t.same(await s.query('pragma foreign_keys'), [{ foreign_keys: 1 }], 'foreign keys are on again after the commit')

  const err = await s
    .transaction(
      async (tx) => {
        await tx.exec(`insert into parent (id, name) values (3, 'p3')`)
        await tx.exec('delete from parent where id = 1')
      },
      { foreignKeysOff: true },
    )
    .then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    )
  t.ok(err, 'a violation fails the transaction')
  t.equal(err?.code, 'SQLITE_CONSTRAINT_FOREIGNKEY')
  t.match(err?.message, /foreign_key_check found 1 violation\(s\): child rowid 10 -> parent/)
  t.same(await s.query('select id from parent order by id'), [{ id: 1 }, { id: 2 }], 'everything was rolled back')
  t.same(await s.query('pragma foreign_keys'), [{ foreign_keys: 1 }], 'foreign keys are on again after the failure')
  await t.rejects(s.query('delete from parent where id = 2'), /FOREIGN KEY constraint failed/, 'and enforced')
})

t.test('SQLite transactions queue: a query waits for the running transaction', async (t) => {
  const s = openSqlite({ path: join(tempDir(t), 'queue.db') })
  t.teardown(() => s.close())
  await s.exec('create table q (id integer)')
  const events: string[] = []
  const tx = s.transaction(async (tx) => {
    await tx.query('insert into q values (1)')
    await sleep(50)
    events.push('tx:end')
  })
  const read = s.query<{ n: number }>('select count(*) as n from q').then((rows) => {
    events.push(`read:${rows[0]!.n}`)
  })
  await Promise.all([tx, read])
  t.same(events, ['tx:end', 'read:1'], 'the read ran after the commit and saw the row')
})

t.test('SQLite in a folder that cannot be created fails with DATABASE_UNAVAILABLE naming the path', async (t) => {
  const dir = tempDir(t)
  const blocker = join(dir, 'a-file')
  writeFileSync(blocker, 'not a folder')
  const path = join(blocker, 'sub', 'x.db')
  t.throws(() => openSqlite({ path }), {
    name: 'EngineError',
    code: 'DATABASE_UNAVAILABLE',
    message: new RegExp(`cannot open SQLite database ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    detail: { location: path },
  })
})

t.test('PostgreSQL on a closed port fails with DATABASE_UNAVAILABLE and does not leak the password', async (t) => {
  const url = 'postgres://mt5user:hunter2secret@127.0.0.1:1/mt5'
  const err = await openPostgres({ url, connectTimeoutSeconds: 3 }).then(
    async (s) => {
      await s.close()
      return undefined
    },
    (e: unknown) => e,
  )
  t.ok(err instanceof EngineError, 'an EngineError')
  const e = err as EngineError
  t.equal(e.code, 'DATABASE_UNAVAILABLE')
  t.match(e.message, 'cannot connect to PostgreSQL at postgres://mt5user:***@127.0.0.1:1/mt5')
  t.equal(e.detail?.dbCode, 'ECONNREFUSED', 'the native code is kept')
  t.notMatch(e.message, /hunter2secret/)
  t.notMatch(JSON.stringify(e.toJSON()), /hunter2secret/)
  t.notMatch(inspect(e, { depth: 5 }), /hunter2secret/, 'not even in the cause')
})
