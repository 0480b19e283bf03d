/**
 * A connection from its first frame to its `welcome`: the hello within helloTimeoutMs, its token
 * checked by the writer pool (failures slowed per address by admission), an EA's stream
 * registered (replacing the connection that held it), then the socket handed to its session.
 */
import { perr, type Connection, type Phase } from './connection.js'
import { DashboardSession } from './dashboard-session.js'
import { EaSession } from './ea-session.js'
import type { Session } from './session.js'
import { ErrorCodes } from '../errors.js'
import type { ProtocolError } from '../protocol/codec.js'
import { CloseCodes, ProtocolErrors, type DashboardHello, type EaHello } from '../protocol/messages.js'
import { limits, parseHello } from '../protocol/validate.js'
import type { AuthResult } from '../workers/tasks.js'

export class Handshake implements Phase {
  #state: 'hello' | 'authenticating' = 'hello'
  #nonHellos = 0
  #hellos = 0
  #helloTimer: NodeJS.Timeout
  /** The AUTH_FAILED answer waiting out its delay. */
  #authFailure: NodeJS.Timeout | undefined
  /** The stream this connection registered and holds in deps.streams, until its session takes it. */
  #claimed = 0
  /** The session it handed the connection to. */
  #session: Session | undefined

  constructor(readonly conn: Connection) {
    this.#helloTimer = setTimeout(() => {
      // A failed hello being delayed is answered AUTH_FAILED when its delay is up, not HELLO_REQUIRED;
      // and a hello that arrived in time is not the client's fault if checking it takes long (a
      // slow database): that check ends in welcome or in its own error.
      if (this.#authFailure !== undefined || this.#state === 'authenticating') return
      conn.fatal(perr(ProtocolErrors.HELLO_REQUIRED, `no hello within ${conn.options.helloTimeoutMs} ms`), CloseCodes.PROTOCOL_ERROR)
    }, conn.options.helloTimeoutMs)
  }

  idle(): boolean {
    return this.#state === 'hello'
  }

  holdsReading(): boolean {
    return this.#state === 'authenticating'
  }

  heartbeat(): void {}

  /** A hello not yet answered cannot be served any more: say so now rather than after the drain. */
  stopReading(): void {
    this.#shuttingDown()
  }

  detach(): void {
    clearTimeout(this.#helloTimer)
    clearTimeout(this.#authFailure)
    const { streams } = this.conn.deps
    if (this.#claimed !== 0 && streams.get(this.#claimed) === this.conn) streams.delete(this.#claimed)
  }

  onMessage(value: unknown): void {
    if (this.#state === 'hello') return this.#onHello(value)
    // ws still delivers frames read together with the hello after pause(): they came before welcome
    this.conn.refuse(perr(ProtocolErrors.HELLO_REQUIRED, 'wait for welcome before sending anything else'), value)
  }

  /** Before welcome the third non-hello frame or the second bad hello closes (docs/PROTOCOL.md 3.1). */
  refused(err: ProtocolError, value: unknown): void {
    const isHello = (value as { type?: unknown } | null)?.type === 'hello'
    if (err.code === ProtocolErrors.UNSUPPORTED_PROTOCOL) return this.conn.fatal(err, CloseCodes.UNSUPPORTED_PROTOCOL)
    const closes = isHello ? ++this.#hellos >= limits.maxHellos : ++this.#nonHellos >= limits.maxFramesBeforeHello
    if (closes) this.conn.fatal(err, CloseCodes.PROTOCOL_ERROR)
    else this.conn.answer(err)
  }

  #onHello(value: unknown): void {
    let hello: EaHello | DashboardHello
    try {
      hello = parseHello(value)
    } catch (err) {
      return this.conn.refuse(err as ProtocolError, value)
    }
    this.#hellos++
    this.#state = 'authenticating'
    this.conn.pause()
    void this.#authenticate(hello)
  }

  async #authenticate(hello: EaHello | DashboardHello): Promise<void> {
    try {
      await this.#admit(hello)
      if (this.#session !== undefined && !this.conn.closed) this.#session.authenticated()
    } catch (err) {
      // The pool refused the task: it is being destroyed (shutdown), or the writer thread died
      // under it (it is replaced at once), which is the database path failing: try again later.
      if (this.conn.deps.stopping) return this.#shuttingDown()
      this.conn.alarm('error', { err }, 'the database writer failed while opening a session')
      this.#storageFailed(`the database writer failed while opening the session (${(err as Error).message})`)
    }
  }

  async #admit(hello: EaHello | DashboardHello): Promise<void> {
    const auth = await this.conn.deps.pool.authenticate(hello.token)
    if (this.conn.closed) return
    if (!auth.ok) return this.#storageFailed(`could not check the token: ${auth.error.message}`)
    if (auth.value === null) return this.#authFailed()
    const role = auth.value.role
    if (hello.role === 'dashboard') {
      if (role === 'ea') return this.conn.fatal(perr(ProtocolErrors.FORBIDDEN, 'an ea token cannot open a dashboard session; use a viewer or admin token'), CloseCodes.FORBIDDEN)
      return this.#welcomeDashboard({ ...auth.value, role })
    }
    if (role === 'viewer') return this.conn.fatal(perr(ProtocolErrors.FORBIDDEN, 'a viewer token cannot stream as an EA; use an ea token'), CloseCodes.FORBIDDEN)
    await this.#register(hello, auth.value)
  }

  async #register(hello: EaHello, auth: AuthResult): Promise<void> {
    const { deps } = this.conn
    const registered = await deps.pool.register(hello, auth.tokenId)
    if (this.conn.closed) return
    if (!registered.ok) {
      switch (registered.error.code) {
        case ErrorCodes.INSTANCE_CONFLICT:
          return this.conn.fatal(perr(ProtocolErrors.BAD_FIELD, registered.error.message, 'instance_id'), CloseCodes.PROTOCOL_ERROR)
        case ErrorCodes.TOKEN_SCOPE:
        case ErrorCodes.INSTANCE_TAKEN:
          return this.conn.fatal(perr(ProtocolErrors.FORBIDDEN, registered.error.message), CloseCodes.FORBIDDEN)
        default:
          return this.#storageFailed(`could not register the stream: ${registered.error.message}`)
      }
    }
    const r = registered.value
    // A new connection of a stream replaces the old one. Its batch in flight must settle before
    // the welcome, so that resume_seq is final: no ack for this stream may follow it from before.
    // Closing the old one detaches its session from ingest and commands at once.
    const previous = deps.streams.get(r.streamId)
    deps.streams.set(r.streamId, this.conn)
    this.#claimed = r.streamId
    previous?.fatal(perr(ProtocolErrors.REPLACED, 'another connection took over this EA instance'), CloseCodes.REPLACED)
    const committed = await deps.ingest.settled(r.streamId)
    if (this.conn.closed || deps.streams.get(r.streamId) !== this.conn) return
    if (deps.stopping) return this.#shuttingDown()
    clearTimeout(this.#helloTimer)
    this.conn.bind({ role: 'ea', instance: hello.instance_id, account: `${hello.account.login}@${r.server}`, tokenName: auth.name })
    const session = new EaSession(this.conn, {
      streamId: r.streamId,
      instanceId: hello.instance_id,
      accountId: r.accountId,
      server: r.server,
      magic: hello.ea.magic ?? 0,
      resumeSeq: Math.max(r.resumeSeq, committed ?? 0),
    })
    this.#handTo(session)
    session.open(r.commands)
  }

  #welcomeDashboard(auth: AuthResult & { role: 'viewer' | 'admin' }): void {
    if (this.conn.deps.stopping) return this.#shuttingDown()
    clearTimeout(this.#helloTimer)
    this.conn.bind({ role: auth.role, tokenName: auth.name })
    const session = new DashboardSession(this.conn, auth)
    this.#handTo(session)
    session.open()
  }

  /** From here on the session answers the connection's frames and holds its stream. */
  #handTo(session: Session): void {
    this.#session = session
    this.conn.become(session)
  }

  /**
   * Guessing tokens, or a client with a wrong one reconnecting in a loop, is slowed per address:
   * the answer waits, growing with each failure, and holds its unauthenticated slot meanwhile.
   * A good token is never delayed.
   */
  #authFailed(): void {
    const delay = this.conn.deps.admission.authFailed(this.conn.door.address)
    this.#authFailure = setTimeout(() => {
      this.#authFailure = undefined
      this.conn.fatal(perr(ProtocolErrors.AUTH_FAILED, 'unknown, revoked or expired token: check the token given to this client'), CloseCodes.AUTH_FAILED)
    }, delay)
  }

  /** The database cannot serve the session now (it is down, or full): the client retries later. */
  #storageFailed(message: string): void {
    this.conn.fatal(perr(ProtocolErrors.STORAGE_FAILED, `${message}; reconnect later`), CloseCodes.STORAGE_FAILED)
  }

  #shuttingDown(): void {
    this.conn.fatal(perr(ProtocolErrors.SHUTTING_DOWN, 'engine shutting down'), CloseCodes.GOING_AWAY)
  }
}
