/**
 * The gateway's structured log: a real engine on port 0 logging JSON at debug into memory. Lines
 * about a session name its EA (instance, account); a failed hello names the address it came from
 * and never the token; a failure of the engine's own (INTERNAL) is an error line with its cause.
 */
import { Writable } from 'node:stream'
import t from 'tap'
import { resolveConfig, type EngineOptions } from '../src/config/resolve.js'
import { startEngine, type Engine } from '../src/engine.js'
import { createLogger } from '../src/log.js'
import { makeTokens, withStorage } from './engine-helpers.js'
import { repoRoot, sqliteBackend, type Backend, type Test } from './helpers.js'
import { eaHello, open, openDashboard, openEa } from './peer.js'

interface Line {
  level: number
  msg: string
  component?: string
  remote?: string
  role?: string
  instance?: string
  account?: string
  tokenName?: string
  code?: string
  closeCode?: number
  err?: { message: string; type: string; code?: string }
  [key: string]: unknown
}

const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 }

/** Every line the logger wrote, raw and parsed. */
class LogSink extends Writable {
  readonly raw: string[] = []

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') this.raw.push(line)
    done()
  }

  lines(): Line[] {
    return this.raw.map((l) => JSON.parse(l) as Line)
  }

  gateway(): Line[] {
    return this.lines().filter((l) => l.component === 'gateway')
  }
}

async function engineWithLog(t: Test, backend: Backend, options: Partial<EngineOptions> = {}): Promise<{ engine: Engine; sink: LogSink }> {
  const config = resolveConfig({ flags: { database: backend.database, port: 0, host: '127.0.0.1', ...options }, env: {}, cwd: repoRoot })
  const sink = new LogSink()
  const engine = await startEngine(config, { log: createLogger({ logLevel: 'debug', logFormat: 'json' }, sink) })
  t.teardown(() => engine.close())
  return { engine, sink }
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test("an EA's session lines carry its instance, account and token name, never the token", async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const { engine, sink } = await engineWithLog(t, backend)
  const { peer } = await openEa(t, engine.url!, tokens.ea, 'log-ea', 5101)
  // seq 5 on a fresh stream skips ahead: answered SEQ_GAP, and the session closes
  peer.send({ type: 'log', seq: 5, time_msc: 1_732_000_000_000, level: 'info', message: 'ahead' })
  t.equal((await peer.closed).code, 4000)
  await until('close line', () => sink.gateway().some((l) => l.msg === 'connection closed'))

  const session = sink.gateway().filter((l) => l.instance === 'log-ea')
  const welcomed = session.find((l) => l.msg === 'EA session welcomed')
  const answered = session.find((l) => l.code === 'SEQ_GAP')
  const closed = session.find((l) => l.msg === 'connection closed')
  t.ok(welcomed && answered && closed, `welcome, the error answered and the close are session lines: ${session.map((l) => l.msg).join(' | ')}`)
  for (const line of [welcomed, answered, closed]) {
    t.match(line, { role: 'ea', instance: 'log-ea', account: '5101@MetaQuotes-Demo', remote: /127\.0\.0\.1$/, level: LEVEL.debug })
    t.type(line?.tokenName, 'string', 'the token is named')
  }
  t.match(closed, { closeCode: 4000, by: 'engine', reason: /seq 5 skips ahead/ })
  t.notOk(sink.raw.some((l) => l.includes(tokens.ea)), 'the token appears in no line')
})

t.test('a bad token: the AUTH_FAILED lines carry the remote address and never the token', async (t) => {
  const backend = sqliteBackend(t)
  await makeTokens(backend)
  const { engine, sink } = await engineWithLog(t, backend, { authFailureDelayMs: 5, maxAuthFailureDelayMs: 20 })
  const secret = 'mt5e_ea_thisIsNotAValidTokenButStillASecret'
  for (let i = 0; i < 5; i++) {
    const peer = await open(t, engine.url!)
    peer.send(eaHello(`${secret}${i}`, `guess-${i}`))
    t.equal((await peer.closed).code, 4001)
  }
  await until('five close lines', () => sink.gateway().filter((l) => l.msg === 'connection closed').length === 5)

  const lines = sink.gateway()
  const answered = lines.filter((l) => l.code === 'AUTH_FAILED')
  t.equal(answered.length, 5, 'each AUTH_FAILED answered is a line')
  t.match(answered[0], { remote: /127\.0\.0\.1$/, level: LEVEL.debug, msg: /^answered AUTH_FAILED: unknown, revoked or expired token/ })
  t.notOk(answered[0]!.instance, 'no session, so no instance')
  const closed = lines.filter((l) => l.msg === 'connection closed')
  t.ok(closed.every((l) => l.closeCode === 4001 && l.by === 'engine' && /127\.0\.0\.1$/.test(l.remote ?? '')), 'each close line: 4001 and the remote')
  const warning = lines.find((l) => /failed hellos/.test(l.msg))
  t.match(warning, { level: LEVEL.warn, remote: /127\.0\.0\.1$/, failures: 5, msg: /^5 failed hellos \(AUTH_FAILED: unknown, revoked or expired token\) from / }, 'admission warns about the address')
  t.notOk(sink.raw.some((l) => l.includes(secret)), 'the token appears in no line')
  t.notOk(sink.raw.some((l) => l.includes('guess-')), 'nor anything else of the hello')
})

t.test('a command the database refuses is answered INTERNAL and logged as an error with its cause', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const { engine, sink } = await engineWithLog(t, backend)
  await openEa(t, engine.url!, tokens.ea, 'log-target', 5102)
  // the engine's own failure, not the dashboard's: every insert into commands fails
  await withStorage(backend, (s) => s.exec(`create trigger refuse_commands before insert on commands begin select raise(abort, 'commands refused by the test'); end`))
  const { peer } = await openDashboard(t, engine.url!, tokens.admin)
  peer.send({ type: 'command_send', request_id: 'req-internal', command: 'pause', target: { instance_id: 'log-target' } })
  const err = await peer.waitFor('the INTERNAL answer', (f) => f.type === 'error')
  t.match(err, { code: 'INTERNAL', request_id: 'req-internal' })
  t.ok(peer.open, 'the dashboard stays connected')

  const line = sink.gateway().find((l) => l.level === LEVEL.error)
  t.match(line, { role: 'admin', requestId: 'req-internal', remote: /127\.0\.0\.1$/, msg: /command_send failed/ })
  t.match(line?.err, { message: /commands refused by the test/ }, 'the line carries the cause')
  t.notOk(sink.raw.some((l) => l.includes(tokens.admin)), 'the token appears in no line')
})
