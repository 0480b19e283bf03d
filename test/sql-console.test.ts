import { join } from 'node:path'
import t from 'tap'
import { createMigrator } from '../src/db/migrator/migrator.js'
import { createToken } from '../src/db/sql/tokens.js'
import { openSqlite } from '../src/db/storage/sqlite.js'
import type { Dialect, Storage } from '../src/db/storage/types.js'
import { runConsoleSql, type ConsoleResult } from '../src/query/sql-console.js'
import { guardSql, sqlRefusals, type SqlRefusal } from '../src/query/sql-guard.js'
import { eachBackend, repoRoot, tempDir, type Backend, type Test } from './helpers.js'

const run = { rowLimit: 1000, timeoutMs: 5000 }

/** The package's migrations, applied. */
async function migrate(t: Test, storage: Storage): Promise<void> {
  const result = await createMigrator({
    storage,
    migrationsDir: join(repoRoot, 'migrations'),
    rollbacksDir: join(repoRoot, 'rollbacks'),
  }).up()
  t.equal(result.error, undefined, 'migrations applied')
}

/**
 * Two accounts, three symbols, six deals, one token. Profits and commissions are whole numbers so
 * that the expected sums are exact on both backends.
 */
async function seed(storage: Storage): Promise<void> {
  await storage.insertRows('accounts', ['id', 'login', 'server', 'first_seen_at', 'last_seen_at'], [
    [1, 1001, 'Broker-Live', 0, 0],
    [2, 2002, 'Broker-Demo', 0, 0],
  ])
  await storage.insertRows('symbols', ['id', 'account_id', 'server', 'name'], [
    [1, 1, 'Broker-Live', 'EURUSD'],
    [2, 1, 'Broker-Live', 'XAUUSD'],
    [3, 2, 'Broker-Demo', 'EURUSD'],
  ])
  const columns = ['account_id', 'ticket', 'symbol_id', 'time_msc', 'type', 'entry', 'volume', 'price', 'profit', 'commission', 'swap', 'fee']
  await storage.insertRows('deals', columns, [
    [1, 1, 1, 60000, 'buy', 'in', 1, 1.1, 0, -1, 0, 0],
    [1, 2, 1, 120000, 'sell', 'out', 1, 1.2, 10, -1, 0, 0],
    [1, 3, 2, 180000, 'buy', 'in', 0.5, 2000, 0, -2, 0, 0],
    [1, 4, 2, 240000, 'sell', 'out', 0.5, 1990, -5, -2, -1, 0],
    [2, 1, 3, 90000, 'buy', 'in', 2, 1.1, 0, 0, 0, 0],
    [2, 2, 3, 150000, 'sell', 'out', 2, 1.15, 20, 0, 0, 0],
  ])
  await createToken(storage, { role: 'admin', name: 'console-test' })
}

/** A migrated, seeded database and the connection the console reads through (read-only on SQLite). */
async function reader(t: Test, backend: Backend): Promise<Storage> {
  const writer = await backend.open()
  await migrate(t, writer)
  await seed(writer)
  if (backend.dialect === 'postgres') return writer
  const ro = openSqlite({ path: backend.database, readonly: true })
  t.teardown(() => ro.close())
  return ro
}

function refusedWith(t: Test, result: ConsoleResult, code: string, sql: string): void {
  if (result.ok) {
    t.fail(`ran, but should be refused with ${code}: ${sql}`)
    return
  }
  t.equal(result.code, code, `${code}: ${sql.replace(/\s+/g, ' ')}${result.code === code ? '' : ` (got: ${result.reason})`}`)
}

// -- the hostile corpus

type Case = [sql: string, code: SqlRefusal, only?: Dialect]

const hostile: Case[] = [
  // writes
  ['insert into deals (account_id, ticket, time_msc, type, entry) values (1, 99, 0, \'buy\', \'in\')', 'SQL_NOT_SELECT'],
  ['update deals set profit = 0', 'SQL_NOT_SELECT'],
  ['delete from deals', 'SQL_NOT_SELECT'],
  ['replace into accounts (id, login, server, first_seen_at, last_seen_at) values (1, 1, \'x\', 0, 0)', 'SQL_NOT_SELECT', 'sqlite'],
  ['insert into accounts (id, login, server, first_seen_at, last_seen_at) values (1, 1, \'x\', 0, 0) on conflict (id) do update set login = 2', 'SQL_NOT_SELECT'],
  ['delete from tokens returning token_hash', 'SQL_NOT_SELECT'],
  ['merge into deals d using accounts a on a.id = d.account_id when matched then delete', 'SQL_NOT_SELECT', 'postgres'],
  // DDL
  ['create table x (a int)', 'SQL_NOT_SELECT'],
  ['create table x as select * from deals', 'SQL_NOT_SELECT'],
  ['drop table deals', 'SQL_NOT_SELECT'],
  ['alter table deals add column x int', 'SQL_NOT_SELECT'],
  ['truncate deals', 'SQL_NOT_SELECT', 'postgres'],
  ['create temp view v as select 1', 'SQL_NOT_SELECT'],
  // several statements, and trailing garbage
  ['select 1; drop table deals', 'SQL_NOT_ONE_STATEMENT'],
  ['select 1; select 2', 'SQL_NOT_ONE_STATEMENT'],
  ['select 1 /* a comment */; delete from deals', 'SQL_NOT_ONE_STATEMENT'],
  ['select 1 -- comment\n; delete from deals', 'SQL_NOT_ONE_STATEMENT'],
  ['select 1; garbage', 'SQL_NOT_ONE_STATEMENT'],
  ['select 1 ; ; select 2', 'SQL_NOT_ONE_STATEMENT'],
  ['', 'SQL_NOT_ONE_STATEMENT'],
  ['   \n\t ', 'SQL_NOT_ONE_STATEMENT'],
  ['-- only a comment', 'SQL_NOT_ONE_STATEMENT'],
  ['/* only a comment */', 'SQL_NOT_ONE_STATEMENT'],
  // SELECT ... INTO
  ['select * into stolen from deals', 'SQL_SELECT_INTO', 'postgres'],
  ['select 1 into t', 'SQL_SELECT_INTO'],
  // SQLite's statements
  ['attach database \'/tmp/x.db\' as x', 'SQL_NOT_SELECT'],
  ['detach database x', 'SQL_NOT_SELECT'],
  ['pragma query_only = 0', 'SQL_NOT_SELECT'],
  ['pragma table_info(tokens)', 'SQL_NOT_SELECT'],
  ['vacuum', 'SQL_NOT_SELECT'],
  ['vacuum into \'/tmp/copy.db\'', 'SQL_NOT_SELECT'],
  ['reindex', 'SQL_NOT_SELECT'],
  // dangerous functions, wherever they are
  ['select load_extension(\'x\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select * from deals where load_extension(\'/tmp/evil.so\') is null', 'SQL_FORBIDDEN_FUNCTION'],
  ['select readfile(\'/etc/passwd\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select writefile(\'/tmp/x\', \'y\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select fts3_tokenizer(\'simple\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select pg_sleep(10)', 'SQL_FORBIDDEN_FUNCTION'],
  ['select pg_catalog.pg_sleep(10)', 'SQL_FORBIDDEN_FUNCTION'],
  ['select "pg_sleep"(10)', 'SQL_FORBIDDEN_FUNCTION'],
  ['select count(*) from deals where (select PG_SLEEP_FOR(\'10 s\')) is null', 'SQL_FORBIDDEN_FUNCTION'],
  ['select set_config(\'default_transaction_read_only\', \'off\', false)', 'SQL_FORBIDDEN_FUNCTION'],
  ['select pg_read_file(\'/etc/passwd\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select pg_read_binary_file(\'/etc/passwd\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select * from pg_ls_dir(\'.\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select lo_import(\'/etc/passwd\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select lo_export(1, \'/tmp/x\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select * from dblink(\'host=evil\', \'select 1\') as t(a int)', 'SQL_FORBIDDEN_FUNCTION'],
  ['select query_to_xml(\'select * from pg_catalog.pg_class\', true, true, \'\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select table_to_xml(\'deals\', true, true, \'\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select pg_advisory_lock(1)', 'SQL_FORBIDDEN_FUNCTION'],
  ['select nextval(\'accounts_id_seq\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select pg_terminate_backend(pid) from pg_stat_database', 'SQL_FORBIDDEN_FUNCTION'],
  ['select pg_notify(\'ch\', \'x\')', 'SQL_FORBIDDEN_FUNCTION'],
  ['select max(pg_cancel_backend(1)) over () from deals', 'SQL_FORBIDDEN_FUNCTION'],
  // PostgreSQL's statements
  ['copy deals to program \'cat > /tmp/x\'', 'SQL_NOT_SELECT'],
  ['copy deals from program \'id\'', 'SQL_NOT_SELECT'],
  ['copy (select * from deals) to stdout', 'SQL_NOT_SELECT'],
  ['do $$ begin perform 1; end $$', 'SQL_NOT_SELECT'],
  ['call some_procedure()', 'SQL_NOT_SELECT'],
  ['grant select on deals to public', 'SQL_NOT_SELECT'],
  ['revoke select on deals from public', 'SQL_NOT_SELECT'],
  ['set search_path = evil', 'SQL_NOT_SELECT'],
  ['set transaction read write', 'SQL_NOT_SELECT'],
  ['reset role', 'SQL_NOT_SELECT'],
  ['begin', 'SQL_NOT_SELECT'],
  ['commit', 'SQL_NOT_SELECT'],
  ['listen ch', 'SQL_NOT_SELECT'],
  ['notify ch, \'x\'', 'SQL_NOT_SELECT'],
  ['explain analyze delete from deals', 'SQL_NOT_SELECT'],
  ['explain select * from deals', 'SQL_NOT_SELECT'],
  ['prepare p as delete from deals', 'SQL_NOT_SELECT'],
  ['execute p', 'SQL_NOT_SELECT'],
  ['lock table deals', 'SQL_NOT_SELECT'],
  ['discard all', 'SQL_NOT_SELECT'],
  // data-modifying CTEs and subqueries
  ['with gone as (delete from deals returning *) select * from gone', 'SQL_NOT_SELECT'],
  ['with x as (insert into accounts (login, server, first_seen_at, last_seen_at) values (9, \'x\', 0, 0) returning id) select id from x', 'SQL_NOT_SELECT'],
  ['with x as (update deals set profit = 0 returning 1) select count(*) from x', 'SQL_NOT_SELECT'],
  ['with x as (select 1) delete from deals', 'SQL_NOT_SELECT'],
  ['with x as (select 1) update deals set profit = 0', 'SQL_NOT_SELECT'],
  ['select * from deals where ticket in (with d as (delete from deals returning ticket) select ticket from d)', 'SQL_NOT_SELECT'],
  // locking clauses
  ['select * from deals for update', 'SQL_LOCKING_CLAUSE'],
  ['select * from deals for share', 'SQL_LOCKING_CLAUSE'],
  ['select * from deals for no key update', 'SQL_LOCKING_CLAUSE'],
  ['select * from deals for key share nowait', 'SQL_LOCKING_CLAUSE'],
  ['select * from deals d join accounts a on a.id = d.account_id for update of d skip locked', 'SQL_LOCKING_CLAUSE'],
  // tokens, in every disguise
  ['select * from tokens', 'SQL_FORBIDDEN_TABLE'],
  ['select token_hash from TOKENS', 'SQL_FORBIDDEN_TABLE'],
  ['select token_hash from "tokens"', 'SQL_FORBIDDEN_TABLE'],
  ['select token_hash from "Tokens"', 'SQL_FORBIDDEN_TABLE'],
  ['select token_hash from main.tokens', 'SQL_FORBIDDEN_TABLE', 'sqlite'],
  ['select token_hash from "main"."tokens"', 'SQL_FORBIDDEN_TABLE', 'sqlite'],
  ['select token_hash from [tokens]', 'SQL_FORBIDDEN_TABLE', 'sqlite'],
  ['select token_hash from `tokens`', 'SQL_FORBIDDEN_TABLE', 'sqlite'],
  ['select token_hash from \'tokens\'', 'SQL_FORBIDDEN_TABLE', 'sqlite'],
  ['select token_hash from public.tokens', 'SQL_FORBIDDEN_TABLE', 'postgres'],
  ['select token_hash from "public"."tokens"', 'SQL_FORBIDDEN_TABLE', 'postgres'],
  ['select t.token_hash from deals d join tokens t on t.id = d.ticket', 'SQL_FORBIDDEN_TABLE'],
  ['select * from deals d left join (select * from tokens) t on true', 'SQL_FORBIDDEN_TABLE'],
  ['select * from (select token_hash from tokens) as t', 'SQL_FORBIDDEN_TABLE'],
  ['with t as (select token_hash from tokens) select * from t', 'SQL_FORBIDDEN_TABLE'],
  ['with a as (select 1 as x), b as (select token_hash as x from tokens) select x from b', 'SQL_FORBIDDEN_TABLE'],
  ['select comment from deals union select token_hash from tokens', 'SQL_FORBIDDEN_TABLE'],
  ['select (select token_hash from tokens limit 1) as h', 'SQL_FORBIDDEN_TABLE'],
  ['select * from deals where exists (select 1 from tokens where token_hash like \'a%\')', 'SQL_FORBIDDEN_TABLE'],
  ['select * from deals where comment in (select token_hash from tokens)', 'SQL_FORBIDDEN_TABLE'],
  ['select ticket, (select count(*) from tokens) over () from deals', 'SQL_FORBIDDEN_TABLE'],
  ['select max(ticket) from deals group by account_id having max(ticket) > (select count(*) from tokens)', 'SQL_FORBIDDEN_TABLE'],
  ['select * from deals order by (select min(token_hash) from tokens)', 'SQL_FORBIDDEN_TABLE'],
  ['select row_number() over (partition by (select token_hash from tokens)) from deals', 'SQL_FORBIDDEN_TABLE'],
  ['with tokens as (select 1 as token_hash) select token_hash from tokens', 'SQL_FORBIDDEN_TABLE'],
  ['table tokens', 'SQL_FORBIDDEN_TABLE'],
  ['table deals', 'SQL_PARSE_FAILED'],
  ['values (1)', 'SQL_PARSE_FAILED'],
  // the parser reading quotes unlike the database must not matter: the word backstop sees tokens
  ['select \'a\\\', (select token_hash from tokens) as x, \'\' as y', 'SQL_FORBIDDEN_TABLE'],
  ['select 1 /* from tokens */', 'SQL_FORBIDDEN_TABLE'],
  ['select U&"\\0074okens" from deals', 'SQL_PARSE_FAILED'],
  // system catalogs that hold secrets or other sessions' text
  ['select rolpassword from pg_authid', 'SQL_FORBIDDEN_TABLE'],
  ['select passwd from pg_catalog.pg_shadow', 'SQL_FORBIDDEN_TABLE'],
  ['select * from pg_user_mappings', 'SQL_FORBIDDEN_TABLE'],
  ['select query from pg_stat_activity', 'SQL_FORBIDDEN_TABLE'],
  ['select * from pg_stats where tablename = \'deals\'', 'SQL_FORBIDDEN_TABLE'],
  ['select * from sqlite_dbpage', 'SQL_FORBIDDEN_TABLE'],
  ['select * from sqlite_stat4', 'SQL_FORBIDDEN_TABLE'],
  // too long
  [`select 1${' '.repeat(70000)}`, 'SQL_TOO_LONG'],
]

// -- the analytical corpus, with hand-computed answers

interface Legit {
  sql: string
  columns: string[]
  rows: unknown[][]
  only?: Dialect
}

const legit: Legit[] = [
  {
    // deals, accounts and symbols joined; net = profit + commission + swap + fee
    sql: `select a.login, s.name, sum(d.profit + d.commission + d.swap + d.fee) as net
          from deals d join accounts a on a.id = d.account_id join symbols s on s.id = d.symbol_id
          group by a.login, s.name order by a.login, s.name`,
    columns: ['login', 'name', 'net'],
    rows: [[1001, 'EURUSD', 8], [1001, 'XAUUSD', -10], [2002, 'EURUSD', 20]],
  },
  {
    sql: 'select account_id, count(*) as n from deals group by account_id having count(*) > 2 order by account_id',
    columns: ['account_id', 'n'],
    rows: [[1, 4]],
  },
  {
    sql: `select ticket, case when profit > 0 then 'win' when profit < 0 then 'loss' else 'flat' end as outcome
          from deals where account_id = 1 order by ticket`,
    columns: ['ticket', 'outcome'],
    rows: [[1, 'flat'], [2, 'win'], [3, 'flat'], [4, 'loss']],
  },
  {
    sql: `select account_id, ticket, row_number() over (partition by account_id order by time_msc desc) as rn
          from deals order by account_id, rn`,
    columns: ['account_id', 'ticket', 'rn'],
    rows: [[1, 4, 1], [1, 3, 2], [1, 2, 3], [1, 1, 4], [2, 2, 1], [2, 1, 2]],
  },
  {
    // a running sum with an explicit frame: node-sql-parser's SQLite grammar refuses the frame
    sql: `select ticket, sum(profit) over (partition by account_id order by time_msc rows between unbounded preceding and current row) as running
          from deals where account_id = 1 order by time_msc`,
    columns: ['ticket', 'running'],
    rows: [[1, 0], [2, 10], [3, 10], [4, 5]],
  },
  {
    sql: `with closed as (select account_id, profit from deals where entry = 'out')
          select account_id, count(*) as trades, sum(case when profit > 0 then 1 else 0 end) as wins
          from closed group by account_id order by account_id`,
    columns: ['account_id', 'trades', 'wins'],
    rows: [[1, 2, 1], [2, 1, 1]],
  },
  {
    sql: 'with recursive n(x) as (select 1 union all select x + 1 from n where x < 5) select sum(x) as s from n',
    columns: ['s'],
    rows: [[15]],
  },
  {
    // mean profit of all six deals is 25/6
    sql: `select ticket from deals
          where account_id = (select id from accounts where login = 2002) and profit > (select avg(profit) from deals)
          order by ticket`,
    columns: ['ticket'],
    rows: [[2]],
  },
  {
    // minutes from integer milliseconds
    sql: `select (time_msc / 60000) * 60000 as minute, count(*) as n from deals
          group by (time_msc / 60000) * 60000 order by minute`,
    columns: ['minute', 'n'],
    rows: [[60000, 2], [120000, 2], [180000, 1], [240000, 1]],
  },
  {
    sql: `select a.login, coalesce(sum(d.profit), 0) as balance_deals
          from accounts a left join deals d on d.account_id = a.id and d.type = 'balance'
          group by a.login order by a.login`,
    columns: ['login', 'balance_deals'],
    rows: [[1001, 0], [2002, 0]],
  },
  {
    sql: `select s.name, s.account_id from symbols s
          where exists (select 1 from deals d where d.symbol_id = s.id and d.profit < 0) order by s.name`,
    columns: ['name', 'account_id'],
    rows: [['XAUUSD', 1]],
  },
  {
    sql: `select k, v from (select 'max' as k, max(price) as v from deals union all select 'min', min(price) from deals) m order by k`,
    columns: ['k', 'v'],
    rows: [['max', 2000], ['min', 1.1]],
  },
  {
    // OVER (ORDER BY ...) without PARTITION BY: also refused by the SQLite grammar alone
    sql: 'select ticket, time_msc - lag(time_msc) over (order by time_msc) as gap from deals where account_id = 1 order by time_msc',
    columns: ['ticket', 'gap'],
    rows: [[1, null], [2, 60000], [3, 60000], [4, 60000]],
  },
  {
    // FILTER: read by the PostgreSQL grammar only, on both backends
    sql: `select account_id, count(*) filter (where profit > 0) as wins, count(*) filter (where profit < 0) as losses
          from deals group by account_id order by account_id`,
    columns: ['account_id', 'wins', 'losses'],
    rows: [[1, 1, 1], [2, 1, 0]],
  },
  {
    sql: 'select count(*) > 0 as migrated from schema_migrations',
    columns: ['migrated'],
    rows: [[1]],
    only: 'sqlite',
  },
  {
    sql: 'select count(*) > 0 as migrated from schema_migrations',
    columns: ['migrated'],
    rows: [[true]],
    only: 'postgres',
  },
  {
    sql: "select name from sqlite_master where type = 'table' and name in ('deals', 'accounts') order by name",
    columns: ['name'],
    rows: [['accounts'], ['deals']],
    only: 'sqlite',
  },
  {
    sql: `select table_name from information_schema.tables
          where table_schema = current_schema() and table_name in ('deals', 'accounts') order by table_name`,
    columns: ['table_name'],
    rows: [['accounts'], ['deals']],
    only: 'postgres',
  },
]

t.test('the guard', async (t) => {
  t.test('refuses with a documented code, and accepts a plain SELECT with its tables', async (t) => {
    t.same(guardSql('select d.ticket from deals d join main.accounts a on a.id = d.account_id', 'sqlite'), {
      ok: true,
      sql: 'select d.ticket from deals d join main.accounts a on a.id = d.account_id',
      tables: ['deals', 'main.accounts'],
    })
    for (const [sql, code, only] of hostile) {
      for (const dialect of only ? [only] : (['sqlite', 'postgres'] as const)) {
        const verdict = guardSql(sql, dialect)
        t.ok(!verdict.ok && sqlRefusals.includes(verdict.code), `${dialect}: a refusal code for ${sql.slice(0, 60)}`)
      }
    }
  })

  t.test('the deny list is configurable; schema_migrations and sqlite_schema stay readable', async (t) => {
    t.match(guardSql('select * from deals', 'postgres', { deniedTables: ['deals'] }), { ok: false, code: 'SQL_FORBIDDEN_TABLE' })
    t.match(guardSql('select * from tokens', 'postgres', { deniedTables: [] }), { ok: true })
    t.match(guardSql('select * from pg_authid', 'postgres', { deniedTables: [] }), { ok: false, code: 'SQL_FORBIDDEN_TABLE' }, 'catalogs stay denied')
    t.match(guardSql('select * from schema_migrations', 'sqlite'), { ok: true })
    t.match(guardSql('select name from sqlite_schema', 'sqlite'), { ok: true })
    t.match(guardSql('select current_setting(\'TimeZone\'), txid_current_snapshot()', 'postgres'), { ok: true })
    t.match(guardSql('select 1 as tokens_count', 'sqlite'), { ok: true }, 'a longer word that contains tokens is not tokens')
  })
})

t.test('the console on both backends', async (t) => {
  await eachBackend(t, 'every hostile statement is refused with its code and changes nothing', async (t, backend) => {
    const storage = await reader(t, backend)
    const cases = hostile.filter(([, , only]) => only === undefined || only === backend.dialect)
    t.ok(cases.length >= 40, `${cases.length} hostile statements on ${backend.dialect}`)
    for (const [sql, code] of cases) refusedWith(t, await runConsoleSql(storage, sql, run), code, sql)
    const deals = await runConsoleSql(storage, 'select count(*) as n, sum(profit) as p from deals', run)
    t.same(deals.ok && deals.rows, [[6, 25]], 'the deals are as seeded')
  })

  await eachBackend(t, 'analytical SELECTs run and return the hand-computed rows', async (t, backend) => {
    const storage = await reader(t, backend)
    const cases = legit.filter((c) => c.only === undefined || c.only === backend.dialect)
    t.ok(cases.length >= 12, `${cases.length} analytical statements on ${backend.dialect}`)
    for (const c of cases) {
      const result = await runConsoleSql(storage, c.sql, run)
      const name = c.sql.replace(/\s+/g, ' ').slice(0, 90)
      if (!result.ok) {
        t.fail(`${name}: ${result.code} ${result.reason}`)
        continue
      }
      t.same(result.columns, c.columns, `columns of ${name}`)
      t.same(result.rows, c.rows, `rows of ${name}`)
      t.equal(result.truncated, false)
      t.ok(result.elapsedMs >= 0 && result.elapsedMs < 5000, 'elapsedMs is measured')
    }
  })

  await eachBackend(t, 'the row limit stops at rowLimit and says truncated', async (t, backend) => {
    const storage = await reader(t, backend)
    const sql = 'select account_id, ticket from deals order by account_id, ticket'
    const two = await runConsoleSql(storage, sql, { ...run, rowLimit: 2 })
    t.same(two, { ok: true, columns: ['account_id', 'ticket'], rows: [[1, 1], [1, 2]], truncated: true, elapsedMs: (two as { elapsedMs: number }).elapsedMs })
    const six = await runConsoleSql(storage, sql, { ...run, rowLimit: 6 })
    t.match(six, { ok: true, truncated: false })
    t.equal(six.ok && six.rows.length, 6)
    const five = await runConsoleSql(storage, sql, { ...run, rowLimit: 5 })
    t.match(five, { ok: true, truncated: true })
    t.equal(five.ok && five.rows.length, 5)
  })

  await eachBackend(t, 'a database error is SQL_FAILED with the database message, not a throw', async (t, backend) => {
    const storage = await reader(t, backend)
    const bad = await runConsoleSql(storage, 'select no_such_column from deals', run)
    t.match(bad, { ok: false, code: 'SQL_FAILED', reason: /no_such_column/ })
    const missing = await runConsoleSql(storage, 'select * from no_such_table', run)
    t.match(missing, { ok: false, code: 'SQL_FAILED', reason: /no_such_table/ })
    const after = await runConsoleSql(storage, 'select count(*) from deals', run)
    t.same(after.ok && after.rows, [[6]], 'the connection still works')
  })

  await eachBackend(t, 'values come back JSON and MessagePack plain', async (t, backend) => {
    const storage = await reader(t, backend)
    const sql =
      backend.dialect === 'postgres'
        ? "select '\\x0102ff'::bytea as b, 9007199254740993::bigint as big, 42::bigint as small, 'NaN'::float8 as nan, '2026-01-02T03:04:05Z'::timestamptz as ts, array[1, 2] as arr"
        : "select x'0102ff' as b, 42 as small, 1.5 as f"
    const result = await runConsoleSql(storage, sql, run)
    const expected =
      backend.dialect === 'postgres'
        ? [['AQL/', '9007199254740993', 42, 'NaN', '2026-01-02T03:04:05.000Z', [1, 2]]]
        : [['AQL/', 42, 1.5]]
    t.same(result.ok && result.rows, expected)
    t.same(JSON.parse(JSON.stringify(result.ok && result.rows)), expected, 'survives JSON')
  })

  await eachBackend(t, 'options are validated where they enter', async (t, backend) => {
    const storage = await reader(t, backend)
    await t.rejects(runConsoleSql(storage, 'select 1', { rowLimit: 0, timeoutMs: 10 }), { code: 'CONFIG_INVALID', message: /rowLimit/ })
    await t.rejects(runConsoleSql(storage, 'select 1', { rowLimit: 1, timeoutMs: 1.5 }), { code: 'CONFIG_INVALID', message: /timeoutMs/ })
  })
})

t.test('SQLite: the read-only connection refuses on its own (defence in depth)', async (t) => {
  const path = join(tempDir(t), 'engine.db')
  const writer = openSqlite({ path })
  t.teardown(() => writer.close())
  await migrate(t, writer)
  await seed(writer)
  const other = join(tempDir(t), 'other.db')
  const o = openSqlite({ path: other })
  await o.exec('create table secret (x text); insert into secret values (\'s\')')
  await o.close()

  const ro = openSqlite({ path, readonly: true })
  t.teardown(() => ro.close())
  const [before] = await ro.query<{ query_only: number }>('pragma query_only')
  t.equal(before!.query_only, 0, 'openSqlite({ readonly: true }) does not set query_only: the console does')
  await t.rejects(ro.query('delete from deals'), { code: 'SQLITE_READONLY' }, 'the read-only file refuses a write')
  await t.rejects(ro.query("select load_extension('/tmp/nothing')"), /not authorized/, 'load_extension() is disabled')
  await t.rejects(ro.select('delete from deals returning ticket'), { code: 'SQLITE_READONLY' }, 'a write that returns rows is refused too')
  await t.rejects(ro.select(`attach database '${other}' as other`), /returns rows only|return rows/, 'select() never runs ATTACH')
  // the temp schema lives apart from the read-only file: this is why the console sets query_only
  t.same(await ro.query('create temp table scratch (a int)'), [], 'without query_only, a read-only connection still writes temp tables')

  t.match(await runConsoleSql(ro, 'select count(*) from deals', run), { ok: true, rows: [[6]] })
  const [after] = await ro.query<{ query_only: number }>('pragma query_only')
  t.equal(after!.query_only, 1, 'the console set query_only')
  await t.rejects(ro.query('create temp table scratch2 (a int)'), { code: 'SQLITE_READONLY' }, 'query_only refuses the temp schema')
  await t.rejects(ro.query('insert into scratch values (1)'), { code: 'SQLITE_READONLY' }, 'and writes into it')
  // ATTACH is not a write: outside select() even a read-only, query_only connection attaches an
  // existing file (read-only). The console depends on select() (and the guard) for this one.
  await t.rejects(ro.query(`attach database '${join(tempDir(t), 'new.db')}' as fresh`), { code: 'SQLITE_CANTOPEN' }, 'ATTACH cannot create a file')
  await ro.query(`attach database '${other}' as other`)
  await t.rejects(ro.query("insert into other.secret values ('w')"), { code: 'SQLITE_READONLY' }, 'an attached file is read-only too')
  await ro.query('detach database other')
  t.match(
    await runConsoleSql(ro, 'select * from tokens', { ...run, deniedTables: [] }),
    { ok: true, rows: [[1, 'console-test', 'admin']] },
    'on SQLite nothing but the guard keeps tokens out: the connection can read them',
  )
})

t.test('PostgreSQL: read-only transaction, server-side timeout, and a role', async (t) => {
  await eachBackend(t, 'backend', async (t, backend) => {
    if (backend.dialect !== 'postgres') return
    const storage = await reader(t, backend)

    await t.rejects(storage.transaction((tx) => tx.query('delete from deals'), { readOnly: true }), { code: '25006' }, 'READ ONLY refuses a write')

    const started = Date.now()
    const slow = await runConsoleSql(storage, 'select count(*) from generate_series(1, 1000000000)', { rowLimit: 10, timeoutMs: 200 })
    const took = Date.now() - started
    t.match(slow, { ok: false, code: 'SQL_TIMEOUT' })
    t.ok(took < 5000, `the server cut the statement after ${took} ms`)
    t.match(await runConsoleSql(storage, 'show statement_timeout', run), { ok: false, code: 'SQL_NOT_SELECT' })
    const setting = await storage.query<{ statement_timeout: string }>('show statement_timeout')
    t.equal(setting[0]!.statement_timeout, '0', 'SET LOCAL did not leak into the pool connection')

    // a role that may read the engine's tables but not tokens: even a text the guard let through
    // (its deny list emptied here) cannot read them
    const role = `mt5e_console_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
    await storage.exec(`create role ${role} nologin; grant usage on schema public to ${role}; grant select on all tables in schema public to ${role}; revoke select on tokens from ${role}`)
    try {
      const asRole = { ...run, role, deniedTables: [] }
      t.match(await runConsoleSql(storage, 'select count(*) from deals', asRole), { ok: true, rows: [[6]] }, 'the role reads deals')
      t.match(await runConsoleSql(storage, 'select token_hash from tokens', asRole), { ok: false, code: 'SQL_FAILED', reason: /42501.*permission denied/ })
      t.match(await runConsoleSql(storage, 'select token_hash from tokens', { ...run, deniedTables: [] }), { ok: true }, 'without the role, only the guard stood in the way')
      const [current] = await storage.query<{ current_user: string }>('select current_user')
      t.not(current!.current_user, role, 'SET LOCAL ROLE ended with the transaction')
    } finally {
      await storage.exec(`drop owned by ${role}; drop role ${role}`)
    }
  })
})
