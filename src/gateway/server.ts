/**
 * The gateway: one HTTP server with the WebSocket upgrade on `/v1`, speaking plain MessagePack.
 * This file accepts TCP connections (within admission's budget for strangers), upgrades them, runs
 * the heartbeat and closes the whole. Each WebSocket is a Connection (connection.ts) served first
 * by its Handshake (handshake.ts), then by an EaSession or a DashboardSession (ea-session.ts,
 * dashboard-session.ts). HTTP serves `/health` and the read-only API under `/api/v1/` (http/api.ts);
 * every other path answers 426. SQL runs in the writer and reader workers.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Doorway } from './admission.js'
import { Connection } from './connection.js'
import { Handshake } from './handshake.js'
import { HttpApi } from './http/api.js'
import { gatewayDeps, type GatewayCounters, type GatewayOptions, type GatewayServices } from './options.js'
import { CloseCodes } from '../protocol/messages.js'

export { defaultGatewayOptions, type GatewayCounters, type GatewayOptions, type GatewayServices } from './options.js'

export interface Gateway {
  readonly url: string
  readonly port: number
  readonly counters: GatewayCounters
  /** The EA streams connected now, by stream id. */
  readonly streams: ReadonlyMap<number, unknown>
  /** Stops accepting connections and stops reading from open ones. */
  stopAccepting(): Promise<void>
  /** Closes every connection with `code`, then the server. */
  close(code?: number, reason?: string): Promise<void>
}

export async function startGateway(options: GatewayOptions, services: GatewayServices): Promise<Gateway> {
  const deps = gatewayDeps(options, services)
  const { admission, log } = deps
  const counters: GatewayCounters = { connections: 0, frames: 0, bytes: 0, errors: 0, slowConsumers: 0, unauthenticated: 0, turnedAway: 0 }
  const connections = new Set<Connection>()
  let base = ''
  const api = new HttpApi(deps, () => base)
  const doors = new WeakMap<Socket, Door>()
  // Node's request timers only start once a byte has arrived and are checked every
  // connectionsCheckingInterval (30 s by default): a socket that never sends is held by neither.
  // The socket's own idle timeout covers it; ws clears that timeout once the upgrade is done.
  const handshake = options.handshakeTimeoutMs
  const server: Server = createServer({
    headersTimeout: handshake,
    requestTimeout: handshake,
    keepAliveTimeout: handshake,
    connectionsCheckingInterval: Math.min(1000, handshake),
  }, (req, res) => {
    if (api.handles(req)) return void api.serve(req, res, doors.get(req.socket)?.address ?? req.socket.remoteAddress ?? 'unknown')
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ok: true, connections: connections.size }))
      return
    }
    res.writeHead(426, { 'content-type': 'text/plain' })
    res.end('mt5-engine: connect with a WebSocket to /v1 (see docs/PROTOCOL.md)\n')
  })
  const wss = new WebSocketServer({
    server,
    path: '/v1',
    maxPayload: options.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
  })
  let listening = false
  // ws re-emits the HTTP server's errors here. One before listening is the listen failure
  // (EADDRINUSE), which startGateway rejects with and the engine reports as LISTEN_FAILED.
  wss.on('error', (err) => {
    if (listening) log.error({ err }, `the gateway's HTTP server failed: ${err.message}`)
    else log.debug({ err }, `the gateway could not listen: ${err.message}`)
  })
  /** A connection turned away before it had a session; within the budget for such lines. */
  const refused = (address: string, reason: string, closeCode?: number) => {
    if (!log.isLevelEnabled('debug')) return
    const leftOut = deps.chatter.take()
    if (leftOut === undefined) return
    log.debug({ remote: address, reason, ...(closeCode !== undefined && { closeCode }), ...(leftOut > 0 && { linesLeftOut: leftOut }) }, 'connection refused')
  }
  server.on('connection', (socket: Socket) => {
    const door = new Door(socket, socket.remoteAddress ?? 'unknown', () => {
      counters.turnedAway++
      counters.unauthenticated = admission.pending
    })
    if (!admission.admit(door)) {
      // Refused before a byte is read: a stranger over its budget costs the engine nothing more.
      counters.turnedAway++
      socket.destroy()
      refused(door.address, 'no unauthenticated slot for this address')
      return
    }
    counters.unauthenticated = admission.pending
    doors.set(socket, door)
    // Until the upgrade only: ws turns the socket's timeout off when it takes the socket over
    // (setSocket), and from then on keepalive pings judge the peer.
    socket.setTimeout(handshake, () => socket.destroy())
    socket.once('close', () => {
      admission.settle(door)
      counters.unauthenticated = admission.pending
    })
  })
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const door = doors.get(req.socket)
    if (door === undefined) return ws.terminate()
    if (deps.sessions >= options.maxConnections) {
      // Every session holds buffers: past the limit a new one is turned away at once.
      ws.close(CloseCodes.TRY_AGAIN_LATER, `more than ${options.maxConnections} connections`)
      refused(door.address, `more than ${options.maxConnections} connections`, CloseCodes.TRY_AGAIN_LATER)
      return
    }
    const conn = new Connection(ws, req.socket, door, options, deps, counters, (c) => new Handshake(c))
    door.connection = conn
    connections.add(conn)
    counters.connections = connections.size
    ws.once('close', () => {
      connections.delete(conn)
      counters.connections = connections.size
    })
  })
  const heartbeat = setInterval(() => {
    for (const c of connections) c.heartbeat()
  }, options.heartbeatMs)
  heartbeat.unref()

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  listening = true
  const port = (server.address() as AddressInfo).port
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  base = `http://${host}:${port}/api/v1`
  return {
    url: `ws://${host}:${port}/v1`,
    port,
    counters,
    streams: deps.streams,
    async stopAccepting() {
      deps.stopping = true
      server.close()
      for (const c of connections) c.stopReading()
    },
    async close(code: number = CloseCodes.GOING_AWAY, reason = 'engine shutting down') {
      clearInterval(heartbeat)
      await Promise.all([...connections].map((c) => c.close(code, reason)))
      wss.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A TCP connection in the unauthenticated budget: a bare socket until the upgrade, then its Connection. */
class Door implements Doorway {
  connection: Connection | undefined

  constructor(
    readonly socket: Socket,
    readonly address: string,
    readonly onEvicted: () => void,
  ) {}

  idle(): boolean {
    return this.connection === undefined || this.connection.idle()
  }

  evict(): void {
    if (this.connection) this.connection.evict()
    else this.socket.destroy()
    this.onEvicted()
  }
}
