/**
 * The HTTP API against a real engine on both backends: bearer tokens and roles, JSON and CSV,
 * cursors across pages, errors as JSON with the protocol's codes, and the OpenAPI document.
 */
import t from 'tap'
import { connectEA } from '../src/client/ea-client.js'
import { toCsv } from '../src/gateway/http/api.js'
import { QUERIES } from '../src/query/catalogue.js'
import { account, deal, makeTokens, startTestEngine } from './engine-helpers.js'
import { eachBackend } from './helpers.js'

const T0 = Date.UTC(2024, 10, 19, 9, 0)

t.test('CSV: quoted where needed, nil empty, maps as JSON, formulas defused', async (t) => {
  t.equal(
    toCsv({ columns: ['a', 'b', 'c', 'd'], rows: [[1, 'x,y', null, { k: 'v' }], [-2.5, 'say "hi"', 'line\nbreak', '=HYPERLINK("x")']] }),
    'a,b,c,d\r\n1,"x,y",,"{""k"":""v""}"\r\n-2.5,"say ""hi""","line\nbreak","\'=HYPERLINK(""x"")"\r\n',
  )
})

t.test('the HTTP API on both backends', async (t) => {
  await eachBackend(t, 'GET /api/v1/<query>: tokens, roles, JSON, CSV, pages, errors', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const base = `http://127.0.0.1:${engine.port}/api/v1`
    const ea = await connectEA(engine.url!, { token: tokens.ea, instanceId: 'http-ea', account: account(6001), ea: { name: 'HttpEA', magic: 42 }, minDelayMs: 20, maxDelayMs: 200 })
    t.teardown(() => ea.close())
    for (let i = 1; i <= 7; i++) await ea.send(deal(i, T0 + i * 1000))
    await ea.flushed()
    const get = (path: string, token: string | null = tokens.viewer) => fetch(`${base}${path}`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } })

    const res = await get('/deals?login=6001&limit=3')
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^application\/json/)
    const page = (await res.json()) as { query: string; rows: { ticket: number; login: number; symbol: string }[]; next_cursor: string | null }
    t.same(page.rows.map((r) => [r.ticket, r.login, r.symbol]), [[7, 6001, 'EURUSD'], [6, 6001, 'EURUSD'], [5, 6001, 'EURUSD']], 'rows as objects, newest first')
    t.equal(res.headers.get('x-next-cursor'), page.next_cursor, 'the cursor is in a header too')
    const next = (await (await get(`/deals?login=6001&limit=3&cursor=${encodeURIComponent(page.next_cursor!)}`)).json()) as typeof page
    t.same(next.rows.map((r) => r.ticket), [4, 3, 2])

    const ranged = (await (await get(`/deals?login=6001&from=${new Date(T0 + 2000).toISOString()}&to=${T0 + 4000}&order=asc`)).json()) as typeof page
    t.same(ranged.rows.map((r) => r.ticket), [2, 3], 'from as an ISO date, to in ms, oldest first')

    const csv = await get('/deals?login=6001&limit=2&format=csv')
    t.equal(csv.status, 200)
    t.match(csv.headers.get('content-type'), /^text\/csv/)
    const lines = (await csv.text()).trimEnd().split('\r\n')
    t.equal(lines[0], QUERIES.find((q) => q.name === 'deals')!.columns.map((c) => c.name).join(','), 'a header line of the columns')
    t.equal(lines.length, 3)
    t.match(lines[1], /^\d+,6001,MetaQuotes-Demo,7,/)

    const error = async (path: string, token: string | null, status: number, code: string, field?: string) => {
      const r = await get(path, token)
      t.equal(r.status, status, `${path}: HTTP ${status}`)
      const body = (await r.json()) as { error: { code: string; message: string; field?: string } }
      t.equal(body.error.code, code, `${path}: ${code}`)
      if (field !== undefined) t.equal(body.error.field, field)
      t.ok(body.error.message.length > 10, `${path}: a message that says what was wrong (${body.error.message})`)
    }
    await error('/deals', null, 401, 'AUTH_FAILED')
    await error('/deals', 'not-a-token', 401, 'AUTH_FAILED')
    await error('/deals', tokens.ea, 403, 'FORBIDDEN')
    await error('/audit_logs', tokens.viewer, 403, 'FORBIDDEN')
    await error('/no_such', tokens.viewer, 404, 'BAD_FIELD', 'query')
    await error('/deals?login=x', tokens.viewer, 400, 'BAD_FIELD', 'params.login')
    await error('/deals?login=1&login=2', tokens.viewer, 400, 'BAD_FIELD', 'login')
    await error('/deals?limit=-1', tokens.viewer, 400, 'BAD_FIELD', 'limit')
    await error('/deals?format=xml', tokens.viewer, 400, 'BAD_FIELD', 'format')
    await error('/ticks?symbol=EURUSD', tokens.viewer, 400, 'BAD_FIELD', 'params')
    const post = await fetch(`${base}/deals`, { method: 'POST', headers: { authorization: `Bearer ${tokens.admin}` } })
    t.equal(post.status, 405)
    t.equal(post.headers.get('allow'), 'GET, HEAD')
    t.equal((await get('/audit_logs', tokens.admin)).status, 200, 'an admin reads the audit log')

    const openapi = (await (await get('/openapi.json', null)).json()) as { openapi: string; servers: { url: string }[]; paths: Record<string, { get: { parameters: { name: string }[] } }> }
    t.equal(openapi.openapi, '3.0.3')
    t.equal(openapi.servers[0]!.url, base)
    t.same(Object.keys(openapi.paths), QUERIES.map((q) => `/${q.name}`), 'a path per query')
    t.ok(openapi.paths['/deals']!.get.parameters.some((p) => p.name === 'magic'), 'with its filters')

    const other = await fetch(`http://127.0.0.1:${engine.port}/elsewhere`)
    t.equal(other.status, 426, 'other paths still point to the WebSocket')
  })
})
