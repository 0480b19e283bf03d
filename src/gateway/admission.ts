/**
 * Who may hold a connection before it has authenticated, and how fast an address may fail.
 * Connections count from the TCP accept until their `welcome` (or their close): strangers share a
 * small budget of their own, per remote address and in total, so that they can never take the
 * slots of authenticated sessions (docs/PROTOCOL.md 3.8). Per address it also counts refused
 * frames and failed hellos. Everything it remembers is bounded: at most `maxAddresses` records,
 * the least recently seen forgotten first.
 */
import { silentLogger, type Logger } from '../log.js'

export interface AdmissionOptions {
  /**
   * Connections not yet authenticated (from the TCP accept to `welcome`), in total. When all are
   * taken, the oldest idle one (no upgrade or no valid hello yet) makes room; else the newcomer's
   * socket is closed. Default 128.
   */
  maxUnauthenticated: number
  /** Of those, from one remote address; past it the newcomer's socket is closed. Default 32. */
  maxUnauthenticatedPerAddress: number
  /** Refused frames per second from one address, all its connections together; past it RATE_LIMITED, 4008. Default 1000. */
  maxRefusedPerSecond: number
  /** Wait before answering an address's first AUTH_FAILED; it doubles with each failure. Default 250. */
  authFailureDelayMs: number
  /** The longest that wait grows to. Default 3000. */
  maxAuthFailureDelayMs: number
  /** Where the line about an address's repeated failed hellos goes (a warning). Default silentLogger. */
  log?: Logger
}

/** A connection that has not authenticated yet, as the budget sees it. */
export interface Doorway {
  readonly address: string
  /** True while it has sent nothing that deserves its slot: no upgrade yet, or no valid hello. */
  idle(): boolean
  /** Closes it to make room for a newcomer. */
  evict(): void
}

interface AddressRecord {
  /** Its connections not yet authenticated. */
  pending: number
  refusedWindowStart: number
  refused: number
  /** AUTH_FAILED answers, forgotten after FAILURE_MEMORY_MS without a new one. */
  failures: number
  lastFailureAt: number
  /** Failures since its last log line, and when that was. */
  unlogged: number
  loggedAt: number
}

/** A quiet address starts again from the first delay after this long. */
const FAILURE_MEMORY_MS = 5 * 60_000
/** Failures from one address before they are worth a log line; at most one line per address per minute. */
const LOG_AFTER_FAILURES = 5
const LOG_INTERVAL_MS = 60_000
/** Log lines per minute over all addresses: a spread-out attack must not flood the log instead. */
const MAX_LOG_LINES_PER_MINUTE = 10

export class Admission {
  readonly #options: AdmissionOptions
  readonly #log: Logger
  readonly #maxAddresses: number
  readonly #records = new Map<string, AddressRecord>()
  /** Oldest first: the order in which idle ones are evicted. */
  readonly #pending = new Set<Doorway>()
  #logWindowStart = 0
  #logLines = 0
  #suppressedLines = 0

  constructor(options: AdmissionOptions) {
    this.#options = options
    this.#log = options.log ?? silentLogger
    // Records with pending connections are never forgotten; there are at most maxUnauthenticated of
    // them, so room always remains for the rest.
    this.#maxAddresses = Math.max(4096, 2 * options.maxUnauthenticated)
  }

  get pending(): number {
    return this.#pending.size
  }

  /**
   * Takes a slot for a new connection, evicting the oldest idle stranger when all are taken.
   * False when there is no room: its address holds its share, or every slot is in real use.
   */
  admit(door: Doorway): boolean {
    const record = this.#record(door.address)
    if (record.pending >= this.#options.maxUnauthenticatedPerAddress) return false
    // An address past its refused-frame budget would only come back to flood again (each return
    // costs an upgrade and a token check): until its second is over it is not let in.
    if (this.#overRefused(record, Date.now())) return false
    if (this.#pending.size >= this.#options.maxUnauthenticated && !this.#evictIdle()) return false
    record.pending++
    this.#pending.add(door)
    return true
  }

  /** Gives the slot back: the connection authenticated, or closed. Safe to call more than once. */
  settle(door: Doorway): void {
    if (!this.#pending.delete(door)) return
    const record = this.#records.get(door.address)
    if (record) record.pending--
  }

  /** Counts one refused frame from `address`; false once the address is past its budget for this second. */
  refused(address: string, now = Date.now()): boolean {
    const record = this.#record(address)
    if (now - record.refusedWindowStart >= 1000) {
      record.refusedWindowStart = now
      record.refused = 0
    }
    return ++record.refused <= this.#options.maxRefusedPerSecond
  }

  #overRefused(record: AddressRecord, now: number): boolean {
    return record.refused > this.#options.maxRefusedPerSecond && now - record.refusedWindowStart < 1000
  }

  /** Counts one AUTH_FAILED from `address` and returns how long to wait before answering it. */
  authFailed(address: string, now = Date.now()): number {
    const record = this.#record(address)
    if (now - record.lastFailureAt > FAILURE_MEMORY_MS) record.failures = 0
    record.failures++
    record.unlogged++
    record.lastFailureAt = now
    const { authFailureDelayMs, maxAuthFailureDelayMs } = this.#options
    const delay = Math.min(authFailureDelayMs * 2 ** Math.min(record.failures - 1, 30), maxAuthFailureDelayMs)
    if (record.failures >= LOG_AFTER_FAILURES && now - record.loggedAt >= LOG_INTERVAL_MS) this.#logFailures(address, record, delay, now)
    return delay
  }

  #logFailures(address: string, record: AddressRecord, delay: number, now: number): void {
    if (now - this.#logWindowStart >= 60_000) {
      this.#logWindowStart = now
      this.#logLines = 0
    }
    if (++this.#logLines > MAX_LOG_LINES_PER_MINUTE) {
      this.#suppressedLines++
      return
    }
    const since = record.loggedAt === 0 ? '' : ` in the last ${Math.round((now - record.loggedAt) / 1000)} s`
    const leftOut = this.#suppressedLines
    const others = leftOut > 0 ? ` (${leftOut} such lines about other addresses were left out)` : ''
    this.#suppressedLines = 0
    this.#log.warn(
      { remote: address, failures: record.unlogged, delayMs: delay, ...(leftOut > 0 && { linesLeftOut: leftOut }) },
      `${record.unlogged} failed hellos (AUTH_FAILED: unknown, revoked or expired token) from ${address}${since}; ` +
        `each is now answered after ${delay} ms. Fix the token of the EAs or dashboards there, or block the address if it is not yours${others}`,
    )
    record.unlogged = 0
    record.loggedAt = now
  }

  #evictIdle(): boolean {
    for (const door of this.#pending) {
      if (!door.idle()) continue
      this.settle(door)
      door.evict()
      return true
    }
    return false
  }

  /** The record of `address`, now the most recently seen; the least recently seen idle one goes if there are too many. */
  #record(address: string): AddressRecord {
    let record = this.#records.get(address)
    if (record) {
      this.#records.delete(address)
    } else {
      record = { pending: 0, refusedWindowStart: 0, refused: 0, failures: 0, lastFailureAt: 0, unlogged: 0, loggedAt: 0 }
      if (this.#records.size >= this.#maxAddresses) this.#forgetOne()
    }
    this.#records.set(address, record)
    return record
  }

  #forgetOne(): void {
    for (const [address, record] of this.#records) {
      if (record.pending > 0) continue
      this.#records.delete(address)
      return
    }
  }
}
