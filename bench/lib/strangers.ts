/**
 * Strangers: a process of its own (forked by the admission test and the junk-flood bench), so that
 * what they cost lands on the engine and not on the process measuring it. It plays what
 * docs/PROTOCOL.md 3.8 defends against: WebSocket upgrades that never say hello, TCP connections
 * that never send a byte, and dashboards flooding refused frames that come back when closed.
 * Commands and reports go over the IPC channel.
 */
import { connect, type Socket } from 'node:net'
import WebSocket from 'ws'
import { encode } from '../../src/protocol/codec.js'

export type StrangerRequest =
  | { kind: 'idle'; url: string; count: number; localAddress?: string }
  | { kind: 'silent'; host: string; port: number; count: number; localAddress?: string }
  | { kind: 'junk'; url: string; token: string; connections: number; framesPerSecond: number; localAddress?: string }
  | { kind: 'report' }
  | { kind: 'stop' }

export interface StrangerReport {
  /** Upgrades that opened, and those refused (socket closed) before or after opening. */
  opened: number
  refused: number
  /** Idle upgrades open now. */
  open: number
  /** Silent sockets: ms from connect to the engine closing each. */
  silentClosedAfterMs: number[]
  /** Junk dashboards: error frames received, close codes seen, welcomes (first and after reconnects). */
  answers: number
  closes: Record<string, number>
  welcomes: number
  /** Junk frames sent. */
  sent: number
}

const report: StrangerReport = { opened: 0, refused: 0, open: 0, silentClosedAfterMs: [], answers: 0, closes: {}, welcomes: 0, sent: 0 }
const sockets = new Set<WebSocket | Socket>()
const timers = new Set<NodeJS.Timeout>()
let stopping = false
const send = (m: unknown) => process.send!(m)

function idle(url: string, count: number, localAddress?: string): Promise<void> {
  const settled: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(localAddress && { localAddress }) })
    sockets.add(ws)
    settled.push(new Promise<void>((resolve) => {
      let opened = false
      ws.once('open', () => {
        opened = true
        report.opened++
        report.open++
        resolve()
      })
      ws.once('close', () => {
        sockets.delete(ws)
        if (stopping) return
        if (opened) report.open--
        report.refused++
        resolve()
      })
      ws.on('error', () => {})
    }))
  }
  return Promise.all(settled).then(() => {})
}

function silent(host: string, port: number, count: number, localAddress?: string): Promise<void> {
  const connected: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    const started = Date.now()
    const socket = connect({ host, port, ...(localAddress && { localAddress }) })
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => {
      if (!stopping) report.silentClosedAfterMs.push(Date.now() - started)
    })
    connected.push(new Promise((resolve) => {
      socket.once('connect', () => resolve())
      socket.once('close', () => resolve())
    }))
  }
  return Promise.all(connected).then(() => {})
}

/** One dashboard sending one-byte frames (0xc1, never valid MessagePack), back soon after each close. */
function junkDashboard(url: string, token: string, framesPerSecond: number, localAddress?: string): void {
  if (stopping) return
  const ws = new WebSocket(url, { perMessageDeflate: false, ...(localAddress && { localAddress }) })
  sockets.add(ws)
  const junk = Buffer.from([0xc1])
  // 10 ms ticks: a steady rate, under the engine's per-connection limit
  const perTick = Math.max(1, Math.round(framesPerSecond / 100))
  let timer: NodeJS.Timeout | undefined
  ws.on('open', () => ws.send(encode({ type: 'hello', protocol: 1, role: 'dashboard', token })))
  ws.on('message', (data: Buffer) => {
    if (timer === undefined) {
      report.welcomes++
      timer = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return
        for (let k = 0; k < perTick; k++) ws.send(junk)
        report.sent += perTick
      }, 10)
      timers.add(timer)
      return
    }
    if (data[0] !== undefined) report.answers++
  })
  ws.on('error', () => {})
  ws.on('close', (code) => {
    sockets.delete(ws)
    if (timer) {
      clearInterval(timer)
      timers.delete(timer)
    }
    report.closes[code] = (report.closes[code] ?? 0) + 1
    // back ten times a second: persistent, without the reconnects themselves becoming the load
    if (!stopping) setTimeout(() => junkDashboard(url, token, framesPerSecond, localAddress), 100)
  })
}

process.on('message', async (request: StrangerRequest) => {
  switch (request.kind) {
    case 'idle':
      await idle(request.url, request.count, request.localAddress)
      return send({ done: 'idle', report })
    case 'silent':
      await silent(request.host, request.port, request.count, request.localAddress)
      return send({ done: 'silent', report })
    case 'junk':
      for (let i = 0; i < request.connections; i++) junkDashboard(request.url, request.token, request.framesPerSecond, request.localAddress)
      return send({ done: 'junk', report })
    case 'report':
      return send({ done: 'report', report })
    case 'stop':
      stopping = true
      for (const t of timers) clearInterval(t)
      for (const s of sockets) s instanceof WebSocket ? s.terminate() : s.destroy()
      send({ done: 'stop', report })
      process.disconnect()
      return
  }
})
