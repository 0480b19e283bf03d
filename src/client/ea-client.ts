/**
 * `connectEA`: the engine's protocol from the EA side, for Node (tests, the bench, and anyone
 * integrating from Node). It numbers every durable message, keeps each one until the engine
 * acknowledges it, reconnects with backoff and resends what is unacknowledged, and respects the
 * engine's in-flight limit. Its queue is bounded: `send` waits while it is full.
 */
import { EventEmitter } from 'node:events'
import WebSocket from 'ws'
import { ClientError } from '../errors.js'
import { decode, encode } from '../protocol/codec.js'
import {
  PROTOCOL_VERSION,
  type Command,
  type CommandAckStatus,
  type DurableMessage,
  type EaHello,
  type EngineMessage,
  type ErrorFrame,
  type HelloAccount,
  type HelloEa,
  type Welcome,
} from '../protocol/messages.js'

/** A durable message before the client numbers it. */
export type Outgoing = DurableMessage extends infer M ? (M extends DurableMessage ? Omit<M, 'seq'> : never) : never

export interface EaClientOptions {
  token: string
  /** Persistent id of this EA instance: the engine's resume point is kept per instance. */
  instanceId: string
  account: HelloAccount
  ea: HelloEa
  bridge?: { name: string; version: string }
  /** Messages kept until acknowledged; `send` waits while this many are queued. Default 10000. */
  maxQueue?: number
  /** Reconnect backoff: first delay, doubled up to `maxDelayMs`, with jitter. Defaults 100 / 5000. */
  minDelayMs?: number
  maxDelayMs?: number
  /** Called for every command the engine delivers. */
  onCommand?: (command: Command, client: EaClient) => void
  /** Local address to connect from, on a machine with several. Default: the system's choice. */
  localAddress?: string
}

export interface EaClientCounters {
  sent: number
  resent: number
  acked: number
  lastAckedSeq: number
  reconnects: number
  errors: number
  queued: number
}

interface Queued {
  seq: number
  frame: Buffer
}

export interface EaClient extends EventEmitter {
  readonly counters: EaClientCounters
  /** Queues a durable message and returns its seq; waits while the queue is full. */
  send(message: Outgoing): Promise<number>
  /** Resolves when every queued message is acknowledged. */
  flushed(): Promise<void>
  /** Acknowledges a delivered command (accepted, rejected, duplicate, expired). */
  ackCommand(commandId: string, status: CommandAckStatus, reason?: string): Promise<number>
  /** Reports a command's outcome. */
  commandResult(commandId: string, ok: boolean, result?: Record<string, unknown>, error?: string): Promise<number>
  /** Drops the connection without goodbye (tests: a network failure); the client reconnects. */
  dropConnection(): void
  /** Sends goodbye and closes; unacknowledged messages stay unacknowledged. */
  close(): Promise<void>
}

/**
 * Connects an EA to `url` (`ws://host:8787/v1`). Resolves after the first `welcome`; rejects with
 * a ClientError carrying the engine's code if it refuses the hello (AUTH_FAILED,
 * UNSUPPORTED_PROTOCOL, ...). Until then it keeps reconnecting to an engine it cannot reach.
 */
export function connectEA(url: string, options: EaClientOptions): Promise<EaClient> {
  const client = new Client(url, options)
  return client.start().then(() => client)
}

class Client extends EventEmitter implements EaClient {
  readonly counters: EaClientCounters = { sent: 0, resent: 0, acked: 0, lastAckedSeq: 0, reconnects: 0, errors: 0, queued: 0 }
  readonly #url: string
  readonly #options: EaClientOptions
  readonly #queue: Queued[] = []
  /** Pending sends before the first welcome told us where to number from. */
  readonly #unnumbered: { message: Outgoing; resolve: (seq: number) => void }[] = []
  #nextSeq: number | undefined
  #ws: WebSocket | undefined
  #welcome: Welcome | undefined
  /** Index in #queue of the next message to put on the wire. */
  #cursor = 0
  #closing = false
  #delay: number
  #spaceWaiters: (() => void)[] = []
  #flushWaiters: (() => void)[] = []

  constructor(url: string, options: EaClientOptions) {
    super()
    this.#url = url
    this.#options = options
    this.#delay = options.minDelayMs ?? 100
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false
      const onWelcome = () => {
        settled = true
        this.off('refused', onRefused)
        resolve()
      }
      const onRefused = (frame: ErrorFrame) => {
        if (settled) return
        settled = true
        this.#closing = true
        this.off('welcome', onWelcome)
        reject(new ClientError(frame.code, `engine refused the hello: ${frame.code}: ${frame.message}`, frame))
      }
      this.once('welcome', onWelcome)
      this.once('refused', onRefused)
      this.#connect()
    })
  }

  async send(message: Outgoing): Promise<number> {
    while (this.#queue.length + this.#unnumbered.length >= (this.#options.maxQueue ?? 10000)) {
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve))
    }
    if (this.#nextSeq === undefined) {
      return new Promise<number>((resolve) => this.#unnumbered.push({ message, resolve }))
    }
    return this.#enqueue(message)
  }

  ackCommand(commandId: string, status: CommandAckStatus, reason?: string): Promise<number> {
    return this.send({ type: 'command_ack', command_id: commandId, status, ...(reason !== undefined && { reason }) })
  }

  commandResult(commandId: string, ok: boolean, result?: Record<string, unknown>, error?: string): Promise<number> {
    return this.send({
      type: 'command_result',
      command_id: commandId,
      ok,
      ...(result !== undefined && { result }),
      ...(error !== undefined && { error }),
    })
  }

  flushed(): Promise<void> {
    if (this.#queue.length === 0 && this.#unnumbered.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.#flushWaiters.push(resolve))
  }

  dropConnection(): void {
    this.#ws?.terminate()
  }

  async close(): Promise<void> {
    this.#closing = true
    const ws = this.#ws
    if (!ws || ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve())
      if (ws.readyState === WebSocket.OPEN) ws.send(encode({ type: 'goodbye', reason: 'client closed' }))
      ws.close(1000, 'goodbye')
      setTimeout(() => {
        ws.terminate()
        resolve()
      }, 2000).unref()
    })
  }

  #enqueue(message: Outgoing): number {
    const seq = this.#nextSeq!
    this.#nextSeq = seq + 1
    this.#queue.push({ seq, frame: encode({ ...message, seq }) })
    this.counters.queued = this.#queue.length
    this.#pump()
    return seq
  }

  #connect(): void {
    const hello: EaHello = {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      role: 'ea',
      token: this.#options.token,
      instance_id: this.#options.instanceId,
      account: this.#options.account,
      ea: this.#options.ea,
      ...(this.#options.bridge && { bridge: this.#options.bridge }),
      ...(this.counters.lastAckedSeq > 0 && { last_acked_seq: this.counters.lastAckedSeq }),
    }
    const ws = new WebSocket(this.#url, { perMessageDeflate: false, ...(this.#options.localAddress && { localAddress: this.#options.localAddress }) })
    this.#ws = ws
    this.#welcome = undefined
    ws.binaryType = 'nodebuffer'
    ws.on('open', () => ws.send(encode(hello)))
    ws.on('message', (data) => this.#onMessage(data as Buffer))
    ws.on('error', () => this.counters.errors++)
    ws.on('close', (code, reason) => {
      this.emit('disconnect', code, reason.toString())
      if (this.#ws === ws) this.#ws = undefined
      if (!this.#closing) this.#reconnectLater()
    })
  }

  #reconnectLater(): void {
    const jitter = 0.5 + Math.random()
    const wait = Math.min(this.#delay * jitter, this.#options.maxDelayMs ?? 5000)
    this.#delay = Math.min(this.#delay * 2, this.#options.maxDelayMs ?? 5000)
    setTimeout(() => {
      if (this.#closing) return
      this.counters.reconnects++
      this.#connect()
    }, wait)
  }

  #onMessage(data: Buffer): void {
    const message = decode(data) as EngineMessage
    switch (message.type) {
      case 'welcome':
        return this.#onWelcome(message)
      case 'ack':
        return this.#onAck(message.seq)
      case 'error':
        this.counters.errors++
        if (this.#welcome === undefined) this.emit('refused', message)
        this.emit('engine-error', message)
        return
      case 'command':
        this.emit('command', message)
        this.#options.onCommand?.(message, this)
        return
      default:
        return
    }
  }

  #onWelcome(welcome: Welcome): void {
    this.#welcome = welcome
    this.#delay = this.#options.minDelayMs ?? 100
    const resume = welcome.resume_seq ?? 0
    if (this.#nextSeq === undefined) {
      this.#nextSeq = resume + 1
      for (const { message, resolve } of this.#unnumbered.splice(0)) resolve(this.#enqueue(message))
    }
    // resume_seq says what is stored; what the last connection sent beyond it was lost with it.
    // Drop the stored, then send the rest strictly from resume_seq + 1, in order.
    const dropped = this.#dropAcked(resume)
    this.counters.resent += Math.max(0, this.#cursor - dropped)
    this.#cursor = 0
    this.#acked(resume, dropped)
    this.emit('welcome', welcome)
    this.#pump()
  }

  #onAck(seq: number): void {
    const dropped = this.#dropAcked(seq)
    this.#cursor = Math.max(0, this.#cursor - dropped)
    this.#acked(seq, dropped)
    this.emit('ack', seq)
    this.#pump()
  }

  /** Removes the queued messages up to `seq`; returns how many. */
  #dropAcked(seq: number): number {
    let dropped = 0
    while (this.#queue.length > 0 && this.#queue[0]!.seq <= seq) {
      this.#queue.shift()
      dropped++
    }
    return dropped
  }

  #acked(seq: number, dropped: number): void {
    if (seq > this.counters.lastAckedSeq) {
      this.counters.acked += dropped
      this.counters.lastAckedSeq = seq
    }
    this.counters.queued = this.#queue.length
    for (const wake of this.#spaceWaiters.splice(0, dropped)) wake()
    if (this.#queue.length === 0 && this.#unnumbered.length === 0) for (const wake of this.#flushWaiters.splice(0)) wake()
  }

  /** Puts queued messages on the wire while the engine's in-flight limit allows. */
  #pump(): void {
    const ws = this.#ws
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.#welcome) return
    const limit = this.#welcome.limits.max_inflight
    while (this.#cursor < this.#queue.length && this.#cursor < limit) {
      ws.send(this.#queue[this.#cursor]!.frame)
      this.#cursor++
      this.counters.sent++
    }
  }
}
