import t from 'tap'
import WebSocket from 'ws'
import { connectEA } from '../src/client/ea-client.js'

import type { ErrorFrame } from '../src/protocol/messages.js'
import { account, makeTokens, startTestEngine } from './engine-helpers.js'
import { eachBackend, sqliteBackend } from './helpers.js'

// The limit lives in the gateway, above storage: one backend shows it.
t.test('connections past maxConnections are turned away with 1013 and the others keep working', async (t) => {
  {
    const backend = sqliteBackend(t)
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend, { maxConnections: 2 })
    const eas = await Promise.all([1, 2].map((n) =>
      connectEA(engine.url!, { token: tokens.ea, instanceId: `limit-${n}`, account: account(9100 + n), ea: { name: 'Limit' } })))
    t.teardown(() => Promise.all(eas.map((ea) => ea.close())))
    const third = new WebSocket(engine.url!)
    const closed = await new Promise<{ code: number; reason: string }>((resolve) =>
      third.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    t.equal(closed.code, 1013)
    t.match(closed.reason, /more than 2 connections/)
    const seq = await eas[0]!.send({ type: 'log', time_msc: 1_732_000_000_000, level: 'info', message: 'still here' })
    await eas[0]!.flushed()
    t.equal(eas[0]!.counters.lastAckedSeq, seq, 'the connections within the limit keep streaming')
  }
})

t.test('an engine shutting down tells its EAs SHUTTING_DOWN and closes with 1001', async (t) => {
  await eachBackend(t, 'shutdown notice', async (t, backend) => {
    const tokens = await makeTokens(backend)
    const engine = await startTestEngine(t, backend)
    const ea = await connectEA(engine.url!, { token: tokens.ea, instanceId: 'bye', account: account(9200), ea: { name: 'Bye' }, minDelayMs: 5000 })
    t.teardown(() => ea.close())
    const errors: ErrorFrame[] = []
    ea.on('engine-error', (e: ErrorFrame) => errors.push(e))
    const disconnected = new Promise<number>((resolve) => ea.once('disconnect', (code: number) => resolve(code)))
    await engine.close()
    t.equal(await disconnected, 1001)
    t.same(errors.map((e) => e.code), ['SHUTTING_DOWN'])
  })
})
