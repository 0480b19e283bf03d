/**
 * A dashboard's session, from its welcome on: `command_send` from an admin token, and the status
 * of the commands it sent. A dashboard that sends faster than its commands are created is read no
 * further until they catch up.
 */
import { isHelloFrame, perr, type Connection } from './connection.js'
import { Session } from './session.js'
import type { DashboardEndpoint } from '../commands/router.js'
import { ErrorCodes, hasCode } from '../errors.js'
import { encode, ProtocolError } from '../protocol/codec.js'
import type { SubscriberPort } from '../subscriptions/hub.js'
import { wsPort } from '../subscriptions/ws-port.js'
import { PROTOCOL_VERSION, ProtocolErrors, type CommandSend, type CommandStatusUpdate, type EngineMessage, type ProtocolErrorCode } from '../protocol/messages.js'
import { parseDashboardMessage } from '../protocol/validate.js'
import type { AuthResult } from '../workers/tasks.js'

/** Commands one dashboard may have being created at once before its socket is paused. */
export const MAX_COMMANDS_IN_FLIGHT = 16
/** Reads (queries, SQL) one dashboard may have running at once before its socket is paused. */
export const MAX_READS_IN_FLIGHT = 4

export class DashboardSession extends Session implements DashboardEndpoint {
  /** Commands of this dashboard being created; at MAX_COMMANDS_IN_FLIGHT its socket is not read. */
  #commandsInFlight = 0
  /** Queries and SQL statements of this dashboard being run; at MAX_READS_IN_FLIGHT its socket is not read. */
  #readsInFlight = 0
  #portOf: SubscriberPort | undefined

  constructor(
    conn: Connection,
    /** The token it authenticated with: a viewer or an admin one. */
    readonly auth: AuthResult & { role: 'viewer' | 'admin' },
  ) {
    super(conn)
  }

  open(): void {
    this.conn.send({ type: 'welcome', protocol: PROTOCOL_VERSION, role: this.auth.role, server_time: Date.now(), limits: this.welcomeLimits() })
    this.conn.chatter('debug', {}, 'dashboard session welcomed')
    this.conn.resumeReading()
  }

  onMessage(value: unknown): void {
    if (isHelloFrame(value)) return this.helloAgain()
    let message
    try {
      message = parseDashboardMessage(value)
    } catch (err) {
      return this.conn.refuse(err as ProtocolError, value)
    }
    if (message.type === 'hello') return this.helloAgain()
    switch (message.type) {
      case 'command_send':
        return void this.#onCommandSend(message)
      case 'query':
        return void this.#read(message.request_id, async () => {
          const { type: _, request_id, ...request } = message
          this.conn.sendEncoded(await this.conn.deps.queries.frame(request, this.auth.role, request_id, () => [...this.conn.deps.streams.keys()]))
          return undefined
        })
      case 'subscribe':
        return void this.#read(message.request_id, async () => {
          await this.conn.deps.live.subscribe(this.#port(), message, this.auth.role)
          // the hub sent `subscribed` (then the snapshot): nothing more to answer
          return undefined
        })
      case 'unsubscribe': {
        const done = this.#portOf !== undefined && this.conn.deps.live.hub.unsubscribe(this.#portOf, message.subscription_id)
        if (!done) return this.conn.answer(Object.assign(perr(ProtocolErrors.BAD_FIELD, `subscription_id: ${message.subscription_id} is not a subscription of this session`, 'subscription_id'), { requestId: message.request_id }))
        return void this.conn.send({ type: 'done', request_id: message.request_id })
      }
      case 'notifications_read':
        return void this.#read(message.request_id, async () => {
          const result = await this.conn.deps.pool.markNotificationsRead(message.ids)
          if (!result.ok) throw perr(ProtocolErrors.STORAGE_FAILED, `could not mark the notifications read: ${result.error.message}`)
          return { type: 'done', request_id: message.request_id, count: result.value }
        })
      case 'sql':
        return void this.#read(message.request_id, async () => {
          if (this.auth.role !== 'admin') throw perr(ProtocolErrors.FORBIDDEN, `a ${this.auth.role} token cannot use the SQL console; an admin token can`)
          return { type: 'sql_result', request_id: message.request_id, ...(await this.conn.deps.queries.sql(message.sql, message.limit)) }
        })
    }
  }

  override holdsReading(): boolean {
    return this.#commandsInFlight >= MAX_COMMANDS_IN_FLIGHT || this.#readsInFlight >= MAX_READS_IN_FLIGHT
  }

  /**
   * Runs one read and sends its answer, or the error that refused it, with the request's id. A
   * dashboard with MAX_READS_IN_FLIGHT reads running is read no further until one ends.
   */
  async #read(requestId: string, fn: () => Promise<EngineMessage | undefined>): Promise<void> {
    if (++this.#readsInFlight >= MAX_READS_IN_FLIGHT) this.conn.pause()
    try {
      const answer = await fn()
      if (answer !== undefined) this.conn.send(answer)
    } catch (err) {
      if (err instanceof ProtocolError) {
        err.requestId = requestId
        this.conn.answer(err)
      } else {
        this.conn.alarm('error', { err, requestId }, 'a read failed: answered INTERNAL')
        const answer = perr(ProtocolErrors.INTERNAL, (err as Error).message)
        answer.requestId = requestId
        this.conn.answer(answer)
      }
    } finally {
      this.#readsInFlight--
      this.conn.resumeReading()
    }
  }

  /** The session's port into the subscription hub, made at its first subscribe. */
  #port(): SubscriberPort {
    this.#portOf ??= wsPort(this.conn.ws, encode, this.conn.socket)
    return this.#portOf
  }

  override detach(): void {
    super.detach()
    if (this.#portOf !== undefined) this.conn.deps.live.hub.detach(this.#portOf)
    this.conn.deps.commands.detachDashboard(this)
  }

  async #onCommandSend(request: CommandSend): Promise<void> {
    const answer = (code: ProtocolErrorCode, message: string, field?: string) => {
      const err = perr(code, message, field)
      err.requestId = request.request_id
      this.conn.answer(err)
    }
    if (this.auth.role !== 'admin') return answer(ProtocolErrors.FORBIDDEN, `a ${this.auth.role} token cannot send commands; an admin token can`)
    // Each command is a task for the writer, whose queue the EAs' batches share: a dashboard
    // sending faster than commands are created is read no further until they catch up (TCP
    // backpressure), so it can neither fill that queue nor hold unbounded work here.
    if (++this.#commandsInFlight >= MAX_COMMANDS_IN_FLIGHT) this.conn.pause()
    try {
      await this.conn.deps.commands.send(request, this, this.auth.tokenId)
    } catch (err) {
      if (hasCode(err, ErrorCodes.COMMAND_TARGET_UNKNOWN)) answer(ProtocolErrors.BAD_FIELD, (err as Error).message, 'target')
      else {
        this.conn.alarm('error', { err, requestId: request.request_id }, 'command_send failed: answered INTERNAL')
        answer(ProtocolErrors.INTERNAL, (err as Error).message)
      }
    } finally {
      this.#commandsInFlight--
      this.conn.resumeReading()
    }
  }

  // DashboardEndpoint
  sendStatus(update: CommandStatusUpdate): void {
    this.conn.send(update)
  }
}
