/**
 * One write batch in one transaction: the rows of every stream in it and each stream's new
 * high-water sequence. Messages at or below a stream's stored high-water mark were committed
 * before (a replay after a reconnect or a crash) and are skipped, so every row is stored once.
 */
import type {
  AccountSnapshot,
  BarBatch,
  CommandAck,
  CommandResult,
  Deal,
  EaStatus,
  Log,
  OrderEvent,
  PositionsSnapshot,
  Signal,
  SymbolSpec,
} from '../../protocol/messages.js'
import {
  CHART_MODES,
  DEAL_ENTRIES,
  DEAL_REASONS,
  DEAL_TYPES,
  ORDER_STATES,
  ORDER_TYPES,
  POSITION_TYPES,
  TRADE_TRANSACTIONS,
} from '../../protocol/mt5.js'
import { EngineError, ErrorCodes } from '../../errors.js'
import type { Dialect, Queryable, Storage } from '../storage/types.js'
import type { CommandChange, RecordEntry, TickColumns, TickSegment, WriteBatch, WriteOutcome } from '../../workers/tasks.js'
import { applyAck, applyResult } from './commands.js'
import { highWater, setHighWater } from './streams.js'
import { markForRebuild } from './bars.js'
import { updateEquity } from './equity.js'
import { updateJournal } from './journal.js'
import { planMinuteBars, storeMinuteBars } from './tick-bars.js'

/** Whose market data a symbol is: an account's, on its trade server (docs/SECURITY.md, "Market data"). */
export interface SymbolOwner {
  accountId: number
  server: string
}

/** Symbol ids by account and name, filled only from committed transactions. */
export class SymbolCache {
  readonly #ids = new Map<string, number>()
  get(accountId: number, name: string): number | undefined {
    return this.#ids.get(`${accountId}\u0000${name}`)
  }
  set(accountId: number, name: string, id: number): void {
    if (this.#ids.size > 100_000) this.#ids.clear()
    this.#ids.set(`${accountId}\u0000${name}`, id)
  }
}

/**
 * Rows per multi-row tick INSERT on SQLite, largest first: a batch's ticks go in as statements of
 * 512 rows, the rest in 64, 8 and 1, so four prepared texts serve every batch size (9 x 512
 * parameters, far below SQLite's limit of 32766). Measured in bench/: 100 to 1000 rows per
 * statement cost the same within 3%; what counted was one statement per row (+40% CPU per tick).
 */
const TICK_STATEMENT_ROWS = [512, 64, 8, 1]

export interface WriteBatchOptions {
  /** The commit time stamped on rows that carry one. Default: now. */
  now?: number
  /**
   * Keep bars current with the ticks (src/db/sql/tick-bars.ts): M1 built here where it can be,
   * every other minute left to the aggregator; `rollUp` when timeframes above M1 are built too.
   * Default: no bars.
   */
  bars?: { rollUp: boolean }
}

export async function writeBatch(storage: Storage, batch: WriteBatch, symbols: SymbolCache, options: WriteBatchOptions = {}): Promise<WriteOutcome> {
  const now = options.now ?? Date.now()
  const learned: [number, string, number][] = []
  let began = 0
  const outcome = await storage.transaction(async (tx) => {
    began = performance.now()
    const resolveSymbol = async (owner: SymbolOwner, name: string): Promise<number> => {
      const known = symbols.get(owner.accountId, name) ?? learned.find(([a, n]) => a === owner.accountId && n === name)?.[2]
      if (known !== undefined) return known
      const id = await symbolId(tx, owner, name)
      learned.push([owner.accountId, name, id])
      return id
    }
    const hwm = new Map<number, number>()
    for (const s of batch.streams) {
      const stored = await highWater(tx, s.streamId, storage.dialect === 'postgres')
      // A batch that starts past the mark would move it over messages never stored, and an EA told
      // so by resume_seq would never resend them. Refused: a bug upstream becomes a failed write.
      if (s.fromSeq > stored + 1) {
        throw new EngineError(
          ErrorCodes.STREAM_GAP,
          `stream ${s.streamId}: batch starts at seq ${s.fromSeq} but the stored high-water mark is ${stored}; refusing to skip ${stored + 1}..${s.fromSeq - 1}`,
          { streamId: s.streamId, fromSeq: s.fromSeq, highWater: stored },
        )
      }
      hwm.set(s.streamId, stored)
    }
    const fresh = (streamId: number, seq: number) => seq > (hwm.get(streamId) ?? 0)

    let ticks = 0
    let records = 0
    let skipped = 0
    const commandChanges: CommandChange[] = []
    const write = async (entry: RecordEntry) => {
      if (!fresh(entry.streamId, entry.seq)) {
        skipped++
        return
      }
      const change = await writeRecord(tx, entry, resolveSymbol, now, options.bars ? barSymbols : undefined)
      if (change) commandChanges.push(change)
      if (entry.message.type === 'deal' && (entry.message.position_id as number) !== 0) positions.add(`${entry.accountId}:${entry.message.position_id as number}`)
      records++
    }
    // Symbol specs first: an EA sends a symbol's spec before its ticks, and the ticks' bars are
    // built with the chart mode and point the spec gives (written after them, it would change the
    // symbol under bars just built and send every minute of it back to be built again).
    const barSymbols = new Set<number>()
    /** `account:position` of the batch's new deals: their journal rows are computed again. */
    const positions = new Set<string>()
    for (const entry of batch.records) if (entry.message.type === 'symbol_spec') await write(entry)
    const segments: { segment: TickSegment; symbolId: number }[] = []
    for (const segment of batch.segments) {
      if (!fresh(segment.streamId, segment.seq)) {
        skipped++
        continue
      }
      segments.push({ segment, symbolId: await resolveSymbol(segment, segment.symbol) })
    }
    const minuteBars = { built: 0, fromTicks: 0, readBack: 0 }
    if (segments.length > 0) {
      // the plan reads the newest stored tick of each symbol, so it comes before the insert
      const plan = options.bars ? await planMinuteBars(tx, storage.dialect, batch.ticks!, segments, (s) => ordinalsOf(batch.ticks!, s)) : undefined
      ticks += await insertTicks(tx, storage.dialect, batch.ticks!, segments)
      if (plan) {
        for (const id of await storeMinuteBars(tx, plan, options.bars!.rollUp)) barSymbols.add(id)
        for (const s of plan.symbols) s.bars ? minuteBars.built++ : minuteBars.fromTicks++
        minuteBars.readBack = plan.readBack
      }
    }
    for (const { segment } of segments) if (segment.gap) await recordGap(tx, segment, now)
    for (const entry of batch.records) if (entry.message.type !== 'symbol_spec') await write(entry)
    if (positions.size > 0) await updateJournal(tx, [...positions].sort().map((k) => k.split(':').map(Number) as [number, number]))
    for (const r of batch.rejected) {
      if (!fresh(r.streamId, r.seq)) continue
      await tx.query(
        `insert into notifications (created_at, level, kind, account_id, stream_id, title, body, data)
         values ($1, 'error', 'message_rejected', $2, $3, $4, $5, $6)`,
        [now, r.accountId, r.streamId, `message ${r.seq} refused: ${r.code}`, r.message, JSON.stringify({ seq: r.seq, code: r.code })],
      )
    }
    const committed: { streamId: number; seq: number }[] = []
    for (const s of batch.streams) {
      const seq = Math.max(s.toSeq, hwm.get(s.streamId) ?? 0)
      if (seq > (hwm.get(s.streamId) ?? 0)) await setHighWater(tx, s.streamId, seq, now)
      committed.push({ streamId: s.streamId, seq })
    }
    return { committed, counts: { ticks, records, skipped }, commandChanges, barSymbols: [...barSymbols].sort((a, b) => a - b), minuteBars, commitMs: 0 }
  })
  // from BEGIN (not from the call: the transaction may have queued behind another) to COMMIT
  outcome.commitMs = performance.now() - began
  for (const [accountId, name, id] of learned) symbols.set(accountId, name, id)
  return outcome
}

async function symbolId(tx: Queryable, owner: SymbolOwner, name: string): Promise<number> {
  await tx.query('insert into symbols (account_id, server, name) values ($1, $2, $3) on conflict (account_id, name) do nothing', [
    owner.accountId,
    owner.server,
    name,
  ])
  const [row] = await tx.query<{ id: number }>('select id from symbols where account_id = $1 and name = $2', [owner.accountId, name])
  return Number(row!.id)
}

/**
 * Inserts the ticks of every segment. Several ticks may share a millisecond: `seq` numbers them
 * within it, from the batch's `first_index` for its first millisecond (the EA's cursor) and from 0
 * after. The same tick sent twice lands on the same key and is stored once.
 *
 * PostgreSQL: one binary COPY of all segments, the fastest way in (COPY cannot skip a key stored
 * before, so when it fails, as when a second EA streams the same symbol, the segments go in again
 * with INSERT ... ON CONFLICT DO NOTHING). SQLite: multi-row INSERTs of prepared statements.
 */
async function insertTicks(tx: Queryable, dialect: Dialect, cols: TickColumns, segments: { segment: TickSegment; symbolId: number }[]): Promise<number> {
  let count = 0
  for (const { segment } of segments) count += segment.count
  if (dialect === 'postgres' && tx.copyIn) {
    try {
      await tx.copyIn(TICK_COPY, binaryTicks(cols, segments, count))
      return count
    } catch {
      // a key stored before (or any other refusal): the inserts below skip duplicates and report real errors
    }
  }
  if (dialect === 'postgres') {
    for (const { segment, symbolId } of segments) await insertSegment(tx, symbolId, cols, segment)
    return count
  }
  // SQLite: the segments' rows one after another (symbol and ordinal are per row anyway), in
  // statements of TICK_STATEMENT_ROWS
  const at = new Int32Array(count)
  const symbol = new Int32Array(count)
  const ordinal = new Int32Array(count)
  let k = 0
  for (const { segment, symbolId } of segments) {
    const ordinals = ordinalsOf(cols, segment)
    for (let r = 0; r < segment.count; r++, k++) {
      at[k] = segment.start + r
      symbol[k] = symbolId
      ordinal[k] = ordinals[r]!
    }
  }
  for (let from = 0, n = 0; from < count; from += n) {
    n = TICK_STATEMENT_ROWS.find((rows) => rows <= count - from)!
    const params = new Array(n * 9)
    for (let r = 0, p = 0; r < n; r++) {
      const i = at[from + r]!
      params[p++] = symbol[from + r]
      params[p++] = ordinal[from + r]
      params[p++] = cols.time_msc[i]
      params[p++] = cols.bid[i]
      params[p++] = cols.ask[i]
      params[p++] = cols.last[i]
      params[p++] = cols.volume[i]
      params[p++] = cols.volume_real[i]
      params[p++] = cols.flags[i]
    }
    await tx.query(tickInsertSql(n), params)
  }
  return count
}

/** The ordinal of each tick of the segment within its millisecond. */
function ordinalsOf(cols: TickColumns, seg: TickSegment): Int32Array {
  const ordinals = new Int32Array(seg.count)
  let ordinal = seg.firstIndex
  for (let i = seg.start, end = seg.start + seg.count; i < end; i++) {
    if (i > seg.start && cols.time_msc[i] !== cols.time_msc[i - 1]) ordinal = 0
    ordinals[i - seg.start] = ordinal++
  }
  return ordinals
}

const TICK_COPY = 'copy ticks (symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags) from stdin with (format binary)'
/** Field count, then length and value of int4, int4, int8, float8 x 3, int8, float8, int4. */
const COPY_ROW_BYTES = 2 + 9 * 4 + 4 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 4
const COPY_SIGNATURE = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]

/** PostgreSQL's binary COPY format (big-endian fields with lengths), straight from the columns. */
function binaryTicks(cols: TickColumns, segments: { segment: TickSegment; symbolId: number }[], count: number): Uint8Array {
  const bytes = new Uint8Array(19 + count * COPY_ROW_BYTES + 2)
  bytes.set(COPY_SIGNATURE, 0) // then 4 bytes of flags and 4 of header extension, all zero
  const v = new DataView(bytes.buffer)
  let p = 19
  const int8 = (x: number) => {
    // integers up to 2^53 without BigInt: high and low 32 bits
    v.setInt32(p, 8)
    v.setInt32(p + 4, Math.floor(x / 4294967296))
    v.setUint32(p + 8, x >>> 0)
    p += 12
  }
  const float8 = (x: number) => {
    v.setInt32(p, 8)
    v.setFloat64(p + 4, x)
    p += 12
  }
  const int4 = (x: number) => {
    v.setInt32(p, 4)
    v.setInt32(p + 4, x)
    p += 8
  }
  for (const { segment: seg, symbolId } of segments) {
    const ordinals = ordinalsOf(cols, seg)
    for (let i = seg.start, end = seg.start + seg.count; i < end; i++) {
      v.setInt16(p, 9)
      p += 2
      int4(symbolId)
      int4(ordinals[i - seg.start]!)
      int8(cols.time_msc[i]!)
      float8(cols.bid[i]!)
      float8(cols.ask[i]!)
      float8(cols.last[i]!)
      int8(cols.volume[i]!)
      float8(cols.volume_real[i]!)
      int4(cols.flags[i]! | 0)
    }
  }
  v.setInt16(p, -1)
  return bytes
}

/** PostgreSQL, when COPY refused the batch: one segment, keys stored before skipped. */
async function insertSegment(tx: Queryable, symbolId: number, cols: TickColumns, seg: TickSegment): Promise<void> {
  const end = seg.start + seg.count
  const slice = (a: Float64Array) => Array.from(a.subarray(seg.start, end))
  await tx.query(
    `insert into ticks (symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags)
     select $1, * from unnest($2::int[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::bigint[], $8::float8[], $9::int[])
     on conflict do nothing`,
    [symbolId, Array.from(ordinalsOf(cols, seg)), slice(cols.time_msc), slice(cols.bid), slice(cols.ask), slice(cols.last),
      slice(cols.volume), slice(cols.volume_real), Array.from(cols.flags.subarray(seg.start, end), (f) => f | 0)],
  )
}

const tickInsertTexts = new Map<number, string>()
function tickInsertSql(rows: number): string {
  let text = tickInsertTexts.get(rows)
  if (text === undefined) {
    const tuples: string[] = []
    for (let r = 0; r < rows; r++) {
      const b = r * 9
      tuples.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9})`)
    }
    text = `insert into ticks (symbol_id, seq, time_msc, bid, ask, last, volume, volume_real, flags) values ${tuples.join(', ')} on conflict do nothing`
    tickInsertTexts.set(rows, text)
  }
  return text
}

async function recordGap(tx: Queryable, seg: TickSegment, now: number): Promise<void> {
  const gap = seg.gap!
  await tx.query(
    `insert into notifications (created_at, level, kind, stream_id, title, body, data)
     values ($1, 'warning', 'tick_gap', $2, $3, $4, $5)`,
    [
      now,
      seg.streamId,
      `${gap.dropped} ${seg.symbol} ticks dropped by the EA`,
      `The EA's tick buffer overflowed between ${gap.from_msc} and ${gap.to_msc} (server time, ms).`,
      JSON.stringify({ symbol: seg.symbol, seq: seg.seq, ...gap }),
    ],
  )
}

type SymbolResolver = (owner: SymbolOwner, name: string) => Promise<number>

/** `barSymbols`, when bars are built: symbols whose bars a record put on the aggregator's work list go in. */
async function writeRecord(tx: Queryable, e: RecordEntry, symbol: SymbolResolver, now: number, barSymbols: Set<number> | undefined): Promise<CommandChange | undefined> {
  const m = e.message
  switch (m.type) {
    case 'symbol_spec':
      await writeSymbolSpec(tx, e, m as unknown as SymbolSpec, now, barSymbols)
      return undefined
    case 'bar_batch':
      await writeBars(tx, await symbol(e, (m as unknown as BarBatch).symbol), m as unknown as BarBatch)
      return undefined
    case 'deal':
      await writeDeal(tx, e, m as unknown as Deal, symbol)
      return undefined
    case 'order_event':
      await writeOrderEvent(tx, e, m as unknown as OrderEvent, symbol)
      return undefined
    case 'positions_snapshot':
      await writePositions(tx, e, m as unknown as PositionsSnapshot, symbol)
      return undefined
    case 'account_snapshot':
      await writeAccountSnapshot(tx, e, m as unknown as AccountSnapshot)
      return undefined
    case 'ea_status':
      await writeStatus(tx, e, m as unknown as EaStatus)
      return undefined
    case 'signal':
      await writeSignal(tx, e, m as unknown as Signal, symbol)
      return undefined
    case 'log':
      await writeLog(tx, e, m as unknown as Log)
      return undefined
    case 'command_ack':
      return applyAck(tx, e.streamId, m as unknown as CommandAck, now)
    case 'command_result':
      return applyResult(tx, e.streamId, m as unknown as CommandResult, now)
    default:
      throw new Error(`no writer for message type ${m.type}`)
  }
}

// An absent chart_mode keeps the stored one: a bridge older than the field must not turn an
// exchange symbol's 'last' back into 'bid'. A new symbol starts as 'bid', the column's default.
// What its bars are built from (chart mode) or counted in (point, digits) changing makes every
// bar of its stored ticks wrong: when bars are built, all its minutes go on the work list.
async function writeSymbolSpec(tx: Queryable, owner: SymbolOwner, s: SymbolSpec, now: number, barSymbols: Set<number> | undefined): Promise<void> {
  const [before] = barSymbols
    ? await tx.query<{ id: number; chart_mode: string; point: number | null; digits: number | null }>(
        'select id, chart_mode, point, digits from symbols where account_id = $1 and name = $2',
        [owner.accountId, s.symbol],
      )
    : []
  await tx.query(
    `insert into symbols (account_id, server, name, description, digits, point, contract_size, tick_size, tick_value, volume_min,
                          volume_max, volume_step, currency_base, currency_profit, currency_margin, updated_at, chart_mode)
     values ($16, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, coalesce($17, 'bid'))
     on conflict (account_id, name) do update set
       description = excluded.description, digits = excluded.digits, point = excluded.point,
       contract_size = excluded.contract_size, tick_size = excluded.tick_size, tick_value = excluded.tick_value,
       volume_min = excluded.volume_min, volume_max = excluded.volume_max, volume_step = excluded.volume_step,
       currency_base = excluded.currency_base, currency_profit = excluded.currency_profit,
       currency_margin = excluded.currency_margin, updated_at = excluded.updated_at,
       chart_mode = coalesce($17, symbols.chart_mode)`,
    [owner.server, s.symbol, s.description ?? null, s.digits, s.point, s.contract_size ?? null, s.tick_size ?? null,
      s.tick_value ?? null, s.volume_min ?? null, s.volume_max ?? null, s.volume_step ?? null,
      s.currency_base ?? null, s.currency_profit ?? null, s.currency_margin ?? null, now, owner.accountId,
      s.chart_mode === undefined ? null : CHART_MODES[s.chart_mode]],
  )
  if (before === undefined) return
  const [after] = await tx.query<{ chart_mode: string; point: number | null; digits: number | null }>(
    'select chart_mode, point, digits from symbols where id = $1',
    [before.id],
  )
  const same = (a: number | null, b: number | null) => (a === null ? null : Number(a)) === (b === null ? null : Number(b))
  if (after!.chart_mode === before.chart_mode && same(after!.point, before.point) && same(after!.digits, before.digits)) return
  const id = Number(before.id)
  if ((await markForRebuild(tx, [id], Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) > 0) barSymbols!.add(id)
}

async function writeBars(tx: Queryable, symbolId: number, b: BarBatch): Promise<void> {
  for (let i = 0; i < b.time.length; i++) {
    await tx.query(
      `insert into ea_bars (symbol_id, timeframe, open_time_msc, open, high, low, close, tick_volume, real_volume, spread)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       on conflict (symbol_id, timeframe, open_time_msc) do update set
         open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
         tick_volume = excluded.tick_volume, real_volume = excluded.real_volume, spread = excluded.spread`,
      [symbolId, b.timeframe, b.time[i], b.open[i], b.high[i], b.low[i], b.close[i], b.tick_volume[i], b.real_volume[i], b.spread[i]],
    )
  }
}

async function writeDeal(tx: Queryable, e: RecordEntry, d: Deal, symbol: SymbolResolver): Promise<void> {
  const symbolId = d.symbol === '' ? null : await symbol(e, d.symbol)
  await tx.query(
    `insert into deals (account_id, ticket, order_ticket, position_id, symbol_id, stream_id, time_msc, type, entry, volume,
                        price, profit, commission, swap, fee, sl, tp, magic, reason, comment, external_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
     on conflict (account_id, ticket) do nothing`,
    [e.accountId, d.ticket, d.order, d.position_id, symbolId, e.streamId, d.time_msc, DEAL_TYPES[d.deal_type],
      DEAL_ENTRIES[d.entry], d.volume, d.price, d.profit, d.commission, d.swap, d.fee, d.sl ?? null, d.tp ?? null,
      d.magic, DEAL_REASONS[d.reason] ?? null, d.comment ?? null, d.external_id ?? null],
  )
}

async function writeOrderEvent(tx: Queryable, e: RecordEntry, o: OrderEvent, symbol: SymbolResolver): Promise<void> {
  const symbolId = o.symbol === '' ? null : await symbol(e, o.symbol)
  const type = ORDER_TYPES[o.order_type]
  const state = ORDER_STATES[o.state]
  await tx.query(
    `insert into order_events (account_id, stream_id, time_msc, event, order_ticket, position_id, symbol_id, order_type,
                               order_state, volume, price, sl, tp)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [e.accountId, e.streamId, o.time_msc, o.event === undefined ? 'order_update' : TRADE_TRANSACTIONS[o.event], o.ticket,
      o.position_id ?? 0, symbolId, type, state, o.volume_current, o.price_open, o.sl ?? null, o.tp ?? null],
  )
  await tx.query(
    `insert into orders (account_id, ticket, position_id, symbol_id, stream_id, type, state, time_setup_msc,
                         volume_initial, volume_current, price_open, sl, tp, magic, comment)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     on conflict (account_id, ticket) do update set
       position_id = excluded.position_id, state = excluded.state, volume_current = excluded.volume_current,
       price_open = excluded.price_open, sl = excluded.sl, tp = excluded.tp, comment = excluded.comment`,
    [e.accountId, o.ticket, o.position_id ?? 0, symbolId, e.streamId, type, state, o.time_msc, o.volume_initial,
      o.volume_current, o.price_open, o.sl ?? null, o.tp ?? null, o.magic ?? 0, o.comment ?? null],
  )
}

/** Upserts every listed position; open positions the snapshot does not list are closed. */
async function writePositions(tx: Queryable, e: RecordEntry, s: PositionsSnapshot, symbol: SymbolResolver): Promise<void> {
  for (const p of s.positions) {
    await tx.query(
      `insert into positions (account_id, position_id, ticket, symbol_id, stream_id, type, magic, volume, price_open,
                              price_current, sl, tp, profit, swap, time_msc, time_update_msc, comment, state)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'open')
       on conflict (account_id, position_id) do update set
         ticket = excluded.ticket, volume = excluded.volume, price_current = excluded.price_current,
         sl = excluded.sl, tp = excluded.tp, profit = excluded.profit, swap = excluded.swap,
         time_update_msc = excluded.time_update_msc, comment = excluded.comment, state = 'open', closed_time_msc = null
       where positions.time_update_msc <= excluded.time_update_msc`,
      [e.accountId, p.identifier, p.ticket, await symbol(e, p.symbol), e.streamId, POSITION_TYPES[p.position_type],
        p.magic, p.volume, p.price_open, p.price_current, p.sl, p.tp, p.profit, p.swap, p.time_msc, s.time_msc,
        p.comment ?? null],
    )
  }
  await tx.query(
    `update positions set state = 'closed', closed_time_msc = $2, time_update_msc = $2
      where account_id = $1 and state = 'open' and time_update_msc < $2`,
    [e.accountId, s.time_msc],
  )
}

async function writeAccountSnapshot(tx: Queryable, e: RecordEntry, a: AccountSnapshot): Promise<void> {
  const inserted = await tx.query(
    `insert into account_snapshots (account_id, time_msc, balance, equity, margin, free_margin, margin_level, profit,
                                    open_positions, open_volume, stream_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     on conflict (account_id, time_msc) do nothing
     returning time_msc`,
    [e.accountId, a.time_msc, a.balance, a.equity, a.margin, a.free_margin, a.margin_level, a.profit, a.open_positions,
      a.open_volume, e.streamId],
  )
  // a snapshot stored before (another EA of the account sent the same time) is in the curve already
  if (inserted.length > 0) await updateEquity(tx, e.accountId, a)
}

async function writeStatus(tx: Queryable, e: RecordEntry, s: EaStatus): Promise<void> {
  await tx.query(
    `insert into ea_heartbeats (stream_id, time_msc, state, trade_allowed, terminal_connected, last_error, message,
                                queue_depth, dropped_ticks)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (stream_id, time_msc) do nothing`,
    [e.streamId, s.time_msc, s.state, s.terminal_trade_allowed && s.ea_trade_allowed ? 1 : 0, s.connected === false ? 0 : 1,
      s.last_error ?? null, s.message ?? null, s.queue_depth, s.dropped_ticks],
  )
}

async function writeSignal(tx: Queryable, e: RecordEntry, s: Signal, symbol: SymbolResolver): Promise<void> {
  await tx.query(
    `insert into signals (stream_id, signal_uid, account_id, symbol_id, time_msc, timeframe, direction, confidence, price,
                          strategy, reasoning)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     on conflict (stream_id, signal_uid) do nothing`,
    [e.streamId, s.signal_id ?? `seq:${e.seq}`, e.accountId, await symbol(e, s.symbol), s.time_msc,
      s.timeframe ?? null, s.signal_type, s.confidence ?? null, s.price, s.strategy ?? null,
      JSON.stringify({ reason: s.reason ?? null, metadata: s.metadata ?? {} })],
  )
}

async function writeLog(tx: Queryable, e: RecordEntry, l: Log): Promise<void> {
  await tx.query(
    `insert into iteration_logs (stream_id, time_msc, level, message) values ($1, $2, $3, $4)`,
    [e.streamId, l.time_msc, l.level === 'warn' ? 'warning' : l.level, l.message],
  )
}
