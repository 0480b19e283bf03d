/**
 * The read side's entry on the main thread: checks a typed query request (plan.ts), runs it on a
 * reader (never on the writer's connection), and shapes the answer the protocol and the HTTP API
 * send: column names, rows as arrays, and the cursor of the next page. What only the running
 * engine knows (which EA instances are connected now) is added here.
 */
import { ProtocolError } from '../protocol/codec.js'
import { ProtocolErrors, type ProtocolErrorCode } from '../protocol/messages.js'
import type { ReaderPool } from '../workers/reader-pool.js'
import { cursorAfter, planQuery, shapeRows, type QueryRequest } from './plan.js'

export interface QueryAnswer {
  query: string
  columns: string[]
  rows: unknown[][]
  /** Where the next page starts; null on the last page. */
  next_cursor: string | null
}

export interface LiveState {
  /** The streams (EA instances) connected now. */
  isOnline(streamId: number): boolean
}

export class QueryService {
  constructor(
    readonly readers: ReaderPool,
    readonly live: LiveState = { isOnline: () => false },
  ) {}

  /** Runs a typed query; a refused request or a failed read throws a ProtocolError. */
  async run(request: QueryRequest, role: 'viewer' | 'admin', text = false): Promise<QueryAnswer> {
    const plan = planQuery(request, role, text)
    const result = await this.readers.select(plan.sql, plan.values, plan.limit + 1)
    if (!result.ok) {
      const { code, message } = result.error
      const wire: ProtocolErrorCode = code === ProtocolErrors.QUERY_TIMEOUT || code === ProtocolErrors.BUSY ? code : ProtocolErrors.STORAGE_FAILED
      throw new ProtocolError(wire, `${plan.def.name}: ${message}`)
    }
    const { rows } = result.value
    const more = rows.length > plan.limit
    if (more) rows.length = plan.limit
    shapeRows(plan.def.columns.map((c) => c.type), rows)
    const columns = plan.def.columns.map((c) => c.name)
    if (plan.def.name === 'ea_instances') {
      columns.push('online')
      for (const row of rows) row.push(this.live.isOnline(row[0] as number))
    }
    return { query: plan.def.name, columns, rows, next_cursor: more ? cursorAfter(plan, rows[rows.length - 1]!) : null }
  }
}
