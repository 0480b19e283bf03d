/**
 * The workload as the rows the engine stores: what the ceiling inserts directly, in the order the
 * EAs' messages interleave at the engine. Tick keys are computed as the engine computes them (the
 * index within the millisecond, starting from the batch's `first_index`).
 */
import { DEAL_ENTRIES, DEAL_REASONS, DEAL_TYPES } from '../../src/protocol/mt5.js'
import { planEa, type EaPlan, type WorkloadOptions } from './workload.js'

export interface TickRows {
  /** Index into `Rows.symbols`. */
  symbol: Int32Array
  seq: Int32Array
  time_msc: Float64Array
  bid: Float64Array
  ask: Float64Array
  last: Float64Array
  volume: Float64Array
  volume_real: Float64Array
  flags: Int32Array
  count: number
}

export interface Rows {
  eas: { login: number; server: string; instanceId: string }[]
  symbols: { ea: number; server: string; name: string; digits: number; contractSize: number; base: string; profit: string }[]
  ticks: TickRows
  /** deals columns in table order after account_id and stream_id (index 0 is the EA). */
  deals: unknown[][]
  snapshots: unknown[][]
}

export function collectRows(w: WorkloadOptions): Rows {
  const plans: EaPlan[] = []
  for (let i = 0; i < w.eas; i++) plans.push(planEa(w, i))
  const eas = plans.map((p) => ({ login: p.login, server: p.server, instanceId: p.instanceId }))
  const symbols: Rows['symbols'] = []
  const symbolIndex = new Map<string, number>()
  for (const p of plans) {
    for (const s of p.symbols) {
      symbolIndex.set(`${p.index}:${s.name}`, symbols.length)
      symbols.push({ ea: p.index, server: p.server, name: s.name, digits: s.digits, contractSize: s.contractSize, base: s.currencyBase, profit: s.currencyProfit })
    }
  }
  const total = plans.reduce((n, p) => n + p.ticks, 0)
  const ticks: TickRows = {
    symbol: new Int32Array(total), seq: new Int32Array(total), time_msc: new Float64Array(total), bid: new Float64Array(total),
    ask: new Float64Array(total), last: new Float64Array(total), volume: new Float64Array(total), volume_real: new Float64Array(total),
    flags: new Int32Array(total), count: total,
  }
  const deals: unknown[][] = []
  const snapshots: unknown[][] = []
  const longest = Math.max(...plans.map((p) => p.messages.length))
  let at = 0
  for (let j = 0; j < longest; j++) {
    for (const p of plans) {
      const m = p.messages[j]
      if (m === undefined) continue
      if (m.type === 'tick_batch') {
        const sym = symbolIndex.get(`${p.index}:${m.symbol}`)!
        let ordinal = m.first_index ?? 0
        for (let i = 0; i < m.time_msc.length; i++, at++) {
          if (i > 0 && m.time_msc[i] !== m.time_msc[i - 1]) ordinal = 0
          ticks.symbol[at] = sym
          ticks.seq[at] = ordinal++
          ticks.time_msc[at] = m.time_msc[i]!
          ticks.bid[at] = m.bid[i]!
          ticks.ask[at] = m.ask[i]!
          ticks.last[at] = m.last[i]!
          ticks.volume[at] = m.volume[i]!
          ticks.volume_real[at] = m.volume_real[i]!
          ticks.flags[at] = m.flags[i]!
        }
      } else if (m.type === 'deal') {
        deals.push([
          p.index, m.ticket, m.order, m.position_id, symbolIndex.get(`${p.index}:${m.symbol}`)!, m.time_msc, DEAL_TYPES[m.deal_type],
          DEAL_ENTRIES[m.entry], m.volume, m.price, m.profit, m.commission, m.swap, m.fee, m.magic, DEAL_REASONS[m.reason], m.comment ?? null,
        ])
      } else if (m.type === 'account_snapshot') {
        snapshots.push([p.index, m.time_msc, m.balance, m.equity, m.margin, m.free_margin, m.margin_level, m.profit, m.open_positions, m.open_volume])
      }
    }
  }
  return { eas, symbols, ticks, deals, snapshots }
}

/** The first `n` rows of `ticks` (a view, no copy). */
export function headOf(t: TickRows, n: number): TickRows {
  const k = Math.min(n, t.count)
  return {
    symbol: t.symbol.subarray(0, k), seq: t.seq.subarray(0, k), time_msc: t.time_msc.subarray(0, k), bid: t.bid.subarray(0, k),
    ask: t.ask.subarray(0, k), last: t.last.subarray(0, k), volume: t.volume.subarray(0, k), volume_real: t.volume_real.subarray(0, k),
    flags: t.flags.subarray(0, k), count: k,
  }
}
