/**
 * Admission (docs/PROTOCOL.md 3.8): strangers have a budget of their own and cannot keep EAs out;
 * sockets that send nothing are closed; failed hellos are slowed and logged; a flood of refused
 * frames does not slow a healthy EA. Strangers run in a process of their own (bench/lib/strangers.ts)
 * so that their cost lands on the engine, not on the test measuring it. Every test client comes
 * from loopback: other addresses of 127.0.0.0/8 stand in for other machines.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import WebSocket from 'ws'
import type { StrangerReport, StrangerRequest } from '../bench/lib/strangers.js'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import { decode, encode } from '../src/protocol/codec.js'
import { parseHello } from '../src/protocol/validate.js'
import { account, makeTokens, spawnEngine, startTestEngine } from './engine-helpers.js'
import { repoRoot, sqliteBackend, type Test } from './helpers.js'

interface Frame {
  type: string
  code?: string
  field?: string
  message?: string
}

interface Strangers {
  ask(request: StrangerRequest): Promise<StrangerReport>
}

function strangers(t: Test): Strangers {
  const child: ChildProcess = fork(join(repoRoot, 'dist', 'bench', 'lib', 'strangers.js'), [], { stdio: 'inherit' })
  t.teardown(async () => {
    if (child.connected) {
      child.send({ kind: 'stop' })
      await new Promise((resolve) => child.once('exit', resolve))
    }
  })
  return {
    ask: (request) =>
      new Promise((resolve) => {
        child.once('message', (m: { report: StrangerReport }) => resolve(m.report))
        child.send(request)
      }),
  }
}

/** A raw WebSocket client: every frame it receives, and its close. */
async function peer(t: Test, url: string, localAddress?: string) {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...(localAddress && { localAddress }) })
  const frames: Frame[] = []
  ws.on('message', (data: Buffer) => frames.push(decode(data) as Frame))
  ws.on('error', () => {})
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })))
  t.teardown(() => ws.terminate())
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('close', () => reject(new Error('closed before it opened')))
  })
  const next = async (ms = 10_000): Promise<Frame> => {
    const deadline = Date.now() + ms
    const seen = frames.length
    while (frames.length === seen) {
      if (Date.now() > deadline) throw new Error(`no frame within ${ms} ms`)
      if (ws.readyState === WebSocket.CLOSED && frames.length === seen) throw new Error('closed before the next frame')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return frames[seen]!
  }
  return { ws, frames, closed, next, send: (m: object | Buffer) => ws.send(Buffer.isBuffer(m) ? m : encode(m)) }
}

const eaHello = (token: string, instanceId: string, protocol: unknown = 1) =>
  ({ type: 'hello', protocol, role: 'ea', token, instance_id: instanceId, account: account(9500), ea: { name: 'Admission' } })

async function timedEa(url: string, token: string, instanceId: string, localAddress?: string): Promise<{ ea: EaClient; ms: number }> {
  const started = Date.now()
  const ea = await connectEA(url, { token, instanceId, account: account(9600), ea: { name: 'Genuine' }, ...(localAddress && { localAddress }) })
  return { ea, ms: Date.now() - started }
}

t.test('2,000 idle upgrades from one address hold its share only, and an EA from another gets welcome within 2 s', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await startTestEngine(t, backend, { maxUnauthenticated: 64, maxUnauthenticatedPerAddress: 16 })
  const crowd = strangers(t)
  const storm = crowd.ask({ kind: 'idle', url: engine.url!, count: 2000, localAddress: '127.0.0.1' })
  // in the middle of the storm: once the engine has turned some away
  while (engine.counters.gateway!.turnedAway < 100) await new Promise((resolve) => setTimeout(resolve, 5))
  const { ea, ms } = await timedEa(engine.url!, tokens.ea, 'genuine-1', '127.0.0.2')
  t.teardown(() => ea.close())
  // starved, it would wait for a slot the 5 s handshake timeout frees; 2 s leaves CI's shared cores room
  t.ok(ms < 2000, `welcome after ${ms} ms`)
  const report = await storm
  t.ok(report.open <= 16, `${report.open} idle upgrades held open: at most the address's 16`)
  t.equal(report.opened + report.refused >= 2000, true, 'every upgrade was answered or closed')
  t.ok(engine.counters.gateway!.turnedAway >= 2000 - 16, `${engine.counters.gateway!.turnedAway} turned away`)
  const seq = await ea.send({ type: 'log', time_msc: 1_732_000_000_000, level: 'info', message: 'in' })
  await ea.flushed()
  t.equal(ea.counters.lastAckedSeq, seq, 'the EA streams')
})

t.test('strangers from many addresses filling the total budget make room: an EA gets welcome within 2 s', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await startTestEngine(t, backend, { maxUnauthenticated: 64, maxUnauthenticatedPerAddress: 16 })
  const crowd = strangers(t)
  // eight addresses x 16: twice the total budget, all of it idle
  await Promise.all(Array.from({ length: 8 }, (_, i) => crowd.ask({ kind: 'idle', url: engine.url!, count: 100, localAddress: `127.0.0.${i + 2}` })))
  t.equal(engine.counters.gateway!.unauthenticated, 64, 'the budget is full')
  const { ea, ms } = await timedEa(engine.url!, tokens.ea, 'genuine-2', '127.0.0.1')
  t.teardown(() => ea.close())
  // starved, it would wait for a slot the 5 s handshake timeout frees; 2 s leaves CI's shared cores room
  t.ok(ms < 2000, `welcome after ${ms} ms`)
  t.ok(engine.counters.gateway!.unauthenticated <= 64, 'the budget was kept')
})

t.test('TCP connections that never send a byte are closed after handshakeTimeoutMs; EAs get in meanwhile', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await startTestEngine(t, backend, { handshakeTimeoutMs: 1000, maxUnauthenticated: 256, maxUnauthenticatedPerAddress: 256 })
  const crowd = strangers(t)
  await crowd.ask({ kind: 'silent', host: '127.0.0.1', port: engine.port!, count: 200, localAddress: '127.0.0.3' })
  const { ea } = await timedEa(engine.url!, tokens.ea, 'genuine-3')
  t.teardown(() => ea.close())
  const deadline = Date.now() + 15_000
  let report = await crowd.ask({ kind: 'report' })
  while (report.silentClosedAfterMs.length < 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    report = await crowd.ask({ kind: 'report' })
  }
  const after = report.silentClosedAfterMs
  t.equal(after.length, 200, 'all 200 were closed')
  t.ok(Math.min(...after) >= 900, `none before the timeout (earliest ${Math.min(...after)} ms)`)
  t.ok(Math.max(...after) < 5000, `all soon after it (latest ${Math.max(...after)} ms), not after Node's 60 s + 30 s`)
  t.equal(engine.counters.gateway!.unauthenticated, 0, 'their slots are free again')
  // the timeout is the handshake's only: a session that says nothing for longer stays open
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(ea.counters.reconnects, 0, 'the EA, silent since its welcome, was not cut off by the handshake timeout')
})

t.test('a failed hello is answered after a delay growing per address, a good token is not delayed, and repeated failures make one log line', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await spawnEngine(t, backend, ['--auth-failure-delay-ms', '200', '--max-auth-failure-delay-ms', '800'])
  const answered: number[] = []
  for (let i = 0; i < 6; i++) {
    const p = await peer(t, engine.url)
    const started = Date.now()
    p.send(eaHello(`mt5e_ea_wrong${i}`, `guess-${i}`))
    const frame = await p.next()
    answered.push(Date.now() - started)
    t.equal(frame.code, 'AUTH_FAILED')
    t.equal((await p.closed).code, 4001)
  }
  t.ok(answered[0]! >= 190, `the first failure waited ${answered[0]} ms (200)`)
  t.ok(answered[1]! >= 390 && answered[2]! >= 790, `then ${answered[1]} and ${answered[2]} ms (400, 800)`)
  t.ok(answered.slice(3).every((ms) => ms >= 790 && ms < 3000), `and no longer than the cap: ${answered.slice(3).join(', ')} ms`)

  // a good and a bad hello at the same moment: the good one is welcomed before the bad one is answered
  const good = await peer(t, engine.url)
  const bad = await peer(t, engine.url)
  bad.send(eaHello('mt5e_ea_wrong_again', 'guess-x'))
  good.send(eaHello(tokens.ea, 'genuine-4'))
  const order: string[] = []
  await Promise.all([good.next().then((f) => order.push(`good ${f.type}`)), bad.next().then((f) => order.push(`bad ${f.code}`))])
  t.same(order, ['good welcome', 'bad AUTH_FAILED'])

  const lines = engine.output().split('\n').filter((l) => /failed hellos/.test(l))
  t.equal(lines.length, 1, 'one line for seven failures within a minute')
  t.match(lines[0], /5 failed hellos \(AUTH_FAILED: unknown, revoked or expired token\) from (::ffff:)?127\.0\.0\.1; each is now answered after 800 ms/)
})

t.test('twenty dashboards flooding refused frames do not starve a healthy EA: its ack p99 stays under 250 ms, 95% of acks under 100', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await startTestEngine(t, backend)
  const crowd = strangers(t)
  const ea = await connectEA(engine.url!, { token: tokens.ea, instanceId: 'healthy', account: account(9700), ea: { name: 'Healthy' } })
  t.teardown(() => ea.close())
  const sentAt = new Map<number, number>()
  const latencies: number[] = []
  ea.on('ack', (seq: number) => {
    const now = Date.now()
    for (const [s, at] of sentAt) {
      if (s > seq) break
      latencies.push(now - at)
      sentAt.delete(s)
    }
  })
  const stream = async (ms: number, measured: boolean) => {
    const until = Date.now() + ms
    while (Date.now() < until) {
      const at = Date.now()
      const seq = await ea.send({ type: 'log', time_msc: 1_732_000_000_000, level: 'info', message: 'tick' })
      if (measured) sentAt.set(seq, at)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await ea.flushed()
  }
  // each dashboard at 4000 frames a second, within its own limit of 5000; they come back when closed
  await crowd.ask({ kind: 'junk', url: engine.url!, token: tokens.viewer, connections: 20, framesPerSecond: 4000, localAddress: '127.0.0.5' })
  await stream(1000, false) // warm-up: the flood is running and the code paths are compiled
  await stream(4000, true)
  const report = await crowd.ask({ kind: 'report' })
  latencies.sort((a, b) => a - b)
  const slow = latencies.filter((ms) => ms > 100).length
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!
  t.ok(latencies.length >= 100, `${latencies.length} acks measured`)
  // shut out for the rest of each second, they kept coming back all the same: the address used up
  // its budget of 1000 answers second after second
  const attempts = Object.values(report.closes).reduce((a, b) => a + b, 0)
  t.ok(report.answers >= 3000 && attempts >= 100, `the flood went on: ${report.sent} junk frames sent (${report.answers} answered), ${attempts} connections closed`)
  t.ok((report.closes['4008'] ?? 0) > 0, `flooders were closed with 4008 (${JSON.stringify(report.closes)})`)
  // what this guards against is starvation: a main thread taken by the flood holds acks for
  // seconds. The bound leaves room for CI, where the other test files share the two cores (p99
  // there has reached 100 ms with 3 acks of 332 over it); speed itself is measured in bench/.
  t.ok(p99 < 250 && slow <= latencies.length * 0.05, `ack p99 ${p99} ms (p50 ${latencies[latencies.length >> 1]} ms); ${slow} of ${latencies.length} acks over 100 ms`)
})

t.test('refused frames have a budget per address: past it RATE_LIMITED, 4008, and other addresses are not touched', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await startTestEngine(t, backend, { maxRefusedPerSecond: 50 })
  const open = async (localAddress: string) => {
    const p = await peer(t, engine.url!, localAddress)
    p.send({ type: 'hello', protocol: 1, role: 'dashboard', token: tokens.viewer })
    t.equal((await p.next()).type, 'welcome')
    return p
  }
  const [a, b, other] = await Promise.all([open('127.0.0.6'), open('127.0.0.6'), open('127.0.0.7')])
  const junk = Buffer.from([0xc1])
  for (let i = 0; i < 30; i++) a.send(junk)
  for (let i = 0; i < 30; i++) b.send(junk)
  for (let i = 0; i < 10; i++) other.send(junk)
  const closes = await Promise.race([Promise.all([a.closed, b.closed]), b.closed.then((c) => [c])])
  const limited = [...a.frames, ...b.frames].filter((f) => f.code === 'RATE_LIMITED')
  t.ok(closes.some((c) => c.code === 4008), 'the connection past the budget is closed 4008')
  t.match(limited[0]?.message, /more than 50 refused frames per second from (::ffff:)?127\.0\.0\.6/)
  t.equal([...a.frames, ...b.frames].filter((f) => f.code === 'BAD_FRAME').length, 50, 'the address got its 50 answers')
  while (other.frames.length < 11) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(other.frames.filter((f) => f.code === 'BAD_FRAME').length, 10, 'another address is answered as before')
  t.equal(other.ws.readyState, WebSocket.OPEN, 'and stays open')
})

t.test('hello protocol 0 or -1 is UNSUPPORTED_PROTOCOL, close 4004; a non-integer is BAD_FIELD and may be corrected', async (t) => {
  for (const protocol of [0, -1, 2]) {
    const e = (() => {
      try {
        parseHello(eaHello('t', 'a', protocol))
      } catch (err) {
        return err as { code: string; field: string }
      }
    })()
    t.same([e?.code, e?.field], ['UNSUPPORTED_PROTOCOL', 'protocol'], `protocol ${protocol}`)
  }
  for (const protocol of [1.5, '1', null]) {
    t.throws(() => parseHello(eaHello('t', 'a', protocol)), { code: 'BAD_FIELD', field: 'protocol' }, `protocol ${JSON.stringify(protocol)}`)
  }
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await startTestEngine(t, backend)
  for (const protocol of [0, -1]) {
    const p = await peer(t, engine.url!)
    p.send(eaHello(tokens.ea, 'proto', protocol))
    t.equal((await p.next()).code, 'UNSUPPORTED_PROTOCOL')
    t.equal((await p.closed).code, 4004, `protocol ${protocol} closes 4004`)
  }
  const p = await peer(t, engine.url!)
  p.send(eaHello(tokens.ea, 'proto', 1.5))
  t.same(await p.next(), { type: 'error', code: 'BAD_FIELD', field: 'protocol', message: (p.frames[0] as Frame).message })
  p.send(eaHello(tokens.ea, 'proto'))
  t.equal((await p.next()).type, 'welcome', 'the corrected hello is welcomed')
})

/** Upgrades a raw TCP socket, writes `frame` as is and resolves with the close code the engine sends. */
function closeCodeFor(port: number, frame: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    let buffered = Buffer.alloc(0)
    let upgraded = false
    socket.on('error', reject)
    socket.on('connect', () =>
      socket.write('GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'))
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n')
        if (end < 0) return
        upgraded = true
        buffered = buffered.subarray(end + 4)
        socket.write(frame)
      }
      // the engine's close frame: 0x88, length, then the code
      if (buffered.length >= 4 && buffered[0] === 0x88) {
        resolve(buffered.readUInt16BE(2))
        socket.destroy()
      }
    })
  })
}

t.test('WebSocket framing errors close with the RFC 6455 codes PROTOCOL.md lists: 1002 and 1007', async (t) => {
  const backend = sqliteBackend(t)
  const engine = await startTestEngine(t, backend)
  // a client frame must be masked: this one is not
  t.equal(await closeCodeFor(engine.port!, Buffer.from([0x82, 0x01, 0xc1])), 1002, 'unmasked frame: 1002')
  // a masked text frame holding 0xff, which is never UTF-8 (mask 0: the payload is as written)
  t.equal(await closeCodeFor(engine.port!, Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0xff])), 1007, 'text frame that is not UTF-8: 1007')
})
