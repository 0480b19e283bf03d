/**
 * docs/QUERIES.md, rendered from the catalogue so that the page cannot drift from what the engine
 * serves (test/queries-doc.test.ts compares the two; `mt5-engine help queries` prints it).
 */
import { DEFAULT_LIMIT, MAX_LIMIT, QUERIES, type ColumnDef, type FilterDef, type QueryDef, type ValueType } from './catalogue.js'

/** Columns the engine adds to a query's declared ones, from what only the running engine knows. */
export const LIVE_COLUMNS: Readonly<Record<string, readonly (ColumnDef & { doc: string })[]>> = {
  ea_instances: [{ name: 'online', sql: '', type: 'bool', doc: 'whether the instance is connected now' }],
}

/** Every column of a query's rows, the live ones last (as QueryService sends them). */
export function resultColumns(def: QueryDef): readonly ColumnDef[] {
  return [...def.columns, ...(LIVE_COLUMNS[def.name] ?? [])]
}

const EXAMPLE_DAY = Date.UTC(2024, 10, 19)
const EXAMPLE_VALUES: Record<string, string | number> = {
  login: 5012345,
  server: 'ICMarketsSC-Demo',
  symbol: 'EURUSD',
  timeframe: 'M15',
  resolution: 'H1',
  from: EXAMPLE_DAY,
  command_id: 'c-7f3a',
}

const typeText: Record<ValueType, string> = { int: 'int', float: 'float', string: 'string', bool: 'bool', json: 'json', time: 'time (ms)' }

const code = (s: string | number) => `\`${s}\``
const cell = (s: string) => s.replace(/\|/g, '\\|')
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n')

/** The whole of docs/QUERIES.md. */
export function renderQueriesMarkdown(): string {
  return [intro(), index(), ...QUERIES.map(section)].join('\n\n') + '\n'
}

function intro(): string {
  return `<!-- Generated from src/query/catalogue.ts by src/query/docs.ts: do not edit by hand.
     Regenerate: npm run build && node dist/src/cli/main.js help queries > docs/QUERIES.md -->

# Typed queries

The engine answers ${QUERIES.length} typed queries, one per kind of thing it stores: a dashboard
runs them over its WebSocket ([PROTOCOL.md](PROTOCOL.md), \`query\`), curl, spreadsheets and
Grafana over HTTP (\`GET /api/v1/<query>\`). Both take the same filters and page the same way; each
query below lists its filters, its columns and one example. For anything else an admin has the
SQL console ([SECURITY.md](SECURITY.md#the-sql-console)); for live updates, subscriptions
([SUBSCRIPTIONS.md](SUBSCRIPTIONS.md)).

## Calling a query

### Over the protocol

After \`welcome\`, send a \`query\` map; the answer is one \`query_result\` with the same
\`request_id\`, or an \`error\` with it:

\`\`\`
-> {"type":"query","request_id":"r-1","query":"deals","params":{"login":5012345,"magic":42},"limit":100}
<- {"type":"query_result","request_id":"r-1","query":"deals","columns":["account_id","login",...],
    "rows":[[1,5012345,...],...],"next_cursor":"eyJxIjoiZGVhbHMi..."}
\`\`\`

\`params\` holds the filters by name (a nil one counts as absent); \`limit\`, \`cursor\` and \`order\`
are optional. Rows are arrays in \`columns\` order. From Node, the package's dashboard client does
this for you:

\`\`\`ts
const dashboard = await connectDashboard('ws://127.0.0.1:8787/v1', { token })
const page = await dashboard.query('deals', { login: 5012345, magic: 42 }, { limit: 100 })
page.rows[0].ticket            // rows as objects; page.nextCursor for the next page
for await (const rows of dashboard.queryAll('deals', { login: 5012345 })) { /* every page */ }
const q = typedQueries(dashboard)
const deals = await q.deals({ login: 5012345, magic: 42 }, { limit: 100 })   // typed rows
\`\`\`

### Over HTTP

\`GET /api/v1/<query>\` with a bearer token and the filters as query-string parameters, each given
once; \`limit\`, \`cursor\`, \`order\` and \`format\` are the same controls:

\`\`\`sh
curl -H "Authorization: Bearer $MT5E_TOKEN" 'http://127.0.0.1:8787/api/v1/deals?login=5012345&magic=42&limit=100'
\`\`\`

The answer is JSON, \`{"query", "columns", "rows", "next_cursor"}\`, with each row an object keyed
by column name; the \`X-Next-Cursor\` header repeats \`next_cursor\` when there is a next page.
Numbers and booleans are read from their text (\`true\`/\`1\`, \`false\`/\`0\`). \`HEAD\` works too;
other methods are refused (405): the API is read-only. \`GET /api/v1/openapi.json\` (no token needed)
describes every query in OpenAPI 3.0, for code generators and Grafana.

\`?format=csv\` answers \`text/csv\` instead (RFC 4180): a header line of column names, CRLF line
ends, fields quoted where they hold a comma, quote or line break, nil as an empty field, \`json\`
values as JSON text. A text value a spreadsheet would run as a formula (one starting with
\`=\`, \`+\`, \`-\`, \`@\`, a tab or a carriage return) gets a leading \`'\`; numbers never do.

### Pages and cursors

Pages are keyset pages. Rows come ordered by the query's **keys** (unique per row and never nil),
and a page that is not the last ends with \`next_cursor\`: an opaque string holding the last row's
keys. Send it back as \`cursor\`, with the same \`params\`, for the page after; the last page has a nil
\`next_cursor\` (\`null\` in JSON, no header). Because the next page starts right after the last row
seen rather than at an offset, rows inserted between pages are neither skipped nor repeated: a row
that sorts after the cursor shows up on a later page, one that sorts before it (a new deal, when
paging newest first) on the next first page.

A cursor pages only its own query, in its own order: give \`order\` again only with the value it
was made with, or leave it out. It does not hold the filters: send the same \`params\` with every
page (other ones page a different set of rows from that point).

### Limits and order

\`limit\` is the page size: ${DEFAULT_LIMIT} rows when absent, from 1 to ${MAX_LIMIT}, or to the larger
maximum a series query names (bars, ticks, account snapshots, the equity curve: a chart reads them
in one go). \`order\` is \`asc\` or \`desc\` by the keys; each query has its default: newest first for
feeds (deals, logs, notifications), oldest first for series (ticks, bars, snapshots). Some queries
need one set of their filters given in full (\`ticks\` needs \`symbol_id\`, or \`symbol\` and
\`login\`): a single series to page through, not every symbol's interleaved.

### Roles

\`viewer\` and \`admin\` tokens run every query, except those marked *admin only* (an admin's
actions, in \`audit_logs\`). An \`ea\` token streams and cannot read: its dashboard hello and its
HTTP requests are refused \`FORBIDDEN\`.

### Errors

A refused query changes nothing and the connection stays open. Over the protocol it is an
\`error\` frame with the \`request_id\`; over HTTP a JSON body \`{"error": {"code", "message",
"field"}}\` with a status:

${table(
    ['Code', 'HTTP', 'When'],
    [
      ['`BAD_FIELD`', '400', '`field` names what is wrong: `params.<name>` (a filter the query does not take, or a value of the wrong type or not allowed), `params` (a required set of filters missing), `limit`, `cursor` (not a cursor of this query), `order`, `format`'],
      ['`BAD_FIELD`', '404', '`field` `query`: no query of that name; the message lists them'],
      ['`AUTH_FAILED`', '401', 'HTTP: no token, or an unknown, revoked or expired one (answered after a growing delay)'],
      ['`FORBIDDEN`', '403', 'the token may not read this: an admin-only query for a viewer, or an `ea` token'],
      ['`QUERY_TIMEOUT`', '504', 'the query ran past the engine\'s `queryTimeoutMs` (default 10 s) and was stopped: narrow it with filters or a smaller `limit`'],
      ['`BUSY`', '503', 'every reader is busy and as many reads wait as may: nothing was run; retry shortly'],
      ['`STORAGE_FAILED`', '503', 'the database failed the read'],
    ],
  )}

Every code is in [ERRORS.md](ERRORS.md).

### Values and times

Values come as MessagePack (JSON over HTTP) ints, floats, strings, booleans and nil; \`json\` columns
as the map or array they hold. Any column may be nil except the keys.

Times are integers in milliseconds since 1970, in results and in filters alike. Over HTTP a time
filter may also be an ISO 8601 date (\`from=2024-11-19T09:00:00Z\`); give it a zone (\`Z\`), since a
date-time without one is read in the engine machine's local time. Market and trade times
(\`time_msc\`, \`open_time_msc\`, \`time_setup_msc\`, ...) are the broker's server time as the EA
sent it, and filters compare with them as stored: 09:00 on the broker's clock is
\`2024-11-19T09:00:00Z\`. Engine times (\`first_seen_at\`, \`created_at\`, \`received_at\`, ...) are
real UTC. \`from\` is inclusive, \`to\` exclusive.`
}

function index(): string {
  return `## The queries\n\n${QUERIES.map((q) => `- [\`${q.name}\`](#${q.name}): ${q.doc}`).join('\n')}`
}

function section(def: QueryDef): string {
  const maxLimit = def.maxLimit ?? MAX_LIMIT
  const parts = [`### ${def.name}`, def.doc]
  if (def.admin) parts.push('*Admin only*: a viewer token is refused `FORBIDDEN`.')
  if (def.requireOneOf) parts.push(`Needs ${def.requireOneOf.map((set) => set.map(code).join(' + ')).join(', or ')}.`)
  parts.push(
    def.filters.length === 0 ? 'No filters.' : `Filters:\n\n${table(['Filter', 'Type', 'Values', 'Meaning'], def.filters.map(filterRow))}`,
    `Columns:\n\n${table(['Column', 'Type'], resultColumns(def).map(columnRow(def)))}`,
    `Keys ${def.keys.map(code).join(', ')}, in \`${def.order}\` order by default; limit ${Math.min(DEFAULT_LIMIT, maxLimit)} by default, ${maxLimit} at most.`,
    example(def),
  )
  return parts.join('\n\n')
}

function filterRow(f: FilterDef): string[] {
  const values = f.values ? f.values.map(code).join(', ') : f.type === 'time' ? 'ms; ISO 8601 over HTTP' : f.type === 'bool' ? '`true`, `false`' : ''
  return [code(f.name), f.type, values, f.doc]
}

function columnRow(def: QueryDef) {
  return (c: ColumnDef): string[] => {
    const notes = [def.keys.includes(c.name) ? 'key' : '', LIVE_COLUMNS[def.name]?.find((l) => l.name === c.name)?.doc ?? ''].filter((n) => n !== '')
    return [code(c.name), typeText[c.type] + (notes.length > 0 ? `: ${notes.join(', ')}` : '')]
  }
}

/** The example's filters: a required set, the account and a start time, where the query takes them. */
function exampleParams(def: QueryDef): Record<string, string | number | boolean> {
  const takes = (name: string) => def.filters.some((f) => f.name === name)
  const names = new Set<string>(def.requireOneOf?.[0] ?? [])
  for (const n of ['login', 'from']) if (takes(n)) names.add(n)
  if (names.size === 0 && def.filters[0]) names.add(def.filters[0].name)
  const params: Record<string, string | number | boolean> = {}
  for (const f of def.filters) if (names.has(f.name)) params[f.name] = exampleValue(f)
  return params
}

function exampleValue(f: FilterDef): string | number | boolean {
  const known = EXAMPLE_VALUES[f.name]
  if (known !== undefined) return known
  if (f.values) return f.values[0]!
  return f.type === 'bool' ? true : f.type === 'string' ? 'example' : f.type === 'time' ? EXAMPLE_DAY : 1
}

function example(def: QueryDef): string {
  const params = exampleParams(def)
  const message = { type: 'query', request_id: 'r-1', query: def.name, params, limit: 100 }
  const text = (f: string, v: string | number | boolean) => (def.filters.find((x) => x.name === f)?.type === 'time' ? new Date(v as number).toISOString().replace('.000Z', 'Z') : String(v))
  const search = [...Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(text(k, v)).replace(/%3A/g, ':')}`), 'limit=100'].join('&')
  return [
    'Example:',
    '',
    '```',
    JSON.stringify(message),
    `curl -H "Authorization: Bearer $MT5E_TOKEN" 'http://127.0.0.1:8787/api/v1/${def.name}?${search}'`,
    '```',
  ].join('\n')
}
