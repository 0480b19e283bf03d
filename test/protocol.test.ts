import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Packr } from 'msgpackr'
import t from 'tap'
import { decode, encode, MAX_NESTING, ProtocolError } from '../src/protocol/codec.js'
import { PROTOCOL_VERSION, type ProtocolErrorCode, type QueryMessage, type TickBatch } from '../src/protocol/messages.js'
import { QUERY_BY_NAME } from '../src/query/catalogue.js'
import { planQuery } from '../src/query/plan.js'
import { DEAL_REASONS, DEAL_TYPES, ORDER_TYPES } from '../src/protocol/mt5.js'
import {
  durableTypes,
  eaSessionContinues,
  isDurable,
  limits,
  parseDashboardMessage,
  parseEaMessage,
  parseHello,
  welcomeLimits,
  type ProtocolLimits,
} from '../src/protocol/validate.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]
type Direction = 'ea_to_engine' | 'engine_to_ea' | 'dashboard_to_engine' | 'engine_to_dashboard'
interface Vector {
  name: string
  direction: Direction
  message: Record<string, unknown>
  hex: string
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const vectorFile = JSON.parse(readFileSync(join(repoRoot, 'docs', 'protocol-vectors.json'), 'utf8')) as {
  version: number
  vectors: Vector[]
}
const vectors = vectorFile.vectors
const vector = (name: string): Vector => {
  const v = vectors.find((x) => x.name === name)
  if (v === undefined) throw new Error(`no vector ${name}`)
  return v
}
/** A fresh copy of a vector's message, safe to change. */
const message = (name: string): Record<string, unknown> => structuredClone(vector(name).message)
const bytes = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex')

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

/** Asserts that fn throws a ProtocolError with this code and field, and returns it. */
function refused(t: Test, fn: () => unknown, code: ProtocolErrorCode, field?: string): ProtocolError | undefined {
  const err = thrown(fn)
  if (!(err instanceof ProtocolError)) {
    t.fail(
      `expected a ProtocolError ${code}${field === undefined ? '' : ` at ${field}`}, got ${err === undefined ? 'no error' : String(err)}`,
    )
    return undefined
  }
  t.equal(err.code, code, `code ${code} (${err.message})`)
  if (field !== undefined) t.equal(err.field, field, `field ${field}`)
  return err
}

function ea(
  t: Test,
  value: unknown,
  code: ProtocolErrorCode,
  field?: string,
  lim?: ProtocolLimits,
): ProtocolError | undefined {
  return refused(t, () => parseEaMessage(value, lim), code, field)
}

// An independent reader of the plain subset PROTOCOL.md promises, written from the MessagePack
// spec rather than msgpackr: it also insists on the smallest form the engine writes.
function plainDecode(b: Buffer): unknown {
  let p = 0
  const fail = (why: string): never => {
    throw new Error(`${why} at offset ${p}`)
  }
  const str = (n: number, min: number): string => {
    if (n < min) fail(`string of ${n} bytes in a longer header`)
    const s = b.toString('utf8', p, p + n)
    if (!Buffer.from(s, 'utf8').equals(b.subarray(p, p + n))) fail('invalid UTF-8')
    p += n
    return s
  }
  const list = (n: number, min: number): unknown[] => {
    if (n < min) fail(`array of ${n} in a longer header`)
    const out: unknown[] = []
    for (let i = 0; i < n; i++) out.push(read())
    return out
  }
  const map = (n: number, min: number): Record<string, unknown> => {
    if (n < min) fail(`map of ${n} in a longer header`)
    const out: Record<string, unknown> = {}
    for (let i = 0; i < n; i++) {
      const k = read()
      if (typeof k !== 'string') fail('non-string key')
      out[k as string] = read()
    }
    return out
  }
  const int = (v: number | bigint, min: bigint, max: bigint): number => {
    const big = BigInt(v)
    if (big >= min && big <= max) fail(`int ${v} in a longer form than needed`)
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < -BigInt(Number.MAX_SAFE_INTEGER)) fail('unsafe int')
    return Number(v)
  }
  const read = (): unknown => {
    const t = b[p++]
    if (t === undefined) return fail('truncated')
    if (t <= 0x7f) return t
    if (t >= 0xe0) return t - 0x100
    if (t <= 0x8f) return map(t & 0x0f, 0)
    if (t <= 0x9f) return list(t & 0x0f, 0)
    if (t <= 0xbf) return str(t & 0x1f, 0)
    let v: number | bigint
    switch (t) {
      case 0xc0:
        return null
      case 0xc2:
        return false
      case 0xc3:
        return true
      case 0xcb:
        v = b.readDoubleBE(p)
        p += 8
        if (Number.isInteger(v) && Number.isSafeInteger(v)) fail('an integer written as float64')
        return v
      case 0xcc:
        v = b.readUInt8(p)
        p += 1
        return int(v, 0n, 0x7fn)
      case 0xcd:
        v = b.readUInt16BE(p)
        p += 2
        return int(v, 0n, 0xffn)
      case 0xce:
        v = b.readUInt32BE(p)
        p += 4
        return int(v, 0n, 0xffffn)
      case 0xd0:
        v = b.readInt8(p)
        p += 1
        return int(v, -32n, 0x7fffffffn) // negatives only
      case 0xd1:
        v = b.readInt16BE(p)
        p += 2
        return int(v, -128n, 0x7fffffffn)
      case 0xd2:
        v = b.readInt32BE(p)
        p += 4
        return int(v, -32768n, 0x7fffffffn)
      case 0xd3:
        v = b.readBigInt64BE(p)
        p += 8
        return int(v, -0x80000000n, 0xffffffffn)
      case 0xd9:
        v = b.readUInt8(p)
        p += 1
        return str(v, 32)
      case 0xda:
        v = b.readUInt16BE(p)
        p += 2
        return str(v, 0x100)
      case 0xdc:
        v = b.readUInt16BE(p)
        p += 2
        return list(v, 16)
      case 0xde:
        v = b.readUInt16BE(p)
        p += 2
        return map(v, 16)
      default:
        return fail(`byte 0x${t.toString(16)} is outside what the engine writes`)
    }
  }
  const value = read()
  if (p !== b.length) fail('trailing bytes')
  return value
}

// ---------------------------------------------------------------------------------------------
// Golden vectors

t.test('the vector file covers every message type in every direction, once per name', async (t) => {
  t.equal(vectorFile.version, 1)
  const seen = new Set(vectors.map((v) => `${v.direction}:${String(v.message.type)}`))
  const expected = [
    'ea_to_engine:hello',
    'ea_to_engine:goodbye',
    ...[...durableTypes].map((type) => `ea_to_engine:${type}`),
    'engine_to_ea:welcome',
    'engine_to_ea:ack',
    'engine_to_ea:error',
    'engine_to_ea:ping',
    'engine_to_ea:command',
    'dashboard_to_engine:hello',
    'dashboard_to_engine:command_send',
    ...['query', 'sql', 'subscribe', 'unsubscribe', 'notifications_read'].map((type) => `dashboard_to_engine:${type}`),
    'engine_to_dashboard:welcome',
    'engine_to_dashboard:command_status',
    'engine_to_dashboard:error',
    ...['query_result', 'sql_result', 'done', 'subscribed', 'snapshot', 'event', 'gap', 'unsubscribed'].map((type) => `engine_to_dashboard:${type}`),
  ]
  for (const e of expected) t.ok(seen.has(e), `a vector for ${e}`)
  t.equal(new Set(vectors.map((v) => v.name)).size, vectors.length, 'names are unique')
  for (const v of vectors) t.match(v.hex, /^(?:[0-9a-f]{2})+$/, `${v.name}: lowercase hex bytes`)
})

t.test('every golden vector encodes to exactly its bytes', async (t) => {
  for (const v of vectors) t.equal(encode(v.message).toString('hex'), v.hex, v.name)
})

t.test('every golden vector decodes to exactly its message', async (t) => {
  for (const v of vectors) t.strictSame(decode(bytes(v.hex)), v.message, v.name)
})

t.test('every golden vector is plain MessagePack in its smallest form, read without msgpackr', async (t) => {
  for (const v of vectors) {
    const err = thrown(() => t.strictSame(plainDecode(bytes(v.hex)), v.message, v.name))
    t.equal(err, undefined, `${v.name} reads plainly${err ? `: ${(err as Error).message}` : ''}`)
  }
})

t.test('every client vector passes validation and keeps its values', async (t) => {
  for (const v of vectors) {
    if (v.direction === 'ea_to_engine') {
      const parsed = parseEaMessage(decode(bytes(v.hex)))
      t.equal(parsed.type, v.message.type, v.name)
      if ('seq' in v.message) t.equal((parsed as { seq?: number }).seq, v.message.seq, `${v.name} keeps seq`)
    } else if (v.direction === 'dashboard_to_engine') {
      t.equal(parseDashboardMessage(decode(bytes(v.hex))).type, v.message.type, v.name)
    }
  }
  t.ok(isDurable(parseEaMessage(message('deal_negative_commission'))), 'a deal is durable')
  t.notOk(isDurable(parseEaMessage(message('goodbye'))), 'a goodbye is not')
  const withNils = parseEaMessage(decode(bytes(vector('deal_nil_optionals').hex)))
  t.notOk('sl' in withNils || 'tp' in withNils || 'comment' in withNils, 'nil optionals come out absent')
  const hello = parseHello(decode(bytes(vector('hello_ea').hex)))
  t.strictSame(hello, vector('hello_ea').message, 'a full hello comes out field for field')
})

t.test('the vectors pin the edge cases a C decoder must handle', async (t) => {
  t.match(vector('tick_batch_3_ticks_with_gap').hex, 'd300000193433ea87b', 'time_msc 1732000000123 as int64')
  t.match(vector('account_snapshot_floats_as_ints').hex, 'a762616c616e6365cd2710', 'balance 10000 written as uint16')
  t.match(
    vector('deal_negative_commission').hex,
    'aa636f6d6d697373696f6ecbbfe6666666666666',
    'commission -0.7 as float64',
  )
  t.match(vector('deal_nil_optionals').hex, 'a2736cc0', 'sl as nil')
  t.match(vector('deal_balance_empty_strings').hex, 'a673796d626f6ca0', 'empty symbol as fixstr 0')
  t.match(vector('symbol_spec_unicode_symbol').hex, 'a9e697a5e7b58c323235', 'symbol 日経225 as 9 bytes of UTF-8')
  t.match(vector('symbol_spec_exchange_chart_mode_last').hex, /^de0010/, 'a 16-field message as map16')
  t.match(vector('largest_safe_integer').hex, 'd3001fffffffffffff', 'seq 2^53-1 as int64')
  t.match(vector('log_str16_message').hex, 'a76d657373616765da012c', 'a 300-byte string as str16')
  t.match(vector('tick_batch_16_ticks_array16').hex, 'a874696d655f6d7363dc0010', 'a 16-item array as array16')
  t.match(vector('deal_negative_commission').hex, /^de0015/, 'a 21-key map as map16')
})

// ---------------------------------------------------------------------------------------------
// encode

t.test('encode writes non-integers as float64 and integers in the smallest int form', async (t) => {
  t.equal(encode({ x: 1.5 }).toString('hex'), '81a178cb3ff8000000000000', '1.5 as float64, never float32')
  t.equal(encode({ x: 0.1 }).toString('hex'), '81a178cb3fb999999999999a', '0.1 as float64 (float32 would round it)')
  t.equal(encode({ x: 1 }).toString('hex'), '81a17801', 'an integral float field is written as an int')
  t.equal(
    encode({ x: 1732000000123 }).toString('hex'),
    '81a178d300000193433ea87b',
    'beyond 32 bits: int64, not float64',
  )
  t.equal(encode({ x: -5000000000 }).toString('hex'), '81a178d3fffffffed5fa0e00')
  t.equal(encode({ x: 0xffffffff }).toString('hex'), '81a178ceffffffff', 'uint32 stays uint32')
  t.equal(encode({ x: -0x80000000 }).toString('hex'), '81a178d280000000', 'int32 stays int32')
  t.equal(
    encode({ x: 2 ** 53 }).toString('hex'),
    '81a178cb4340000000000000',
    'an unsafe integral value stays a float64',
  )
  t.equal(encode({ x: 7n }).toString('hex'), '81a17807', 'a safe bigint is written as the number it is')
})

t.test('encode leaves out undefined map values and does not change its input', async (t) => {
  const input = { type: 'ack', seq: 1732000000123, extra: undefined, nested: { a: undefined, b: [1732000000123] } }
  t.strictSame(decode(encode(input)), { type: 'ack', seq: 1732000000123, nested: { b: [1732000000123] } })
  t.equal(input.seq, 1732000000123, 'the input keeps its numbers')
  t.ok('extra' in input && 'a' in input.nested, 'the input keeps its keys')
  t.equal(typeof input.nested.b[0], 'number')
  const frozen = Object.freeze({ a: Object.freeze([1, 2]) })
  t.equal(encode(frozen).toString('hex'), '81a161920102', 'frozen input is fine')
  const bare = Object.assign(Object.create(null) as object, { a: 1 })
  t.equal(encode(bare).toString('hex'), '81a16101', 'a null-prototype object is a map')
})

t.test('encode refuses what plain MessagePack cannot carry, naming the path', async (t) => {
  class Point {
    x = 1
  }
  const cases: Array<[string, unknown, RegExp]> = [
    ['a Date (msgpackr would write a timestamp extension)', { at: new Date(0) }, /\$\.at is a Date/],
    ['a Map', { m: new Map([['a', 1]]) }, /\$\.m is a Map/],
    ['a Set', { s: new Set([1]) }, /\$\.s is a Set/],
    ['a class instance', { p: [{ q: new Point() }] }, /\$\.p\[0\]\.q is a Point/],
    ['a function', { f: () => 1 }, /\$\.f is function/],
    ['a symbol', { s: Symbol('x') }, /\$\.s is symbol/],
    ['undefined inside an array', { a: [1, undefined] }, /\$\.a\[1\] is undefined/],
    ['a lone surrogate', { s: 'a\ud800b' }, /\$\.s is not well-formed/],
    ['a bigint beyond 2^53-1', { b: 2n ** 53n }, /\$\.b is 9007199254740992/],
    ['a typed array other than bytes', { f: new Float64Array(2) }, /\$\.f is a Float64Array/],
  ]
  for (const [what, value, why] of cases) {
    const err = thrown(() => encode(value as object))
    t.ok(err instanceof TypeError, `${what}: TypeError`)
    t.match((err as Error | undefined)?.message, why, what)
  }
  t.equal(encode({ b: Buffer.from([1, 2]) }).toString('hex'), '81a162c4020102', 'a Buffer is bin')
  t.equal(encode({ b: new Uint8Array([1, 2]) }).toString('hex'), '81a162c4020102', 'a Uint8Array is bin')
})

/** What msgpackr writes for `value` when every integer beyond 32 bits is given to it as a BigInt. */
function reference(value: unknown): Buffer {
  const bigints = (v: unknown): unknown => {
    if (typeof v === 'number') return Number.isSafeInteger(v) && (v > 0xffffffff || v < -0x80000000) ? BigInt(v) : v
    if (Array.isArray(v)) return v.map(bigints)
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bigints(x)]))
    }
    return v
  }
  return new Packr({ useRecords: false, variableMapSize: true, useFloat32: 0 }).pack(bigints(value))
}

t.test('encode writes strings, bytes, arrays and maps with their smallest header', async (t) => {
  const header = (frame: Buffer, skip: number, n: number) => frame.subarray(skip, skip + n).toString('hex')
  const str = (value: string, hex: string, what: string) => t.equal(header(encode({ s: value }), 3, hex.length / 2), hex, what)
  str('x'.repeat(31), 'bf', '31 bytes: fixstr')
  str('x'.repeat(32), 'd920', '32 bytes: str 8')
  str('é'.repeat(15) + 'x', 'bf', '15 two-byte characters and one: 31 bytes, fixstr (room was kept for 48)')
  str('é'.repeat(16), 'd920', '16 two-byte characters: 32 bytes, str 8')
  str('x'.repeat(255), 'd9ff', '255 bytes: str 8')
  str('x'.repeat(256), 'da0100', '256 bytes: str 16')
  str('€'.repeat(100), 'da012c', '100 three-byte characters: str 16')
  str('x'.repeat(65535), 'daffff', '65535 bytes: str 16')
  str('x'.repeat(65536), 'db00010000', '65536 bytes: str 32')
  str('𝄞'.repeat(40), 'd9a0', '40 four-byte characters (surrogate pairs): 160 bytes')
  const bin = (n: number, hex: string) => t.equal(header(encode({ b: Buffer.alloc(n, 7) }), 3, hex.length / 2), hex, `${n} bytes of bin`)
  bin(255, 'c4ff')
  bin(256, 'c50100')
  bin(65536, 'c600010000')
  const arr = (n: number, hex: string) => t.equal(header(encode({ a: new Array<number>(n).fill(1) }), 3, hex.length / 2), hex, `${n} items`)
  arr(15, '9f')
  arr(16, 'dc0010')
  arr(65536, 'dd00010000')
  const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))
  t.equal(header(encode(keys(15)), 0, 1), '8f', '15 keys: fixmap')
  t.equal(header(encode(keys(16)), 0, 3), 'de0010', '16 keys: map 16')
  t.equal(header(encode(keys(65536)), 0, 5), 'df00010000', '65536 keys: map 32')
  t.equal(encode({ a: 1, b: undefined, c: 2 }).toString('hex'), '82a16101a16302', 'undefined values are not counted')
  for (const v of ['', 'x', 'é'.repeat(63), 'é'.repeat(64), '日経225 mixed €𝄞 text', '𝄞'.repeat(31) + 'x', 'x'.repeat(70_000)]) {
    t.equal((decode(encode({ s: v })) as { s: string }).s, v, `${v.length} UTF-16 units round trip`)
  }
})

t.test('encode writes what msgpackr writes, given BigInts for integers beyond 32 bits', async (t) => {
  const rnd = random(20261121)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const numbers = [0, -0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, -1, -32, -33, -128, -129, -32768, -32769,
    -0x80000000, -0x80000001, 1732000000123, -1732000000123, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, -(2 ** 60),
    0.1, -1.05, 1e300, Number.MIN_VALUE, NaN, Infinity, -Infinity]
  const value = (depth: number): unknown => {
    const kind = Math.floor(rnd() * (depth > 4 ? 5 : 7))
    switch (kind) {
      case 0: return pick(numbers)
      case 1: return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 20)
      case 2: return pick(['', 'EURUSD', 'é', '日経225', '𝄞', 'x'.repeat(Math.floor(rnd() * 300))])
      case 3: return pick([true, false, null])
      case 4: return Buffer.alloc(Math.floor(rnd() * 300), Math.floor(rnd() * 256))
      case 5: return Array.from({ length: Math.floor(rnd() * 20) }, () => value(depth + 1))
      default: return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 20) }, (_, i) => [`f${i}${pick(['', 'é', '_x'])}`, value(depth + 1)]))
    }
  }
  let differ = 0
  for (let i = 0; i < 2000; i++) {
    const message = { type: 'probe', seq: i + 1, body: value(0) }
    if (!encode(message).equals(reference(message))) {
      if (differ++ === 0) t.fail(`message ${i} encodes differently: ${JSON.stringify(message).slice(0, 200)}`)
    }
  }
  t.equal(differ, 0, '2000 random messages, byte for byte')
})

t.test('encoded frames stay intact while later frames are written', async (t) => {
  const kept: Array<[Buffer, Buffer]> = []
  for (let i = 0; i < 400; i++) {
    const size = i % 50 === 0 ? 600_000 : (i * 7919) % 5000
    const frame = encode({ type: 'log', seq: i + 1, message: String.fromCharCode(65 + (i % 26)).repeat(size) })
    kept.push([frame, Buffer.from(frame)])
  }
  t.ok(kept.every(([frame, copy]) => frame.equals(copy)), '400 frames across many chunks, some larger than a chunk, unchanged')
  t.equal((decode(kept[350]![0]) as { seq: number }).seq, 351)
  t.throws(() => encode({ a: 'x'.repeat(1000), b: () => 1 }), TypeError)
  t.equal(encode({ a: 1 }).toString('hex'), '81a16101', 'a refused message leaves nothing behind for the next')
})

t.test('encode refuses nesting the decoder would refuse, and cycles', async (t) => {
  let nested: unknown = null
  for (let i = 0; i < MAX_NESTING - 1; i++) nested = [nested]
  t.doesNotThrow(() => decode(encode({ n: nested })), `${MAX_NESTING} levels with the top map`)
  t.match((thrown(() => encode({ n: [nested] })) as Error).message, /\$\.n(\[0\])+ nests deeper than 32/)
  const cycle: Record<string, unknown> = { a: 1 }
  cycle.self = cycle
  t.match((thrown(() => encode(cycle)) as Error).message, /nests deeper than 32 levels \(a cycle\?\)/)
})

// ---------------------------------------------------------------------------------------------
// decode

t.test('decode refuses bytes that are not exactly one plain MessagePack value', async (t) => {
  const bad: Array<[string, string, RegExp]> = [
    ['empty', '', /empty/],
    ['the never-used byte 0xc1', 'c1', /0xc1/],
    ['a map cut short', '82a474797065a361636b', /truncated/],
    ['a string cut short', 'a5616263', /truncated/],
    ['a float64 cut short', 'cb3ff8', /truncated/],
    ['a float64 in an array cut short', '92cb3ff8000000000000cb3ff8', /truncated/],
    ['trailing garbage', '81a161 01 00', /trailing/],
    ['two values', 'c0 c0', /trailing/],
    ['fixext 1 (msgpackr undefined)', '81a161 d40000', /extension/],
    ['timestamp 32', 'd6ff00000000', /extension/],
    ['timestamp 64', 'd7ff0000000000000000', /extension/],
    ['timestamp 96 (ext 8)', 'c70cff000000000000000000000000', /extension/],
    ['ext 16', 'c8000101 00', /extension/],
    ['ext 32', 'c900000001 01 00', /extension/],
    ['fixext 16', 'd801' + '00'.repeat(16), /extension/],
    ['uint64 2^53', 'cf0020000000000000', /2\^53/],
    ['uint64 2^64-1', 'cfffffffffffffffff', /2\^53/],
    ['uint64 2^53 inside an array', '9201cf0020000000000000', /2\^53/],
    ['int64 -2^53', 'd3ffe0000000000000', /2\^53/],
    ['int64 -2^63', 'd38000000000000000', /2\^53/],
    ['a non-string map key', '8101a161', /key/],
    ['a nil map key', '81c0a161', /key/],
    ['a map key that is a map', '8180a161', /key/],
    ['invalid UTF-8', 'a2c328', /UTF-8/],
    ['a UTF-8 surrogate', 'a3eda080', /UTF-8/],
    ['an overlong UTF-8 form', 'a2c0af', /UTF-8/],
    ['an array claiming 2^32-1 items', 'ddffffffff', /truncated/],
    ['a map claiming 65535 pairs', 'deffff', /truncated/],
    ['a str 32 claiming 4 GiB', 'dbffffffff', /truncated/],
  ]
  for (const [what, hex, why] of bad) {
    const err = refused(t, () => decode(bytes(hex)), 'BAD_FRAME')
    t.match(err?.message, why, `${what}: says why`)
  }
  refused(t, () => decode('c0' as unknown as Uint8Array), 'BAD_FRAME')
})

t.test('decode refuses what msgpackr writes when its extensions are on', async (t) => {
  const record = new Packr({ useRecords: true }).pack([
    { a: 1, b: 2 },
    { a: 3, b: 4 },
  ])
  refused(t, () => decode(record), 'BAD_FRAME')
  const bundled = new Packr({ useRecords: false, bundleStrings: true }).pack({ text: 'a'.repeat(100) })
  refused(t, () => decode(bundled), 'BAD_FRAME')
  const cloned = new Packr({ structuredClone: true }).pack({ s: new Set([1]) })
  refused(t, () => decode(cloned), 'BAD_FRAME')
  const date = new Packr({ useRecords: false }).pack({ at: new Date(1732000000123) })
  refused(t, () => decode(date), 'BAD_FRAME')
})

t.test('decode reads every plain format, ints exactly up to 2^53-1', async (t) => {
  t.equal(decode(bytes('cf001fffffffffffff')), Number.MAX_SAFE_INTEGER)
  t.equal(decode(bytes('d3ffe0000000000001')), -Number.MAX_SAFE_INTEGER)
  t.equal(decode(bytes('cf00000193433ea87b')), 1732000000123, 'uint64 as a number, not a BigInt')
  t.equal(decode(bytes('d300000193433ea87b')), 1732000000123)
  t.equal(decode(bytes('ca3fc00000')), 1.5, 'float32 is read as the number it holds')
  t.ok(Number.isNaN(decode(bytes('cb7ff8000000000000'))), 'NaN decodes (validation refuses it where a number is due)')
  t.strictSame(decode(bytes('81a162c4020102')), { b: Buffer.from([1, 2]) }, 'bin is a Buffer')
  t.strictSame(decode(bytes('81a161d90161')), { a: 'a' }, 'a str 8 key')
  t.strictSame(decode(bytes('82a16101a16102')), { a: 2 }, 'a repeated key: the last one wins')
  t.strictSame(decode(bytes('80')), {})
  t.strictSame(decode(bytes('90')), [])
  const inside = Buffer.from('ffff81a16107ff', 'hex').subarray(2, 6)
  t.strictSame(decode(inside), { a: 7 }, 'a view into a larger buffer reads only its own bytes')
})

t.test('decode keeps nesting to MAX_NESTING levels', async (t) => {
  const nested = (levels: number): Buffer => Buffer.concat([Buffer.alloc(levels, 0x91), Buffer.from([0xc0])])
  t.doesNotThrow(() => decode(nested(MAX_NESTING)), `${MAX_NESTING} levels`)
  t.match(refused(t, () => decode(nested(MAX_NESTING + 1)), 'BAD_FRAME')?.message, /nesting/)
  t.match(refused(t, () => decode(Buffer.alloc(100_000, 0x91)), 'BAD_FRAME')?.message, /nesting/)
})

t.test('a __proto__ key cannot change what a decoded map is', async (t) => {
  const m = decode(encode(JSON.parse('{"type":"log","__proto__":{"polluted":true}}') as object)) as Record<
    string,
    unknown
  >
  t.equal(Object.getPrototypeOf(m), Object.prototype)
  t.equal((m as { polluted?: unknown }).polluted, undefined)
  t.equal(({} as { polluted?: unknown }).polluted, undefined)
})

// ---------------------------------------------------------------------------------------------
// Validation

t.test('a message must be a map with a string type', async (t) => {
  for (const v of [[], 'hello', 42, null, true, Buffer.from('x'), new Date()]) ea(t, v, 'BAD_MESSAGE')
  ea(t, { seq: 1 }, 'BAD_MESSAGE', 'type')
  ea(t, { type: 7, seq: 1 }, 'BAD_MESSAGE', 'type')
  refused(t, () => parseDashboardMessage([]), 'BAD_MESSAGE')
  refused(t, () => parseHello('hello'), 'BAD_MESSAGE')
})

t.test('an unknown type is UNKNOWN_TYPE, with its seq when it has one', async (t) => {
  t.equal(ea(t, { type: 'tick', seq: 9 }, 'UNKNOWN_TYPE', 'type')?.seq, 9, 'an EA message keeps its seq')
  t.equal(ea(t, { type: 'constructor' }, 'UNKNOWN_TYPE', 'type')?.seq, undefined)
  ea(t, { type: 'command_send', request_id: 'r' }, 'UNKNOWN_TYPE', 'type')
  const err = refused(t, () => parseDashboardMessage({ type: 'tick_batch', request_id: 'r9' }), 'UNKNOWN_TYPE', 'type')
  t.equal(err?.requestId, 'r9', 'a dashboard message keeps its request_id')
})

t.test('a durable message without a valid seq is BAD_FIELD seq, carrying no seq', async (t) => {
  for (const seq of [undefined, null, 0, -1, 1.5, '5', 2 ** 53, NaN, true]) {
    const err = ea(t, { ...message('log'), seq }, 'BAD_FIELD', 'seq')
    t.equal(err?.seq, undefined, `seq ${String(seq)}`)
  }
})

t.test('a bad field of a message with a valid seq carries that seq (the message is consumed)', async (t) => {
  const m = message('tick_batch_3_ticks_with_gap')
  ;(m.bid as number[])[1] = NaN
  const err = ea(t, m, 'BAD_FIELD', 'bid[1]')
  t.equal(err?.seq, 2)
  t.match(err?.message, /bid\[1\].*NaN/)
  t.strictSame(
    err?.toFrame(),
    { type: 'error', code: 'BAD_FIELD', message: err?.message, seq: 2, field: 'bid[1]' },
    'toFrame is the error frame',
  )
  const hello = message('hello_ea')
  hello.seq = 5
  hello.token = ''
  t.equal(ea(t, hello, 'BAD_FIELD', 'token')?.seq, undefined, 'hello never carries a seq')
})

t.test('an EA session goes on after a refusal only when the seq is known or cannot matter', async (t) => {
  const outcome = (value: unknown): boolean | string => {
    const err = thrown(() => parseEaMessage(value))
    return err instanceof ProtocolError ? eaSessionContinues(err, value) : 'accepted'
  }
  const m = message('tick_batch_3_ticks_with_gap')
  ;(m.bid as number[])[0] = -1
  t.equal(outcome(m), true, 'a bad field with a valid seq: consumed')
  t.equal(outcome({ type: 'tick', seq: 3 }), true, 'an unknown type with a seq: consumed')
  t.equal(outcome({ type: 'tick' }), true, 'an unknown type without seq: dropped')
  t.equal(outcome({ type: 'goodbye', reason: 5 }), true, 'a bad goodbye: dropped')
  t.equal(outcome({ ...message('deal_negative_commission'), seq: 0 }), false, 'a durable message without a usable seq')
  t.equal(outcome({ seq: 'x' }), false, 'a map without type or seq')
  t.equal(outcome([1, 2]), false, 'not a map')
  t.equal(outcome({ seq: 8 }), true, 'a map without type but with a seq: consumed')
  const badFrame = thrown(() => decode(bytes('c1')))
  t.equal(badFrame instanceof ProtocolError && eaSessionContinues(badFrame, undefined), false, 'an undecodable frame')
})

t.test('tick columns: numbers checked one by one, the path names the tick', async (t) => {
  const cases: Array<[string, number, unknown, RegExp]> = [
    ['bid', 2, NaN, /NaN/],
    ['ask', 0, Infinity, /Infinity/],
    ['ask', 2, -1, /-1/],
    ['last', 1, -0.00001, /-0.00001/],
    ['bid', 1, '1.05', /string/],
    ['bid', 1, null, /nil/],
    ['volume_real', 0, -Infinity, /-Infinity/],
    ['time_msc', 0, 0, /positive/],
    ['time_msc', 1, -1732000000123, /positive/],
    ['time_msc', 2, 1732000000123.5, /1732000000123.5/],
    ['time_msc', 2, 2 ** 53, /unsafe/],
    ['volume', 1, -1, /-1/],
    ['volume', 1, 0.5, /0.5/],
    ['flags', 0, -1, /2\^32/],
    ['flags', 1, 2 ** 32, /4294967296/],
    ['flags', 2, 1.5, /1.5/],
  ]
  for (const [column, i, value, why] of cases) {
    const m = message('tick_batch_3_ticks_with_gap')
    ;(m[column] as unknown[])[i] = value
    t.match(ea(t, m, 'BAD_FIELD', `${column}[${i}]`)?.message, why, `${column}[${i}] = ${String(value)}`)
  }
})

t.test('tick columns must all have one length, 1 .. maxBatchTicks', async (t) => {
  const ragged = message('tick_batch_3_ticks_with_gap')
  ;(ragged.ask as number[]).pop()
  t.match(ea(t, ragged, 'BAD_FIELD', 'ask')?.message, /2 values, but time_msc has 3/)
  const longer = message('tick_batch_3_ticks_with_gap')
  ;(longer.flags as number[]).push(6)
  ea(t, longer, 'BAD_FIELD', 'flags')
  const empty = {
    ...message('tick_batch_3_ticks_with_gap'),
    time_msc: [],
    bid: [],
    ask: [],
    last: [],
    volume: [],
    volume_real: [],
    flags: [],
  }
  ea(t, empty, 'BAD_FIELD', 'time_msc')
  ea(t, { ...message('tick_batch_3_ticks_with_gap'), last: undefined }, 'BAD_FIELD', 'last')
  ea(t, { ...message('tick_batch_3_ticks_with_gap'), volume: { 0: 0 } }, 'BAD_FIELD', 'volume')
  ea(t, tickBatch(limits.maxBatchTicks + 1), 'BAD_FIELD', 'time_msc')
  t.doesNotThrow(() => parseEaMessage(tickBatch(limits.maxBatchTicks)), `${limits.maxBatchTicks} ticks pass`)
  ea(t, tickBatch(3), 'BAD_FIELD', 'time_msc', { ...limits, maxBatchTicks: 2 })
})

t.test('ticks must be in time order, and first_index counts from 0', async (t) => {
  const m = message('tick_batch_3_ticks_with_gap')
  ;(m.time_msc as number[])[2] = 1732000000100
  t.match(ea(t, m, 'BAD_FIELD', 'time_msc[2]')?.message, /time order/)
  t.doesNotThrow(() => parseEaMessage(message('tick_batch_3_ticks_with_gap')), 'equal times in a row are fine')
  t.equal((parseEaMessage(message('tick_batch_exchange_last_only')) as TickBatch).first_index, 2)
  ea(t, { ...message('tick_batch_exchange_last_only'), first_index: -1 }, 'BAD_FIELD', 'first_index')
  ea(t, { ...message('tick_batch_exchange_last_only'), first_index: 0.5 }, 'BAD_FIELD', 'first_index')
})

t.test('tick prices may be 0: bid/ask on exchange symbols, last on FX', async (t) => {
  const m = parseEaMessage(message('tick_batch_exchange_last_only')) as TickBatch
  t.strictSame(m.bid, [0, 0])
  t.strictSame(m.last, [271.35, 271.4])
})

t.test('a tick batch comes out with its own column arrays, unknown fields left out', async (t) => {
  const m = message('tick_batch_3_ticks_with_gap')
  m.shiny = 'new field'
  const parsed = parseEaMessage(m) as TickBatch
  t.equal(parsed.bid, m.bid, 'no copy of the columns')
  t.notOk('shiny' in parsed)
  t.strictSame(parsed.gap, { dropped: 12, from_msc: 1731999999323, to_msc: 1732000000120 })
})

t.test('the tick gap must be whole and in order', async (t) => {
  const m = message('tick_batch_3_ticks_with_gap')
  ;(m.gap as Record<string, unknown>).dropped = 0
  ea(t, m, 'BAD_FIELD', 'gap.dropped')
  const back = message('tick_batch_3_ticks_with_gap')
  ;(back.gap as Record<string, unknown>).to_msc = 1
  ea(t, back, 'BAD_FIELD', 'gap.to_msc')
  ea(t, { ...message('tick_batch_3_ticks_with_gap'), gap: [1, 2, 3] }, 'BAD_FIELD', 'gap')
  const none = parseEaMessage({ ...message('tick_batch_3_ticks_with_gap'), gap: null }) as TickBatch
  t.notOk('gap' in none, 'a nil gap is no gap')
})

t.test('bar batches check timeframe, columns and their types', async (t) => {
  ea(t, { ...message('bar_batch'), timeframe: 'M7' }, 'BAD_FIELD', 'timeframe')
  ea(t, { ...message('bar_batch'), timeframe: 'm1' }, 'BAD_FIELD', 'timeframe')
  ea(t, { ...message('bar_batch'), spread: [2] }, 'BAD_FIELD', 'spread')
  const m = message('bar_batch')
  ;(m.spread as number[])[1] = -3
  ea(t, m, 'BAD_FIELD', 'spread[1]')
  const n = message('bar_batch')
  ;(n.high as number[])[0] = NaN
  ea(t, n, 'BAD_FIELD', 'high[0]')
  const o = message('bar_batch')
  ;(o.tick_volume as number[])[1] = 1.5
  ea(t, o, 'BAD_FIELD', 'tick_volume[1]')
  for (const tf of ['M1', 'M12', 'H4', 'D1', 'W1', 'MN1'])
    t.doesNotThrow(() => parseEaMessage({ ...message('bar_batch'), timeframe: tf }), tf)
})

t.test('bars must be consistent: low <= open, close <= high (the schema refuses others)', async (t) => {
  const lowAbove = message('bar_batch')
  ;(lowAbove.low as number[])[1] = 1.05125
  t.match(ea(t, lowAbove, 'BAD_FIELD', 'low[1]')?.message, /above/)
  const highBelow = message('bar_batch')
  ;(highBelow.high as number[])[0] = 1.0512
  t.match(ea(t, highBelow, 'BAD_FIELD', 'high[0]')?.message, /below/)
  const flat = {
    ...message('bar_batch'),
    time: [1],
    open: [1],
    high: [1],
    low: [1],
    close: [1],
    tick_volume: [1],
    real_volume: [0],
    spread: [0],
  }
  t.doesNotThrow(() => parseEaMessage(flat), 'a flat bar is fine')
})

t.test('MT5 enum integers must be values the schema knows', async (t) => {
  const cases: Array<[string, string, number, number]> = [
    ['deal_negative_commission', 'deal_type', 17, 18],
    ['deal_negative_commission', 'entry', 3, 4],
    ['deal_negative_commission', 'reason', 10, 11],
    ['order_event', 'order_type', 8, 9],
    ['order_event', 'state', 9, 10],
    ['order_event', 'event', 10, 11],
    ['symbol_spec_exchange_chart_mode_last', 'chart_mode', 1, 2],
  ]
  for (const [name, key, last, beyond] of cases) {
    t.doesNotThrow(() => parseEaMessage({ ...message(name), [key]: last }), `${key} ${last} is known`)
    t.match(ea(t, { ...message(name), [key]: beyond }, 'BAD_FIELD', key)?.message, /this engine knows/)
    ea(t, { ...message(name), [key]: -1 }, 'BAD_FIELD', key)
  }
  const m = message('positions_snapshot_2_positions')
  ;((m.positions as Record<string, unknown>[])[0] as Record<string, unknown>).position_type = 2
  ea(t, m, 'BAD_FIELD', 'positions[0].position_type')
  t.equal(DEAL_TYPES.length, 18, 'the validator and the names agree on the range')
  t.equal(DEAL_REASONS.length, 11)
  t.equal(ORDER_TYPES.length, 9)
})

t.test('deals: signed money, prices and volumes >= 0, empty symbol for balance deals', async (t) => {
  t.doesNotThrow(() => parseEaMessage(message('deal_balance_empty_strings')))
  t.equal((parseEaMessage(message('deal_negative_commission')) as { commission: number }).commission, -0.7)
  ea(t, { ...message('deal_negative_commission'), volume: -0.1 }, 'BAD_FIELD', 'volume')
  ea(t, { ...message('deal_negative_commission'), price: -1 }, 'BAD_FIELD', 'price')
  ea(t, { ...message('deal_negative_commission'), profit: NaN }, 'BAD_FIELD', 'profit')
  ea(t, { ...message('deal_negative_commission'), swap: Infinity }, 'BAD_FIELD', 'swap')
  ea(t, { ...message('deal_negative_commission'), ticket: 0 }, 'BAD_FIELD', 'ticket')
  ea(t, { ...message('deal_negative_commission'), time_msc: 2 ** 53 + 2 }, 'BAD_FIELD', 'time_msc')
  ea(t, { ...message('deal_negative_commission'), deal_type: 2 ** 31 }, 'BAD_FIELD', 'deal_type')
  ea(t, { ...message('deal_negative_commission'), sl: -1 }, 'BAD_FIELD', 'sl')
  ea(t, { ...message('deal_negative_commission'), fee: undefined }, 'BAD_FIELD', 'fee')
  ea(t, { ...message('deal_negative_commission'), comment: 7 }, 'BAD_FIELD', 'comment')
})

t.test('string limits count UTF-8 bytes, not characters', async (t) => {
  const at = limits.maxSymbolBytes
  t.doesNotThrow(() => parseEaMessage({ ...message('symbol_spec'), symbol: 'x'.repeat(at) }), `${at} ASCII bytes pass`)
  ea(t, { ...message('symbol_spec'), symbol: 'x'.repeat(at + 1) }, 'BAD_FIELD', 'symbol')
  const cjk = '日'.repeat(Math.floor(at / 3) + 1) // fewer characters than the limit, more bytes
  t.ok(cjk.length < at)
  t.match(ea(t, { ...message('symbol_spec'), symbol: cjk }, 'BAD_FIELD', 'symbol')?.message, /too long/)
  ea(t, { ...message('symbol_spec'), symbol: '' }, 'BAD_FIELD', 'symbol')
  ea(t, { ...message('log'), message: 'x'.repeat(limits.maxTextBytes + 1) }, 'BAD_FIELD', 'message')
  ea(t, { ...message('hello_ea'), token: 't'.repeat(limits.maxTokenBytes + 1) }, 'BAD_FIELD', 'token')
})

t.test('ids must be non-empty, short, and free of control characters', async (t) => {
  ea(t, { ...message('hello_ea'), instance_id: 'a\nb' }, 'BAD_FIELD', 'instance_id')
  ea(t, { ...message('hello_ea'), instance_id: '' }, 'BAD_FIELD', 'instance_id')
  ea(
    t,
    { ...message('command_ack_accepted'), command_id: 'x'.repeat(limits.maxIdBytes + 1) },
    'BAD_FIELD',
    'command_id',
  )
  t.doesNotThrow(
    () => parseEaMessage({ ...message('command_ack_accepted'), command_id: 'ordre-été-1' }),
    'non-ASCII ids are fine',
  )
})

t.test('enums refuse values outside their list', async (t) => {
  ea(t, { ...message('ea_status'), state: 'sleeping' }, 'BAD_FIELD', 'state')
  ea(t, { ...message('ea_status'), terminal_trade_allowed: 1 }, 'BAD_FIELD', 'terminal_trade_allowed')
  ea(t, { ...message('log'), level: 'fatal' }, 'BAD_FIELD', 'level')
  ea(t, { ...message('command_ack_accepted'), status: 'ok' }, 'BAD_FIELD', 'status')
  ea(t, { ...message('signal_with_metadata'), timeframe: 'H5' }, 'BAD_FIELD', 'timeframe')
  refused(
    t,
    () => parseDashboardMessage({ ...message('command_send_by_instance'), command: 'rm -rf' }),
    'BAD_FIELD',
    'command',
  )
})

t.test('positions snapshots name the row at fault, and may be empty', async (t) => {
  const m = message('positions_snapshot_2_positions')
  ;((m.positions as Record<string, unknown>[])[1] as Record<string, unknown>).symbol = ''
  ea(t, m, 'BAD_FIELD', 'positions[1].symbol')
  const n = message('positions_snapshot_2_positions')
  ;((n.positions as Record<string, unknown>[])[0] as Record<string, unknown>).price_current = -2
  ea(t, n, 'BAD_FIELD', 'positions[0].price_current')
  ea(t, { ...message('positions_snapshot_2_positions'), positions: [1] }, 'BAD_FIELD', 'positions[0]')
  ea(t, { ...message('positions_snapshot_2_positions'), positions: undefined }, 'BAD_FIELD', 'positions')
  ea(
    t,
    { ...message('positions_snapshot_empty'), positions: new Array(3).fill({}) },
    'BAD_FIELD',
    'positions[0].identifier',
  )
  ea(t, { ...message('positions_snapshot_empty'), positions: new Array(3).fill({}) }, 'BAD_FIELD', 'positions', {
    ...limits,
    maxPositions: 2,
  })
  t.strictSame((parseEaMessage(message('positions_snapshot_empty')) as { positions: unknown[] }).positions, [])
})

t.test('account, status, signal and command messages check their ranges', async (t) => {
  t.doesNotThrow(
    () => parseEaMessage({ ...message('account_snapshot'), equity: -12.5, free_margin: -300 }),
    'equity and free margin may go negative',
  )
  ea(t, { ...message('account_snapshot'), margin: -1 }, 'BAD_FIELD', 'margin')
  ea(t, { ...message('account_snapshot'), margin_level: -1 }, 'BAD_FIELD', 'margin_level')
  ea(t, { ...message('account_snapshot'), open_positions: 1.5 }, 'BAD_FIELD', 'open_positions')
  ea(t, { ...message('ea_status'), dropped_ticks: -1 }, 'BAD_FIELD', 'dropped_ticks')
  ea(t, { ...message('ea_status'), connected: 'yes' }, 'BAD_FIELD', 'connected')
  ea(t, { ...message('signal_with_metadata'), signal_id: '' }, 'BAD_FIELD', 'signal_id')
  t.equal((parseEaMessage(message('ea_status')) as { connected?: boolean }).connected, true)
  t.equal((parseEaMessage(message('signal_with_metadata')) as { signal_id?: string }).signal_id, 'sig-20241119-0042')
  t.equal((parseEaMessage(message('order_event')) as { event?: number }).event, 1)
  ea(t, { ...message('signal_with_metadata'), confidence: 1.01 }, 'BAD_FIELD', 'confidence')
  ea(t, { ...message('signal_with_metadata'), signal_type: 'long' }, 'BAD_FIELD', 'signal_type')
  ea(t, { ...message('signal_with_metadata'), confidence: -0.1 }, 'BAD_FIELD', 'confidence')
  ea(t, { ...message('command_result_ok'), ok: 'yes' }, 'BAD_FIELD', 'ok')
  ea(t, { ...message('symbol_spec'), point: 0 }, 'BAD_FIELD', 'point')
  ea(t, { ...message('symbol_spec'), digits: 17 }, 'BAD_FIELD', 'digits')
})

t.test('free-form maps take JSON-like values only, bounded in depth and size', async (t) => {
  const deep: Record<string, unknown> = {}
  let cursor = deep
  for (let i = 0; i < limits.maxMapDepth; i++) cursor = (cursor.d = {}) as Record<string, unknown>
  ea(
    t,
    { ...message('signal_with_metadata'), metadata: deep },
    'BAD_FIELD',
    `metadata${'.d'.repeat(limits.maxMapDepth)}`,
  )
  ea(
    t,
    { ...message('signal_with_metadata'), metadata: { model: { version: NaN } } },
    'BAD_FIELD',
    'metadata.model.version',
  )
  ea(t, { ...message('signal_with_metadata'), metadata: { blob: Buffer.from('x') } }, 'BAD_FIELD', 'metadata.blob')
  ea(
    t,
    { ...message('signal_with_metadata'), metadata: { list: [1, [2, Infinity]] } },
    'BAD_FIELD',
    'metadata.list[1][1]',
  )
  ea(
    t,
    { ...message('signal_with_metadata'), metadata: { many: new Array(limits.maxMapValues).fill(0) } },
    'BAD_FIELD',
    'metadata.many',
  )
  ea(t, { ...message('signal_with_metadata'), metadata: [1] }, 'BAD_FIELD', 'metadata')
  ea(
    t,
    { ...message('command_result_ok'), result: { x: 'y'.repeat(limits.maxTextBytes + 1) } },
    'BAD_FIELD',
    'result.x',
  )
  refused(
    t,
    () => parseDashboardMessage({ ...message('command_send_by_instance'), payload: { at: new Date() } }),
    'BAD_FIELD',
    'payload.at',
  )
  const parsed = parseEaMessage(message('signal_with_metadata')) as { metadata: unknown }
  t.strictSame(parsed.metadata, vector('signal_with_metadata').message.metadata)
})

t.test('hello: the protocol version comes first, then the role, then the fields', async (t) => {
  refused(t, () => parseHello({ ...message('hello_ea'), protocol: 2, token: 7 }), 'UNSUPPORTED_PROTOCOL', 'protocol')
  refused(
    t,
    () => parseHello({ ...message('hello_dashboard'), protocol: PROTOCOL_VERSION + 1 }),
    'UNSUPPORTED_PROTOCOL',
    'protocol',
  )
  refused(t, () => parseHello({ ...message('hello_ea'), protocol: '1' }), 'BAD_FIELD', 'protocol')
  refused(t, () => parseHello({ ...message('hello_ea'), role: 'viewer' }), 'BAD_FIELD', 'role')
  refused(t, () => parseHello(message('tick_batch_3_ticks_with_gap')), 'HELLO_REQUIRED', 'type')
  refused(t, () => parseHello({ seq: 1 }), 'HELLO_REQUIRED', 'type')
  ea(t, message('hello_dashboard'), 'BAD_FIELD', 'role')
  refused(t, () => parseDashboardMessage(message('hello_ea')), 'BAD_FIELD', 'role')
  ea(t, { ...message('hello_ea'), account: { login: 0, server: 'S' } }, 'BAD_FIELD', 'account.login')
  ea(t, { ...message('hello_ea'), account: { login: 5 } }, 'BAD_FIELD', 'account.server')
  ea(t, { ...message('hello_ea'), account: null }, 'BAD_FIELD', 'account')
  ea(t, { ...message('hello_ea'), ea: { name: 'E', timeframe: 'M9' } }, 'BAD_FIELD', 'ea.timeframe')
  ea(t, { ...message('hello_ea'), bridge: { name: 'b' } }, 'BAD_FIELD', 'bridge.version')
  const account = message('hello_ea').account as Record<string, unknown>
  ea(
    t,
    { ...message('hello_ea'), account: { ...account, server_utc_offset_s: 14 * 3600 + 1 } },
    'BAD_FIELD',
    'account.server_utc_offset_s',
  )
  ea(
    t,
    { ...message('hello_ea'), account: { ...account, server_utc_offset_s: -12 * 3600 - 1 } },
    'BAD_FIELD',
    'account.server_utc_offset_s',
  )
  ea(t, { ...message('hello_ea'), account: { ...account, leverage: 0 } }, 'BAD_FIELD', 'account.leverage')
  ea(t, { ...message('hello_ea'), account: { ...account, margin_mode: 3 } }, 'BAD_FIELD', 'account.margin_mode')
  ea(t, { ...message('hello_ea'), account: { ...account, trade_mode: 3 } }, 'BAD_FIELD', 'account.trade_mode')
  t.equal(parseHello(message('hello_dashboard')).role, 'dashboard')
  t.strictSame(parseHello(message('hello_ea_minimal')), vector('hello_ea_minimal').message)
})

t.test('command_send: one way of naming the target, ids and expiry checked, request_id kept', async (t) => {
  const send = (patch: Record<string, unknown>) => () =>
    parseDashboardMessage({ ...message('command_send_by_instance'), ...patch })
  const both = refused(t, send({ target: { instance_id: 'a', login: 1, server: 'S' } }), 'BAD_FIELD', 'target')
  t.equal(both?.requestId, 'r1')
  t.strictSame(both?.toFrame(), {
    type: 'error',
    code: 'BAD_FIELD',
    message: both?.message,
    field: 'target',
    request_id: 'r1',
  })
  refused(t, send({ target: {} }), 'BAD_FIELD', 'target')
  refused(t, send({ target: { server: 'S' } }), 'BAD_FIELD', 'target.login')
  refused(t, send({ target: { login: 1, server: 'S', magic: 1.5 } }), 'BAD_FIELD', 'target.magic')
  refused(t, send({ target: 'EA1' }), 'BAD_FIELD', 'target')
  refused(t, send({ expires_in_ms: 0 }), 'BAD_FIELD', 'expires_in_ms')
  refused(t, send({ expires_in_ms: limits.maxCommandExpiresMs + 1 }), 'BAD_FIELD', 'expires_in_ms')
  refused(t, send({ command_id: '' }), 'BAD_FIELD', 'command_id')
  const noId = refused(t, send({ request_id: undefined }), 'BAD_FIELD', 'request_id')
  t.equal(noId?.requestId, undefined)
  t.strictSame(
    parseDashboardMessage(message('command_send_by_account_and_magic')),
    vector('command_send_by_account_and_magic').message,
  )
  t.strictSame((parseDashboardMessage(message('command_send_by_account_minimal')) as { target: unknown }).target, {
    login: 51234567,
    server: 'ICMarketsSC-Demo',
  })
})

t.test('the read-side vectors are requests the engine accepts and answers it sends', async (t) => {
  for (const name of ['query_minimal', 'sql', 'subscribe_with_params', 'unsubscribe', 'notifications_read']) {
    t.strictSame(parseDashboardMessage(message(name)), vector(name).message, `${name} comes out field for field`)
  }
  const paged = parseDashboardMessage(message('query_deals_paged')) as QueryMessage
  const { type: _, request_id: __, ...request } = paged
  const plan = planQuery(request, 'viewer')
  t.equal(plan.order, 'desc', 'its cursor is one the engine made, in the order it names')
  t.equal(plan.limit, 100)
  t.notMatch(plan.sql, /d\.time_msc < /, 'its nil `to` counts as not given')
  const refusal = Object.assign(new ProtocolError('SQL_REFUSED', 'sql: only SELECT may run; this is a DELETE', 'sql'), { requestId: 'r11', refusal: 'SQL_NOT_SELECT' })
  t.strictSame(refusal.toFrame(), vector('error_sql_refused').message, 'an SQL refusal as the engine frames it')
  for (const name of ['query_result_mixed_types_last_page', 'query_result_with_cursor']) {
    const m = vector(name).message as { query: string; columns: string[]; rows: unknown[][] }
    t.strictSame(m.columns, QUERY_BY_NAME.get(m.query)?.columns.map((c) => c.name), `${name}: the columns of ${m.query}`)
    t.ok(m.rows.every((r) => r.length === m.columns.length), `${name}: every row has every column`)
  }
})

t.test('limits are frozen defaults, and welcome carries the three a client needs', async (t) => {
  t.ok(Object.isFrozen(limits))
  t.equal(limits.maxFrameBytes, 1024 * 1024)
  t.equal(limits.maxBatchTicks, 5000)
  t.strictSame(welcomeLimits(), { max_frame_bytes: 1048576, max_batch_ticks: 5000, max_inflight: limits.maxInflight })
  t.strictSame(welcomeLimits(), vector('welcome_ea').message.limits, 'the welcome vector shows the defaults')
})

// ---------------------------------------------------------------------------------------------
// Tick batches: the frames that carry nearly all the bytes

function tickBatch(n: number): Record<string, unknown> {
  const col = (f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i))
  return {
    type: 'tick_batch',
    seq: 1,
    symbol: 'EURUSD',
    time_msc: col((i) => 1732000000000 + i),
    bid: col((i) => 1.05 + i * 1e-5),
    ask: col((i) => 1.0502 + i * 1e-5),
    last: col(() => 0),
    volume: col(() => 0),
    volume_real: col(() => 0),
    flags: col(() => 6),
  }
}

t.test('a 5000-tick frame comes through encode, decode and validation column for column', async (t) => {
  const message = tickBatch(5000)
  const frame = encode(message)
  t.equal(frame.length, 5000 * (9 + 9 + 9 + 1 + 1 + 1 + 1) + 104, 'int64 times, float64 prices, fixint zeros and flags')
  const batch = parseEaMessage(decode(frame)) as TickBatch
  for (const column of ['time_msc', 'bid', 'ask', 'last', 'volume', 'volume_real', 'flags'] as const) {
    t.strictSame(batch[column], message[column], column)
  }
})

// ---------------------------------------------------------------------------------------------
// Fuzz: nothing but ProtocolError, ever

/** A small seeded generator (mulberry32), so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Runs every parser on the bytes; returns how far they got. */
function attempt(frame: Uint8Array): 'bad frame' | 'accepted' | 'refused' {
  let value: unknown
  try {
    value = decode(frame)
  } catch (err) {
    if (err instanceof ProtocolError && err.code === 'BAD_FRAME') return 'bad frame'
    throw err
  }
  let accepted = false
  for (const parse of [parseEaMessage, parseDashboardMessage, parseHello]) {
    try {
      parse(value)
      accepted = true
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err
    }
  }
  return accepted ? 'accepted' : 'refused'
}

t.test('random bytes and mutated vectors only ever raise ProtocolError', async (t) => {
  const seed = Number(process.env.MT5E_FUZZ_SEED ?? 20241121)
  const rnd = random(seed)
  const int = (n: number): number => Math.floor(rnd() * n)
  const outcomes = { 'bad frame': 0, accepted: 0, refused: 0 }
  let failure: string | undefined
  const run = (frame: Uint8Array, what: string): void => {
    if (failure !== undefined) return
    try {
      outcomes[attempt(frame)]++
    } catch (err) {
      failure = `${what} ${Buffer.from(frame).toString('hex')} (seed ${seed}): ${String(err)}`
    }
  }
  for (let i = 0; i < 5000; i++) {
    const frame = new Uint8Array(int(48))
    for (let j = 0; j < frame.length; j++) frame[j] = int(256)
    run(frame, 'random bytes')
  }
  const originals = vectors.map((v) => bytes(v.hex))
  for (let i = 0; i < 20000; i++) {
    const src = originals[int(originals.length)]!
    let frame: Uint8Array = Uint8Array.from(src)
    const edits = 1 + int(4)
    for (let e = 0; e < edits; e++) {
      const at = int(frame.length)
      switch (int(5)) {
        case 0:
          frame[at] = int(256)
          break // replace a byte
        case 1:
          frame[at] = frame[at]! ^ (1 << int(8))
          break // flip a bit
        case 2:
          frame = frame.subarray(0, at)
          break // truncate
        case 3:
          frame = Buffer.concat([frame.subarray(0, at), Buffer.from([int(256)]), frame.subarray(at)])
          break // insert
        default:
          frame = Buffer.concat([frame.subarray(0, at), frame.subarray(at + 1)]) // delete
      }
    }
    run(frame, 'mutated vector')
  }
  t.equal(failure, undefined, 'no other error escaped')
  t.ok(
    outcomes['bad frame'] > 1000 && outcomes.refused > 500 && outcomes.accepted > 100,
    `every outcome occurred: ${JSON.stringify(outcomes)}`,
  )
})

t.test('messages with a field swapped for a random value only ever raise ProtocolError', async (t) => {
  const rnd = random(7)
  const int = (n: number): number => Math.floor(rnd() * n)
  const odd = [
    null,
    true,
    -1,
    0,
    1.5,
    NaN,
    Infinity,
    -Infinity,
    2 ** 53,
    '',
    'x'.repeat(9000),
    [],
    [1, 'a'],
    {},
    { a: [null] },
    Buffer.alloc(2),
    -0,
  ]
  let failure: string | undefined
  let refusals = 0
  for (let i = 0; i < 20000 && failure === undefined; i++) {
    const v = vectors[int(vectors.length)]!
    if (v.direction !== 'ea_to_engine' && v.direction !== 'dashboard_to_engine') continue
    const m = structuredClone(v.message)
    // pick a field, maybe one level down, maybe one item of a column
    let target: Record<string, unknown> | unknown[] = m
    let keys = Object.keys(target)
    let key: string | number = keys[int(keys.length)]!
    const inner: unknown = (target as Record<string, unknown>)[key]
    if (inner !== null && typeof inner === 'object' && !Buffer.isBuffer(inner) && rnd() < 0.6) {
      target = inner as Record<string, unknown> | unknown[]
      keys = Object.keys(target)
      if (keys.length === 0) continue
      key = Array.isArray(target) ? int(target.length) : keys[int(keys.length)]!
    }
    ;(target as Record<string | number, unknown>)[key] = odd[int(odd.length)]
    try {
      if (v.direction === 'ea_to_engine') parseEaMessage(m)
      else parseDashboardMessage(m)
    } catch (err) {
      if (err instanceof ProtocolError) refusals++
      else failure = `${v.name}.${String(key)}: ${String(err)}`
    }
  }
  t.equal(failure, undefined, 'no other error escaped')
  t.ok(refusals > 1000, `validation refused ${refusals} of them`)
})
