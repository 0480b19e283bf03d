/**
 * Typed queries end to end on both backends: EAs stream through a real gateway, a dashboard reads
 * back over the protocol, pages with cursors while rows keep arriving, and is refused for bad
 * filters, unknown queries and what its role may not read.
 */
import t from 'tap'
import { ClientError } from '../src/errors.js'
import { QUERIES } from '../src/query/catalogue.js'
import { planQuery } from '../src/query/plan.js'
import { accountSnapshot, deal, makeTokens, startTestEngine, testDashboard, testEA, TickSource, type Tokens } from './engine-helpers.js'
import { eachBackend, type Test } from './helpers.js'

const T0 = Date.UTC(2024, 10, 19, 9, 0)
const ea = (t: Test, url: string, token: string, instanceId: string, login: number, magic = 42) => testEA(t, url, token, instanceId, login, { name: 'QueryEA', magic, strategy: 'trend' })
const dashboard = testDashboard


async function refusal(p: Promise<unknown>): Promise<{ code: string; field?: string; message: string }> {
  try {
    await p
  } catch (err) {
    if (err instanceof ClientError) {
      const frame = err.frame as { field?: string } | undefined
      return { code: err.code, message: err.message, ...(frame?.field !== undefined && { field: frame.field }) }
    }
    throw err
  }
  throw new Error('expected a refusal, got an answer')
}

t.test('every query of the catalogue builds, and its keys are among its columns', async (t) => {
  for (const def of QUERIES) {
    for (const key of def.keys) t.ok(def.columns.some((c) => c.name === key), `${def.name}: key ${key} is a column`)
    const names = def.columns.map((c) => c.name)
    t.equal(new Set(names).size, names.length, `${def.name}: column names are unique`)
    for (const set of def.requireOneOf ?? []) for (const n of set) t.ok(def.filters.some((f) => f.name === n), `${def.name}: required ${n} is a filter`)
  }
})

t.test('typed queries on both backends', async (t) => {
  await eachBackend(t, 'accounts, instances, symbols, ticks, deals, positions, snapshots, logs: filters, pages, roles', async (t, backend) => {
    const tokens: Tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const url = engine.url!
    const a = await ea(t, url, tokens.ea, 'query-ea-a', 5001, 42)
    const b = await ea(t, url, tokens.ea, 'query-ea-b', 5002, 7)
    await a.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
    const ticks = new TickSource('EURUSD', T0, 1.08, 3)
    const sentTicks: number[] = []
    for (let i = 0; i < 5; i++) {
      const batch = ticks.batch(100)
      sentTicks.push(...batch.time_msc)
      await a.send(batch)
    }
    for (let i = 1; i <= 25; i++) await a.send(deal(i, T0 + i * 60_000, i % 2 === 0 ? 42 : 43))
    for (let i = 1; i <= 3; i++) await b.send(deal(1000 + i, T0 + i * 1000, 7))
    for (let i = 0; i < 4; i++) await a.send(accountSnapshot(T0 + i * 10_000, 10_000 + i))
    await a.send({
      type: 'positions_snapshot', time_msc: T0 + 5000,
      positions: [{ identifier: 900, ticket: 900, symbol: 'EURUSD', position_type: 0, volume: 0.1, price_open: 1.08, price_current: 1.081, sl: 0, tp: 0, profit: 10, swap: 0, magic: 42, time_msc: T0 }],
    } as never)
    await a.send({ type: 'ea_status', time_msc: T0 + 9000, state: 'running', terminal_trade_allowed: true, ea_trade_allowed: true, queue_depth: 0, dropped_ticks: 0, connected: true } as never)
    await a.send({ type: 'log', time_msc: T0 + 9500, level: 'warn', message: 'requote, retrying' })
    await Promise.all([a.flushed(), b.flushed()])

    const viewer = await dashboard(t, url, tokens.viewer)

    const accounts = await viewer.query<{ login: number; balance: number; currency: string }>('accounts')
    t.same(accounts.rows.map((r) => [r.login, r.currency]), [[5001, 'USD'], [5002, 'USD']], 'accounts in id order')
    t.equal(accounts.rows[0]!.balance, 10_003, 'with the newest snapshot balance')
    t.equal(accounts.nextCursor, null, 'one page')

    const instances = await viewer.query<{ instance_id: string; online: boolean; state: string | null; magic: number; trade_allowed: boolean | null }>('ea_instances', { login: 5001 })
    t.same(instances.rows.map((r) => [r.instance_id, r.online, r.state, r.magic, r.trade_allowed]), [['query-ea-a', true, 'running', 42, true]], 'online, with its newest heartbeat')

    const symbols = await viewer.query<{ name: string; digits: number; point: number; login: number }>('symbols', { login: 5001 })
    t.same(symbols.rows.map((r) => [r.name, r.digits, r.point, r.login]), [['EURUSD', 5, 0.00001, 5001]])

    // ticks: one symbol, oldest first, paged with cursors until the end
    const seen: number[] = []
    let pages = 0
    for await (const rows of viewer.queryAll<{ time_msc: number }>('ticks', { symbol: 'EURUSD', login: 5001 }, { limit: 137 })) {
      pages++
      seen.push(...rows.map((r) => r.time_msc))
    }
    t.equal(pages, Math.ceil(500 / 137), 'pages of 137 rows')
    t.same(seen, sentTicks, 'every tick once, in time order, across the pages')

    // deals: newest first, filtered by account and magic, paged while new deals arrive
    const first = await viewer.query<{ ticket: number; magic: number; time_msc: number }>('deals', { login: 5001, magic: 42 }, { limit: 5 })
    t.same(first.rows.map((r) => r.ticket), [24, 22, 20, 18, 16], 'newest first, only magic 42')
    t.ok(first.nextCursor, 'a cursor to the next page')
    for (let i = 26; i <= 30; i++) await a.send(deal(i, T0 + i * 60_000, 42))
    await a.flushed()
    const rest: number[] = []
    let cursor = first.nextCursor
    while (cursor) {
      const page = await viewer.query<{ ticket: number }>('deals', { login: 5001, magic: 42 }, { limit: 5, cursor })
      rest.push(...page.rows.map((r) => r.ticket))
      cursor = page.nextCursor
    }
    t.same(rest, [14, 12, 10, 8, 6, 4, 2], 'deals inserted after the first page do not shift the next ones: nothing skipped, nothing repeated')
    const fresh = await viewer.query<{ ticket: number }>('deals', { login: 5001, magic: 42 }, { limit: 3 })
    t.same(fresh.rows.map((r) => r.ticket), [30, 29, 28], 'a new first page sees them')
    const ascending = await viewer.query<{ ticket: number }>('deals', { login: 5001, from: T0 + 3 * 60_000, to: T0 + 6 * 60_000 }, { order: 'asc' })
    t.same(ascending.rows.map((r) => r.ticket), [3, 4, 5], 'a time range, [from, to), oldest first')
    const other = await viewer.query<{ ticket: number; login: number; instance_id: string }>('deals', { login: 5002 })
    t.same(other.rows.map((r) => [r.ticket, r.login, r.instance_id]), [[1003, 5002, 'query-ea-b'], [1002, 5002, 'query-ea-b'], [1001, 5002, 'query-ea-b']])

    const positions = await viewer.query<{ position_id: number; state: string; symbol: string; profit: number }>('positions', { login: 5001, state: 'open' })
    t.same(positions.rows.map((r) => [r.position_id, r.state, r.symbol, r.profit]), [[900, 'open', 'EURUSD', 10]])

    const snapshots = await viewer.query<{ time_msc: number; balance: number }>('account_snapshots', { login: 5001, from: T0 + 10_000 })
    t.same(snapshots.rows.map((r) => r.balance), [10_001, 10_002, 10_003], 'oldest first from the given time')

    const logs = await viewer.query<{ level: string; message: string; instance_id: string }>('logs', { instance: 'query-ea-a' })
    t.same(logs.rows.map((r) => [r.level, r.message, r.instance_id]), [['warning', 'requote, retrying', 'query-ea-a']])

    // refusals, each naming what was wrong; the session goes on after each
    t.match(await refusal(viewer.query('no_such_query')), { code: 'BAD_FIELD', field: 'query', message: /not a query; the queries are accounts, ea_instances/ })
    t.match(await refusal(viewer.query('deals', { nope: 1 })), { code: 'BAD_FIELD', field: 'params.nope', message: /deals has no such filter; it takes login, server/ })
    t.match(await refusal(viewer.query('deals', { login: 'abc' })), { code: 'BAD_FIELD', field: 'params.login', message: /must be an integer/ })
    t.match(await refusal(viewer.query('ticks', { symbol: 'EURUSD' })), { code: 'BAD_FIELD', field: 'params', message: /ticks needs symbol_id, or symbol \+ login/ })
    t.match(await refusal(viewer.query('deals', {}, { limit: 10_001 })), { code: 'BAD_FIELD', field: 'limit', message: /from 1 to 10000/ })
    t.match(await refusal(viewer.query('deals', {}, { cursor: 'garbage' })), { code: 'BAD_FIELD', field: 'cursor' })
    t.match(await refusal(viewer.query('accounts', {}, { cursor: first.nextCursor! })), { code: 'BAD_FIELD', field: 'cursor', message: /it pages deals, not accounts/ })
    t.match(await refusal(viewer.query('audit_logs')), { code: 'FORBIDDEN', message: /needs an admin token/ })
    const admin = await dashboard(t, url, tokens.admin)
    t.same((await admin.query('audit_logs')).rows, [], 'an admin may read the audit log')
    t.equal((await viewer.query('accounts')).rows.length, 2, 'the viewer session is still open after the refusals')
  })

  await eachBackend(t, 'every query of the catalogue runs on a migrated database', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const admin = await dashboard(t, engine.url!, tokens.admin)
    for (const def of QUERIES) {
      const params: Record<string, unknown> = {}
      for (const name of def.requireOneOf?.[0] ?? []) {
        const filter = def.filters.find((f) => f.name === name)!
        params[name] = filter.values?.[0] ?? (filter.type === 'string' ? 'x' : 1)
      }
      const page = await admin.query(def.name, params)
      t.same(page.columns, planQuery({ query: def.name, params }, 'admin').def.columns.map((c) => c.name).concat(def.name === 'ea_instances' ? ['online'] : []), `${def.name} runs and names its columns`)
      // every filter, and both orders with a cursor, are valid SQL on this backend
      const all: Record<string, unknown> = { ...params }
      for (const f of def.filters) all[f.name] ??= f.values?.[0] ?? (f.type === 'string' ? 'x' : f.type === 'bool' ? true : 1)
      for (const order of ['asc', 'desc'] as const) {
        const cursor = Buffer.from(JSON.stringify({ q: def.name, o: order, k: def.keys.map((k) => (def.columns.find((c) => c.name === k)!.type === 'string' ? 'x' : 1)) })).toString('base64url')
        t.same((await admin.query(def.name, all, { order, cursor, limit: 1 })).rows, [], `${def.name}: every filter at once, ${order}, after a cursor`)
      }
    }
  })
})

t.test('the SQL console over the protocol', async (t) => {
  await eachBackend(t, 'admin only, refusals with their reason code, a database error names it, a runaway statement is stopped', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend, { queryTimeoutMs: 2000, readers: 1 })
    const url = engine.url!
    const a = await ea(t, url, tokens.ea, 'sql-ea', 5101)
    for (let i = 1; i <= 4; i++) await a.send(deal(i, T0 + i * 1000, 40 + (i % 2)))
    await a.flushed()
    const admin = await dashboard(t, url, tokens.admin)
    const viewer = await dashboard(t, url, tokens.viewer)

    const grouped = await admin.sql('WITH d AS (SELECT magic, ticket FROM deals) SELECT magic, count(*) AS n, sum(ticket) AS s FROM d GROUP BY magic ORDER BY magic')
    t.same(grouped.columns, ['magic', 'n', 's'])
    t.same(grouped.rows.map((r) => r.map(Number)), [[40, 2, 6], [41, 2, 4]])
    t.equal(grouped.truncated, false)
    const limited = await admin.sql('SELECT ticket FROM deals ORDER BY ticket', { limit: 3 })
    t.same(limited.rows.map((r) => Number(r[0])), [1, 2, 3])
    t.equal(limited.truncated, true, 'more rows than the limit')

    t.match(await refusal(viewer.sql('SELECT 1')), { code: 'FORBIDDEN', message: /admin token/ })
    const refused = async (text: string, why: string) => {
      try {
        await admin.sql(text)
      } catch (err) {
        const frame = (err as ClientError).frame as { code: string; refusal?: string }
        t.same([frame.code, frame.refusal], ['SQL_REFUSED', why], `${text}: ${why}`)
        return
      }
      t.fail(`${text}: ran`)
    }
    await refused('DELETE FROM deals', 'SQL_NOT_SELECT')
    await refused('SELECT token_hash FROM tokens', 'SQL_FORBIDDEN_TABLE')
    await refused('SELECT 1; SELECT 2', 'SQL_NOT_ONE_STATEMENT')
    t.match(await refusal(admin.sql('SELECT no_such_column FROM deals')), { code: 'BAD_FIELD', field: 'sql', message: /no_such_column/ })

    const started = Date.now()
    const runaway = 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n'
    t.match(await refusal(admin.sql(runaway)), { code: 'QUERY_TIMEOUT' })
    t.ok(Date.now() - started < 10_000, `stopped near the 2000 ms timeout (${Date.now() - started} ms)`)
    t.same((await admin.sql('SELECT count(*) AS n FROM deals')).rows.map((r) => Number(r[0])), [4], 'the reader was replaced: the next statement runs')
    t.equal((await viewer.query('deals', { login: 5101 })).rows.length, 4, 'and typed queries too')
  })
})
