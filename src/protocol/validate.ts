/**
 * Turns decoded frames into typed messages, or throws a ProtocolError naming the field at fault
 * (docs/PROTOCOL.md, "Messages" and "Errors"). Runs on the main thread for every frame: the tick
 * and bar columns are checked with plain loops and no allocation; strings of the error message
 * are built only once something is wrong.
 *
 * Unknown fields are ignored and left out of the result; nil counts as absent.
 */
import { Buffer } from 'node:buffer'
import { ProtocolError } from './codec.js'
import {
  PROTOCOL_VERSION,
  type AccountSnapshot,
  type BarBatch,
  type CommandAck,
  type CommandResult,
  type CommandSend,
  type CommandTarget,
  type DashboardHello,
  type DashboardMessage,
  type Deal,
  type DurableMessage,
  type EaHello,
  type EaMessage,
  type EaStatus,
  type Goodbye,
  type HelloAccount,
  type HelloEa,
  type Log,
  type NotificationsRead,
  type QueryMessage,
  type SqlMessage,
  type SubscribeMessage,
  type OrderEvent,
  type PositionRow,
  type PositionsSnapshot,
  type Signal,
  type SymbolSpec,
  type TickBatch,
  COMMAND_ACK_STATUSES,
  COMMAND_TYPES,
  EA_LOG_LEVELS,
  EA_STATES,
  ProtocolErrors,
  SIGNAL_TYPES,
} from './messages.js'
import { limits, type ProtocolLimits } from './limits.js'
import {
  CHART_MODES,
  DEAL_ENTRIES,
  DEAL_REASONS,
  DEAL_TYPES,
  MARGIN_MODES,
  ORDER_STATES,
  ORDER_TYPES,
  POSITION_TYPES,
  TIMEFRAMES,
  TRADE_MODES,
  TRADE_TRANSACTIONS,
} from './mt5.js'

// Importers of these from here predate limits.ts and mt5.ts.
export { limits, welcomeLimits, type ProtocolLimits } from './limits.js'
export { MARGIN_MODES, TRADE_MODES } from './mt5.js'

/** The EA message types that carry `seq` and are stored and acknowledged. */
export const durableTypes: ReadonlySet<DurableMessage['type']> = new Set<DurableMessage['type']>([
  'symbol_spec',
  'tick_batch',
  'bar_batch',
  'deal',
  'order_event',
  'positions_snapshot',
  'account_snapshot',
  'ea_status',
  'signal',
  'log',
  'command_ack',
  'command_result',
])

export function isDurable(message: EaMessage): message is DurableMessage {
  return durableTypes.has(message.type as DurableMessage['type'])
}

/**
 * Parses the first message of a connection, which must be a `hello` (HELLO_REQUIRED otherwise);
 * its `role` says which kind. A `protocol` other than PROTOCOL_VERSION is UNSUPPORTED_PROTOCOL.
 */
export function parseHello(value: unknown, lim: ProtocolLimits = limits): EaHello | DashboardHello {
  const v = asMessage(value)
  if (v.type !== 'hello') {
    const got = typeof v.type === 'string' ? `"${clip(v.type)}"` : describe(v.type)
    throw new ProtocolError(ProtocolErrors.HELLO_REQUIRED, `the first message must be a hello, got type ${got}`, 'type')
  }
  checkProtocol(v)
  if (v.role === 'ea') return parseEaHello(v, lim)
  if (v.role === 'dashboard') return parseDashboardHello(v, lim)
  throw bad('', 'role', `must be "ea" or "dashboard", got ${describe(v.role)}`)
}

/**
 * Parses one EA message. A ProtocolError from a message with a valid `seq` (other than hello and
 * goodbye) carries that seq: the message is then consumed (recorded and acknowledged).
 */
export function parseEaMessage(value: unknown, lim: ProtocolLimits = limits): EaMessage {
  const v = asMessage(value)
  const type = v.type
  try {
    if (typeof type !== 'string') {
      throw new ProtocolError(ProtocolErrors.BAD_MESSAGE, `type: missing or not a string (got ${describe(type)})`, 'type')
    }
    const parse = eaParsers.get(type)
    if (parse === undefined) {
      throw new ProtocolError(ProtocolErrors.UNKNOWN_TYPE, `type: "${clip(type)}" is not an EA message type`, 'type')
    }
    return parse(v, lim)
  } catch (err) {
    if (err instanceof ProtocolError && type !== 'hello' && type !== 'goodbye' && isSeq(v.seq)) err.seq = v.seq
    throw err
  }
}

/** Parses one dashboard message. A ProtocolError carries the message's `request_id` when it had one. */
export function parseDashboardMessage(value: unknown, lim: ProtocolLimits = limits): DashboardMessage {
  const v = asMessage(value)
  const type = v.type
  try {
    if (typeof type !== 'string') {
      throw new ProtocolError(ProtocolErrors.BAD_MESSAGE, `type: missing or not a string (got ${describe(type)})`, 'type')
    }
    if (type === 'hello') {
      checkProtocol(v)
      return parseDashboardHello(v, lim)
    }
    if (type === 'command_send') return parseCommandSend(v, lim)
    if (type === 'query') return parseQuery(v, lim)
    if (type === 'sql') return parseSql(v, lim)
    if (type === 'subscribe') return parseSubscribe(v, lim)
    if (type === 'unsubscribe') return { type, request_id: reqId(v, 'request_id', '', lim), subscription_id: reqInt(v, 'subscription_id', '', 1, MAX_SAFE) }
    if (type === 'notifications_read') return parseNotificationsRead(v, lim)
    throw new ProtocolError(ProtocolErrors.UNKNOWN_TYPE, `type: "${clip(type)}" is not a dashboard message type`, 'type')
  } catch (err) {
    const id = v.request_id
    if (err instanceof ProtocolError && typeof id === 'string' && id.length > 0 && !tooLong(id, lim.maxIdBytes)) {
      err.requestId = id
    }
    throw err
  }
}

/**
 * Whether an EA session goes on after refusing `value` with `err` (PROTOCOL.md 3.5): yes when the
 * message is consumed (it had a valid seq) or cannot have been durable (an unknown type, or a
 * goodbye, without seq). Otherwise the engine cannot tell which seq it meant: close 4000.
 */
export function eaSessionContinues(err: ProtocolError, value: unknown): boolean {
  if (err.seq !== undefined) return true
  if (err.code === ProtocolErrors.BAD_FRAME) return false
  return err.code === ProtocolErrors.UNKNOWN_TYPE || (isMap(value) && value.type === 'goodbye')
}

// ---------------------------------------------------------------------------------------------
// Messages

type Fields = Record<string, unknown>
type Parser = (v: Fields, lim: ProtocolLimits) => EaMessage

const eaParsers = new Map<string, Parser>([
  ['hello', (v, lim) => (checkProtocol(v), parseEaHello(v, lim))],
  ['symbol_spec', parseSymbolSpec],
  ['tick_batch', parseTickBatch],
  ['bar_batch', parseBarBatch],
  ['deal', parseDeal],
  ['order_event', parseOrderEvent],
  ['positions_snapshot', parsePositionsSnapshot],
  ['account_snapshot', parseAccountSnapshot],
  ['ea_status', parseEaStatus],
  ['signal', parseSignal],
  ['log', parseLog],
  ['command_ack', parseCommandAck],
  ['command_result', parseCommandResult],
  ['goodbye', parseGoodbye],
])

/** Any integer but ours is another version (PROTOCOL.md 3.1), 0 and negatives included; only a non-integer is BAD_FIELD. */
function checkProtocol(v: Fields): void {
  const protocol = reqInt(v, 'protocol', '', -MAX_SAFE, MAX_SAFE)
  if (protocol !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      ProtocolErrors.UNSUPPORTED_PROTOCOL,
      `protocol: this engine speaks protocol ${PROTOCOL_VERSION}, the client asked for ${protocol}`,
      'protocol',
    )
  }
}

function parseEaHello(v: Fields, lim: ProtocolLimits): EaHello {
  if (v.role !== 'ea') throw bad('', 'role', `must be "ea", got ${describe(v.role)}`)
  const token = reqStr(v, 'token', '', 1, lim.maxTokenBytes)
  const instanceId = reqId(v, 'instance_id', '', lim)
  const a = reqMap(v, 'account', '')
  const account: HelloAccount = {
    login: reqInt(a, 'login', 'account.', 1, MAX_SAFE),
    server: reqStr(a, 'server', 'account.', 1, lim.maxNameBytes),
  }
  put(account, 'company', optStr(a, 'company', 'account.', 0, lim.maxNameBytes))
  put(account, 'currency', optStr(a, 'currency', 'account.', 0, lim.maxNameBytes))
  put(account, 'leverage', optInt(a, 'leverage', 'account.', 1, INT32_MAX))
  put(account, 'margin_mode', optCode(a, 'margin_mode', 'account.', MARGIN_MODES, 'ACCOUNT_MARGIN_MODE'))
  put(account, 'trade_mode', optCode(a, 'trade_mode', 'account.', TRADE_MODES, 'ACCOUNT_TRADE_MODE'))
  // UTC-12:00 .. UTC+14:00, the offsets that exist
  put(account, 'server_utc_offset_s', optInt(a, 'server_utc_offset_s', 'account.', -43_200, 50_400))
  const e = reqMap(v, 'ea', '')
  const ea: HelloEa = { name: reqStr(e, 'name', 'ea.', 1, lim.maxNameBytes) }
  put(ea, 'version', optStr(e, 'version', 'ea.', 0, lim.maxNameBytes))
  put(ea, 'magic', optInt(e, 'magic', 'ea.', -MAX_SAFE, MAX_SAFE))
  put(ea, 'symbol', optStr(e, 'symbol', 'ea.', 1, lim.maxSymbolBytes))
  put(ea, 'timeframe', optEnum(e, 'timeframe', 'ea.', TIMEFRAMES))
  put(ea, 'strategy', optStr(e, 'strategy', 'ea.', 0, lim.maxNameBytes))
  const out: EaHello = {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    role: 'ea',
    token,
    instance_id: instanceId,
    account,
    ea,
  }
  const b = optMap(v, 'bridge', '')
  if (b !== undefined) {
    out.bridge = {
      name: reqStr(b, 'name', 'bridge.', 1, lim.maxNameBytes),
      version: reqStr(b, 'version', 'bridge.', 0, lim.maxNameBytes),
    }
  }
  put(out, 'terminal_build', optInt(v, 'terminal_build', '', 0, INT32_MAX))
  put(out, 'last_acked_seq', optInt(v, 'last_acked_seq', '', 0, MAX_SAFE))
  return out
}

function parseDashboardHello(v: Fields, lim: ProtocolLimits): DashboardHello {
  if (v.role !== 'dashboard') throw bad('', 'role', `must be "dashboard", got ${describe(v.role)}`)
  return {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    role: 'dashboard',
    token: reqStr(v, 'token', '', 1, lim.maxTokenBytes),
  }
}

function parseSymbolSpec(v: Fields, lim: ProtocolLimits): SymbolSpec {
  const out: SymbolSpec = {
    type: 'symbol_spec',
    seq: reqSeq(v),
    symbol: reqStr(v, 'symbol', '', 1, lim.maxSymbolBytes),
    digits: reqInt(v, 'digits', '', 0, 16),
    point: reqNum(v, 'point', '', Number.MIN_VALUE),
  }
  put(out, 'contract_size', optNum(v, 'contract_size', '', 0))
  put(out, 'tick_size', optNum(v, 'tick_size', '', 0))
  put(out, 'tick_value', optNum(v, 'tick_value', '', 0))
  put(out, 'currency_base', optStr(v, 'currency_base', '', 0, lim.maxNameBytes))
  put(out, 'currency_profit', optStr(v, 'currency_profit', '', 0, lim.maxNameBytes))
  put(out, 'currency_margin', optStr(v, 'currency_margin', '', 0, lim.maxNameBytes))
  put(out, 'volume_min', optNum(v, 'volume_min', '', 0))
  put(out, 'volume_max', optNum(v, 'volume_max', '', 0))
  put(out, 'volume_step', optNum(v, 'volume_step', '', 0))
  put(out, 'description', optStr(v, 'description', '', 0, lim.maxTextBytes))
  put(out, 'chart_mode', optCode(v, 'chart_mode', '', CHART_MODES, 'SYMBOL_CHART_MODE'))
  return out
}

function parseTickBatch(v: Fields, lim: ProtocolLimits): TickBatch {
  const seq = reqSeq(v)
  const symbol = reqStr(v, 'symbol', '', 1, lim.maxSymbolBytes)
  const max = lim.maxBatchTicks
  const timeMsc = column(v, 'time_msc', 'time_msc', max, -1)
  const n = timeMsc.length
  const bid = column(v, 'bid', 'time_msc', max, n)
  const ask = column(v, 'ask', 'time_msc', max, n)
  const last = column(v, 'last', 'time_msc', max, n)
  const volume = column(v, 'volume', 'time_msc', max, n)
  const volumeReal = column(v, 'volume_real', 'time_msc', max, n)
  const flags = column(v, 'flags', 'time_msc', max, n)
  timeColumn(timeMsc, 'time_msc')
  for (let i = 1; i < n; i++) {
    // the index of a tick within its millisecond is counted in this order
    if ((timeMsc[i] as number) < (timeMsc[i - 1] as number)) {
      throw bad(
        '',
        `time_msc[${i}]`,
        `ticks must be in time order, got ${timeMsc[i] as number} after ${timeMsc[i - 1] as number}`,
      )
    }
  }
  priceColumn(bid, 'bid')
  priceColumn(ask, 'ask')
  priceColumn(last, 'last')
  uintColumn(volume, 'volume')
  priceColumn(volumeReal, 'volume_real')
  for (let i = 0; i < n; i++) {
    const x = flags[i] as number
    if (x >>> 0 !== x) throw bad('', `flags[${i}]`, `must be an integer 0 .. 2^32-1, got ${describe(x)}`)
  }
  const out: TickBatch = {
    type: 'tick_batch',
    seq,
    symbol,
    time_msc: timeMsc as number[],
    bid: bid as number[],
    ask: ask as number[],
    last: last as number[],
    volume: volume as number[],
    volume_real: volumeReal as number[],
    flags: flags as number[],
  }
  const firstIndex = optInt(v, 'first_index', '', 0, MAX_SAFE)
  if (firstIndex !== undefined) {
    // Storage numbers the ticks of one millisecond in a 32-bit column (PostgreSQL int4): the last
    // tick of this batch's first millisecond must fit, or it would wrap onto a stored tick's key.
    let run = 1
    while (run < n && timeMsc[run] === timeMsc[0]) run++
    if (firstIndex > MAX_TICK_INDEX - run + 1) {
      throw bad('', 'first_index', `with ${run} ticks at time_msc[0] must be at most ${MAX_TICK_INDEX - run + 1} (tick indexes within a millisecond are stored up to 2^31-1), got ${firstIndex}`)
    }
    out.first_index = firstIndex
  }
  const g = optMap(v, 'gap', '')
  if (g !== undefined) {
    const gap = {
      dropped: reqInt(g, 'dropped', 'gap.', 1, MAX_SAFE),
      from_msc: reqInt(g, 'from_msc', 'gap.', 1, MAX_SAFE),
      to_msc: reqInt(g, 'to_msc', 'gap.', 1, MAX_SAFE),
    }
    if (gap.to_msc < gap.from_msc) {
      throw bad('gap.', 'to_msc', `must not be before from_msc (${gap.from_msc}), got ${gap.to_msc}`)
    }
    out.gap = gap
  }
  return out
}

function parseBarBatch(v: Fields, lim: ProtocolLimits): BarBatch {
  const seq = reqSeq(v)
  const symbol = reqStr(v, 'symbol', '', 1, lim.maxSymbolBytes)
  const timeframe = reqEnum(v, 'timeframe', '', TIMEFRAMES)
  const max = lim.maxBatchBars
  const time = column(v, 'time', 'time', max, -1)
  const n = time.length
  const open = column(v, 'open', 'time', max, n)
  const high = column(v, 'high', 'time', max, n)
  const low = column(v, 'low', 'time', max, n)
  const close = column(v, 'close', 'time', max, n)
  const tickVolume = column(v, 'tick_volume', 'time', max, n)
  const realVolume = column(v, 'real_volume', 'time', max, n)
  const spread = column(v, 'spread', 'time', max, n)
  timeColumn(time, 'time')
  priceColumn(open, 'open')
  priceColumn(high, 'high')
  priceColumn(low, 'low')
  priceColumn(close, 'close')
  uintColumn(tickVolume, 'tick_volume')
  uintColumn(realVolume, 'real_volume')
  for (let i = 0; i < n; i++) {
    const x = spread[i] as number
    if (!(Number.isInteger(x) && x >= 0 && x <= INT32_MAX)) {
      throw bad('', `spread[${i}]`, `must be an integer 0 .. 2^31-1, got ${describe(x)}`)
    }
  }
  for (let i = 0; i < n; i++) {
    const o = open[i] as number
    const c = close[i] as number
    const l = low[i] as number
    const h = high[i] as number
    if (l > o || l > c) throw bad('', `low[${i}]`, `must not be above open (${o}) or close (${c}), got ${l}`)
    if (h < o || h < c) throw bad('', `high[${i}]`, `must not be below open (${o}) or close (${c}), got ${h}`)
  }
  return {
    type: 'bar_batch',
    seq,
    symbol,
    timeframe,
    time: time as number[],
    open: open as number[],
    high: high as number[],
    low: low as number[],
    close: close as number[],
    tick_volume: tickVolume as number[],
    real_volume: realVolume as number[],
    spread: spread as number[],
  }
}

function parseDeal(v: Fields, lim: ProtocolLimits): Deal {
  const out: Deal = {
    type: 'deal',
    seq: reqSeq(v),
    ticket: reqInt(v, 'ticket', '', 1, MAX_SAFE),
    order: reqInt(v, 'order', '', 0, MAX_SAFE),
    position_id: reqInt(v, 'position_id', '', 0, MAX_SAFE),
    time_msc: reqInt(v, 'time_msc', '', 1, MAX_SAFE),
    deal_type: reqCode(v, 'deal_type', '', DEAL_TYPES, 'DEAL_TYPE'),
    entry: reqCode(v, 'entry', '', DEAL_ENTRIES, 'DEAL_ENTRY'),
    // balance, credit and similar deals have no symbol
    symbol: reqStr(v, 'symbol', '', 0, lim.maxSymbolBytes),
    volume: reqNum(v, 'volume', '', 0),
    price: reqNum(v, 'price', '', 0),
    profit: reqNum(v, 'profit', '', -Number.MAX_VALUE),
    commission: reqNum(v, 'commission', '', -Number.MAX_VALUE),
    swap: reqNum(v, 'swap', '', -Number.MAX_VALUE),
    fee: reqNum(v, 'fee', '', -Number.MAX_VALUE),
    magic: reqInt(v, 'magic', '', -MAX_SAFE, MAX_SAFE),
    reason: reqCode(v, 'reason', '', DEAL_REASONS, 'DEAL_REASON'),
  }
  put(out, 'comment', optStr(v, 'comment', '', 0, lim.maxNameBytes))
  put(out, 'external_id', optStr(v, 'external_id', '', 0, lim.maxNameBytes))
  put(out, 'sl', optNum(v, 'sl', '', 0))
  put(out, 'tp', optNum(v, 'tp', '', 0))
  return out
}

function parseOrderEvent(v: Fields, lim: ProtocolLimits): OrderEvent {
  const out: OrderEvent = {
    type: 'order_event',
    seq: reqSeq(v),
    ticket: reqInt(v, 'ticket', '', 1, MAX_SAFE),
    time_msc: reqInt(v, 'time_msc', '', 1, MAX_SAFE),
    symbol: reqStr(v, 'symbol', '', 1, lim.maxSymbolBytes),
    order_type: reqCode(v, 'order_type', '', ORDER_TYPES, 'ORDER_TYPE'),
    state: reqCode(v, 'state', '', ORDER_STATES, 'ORDER_STATE'),
    volume_initial: reqNum(v, 'volume_initial', '', 0),
    volume_current: reqNum(v, 'volume_current', '', 0),
    price_open: reqNum(v, 'price_open', '', 0),
  }
  put(out, 'sl', optNum(v, 'sl', '', 0))
  put(out, 'tp', optNum(v, 'tp', '', 0))
  put(out, 'magic', optInt(v, 'magic', '', -MAX_SAFE, MAX_SAFE))
  put(out, 'position_id', optInt(v, 'position_id', '', 0, MAX_SAFE))
  put(out, 'comment', optStr(v, 'comment', '', 0, lim.maxNameBytes))
  put(out, 'event', optCode(v, 'event', '', TRADE_TRANSACTIONS, 'TRADE_TRANSACTION_TYPE'))
  return out
}

function parsePositionsSnapshot(v: Fields, lim: ProtocolLimits): PositionsSnapshot {
  const seq = reqSeq(v)
  const timeMsc = reqInt(v, 'time_msc', '', 1, MAX_SAFE)
  const rows = v.positions
  if (rows === undefined || rows === null) {
    throw bad('', 'positions', 'missing (an empty array means no open positions)')
  }
  if (!Array.isArray(rows)) throw bad('', 'positions', `must be an array, got ${describe(rows)}`)
  if (rows.length > lim.maxPositions) throw bad('', 'positions', `${rows.length} rows, at most ${lim.maxPositions}`)
  const positions = new Array<PositionRow>(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const r: unknown = rows[i]
    if (!isMap(r)) throw bad('', `positions[${i}]`, `must be a map, got ${describe(r)}`)
    const at = `positions[${i}].`
    const row: PositionRow = {
      identifier: reqInt(r, 'identifier', at, 1, MAX_SAFE),
      ticket: reqInt(r, 'ticket', at, 1, MAX_SAFE),
      symbol: reqStr(r, 'symbol', at, 1, lim.maxSymbolBytes),
      position_type: reqCode(r, 'position_type', at, POSITION_TYPES, 'POSITION_TYPE'),
      volume: reqNum(r, 'volume', at, 0),
      price_open: reqNum(r, 'price_open', at, 0),
      price_current: reqNum(r, 'price_current', at, 0),
      sl: reqNum(r, 'sl', at, 0),
      tp: reqNum(r, 'tp', at, 0),
      profit: reqNum(r, 'profit', at, -Number.MAX_VALUE),
      swap: reqNum(r, 'swap', at, -Number.MAX_VALUE),
      magic: reqInt(r, 'magic', at, -MAX_SAFE, MAX_SAFE),
      time_msc: reqInt(r, 'time_msc', at, 1, MAX_SAFE),
    }
    put(row, 'comment', optStr(r, 'comment', at, 0, lim.maxNameBytes))
    positions[i] = row
  }
  return { type: 'positions_snapshot', seq, time_msc: timeMsc, positions }
}

function parseAccountSnapshot(v: Fields): AccountSnapshot {
  return {
    type: 'account_snapshot',
    seq: reqSeq(v),
    time_msc: reqInt(v, 'time_msc', '', 1, MAX_SAFE),
    balance: reqNum(v, 'balance', '', -Number.MAX_VALUE),
    equity: reqNum(v, 'equity', '', -Number.MAX_VALUE),
    margin: reqNum(v, 'margin', '', 0),
    free_margin: reqNum(v, 'free_margin', '', -Number.MAX_VALUE),
    margin_level: reqNum(v, 'margin_level', '', 0),
    profit: reqNum(v, 'profit', '', -Number.MAX_VALUE),
    open_positions: reqInt(v, 'open_positions', '', 0, MAX_SAFE),
    open_volume: reqNum(v, 'open_volume', '', 0),
  }
}


function parseEaStatus(v: Fields, lim: ProtocolLimits): EaStatus {
  const out: EaStatus = {
    type: 'ea_status',
    seq: reqSeq(v),
    time_msc: reqInt(v, 'time_msc', '', 1, MAX_SAFE),
    state: reqEnum(v, 'state', '', EA_STATES),
    terminal_trade_allowed: reqBool(v, 'terminal_trade_allowed', ''),
    ea_trade_allowed: reqBool(v, 'ea_trade_allowed', ''),
    queue_depth: reqInt(v, 'queue_depth', '', 0, MAX_SAFE),
    dropped_ticks: reqInt(v, 'dropped_ticks', '', 0, MAX_SAFE),
  }
  put(out, 'last_error', optInt(v, 'last_error', '', 0, INT32_MAX))
  put(out, 'message', optStr(v, 'message', '', 0, lim.maxTextBytes))
  put(out, 'connected', optBool(v, 'connected', ''))
  return out
}


function parseSignal(v: Fields, lim: ProtocolLimits): Signal {
  const out: Signal = {
    type: 'signal',
    seq: reqSeq(v),
    time_msc: reqInt(v, 'time_msc', '', 1, MAX_SAFE),
    symbol: reqStr(v, 'symbol', '', 1, lim.maxSymbolBytes),
    signal_type: reqEnum(v, 'signal_type', '', SIGNAL_TYPES),
    price: reqNum(v, 'price', '', 0),
  }
  const confidence = optNum(v, 'confidence', '', 0)
  if (confidence !== undefined && confidence > 1) {
    throw bad('', 'confidence', `must be between 0 and 1, got ${confidence}`)
  }
  put(out, 'confidence', confidence)
  put(out, 'strategy', optStr(v, 'strategy', '', 0, lim.maxNameBytes))
  put(out, 'timeframe', optEnum(v, 'timeframe', '', TIMEFRAMES))
  put(out, 'reason', optStr(v, 'reason', '', 0, lim.maxTextBytes))
  put(out, 'metadata', optFreeMap(v, 'metadata', lim))
  put(out, 'signal_id', optId(v, 'signal_id', '', lim))
  return out
}


function parseLog(v: Fields, lim: ProtocolLimits): Log {
  return {
    type: 'log',
    seq: reqSeq(v),
    time_msc: reqInt(v, 'time_msc', '', 1, MAX_SAFE),
    level: reqEnum(v, 'level', '', EA_LOG_LEVELS),
    message: reqStr(v, 'message', '', 0, lim.maxTextBytes),
  }
}


function parseCommandAck(v: Fields, lim: ProtocolLimits): CommandAck {
  const out: CommandAck = {
    type: 'command_ack',
    seq: reqSeq(v),
    command_id: reqId(v, 'command_id', '', lim),
    status: reqEnum(v, 'status', '', COMMAND_ACK_STATUSES),
  }
  put(out, 'reason', optStr(v, 'reason', '', 0, lim.maxTextBytes))
  return out
}

function parseCommandResult(v: Fields, lim: ProtocolLimits): CommandResult {
  const out: CommandResult = {
    type: 'command_result',
    seq: reqSeq(v),
    command_id: reqId(v, 'command_id', '', lim),
    ok: reqBool(v, 'ok', ''),
  }
  put(out, 'result', optFreeMap(v, 'result', lim))
  put(out, 'error', optStr(v, 'error', '', 0, lim.maxTextBytes))
  return out
}

function parseGoodbye(v: Fields, lim: ProtocolLimits): Goodbye {
  const out: Goodbye = { type: 'goodbye' }
  put(out, 'reason', optStr(v, 'reason', '', 0, lim.maxTextBytes))
  return out
}


function parseCommandSend(v: Fields, lim: ProtocolLimits): CommandSend {
  const out: CommandSend = {
    type: 'command_send',
    request_id: reqId(v, 'request_id', '', lim),
    command: reqEnum(v, 'command', '', COMMAND_TYPES),
    target: parseTarget(v, lim),
  }
  put(out, 'command_id', optId(v, 'command_id', '', lim))
  put(out, 'payload', optFreeMap(v, 'payload', lim))
  put(out, 'expires_in_ms', optInt(v, 'expires_in_ms', '', 1, lim.maxCommandExpiresMs))
  return out
}

function parseQuery(v: Fields, lim: ProtocolLimits): QueryMessage {
  const out: QueryMessage = { type: 'query', request_id: reqId(v, 'request_id', '', lim), query: reqStr(v, 'query', '', 1, lim.maxNameBytes) }
  put(out, 'params', optParams(v, lim))
  put(out, 'limit', optInt(v, 'limit', '', 1, MAX_SAFE))
  put(out, 'cursor', optStr(v, 'cursor', '', 1, 4096))
  put(out, 'order', optEnum(v, 'order', '', ['asc', 'desc'] as const))
  return out
}

function parseSql(v: Fields, lim: ProtocolLimits): SqlMessage {
  const out: SqlMessage = { type: 'sql', request_id: reqId(v, 'request_id', '', lim), sql: reqStr(v, 'sql', '', 1, lim.maxSqlBytes) }
  put(out, 'limit', optInt(v, 'limit', '', 1, MAX_SAFE))
  return out
}

function parseSubscribe(v: Fields, lim: ProtocolLimits): SubscribeMessage {
  const out: SubscribeMessage = { type: 'subscribe', request_id: reqId(v, 'request_id', '', lim), topic: reqStr(v, 'topic', '', 1, lim.maxNameBytes) }
  put(out, 'params', optParams(v, lim))
  return out
}

function parseNotificationsRead(v: Fields, lim: ProtocolLimits): NotificationsRead {
  const ids = v.ids
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000) throw bad('', 'ids', `must be an array of 1 to 1000 notification ids, got ${describe(ids)}`)
  ids.forEach((id, i) => {
    if (!Number.isSafeInteger(id) || (id as number) < 1) throw bad('', `ids[${i}]`, `must be a positive integer, got ${describe(id)}`)
  })
  return { type: 'notifications_read', request_id: reqId(v, 'request_id', '', lim), ids: ids as number[] }
}

/** A query's or topic's parameters: a flat map of scalars (each query checks its own names and types). */
function optParams(v: Fields, lim: ProtocolLimits): Record<string, unknown> | undefined {
  const m = optMap(v, 'params', '')
  if (m === undefined) return undefined
  const keys = Object.keys(m)
  if (keys.length > 32) throw bad('', 'params', `at most 32 parameters, got ${keys.length}`)
  for (const key of keys) {
    const x = m[key]
    if (x !== null && typeof x !== 'string' && typeof x !== 'boolean' && !(typeof x === 'number' && Number.isFinite(x))) {
      throw bad('params.', key, `must be a string, a number, a boolean or nil, got ${describe(x)}`)
    }
    if (typeof x === 'string' && tooLong(x, lim.maxTextBytes)) throw bad('params.', key, `longer than ${lim.maxTextBytes} bytes`)
  }
  return m
}

function parseTarget(v: Fields, lim: ProtocolLimits): CommandTarget {
  const t = reqMap(v, 'target', '')
  const byInstance = present(t.instance_id)
  const byAccount = present(t.login) || present(t.server) || present(t.magic)
  if (byInstance === byAccount) {
    throw bad(
      '',
      'target',
      byInstance
        ? 'name the EA one way only: instance_id, or login + server (+ magic)'
        : 'must hold instance_id, or login + server (+ magic)',
    )
  }
  if (byInstance) return { instance_id: reqId(t, 'instance_id', 'target.', lim) }
  const login = reqInt(t, 'login', 'target.', 1, MAX_SAFE)
  const server = reqStr(t, 'server', 'target.', 1, lim.maxNameBytes)
  const magic = optInt(t, 'magic', 'target.', -MAX_SAFE, MAX_SAFE)
  return magic === undefined ? { login, server } : { login, server, magic }
}

// ---------------------------------------------------------------------------------------------
// Columns: plain loops, no closures, a message only when something is wrong

/** The array `v[key]`, with 1 .. max items, and `length` items when length >= 0. */
function column(v: Fields, key: string, first: string, max: number, length: number): unknown[] {
  const c = v[key]
  if (c === undefined || c === null) throw bad('', key, 'missing')
  if (!Array.isArray(c)) throw bad('', key, `must be an array, got ${describe(c)}`)
  if (length >= 0) {
    if (c.length !== length) {
      throw bad('', key, `${c.length} values, but ${first} has ${length} (every column must have the same length)`)
    }
  } else if (c.length === 0 || c.length > max) {
    throw bad('', key, `${c.length} values, a batch holds 1 .. ${max}`)
  }
  return c
}

function timeColumn(c: unknown[], key: string): void {
  for (let i = 0; i < c.length; i++) {
    const x = c[i]
    if (!(Number.isSafeInteger(x) && (x as number) > 0)) {
      throw bad('', `${key}[${i}]`, `must be a positive integer (ms), ${numberProblem(x)}`)
    }
  }
}

function priceColumn(c: unknown[], key: string): void {
  for (let i = 0; i < c.length; i++) {
    const x = c[i]
    // false for NaN, negatives, Infinity and non-numbers alike
    if (!(typeof x === 'number' && x >= 0 && x <= Number.MAX_VALUE)) {
      throw bad('', `${key}[${i}]`, `must be a finite number >= 0, ${numberProblem(x)}`)
    }
  }
}

function uintColumn(c: unknown[], key: string): void {
  for (let i = 0; i < c.length; i++) {
    const x = c[i]
    if (!(Number.isSafeInteger(x) && (x as number) >= 0)) {
      throw bad('', `${key}[${i}]`, `must be an integer >= 0, ${numberProblem(x)}`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Fields. `at` is the path of the enclosing map (`''`, `account.`, `positions[2].`).

const MAX_SAFE = Number.MAX_SAFE_INTEGER
const INT32_MAX = 0x7fffffff
/** The largest index of a tick within its millisecond that storage holds (a PostgreSQL int4). */
const MAX_TICK_INDEX = INT32_MAX

function asMessage(value: unknown): Fields {
  if (!isMap(value)) {
    throw new ProtocolError(ProtocolErrors.BAD_MESSAGE, `a message must be a map with a string type, got ${describe(value)}`)
  }
  return value
}

function isMap(value: unknown): value is Fields {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function present(x: unknown): boolean {
  return x !== undefined && x !== null
}

function isSeq(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 1
}

function bad(at: string, key: string, problem: string): ProtocolError {
  return new ProtocolError(ProtocolErrors.BAD_FIELD, `${at}${key}: ${problem}`, at + key)
}

function reqSeq(v: Fields): number {
  const x = v.seq
  if (isSeq(x)) return x
  throw bad(
    '',
    'seq',
    present(x) ? `must be a positive integer, ${numberProblem(x)}` : 'missing (every durable message carries one)',
  )
}

function reqInt(v: Fields, key: string, at: string, min: number, max: number): number {
  const x = v[key]
  if (Number.isInteger(x) && (x as number) >= min && (x as number) <= max) return x as number
  throw intProblem(x, at, key, min, max)
}

function optInt(v: Fields, key: string, at: string, min: number, max: number): number | undefined {
  const x = v[key]
  if (x === undefined || x === null) return undefined
  if (Number.isInteger(x) && (x as number) >= min && (x as number) <= max) return x as number
  throw intProblem(x, at, key, min, max)
}

function intProblem(x: unknown, at: string, key: string, min: number, max: number): ProtocolError {
  if (!present(x)) return bad(at, key, 'missing')
  const range = `${min === -MAX_SAFE ? '-(2^53-1)' : min} .. ${max === MAX_SAFE ? '2^53-1' : max === INT32_MAX ? '2^31-1' : max}`
  return bad(at, key, `must be an integer ${range}, ${numberProblem(x)}`)
}

/** A finite number >= min (min = -Number.MAX_VALUE for any sign). */
function reqNum(v: Fields, key: string, at: string, min: number): number {
  const x = v[key]
  if (typeof x === 'number' && x >= min && x <= Number.MAX_VALUE) return x
  throw numProblem(x, at, key, min)
}

function optNum(v: Fields, key: string, at: string, min: number): number | undefined {
  const x = v[key]
  if (x === undefined || x === null) return undefined
  if (typeof x === 'number' && x >= min && x <= Number.MAX_VALUE) return x
  throw numProblem(x, at, key, min)
}

function numProblem(x: unknown, at: string, key: string, min: number): ProtocolError {
  if (!present(x)) return bad(at, key, 'missing')
  const range = min === -Number.MAX_VALUE ? '' : min === 0 ? ' >= 0' : ' > 0'
  return bad(at, key, `must be a finite number${range}, ${numberProblem(x)}`)
}

/** What is wrong with a value that should have been a number: the "got ..." half of a message. */
function numberProblem(x: unknown): string {
  if (typeof x !== 'number') return `got ${describe(x)}`
  if (Number.isNaN(x)) return 'got NaN'
  if (!Number.isFinite(x)) return `got ${x}`
  if (Number.isInteger(x) && !Number.isSafeInteger(x)) return `got ${x}, beyond 2^53-1 (unsafe integer)`
  return `got ${x}`
}

function reqBool(v: Fields, key: string, at: string): boolean {
  const x = v[key]
  if (typeof x === 'boolean') return x
  throw bad(at, key, present(x) ? `must be a bool, got ${describe(x)}` : 'missing')
}

function optBool(v: Fields, key: string, at: string): boolean | undefined {
  const x = v[key]
  if (x === undefined || x === null) return undefined
  return reqBool(v, key, at)
}

function reqStr(v: Fields, key: string, at: string, min: number, max: number): string {
  const x = v[key]
  if (typeof x === 'string' && x.length >= min && !tooLong(x, max)) return x
  throw strProblem(x, at, key, min, max)
}

function optStr(v: Fields, key: string, at: string, min: number, max: number): string | undefined {
  const x = v[key]
  if (x === undefined || x === null) return undefined
  if (typeof x === 'string' && x.length >= min && !tooLong(x, max)) return x
  throw strProblem(x, at, key, min, max)
}

function strProblem(x: unknown, at: string, key: string, min: number, max: number): ProtocolError {
  if (!present(x)) return bad(at, key, 'missing')
  if (typeof x !== 'string') return bad(at, key, `must be a string, got ${describe(x)}`)
  if (x.length < min) return bad(at, key, 'must not be empty')
  return bad(at, key, `too long: ${Buffer.byteLength(x, 'utf8')} bytes of UTF-8, at most ${max}`)
}

/** Longer than `max` UTF-8 bytes; a UTF-8 string is never shorter than its UTF-16 length. */
function tooLong(s: string, max: number): boolean {
  if (s.length > max) return true
  if (s.length * 3 <= max) return false
  return Buffer.byteLength(s, 'utf8') > max
}

/** An id: 1 .. maxIdBytes bytes, no control characters. */
function reqId(v: Fields, key: string, at: string, lim: ProtocolLimits): string {
  const id = reqStr(v, key, at, 1, lim.maxIdBytes)
  checkId(id, at, key)
  return id
}

function optId(v: Fields, key: string, at: string, lim: ProtocolLimits): string | undefined {
  const id = optStr(v, key, at, 1, lim.maxIdBytes)
  if (id !== undefined) checkId(id, at, key)
  return id
}

function checkId(id: string, at: string, key: string): void {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) {
      throw bad(at, key, `must not hold control characters (0x${c.toString(16).padStart(2, '0')} at ${i})`)
    }
  }
}

/** An MT5 integer enum value that `names` knows. */
function reqCode(v: Fields, key: string, at: string, names: readonly string[], label: string): number {
  const x = v[key]
  if (Number.isInteger(x) && (x as number) >= 0 && (x as number) < names.length) return x as number
  if (!present(x)) throw bad(at, key, 'missing')
  throw bad(at, key, `must be a ${label} this engine knows, 0 .. ${names.length - 1}, ${numberProblem(x)}`)
}

function optCode(v: Fields, key: string, at: string, names: readonly string[], label: string): number | undefined {
  const x = v[key]
  if (x === undefined || x === null) return undefined
  return reqCode(v, key, at, names, label)
}

function reqEnum<T extends string>(v: Fields, key: string, at: string, allowed: readonly T[]): T {
  const x = v[key]
  if ((allowed as readonly unknown[]).includes(x)) return x as T
  throw bad(at, key, present(x) ? `must be one of ${allowed.join(', ')}; got ${describe(x)}` : 'missing')
}

function optEnum<T extends string>(v: Fields, key: string, at: string, allowed: readonly T[]): T | undefined {
  const x = v[key]
  if (x === undefined || x === null) return undefined
  return reqEnum(v, key, at, allowed)
}

function reqMap(v: Fields, key: string, at: string): Fields {
  const x = v[key]
  if (isMap(x)) return x
  throw bad(at, key, present(x) ? `must be a map, got ${describe(x)}` : 'missing')
}

function optMap(v: Fields, key: string, at: string): Fields | undefined {
  const x = v[key]
  if (x === undefined || x === null) return undefined
  return reqMap(v, key, at)
}

/**
 * A free-form map (`metadata`, `payload`, `result`): JSON-like values only (nil, bool, finite
 * numbers, strings, arrays, maps), at most maxMapDepth deep and maxMapValues values in all.
 */
function optFreeMap(v: Fields, key: string, lim: ProtocolLimits): Record<string, unknown> | undefined {
  const m = optMap(v, key, '')
  if (m === undefined) return undefined
  const budget = { values: lim.maxMapValues }
  checkFree(m, key, 1, lim, budget)
  return m
}

function checkFree(x: unknown, path: string, depth: number, lim: ProtocolLimits, budget: { values: number }): void {
  switch (typeof x) {
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(x)) throw bad('', path, `must be a finite number, ${numberProblem(x)}`)
      return
    case 'string':
      if (tooLong(x, lim.maxTextBytes)) {
        throw bad('', path, `too long: ${Buffer.byteLength(x, 'utf8')} bytes of UTF-8, at most ${lim.maxTextBytes}`)
      }
      return
    case 'object':
      if (x === null) return
      if (depth > lim.maxMapDepth) throw bad('', path, `nested deeper than ${lim.maxMapDepth} levels`)
      if (Array.isArray(x)) {
        if ((budget.values -= x.length) < 0) throw bad('', path, `more than ${lim.maxMapValues} values in all`)
        for (let i = 0; i < x.length; i++) checkFree(x[i], `${path}[${i}]`, depth + 1, lim, budget)
        return
      }
      if (isMap(x)) {
        const keys = Object.keys(x)
        if ((budget.values -= keys.length) < 0) throw bad('', path, `more than ${lim.maxMapValues} values in all`)
        for (const k of keys) {
          if (k.length === 0 || tooLong(k, lim.maxNameBytes)) {
            throw bad('', path, `key ${describe(k)} must be 1 .. ${lim.maxNameBytes} bytes`)
          }
          checkFree(x[k], `${path}.${k}`, depth + 1, lim, budget)
        }
        return
      }
      throw bad('', path, `must be nil, a bool, a number, a string, an array or a map, got ${describe(x)}`)
    default:
      throw bad('', path, `must be nil, a bool, a number, a string, an array or a map, got ${describe(x)}`)
  }
}

/** Sets an optional field only when it has a value, so absent stays absent. */
function put<T extends object, K extends keyof T>(out: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) out[key] = value
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s
}

/** A value as a MessagePack reader would name it, for messages. */
function describe(x: unknown): string {
  if (x === undefined) return 'nothing'
  if (x === null) return 'nil'
  switch (typeof x) {
    case 'number':
      return Number.isNaN(x) ? 'NaN' : String(x)
    case 'string':
      return `string ${JSON.stringify(clip(x))}`
    case 'boolean':
      return `bool ${x}`
    case 'object':
      if (Array.isArray(x)) return `an array of ${x.length}`
      if (x instanceof Uint8Array) return `bin of ${x.length} bytes`
      return isMap(x) ? 'a map' : 'an object'
    default:
      return typeof x
  }
}
