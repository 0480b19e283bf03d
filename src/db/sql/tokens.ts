/**
 * Access tokens: `mt5e_<role>_<43 characters>`, 256 random bits. Only their SHA-256 is stored; a
 * token is looked up by its hash, so a fast hash is enough for secrets of this strength.
 *
 * An `ea` token has a scope: the account, EA instance and magic it may stream as. A new one binds
 * to the account and instance of its first hello unless it is created bound (or unscoped on
 * purpose); see docs/SECURITY.md, "Token scopes".
 */
import { createHash, randomBytes } from 'node:crypto'
import { EngineError, ErrorCodes } from '../../errors.js'
import { limits } from '../../protocol/limits.js'
import type { Queryable } from '../storage/types.js'

export type Role = 'ea' | 'viewer' | 'admin'
export const roles: readonly Role[] = ['ea', 'viewer', 'admin']

/** What an `ea` token may stream as; a null part is not restricted. */
export interface TokenScope {
  login: number | null
  server: string | null
  /** An instance id, or a prefix ending in `*`. */
  instance: string | null
  magic: number | null
}

/**
 * - `first-use`: binds to the account and instance of its first hello (the default for `ea`);
 * - `bound`: holds to `scope` (bound at creation, or on first use, see `boundAt`);
 * - `unscoped`: may stream as any account and instance (viewer and admin tokens, tokens from
 *   before scopes existed, and `ea` tokens created `--unscoped`).
 */
export type ScopeMode = 'first-use' | 'bound' | 'unscoped'

export interface TokenInfo {
  id: number
  name: string
  role: Role
  createdAt: number
  expiresAt: number | null
  lastUsedAt: number | null
  revokedAt: number | null
  scopeMode: ScopeMode
  scope: TokenScope | null
  /** When a first-use token bound itself; null for one bound at creation. */
  boundAt: number | null
}

const emptyScope = (): TokenScope => ({ login: null, server: null, instance: null, magic: null })
const isEmpty = (s: TokenScope) => s.login === null && s.server === null && s.instance === null && s.magic === null

/**
 * Reads `--account LOGIN@SERVER`, `--instance ID|PREFIX*` and `--magic N` into a scope; messages
 * name the option that is wrong.
 */
export function parseScope(options: { account?: string | undefined; instance?: string | undefined; magic?: string | undefined }): TokenScope {
  const scope = emptyScope()
  if (options.account !== undefined) {
    const m = /^(\d{1,19})@(.{1,128})$/s.exec(options.account)
    if (!m || !Number.isSafeInteger(Number(m[1])) || m[2]!.trim() !== m[2]) {
      throw new EngineError(ErrorCodes.USAGE, `--account must be LOGIN@SERVER (the account number, then the trade server as MT5 names it, e.g. 51234567@ICMarkets-Demo); got "${options.account}"`)
    }
    scope.login = Number(m[1])
    scope.server = m[2]!
  }
  if (options.instance !== undefined) {
    const prefix = options.instance.endsWith('*') ? options.instance.slice(0, -1) : options.instance
    if (prefix.length === 0 || prefix.includes('*') || Buffer.byteLength(prefix) > limits.maxIdBytes || /[\u0000-\u001f]/.test(prefix)) {
      throw new EngineError(ErrorCodes.USAGE, `--instance must be an EA instance id, or a prefix of one followed by * (e.g. "eurusd-scalper-*"); got "${options.instance}"`)
    }
    scope.instance = options.instance
  }
  if (options.magic !== undefined) {
    if (!/^\d{1,19}$/.test(options.magic) || !Number.isSafeInteger(Number(options.magic))) {
      throw new EngineError(ErrorCodes.USAGE, `--magic must be the EA's magic number, a whole number >= 0; got "${options.magic}"`)
    }
    scope.magic = Number(options.magic)
  }
  return scope
}

/** The scope as the CLI and messages write it: `account 5123@Srv, instance x-*, magic 7`. */
export function describeScope(scope: TokenScope): string {
  const parts: string[] = []
  if (scope.login !== null) parts.push(`account ${scope.login}@${scope.server}`)
  if (scope.instance !== null) parts.push(`instance ${scope.instance}`)
  if (scope.magic !== null) parts.push(`magic ${scope.magic}`)
  return parts.join(', ')
}

/** Whether a hello as this account, instance and magic is within the scope. */
export function inScope(scope: TokenScope, login: number, server: string, instance: string, magic: number): boolean {
  if (scope.login !== null && (scope.login !== login || scope.server !== server)) return false
  if (scope.magic !== null && scope.magic !== magic) return false
  if (scope.instance === null) return true
  return scope.instance.endsWith('*') ? instance.startsWith(scope.instance.slice(0, -1)) : instance === scope.instance
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export async function createToken(
  db: Queryable,
  options: {
    role: Role
    name: string
    expiresAt?: number | null
    now?: number
    /** `ea` only: bound to this scope at creation (otherwise it binds on first use). */
    scope?: TokenScope
    /** `ea` only: may stream as any account; for a fleet on one trusted machine. */
    unscoped?: boolean
  },
): Promise<{ token: string; info: TokenInfo }> {
  if (!roles.includes(options.role)) {
    throw new EngineError(ErrorCodes.USAGE, `--role must be one of ${roles.join(', ')}; got "${options.role}"`)
  }
  if (!/^[\w.@:-]{1,64}$/.test(options.name)) {
    throw new EngineError(ErrorCodes.USAGE, `--name must be 1-64 letters, digits or _ . @ : -; got "${options.name}"`)
  }
  const scope = options.scope && !isEmpty(options.scope) ? options.scope : undefined
  if (options.role !== 'ea' && (scope || options.unscoped)) {
    throw new EngineError(ErrorCodes.USAGE, `--account, --instance, --magic and --unscoped are for ea tokens; a ${options.role} token does not stream`)
  }
  if (scope && options.unscoped) {
    throw new EngineError(ErrorCodes.USAGE, '--unscoped contradicts --account, --instance and --magic: choose one')
  }
  const scopeMode: ScopeMode = options.role !== 'ea' || options.unscoped ? 'unscoped' : scope ? 'bound' : 'first-use'
  const live = await db.query<{ id: number }>('select id from tokens where name = $1 and revoked_at is null', [
    options.name,
  ])
  if (live.length > 0) {
    throw new EngineError(ErrorCodes.TOKEN_EXISTS, `a live token named "${options.name}" exists; revoke it or choose another name`)
  }
  const token = `mt5e_${options.role}_${randomBytes(32).toString('base64url')}`
  const now = options.now ?? Date.now()
  const [row] = await db.query<{ id: number }>(
    `insert into tokens (name, role, token_hash, created_at, expires_at, scope_login, scope_server, scope_instance,
                         scope_magic, scope_first_use)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id`,
    [options.name, options.role, hashToken(token), now, options.expiresAt ?? null, scope?.login ?? null, scope?.server ?? null,
      scope?.instance ?? null, scope?.magic ?? null, scopeMode === 'first-use' ? 1 : 0],
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
      scopeMode,
      scope: scope ?? null,
      boundAt: null,
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

const TOKEN_COLUMNS = `id, name, role, created_at, expires_at, last_used_at, revoked_at, scope_login, scope_server, scope_instance,
  scope_magic, scope_first_use, bound_at`

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v))

function tokenInfo(r: Record<string, unknown>): TokenInfo {
  const scope: TokenScope = {
    login: n(r.scope_login),
    server: r.scope_server === null || r.scope_server === undefined ? null : String(r.scope_server),
    instance: r.scope_instance === null || r.scope_instance === undefined ? null : String(r.scope_instance),
    magic: n(r.scope_magic),
  }
  const scopeMode: ScopeMode = Number(r.scope_first_use) === 1 ? 'first-use' : isEmpty(scope) ? 'unscoped' : 'bound'
  return {
    id: Number(r.id),
    name: String(r.name),
    role: r.role as Role,
    createdAt: Number(r.created_at),
    expiresAt: n(r.expires_at),
    lastUsedAt: n(r.last_used_at),
    revokedAt: n(r.revoked_at),
    scopeMode,
    scope: scopeMode === 'bound' ? scope : null,
    boundAt: n(r.bound_at),
  }
}

export async function listTokens(db: Queryable): Promise<TokenInfo[]> {
  const rows = await db.query<Record<string, unknown>>(`select ${TOKEN_COLUMNS} from tokens order by id`)
  return rows.map(tokenInfo)
}

/** The token by id, its row locked until the transaction ends on PostgreSQL (`lock`). */
export async function tokenById(tx: Queryable, id: number, lock: boolean): Promise<TokenInfo | undefined> {
  const [row] = await tx.query<Record<string, unknown>>(`select ${TOKEN_COLUMNS} from tokens where id = $1${lock ? ' for update' : ''}`, [id])
  return row ? tokenInfo(row) : undefined
}

/** Whether the token is still live: not revoked, not expired. */
export function isLive(token: TokenInfo, now: number): boolean {
  return token.revokedAt === null && (token.expiresAt === null || token.expiresAt > now)
}

/** A first-use token takes the account and instance of its first hello as its scope. */
export async function bindOnFirstUse(tx: Queryable, id: number, scope: TokenScope, now: number): Promise<void> {
  await tx.query(
    `update tokens set scope_login = $2, scope_server = $3, scope_instance = $4, scope_first_use = 0, bound_at = $5
      where id = $1 and scope_first_use = 1`,
    [id, scope.login, scope.server, scope.instance, now],
  )
}

/**
 * Sets the scope of a live `ea` token (`token scope`): bound to `scope`, back to first use, or
 * unscoped. Returns the token as it is now.
 */
export async function setScope(
  db: Queryable,
  nameOrId: string,
  change: { scope: TokenScope } | { mode: 'first-use' | 'unscoped' },
): Promise<TokenInfo> {
  const byId = /^\d+$/.test(nameOrId)
  const [row] = await db.query<{ id: number; role: Role }>(
    `select id, role from tokens where ${byId ? 'id = $1' : 'name = $1'} and revoked_at is null`,
    [byId ? Number(nameOrId) : nameOrId],
  )
  if (!row) throw new EngineError(ErrorCodes.TOKEN_NOT_FOUND, `no live token ${byId ? 'with id' : 'named'} "${nameOrId}"; see mt5-engine token list`)
  if (row.role !== 'ea') throw new EngineError(ErrorCodes.USAGE, `token "${nameOrId}" is a ${row.role} token; only ea tokens have a scope`)
  const scope = 'scope' in change ? change.scope : emptyScope()
  if ('scope' in change && isEmpty(scope)) {
    throw new EngineError(ErrorCodes.USAGE, 'token scope needs --account, --instance or --magic, or --first-use, or --unscoped')
  }
  await db.query(
    `update tokens set scope_login = $2, scope_server = $3, scope_instance = $4, scope_magic = $5, scope_first_use = $6,
                       bound_at = null
      where id = $1`,
    [row.id, scope.login, scope.server, scope.instance, scope.magic, 'mode' in change && change.mode === 'first-use' ? 1 : 0],
  )
  return (await tokenById(db, Number(row.id), false))!
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
