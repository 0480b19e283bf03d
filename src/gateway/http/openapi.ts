/**
 * The OpenAPI 3.0 description of the HTTP API, built from the query catalogue, so that it cannot
 * drift from what the engine serves.
 */
import { DEFAULT_LIMIT, MAX_LIMIT, QUERIES, type ValueType } from '../../query/catalogue.js'

const schemaOf: Record<ValueType, Record<string, unknown>> = {
  int: { type: 'integer' },
  float: { type: 'number' },
  string: { type: 'string' },
  bool: { type: 'boolean' },
  json: {},
  time: { type: 'integer', description: 'Unix time in ms (MT5 times are the broker server time, as sent)' },
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })

export function openApiDocument(server: string): Record<string, unknown> {
  const paths: Record<string, unknown> = {}
  for (const q of QUERIES) {
    const maxLimit = q.maxLimit ?? MAX_LIMIT
    const columns = q.name === 'ea_instances' ? [...q.columns, { name: 'online', type: 'bool' as const }] : q.columns
    paths[`/${q.name}`] = {
      get: {
        operationId: q.name,
        summary: q.doc,
        ...(q.admin && { description: 'Needs an admin token.' }),
        ...(q.requireOneOf && { description: `Needs ${q.requireOneOf.map((s) => s.join(' + ')).join(', or ')}.` }),
        parameters: [
          ...q.filters.map((f) => ({
            name: f.name,
            in: 'query',
            description: f.doc,
            schema: f.values ? { type: 'string', enum: f.values } : f.type === 'time' ? { oneOf: [{ type: 'integer' }, { type: 'string', format: 'date-time' }] } : schemaOf[f.type],
          })),
          { name: 'limit', in: 'query', description: `rows per page (default ${Math.min(DEFAULT_LIMIT, maxLimit)})`, schema: { type: 'integer', minimum: 1, maximum: maxLimit } },
          { name: 'cursor', in: 'query', description: 'the next_cursor of the page before', schema: { type: 'string' } },
          { name: 'order', in: 'query', description: `by ${q.keys.join(', ')}; default ${q.order}`, schema: { type: 'string', enum: ['asc', 'desc'] } },
          { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'csv'], default: 'json' } },
        ],
        responses: {
          200: {
            description: 'One page of rows; the X-Next-Cursor header repeats next_cursor.',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['query', 'columns', 'rows', 'next_cursor'],
                  properties: {
                    query: { type: 'string' },
                    columns: { type: 'array', items: { type: 'string' } },
                    rows: { type: 'array', items: { type: 'object', properties: Object.fromEntries(columns.map((c) => [c.name, { ...schemaOf[c.type], nullable: true }])) } },
                    next_cursor: { type: 'string', nullable: true },
                  },
                },
              },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          400: errorResponse('A parameter is wrong: error.field names it (BAD_FIELD).'),
          401: errorResponse('No token, or an unknown, revoked or expired one (AUTH_FAILED).'),
          403: errorResponse('The token may not read this (FORBIDDEN).'),
          404: errorResponse('No such query (BAD_FIELD, field query).'),
          503: errorResponse('Every reader is busy (BUSY), or the database failed (STORAGE_FAILED).'),
          504: errorResponse('The query ran past its timeout (QUERY_TIMEOUT).'),
        },
      },
    }
  }
  return {
    openapi: '3.0.3',
    info: { title: 'mt5-engine HTTP API', version: '1', description: 'Read-only typed queries over what MetaTrader 5 EAs streamed into the engine (docs/QUERIES.md).' },
    servers: [{ url: server }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a viewer or admin token (mt5-engine token create)' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } } },
        },
      },
    },
    paths,
  }
}
