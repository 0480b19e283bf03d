/**
 * The Piscina pool of writer workers, with one typed method per task. On SQLite it has exactly one
 * worker, the only writer of the database file; on PostgreSQL it may have several.
 */
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import type { EaHello } from './protocol/messages.js'
import type {
  AuthResult,
  CommandChange,
  CreatedCommand,
  NewCommand,
  RegisterResult,
  TaskResult,
  WriteBatch,
  WriteOutcome,
  WriterConfig,
  WriterTask,
} from './workers/tasks.js'

export interface WriterPool {
  readonly writers: number
  authenticate(token: string): Promise<TaskResult<AuthResult | null>>
  register(hello: EaHello): Promise<TaskResult<RegisterResult>>
  write(batch: WriteBatch): Promise<TaskResult<WriteOutcome>>
  createCommand(command: NewCommand): Promise<TaskResult<CreatedCommand>>
  commandDelivered(commandId: string, streamId: number): Promise<TaskResult<boolean>>
  expireCommands(): Promise<TaskResult<CommandChange[]>>
  close(): Promise<void>
}

const workerFile = fileURLToPath(new URL('./workers/writer-worker.js', import.meta.url))

export function createWriterPool(config: WriterConfig, writers: number): WriterPool {
  const threads = config.dialect === 'sqlite' ? 1 : Math.max(1, writers)
  const piscina = new Piscina({
    filename: workerFile,
    minThreads: threads,
    maxThreads: threads,
    // Write batches wait in ingest, where memory is bounded; the queue here holds small control
    // tasks (hello, commands), bounded so that a flood of connections is refused, not buffered.
    maxQueue: 4096,
    concurrentTasksPerWorker: 1,
    idleTimeout: Number.MAX_SAFE_INTEGER,
    workerData: config,
  })
  const run = <T>(task: WriterTask, transferList?: ArrayBuffer[]) =>
    piscina.run(task, transferList ? { transferList } : {}) as Promise<TaskResult<T>>
  return {
    writers: threads,
    authenticate: (token) => run({ kind: 'authenticate', token }),
    register: (hello) => run({ kind: 'register', hello, now: Date.now() }),
    write: (batch) =>
      run({ kind: 'write', batch }, batch.ticks ? Object.values(batch.ticks).map((a: Float64Array) => a.buffer as ArrayBuffer) : undefined),
    createCommand: (command) => run({ kind: 'command_create', command, now: Date.now() }),
    commandDelivered: (commandId, streamId) => run({ kind: 'command_delivered', commandId, streamId, now: Date.now() }),
    expireCommands: () => run({ kind: 'commands_expire', now: Date.now() }),
    close: () => piscina.destroy(),
  }
}
