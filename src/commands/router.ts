/**
 * Routes commands between dashboards and EAs on the main thread: creates them through the writer,
 * delivers them to every connected EA their target names (at once, or when the EA next says
 * hello), and pushes each status change to the dashboard that sent the command. The database is
 * the queue: everything here can be lost in a crash and is rebuilt from it.
 */
import { randomUUID } from 'node:crypto'
import type { Command, CommandSend, CommandStatusUpdate } from '../protocol/messages.js'
import { PENDING_LOAD } from '../db/sql/commands.js'
import { silentLogger, type Logger } from '../log.js'
import type { WriterPool } from '../workers/writer-pool.js'
import type { CommandChange, CreatedCommand, NewCommand, PendingCommand, TaskError, TaskResult } from '../workers/tasks.js'

export interface EaEndpoint {
  streamId: number
  accountId: number
  magic: number
  /** Resolves true once the frame has left the engine for the socket; false if the session ended first. */
  sendCommand(command: Command): Promise<boolean>
}

export interface DashboardEndpoint {
  sendStatus(update: CommandStatusUpdate): void
}

export const DEFAULT_COMMAND_EXPIRY_MS = 60_000

/** Commands held in memory for one EA waiting to be sent; past it they wait in the database. */
const QUEUE_MAX = PENDING_LOAD

/**
 * One EA session's deliveries, sent one at a time in order: each waits until the EA has read
 * enough of what went before (gateway: maxOutboundBytes), so a backlog never sits in memory whole.
 * `more`: commands for it wait in the database (a backlog past one load, or a full queue).
 */
interface Deliveries {
  items: PendingCommand[]
  running: boolean
  more: boolean
}

export class CommandRouter {
  readonly #pool: WriterPool
  readonly #eas = new Map<number, EaEndpoint>()
  readonly #deliveries = new Map<EaEndpoint, Deliveries>()
  /** Who sent each command; one-stream targets until their final status, others until expiry. */
  readonly #senders = new Map<string, { endpoint: DashboardEndpoint; requestId?: string; oneStream: boolean; expiresAt: number }>()
  readonly #log: Logger
  #sweeper: NodeJS.Timeout | undefined
  /** Every status change, whoever sent the command (the live feed's `commands` topic). */
  onStatus: ((update: CommandStatusUpdate & { stream_id?: number }) => void) | undefined

  constructor(pool: WriterPool, options: { sweepMs?: number; log?: Logger } = {}) {
    const sweepMs = options.sweepMs ?? 1000
    this.#pool = pool
    this.#log = (options.log ?? silentLogger).child({ component: 'commands' })
    this.#sweeper = setInterval(() => void this.sweep(), sweepMs)
    this.#sweeper.unref()
  }

  close(): void {
    clearInterval(this.#sweeper)
    this.#sweeper = undefined
  }

  /** A stream said hello: remember it and deliver what waited for it. */
  attachEa(ea: EaEndpoint, pending: PendingCommand[]): void {
    this.#eas.set(ea.streamId, ea)
    const d: Deliveries = { items: [...pending], running: false, more: pending.length >= PENDING_LOAD }
    this.#deliveries.set(ea, d)
    void this.#run(ea, d)
  }

  detachEa(ea: EaEndpoint): void {
    if (this.#eas.get(ea.streamId) === ea) this.#eas.delete(ea.streamId)
    this.#deliveries.delete(ea)
  }

  detachDashboard(endpoint: DashboardEndpoint): void {
    for (const [id, s] of this.#senders) if (s.endpoint === endpoint) this.#senders.delete(id)
  }

  /** Creates a command from a dashboard's `command_send` and delivers it to connected targets. */
  async send(request: CommandSend, sender: DashboardEndpoint, tokenId: number | null): Promise<CreatedCommand> {
    const command: NewCommand = {
      commandId: request.command_id ?? randomUUID(),
      command: request.command,
      target:
        'instance_id' in request.target
          ? { kind: 'instance', instanceId: request.target.instance_id }
          : 'magic' in request.target
            ? { kind: 'magic', login: request.target.login, server: request.target.server, magic: request.target.magic }
            : { kind: 'account', login: request.target.login, server: request.target.server },
      payload: request.payload ?? {},
      expiresAt: Date.now() + (request.expires_in_ms ?? DEFAULT_COMMAND_EXPIRY_MS),
      issuedByTokenId: tokenId,
    }
    const result = await this.#pool.createCommand(command)
    if (!result.ok) throw Object.assign(new Error(result.error.message), { code: result.error.code })
    const created = result.value
    this.#senders.set(created.commandId, {
      endpoint: sender,
      requestId: request.request_id,
      oneStream: created.streamId !== null,
      expiresAt: created.expiresAt,
    })
    const update = this.#update(created.commandId, created.status, created.command, Date.now())
    sender.sendStatus(update)
    this.onStatus?.(update)
    if (!created.existed) for (const ea of this.#targets(created)) this.#offer(ea, created)
    return created
  }

  /** Status changes committed by ingest (acks and results from EAs) or by the expiry sweep. */
  changed(changes: CommandChange[]): void {
    for (const c of changes) {
      const sender = this.#senders.get(c.commandId)
      if (!sender && this.onStatus === undefined) continue
      const update = this.#update(c.commandId, c.status, c.command, c.at)
      if (c.reason !== undefined) update.reason = c.reason
      if (c.result !== undefined) update.result = c.result
      this.onStatus?.({ ...update, stream_id: c.streamId })
      if (!sender) continue
      sender.endpoint.sendStatus(update)
      // With several EAs, each one's answers are reported until the command expires (sweep).
      if (sender.oneStream && ['succeeded', 'failed', 'expired', 'rejected'].includes(c.status)) this.#senders.delete(c.commandId)
    }
  }

  async sweep(): Promise<void> {
    // A failed sweep loses nothing: the next one, a second later, expires the same commands.
    const result = await this.#task(this.#pool.expireCommands(), 'expiring commands failed; the next sweep retries')
    if (result !== undefined) this.changed(result)
    const now = Date.now()
    for (const [id, s] of this.#senders) if (!s.oneStream && s.expiresAt <= now) this.#senders.delete(id)
  }

  #targets(c: CreatedCommand): EaEndpoint[] {
    if (c.streamId !== null) return [this.#eas.get(c.streamId)].filter((e): e is EaEndpoint => e !== undefined)
    return [...this.#eas.values()].filter((e) => e.accountId === c.accountId && (c.magic === null || e.magic === c.magic))
  }

  #offer(ea: EaEndpoint, p: PendingCommand): void {
    const d = this.#deliveries.get(ea)
    if (!d) return
    if (d.items.length >= QUEUE_MAX) d.more = true
    else d.items.push(p)
    void this.#run(ea, d)
  }

  /** Sends the session's deliveries in order until none is left, loading more from the database. */
  async #run(ea: EaEndpoint, d: Deliveries): Promise<void> {
    if (d.running) return
    d.running = true
    try {
      while (this.#deliveries.get(ea) === d) {
        const p = d.items.shift()
        if (p !== undefined) {
          if (!(await this.#deliver(ea, p))) return
          continue
        }
        if (!d.more) return
        d.more = false
        const loaded = await this.#task(
          this.#pool.pendingCommands(ea),
          "loading an EA's waiting commands failed; they stay in the database and go out at its next hello",
          { streamId: ea.streamId },
        )
        if (loaded === undefined) return
        if (loaded.length >= PENDING_LOAD) d.more = true
        // what was offered meanwhile may be in the load too; what was sent has its delivery row
        const queued = new Set(d.items.map((i) => i.commandId))
        d.items.push(...loaded.filter((i) => !queued.has(i.commandId)))
      }
    } finally {
      d.running = false
    }
  }

  /** False when the session ended before the command could be sent. */
  async #deliver(ea: EaEndpoint, p: PendingCommand): Promise<boolean> {
    // Expired commands are never delivered, whatever the sweep has or has not marked yet.
    if (p.expiresAt <= Date.now()) return true
    const sent = await ea.sendCommand({
      type: 'command',
      command_id: p.commandId,
      command: p.command,
      payload: p.payload,
      created_at: p.createdAt,
      expires_at: p.expiresAt,
    })
    // Not sent (the session ended, or its peer stopped reading): it stays pending and goes out at
    // the EA's next hello.
    if (!sent) return false
    const marked = await this.#task(
      this.#pool.commandDelivered(p.commandId, ea.streamId),
      'recording a delivery failed; the command stays pending and is sent again at the next hello',
      { commandId: p.commandId, streamId: ea.streamId },
    )
    if (marked === true) {
      this.changed([{ commandId: p.commandId, streamId: ea.streamId, status: 'delivered', command: p.command, at: Date.now() }])
    }
    return true
  }

  /**
   * The value of a writer task, or undefined when it failed (logged with its cause): the router's
   * background work never throws, the database keeps what it could not do for the next attempt.
   */
  async #task<T>(task: Promise<TaskResult<T>>, failure: string, fields: Record<string, unknown> = {}): Promise<T | undefined> {
    let error: TaskError | Error
    try {
      const result = await task
      if (result.ok) return result.value
      error = result.error
    } catch (err) {
      error = err as Error
    }
    if (error instanceof Error) this.#log.warn({ ...fields, err: error }, failure)
    else this.#log.warn({ ...fields, code: error.code, dbCode: error.dbCode, cause: error.message }, failure)
    return undefined
  }

  #update(commandId: string, status: CommandStatusUpdate['status'], command: CommandStatusUpdate['command'], at: number): CommandStatusUpdate {
    const sender = this.#senders.get(commandId)
    const update: CommandStatusUpdate = { type: 'command_status', command_id: commandId, status, command, updated_at: at }
    if (sender?.requestId !== undefined) update.request_id = sender.requestId
    return update
  }
}
