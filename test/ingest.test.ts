import t from 'tap'
import { connectEA, type EaClient } from '../src/client/ea-client.js'
import { account, accountSnapshot, count, deal, makeTokens, startTestEngine, TickSource, withStorage } from './engine-helpers.js'
import { eachBackend, sqliteBackend, type Backend, type Test } from './helpers.js'

interface Sent {
  ticks: number
  deals: number
  snapshots: number
  logs: number
  messages: number
}

/** Streams `batches` tick batches of `size` ticks, with a deal, a snapshot and a log every 10 batches. */
async function stream(ea: EaClient, source: TickSource, batches: number, size: number, login: number, between?: (i: number) => void | Promise<void>): Promise<Sent> {
  const sent: Sent = { ticks: 0, deals: 0, snapshots: 0, logs: 0, messages: 0 }
  for (let i = 0; i < batches; i++) {
    const batch = source.batch(size)
    await ea.send(batch)
    sent.ticks += size
    sent.messages++
    if (i % 10 === 9) {
      const time = batch.time_msc[size - 1]!
      await ea.send(deal(login * 1000 + i, time))
      await ea.send(accountSnapshot(time, 10000 + i))
      await ea.send({ type: 'log', time_msc: time, level: 'info', message: `batch ${i}` })
      sent.deals++
      sent.snapshots++
      sent.logs++
      sent.messages += 3
    }
    await between?.(i)
  }
  await ea.flushed()
  return sent
}

async function connect(url: string, token: string, login: number, instance: string): Promise<EaClient> {
  return connectEA(url, { token, instanceId: instance, account: account(login), ea: { name: 'TestEA', magic: 42 }, minDelayMs: 20, maxDelayMs: 300 })
}

async function expectStored(t: Test, backend: Backend, login: number, symbol: string, instance: string, sent: Sent): Promise<void> {
  const accountId = `(select id from accounts where login = ${login})`
  t.equal(await count(backend, `select count(*) from ticks where symbol_id in (select id from symbols where name = $1)`, [symbol]), sent.ticks, `${symbol}: every tick stored once`)
  t.equal(await count(backend, `select count(*) from deals where account_id = ${accountId}`), sent.deals, `${login}: every deal stored once`)
  t.equal(await count(backend, `select count(*) from account_snapshots where account_id = ${accountId}`), sent.snapshots, `${login}: every snapshot stored once`)
  // Logs have no natural key: a replay written twice would show here.
  t.equal(await count(backend, `select count(*) from iteration_logs where stream_id = (select id from streams where instance_id = $1)`, [instance]), sent.logs, `${instance}: every log stored once`)
  t.equal(await count(backend, `select last_seq from stream_sequences where stream_id = (select id from streams where instance_id = $1)`, [instance]), sent.messages, `${instance}: the high-water mark is the last seq sent`)
}

t.test('ingest', async (t) => {
  await eachBackend(t, 'three EAs stream 100,000 ticks each with deals and snapshots at once; the database holds exactly that', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const eas = await Promise.all([1, 2, 3].map((n) => connect(engine.url!, tokens.ea, 7000 + n, `ea-${n}`)))
    t.teardown(() => Promise.all(eas.map((ea) => ea.close())))
    const symbols = ['EURUSD', 'GBPUSD', 'USDJPY']
    const sent = await Promise.all(eas.map((ea, i) => stream(ea, new TickSource(symbols[i]!, 1_732_000_000_000, 1 + i, 7 + i), 200, 500, 7001 + i)))
    for (let i = 0; i < 3; i++) await expectStored(t, backend, 7001 + i, symbols[i]!, `ea-${i + 1}`, sent[i]!)
    t.equal(sent[0]!.ticks, 100_000)
    t.same(eas.map((ea) => ea.counters.lastAckedSeq), sent.map((s) => s.messages), 'every message was acknowledged')
    // Spot-check values: the sum of bids in the database equals the sum the client sent.
    const source = new TickSource('EURUSD', 1_732_000_000_000, 1, 7)
    let bidSum = 0
    for (let i = 0; i < 200; i++) for (const b of source.batch(500).bid) bidSum += b
    const stored = await withStorage(backend, (s) => s.query<{ total: number }>(`select sum(bid) as total from ticks where symbol_id in (select id from symbols where name = 'EURUSD')`))
    t.ok(Math.abs(Number(stored[0]!.total) - bidSum) < 1e-6, 'the stored prices are the prices sent')
  })

  await eachBackend(t, 'a client that drops its connection mid-stream resends and every row is stored once', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const ea = await connect(engine.url!, tokens.ea, 7101, 'dropper')
    t.teardown(() => ea.close())
    // Each drop waits for an ack first, so that it hits an open connection with messages in flight.
    const sent = await stream(ea, new TickSource('EURUSD', 1_732_000_000_000, 1.1, 3), 120, 250, 7101, async (i) => {
      if (i % 30 !== 15) return
      // after the ack the client sends the next messages at once: drop once they are on the wire
      await new Promise((resolve) => ea.once('ack', () => setImmediate(resolve)))
      ea.dropConnection()
    })
    // How many messages a drop makes the client resend is up to timing: the engine commits every
    // frame it read before it welcomes the client back, so only frames still in transit are resent
    // (often none). What must hold is that the drops happened and nothing was stored twice.
    t.ok(ea.counters.reconnects >= 2, `the client reconnected ${ea.counters.reconnects} times`)
    t.comment(`resent after the drops: ${ea.counters.resent} messages`)
    await expectStored(t, backend, 7101, 'EURUSD', 'dropper', sent)
  })
})

// The bound lives in ingest and the gateway, above storage: one backend shows it.
t.test('backpressure: with the writer slowed, clients slow down and the engine holds at most its byte limit', async (t) => {
  {
    const backend = sqliteBackend(t)
    const tokens = await makeTokens(backend)
    const limit = 2 * 1024 * 1024
    // a window of 64 lets two clients hold more than the byte limit, so the limit is what stops them
    const engine = await startTestEngine(t, backend, { writeDelayMs: 40, maxPendingBytes: limit, batchRows: 2000, maxInflight: 64 })
    const eas = await Promise.all([1, 2].map((n) => connect(engine.url!, tokens.ea, 7200 + n, `slow-${n}`)))
    t.teardown(() => Promise.all(eas.map((ea) => ea.close())))
    let peak = 0
    const sampler = setInterval(() => (peak = Math.max(peak, engine.counters.ingest.pendingBytes)), 2)
    const started = Date.now()
    const sent = await Promise.all(eas.map((ea, i) => stream(ea, new TickSource(i ? 'GBPUSD' : 'EURUSD', 1_732_000_000_000, 1.2, 11 + i), 60, 2000, 7201 + i)))
    clearInterval(sampler)
    const elapsed = Date.now() - started
    t.ok(engine.counters.ingest.pauses > 0, `the engine stopped reading from the clients (${engine.counters.ingest.pauses} times)`)
    t.comment(`120 frames of 2000 ticks took ${elapsed} ms through a writer that sleeps 40 ms per write`)
    // The bound: the limit, plus what a connection had already read when it was paused (ws hands
    // on the frames in its buffer): about two frames per connection, 2000 ticks or 112 kB each.
    const bound = limit + 2 * 4 * 64 * 1024
    t.ok(peak <= bound, `pending bytes peaked at ${peak}, within ${bound}`)
    t.ok(peak > 0, 'the sampler saw pending data')
    for (let i = 0; i < 2; i++) await expectStored(t, backend, 7201 + i, i ? 'GBPUSD' : 'EURUSD', `slow-${i + 1}`, sent[i]!)
  }
})
