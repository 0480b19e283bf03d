/**
 * The live fan-out of committed changes to dashboards (docs/SUBSCRIPTIONS.md). Each subscription
 * gets its snapshot, then the deltas published after it registered, in publish order. A port that
 * reads slowly queues its frames, within per-port limits; past them it loses ticks first, then a
 * subscription's backlog, and each subscription that lost anything is told with one `gap` frame and
 * resynchronised with a fresh snapshot. Publishing never waits for a port, and costs O(subscribers
 * of the topic).
 *
 * A subscription's life: `snapshot` (its snapshot is being taken; deltas are held) -> `live` ->
 * `lost` (it lost a delta; its gap marker waits in the port's queue, later deltas are only counted)
 * -> `snapshot` again when the marker reaches the port, ... -> `closed`.
 */
import { EngineError, ErrorCodes } from '../errors.js'
import { ProtocolError } from '../protocol/codec.js'
import { ProtocolErrors } from '../protocol/messages.js'
import { estimateBytes, Fifo } from './queue.js'

/** `tick`: may be dropped under pressure (the subscription then gets a gap and a resync). `event`: never lost without a gap and a resync. */
export type EventKind = 'tick' | 'event'

/** One dashboard connection, as the hub writes to it. `wsPort()` makes one over a `ws` socket. */
export interface SubscriberPort {
  /** Encodes and writes one frame. May throw (a value that cannot be encoded): the hub counts that frame as lost. */
  send(frame: Record<string, unknown>): void
  /** Bytes written but not yet sent to the peer (`ws.bufferedAmount`). */
  buffered(): number
  /** Calls `listener` each time what was written has gone out; returns its remover. */
  onDrain(listener: () => void): () => void
}

/** The bounds the hub keeps per port. */
export interface HubLimits {
  /** While `port.buffered()` is below this, frames are written at once; at or above it they queue. Default 256 KiB. */
  highWaterBytes: number
  /** Deltas one port may have queued (and held during snapshots). Default 10 000. */
  maxQueuedEvents: number
  /** Estimated bytes of those deltas: the publisher's `bytes` (else estimateBytes()) plus 64 per delta for its bookkeeping. Default 4 MiB. */
  maxQueuedBytes: number
  /** Subscriptions one port may hold at once. Default 64. */
  maxSubscriptionsPerPort: number
}

/** The limits a hub uses for those not given (docs/SUBSCRIPTIONS.md, "Limits"). */
export const DEFAULT_HUB_LIMITS: Readonly<HubLimits> = Object.freeze({
  highWaterBytes: 256 * 1024,
  maxQueuedEvents: 10_000,
  maxQueuedBytes: 4 * 1024 * 1024,
  maxSubscriptionsPerPort: 64,
})

/** What `stats()` reports. The first four are gauges, `gaps` and `dropped` count since the hub was made. */
export interface HubStats {
  /** Ports known: from their first subscribe to detach(). */
  ports: number
  subscriptions: number
  /** Deltas queued or held, over all ports. */
  queuedEvents: number
  /** Their estimated bytes. */
  queuedBytes: number
  /** Gap frames sent. */
  gaps: number
  /** Deltas a subscription did not get because it was resynchronised instead. */
  dropped: number
}

/** Why a subscription got a gap (`gap.reason`). */
export const GapReasons = {
  /** Its port's queue was full. */
  QUEUE_FULL: 'queue_full',
  /** A delta could not be written to the port (it could not be encoded). */
  SEND_FAILED: 'send_failed',
} as const

/** Why the hub ended a subscription (`unsubscribed.reason`). */
export const UnsubscribeReasons = {
  /** Its snapshot function failed, or its snapshot could not be written; an `error` frame came first. */
  SNAPSHOT_FAILED: 'snapshot_failed',
} as const

type GapReason = (typeof GapReasons)[keyof typeof GapReasons]
type State = 'snapshot' | 'live' | 'lost' | 'closed'
type Frame = Record<string, unknown>

interface Sub {
  readonly id: number
  readonly topic: string
  readonly conn: Conn
  readonly snapshot: () => Promise<unknown>
  readonly requestId: string | undefined
  state: State
  /** Bumped at each snapshot taken and at each loss: a snapshot that settles under an older one is discarded. */
  epoch: number
  /** Deltas published while the snapshot is taken, counted in the port's limits. */
  held: Entry[]
  /** Tick deltas of this subscription queued or held, and their bytes: what shedding frees first. */
  ticks: number
  tickBytes: number
  /** While `lost`: deltas lost since the last one delivered, for the gap frame. */
  dropped: number
  reason: GapReason
  /** While `lost`: it had no base yet (it lost during a snapshot), so it retakes the snapshot without a gap frame. */
  silent: boolean
}

/**
 * One frame in a port's queue. `delta` frames count in the limits; `control` (subscribed, error,
 * unsubscribed), `snapshot` and `gap` ones do not and are never shed. A `gap` entry is the place of
 * a lost subscription's gap frame, which is built when it is reached. `sub` is null for frames that
 * outlive their subscription (the error and unsubscribed ending it).
 */
interface Entry {
  readonly sub: Sub | null
  readonly type: 'delta' | 'control' | 'snapshot' | 'gap'
  readonly kind: EventKind
  readonly frame: Frame | undefined
  readonly bytes: number
}

/** A port and what the hub holds for it. */
interface Conn {
  readonly port: SubscriberPort
  readonly subs: Map<number, Sub>
  readonly queue: Fifo<Entry>
  /** Deltas queued or held for this port, and their bytes. */
  events: number
  bytes: number
  removeDrain: () => void
  flushing: boolean
  flushScheduled: boolean
  detached: boolean
}

/** Memory an entry and its frame take beyond the data, in the byte estimate. */
const ENTRY_OVERHEAD = 64

export class SubscriptionHub {
  readonly #limits: Readonly<HubLimits>
  readonly #ports = new Map<SubscriberPort, Conn>()
  readonly #topics = new Map<string, Set<Sub>>()
  #nextId = 1
  #subscriptions = 0
  #queuedEvents = 0
  #queuedBytes = 0
  #gaps = 0
  #dropped = 0

  /** `limits` are validated here: an unknown name or a value that is not a positive integer throws CONFIG_INVALID naming it. */
  constructor(limits?: Partial<HubLimits>) {
    this.#limits = Object.freeze({ ...DEFAULT_HUB_LIMITS, ...validLimits(limits ?? {}) })
  }

  /** The limits in force, defaults filled in. */
  get limits(): Readonly<HubLimits> {
    return this.#limits
  }

  /**
   * Registers a subscription of `port` to `topic`, answers `subscribed`, then calls `snapshot`.
   * Every delta published after this call reaches the port after the snapshot, in publish order;
   * those published while the snapshot runs are held (within the port's limits) and sent right
   * after it. When `snapshot` rejects, the port gets `error` INTERNAL and `unsubscribed`, and the
   * subscription is gone. Returns the subscription id (unique in this hub).
   *
   * Throws a ProtocolError FORBIDDEN (its `requestId` set) when the port already holds
   * `maxSubscriptionsPerPort` subscriptions; nothing is registered then.
   */
  subscribe(port: SubscriberPort, topic: string, snapshot: () => Promise<unknown>, requestId?: string): number {
    if (typeof topic !== 'string' || topic === '') throw new TypeError('subscribe: topic must be a non-empty string')
    if (typeof snapshot !== 'function') throw new TypeError('subscribe: snapshot must be a function returning a promise')
    const conn = this.#ports.get(port) ?? this.#attach(port)
    const max = this.#limits.maxSubscriptionsPerPort
    if (conn.subs.size >= max) {
      const err = new ProtocolError(
        ProtocolErrors.FORBIDDEN,
        `this connection already holds ${max} subscriptions (maxSubscriptionsPerPort): unsubscribe from one before subscribing to ${topic}`,
      )
      err.requestId = requestId
      throw err
    }
    const sub: Sub = {
      id: this.#nextId++,
      topic,
      conn,
      snapshot,
      requestId,
      state: 'snapshot',
      epoch: 0,
      held: [],
      ticks: 0,
      tickBytes: 0,
      dropped: 0,
      reason: GapReasons.QUEUE_FULL,
      silent: false,
    }
    conn.subs.set(sub.id, sub)
    let subs = this.#topics.get(topic)
    if (subs === undefined) this.#topics.set(topic, (subs = new Set()))
    subs.add(sub)
    this.#subscriptions++
    const subscribed: Frame = { type: 'subscribed' }
    if (requestId !== undefined) subscribed.request_id = requestId
    subscribed.subscription_id = sub.id
    subscribed.topic = topic
    this.#emit(conn, { sub, type: 'control', kind: 'event', frame: subscribed, bytes: 0 })
    this.#takeSnapshot(sub)
    return sub.id
  }

  /**
   * Ends one subscription of `port`: whatever it had queued is dropped, a snapshot still running
   * is discarded when it settles, and nothing more is sent for it (the caller answers the request).
   * False when the port holds no such subscription.
   */
  unsubscribe(port: SubscriberPort, subscriptionId: number): boolean {
    const sub = this.#ports.get(port)?.subs.get(subscriptionId)
    if (sub === undefined) return false
    this.#remove(sub, false)
    return true
  }

  /** The connection is gone: every subscription of `port` ends and everything queued for it is dropped. */
  detach(port: SubscriberPort): void {
    const conn = this.#ports.get(port)
    if (conn === undefined) return
    conn.detached = true
    for (const sub of conn.subs.values()) this.#unregister(sub)
    conn.subs.clear()
    conn.queue.clear()
    this.#queuedEvents -= conn.events
    this.#queuedBytes -= conn.bytes
    conn.events = 0
    conn.bytes = 0
    conn.removeDrain()
    this.#ports.delete(port)
  }

  /** Detaches every port. */
  close(): void {
    for (const port of [...this.#ports.keys()]) this.detach(port)
  }

  /**
   * Fans one committed change out to the subscribers of `topic`, in the order of the calls: call it
   * after the commit, in commit order. `bytes` is the delta's size if the publisher knows it (else
   * it is estimated, and only when a port has to queue it). Never waits, never throws.
   */
  publish(topic: string, kind: EventKind, data: unknown, bytes?: number): void {
    const subs = this.#topics.get(topic)
    if (subs === undefined) return
    const k: EventKind = kind === 'tick' ? 'tick' : 'event'
    let size = typeof bytes === 'number' && bytes >= 0 && Number.isFinite(bytes) ? bytes + ENTRY_OVERHEAD : -1
    for (const sub of subs) {
      try {
        if (sub.state === 'lost') {
          sub.dropped++
          this.#dropped++
          continue
        }
        const conn = sub.conn
        if (sub.state === 'live' && this.#writable(conn)) {
          this.#sendDelta(sub, deltaFrame(sub, data))
          continue
        }
        if (size < 0) size = estimateBytes(data) + ENTRY_OVERHEAD + topic.length
        const entry: Entry = { sub, type: 'delta', kind: k, frame: deltaFrame(sub, data), bytes: size }
        if (sub.state === 'live') this.#enqueue(sub, entry)
        else if (sub.state === 'snapshot') this.#hold(sub, entry)
      } catch {
        // a port's failure is that port's: the hub's own bookkeeping does not throw
      }
    }
  }

  /** Whether anyone subscribes to `topic`: publishers skip building deltas nobody reads. */
  listening(topic: string): boolean {
    return this.#topics.has(topic)
  }

  stats(): HubStats {
    return {
      ports: this.#ports.size,
      subscriptions: this.#subscriptions,
      queuedEvents: this.#queuedEvents,
      queuedBytes: this.#queuedBytes,
      gaps: this.#gaps,
      dropped: this.#dropped,
    }
  }

  // --- ports ---------------------------------------------------------------------------------

  #attach(port: SubscriberPort): Conn {
    const conn: Conn = {
      port,
      subs: new Map(),
      queue: new Fifo(),
      events: 0,
      bytes: 0,
      removeDrain: () => {},
      flushing: false,
      flushScheduled: false,
      detached: false,
    }
    conn.removeDrain = port.onDrain(() => this.#flush(conn))
    this.#ports.set(port, conn)
    return conn
  }

  /** A frame may go straight to the port: nothing is queued before it and the port is below the high-water mark. */
  #writable(conn: Conn): boolean {
    return conn.queue.length === 0 && !conn.flushing && conn.port.buffered() < this.#limits.highWaterBytes
  }

  /** Writes queued frames while the port is below the high-water mark; the port's drain calls it again. */
  #flush(conn: Conn): void {
    if (conn.flushing || conn.detached) return
    conn.flushing = true
    try {
      const hw = this.#limits.highWaterBytes
      while (conn.queue.length > 0 && !conn.detached && conn.port.buffered() < hw) {
        const entry = conn.queue.shift()!
        this.#uncount(conn, entry)
        this.#deliver(conn, entry)
      }
    } finally {
      conn.flushing = false
    }
  }

  /** Flushes after the current call: a gap marker may be reached without waiting for a drain. */
  #flushSoon(conn: Conn): void {
    if (conn.flushScheduled) return
    conn.flushScheduled = true
    queueMicrotask(() => {
      conn.flushScheduled = false
      this.#flush(conn)
    })
  }

  /** Sends a frame that is not a delta (or a held delta, already counted), or queues it behind what waits. */
  #emit(conn: Conn, entry: Entry): void {
    if (this.#writable(conn)) {
      this.#uncount(conn, entry)
      this.#deliver(conn, entry)
    } else {
      conn.queue.push(entry)
    }
  }

  #deliver(conn: Conn, entry: Entry): void {
    switch (entry.type) {
      case 'delta':
        this.#sendDelta(entry.sub!, entry.frame!)
        return
      case 'gap':
        this.#resync(entry.sub!)
        return
      case 'snapshot':
        try {
          conn.port.send(entry.frame!)
        } catch (err) {
          this.#fail(entry.sub!, err)
        }
        return
      case 'control':
        try {
          conn.port.send(entry.frame!)
        } catch {
          // subscribed, error, unsubscribed: plain strings and numbers, they do not fail to encode
        }
    }
  }

  #sendDelta(sub: Sub, frame: Frame): void {
    try {
      sub.conn.port.send(frame)
    } catch {
      this.#lose(sub, 1, GapReasons.SEND_FAILED)
    }
  }

  // --- the limits ----------------------------------------------------------------------------

  #fits(conn: Conn, bytes: number): boolean {
    return conn.events < this.#limits.maxQueuedEvents && conn.bytes + bytes <= this.#limits.maxQueuedBytes
  }

  #count(conn: Conn, entry: Entry): void {
    if (entry.type !== 'delta') return
    conn.events++
    conn.bytes += entry.bytes
    this.#queuedEvents++
    this.#queuedBytes += entry.bytes
    if (entry.kind === 'tick') {
      entry.sub!.ticks++
      entry.sub!.tickBytes += entry.bytes
    }
  }

  #uncount(conn: Conn, entry: Entry): void {
    if (entry.type !== 'delta') return
    conn.events--
    conn.bytes -= entry.bytes
    this.#queuedEvents--
    this.#queuedBytes -= entry.bytes
    if (entry.kind === 'tick') {
      entry.sub!.ticks--
      entry.sub!.tickBytes -= entry.bytes
    }
  }

  /** A live subscription's delta queues behind what waits, or, on a full queue, costs ticks first. */
  #enqueue(sub: Sub, entry: Entry): void {
    const conn = sub.conn
    if (!this.#fits(conn, entry.bytes)) {
      if (entry.kind === 'tick' || sub.ticks > 0) {
        // its own ticks pay: its queued events still go out, then its gap
        this.#lose(sub, this.#shedTicks(sub) + 1, GapReasons.QUEUE_FULL)
        return
      }
      if (!this.#shedOthers(sub, entry.bytes)) {
        this.#lose(sub, this.#shedBacklog(sub) + 1, GapReasons.QUEUE_FULL)
        return
      }
    }
    this.#count(conn, entry)
    conn.queue.push(entry)
  }

  /** A delta published while the snapshot is taken waits for it; on a full queue the snapshot is taken again later. */
  #hold(sub: Sub, entry: Entry): void {
    const conn = sub.conn
    if (!this.#fits(conn, entry.bytes) && (entry.kind === 'tick' || sub.ticks > 0 || !this.#shedOthers(sub, entry.bytes))) {
      this.#lose(sub, 1, GapReasons.QUEUE_FULL)
      return
    }
    this.#count(conn, entry)
    sub.held.push(entry)
  }

  /** Sheds the ticks of the port's other subscriptions, most tick bytes first, until `bytes` more fit. */
  #shedOthers(sub: Sub, bytes: number): boolean {
    const conn = sub.conn
    while (!this.#fits(conn, bytes)) {
      let victim: Sub | undefined
      for (const s of conn.subs.values()) {
        if (s !== sub && s.ticks > 0 && (victim === undefined || s.tickBytes > victim.tickBytes)) victim = s
      }
      if (victim === undefined) return false
      // snapshotting: its held deltas go and it retakes the snapshot; else its queued ticks go
      if (victim.state === 'snapshot') this.#lose(victim, 0, GapReasons.QUEUE_FULL)
      else this.#lose(victim, this.#shedTicks(victim), GapReasons.QUEUE_FULL)
    }
    return true
  }

  /** Removes a subscription's queued ticks; returns how many. */
  #shedTicks(sub: Sub): number {
    if (sub.ticks === 0) return 0
    const conn = sub.conn
    let n = 0
    conn.queue.remove((e) => {
      if (e.sub !== sub || e.type !== 'delta' || e.kind !== 'tick') return false
      this.#uncount(conn, e)
      n++
      return true
    })
    return n
  }

  /** Removes every queued delta of a live subscription; returns how many. */
  #shedBacklog(sub: Sub): number {
    const conn = sub.conn
    let n = 0
    conn.queue.remove((e) => {
      if (e.sub !== sub || e.type !== 'delta') return false
      this.#uncount(conn, e)
      n++
      return true
    })
    return n
  }

  // --- losses and resyncs --------------------------------------------------------------------

  /**
   * The subscription lost `n` deltas (the caller has removed them). The first loss queues its gap
   * marker; later ones are counted. One that had no base yet (its snapshot running) drops its held
   * deltas and retakes the snapshot at the marker, with no gap frame.
   */
  #lose(sub: Sub, n: number, reason: GapReason): void {
    if (sub.state === 'closed') return
    if (sub.state === 'lost') {
      sub.dropped += n
      this.#dropped += n
      return
    }
    const conn = sub.conn
    sub.silent = sub.state === 'snapshot'
    if (sub.silent) {
      n += sub.held.length
      for (const e of sub.held) this.#uncount(conn, e)
      sub.held = []
      sub.epoch++ // the running snapshot is discarded when it settles
    }
    sub.state = 'lost'
    sub.dropped = n
    sub.reason = reason
    this.#dropped += n
    conn.queue.push({ sub, type: 'gap', kind: 'event', frame: undefined, bytes: 0 })
    this.#flushSoon(conn)
  }

  /** Its gap marker reached the port: the gap frame goes out and the snapshot is taken again. */
  #resync(sub: Sub): void {
    if (sub.state !== 'lost') return
    if (!sub.silent) {
      const gap: Frame = { type: 'gap', subscription_id: sub.id, topic: sub.topic, dropped: sub.dropped, reason: sub.reason }
      try {
        sub.conn.port.send(gap)
        this.#gaps++
      } catch {
        // a gap frame is plain numbers and strings
      }
    }
    sub.dropped = 0
    this.#takeSnapshot(sub)
  }

  #takeSnapshot(sub: Sub): void {
    sub.state = 'snapshot'
    const epoch = ++sub.epoch
    let taking: Promise<unknown>
    try {
      taking = Promise.resolve(sub.snapshot())
    } catch (err) {
      taking = Promise.reject(err)
    }
    taking.then(
      (data) => this.#onSnapshot(sub, epoch, data),
      (err) => {
        if (sub.state !== 'closed' && sub.epoch === epoch) this.#fail(sub, err)
      },
    )
  }

  /** The snapshot is sent, then the deltas held while it ran, in order. */
  #onSnapshot(sub: Sub, epoch: number, data: unknown): void {
    if (sub.state !== 'snapshot' || sub.epoch !== epoch) return
    const conn = sub.conn
    sub.state = 'live'
    const held = sub.held
    sub.held = []
    this.#emit(conn, { sub, type: 'snapshot', kind: 'event', frame: { type: 'snapshot', subscription_id: sub.id, topic: sub.topic, data }, bytes: 0 })
    for (const entry of held) {
      if (sub.state === 'live') {
        this.#emit(conn, entry)
        continue
      }
      // a failed snapshot write ended it, or a held delta that failed to write made it lost
      this.#uncount(conn, entry)
      if (sub.state === 'lost') this.#lose(sub, 1, GapReasons.SEND_FAILED)
    }
  }

  /** The snapshot failed: the subscription ends with `error` INTERNAL and `unsubscribed`. */
  #fail(sub: Sub, err: unknown): void {
    if (sub.state === 'closed') return
    const conn = sub.conn
    this.#remove(sub, true)
    const error: Frame = { type: 'error', code: ProtocolErrors.INTERNAL, message: `the snapshot of ${sub.topic} failed: ${describe(err)}` }
    if (sub.requestId !== undefined) error.request_id = sub.requestId
    this.#emit(conn, { sub: null, type: 'control', kind: 'event', frame: error, bytes: 0 })
    const unsubscribed: Frame = { type: 'unsubscribed', subscription_id: sub.id, topic: sub.topic, reason: UnsubscribeReasons.SNAPSHOT_FAILED }
    this.#emit(conn, { sub: null, type: 'control', kind: 'event', frame: unsubscribed, bytes: 0 })
  }

  /** Ends a subscription: out of its topic and port, its held and queued deltas dropped; `keepControl` keeps its `subscribed` queued. */
  #remove(sub: Sub, keepControl: boolean): void {
    const conn = sub.conn
    this.#unregister(sub)
    conn.subs.delete(sub.id)
    for (const e of sub.held) this.#uncount(conn, e)
    sub.held = []
    if (conn.queue.length > 0) {
      conn.queue.remove((e) => {
        if (e.sub !== sub || (keepControl && e.type === 'control')) return false
        this.#uncount(conn, e)
        return true
      })
    }
  }

  #unregister(sub: Sub): void {
    sub.state = 'closed'
    this.#subscriptions--
    const subs = this.#topics.get(sub.topic)
    if (subs === undefined) return
    subs.delete(sub)
    if (subs.size === 0) this.#topics.delete(sub.topic)
  }
}

function deltaFrame(sub: Sub, data: unknown): Frame {
  return { type: 'event', subscription_id: sub.id, topic: sub.topic, data }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** The limits given, checked: each a known name with a positive integer, else CONFIG_INVALID naming it. */
function validLimits(limits: Partial<HubLimits>): Partial<HubLimits> {
  if (typeof limits !== 'object' || limits === null) {
    throw new EngineError(ErrorCodes.CONFIG_INVALID, 'SubscriptionHub limits must be an object such as { maxQueuedEvents: 10000 }')
  }
  const known = Object.keys(DEFAULT_HUB_LIMITS)
  const out: Partial<HubLimits> = {}
  for (const [name, value] of Object.entries(limits)) {
    if (!known.includes(name)) {
      throw new EngineError(ErrorCodes.CONFIG_INVALID, `unknown SubscriptionHub limit ${name}: the limits are ${known.join(', ')}`, { option: name })
    }
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new EngineError(ErrorCodes.CONFIG_INVALID, `the ${name} option must be a positive integer, got ${String(value)}`, { option: name })
    }
    out[name as keyof HubLimits] = value
  }
  return out
}
