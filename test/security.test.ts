/**
 * What a token may write (docs/SECURITY.md, "Token scopes", "Market data"): an ea token binds to
 * its first EA, a bound token cannot say hello as anyone else, an instance cannot be taken over by
 * another live token, one account's EAs cannot touch another account's deals, ticks or symbol
 * specs, and tick indexes are stored at the range storage holds. Both backends, real engines.
 */
import t from 'tap'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import { parseEaMessage } from '../src/protocol/validate.js'
import { ProtocolError } from '../src/protocol/codec.js'
import { createToken, revokeToken, type TokenScope } from '../src/db/sql/tokens.js'
import { account, count, deal, startTestEngine, TickSource, tokenInfo, withStorage } from './engine-helpers.js'
import { eachBackend, type Backend, type Test } from './helpers.js'
import { eaHello, open, type Peer } from './peer.js'

const SERVER = account(0).server

async function token(backend: Backend, name: string, options: { scope?: TokenScope; unscoped?: boolean } = {}): Promise<string> {
  return withStorage(backend, async (s) => (await createToken(s, { role: 'ea', name, ...options })).token)
}

function ea(url: string, tokenValue: string, instance: string, login: number): Promise<EaClient> {
  return connectEA(url, { token: tokenValue, instanceId: instance, account: account(login), ea: { name: 'ScopeEA', magic: 7 }, minDelayMs: 20, maxDelayMs: 200 })
}

/** A raw hello; resolves with the error frame and the close the engine answered with. */
async function refusedHello(t: Test, url: string, hello: Record<string, unknown>): Promise<{ code: string | undefined; message: string; close: number; peer: Peer }> {
  const peer = await open(t, url)
  peer.send(hello)
  const closed = await peer.closedWithin(5000)
  const error = peer.errors()[0]
  return { code: error?.code, message: String(error?.message ?? ''), close: closed.code, peer }
}

const scope = (s: Partial<TokenScope>): TokenScope => ({ login: null, server: null, instance: null, magic: null, ...s })

t.test('token scopes', async (t) => {
  await eachBackend(t, 'a new ea token binds to its first EA; another instance or account is FORBIDDEN and nothing of it is written', async (t, backend) => {
    const engine = await startTestEngine(t, backend)
    const mine = await token(backend, 'tofu')
    t.equal((await tokenInfo(backend, 'tofu')).scopeMode, 'first-use', 'created unbound, to bind on first use')
    const client = await ea(engine.url!, mine, 'tofu-ea', 6001)
    await client.send(deal(1, 1_732_000_000_000))
    await client.flushed()
    await client.close()
    const bound = await tokenInfo(backend, 'tofu')
    t.equal(bound.scopeMode, 'bound')
    t.same(bound.scope, { login: 6001, server: SERVER, instance: 'tofu-ea', magic: null }, 'bound to the account and instance of its first hello')
    t.ok(bound.boundAt !== null, 'the binding time is recorded')

    const other = await refusedHello(t, engine.url!, { ...eaHello(mine, 'tofu-other', 6001) })
    t.same([other.code, other.close], ['FORBIDDEN', 4003], 'another instance of the same account')
    t.match(other.message, /may stream only as account 6001@.* instance tofu-ea/, 'the message says what the token is bound to')
    const elsewhere = await refusedHello(t, engine.url!, { ...eaHello(mine, 'tofu-ea', 6002) })
    t.same([elsewhere.code, elsewhere.close], ['FORBIDDEN', 4003], 'the same instance id on another account')
    t.equal(await count(backend, 'select count(*) from accounts where login = 6002'), 0, 'the refused hello created no account')
    t.equal(await count(backend, "select count(*) from streams where instance_id = 'tofu-other'"), 0, 'nor a stream')

    const again = await ea(engine.url!, mine, 'tofu-ea', 6001)
    t.ok((await again.send(deal(2, 1_732_000_000_001))) > 0)
    await again.flushed()
    await again.close()
    t.equal(await count(backend, 'select count(*) from deals d join accounts a on a.id = d.account_id where a.login = 6001'), 2, 'its own EA still streams')
  })

  await eachBackend(t, 'bound at creation: account, instance prefix and magic each refuse what is outside', async (t, backend) => {
    const engine = await startTestEngine(t, backend)
    const fleet = await token(backend, 'fleet', { scope: scope({ login: 6101, server: SERVER, instance: 'fleet-*', magic: 7 }) })
    for (const instance of ['fleet-1', 'fleet-2']) {
      const c = await ea(engine.url!, fleet, instance, 6101)
      await c.close()
    }
    t.equal((await tokenInfo(backend, 'fleet')).boundAt, null, 'a token bound at creation does not rebind')
    const cases: [string, Record<string, unknown>][] = [
      ['an instance outside the prefix', eaHello(fleet, 'other-1', 6101)],
      ['another account', eaHello(fleet, 'fleet-3', 6102)],
      ['another magic', { ...eaHello(fleet, 'fleet-4', 6101), ea: { name: 'ScopeEA', magic: 8 } }],
      ['the same login on another server', { ...eaHello(fleet, 'fleet-5', 6101), account: { ...account(6101), server: 'Other-Server' } }],
    ]
    for (const [what, hello] of cases) {
      const r = await refusedHello(t, engine.url!, hello)
      t.same([r.code, r.close], ['FORBIDDEN', 4003], what)
    }
    t.equal(await count(backend, "select count(*) from streams where instance_id like 'fleet-%'"), 2, 'only the two allowed instances exist')
  })

  await eachBackend(t, 'a stream hijack is refused: the victim keeps its connection, its commands and its resume point', async (t, backend) => {
    const engine = await startTestEngine(t, backend)
    const victimToken = await token(backend, 'victim')
    const intruderToken = await token(backend, 'intruder')
    const victim = await ea(engine.url!, victimToken, 'victim-ea', 6201)
    t.teardown(() => victim.close())
    const source = new TickSource('VICTIM', 1_732_000_000_000, 1.1, 3)
    for (let i = 0; i < 5; i++) await victim.send(source.batch(20))
    await victim.flushed()
    const acked = victim.counters.lastAckedSeq

    // a fresh token: it has no scope yet, but the instance is another live token's
    const fresh = await refusedHello(t, engine.url!, eaHello(intruderToken, 'victim-ea', 6201))
    t.same([fresh.code, fresh.close], ['FORBIDDEN', 4003], 'a fresh token cannot take over an instance another token streams')
    t.match(fresh.message, /streamed with another token/)
    t.equal((await tokenInfo(backend, 'intruder')).scopeMode, 'first-use', 'the refused hello did not bind the intruding token')
    // a token an admin minted for universal use cannot take it over either
    const wide = await token(backend, 'wide', { unscoped: true })
    const unscoped = await refusedHello(t, engine.url!, eaHello(wide, 'victim-ea', 6201))
    t.same([unscoped.code, unscoped.close], ['FORBIDDEN', 4003], 'nor an unscoped one')

    await victim.send(source.batch(20))
    await victim.flushed()
    t.equal(victim.counters.reconnects, 0, 'the victim was never replaced')
    t.equal(await count(backend, "select count(*) from ticks where symbol_id in (select id from symbols where name = 'VICTIM')"), 120, 'its ticks, all stored once')
    t.equal(
      await count(backend, "select last_seq from stream_sequences where stream_id = (select id from streams where instance_id = 'victim-ea')"),
      acked + 1,
      'its resume point is its own',
    )
  })

  await eachBackend(t, 'takeovers that are allowed: the same token, a token bound to the instance, any token once the owner is revoked', async (t, backend) => {
    const engine = await startTestEngine(t, backend)
    const first = await token(backend, 'owner')
    const a = await open(t, engine.url!)
    a.send(eaHello(first, 'moving-ea', 6301))
    await a.waitFor('welcome', (f) => f.type === 'welcome')
    const b = await ea(engine.url!, first, 'moving-ea', 6301)
    t.equal((await a.closedWithin(5000)).code, 4009, 'the same token replaces its own connection (REPLACED)')
    await b.close()

    const rotated = await token(backend, 'rotated', { scope: scope({ login: 6301, server: SERVER, instance: 'moving-ea' }) })
    const c = await ea(engine.url!, rotated, 'moving-ea', 6301)
    await c.close()
    t.pass('a token bound to exactly this instance takes it over')

    const prefixed = await token(backend, 'prefixed', { scope: scope({ instance: 'moving-*' }) })
    const refused = await refusedHello(t, engine.url!, eaHello(prefixed, 'moving-ea', 6301))
    t.same([refused.code, refused.close], ['FORBIDDEN', 4003], 'a prefix is not a binding to this instance')

    await withStorage(backend, (s) => revokeToken(s, 'rotated'))
    const successor = await token(backend, 'successor')
    const d = await ea(engine.url!, successor, 'moving-ea', 6301)
    await d.close()
    t.same((await tokenInfo(backend, 'successor')).scope?.instance, 'moving-ea', 'once the owner is revoked a new token binds to the instance')
  })
})

t.test('market data belongs to the account that sent it', async (t) => {
  await eachBackend(t, "another account's ticks, deals and symbol spec on the same server do not shadow the genuine ones", async (t, backend) => {
    const engine = await startTestEngine(t, backend)
    const genuine = await ea(engine.url!, await token(backend, 'genuine'), 'genuine-ea', 6401)
    const intruder = await ea(engine.url!, await token(backend, 'poisoner'), 'poison-ea', 6402)
    t.teardown(() => Promise.all([genuine.close(), intruder.close()]))
    const time = 1_732_000_000_000
    // the intruder writes first: a tick at the genuine EA's future times, a wrong spec, the genuine deal's ticket
    const poison = new TickSource('SHARED', time, 9.99, 5)
    await intruder.send(poison.batch(50))
    await intruder.send({ type: 'symbol_spec', symbol: 'SHARED', digits: 2, point: 0.01 } as never)
    await intruder.send({ ...deal(777, time), profit: 1e6 } as never)
    await intruder.flushed()

    const real = new TickSource('SHARED', time, 1.1, 5)
    await genuine.send(real.batch(50))
    await genuine.send({ type: 'symbol_spec', symbol: 'SHARED', digits: 5, point: 0.00001 } as never)
    await genuine.send(deal(777, time))
    await genuine.flushed()

    const of = (login: number) => `(select s.id from symbols s join accounts a on a.id = s.account_id where s.name = 'SHARED' and a.login = ${login})`
    t.equal(await count(backend, `select count(*) from ticks where symbol_id = ${of(6401)}`), 50, 'the genuine ticks are stored')
    t.equal(await count(backend, `select count(*) from ticks where symbol_id = ${of(6401)} and bid > 9`), 0, 'none of them is the intruder\'s')
    t.equal(await count(backend, `select digits from symbols where id = ${of(6401)}`), 5, 'the genuine spec')
    t.equal(await count(backend, `select digits from symbols where id = ${of(6402)}`), 2, "the intruder's spec stays the intruder's")
    t.equal(
      await count(backend, 'select count(*) from deals d join accounts a on a.id = d.account_id where a.login = 6401 and d.ticket = 777 and d.profit = 0'),
      1,
      'the genuine deal is stored, not the forged profit',
    )
  })

  await eachBackend(t, 'two EAs of one account on one symbol still deduplicate', async (t, backend) => {
    const engine = await startTestEngine(t, backend)
    const shared = await token(backend, 'one-account', { scope: scope({ login: 6501, server: SERVER }) })
    const one = await ea(engine.url!, shared, 'chart-1', 6501)
    const two = await ea(engine.url!, shared, 'chart-2', 6501)
    t.teardown(() => Promise.all([one.close(), two.close()]))
    const a = new TickSource('DEDUP', 1_732_000_000_000, 1.3, 9)
    const b = new TickSource('DEDUP', 1_732_000_000_000, 1.3, 9)
    for (let i = 0; i < 4; i++) {
      await one.send(a.batch(25))
      await two.send(b.batch(25))
    }
    await Promise.all([one.flushed(), two.flushed()])
    t.equal(await count(backend, "select count(*) from symbols where name = 'DEDUP'"), 1, 'one symbol row for the account')
    t.equal(await count(backend, "select count(*) from ticks where symbol_id in (select id from symbols where name = 'DEDUP')"), 100, 'each tick once')
  })
})

t.test('first_index: tick indexes within a millisecond are stored up to 2^31 - 1 or refused', async (t) => {
  const batch = (first: number, times: number[]) => ({
    type: 'tick_batch', seq: 1, symbol: 'IDX', time_msc: times, bid: times.map(() => 1), ask: times.map(() => 1.1),
    last: times.map(() => 0), volume: times.map(() => 0), volume_real: times.map(() => 0), flags: times.map(() => 6), first_index: first,
  })
  const refusal = (m: unknown) => {
    try {
      parseEaMessage(m)
      return 'accepted'
    } catch (err) {
      return `${(err as ProtocolError).code} ${(err as ProtocolError).field}`
    }
  }
  const t0 = 1_732_000_000_000
  t.equal(refusal(batch(2 ** 31, [t0])), 'BAD_FIELD first_index', '2^31')
  t.equal(refusal(batch(2 ** 32, [t0])), 'BAD_FIELD first_index', '2^32 (which an Int32Array would have turned into 0)')
  t.equal(refusal(batch(2 ** 31 - 1, [t0, t0])), 'BAD_FIELD first_index', 'the second tick of the millisecond would be 2^31')
  t.equal(refusal(batch(2 ** 31 - 1, [t0, t0 + 1])), 'accepted', 'the next millisecond counts from 0 again')
  t.equal(refusal(batch(2 ** 31 - 2, [t0, t0])), 'accepted', 'the last two indexes storage holds')

  await eachBackend(t, 'the largest indexes are stored as sent', async (t, backend) => {
    const engine = await startTestEngine(t, backend)
    const c = await ea(engine.url!, await token(backend, 'idx'), 'idx-ea', 6601)
    t.teardown(() => c.close())
    const { seq: _seq, ...ticks } = batch(2 ** 31 - 2, [t0, t0, t0 + 1])
    await c.send(ticks as never)
    await c.flushed()
    const rows = await withStorage(backend, (s) => s.query<{ seq: number; time_msc: number }>(
      "select seq, time_msc from ticks where symbol_id in (select id from symbols where name = 'IDX') order by time_msc, seq",
    ))
    t.same(rows.map((r) => [Number(r.time_msc) - t0, Number(r.seq)]), [[0, 2 ** 31 - 2], [0, 2 ** 31 - 1], [1, 0]])
  })
})
