/**
 * The read side's entry on the main thread: checks a typed query request (plan.ts), runs it on a
 * reader (never on the writer's connection), and shapes the answer the protocol and the HTTP API
 * send: column names, rows as arrays, and the cursor of the next page. What only the running
 * engine knows (which EA instances are connected now) is added here.
 */
import { ProtocolError } from '../protocol/codec.js'
import { ProtocolErrors, type ProtocolErrorCode } from '../protocol/messages.js'
import type { ReaderPool } from '../workers/reader-pool.js'
import type { TaskError } from '../workers/tasks.js'
import { answerPlan, planQuery, shapeAnswer, type QueryAnswer, type QueryRequest } from './plan.js'
import { ConsoleOutcomes } from './sql-console.js'

export type { QueryAnswer } from './plan.js'

export interface LiveState {
  /** The streams (EA instances) connected now. */
  isOnline(streamId: number): boolean
}

export interface SqlAnswer {
  columns: string[]
  rows: unknown[][]
  truncated: boolean
  elapsed_ms: number
}

export class QueryService {
  constructor(
    readonly readers: ReaderPool,
    readonly live: LiveState = { isOnline: () => false },
    readonly options: { sqlRowLimit: number } = { sqlRowLimit: 10_000 },
  ) {}

  /**
   * Runs one SQL console statement (the caller checked the token is an admin's). A refusal throws
   * SQL_REFUSED with its reason code in `refusal`; a statement the database refuses (a column
   * that does not exist) BAD_FIELD on `sql` with the database's message.
   */
  async sql(text: string, limit?: number): Promise<SqlAnswer> {
    const max = this.options.sqlRowLimit
    if (limit !== undefined && (limit < 1 || limit > max)) throw new ProtocolError(ProtocolErrors.BAD_FIELD, `limit: must be from 1 to ${max} (got ${limit})`, 'limit')
    const result = await this.readers.console(text, limit ?? max)
    if (!result.ok) {
      const { code, message } = result.error
      throw new ProtocolError(code === ProtocolErrors.QUERY_TIMEOUT || code === ProtocolErrors.BUSY ? code : ProtocolErrors.STORAGE_FAILED, `sql: ${message}`)
    }
    const r = result.value
    if (r.ok) return { columns: r.columns, rows: r.rows, truncated: r.truncated, elapsed_ms: r.elapsedMs }
    if (r.code === ConsoleOutcomes.SQL_TIMEOUT) throw new ProtocolError(ProtocolErrors.QUERY_TIMEOUT, `sql: ${r.reason}`)
    if (r.code === ConsoleOutcomes.SQL_FAILED) throw new ProtocolError(ProtocolErrors.BAD_FIELD, `sql: the database refused it: ${r.reason}`, 'sql')
    throw Object.assign(new ProtocolError(ProtocolErrors.SQL_REFUSED, `sql: ${r.reason}`, 'sql'), { refusal: r.code })
  }

  /** Runs a typed query; a refused request or a failed read throws a ProtocolError. */
  async run(request: QueryRequest, role: 'viewer' | 'admin', text = false): Promise<QueryAnswer> {
    const plan = planQuery(request, role, text)
    const result = await this.readers.select(plan.sql, plan.values, plan.limit + 1)
    if (!result.ok) throw readFailed(plan.def.name, result.error)
    return shapeAnswer(answerPlan(plan), result.value.rows, (id) => this.live.isOnline(id))
  }

  /**
   * Runs a typed query for the protocol: the reader shapes the page and encodes its whole
   * `query_result` frame, whose bytes move to this thread without a copy. For a month of M1
   * bars (33,120 rows) that saved the 50 ms a structured clone of the rows took here.
   */
  async frame(request: QueryRequest, role: 'viewer' | 'admin', requestId: string, online: () => number[]): Promise<Uint8Array> {
    const plan = planQuery(request, role)
    const result = await this.readers.selectFrame(plan.sql, plan.values, plan.limit + 1, {
      requestId,
      plan: answerPlan(plan),
      ...(plan.def.name === 'ea_instances' && { online: online() }),
    })
    if (!result.ok) throw readFailed(plan.def.name, result.error)
    return new Uint8Array(result.value)
  }
}

function readFailed(query: string, error: TaskError): ProtocolError {
  const wire: ProtocolErrorCode = error.code === ProtocolErrors.QUERY_TIMEOUT || error.code === ProtocolErrors.BUSY ? error.code : ProtocolErrors.STORAGE_FAILED
  return new ProtocolError(wire, `${query}: ${error.message}`)
}
