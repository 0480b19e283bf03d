/**
 * The HTTP API: the typed queries as `GET /api/v1/<query>`, for curl, spreadsheets and Grafana's
 * JSON data sources. A bearer token of role viewer or admin (ea tokens stream, they do not read),
 * the same filters as the protocol's `query` as query-string parameters, JSON by default and
 * `?format=csv`. Errors are JSON with the protocol's codes. `GET /api/v1/openapi.json` describes it
 * all (openapi.ts).
 *
 * A token that was checked is remembered for TOKEN_CACHE_MS, so that a dashboard polling every
 * second does not make the writer look it up each time: a revoked token is refused here within
 * that time. An unknown token is answered after the same growing delay as a refused hello.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ProtocolError } from '../../protocol/codec.js'
import { ProtocolErrors, type ProtocolErrorCode } from '../../protocol/messages.js'
import type { QueryAnswer } from '../../query/service.js'
import type { AuthResult } from '../../workers/tasks.js'
import type { Deps } from '../options.js'
import { openApiDocument } from './openapi.js'

export const API_PREFIX = '/api/v1/'
const TOKEN_CACHE_MS = 10_000
const TOKEN_CACHE_SIZE = 1000
/** Query-string names that are not a query's filters. */
const CONTROLS = new Set(['limit', 'cursor', 'order', 'format'])

const STATUS: Partial<Record<ProtocolErrorCode, number>> = {
  BAD_FIELD: 400,
  BAD_MESSAGE: 400,
  AUTH_FAILED: 401,
  FORBIDDEN: 403,
  QUERY_TIMEOUT: 504,
  BUSY: 503,
  STORAGE_FAILED: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
}

export class HttpApi {
  readonly #tokens = new Map<string, { auth: AuthResult | null; at: number }>()

  constructor(
    readonly deps: Deps,
    /** Where the API is served, for the OpenAPI document's `servers`. */
    readonly base: () => string,
  ) {}

  /** Serves `req` when its path is the API's; false when it is not. */
  handles(req: IncomingMessage): boolean {
    return (req.url ?? '').startsWith(API_PREFIX)
  }

  async serve(req: IncomingMessage, res: ServerResponse, address: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://engine')
    const name = url.pathname.slice(API_PREFIX.length)
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD')
        return this.#error(res, 405, ProtocolErrors.BAD_MESSAGE, `${req.method} is not served here: the API is read-only GET`)
      }
      if (name === 'openapi.json') return this.#json(res, 200, openApiDocument(this.base()))
      const auth = await this.#authenticate(req, address)
      if (auth.role === 'ea') throw new ProtocolError(ProtocolErrors.FORBIDDEN, 'an ea token streams; reading needs a viewer or admin token')
      const { params, limit, cursor, order, format } = readQueryString(url.searchParams)
      // a query may run up to its timeout: the socket must not be given up on before
      req.socket.setTimeout(this.deps.queries.readers.timeoutMs + 5000)
      const answer = await this.deps.queries.run(
        { query: name, params, ...(limit !== undefined && { limit: Number(limit) }), ...(cursor !== undefined && { cursor }), ...(order !== undefined && { order: order as 'asc' }) },
        auth.role,
        true,
      )
      if (answer.next_cursor !== null) res.setHeader('x-next-cursor', answer.next_cursor)
      if (format === 'csv') return this.#send(res, 200, 'text/csv; charset=utf-8', toCsv(answer))
      return this.#json(res, 200, { query: answer.query, columns: answer.columns, rows: asObjects(answer), next_cursor: answer.next_cursor })
    } catch (err) {
      if (err instanceof ProtocolError) {
        const status = err.field === 'query' && err.code === ProtocolErrors.BAD_FIELD ? 404 : (STATUS[err.code] ?? 400)
        return this.#error(res, status, err.code, err.message, err.field)
      }
      this.deps.log.error({ err, path: url.pathname }, 'an API request failed: answered INTERNAL')
      return this.#error(res, 500, ProtocolErrors.INTERNAL, (err as Error).message)
    }
  }

  async #authenticate(req: IncomingMessage, address: string): Promise<AuthResult> {
    const header = req.headers.authorization ?? ''
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    const refuse = async (why: string) => {
      await new Promise((resolve) => setTimeout(resolve, this.deps.admission.authFailed(address)))
      return new ProtocolError(ProtocolErrors.AUTH_FAILED, why)
    }
    if (match === null) throw await refuse(header === '' ? 'no token: send Authorization: Bearer <token>' : 'the Authorization header is not "Bearer <token>"')
    const token = match[1]!
    const now = Date.now()
    let known = this.#tokens.get(token)
    if (known === undefined || now - known.at > TOKEN_CACHE_MS) {
      const result = await this.deps.pool.authenticate(token)
      if (!result.ok) throw new ProtocolError(ProtocolErrors.STORAGE_FAILED, `could not check the token: ${result.error.message}`)
      if (this.#tokens.size >= TOKEN_CACHE_SIZE) this.#tokens.clear()
      known = { auth: result.value, at: now }
      this.#tokens.set(token, known)
    }
    if (known.auth === null) {
      this.#tokens.delete(token)
      throw await refuse('unknown, revoked or expired token')
    }
    return known.auth
  }

  #error(res: ServerResponse, status: number, code: ProtocolErrorCode, message: string, field?: string): void {
    this.#json(res, status, { error: { code, message, ...(field !== undefined && { field }) } })
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    this.#send(res, status, 'application/json; charset=utf-8', JSON.stringify(body))
  }

  #send(res: ServerResponse, status: number, type: string, body: string): void {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) })
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }
}

function readQueryString(search: URLSearchParams): { params: Record<string, string>; limit?: string; cursor?: string; order?: string; format?: string } {
  const params: Record<string, string> = {}
  const controls: Record<string, string> = {}
  for (const key of new Set(search.keys())) {
    const values = search.getAll(key)
    if (values.length > 1) throw new ProtocolError(ProtocolErrors.BAD_FIELD, `${key}: given ${values.length} times; give it once`, key)
    if (CONTROLS.has(key)) controls[key] = values[0]!
    else params[key] = values[0]!
  }
  if (controls.limit !== undefined && !/^\d+$/.test(controls.limit)) throw new ProtocolError(ProtocolErrors.BAD_FIELD, `limit: must be a whole number (got "${controls.limit.slice(0, 40)}")`, 'limit')
  if (controls.format !== undefined && controls.format !== 'json' && controls.format !== 'csv') {
    throw new ProtocolError(ProtocolErrors.BAD_FIELD, `format: must be json or csv (got "${controls.format.slice(0, 40)}")`, 'format')
  }
  return { params, ...controls }
}

function asObjects(answer: QueryAnswer): Record<string, unknown>[] {
  return answer.rows.map((row) => {
    const o: Record<string, unknown> = {}
    answer.columns.forEach((c, i) => (o[c] = row[i]))
    return o
  })
}

/**
 * RFC 4180: a header line, CRLF line ends, fields quoted where they hold a comma, quote or line
 * break. A text value that a spreadsheet would run as a formula (it starts with = + - @, a tab or
 * a carriage return: an EA's comment, say) gets a leading `'`, as OWASP advises; numbers never do.
 */
export function toCsv(answer: Pick<QueryAnswer, 'columns' | 'rows'>): string {
  const field = (v: unknown): string => {
    if (v === null || v === undefined) return ''
    let s = typeof v === 'object' ? JSON.stringify(v) : String(v)
    if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  const lines = [answer.columns.map(field).join(',')]
  for (const row of answer.rows) lines.push(row.map(field).join(','))
  return lines.join('\r\n') + '\r\n'
}
