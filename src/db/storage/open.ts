import type { ResolvedConfig } from '../../config/resolve.js'
import { openPostgres } from './postgres.js'
import { openSqlite } from './sqlite.js'
import type { Storage } from './types.js'

/** Opens the database the configuration names: PostgreSQL for a `postgres://` URL, SQLite otherwise. */
export async function openStorage(
  config: Pick<ResolvedConfig, 'database' | 'dialect' | 'synchronous' | 'busyTimeoutMs'>,
): Promise<Storage> {
  if (config.dialect === 'postgres') return openPostgres({ url: config.database })
  return openSqlite({ path: config.database, synchronous: config.synchronous, busyTimeoutMs: config.busyTimeoutMs })
}
