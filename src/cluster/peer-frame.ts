/**
 * The peer protocol's frames: encoding, the ERROR payload, and the incremental decoder one
 * peer connection reads with.
 * Thread: main (no sockets, no timers, no clock: bytes in, frames out).
 * Owns: the decoder's buffered chunks. Bytes are pushed as they arrive; `next()` returns
 * NEED_MORE, FRAME (in `frame`) or ERROR (reason in `error`), never throws.
 * Invariants:
 *  - the frames decoded do not depend on how the bytes were split into chunks;
 *  - a frame's size is checked from its length field before its body is buffered: a frame over
 *    `maxFrameBytes` or of an unknown kind is refused as soon as its first 5 bytes are in;
 *  - after ERROR framing is lost: every later `next()` returns ERROR again.
 *
 * Frame layout (all integers little-endian):
 *
 *   offset  size  field
 *   0       4     length    bytes after this field (8 + payload bytes)
 *   4       1     kind      FrameKind (1..7)
 *   5       1     type      application message type, opaque here (0..255)
 *   6       2     reserved  0
 *   8       4     id        pairs a RESPONSE/ERROR with its REQUEST; 0 for MESSAGE
 *   12      ...   payload
 */
import { ERROR_CATALOG, type ErrorCode } from '../errors.js'

/** What a frame is. Anything else on the wire is a protocol error. */
export const FrameKind = {
  HELLO: 1,
  AUTH: 2,
  REQUEST: 3,
  RESPONSE: 4,
  ERROR: 5,
  MESSAGE: 6,
  GOODBYE: 7
} as const
export type FrameKind = typeof FrameKind[keyof typeof FrameKind]

/** Bytes before the payload: length, kind, type, reserved, id. */
export const FRAME_HEADER_BYTES = 12
/** The smallest legal value of the length field (kind, type, reserved, id, no payload). */
const MIN_LENGTH_FIELD = FRAME_HEADER_BYTES - 4
/** Default cap on one whole frame, header included. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024
/** Largest application message type (it travels in one byte). */
export const MAX_MESSAGE_TYPE = 255

const EMPTY = Buffer.alloc(0)

/** One decoded frame. `payload` is a view that stays valid (the decoder never reuses it). */
export interface PeerFrame {
  kind: FrameKind
  type: number
  id: number
  payload: Buffer
}

/**
 * The header of a frame whose payload is `payloadBytes` long; the payload is written after it
 * separately (corked writes), so a multi-buffer payload is never concatenated. Allocates 12 bytes.
 */
export function encodeFrameHeader (kind: FrameKind, type: number, id: number, payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  header.writeUInt32LE(MIN_LENGTH_FIELD + payloadBytes, 0)
  header.writeUInt8(kind, 4)
  header.writeUInt8(type, 5)
  header.writeUInt16LE(0, 6)
  header.writeUInt32LE(id >>> 0, 8)
  return header
}

/** Total payload bytes of one or several buffers. */
export function payloadLength (payload: Buffer | readonly Buffer[]): number {
  if (Buffer.isBuffer(payload)) return payload.length
  let bytes = 0
  for (const part of payload) bytes += part.length
  return bytes
}

/**
 * A whole frame as the chunks to write (header first, then the payload buffers as given, empty
 * ones left out). Allocates the header only.
 */
export function encodeFrame (kind: FrameKind, type: number, id: number, payload: Buffer | readonly Buffer[] = EMPTY): Buffer[] {
  const chunks = [encodeFrameHeader(kind, type, id, payloadLength(payload))]
  if (Buffer.isBuffer(payload)) {
    if (payload.length > 0) chunks.push(payload)
  } else {
    for (const part of payload) if (part.length > 0) chunks.push(part)
  }
  return chunks
}

/** ERROR payload: `u16 code length | code (ascii ErrorCode) | message utf8`. Allocates. */
export function encodeErrorPayload (code: ErrorCode, message: string): Buffer {
  const codeBytes = Buffer.from(code, 'latin1')
  const messageBytes = Buffer.from(message, 'utf8')
  const payload = Buffer.allocUnsafe(2 + codeBytes.length + messageBytes.length)
  payload.writeUInt16LE(codeBytes.length, 0)
  codeBytes.copy(payload, 2)
  messageBytes.copy(payload, 2 + codeBytes.length)
  return payload
}

/**
 * Reads an ERROR payload. A code this build does not know becomes INTERNAL (with the remote's
 * code kept in the message); a payload too short for its code length returns null.
 */
export function decodeErrorPayload (payload: Buffer): { code: ErrorCode, message: string } | null {
  if (payload.length < 2) return null
  const codeBytes = payload.readUInt16LE(0)
  if (payload.length < 2 + codeBytes) return null
  const code = payload.toString('latin1', 2, 2 + codeBytes)
  const message = payload.toString('utf8', 2 + codeBytes)
  if (Object.hasOwn(ERROR_CATALOG, code)) return { code: code as ErrorCode, message }
  return { code: 'INTERNAL', message: `peer answered unknown error code ${JSON.stringify(code)}: ${message}` }
}

/** What `FrameDecoder.next()` found. */
export const DecodeStatus = {
  /** No complete frame buffered: push more bytes. */
  NEED_MORE: 0,
  /** A frame, in `decoder.frame`. */
  FRAME: 1,
  /** Framing is lost (`decoder.error` says why): answer ERROR PEER_PROTOCOL and close. */
  ERROR: 2
} as const
export type DecodeStatus = typeof DecodeStatus[keyof typeof DecodeStatus]

/** The incremental decoder of one connection's byte stream. */
export class FrameDecoder {
  /**
   * Largest whole frame accepted, header included. Mutable: a connection keeps it small until
   * the handshake is done, so an unauthenticated socket cannot make this node buffer 64 MiB.
   */
  maxFrameBytes: number
  /** The last frame `next()` returned FRAME for. */
  frame: PeerFrame = { kind: FrameKind.GOODBYE, type: 0, id: 0, payload: EMPTY }
  /** Why framing was lost, once `next()` returned ERROR. */
  error: string | null = null
  /** Chunks not yet consumed; `#chunks[0]` is consumed up to `#offset`. */
  #chunks: Buffer[] = []
  #offset = 0
  #bufferedBytes = 0

  constructor (maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < FRAME_HEADER_BYTES) {
      throw new RangeError(`maxFrameBytes must be an integer >= ${FRAME_HEADER_BYTES}; received ${maxFrameBytes}`)
    }
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes pushed and not yet returned as frames. */
  get bufferedBytes (): number { return this.#bufferedBytes }

  /** Appends bytes as they arrived; keeps a reference to `chunk` (no copy). */
  push (chunk: Buffer): void {
    if (chunk.length === 0 || this.error !== null) return
    this.#chunks.push(chunk)
    this.#bufferedBytes += chunk.length
  }

  /**
   * The next frame, if one is complete. Returns NEED_MORE, FRAME (`frame` set) or ERROR
   * (`error` set). Allocates only when a frame spans chunks (one copy of that frame).
   */
  next (): DecodeStatus {
    if (this.error !== null) return DecodeStatus.ERROR
    if (this.#bufferedBytes < 5) return DecodeStatus.NEED_MORE
    const lengthField = (this.#peek(0) | (this.#peek(1) << 8) | (this.#peek(2) << 16) | (this.#peek(3) << 24)) >>> 0
    if (lengthField < MIN_LENGTH_FIELD) return this.#fail(`frame length ${lengthField} is shorter than a frame header`)
    // Checked before the body is buffered: the length field alone decides.
    if (lengthField + 4 > this.maxFrameBytes) return this.#fail(`frame of ${lengthField + 4} bytes is over the ${this.maxFrameBytes}-byte limit`)
    const kind = this.#peek(4)
    if (kind < FrameKind.HELLO || kind > FrameKind.GOODBYE) return this.#fail(`unknown frame kind ${kind}`)
    const frameBytes = lengthField + 4
    if (this.#bufferedBytes < frameBytes) return DecodeStatus.NEED_MORE
    const bytes = this.#take(frameBytes)
    this.frame = {
      kind: kind as FrameKind,
      type: bytes[5]!,
      id: bytes.readUInt32LE(8),
      payload: bytes.subarray(FRAME_HEADER_BYTES)
    }
    return DecodeStatus.FRAME
  }

  #fail (reason: string): DecodeStatus {
    this.error = reason
    this.#chunks = []
    this.#bufferedBytes = 0
    this.#offset = 0
    return DecodeStatus.ERROR
  }

  /** Byte `index` past the read position; the caller checked `index < #bufferedBytes`. */
  #peek (index: number): number {
    let at = this.#offset + index
    for (const chunk of this.#chunks) {
      if (at < chunk.length) return chunk[at]!
      at -= chunk.length
    }
    return 0
  }

  /** Removes `bytes` from the front: a view when they lie in one chunk, else one copy. */
  #take (bytes: number): Buffer {
    this.#bufferedBytes -= bytes
    const first = this.#chunks[0]!
    if (first.length - this.#offset >= bytes) {
      const view = first.subarray(this.#offset, this.#offset + bytes)
      this.#offset += bytes
      if (this.#offset === first.length) { this.#chunks.shift(); this.#offset = 0 }
      return view
    }
    const out = Buffer.allocUnsafe(bytes)
    let filled = 0
    while (filled < bytes) {
      const chunk = this.#chunks[0]!
      const n = Math.min(chunk.length - this.#offset, bytes - filled)
      chunk.copy(out, filled, this.#offset, this.#offset + n)
      filled += n
      this.#offset += n
      if (this.#offset === chunk.length) { this.#chunks.shift(); this.#offset = 0 }
    }
    return out
  }
}
