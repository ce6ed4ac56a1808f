/**
 * The peer codec of forwarded Commands and their Results: compact little-endian binary, the
 * version byte first. Thread: main (pure functions; no I/O, no timers).
 * Owns: the byte layout of a forwarded `Command` (`encodeCommand` / `decodeCommand`) and of its
 * `Result` (`encodeResult` / `decodeResult`), as the peer link carries them inside its frames.
 * Invariants:
 * - decoding never trusts a length: every read is bounds-checked, unknown versions, ops, modes,
 *   statuses and error codes are refused, and a payload must be consumed exactly; anything
 *   else throws SlabcacheError PEER_PROTOCOL (never RangeError).
 * - a decoded Command's key, value, tags and content type are views of the payload (no copy):
 *   the caller keeps the payload alive while the command runs; a decoded Result owns its bytes
 *   (one copy of the payload), so it stays valid after the link reuses its buffer.
 * - `sink` never travels: the owner returns the value bytes and the forwarding node writes them.
 *
 * Command layout (after `u8 version`, `u8 op`), by op; `key`/`bytes` = u32 length + bytes,
 * `i32 tenant`, numbers that may exceed 32 bits or be fractional are f64:
 *   get            tenant key u8 withTags (0 absent, 1 false, 2 true)
 *   set            tenant key bytes value u8 mode f64 ttlMs u32 flags u8 keepTtl f64 casExpected
 *                  u8 hasTags [u32 count, count × bytes] u8 hasContentType [bytes]
 *   delete/exists/ttl  tenant key
 *   touch          tenant key f64 ttlMs
 *   incr           tenant key u8 sign u64 |delta| u8 mode
 *   scan           tenant f64 cursor u32 count
 *   flush          tenant (-1: every tenant)
 *   stats          (nothing)
 *   debugClock     f64 advanceMs
 *   invalidateTag  tenant bytes tag
 *   rateLimit      tenant key f64 burst f64 count f64 periodMs f64 cost
 *
 * Result layout: u8 version, u8 status, u16 fields (a bit per non-default field), then the
 * present fields in bit order:
 *   0 error: u8 catalog status (0 = none) + bytes utf8 message    1 valueLength f64
 *   2 value: valueLength raw bytes (present when value is not null)     3 flags u32     4 cas f64     5 ttlMs f64     6 counter: u8 sign u64
 *   7 keys: u32 count, count × bytes     8 cursor f64     9 count f64     10 stats: bytes JSON
 *   11 contentType: bytes     12 tags: u32 count, count × bytes
 *   13 rate limit: u8 allowed f64 limit f64 remaining f64 retryAfterMs f64 resetAfterMs
 */
import { Result, type Command } from '../command/command.js'
import { CounterMode, SetMode, StoreStatus } from '../core/store-status.js'
import { ERROR_CATALOG, SlabcacheError, type ErrorCode } from '../errors.js'

/** The codec version: the first byte of every payload. A peer refuses any other. */
export const COMMAND_CODEC_VERSION = 1

const OP_CODES = {
  get: 1,
  set: 2,
  delete: 3,
  exists: 4,
  touch: 5,
  ttl: 6,
  incr: 7,
  scan: 8,
  flush: 9,
  stats: 10,
  debugClock: 11,
  invalidateTag: 12,
  rateLimit: 13
} as const satisfies Record<Command['op'], number>

const OP_BY_CODE: Array<Command['op'] | undefined> = []
for (const op of Object.keys(OP_CODES) as Array<Command['op']>) OP_BY_CODE[OP_CODES[op]] = op

const CODE_BY_STATUS: Array<ErrorCode | undefined> = []
for (const code of Object.keys(ERROR_CATALOG) as ErrorCode[]) CODE_BY_STATUS[ERROR_CATALOG[code].status] = code

const MAX_SET_MODE = Math.max(...Object.values(SetMode))
const MAX_COUNTER_MODE = Math.max(...Object.values(CounterMode))
const MAX_STORE_STATUS = Math.max(...Object.values(StoreStatus))
const U64_LIMIT = 1n << 64n

const F_ERROR = 1 << 0
const F_VALUE_LENGTH = 1 << 1
const F_VALUE = 1 << 2
const F_FLAGS = 1 << 3
const F_CAS = 1 << 4
const F_TTL = 1 << 5
const F_COUNTER = 1 << 6
const F_KEYS = 1 << 7
const F_CURSOR = 1 << 8
const F_COUNT = 1 << 9
const F_STATS = 1 << 10
const F_CONTENT_TYPE = 1 << 11
const F_TAGS = 1 << 12
const F_RATE_LIMIT = 1 << 13
const F_KNOWN = (1 << 14) - 1

/**
 * Encodes a Command for a peer. Allocates the payload (one growing buffer). Throws
 * SlabcacheError PEER_PROTOCOL for a command that cannot be represented (a delta or counter
 * outside ±(2^64 − 1), a tenant outside int32): the front ends validate those before.
 */
export function encodeCommand (command: Command): Buffer {
  const out = new Writer(estimateCommandBytes(command))
  out.u8(COMMAND_CODEC_VERSION)
  out.u8(OP_CODES[command.op])
  switch (command.op) {
    case 'get':
      out.tenant(command.tenantId)
      out.bytes(command.key)
      out.u8(command.withTags === undefined ? 0 : command.withTags ? 2 : 1)
      break
    case 'set':
      out.tenant(command.tenantId)
      out.bytes(command.key)
      out.bytes(command.value)
      out.u8(command.mode)
      out.f64(command.ttlMs)
      out.u32(command.flags)
      out.u8(command.keepTtl ? 1 : 0)
      out.f64(command.casExpected)
      if (command.tags === undefined) {
        out.u8(0)
      } else {
        out.u8(1)
        out.u32(command.tags.length)
        for (const tag of command.tags) out.bytes(tag)
      }
      if (command.contentType === undefined) {
        out.u8(0)
      } else {
        out.u8(1)
        out.bytes(command.contentType)
      }
      break
    case 'delete':
    case 'exists':
    case 'ttl':
      out.tenant(command.tenantId)
      out.bytes(command.key)
      break
    case 'touch':
      out.tenant(command.tenantId)
      out.bytes(command.key)
      out.f64(command.ttlMs)
      break
    case 'incr':
      out.tenant(command.tenantId)
      out.bytes(command.key)
      out.signedU64(command.delta, 'delta')
      out.u8(command.mode)
      break
    case 'scan':
      out.tenant(command.tenantId)
      out.f64(command.cursor)
      out.u32(command.count)
      break
    case 'flush':
      out.tenant(command.tenantId)
      break
    case 'stats':
      break
    case 'debugClock':
      out.f64(command.advanceMs)
      break
    case 'invalidateTag':
      out.tenant(command.tenantId)
      out.bytes(command.tag)
      break
    case 'rateLimit':
      out.tenant(command.tenantId)
      out.bytes(command.key)
      out.f64(command.burst)
      out.f64(command.count)
      out.f64(command.periodMs)
      out.f64(command.cost)
      break
  }
  return out.done()
}

/**
 * Decodes a Command encoded by `encodeCommand`. Its key, value, tags, tag and content type
 * are views of `payload` (no copy). Allocates the command object (and a tags array). Throws
 * SlabcacheError PEER_PROTOCOL on a wrong version, an unknown op or mode, a truncated payload
 * or trailing bytes.
 */
export function decodeCommand (payload: Buffer): Command {
  const input = new Reader(payload)
  input.version()
  const op = OP_BY_CODE[input.u8()]
  if (op === undefined) throw protocolError(`unknown command op ${payload[1]!}`)
  let command: Command
  switch (op) {
    case 'get': {
      const tenantId = input.i32()
      const key = input.bytes()
      const withTags = input.u8()
      if (withTags > 2) throw protocolError(`bad withTags byte ${withTags}`)
      command = withTags === 0 ? { op, tenantId, key } : { op, tenantId, key, withTags: withTags === 2 }
      break
    }
    case 'set': {
      const tenantId = input.i32()
      const key = input.bytes()
      const value = input.bytes()
      const mode = input.u8()
      if (mode > MAX_SET_MODE) throw protocolError(`unknown set mode ${mode}`)
      const ttlMs = input.f64()
      const flags = input.u32()
      const keepTtl = input.bool()
      const casExpected = input.f64()
      const set: Command & { op: 'set' } = { op, tenantId, key, value, mode: mode as SetMode, ttlMs, flags, keepTtl, casExpected }
      if (input.bool()) set.tags = input.list()
      if (input.bool()) set.contentType = input.bytes()
      command = set
      break
    }
    case 'delete':
    case 'exists':
    case 'ttl':
      command = { op, tenantId: input.i32(), key: input.bytes() }
      break
    case 'touch':
      command = { op, tenantId: input.i32(), key: input.bytes(), ttlMs: input.f64() }
      break
    case 'incr': {
      const tenantId = input.i32()
      const key = input.bytes()
      const delta = input.signedU64()
      const mode = input.u8()
      if (mode > MAX_COUNTER_MODE) throw protocolError(`unknown counter mode ${mode}`)
      command = { op, tenantId, key, delta, mode: mode as CounterMode }
      break
    }
    case 'scan':
      command = { op, tenantId: input.i32(), cursor: input.f64(), count: input.u32() }
      break
    case 'flush':
      command = { op, tenantId: input.i32() }
      break
    case 'stats':
      command = { op }
      break
    case 'debugClock':
      command = { op, advanceMs: input.f64() }
      break
    case 'invalidateTag':
      command = { op, tenantId: input.i32(), tag: input.bytes() }
      break
    case 'rateLimit':
      command = { op, tenantId: input.i32(), key: input.bytes(), burst: input.f64(), count: input.f64(), periodMs: input.f64(), cost: input.f64() }
      break
  }
  input.end()
  return command
}

/**
 * Encodes a Result for the peer that forwarded its command: only its non-default fields, the
 * value as value[0, valueLength). Read it before the engine's next execute (the engine reuses
 * its Result). Allocates the payload. Throws SlabcacheError PEER_PROTOCOL for a counter outside
 * ±(2^64 − 1) (the store never produces one).
 */
export function encodeResult (result: Result): Buffer {
  const value = result.value
  const valueLength = result.valueLength
  const statsJson = result.stats === null || result.stats === undefined ? null : JSON.stringify(result.stats)
  let fields = 0
  if (result.error !== null || result.errorMessage !== '') fields |= F_ERROR
  if (value !== null) fields |= F_VALUE
  if (valueLength !== 0) fields |= F_VALUE_LENGTH
  if (result.flags !== 0) fields |= F_FLAGS
  if (result.cas !== 0) fields |= F_CAS
  if (result.ttlMs !== 0) fields |= F_TTL
  if (result.counter !== 0n) fields |= F_COUNTER
  if (result.keys.length !== 0) fields |= F_KEYS
  if (result.cursor !== 0) fields |= F_CURSOR
  if (result.count !== 0) fields |= F_COUNT
  if (statsJson !== null) fields |= F_STATS
  if (result.contentType !== null) fields |= F_CONTENT_TYPE
  if (result.tags.length !== 0) fields |= F_TAGS
  if (result.allowed || result.limit !== 0 || result.remaining !== 0 || result.retryAfterMs !== -1 || result.resetAfterMs !== 0) fields |= F_RATE_LIMIT

  const out = new Writer(64 + (value !== null ? valueLength : 0) + (statsJson !== null ? statsJson.length * 3 : 0))
  out.u8(COMMAND_CODEC_VERSION)
  out.u8(result.status)
  out.u16(fields)
  if ((fields & F_ERROR) !== 0) {
    out.u8(result.error === null ? 0 : ERROR_CATALOG[result.error].status)
    out.text(result.errorMessage)
  }
  if ((fields & F_VALUE_LENGTH) !== 0) out.f64(valueLength)
  // valueLength bytes, not value.length: the engine's value buffer is scratch, often longer.
  if ((fields & F_VALUE) !== 0) out.raw(value!, valueLength)
  if ((fields & F_FLAGS) !== 0) out.u32(result.flags)
  if ((fields & F_CAS) !== 0) out.f64(result.cas)
  if ((fields & F_TTL) !== 0) out.f64(result.ttlMs)
  if ((fields & F_COUNTER) !== 0) out.signedU64(result.counter, 'counter')
  if ((fields & F_KEYS) !== 0) out.list(result.keys)
  if ((fields & F_CURSOR) !== 0) out.f64(result.cursor)
  if ((fields & F_COUNT) !== 0) out.f64(result.count)
  if ((fields & F_STATS) !== 0) out.text(statsJson!)
  if ((fields & F_CONTENT_TYPE) !== 0) out.bytes(result.contentType!)
  if ((fields & F_TAGS) !== 0) out.list(result.tags)
  if ((fields & F_RATE_LIMIT) !== 0) {
    out.u8(result.allowed ? 1 : 0)
    out.f64(result.limit)
    out.f64(result.remaining)
    out.f64(result.retryAfterMs)
    out.f64(result.resetAfterMs)
  }
  return out.done()
}

/**
 * Decodes a Result encoded by `encodeResult` into a fresh Result that owns its bytes: the
 * payload is copied once and value, keys, content type and tags are views of that copy
 * (value.length === valueLength). Throws SlabcacheError PEER_PROTOCOL on a wrong version, an
 * unknown status, field bit or error code, bad stats JSON, a truncated payload or trailing
 * bytes.
 */
export function decodeResult (payload: Buffer): Result {
  const owned = Buffer.allocUnsafe(payload.length)
  payload.copy(owned)
  const input = new Reader(owned)
  input.version()
  const result = new Result()
  const status = input.u8()
  if (status > MAX_STORE_STATUS) throw protocolError(`unknown store status ${status}`)
  result.status = status as StoreStatus
  const fields = input.u16()
  if ((fields & ~F_KNOWN) !== 0) throw protocolError(`unknown result fields 0x${fields.toString(16)}`)
  if ((fields & F_ERROR) !== 0) {
    const code = input.u8()
    if (code !== 0) {
      const name = CODE_BY_STATUS[code]
      if (name === undefined) throw protocolError(`unknown error status ${code}`)
      result.error = name
    }
    result.errorMessage = input.text()
  }
  if ((fields & F_VALUE_LENGTH) !== 0) {
    const valueLength = input.f64()
    if (!Number.isSafeInteger(valueLength) || valueLength < 0) throw protocolError(`bad value length ${valueLength}`)
    result.valueLength = valueLength
  }
  if ((fields & F_VALUE) !== 0) result.value = input.take(result.valueLength)
  if ((fields & F_FLAGS) !== 0) result.flags = input.u32()
  if ((fields & F_CAS) !== 0) result.cas = input.f64()
  if ((fields & F_TTL) !== 0) result.ttlMs = input.f64()
  if ((fields & F_COUNTER) !== 0) result.counter = input.signedU64()
  if ((fields & F_KEYS) !== 0) result.keys = input.list()
  if ((fields & F_CURSOR) !== 0) result.cursor = input.f64()
  if ((fields & F_COUNT) !== 0) result.count = input.f64()
  if ((fields & F_STATS) !== 0) {
    const json = input.text()
    try {
      result.stats = JSON.parse(json)
    } catch {
      throw protocolError('stats are not valid JSON')
    }
  }
  if ((fields & F_CONTENT_TYPE) !== 0) result.contentType = input.bytes()
  if ((fields & F_TAGS) !== 0) result.tags = input.list()
  if ((fields & F_RATE_LIMIT) !== 0) {
    result.allowed = input.bool()
    result.limit = input.f64()
    result.remaining = input.f64()
    result.retryAfterMs = input.f64()
    result.resetAfterMs = input.f64()
  }
  input.end()
  return result
}

function protocolError (detail: string): SlabcacheError {
  return new SlabcacheError('PEER_PROTOCOL', `${ERROR_CATALOG.PEER_PROTOCOL.message}: ${detail}`)
}

/** Bytes a command is likely to take, so the writer rarely grows. */
function estimateCommandBytes (command: Command): number {
  let bytes = 64
  if ('key' in command) bytes += command.key.length
  if (command.op === 'set') {
    bytes += command.value.length + (command.contentType?.length ?? 0)
    if (command.tags !== undefined) for (const tag of command.tags) bytes += 4 + tag.length
  } else if (command.op === 'invalidateTag') {
    bytes += command.tag.length
  }
  return bytes
}

/** Appends little-endian fields to a buffer that doubles when full. */
class Writer {
  #buffer: Buffer
  #length = 0

  constructor (initialBytes: number) {
    this.#buffer = Buffer.allocUnsafe(initialBytes)
  }

  /**
   * Makes room for `bytes` more and returns where they go. May replace #buffer: callers take
   * the offset first and read #buffer after (`#buffer.write(x, #reserve(n))` would write into
   * the old buffer).
   */
  #reserve (bytes: number): number {
    const at = this.#length
    const need = at + bytes
    if (need > this.#buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#buffer.length * 2))
      this.#buffer.copy(grown, 0, 0, at)
      this.#buffer = grown
    }
    this.#length = need
    return at
  }

  u8 (value: number): void {
    const at = this.#reserve(1)
    this.#buffer[at] = value
  }

  u16 (value: number): void {
    const at = this.#reserve(2)
    this.#buffer.writeUInt16LE(value, at)
  }

  u32 (value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw protocolError(`cannot encode ${value} as u32`)
    const at = this.#reserve(4)
    this.#buffer.writeUInt32LE(value, at)
  }

  tenant (value: number): void {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw protocolError(`cannot encode tenant ${value}`)
    const at = this.#reserve(4)
    this.#buffer.writeInt32LE(value, at)
  }

  f64 (value: number): void {
    const at = this.#reserve(8)
    this.#buffer.writeDoubleLE(value, at)
  }

  /** A sign byte and the magnitude: covers Redis's signed and memcached's unsigned 64 bits. */
  signedU64 (value: bigint, what: string): void {
    const magnitude = value < 0n ? -value : value
    if (magnitude >= U64_LIMIT) throw protocolError(`cannot encode ${what} ${value}: beyond 64 bits`)
    this.u8(value < 0n ? 1 : 0)
    const at = this.#reserve(8)
    this.#buffer.writeBigUInt64LE(magnitude, at)
  }

  raw (bytes: Uint8Array, length: number): void {
    const at = this.#reserve(length)
    this.#buffer.set(length === bytes.length ? bytes : bytes.subarray(0, length), at)
  }

  bytes (bytes: Uint8Array): void {
    this.u32(bytes.length)
    this.raw(bytes, bytes.length)
  }

  list (items: readonly Uint8Array[]): void {
    this.u32(items.length)
    for (const item of items) this.bytes(item)
  }

  text (text: string): void {
    const length = Buffer.byteLength(text)
    this.u32(length)
    const at = this.#reserve(length)
    this.#buffer.write(text, at, length, 'utf8')
  }

  done (): Buffer { return this.#buffer.subarray(0, this.#length) }
}

/** Bounds-checked little-endian reads: any overrun is PEER_PROTOCOL. */
class Reader {
  readonly #buffer: Buffer
  #offset = 0

  constructor (buffer: Buffer) {
    this.#buffer = buffer
  }

  #advance (bytes: number): number {
    const at = this.#offset
    if (bytes > this.#buffer.length - at || !(bytes >= 0)) throw protocolError(`truncated payload (${this.#buffer.length} bytes; needs ${at + bytes})`)
    this.#offset = at + bytes
    return at
  }

  version (): void {
    const version = this.u8()
    if (version !== COMMAND_CODEC_VERSION) throw protocolError(`codec version ${version}; this node reads ${COMMAND_CODEC_VERSION}`)
  }

  u8 (): number { return this.#buffer[this.#advance(1)]! }
  u16 (): number { return this.#buffer.readUInt16LE(this.#advance(2)) }
  u32 (): number { return this.#buffer.readUInt32LE(this.#advance(4)) }
  i32 (): number { return this.#buffer.readInt32LE(this.#advance(4)) }
  f64 (): number { return this.#buffer.readDoubleLE(this.#advance(8)) }

  bool (): boolean {
    const byte = this.u8()
    if (byte > 1) throw protocolError(`bad boolean byte ${byte}`)
    return byte === 1
  }

  signedU64 (): bigint {
    const sign = this.u8()
    if (sign > 1) throw protocolError(`bad sign byte ${sign}`)
    const magnitude = this.#buffer.readBigUInt64LE(this.#advance(8))
    return sign === 1 ? -magnitude : magnitude
  }

  take (length: number): Buffer {
    const at = this.#advance(length)
    return this.#buffer.subarray(at, at + length)
  }

  bytes (): Buffer { return this.take(this.u32()) }

  list (): Buffer[] {
    const count = this.u32()
    // Each entry takes at least its 4-byte length: a huge count cannot make us allocate.
    if (count > (this.#buffer.length - this.#offset) / 4) throw protocolError(`list of ${count} entries in ${this.#buffer.length - this.#offset} bytes`)
    const items = new Array<Buffer>(count)
    for (let i = 0; i < count; i++) items[i] = this.bytes()
    return items
  }

  text (): string { return this.bytes().toString('utf8') }

  end (): void {
    if (this.#offset !== this.#buffer.length) throw protocolError(`${this.#buffer.length - this.#offset} trailing bytes`)
  }
}
