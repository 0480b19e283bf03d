/**
 * Access tokens: `mt5e_<role>_<43 characters>`, 256 random bits. Only their SHA-256 is stored; a
 * token is looked up by its hash, so a fast hash is enough for secrets of this strength.
 */
import { createHash, randomBytes } from 'node:crypto'
import { EngineError, ErrorCodes } from '../errors.js'
import type { Queryable } from '../storage/types.js'

export type Role = 'ea' | 'viewer' | 'admin'
export const roles: readonly Role[] = ['ea', 'viewer', 'admin']

export interface TokenInfo {
  id: number
  name: string
  role: Role
  createdAt: number
  expiresAt: number | null
  lastUsedAt: number | null
  revokedAt: number | null
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export async function createToken(
  db: Queryable,
  options: { role: Role; name: string; expiresAt?: number | null; now?: number },
): Promise<{ token: string; info: TokenInfo }> {
  if (!roles.includes(options.role)) {
    throw new EngineError(ErrorCodes.USAGE, `--role must be one of ${roles.join(', ')}; got "${options.role}"`)
  }
  if (!/^[\w.@:-]{1,64}$/.test(options.name)) {
    throw new EngineError(ErrorCodes.USAGE, `--name must be 1-64 letters, digits or _ . @ : -; got "${options.name}"`)
  }
  const live = await db.query<{ id: number }>('select id from tokens where name = $1 and revoked_at is null', [
    options.name,
  ])
  if (live.length > 0) {
    throw new EngineError(ErrorCodes.TOKEN_EXISTS, `a live token named "${options.name}" exists; revoke it or choose another name`)
  }
  const token = `mt5e_${options.role}_${randomBytes(32).toString('base64url')}`
  const now = options.now ?? Date.now()
  const [row] = await db.query<{ id: number }>(
    'insert into tokens (name, role, token_hash, created_at, expires_at) values ($1, $2, $3, $4, $5) returning id',
    [options.name, options.role, hashToken(token), now, options.expiresAt ?? null],
  )
  return {
    token,
    info: {
      id: Number(row!.id),
      name: options.name,
      role: options.role,
      createdAt: now,
      expiresAt: options.expiresAt ?? null,
      lastUsedAt: null,
      revokedAt: null,
    },
  }
}

/** The token's identity when it is live (not revoked, not expired); undefined otherwise. */
export async function verifyToken(
  db: Queryable,
  token: string,
  now = Date.now(),
): Promise<{ id: number; name: string; role: Role } | undefined> {
  const [row] = await db.query<{ id: number; name: string; role: Role; expires_at: number | null }>(
    'select id, name, role, expires_at from tokens where token_hash = $1 and revoked_at is null',
    [hashToken(token)],
  )
  if (!row || (row.expires_at !== null && Number(row.expires_at) <= now)) return undefined
  // Bookkeeping, not a condition of access: a database that cannot write (a full disk) still
  // lets a valid token in, so that the EA is told STORAGE_FAILED for its writes, not refused.
  await db.query('update tokens set last_used_at = $2 where id = $1', [row.id, now]).catch(() => undefined)
  return { id: Number(row.id), name: row.name, role: row.role }
}

export async function listTokens(db: Queryable): Promise<TokenInfo[]> {
  const rows = await db.query<Record<string, unknown>>(
    'select id, name, role, created_at, expires_at, last_used_at, revoked_at from tokens order by id',
  )
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v))
  return rows.map((r) => ({
    id: Number(r.id),
    name: String(r.name),
    role: r.role as Role,
    createdAt: Number(r.created_at),
    expiresAt: n(r.expires_at),
    lastUsedAt: n(r.last_used_at),
    revokedAt: n(r.revoked_at),
  }))
}

/** Revokes the live token with this name (or numeric id); returns how many were revoked. */
export async function revokeToken(db: Queryable, nameOrId: string, now = Date.now()): Promise<number> {
  const byId = /^\d+$/.test(nameOrId)
  const rows = await db.query<{ id: number }>(
    `update tokens set revoked_at = $2 where ${byId ? 'id = $1' : 'name = $1'} and revoked_at is null returning id`,
    [byId ? Number(nameOrId) : nameOrId, now],
  )
  if (rows.length === 0) {
    throw new EngineError(ErrorCodes.TOKEN_NOT_FOUND, `no live token ${byId ? 'with id' : 'named'} "${nameOrId}"; see mt5-engine token list`)
  }
  return rows.length
}
