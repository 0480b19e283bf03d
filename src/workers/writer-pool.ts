/**
 * The Piscina pool of writer workers, with one typed method per task. On SQLite it has exactly one
 * worker, the only writer of the database file; on PostgreSQL it may have several.
 */
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { maskSecrets } from '../db/url.js'
import { silentLogger, type Logger } from '../log.js'
import type { BarChanges } from '../db/sql/bars.js'
import type { EaHello } from '../protocol/messages.js'
import type {
  AuthResult,
  CommandChange,
  CreatedCommand,
  NewCommand,
  PendingCommand,
  RegisterResult,
  TaskResult,
  WriteBatch,
  WriteOutcome,
  WriterConfig,
  WriterTask,
} from './tasks.js'

export interface WriterPool {
  readonly writers: number
  /**
   * Write batches the pool takes at once: two per writer, so that a writer finds the next batch
   * waiting when it commits one, instead of idling while the main thread acknowledges the last
   * and builds the next.
   */
  readonly slots: number
  /**
   * A buffer of at least `bytes` for a batch's tick columns. The writer sends each batch's buffer
   * back with its result and the next batch reuses it: no new memory per batch, and none left
   * for the writer's garbage collector to find (it would hold tens of MB of them meanwhile).
   */
  columnBuffer(bytes: number): ArrayBuffer
  authenticate(token: string): Promise<TaskResult<AuthResult | null>>
  /** Registers the EA of `hello` for the token that said it, if its scope allows. */
  register(hello: EaHello, tokenId: number): Promise<TaskResult<RegisterResult>>
  write(batch: WriteBatch): Promise<TaskResult<WriteOutcome>>
  /** Stores the bars of an aggregation round, in one transaction, and takes their minutes off the work list; resolves to how many left it, per symbol. */
  applyBars(changes: BarChanges[]): Promise<TaskResult<number[]>>
  createCommand(command: NewCommand): Promise<TaskResult<CreatedCommand>>
  commandDelivered(commandId: string, streamId: number): Promise<TaskResult<boolean>>
  expireCommands(): Promise<TaskResult<CommandChange[]>>
  /** Marks notifications read; resolves with how many were unread. */
  markNotificationsRead(ids: number[]): Promise<TaskResult<number>>
  /** Journal rows for up to `limit` positions after `after` that have deals and no row. */
  backfillJournal(after: [number, number], limit: number): Promise<TaskResult<{ stored: number; next: [number, number] | null }>>
  /** The next commands never yet delivered to an EA (at most PENDING_LOAD), oldest first. */
  pendingCommands(stream: { streamId: number; accountId: number; magic: number }): Promise<TaskResult<PendingCommand[]>>
  close(): Promise<void>
}

/** Batches queued at each writer, the one it is writing included. */
const PIPELINE_DEPTH = 2

/** Column buffers kept for reuse: how many, and how many bytes in all (the memory bound counts them). */
const SPARE_BUFFERS = 4
const SPARE_BYTES = 16 * 1024 * 1024

/** Reusable column buffers, sized in powers of two from 64 kB so that one fits many batch sizes. */
class ColumnBuffers {
  readonly #spare: ArrayBuffer[] = []

  take(bytes: number): ArrayBuffer {
    let best = -1
    for (let i = 0; i < this.#spare.length; i++) {
      const size = this.#spare[i]!.byteLength
      if (size >= bytes && (best < 0 || size < this.#spare[best]!.byteLength)) best = i
    }
    if (best >= 0) return this.#spare.splice(best, 1)[0]!
    return new ArrayBuffer(Math.max(65536, 2 ** Math.ceil(Math.log2(bytes))))
  }

  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || buffer.byteLength > SPARE_BYTES) return
    this.#spare.push(buffer)
    // over either bound, the smallest go first: a small batch fits in a large buffer, not the other way round
    this.#spare.sort((a, b) => b.byteLength - a.byteLength)
    let total = 0
    for (let i = 0; i < this.#spare.length; i++) {
      total += this.#spare[i]!.byteLength
      if (i >= SPARE_BUFFERS || total > SPARE_BYTES) {
        this.#spare.length = i
        break
      }
    }
  }
}

const workerFile = fileURLToPath(new URL('./writer.js', import.meta.url))

export function createWriterPool(config: WriterConfig, writers: number, log: Logger = silentLogger): WriterPool {
  const threads = config.dialect === 'sqlite' ? 1 : Math.max(1, writers)
  const piscina = new Piscina({
    filename: workerFile,
    minThreads: threads,
    maxThreads: threads,
    // Write batches wait in ingest, where memory is bounded; the queue here holds small control
    // tasks (hello, commands), bounded so that a flood of connections is refused, not buffered.
    maxQueue: 4096,
    // The second task waits inside the worker (SQLite transactions queue on the one connection):
    // it starts the moment the first commits, without a round trip to the main thread.
    concurrentTasksPerWorker: PIPELINE_DEPTH,
    idleTimeout: Number.MAX_SAFE_INTEGER,
    // An idle writer keeps its event loop running (to checkpoint when idle), instead of blocking
    // in Atomics.wait between tasks.
    atomics: 'async',
    workerData: config,
  })
  // A writer thread that dies between tasks is replaced by Piscina, which then emits 'error': unheard,
  // that would end the process. Tasks it had were rejected, and their streams failed (ingest.ts).
  // postgres.js 3.4.9 kills its thread this way when a connection closes under a write: it throws
  // from a timer where nothing can catch it (porsager/postgres#1154, #1208); a new thread with a
  // new connection pool is the clean way on.
  piscina.on('error', (err: Error) => {
    // a database driver's message may quote the connection URL
    log.error({ component: 'writer', cause: maskSecrets(err.stack ?? err.message) }, 'a writer thread failed and was replaced; its batches are resent')
  })
  const run = <T>(task: WriterTask, transferList?: ArrayBuffer[]) =>
    piscina.run(task, transferList ? { transferList } : {}) as Promise<TaskResult<T>>
  const buffers = new ColumnBuffers()
  const write = async (batch: WriteBatch): Promise<TaskResult<WriteOutcome>> => {
    const buffer = batch.ticks?.time_msc.buffer as ArrayBuffer | undefined
    const result = await run<WriteOutcome>({ kind: 'write', batch }, buffer ? [buffer] : undefined)
    if (result.columns) buffers.give(result.columns)
    delete result.columns
    return result
  }
  return {
    writers: threads,
    slots: threads * PIPELINE_DEPTH,
    columnBuffer: (bytes) => buffers.take(bytes),
    authenticate: (token) => run({ kind: 'authenticate', token }),
    register: (hello, tokenId) => run({ kind: 'register', hello, tokenId, now: Date.now() }),
    write,
    applyBars: (changes) => run({ kind: 'bars_apply', changes }),
    createCommand: (command) => run({ kind: 'command_create', command, now: Date.now() }),
    commandDelivered: (commandId, streamId) => run({ kind: 'command_delivered', commandId, streamId, now: Date.now() }),
    expireCommands: () => run({ kind: 'commands_expire', now: Date.now() }),
    markNotificationsRead: (ids) => run({ kind: 'notifications_read', ids, now: Date.now() }),
    backfillJournal: (after, limit) => run({ kind: 'journal_backfill', after, limit }),
    pendingCommands: (s) => run({ kind: 'commands_pending', streamId: s.streamId, accountId: s.accountId, magic: s.magic, now: Date.now() }),
    close: () => piscina.destroy(),
  }
}
