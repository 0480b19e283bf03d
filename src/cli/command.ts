/** `mt5-engine command send`: a command to EAs through the running engine, followed to its final status. */
import { connectDashboard, type Dashboard } from '../client/dashboard-client.js'
import { EngineError, ErrorCodes } from '../errors.js'
import type { CommandSend, CommandStatusUpdate } from '../protocol/messages.js'
import { configFrom, engineFlags, parse, wholeNumber, type Io } from './io.js'

export const commandUsageLines = `  mt5-engine command send --token ADMIN_TOKEN --type TYPE (--instance ID | --login N --server S [--magic M])
                          [--payload JSON] [--expires-in-ms MS] [--wait-ms MS] [--url ws://host:port/v1]
`

export async function commandCommand(args: string[], io: Io): Promise<number> {
  const [verb, ...rest] = args
  if (verb !== 'send') throw new EngineError(ErrorCodes.USAGE, `command needs the verb send${verb ? `; got "${verb}"` : ''}`)
  const { values } = parse(rest, {
    token: { type: 'string' },
    url: { type: 'string' },
    type: { type: 'string' },
    instance: { type: 'string' },
    login: { type: 'string' },
    server: { type: 'string' },
    magic: { type: 'string' },
    payload: { type: 'string' },
    'command-id': { type: 'string' },
    'expires-in-ms': { type: 'string' },
    'wait-ms': { type: 'string' },
    ...engineFlags('command send'),
  })
  const config = configFrom(values, io)
  const tokenValue = (values.token as string | undefined) ?? io.env.MT5E_TOKEN
  if (!tokenValue) throw new EngineError(ErrorCodes.USAGE, 'command send needs an admin token: --token or MT5E_TOKEN')
  if (!values.type) throw new EngineError(ErrorCodes.USAGE, '--type is required: pause, resume, close_positions, close_all, set_risk or custom')
  let target: CommandSend['target']
  if (values.instance !== undefined) target = { instance_id: String(values.instance) }
  else if (values.login !== undefined && values.server !== undefined) {
    const login = wholeNumber(values.login, '--login')
    target = values.magic !== undefined
      ? { login, server: String(values.server), magic: Number(values.magic) }
      : { login, server: String(values.server) }
  } else throw new EngineError(ErrorCodes.USAGE, 'name the target: --instance ID, or --login N --server S [--magic M]')
  let payload: Record<string, unknown> | undefined
  if (values.payload !== undefined) {
    try {
      payload = JSON.parse(String(values.payload)) as Record<string, unknown>
    } catch (err) {
      throw new EngineError(ErrorCodes.USAGE, `--payload must be a JSON object: ${(err as Error).message}`)
    }
  }
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host
  const url = (values.url as string | undefined) ?? `ws://${host.includes(':') ? `[${host}]` : host}:${config.port}/v1`
  let dashboard: Dashboard
  try {
    dashboard = await connectDashboard(url, { token: tokenValue })
  } catch (err) {
    throw new EngineError(ErrorCodes.ENGINE_UNREACHABLE, `cannot reach the engine at ${url}: ${(err as Error).message}`, { url })
  }
  try {
    const sent = dashboard.sendCommand({
      command: values.type as CommandSend['command'],
      target,
      ...(payload !== undefined && { payload }),
      ...(values['command-id'] !== undefined && { command_id: String(values['command-id']) }),
      ...(values['expires-in-ms'] !== undefined && { expires_in_ms: wholeNumber(values['expires-in-ms'], '--expires-in-ms') }),
    })
    dashboard.on('command_status', (u: CommandStatusUpdate) => {
      io.out(values.json ? JSON.stringify(u) + '\n' : `${new Date(u.updated_at).toISOString()}  ${u.command_id}  ${u.status}${u.reason ? `  ${u.reason}` : ''}${u.result ? `  ${JSON.stringify(u.result)}` : ''}\n`)
    })
    const waitMs = values['wait-ms'] === undefined ? 30000 : Number(values['wait-ms'])
    const final = await sent.until(['succeeded', 'failed', 'rejected', 'expired'], waitMs).catch((err: Error & { code?: string }) => {
      if (err.code) throw new EngineError(ErrorCodes.USAGE, `the engine refused the command: ${err.message}`)
      io.err(`no final status within ${waitMs} ms; the command stays queued until it expires\n`)
      return undefined
    })
    return final?.status === 'succeeded' ? 0 : 1
  } finally {
    await dashboard.close()
  }
}
