/**
 * Frames as plain MessagePack (docs/PROTOCOL.md, "Encoding"), readable by any C or MQL5 decoder: no
 * extension types at all (no records, bundled strings or timestamps), string map keys, integers
 * within +-(2^53 - 1), floats as float64. Encoding is written here, in one pass; decoding is
 * msgpackr's, behind a scan that refuses anything else first.
 */
import { isUtf8 } from 'node:buffer'
import { Unpackr } from 'msgpackr'
import { ProtocolErrors, type ErrorFrame, type ProtocolErrorCode } from './messages.js'

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
  /** SQL_REFUSED: the console's reason code. */
  refusal: string | undefined

  constructor(code: ProtocolErrorCode, message: string, field?: string) {
    // Each refused frame makes one, and the stack says nothing the code and field do not: capturing
    // it was the most expensive step of refusing a frame.
    const stackTraceLimit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = stackTraceLimit
    this.name = 'ProtocolError'
    this.code = code
    this.field = field
    this.seq = undefined
    this.requestId = undefined
    this.refusal = undefined
  }

  /** The error frame that answers this error. */
  toFrame(): ErrorFrame {
    const frame: ErrorFrame = { type: 'error', code: this.code, message: this.message }
    if (this.seq !== undefined) frame.seq = this.seq
    if (this.field !== undefined) frame.field = this.field
    if (this.requestId !== undefined) frame.request_id = this.requestId
    if (this.refusal !== undefined) frame.refusal = this.refusal
    return frame
  }
}

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
 * as float64, strings and byte arrays in their smallest header. Throws a TypeError naming the path
 * (`$.positions[1].at`) for values MessagePack cannot carry plainly: Date, Map, Set, class
 * instances, typed arrays other than bytes, functions, symbols, lone surrogates, bigints beyond
 * 2^53 - 1, `undefined` in an array, nesting deeper than MAX_NESTING (a cycle included).
 *
 * The frame is a view into a shared chunk that later frames never overwrite, so it stays valid for
 * as long as it is held.
 */
export function encode(message: object): Buffer {
  start = pos
  try {
    write(message, 0)
  } catch (err) {
    pos = start
    if (err instanceof NotPlain) throw new TypeError(`encode: $${err.path.reverse().join('')} ${err.message}`)
    throw err
  }
  const frame = chunk.subarray(start, pos)
  if (chunk.length - pos < MIN_ROOM) newChunk(0)
  return frame
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
// encode: one pass over the value, straight into bytes (msgpackr would write an integer beyond 32
// bits as float64 unless it were first made a BigInt, and that allocation per time_msc dominated
// an EA's encoding cost)

const CHUNK = 256 * 1024
/** A frame never starts in less room than this; what is left of the chunk is dropped. */
const MIN_ROOM = 1024
const TWO_32 = 0x100000000
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

let chunk = Buffer.allocUnsafeSlow(CHUNK)
let view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength)
/** Where the frame being written starts, and where its next byte goes. */
let start = 0
let pos = 0

/** What write() throws; the path is collected on the way out, so the way in allocates nothing. */
class NotPlain extends Error {
  readonly path: string[] = []
}

interface WellFormed {
  isWellFormed(): boolean
}

/** Moves the frame being written to a new chunk with room for `more` bytes after it. */
function newChunk(more: number): void {
  const written = pos - start
  const next = Buffer.allocUnsafeSlow(Math.max(CHUNK, 2 * (written + more)))
  chunk.copy(next, 0, start, pos)
  chunk = next
  view = new DataView(next.buffer, next.byteOffset, next.byteLength)
  start = 0
  pos = written
}

function room(n: number): void {
  if (pos + n > chunk.length) newChunk(n)
}

/** `depth` counts the arrays and maps around `value`. */
function write(value: unknown, depth: number): void {
  switch (typeof value) {
    case 'number':
      writeNumber(value)
      return
    case 'string':
      writeString(value)
      return
    case 'boolean':
      room(1)
      chunk[pos++] = value ? 0xc3 : 0xc2
      return
    case 'bigint':
      if (value > MAX_SAFE || value < -MAX_SAFE) throw new NotPlain(`is ${value}, beyond 2^53 - 1`)
      writeNumber(Number(value))
      return
    case 'object':
      if (value === null) {
        room(1)
        chunk[pos++] = 0xc0
        return
      }
      if (depth === MAX_NESTING) throw new NotPlain(`nests deeper than ${MAX_NESTING} levels (a cycle?)`)
      if (Array.isArray(value)) writeArray(value, depth + 1)
      else if (value instanceof Uint8Array && (value.constructor === Uint8Array || Buffer.isBuffer(value))) writeBin(value)
      else writeMap(value, depth + 1)
      return
    default:
      throw new NotPlain(`is ${typeof value}, which plain MessagePack cannot carry`)
  }
}

function writeNumber(v: number): void {
  room(9)
  if (v >>> 0 === v) {
    // 0 .. 2^32 - 1 (and -0, written as 0)
    if (v < 0x80) {
      chunk[pos++] = v
    } else if (v < 0x100) {
      chunk[pos++] = 0xcc
      chunk[pos++] = v
    } else if (v < 0x10000) {
      chunk[pos++] = 0xcd
      chunk[pos++] = v >>> 8
      chunk[pos++] = v & 0xff
    } else {
      chunk[pos++] = 0xce
      view.setUint32(pos, v)
      pos += 4
    }
  } else if (v >> 0 === v) {
    // -2^31 .. -1
    if (v >= -0x20) {
      chunk[pos++] = v & 0xff
    } else if (v >= -0x80) {
      chunk[pos++] = 0xd0
      chunk[pos++] = v & 0xff
    } else if (v >= -0x8000) {
      chunk[pos++] = 0xd1
      view.setInt16(pos, v)
      pos += 2
    } else {
      chunk[pos++] = 0xd2
      view.setInt32(pos, v)
      pos += 4
    }
  } else if (Number.isSafeInteger(v)) {
    // int64, as two words: the high one floored, so the low one is never negative
    const hi = Math.floor(v / TWO_32)
    chunk[pos++] = 0xd3
    view.setInt32(pos, hi)
    view.setUint32(pos + 4, v - hi * TWO_32)
    pos += 8
  } else {
    // fractions, integers beyond 2^53 - 1 (already inexact), NaN and the infinities
    chunk[pos++] = 0xcb
    view.setFloat64(pos, v)
    pos += 8
  }
}

function writeString(s: string): void {
  if (!(s as unknown as WellFormed).isWellFormed()) throw new NotPlain('is not well-formed UTF-16 (a lone surrogate)')
  const units = s.length
  // room for the header the longest encoding would need; moved back if the bytes came out shorter
  const most = units * 3
  const header = most < 32 ? 1 : most < 0x100 ? 2 : most < 0x10000 ? 3 : 5
  room(header + most)
  const at = pos + header
  let n: number
  if (units < 64) {
    n = 0
    for (let i = 0; i < units; i++) {
      let c = s.charCodeAt(i)
      if (c < 0x80) {
        chunk[at + n++] = c
      } else if (c < 0x800) {
        chunk[at + n++] = 0xc0 | (c >> 6)
        chunk[at + n++] = 0x80 | (c & 0x3f)
      } else if (c >= 0xd800 && c <= 0xdbff) {
        // a surrogate pair (well-formed, checked above)
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00)
        chunk[at + n++] = 0xf0 | (c >> 18)
        chunk[at + n++] = 0x80 | ((c >> 12) & 0x3f)
        chunk[at + n++] = 0x80 | ((c >> 6) & 0x3f)
        chunk[at + n++] = 0x80 | (c & 0x3f)
      } else {
        chunk[at + n++] = 0xe0 | (c >> 12)
        chunk[at + n++] = 0x80 | ((c >> 6) & 0x3f)
        chunk[at + n++] = 0x80 | (c & 0x3f)
      }
    }
  } else {
    n = chunk.write(s, at, 'utf8')
  }
  const fits = n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
  if (fits < header) chunk.copyWithin(pos + fits, at, at + n)
  if (fits === 1) {
    chunk[pos] = 0xa0 | n
  } else if (fits === 2) {
    chunk[pos] = 0xd9
    chunk[pos + 1] = n
  } else if (fits === 3) {
    chunk[pos] = 0xda
    view.setUint16(pos + 1, n)
  } else {
    chunk[pos] = 0xdb
    view.setUint32(pos + 1, n)
  }
  pos += fits + n
}

function writeBin(bytes: Uint8Array): void {
  const n = bytes.length
  room(5 + n)
  if (n < 0x100) {
    chunk[pos++] = 0xc4
    chunk[pos++] = n
  } else if (n < 0x10000) {
    chunk[pos++] = 0xc5
    view.setUint16(pos, n)
    pos += 2
  } else {
    chunk[pos++] = 0xc6
    view.setUint32(pos, n)
    pos += 4
  }
  chunk.set(bytes, pos)
  pos += n
}

function writeHeader(n: number, fix: number, b16: number): void {
  room(5)
  if (n < 16) {
    chunk[pos++] = fix | n
  } else if (n < 0x10000) {
    chunk[pos++] = b16
    view.setUint16(pos, n)
    pos += 2
  } else {
    chunk[pos++] = b16 + 1
    view.setUint32(pos, n)
    pos += 4
  }
}

function writeArray(array: unknown[], depth: number): void {
  const n = array.length
  writeHeader(n, 0x90, 0xdc)
  for (let i = 0; i < n; i++) {
    const item = array[i]
    try {
      if (item === undefined) throw new NotPlain('is undefined')
      write(item, depth)
    } catch (err) {
      if (err instanceof NotPlain) err.path.push(`[${i}]`)
      throw err
    }
  }
}

function writeMap(map: object, depth: number): void {
  const proto: unknown = Object.getPrototypeOf(map)
  if (proto !== Object.prototype && proto !== null) {
    throw new NotPlain(`is a ${map.constructor?.name ?? 'class instance'}, not a plain object`)
  }
  const source = map as Record<string, unknown>
  const keys = Object.keys(source)
  let n = 0
  for (let i = 0; i < keys.length; i++) if (source[keys[i]!] !== undefined) n++
  writeHeader(n, 0x80, 0xde)
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const item = source[key]
    if (item === undefined) continue
    try {
      writeString(key)
      write(item, depth)
    } catch (err) {
      if (err instanceof NotPlain) err.path.push(`.${key}`)
      throw err
    }
  }
}

// ---------------------------------------------------------------------------------------------
// decode: one pass over the bytes, no allocation, before msgpackr builds anything

function badFrame(message: string): ProtocolError {
  return new ProtocolError(ProtocolErrors.BAD_FRAME, message)
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
