/**
 * The gateway: one HTTP server with the WebSocket upgrade on `/v1`, speaking plain MessagePack.
 * Each connection is a small state machine (hello, then EA or dashboard) whose handlers are named
 * after the messages they handle. Network I/O, framing, validation and routing happen here; SQL
 * runs in the writer workers.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import { Admission, type AdmissionOptions, type Doorway } from './admission.js'
import type { CommandRouter, DashboardEndpoint, EaEndpoint } from '../commands/router.js'
import { ErrorCodes } from '../errors.js'
import type { Ingest, StreamSink } from '../ingest/ingest.js'
import { decode, encode, ProtocolError } from '../protocol/codec.js'
import {
  CloseCodes,
  PROTOCOL_VERSION,
  ProtocolErrors,
  type Command,
  type CommandSend,
  type CommandStatusUpdate,
  type DashboardHello,
  type EaHello,
  type EngineMessage,
  type ProtocolErrorCode,
  type Welcome,
} from '../protocol/messages.js'
import { eaSessionContinues, limits, parseDashboardMessage, parseEaMessage, parseHello } from '../protocol/validate.js'
import type { WriterPool } from '../workers/writer-pool.js'
import type { AuthResult, CommandChange, RecordEntry, RejectedEntry, TaskError } from '../workers/tasks.js'

/** The gateway's options, with the admission limits for strangers (src/admission.ts). */
export interface GatewayOptions extends AdmissionOptions {
  host: string
  /** 0 picks a free port. */
  port: number
  /** Largest frame accepted; a larger one closes the connection with 1009. Default 1 MiB. */
  maxFrameBytes: number
  maxBatchTicks: number
  /** Unacknowledged durable messages an EA may have in flight (told in `welcome`). */
  maxInflight: number
  /** Frames per second one connection may send before RATE_LIMITED. */
  maxFramesPerSecond: number
  /** Ping interval; a peer that misses one pong is dropped. */
  heartbeatMs: number
  /** A WebSocket connection that has not sent a valid hello by then is closed. Default 5000. */
  helloTimeoutMs: number
  /**
   * A TCP connection that has not completed its HTTP request (the upgrade) by then is destroyed,
   * and so is one idle that long between requests. Default 5000.
   */
  handshakeTimeoutMs: number
  /** Authenticated sessions at most; more are closed at once with 1013. Strangers do not count. */
  maxConnections: number
  /**
   * Bytes the engine may hold unsent for one connection (its peer is not reading). Over this for
   * `outboundGraceMs`, or over twice this at any moment, the connection is closed with 4011.
   */
  maxOutboundBytes: number
  outboundGraceMs: number
  /** How long a closing connection waits for the peer's close frame before the socket is destroyed. */
  closeGraceMs: number
}

export const defaultGatewayOptions: Readonly<GatewayOptions> = Object.freeze({
  host: '127.0.0.1',
  port: 8787,
  maxFrameBytes: limits.maxFrameBytes,
  maxBatchTicks: limits.maxBatchTicks,
  maxInflight: limits.maxInflight,
  maxFramesPerSecond: limits.maxFramesPerSecond,
  heartbeatMs: limits.pingIntervalMs,
  helloTimeoutMs: limits.helloTimeoutMs,
  handshakeTimeoutMs: 5000,
  maxConnections: 1000,
  maxUnauthenticated: 128,
  maxUnauthenticatedPerAddress: 32,
  maxRefusedPerSecond: 1000,
  authFailureDelayMs: 250,
  maxAuthFailureDelayMs: 3000,
  log: (line: string) => void process.stderr.write(line),
  maxOutboundBytes: limits.maxOutboundBytes,
  outboundGraceMs: limits.outboundGraceMs,
  closeGraceMs: 250,
})

export interface GatewayCounters {
  connections: number
  frames: number
  bytes: number
  errors: number
  /** Connections closed because they did not read what the engine sent them (4011). */
  slowConsumers: number
  /** Connections not yet authenticated, now. */
  unauthenticated: number
  /** TCP connections closed at once for want of an unauthenticated slot, or evicted to make one. */
  turnedAway: number
}

export interface Gateway {
  readonly url: string
  readonly port: number
  readonly counters: GatewayCounters
  /** Stops accepting connections and stops reading from open ones. */
  stopAccepting(): Promise<void>
  /** Closes every connection with `code`, then the server. */
  close(code?: number, reason?: string): Promise<void>
}

interface Deps {
  pool: WriterPool
  ingest: Ingest
  commands: CommandRouter
  /** The open connection of each stream: a new one replaces it. */
  streams: Map<number, Connection>
  /** Set once the engine stops accepting: hellos still being checked are answered SHUTTING_DOWN. */
  stopping: boolean
  admission: Admission
  /** Authenticated sessions now: what maxConnections limits. */
  sessions: number
}


export async function startGateway(options: GatewayOptions, services: Omit<Deps, 'streams' | 'stopping' | 'admission' | 'sessions'>): Promise<Gateway> {
  const admission = new Admission(options)
  const deps: Deps = { ...services, streams: new Map(), stopping: false, admission, sessions: 0 }
  const counters: GatewayCounters = { connections: 0, frames: 0, bytes: 0, errors: 0, slowConsumers: 0, unauthenticated: 0, turnedAway: 0 }
  const connections = new Set<Connection>()
  const doors = new WeakMap<Socket, Door>()
  // Node's request timers only start once a byte has arrived and are checked every
  // connectionsCheckingInterval (30 s by default): a socket that never sends is held by neither.
  // The socket's own idle timeout covers it; ws clears that timeout once the upgrade is done.
  const handshake = options.handshakeTimeoutMs
  const server: Server = createServer({
    headersTimeout: handshake,
    requestTimeout: handshake,
    keepAliveTimeout: handshake,
    connectionsCheckingInterval: Math.min(1000, handshake),
  }, (req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ok: true, connections: connections.size }))
      return
    }
    res.writeHead(426, { 'content-type': 'text/plain' })
    res.end('mt5-engine: connect with a WebSocket to /v1 (see docs/PROTOCOL.md)\n')
  })
  const wss = new WebSocketServer({
    server,
    path: '/v1',
    maxPayload: options.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
  })
  // The server's own errors (EADDRINUSE) are handled where it listens; ws re-emits them here.
  wss.on('error', () => {})
  server.on('connection', (socket: Socket) => {
    const door = new Door(socket, socket.remoteAddress ?? 'unknown', () => {
      counters.turnedAway++
      counters.unauthenticated = admission.pending
    })
    if (!admission.admit(door)) {
      // Refused before a byte is read: a stranger over its budget costs the engine nothing more.
      counters.turnedAway++
      socket.destroy()
      return
    }
    counters.unauthenticated = admission.pending
    doors.set(socket, door)
    // Until the upgrade only: ws turns the socket's timeout off when it takes the socket over
    // (setSocket), and from then on keepalive pings judge the peer.
    socket.setTimeout(handshake, () => socket.destroy())
    socket.once('close', () => {
      admission.settle(door)
      counters.unauthenticated = admission.pending
    })
  })
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const door = doors.get(req.socket)
    if (door === undefined) return ws.terminate()
    if (deps.sessions >= options.maxConnections) {
      // Every session holds buffers: past the limit a new one is turned away at once.
      ws.close(CloseCodes.TRY_AGAIN_LATER, `more than ${options.maxConnections} connections`)
      return
    }
    const conn = new Connection(ws, req.socket, door, options, deps, counters)
    door.connection = conn
    connections.add(conn)
    counters.connections = connections.size
    ws.once('close', () => {
      connections.delete(conn)
      counters.connections = connections.size
    })
  })
  const heartbeat = setInterval(() => {
    for (const c of connections) c.heartbeat()
  }, options.heartbeatMs)
  heartbeat.unref()

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  return {
    url: `ws://${host}:${port}/v1`,
    port,
    counters,
    async stopAccepting() {
      deps.stopping = true
      server.close()
      for (const c of connections) c.stopReading()
    },
    async close(code: number = CloseCodes.GOING_AWAY, reason = 'engine shutting down') {
      clearInterval(heartbeat)
      await Promise.all([...connections].map((c) => c.close(code, reason)))
      wss.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A TCP connection in the unauthenticated budget: a bare socket until the upgrade, then its Connection. */
class Door implements Doorway {
  connection: Connection | undefined

  constructor(
    readonly socket: Socket,
    readonly address: string,
    readonly onEvicted: () => void,
  ) {}

  idle(): boolean {
    return this.connection === undefined || this.connection.idle()
  }

  evict(): void {
    if (this.connection) this.connection.evict()
    else this.socket.destroy()
    this.onEvicted()
  }
}

class Connection implements StreamSink, EaEndpoint, DashboardEndpoint {
  #phase: 'hello' | 'authenticating' | 'ea' | 'dashboard' | 'closed' = 'hello'
  #nonHellos = 0
  #hellos = 0
  #alive = true
  #windowStart = Date.now()
  #framesInWindow = 0
  #helloTimer: NodeJS.Timeout | undefined
  /** The AUTH_FAILED answer waiting out its delay. */
  #authFailure: NodeJS.Timeout | undefined
  #session = false
  #corked = false
  #stopped = false
  #pausedByIngest = false
  /** Commands of this dashboard being created; at MAX_COMMANDS_IN_FLIGHT its socket is not read. */
  #commandsInFlight = 0
  #detached = false
  /** Set while the outbound buffer is over maxOutboundBytes: the grace running out. */
  #slowTimer: NodeJS.Timeout | undefined
  // EA state
  streamId = 0
  accountId = 0
  magic = 0
  #server = ''
  #resumeSeq = 0
  #expectedSeq: number | undefined
  #lastAcked = 0
  /** The highest seq accepted on this connection: what it has in flight is #lastSeq - #lastAcked. */
  #lastSeq = 0
  // dashboard state
  #auth: AuthResult | undefined

  constructor(
    readonly ws: WebSocket,
    /** The TCP socket under `ws`: its 'drain' says when the peer has read what was queued. */
    readonly socket: Socket,
    readonly door: Door,
    readonly options: GatewayOptions,
    readonly deps: Deps,
    readonly counters: GatewayCounters,
  ) {
    ws.on('message', (data, isBinary) => this.#onFrame(data, isBinary))
    ws.on('pong', () => (this.#alive = true))
    ws.on('close', () => this.#onClose())
    // ws reports protocol violations (oversized frames: 1009) here and closes the socket itself.
    ws.on('error', () => this.counters.errors++)
    this.#helloTimer = setTimeout(() => {
      // A failed hello being delayed is answered AUTH_FAILED when its delay is up, not HELLO_REQUIRED;
      // and a hello that arrived in time is not the client's fault if checking it takes long (a
      // slow database): that check ends in welcome or in its own error.
      if (this.#authFailure !== undefined || this.#phase === 'authenticating') return
      this.#fatal(perr(ProtocolErrors.HELLO_REQUIRED, `no hello within ${options.helloTimeoutMs} ms`), CloseCodes.PROTOCOL_ERROR)
    }, options.helloTimeoutMs)
  }

  /** Holds its slot for nothing yet: no valid hello has arrived. */
  idle(): boolean {
    return this.#phase === 'hello'
  }

  evict(): void {
    this.#closeWith(CloseCodes.TRY_AGAIN_LATER, 'too many connections without hello: send hello as soon as the connection opens')
  }

  heartbeat(): void {
    // A socket the engine stopped reading (backpressure, shutdown) cannot deliver the peer's pong:
    // that silence is ours, not the peer's.
    if (this.ws.isPaused) {
      this.#alive = true
      return
    }
    if (!this.#alive) {
      this.ws.terminate()
      return
    }
    this.#alive = false
    this.ws.ping()
    if (this.#phase === 'ea' || this.#phase === 'dashboard') this.#send({ type: 'ping', server_time: Date.now() })
  }

  stopReading(): void {
    this.#stopped = true
    this.ws.pause()
    // A hello not yet answered cannot be served any more: say so now rather than after the drain.
    if (this.#phase === 'hello' || this.#phase === 'authenticating') {
      this.#fatal(perr(ProtocolErrors.SHUTTING_DOWN, 'engine shutting down'), CloseCodes.GOING_AWAY)
    }
  }

  async close(code: number, reason: string): Promise<void> {
    if (this.ws.readyState === this.ws.CLOSED) return
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()))
    if (code === CloseCodes.GOING_AWAY) this.#fatal(perr(ProtocolErrors.SHUTTING_DOWN, reason), code)
    else this.#closeWith(code, reason)
    await closed
  }

  // --- frames ------------------------------------------------------------------------------

  #onFrame(data: RawData, isBinary: boolean): void {
    const bytes = data as Buffer
    this.counters.frames++
    this.counters.bytes += bytes.length
    if (this.#phase === 'closed' || !this.#withinRate()) return
    let value: unknown
    try {
      if (!isBinary) throw new ProtocolError(ProtocolErrors.BAD_FRAME, 'text frames are not accepted: send binary MessagePack')
      value = decode(bytes)
    } catch (err) {
      return this.#refused(err as ProtocolError, undefined)
    }
    switch (this.#phase) {
      case 'hello':
        return this.#onHello(value)
      case 'authenticating':
        // ws still delivers frames read together with the hello after pause(): they came before welcome
        return this.#refused(perr(ProtocolErrors.HELLO_REQUIRED, 'wait for welcome before sending anything else'), value)
      case 'ea':
        return this.#onEaMessage(value, bytes.length)
      case 'dashboard':
        return this.#onDashboardMessage(value)
      default:
        return
    }
  }

  #withinRate(): boolean {
    const now = Date.now()
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now
      this.#framesInWindow = 0
    }
    if (++this.#framesInWindow <= this.options.maxFramesPerSecond) return true
    this.#fatal(new ProtocolError(ProtocolErrors.RATE_LIMITED, `more than ${this.options.maxFramesPerSecond} frames per second`), CloseCodes.RATE_LIMITED)
    return false
  }

  /**
   * A refused frame, answered by the rules of docs/PROTOCOL.md 3.1 and 3.5: before welcome the
   * third non-hello frame or the second bad hello closes; on an EA session a frame whose seq
   * cannot be known closes; a dashboard session stays open.
   */
  #refused(err: ProtocolError, value: unknown): void {
    if (!(err instanceof ProtocolError)) err = new ProtocolError(ProtocolErrors.INTERNAL, String((err as Error)?.message ?? err))
    if (!this.#refusedWithinBudget()) return
    switch (this.#phase) {
      case 'hello':
      case 'authenticating': {
        const isHello = (value as { type?: unknown } | null)?.type === 'hello'
        if (err.code === ProtocolErrors.UNSUPPORTED_PROTOCOL) return this.#fatal(err, CloseCodes.UNSUPPORTED_PROTOCOL)
        const closes = isHello ? ++this.#hellos >= limits.maxHellos : ++this.#nonHellos >= limits.maxFramesBeforeHello
        return closes ? this.#fatal(err, CloseCodes.PROTOCOL_ERROR) : this.#answer(err)
      }
      case 'ea':
        return eaSessionContinues(err, value) ? this.#answer(err) : this.#fatal(err, CloseCodes.PROTOCOL_ERROR)
      default:
        return this.#answer(err)
    }
  }

  /**
   * Answering refused frames costs the main thread far more than reading them: many connections of
   * one address, each within its own frame rate, could starve everyone else. Past the address's
   * budget the connection that sent the frame is closed.
   */
  #refusedWithinBudget(): boolean {
    if (this.deps.admission.refused(this.door.address)) return true
    const message = `more than ${this.options.maxRefusedPerSecond} refused frames per second from ${this.door.address}: fix what the errors name before sending more`
    this.#fatal(new ProtocolError(ProtocolErrors.RATE_LIMITED, message), CloseCodes.RATE_LIMITED)
    return false
  }

  #answer(err: ProtocolError): void {
    this.counters.errors++
    this.#send(err.toFrame())
  }

  #fatal(err: ProtocolError, closeCode: number): void {
    if (this.#phase === 'closed') return
    this.#answer(err)
    this.#closeWith(closeCode, err.message.slice(0, 120))
  }

  /**
   * Ends the session at once: the stream, its pending messages and its commands are detached now,
   * not when the peer's close frame arrives, so nothing is delivered to a connection that is going.
   */
  #closeWith(code: number, reason: string): void {
    this.#phase = 'closed'
    this.#detach()
    if (this.ws.readyState === this.ws.CLOSED) return
    this.ws.close(code, reason)
    // The close handshake needs the peer's close frame: a paused socket (during authentication, or
    // by ingest) would hold the connection until ws's 30 s timeout. Frames are ignored from now on.
    this.ws.resume()
    // A peer that does not answer (or cannot: it is not reading) is not waited for.
    setTimeout(() => this.ws.terminate(), this.options.closeGraceMs).unref()
  }

  // --- hello ---------------------------------------------------------------------------------

  #onHello(value: unknown): void {
    let hello: EaHello | DashboardHello
    try {
      hello = parseHello(value)
    } catch (err) {
      return this.#refused(err as ProtocolError, value)
    }
    this.#hellos++
    this.#phase = 'authenticating'
    this.ws.pause()
    void this.#authenticate(hello)
  }

  async #authenticate(hello: EaHello | DashboardHello): Promise<void> {
    try {
      await this.#admit(hello)
      if (this.#phase === 'ea' || this.#phase === 'dashboard') this.#authenticated()
    } catch (err) {
      // The pool refused the task: it is being destroyed (shutdown), or the writer thread died
      // under it (it is replaced at once), which is the database path failing: try again later.
      if (this.deps.stopping) this.#fatal(perr(ProtocolErrors.SHUTTING_DOWN, 'engine shutting down'), CloseCodes.GOING_AWAY)
      else this.#storageFailed(`the database writer failed while opening the session (${(err as Error).message})`)
    }
  }

  async #admit(hello: EaHello | DashboardHello): Promise<void> {
    const auth = await this.deps.pool.authenticate(hello.token)
    if (this.#phase !== 'authenticating') return
    if (!auth.ok) return this.#storageFailed(`could not check the token: ${auth.error.message}`)
    if (auth.value === null) return this.#authFailed()
    this.#auth = auth.value
    const role = auth.value.role
    if (hello.role === 'dashboard') {
      if (role === 'ea') return this.#fatal(perr(ProtocolErrors.FORBIDDEN, 'an ea token cannot open a dashboard session; use a viewer or admin token'), CloseCodes.FORBIDDEN)
      return this.#welcomeDashboard(role)
    }
    if (role === 'viewer') return this.#fatal(perr(ProtocolErrors.FORBIDDEN, 'a viewer token cannot stream as an EA; use an ea token'), CloseCodes.FORBIDDEN)
    const registered = await this.deps.pool.register(hello, auth.value.tokenId)
    if (this.#phase !== 'authenticating') return
    if (!registered.ok) {
      switch (registered.error.code) {
        case ErrorCodes.INSTANCE_CONFLICT:
          return this.#fatal(perr(ProtocolErrors.BAD_FIELD, registered.error.message, 'instance_id'), CloseCodes.PROTOCOL_ERROR)
        case ErrorCodes.TOKEN_SCOPE:
        case ErrorCodes.INSTANCE_TAKEN:
          return this.#fatal(perr(ProtocolErrors.FORBIDDEN, registered.error.message), CloseCodes.FORBIDDEN)
        default:
          return this.#storageFailed(`could not register the stream: ${registered.error.message}`)
      }
    }
    const r = registered.value
    // A new connection of a stream replaces the old one. Its batch in flight must settle before
    // the welcome, so that resume_seq is final: no ack for this stream may follow it from before.
    const previous = this.deps.streams.get(r.streamId)
    this.deps.streams.set(r.streamId, this)
    this.streamId = r.streamId
    if (previous) {
      previous.#fatal(perr(ProtocolErrors.REPLACED, 'another connection took over this EA instance'), CloseCodes.REPLACED)
      this.deps.ingest.detach(r.streamId, previous)
    }
    const committed = await this.deps.ingest.settled(r.streamId)
    if (this.#phase !== 'authenticating' || this.deps.streams.get(r.streamId) !== this) return
    if (this.deps.stopping) return this.#fatal(perr(ProtocolErrors.SHUTTING_DOWN, 'engine shutting down'), CloseCodes.GOING_AWAY)
    const resumeSeq = Math.max(r.resumeSeq, committed ?? 0)
    this.accountId = r.accountId
    this.magic = hello.ea.magic ?? 0
    this.#server = r.server
    this.#resumeSeq = resumeSeq
    this.#lastAcked = resumeSeq
    this.#lastSeq = resumeSeq
    this.#phase = 'ea'
    clearTimeout(this.#helloTimer)
    this.deps.ingest.attach({ streamId: r.streamId, accountId: r.accountId, server: r.server }, this)
    this.#send({ type: 'welcome', protocol: PROTOCOL_VERSION, stream_id: r.streamId, resume_seq: resumeSeq, role: 'ea', server_time: Date.now(), limits: this.#limits() })
    this.deps.commands.attachEa(this, r.commands)
    this.#resumeReading()
  }

  /**
   * Guessing tokens, or a client with a wrong one reconnecting in a loop, is slowed per address:
   * the answer waits, growing with each failure, and holds its unauthenticated slot meanwhile.
   * A good token is never delayed.
   */
  #authFailed(): void {
    const delay = this.deps.admission.authFailed(this.door.address)
    this.#authFailure = setTimeout(() => {
      this.#authFailure = undefined
      this.#fatal(perr(ProtocolErrors.AUTH_FAILED, 'unknown, revoked or expired token: check the token given to this client'), CloseCodes.AUTH_FAILED)
    }, delay)
  }

  /** The session is open: it leaves the strangers' budget and counts toward maxConnections. */
  #authenticated(): void {
    this.deps.admission.settle(this.door)
    this.counters.unauthenticated = this.deps.admission.pending
    this.#session = true
    this.deps.sessions++
    // Sessions welcomed together may pass the limit by the few whose tokens were being checked.
    if (this.deps.sessions > this.options.maxConnections) this.#closeWith(CloseCodes.TRY_AGAIN_LATER, `more than ${this.options.maxConnections} connections`)
  }

  /** The database cannot serve the session now (it is down, or full): the client retries later. */
  #storageFailed(message: string): void {
    this.#fatal(perr(ProtocolErrors.STORAGE_FAILED, `${message}; reconnect later`), CloseCodes.STORAGE_FAILED)
  }

  #welcomeDashboard(role: 'viewer' | 'admin'): void {
    if (this.deps.stopping) return this.#fatal(perr(ProtocolErrors.SHUTTING_DOWN, 'engine shutting down'), CloseCodes.GOING_AWAY)
    this.#phase = 'dashboard'
    clearTimeout(this.#helloTimer)
    this.#send({ type: 'welcome', protocol: PROTOCOL_VERSION, role, server_time: Date.now(), limits: this.#limits() })
    this.#resumeReading()
  }

  #limits(): Welcome['limits'] {
    return { max_frame_bytes: this.options.maxFrameBytes, max_batch_ticks: this.options.maxBatchTicks, max_inflight: this.options.maxInflight }
  }

  // --- EA ------------------------------------------------------------------------------------

  #onEaMessage(value: unknown, bytes: number): void {
    // A hello after welcome closes, valid or not (PROTOCOL.md 3.1), before anything checks its fields.
    if (isHelloFrame(value)) return this.#helloAgain()
    let message
    try {
      message = parseEaMessage(value)
    } catch (err) {
      return this.#onInvalid(value, err as ProtocolError, bytes)
    }
    if (message.type === 'hello') return this.#helloAgain()
    if (message.type === 'goodbye') return this.#closeWith(CloseCodes.NORMAL, 'goodbye')
    if (!this.#inSequence(message.seq)) return
    if (message.seq <= this.#resumeSeq) return this.#ack(message.seq)
    if (!this.#withinWindow(message.seq)) return
    if (message.type === 'tick_batch') this.deps.ingest.submitTicks(this.streamId, message, bytes)
    else {
      const entry: RecordEntry = { streamId: this.streamId, accountId: this.accountId, server: this.#server, seq: message.seq, message: message as unknown as RecordEntry['message'] }
      this.deps.ingest.submitRecord(this.streamId, entry, bytes)
    }
    this.#submitted(message.seq)
  }

  #helloAgain(): void {
    this.#fatal(perr(ProtocolErrors.BAD_MESSAGE, 'hello was already received'), CloseCodes.PROTOCOL_ERROR)
  }

  /**
   * A refused message. With a valid seq it was meant to be stored: it is answered, recorded as
   * rejected and consumes its seq, so a resend cannot loop on it (docs/PROTOCOL.md 3.5).
   */
  #onInvalid(value: unknown, err: ProtocolError, bytes: number): void {
    if (err.seq === undefined) return this.#refused(err, value)
    if (!this.#inSequence(err.seq)) return
    if (err.seq > this.#resumeSeq && !this.#withinWindow(err.seq)) return
    if (!this.#refusedWithinBudget()) return
    this.#answer(err)
    if (err.seq <= this.#resumeSeq) return this.#ack(err.seq)
    const detail = err.field ? `${err.message} (field ${err.field})` : err.message
    const entry: RejectedEntry = { streamId: this.streamId, accountId: this.accountId, seq: err.seq, code: err.code, message: detail }
    this.deps.ingest.submitRejected(this.streamId, entry, bytes)
    this.#submitted(err.seq)
  }

  #submitted(seq: number): void {
    this.#lastSeq = seq
  }

  /**
   * PROTOCOL.md 3.4: a durable message sent while max_inflight of this connection's messages are
   * unacknowledged is refused and closes the session; nothing of it is stored. The engine's count
   * is never above the client's (an ack is counted here when it is sent), so a client that keeps
   * to the window is never refused.
   */
  #withinWindow(seq: number): boolean {
    if (this.#lastSeq - this.#lastAcked < this.options.maxInflight) return true
    const message = `seq ${seq} exceeds max_inflight ${this.options.maxInflight}: wait for an ack before sending more`
    this.#fatal(perr(ProtocolErrors.INFLIGHT_EXCEEDED, message, undefined, seq), CloseCodes.PROTOCOL_ERROR)
    return false
  }

  /** Reads again unless something still holds the connection: shutdown, hello or ingest. */
  #resumeReading(): void {
    if (this.#stopped || this.#phase === 'authenticating' || this.#pausedByIngest) return
    if (this.#commandsInFlight >= MAX_COMMANDS_IN_FLIGHT) return
    this.ws.resume()
  }

  /** Within a connection seqs go up by exactly one; the first may be anything up to resume_seq + 1. */
  #inSequence(seq: number): boolean {
    const expected = this.#expectedSeq
    if (expected === undefined ? seq > this.#resumeSeq + 1 : seq > expected) {
      const from = expected ?? this.#resumeSeq + 1
      this.#fatal(perr(ProtocolErrors.SEQ_GAP, `seq ${seq} skips ahead: the next must be ${from}`, undefined, seq), CloseCodes.PROTOCOL_ERROR)
      return false
    }
    if (expected !== undefined && seq < expected) {
      this.#fatal(perr(ProtocolErrors.SEQ_REGRESSION, `seq ${seq} goes back: the next must be ${expected}`, undefined, seq), CloseCodes.PROTOCOL_ERROR)
      return false
    }
    this.#expectedSeq = seq + 1
    return true
  }

  /** A replay of a message stored before: acknowledged at once, without writing. */
  #ack(seq: number): void {
    this.#lastAcked = Math.max(this.#lastAcked, seq)
    this.#send({ type: 'ack', seq })
  }

  // StreamSink: called by ingest after commit or failure.
  committed(seq: number, changes: CommandChange[]): void {
    if (seq > this.#lastAcked) {
      this.#lastAcked = seq
      this.#send({ type: 'ack', seq })
      this.#resumeReading()
    }
    if (changes.length > 0) this.deps.commands.changed(changes)
  }

  failed(error: TaskError): void {
    this.#fatal(perr(ProtocolErrors.STORAGE_FAILED, `the database could not store your messages (${error.dbCode ?? error.code}: ${error.message}); reconnect and resend`), CloseCodes.STORAGE_FAILED)
  }

  rejected(entry: RejectedEntry): void {
    this.#answer(perr(ProtocolErrors.STORAGE_FAILED, `the database refused message ${entry.seq}: ${entry.message}`, undefined, entry.seq))
  }

  pause(): void {
    this.#pausedByIngest = true
    this.ws.pause()
  }

  resume(): void {
    this.#pausedByIngest = false
    this.#resumeReading()
  }

  /**
   * EaEndpoint: true once the frame has left the engine for the operating system's socket. With
   * maxOutboundBytes already queued for the peer, each command waits for the peer to read first:
   * many commands at once (a backlog at hello) go out as fast as the EA reads them, never all into
   * memory together; a peer that does not read is closed after the grace, and the rest stay pending.
   */
  async sendCommand(command: Command): Promise<boolean> {
    while (this.ws.bufferedAmount > this.options.maxOutboundBytes) {
      if (!(await this.#drained())) return false
    }
    return new Promise((resolve) => {
      if (!this.#send(command, (err) => resolve(!err))) resolve(false)
    })
  }

  /** Resolves true when the socket has written out what was queued, false when the session ends first. */
  #drained(): Promise<boolean> {
    if (this.#phase === 'closed') return Promise.resolve(false)
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

  // --- dashboard -----------------------------------------------------------------------------

  #onDashboardMessage(value: unknown): void {
    if (isHelloFrame(value)) return this.#helloAgain()
    let message
    try {
      message = parseDashboardMessage(value)
    } catch (err) {
      return this.#refused(err as ProtocolError, value)
    }
    if (message.type === 'hello') return this.#helloAgain()
    if (message.type === 'command_send') void this.#onCommandSend(message)
  }

  async #onCommandSend(request: CommandSend): Promise<void> {
    const answer = (code: ProtocolErrorCode, message: string, field?: string) => {
      const err = perr(code, message, field)
      err.requestId = request.request_id
      this.#answer(err)
    }
    if (this.#auth?.role !== 'admin') return answer(ProtocolErrors.FORBIDDEN, `a ${this.#auth?.role} token cannot send commands; an admin token can`)
    // Each command is a task for the writer, whose queue the EAs' batches share: a dashboard
    // sending faster than commands are created is read no further until they catch up (TCP
    // backpressure), so it can neither fill that queue nor hold unbounded work here.
    if (++this.#commandsInFlight >= MAX_COMMANDS_IN_FLIGHT) this.ws.pause()
    try {
      await this.deps.commands.send(request, this, this.#auth.tokenId)
    } catch (err) {
      if ((err as { code?: string }).code === 'COMMAND_TARGET_UNKNOWN') answer(ProtocolErrors.BAD_FIELD, (err as Error).message, 'target')
      else answer(ProtocolErrors.INTERNAL, (err as Error).message)
    } finally {
      this.#commandsInFlight--
      this.#resumeReading()
    }
  }

  // DashboardEndpoint
  sendStatus(update: CommandStatusUpdate): void {
    this.#send(update)
  }

  // --- plumbing ------------------------------------------------------------------------------

  /**
   * Queues a frame unless the connection is closing or its peer has stopped reading: memory held
   * for one connection is bounded by twice maxOutboundBytes (PROTOCOL.md 3.6). Returns whether it
   * was queued; `written` is called once it has left for the socket, or with an error.
   */
  #send(message: EngineMessage, written?: (err?: Error) => void): boolean {
    if (this.ws.readyState !== this.ws.OPEN || this.#phase === 'closed') return false
    if (!this.#outboundOk()) return false
    this.#cork()
    this.ws.send(encode(message), written)
    this.#outboundOk()
    return true
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
    if (this.#phase === 'closed') return
    this.counters.slowConsumers++
    this.#closeWith(CloseCodes.SLOW_CONSUMER, `${buffered} bytes unread`)
    this.ws.terminate()
  }

  #onClose(): void {
    this.#phase = 'closed'
    this.#detach()
  }

  /** Lets go of the stream, its commands and timers; once, whichever way the session ended. */
  #detach(): void {
    if (this.#detached) return
    this.#detached = true
    clearTimeout(this.#helloTimer)
    clearTimeout(this.#authFailure)
    clearTimeout(this.#slowTimer)
    this.deps.admission.settle(this.door)
    this.counters.unauthenticated = this.deps.admission.pending
    if (this.#session) this.deps.sessions--
    if (this.streamId !== 0) {
      if (this.deps.streams.get(this.streamId) === this) this.deps.streams.delete(this.streamId)
      this.deps.ingest.detach(this.streamId, this)
      this.deps.commands.detachEa(this)
    }
    this.deps.commands.detachDashboard(this)
  }
}

/** Commands one dashboard may have being created at once before its socket is paused. */
const MAX_COMMANDS_IN_FLIGHT = 16

function isHelloFrame(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'hello'
}

function perr(code: ProtocolErrorCode, message: string, field?: string, seq?: number): ProtocolError {
  const err = new ProtocolError(code, message, field)
  if (seq !== undefined) err.seq = seq
  return err
}
