/**
 * Where a typed query's time goes, step by step, measured in the bench's process on a seeded
 * database with nothing else running: the statement as the reader runs it (plan.ts's SQL,
 * `select` in a read-only transaction), the structured clone that carries the rows from the
 * reader thread to the main thread, shaping them (plan.ts), encoding the answer frame, and the
 * dashboard decoding it. The engine does not time these steps itself, so this is how the report
 * splits a query's latency.
 */
import { planQuery, shapeRows } from '../../src/query/plan.js'
import { decode, encode } from '../../src/protocol/codec.js'
import { freshDatabase, withStorage, type DatabaseTarget } from './databases.js'
import type { QuerySpec } from './messages.js'
import { seedHistory } from './seed.js'
import { median, round } from './stats.js'

export interface ReadCost {
  label: string
  rows: number
  /** Medians over the rounds, ms. */
  sqlMs: number
  cloneMs: number
  shapeMs: number
  encodeMs: number
  decodeMs: number
}

export async function measureReadCost(target: DatabaseTarget, specs: QuerySpec[], journalRows: number, rounds: number): Promise<ReadCost[]> {
  const fresh = await freshDatabase(target, 'read_cost')
  try {
    return await withStorage(fresh.database, target.synchronous, async (s) => {
      await seedHistory(s, journalRows)
      const out: ReadCost[] = []
      for (const spec of specs) {
        const plan = planQuery({ query: spec.query, params: spec.params, ...(spec.limit !== undefined && { limit: spec.limit }), ...(spec.order && { order: spec.order }) }, 'viewer')
        const types = plan.def.columns.map((c) => c.type)
        const columns = plan.def.columns.map((c) => c.name)
        const t = { sql: [] as number[], clone: [] as number[], shape: [] as number[], encode: [] as number[], decode: [] as number[] }
        let rows = 0
        // the first round warms the statement cache and V8, and is not counted
        for (let k = 0; k <= rounds; k++) {
          let at = performance.now()
          const selected = await s.transaction((q) => q.select(plan.sql, plan.values, plan.limit + 1), { readOnly: true })
          const sql = performance.now() - at
          at = performance.now()
          const cloned = structuredClone(selected.rows)
          const clone = performance.now() - at
          if (cloned.length > plan.limit) cloned.length = plan.limit
          at = performance.now()
          shapeRows(types, cloned)
          const shape = performance.now() - at
          at = performance.now()
          const frame = encode({ type: 'query_result', request_id: 'r', query: plan.def.name, columns, rows: cloned, next_cursor: null })
          const enc = performance.now() - at
          at = performance.now()
          decode(frame)
          const dec = performance.now() - at
          rows = cloned.length
          if (k === 0) continue
          t.sql.push(sql)
          t.clone.push(clone)
          t.shape.push(shape)
          t.encode.push(enc)
          t.decode.push(dec)
        }
        out.push({
          label: spec.label, rows, sqlMs: round(median(t.sql), 1), cloneMs: round(median(t.clone), 1), shapeMs: round(median(t.shape), 1),
          encodeMs: round(median(t.encode), 1), decodeMs: round(median(t.decode), 1),
        })
      }
      return out
    })
  } finally {
    await fresh.drop()
  }
}
