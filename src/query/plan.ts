/**
 * From a typed query's declaration (catalogue.ts) and a request to one SQL statement with bound
 * parameters: the filters given, the keyset condition of the cursor, the order and the limit.
 * Pure: the request is checked here, so that a bad one is refused before any worker sees it.
 *
 * Pages are keyset pages: rows come ordered by the query's keys and a page ends with a cursor
 * holding the last row's keys, so that the next page starts right after it whatever was inserted
 * meanwhile (an offset would skip or repeat rows).
 */
import { ProtocolError } from '../protocol/codec.js'
import { ProtocolErrors } from '../protocol/messages.js'
import { DEFAULT_LIMIT, MAX_LIMIT, QUERY_BY_NAME, type FilterDef, type QueryDef, type ValueType } from './catalogue.js'

export interface QueryRequest {
  query: string
  params?: Record<string, unknown>
  limit?: number
  cursor?: string
  order?: 'asc' | 'desc'
}

export interface QueryPlan {
  def: QueryDef
  sql: string
  values: unknown[]
  limit: number
  order: 'asc' | 'desc'
  /** Where each key is among the result columns. */
  keyIndexes: number[]
}

/** What a cursor holds: the query it pages, its order, and the last row's keys. */
interface CursorState {
  q: string
  o: 'asc' | 'desc'
  k: unknown[]
}

const bad = (field: string, message: string) => new ProtocolError(ProtocolErrors.BAD_FIELD, message, field)

/**
 * Checks a request against its query and builds the statement. `text` says the parameter values
 * came as text (an HTTP query string): numbers and booleans are then parsed from it.
 */
export function planQuery(request: QueryRequest, role: 'viewer' | 'admin', text = false): QueryPlan {
  const def = QUERY_BY_NAME.get(request.query)
  if (def === undefined) throw bad('query', `query: "${String(request.query).slice(0, 64)}" is not a query; the queries are ${[...QUERY_BY_NAME.keys()].join(', ')}`)
  if (def.admin && role !== 'admin') throw new ProtocolError(ProtocolErrors.FORBIDDEN, `query ${def.name} needs an admin token`, 'query')
  const maxLimit = def.maxLimit ?? MAX_LIMIT
  const limit = request.limit ?? Math.min(DEFAULT_LIMIT, maxLimit)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > maxLimit) throw bad('limit', `limit: must be an integer from 1 to ${maxLimit} for ${def.name} (got ${String(request.limit)})`)
  let order = request.order ?? def.order
  if (order !== 'asc' && order !== 'desc') throw bad('order', `order: must be asc or desc (got ${String(order)})`)

  const conditions: string[] = def.where ? [def.where] : []
  const values: unknown[] = []
  const bind = (sql: string, value: unknown) => conditions.push(sql.replace('?', () => `$${values.push(value)}`))

  const params = request.params ?? {}
  const given = new Set<string>()
  for (const [name, raw] of Object.entries(params)) {
    if (raw === undefined || raw === null) continue
    const filter = def.filters.find((f) => f.name === name)
    if (filter === undefined) {
      throw bad(`params.${name}`, `params.${name}: ${def.name} has no such filter; it takes ${def.filters.map((f) => f.name).join(', ') || 'none'}`)
    }
    const value = readValue(filter, raw, text)
    given.add(name)
    if (filter.type === 'bool') conditions.push(value ? filter.sql : (filter.sqlFalse ?? `NOT (${filter.sql})`))
    else bind(filter.sql, value)
  }
  if (def.requireOneOf && !def.requireOneOf.some((set) => set.every((n) => given.has(n)))) {
    throw bad('params', `params: ${def.name} needs ${def.requireOneOf.map((set) => set.join(' + ')).join(', or ')}`)
  }

  const keyIndexes = def.keys.map((k) => def.columns.findIndex((c) => c.name === k))
  const keySql = keyIndexes.map((i) => def.columns[i]!.sql)
  if (request.cursor !== undefined) {
    const state = readCursor(request.cursor, def)
    if (request.order !== undefined && request.order !== state.o) throw bad('order', `order: the cursor pages ${state.o}; leave order out, or start again without the cursor`)
    order = state.o
    const placeholders = state.k.map((k) => `$${values.push(k)}`)
    conditions.push(`(${keySql.join(', ')}) ${order === 'asc' ? '>' : '<'} (${placeholders.join(', ')})`)
  }

  const select = def.columns.map((c) => `${c.sql} AS "${c.name}"`).join(', ')
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''
  const orderBy = keySql.map((k) => `${k} ${order === 'asc' ? 'ASC' : 'DESC'}`).join(', ')
  // one row more than the page: whether there is a next page, without counting
  const sql = `SELECT ${select} FROM ${def.from}${where} ORDER BY ${orderBy} LIMIT ${limit + 1}`
  return { def, sql, values, limit, order, keyIndexes }
}

/** What shaping a page's rows into an answer needs: plain data, so that a reader thread can do it. */
export interface AnswerPlan {
  query: string
  order: 'asc' | 'desc'
  limit: number
  columns: string[]
  types: ValueType[]
  keyIndexes: number[]
}

export function answerPlan(plan: QueryPlan): AnswerPlan {
  return { query: plan.def.name, order: plan.order, limit: plan.limit, columns: plan.def.columns.map((c) => c.name), types: plan.def.columns.map((c) => c.type), keyIndexes: plan.keyIndexes }
}

/** One page, as the protocol and the HTTP API answer it. */
export interface QueryAnswer {
  query: string
  columns: string[]
  rows: unknown[][]
  /** Where the next page starts; null on the last page. */
  next_cursor: string | null
}

/**
 * A page from the rows read (the plan reads one more than `limit`, to know whether a next page
 * exists): values shaped, the cursor after the last row, and for ea_instances whether each
 * instance is connected now (`online`, which only the running engine knows). In place.
 */
export function shapeAnswer(plan: AnswerPlan, rows: unknown[][], isOnline?: (streamId: number) => boolean): QueryAnswer {
  const more = rows.length > plan.limit
  if (more) rows.length = plan.limit
  shapeRows(plan.types, rows)
  const next = more ? cursorAfter(plan, rows[rows.length - 1]!) : null
  const columns = [...plan.columns]
  if (plan.query === 'ea_instances') {
    columns.push('online')
    for (const row of rows) row.push(isOnline?.(row[0] as number) ?? false)
  }
  return { query: plan.query, columns, rows, next_cursor: next }
}

/** The cursor after `row`, the last of a page. */
export function cursorAfter(plan: Pick<AnswerPlan, 'query' | 'order' | 'keyIndexes'>, row: readonly unknown[]): string {
  const state: CursorState = { q: plan.query, o: plan.order, k: plan.keyIndexes.map((i) => row[i]) }
  return Buffer.from(JSON.stringify(state)).toString('base64url')
}

function readCursor(cursor: unknown, def: QueryDef): CursorState {
  const refuse = (why: string) => bad('cursor', `cursor: ${why}; use the next_cursor of the page before, unchanged`)
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 4096) throw refuse('not a cursor string')
  let state: CursorState
  try {
    state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as CursorState
  } catch {
    throw refuse('not a cursor of this engine')
  }
  if (state === null || typeof state !== 'object' || !Array.isArray(state.k)) throw refuse('not a cursor of this engine')
  if (state.q !== def.name) throw refuse(`it pages ${String(state.q)}, not ${def.name}`)
  if (state.o !== 'asc' && state.o !== 'desc') throw refuse('its order is unreadable')
  if (state.k.length !== def.keys.length || state.k.some((k) => typeof k !== 'number' && typeof k !== 'string')) throw refuse('its keys are unreadable')
  return state
}

function readValue(filter: FilterDef, raw: unknown, text: boolean): unknown {
  const at = `params.${filter.name}`
  const want = (what: string) => bad(at, `${at}: must be ${what} (got ${describe(raw)})`)
  let value: unknown = raw
  switch (filter.type) {
    case 'int':
    case 'time':
      if (text && typeof raw === 'string') value = /^-?\d+$/.test(raw) ? Number(raw) : filter.type === 'time' ? Date.parse(raw) : NaN
      if (!Number.isSafeInteger(value)) throw want(filter.type === 'time' ? 'a time in ms since 1970 (or, over HTTP, an ISO 8601 date)' : 'an integer')
      return value
    case 'float':
      if (text && typeof raw === 'string') value = Number(raw)
      if (typeof value !== 'number' || !Number.isFinite(value)) throw want('a number')
      return value
    case 'bool':
      if (text && typeof raw === 'string') value = raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw
      if (typeof value !== 'boolean') throw want('true or false')
      return value
    case 'string':
    case 'json':
      if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw want('a string of 1 to 256 characters')
      if (filter.values && !filter.values.includes(value)) throw want(`one of ${filter.values.join(', ')}`)
      return value
  }
}

function describe(x: unknown): string {
  if (typeof x === 'string') return `"${x.slice(0, 40)}"`
  if (x === null || typeof x !== 'object') return String(x)
  return Array.isArray(x) ? 'an array' : 'a map'
}

/**
 * The result's values as the protocol carries them: `bool` columns as booleans (SQLite and the
 * schema keep 0/1), `json` columns parsed (SQLite keeps their text). In place.
 */
export function shapeRows(types: readonly ValueType[], rows: unknown[][]): void {
  const bools: number[] = []
  const jsons: number[] = []
  types.forEach((t, i) => (t === 'bool' ? bools.push(i) : t === 'json' ? jsons.push(i) : undefined))
  if (bools.length === 0 && jsons.length === 0) return
  for (const row of rows) {
    for (const i of bools) if (row[i] !== null) row[i] = row[i] === true || row[i] === 1 || row[i] === 1n
    for (const i of jsons) {
      const v = row[i]
      if (typeof v === 'string') {
        try {
          row[i] = JSON.parse(v)
        } catch {
          // the schema checks json_valid: text that is not JSON stays as it is
        }
      }
    }
  }
}
