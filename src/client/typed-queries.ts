/**
 * `typedQueries`: the typed queries as one method each, with their parameters and rows typed from
 * the catalogue (query-types.ts, generated). Built from the catalogue's names, so that a query
 * added there is a method here without more code.
 */
import { QUERIES } from '../query/catalogue.js'
import type { Dashboard, QueryOptions, QueryPage } from './dashboard-client.js'
import type { QueryName, QueryTypes } from './query-types.js'

/** One method per query: `q.deals({ login: 5012345 }, { limit: 100 })`. */
export type TypedQueries = {
  readonly [Q in QueryName]: (params?: QueryTypes[Q]['params'], options?: QueryOptions) => Promise<QueryPage<QueryTypes[Q]['row']>>
}

/**
 * The typed queries of `dashboard`. Each method runs `dashboard.query(name, params, options)` and
 * rejects as it does (a ClientError with the engine's code: BAD_FIELD naming the parameter,
 * FORBIDDEN, QUERY_TIMEOUT, BUSY).
 */
export function typedQueries(dashboard: Dashboard): TypedQueries {
  const methods: Record<string, unknown> = {}
  for (const { name } of QUERIES) {
    methods[name] = (params?: object, options?: QueryOptions) => dashboard.query(name, params as Record<string, unknown> | undefined, options)
  }
  return Object.freeze(methods) as TypedQueries
}
