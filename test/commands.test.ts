/**
 * Commands end to end: a real engine (in this process, or a child process that is killed), real
 * EA clients and real dashboards, on both backends. The test EA behaves as docs/PROTOCOL.md 4.2
 * asks: it acknowledges before running, remembers every command id it has run and answers
 * `duplicate` to a second delivery, and never runs an expired command.
 */
import t from 'tap'
import { connectDashboard, type Dashboard, type SentCommand } from '../src/client/dashboard-client.js'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import type { Engine } from '../src/engine.js'
import type { Command, CommandAckStatus, CommandStatus, ErrorFrame } from '../src/protocol/messages.js'
import type { Storage } from '../src/db/storage/types.js'
import { account, makeTokens, spawnEngine, startTestEngine, type Tokens } from './engine-helpers.js'
import { eachBackend, runCliProcess, type Backend, type Test } from './helpers.js'

const SERVER = account(1).server

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor(what: string, check: () => unknown, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

interface TestEa {
  client: EaClient
  /** Every `command` frame received, redeliveries included, in order. */
  received: Command[]
  /** Every `command_ack` sent, in order. */
  acks: { commandId: string; status: CommandAckStatus }[]
  /** The ids of the commands this EA ran. */
  executed: string[]
  /** Lets held results go out (`holdResults`). */
  release(): void
}

/**
 * Connects an EA whose commands "run" by reporting `{ran, by}`. With `holdResults`, the results
 * wait for `release()`: the command is accepted and running, its result not yet sent.
 */
async function startEa(
  t: Test,
  url: string,
  token: string,
  instanceId: string,
  options: { login: number; magic?: number; holdResults?: boolean },
): Promise<TestEa> {
  // What a real EA keeps in a file: the ids it has run, so a redelivery is not run again.
  const seen = new Set<string>()
  const received: Command[] = []
  const acks: TestEa['acks'] = []
  const executed: string[] = []
  let release = () => {}
  const released = options.holdResults ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve()
  const ack = (client: EaClient, commandId: string, status: CommandAckStatus) => {
    acks.push({ commandId, status })
    void client.ackCommand(commandId, status)
  }
  const onCommand = (c: Command, client: EaClient) => {
    received.push(c)
    // The engine runs on this host, so its clock is ours (a real EA adds the offset it measured).
    if (c.expires_at <= Date.now()) return ack(client, c.command_id, 'expired')
    if (seen.has(c.command_id)) return ack(client, c.command_id, 'duplicate')
    seen.add(c.command_id)
    ack(client, c.command_id, 'accepted')
    executed.push(c.command_id)
    void released.then(() => client.commandResult(c.command_id, true, { ran: c.command, by: instanceId }))
  }
  const client = await connectEA(url, {
    token,
    instanceId,
    account: account(options.login),
    ea: { name: 'command-test-ea', magic: options.magic ?? 0 },
    minDelayMs: 50,
    maxDelayMs: 300,
    onCommand,
  })
  t.teardown(() => client.close())
  return { client, received, acks, executed, release: () => release() }
}

async function openDashboard(t: Test, url: string, token: string): Promise<Dashboard> {
  const dashboard = await connectDashboard(url, { token })
  t.teardown(() => dashboard.close())
  return dashboard
}

/** Connects an EA once, so the engine knows its instance and account, and disconnects it. */
async function registerOffline(t: Test, engine: Engine, token: string, instanceId: string, login: number): Promise<void> {
  const before = engine.counters.gateway!.connections
  const ea = await startEa(t, engine.url!, token, instanceId, { login })
  await ea.client.close()
  await waitFor(`the engine to drop ${instanceId}`, () => engine.counters.gateway!.connections === before)
}

interface Setup {
  tokens: Tokens
  engine: Engine
  url: string
  db: Storage
}

async function setup(t: Test, backend: Backend): Promise<Setup> {
  const tokens = await makeTokens(backend)
  const engine = await startTestEngine(t, backend)
  return { tokens, engine, url: engine.url!, db: await backend.open() }
}

const statuses = (sent: SentCommand): CommandStatus[] => sent.updates.map((u) => u.status)

function json(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value
}

async function commandRow(db: Storage, id: string) {
  const [row] = await db.query<{ status: string; target: string; magic: number | null; result: unknown }>(
    'select status, target, magic, result from commands where id = $1',
    [id],
  )
  return row && { status: row.status, target: row.target, magic: row.magic === null ? null : Number(row.magic), result: json(row.result) }
}

async function deliveries(db: Storage, id: string) {
  const rows = await db.query<{ instance_id: string; status: string; result: unknown }>(
    `select s.instance_id, d.status, d.result from command_deliveries d join streams s on s.id = d.stream_id
      where d.command_id = $1 order by s.instance_id`,
    [id],
  )
  return rows.map((r) => ({ instance: r.instance_id, status: r.status, result: json(r.result) }))
}

async function countCommands(db: Storage): Promise<number> {
  const [row] = await db.query<{ n: number | string }>('select count(*) as n from commands')
  return Number(row!.n)
}

/** Resolves with the error a refused command fails with. */
async function refusal(sent: SentCommand): Promise<Error & { code?: string; frame?: ErrorFrame }> {
  return sent.until('pending', 5000).then(
    () => {
      throw new Error('the command was accepted')
    },
    (err: Error) => err,
  )
}

t.test('commands', async (t) => {
  await eachBackend(t, 'a command to one instance goes pending, delivered, accepted, succeeded and its result reaches the dashboard', async (t, backend) => {
    const { tokens, url, db } = await setup(t, backend)
    const ea = await startEa(t, url, tokens.ea, 'ea-one', { login: 5001 })
    const dashboard = await openDashboard(t, url, tokens.admin)

    const sent = dashboard.sendCommand({ command: 'set_risk', target: { instance_id: 'ea-one' }, payload: { max_lots: 0.5 } })
    const done = await sent.until('succeeded')
    const id = await sent.commandId

    t.same(statuses(sent), ['pending', 'delivered', 'accepted', 'succeeded'])
    t.ok(sent.updates.every((u) => u.command_id === id && u.command === 'set_risk'), 'every update names the command')
    const requestIds = new Set(sent.updates.map((u) => u.request_id))
    t.equal(requestIds.size, 1, 'every update carries the same request_id')
    t.type([...requestIds][0], 'string')
    t.same(done.result, { ran: 'set_risk', by: 'ea-one' })

    t.same(ea.executed, [id])
    t.same(ea.received.map((c) => [c.command_id, c.command, c.payload]), [[id, 'set_risk', { max_lots: 0.5 }]])
    const lifetime = ea.received[0]!.expires_at - ea.received[0]!.created_at
    t.ok(lifetime > 59000 && lifetime <= 60000, `expires_in_ms defaults to 60 s (got ${lifetime} ms)`)

    t.same(await commandRow(db, id), { status: 'succeeded', target: 'instance', magic: null, result: { ran: 'set_risk', by: 'ea-one' } })
    t.same(await deliveries(db, id), [{ instance: 'ea-one', status: 'succeeded', result: { ran: 'set_risk', by: 'ea-one' } }])
    const [issued] = await db.query<{ by: unknown; admin: unknown }>(
      `select c.issued_by_token_id as by, t.id as admin from commands c, tokens t where c.id = $1 and t.role = 'admin'`,
      [id],
    )
    t.equal(Number(issued!.by), Number(issued!.admin), 'the command records the admin token that sent it')
  })

  await eachBackend(t, 'account + magic reaches only the EA with that magic; the account alone reaches every EA of it, also one connecting later', async (t, backend) => {
    const { tokens, url, db } = await setup(t, backend)
    const seven = await startEa(t, url, tokens.ea, 'ea-magic-7', { login: 5002, magic: 7 })
    const eight = await startEa(t, url, tokens.ea, 'ea-magic-8', { login: 5002, magic: 8 })
    const elsewhere = await startEa(t, url, tokens.ea, 'ea-other-account', { login: 5003, magic: 7 })
    const dashboard = await openDashboard(t, url, tokens.admin)

    const byMagic = dashboard.sendCommand({ command: 'pause', target: { login: 5002, server: SERVER, magic: 7 } })
    await byMagic.until('succeeded')
    const magicId = await byMagic.commandId
    t.same(statuses(byMagic), ['pending', 'delivered', 'accepted', 'succeeded'])
    t.same(byMagic.updates.at(-1)!.result, { ran: 'pause', by: 'ea-magic-7' })

    const byAccount = dashboard.sendCommand({ command: 'resume', target: { login: 5002, server: SERVER } })
    await waitFor('a result from each EA of the account', () => byAccount.updates.filter((u) => u.status === 'succeeded').length === 2)
    const accountId = await byAccount.commandId
    t.same(statuses(byAccount).slice(0, 2), ['pending', 'delivered'])
    t.same(statuses(byAccount).slice(2).sort(), ['accepted', 'accepted', 'succeeded', 'succeeded'], "each EA's answers are reported")
    t.same(
      byAccount.updates.filter((u) => u.status === 'succeeded').map((u) => (u.result as { by: string }).by).sort(),
      ['ea-magic-7', 'ea-magic-8'],
    )

    t.same(seven.executed, [magicId, accountId])
    t.same(eight.received.map((c) => c.command_id), [accountId], 'the other magic never saw the magic command')
    t.same(eight.executed, [accountId])
    t.same(elsewhere.received, [], 'another account gets neither')

    t.same(await commandRow(db, magicId), { status: 'succeeded', target: 'magic', magic: 7, result: { ran: 'pause', by: 'ea-magic-7' } })
    t.same(await deliveries(db, magicId), [{ instance: 'ea-magic-7', status: 'succeeded', result: { ran: 'pause', by: 'ea-magic-7' } }])

    // An EA of the account that connects before the command expires gets it too, though others answered.
    const late = await startEa(t, url, tokens.ea, 'ea-magic-9', { login: 5002, magic: 9 })
    await waitFor('a result from the late EA', () => byAccount.updates.filter((u) => u.status === 'succeeded').length === 3)
    t.same(late.received.map((c) => c.command_id), [accountId], 'the late EA gets the account command, not the magic one')
    t.same(late.executed, [accountId])
    t.same(statuses(byAccount).slice(2).sort(), ['accepted', 'accepted', 'accepted', 'succeeded', 'succeeded', 'succeeded'])

    t.match(await commandRow(db, accountId), { status: 'succeeded', target: 'account', magic: null })
    t.same(await deliveries(db, accountId), [
      { instance: 'ea-magic-7', status: 'succeeded', result: { ran: 'resume', by: 'ea-magic-7' } },
      { instance: 'ea-magic-8', status: 'succeeded', result: { ran: 'resume', by: 'ea-magic-8' } },
      { instance: 'ea-magic-9', status: 'succeeded', result: { ran: 'resume', by: 'ea-magic-9' } },
    ])
  })

  await eachBackend(t, 'a command to an offline EA stays pending and is delivered and run when the EA connects', async (t, backend) => {
    const { tokens, engine, url, db } = await setup(t, backend)
    await registerOffline(t, engine, tokens.ea, 'ea-late', 5004)
    const dashboard = await openDashboard(t, url, tokens.admin)

    const sent = dashboard.sendCommand({ command: 'close_all', target: { instance_id: 'ea-late' } })
    const id = await sent.commandId
    await sleep(500)
    t.same(statuses(sent), ['pending'], 'nothing happens while the EA is away')
    t.equal((await commandRow(db, id))?.status, 'pending')
    t.same(await deliveries(db, id), [])

    const ea = await startEa(t, url, tokens.ea, 'ea-late', { login: 5004 })
    const done = await sent.until('succeeded')
    t.same(statuses(sent), ['pending', 'delivered', 'accepted', 'succeeded'])
    t.same(done.result, { ran: 'close_all', by: 'ea-late' })
    t.same(ea.executed, [id])
    t.equal((await commandRow(db, id))?.status, 'succeeded')
    t.same(await deliveries(db, id), [{ instance: 'ea-late', status: 'succeeded', result: { ran: 'close_all', by: 'ea-late' } }])
  })

  await eachBackend(t, 'a command that expires before its EA connects is reported expired and never delivered', async (t, backend) => {
    const { tokens, engine, url, db } = await setup(t, backend)
    await registerOffline(t, engine, tokens.ea, 'ea-expiry', 5005)
    const dashboard = await openDashboard(t, url, tokens.admin)

    const doomed = dashboard.sendCommand({ command: 'close_all', target: { instance_id: 'ea-expiry' }, expires_in_ms: 200 })
    const expired = await doomed.until('expired', 5000)
    const doomedId = await doomed.commandId
    t.same(statuses(doomed), ['pending', 'expired'])
    t.equal(expired.request_id, doomed.updates[0]!.request_id, 'the expiry goes to the request that sent it')
    t.equal((await commandRow(db, doomedId))?.status, 'expired')

    // Queued behind the expired one: when it arrives, anything older would have arrived first.
    const later = dashboard.sendCommand({ command: 'pause', target: { instance_id: 'ea-expiry' } })
    const laterId = await later.commandId
    const ea = await startEa(t, url, tokens.ea, 'ea-expiry', { login: 5005 })
    await later.until('succeeded')

    t.same(ea.received.map((c) => c.command_id), [laterId], 'the expired command is not delivered')
    t.same(ea.executed, [laterId])
    t.same(statuses(doomed), ['pending', 'expired'])
    t.equal((await commandRow(db, doomedId))?.status, 'expired')
    t.same(await deliveries(db, doomedId), [])
  })

  await eachBackend(t, 'a command redelivered after an engine crash is answered duplicate, runs once and still succeeds', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const db = await backend.open()
    // Writes wait 3 s in this engine: the EA's 'accepted' reaches it but is never committed.
    const first = await spawnEngine(t, backend, ['--write-delay-ms', '3000'])
    const ea = await startEa(t, first.url, tokens.ea, 'ea-crash', { login: 5006, holdResults: true })
    const before = await openDashboard(t, first.url, tokens.admin)

    const sent = before.sendCommand({ command_id: 'crash-1', command: 'close_positions', target: { instance_id: 'ea-crash' }, payload: { symbol: 'EURUSD' } })
    await sent.until('delivered')
    await waitFor('the EA to accept', () => ea.acks.length === 1)
    t.same(ea.acks, [{ commandId: 'crash-1', status: 'accepted' }])
    t.same(ea.executed, ['crash-1'])
    await sleep(200)
    first.child.kill('SIGKILL')
    await first.exited
    t.same(await deliveries(db, 'crash-1'), [{ instance: 'ea-crash', status: 'delivered', result: null }], 'the ack died with the engine')

    const second = await spawnEngine(t, backend, ['--port', new URL(first.url).port])
    t.equal(second.url, first.url, 'the restarted engine listens where the EA reconnects')
    await waitFor('the command to be delivered again', () => ea.received.length === 2, 15000)
    t.same(ea.received.map((c) => [c.command_id, c.command, c.payload]), [
      ['crash-1', 'close_positions', { symbol: 'EURUSD' }],
      ['crash-1', 'close_positions', { symbol: 'EURUSD' }],
    ])
    t.same(ea.acks.map((a) => a.status), ['accepted', 'duplicate'])
    await waitFor('the acks to be committed', async () => (await deliveries(db, 'crash-1'))[0]?.status === 'duplicate')
    t.equal((await commandRow(db, 'crash-1'))?.status, 'accepted', 'a duplicate leaves the command accepted')

    const after = await openDashboard(t, second.url, tokens.admin)
    const resent = after.sendCommand({ command_id: 'crash-1', command: 'close_positions', target: { instance_id: 'ea-crash' } })
    t.equal((await resent.until('accepted', 5000)).command_id, 'crash-1', 'a resend after the restart reports the current status')
    ea.release()
    const done = await resent.until('succeeded')
    t.same(done.result, { ran: 'close_positions', by: 'ea-crash' })
    t.same(ea.executed, ['crash-1'], 'executed once')
    t.equal(ea.received.length, 2)
    t.same(await commandRow(db, 'crash-1'), { status: 'succeeded', target: 'instance', magic: null, result: { ran: 'close_positions', by: 'ea-crash' } })
    t.same(await deliveries(db, 'crash-1'), [{ instance: 'ea-crash', status: 'succeeded', result: { ran: 'close_positions', by: 'ea-crash' } }])
    t.equal(await countCommands(db), 1)
  })

  await eachBackend(t, 'a viewer is refused command_send with FORBIDDEN and stays connected; an ea token cannot open a dashboard', async (t, backend) => {
    const { tokens, url, db } = await setup(t, backend)
    const ea = await startEa(t, url, tokens.ea, 'ea-guarded', { login: 5007 })
    const viewer = await openDashboard(t, url, tokens.viewer)
    t.equal(viewer.welcome.role, 'viewer')
    const errors: ErrorFrame[] = []
    viewer.on('engine-error', (e: ErrorFrame) => errors.push(e))

    for (const attempt of ['first', 'second']) {
      const sent = viewer.sendCommand({ command: 'close_all', target: { instance_id: 'ea-guarded' } })
      const err = await refusal(sent)
      t.equal(err.code, 'FORBIDDEN', `${attempt} attempt`)
      t.type(err.frame?.request_id, 'string', 'the error carries the request_id it answers')
      t.same(sent.updates, [])
    }
    t.equal(errors.length, 2)
    t.not(errors[0]!.request_id, errors[1]!.request_id)
    t.equal(await countCommands(db), 0)
    t.same(ea.received, [])

    await t.rejects(connectDashboard(url, { token: tokens.ea }), { code: 'FORBIDDEN' })
  })

  await eachBackend(t, 'a target the engine has never seen is refused with BAD_FIELD on target', async (t, backend) => {
    const { tokens, url, db } = await setup(t, backend)
    await startEa(t, url, tokens.ea, 'ea-known', { login: 5008 })
    const dashboard = await openDashboard(t, url, tokens.admin)
    for (const target of [{ instance_id: 'ea-unknown' }, { login: 999999, server: SERVER }, { login: 5008, server: 'Other-Server' }]) {
      const err = await refusal(dashboard.sendCommand({ command: 'pause', target }))
      t.equal(err.code, 'BAD_FIELD', JSON.stringify(target))
      t.equal(err.frame?.field, 'target')
    }
    t.equal(await countCommands(db), 0)
  })

  await eachBackend(t, 'a resend of the same command_id answers with its status and queues nothing', async (t, backend) => {
    const { tokens, engine, url, db } = await setup(t, backend)
    await registerOffline(t, engine, tokens.ea, 'ea-resend', 5010)
    const dashboard = await openDashboard(t, url, tokens.admin)
    const send = () => dashboard.sendCommand({ command_id: 'resend-1', command: 'pause', target: { instance_id: 'ea-resend' } })

    const original = send()
    await original.until('pending')
    const resent = send()
    t.same(statuses(resent), [])
    t.equal((await resent.until('pending')).command_id, 'resend-1')
    t.equal(await countCommands(db), 1)

    const ea = await startEa(t, url, tokens.ea, 'ea-resend', { login: 5010 })
    await waitFor('the command to succeed', async () => (await commandRow(db, 'resend-1'))?.status === 'succeeded')
    // The row commits before the update reaches the dashboard: wait for the last one to arrive.
    const heard = () => [...original.updates, ...resent.updates]
    await waitFor('the dashboard to hear it succeeded', async () => heard().some((u) => u.status === 'succeeded'))
    // Updates may follow either request; together they tell each step once.
    const steps = heard().map((u) => u.status).sort()
    t.same(steps, ['accepted', 'delivered', 'pending', 'pending', 'succeeded'])

    const late = send()
    t.equal((await late.until('succeeded', 5000)).command_id, 'resend-1', 'a resend after the end reports the outcome')
    // A command queued after the resends: it arrives after anything they would have sent.
    const next = dashboard.sendCommand({ command: 'resume', target: { instance_id: 'ea-resend' } })
    await next.until('succeeded')
    t.same(ea.received.map((c) => c.command_id), ['resend-1', await next.commandId])
    t.same(ea.acks.map((a) => a.status), ['accepted', 'accepted'])
    t.equal(await countCommands(db), 2)
    t.equal((await deliveries(db, 'resend-1')).length, 1)
  })

  await eachBackend(t, 'mt5-engine command send runs a command on a connected EA, prints every status and exits 0', async (t, backend) => {
    const { tokens, url, db } = await setup(t, backend)
    const ea = await startEa(t, url, tokens.ea, 'ea-cli', { login: 5009 })

    const run = await runCliProcess(['command', 'send', '--url', url, '--token', tokens.admin, '--type', 'pause', '--instance', 'ea-cli'], { timeoutMs: 30000 })
    t.equal(run.code, 0, run.stderr)
    const lines = run.stdout.trim().split('\n').map((line) => line.split(/\s+/))
    t.same(lines.map((l) => l[2]), ['pending', 'delivered', 'accepted', 'succeeded'], run.stdout)
    const id = lines[0]![1]!
    t.ok(lines.every((l) => l[1] === id && !Number.isNaN(Date.parse(l[0]!))), 'each line: time, command id, status')
    t.match(lines.at(-1)!.slice(3).join(' '), '{"ran":"pause","by":"ea-cli"}')

    t.same(ea.executed, [id])
    t.equal(ea.received[0]!.command, 'pause')
    t.equal((await commandRow(db, id))?.status, 'succeeded')
  })
})
