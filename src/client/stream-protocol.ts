/**
 * The memcached binary frames the stream client writes and reads: opcodes, statuses, request
 * encoding and an incremental response reader. Thread: the client's (Node or a browser).
 * Owns: the reader's buffer of a response split across WebSocket messages.
 * Uint8Array, DataView and TextEncoder only — no Buffer — so the client runs in browsers. That is
 * also why these constants are not imported from src/protocol/memcache-binary.ts (it allocates a
 * Buffer at load); test/client/stream-protocol.ts checks that both tables agree.
 */

export const HEADER_BYTES = 24
export const REQUEST_MAGIC = 0x80
export const RESPONSE_MAGIC = 0x81

export const Opcode = {
  GET: 0x00, SET: 0x01, ADD: 0x02, REPLACE: 0x03, DELETE: 0x04, INCREMENT: 0x05, DECREMENT: 0x06,
  QUIT: 0x07, FLUSH: 0x08, GETQ: 0x09, NOOP: 0x0a, VERSION: 0x0b, GETK: 0x0c, GETKQ: 0x0d,
  APPEND: 0x0e, PREPEND: 0x0f, STAT: 0x10, SETQ: 0x11, ADDQ: 0x12, REPLACEQ: 0x13, DELETEQ: 0x14,
  INCREMENTQ: 0x15, DECREMENTQ: 0x16, QUITQ: 0x17, FLUSHQ: 0x18, APPENDQ: 0x19, PREPENDQ: 0x1a,
  VERBOSITY: 0x1b, TOUCH: 0x1c, GAT: 0x1d, GATQ: 0x1e, SASL_LIST_MECHS: 0x20, SASL_AUTH: 0x21,
  SASL_STEP: 0x22, GATK: 0x23, GATKQ: 0x24,
  /** slabcache extensions (see the server's memcache-binary.ts and the README). */
  TAG_INVALIDATE: 0x60, TAG_SET: 0x61
} as const

export const Status = {
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

/** `Status` name of a status number ('UNKNOWN' for one outside the table). */
export function statusName (status: number): string {
  for (const [name, value] of Object.entries(Status)) if (value === status) return name
  return 'UNKNOWN'
}

const encoder = new TextEncoder()

/** A key or value as bytes: strings are UTF-8. */
export function toBytes (data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? encoder.encode(data) : data
}

/** One request frame. `cas` is a number < 2^53 (0 = none). Allocates the frame. */
export function encodeRequest (opcode: number, opaque: number, extras: Uint8Array | null, key: Uint8Array | null, value: Uint8Array | null, cas = 0): Uint8Array {
  const extrasLength = extras?.length ?? 0
  const keyLength = key?.length ?? 0
  const valueLength = value?.length ?? 0
  const frame = new Uint8Array(HEADER_BYTES + extrasLength + keyLength + valueLength)
  const view = new DataView(frame.buffer)
  frame[0] = REQUEST_MAGIC
  frame[1] = opcode
  view.setUint16(2, keyLength)
  frame[4] = extrasLength
  view.setUint32(8, extrasLength + keyLength + valueLength)
  view.setUint32(12, opaque >>> 0)
  view.setUint32(16, Math.floor(cas / 0x100000000))
  view.setUint32(20, cas >>> 0)
  if (extras !== null) frame.set(extras, HEADER_BYTES)
  if (key !== null) frame.set(key, HEADER_BYTES + extrasLength)
  if (value !== null) frame.set(value, HEADER_BYTES + extrasLength + keyLength)
  return frame
}

/** Extras of SET/ADD/REPLACE: flags, expiration. */
export function storeExtras (flags: number, exptime: number): Uint8Array {
  const extras = new Uint8Array(8)
  const view = new DataView(extras.buffer)
  view.setUint32(0, flags >>> 0)
  view.setUint32(4, exptime >>> 0)
  return extras
}

/** Extras of INCREMENT/DECREMENT: delta, initial, expiration (0xffffffff: do not create). */
export function counterExtras (delta: bigint, initial: bigint, exptime: number): Uint8Array {
  const extras = new Uint8Array(20)
  const view = new DataView(extras.buffer)
  view.setBigUint64(0, delta)
  view.setBigUint64(8, initial)
  view.setUint32(16, exptime >>> 0)
  return extras
}

/**
 * The value of a TAG_SET (slabcache extension): u16 big-endian tag-block length, the tags
 * (UTF-8 for strings) joined by ',', then the data. Throws RangeError when a tag is empty or
 * holds ',' or the block exceeds 65535 bytes (the server would refuse them).
 */
export function taggedValue (tags: ReadonlyArray<string | Uint8Array>, data: Uint8Array): Uint8Array {
  const parts = tags.map(toBytes)
  if (parts.length === 0 || parts.some((tag) => tag.length === 0 || tag.includes(0x2c))) throw new RangeError('tags must be non-empty and must not contain \',\'')
  const blockBytes = parts.reduce((sum, tag) => sum + tag.length, 0) + parts.length - 1
  if (blockBytes > 0xffff) throw new RangeError(`tag block of ${blockBytes} bytes exceeds 65535`)
  const value = new Uint8Array(2 + blockBytes + data.length)
  new DataView(value.buffer).setUint16(0, blockBytes)
  let at = 2
  for (const [i, tag] of parts.entries()) {
    if (i > 0) value[at++] = 0x2c
    value.set(tag, at)
    at += tag.length
  }
  value.set(data, at)
  return value
}

/** A 4-byte big-endian extra (TOUCH/GAT expiration, FLUSH delay). */
export function u32Extras (value: number): Uint8Array {
  const extras = new Uint8Array(4)
  new DataView(extras.buffer).setUint32(0, value >>> 0)
  return extras
}

/** One response frame; the byte views stay valid (the reader never reuses a buffer it handed out). */
export interface Response {
  opcode: number
  status: number
  opaque: number
  cas: number
  extras: Uint8Array
  key: Uint8Array
  value: Uint8Array
}

/**
 * Splits received messages into response frames, whatever the message boundaries. Throws on a
 * byte that is not the response magic (the stream is then unusable).
 */
export class ResponseReader {
  #buffer: Uint8Array = new Uint8Array(0)
  #start = 0
  #end = 0

  /** Adds a received message and returns the complete frames it finished. */
  push (message: Uint8Array): Response[] {
    this.#append(message)
    const frames: Response[] = []
    for (;;) {
      const available = this.#end - this.#start
      if (available < HEADER_BYTES) break
      const buffer = this.#buffer
      const view = new DataView(buffer.buffer, buffer.byteOffset + this.#start, HEADER_BYTES)
      if (view.getUint8(0) !== RESPONSE_MAGIC) throw new Error(`stream out of sync: byte 0x${view.getUint8(0).toString(16)} where a response magic 0x81 was expected`)
      const bodyLength = view.getUint32(8)
      if (available < HEADER_BYTES + bodyLength) break
      const keyLength = view.getUint16(2)
      const extrasLength = view.getUint8(4)
      const body = this.#start + HEADER_BYTES
      frames.push({
        opcode: view.getUint8(1),
        status: view.getUint16(6),
        opaque: view.getUint32(12),
        cas: view.getUint32(16) * 0x100000000 + view.getUint32(20),
        extras: buffer.subarray(body, body + extrasLength),
        key: buffer.subarray(body + extrasLength, body + extrasLength + keyLength),
        value: buffer.subarray(body + extrasLength + keyLength, body + bodyLength)
      })
      this.#start = body + bodyLength
    }
    return frames
  }

  #append (message: Uint8Array): void {
    if (this.#start === this.#end) {
      // Nothing pending: parse the message in place (frames handed out keep views into it).
      this.#buffer = message
      this.#start = 0
      this.#end = message.length
      return
    }
    // A frame spans messages: copy into a fresh buffer (earlier frames keep their views).
    const pending = this.#end - this.#start
    const grown = new Uint8Array(pending + message.length)
    grown.set(this.#buffer.subarray(this.#start, this.#end))
    grown.set(message, pending)
    this.#buffer = grown
    this.#start = 0
    this.#end = grown.length
  }
}
