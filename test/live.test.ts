/**
 * Live topics end to end on both backends: a real engine, real EAs and dashboards over
 * WebSockets. Each topic gives its snapshot then the changes as they commit; a batch the database
 * rolls back publishes nothing; a dashboard that stops reading is bounded and gets a gap and a
 * fresh snapshot when it reads again.
 */
import t from 'tap'
import WebSocket from 'ws'
import type { Subscription } from '../src/client/dashboard-client.js'
import { ClientError } from '../src/errors.js'
import { decode, encode } from '../src/protocol/codec.js'
import { accountSnapshot, deal, makeTokens, startTestEngine, testDashboard, testEA, TickSource, withStorage } from './engine-helpers.js'
import { eachBackend, type Backend, type Test } from './helpers.js'

const T0 = Date.UTC(2024, 10, 19, 9, 0)
const ea = (t: Test, url: string, token: string, instanceId: string, login: number) => testEA(t, url, token, instanceId, login, { name: 'LiveEA', magic: 42 })
const dashboard = testDashboard
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(what: string | (() => string), check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`)
    await sleep(10)
  }
}

/**
 * Everything a subscription delivers from now on, in order. The first snapshot may have come with
 * `subscribed`, before a listener could be added: it is the subscription's `snapshot` promise.
 */
function record(sub: Subscription): { kind: string; data: any }[] {
  const seen: { kind: string; data: any }[] = []
  for (const kind of ['snapshot', 'event', 'gap', 'end']) sub.on(kind, (data) => seen.push({ kind, data }))
  return seen
}


/** A deal the database refuses by its content (a trigger standing in for any constraint). */
async function refuseTicket(backend: Backend, ticket: number): Promise<void> {
  await withStorage(backend, (s) =>
    s.exec(
      backend.dialect === 'sqlite'
        ? `create trigger refuse_deal before insert on deals when new.ticket = ${ticket} begin select raise(abort, 'refused deal'); end`
        : `create function refuse_deal() returns trigger language plpgsql as $$ begin if new.ticket = ${ticket} then raise exception 'refused deal' using errcode = '23514'; end if; return new; end $$;
           create trigger refuse_deal before insert on deals for each row execute function refuse_deal();`,
    ),
  )
}

t.test('live topics on both backends', async (t) => {
  await eachBackend(t, 'ticks, bars, positions, account, deals, ea_status, commands, notifications: snapshot, then what commits', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const url = engine.url!
    const a = await ea(t, url, tokens.ea, 'live-ea', 7001)
    await a.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
    const source = new TickSource('EURUSD', T0, 1.08, 5)
    const firstBatch = source.batch(50)
    await a.send(firstBatch)
    await a.send(accountSnapshot(T0, 10_000))
    await a.send(deal(1, T0 + 1000))
    await a.flushed()
    const viewer = await dashboard(t, url, tokens.viewer)
    const admin = await dashboard(t, url, tokens.admin)

    const ticks = await viewer.subscribe('ticks', { symbol: 'EURUSD', login: 7001 })
    const tickSeen = record(ticks)
    const bars = await viewer.subscribe('bars', { symbol: 'EURUSD', login: 7001, timeframe: 'M1' })
    const barSeen = record(bars)
    const positions = await viewer.subscribe('positions', { login: 7001 })
    const positionSeen = record(positions)
    const acct = await viewer.subscribe('account', { login: 7001 })
    const accountSeen = record(acct)
    const deals = await viewer.subscribe('deals', { login: 7001 })
    const dealSeen = record(deals)
    const status = await viewer.subscribe('ea_status')
    const statusSeen = record(status)
    const commands = await viewer.subscribe('commands')
    const commandSeen = record(commands)
    const notes = await viewer.subscribe('notifications')
    const noteSeen = record(notes)

    const tickSnapshot = (await ticks.snapshot) as { symbol: string; last: { time_msc: number; bid: number } }
    t.equal(tickSnapshot.symbol, 'EURUSD')
    t.same([tickSnapshot.last.time_msc, tickSnapshot.last.bid], [firstBatch.time_msc[49], firstBatch.bid[49]], 'the ticks snapshot is the newest stored tick')
    const barSnapshot = (await bars.snapshot) as { bars: { time_msc: number; close: number }[] }
    t.ok(barSnapshot.bars.length >= 1, 'the bars snapshot has the newest M1 bars')
    t.equal(barSnapshot.bars.at(-1)!.close, firstBatch.bid[49], 'whose last close is the last bid')
    t.same(((await acct.snapshot) as { balance: number }).balance, 10_000)
    t.same(((await deals.snapshot) as { deals: { ticket: number }[] }).deals.map((d) => d.ticket), [1])
    t.same(((await positions.snapshot) as { positions: unknown[] }).positions, [])
    t.same(((await status.snapshot) as { instances: { instance_id: string; online: boolean }[] }).instances.map((i) => [i.instance_id, i.online]), [['live-ea', true]])
    await Promise.all([commands.snapshot, notes.snapshot])

    // what commits next reaches each topic, in the shape of its query
    const next = source.batch(30)
    await a.send(next)
    await a.send({
      type: 'positions_snapshot', time_msc: T0 + 5000,
      positions: [{ identifier: 77, ticket: 77, symbol: 'EURUSD', position_type: 1, volume: 0.2, price_open: 1.081, price_current: 1.08, sl: 0, tp: 0, profit: 20, swap: 0, magic: 42, time_msc: T0 + 4000 }],
    } as never)
    await a.send(accountSnapshot(T0 + 6000, 10_020))
    await a.send(deal(2, T0 + 7000))
    await a.send({ type: 'ea_status', time_msc: T0 + 8000, state: 'paused', terminal_trade_allowed: true, ea_trade_allowed: false, queue_depth: 0, dropped_ticks: 0 } as never)
    await a.flushed()
    const events = (seen: { kind: string; data: any }[]) => seen.filter((e) => e.kind === 'event').map((e) => e.data)
    const all = [tickSeen, positionSeen, accountSeen, dealSeen, statusSeen]
    await until(() => `the events (seen: ${all.map((s) => s.map((e) => e.kind).join('+')).join(', ')})`, () => all.every((s) => events(s).length >= 1))
    t.same(events(tickSeen).flatMap((e) => e.time_msc), next.time_msc, 'the committed ticks, as columns')
    t.same(events(tickSeen).flatMap((e) => e.bid), next.bid)
    t.same(events(positionSeen)[0].positions.map((p: any) => [p.position_id, p.type, p.volume, p.state]), [[77, 'sell', 0.2, 'open']], 'positions as the positions query shows them')
    t.same([events(accountSeen)[0].balance, events(accountSeen)[0].equity], [10_020, 10_025])
    const d2 = events(dealSeen)[0]
    t.same([d2.ticket, d2.type, d2.entry, d2.order_ticket], [2, 'buy', 'in', 100_002], 'a deal as the deals query shows it')
    t.match(events(statusSeen)[0], { instance_id: undefined, state: 'paused', trade_allowed: false, online: true })
    await until('a bar event', () => barSeen.some((e) => e.kind === 'event' && e.data.bars.at(-1).close === next.bid.at(-1)))
    t.pass('the M1 bar the ticks changed is published, its close the last bid')

    // commands: every status change, whoever sent it
    a.on('command', () => {})
    const sent = admin.sendCommand({ command: 'pause', target: { instance_id: 'live-ea' } })
    const commandId = await sent.commandId
    await until('the command events', () => commandSeen.some((e) => e.kind === 'event' && e.data.command_id === commandId))
    t.equal(commandSeen.find((e) => e.kind === 'event')!.data.command, 'pause')

    // a batch the database rolls back publishes nothing of it; what is then committed alone is published once
    await refuseTicket(backend, 666)
    await Promise.all([a.send(deal(3, T0 + 9000)), a.send(deal(666, T0 + 9500)), a.send(deal(4, T0 + 9900))])
    await a.flushed()
    await until('deals 3 and 4', () => dealSeen.filter((e) => e.kind === 'event').length >= 3)
    await sleep(200)
    t.same(dealSeen.filter((e) => e.kind === 'event').map((e) => e.data.ticket), [2, 3, 4], 'deal 666 never appears, 3 and 4 once each')
    await until('the refusal notification', () => noteSeen.some((e) => e.kind === 'event'))
    const note = noteSeen.find((e) => e.kind === 'event')!.data
    t.match(note, { kind: 'message_rejected', level: 'error', instance_id: 'live-ea' }, 'the refusal is published as a notification')
    t.equal(await viewer.markNotificationsRead([note.id]), 1, 'marked read')
    t.equal(await viewer.markNotificationsRead([note.id]), 0, 'once')
    t.same((await viewer.query<{ read_at: number | null }>('notifications', { unread: true })).rows, [], 'no unread notification left')

    // online and offline
    await a.close()
    await until('offline', () => statusSeen.some((e) => e.kind === 'event' && e.data.online === false))
    t.match(statusSeen.find((e) => e.data.online === false)!.data, { instance_id: 'live-ea', online: false })

    // unsubscribe: nothing more arrives
    await ticks.unsubscribe()
    const after = tickSeen.length
    const b = await ea(t, url, tokens.ea, 'live-ea-2', 7001)
    await b.send(source.batch(10))
    await b.flushed()
    await sleep(200)
    t.equal(tickSeen.length, after, 'no event after unsubscribe')

    // refusals name what was wrong
    const refused = async (topic: string, params: Record<string, unknown> | undefined, field: string) => {
      try {
        await viewer.subscribe(topic, params)
        t.fail(`${topic}: subscribed`)
      } catch (err) {
        t.equal((err as ClientError).code, 'BAD_FIELD', `${topic} ${JSON.stringify(params)}: BAD_FIELD`)
        t.equal((err as ClientError).frame?.field, field, `naming ${field}: ${(err as Error).message}`)
      }
    }
    await refused('nope', undefined, 'topic')
    await refused('ticks', { symbol: 'EURUSD' }, 'params')
    await refused('ticks', { symbol: 'GBPUSD', login: 7001 }, 'params')
    await refused('bars', { symbol: 'EURUSD', login: 7001, timeframe: 'M7' }, 'params.timeframe')
    await refused('positions', { login: 1 }, 'params')
    await refused('commands', { login: 1 }, 'params.login')
  })

  await eachBackend(t, 'a dashboard that stops reading is bounded, then gets a gap and a fresh snapshot; a reading one misses nothing', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const url = engine.url!
    const a = await ea(t, url, tokens.ea, 'slow-ea', 7101)
    await a.send({ type: 'symbol_spec', symbol: 'EURUSD', digits: 5, point: 0.00001, chart_mode: 0 })
    const source = new TickSource('EURUSD', T0, 1.08, 9)
    await a.send(source.batch(10))
    await a.flushed()

    const fast = await dashboard(t, url, tokens.viewer)
    const fastSub = await fast.subscribe('ticks', { symbol: 'EURUSD', login: 7101 })
    const fastSeen = record(fastSub)
    await fastSub.snapshot

    // a raw client, whose socket can be left unread
    const slow = new WebSocket(url, { perMessageDeflate: false })
    t.teardown(() => slow.terminate())
    const frames: any[] = []
    await new Promise<void>((resolve, reject) => {
      slow.once('open', () => slow.send(encode({ type: 'hello', protocol: 1, role: 'dashboard', token: tokens.viewer })))
      slow.once('error', reject)
      slow.on('message', (data) => {
        const m = decode(data as Buffer) as any
        frames.push(m)
        if (m.type === 'welcome') resolve()
      })
    })
    slow.send(encode({ type: 'subscribe', request_id: 's1', topic: 'ticks', params: { symbol: 'EURUSD', login: 7101 } }))
    await until('the slow snapshot', () => frames.some((f) => f.type === 'snapshot'))
    ;(slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause()

    const sent: number[] = []
    let peakQueued = 0
    for (let i = 0; i < 400; i++) {
      const batch = source.batch(1000)
      sent.push(...batch.time_msc)
      await a.send(batch)
      peakQueued = Math.max(peakQueued, engine.subscriptions()!.queuedBytes)
    }
    await a.flushed()
    await until('the fast dashboard to have every tick', () => fastSeen.filter((e) => e.kind === 'event').reduce((n, e) => n + e.data.time_msc.length, 0) >= sent.length)
    const stats = engine.subscriptions()!
    t.ok(peakQueued <= 4 * 1024 * 1024 + 65536, `what waits for the slow one stays within the hub's bytes (peak ${peakQueued})`)
    t.ok(stats.dropped > 0, `ticks were dropped for the slow one (${stats.dropped})`)
    t.same(fastSeen.filter((e) => e.kind === 'event').flatMap((e) => e.data.time_msc), sent, 'the reading dashboard got every tick, in order')
    t.equal(fastSeen.filter((e) => e.kind === 'gap').length, 0, 'and no gap')

    ;(slow as unknown as { _socket: { resume(): void } })._socket.resume()
    await until('the gap and the resync', () => {
      const gap = frames.findIndex((f) => f.type === 'gap')
      return gap >= 0 && frames.slice(gap).some((f) => f.type === 'snapshot')
    }, 30_000)
    const gap = frames.findIndex((f) => f.type === 'gap')
    t.match(frames[gap], { type: 'gap', topic: 'ticks:' })
    t.ok(frames[gap].dropped > 0, `the gap says how many events were lost (${frames[gap].dropped})`)
    const resync = frames.slice(gap).find((f) => f.type === 'snapshot')
    t.equal(resync.data.last.time_msc, sent.at(-1), 'the fresh snapshot is the newest tick')
    const later = source.batch(5)
    await a.send(later)
    await a.flushed()
    await until('a delta after the resync', () => frames.slice(frames.indexOf(resync)).some((f) => f.type === 'event' && f.data.time_msc[0] === later.time_msc[0]))
    t.pass('deltas resume after the resync')
  })
})
