/**
 * The trade journal kept in the deals' own transaction: a batch's new deals send their positions
 * to be computed again from all their deals (src/aggregate/journal.ts, pure) and the row stored.
 * The journal is therefore never behind the committed deals, a replay changes nothing, and a
 * SIGKILL leaves both or neither; no cursor is needed.
 */
import { periodStart } from '../../aggregate/equity.js'
import { journalOf, type JournalDeal } from '../../aggregate/journal.js'
import type { Queryable } from '../storage/types.js'

/** The trading day a close falls in: the server's midnight (MT5 times are the broker's server time). */
const serverMidnight = (time: number) => periodStart('D1', time)

/**
 * Computes the journal rows of `positions` (account id, position id) from their stored deals and
 * stores them. A position whose opening deal is not stored yet has no row.
 */
export async function updateJournal(tx: Queryable, positions: readonly (readonly [number, number])[]): Promise<number> {
  let stored = 0
  for (const [accountId, positionId] of positions) {
    const deals = await tx.query<JournalDeal & { stream_id: number | null }>(
      `select ticket, position_id, time_msc, type, entry, volume, price, profit, commission, swap, fee, magic, symbol_id, stream_id
         from deals where account_id = $1 and position_id = $2`,
      [accountId, positionId],
    )
    const numeric = deals.map((d) => ({ ...d, ticket: Number(d.ticket), position_id: Number(d.position_id), time_msc: Number(d.time_msc), magic: Number(d.magic), symbol_id: d.symbol_id === null ? null : Number(d.symbol_id) }))
    const symbolId = numeric.find((d) => d.symbol_id !== null)?.symbol_id
    if (symbolId === undefined) continue
    const [symbol] = await tx.query<{ point: number | null; digits: number | null; volume_step: number | null }>('select point, digits, volume_step from symbols where id = $1', [symbolId])
    const row = journalOf(numeric, symbol ?? { point: null, digits: null }, { tradingDayStart: serverMidnight })
    if (row === undefined || row.symbol_id === null) continue
    // the stream and strategy of the deal that opened it
    const opening = numeric.filter((d) => d.ticket === row.first_deal_ticket)[0]
    const streamId = opening?.stream_id ?? null
    const [stream] = streamId === null ? [] : await tx.query<{ strategy: string | null }>('select strategy from streams where id = $1', [streamId])
    await tx.query(
      `insert into journal_trades (account_id, position_id, symbol_id, stream_id, magic, strategy, direction, state, open_time_msc,
                                   close_time_msc, close_day_msc, open_price, close_price, volume, volume_closed, profit, commission,
                                   swap, fee, pips, deal_count, first_deal_ticket, last_deal_ticket, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
       on conflict (account_id, position_id) do update set
         symbol_id = excluded.symbol_id, stream_id = excluded.stream_id, magic = excluded.magic, strategy = excluded.strategy,
         direction = excluded.direction, state = excluded.state, open_time_msc = excluded.open_time_msc,
         close_time_msc = excluded.close_time_msc, close_day_msc = excluded.close_day_msc, open_price = excluded.open_price,
         close_price = excluded.close_price, volume = excluded.volume, volume_closed = excluded.volume_closed,
         profit = excluded.profit, commission = excluded.commission, swap = excluded.swap, fee = excluded.fee,
         pips = excluded.pips, deal_count = excluded.deal_count, first_deal_ticket = excluded.first_deal_ticket,
         last_deal_ticket = excluded.last_deal_ticket, updated_at = excluded.updated_at`,
      [accountId, positionId, row.symbol_id, streamId, row.magic, stream?.strategy ?? null, row.direction, row.state, row.open_time_msc,
        row.close_time_msc, row.close_day_msc, row.open_price, row.close_price, row.volume, row.volume_closed, row.profit,
        row.commission, row.swap, row.fee, row.pips, row.deal_count, row.first_deal_ticket, row.last_deal_ticket, Date.now()],
    )
    stored++
  }
  return stored
}

/**
 * Positions after `after` (account id, position id) with deals and no journal row (deals stored
 * before the journal was kept), at most `limit`, in key order: a position that cannot have a row
 * (its opening deal is not stored) is passed, not met again.
 */
export async function positionsWithoutJournal(q: Queryable, after: readonly [number, number], limit: number): Promise<[number, number][]> {
  const rows = await q.query<{ account_id: number; position_id: number }>(
    `select distinct d.account_id, d.position_id from deals d
      where (d.account_id, d.position_id) > ($1, $2) and d.position_id <> 0 and d.type in ('buy', 'sell')
        and not exists (select 1 from journal_trades j where j.account_id = d.account_id and j.position_id = d.position_id)
      order by d.account_id, d.position_id limit ${Math.floor(limit)}`,
    [after[0], after[1]],
  )
  return rows.map((r) => [Number(r.account_id), Number(r.position_id)])
}

/** One step of the backfill: the rows stored, and where the next step starts (null: done). */
export async function backfillJournal(tx: Queryable, after: readonly [number, number], limit: number): Promise<{ stored: number; next: [number, number] | null }> {
  const positions = await positionsWithoutJournal(tx, after, limit)
  const stored = await updateJournal(tx, positions)
  return { stored, next: positions.length < limit ? null : positions[positions.length - 1]! }
}
