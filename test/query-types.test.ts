/**
 * The typed SDK: src/client/query-types.ts is exactly what the catalogue renders, and
 * typedQueries() runs every query of the catalogue as a method whose rows have those types,
 * against a real engine.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { connectDashboard } from '../src/client/dashboard-client.js'
import { connectEA } from '../src/client/ea-client.js'
import type { DealsRow, EaInstancesRow, QueryTypes } from '../src/client/query-types.js'
import { typedQueries, type TypedQueries } from '../src/client/typed-queries.js'
import { ClientError } from '../src/errors.js'
import { QUERIES } from '../src/query/catalogue.js'
import { REGENERATE_QUERY_TYPES, renderQueryTypes, typeName } from '../src/query/sdk-types.js'
import { account, deal, makeTokens, startTestEngine } from './engine-helpers.js'
import { repoRoot, sqliteBackend } from './helpers.js'

const T0 = Date.UTC(2024, 10, 19, 9, 0)

t.test('src/client/query-types.ts is the one rendered from src/query/catalogue.ts', async (t) => {
  const committed = readFileSync(join(repoRoot, 'src', 'client', 'query-types.ts'), 'utf8')
  t.ok(committed === renderQueryTypes(), `src/client/query-types.ts differs from the query catalogue: run \`${REGENERATE_QUERY_TYPES}\` and commit the result`)
})

t.test('the types follow the catalogue: keys never null, other columns nullable, enumerations as unions', async (t) => {
  const source = renderQueryTypes()
  for (const def of QUERIES) {
    t.match(source, `  ${def.name}: { params: ${typeName(def.name)}Params; row: ${typeName(def.name)}Row }`, `${def.name} is in QueryTypes`)
  }
  t.match(source, /interface DealsRow \{\n {2}account_id: number\n {2}login: number \| null\n/)
  t.match(source, "  entry?: 'in' | 'out' | 'inout' | 'out_by'")
  t.match(source, /\n {2}last_error: number \| null\n {2}online: boolean\n\}/, 'ea_instances rows end with online, never null')
  t.match(source, /\n {2}risk_config: unknown\n/, 'a json column is unknown')
})

// Never called: tsc checks that the types refuse what the engine would (the build fails otherwise).
export function typesRefuseWrongCalls(q: TypedQueries): void {
  // @ts-expect-error entry is one of in, out, inout, out_by
  void q.deals({ entry: 'sideways' })
  // @ts-expect-error deals has no filter named symbol_id
  void q.deals({ symbol_id: 1 })
  // @ts-expect-error login is a number
  void q.accounts({ login: '5001' })
  const row = {} as QueryTypes['ticks']['row']
  // @ts-expect-error a nullable column must be checked before use as a number
  const bid: number = row.bid
  void bid
}

t.test('typedQueries runs each query of the catalogue as a method with typed rows', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await startTestEngine(t, backend)
  const ea = await connectEA(engine.url!, { token: tokens.ea, instanceId: 'typed-ea', account: account(5001), ea: { name: 'TypedEA', magic: 42 }, minDelayMs: 20, maxDelayMs: 200 })
  t.teardown(() => ea.close())
  await ea.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001 })
  for (let i = 1; i <= 6; i++) await ea.send(deal(i, T0 + i * 60_000, i % 3 === 0 ? 7 : 42))
  await ea.flushed()
  const dashboard = await connectDashboard(engine.url!, { token: tokens.viewer })
  t.teardown(() => dashboard.close())

  const q = typedQueries(dashboard)
  t.same(Object.keys(q), QUERIES.map((d) => d.name), 'one method per query, by its name')

  const first = await q.deals({ login: 5001, magic: 42 }, { limit: 3 })
  const tickets: number[] = first.rows.map((r: DealsRow) => r.ticket)
  t.same(tickets, [5, 4, 2], 'newest first, magic 42 only, one page of 3')
  const row = first.rows[0]!
  const commission: number | null = row.commission
  t.same([row.login, row.symbol, row.volume, commission, row.magic], [5001, 'EURUSD', 0.1, -0.35, 42], 'values of their declared types')
  t.type(first.nextCursor, 'string', 'a cursor to the next page')
  const next = await q.deals({ login: 5001, magic: 42 }, { limit: 3, cursor: first.nextCursor! })
  t.same(next.rows.map((r) => r.ticket), [1], 'the next page through the same method')
  t.equal(next.nextCursor, null)

  const instances = await q.ea_instances({ login: 5001 })
  const online: boolean = instances.rows[0]!.online
  t.same(instances.rows.map((r: EaInstancesRow) => [r.instance_id, r.magic, online]), [['typed-ea', 42, true]], 'with the live online column')

  const refused = await q.ticks({}).catch((err: unknown) => err)
  t.ok(refused instanceof ClientError, 'a refusal rejects as dashboard.query does')
  t.equal((refused as ClientError).code, 'BAD_FIELD')
  t.match((refused as ClientError).message, 'ticks needs symbol_id, or symbol + login')
})
