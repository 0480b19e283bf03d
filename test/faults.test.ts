/**
 * Faults other than kills: the database failing under a batch (a PostgreSQL backend terminated, a
 * trigger that raises, a SQLite file that cannot grow), with several EAs streaming through it.
 * Afterwards every message is stored exactly once and no stream has a gap below its high-water
 * mark: a failed batch fails its streams as a whole, and their EAs resend.
 */
import { spawn, spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import { PROTOCOL_VERSION, type ErrorFrame } from '../src/protocol/messages.js'
import { SymbolCache, writeBatch } from '../src/db/sql/write-batch.js'
import { registerStream } from '../src/db/sql/streams.js'
import { account, accountSnapshot, count, deal, makeTokens, startTestEngine, TickSource, withStorage } from './engine-helpers.js'
import { cliPath, eachBackend, repoRoot, sqliteBackend, tempDir, type Backend, type Test } from './helpers.js'

interface Producer {
  ea: EaClient
  instance: string
  login: number
  symbol: string
  sent: { ticks: number; deals: number; snapshots: number; logs: number; messages: number }
  /** Codes of every error frame the engine sent this EA. */
  errors: string[]
  done: Promise<void>
}

/**
 * An EA streaming `batches` tick batches of 200, with a deal, a snapshot and a log after every
 * tenth: every kind of row, so that a loss of any kind shows.
 */
async function producer(url: string, token: string, n: number, batches: number): Promise<Producer> {
  const login = 6100 + n
  const instance = `fault-ea-${n}`
  const ea = await connectEA(url, { token, instanceId: instance, account: account(login), ea: { name: 'FaultEA', magic: 42 }, minDelayMs: 20, maxDelayMs: 200 })
  const p: Producer = { ea, instance, login, symbol: `FLT${n}`, sent: { ticks: 0, deals: 0, snapshots: 0, logs: 0, messages: 0 }, errors: [], done: Promise.resolve() }
  ea.on('engine-error', (e: ErrorFrame) => p.errors.push(e.code))
  const source = new TickSource(p.symbol, 1_732_000_000_000, 1.2, 11 + n)
  p.done = (async () => {
    for (let i = 0; i < batches; i++) {
      const batch = source.batch(200)
      await ea.send(batch)
      p.sent.ticks += 200
      p.sent.messages++
      if (i % 10 === 9) {
        const time = batch.time_msc[199]!
        await ea.send(deal(login * 10000 + i, time))
        await ea.send(accountSnapshot(time, 10000 + i))
        await ea.send({ type: 'log', time_msc: time, level: 'info', message: `batch ${i}` })
        p.sent.deals++
        p.sent.snapshots++
        p.sent.logs++
        p.sent.messages += 3
      }
    }
    await ea.flushed()
  })()
  return p
}

async function producers(t: Test, url: string, token: string, n: number, batches: number): Promise<Producer[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => producer(url, token, i, batches)))
  t.teardown(() => Promise.all(list.map((p) => p.ea.close())))
  return list
}

/** Every message of every producer stored once: rows by kind, and the high-water mark at the last seq. */
async function expectExactlyOnce(t: Test, backend: Backend, list: Producer[]): Promise<void> {
  for (const p of list) {
    const accountId = `(select id from accounts where login = ${p.login})`
    const streamId = `(select id from streams where instance_id = '${p.instance}')`
    t.equal(await count(backend, `select count(*) from ticks where symbol_id in (select id from symbols where name = $1)`, [p.symbol]), p.sent.ticks, `${p.symbol}: every tick stored once`)
    t.equal(await count(backend, `select count(*) from deals where account_id = ${accountId}`), p.sent.deals, `${p.instance}: every deal stored once`)
    t.equal(await count(backend, `select count(*) from account_snapshots where account_id = ${accountId}`), p.sent.snapshots, `${p.instance}: every snapshot stored once`)
    // logs have no natural key: one written twice, or one lost, shows here
    t.equal(await count(backend, `select count(*) from iteration_logs where stream_id = ${streamId}`), p.sent.logs, `${p.instance}: every log stored once`)
    t.equal(await count(backend, `select last_seq from stream_sequences where stream_id = ${streamId}`), p.sent.messages, `${p.instance}: the high-water mark is the last seq, all of it acknowledged`)
    t.equal(p.ea.counters.lastAckedSeq, p.sent.messages)
    t.equal(await count(backend, `select count(*) from notifications where kind = 'message_rejected' and stream_id = ${streamId}`), 0, `${p.instance}: nothing recorded as refused`)
  }
}

async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(10)
  }
}

t.test('the writer\'s PostgreSQL connections terminated mid-batch, again and again, lose and duplicate nothing', async (t) => {
  await eachBackend(t, 'pg_terminate_backend under load', async (t, backend) => {
    if (backend.dialect !== 'postgres') return t.comment('PostgreSQL only: SQLite has no connection to lose')
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const list = await producers(t, engine.url!, tokens.ea, 3, 400)
    let terminated = 0
    await withStorage(backend, async (s) => {
      for (let round = 0; round < 10; round++) {
        await until('the EAs to make progress', () => list.some((p) => p.ea.counters.lastAckedSeq > round * 30), 30000)
        const rows = await s.query<{ pid: number }>(
          `select pg_terminate_backend(pid) as pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`,
        )
        terminated += rows.length
        await sleep(50 + Math.random() * 100)
      }
    })
    await Promise.all(list.map((p) => p.done))
    const failed = engine.counters.ingest.failedBatches
    t.comment(`${terminated} backends terminated; ${failed} write batches failed; ${list.map((p) => p.ea.counters.reconnects).join('/')} reconnects`)
    t.ok(terminated >= 10, 'backends were terminated')
    t.ok(failed > 0, 'some batches failed mid-write: the fault was hit')
    await expectExactlyOnce(t, backend, list)
    t.ok(list.every((p) => !p.errors.includes('INTERNAL')), 'no EA was told INTERNAL')
  })
})

t.test('a trigger that fails the writer\'s transactions for a while loses and duplicates nothing', async (t) => {
  await eachBackend(t, 'failing trigger', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const list = await producers(t, engine.url!, tokens.ea, 3, 300)
    await until('the EAs to make progress', () => list.every((p) => p.ea.counters.lastAckedSeq > 20))
    // A failure of the database, not of the data: SQLite's "no such table" (SQLITE_ERROR), and
    // SQLSTATE XX000 on PostgreSQL, raised by every write of a stream's high-water mark.
    const create = backend.dialect === 'sqlite'
      ? `create trigger inject_fault before update on stream_sequences begin insert into fault_table_that_does_not_exist values (1); end`
      : `create function inject_fault() returns trigger language plpgsql as $$ begin raise exception 'injected fault' using errcode = 'XX000'; end $$;
         create trigger inject_fault before update on stream_sequences for each row execute function inject_fault();`
    const drop = backend.dialect === 'sqlite' ? 'drop trigger inject_fault' : 'drop trigger inject_fault on stream_sequences; drop function inject_fault()'
    await withStorage(backend, (s) => s.exec(create))
    const before = engine.counters.ingest.failedBatches
    await until('a batch to fail', () => engine.counters.ingest.failedBatches > before)
    await sleep(300)
    await withStorage(backend, (s) => s.exec(drop))
    await Promise.all(list.map((p) => p.done))
    t.comment(`${engine.counters.ingest.failedBatches - before} batches failed; error codes seen: ${[...new Set(list.flatMap((p) => p.errors))].join(', ')}`)
    t.ok(list.some((p) => p.errors.includes('STORAGE_FAILED')), 'the EAs whose writes failed were told STORAGE_FAILED')
    t.ok(list.every((p) => !p.errors.includes('INTERNAL')), 'no EA was told INTERNAL')
    await expectExactlyOnce(t, backend, list)
  })
})

/**
 * The environment without tap's own: its NODE_OPTIONS loads a recorder into every node process,
 * which writes files of its own under the same file-size limit.
 */
function plainEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'NODE_OPTIONS' && !k.startsWith('MT5E_') && !/^_?TAP/.test(k)) env[k] = v
  return env
}

/** `prlimit`, from util-linux: sets RLIMIT_FSIZE, so that a file cannot grow past it (EFBIG). */
const prlimit = spawnSync('prlimit', ['--version']).status === 0

t.test('SQLite unable to grow its files: STORAGE_FAILED, the engine keeps running and resumes by itself', { skip: prlimit ? false : 'needs prlimit (util-linux)' }, async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const size = (path: string) => {
    try {
      return statSync(path).size
    } catch {
      return 0
    }
  }
  // A file-size limit on the engine's process: its database and log stop growing 2 MB from now,
  // as on a disk that fills (the kernel answers EFBIG, SQLite SQLITE_IOERR or SQLITE_FULL).
  const limit = Math.max(size(backend.database), size(`${backend.database}-wal`)) + 2 * 1024 * 1024
  const child = spawn('prlimit', [`--fsize=${limit}:unlimited`, process.execPath, cliPath, 'start', '--database', backend.database, '--port', '0'], {
    cwd: repoRoot,
    env: plainEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d))
  let exited: number | null | undefined
  child.once('exit', (code, signal) => {
    exited = code
    if (code !== 0) out += `[exited ${code ?? signal}]`
  })
  t.teardown(() => {
    if (exited === undefined) child.kill('SIGKILL')
  })
  await until('the engine to listen', () => /connect to ws:\/\//.test(out), 30000)
  const url = /connect to (ws:\/\/\S+)/.exec(out)![1]!
  const list = await producers(t, url, tokens.ea, 3, 400)
  await until('writes to fail', () => list.some((p) => p.errors.includes('STORAGE_FAILED')), 60000).catch((err) => {
    throw new Error(`${(err as Error).message}; acknowledged ${list.map((p) => p.ea.counters.lastAckedSeq).join('/')}; sizes ${size(backend.database)} ${size(backend.database + '-wal')} limit ${limit}; errors ${list.map((p) => p.errors.join(',')).join(' | ')}; reconnects ${list.map((p) => p.ea.counters.reconnects)}; engine said: ${out}`)
  })
  await sleep(1000) // failing for a while: EAs reconnect, their hellos meet the full database too
  t.equal(exited, undefined, `the engine is still running${exited === undefined ? '' : `: ${out}`}`)
  const stuck = list.map((p) => p.ea.counters.lastAckedSeq)
  // the room comes back: the engine goes on by itself, no restart
  t.equal(spawnSync('prlimit', ['--pid', String(child.pid), '--fsize=unlimited:unlimited']).status, 0)
  await Promise.all(list.map((p) => p.done))
  t.comment(`acknowledged when the disk filled: ${stuck.join('/')} of ${list.map((p) => p.sent.messages).join('/')}; codes seen: ${[...new Set(list.flatMap((p) => p.errors))].join(', ')}`)
  t.ok(list.every((p) => !p.errors.includes('INTERNAL')), 'no EA was told INTERNAL')
  child.kill('SIGTERM')
  await until('the engine to exit', () => exited !== undefined)
  t.equal(exited, 0, 'and it shuts down cleanly')
  await expectExactlyOnce(t, backend, list)
})

t.test('an engine that cannot write its new database says which file and why, and exits 1', { skip: prlimit ? false : 'needs prlimit (util-linux)' }, async (t) => {
  const dir = tempDir(t)
  const database = `${dir}/engine.db`
  const run = spawnSync('prlimit', ['--fsize=32768', process.execPath, cliPath, 'start', '--database', database, '--port', '0'], { cwd: repoRoot, env: plainEnv(), encoding: 'utf8', timeout: 30000 })
  t.equal(run.status, 1, `exit code 1 (${run.status ?? run.signal})`)
  const lines = run.stderr.trim().split('\n')
  t.equal(lines.length, 1, `one line: ${run.stderr}`)
  t.match(lines[0], /^error DATABASE_UNWRITABLE: /)
  t.ok(lines[0]!.includes(database), 'it names the database file')
  t.match(lines[0], /SQLITE_(FULL|IOERR)/, 'it gives the cause')
  t.match(lines[0], /full|limit/, 'and what to do about it')
})

t.test('the writer refuses a stream batch that would skip over the stored high-water mark', async (t) => {
  await eachBackend(t, 'STREAM_GAP', async (t, backend) => {
    await makeTokens(backend) // migrates
    await withStorage(backend, async (storage) => {
      const stream = await storage.transaction((tx) => registerStream(tx, {
        type: 'hello', protocol: PROTOCOL_VERSION, role: 'ea', token: 'x', instance_id: 'gap-ea', account: account(6200), ea: { name: 'Gap' },
      }, Date.now()))
      const log = (seq: number) => ({ streamId: stream.streamId, accountId: stream.accountId, server: stream.server, seq, message: { type: 'log', seq, time_msc: 1, level: 'info', message: `m${seq}` } })
      const batch = (from: number, to: number) => ({
        streams: [{ streamId: stream.streamId, accountId: stream.accountId, server: stream.server, fromSeq: from, toSeq: to }],
        segments: [], ticks: undefined, records: Array.from({ length: to - from + 1 }, (_, i) => log(from + i)), rejected: [],
      })
      await t.rejects(writeBatch(storage, batch(3, 4), new SymbolCache()), { code: 'STREAM_GAP' }, 'seq 3 after a mark of 0 is refused')
      t.equal(await count(backend, `select count(*) from iteration_logs where stream_id = ${stream.streamId}`), 0, 'nothing of it was written')
      await writeBatch(storage, batch(1, 2), new SymbolCache())
      await writeBatch(storage, batch(2, 3), new SymbolCache()) // an overlap is a replay: 2 skipped, 3 stored
      t.equal(await count(backend, `select count(*) from iteration_logs where stream_id = ${stream.streamId}`), 3)
      t.equal(await count(backend, `select last_seq from stream_sequences where stream_id = ${stream.streamId}`), 3)
    })
  })
})
