/**
 * Accounts, EA streams and their high-water sequence: what a `hello` registers.
 */
import { EngineError, ErrorCodes } from '../errors.js'
import type { EaHello } from '../protocol/messages.js'
import type { Queryable } from '../storage/types.js'

const MARGIN_MODES = ['retail_netting', 'exchange', 'retail_hedging'] as const
const TRADE_MODES = ['demo', 'contest', 'real'] as const

export interface RegisteredStream {
  streamId: number
  accountId: number
  server: string
  resumeSeq: number
}

/** Upserts the account and the stream of an EA `hello`; returns the stream's resume point. */
export async function registerStream(tx: Queryable, hello: EaHello, now: number): Promise<RegisteredStream> {
  const a = hello.account
  const offsetMin = a.server_utc_offset_s === undefined ? 0 : Math.round(a.server_utc_offset_s / 60)
  const [account] = await tx.query<{ id: number }>(
    `insert into accounts (login, server, company, currency, leverage, margin_mode, trade_mode,
                           server_utc_offset_min, first_seen_at, last_seen_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
     on conflict (login, server) do update set
       company = coalesce(excluded.company, accounts.company),
       currency = coalesce(excluded.currency, accounts.currency),
       leverage = coalesce(excluded.leverage, accounts.leverage),
       margin_mode = coalesce(excluded.margin_mode, accounts.margin_mode),
       trade_mode = coalesce(excluded.trade_mode, accounts.trade_mode),
       server_utc_offset_min = excluded.server_utc_offset_min,
       last_seen_at = excluded.last_seen_at
     returning id`,
    [
      a.login,
      a.server,
      a.company ?? null,
      a.currency ?? null,
      a.leverage ?? null,
      a.margin_mode === undefined ? null : (MARGIN_MODES[a.margin_mode] ?? null),
      a.trade_mode === undefined ? null : (TRADE_MODES[a.trade_mode] ?? null),
      offsetMin,
      now,
    ],
  )
  const accountId = Number(account!.id)
  await tx.query(
    `insert into account_utc_offsets (account_id, since_msc, offset_min)
     select cast($1 as bigint), cast($2 as bigint), cast($3 as integer)
      where not exists (select 1 from account_utc_offsets o
                         where o.account_id = $1
                           and o.since_msc = (select max(since_msc) from account_utc_offsets where account_id = $1)
                           and o.offset_min = $3)`,
    [accountId, now, offsetMin],
  )
  const [existing] = await tx.query<{ id: number; account_id: number }>(
    'select id, account_id from streams where instance_id = $1',
    [hello.instance_id],
  )
  if (existing && Number(existing.account_id) !== accountId) {
    throw new EngineError(
      ErrorCodes.INSTANCE_CONFLICT,
      `instance_id "${hello.instance_id}" belongs to another account; an EA instance id must be unique per account`,
    )
  }
  const [stream] = await tx.query<{ id: number }>(
    `insert into streams (instance_id, account_id, ea_name, ea_version, magic, timeframe, strategy, first_seen_at, last_seen_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $8)
     on conflict (instance_id) do update set
       ea_name = excluded.ea_name, ea_version = excluded.ea_version, magic = excluded.magic,
       timeframe = excluded.timeframe, strategy = excluded.strategy, last_seen_at = excluded.last_seen_at
     returning id`,
    [
      hello.instance_id,
      accountId,
      hello.ea.name,
      hello.ea.version ?? null,
      hello.ea.magic ?? 0,
      hello.ea.timeframe ?? null,
      hello.ea.strategy ?? null,
      now,
    ],
  )
  const streamId = Number(stream!.id)
  // The row exists from the first hello on, so that writers can lock it (see highWater).
  await tx.query(
    'insert into stream_sequences (stream_id, last_seq, updated_at) values ($1, 0, $2) on conflict (stream_id) do nothing',
    [streamId, now],
  )
  return { streamId, accountId, server: a.server, resumeSeq: await highWater(tx, streamId, false) }
}

/**
 * The stream's committed high-water sequence (0 before its first commit). With `lock`, the row is
 * locked until the transaction ends (PostgreSQL), so two writers never both pass the same check.
 */
export async function highWater(tx: Queryable, streamId: number, lock: boolean): Promise<number> {
  const [row] = await tx.query<{ last_seq: number }>(
    `select last_seq from stream_sequences where stream_id = $1${lock ? ' for update' : ''}`,
    [streamId],
  )
  return row ? Number(row.last_seq) : 0
}

export async function setHighWater(tx: Queryable, streamId: number, seq: number, now: number): Promise<void> {
  await tx.query(
    `insert into stream_sequences (stream_id, last_seq, updated_at) values ($1, $2, $3)
     on conflict (stream_id) do update set last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
    [streamId, seq, now],
  )
}
