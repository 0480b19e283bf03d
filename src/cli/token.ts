/** `mt5-engine token VERB`: create, scope, list and revoke the tokens EAs and dashboards connect with. */
import { maskDeep } from '../db/url.js'
import { createToken, describeScope, listTokens, parseScope, revokeToken, setScope, type Role, type TokenInfo } from '../db/sql/tokens.js'
import { prepareDatabase } from '../engine.js'
import { EngineError, ErrorCodes } from '../errors.js'
import { configFrom, parse, table, wholeNumber, type Io } from './io.js'

export const tokenUsageLines = `  mt5-engine token create --role ea|viewer|admin --name NAME [--expires-in-days N]
                          [--account LOGIN@SERVER] [--instance ID|PREFIX*] [--magic N] [--unscoped]
                          (an ea token binds to its first EA unless bound here; docs/SECURITY.md)
  mt5-engine token scope NAME|ID (--account LOGIN@SERVER [--instance ID|PREFIX*] [--magic N] | --first-use | --unscoped)
  mt5-engine token list
  mt5-engine token revoke NAME|ID
`

function scopeText(t: TokenInfo): string {
  if (t.scopeMode === 'first-use') return 'binds to its first EA'
  if (t.scopeMode === 'unscoped') return 'unscoped: any account'
  const since = t.boundAt === null ? '' : ` (first use ${new Date(t.boundAt).toISOString().replace('T', ' ').slice(0, 19)})`
  return describeScope(t.scope!) + since
}

export async function tokenCommand(args: string[], io: Io): Promise<number> {
  const [verb, ...rest] = args
  const { values, positionals } = parse(rest, {
    role: { type: 'string' },
    name: { type: 'string' },
    'expires-in-days': { type: 'string' },
    account: { type: 'string' },
    instance: { type: 'string' },
    magic: { type: 'string' },
    unscoped: { type: 'boolean' },
    'first-use': { type: 'boolean' },
  })
  const scope = parseScope({ account: values.account as string | undefined, instance: values.instance as string | undefined, magic: values.magic as string | undefined })
  const config = configFrom(values, io)
  const { storage } = await prepareDatabase(config)
  try {
    switch (verb) {
      case 'create': {
        if (values.role === undefined || values.name === undefined) {
          throw new EngineError(ErrorCodes.USAGE, 'token create needs --role ea|viewer|admin and --name NAME')
        }
        const days = values['expires-in-days'] === undefined ? undefined : wholeNumber(values['expires-in-days'], '--expires-in-days')
        const { token, info } = await createToken(storage, {
          role: values.role as Role,
          name: String(values.name),
          expiresAt: days === undefined ? null : Date.now() + days * 86_400_000,
          scope,
          unscoped: values.unscoped === true,
        })
        const exact = io.outExact ?? io.out
        if (values.json) exact(JSON.stringify({ ...maskDeep(info), token }) + '\n')
        else {
          io.out(`created ${info.role} token "${info.name}" (id ${info.id})${info.expiresAt ? `, expires ${new Date(info.expiresAt).toISOString()}` : ''}\n`)
          if (info.role === 'ea') io.out(`scope: ${scopeText(info)}\n`)
          io.out('it is shown once; only its hash is stored:\n')
          exact(`${token}\n`)
        }
        return 0
      }
      case 'list': {
        const tokens = await listTokens(storage)
        if (values.json) io.out(JSON.stringify(tokens, null, 2) + '\n')
        else {
          const when = (t: number | null) => (t === null ? '' : new Date(t).toISOString().replace('T', ' ').slice(0, 19))
          io.out(table([
            ['ID', 'NAME', 'ROLE', 'CREATED (UTC)', 'LAST USED', 'EXPIRES', 'REVOKED', 'SCOPE'],
            ...tokens.map((t) => [String(t.id), t.name, t.role, when(t.createdAt), when(t.lastUsedAt), when(t.expiresAt), when(t.revokedAt),
              t.role === 'ea' ? scopeText(t) : '']),
          ]))
        }
        return 0
      }
      case 'scope': {
        if (positionals.length !== 1) throw new EngineError(ErrorCodes.USAGE, 'token scope takes one token name or id')
        const modes = [values['first-use'] === true, values.unscoped === true, describeScope(scope) !== ''].filter(Boolean).length
        if (modes !== 1) {
          throw new EngineError(ErrorCodes.USAGE, 'token scope needs exactly one of: --account/--instance/--magic, --first-use, --unscoped')
        }
        const change = values['first-use'] ? { mode: 'first-use' as const } : values.unscoped ? { mode: 'unscoped' as const } : { scope }
        const info = await setScope(storage, positionals[0]!, change)
        if (values.json) io.out(JSON.stringify(info) + '\n')
        else io.out(`token "${info.name}": ${scopeText(info)} (connected EAs keep their sessions; the scope applies from their next hello)\n`)
        return 0
      }
      case 'revoke': {
        if (positionals.length !== 1) throw new EngineError(ErrorCodes.USAGE, 'token revoke takes one token name or id')
        await revokeToken(storage, positionals[0]!)
        io.out(`revoked ${positionals[0]}\n`)
        return 0
      }
      default:
        throw new EngineError(ErrorCodes.USAGE, `token needs a verb: create, list, scope or revoke${verb ? `; got "${verb}"` : ''}`)
    }
  } finally {
    await storage.close()
  }
}
