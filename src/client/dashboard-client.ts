/**
 * `connectDashboard`: a dashboard session for Node. It sends commands and follows their status,
 * runs typed queries (docs/QUERIES.md) and, with an admin token, SQL console statements.
 */
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import WebSocket from 'ws'
import { ClientError, ErrorCodes } from '../errors.js'
import { decode, encode } from '../protocol/codec.js'
import {
  PROTOCOL_VERSION,
  type CommandSend,
  type CommandStatus,
  type CommandStatusUpdate,
  type EngineMessage,
  type QueryResult,
  type SqlResult,
  type Welcome,
} from '../protocol/messages.js'

/** One page of a typed query. */
export interface QueryPage<Row = Record<string, unknown>> {
  columns: string[]
  /** The rows as objects keyed by column name. */
  rows: Row[]
  /** Pass it as `cursor` for the next page; null on the last one. */
  nextCursor: string | null
}

/**
 * A live subscription: 'snapshot' (the topic's state; again after a gap), 'event' (each committed
 * change), 'gap' (changes were lost while this dashboard read too slowly: a fresh snapshot follows),
 * 'end' (the engine ended it, with its reason). The first snapshot often arrives with the engine's
 * `subscribed`, before a listener can be added: read it from `snapshot`; 'snapshot' events after
 * that are resyncs.
 */
export interface Subscription extends EventEmitter {
  readonly id: number
  readonly topic: string
  /** Resolves with the first snapshot. */
  readonly snapshot: Promise<unknown>
  unsubscribe(): Promise<void>
}

export interface QueryOptions {
  limit?: number
  cursor?: string
  order?: 'asc' | 'desc'
  /** Rejects with a plain Error when no answer comes within it. Default 30000. */
  timeoutMs?: number
}

export interface DashboardOptions {
  token: string
}

export interface SentCommand {
  readonly commandId: Promise<string>
  /** Every status update so far, oldest first. */
  readonly updates: CommandStatusUpdate[]
  /**
   * Resolves with the first update whose status is one of `statuses`. Rejects with a ClientError
   * carrying the engine's code on an error frame, and with a plain Error when the connection
   * closes first or `timeoutMs` (default 30000) passes.
   */
  until(statuses: CommandStatus | CommandStatus[], timeoutMs?: number): Promise<CommandStatusUpdate>
}

export interface Dashboard extends EventEmitter {
  readonly welcome: Welcome
  sendCommand(command: Omit<CommandSend, 'type' | 'request_id'>): SentCommand
  /**
   * Runs the typed query `name` with its filters; rejects with a ClientError carrying the engine's
   * code (BAD_FIELD naming the parameter, FORBIDDEN, QUERY_TIMEOUT, BUSY).
   */
  query<Row = Record<string, unknown>>(name: string, params?: Record<string, unknown>, options?: QueryOptions): Promise<QueryPage<Row>>
  /** Every page of a query, fetched one after the other. */
  queryAll<Row = Record<string, unknown>>(name: string, params?: Record<string, unknown>, options?: Omit<QueryOptions, 'cursor'>): AsyncGenerator<Row[]>
  /** Subscribes to a live topic (docs/SUBSCRIPTIONS.md); resolves once the engine took it, before its snapshot. */
  subscribe(topic: string, params?: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<Subscription>
  /** Marks notifications read; resolves with how many were unread. */
  markNotificationsRead(ids: number[]): Promise<number>
  /** One read-only SELECT (admin tokens); rejects with SQL_REFUSED (see `refusal`), QUERY_TIMEOUT, FORBIDDEN. */
  sql(statement: string, options?: { limit?: number; timeoutMs?: number }): Promise<Omit<SqlResult, 'type' | 'request_id'>>
  close(): Promise<void>
}

/**
 * Opens a dashboard session at `url` (`ws://host:8787/v1`); resolves after `welcome`. Rejects with
 * a ClientError: the engine's code if it refuses the hello (AUTH_FAILED, FORBIDDEN, ...), or
 * ENGINE_UNREACHABLE if it cannot be reached or closes the connection first (the socket's own
 * error is the `cause`).
 */
export async function connectDashboard(url: string, options: DashboardOptions): Promise<Dashboard> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  ws.binaryType = 'nodebuffer'
  const welcome = await new Promise<Welcome>((resolve, reject) => {
    ws.once('open', () => ws.send(encode({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'dashboard', token: options.token })))
    ws.on('message', function first(data) {
      const m = decode(data as Buffer) as EngineMessage
      if (m.type === 'welcome') {
        ws.off('message', first)
        resolve(m)
      } else if (m.type === 'error') {
        reject(new ClientError(m.code, `engine refused the hello: ${m.code}: ${m.message}`, m))
      }
    })
    ws.once('error', (err) => reject(new ClientError(ErrorCodes.ENGINE_UNREACHABLE, err.message, undefined, { cause: err })))
    ws.once('close', (code, reason) => {
      reject(new ClientError(ErrorCodes.ENGINE_UNREACHABLE, `connection closed before welcome: ${code} ${reason.toString()}`))
    })
  })
  return new DashboardSession(ws, welcome)
}

class DashboardSession extends EventEmitter implements Dashboard {
  readonly #ws: WebSocket
  readonly welcome: Welcome
  readonly #byRequest = new Map<string, Tracker>()
  readonly #byCommand = new Map<string, Tracker>()
  /** Requests answered by one frame (query_result, sql_result, done), by request id. */
  readonly #requests = new Map<string, { resolve: (m: EngineMessage) => void; reject: (err: Error) => void }>()
  readonly #subscriptions = new Map<number, LiveSubscription>()

  constructor(ws: WebSocket, welcome: Welcome) {
    super()
    this.#ws = ws
    this.welcome = welcome
    ws.on('message', (data) => this.#onMessage(decode(data as Buffer) as EngineMessage))
    ws.on('close', () => {
      for (const t of this.#byRequest.values()) t.fail(new Error('connection closed'))
      for (const r of this.#requests.values()) r.reject(new Error('connection closed'))
      this.#requests.clear()
    })
  }

  async query<Row>(name: string, params?: Record<string, unknown>, options: QueryOptions = {}): Promise<QueryPage<Row>> {
    const { timeoutMs, ...rest } = options
    const m = (await this.#request({ type: 'query', query: name, ...(params && { params }), ...rest }, timeoutMs)) as QueryResult
    const rows = m.rows.map((r) => Object.fromEntries(m.columns.map((c, i) => [c, r[i]])) as Row)
    return { columns: m.columns, rows, nextCursor: m.next_cursor }
  }

  async *queryAll<Row>(name: string, params?: Record<string, unknown>, options: Omit<QueryOptions, 'cursor'> = {}): AsyncGenerator<Row[]> {
    let cursor: string | undefined
    do {
      const page: QueryPage<Row> = await this.query<Row>(name, params, { ...options, ...(cursor !== undefined && { cursor }) })
      yield page.rows
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
  }

  async subscribe(topic: string, params?: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<Subscription> {
    const m = await this.#request({ type: 'subscribe', topic, ...(params && { params }) }, options.timeoutMs)
    if (m.type !== 'subscribed') throw new Error(`expected subscribed, got ${m.type}`)
    return this.#subscriptions.get(m.subscription_id)!
  }

  async markNotificationsRead(ids: number[]): Promise<number> {
    const m = await this.#request({ type: 'notifications_read', ids })
    return m.type === 'done' ? (m.count ?? 0) : 0
  }

  async sql(statement: string, options: { limit?: number; timeoutMs?: number } = {}): Promise<Omit<SqlResult, 'type' | 'request_id'>> {
    const m = (await this.#request({ type: 'sql', sql: statement, ...(options.limit !== undefined && { limit: options.limit }) }, options.timeoutMs)) as SqlResult
    const { type: _, request_id: __, ...result } = m
    return result
  }

  async #unsubscribe(id: number): Promise<void> {
    this.#subscriptions.delete(id)
    await this.#request({ type: 'unsubscribe', subscription_id: id })
  }

  #request(message: Record<string, unknown>, timeoutMs = 30000): Promise<EngineMessage> {
    const requestId = randomUUID()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#requests.delete(requestId)
        reject(new Error(`no answer to ${String(message.type)} within ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref()
      const settle = (fn: () => void) => {
        clearTimeout(timer)
        this.#requests.delete(requestId)
        fn()
      }
      this.#requests.set(requestId, { resolve: (m) => settle(() => resolve(m)), reject: (e) => settle(() => reject(e)) })
      this.#ws.send(encode({ ...message, request_id: requestId }))
    })
  }

  sendCommand(command: Omit<CommandSend, 'type' | 'request_id'>): SentCommand {
    const requestId = randomUUID()
    const tracker = new Tracker()
    this.#byRequest.set(requestId, tracker)
    this.#ws.send(encode({ type: 'command_send', request_id: requestId, ...command }))
    return tracker
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      this.#ws.once('close', () => resolve())
      this.#ws.close(1000, 'dashboard closed')
    })
  }

  #onMessage(m: EngineMessage): void {
    if (m.type === 'command_status') {
      let tracker = m.request_id !== undefined ? this.#byRequest.get(m.request_id) : undefined
      tracker ??= this.#byCommand.get(m.command_id)
      if (!tracker) return
      this.#byCommand.set(m.command_id, tracker)
      tracker.update(m)
      this.emit('command_status', m)
    } else if (m.type === 'query_result' || m.type === 'sql_result' || m.type === 'done') {
      this.#requests.get(m.request_id)?.resolve(m)
    } else if (m.type === 'subscribed') {
      // registered before the snapshot that follows is read
      const sub = new LiveSubscription(m.subscription_id, m.topic, () => this.#unsubscribe(m.subscription_id))
      this.#subscriptions.set(m.subscription_id, sub)
      if (m.request_id !== undefined) this.#requests.get(m.request_id)?.resolve(m)
    } else if (m.type === 'snapshot' || m.type === 'event' || m.type === 'gap') {
      this.#subscriptions.get(m.subscription_id)?.deliver(m.type, m.type === 'gap' ? m : m.data)
    } else if (m.type === 'unsubscribed') {
      this.#subscriptions.get(m.subscription_id)?.deliver('end', m)
      this.#subscriptions.delete(m.subscription_id)
    } else if (m.type === 'error') {
      const request = m.request_id !== undefined ? this.#requests.get(m.request_id) : undefined
      if (request) return request.reject(new ClientError(m.code, `${m.code}: ${m.message}`, m))
      const tracker = m.request_id !== undefined ? this.#byRequest.get(m.request_id) : undefined
      if (tracker) tracker.fail(new ClientError(m.code, `${m.code}: ${m.message}`, m))
      this.emit('engine-error', m)
    }
  }
}

class LiveSubscription extends EventEmitter implements Subscription {
  readonly snapshot: Promise<unknown>
  #first!: (data: unknown) => void

  constructor(
    readonly id: number,
    readonly topic: string,
    readonly unsubscribe: () => Promise<void>,
  ) {
    super()
    this.snapshot = new Promise((resolve) => (this.#first = resolve))
  }

  deliver(kind: 'snapshot' | 'event' | 'gap' | 'end', data: unknown): void {
    if (kind === 'snapshot') this.#first(data)
    this.emit(kind, data)
  }
}

class Tracker implements SentCommand {
  readonly updates: CommandStatusUpdate[] = []
  readonly commandId: Promise<string>
  #resolveId!: (id: string) => void
  #rejectId!: (err: Error) => void
  #waiters: { statuses: CommandStatus[]; resolve: (u: CommandStatusUpdate) => void; reject: (e: Error) => void }[] = []
  #error: Error | undefined

  constructor() {
    this.commandId = new Promise((resolve, reject) => {
      this.#resolveId = resolve
      this.#rejectId = reject
    })
    this.commandId.catch(() => {})
  }

  update(u: CommandStatusUpdate): void {
    this.updates.push(u)
    this.#resolveId(u.command_id)
    for (const w of [...this.#waiters]) {
      if (w.statuses.includes(u.status)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1)
        w.resolve(u)
      }
    }
  }

  fail(err: Error): void {
    this.#error = err
    this.#rejectId(err)
    for (const w of this.#waiters.splice(0)) w.reject(err)
  }

  until(statuses: CommandStatus | CommandStatus[], timeoutMs = 30000): Promise<CommandStatusUpdate> {
    const wanted = Array.isArray(statuses) ? statuses : [statuses]
    const seen = this.updates.find((u) => wanted.includes(u.status))
    if (seen) return Promise.resolve(seen)
    if (this.#error) return Promise.reject(this.#error)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${wanted.join('/')} status within ${timeoutMs} ms`)), timeoutMs)
      timer.unref()
      this.#waiters.push({
        statuses: wanted,
        resolve: (u) => {
          clearTimeout(timer)
          resolve(u)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
    })
  }
}
