/**
 * What an EA session and a dashboard session have in common once welcomed: the slot they hold
 * among maxConnections, the protocol's `ping`, the limits told in `welcome`, and the rule that a
 * second hello closes.
 */
import { perr, type Connection, type Phase } from './connection.js'
import type { ProtocolError } from '../protocol/codec.js'
import { CloseCodes, ProtocolErrors, type Welcome } from '../protocol/messages.js'
import { limits, welcomeLimits } from '../protocol/validate.js'

export abstract class Session implements Phase {
  /** Counted among deps.sessions (see authenticated()). */
  #counted = false

  constructor(readonly conn: Connection) {}

  abstract onMessage(value: unknown, bytes: number): void

  /** A refused frame on a session is answered and the session goes on, unless a session says otherwise. */
  refused(err: ProtocolError, _value: unknown): void {
    this.conn.answer(err)
  }

  idle(): boolean {
    return false
  }

  holdsReading(): boolean {
    return false
  }

  heartbeat(): void {
    this.conn.send({ type: 'ping', server_time: Date.now() })
  }

  stopReading(): void {}

  /** The session is open: it leaves the strangers' budget and counts toward maxConnections. */
  authenticated(): void {
    const { deps, counters, options, door } = this.conn
    deps.admission.settle(door)
    counters.unauthenticated = deps.admission.pending
    this.#counted = true
    deps.sessions++
    // Sessions welcomed together may pass the limit by the few whose tokens were being checked.
    if (deps.sessions > options.maxConnections) this.conn.closeWith(CloseCodes.TRY_AGAIN_LATER, `more than ${options.maxConnections} connections`)
  }

  detach(): void {
    if (this.#counted) this.conn.deps.sessions--
  }

  /**
   * What `welcome` tells the client. `max_batch_ticks` is the limit validation enforces (it is no
   * option of the engine), so the two cannot differ.
   */
  protected welcomeLimits(): Welcome['limits'] {
    const { maxFrameBytes, maxInflight } = this.conn.options
    return welcomeLimits({ ...limits, maxFrameBytes, maxInflight })
  }

  /** A hello after welcome closes, valid or not (PROTOCOL.md 3.1). */
  protected helloAgain(): void {
    this.conn.fatal(perr(ProtocolErrors.BAD_MESSAGE, 'hello was already received'), CloseCodes.PROTOCOL_ERROR)
  }
}
