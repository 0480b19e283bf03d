/**
 * The gateway against raw WebSocket clients that send exactly the bytes each case needs
 * (docs/PROTOCOL.md sections 3, 6, 7 and 8): bad frames before and after welcome, hellos and
 * tokens, sequence rules, invalid messages that are consumed, oversized frames, the rate limit and
 * memory under abuse. Throughout, a healthy EA (the real client) streams ticks on the same engine
 * and must see every one of them stored once.
 */
import { randomBytes } from 'node:crypto'
import { connect as tcpConnect, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import WebSocket from 'ws'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import { decode, encode } from '../src/protocol/codec.js'
import { openSqlite } from '../src/db/storage/sqlite.js'
import { createToken, revokeToken } from '../src/db/sql/tokens.js'
import { account, count, deal, makeTokens, startTestEngine, TickSource, withStorage } from './engine-helpers.js'
import { eachBackend, tempDir, type Backend, type Test } from './helpers.js'
import { dashboardHello, eaHello, open, openDashboard, openEa, type Closed, type Frame, type Peer } from './peer.js'

const MiB = 1024 * 1024
/** The shared engine's max_frame_bytes: small, so an oversized frame is cheap to send. */
const MAX_FRAME = 64 * 1024

/** Error frames as [code, seq, field], the parts the contract fixes. */
function errorKeys(peer: Peer): [string | undefined, number | undefined, string | undefined][] {
  return peer.errors().map((e) => [e.code, e.seq, e.field])
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

/** Frames that are not exactly one value of plain MessagePack (or not binary). */
const badFrames: [string, Buffer | string][] = [
  ['the never-used byte 0xc1', hex('c1')],
  ['an empty frame', Buffer.alloc(0)],
  ['truncated MessagePack', encode({ type: 'goodbye', reason: 'bye' }).subarray(0, 6)],
  ['a text frame', 'hello'],
  ['trailing garbage after a valid map', Buffer.concat([encode({ type: 'goodbye' }), hex('00')])],
  // {type: "goodbye", at: timestamp 32 (ext type -1)}
  ['an extension type inside a map', hex('82 a4 74797065 a7 676f6f64627965 a2 6174 d6 ff 00000001')],
  ['an extension type at the top level', hex('d4 00 00')],
  ['an integer beyond 2^53 - 1', hex('81 a4 74797065 cf 0020000000000000')],
]

/** A frame of exactly `size` bytes: `base` plus an unknown field, which the engine ignores. */
function frameOfSize(size: number, base: Record<string, unknown>): Buffer {
  let pad = size - encode(base).length - 10
  for (let i = 0; i < 5; i++) {
    const frame = encode({ ...base, pad: 'x'.repeat(pad) })
    if (frame.length === size) return frame
    pad += size - frame.length
  }
  throw new Error(`cannot build a frame of exactly ${size} bytes`)
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(10)
  }
}

// ---------------------------------------------------------------------------------------------
// A raw TCP client, for the one case where several frames must reach the engine in one read

/** Opens `/v1` by hand over TCP; `write` puts masked binary frames on the wire in one write. */
async function rawTcp(t: Test, url: string): Promise<{ write(payloads: Buffer[]): void; frames: Frame[]; closeCode: Promise<number> }> {
  const { hostname, port, pathname } = new URL(url)
  const socket: Socket = tcpConnect(Number(port), hostname)
  t.teardown(() => {
    socket.destroy()
  })
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.write(
    `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  const frames: Frame[] = []
  let buffer = Buffer.alloc(0)
  let upgraded = false
  let onClose: (code: number) => void = () => {}
  const closeCode = new Promise<number>((resolve) => {
    onClose = resolve
    socket.once('close', () => resolve(-1))
  })
  let onUpgrade: () => void = () => {}
  const upgradedPromise = new Promise<void>((resolve) => (onUpgrade = resolve))
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    if (!upgraded) {
      const end = buffer.indexOf('\r\n\r\n')
      if (end < 0) return
      if (!buffer.subarray(0, end).toString().startsWith('HTTP/1.1 101')) throw new Error(`no upgrade: ${buffer.toString()}`)
      buffer = buffer.subarray(end + 4)
      upgraded = true
      onUpgrade()
    }
    // server frames: unmasked, unfragmented
    for (;;) {
      if (buffer.length < 2) return
      let length = buffer[1]! & 0x7f
      let at = 2
      if (length === 126) {
        if (buffer.length < 4) return
        length = buffer.readUInt16BE(2)
        at = 4
      } else if (length === 127) {
        if (buffer.length < 10) return
        length = Number(buffer.readBigUInt64BE(2))
        at = 10
      }
      if (buffer.length < at + length) return
      const opcode = buffer[0]! & 0x0f
      const payload = buffer.subarray(at, at + length)
      buffer = buffer.subarray(at + length)
      if (opcode === 0x2) frames.push(decode(payload) as Frame)
      if (opcode === 0x8) onClose(payload.length >= 2 ? payload.readUInt16BE(0) : 1005)
    }
  })
  await upgradedPromise
  return {
    frames,
    closeCode,
    write(payloads) {
      const parts: Buffer[] = []
      for (const payload of payloads) {
        const mask = randomBytes(4)
        const head = payload.length < 126 ? Buffer.from([0x82, 0x80 | payload.length]) : Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
        const body = Buffer.from(payload)
        for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!
        parts.push(head, mask, body)
      }
      socket.write(Buffer.concat(parts))
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Storage checks

function sqliteBackend(t: Test): Backend {
  const path = join(tempDir(t), 'engine.db')
  return { dialect: 'sqlite', database: path, open: async () => openSqlite({ path }) }
}

function tickCount(backend: Backend, symbol: string): Promise<number> {
  return count(backend, 'select count(*) from ticks where symbol_id in (select id from symbols where name = $1)', [symbol])
}

function streamCount(backend: Backend, instance: string): Promise<number> {
  return count(backend, 'select count(*) from streams where instance_id = $1', [instance])
}

/** Titles of the stream's `message_rejected` notifications, oldest first. */
async function rejections(backend: Backend, instance: string): Promise<string[]> {
  const rows = await withStorage(backend, (s) =>
    s.query<{ title: string }>(
      `select title from notifications where kind = 'message_rejected'
          and stream_id = (select id from streams where instance_id = $1) order by id`,
      [instance],
    ),
  )
  return rows.map((r) => r.title)
}

// ---------------------------------------------------------------------------------------------
// The healthy EA that streams through everything

interface Healthy {
  ea: EaClient
  symbol: string
  /** Resolves when the healthy EA gets an ack it did not have yet. */
  progress(): Promise<void>
  /** Stops sending, waits for the last ack, returns how many ticks were sent. */
  stop(): Promise<number>
}

async function startHealthy(t: Test, url: string, token: string): Promise<Healthy> {
  const symbol = 'HEALTHY'
  const ea = await connectEA(url, { token, instanceId: 'healthy-ea', account: account(9001), ea: { name: 'HealthyEA' }, minDelayMs: 20, maxDelayMs: 200 })
  t.teardown(() => ea.close())
  const source = new TickSource(symbol, 1_732_000_000_000, 1.2, 11)
  let sent = 0
  let running = true
  const loop = (async () => {
    while (running) {
      await ea.send(source.batch(25))
      sent += 25
      await sleep(10)
    }
  })()
  return {
    ea,
    symbol,
    async progress() {
      const from = ea.counters.lastAckedSeq
      await until('a new ack for the healthy EA', () => ea.counters.lastAckedSeq > from, 5000)
    },
    async stop() {
      running = false
      await loop
      await withTimeout(ea.flushed(), 15000, 'the healthy EA was not fully acknowledged within 15 s')
      return sent
    },
  }
}

// ---------------------------------------------------------------------------------------------

t.test('gateway: one engine under abuse while a healthy EA streams', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  // These tests blast refused frames from one address back to back, well past its default budget
  // of refused frames: they are about each connection's own limits (test/admission.test.ts has the address's).
  const engine = await startTestEngine(t, backend, { maxFrameBytes: MAX_FRAME, maxRefusedPerSecond: 1_000_000 })
  const url = engine.url!
  // Says nothing but one bad frame: the 5 s hello timeout is checked at the end.
  const silent = await open(t, url)
  const silentSince = Date.now()
  silent.send(hex('c1'))
  const healthy = await startHealthy(t, url, tokens.ea)

  await t.test('before welcome', async (t) => {
    for (const [name, bytes] of badFrames) {
      await t.test(`${name} is answered BAD_FRAME and a hello still opens the session`, async (t) => {
        const peer = await open(t, url)
        peer.send(bytes)
        await peer.waitFor('an error', (f) => f.type === 'error')
        peer.send(dashboardHello(tokens.viewer))
        await peer.waitFor('welcome', (f) => f.type === 'welcome')
        t.same(errorKeys(peer), [['BAD_FRAME', undefined, undefined]])
        t.ok(peer.open)
      })
    }

    await t.test('the 3rd frame that is not a hello is answered and closes 4000', async (t) => {
      const peer = await open(t, url)
      peer.send(hex('c1'))
      peer.send([1, 2, 3])
      peer.send({ type: 'tick_batch', seq: 1 })
      const closed = await peer.closedWithin()
      t.equal(closed.code, 4000)
      t.same(errorKeys(peer), [
        ['BAD_FRAME', undefined, undefined],
        ['BAD_MESSAGE', undefined, undefined],
        ['HELLO_REQUIRED', undefined, 'type'],
      ])
      t.notOk(peer.frames.some((f) => f.type === 'welcome'))
    })

    await t.test('a map without type before welcome is answered HELLO_REQUIRED (field type)', async (t) => {
      const peer = await open(t, url)
      peer.send({ seq: 1, protocol: 1 })
      await peer.waitFor('an error', (f) => f.type === 'error')
      t.same(errorKeys(peer), [['HELLO_REQUIRED', undefined, 'type']])
      t.ok(peer.open, 'the first such frame does not close')
    })

    await t.test('two non-hello frames and a bad hello still leave room for a good hello', async (t) => {
      const peer = await open(t, url)
      peer.send(hex('c1'))
      peer.send({ type: 'deal', seq: 1 })
      peer.send({ ...eaHello(tokens.ea, 'raw-patient'), account: { server: 'MetaQuotes-Demo' } })
      peer.send(eaHello(tokens.ea, 'raw-patient'))
      const welcome = await peer.waitFor('welcome', (f) => f.type === 'welcome')
      t.same(errorKeys(peer), [
        ['BAD_FRAME', undefined, undefined],
        ['HELLO_REQUIRED', undefined, 'type'],
        ['BAD_FIELD', undefined, 'account.login'],
      ])
      t.equal(welcome.resume_seq, 0)
    })

    await t.test('an invalid hello may be corrected once', async (t) => {
      const peer = await open(t, url)
      const noEa = eaHello(tokens.ea, 'raw-corrected')
      delete noEa.ea
      peer.send(noEa)
      await peer.waitFor('an error', (f) => f.type === 'error')
      t.ok(peer.open, 'one bad hello does not close')
      peer.send(eaHello(tokens.ea, 'raw-corrected'))
      const welcome = await peer.waitFor('welcome', (f) => f.type === 'welcome')
      t.same(errorKeys(peer), [['BAD_FIELD', undefined, 'ea']])
      t.match(welcome, { protocol: 1, role: 'ea', resume_seq: 0, stream_id: Number })
    })

    await t.test('a second invalid hello closes 4000', async (t) => {
      const peer = await open(t, url)
      peer.send({ ...eaHello(tokens.ea, 'raw-twice'), role: 'robot' })
      peer.send({ ...eaHello(tokens.ea, 'raw-twice'), instance_id: '' })
      const closed = await peer.closedWithin()
      t.equal(closed.code, 4000)
      t.same(errorKeys(peer), [
        ['BAD_FIELD', undefined, 'role'],
        ['BAD_FIELD', undefined, 'instance_id'],
      ])
      t.equal(await streamCount(backend, 'raw-twice'), 0, 'no stream registered')
    })

    await t.test('a hello with protocol 2 is UNSUPPORTED_PROTOCOL and closes 4004, whatever else it holds', async (t) => {
      for (const hello of [{ type: 'hello', protocol: 2 }, { ...eaHello(tokens.ea, 'raw-v2'), protocol: 2 }, { ...dashboardHello('nonsense'), protocol: 2, role: 'robot' }]) {
        const peer = await open(t, url)
        peer.send(hello)
        const closed = await peer.closedWithin()
        t.equal(closed.code, 4004)
        t.same(errorKeys(peer), [['UNSUPPORTED_PROTOCOL', undefined, 'protocol']])
      }
      // after a first bad hello too: the protocol check comes before the hello count
      const peer = await open(t, url)
      peer.send({ ...eaHello(tokens.ea, 'raw-v2'), role: 'robot' })
      peer.send({ ...eaHello(tokens.ea, 'raw-v2'), protocol: 2 })
      t.equal((await peer.closedWithin()).code, 4004)
      t.same(errorKeys(peer), [
        ['BAD_FIELD', undefined, 'role'],
        ['UNSUPPORTED_PROTOCOL', undefined, 'protocol'],
      ])
      t.equal(await streamCount(backend, 'raw-v2'), 0)
    })

    await t.test('frames that arrive with the hello, before welcome, are answered HELLO_REQUIRED and not stored', async (t) => {
      const raw = await rawTcp(t, url)
      const source = new TickSource('PIPELINED')
      // one TCP write: the engine reads the hello and the tick batch together
      raw.write([encode(eaHello(tokens.ea, 'raw-pipelined')), encode({ ...source.batch(5), seq: 1 })])
      await until('welcome and an error', () => raw.frames.some((f) => f.type === 'welcome') && raw.frames.some((f) => f.type === 'error'), 5000)
      t.same(
        raw.frames.filter((f) => f.type === 'error').map((e) => e.code),
        ['HELLO_REQUIRED'],
      )
      await sleep(100)
      t.notOk(raw.frames.some((f) => f.type === 'ack'), 'nothing acknowledged')
      t.equal(await tickCount(backend, 'PIPELINED'), 0)
    })
  })

  await t.test('tokens and roles', async (t) => {
    await t.test('an unknown token is AUTH_FAILED, close 4001', async (t) => {
      for (const hello of [eaHello('mt5e_ea_not-a-token', 'raw-stranger'), dashboardHello('mt5e_admin_not-a-token')]) {
        const peer = await open(t, url)
        peer.send(hello)
        t.equal((await peer.closedWithin()).code, 4001)
        t.same(errorKeys(peer), [['AUTH_FAILED', undefined, undefined]])
      }
      t.equal(await streamCount(backend, 'raw-stranger'), 0)
    })

    await t.test('a revoked token is AUTH_FAILED, close 4001, though it worked before', async (t) => {
      const token = await withStorage(backend, async (s) => (await createToken(s, { role: 'ea', name: 'revoke-me' })).token)
      const before = await openEa(t, url, token, 'raw-revoked')
      before.peer.send({ type: 'goodbye' })
      t.equal((await before.peer.closedWithin()).code, 1000)
      await withStorage(backend, (s) => revokeToken(s, 'revoke-me'))
      const peer = await open(t, url)
      peer.send(eaHello(token, 'raw-revoked'))
      t.equal((await peer.closedWithin()).code, 4001)
      t.same(errorKeys(peer), [['AUTH_FAILED', undefined, undefined]])
    })

    await t.test('a viewer token cannot stream as an EA: FORBIDDEN, close 4003, no stream registered', async (t) => {
      const peer = await open(t, url)
      peer.send(eaHello(tokens.viewer, 'raw-viewer-ea'))
      t.equal((await peer.closedWithin()).code, 4003)
      t.same(errorKeys(peer), [['FORBIDDEN', undefined, undefined]])
      t.equal(await streamCount(backend, 'raw-viewer-ea'), 0)
    })

    await t.test('an ea token cannot open a dashboard: FORBIDDEN, close 4003', async (t) => {
      const peer = await open(t, url)
      peer.send(dashboardHello(tokens.ea))
      t.equal((await peer.closedWithin()).code, 4003)
      t.same(errorKeys(peer), [['FORBIDDEN', undefined, undefined]])
    })

    await t.test('welcome tells the session role: ea for an EA (even with an admin token), viewer or admin for a dashboard', async (t) => {
      const ea = await openEa(t, url, tokens.admin, 'raw-admin-ea')
      t.match(ea.welcome, { role: 'ea', resume_seq: 0, stream_id: Number, limits: { max_frame_bytes: MAX_FRAME, max_batch_ticks: 5000, max_inflight: 16 } })
      const viewer = await openDashboard(t, url, tokens.viewer)
      t.equal(viewer.welcome.role, 'viewer')
      t.notOk('stream_id' in viewer.welcome || 'resume_seq' in viewer.welcome, 'a dashboard welcome has no stream_id or resume_seq')
      t.equal((await openDashboard(t, url, tokens.admin)).welcome.role, 'admin')
    })

    await t.test("a viewer's command_send is FORBIDDEN with its request_id and the dashboard stays open", async (t) => {
      const { peer } = await openDashboard(t, url, tokens.viewer)
      const send = { type: 'command_send', request_id: 'r-1', command: 'pause', target: { instance_id: 'healthy-ea' } }
      peer.send(send)
      await peer.waitFor('an error', (f) => f.type === 'error')
      peer.send({ ...send, request_id: 'r-2' })
      await peer.waitFor('a second error', (f) => f.type === 'error' && f.request_id === 'r-2')
      t.same(
        peer.errors().map((e) => [e.code, e.request_id]),
        [
          ['FORBIDDEN', 'r-1'],
          ['FORBIDDEN', 'r-2'],
        ],
      )
      t.equal((await peer.closedWithin(200)).code, 0, 'still open')
      t.equal(await count(backend, 'select count(*) from commands'), 0, 'no command was stored')
      // an admin passes the role check: this target is unknown, so the answer is about the target
      const admin = await openDashboard(t, url, tokens.admin)
      admin.peer.send({ ...send, request_id: 'r-3', target: { instance_id: 'nobody-here' } })
      const answer = await admin.peer.waitFor('an answer', (f) => f.request_id === 'r-3')
      t.match(answer, { type: 'error', code: 'BAD_FIELD', field: 'target', request_id: 'r-3' })
    })

    await t.test('a dashboard stays open after bad frames and invalid messages, each answered with its request_id', async (t) => {
      const { peer } = await openDashboard(t, url, tokens.admin)
      for (const [, bytes] of badFrames) peer.send(bytes)
      peer.send([1, 2])
      peer.send({ type: 'teleport', request_id: 'r-1' })
      peer.send({ type: 'command_send', request_id: 'r-2', target: { instance_id: 'x' } })
      peer.send({ type: 'command_send', request_id: 'r-3', command: 'pause', target: { instance_id: 'x', login: 1 } })
      await peer.received(1 + badFrames.length + 4)
      t.same(
        peer.errors().map((e) => [e.code, e.request_id, e.field]),
        [
          ...badFrames.map(() => ['BAD_FRAME', undefined, undefined]),
          ['BAD_MESSAGE', undefined, undefined],
          ['UNKNOWN_TYPE', 'r-1', 'type'],
          ['BAD_FIELD', 'r-2', 'command'],
          ['BAD_FIELD', 'r-3', 'target'],
        ],
      )
      t.equal((await peer.closedWithin(200)).code, 0, 'still open')
    })

    await t.test('a hello after welcome is BAD_MESSAGE and closes 4000, on an EA and on a dashboard', async (t) => {
      const ea = await openEa(t, url, tokens.ea, 'raw-hello-again')
      ea.peer.send(eaHello(tokens.ea, 'raw-hello-again'))
      t.equal((await ea.peer.closedWithin()).code, 4000)
      t.same(errorKeys(ea.peer), [['BAD_MESSAGE', undefined, undefined]])
      // an invalid one too: it is a hello after welcome before it is anything else
      const ea2 = await openEa(t, url, tokens.ea, 'raw-hello-again')
      ea2.peer.send({ ...eaHello(tokens.ea, 'raw-hello-again'), protocol: 2 })
      t.equal((await ea2.peer.closedWithin()).code, 4000)
      t.same(errorKeys(ea2.peer), [['BAD_MESSAGE', undefined, undefined]])
      const dashboard = await openDashboard(t, url, tokens.viewer)
      dashboard.peer.send(dashboardHello(tokens.viewer))
      t.equal((await dashboard.peer.closedWithin()).code, 4000)
      t.same(errorKeys(dashboard.peer), [['BAD_MESSAGE', undefined, undefined]])
    })
  })

  await t.test('after welcome on an EA session', async (t) => {
    for (const [name, bytes] of badFrames) {
      await t.test(`${name} is BAD_FRAME and closes 4000`, async (t) => {
        const { peer } = await openEa(t, url, tokens.ea, 'raw-bad-frame')
        peer.send(bytes)
        t.equal((await peer.closedWithin()).code, 4000)
        t.same(errorKeys(peer), [['BAD_FRAME', undefined, undefined]])
      })
    }

    await t.test('a value that is not a map, or a map with neither type nor seq, is BAD_MESSAGE and closes 4000', async (t) => {
      for (const value of [[1, 2, 3], 'tick_batch', 42, null, {}, { symbol: 'EURUSD' }, { type: 7 }]) {
        const { peer } = await openEa(t, url, tokens.ea, 'raw-shape')
        peer.send(encode(value as object))
        t.equal((await peer.closedWithin()).code, 4000, JSON.stringify(value))
        t.same(
          peer.errors().map((e) => [e.code, e.seq]),
          [['BAD_MESSAGE', undefined]],
          JSON.stringify(value),
        )
      }
    })

    await t.test('a durable message without a usable seq is BAD_FIELD seq and closes 4000', async (t) => {
      const log = { type: 'log', time_msc: 1_732_000_000_000, level: 'info', message: 'hi' }
      for (const seq of [undefined, null, 0, -1, 1.5, '1', 2 ** 53, [1]]) {
        const { peer } = await openEa(t, url, tokens.ea, 'raw-no-seq')
        peer.send({ ...log, seq })
        t.equal((await peer.closedWithin()).code, 4000, `seq ${JSON.stringify(seq)}`)
        t.same(errorKeys(peer), [['BAD_FIELD', undefined, 'seq']], `seq ${JSON.stringify(seq)}`)
      }
      t.equal(await count(backend, "select count(*) from iteration_logs where stream_id = (select id from streams where instance_id = 'raw-no-seq')"), 0)
    })

    await t.test('an unknown type without seq, and an invalid goodbye, are answered and dropped; the stream goes on', async (t) => {
      const { peer } = await openEa(t, url, tokens.ea, 'raw-unknown')
      peer.send({ type: 'heartbeat_v2', time_msc: 1 })
      peer.send({ type: 'goodbye', reason: 42 })
      peer.send({ ...new TickSource('UNKNOWN').batch(3), seq: 1 })
      await peer.ack(1)
      t.same(errorKeys(peer), [
        ['UNKNOWN_TYPE', undefined, 'type'],
        ['BAD_FIELD', undefined, 'reason'],
      ])
      t.equal(await tickCount(backend, 'UNKNOWN'), 3)
      t.same(await rejections(backend, 'raw-unknown'), [], 'nothing recorded as refused')
      peer.send({ type: 'goodbye', reason: 'done' })
      t.equal((await peer.closedWithin()).code, 1000, 'a valid goodbye closes 1000')
    })

    await t.test('with a valid seq, an unknown type or a missing type is consumed: error with seq, recorded, acked', async (t) => {
      const { peer } = await openEa(t, url, tokens.ea, 'raw-consumed-type')
      const source = new TickSource('CONSUMEDTYPE')
      peer.send({ type: 'heartbeat_v2', seq: 1 })
      peer.send({ seq: 2, symbol: 'EURUSD' })
      peer.send({ ...source.batch(4), seq: 3 })
      await peer.ack(3)
      t.same(errorKeys(peer), [
        ['UNKNOWN_TYPE', 1, 'type'],
        ['BAD_MESSAGE', 2, 'type'],
      ])
      t.same(await rejections(backend, 'raw-consumed-type'), ['message 1 refused: UNKNOWN_TYPE', 'message 2 refused: BAD_MESSAGE'])
      t.equal(await tickCount(backend, 'CONSUMEDTYPE'), 4)
    })

    await t.test('a first seq above resume_seq + 1 is SEQ_GAP with that seq; close 4000, nothing stored', async (t) => {
      const { peer, welcome } = await openEa(t, url, tokens.ea, 'raw-gap-first')
      t.equal(welcome.resume_seq, 0)
      peer.send({ ...new TickSource('GAPFIRST').batch(3), seq: 2 })
      t.equal((await peer.closedWithin()).code, 4000)
      t.same(errorKeys(peer), [['SEQ_GAP', 2, undefined]])
      t.notOk(peer.frames.some((f) => f.type === 'ack'))
      t.equal(await tickCount(backend, 'GAPFIRST'), 0)
    })

    await t.test('a seq that skips ahead mid-stream is SEQ_GAP; what came before stays committed', async (t) => {
      const { peer } = await openEa(t, url, tokens.ea, 'raw-gap')
      const source = new TickSource('GAP')
      peer.send({ ...source.batch(3), seq: 1 })
      peer.send({ ...source.batch(3), seq: 2 })
      await peer.ack(2)
      peer.send({ ...source.batch(3), seq: 4 })
      t.equal((await peer.closedWithin()).code, 4000)
      t.same(errorKeys(peer), [['SEQ_GAP', 4, undefined]])
      t.equal(await tickCount(backend, 'GAP'), 6)
      const again = await openEa(t, url, tokens.ea, 'raw-gap')
      t.equal(again.welcome.resume_seq, 2, 'resume_seq says where to go on')
    })

    await t.test('a repeated or lower seq is SEQ_REGRESSION with that seq; close 4000', async (t) => {
      for (const bad of [2, 1]) {
        const instance = `raw-regression-${bad}`
        const { peer } = await openEa(t, url, tokens.ea, instance)
        const source = new TickSource(`REGRESSION${bad}`)
        peer.send({ ...source.batch(3), seq: 1 })
        peer.send({ ...source.batch(3), seq: 2 })
        await peer.ack(2)
        peer.send({ ...source.batch(3), seq: bad })
        t.equal((await peer.closedWithin()).code, 4000)
        t.same(errorKeys(peer), [['SEQ_REGRESSION', bad, undefined]])
        t.equal(await tickCount(backend, `REGRESSION${bad}`), 6, 'the regressing message stored nothing')
      }
    })

    await t.test('the sequence rules apply to invalid messages too: an invalid message that skips ahead is SEQ_GAP', async (t) => {
      const { peer } = await openEa(t, url, tokens.ea, 'raw-gap-invalid')
      peer.send({ ...new TickSource('GAPINVALID').batch(3), seq: 1 })
      await peer.ack(1)
      peer.send({ ...new TickSource('GAPINVALID').batch(3), bid: [NaN, 1, 1], seq: 3 })
      t.equal((await peer.closedWithin()).code, 4000)
      t.same(errorKeys(peer), [['SEQ_GAP', 3, undefined]])
      t.same(await rejections(backend, 'raw-gap-invalid'), [], 'not recorded as refused')
    })

    await t.test('an instance_id registered for another account is BAD_FIELD instance_id, close 4000', async (t) => {
      const first = await openEa(t, url, tokens.ea, 'raw-owned', 5001)
      first.peer.send({ type: 'goodbye' })
      await first.peer.closed
      const peer = await open(t, url)
      peer.send(eaHello(tokens.ea, 'raw-owned', 5002))
      t.equal((await peer.closedWithin()).code, 4000)
      t.same(errorKeys(peer), [['BAD_FIELD', undefined, 'instance_id']])
    })

    await t.test('a second connection with the same instance_id replaces the first: REPLACED, close 4009; the second streams on', async (t) => {
      const source = new TickSource('TWIN')
      const first = await openEa(t, url, tokens.ea, 'raw-twin')
      first.peer.send({ ...source.batch(10), seq: 1 })
      await first.peer.ack(1)
      const second = await openEa(t, url, tokens.ea, 'raw-twin')
      t.equal(second.welcome.resume_seq, 1)
      t.equal((await first.peer.closedWithin()).code, 4009)
      t.same(errorKeys(first.peer), [['REPLACED', undefined, undefined]])
      second.peer.send({ ...source.batch(10), seq: 2 })
      await second.peer.ack(2)
      t.same(second.peer.errors(), [])
      t.equal(await tickCount(backend, 'TWIN'), 20)
    })
  })

  await t.test('limits', async (t) => {
    await t.test('a frame of exactly max_frame_bytes is accepted; one byte more closes 1009 and the engine serves on', async (t) => {
      const { peer, welcome } = await openEa(t, url, tokens.ea, 'raw-big')
      t.equal((welcome.limits as { max_frame_bytes: number }).max_frame_bytes, MAX_FRAME)
      const source = new TickSource('BIG')
      peer.send(frameOfSize(MAX_FRAME, { ...source.batch(100), seq: 1 }))
      await peer.ack(1)
      peer.send(frameOfSize(MAX_FRAME + 1, { ...source.batch(100), seq: 2 }))
      t.equal((await peer.closedWithin()).code, 1009)
      t.same(
        peer.errors().filter((e) => e.code !== 'FRAME_TOO_LARGE'),
        [],
        'no error but FRAME_TOO_LARGE, which may be missing',
      )
      t.equal(await tickCount(backend, 'BIG'), 100)
      const again = await openEa(t, url, tokens.ea, 'raw-big')
      t.equal(again.welcome.resume_seq, 1, 'the same stream reconnects')
      await healthy.progress()
    })

    await t.test('an oversized hello closes 1009 too', async (t) => {
      const peer = await open(t, url)
      peer.send(frameOfSize(MAX_FRAME + 1, eaHello(tokens.ea, 'raw-big-hello')))
      t.equal((await peer.closedWithin()).code, 1009)
      t.equal(await streamCount(backend, 'raw-big-hello'), 0)
    })

    await t.test('4000 frames in a burst stay within the 5000 per second limit', async (t) => {
      const { peer } = await openEa(t, url, tokens.ea, 'raw-busy')
      const tiny = encode({ type: 'x' })
      for (let i = 0; i < 4000; i++) peer.ws.send(tiny)
      await peer.received(1 + 4000, 10000)
      t.equal(peer.errors().filter((e) => e.code === 'UNKNOWN_TYPE').length, 4000)
      peer.send({ ...new TickSource('BUSY').batch(3), seq: 1 })
      await peer.ack(1)
    })

    await t.test('more than 5000 frames within a second is RATE_LIMITED, close 4008, after at least 5000 were accepted', async (t) => {
      const { peer } = await openEa(t, url, tokens.ea, 'raw-blaster')
      const tiny = encode({ type: 'x' })
      // bounded: 20000 frames of 7 bytes, sent at once; the engine reads them within a few seconds
      for (let i = 0; i < 20000; i++) peer.ws.send(tiny)
      t.equal((await peer.closedWithin(15000)).code, 4008)
      const codes = peer.errors().map((e) => e.code)
      const accepted = codes.filter((c) => c === 'UNKNOWN_TYPE').length
      t.equal(codes.at(-1), 'RATE_LIMITED')
      t.equal(codes.filter((c) => c === 'RATE_LIMITED').length, 1, 'answered once, then closed')
      // the hello counts as one frame of the first second
      t.ok(accepted + 1 >= 5000, `${accepted} frames and the hello were accepted before the limit`)
      t.ok(accepted < 20000, 'the limit stopped the blast')
      await healthy.progress()
    })

    await t.test('thousands of invalid 32 KiB frames from one client keep RSS growth under 100 MB; the session stays open', async (t) => {
      const { peer } = await openEa(t, url, tokens.ea, 'raw-memory')
      const pad = 'x'.repeat(32 * 1024)
      // both refused and dropped without closing: UNKNOWN_TYPE and an invalid goodbye (BAD_FIELD)
      const junk = [encode({ type: 'junk', pad }), encode({ type: 'goodbye', reason: 7, pad })]
      const burst = 200
      let sent = 0
      const sendBurst = async () => {
        const started = Date.now()
        for (let i = 0; i < burst; i++) peer.ws.send(junk[i % 2]!)
        sent += burst
        await peer.received(1 + sent, 10000)
        // at most 200 frames per 80 ms: 2500 a second, half the rate limit
        await sleep(Math.max(0, 80 - (Date.now() - started)))
      }
      await sendBurst() // warm-up: buffers and code paths the engine allocates once
      const baseline = process.memoryUsage().rss
      let peak = baseline
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
      t.teardown(() => clearInterval(sampler))
      for (let b = 0; b < 30; b++) await sendBurst()
      clearInterval(sampler)
      peak = Math.max(peak, process.memoryUsage().rss)
      const grewMb = (peak - baseline) / MiB
      t.ok(grewMb < 100, `RSS grew ${grewMb.toFixed(1)} MB while ${((sent * 32 * 1024) / MiB).toFixed(0)} MB of invalid frames went through`)
      const codes = peer.errors().map((e) => e.code)
      t.equal(codes.length, sent, 'every frame was answered')
      t.same([...new Set(codes)].sort(), ['BAD_FIELD', 'UNKNOWN_TYPE'])
      t.ok(peer.open, 'the session stays open')
      await healthy.progress()
    })
  })

  await t.test('a connection that never says hello gets HELLO_REQUIRED and close 4000 after 5 s', async (t) => {
    const closed = await silent.closedWithin(Math.max(0, silentSince + 8000 - Date.now()))
    const after = (silent.closedAt ?? Infinity) - silentSince
    t.equal(closed.code, 4000)
    t.ok(after >= 4900 && after < 7000, `closed after ${after} ms: at 5 s`)
    t.same(errorKeys(silent), [
      ['BAD_FRAME', undefined, undefined],
      ['HELLO_REQUIRED', undefined, undefined],
    ])
  })

  await t.test('the healthy EA streamed through all of it: never disconnected, every tick stored once', async (t) => {
    const sent = await healthy.stop()
    t.ok(sent > 1000, `${sent} ticks sent`)
    t.equal(healthy.ea.counters.reconnects, 0)
    t.equal(healthy.ea.counters.errors, 0)
    t.equal(await tickCount(backend, healthy.symbol), sent)
  })
})

t.test('gateway: invalid durable messages are consumed, replays are acknowledged without writing', async (t) => {
  await eachBackend(t, 'a refused message with a valid seq is answered with seq and field, recorded, acknowledged, and the stream goes on', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const { peer } = await openEa(t, engine.url!, tokens.ea, 'raw-consumed')
    const good = new TickSource('CONSUMED', 1_732_000_000_000)
    // refused batches come from another time range: if any of their ticks were stored, the count shows it
    const bad = () => new TickSource('CONSUMED', 1_600_000_000_000).batch(4)
    const sends: [Record<string, unknown>, string | undefined][] = [
      [good.batch(5), undefined],
      [{ ...bad(), bid: [1.1, NaN, 1.1, 1.1] }, 'bid[1]'],
      [{ ...bad(), ask: [-1, 1.1, 1.1, 1.1] }, 'ask[0]'],
      [good.batch(5), undefined],
      [{ ...bad(), last: [0, 0, 0] }, 'last'],
      [{ ...bad(), symbol: 5 }, 'symbol'],
      [{ ...bad(), time_msc: [Infinity, 1, 2, 3] }, 'time_msc[0]'],
      [{ ...bad(), volume: ['1', 0, 0, 0] }, 'volume[0]'],
      [{ ...deal(8101, 1_732_000_000_000), ticket: 'abc' }, 'ticket'],
      [{ ...deal(8102, 1_732_000_000_000), price: -1.08 }, 'price'],
      [deal(8103, 1_732_000_000_000), undefined],
      [good.batch(5), undefined],
    ]
    sends.forEach(([message], i) => peer.send({ ...message, seq: i + 1 }))
    await peer.ack(sends.length)
    const refused = sends.flatMap(([, field], i) => (field === undefined ? [] : [[i + 1, field] as const]))
    t.same(
      errorKeys(peer),
      refused.map(([seq, field]) => ['BAD_FIELD', seq, field]),
    )
    // each error comes before the ack that covers it
    for (const [seq] of refused) {
      const errorAt = peer.frames.findIndex((f) => f.type === 'error' && f.seq === seq)
      const ackAt = peer.frames.findIndex((f) => f.type === 'ack' && (f.seq ?? 0) >= seq)
      t.ok(errorAt >= 0 && errorAt < ackAt, `the error for seq ${seq} precedes its ack`)
    }
    t.same(
      await rejections(backend, 'raw-consumed'),
      refused.map(([seq]) => `message ${seq} refused: BAD_FIELD`),
    )
    const bodies = await withStorage(backend, (s) => s.query<{ body: string }>("select body from notifications where kind = 'message_rejected' order by id"))
    t.ok(bodies.every((r, i) => r.body.includes(`field ${refused[i]![1]}`)), 'each record names the field')
    t.equal(await tickCount(backend, 'CONSUMED'), 15, 'the three good batches, nothing of the refused ones')
    t.equal(await count(backend, 'select count(*) from deals where ticket in (8101, 8102, 8103)'), 1)
    t.equal(await count(backend, "select last_seq from stream_sequences where stream_id = (select id from streams where instance_id = 'raw-consumed')"), sends.length)
    t.ok(peer.open, 'the session goes on')
  })

  await eachBackend(t, 'after a reconnect, messages at or below resume_seq are acknowledged without writing, a refused one with its error again', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const source = new TickSource('REPLAY')
    const messages: Record<string, unknown>[] = [
      { ...source.batch(5), seq: 1 },
      { ...source.batch(5), bid: [1, 1, NaN, 1, 1], seq: 2 },
      { ...deal(8201, 1_732_000_000_000), seq: 3 },
      { type: 'log', time_msc: 1_732_000_000_000, level: 'info', message: 'no natural key', seq: 4 },
      { ...source.batch(5), seq: 5 },
    ]
    const first = await openEa(t, engine.url!, tokens.ea, 'raw-replay')
    for (const m of messages) first.peer.send(m)
    await first.peer.ack(5)
    first.peer.send({ type: 'goodbye' })
    await first.peer.closed
    const counts = async () => ({
      ticks: await tickCount(backend, 'REPLAY'),
      deals: await count(backend, 'select count(*) from deals where ticket = 8201'),
      logs: await count(backend, "select count(*) from iteration_logs where stream_id = (select id from streams where instance_id = 'raw-replay')"),
      rejections: (await rejections(backend, 'raw-replay')).length,
    })
    const before = await counts()
    t.same(before, { ticks: 10, deals: 1, logs: 1, rejections: 1 })

    const second = await openEa(t, engine.url!, tokens.ea, 'raw-replay')
    t.equal(second.welcome.resume_seq, 5)
    // the first durable message may carry any seq from 1 to resume_seq + 1
    for (const m of messages.slice(1)) second.peer.send(m)
    await second.peer.ack(5)
    t.same(errorKeys(second.peer), [['BAD_FIELD', 2, 'bid[2]']], 'the refused message is answered again')
    t.same(
      second.peer.frames.filter((f) => f.type === 'ack').map((f) => f.seq),
      [2, 3, 4, 5],
      'each replay acknowledged',
    )
    t.same(await counts(), before, 'nothing written again')
    second.peer.send({ ...source.batch(5), seq: 6 })
    await second.peer.ack(6)
    t.same(await counts(), { ...before, ticks: 15 }, 'the next new message is stored')
  })
})

t.test('gateway: flow control and stream takeover while the database is slow', async (t) => {
  await t.test('a durable message past max_inflight unacknowledged ones is refused with INFLIGHT_EXCEEDED and closes; the window is stored', async (t) => {
    const backend = sqliteBackend(t)
    const tokens = await makeTokens(backend)
    // every write waits 500 ms first: acks come late on purpose
    const engine = await startTestEngine(t, backend, { maxInflight: 4, writeDelayMs: 500 })
    const { peer, welcome } = await openEa(t, engine.url!, tokens.ea, 'raw-inflight')
    t.equal((welcome.limits as { max_inflight: number }).max_inflight, 4)
    const source = new TickSource('INFLIGHT')
    for (let seq = 1; seq <= 6; seq++) peer.send({ ...source.batch(3), seq })
    const refused = await peer.waitFor('the refusal', (f) => f.type === 'error')
    if (peer.frames.some((f) => f.type === 'ack' && (f.seq as number) < 5)) {
      // an ack for 1..4 before 5 was read lets 5 in: the machine stalled past the write delay
      t.comment('an ack came within the 500 ms write delay: the machine stalled, the refusal came later')
    }
    t.match(refused, { code: 'INFLIGHT_EXCEEDED' })
    t.equal((await peer.closedWithin()).code, 4000)
    t.equal(refused.seq, 5, 'the first message past the window is the one refused')
    await sleep(700) // past the write delay: a batch that was in flight has committed
    const hwm = await count(backend, `select last_seq from stream_sequences where stream_id = (select id from streams where instance_id = 'raw-inflight')`)
    // The closed session's pending messages were dropped unacknowledged (the EA resends them);
    // whatever committed is exactly the messages up to the high-water mark, never 5 or 6.
    t.ok(hwm <= 4, `high-water mark ${hwm} is within the window`)
    t.equal(await tickCount(backend, 'INFLIGHT'), 3 * hwm, 'the ticks stored are those of the messages up to the high-water mark')
  })

  await eachBackend(t, 'welcome.resume_seq is final when a connection replaces one whose batch is still being written', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend, { writeDelayMs: 300 })
    const source = new TickSource('TAKEOVER')
    const first = await openEa(t, engine.url!, tokens.ea, 'raw-takeover')
    for (let seq = 1; seq <= 3; seq++) first.peer.send({ ...source.batch(3), seq })
    await sleep(60) // the batch is in the writer now, for 300 ms
    const second = await openEa(t, engine.url!, tokens.ea, 'raw-takeover')
    t.equal((await first.peer.closedWithin()).code, 4009)
    await sleep(600)
    t.equal(second.welcome.resume_seq, 3, 'resume_seq counts what the replaced connection committed')
    t.same(
      second.peer.frames.filter((f) => f.type === 'ack'),
      [],
      'no ack for messages this connection never sent',
    )
    t.equal(await tickCount(backend, 'TAKEOVER'), 9)
  })
})
