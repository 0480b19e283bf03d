/**
 * The SQL console's process on SQLite (console-process.ts): runs one guarded statement at a time
 * on its own read-only connection and answers over IPC. A process, not a thread: a SQLite
 * statement cannot be interrupted from JavaScript (better-sqlite3 has no sqlite3_interrupt), and a
 * terminated worker thread runs its statement to the end, burning a core and holding a read
 * snapshot; a process is killed at once.
 */
import { openSqlite } from '../db/storage/sqlite.js'
import { runConsoleSql } from '../query/sql-console.js'

const [, , path, busyTimeoutMs, timeoutMs] = process.argv
const storage = openSqlite({ path: path!, readonly: true, busyTimeoutMs: Number(busyTimeoutMs) })

process.on('message', (m: { id: number; text: string; rowLimit: number }) => {
  void (async () => {
    let answer: unknown
    try {
      answer = { id: m.id, ok: true, value: await runConsoleSql(storage, m.text, { rowLimit: m.rowLimit, timeoutMs: Number(timeoutMs) }) }
    } catch (err) {
      answer = { id: m.id, ok: false, message: (err as Error).message }
    }
    process.send!(answer)
  })()
})
// the engine went away: so does this process
process.on('disconnect', () => process.exit(0))
// loaded and connected: the engine's timeout runs from the statement, not from this start
process.send!({ ready: true })
