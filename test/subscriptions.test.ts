/**
 * The subscription hub over real sockets (a `ws` server on port 0, `ws` clients, wsPort, the
 * protocol's codec): snapshot then deltas, a slow reader that loses ticks and resynchronises while
 * a fast one beside it gets everything, unsubscribe and detach during a snapshot, the per-port
 * limit. The queue's shedding rules are also run on the hub alone, with a port that records frames.
 */
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setImmediate as turn } from 'node:timers/promises'
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { decode, encode, ProtocolError } from '../src/protocol/codec.js'
import { isEngineError } from '../src/errors.js'
import { SubscriptionHub, type EventKind, type HubLimits, type SubscriberPort } from '../src/subscriptions/hub.js'
import { wsPort } from '../src/subscriptions/ws-port.js'
import type { Test } from './helpers.js'

interface Frame {
  type: string
  subscription_id?: number
  topic?: string
  request_id?: string
  data?: { n?: number; upTo?: number; kind?: EventKind; [key: string]: unknown }
  dropped?: number
  reason?: string
  code?: string
  message?: string
}

/** A dashboard connection: the client end records what it is sent; `port` is the server end, through wsPort. */
class Client {
  readonly frames: Frame[] = []
  /** Per subscription, the last sequence number its frames cover (a snapshot's `upTo`, a delta's `n`). */
  readonly covered = new Map<number, number>()
  readonly #waiters = new Set<() => void>()

  constructor(
    readonly ws: WebSocket,
    /** The server's end of the connection. */
    readonly server: WebSocket,
    readonly port: SubscriberPort,
  ) {
    ws.on('message', (data: Buffer) => {
      const frame = decode(data) as Frame
      this.frames.push(frame)
      const id = frame.subscription_id
      if (id !== undefined) {
        if (frame.type === 'snapshot' && frame.data?.upTo !== undefined) this.covered.set(id, frame.data.upTo)
        if (frame.type === 'event' && frame.data?.n !== undefined) this.covered.set(id, frame.data.n)
      }
      for (const wake of this.#waiters) wake()
    })
  }

  of(id: number): Frame[] {
    return this.frames.filter((f) => f.subscription_id === id)
  }

  /** The TCP socket under the client: paused, the client reads nothing and the server's writes back up. */
  get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket
  }

  /** Resolves once `done()` holds, checked at each frame; fails after `ms`. */
  until(what: string, done: () => boolean, ms = 20_000): Promise<void> {
    if (done()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`no ${what} within ${ms} ms; the last frames: ${JSON.stringify(this.frames.slice(-3))}`))
      }, ms)
      this.#waiters.add(check)
    })
  }
}

async function listen(t: Test): Promise<() => Promise<Client>> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await once(wss, 'listening')
  const { port } = wss.address() as { port: number }
  const clients: Client[] = []
  t.teardown(async () => {
    for (const c of clients) {
      c.ws.terminate()
      c.server.terminate()
    }
    await new Promise((resolve) => wss.close(resolve))
  })
  return async () => {
    const accepted = once(wss, 'connection') as Promise<[WebSocket]>
    const ws = new WebSocket(`ws://127.0.0.1:${port}`)
    await once(ws, 'open')
    const [server] = await accepted
    const client = new Client(ws, server, wsPort(server, encode))
    clients.push(client)
    return client
  }
}

function makeHub(t: Test, limits?: Partial<HubLimits>): SubscriptionHub {
  const hub = new SubscriptionHub(limits)
  t.teardown(() => hub.close())
  return hub
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Topics whose deltas are numbered 1, 2, ... and whose snapshot says how far it covers. */
class Publisher {
  readonly counts = new Map<string, number>()
  /** Per topic, the kind of each delta by its number (index 0 unused). */
  readonly kinds = new Map<string, EventKind[]>()

  constructor(readonly hub: SubscriptionHub) {}

  publish(topic: string, kind: EventKind, extra: Record<string, unknown> = {}): number {
    const n = (this.counts.get(topic) ?? 0) + 1
    this.counts.set(topic, n)
    let kinds = this.kinds.get(topic)
    if (kinds === undefined) this.kinds.set(topic, (kinds = [kind]))
    kinds[n] = kind
    this.hub.publish(topic, kind, { n, kind, ...extra })
    return n
  }

  /** A snapshot read now: it covers every delta published so far. */
  snapshot(topic: string): () => Promise<{ upTo: number }> {
    return () => Promise.resolve({ upTo: this.counts.get(topic) ?? 0 })
  }
}

/**
 * Walks one subscription's frames and says what is wrong with them, given every delta published
 * (their kinds by number, `total` of them). Between a snapshot and the next gap, deltas come in
 * order, each once, after the snapshot; a delta may be missing there only if it is a tick (an
 * event is never skipped while a later delta of the subscription is delivered). A gap is followed
 * by exactly one snapshot and nothing before it; its `dropped` is exactly the deltas after the
 * previous snapshot that were not delivered and that the new snapshot covers. So every event is
 * delivered or covered by a gap and its resync. At the end the subscription covers all `total`.
 */
function audit(frames: Frame[], kinds: EventKind[], total: number) {
  const problems: string[] = []
  let base = -1 // the last snapshot's upTo
  let last = -1 // the last number covered
  let delivered = 0 // deltas delivered since the last snapshot
  let gap: Frame | undefined
  let awaiting = true // subscribed or gapped: a snapshot comes next
  let gaps = 0
  let eventsDelivered = 0
  let eventsCovered = 0
  for (const f of frames) {
    if (f.type === 'subscribed') continue
    if (f.type === 'snapshot') {
      const upTo = f.data!.upTo!
      if (!awaiting) problems.push(`a snapshot (upTo ${upTo}) without a gap before it`)
      if (upTo < last) problems.push(`a snapshot (upTo ${upTo}) behind what was delivered (${last})`)
      if (gap !== undefined) {
        const lost = upTo - base - delivered
        if (gap.dropped !== lost) problems.push(`a gap said ${gap.dropped} dropped, its resync covers ${lost} undelivered`)
        for (let m = last + 1; m <= upTo; m++) if (kinds[m] === 'event') eventsCovered++
      }
      base = upTo
      last = upTo
      delivered = 0
      gap = undefined
      awaiting = false
    } else if (f.type === 'event') {
      const n = f.data!.n!
      if (awaiting) problems.push(`delta ${n} before its snapshot`)
      if (n <= last) problems.push(`delta ${n} after ${last}: duplicated or reordered`)
      for (let m = last + 1; m < n; m++) if (kinds[m] === 'event') problems.push(`event ${m} skipped, then delta ${n} delivered`)
      if (kinds[n] === 'event') eventsDelivered++
      last = n
      delivered++
    } else if (f.type === 'gap') {
      if (awaiting) problems.push('a second gap before the resync snapshot')
      gap = f
      gaps++
      awaiting = true
    } else {
      problems.push(`an unexpected ${f.type} frame`)
    }
  }
  if (awaiting) problems.push('no snapshot after the last gap')
  if (last !== total) problems.push(`covers ${last} of ${total}`)
  return { problems, gaps, eventsDelivered, eventsCovered }
}

t.test('over real sockets', async (t) => {
  t.test('a subscription gets subscribed, then its snapshot, then every delta in publish order', async (t) => {
    const connect = await listen(t)
    const hub = makeHub(t)
    const pub = new Publisher(hub)
    const c = await connect()
    for (let i = 0; i < 5; i++) pub.publish('ticks:7', 'tick') // before the subscription: in the snapshot
    const id = hub.subscribe(c.port, 'ticks:7', pub.snapshot('ticks:7'), 'r-1')
    for (let i = 0; i < 100; i++) pub.publish('ticks:7', i % 10 === 0 ? 'event' : 'tick')
    await c.until('delta 105', () => c.covered.get(id) === 105)
    t.same(c.frames[0], { type: 'subscribed', request_id: 'r-1', subscription_id: id, topic: 'ticks:7' })
    t.same(Object.keys(c.frames[0]!), ['type', 'request_id', 'subscription_id', 'topic'], 'keys in this order')
    t.same(c.frames[1], { type: 'snapshot', subscription_id: id, topic: 'ticks:7', data: { upTo: 5 } })
    t.same(Object.keys(c.frames[2]!), ['type', 'subscription_id', 'topic', 'data'])
    t.same(
      c.frames.slice(2).map((f) => f.data!.n),
      Array.from({ length: 100 }, (_, i) => 6 + i),
    )
    t.same(hub.stats(), { ports: 1, subscriptions: 1, queuedEvents: 0, queuedBytes: 0, gaps: 0, dropped: 0 })
  })

  t.test('deltas published during a slow snapshot arrive after it, each once, in order', async (t) => {
    const connect = await listen(t)
    const hub = makeHub(t)
    const pub = new Publisher(hub)
    const c = await connect()
    const snapshot = deferred<{ upTo: number }>()
    let calls = 0
    const id = hub.subscribe(c.port, 'positions:3', () => {
      calls++
      const upTo = pub.counts.get('positions:3') ?? 0 // what the read sees when it starts
      return snapshot.promise.then(() => ({ upTo }))
    })
    for (let i = 0; i < 1000; i++) {
      pub.publish('positions:3', i % 3 === 0 ? 'event' : 'tick')
      if (i % 100 === 0) await turn()
    }
    t.equal(hub.stats().queuedEvents, 1000, 'held while the snapshot runs')
    t.same(c.of(id).map((f) => f.type), ['subscribed'], 'nothing but subscribed before the snapshot')
    snapshot.resolve({ upTo: 0 })
    for (let i = 0; i < 500; i++) pub.publish('positions:3', 'event')
    await c.until('delta 1500', () => c.covered.get(id) === 1500)
    const frames = c.of(id)
    t.same(frames.slice(0, 2).map((f) => f.type), ['subscribed', 'snapshot'])
    t.same(
      frames.slice(2).map((f) => f.data!.n),
      Array.from({ length: 1500 }, (_, i) => i + 1),
      'then 1 .. 1500, none lost, none twice',
    )
    t.equal(calls, 1)
    t.equal(hub.stats().queuedEvents, 0)
    t.equal(hub.stats().queuedBytes, 0)
  })

  t.test('two topics interleaved keep the publish order, each under its own subscription', async (t) => {
    const connect = await listen(t)
    const hub = makeHub(t)
    const pub = new Publisher(hub)
    const c = await connect()
    const a = hub.subscribe(c.port, 'ticks:1', pub.snapshot('ticks:1'))
    const b = hub.subscribe(c.port, 'deals:1', pub.snapshot('deals:1'))
    await c.until('both snapshots', () => c.covered.has(a) && c.covered.has(b))
    const order: string[] = []
    for (let i = 0; i < 300; i++) {
      const topic = i % 3 === 2 ? 'deals:1' : 'ticks:1'
      order.push(`${topic}#${pub.publish(topic, topic === 'deals:1' ? 'event' : 'tick')}`)
    }
    await c.until('all 300', () => c.covered.get(a) === 200 && c.covered.get(b) === 100)
    const events = c.frames.filter((f) => f.type === 'event')
    t.same(events.map((f) => `${f.topic}#${f.data!.n}`), order, 'across topics, in publish order')
    t.ok(events.every((f) => f.subscription_id === (f.topic === 'ticks:1' ? a : b)), 'each under its subscription id')
  })

  t.test('a reader that stops reading through 100k ticks loses ticks, gets a gap and a fresh snapshot, and slows no one', async (t) => {
    const connect = await listen(t)
    const limits = { highWaterBytes: 64 * 1024, maxQueuedEvents: 5000, maxQueuedBytes: 1024 * 1024 }
    const hub = makeHub(t, limits)
    const pub = new Publisher(hub)
    const fast = await connect()
    const slow = await connect()
    const fastTicks = hub.subscribe(fast.port, 'ticks:1', pub.snapshot('ticks:1'))
    const slowTicks = hub.subscribe(slow.port, 'ticks:1', pub.snapshot('ticks:1'))
    const slowNotes = hub.subscribe(slow.port, 'notifications', pub.snapshot('notifications'))
    await fast.until('the snapshot', () => fast.covered.has(fastTicks))
    await slow.until('the snapshots', () => slow.covered.has(slowTicks) && slow.covered.has(slowNotes))

    slow.socket.pause()
    const TICKS = 100_000
    const pad = 'x'.repeat(200)
    let maxBuffered = 0
    let maxQueuedEvents = 0
    let maxQueuedBytes = 0
    let slowestBatchMs = 0
    for (let i = 1; i <= TICKS; ) {
      const started = performance.now()
      for (const end = i + 500; i < end; i++) {
        // every 500th delta of the topic is an event: an open or close among the price updates
        pub.publish('ticks:1', i % 500 === 0 ? 'event' : 'tick', { pad })
        if (i % 1000 === 0) pub.publish('notifications', 'event', { text: `note ${i / 1000}` })
      }
      slowestBatchMs = Math.max(slowestBatchMs, performance.now() - started)
      const s = hub.stats()
      maxQueuedEvents = Math.max(maxQueuedEvents, s.queuedEvents)
      maxQueuedBytes = Math.max(maxQueuedBytes, s.queuedBytes)
      maxBuffered = Math.max(maxBuffered, slow.server.bufferedAmount)
      await turn()
    }
    await fast.until(`all ${TICKS} on the fast reader`, () => fast.covered.get(fastTicks) === TICKS)
    const whilePaused = slow.frames.length

    t.ok(maxQueuedEvents <= limits.maxQueuedEvents, `queued deltas stayed within ${limits.maxQueuedEvents} (max ${maxQueuedEvents})`)
    t.ok(maxQueuedBytes <= limits.maxQueuedBytes, `queued bytes stayed within ${limits.maxQueuedBytes} (max ${maxQueuedBytes})`)
    t.ok(maxBuffered <= limits.highWaterBytes + 1024, `the slow socket's buffer stayed within the high-water mark and a frame (max ${maxBuffered})`)
    t.ok(hub.stats().dropped > 0, 'the slow reader lost deltas')
    t.ok(slowestBatchMs < 1000, `publishing was never held up (slowest 500 in ${slowestBatchMs.toFixed(1)} ms)`)
    t.same(fast.of(fastTicks).filter((f) => f.type === 'gap'), [], 'the fast reader got no gap: it had all before the slow one read again')

    slow.socket.resume()
    await slow.until('the resync snapshot', () => slow.of(slowTicks).some((f, i, all) => f.type === 'snapshot' && all[i - 1]?.type === 'gap'))
    const LATER = 1000
    for (let i = 0; i < LATER; i++) pub.publish('ticks:1', i % 100 === 0 ? 'event' : 'tick', { pad })
    pub.publish('notifications', 'event', { text: 'the last' })
    const total = TICKS + LATER
    await slow.until('the later deltas', () => slow.covered.get(slowTicks) === total && slow.covered.get(slowNotes) === 101)
    await fast.until('the later deltas', () => fast.covered.get(fastTicks) === total)
    t.ok(slow.frames.length > whilePaused, 'the slow reader read again')

    const kinds = pub.kinds.get('ticks:1')!
    const events = kinds.filter((k) => k === 'event').length
    const slowAudit = audit(slow.of(slowTicks), kinds, total)
    t.same(slowAudit.problems, [], 'the slow subscription: in order, no event lost without a gap and a resync')
    t.ok(slowAudit.gaps >= 1, `it got ${slowAudit.gaps} gap(s)`)
    t.equal(slowAudit.eventsDelivered + slowAudit.eventsCovered, events, `each of the ${events} events delivered (${slowAudit.eventsDelivered}) or covered by a resync (${slowAudit.eventsCovered})`)
    const last = slow.of(slowTicks).slice(-LATER)
    t.same(last.map((f) => f.data!.n), Array.from({ length: LATER }, (_, i) => TICKS + 1 + i), 'the deltas after the resync, all of them')

    const fastAudit = audit(fast.of(fastTicks), kinds, total)
    t.same(fastAudit.problems, [])
    t.equal(fastAudit.gaps, 0)
    t.equal(fast.of(fastTicks).filter((f) => f.type === 'event').length, total, 'the fast reader got every delta')

    const notes = audit(slow.of(slowNotes), pub.kinds.get('notifications')!, 101)
    t.same(notes.problems, [])
    t.equal(notes.gaps, 0, "the slow port's other subscription lost nothing: the ticks were shed, not its events")
    t.equal(notes.eventsDelivered, 101)
    t.equal(hub.stats().gaps, slowAudit.gaps, 'the hub counted the same gaps')
    t.equal(hub.stats().queuedEvents, 0)
  })

  t.test('unsubscribe during the snapshot: its result is discarded and nothing more is sent for it', async (t) => {
    const connect = await listen(t)
    const hub = makeHub(t)
    const pub = new Publisher(hub)
    const c = await connect()
    const snapshot = deferred<unknown>()
    const id = hub.subscribe(c.port, 'ticks:2', () => snapshot.promise)
    for (let i = 0; i < 10; i++) pub.publish('ticks:2', 'event')
    t.equal(hub.unsubscribe(c.port, id), true)
    t.equal(hub.unsubscribe(c.port, id), false, 'once')
    t.equal(hub.listening('ticks:2'), false)
    snapshot.resolve({ upTo: 0 })
    await turn()
    for (let i = 0; i < 10; i++) pub.publish('ticks:2', 'event')
    const sentinel = hub.subscribe(c.port, 'ticks:3', pub.snapshot('ticks:3'))
    await c.until('the later subscription', () => c.covered.has(sentinel))
    t.same(c.of(id).map((f) => f.type), ['subscribed'])
    t.same(hub.stats(), { ports: 1, subscriptions: 1, queuedEvents: 0, queuedBytes: 0, gaps: 0, dropped: 0 })
  })

  t.test('detach during the snapshot: everything the port held goes, nothing more is sent', async (t) => {
    const connect = await listen(t)
    const hub = makeHub(t)
    const pub = new Publisher(hub)
    const c = await connect()
    const snapshot = deferred<unknown>()
    const id = hub.subscribe(c.port, 'ticks:2', () => snapshot.promise)
    for (let i = 0; i < 10; i++) pub.publish('ticks:2', 'tick')
    t.equal(hub.stats().queuedEvents, 10)
    hub.detach(c.port)
    t.same(hub.stats(), { ports: 0, subscriptions: 0, queuedEvents: 0, queuedBytes: 0, gaps: 0, dropped: 0 })
    snapshot.resolve({ upTo: 0 })
    await turn()
    pub.publish('ticks:2', 'tick')
    const sentinel = hub.subscribe(c.port, 'ticks:3', pub.snapshot('ticks:3'))
    await c.until('the later subscription', () => c.covered.has(sentinel))
    t.same(c.of(id).map((f) => f.type), ['subscribed'])
  })

  t.test('a failed snapshot answers error INTERNAL and unsubscribed, and ends the subscription', async (t) => {
    const connect = await listen(t)
    const hub = makeHub(t)
    const c = await connect()
    const id = hub.subscribe(c.port, 'positions:9', () => Promise.reject(new Error('the reader is gone')), 'r-9')
    hub.publish('positions:9', 'event', { n: 1 })
    await c.until('the unsubscribed', () => c.frames.some((f) => f.type === 'unsubscribed'))
    hub.publish('positions:9', 'event', { n: 2 })
    t.same(c.frames, [
      { type: 'subscribed', request_id: 'r-9', subscription_id: id, topic: 'positions:9' },
      { type: 'error', code: 'INTERNAL', message: 'the snapshot of positions:9 failed: the reader is gone', request_id: 'r-9' },
      { type: 'unsubscribed', subscription_id: id, topic: 'positions:9', reason: 'snapshot_failed' },
    ])
    t.equal(hub.stats().subscriptions, 0)
    t.equal(hub.stats().queuedEvents, 0)
    t.equal(hub.listening('positions:9'), false)
  })

  t.test('a port holds at most maxSubscriptionsPerPort subscriptions', async (t) => {
    const connect = await listen(t)
    const hub = makeHub(t, { maxSubscriptionsPerPort: 3 })
    const pub = new Publisher(hub)
    const c = await connect()
    const other = await connect()
    const ids = [1, 2, 3].map((i) => hub.subscribe(c.port, `ticks:${i}`, pub.snapshot(`ticks:${i}`)))
    const err = t.throws(() => hub.subscribe(c.port, 'ticks:4', pub.snapshot('ticks:4'), 'r-4')) as ProtocolError
    t.ok(err instanceof ProtocolError)
    t.equal(err.code, 'FORBIDDEN')
    t.equal(err.requestId, 'r-4')
    t.match(err.message, /already holds 3 subscriptions \(maxSubscriptionsPerPort\)/)
    t.equal(hub.listening('ticks:4'), false, 'nothing registered')
    const elsewhere = hub.subscribe(other.port, 'ticks:4', pub.snapshot('ticks:4'))
    hub.unsubscribe(c.port, ids[0]!)
    const again = hub.subscribe(c.port, 'ticks:4', pub.snapshot('ticks:4'))
    await c.until('the new snapshot', () => c.covered.has(again))
    await other.until('its snapshot', () => other.covered.has(elsewhere))
    t.equal(hub.stats().subscriptions, 4)
  })
})

/** A port the test drives: `buffered` is set by hand, `drain()` runs the listeners, `send` records. */
class RecordingPort implements SubscriberPort {
  readonly frames: Frame[] = []
  bufferedBytes = 0
  readonly #listeners = new Set<() => void>()
  /** Frames with `data.bad` throw, as an unencodable value would. */
  send(frame: Record<string, unknown>): void {
    if ((frame.data as { bad?: boolean } | undefined)?.bad) throw new TypeError('encode: $.data.at is a Date')
    this.frames.push(frame as unknown as Frame)
  }
  buffered(): number {
    return this.bufferedBytes
  }
  onDrain(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
  drain(): void {
    this.bufferedBytes = 0
    for (const l of this.#listeners) l()
  }
  /** What was sent, shortly: `event 3`, `gap 4`, `snapshot 7`. */
  summary(id: number): string[] {
    return this.frames
      .filter((f) => f.subscription_id === id)
      .map((f) => (f.type === 'event' ? `event ${f.data!.n}` : f.type === 'gap' ? `gap ${f.dropped} ${f.reason}` : f.type === 'snapshot' ? `snapshot ${f.data!.upTo}` : f.type))
  }
}

t.test('the queue of one port, on the hub alone', async (t) => {
  t.test('an event on a full queue sheds the ticks of another subscription, which alone gets a gap', async (t) => {
    const hub = makeHub(t, { highWaterBytes: 1, maxQueuedEvents: 10 })
    const pub = new Publisher(hub)
    const port = new RecordingPort()
    const ticks = hub.subscribe(port, 'ticks:1', pub.snapshot('ticks:1'))
    const notes = hub.subscribe(port, 'notifications', pub.snapshot('notifications'))
    await turn()
    port.bufferedBytes = 100 // the peer stopped reading
    for (let i = 0; i < 10; i++) pub.publish('ticks:1', 'tick')
    t.equal(hub.stats().queuedEvents, 10, 'the queue is full')
    pub.publish('notifications', 'event')
    pub.publish('ticks:1', 'tick') // lost: counted for the gap
    t.same(hub.stats(), { ports: 1, subscriptions: 2, queuedEvents: 1, queuedBytes: hub.stats().queuedBytes, gaps: 0, dropped: 11 })
    port.drain()
    await turn()
    pub.publish('ticks:1', 'tick')
    t.same(port.summary(ticks), ['subscribed', 'snapshot 0', 'gap 11 queue_full', 'snapshot 11', 'event 12'])
    t.same(port.summary(notes), ['subscribed', 'snapshot 0', 'event 1'])
    t.equal(hub.stats().gaps, 1)
  })

  t.test('a tick on a full queue costs its own ticks: its queued events still go out, then its one gap', async (t) => {
    const hub = makeHub(t, { highWaterBytes: 1, maxQueuedEvents: 4 })
    const pub = new Publisher(hub)
    const port = new RecordingPort()
    const id = hub.subscribe(port, 'positions:1', pub.snapshot('positions:1'))
    await turn()
    port.bufferedBytes = 100
    for (const kind of ['tick', 'event', 'tick', 'event', 'tick', 'event', 'tick'] as const) pub.publish('positions:1', kind)
    port.drain()
    await turn()
    t.same(port.summary(id), ['subscribed', 'snapshot 0', 'event 2', 'event 4', 'gap 5 queue_full', 'snapshot 7'])
  })

  t.test('with no ticks left to shed, an event costs its own backlog: one gap covers all of it', async (t) => {
    const hub = makeHub(t, { highWaterBytes: 1, maxQueuedEvents: 3 })
    const pub = new Publisher(hub)
    const port = new RecordingPort()
    const id = hub.subscribe(port, 'deals:1', pub.snapshot('deals:1'))
    const other = hub.subscribe(port, 'notifications', pub.snapshot('notifications'))
    await turn()
    port.bufferedBytes = 100
    pub.publish('notifications', 'event')
    for (let i = 0; i < 5; i++) pub.publish('deals:1', 'event')
    t.equal(hub.stats().queuedEvents, 1, "only the other subscription's event is left queued")
    port.drain()
    await turn()
    t.same(port.summary(other), ['subscribed', 'snapshot 0', 'event 1'], 'the other subscription keeps its event')
    t.same(port.summary(id), ['subscribed', 'snapshot 0', 'gap 5 queue_full', 'snapshot 5'])
  })

  t.test('deltas that overflow while the snapshot runs make it retake the snapshot, with no gap', async (t) => {
    const hub = makeHub(t, { maxQueuedEvents: 5 })
    const pub = new Publisher(hub)
    const port = new RecordingPort()
    const first = deferred<unknown>()
    const snapshots: unknown[] = []
    const id = hub.subscribe(port, 'ticks:1', () => {
      const upTo = pub.counts.get('ticks:1') ?? 0
      snapshots.push(upTo)
      return snapshots.length === 1 ? first.promise : Promise.resolve({ upTo })
    })
    for (let i = 0; i < 6; i++) pub.publish('ticks:1', 'tick')
    t.equal(hub.stats().queuedEvents, 0, 'the held deltas were dropped')
    await turn()
    t.same(snapshots, [0, 6], 'taken again once the port could take it')
    first.resolve({ upTo: 0 })
    await turn()
    pub.publish('ticks:1', 'tick')
    t.same(port.summary(id), ['subscribed', 'snapshot 6', 'event 7'])
    t.equal(hub.stats().gaps, 0)
  })

  t.test('a delta the port cannot encode costs its subscription a gap and a resync, never the publisher', async (t) => {
    const hub = makeHub(t)
    const pub = new Publisher(hub)
    const port = new RecordingPort()
    const id = hub.subscribe(port, 'ticks:1', pub.snapshot('ticks:1'))
    await turn()
    pub.publish('ticks:1', 'tick')
    t.doesNotThrow(() => pub.publish('ticks:1', 'event', { bad: true }))
    pub.publish('ticks:1', 'tick')
    await turn()
    pub.publish('ticks:1', 'tick')
    t.same(port.summary(id), ['subscribed', 'snapshot 0', 'event 1', 'gap 2 send_failed', 'snapshot 3', 'event 4'])
  })

  t.test('listening() follows the subscriptions of a topic', async (t) => {
    const hub = makeHub(t)
    const port = new RecordingPort()
    t.equal(hub.listening('ticks:1'), false)
    const a = hub.subscribe(port, 'ticks:1', async () => ({}))
    const b = hub.subscribe(port, 'ticks:1', async () => ({}))
    t.equal(hub.listening('ticks:1'), true)
    hub.unsubscribe(port, a)
    t.equal(hub.listening('ticks:1'), true)
    hub.unsubscribe(port, b)
    t.equal(hub.listening('ticks:1'), false)
  })

  t.test('limits are checked where they enter, naming the option', async (t) => {
    const misspelled = t.throws(() => new SubscriptionHub({ maxQueuedEvnts: 5 } as Partial<HubLimits>))
    t.ok(isEngineError(misspelled, 'CONFIG_INVALID'))
    t.match((misspelled as Error).message, /unknown SubscriptionHub limit maxQueuedEvnts: the limits are highWaterBytes, maxQueuedEvents/)
    const zero = t.throws(() => new SubscriptionHub({ highWaterBytes: 0 }))
    t.match((zero as Error).message, /the highWaterBytes option must be a positive integer, got 0/)
    t.same(new SubscriptionHub().limits, { highWaterBytes: 262144, maxQueuedEvents: 10000, maxQueuedBytes: 4194304, maxSubscriptionsPerPort: 64 })
  })
})
