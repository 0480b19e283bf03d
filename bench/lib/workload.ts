/**
 * The bench's data: what each simulated EA sends, generated the same way every run (seeded), so
 * the engine, the ceiling and the naive baseline store exactly the same rows.
 *
 * Each EA has its own account on its own broker server and streams a few symbols. Ticks follow
 * what MT5 delivers: `time_msc` advances by exponentially distributed gaps (a symbol's typical
 * tick rate) with about one tick in eight sharing its millisecond with the one before; bid walks
 * in whole points; the spread moves between the symbol's usual bounds; flags say which side moved
 * (2 BID, 4 ASK); the exchange symbol also has last, volume and BUY/SELL flags. Deals and account
 * snapshots come between the tick batches, as an EA that trades while it streams sends them.
 */
import type { Outgoing } from '../../src/client/ea-client.js'

export interface WorkloadOptions {
  /** Simulated EAs (one stream, one account, one server each). */
  eas: number
  /** Ticks all EAs send together. */
  ticks: number
  /** Ticks per `tick_batch` message (an EA's CopyTicksRange result). */
  batchTicks: number
  /** Symbols each EA streams, in turn. */
  symbolsPerEa: number
  /** A deal after every this many tick batches of an EA. */
  dealEvery: number
  /** An account snapshot after every this many tick batches of an EA. */
  snapshotEvery: number
}

export const defaultWorkload: Readonly<WorkloadOptions> = Object.freeze({
  eas: 10,
  ticks: 2_000_000,
  batchTicks: 1000,
  symbolsPerEa: 3,
  dealEvery: 20,
  snapshotEvery: 10,
})

export interface SymbolProfile {
  name: string
  digits: number
  /** Typical gap between ticks, ms. */
  meanGapMs: number
  /** Starting bid in points. */
  startPoints: number
  spreadMin: number
  spreadMax: number
  /** How far bid moves per tick, in points (the largest step). */
  step: number
  /** An exchange instrument: last and volume move, flags carry LAST/VOLUME/BUY/SELL. */
  exchange: boolean
  contractSize: number
  currencyBase: string
  currencyProfit: string
}

/** FX majors, gold, an index CFD, a crypto CFD and an exchange stock, as an MT5 broker lists them. */
export const SYMBOLS: readonly SymbolProfile[] = Object.freeze([
  { name: 'EURUSD', digits: 5, meanGapMs: 60, startPoints: 108_450, spreadMin: 0, spreadMax: 3, step: 2, exchange: false, contractSize: 100_000, currencyBase: 'EUR', currencyProfit: 'USD' },
  { name: 'GBPUSD', digits: 5, meanGapMs: 70, startPoints: 126_510, spreadMin: 1, spreadMax: 4, step: 3, exchange: false, contractSize: 100_000, currencyBase: 'GBP', currencyProfit: 'USD' },
  { name: 'USDJPY', digits: 3, meanGapMs: 70, startPoints: 151_204, spreadMin: 1, spreadMax: 3, step: 3, exchange: false, contractSize: 100_000, currencyBase: 'USD', currencyProfit: 'JPY' },
  { name: 'XAUUSD', digits: 2, meanGapMs: 40, startPoints: 265_012, spreadMin: 10, spreadMax: 35, step: 20, exchange: false, contractSize: 100, currencyBase: 'XAU', currencyProfit: 'USD' },
  { name: 'US500', digits: 2, meanGapMs: 50, startPoints: 590_025, spreadMin: 30, spreadMax: 60, step: 25, exchange: false, contractSize: 1, currencyBase: 'USD', currencyProfit: 'USD' },
  { name: 'BTCUSD', digits: 2, meanGapMs: 90, startPoints: 9_500_000, spreadMin: 1500, spreadMax: 3500, step: 800, exchange: false, contractSize: 1, currencyBase: 'BTC', currencyProfit: 'USD' },
  { name: 'USDCAD', digits: 5, meanGapMs: 90, startPoints: 139_520, spreadMin: 1, spreadMax: 5, step: 2, exchange: false, contractSize: 100_000, currencyBase: 'USD', currencyProfit: 'CAD' },
  { name: 'SBER', digits: 2, meanGapMs: 150, startPoints: 28_045, spreadMin: 1, spreadMax: 5, step: 2, exchange: true, contractSize: 10, currencyBase: 'RUB', currencyProfit: 'RUB' },
])

/** MQL5 tick flags. */
const BID = 2
const ASK = 4
const LAST = 8
const VOLUME = 16
const BUY = 32
const SELL = 64

/** The first tick's time: 2024-11-19 07:06:40 server time, a busy London morning. */
export const START_MSC = 1_732_000_000_000

export interface EaIdentity {
  index: number
  instanceId: string
  login: number
  server: string
  symbols: SymbolProfile[]
}

export interface EaPlan extends EaIdentity {
  /** Every durable message in the order the EA sends it. */
  messages: Outgoing[]
  ticks: number
  tickBatches: number
  deals: number
  snapshots: number
}

export function eaIdentity(w: WorkloadOptions, index: number): EaIdentity {
  const symbols: SymbolProfile[] = []
  for (let k = 0; k < w.symbolsPerEa; k++) symbols.push(SYMBOLS[(index + k) % SYMBOLS.length]!)
  return { index, instanceId: `bench-ea-${index}`, login: 5_000_100 + index, server: `BenchBroker-Live${index}`, symbols }
}

/** The ticks EA `index` sends: an even share of the total, the remainder to the first EAs. */
export function ticksOf(w: WorkloadOptions, index: number): number {
  const base = Math.floor(w.ticks / w.eas)
  return base + (index < w.ticks - base * w.eas ? 1 : 0)
}

/** xorshift32: fast and repeatable. */
class Random {
  #x: number
  constructor(seed: number) {
    this.#x = (seed >>> 0) || 0x9e3779b9
    for (let i = 0; i < 8; i++) this.next()
  }
  /** Uniform in [0, 1). */
  next(): number {
    let x = this.#x
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.#x = x >>> 0
    return this.#x / 0x100000000
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }
}

/** One symbol's tick stream. */
class SymbolTicks {
  readonly #p: SymbolProfile
  readonly #r: Random
  readonly #scale: number
  #time = START_MSC
  #bid: number
  #spread: number
  #sameMs = 0
  #last: number
  constructor(profile: SymbolProfile, seed: number) {
    this.#p = profile
    this.#r = new Random(seed)
    this.#scale = 10 ** profile.digits
    this.#bid = profile.startPoints
    this.#spread = profile.spreadMin
    this.#last = profile.startPoints
    // symbols of different EAs start at different moments of the session
    this.#time += this.#r.int(0, 3_600_000)
  }

  get lastTime(): number {
    return this.#time
  }

  get bidPrice(): number {
    return this.#bid / this.#scale
  }

  batch(n: number): Outgoing & { type: 'tick_batch' } {
    const p = this.#p
    const r = this.#r
    const time_msc = new Array<number>(n)
    const bid = new Array<number>(n)
    const ask = new Array<number>(n)
    const last = new Array<number>(n)
    const volume = new Array<number>(n)
    const volume_real = new Array<number>(n)
    const flags = new Array<number>(n)
    let firstIndex = 0
    for (let i = 0; i < n; i++) {
      if (r.next() >= 0.12) {
        // exponential gaps: the inter-arrival of a Poisson stream at the symbol's tick rate
        this.#time += 1 + Math.floor(-Math.log(1 - r.next()) * p.meanGapMs)
        this.#sameMs = 0
      }
      if (i === 0) firstIndex = this.#sameMs
      this.#sameMs++
      const oldBid = this.#bid
      const oldAsk = oldBid + this.#spread
      let f = 0
      const u = r.next()
      if (u < 0.7) {
        this.#bid = Math.max(1, this.#bid + r.int(-p.step, p.step))
        if (r.next() < 0.25) this.#spread = r.int(p.spreadMin, p.spreadMax)
        f = BID | ASK
      } else if (u < 0.85) {
        this.#bid = Math.max(1, this.#bid + r.int(-p.step, p.step))
        this.#spread = Math.max(p.spreadMin, oldAsk - this.#bid)
        f = this.#bid + this.#spread === oldAsk ? BID : BID | ASK
      } else {
        this.#spread = r.int(p.spreadMin, p.spreadMax)
        this.#bid = oldBid
        f = ASK
      }
      time_msc[i] = this.#time
      bid[i] = this.#bid / this.#scale
      ask[i] = (this.#bid + this.#spread) / this.#scale
      if (p.exchange) {
        this.#last = r.next() < 0.5 ? this.#bid : this.#bid + this.#spread
        const v = r.int(1, 100)
        last[i] = this.#last / this.#scale
        volume[i] = v
        volume_real[i] = v
        f |= LAST | VOLUME | (this.#last === this.#bid ? SELL : BUY)
      } else {
        last[i] = 0
        volume[i] = 0
        volume_real[i] = 0
      }
      flags[i] = f
    }
    const batch: Outgoing & { type: 'tick_batch' } = { type: 'tick_batch', symbol: p.name, time_msc, bid, ask, last, volume, volume_real, flags }
    if (firstIndex > 0) batch.first_index = firstIndex
    return batch
  }
}

/** Everything EA `index` sends, in order: symbol specs, then tick batches with deals and snapshots between them. */
export function planEa(w: WorkloadOptions, index: number): EaPlan {
  const id = eaIdentity(w, index)
  const streams = id.symbols.map((s, k) => new SymbolTicks(s, 0x51ed + index * 7919 + k * 104_729))
  const messages: Outgoing[] = []
  for (const s of id.symbols) {
    messages.push({
      type: 'symbol_spec', symbol: s.name, digits: s.digits, point: 1 / 10 ** s.digits, contract_size: s.contractSize,
      tick_size: 1 / 10 ** s.digits, currency_base: s.currencyBase, currency_profit: s.currencyProfit, currency_margin: s.currencyBase,
      volume_min: 0.01, volume_max: 100, volume_step: 0.01, description: `${s.name} (bench)`,
    } as Outgoing)
  }
  const total = ticksOf(w, index)
  const r = new Random(0xdea1 + index)
  let left = total
  let batches = 0
  let deals = 0
  let snapshots = 0
  let balance = 10_000
  while (left > 0) {
    const k = batches % streams.length
    const n = Math.min(w.batchTicks, left)
    messages.push(streams[k]!.batch(n))
    left -= n
    batches++
    const now = Math.max(...streams.map((s) => s.lastTime))
    if (w.dealEvery > 0 && batches % w.dealEvery === 0) {
      const ticket = 90_000_000 + index * 1_000_000 + deals
      const closing = deals % 2 === 1
      const profit = closing ? Math.round((r.next() - 0.45) * 4000) / 100 : 0
      balance += profit - 0.7
      messages.push({
        type: 'deal', ticket, order: ticket + 500_000, position_id: closing ? ticket - 1 : ticket, time_msc: now,
        deal_type: r.next() < 0.5 ? 0 : 1, entry: closing ? 1 : 0, symbol: id.symbols[k]!.name, volume: r.int(1, 100) / 100,
        price: streams[k]!.bidPrice, profit, commission: -0.35, swap: 0, fee: 0, magic: 20_241_119, reason: 3, comment: 'bench',
      } as Outgoing)
      deals++
    }
    if (w.snapshotEvery > 0 && batches % w.snapshotEvery === 0) {
      const floating = Math.round((r.next() - 0.5) * 6000) / 100
      messages.push({
        type: 'account_snapshot', time_msc: now + snapshots, balance, equity: balance + floating, margin: 216.9,
        free_margin: balance + floating - 216.9, margin_level: ((balance + floating) / 216.9) * 100, profit: floating,
        open_positions: 1, open_volume: 0.1,
      } as Outgoing)
      snapshots++
    }
  }
  return { ...id, messages, ticks: total, tickBatches: batches, deals, snapshots }
}

/** Totals of the whole workload, for checks against the database. */
export function totals(w: WorkloadOptions): { ticks: number; deals: number; snapshots: number; messages: number } {
  let ticks = 0
  let deals = 0
  let snapshots = 0
  let messages = 0
  for (let i = 0; i < w.eas; i++) {
    const n = ticksOf(w, i)
    const batches = Math.ceil(n / w.batchTicks)
    const d = w.dealEvery > 0 ? Math.floor(batches / w.dealEvery) : 0
    const s = w.snapshotEvery > 0 ? Math.floor(batches / w.snapshotEvery) : 0
    ticks += n
    deals += d
    snapshots += s
    messages += w.symbolsPerEa + batches + d + s
  }
  return { ticks, deals, snapshots, messages }
}
