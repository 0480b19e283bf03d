/**
 * `connectDashboard`: a dashboard session for Node. For now it sends commands and follows their
 * status; later issues grow it with subscriptions and queries.
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
  type Welcome,
} from '../protocol/messages.js'

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

  constructor(ws: WebSocket, welcome: Welcome) {
    super()
    this.#ws = ws
    this.welcome = welcome
    ws.on('message', (data) => this.#onMessage(decode(data as Buffer) as EngineMessage))
    ws.on('close', () => {
      for (const t of this.#byRequest.values()) t.fail(new Error('connection closed'))
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
    } else if (m.type === 'error') {
      const tracker = m.request_id !== undefined ? this.#byRequest.get(m.request_id) : undefined
      if (tracker) tracker.fail(new ClientError(m.code, `${m.code}: ${m.message}`, m))
      this.emit('engine-error', m)
    }
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
