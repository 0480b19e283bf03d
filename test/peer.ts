/**
 * A raw WebSocket client for tests: sends exactly what it is given (maps are encoded as
 * MessagePack), records every frame the engine sends and the close.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { decode, encode } from '../src/protocol/codec.js'
import { account } from './engine-helpers.js'
import type { Test } from './helpers.js'

/** What the engine sent, decoded. */
export interface Frame {
  type: string
  code?: string
  seq?: number
  field?: string
  request_id?: string
  [key: string]: unknown
}

export interface Closed {
  code: number
  reason: string
}

export class Peer {
  readonly frames: Frame[] = []
  readonly closed: Promise<Closed>
  /** When the close arrived (Date.now()). */
  closedAt: number | undefined
  #closed: Closed | undefined
  #wake: (() => void)[] = []

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let frame: Frame
      try {
        frame = isBinary ? (decode(data) as Frame) : { type: '<text frame from the engine>' }
      } catch (err) {
        frame = { type: '<undecodable frame from the engine>', message: (err as Error).message }
      }
      this.frames.push(frame)
      this.#notify()
    })
    ws.on('error', () => {})
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.closedAt = Date.now()
        this.#closed = { code, reason: reason.toString() }
        resolve(this.#closed)
        this.#notify()
      }),
    )
  }

  /** A map is encoded; bytes go as a binary frame, a string as a text frame. */
  send(message: object | Uint8Array | string): void {
    this.ws.send(typeof message === 'string' || message instanceof Uint8Array ? message : encode(message))
  }

  errors(): Frame[] {
    return this.frames.filter((f) => f.type === 'error')
  }

  /** The first frame (ever received) matching `match`; fails after `ms` or when the engine closes first. */
  async waitFor(what: string, match: (f: Frame) => boolean, ms = 5000): Promise<Frame> {
    const deadline = Date.now() + ms
    for (;;) {
      const found = this.frames.find(match)
      if (found) return found
      if (this.#closed) throw new Error(`closed with ${this.#closed.code} (${this.#closed.reason}) before ${what}; got ${this.#describe()}`)
      if (Date.now() >= deadline) throw new Error(`no ${what} within ${ms} ms; got ${this.#describe()}`)
      await this.#changed(deadline - Date.now())
    }
  }

  /** Resolves when an ack covers `seq`. */
  ack(seq: number): Promise<Frame> {
    return this.waitFor(`an ack covering seq ${seq}`, (f) => f.type === 'ack' && (f.seq ?? 0) >= seq)
  }

  /** Waits until `n` frames other than the engine's keepalive `ping` have arrived. */
  async received(n: number, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms
    const got = () => this.frames.length - this.frames.filter((f) => f.type === 'ping').length
    while (got() < n) {
      if (this.#closed || Date.now() >= deadline) throw new Error(`${got()} of ${n} frames arrived; closed: ${JSON.stringify(this.#closed)}`)
      await this.#changed(deadline - Date.now())
    }
  }

  /** The close, or code 0 when the connection is still open after `ms`. */
  closedWithin(ms = 5000): Promise<Closed> {
    return Promise.race([this.closed, sleep(ms, { code: 0, reason: `still open after ${ms} ms` }, { ref: false })])
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  #changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, ms))
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.#wake.push(done)
    })
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) wake()
  }

  #describe(): string {
    return JSON.stringify(this.frames.slice(-5).map((f) => ({ ...f, message: undefined })))
  }
}

export async function open(t: Test, url: string): Promise<Peer> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  const peer = new Peer(ws)
  t.teardown(() => {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate()
    return peer.closed.then(() => {})
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return peer
}

export function eaHello(token: string, instance: string, login = 5001): Record<string, unknown> {
  return { type: 'hello', protocol: 1, role: 'ea', token, instance_id: instance, account: account(login), ea: { name: 'RawEA', magic: 7 } }
}

export function dashboardHello(token: string): Record<string, unknown> {
  return { type: 'hello', protocol: 1, role: 'dashboard', token }
}

export async function openEa(t: Test, url: string, token: string, instance: string, login = 5001): Promise<{ peer: Peer; welcome: Frame }> {
  const peer = await open(t, url)
  peer.send(eaHello(token, instance, login))
  return { peer, welcome: await peer.waitFor('welcome', (f) => f.type === 'welcome') }
}

export async function openDashboard(t: Test, url: string, token: string): Promise<{ peer: Peer; welcome: Frame }> {
  const peer = await open(t, url)
  peer.send(dashboardHello(token))
  return { peer, welcome: await peer.waitFor('welcome', (f) => f.type === 'welcome') }
}

