import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { isEngineError, type EngineError } from '../src/errors.js'
import { checksum, loadMigrations } from '../src/db/migrator/files.js'
import { createMigrator, type Migrator } from '../src/db/migrator/migrator.js'
import { openSqlite } from '../src/db/storage/sqlite.js'
import type { Storage } from '../src/db/storage/types.js'
import { eachBackend, fixture, runCliProcess, schemaObjects, tempDir, writeFiles, type Backend, type Test } from './helpers.js'

const A = '20260101000000_create_accounts.sql'
const B = '20260102000000_create_orders.sql'
const C = '20260103000000_add_orders_note.sql'

const basic: [string, string, string | null][] = [
  [A, 'create table accounts (id integer primary key, login text not null);\n', 'drop table accounts;\n'],
  [
    B,
    'create table orders (id integer primary key, account_id integer not null references accounts(id));\n' +
      'create index orders_account on orders (account_id);\n',
    'drop table orders;\n',
  ],
  [C, 'alter table orders add column note text;\n', 'alter table orders drop column note;\n'],
]

async function setup(t: Test, backend: Backend, entries = basic) {
  const dirs = fixture(t, entries)
  const storage = await backend.open()
  const migrator = createMigrator({ storage, ...dirs, lockTimeoutMs: 5000 })
  return { dirs, storage, migrator }
}

async function versions(storage: Storage): Promise<string[]> {
  const rows = await storage.query<{ version: string }>('select version from schema_migrations order by apply_order')
  return rows.map((r) => r.version)
}

/** Everything in the schema but the history table and its indexes. */
async function userObjects(storage: Storage): Promise<string[]> {
  return (await schemaObjects(storage)).filter((n) => !n.startsWith('schema_migrations') && !n.startsWith('sqlite_'))
}

async function states(migrator: Migrator): Promise<Record<string, string>> {
  const report = await migrator.status()
  return Object.fromEntries(report.entries.map((e) => [e.version, e.state]))
}

t.test('the migrator', async (t) => {
  await eachBackend(t, 'up applies every pending file in version order with its history row', async (t, backend) => {
    const { storage, migrator, dirs } = await setup(t, backend)
    t.same(await states(migrator), { '20260101000000': 'pending', '20260102000000': 'pending', '20260103000000': 'pending' })
    const run = await migrator.up()
    t.equal(run.error, undefined)
    t.same(run.results.map((r) => [r.version, r.status]), [
      ['20260101000000', 'applied'],
      ['20260102000000', 'applied'],
      ['20260103000000', 'applied'],
    ])
    const rows = await storage.query<Record<string, unknown>>('select * from schema_migrations order by apply_order')
    t.same(rows.map((r) => [r.version, r.name, r.apply_order, r.state]), [
      ['20260101000000', 'create_accounts', 1, 'applied'],
      ['20260102000000', 'create_orders', 2, 'applied'],
      ['20260103000000', 'add_orders_note', 3, 'applied'],
    ])
    t.equal(rows[0]!.checksum, checksum(readFileSync(join(dirs.migrationsDir, A), 'utf8')))
    t.equal(rows[0]!.rollback_checksum, checksum(readFileSync(join(dirs.rollbacksDir, A), 'utf8')))
    t.ok(Math.abs(Number(rows[0]!.applied_at) - Date.now()) < 60000, 'applied_at is now, in ms')
    t.type(rows[0]!.duration_ms, 'number')
    await storage.query('insert into accounts (id, login) values (1, $1)', ['1001'])
    await storage.query(`insert into orders (id, account_id, note) values (1, 1, 'x')`)
    const again = await migrator.up()
    t.same(again.results, [], 'a second up finds nothing to do')
    const status = await migrator.status()
    t.equal(status.drift, false)
    t.ok(status.entries.every((e) => e.state === 'applied' && typeof e.appliedAt === 'number'))
  })

  await eachBackend(t, 'up --to stops at a version and --dry-run changes nothing', async (t, backend) => {
    const { storage, migrator } = await setup(t, backend)
    const dry = await migrator.up({ dryRun: true })
    t.same(dry.results.map((r) => r.status), ['would_apply', 'would_apply', 'would_apply'])
    t.same(await versions(storage), [])
    t.same(await userObjects(storage), [], 'a dry run creates nothing')
    const to = await migrator.up({ to: '20260102000000' })
    t.same(to.results.map((r) => r.version), ['20260101000000', '20260102000000'])
    t.same(await versions(storage), ['20260101000000', '20260102000000'])
    const unknown = await migrator.up({ to: '20990101000000' })
    t.equal(unknown.error?.code, 'MIGRATION_UNKNOWN_VERSION')
  })

  await eachBackend(t, 'down rolls back in reverse apply order: one step, --steps, --to and all', async (t, backend) => {
    const { storage, migrator } = await setup(t, backend)
    await migrator.up()
    const one = await migrator.down()
    t.same(one.results.map((r) => [r.version, r.status]), [['20260103000000', 'rolled_back']])
    t.same(await versions(storage), ['20260101000000', '20260102000000'])
    await migrator.up()
    const two = await migrator.down({ steps: 2 })
    t.same(two.results.map((r) => r.version), ['20260103000000', '20260102000000'])
    await migrator.up()
    const to = await migrator.down({ to: '20260101000000' })
    t.same(to.results.map((r) => r.version), ['20260103000000', '20260102000000'])
    t.same(await versions(storage), ['20260101000000'])
    const dry = await migrator.down({ to: '0', dryRun: true })
    t.same(dry.results.map((r) => r.status), ['would_roll_back'])
    t.same(await versions(storage), ['20260101000000'], 'a dry run rolls nothing back')
    const all = await migrator.down({ to: '0' })
    t.same(all.results.map((r) => r.version), ['20260101000000'])
    t.same(await userObjects(storage), [])
    const notApplied = await migrator.down({ to: '20260102000000' })
    t.equal(notApplied.error?.code, 'MIGRATION_UNKNOWN_VERSION')
  })

  await eachBackend(t, 'redo rolls back and re-applies the newest migrations', async (t, backend) => {
    const { storage, migrator } = await setup(t, backend)
    await migrator.up()
    await storage.query('insert into accounts (id, login) values (1, $1)', ['1001'])
    await storage.query('insert into orders (id, account_id) values (1, 1)')
    const redo = await migrator.redo({ steps: 2 })
    t.equal(redo.error, undefined)
    t.same(redo.results.map((r) => [r.direction, r.version]), [
      ['down', '20260103000000'],
      ['down', '20260102000000'],
      ['up', '20260102000000'],
      ['up', '20260103000000'],
    ])
    t.same(await storage.query('select count(*) as n from orders').then((r) => Number((r[0] as { n: unknown }).n)), 0, 'orders was recreated')
    t.same(await versions(storage), ['20260101000000', '20260102000000', '20260103000000'])
  })

  await eachBackend(t, 'a broken migration in the middle leaves the earlier ones applied and nothing of itself', async (t, backend) => {
    const broken =
      'create table half_done (id integer primary key);\n' +
      'insert into half_done (id) values (1);\n' +
      'create tabel oops (id integer);\n'
    const { storage, migrator } = await setup(t, backend, [
      basic[0]!,
      ['20260102000000_broken.sql', broken, 'drop table half_done;\n'],
      basic[2]!,
    ])
    const run = await migrator.up()
    t.same(run.results.map((r) => [r.version, r.status]), [
      ['20260101000000', 'applied'],
      ['20260102000000', 'failed'],
      ['20260103000000', 'not_run'],
    ])
    t.equal(run.error?.code, 'MIGRATION_FAILED')
    const detail = run.error!.detail!
    t.equal(detail.file, 'migrations/20260102000000_broken.sql')
    t.match(run.error!.message, /migrations\/20260102000000_broken\.sql failed/)
    if (backend.dialect === 'postgres') {
      t.equal(detail.dbCode, '42601')
      t.match(run.error!.message, /syntax error at or near "tabel"/)
      t.same([detail.line, detail.column], [3, 8], 'the position is turned into a line and column of the file')
    } else {
      t.equal(detail.dbCode, 'SQLITE_ERROR')
      t.match(run.error!.message, /near "tabel": syntax error/)
    }
    t.same(await versions(storage), ['20260101000000'])
    const objects = await schemaObjects(storage)
    t.notOk(objects.includes('half_done'), 'the failed file left no table behind')
    t.ok(objects.includes('accounts'))
  })

  await eachBackend(t, 'an applied file changed or removed is drift: up and down refuse, repair accepts', async (t, backend) => {
    const { storage, migrator, dirs } = await setup(t, backend)
    await migrator.up({ to: '20260102000000' })
    writeFileSync(join(dirs.migrationsDir, A), readFileSync(join(dirs.migrationsDir, A), 'utf8') + '-- edited\n')
    writeFileSync(join(dirs.rollbacksDir, B), 'drop table if exists orders;\n')
    const status = await migrator.status()
    t.equal(status.drift, true)
    t.same(status.entries.map((e) => [e.state, e.modified]), [
      ['modified', ['migration']],
      ['modified', ['rollback']],
      ['pending', undefined],
    ])
    const up = await migrator.up()
    t.equal(up.error?.code, 'MIGRATION_DRIFT')
    t.match(up.error!.message, /migrations\/20260101000000_create_accounts\.sql was applied but its migration file changed/)
    t.match(up.error!.message, /20260102000000_create_orders\.sql was applied but its rollback file changed/)
    t.same(up.results, [])
    const down = await migrator.down()
    t.equal(down.error?.code, 'MIGRATION_DRIFT')
    t.same(await versions(storage), ['20260101000000', '20260102000000'], 'nothing changed')
    const validate = await migrator.validate()
    t.equal(validate.ok, false)
    t.equal(validate.problems.length, 2)
    const repair = await migrator.repair()
    t.same(repair.actions.map((a) => [a.version, a.action]), [
      ['20260101000000', 'checksum_updated'],
      ['20260102000000', 'checksum_updated'],
    ])
    t.equal((await migrator.status()).drift, false)
    t.equal((await migrator.up()).error, undefined)

    rmSync(join(dirs.migrationsDir, C))
    rmSync(join(dirs.rollbacksDir, C))
    const missing = await migrator.status()
    t.same(missing.entries.map((e) => e.state), ['applied', 'applied', 'missing'])
    t.equal((await migrator.up()).error?.code, 'MIGRATION_DRIFT')
    const forgotten = await migrator.repair()
    t.same(forgotten.actions.map((a) => a.action), ['forgotten'])
    t.equal((await migrator.status()).drift, false)
  })

  await eachBackend(t, 'a pending version older than the newest applied is refused unless allowed', async (t, backend) => {
    const { storage, migrator, dirs } = await setup(t, backend, [basic[0]!, basic[2]!.map((v, i) => (i === 1 ? 'create table notes (id integer primary key);\n' : i === 2 ? 'drop table notes;\n' : v)) as [string, string, string]])
    await migrator.up()
    writeFiles(dirs.migrationsDir, { [B]: basic[1]![1] })
    writeFiles(dirs.rollbacksDir, { [B]: basic[1]![2] })
    t.equal((await states(migrator))['20260102000000'], 'out_of_order')
    t.equal((await migrator.status()).drift, true)
    const refused = await migrator.up()
    t.equal(refused.error?.code, 'MIGRATION_OUT_OF_ORDER')
    t.match(refused.error!.message, /20260102000000_create_orders\.sql is older than the newest applied/)
    t.same(await versions(storage), ['20260101000000', '20260103000000'])
    const allowed = await migrator.up({ allowOutOfOrder: true })
    t.same(allowed.results.map((r) => [r.version, r.status]), [['20260102000000', 'applied']])
    const down = await migrator.down()
    t.same(down.results.map((r) => r.version), ['20260102000000'], 'down follows apply order, not version order')
  })

  await eachBackend(t, 'a missing rollback file makes down refuse and change nothing', async (t, backend) => {
    const { storage, migrator } = await setup(t, backend, [basic[0]!, [B, basic[1]![1], null]])
    await migrator.up()
    const down = await migrator.down({ to: '0' })
    t.equal(down.error?.code, 'MIGRATION_NO_ROLLBACK')
    t.match(down.error!.message, /no rollback file for migrations\/20260102000000_create_orders\.sql/)
    t.same(down.results, [])
    t.same(await versions(storage), ['20260101000000', '20260102000000'])
    const validate = await migrator.validate()
    t.match(validate.warnings, [/20260102000000_create_orders\.sql has no rollback file/])
  })

  await eachBackend(t, 'no-transaction files run alone; a failure is recorded and blocks until repair', async (t, backend) => {
    const concurrently = backend.dialect === 'postgres' ? 'concurrently ' : ''
    const index = `-- mt5e:no-transaction\ncreate index ${concurrently}accounts_login on accounts (login);\n`
    const dropIndex = `-- mt5e:no-transaction\ndrop index ${concurrently}accounts_login;\n`
    const { storage, migrator, dirs } = await setup(t, backend, [basic[0]!, ['20260102000000_index_login.sql', index, dropIndex]])
    const run = await migrator.up()
    t.equal(run.error, undefined, 'CREATE INDEX CONCURRENTLY ran outside a transaction')
    t.ok((await schemaObjects(storage)).includes('accounts_login'))
    t.same((await migrator.down()).results.map((r) => r.status), ['rolled_back'])
    t.notOk((await schemaObjects(storage)).includes('accounts_login'))

    writeFiles(dirs.migrationsDir, {
      '20260102000000_index_login.sql': `-- mt5e:no-transaction\ncreate index accounts_login on accounts (login);\ncreate index accounts_id on accounts (id);\n`,
    })
    const many = await migrator.up()
    t.equal(many.error?.code, 'MIGRATION_NOT_SINGLE_STATEMENT')
    t.same(await versions(storage), ['20260101000000'], 'nothing was recorded')
    t.notOk((await schemaObjects(storage)).includes('accounts_login'), 'nothing was run')

    writeFiles(dirs.migrationsDir, {
      '20260102000000_index_login.sql': `-- mt5e:no-transaction\ncreate index accounts_login on no_such_table (login);\n`,
    })
    const failed = await migrator.up()
    t.equal(failed.error?.code, 'MIGRATION_FAILED')
    t.match(failed.error!.message, /recorded and blocks further runs until mt5-engine migrate repair/)
    const status = await migrator.status()
    t.same(status.entries.map((e) => e.state), ['applied', 'failed'])
    t.equal(status.drift, true)
    const blocked = await migrator.up()
    t.equal(blocked.error?.code, 'MIGRATION_BLOCKED')
    writeFiles(dirs.migrationsDir, { '20260102000000_index_login.sql': index })
    t.equal((await migrator.up()).error?.code, 'MIGRATION_BLOCKED', 'fixing the file is not enough: repair first')
    const repair = await migrator.repair()
    t.same(repair.actions.map((a) => a.action), ['failed_run_cleared'])
    t.equal((await migrator.up()).error, undefined)
    t.same(await versions(storage), ['20260101000000', '20260102000000'])
  })

  await eachBackend(t, 'a SQLite trigger and a PostgreSQL dollar-quoted function run from migration files', async (t, backend) => {
    const body =
      backend.dialect === 'sqlite'
        ? `create table audit_log (id integer primary key, note text not null);
create trigger audit_log_no_update before update on audit_log
begin
  select raise(abort, 'audit_log is append-only; statements like "update x; delete y;" are refused');
end;
create trigger audit_log_no_delete before delete on audit_log
begin
  select raise(abort, 'audit_log is append-only');
end;
`
        : `create table audit_log (id integer primary key, note text not null);
create function audit_log_refuse() returns trigger language plpgsql as $fn$
begin
  -- a semicolon; inside the body, and a string 'begin; end;'
  raise exception 'audit_log is append-only; %', 'begin; end;';
end;
$fn$;
create trigger audit_log_no_change before update or delete on audit_log
  for each row execute function audit_log_refuse();
`
    const down =
      backend.dialect === 'sqlite'
        ? 'drop table audit_log;\n'
        : 'drop table audit_log;\ndrop function audit_log_refuse();\n'
    const { storage, migrator } = await setup(t, backend, [['20260101000000_audit_log.sql', body, down]])
    t.equal((await migrator.up()).error, undefined)
    await storage.query(`insert into audit_log (id, note) values (1, 'started')`)
    await t.rejects(storage.query(`update audit_log set note = 'changed'`), /append-only/)
    t.same((await migrator.redo()).error, undefined)
    t.same((await migrator.down()).error, undefined)
    t.same((await schemaObjects(storage)).filter((n) => n.startsWith('audit')), [])
  })

  await eachBackend(t, 'a CRLF file has the same checksum as its LF twin and is not drift', async (t, backend) => {
    const lf = 'create table accounts (\n  id integer primary key\n);\n'
    const { migrator, dirs } = await setup(t, backend, [[A, lf, 'drop table accounts;\n']])
    await migrator.up()
    writeFileSync(join(dirs.migrationsDir, A), '\uFEFF' + lf.replace(/\n/g, '\r\n'))
    t.equal(checksum(lf), checksum('\uFEFF' + lf.replace(/\n/g, '\r\n')))
    t.not(checksum(lf), checksum(lf + ' '))
    t.same(await states(migrator), { '20260101000000': 'applied' })
  })

  await eachBackend(t, 'two migrator processes started at the same moment apply each file once', async (t, backend) => {
    const slow =
      backend.dialect === 'postgres'
        ? 'create table runs (id integer primary key);\nselect pg_sleep(0.5);\ninsert into runs values (1);\n'
        : `create table runs (id integer primary key, pad text);
with recursive n(i) as (select 2 union all select i + 1 from n where i < 400000)
insert into runs select i, hex(randomblob(16)) from n;
insert into runs values (1, 'first');\n`
    const dirs = fixture(t, [
      ['20260101000000_slow.sql', slow, 'drop table runs;\n'],
      ['20260102000000_count.sql', 'create table counted (id integer primary key);\ninsert into counted select id from runs where id = 1;\n', 'drop table counted;\n'],
    ])
    const args = ['migrate', 'up', '--database', backend.database, '--migrations-dir', dirs.migrationsDir, '--rollbacks-dir', dirs.rollbacksDir]
    const [first, second] = await Promise.all([runCliProcess(args), runCliProcess(args)])
    t.equal(first.code, 0, first.stderr)
    t.equal(second.code, 0, second.stderr)
    const applied = (first.stdout + second.stdout).match(/^applied .*$/gm) ?? []
    t.equal(applied.length, 2, 'between them the two processes applied each file once')
    t.ok([first.stdout, second.stdout].some((o) => /nothing to do/.test(o)), 'the second found nothing to do')
    const storage = await backend.open()
    t.same(await versions(storage), ['20260101000000', '20260102000000'])
    t.same(await storage.query('select id from counted'), [{ id: 1 }])

    // A lock held longer than the timeout fails clearly instead of waiting forever.
    writeFiles(dirs.migrationsDir, { '20260103000000_slow_again.sql': slow.replace(/runs/g, 'runs2') })
    writeFiles(dirs.rollbacksDir, { '20260103000000_slow_again.sql': 'drop table runs2;\n' })
    const holder = runCliProcess(args)
    await new Promise((r) => setTimeout(r, backend.dialect === 'postgres' ? 250 : 150))
    const impatient = await runCliProcess([...args, '--lock-timeout', '1'])
    const held = await holder
    t.equal(held.code, 0, held.stderr)
    if (/applied|nothing to do/.test(impatient.stdout)) {
      t.comment('the impatient migrator ran before or after the holder held the lock; lock timeout not exercised this run')
    } else {
      t.equal(impatient.code, 1)
      t.match(impatient.stderr, /LOCK_TIMEOUT: another process held the migrate lock/)
    }
  })

  await eachBackend(t, 'the domain schema goes all up, all down and up again to a byte-identical dump', async (t, backend) => {
    const storage = await backend.open()
    const migrator = createMigrator({
      storage,
      migrationsDir: join(process.cwd(), 'migrations'),
      rollbacksDir: join(process.cwd(), 'rollbacks'),
    })
    const files = loadMigrations({ migrationsDir: 'migrations', rollbacksDir: 'rollbacks' }, backend.dialect)
    t.ok(files.length >= 5, `the package ships its domain schema (${files.length} migrations)`)
    const first = await migrator.up()
    t.equal(first.error, undefined, first.error?.message ?? "all up")
    const dump1 = await migrator.dump()
    t.match(dump1, /CREATE TABLE (public\.)?(")?ticks/)
    t.match(dump1, /CREATE TABLE (public\.)?(")?deals/)
    const down = await migrator.down({ to: '0' })
    t.equal(down.error, undefined, down.error?.message ?? "all down")
    t.equal(down.results.length, files.length)
    const left = (await schemaObjects(storage)).filter((n) => !n.startsWith('sqlite_autoindex_schema_migrations'))
    t.same(
      left,
      backend.dialect === 'postgres'
        ? ['schema_migrations', 'schema_migrations_apply_order_key', 'schema_migrations_pkey']
        : ['schema_migrations'],
      'only the history table is left',
    )
    t.equal((await migrator.up()).error, undefined)
    t.equal(await migrator.dump(), dump1, 'the dump is byte-identical')
    const committed = readFileSync(join('docs', `schema.${backend.dialect}.sql`), 'utf8')
    t.equal(committed, dump1, `docs/schema.${backend.dialect}.sql is current (regenerate with mt5-engine migrate dump)`)
  })
})

t.test('issue 17: what other projects\' migration histories taught', async (t) => {
  await eachBackend(t, 'comment-only migrations and rollbacks are recorded no-ops', async (t, backend) => {
    const { storage, migrator } = await setup(t, backend, [
      basic[0]!,
      ['20260102000000_placeholder.sql', '-- kept for the numbering; its change moved to 20260101000000\n', '/* nothing to undo */\n'],
      ['20260103000000_index_note.sql', '-- mt5e:no-transaction\n-- the index was dropped again upstream\n', '-- nothing\n'],
    ])
    const up = await migrator.up()
    t.equal(up.error, undefined, up.error?.message ?? 'all up')
    t.same(up.results.map((r) => r.status), ['applied', 'applied', 'applied'])
    t.same(await versions(storage), ['20260101000000', '20260102000000', '20260103000000'], 'recorded in history')
    const down = await migrator.down({ to: '0' })
    t.equal(down.error, undefined, down.error?.message ?? 'all down')
    t.same(await versions(storage), [])
    t.same(await userObjects(storage), [])
  })

  await eachBackend(t, 'every pending file is checked before the first runs, and all that would not run are listed', async (t, backend) => {
    const many = '-- mt5e:no-transaction\ncreate index a_login on accounts (login);\ncreate index a_id on accounts (id);\n'
    const { storage, migrator } = await setup(t, backend, [
      basic[0]!,
      basic[1]!,
      ['20260103000000_two_indexes.sql', many, 'select 1;\n'],
      ['20260104000000_fine.sql', 'create table notes (id integer primary key);\n', `-- mt5e:no-transaction\ndrop table notes;\ndrop table accounts;\n`],
    ])
    const run = await migrator.up()
    t.equal(run.error?.code, 'MIGRATION_NOT_SINGLE_STATEMENT')
    t.match(run.error!.message, /^2 files would not run; nothing was run:\n  - migrations\/20260103000000_two_indexes\.sql .*\n  - rollbacks\/20260104000000_fine\.sql /)
    t.same(run.results, [], 'no result: nothing was attempted')
    t.same(await versions(storage), [], 'nothing was applied, although the first two files are fine')
    t.same(await userObjects(storage), [])
    const dry = await migrator.up({ dryRun: true })
    t.equal(dry.error?.code, 'MIGRATION_NOT_SINGLE_STATEMENT', 'a dry run finds it too')
    const validate = await migrator.validate()
    t.same(validate.problems.map((p) => p.code), ['MIGRATION_NOT_SINGLE_STATEMENT', 'MIGRATION_NOT_SINGLE_STATEMENT'])
  })

  await eachBackend(t, 'an orphan rollback is a problem status shows beside every migration', async (t, backend) => {
    const { dirs, migrator } = await setup(t, backend)
    await migrator.up({ to: '20260102000000' })
    writeFiles(dirs.rollbacksDir, { '20260109000000_deleted_feature.sql': 'drop table gone;\n' })
    const status = await migrator.status()
    t.same(status.entries.map((e) => [e.version, e.state]), [
      ['20260101000000', 'applied'],
      ['20260102000000', 'applied'],
      ['20260103000000', 'pending'],
    ])
    t.same(status.problems.map((p) => p.code), ['MIGRATION_ORPHAN_ROLLBACK'])
    t.match(status.problems[0]!.message, /rollbacks\/20260109000000_deleted_feature\.sql has no migration/)
    t.equal(status.drift, true)
    const validate = await migrator.validate()
    t.same(validate.problems.map((p) => p.code), ['MIGRATION_ORPHAN_ROLLBACK'])
    t.equal((await migrator.up()).error?.code, 'MIGRATION_ORPHAN_ROLLBACK', 'up still refuses to run beside it')
  })

  await eachBackend(t, 'a failed rollback carries the server\'s DETAIL and HINT', async (t, backend) => {
    const { migrator } = await setup(t, backend, [
      basic[0]!,
      ['20260102000000_login_view.sql', 'create view logins as select login from accounts;\n', 'drop view logins;\n'],
    ])
    t.equal((await migrator.up()).error, undefined)
    const broken = fixture(t, [
      [basic[0]![0], basic[0]![1], 'drop table accounts;\n'],
      ['20260102000000_login_view.sql', 'create view logins as select login from accounts;\n', 'drop view logins;\n'],
    ])
    const storage = await backend.open()
    const other = createMigrator({ storage, ...broken })
    // the view is not rolled back first: roll back only the table, as a hand-edited history would
    await storage.query(`delete from schema_migrations where version = '20260102000000'`)
    const run = await other.down()
    if (backend.dialect === 'postgres') {
      t.equal(run.error?.code, 'MIGRATION_FAILED')
      t.equal(run.error?.detail?.dbCode, '2BP01')
      t.match(run.error!.message, /\nDETAIL: view logins depends on table accounts\nHINT: Use DROP \.\.\. CASCADE/)
      t.equal(run.error?.detail?.hint, 'Use DROP ... CASCADE to drop the dependent objects too.')
    } else {
      t.equal(run.error, undefined, 'SQLite drops a table under a view without complaint: no DETAIL to carry')
    }
  })

  await eachBackend(t, 'a SQLite rebuild without foreign-keys-off fails with a hint to add it', async (t, backend) => {
    const rebuild = `create table accounts_new (id integer primary key, login text not null);
insert into accounts_new select id, login from accounts;
drop table accounts;
alter table accounts_new rename to accounts;
`
    const { storage, migrator } = await setup(t, backend, [basic[0]!, basic[1]!, ['20260103000000_rebuild.sql', rebuild, 'select 1;\n']])
    await migrator.up({ to: '20260102000000' })
    await storage.query(`insert into accounts (id, login) values (1, '1001')`)
    await storage.query('insert into orders (id, account_id) values (10, 1)')
    const run = await migrator.up()
    t.equal(run.error?.code, 'MIGRATION_FAILED')
    if (backend.dialect === 'sqlite') {
      t.match(run.error!.message, /FOREIGN KEY constraint failed/)
      t.match(run.error!.message, /HINT: .*put -- mt5e:foreign-keys-off at its top/)
    } else {
      t.equal(run.error?.detail?.dbCode, '2BP01', 'PostgreSQL refuses the drop itself')
      t.notMatch(run.error!.message, /foreign-keys-off/, 'the SQLite hint is not given where it does not help')
    }
  })
})

t.test('migration files', async (t) => {
  const load = (entries: Record<string, string>, rollbacks: Record<string, string> = {}) => {
    const root = tempDir(t)
    writeFiles(join(root, 'migrations'), entries)
    writeFiles(join(root, 'rollbacks'), rollbacks)
    return () => loadMigrations({ migrationsDir: join(root, 'migrations'), rollbacksDir: join(root, 'rollbacks') }, 'sqlite')
  }
  const refuses = (fn: () => unknown, code: string, message: RegExp, name: string) =>
    t.throws(fn, { name: 'EngineError', code, message }, name)

  refuses(load({ '2024_create.sql': 'select 1;' }), 'MIGRATION_BAD_NAME', /migrations\/2024_create\.sql does not follow/, 'a short version')
  refuses(load({ '20260101000000_Create.sql': 'select 1;' }), 'MIGRATION_BAD_NAME', /20260101000000_Create\.sql/, 'upper case')
  refuses(load({ '20261332000000_x.sql': 'select 1;' }), 'MIGRATION_BAD_NAME', /real UTC date-time/, 'month 13')
  refuses(load({ '20260101000000_x.mysql.sql': 'select 1;' }), 'MIGRATION_BAD_NAME', /x\.mysql\.sql/, 'an unknown dialect')
  refuses(
    load({ '20260101000000_a.sql': 'select 1;', '20260101000000_b.sql': 'select 1;' }),
    'MIGRATION_DUPLICATE_VERSION',
    /migrations\/20260101000000_a\.sql, migrations\/20260101000000_b\.sql share version 20260101000000/,
    'a duplicate version',
  )
  refuses(
    load({ '20260101000000_a.sql': 'select 1;', '20260101000000_a.sqlite.sql': 'select 1;' }),
    'MIGRATION_DUPLICATE_VERSION',
    /share version/,
    'a generic file beside a dialect file',
  )
  refuses(
    load({ '20260101000000_a.sqlite.sql': 'select 1;' }),
    'MIGRATION_MISSING_TWIN',
    /20260101000000_a\.sqlite\.sql has no twin 20260101000000_a\.postgres\.sql/,
    'a dialect file without its twin',
  )
  refuses(
    load({ '20260101000000_a.sql': 'select 1;' }, { '20260102000000_b.sql': 'select 1;' }),
    'MIGRATION_ORPHAN_ROLLBACK',
    /rollbacks\/20260102000000_b\.sql has no migration/,
    'a rollback without a migration',
  )
  refuses(load({ '20260101000000_a.sql': '  \n\r\n' }), 'MIGRATION_EMPTY', /20260101000000_a\.sql is empty \(not even a comment\)/, 'a file without even a comment')
  t.equal(load({ '20260101000000_a.sql': '  \n-- nothing yet\n/* still nothing */\n' })()[0]!.up.commentOnly, true, 'a comment-only file loads')
  refuses(load({ '20260101000000_a.sql': '-- mt5e:no-transactoin\nselect 1;' }), 'MIGRATION_BAD_DIRECTIVE', /unknown directive "-- mt5e:no-transactoin"/, 'a misspelled directive')
  const several = load({ 'bad.sql': 'x', '20260101000000_a.sql': '' })
  try {
    several()
    t.fail('two bad files load')
  } catch (err) {
    t.ok(isEngineError(err), 'an EngineError')
    t.equal(((err as EngineError).detail?.problems as unknown[]).length, 2, 'every problem is listed at once')
    t.match((err as EngineError).message, /^2 problems with migration files:\n  - migrations\/bad\.sql/)
  }

  const split = load(
    { '20260101000000_a.sqlite.sql': 'select 1;', '20260101000000_a.postgres.sql': 'select 2;', 'README.md': '# notes' },
    { '20260101000000_a.sql': 'select 3;' },
  )
  const [m] = split()
  t.equal(m!.up.display, 'migrations/20260101000000_a.sqlite.sql', 'the dialect twin is chosen')
  t.equal(m!.down!.display, 'rollbacks/20260101000000_a.sql', 'a generic rollback serves both dialects')
})

t.test('a SQLite table rebuild with foreign keys off is checked before commit', async (t) => {
  {
    const path = join(tempDir(t), 'engine.db')
    const backend: Backend = { dialect: 'sqlite', database: path, open: async () => openSqlite({ path }) }
    const rebuild = (check: string) => `-- mt5e:foreign-keys-off
create table accounts_new (id integer primary key, login text not null check (${check}));
insert into accounts_new select id, login from accounts;
drop table accounts;
alter table accounts_new rename to accounts;
`
    const { storage, migrator, dirs } = await setup(t, backend, [
      basic[0]!,
      basic[1]!,
      ['20260103000000_rebuild_accounts.sql', rebuild("login <> ''"), 'select 1;\n'],
    ])
    await migrator.up({ to: '20260102000000' })
    await storage.query('insert into accounts (id, login) values (1, $1), (2, $2)', ['1001', '1002'])
    await storage.query('insert into orders (id, account_id) values (10, 1), (20, 2)')
    t.equal((await migrator.up()).error, undefined)
    t.same(await storage.query('select id, account_id from orders order by id'), [
      { id: 10, account_id: 1 },
      { id: 20, account_id: 2 },
    ])
    t.same(await storage.query('pragma foreign_keys'), [{ foreign_keys: 1 }], 'foreign keys are on again')
    await t.rejects(storage.query('insert into accounts (id, login) values (3, $1)', ['']), /CHECK constraint failed/)

    // A rebuild that loses a referenced row fails at foreign_key_check and leaves everything as it was.
    await migrator.down()
    writeFiles(dirs.migrationsDir, {
      '20260103000000_rebuild_accounts.sql': rebuild("login <> ''").replace('from accounts;', 'from accounts where id = 1;'),
    })
    const run = await migrator.up()
    t.equal(run.error?.code, 'MIGRATION_FAILED')
    t.equal(run.error?.detail?.dbCode, 'SQLITE_CONSTRAINT_FOREIGNKEY')
    t.match(run.error!.message, /foreign_key_check found 1 violation/)
    t.same(await storage.query('select id from accounts order by id'), [{ id: 1 }, { id: 2 }], 'no row was lost')
    await storage.close()
  }
})
