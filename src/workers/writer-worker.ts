/**
 * A Piscina writer: owns one database connection (on SQLite, the only write connection) and runs
 * every task that writes. Results and errors go back as plain data.
 */
import { workerData } from 'node:worker_threads'
import { setTimeout as sleep } from 'node:timers/promises'
import { EngineError } from '../errors.js'
import { openStorage } from '../storage/open.js'
import { databaseErrorInfo, type Storage } from '../storage/types.js'
import { createCommand, expireDue, markDelivered, pendingForStream } from '../store/commands.js'
import { SymbolCache, writeBatch } from '../store/ingest.js'
import { registerStream } from '../store/streams.js'
import { verifyToken } from '../store/tokens.js'
import type { TaskError, TaskResult, WriterConfig, WriterTask } from './tasks.js'

const config = workerData as WriterConfig
const symbols = new SymbolCache()
let storage: Promise<Storage> | undefined

function db(): Promise<Storage> {
  storage ??= openStorage({ ...config, busyTimeoutMs: config.busyTimeoutMs })
  return storage
}

/** SQLite result codes and SQLSTATE classes that mean "this data was refused", not "the database failed". */
function isDataError(dbCode: string): boolean {
  return /^SQLITE_(CONSTRAINT|MISMATCH|RANGE|TOOBIG)/.test(dbCode) || /^(22|23)[0-9A-Z]{3}$/.test(dbCode)
}

function toTaskError(err: unknown): TaskError {
  if (err instanceof EngineError) return { code: err.code, message: err.message, dataError: true }
  const info = databaseErrorInfo(err)
  return { code: 'STORAGE_FAILED', message: info.dbMessage, dbCode: info.dbCode, dataError: isDataError(info.dbCode) }
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
        const stream = await registerStream(tx, task.hello, task.now)
        const commands = await pendingForStream(tx, { ...stream, magic: task.hello.ea.magic ?? 0 }, task.now)
        return { ...stream, commands }
      })
    case 'write':
      if (config.writeDelayMs > 0) await sleep(config.writeDelayMs)
      return writeBatch(storage, task.batch, symbols)
    case 'command_create':
      return storage.transaction((tx) => createCommand(tx, task.command, task.now))
    case 'command_delivered':
      return storage.transaction((tx) => markDelivered(tx, task.commandId, task.streamId, task.now))
    case 'commands_expire':
      return storage.transaction((tx) => expireDue(tx, task.now))
  }
}

export default async function writerTask(task: WriterTask): Promise<TaskResult<unknown>> {
  try {
    return { ok: true, value: await run(task) }
  } catch (err) {
    return { ok: false, error: toTaskError(err) }
  }
}
