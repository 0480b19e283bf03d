/**
 * A Piscina writer: owns one database connection (on SQLite, the only write connection) and runs
 * every task that writes. Results and errors go back as plain data.
 */
import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { setTimeout as sleep } from 'node:timers/promises'
import { maskSecrets } from '../db/url.js'
import { EngineError, ErrorCodes } from '../errors.js'
import { ProtocolErrors } from '../protocol/messages.js'
import { openStorage } from '../db/storage/open.js'
import { databaseErrorInfo, type Storage } from '../db/storage/types.js'
import { markNotificationsRead } from '../db/sql/notifications.js'
import { backfillJournal } from '../db/sql/journal.js'
import { createCommand, expireDue, markDelivered, PENDING_LOAD, pendingForStream } from '../db/sql/commands.js'
import { SymbolCache, writeBatch } from '../db/sql/write-batch.js'
import { registerStream } from '../db/sql/streams.js'
import { applyBarChanges } from '../db/sql/bars.js'
import { verifyToken } from '../db/sql/tokens.js'
import type { TaskError, TaskResult, WriterConfig, WriterTask } from './tasks.js'

const config = workerData as WriterConfig

const symbols = new SymbolCache()
let storage: Promise<Storage> | undefined

function db(): Promise<Storage> {
  storage ??= openStorage({ ...config, busyTimeoutMs: config.busyTimeoutMs })
  return storage
}

/**
 * SQLite checkpoints the write-ahead log itself when it has grown past 1000 pages, inside the
 * COMMIT that crossed the line: that commit then takes ~10 ms instead of ~0.2, and every batch
 * queued behind it waits too. When the writer has nothing queued it checkpoints on its own, once
 * this many rows have gone into the log, so that under a steady load the commit never has to.
 * Under full load the writer is never idle and SQLite's own checkpoint takes over, as before.
 */
const IDLE_CHECKPOINT_ROWS = 10_000
let writing = 0
let rowsSinceCheckpoint = 0

async function idleCheckpoint(storage: Storage): Promise<void> {
  if (writing > 0) return
  rowsSinceCheckpoint = 0
  try {
    await storage.checkpoint!()
  } catch {
    // a failed checkpoint loses nothing: SQLite's own runs at the next commit
  }
}

/** SQLite result codes and SQLSTATE classes that mean "this data was refused", not "the database failed". */
function isDataError(dbCode: string): boolean {
  return /^SQLITE_(CONSTRAINT|MISMATCH|RANGE|TOOBIG)/.test(dbCode) || /^(22|23)[0-9A-Z]{3}$/.test(dbCode)
}

function toTaskError(err: unknown): TaskError {
  // a refused gap is the engine's fault, not the data's: the stream fails and its EA resends
  // the message goes to the EA: a connection error must not carry the database password there
  if (err instanceof EngineError) return { code: err.code, message: maskSecrets(err.message), dataError: err.code !== ErrorCodes.STREAM_GAP }
  const info = databaseErrorInfo(err)
  return { code: ProtocolErrors.STORAGE_FAILED, message: maskSecrets(info.dbMessage), dbCode: info.dbCode, dataError: isDataError(info.dbCode) }
}

async function run(task: WriterTask): Promise<unknown> {
  const storage = await db()
  switch (task.kind) {
    case 'authenticate': {
      const token = await verifyToken(storage, task.token)
      return token ? { tokenId: token.id, role: token.role, name: token.name } : null
    }
    case 'register':
      return storage.transaction(async (tx) => {
        const stream = await registerStream(tx, task.hello, task.now, { tokenId: task.tokenId, lock: storage.dialect === 'postgres' })
        const commands = await pendingForStream(tx, { ...stream, magic: task.hello.ea.magic ?? 0 }, task.now)
        return { ...stream, commands }
      })
    case 'write': {
      writing++
      try {
        if (config.writeDelayMs > 0) await sleep(config.writeDelayMs)
        const outcome = await writeBatch(storage, task.batch, symbols, { bars: config.buildBars ? { rollUp: config.rollUpBars } : undefined })
        rowsSinceCheckpoint += outcome.counts.ticks + outcome.counts.records
        return outcome
      } finally {
        writing--
        if (writing === 0 && rowsSinceCheckpoint >= IDLE_CHECKPOINT_ROWS && storage.checkpoint) setImmediate(() => void idleCheckpoint(storage))
      }
    }
    case 'bars_apply':
      return storage.transaction(async (tx) => {
        // in symbol order, the order writers lock bar_dirty rows in on PostgreSQL
        const cleared: number[] = new Array(task.changes.length)
        const order = task.changes.map((_, i) => i).sort((a, b) => task.changes[a]!.symbolId - task.changes[b]!.symbolId)
        for (const i of order) cleared[i] = await applyBarChanges(tx, task.changes[i]!)
        return cleared
      })
    case 'command_create':
      return storage.transaction((tx) => createCommand(tx, task.command, task.now))
    case 'command_delivered':
      return storage.transaction((tx) => markDelivered(tx, task.commandId, task.streamId, task.now))
    case 'commands_expire':
      return storage.transaction((tx) => expireDue(tx, task.now))
    case 'commands_pending':
      return pendingForStream(storage, task, task.now, PENDING_LOAD, true)
    case 'notifications_read':
      return storage.transaction((tx) => markNotificationsRead(tx, task.ids, task.now))
    case 'journal_backfill':
      return storage.transaction((tx) => backfillJournal(tx, task.after, task.limit))
  }
}

export default async function writerTask(task: WriterTask): Promise<TaskResult<unknown> | ReturnType<typeof Piscina.move>> {
  let result: TaskResult<unknown>
  try {
    result = { ok: true, value: await run(task) }
  } catch (err) {
    result = { ok: false, error: toTaskError(err) }
  }
  return task.kind === 'write' && task.batch.ticks ? withColumns(result, task.batch.ticks.time_msc.buffer as ArrayBuffer) : result
}

/** The result with the batch's column buffer moved back to the main thread (detached here, so no garbage). */
function withColumns(result: TaskResult<unknown>, columns: ArrayBuffer): ReturnType<typeof Piscina.move> {
  const value = { ...result, columns }
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return [columns]
    },
    get [Piscina.valueSymbol]() {
      return value
    },
  } as unknown as ArrayBuffer)
}
