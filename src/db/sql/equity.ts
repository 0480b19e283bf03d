/**
 * The equity curve kept in the snapshots' own transaction: each new account snapshot updates its
 * M1, H1 and D1 points (src/aggregate/equity.ts, pure), so the curve is never behind the committed
 * snapshots and a resent one (stored once, by its time) changes nothing.
 */
import { addSnapshot, EQUITY_RESOLUTIONS, periodStart, withPeak, type EquityPoint, type Snapshot } from '../../aggregate/equity.js'
import type { Queryable } from '../storage/types.js'

const COLUMNS = ['time_msc', 'balance', 'equity_open', 'equity_high', 'equity_low', 'equity_close', 'peak_equity', 'drawdown', 'drawdown_pct', 'samples', 'first_time_msc', 'last_time_msc'] as const

export async function updateEquity(tx: Queryable, accountId: number, s: Snapshot): Promise<void> {
  for (const resolution of EQUITY_RESOLUTIONS) {
    const time = periodStart(resolution, s.time_msc)
    const [row] = await tx.query<Record<string, number | null>>(
      `select ${COLUMNS.join(', ')} from equity_points where account_id = $1 and resolution = $2 and time_msc = $3`,
      [accountId, resolution, time],
    )
    // a point from before its first and last times were kept: they are taken as its period's edges
    const stored = row === undefined ? undefined : (Object.fromEntries(COLUMNS.map((c) => [c, row[c] === null ? (c === 'first_time_msc' ? time : c === 'last_time_msc' ? time : 0) : Number(row[c])])) as unknown as EquityPoint)
    const [before] = await tx.query<{ peak: number | null }>(
      'select max(peak_equity) as peak from equity_points where account_id = $1 and resolution = $2 and time_msc < $3',
      [accountId, resolution, time],
    )
    const p = addSnapshot(resolution, stored, s, before?.peak === null || before?.peak === undefined ? undefined : Number(before.peak))
    await tx.query(
      `insert into equity_points (account_id, resolution, ${COLUMNS.join(', ')})
       values ($1, $2, ${COLUMNS.map((_, i) => `$${i + 3}`).join(', ')})
       on conflict (account_id, resolution, time_msc) do update set
         ${COLUMNS.filter((c) => c !== 'time_msc').map((c) => `${c} = excluded.${c}`).join(', ')}`,
      [accountId, resolution, ...COLUMNS.map((c) => p[c])],
    )
    // a new peak raises the peaks of later periods (a snapshot that came late); in order, none is later
    const later = await tx.query<Record<string, number>>(
      `select ${COLUMNS.join(', ')} from equity_points where account_id = $1 and resolution = $2 and time_msc > $3 and peak_equity < $4`,
      [accountId, resolution, time, p.peak_equity],
    )
    for (const l of later) {
      const raised = withPeak(Object.fromEntries(COLUMNS.map((c) => [c, Number(l[c])])) as unknown as EquityPoint, p.peak_equity)
      await tx.query('update equity_points set peak_equity = $4, drawdown = $5, drawdown_pct = $6 where account_id = $1 and resolution = $2 and time_msc = $3', [
        accountId, resolution, raised.time_msc, raised.peak_equity, raised.drawdown, raised.drawdown_pct,
      ])
    }
  }
}
