/**
 * The command queue: one SQL operation per function. A command is stored as pending, delivered
 * to every stream its target names, acknowledged and finished per stream (command_deliveries),
 * and its overall status follows the newest change.
 */
import { EngineError, ErrorCodes } from '../../errors.js'
import type { CommandAck, CommandResult, CommandStatus, CommandType } from '../../protocol/messages.js'
import type { Queryable } from '../storage/types.js'
import type { CommandChange, CreatedCommand, NewCommand, PendingCommand } from '../../workers/tasks.js'

const OPEN = `('pending', 'delivered')`
/**
 * Commands loaded for one EA at a time: a backlog of thousands (each up to a frame) is read and
 * sent in pieces as the EA takes them, never held in memory whole.
 */
export const PENDING_LOAD = 64

const DONE_FOR_STREAM = `('accepted', 'rejected', 'duplicate', 'expired', 'succeeded', 'failed')`

interface CommandRow {
  id: string
  account_id: number
  stream_id: number | null
  magic: number | null
  type: CommandType
  payload: unknown
  status: CommandStatus
  created_at: number
  expires_at: number
}

function json(value: unknown): Record<string, unknown> {
  if (typeof value === 'string') return JSON.parse(value) as Record<string, unknown>
  return (value ?? {}) as Record<string, unknown>
}

function toCreated(row: CommandRow, existed: boolean): CreatedCommand {
  return {
    commandId: row.id,
    command: row.type,
    payload: json(row.payload),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    accountId: Number(row.account_id),
    streamId: row.stream_id === null ? null : Number(row.stream_id),
    magic: row.magic === null ? null : Number(row.magic),
    status: row.status,
    existed,
  }
}

const SELECT = 'select id, account_id, stream_id, magic, type, payload, status, created_at, expires_at from commands'

export async function createCommand(tx: Queryable, c: NewCommand, now: number): Promise<CreatedCommand> {
  const [existing] = await tx.query<CommandRow>(`${SELECT} where id = $1`, [c.commandId])
  if (existing) return toCreated(existing, true)
  let accountId: number
  let streamId: number | null = null
  let magic: number | null = null
  if (c.target.kind === 'instance') {
    const [stream] = await tx.query<{ id: number; account_id: number }>(
      'select id, account_id from streams where instance_id = $1',
      [c.target.instanceId],
    )
    if (!stream) throw unknownTarget(`no EA instance "${c.target.instanceId}" has ever connected`)
    accountId = Number(stream.account_id)
    streamId = Number(stream.id)
  } else {
    const [account] = await tx.query<{ id: number }>('select id from accounts where login = $1 and server = $2', [
      c.target.login,
      c.target.server,
    ])
    if (!account) throw unknownTarget(`no account ${c.target.login} on ${c.target.server} has ever connected`)
    accountId = Number(account.id)
    if (c.target.kind === 'magic') magic = c.target.magic
  }
  const [row] = await tx.query<CommandRow>(
    `insert into commands (id, account_id, target, stream_id, magic, type, payload, status, created_at, expires_at,
                           issued_by_token_id)
     values ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10)
     returning id, account_id, stream_id, magic, type, payload, status, created_at, expires_at`,
    [
      c.commandId,
      accountId,
      c.target.kind,
      streamId,
      magic,
      c.command,
      JSON.stringify(c.payload),
      now,
      c.expiresAt,
      c.issuedByTokenId,
    ],
  )
  return toCreated(row!, false)
}

function unknownTarget(message: string): EngineError {
  return new EngineError(ErrorCodes.COMMAND_TARGET_UNKNOWN, message)
}

/**
 * Unexpired commands a stream must receive and has not answered yet, oldest first. Not gated on
 * the command's overall status: another EA of the same account answering does not answer for this one.
 */
export async function pendingForStream(
  tx: Queryable,
  stream: { streamId: number; accountId: number; magic: number },
  now: number,
  limit = PENDING_LOAD,
  /** Only commands never delivered to this stream (a load in the middle of a session), not also those delivered but unanswered (a hello). */
  undeliveredOnly = false,
): Promise<PendingCommand[]> {
  const rows = await tx.query<CommandRow>(
    `${SELECT} c
      where c.status <> 'expired' and c.expires_at > $4
        and ((c.target = 'instance' and c.stream_id = $1)
          or (c.target = 'magic' and c.account_id = $2 and c.magic = $3)
          or (c.target = 'account' and c.account_id = $2))
        and not exists (select 1 from command_deliveries d
                         where d.command_id = c.id and d.stream_id = $1${undeliveredOnly ? '' : ` and d.status in ${DONE_FOR_STREAM}`})
      order by c.created_at, c.id
      limit $5`,
    [stream.streamId, stream.accountId, stream.magic, now, limit],
  )
  return rows.map((r) => {
    const { commandId, command, payload, createdAt, expiresAt } = toCreated(r, true)
    return { commandId, command, payload, createdAt, expiresAt }
  })
}

export async function markDelivered(tx: Queryable, commandId: string, streamId: number, now: number): Promise<boolean> {
  await tx.query(
    `insert into command_deliveries (command_id, stream_id, status, delivered_at) values ($1, $2, 'delivered', $3)
     on conflict (command_id, stream_id) do nothing`,
    [commandId, streamId, now],
  )
  const rows = await tx.query<{ id: string }>(
    `update commands set status = 'delivered', delivered_at = $2 where id = $1 and status = 'pending' returning id`,
    [commandId, now],
  )
  return rows.length > 0
}

/** Records an EA's `command_ack`; returns the change to push to the sender, if the command is known. */
export async function applyAck(tx: Queryable, streamId: number, ack: CommandAck, now: number): Promise<CommandChange | undefined> {
  const [row] = await tx.query<CommandRow>(`${SELECT} where id = $1`, [ack.command_id])
  if (!row) return undefined
  await tx.query(
    `insert into command_deliveries (command_id, stream_id, status, delivered_at, acked_at, error)
     values ($1, $2, $3, $4, $4, $5)
     on conflict (command_id, stream_id) do update
       set status = excluded.status, acked_at = excluded.acked_at, error = excluded.error
       where command_deliveries.status not in ('succeeded', 'failed')`,
    [ack.command_id, streamId, ack.status, now, ack.reason ?? null],
  )
  // A duplicate says the EA ran it before: the command's own status (accepted, succeeded) stands.
  if (ack.status !== 'duplicate') {
    await tx.query(
      `update commands set status = $2, acked_at = $3, error = $4 where id = $1 and status in ${OPEN}`,
      [ack.command_id, ack.status, now, ack.reason ?? null],
    )
  }
  return {
    commandId: ack.command_id,
    streamId,
    status: ack.status,
    command: row.type,
    ...(ack.reason !== undefined && { reason: ack.reason }),
    at: now,
  }
}

export async function applyResult(
  tx: Queryable,
  streamId: number,
  result: CommandResult,
  now: number,
): Promise<CommandChange | undefined> {
  const [row] = await tx.query<CommandRow>(`${SELECT} where id = $1`, [result.command_id])
  if (!row) return undefined
  const status: CommandStatus = result.ok ? 'succeeded' : 'failed'
  const resultJson = result.result === undefined ? null : JSON.stringify(result.result)
  await tx.query(
    `insert into command_deliveries (command_id, stream_id, status, delivered_at, acked_at, finished_at, result, error)
     values ($1, $2, $3, $4, $4, $4, $5, $6)
     on conflict (command_id, stream_id) do update
       set status = excluded.status, finished_at = excluded.finished_at, result = excluded.result, error = excluded.error`,
    [result.command_id, streamId, status, now, resultJson, result.error ?? null],
  )
  await tx.query(
    `update commands set status = $2, finished_at = $3, result = $4, error = $5 where id = $1`,
    [result.command_id, status, now, resultJson, result.error ?? null],
  )
  return {
    commandId: result.command_id,
    streamId,
    status,
    command: row.type,
    ...(result.error !== undefined && { reason: result.error }),
    ...(result.result !== undefined && { result: result.result }),
    at: now,
  }
}

/** Marks open commands past their expiry as expired; returns them. */
export async function expireDue(tx: Queryable, now: number): Promise<CommandChange[]> {
  const rows = await tx.query<{ id: string; type: CommandType; stream_id: number | null }>(
    `update commands set status = 'expired', finished_at = $1
      where status in ${OPEN} and expires_at <= $1
      returning id, type, stream_id`,
    [now],
  )
  return rows.map((r) => ({
    commandId: r.id,
    streamId: r.stream_id === null ? 0 : Number(r.stream_id),
    status: 'expired' as const,
    command: r.type,
    reason: 'expired before the EA acknowledged it',
    at: now,
  }))
}
