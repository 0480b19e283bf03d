/**
 * An EA's session, from its welcome on: durable messages checked for their seq and the in-flight
 * window and handed to ingest, acks once they are committed, and commands sent to the EA as fast as
 * it reads them.
 */
import { isHelloFrame, perr, type Connection } from './connection.js'
import { Session } from './session.js'
import type { EaEndpoint } from '../commands/router.js'
import type { StreamSink } from '../ingest/ingest.js'
import type { ProtocolError } from '../protocol/codec.js'
import { CloseCodes, PROTOCOL_VERSION, ProtocolErrors, type Command } from '../protocol/messages.js'
import { eaSessionContinues, parseEaMessage } from '../protocol/validate.js'
import type { CommandChange, PendingCommand, RecordEntry, RejectedEntry, TaskError } from '../workers/tasks.js'

/** The stream an EA's registration opened, and where its session resumes. */
export interface EaStream {
  streamId: number
  instanceId: string
  accountId: number
  server: string
  magic: number
  /** Everything up to it is stored: welcome's resume_seq. */
  resumeSeq: number
}

export class EaSession extends Session implements StreamSink, EaEndpoint {
  readonly streamId: number
  readonly accountId: number
  readonly magic: number
  readonly #server: string
  readonly #resumeSeq: number
  readonly #instanceId: string
  #expectedSeq: number | undefined
  #lastAcked: number
  /** The highest seq accepted on this connection: what it has in flight is #lastSeq - #lastAcked. */
  #lastSeq: number
  #pausedByIngest = false

  constructor(conn: Connection, stream: EaStream) {
    super(conn)
    this.streamId = stream.streamId
    this.accountId = stream.accountId
    this.magic = stream.magic
    this.#server = stream.server
    this.#instanceId = stream.instanceId
    this.#resumeSeq = stream.resumeSeq
    this.#lastAcked = stream.resumeSeq
    this.#lastSeq = stream.resumeSeq
  }

  /** Takes the stream over from ingest's point of view, sends welcome, then the commands waiting for the EA. */
  open(pending: PendingCommand[]): void {
    const { deps } = this.conn
    deps.ingest.attach({ streamId: this.streamId, accountId: this.accountId, server: this.#server }, this)
    this.conn.send({ type: 'welcome', protocol: PROTOCOL_VERSION, stream_id: this.streamId, resume_seq: this.#resumeSeq, role: 'ea', server_time: Date.now(), limits: this.welcomeLimits() })
    this.conn.chatter('debug', { streamId: this.streamId, resumeSeq: this.#resumeSeq, commands: pending.length }, 'EA session welcomed')
    deps.commands.attachEa(this, pending)
    deps.live.online(this.streamId, this.#instanceId, true)
    this.conn.resumeReading()
  }

  onMessage(value: unknown, bytes: number): void {
    // A hello after welcome closes, valid or not (PROTOCOL.md 3.1), before anything checks its fields.
    if (isHelloFrame(value)) return this.helloAgain()
    let message
    try {
      message = parseEaMessage(value)
    } catch (err) {
      return this.#onInvalid(value, err as ProtocolError, bytes)
    }
    if (message.type === 'hello') return this.helloAgain()
    if (message.type === 'goodbye') return this.conn.closeWith(CloseCodes.NORMAL, 'goodbye')
    if (!this.#inSequence(message.seq)) return
    if (message.seq <= this.#resumeSeq) return this.#ack(message.seq)
    if (!this.#withinWindow(message.seq)) return
    if (message.type === 'tick_batch') this.conn.deps.ingest.submitTicks(this.streamId, message, bytes)
    else {
      const entry: RecordEntry = { streamId: this.streamId, accountId: this.accountId, server: this.#server, seq: message.seq, message: message as unknown as RecordEntry['message'] }
      this.conn.deps.ingest.submitRecord(this.streamId, entry, bytes)
    }
    this.#submitted(message.seq)
  }

  /** On an EA session a frame whose seq cannot be known closes, unless PROTOCOL.md 3.5 lets it pass. */
  override refused(err: ProtocolError, value: unknown): void {
    if (eaSessionContinues(err, value)) this.conn.answer(err)
    else this.conn.fatal(err, CloseCodes.PROTOCOL_ERROR)
  }

  override holdsReading(): boolean {
    return this.#pausedByIngest
  }

  override detach(): void {
    super.detach()
    const { deps } = this.conn
    if (deps.streams.get(this.streamId) === this.conn) {
      deps.streams.delete(this.streamId)
      // gone, not replaced: a new connection of the stream keeps the instance online
      deps.live.online(this.streamId, this.#instanceId, false)
    }
    deps.ingest.detach(this.streamId, this)
    deps.commands.detachEa(this)
  }

  /**
   * A refused message. With a valid seq it was meant to be stored: it is answered, recorded as
   * rejected and consumes its seq, so a resend cannot loop on it (docs/PROTOCOL.md 3.5).
   */
  #onInvalid(value: unknown, err: ProtocolError, bytes: number): void {
    if (err.seq === undefined) return this.conn.refuse(err, value)
    if (!this.#inSequence(err.seq)) return
    if (err.seq > this.#resumeSeq && !this.#withinWindow(err.seq)) return
    if (!this.conn.refusedWithinBudget()) return
    this.conn.answer(err)
    if (err.seq <= this.#resumeSeq) return this.#ack(err.seq)
    const detail = err.field ? `${err.message} (field ${err.field})` : err.message
    const entry: RejectedEntry = { streamId: this.streamId, accountId: this.accountId, seq: err.seq, code: err.code, message: detail }
    this.conn.deps.ingest.submitRejected(this.streamId, entry, bytes)
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
    const { maxInflight } = this.conn.options
    if (this.#lastSeq - this.#lastAcked < maxInflight) return true
    const message = `seq ${seq} exceeds max_inflight ${maxInflight}: wait for an ack before sending more`
    this.conn.fatal(perr(ProtocolErrors.INFLIGHT_EXCEEDED, message, undefined, seq), CloseCodes.PROTOCOL_ERROR)
    return false
  }

  /** Within a connection seqs go up by exactly one; the first may be anything up to resume_seq + 1. */
  #inSequence(seq: number): boolean {
    const expected = this.#expectedSeq
    if (expected === undefined ? seq > this.#resumeSeq + 1 : seq > expected) {
      const from = expected ?? this.#resumeSeq + 1
      this.conn.fatal(perr(ProtocolErrors.SEQ_GAP, `seq ${seq} skips ahead: the next must be ${from}`, undefined, seq), CloseCodes.PROTOCOL_ERROR)
      return false
    }
    if (expected !== undefined && seq < expected) {
      this.conn.fatal(perr(ProtocolErrors.SEQ_REGRESSION, `seq ${seq} goes back: the next must be ${expected}`, undefined, seq), CloseCodes.PROTOCOL_ERROR)
      return false
    }
    this.#expectedSeq = seq + 1
    return true
  }

  /** A replay of a message stored before: acknowledged at once, without writing. */
  #ack(seq: number): void {
    this.#lastAcked = Math.max(this.#lastAcked, seq)
    this.conn.send({ type: 'ack', seq })
  }

  // StreamSink: called by ingest after commit or failure.
  committed(seq: number, changes: CommandChange[]): void {
    if (seq > this.#lastAcked) {
      this.#lastAcked = seq
      this.conn.send({ type: 'ack', seq })
      this.conn.resumeReading()
    }
    if (changes.length > 0) this.conn.deps.commands.changed(changes)
  }

  failed(error: TaskError): void {
    this.conn.fatal(perr(ProtocolErrors.STORAGE_FAILED, `the database could not store your messages (${error.dbCode ?? error.code}: ${error.message}); reconnect and resend`), CloseCodes.STORAGE_FAILED)
  }

  rejected(entry: RejectedEntry): void {
    this.conn.answer(perr(ProtocolErrors.STORAGE_FAILED, `the database refused message ${entry.seq}: ${entry.message}`, undefined, entry.seq))
  }

  pause(): void {
    this.#pausedByIngest = true
    this.conn.pause()
  }

  resume(): void {
    this.#pausedByIngest = false
    this.conn.resumeReading()
  }

  /**
   * EaEndpoint: true once the frame has left the engine for the operating system's socket. With
   * maxOutboundBytes already queued for the peer, each command waits for the peer to read first:
   * many commands at once (a backlog at hello) go out as fast as the EA reads them, never all into
   * memory together; a peer that does not read is closed after the grace, and the rest stay pending.
   */
  async sendCommand(command: Command): Promise<boolean> {
    while (this.conn.bufferedAmount > this.conn.options.maxOutboundBytes) {
      if (!(await this.conn.drained())) return false
    }
    return new Promise((resolve) => {
      if (!this.conn.send(command, (err) => resolve(!err))) resolve(false)
    })
  }
}
