/**
 * Accounts, EA streams and their high-water sequence: what a `hello` registers.
 */
import { EngineError, ErrorCodes } from '../../errors.js'
import type { EaHello } from '../../protocol/messages.js'
import { MARGIN_MODES, TRADE_MODES } from '../../protocol/mt5.js'
import type { Queryable } from '../storage/types.js'
import { bindOnFirstUse, describeScope, inScope, isLive, tokenById } from './tokens.js'

export interface RegisteredStream {
  streamId: number
  accountId: number
  server: string
  resumeSeq: number
}

/** Who says the hello: the token's id, and whether to lock its row (PostgreSQL, for first use). */
export interface StreamAccess {
  tokenId: number
  lock: boolean
}

/**
 * Upserts the account and the stream of an EA `hello`; returns the stream's resume point. With
 * `access`, the token must be allowed to stream as this EA (its scope, and who owns the instance:
 * docs/SECURITY.md, "Token scopes"); nothing is written when it is not. Without, the caller is
 * trusted (tests, imports).
 */
export async function registerStream(tx: Queryable, hello: EaHello, now: number, access?: StreamAccess): Promise<RegisteredStream> {
  const a = hello.account
  const bind = access ? await authorize(tx, hello, now, access) : undefined
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
  if (existing && Number(existing.account_id) !== accountId) throw instanceConflict(hello)
  const [stream] = await tx.query<{ id: number }>(
    `insert into streams (instance_id, account_id, ea_name, ea_version, magic, timeframe, strategy, first_seen_at, last_seen_at,
                          token_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
     on conflict (instance_id) do update set
       ea_name = excluded.ea_name, ea_version = excluded.ea_version, magic = excluded.magic,
       timeframe = excluded.timeframe, strategy = excluded.strategy, last_seen_at = excluded.last_seen_at,
       token_id = coalesce(excluded.token_id, streams.token_id)
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
      access?.tokenId ?? null,
    ],
  )
  const streamId = Number(stream!.id)
  if (bind) await bindOnFirstUse(tx, bind, { login: a.login, server: a.server, instance: hello.instance_id, magic: null }, now)
  // The row exists from the first hello on, so that writers can lock it (see highWater).
  await tx.query(
    'insert into stream_sequences (stream_id, last_seq, updated_at) values ($1, 0, $2) on conflict (stream_id) do nothing',
    [streamId, now],
  )
  return { streamId, accountId, server: a.server, resumeSeq: await highWater(tx, streamId, false) }
}

function instanceConflict(hello: EaHello): EngineError {
  return new EngineError(
    ErrorCodes.INSTANCE_CONFLICT,
    `instance_id "${hello.instance_id}" belongs to another account; an EA instance id must be unique per account`,
  )
}

/**
 * Refuses a hello the token may not say, before anything is written: outside a bound token's
 * scope, or for an instance another live token streams (a takeover would replace that EA's
 * connection, receive its commands and move its resume point). Returns the token id when the token
 * binds on this first use.
 */
async function authorize(tx: Queryable, hello: EaHello, now: number, access: StreamAccess): Promise<number | undefined> {
  const token = await tokenById(tx, access.tokenId, access.lock)
  if (!token || !isLive(token, now)) {
    throw new EngineError(ErrorCodes.TOKEN_SCOPE, 'the token was revoked or expired while the hello was checked')
  }
  const { login, server } = hello.account
  const magic = hello.ea.magic ?? 0
  if (token.scopeMode === 'bound' && !inScope(token.scope!, login, server, hello.instance_id, magic)) {
    throw new EngineError(
      ErrorCodes.TOKEN_SCOPE,
      `token "${token.name}" may stream only as ${describeScope(token.scope!)}, not as account ${login}@${server}, ` +
        `instance ${hello.instance_id}, magic ${magic}; give this EA its own token (mt5-engine token create --role ea)`,
      { token: token.name, scope: token.scope },
    )
  }
  const [owned] = await tx.query<{ token_id: number | null; login: number; server: string }>(
    `select s.token_id, a.login, a.server from streams s join accounts a on a.id = s.account_id where s.instance_id = $1`,
    [hello.instance_id],
  )
  if (owned && (Number(owned.login) !== login || owned.server !== server)) throw instanceConflict(hello)
  if (owned && owned.token_id !== null && Number(owned.token_id) !== token.id) {
    const owner = await tokenById(tx, Number(owned.token_id), false)
    const boundHere = token.scopeMode === 'bound' && token.scope!.instance === hello.instance_id
    if (owner && isLive(owner, now) && !boundHere) {
      throw new EngineError(
        ErrorCodes.INSTANCE_TAKEN,
        `EA instance "${hello.instance_id}" is streamed with another token; only that token, or one bound to this ` +
          `instance (mt5-engine token create --role ea --instance ${hello.instance_id}), may open it, or revoke the other first`,
        { instance: hello.instance_id },
      )
    }
  }
  return token.scopeMode === 'first-use' ? token.id : undefined
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
