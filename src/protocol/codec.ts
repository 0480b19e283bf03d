/**
 * Frames as plain MessagePack (docs/PROTOCOL.md, "Encoding"). msgpackr does the work; around it we
 * keep the wire readable by any C or MQL5 decoder: no extension types at all (no records, bundled
 * strings or timestamps), string map keys, integers within +-(2^53 - 1), floats as float64.
 */
import { isUtf8 } from 'node:buffer'
import { FLOAT32_OPTIONS, Packr, Unpackr } from 'msgpackr'
import type { ErrorFrame, ProtocolErrorCode } from './messages.js'

/** How deep arrays and maps may nest in one frame (the top-level map is depth 1). */
export const MAX_NESTING = 32

/**
 * A frame or message the protocol refuses. `code` is the stable code sent in the error frame;
 * `field` is the path of the field at fault (`bid[3]`, `positions[1].symbol`). `seq` is the
 * message's own sequence number when it had a valid one (the gateway then counts the message as
 * consumed), `requestId` a dashboard message's `request_id`.
 */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode
  readonly field: string | undefined
  seq: number | undefined
  requestId: string | undefined

  constructor(code: ProtocolErrorCode, message: string, field?: string) {
    super(message)
    this.name = 'ProtocolError'
    this.code = code
    this.field = field
    this.seq = undefined
    this.requestId = undefined
  }

  /** The error frame that answers this error. */
  toFrame(): ErrorFrame {
    const frame: ErrorFrame = { type: 'error', code: this.code, message: this.message }
    if (this.seq !== undefined) frame.seq = this.seq
    if (this.field !== undefined) frame.field = this.field
    if (this.requestId !== undefined) frame.request_id = this.requestId
    return frame
  }
}

const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  sequential: false,
  variableMapSize: true, // fixmap for small maps: the smallest form, as the spec prefers
  useFloat32: FLOAT32_OPTIONS.NEVER,
  useTimestamp32: false,
  largeBigIntToFloat: false,
  largeBigIntToString: false,
  useBigIntExtension: false,
  encodeUndefinedAsNil: true,
})

const unpackr = new Unpackr({
  useRecords: false,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  sequential: false,
  mapsAsObjects: true,
  int64AsType: 'number', // exact: scan() has already refused anything beyond 2^53 - 1
})

/**
 * Encodes one message as plain MessagePack: maps in key insertion order, keys whose value is
 * `undefined` left out, integers in the smallest int format (int64 beyond 32 bits), other numbers
 * as float64. Throws a TypeError naming the path (`$.positions[1].at`) for values MessagePack
 * cannot carry plainly: Date, Map, Set, class instances, typed arrays other than bytes, functions,
 * symbols, lone surrogates, bigints beyond 2^53 - 1, `undefined` in an array.
 */
export function encode(message: object): Buffer {
  let plain: unknown
  try {
    plain = prepare(message)
  } catch (err) {
    if (err instanceof NotPlain) throw new TypeError(`encode: $${err.path.reverse().join('')} ${err.message}`)
    throw err
  }
  return packr.pack(plain)
}

/**
 * Decodes exactly one plain MessagePack value. Throws a ProtocolError BAD_FRAME for anything else:
 * empty, truncated or trailing bytes, extension types, the unused byte 0xc1, non-string map keys,
 * integers beyond +-(2^53 - 1), invalid UTF-8, nesting deeper than MAX_NESTING. Maps become plain
 * objects, bin becomes a Buffer, every integer a number.
 */
export function decode(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw badFrame('a frame must be bytes')
  scan(bytes)
  try {
    return unpackr.unpack(bytes)
  } catch (err) {
    // scan() accepted it, so msgpackr should too; never let its errors out unclassified
    throw badFrame(`not valid MessagePack: ${(err as Error).message}`)
  }
}

// ---------------------------------------------------------------------------------------------
// encode: make a value plain before msgpackr sees it

const INT32_MIN = -0x80000000
const UINT32_MAX = 0xffffffff
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** What prepare() throws; the path is collected on the way out, so the way in allocates nothing. */
class NotPlain extends Error {
  readonly path: string[] = []
}

interface WellFormed {
  isWellFormed(): boolean
}

/**
 * Returns `value` itself when it is already plain, or a copy where integers beyond 32 bits became
 * BigInts (msgpackr writes those as int64; as numbers it would write float64) and undefined map
 * values were dropped. Copies only what changes.
 */
function prepare(value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      if ((value > UINT32_MAX || value < INT32_MIN) && Number.isSafeInteger(value)) return BigInt(value)
      return value
    case 'string':
      if (!(value as unknown as WellFormed).isWellFormed()) {
        throw new NotPlain('is not well-formed UTF-16 (a lone surrogate)')
      }
      return value
    case 'boolean':
      return value
    case 'bigint':
      if (value > MAX_SAFE || value < -MAX_SAFE) throw new NotPlain(`is ${value}, beyond 2^53 - 1`)
      return prepare(Number(value))
    case 'object':
      if (value === null) return null
      if (Array.isArray(value)) return prepareArray(value)
      if (value instanceof Uint8Array && (value.constructor === Uint8Array || Buffer.isBuffer(value))) return value
      return prepareMap(value)
    default:
      throw new NotPlain(`is ${typeof value}, which plain MessagePack cannot carry`)
  }
}

function prepareArray(array: unknown[]): unknown[] {
  let out: unknown[] | undefined
  for (let i = 0; i < array.length; i++) {
    const item = array[i]
    let prepared: unknown
    try {
      if (item === undefined) throw new NotPlain('is undefined')
      prepared = prepare(item)
    } catch (err) {
      if (err instanceof NotPlain) err.path.push(`[${i}]`)
      throw err
    }
    if (prepared !== item && out === undefined) out = array.slice(0, i)
    if (out !== undefined) out.push(prepared)
  }
  return out ?? array
}

function prepareMap(map: object): object {
  const proto: unknown = Object.getPrototypeOf(map)
  if (proto !== Object.prototype && proto !== null) {
    throw new NotPlain(`is a ${map.constructor?.name ?? 'class instance'}, not a plain object`)
  }
  const source = map as Record<string, unknown>
  const keys = Object.keys(source)
  // a null-prototype object is copied so msgpackr sees an ordinary one
  let out: Record<string, unknown> | undefined = proto === null ? {} : undefined
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const item = source[key]
    let prepared: unknown
    try {
      prepared = item === undefined ? undefined : prepare(item)
    } catch (err) {
      if (err instanceof NotPlain) err.path.push(`.${key}`)
      throw err
    }
    if (prepared !== item || item === undefined) out ??= copyKeys(source, keys, i)
    if (out !== undefined && prepared !== undefined) setKey(out, key, prepared)
  }
  return out ?? map
}

/** A new object with the first `n` keys of `source`, unchanged. */
function copyKeys(source: Record<string, unknown>, keys: string[], n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let j = 0; j < n; j++) setKey(out, keys[j]!, source[keys[j]!])
  return out
}

function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  // assigning would set the prototype instead of a key
  if (key === '__proto__') {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    out[key] = value
  }
}

// ---------------------------------------------------------------------------------------------
// decode: one pass over the bytes, no allocation, before msgpackr builds anything

function badFrame(message: string): ProtocolError {
  return new ProtocolError('BAD_FRAME', message)
}

// values still to read at each open level, and whether that level is a map (keys at even counts)
const remaining = new Float64Array(MAX_NESTING + 1)
const levelIsMap = new Uint8Array(MAX_NESTING + 1)

/** Checks that `b` holds exactly one value of plain MessagePack as PROTOCOL.md allows it. */
function scan(b: Uint8Array): void {
  const end = b.length
  if (end === 0) throw badFrame('empty frame')
  let pos = 0
  let depth = 0
  remaining[0] = 1
  levelIsMap[0] = 0
  for (;;) {
    let left = remaining[depth]!
    while (left === 0) {
      if (depth === 0) {
        if (pos !== end) throw badFrame(`${end - pos} trailing byte(s) after the value, from offset ${pos}`)
        return
      }
      left = remaining[--depth]!
    }
    if (levelIsMap[depth] === 0 && depth > 0) {
      // inside an array, run through fixed-size scalars (tick columns) without the general path
      while (left > 0) {
        const t = b[pos]!
        if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) pos += 1
        else if (t === 0xcb) pos += 9
        else if (t === 0xcc || t === 0xd0) pos += 2
        else if (t === 0xcd || t === 0xd1) pos += 3
        else if (t === 0xce || t === 0xd2 || t === 0xca) pos += 5
        else if ((t === 0xcf || t === 0xd3) && b[pos + 1] === 0 && b[pos + 2]! <= 0x1f)
          pos += 9 // below 2^53
        else break
        left--
      }
      if (pos > end) throw truncated(end)
      if (left === 0) {
        remaining[depth] = 0
        continue
      }
    }
    remaining[depth] = left - 1
    if (pos >= end) throw truncated(end)
    const at = pos
    const t = b[pos++]!
    if (levelIsMap[depth] === 1 && left % 2 === 0 && !((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb))) {
      throw badFrame(`map key at offset ${at} is not a string (byte 0x${hex(t)})`)
    }
    let count = 0 // values inside a container that starts here
    let isMap = 0
    if (t <= 0x7f || t >= 0xe0) continue // positive and negative fixint
    if (t <= 0x8f) {
      count = (t & 0x0f) * 2
      isMap = 1
    } else if (t <= 0x9f) {
      count = t & 0x0f
    } else if (t <= 0xbf) {
      pos = skipString(b, pos, t & 0x1f)
      continue
    } else {
      switch (t) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          continue
        case 0xc1:
          throw badFrame(`byte 0xc1 at offset ${at} is never used in MessagePack`)
        case 0xc4: // bin 8
          need(b, pos, 1)
          pos = skipBytes(b, pos + 1, b[pos]!)
          continue
        case 0xc5: // bin 16
          need(b, pos, 2)
          pos = skipBytes(b, pos + 2, u16(b, pos))
          continue
        case 0xc6: // bin 32
          need(b, pos, 4)
          pos = skipBytes(b, pos + 4, u32(b, pos))
          continue
        case 0xc7: // ext 8
        case 0xc8: // ext 16
        case 0xc9: // ext 32
        case 0xd4: // fixext 1 (msgpackr's records and undefined)
        case 0xd5: // fixext 2
        case 0xd6: // fixext 4 (timestamp 32)
        case 0xd7: // fixext 8 (timestamp 64)
        case 0xd8: // fixext 16
          throw badFrame(`extension type at offset ${at} (byte 0x${hex(t)}): only plain MessagePack is accepted`)
        case 0xcc: // uint 8
        case 0xd0: // int 8
          pos = skipBytes(b, pos, 1)
          continue
        case 0xcd: // uint 16
        case 0xd1: // int 16
          pos = skipBytes(b, pos, 2)
          continue
        case 0xca: // float 32
        case 0xce: // uint 32
        case 0xd2: // int 32
          pos = skipBytes(b, pos, 4)
          continue
        case 0xcb: // float 64
          pos = skipBytes(b, pos, 8)
          continue
        case 0xcf: // uint 64: the high word must stay below 2^21
          need(b, pos, 8)
          if (u32(b, pos) > 0x1fffff) throw unsafe(at)
          pos += 8
          continue
        case 0xd3: {
          // int 64
          need(b, pos, 8)
          const hi = i32(b, pos)
          if (hi > 0x1fffff || hi < -0x200000 || !Number.isSafeInteger(hi * 0x100000000 + u32(b, pos + 4))) {
            throw unsafe(at)
          }
          pos += 8
          continue
        }
        case 0xd9: // str 8
          need(b, pos, 1)
          pos = skipString(b, pos + 1, b[pos]!)
          continue
        case 0xda: // str 16
          need(b, pos, 2)
          pos = skipString(b, pos + 2, u16(b, pos))
          continue
        case 0xdb: // str 32
          need(b, pos, 4)
          pos = skipString(b, pos + 4, u32(b, pos))
          continue
        case 0xdc: // array 16
          need(b, pos, 2)
          count = u16(b, pos)
          pos += 2
          break
        case 0xdd: // array 32
          need(b, pos, 4)
          count = u32(b, pos)
          pos += 4
          break
        case 0xde: // map 16
          need(b, pos, 2)
          count = u16(b, pos) * 2
          isMap = 1
          pos += 2
          break
        case 0xdf: // map 32
          need(b, pos, 4)
          count = u32(b, pos) * 2
          isMap = 1
          pos += 4
          break
        default: // every byte 0xc0 .. 0xdf is handled above; this keeps it that way
          throw badFrame(`unknown byte 0x${hex(t)} at offset ${at}`)
      }
    }
    if (count === 0) continue
    // every value takes at least one byte: refuse a huge declared length before anyone allocates it
    if (count > end - pos) throw truncated(end)
    if (depth === MAX_NESTING) throw badFrame(`nesting deeper than ${MAX_NESTING} levels at offset ${at}`)
    depth++
    remaining[depth] = count
    levelIsMap[depth] = isMap
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}

function truncated(size: number): ProtocolError {
  return badFrame(`truncated: the value needs more than the frame's ${size} bytes`)
}

function unsafe(at: number): ProtocolError {
  return badFrame(`integer at offset ${at} is beyond +-(2^53 - 1), which a float64 cannot hold exactly`)
}

function need(b: Uint8Array, pos: number, n: number): void {
  if (pos + n > b.length) throw truncated(b.length)
}

function skipBytes(b: Uint8Array, pos: number, n: number): number {
  const next = pos + n
  if (next > b.length) throw truncated(b.length)
  return next
}

function skipString(b: Uint8Array, pos: number, n: number): number {
  const next = skipBytes(b, pos, n)
  for (let i = pos; i < next; i++) {
    if (b[i]! >= 0x80) {
      if (!isUtf8(b.subarray(pos, next))) throw badFrame(`string at offset ${pos} is not valid UTF-8`)
      break
    }
  }
  return next
}

function u16(b: Uint8Array, pos: number): number {
  return (b[pos]! << 8) | b[pos + 1]!
}

function u32(b: Uint8Array, pos: number): number {
  return ((b[pos]! << 24) | (b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!) >>> 0
}

function i32(b: Uint8Array, pos: number): number {
  return (b[pos]! << 24) | (b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!
}
