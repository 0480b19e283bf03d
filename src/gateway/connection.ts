/**
 * One WebSocket connection for its whole life, whatever it serves: first its handshake, then an EA
 * or a dashboard session (its Phase, which handles the frames). What every phase needs lives here:
 * reading frames within the frame rate and the address's refused-frame budget, answering and
 * closing (with a grace for the peer's close frame), the send path bounded by maxOutboundBytes
 * (SLOW_CONSUMER), the heartbeat, and the connection's logger.
 */
import type { Socket } from 'node:net'
import type { RawData, WebSocket } from 'ws'
import type { Doorway } from './admission.js'
import type { Deps, GatewayCounters, GatewayOptions } from './options.js'
import type { Logger } from '../log.js'
import { decode, encode, ProtocolError } from '../protocol/codec.js'
import { CloseCodes, ProtocolErrors, type EngineMessage, type ProtocolErrorCode } from '../protocol/messages.js'

/** What a connection serves now: its handshake, then its session. */
export interface Phase {
  /** A decoded frame; `bytes` is its size. */
  onMessage(value: unknown, bytes: number): void
  /** A refused frame within the address's budget, answered by this phase's rules (docs/PROTOCOL.md 3.1, 3.5). */
  refused(err: ProtocolError, value: unknown): void
  /** True while it holds its slot for nothing yet: no valid hello has arrived. */
  idle(): boolean
  /** True while something of this phase keeps the socket from being read (a token being checked, backpressure). */
  holdsReading(): boolean
  /** Each heartbeat of a connection that is being read. */
  heartbeat(): void
  /** The engine stops reading: what this phase still owes the peer, it says now. */
  stopReading(): void
  /** Lets go of what the phase holds (its slot, stream, commands, timers); called once, when the connection ends. */
  detach(): void
}

type ChatterLevel = 'debug' | 'info'
type AlarmLevel = 'warn' | 'error'

export class Connection {
  #phase: Phase
  #closed = false
  #alive = true
  #windowStart = Date.now()
  #framesInWindow = 0
  #corked = false
  #stopped = false
  #detached = false
  /** Set while the outbound buffer is over maxOutboundBytes: the grace running out. */
  #slowTimer: NodeJS.Timeout | undefined
  /** How the engine ended the connection, for its close line; undefined while the peer may end it. */
  #ending: { code: number; reason: string } | undefined
  /** This connection's logger: `remote`, and once welcomed what the session is (see bind()). */
  #log: Logger

  constructor(
    readonly ws: WebSocket,
    /** The TCP socket under `ws`: its 'drain' says when the peer has read what was queued. */
    readonly socket: Socket,
    readonly door: Doorway,
    readonly options: GatewayOptions,
    readonly deps: Deps,
    readonly counters: GatewayCounters,
    first: (conn: Connection) => Phase,
  ) {
    this.#log = deps.log.child({ remote: door.address })
    ws.on('message', (data, isBinary) => this.#onFrame(data, isBinary))
    ws.on('pong', () => (this.#alive = true))
    ws.on('close', (code, reason) => this.#onClose(code, reason))
    ws.on('error', (err) => this.#onError(err))
    this.#phase = first(this)
  }

  get phase(): Phase {
    return this.#phase
  }

  /** The handshake hands the connection to its session. */
  become(phase: Phase): void {
    this.#phase = phase
  }

  get closed(): boolean {
    return this.#closed
  }

  get log(): Logger {
    return this.#log
  }

  /** Adds fields to every later line about this connection (the session's role, instance, account). */
  bind(fields: Record<string, string | number>): void {
    this.#log = this.#log.child(fields)
  }

  /**
   * A debug or info line about this connection, within the gateway's budget for such lines: a
   * flood of connections or refused frames must not become a flood of log lines.
   */
  chatter(level: ChatterLevel, fields: Record<string, unknown>, message: string): void {
    if (!this.#log.isLevelEnabled(level)) return
    const leftOut = this.deps.chatter.take()
    if (leftOut === undefined) return
    this.#log[level](leftOut > 0 ? { ...fields, linesLeftOut: leftOut } : fields, message)
  }

  /** A warning or an error about this connection, within the gateway's (separate) budget for those. */
  alarm(level: AlarmLevel, fields: Record<string, unknown>, message: string): void {
    if (!this.#log.isLevelEnabled(level)) return
    const leftOut = this.deps.alarms.take()
    if (leftOut === undefined) return
    this.#log[level](leftOut > 0 ? { ...fields, linesLeftOut: leftOut } : fields, message)
  }

  /** Holds its slot for nothing yet: no valid hello has arrived. */
  idle(): boolean {
    return !this.#closed && this.#phase.idle()
  }

  evict(): void {
    this.closeWith(CloseCodes.TRY_AGAIN_LATER, 'too many connections without hello: send hello as soon as the connection opens')
  }

  heartbeat(): void {
    // A socket the engine stopped reading (backpressure, shutdown) cannot deliver the peer's pong:
    // that silence is ours, not the peer's.
    if (this.ws.isPaused) {
      this.#alive = true
      return
    }
    if (!this.#alive) {
      this.#ending ??= { code: 1006, reason: `no pong within ${this.options.heartbeatMs} ms` }
      this.ws.terminate()
      return
    }
    this.#alive = false
    this.ws.ping()
    if (!this.#closed) this.#phase.heartbeat()
  }

  stopReading(): void {
    this.#stopped = true
    this.ws.pause()
    if (!this.#closed) this.#phase.stopReading()
  }

  async close(code: number, reason: string): Promise<void> {
    if (this.ws.readyState === this.ws.CLOSED) return
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()))
    if (code === CloseCodes.GOING_AWAY) this.fatal(perr(ProtocolErrors.SHUTTING_DOWN, reason), code)
    else this.closeWith(code, reason)
    await closed
  }

  pause(): void {
    this.ws.pause()
  }

  /** Reads again unless something still holds the connection: shutdown, or its phase. */
  resumeReading(): void {
    if (this.#stopped || this.#phase.holdsReading()) return
    this.ws.resume()
  }

  // --- frames ------------------------------------------------------------------------------

  #onFrame(data: RawData, isBinary: boolean): void {
    const bytes = data as Buffer
    this.counters.frames++
    this.counters.bytes += bytes.length
    if (this.#closed || !this.#withinRate()) return
    let value: unknown
    try {
      if (!isBinary) throw new ProtocolError(ProtocolErrors.BAD_FRAME, 'text frames are not accepted: send binary MessagePack')
      value = decode(bytes)
    } catch (err) {
      return this.refuse(err as ProtocolError, undefined)
    }
    this.#phase.onMessage(value, bytes.length)
  }

  #withinRate(): boolean {
    const now = Date.now()
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now
      this.#framesInWindow = 0
    }
    if (++this.#framesInWindow <= this.options.maxFramesPerSecond) return true
    this.fatal(new ProtocolError(ProtocolErrors.RATE_LIMITED, `more than ${this.options.maxFramesPerSecond} frames per second`), CloseCodes.RATE_LIMITED)
    return false
  }

  /**
   * A refused frame: counted against the address's budget, then answered by the phase. Anything
   * thrown that is not a ProtocolError is the engine's fault, not the peer's: it is answered
   * INTERNAL and logged as an error with its cause.
   */
  refuse(err: ProtocolError, value: unknown): void {
    if (!(err instanceof ProtocolError)) {
      this.alarm('error', { err }, 'a frame could not be checked: answered INTERNAL')
      err = new ProtocolError(ProtocolErrors.INTERNAL, String((err as Error)?.message ?? err))
    }
    if (!this.refusedWithinBudget()) return
    this.#phase.refused(err, value)
  }

  /**
   * Answering refused frames costs the main thread far more than reading them: many connections of
   * one address, each within its own frame rate, could starve everyone else. Past the address's
   * budget the connection that sent the frame is closed.
   */
  refusedWithinBudget(): boolean {
    if (this.deps.admission.refused(this.door.address)) return true
    const message = `more than ${this.options.maxRefusedPerSecond} refused frames per second from ${this.door.address}: fix what the errors name before sending more`
    this.fatal(new ProtocolError(ProtocolErrors.RATE_LIMITED, message), CloseCodes.RATE_LIMITED)
    return false
  }

  /** Sends the error frame for `err`; the connection stays open. */
  answer(err: ProtocolError): void {
    this.counters.errors++
    this.chatter('debug', errorFields(err), `answered ${err.code}: ${err.message}`)
    this.send(err.toFrame())
  }

  /** Answers `err` and closes with `closeCode`. */
  fatal(err: ProtocolError, closeCode: number): void {
    if (this.#closed) return
    this.answer(err)
    this.closeWith(closeCode, err.message.slice(0, 120))
  }

  /**
   * Ends the connection at once: the stream, its pending messages and its commands are detached now,
   * not when the peer's close frame arrives, so nothing is delivered to a connection that is going.
   */
  closeWith(code: number, reason: string): void {
    this.#closed = true
    this.#ending ??= { code, reason }
    this.#detach()
    if (this.ws.readyState === this.ws.CLOSED) return
    this.ws.close(code, reason)
    // The close handshake needs the peer's close frame: a paused socket (during authentication, or
    // by ingest) would hold the connection until ws's 30 s timeout. Frames are ignored from now on.
    this.ws.resume()
    // A peer that does not answer (or cannot: it is not reading) is not waited for.
    setTimeout(() => this.ws.terminate(), this.options.closeGraceMs).unref()
  }

  #onClose(code: number, reason: Buffer): void {
    this.#closed = true
    this.#detach()
    const ending = this.#ending ?? { code, reason: reason.toString() }
    this.chatter('debug', { closeCode: ending.code, reason: ending.reason, by: this.#ending ? 'engine' : 'peer' }, 'connection closed')
  }

  /** ws reports protocol violations (an oversized frame: 1009) here and closes the socket itself. */
  #onError(err: Error): void {
    this.counters.errors++
    this.chatter('debug', { err }, `WebSocket error: ${err.message}`)
  }

  /** Lets go of the phase's stream, commands and timers, and of the slot; once, whichever way the connection ended. */
  #detach(): void {
    if (this.#detached) return
    this.#detached = true
    clearTimeout(this.#slowTimer)
    this.deps.admission.settle(this.door)
    this.counters.unauthenticated = this.deps.admission.pending
    this.#phase.detach()
  }

  // --- send path -----------------------------------------------------------------------------

  /**
   * Queues a frame unless the connection is closing or its peer has stopped reading: memory held
   * for one connection is bounded by twice maxOutboundBytes (PROTOCOL.md 3.6). Returns whether it
   * was queued; `written` is called once it has left for the socket, or with an error.
   */
  send(message: EngineMessage, written?: (err?: Error) => void): boolean {
    // nothing is encoded for a connection that is gone
    if (this.ws.readyState !== this.ws.OPEN || this.#closed) return false
    return this.sendEncoded(encode(message), written)
  }

  /** Sends a frame encoded elsewhere (a reader encodes a big query_result), within send()'s bounds. */
  sendEncoded(bytes: Uint8Array, written?: (err?: Error) => void): boolean {
    if (this.ws.readyState !== this.ws.OPEN || this.#closed) return false
    if (!this.#outboundOk()) return false
    this.#cork()
    this.ws.send(bytes, written)
    this.#outboundOk()
    return true
  }

  /** Bytes queued for the peer and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  /** Resolves true when the socket has written out what was queued, false when the connection ends first. */
  drained(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false)
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        this.socket.off('drain', onDrain)
        this.ws.off('close', onClose)
        resolve(ok)
      }
      const onDrain = () => done(true)
      const onClose = () => done(false)
      this.socket.once('drain', onDrain)
      this.ws.once('close', onClose)
    })
  }

  /**
   * ws writes each frame to the socket at once: one system call per error frame, ack or command.
   * Frames queued in the same turn (answers to the frames of one read, acks of one commit) go out
   * together in one write instead.
   */
  #cork(): void {
    if (this.#corked) return
    this.#corked = true
    this.socket.cork()
    process.nextTick(() => {
      this.#corked = false
      this.socket.uncork()
    })
  }

  /**
   * False (and the connection closing) when the peer has left far too much unread; past
   * maxOutboundBytes it starts the grace, and once back under it calls the peer healthy again.
   */
  #outboundOk(): boolean {
    const buffered = this.ws.bufferedAmount
    const limit = this.options.maxOutboundBytes
    if (buffered <= limit) {
      clearTimeout(this.#slowTimer)
      this.#slowTimer = undefined
      return true
    }
    if (buffered > 2 * limit) {
      this.#slowConsumer(buffered)
      return false
    }
    if (this.#slowTimer === undefined) {
      this.#slowTimer = setTimeout(() => {
        this.#slowTimer = undefined
        if (this.ws.bufferedAmount > limit) this.#slowConsumer(this.ws.bufferedAmount)
      }, this.options.outboundGraceMs)
      this.#slowTimer.unref()
    }
    return true
  }

  /**
   * The peer does not read what it is sent. Its close frame would wait behind the unread bytes,
   * so the socket is destroyed at once; what it held unsent (commands among it) was never delivered.
   */
  #slowConsumer(buffered: number): void {
    if (this.#closed) return
    this.counters.slowConsumers++
    this.alarm('warn', { buffered, maxOutboundBytes: this.options.maxOutboundBytes }, `closed with SLOW_CONSUMER: the peer left ${buffered} bytes unread`)
    this.closeWith(CloseCodes.SLOW_CONSUMER, `${buffered} bytes unread`)
    this.ws.terminate()
  }
}

function errorFields(err: ProtocolError): Record<string, unknown> {
  const fields: Record<string, unknown> = { code: err.code }
  if (err.field !== undefined) fields.field = err.field
  if (err.seq !== undefined) fields.seq = err.seq
  if (err.requestId !== undefined) fields.requestId = err.requestId
  return fields
}

export function isHelloFrame(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'hello'
}

export function perr(code: ProtocolErrorCode, message: string, field?: string, seq?: number): ProtocolError {
  const err = new ProtocolError(code, message, field)
  if (seq !== undefined) err.seq = seq
  return err
}
