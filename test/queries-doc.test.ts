/**
 * docs/QUERIES.md is rendered from the query catalogue: the committed page must be exactly that
 * rendering, and every example in it must be a request the engine accepts.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { QUERIES } from '../src/query/catalogue.js'
import { renderQueriesMarkdown } from '../src/query/docs.js'
import { planQuery, type QueryRequest } from '../src/query/plan.js'
import { repoRoot, runCliProcess, tempDir } from './helpers.js'

const REGENERATE = 'npm run build && node dist/src/cli/main.js help queries > docs/QUERIES.md'
const page = renderQueriesMarkdown()

t.test('docs/QUERIES.md is the one rendered from src/query/catalogue.ts', async (t) => {
  const committed = readFileSync(join(repoRoot, 'docs', 'QUERIES.md'), 'utf8')
  t.ok(committed === page, `docs/QUERIES.md differs from the query catalogue: run \`${REGENERATE}\` and commit the result`)
})

t.test('help queries prints that same page', async (t) => {
  const r = await runCliProcess(['help', 'queries'], { cwd: tempDir(t) })
  t.equal(r.code, 0, r.stderr)
  t.ok(r.stdout === page, 'the output is renderQueriesMarkdown() byte for byte')
})

t.test('every query has its section, with its filters and columns', async (t) => {
  for (const def of QUERIES) {
    const from = page.indexOf(`\n### ${def.name}\n`)
    t.ok(from > 0, `${def.name} has a section`)
    const next = page.indexOf('\n### ', from + 1)
    const body = page.slice(from, next < 0 ? undefined : next)
    for (const f of def.filters) t.match(body, `| \`${f.name}\` | ${f.type} |`, `${def.name}: filter ${f.name}`)
    for (const c of def.columns) t.match(body, `| \`${c.name}\` | `, `${def.name}: column ${c.name}`)
    t.equal(def.admin === true, body.includes('*Admin only*'), `${def.name}: admin note only where admin`)
  }
})

t.test("every example is a request the engine accepts, over the protocol and over HTTP", async (t) => {
  const messages = [...page.matchAll(/^(\{"type":"query".*\})$/gm)].map((m) => JSON.parse(m[1]!) as QueryRequest & { type: string; request_id: string })
  const urls = [...page.matchAll(/^curl .* '(http:\/\/[^']+)'$/gm)].map((m) => new URL(m[1]!))
  t.same(messages.map((m) => m.query), QUERIES.map((q) => q.name), 'one example per query, in catalogue order')
  t.equal(urls.length, QUERIES.length + 1, 'and its curl line (plus the one of the introduction)')
  for (const { type: _, request_id: __, ...request } of messages) {
    t.doesNotThrow(() => planQuery(request, 'admin'), `${request.query} over the protocol`)
  }
  for (const url of urls) {
    const name = url.pathname.replace('/api/v1/', '')
    const params = Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'limit'))
    t.doesNotThrow(() => planQuery({ query: name, params, limit: Number(url.searchParams.get('limit')) }, 'admin', true), `${name} over HTTP`)
  }
})
