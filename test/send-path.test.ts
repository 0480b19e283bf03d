/**
 * What the engine sends is bounded too: a peer that stops reading is closed (4011) before it can
 * pile up the engine's memory, and what it never received is not called delivered. Shutdown exits
 * 0 whatever is in flight, and does not wait for peers that do not answer.
 */
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import WebSocket from 'ws'
import { connectDashboard } from '../src/client/dashboard-client.js'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import { decode, encode } from '../src/protocol/codec.js'
import { PROTOCOL_VERSION } from '../src/protocol/messages.js'
import { account, count, makeTokens, spawnEngine, TickSource } from './engine-helpers.js'
import { sqliteBackend } from './helpers.js'

/** Resident memory of a process at its peak so far (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return kb ? Number(kb[1]) / 1024 : NaN
}

/** A raw EA connection that says hello, waits for welcome, then stops reading its socket. */
async function deafEa(url: string, token: string, instanceId: string, login: number): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  ws.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => ws.send(encode({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'ea', token, instance_id: instanceId, account: account(login), ea: { name: 'Deaf' } })))
    ws.on('message', (data) => {
      const m = decode(data as Buffer) as { type: string }
      if (m.type === 'welcome') resolve()
      else if (m.type === 'error') reject(new Error(JSON.stringify(m)))
    })
  })
  ws.removeAllListeners('message')
  // ws reads into its own buffers while the socket is readable: pausing the socket stops both
  ws.pause()
  return { ws, closed }
}

/** Open connections, as the engine's health check counts them. */
async function connections(url: string): Promise<number> {
  const res = await fetch(url.replace(/^ws/, 'http').replace(/\/v1$/, '/health'))
  return ((await res.json()) as { connections: number }).connections
}

/** Resident memory of a process now (VmRSS), in MB. */
function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return kb ? Number(kb[1]) / 1024 : NaN
}

t.test('an EA that stops reading while commands pile up is closed; engine memory stays bounded; nothing unsent is delivered', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  // A small heap makes V8 collect as it goes, so that resident memory shows what is held, not
  // garbage not yet collected; memory held for the deaf socket lies outside the heap and shows too.
  const engine = await spawnEngine(t, backend, ['--max-outbound-bytes', String(2 * 1024 * 1024)], { NODE_OPTIONS: '--max-old-space-size=128' })
  const pid = engine.child.pid!
  const dashboard = await connectDashboard(engine.url, { token: tokens.admin })
  t.teardown(() => dashboard.close())
  // 256 KB of payload per command (32 strings of 8000 bytes)
  const payload = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, String.fromCharCode(97 + (i % 26)).repeat(8000)]))
  let next = 0
  /** A deaf EA, then `n` commands for it: closed by the engine, the commands pending but the few it took. */
  const flood = async (n: number) => {
    const deaf = await deafEa(engine.url, tokens.ea, 'deaf-ea', 9300)
    t.teardown(() => deaf.ws.terminate())
    // twenty at a time, each twenty stored before the next: what piles up is the EA's, not the dashboard's
    for (let i = 0; i < n; i += 20) {
      const sent = []
      for (let k = 0; k < 20; k++) {
        sent.push(dashboard.sendCommand({ command_id: `deaf-${next++}`, command: 'custom', target: { instance_id: 'deaf-ea' }, payload, expires_in_ms: 600_000 }))
      }
      await Promise.all(sent.map((s) => s.until('pending')))
    }
    const deadline = Date.now() + 30000
    // the close frame cannot pass the unread bytes, so the engine's count tells the close
    while ((await connections(engine.url)) > 1 && Date.now() < deadline) await sleep(100)
    t.equal(await connections(engine.url), 1, 'the engine closed the EA that did not read; the dashboard is left')
  }
  await flood(200)
  const afterFirst = rssMb(pid)
  await flood(400)
  const afterSecond = rssMb(pid)
  t.comment(`engine RSS ${afterFirst.toFixed(0)} MB after 50 MB of commands to a deaf EA, ${afterSecond.toFixed(0)} MB after 100 MB more; peak ${peakRssMb(pid).toFixed(0)} MB`)
  // Before, the engine held every frame for the deaf socket: 2,400 such commands took it to 965 MB.
  t.ok(peakRssMb(pid) < 400, `peak RSS ${peakRssMb(pid).toFixed(0)} MB < 400 MB after 150 MB of commands to deaf EAs`)
  const delivered = await count(backend, `select count(*) from commands where id like 'deaf-%' and status <> 'pending'`)
  t.ok(delivered < 100, `${delivered} of 600 commands left the engine before the closes; the rest stay pending`)
  // the EA comes back, reading: the backlog goes out as fast as it reads, and all of it arrives
  const received = new Set<string>()
  const ea = await connectEA(engine.url, {
    token: tokens.ea, instanceId: 'deaf-ea', account: account(9300), ea: { name: 'Deaf' },
    onCommand: (c, client) => {
      received.add(c.command_id)
      void client.ackCommand(c.command_id, 'accepted')
    },
  })
  t.teardown(() => ea.close())
  const deadline = Date.now() + 60000
  while (received.size < 600 - delivered && Date.now() < deadline) await sleep(50)
  t.ok(received.size >= 600 - delivered, `after reconnecting it received the ${600 - delivered} commands still pending (${received.size} in all)`)
  t.equal(ea.counters.reconnects, 0, 'without being closed as a slow reader')
})

t.test('SIGTERM under load exits 0 every time, 20 times in a row', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const exits: (number | string)[] = []
  const shutdownMs: number[] = []
  for (let round = 0; round < 20; round++) {
    const engine = await spawnEngine(t, backend)
    const eas: EaClient[] = []
    for (let i = 0; i < 3; i++) {
      eas.push(await connectEA(engine.url, { token: tokens.ea, instanceId: `term-${i}`, account: account(9400 + i), ea: { name: 'Term' }, minDelayMs: 5, maxDelayMs: 20 }))
    }
    const source = eas.map((_, i) => new TickSource(`TRM${i}`, 1_732_000_000_000 + round * 10_000_000, 1.1, round * 10 + i))
    let streaming = true
    const streams = eas.map(async (ea, i) => {
      while (streaming) await ea.send(source[i]!.batch(100))
    })
    // and a stream of connections saying hello, so that some are being checked at the signal
    const churn = (async () => {
      while (streaming) {
        const ws = new WebSocket(engine.url)
        ws.on('error', () => {})
        ws.on('open', () => ws.send(encode({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'ea', token: tokens.ea, instance_id: `churn-${round}`, account: account(9499), ea: { name: 'Churn' } })))
        await sleep(3)
        ws.terminate()
      }
    })()
    await sleep(100 + Math.random() * 300)
    const signalled = Date.now()
    engine.child.kill('SIGTERM')
    const { code, signal } = await engine.exited
    shutdownMs.push(Date.now() - signalled)
    exits.push(code ?? String(signal))
    if (code !== 0) t.comment(`round ${round}: exit ${code ?? signal}:\n${engine.output()}`)
    streaming = false
    await Promise.all(eas.map((ea) => ea.close()))
    await Promise.race([Promise.all([...streams, churn]), sleep(100)])
  }
  t.same(exits, Array(20).fill(0), 'exit code 0 each time')
  const sorted = [...shutdownMs].sort((a, b) => a - b)
  t.comment(`signal to exit: median ${sorted[10]} ms, max ${sorted[19]} ms`)
})

t.test('shutdown does not wait for close frames from EAs that do not answer', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await spawnEngine(t, backend)
  const peers: { ws: WebSocket; closed: Promise<number> }[] = []
  for (let i = 0; i < 10; i++) peers.push(await deafEa(engine.url, tokens.ea, `quiet-${i}`, 9500 + i))
  t.teardown(() => peers.forEach((p) => p.ws.terminate()))
  const signalled = Date.now()
  engine.child.kill('SIGTERM')
  const { code } = await engine.exited
  const took = Date.now() - signalled
  t.equal(code, 0)
  t.comment(`10 EAs that never answer the close: exit ${took} ms after SIGTERM`)
  // Before, each close waited 2 s for the peer's close frame; now a 250 ms grace. The bound is
  // loose on purpose (shared machines): it tells the two apart, it does not time the engine.
  t.ok(took < 1500, `exited within 1.5 s (${took} ms)`)
})

t.test('a backlog larger than one load reaches an EA that does not answer its commands yet', async (t) => {
  const backend = sqliteBackend(t)
  const tokens = await makeTokens(backend)
  const engine = await spawnEngine(t, backend)
  const first = await connectEA(engine.url, { token: tokens.ea, instanceId: 'silent-ea', account: account(9600), ea: { name: 'Silent' } })
  await first.close() // the stream exists; its commands wait for it
  const dashboard = await connectDashboard(engine.url, { token: tokens.admin })
  t.teardown(() => dashboard.close())
  const sent = Array.from({ length: 150 }, (_, i) => dashboard.sendCommand({ command_id: `silent-${i}`, command: 'pause', target: { instance_id: 'silent-ea' } }))
  await Promise.all(sent.map((s) => s.until('pending')))
  // 150 waiting, loaded 64 at a time; delivered but never acknowledged, so each load must go past them
  const received: string[] = []
  const ea = await connectEA(engine.url, { token: tokens.ea, instanceId: 'silent-ea', account: account(9600), ea: { name: 'Silent' }, onCommand: (c) => void received.push(c.command_id) })
  t.teardown(() => ea.close())
  const deadline = Date.now() + 20000
  while (received.length < 150 && Date.now() < deadline) await sleep(50)
  await sleep(300)
  t.equal(new Set(received).size, 150, 'every command arrived')
  t.equal(received.length, 150, 'each once')
})
