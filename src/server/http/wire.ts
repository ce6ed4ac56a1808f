/**
 * Bytes the HTTP hot paths hand to uWS without making strings: pre-encoded header names and
 * status lines, the ETag of a CAS formatted into one reused buffer, and reused views of a
 * scratch buffer by length. Thread: main (synchronous use inside one uWS callback only).
 * Why: every string argument of a uWS call is copied into a fresh UTF-8 buffer by the addon
 * (one malloc per argument), and every `subarray` or template string is a heap object; on a
 * pipelined GET these were a large share of the per-request cost (native-bench/RESULTS.md,
 * "HTTP path, optimisation round 3"). uWS copies every byte it is given before the call
 * returns, so a reused buffer is safe to pass; it is NOT safe to keep across callbacks.
 */

/** A header name or fixed value as bytes (uWS accepts any Uint8Array for a RecognizedString). */
export function ascii (text: string): Buffer {
  return Buffer.from(text, 'latin1')
}

/** Lower-case request header names, for `req.getHeader`. */
export const H_AUTHORIZATION = ascii('authorization')
export const H_IF_MATCH = ascii('if-match')
export const H_IF_NONE_MATCH = ascii('if-none-match')
export const H_CONTENT_TYPE = ascii('content-type')
export const H_CONTENT_LENGTH = ascii('content-length')
export const H_TTL = ascii('x-slabcache-ttl')
export const H_TAGS = ascii('x-slabcache-tags')

/** Response header names and values. */
export const CONTENT_TYPE = ascii('Content-Type')
export const ETAG = ascii('ETag')
export const OCTET_STREAM = ascii('application/octet-stream')
export const APPLICATION_JSON = ascii('application/json')

/** Status lines (uWS writes `200 OK` itself when no status was written). */
export const STATUS_204 = ascii('204 No Content')
export const STATUS_304 = ascii('304 Not Modified')

/**
 * Views [0, n) of one buffer for every n, made on first use: a hot path that fills the buffer
 * and passes `view(n)` allocates nothing once each length has been seen.
 */
export class ScratchViews {
  readonly bytes: Buffer
  readonly #views: Array<Buffer | undefined>

  constructor (capacityBytes: number) {
    this.bytes = Buffer.alloc(capacityBytes)
    this.#views = new Array<Buffer | undefined>(capacityBytes + 1)
  }

  view (lengthBytes: number): Buffer {
    let view = this.#views[lengthBytes]
    if (view === undefined) {
      view = this.bytes.subarray(0, lengthBytes)
      this.#views[lengthBytes] = view
    }
    return view
  }
}

/** `"` + up to 16 digits (every CAS below 2^53) + `"`. */
const ETAG_MAX_BYTES = 18
const QUOTE = 0x22
const DIGIT_0 = 0x30

/**
 * Writes the ETag of `cas` (`"<digits>"`, as `etagOf` in conditions.ts) into `bytes` at
 * `offset` (room for ETAG_MAX_BYTES needed); returns the offset after it, or -1 when `cas` is
 * not a safe non-negative integer (never seen: CAS values are counters; use etagOf then).
 */
export function writeEtag (bytes: Uint8Array, offset: number, cas: number): number {
  if (!Number.isSafeInteger(cas) || cas < 0) return -1
  // Two int32 halves of at most 8 digits each: integer division instead of 16 float ones.
  const high = Math.floor(cas / 1e8)
  let low = cas - high * 1e8
  let highDigits = 0
  for (let rest = high; rest > 0; rest = (rest / 10) | 0) highDigits++
  let lowDigits = 1
  if (highDigits > 0) lowDigits = 8
  else for (let rest = low; rest >= 10; rest = (rest / 10) | 0) lowDigits++
  bytes[offset] = QUOTE
  const end = offset + 1 + highDigits + lowDigits
  for (let i = end - 1; i > end - 1 - lowDigits; i--) {
    bytes[i] = DIGIT_0 + low % 10
    low = (low / 10) | 0
  }
  let rest = high
  for (let i = offset + highDigits; i > offset; i--) {
    bytes[i] = DIGIT_0 + rest % 10
    rest = (rest / 10) | 0
  }
  bytes[end] = QUOTE
  return end + 1
}

/** The ETag header value of a CAS in a reused buffer; valid until the next call. */
export class EtagWriter {
  readonly #scratch = new ScratchViews(ETAG_MAX_BYTES)

  of (cas: number): Uint8Array {
    const end = writeEtag(this.#scratch.bytes, 0, cas)
    return end < 0 ? ascii(`"${cas}"`) : this.#scratch.view(end)
  }
}

const ETAG_LINE = ascii('\r\nETag: ')

/**
 * `Content-Type: <type>` and `ETag: "<cas>"` as ONE uWS writeHeader call: the value is the
 * type, CRLF, and the ETag line (uWS writes `key: value\r\n` verbatim, so the response carries
 * two ordinary header lines). One native call instead of two on the hottest reply. Only for
 * ASCII types (the caller checks: other bytes would not mean what their latin1 string means);
 * valid until the next call.
 */
export class TypeAndEtagWriter {
  readonly #scratch: ScratchViews

  constructor (maxTypeBytes: number) {
    this.#scratch = new ScratchViews(maxTypeBytes + ETAG_LINE.length + ETAG_MAX_BYTES)
  }

  /** The header value to pass with CONTENT_TYPE, or null (type too long, or `cas` needs etagOf). */
  of (type: Uint8Array, cas: number): Uint8Array | null {
    const bytes = this.#scratch.bytes
    if (type.length + ETAG_LINE.length + ETAG_MAX_BYTES > bytes.length) return null
    bytes.set(type, 0)
    bytes.set(ETAG_LINE, type.length)
    const end = writeEtag(bytes, type.length + ETAG_LINE.length, cas)
    return end < 0 ? null : this.#scratch.view(end)
  }
}

/**
 * A status line and `ETag: "<cas>"` as ONE uWS writeStatus call, for the bodiless replies that
 * carry an ETag (204 after a write, 304): uWS writes `HTTP/1.1 <status>\r\n` verbatim, so a
 * status of `204 No Content\r\nETag: "<cas>"` is the status line followed by an ordinary
 * header line. One native call instead of two on every PUT reply. The status and the ETag line's
 * start are written once, at construction; `of` writes only the digits. Valid until the next call.
 */
export class StatusAndEtagWriter {
  readonly #scratch: ScratchViews
  readonly #etagAt: number

  /** `status`: a pre-encoded status line (ASCII, without CR LF), such as STATUS_204. */
  constructor (status: Uint8Array) {
    this.#etagAt = status.length + ETAG_LINE.length
    this.#scratch = new ScratchViews(this.#etagAt + ETAG_MAX_BYTES)
    this.#scratch.bytes.set(status, 0)
    this.#scratch.bytes.set(ETAG_LINE, status.length)
  }

  /** The value to pass to writeStatus, or null when `cas` needs etagOf (never seen). */
  of (cas: number): Uint8Array | null {
    const end = writeEtag(this.#scratch.bytes, this.#etagAt, cas)
    return end < 0 ? null : this.#scratch.view(end)
  }
}

/** True when every byte is 7-bit ASCII (such bytes mean the same as their latin1 string). */
export function isAscii (bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false
  return true
}

/**
 * True when `bytes` can be a header field value (RFC 9110: HTAB, SP, visible ASCII, obs-text).
 * CR, LF and the other control bytes cannot: uWS writes values verbatim, so a CR LF in a stored
 * Content-Type would add header lines to every reader's response.
 */
export function isFieldValue (bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    if ((byte < 0x20 && byte !== 0x09) || byte === 0x7f) return false
  }
  return true
}

/**
 * `isFieldValue` and `isAscii` in one pass, for the GET path: ASCII_FIELD_VALUE (send the bytes
 * as they are), FIELD_VALUE (has obs-text: send its latin1 string), or NOT_FIELD_VALUE.
 */
export const ASCII_FIELD_VALUE = 0
export const FIELD_VALUE = 1
export const NOT_FIELD_VALUE = 2
export function fieldValueKind (bytes: Uint8Array): number {
  let kind = ASCII_FIELD_VALUE
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    if ((byte < 0x20 && byte !== 0x09) || byte === 0x7f) return NOT_FIELD_VALUE
    if (byte >= 0x80) kind = FIELD_VALUE
  }
  return kind
}

/** The rule `isFieldValue` enforces, for error messages. */
export const FIELD_VALUE_RULE = 'a valid header value (no control characters such as CR or LF)'

