/** Notifications: what the dashboard marks read. Rows are made by the writer (refused messages) and, later, the risk guard. */
import type { Queryable } from '../storage/types.js'

/** Marks the unread ones of `ids` read at `now`; returns how many it marked (read ones keep their first read time). */
export async function markNotificationsRead(tx: Queryable, ids: readonly number[], now: number): Promise<number> {
  if (ids.length === 0) return 0
  const placeholders = ids.map((_, i) => `$${i + 2}`).join(', ')
  const rows = await tx.query<{ id: number }>(`UPDATE notifications SET read_at = $1 WHERE read_at IS NULL AND id IN (${placeholders}) RETURNING id`, [now, ...ids])
  return rows.length
}
