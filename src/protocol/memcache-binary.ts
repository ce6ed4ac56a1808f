/**
 * memcached binary protocol (the classic one: 24-byte headers): opcodes, status codes, an
 * incremental frame parser and the response header encoder. Thread: main (pure, L1: bytes in,
 * a reused BinaryRequest out; no I/O, no clock). Owns: the count of body bytes left to swallow.
 * Invariants: parse() never throws on client input and decides a frame's fate from its header
 * alone (so the answer does not depend on how the bytes were split); nothing is buffered
 * before its size is checked against the limits: an oversized key or value, or an unknown
 * opcode, is answered and its body swallowed (framing kept); a wrong magic, a key + extras
 * longer than the body, or extras/key/body sizes the opcode cannot have lose framing (FATAL:
 * answer, then close, as memcached's proto_bin does).
 *
 * Header layout (all big-endian):
 * ```
 *  offset  request              response
 *   0      magic 0x80           magic 0x81
 *   1      opcode               opcode (echoed)
 *   2..3   key length           key length
 *   4      extras length        extras length
 *   5      data type (0)        data type (0)
 *   6..7   vbucket (ignored)    status
 *   8..11  total body length    total body length
 *  12..15  opaque               opaque (echoed)
 *  16..23  cas                  cas
 * ```
 * The body is extras, then key, then value.
 */
import type { MemcacheOutput } from './memcache-output.js'

export const BINARY_HEADER_BYTES = 24
export const REQUEST_MAGIC = 0x80
export const RESPONSE_MAGIC = 0x81
/** Largest SASL payload accepted (PLAIN: authzid, user and password). */
export const SASL_MAX_BYTES = 4096

export const Opcode = {
  GET: 0x00, SET: 0x01, ADD: 0x02, REPLACE: 0x03, DELETE: 0x04, INCREMENT: 0x05, DECREMENT: 0x06,
  QUIT: 0x07, FLUSH: 0x08, GETQ: 0x09, NOOP: 0x0a, VERSION: 0x0b, GETK: 0x0c, GETKQ: 0x0d,
  APPEND: 0x0e, PREPEND: 0x0f, STAT: 0x10, SETQ: 0x11, ADDQ: 0x12, REPLACEQ: 0x13, DELETEQ: 0x14,
  INCREMENTQ: 0x15, DECREMENTQ: 0x16, QUITQ: 0x17, FLUSHQ: 0x18, APPENDQ: 0x19, PREPENDQ: 0x1a,
  VERBOSITY: 0x1b, TOUCH: 0x1c, GAT: 0x1d, GATQ: 0x1e, SASL_LIST_MECHS: 0x20, SASL_AUTH: 0x21,
  SASL_STEP: 0x22, GATK: 0x23, GATKQ: 0x24,
  /**
   * slabcache extensions, in a range memcached's protocol_binary.h leaves unassigned (README,
   * memcached section). TAG_INVALIDATE: key = the tag, no extras/value; answers the keys removed
   * as an 8-byte big-endian value. TAG_SET: SET's extras (flags, expiration) and key; the value is
   * a u16 big-endian tag-block length, the tags joined by ',', then the data.
   */
  TAG_INVALIDATE: 0x60, TAG_SET: 0x61
} as const

export const BinaryStatus = {
  SUCCESS: 0x0000,
  KEY_NOT_FOUND: 0x0001,
  KEY_EXISTS: 0x0002,
  VALUE_TOO_LARGE: 0x0003,
  INVALID_ARGUMENTS: 0x0004,
  ITEM_NOT_STORED: 0x0005,
  NON_NUMERIC: 0x0006,
  AUTH_ERROR: 0x0020,
  UNKNOWN_COMMAND: 0x0081,
  OUT_OF_MEMORY: 0x0082,
  INTERNAL_ERROR: 0x0084,
  BUSY: 0x0085,
  TEMPORARY_FAILURE: 0x0086
} as const
export type BinaryStatus = typeof BinaryStatus[keyof typeof BinaryStatus]

/** Error bodies, as memcached writes them. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  [BinaryStatus.KEY_NOT_FOUND]: 'Not found',
  [BinaryStatus.KEY_EXISTS]: 'Data exists for key.',
  [BinaryStatus.VALUE_TOO_LARGE]: 'Too large.',
  [BinaryStatus.INVALID_ARGUMENTS]: 'Invalid arguments',
  [BinaryStatus.ITEM_NOT_STORED]: 'Not stored.',
  [BinaryStatus.NON_NUMERIC]: 'Non-numeric server-side value for incr or decr',
  [BinaryStatus.AUTH_ERROR]: 'Auth failure.',
  [BinaryStatus.UNKNOWN_COMMAND]: 'Unknown command',
  [BinaryStatus.OUT_OF_MEMORY]: 'Out of memory',
  [BinaryStatus.INTERNAL_ERROR]: 'Internal error',
  [BinaryStatus.BUSY]: 'Busy',
  [BinaryStatus.TEMPORARY_FAILURE]: 'Temporary failure'
}

/** What parse() found. */
export const BinaryParse = {
  /** No complete frame yet (bytes may have been consumed: a swallowed body). */
  NEED_MORE: 0,
  /** A request, in the BinaryRequest passed in. */
  REQUEST: 1,
  /** A rejected frame, framing kept: answer `request.status` (always sent, even for quiet opcodes). */
  ERROR: 2,
  /** Framing lost: answer `request.status`, then close. */
  FATAL: 3
} as const
export type BinaryParse = typeof BinaryParse[keyof typeof BinaryParse]

/** The body shapes memcached accepts, per opcode (proto_bin.c dispatch_bin_command). */
const Shape = {
  UNKNOWN: 0,
  /** extras 0, key > 0, no value. */
  KEY: 1,
  /** extras 8 (flags, expiration), key > 0, value. */
  STORE: 2,
  /** extras 0, key > 0, value. */
  CONCAT: 3,
  /** extras 20 (delta, initial, expiration), key > 0, no value. */
  ARITHMETIC: 4,
  /** nothing at all. */
  EMPTY: 5,
  /** extras 0 or 4 (expiration), no key, no value. */
  FLUSH: 6,
  /** extras 0, optional key (the stats group), no value. */
  STAT: 7,
  /** extras 4 (level), nothing else. */
  VERBOSITY: 8,
  /** extras 4 (expiration), key > 0, no value. */
  TOUCH: 9,
  /** extras 0, key > 0 (mechanism), value ≤ SASL_MAX_BYTES. */
  SASL: 10
} as const

interface OpcodeInfo { readonly command: number, readonly quiet: boolean, readonly shape: number }
const OPCODES: Array<OpcodeInfo | undefined> = []
function define (opcode: number, command: number, quiet: boolean, shape: number): void {
  OPCODES[opcode] = { command, quiet, shape }
}
define(Opcode.GET, Opcode.GET, false, Shape.KEY)
define(Opcode.GETQ, Opcode.GET, true, Shape.KEY)
define(Opcode.GETK, Opcode.GETK, false, Shape.KEY)
define(Opcode.GETKQ, Opcode.GETK, true, Shape.KEY)
define(Opcode.SET, Opcode.SET, false, Shape.STORE)
define(Opcode.SETQ, Opcode.SET, true, Shape.STORE)
define(Opcode.ADD, Opcode.ADD, false, Shape.STORE)
define(Opcode.ADDQ, Opcode.ADD, true, Shape.STORE)
define(Opcode.REPLACE, Opcode.REPLACE, false, Shape.STORE)
define(Opcode.REPLACEQ, Opcode.REPLACE, true, Shape.STORE)
define(Opcode.APPEND, Opcode.APPEND, false, Shape.CONCAT)
define(Opcode.APPENDQ, Opcode.APPEND, true, Shape.CONCAT)
define(Opcode.PREPEND, Opcode.PREPEND, false, Shape.CONCAT)
define(Opcode.PREPENDQ, Opcode.PREPEND, true, Shape.CONCAT)
define(Opcode.DELETE, Opcode.DELETE, false, Shape.KEY)
define(Opcode.DELETEQ, Opcode.DELETE, true, Shape.KEY)
define(Opcode.INCREMENT, Opcode.INCREMENT, false, Shape.ARITHMETIC)
define(Opcode.INCREMENTQ, Opcode.INCREMENT, true, Shape.ARITHMETIC)
define(Opcode.DECREMENT, Opcode.DECREMENT, false, Shape.ARITHMETIC)
define(Opcode.DECREMENTQ, Opcode.DECREMENT, true, Shape.ARITHMETIC)
define(Opcode.QUIT, Opcode.QUIT, false, Shape.EMPTY)
define(Opcode.QUITQ, Opcode.QUIT, true, Shape.EMPTY)
define(Opcode.FLUSH, Opcode.FLUSH, false, Shape.FLUSH)
define(Opcode.FLUSHQ, Opcode.FLUSH, true, Shape.FLUSH)
define(Opcode.NOOP, Opcode.NOOP, false, Shape.EMPTY)
define(Opcode.VERSION, Opcode.VERSION, false, Shape.EMPTY)
define(Opcode.STAT, Opcode.STAT, false, Shape.STAT)
define(Opcode.VERBOSITY, Opcode.VERBOSITY, false, Shape.VERBOSITY)
define(Opcode.TOUCH, Opcode.TOUCH, false, Shape.TOUCH)
define(Opcode.GAT, Opcode.GAT, false, Shape.TOUCH)
define(Opcode.GATQ, Opcode.GAT, true, Shape.TOUCH)
define(Opcode.GATK, Opcode.GATK, false, Shape.TOUCH)
define(Opcode.GATKQ, Opcode.GATK, true, Shape.TOUCH)
define(Opcode.SASL_LIST_MECHS, Opcode.SASL_LIST_MECHS, false, Shape.EMPTY)
define(Opcode.SASL_AUTH, Opcode.SASL_AUTH, false, Shape.SASL)
define(Opcode.SASL_STEP, Opcode.SASL_STEP, false, Shape.SASL)
define(Opcode.TAG_INVALIDATE, Opcode.TAG_INVALIDATE, false, Shape.KEY)
define(Opcode.TAG_SET, Opcode.TAG_SET, false, Shape.STORE)

const EMPTY = Buffer.alloc(0)

/** One parsed frame; a single instance is reused, so read it before the next parse(). */
export class BinaryRequest {
  /** The opcode as sent (echoed in the response). */
  opcode = 0
  /** The opcode without its quiet flag (GETQ → GET, SETQ → SET, GATKQ → GATK…). */
  command = 0
  quiet = false
  opaque = 0
  /** The header's cas; -1 when above 2^53 (no item can have it, so it never matches). */
  cas = 0
  /** Views into the input, valid until the caller drops the consumed bytes. */
  key: Buffer = EMPTY
  value: Buffer = EMPTY
  /** SET/ADD/REPLACE: client flags. */
  flags = 0
  /** SET/ADD/REPLACE, INCR/DECR, TOUCH/GAT*, FLUSH: the expiration extra (u32 seconds). */
  expiration = 0
  /** INCR/DECR extras. */
  delta = 0n
  initial = 0n
  /** ERROR and FATAL: the status to answer with. */
  status: BinaryStatus = BinaryStatus.SUCCESS
}

export interface BinaryLimits {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
}

/**
 * Incremental frame parser for one connection. Call parse() with the unconsumed input; drop
 * `consumed` bytes whatever it returns; call again while it returns anything but NEED_MORE.
 * Allocates only the key and value views (and the BigInts of INCR/DECR extras).
 */
export class MemcacheBinaryParser {
  consumed = 0
  /** Once a header is read: the bytes its frame needs in all (a hint to size buffers). */
  needBytes = 0
  readonly #limits: BinaryLimits
  /** Body bytes of a rejected frame still to discard. */
  #swallow = 0

  constructor (limits: BinaryLimits) {
    this.#limits = limits
  }

  /** Whether the parser is discarding a rejected frame's body. */
  get swallowing (): boolean { return this.#swallow > 0 }

  /** Parses one frame from buf[start, end); see BinaryParse for the answers. */
  parse (buf: Buffer, start: number, end: number, request: BinaryRequest): BinaryParse {
    this.consumed = 0
    this.needBytes = 0
    if (this.#swallow > 0) {
      const skipped = Math.min(this.#swallow, end - start)
      this.#swallow -= skipped
      this.consumed = skipped
      if (this.#swallow > 0) return BinaryParse.NEED_MORE
      start += skipped
    }
    if (end - start < BINARY_HEADER_BYTES) return BinaryParse.NEED_MORE
    // Header fields read byte by byte: Buffer#readUInt32BE's argument checks cost more than
    // the reads, and the 24 bytes are known to be there.
    const opcode = buf[start + 1]!
    const keyLength = (buf[start + 2]! << 8) | buf[start + 3]!
    const extrasLength = buf[start + 4]!
    const bodyLength = uint32At(buf, start + 8)
    request.opcode = opcode
    request.opaque = uint32At(buf, start + 12)
    const info = OPCODES[opcode]
    request.command = info?.command ?? opcode
    request.quiet = info?.quiet ?? false
    if (buf[start] !== REQUEST_MAGIC) return this.#fatal(request, BinaryStatus.INVALID_ARGUMENTS)
    if (keyLength + extrasLength > bodyLength) return this.#fatal(request, BinaryStatus.UNKNOWN_COMMAND)
    if (info === undefined) return this.#reject(request, bodyLength, BinaryStatus.UNKNOWN_COMMAND)
    const valueLength = bodyLength - keyLength - extrasLength
    if (!shapeAllows(info.shape, keyLength, extrasLength, valueLength)) return this.#fatal(request, BinaryStatus.INVALID_ARGUMENTS)
    if (keyLength > this.#limits.maxKeyBytes) return this.#reject(request, bodyLength, BinaryStatus.INVALID_ARGUMENTS)
    if (valueLength > this.#limits.maxValueBytes) return this.#reject(request, bodyLength, BinaryStatus.VALUE_TOO_LARGE)
    const total = BINARY_HEADER_BYTES + bodyLength
    if (end - start < total) {
      this.needBytes = total
      return BinaryParse.NEED_MORE
    }
    const high = uint32At(buf, start + 16)
    const low = uint32At(buf, start + 20)
    request.cas = high <= 0x1fffff ? high * 0x100000000 + low : -1
    const extras = start + BINARY_HEADER_BYTES
    const keyStart = extras + extrasLength
    request.key = keyLength === 0 ? EMPTY : buf.subarray(keyStart, keyStart + keyLength)
    // GETs (most traffic) have no value: no view to create.
    request.value = valueLength === 0 ? EMPTY : buf.subarray(keyStart + keyLength, start + total)
    switch (info.shape) {
      case Shape.STORE:
        request.flags = uint32At(buf, extras)
        request.expiration = uint32At(buf, extras + 4)
        break
      case Shape.ARITHMETIC:
        request.delta = buf.readBigUInt64BE(extras)
        request.initial = buf.readBigUInt64BE(extras + 8)
        request.expiration = buf.readUInt32BE(extras + 16)
        break
      case Shape.TOUCH:
        request.expiration = uint32At(buf, extras)
        break
      case Shape.FLUSH:
        request.expiration = extrasLength === 4 ? uint32At(buf, extras) : 0
        break
      default:
        request.flags = 0
        request.expiration = 0
    }
    this.consumed += total
    return BinaryParse.REQUEST
  }

  /** Answers `status` and discards the frame's body; the next frame parses normally. */
  #reject (request: BinaryRequest, bodyLength: number, status: BinaryStatus): BinaryParse {
    request.status = status
    this.consumed += BINARY_HEADER_BYTES
    this.#swallow = bodyLength
    return BinaryParse.ERROR
  }

  #fatal (request: BinaryRequest, status: BinaryStatus): BinaryParse {
    request.status = status
    return BinaryParse.FATAL
  }
}

/** The big-endian u32 at buf[at, at + 4) (the caller checked the bounds). */
function uint32At (buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0
}

function shapeAllows (shape: number, keyLength: number, extrasLength: number, valueLength: number): boolean {
  switch (shape) {
    case Shape.KEY: return extrasLength === 0 && keyLength > 0 && valueLength === 0
    case Shape.STORE: return extrasLength === 8 && keyLength > 0
    case Shape.CONCAT: return extrasLength === 0 && keyLength > 0
    case Shape.ARITHMETIC: return extrasLength === 20 && keyLength > 0 && valueLength === 0
    case Shape.EMPTY: return extrasLength === 0 && keyLength === 0 && valueLength === 0
    case Shape.FLUSH: return (extrasLength === 0 || extrasLength === 4) && keyLength === 0 && valueLength === 0
    case Shape.STAT: return extrasLength === 0 && valueLength === 0
    case Shape.VERBOSITY: return extrasLength === 4 && keyLength === 0 && valueLength === 0
    case Shape.TOUCH: return extrasLength === 4 && keyLength > 0 && valueLength === 0
    case Shape.SASL: return extrasLength === 0 && keyLength > 0 && valueLength <= SASL_MAX_BYTES
    default: return false
  }
}

/**
 * Writes a response header. `bodyBytes` is extras + key + value; the caller writes them after.
 * `cas` is a number < 2^53.
 */
export function writeResponseHeader (out: MemcacheOutput, opcode: number, status: number, keyLength: number,
  extrasLength: number, bodyBytes: number, opaque: number, cas: number): void {
  // One reservation and plain byte stores: the per-field write helpers cost more than the bytes.
  const at = out.claim(BINARY_HEADER_BYTES)
  const buf = out.buffer
  buf[at] = RESPONSE_MAGIC
  buf[at + 1] = opcode
  buf[at + 2] = keyLength >>> 8
  buf[at + 3] = keyLength
  buf[at + 4] = extrasLength
  buf[at + 5] = 0
  buf[at + 6] = status >>> 8
  buf[at + 7] = status
  putUint32(buf, at + 8, bodyBytes)
  putUint32(buf, at + 12, opaque)
  putUint32(buf, at + 16, Math.floor(cas / 0x100000000))
  putUint32(buf, at + 20, cas)
}

function putUint32 (buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24
  buf[at + 1] = value >>> 16
  buf[at + 2] = value >>> 8
  buf[at + 3] = value
}

/** Writes an error response: no extras, no key, memcached's text for `status` as the body. */
export function writeErrorResponse (out: MemcacheOutput, opcode: number, status: number, opaque: number, message?: string): void {
  const text = message ?? STATUS_TEXT[status] ?? ''
  writeResponseHeader(out, opcode, status, 0, 0, text.length, opaque, 0)
  out.writeAscii(text)
}
