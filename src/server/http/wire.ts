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
 * The ETag header value of a CAS (`etagOf` in conditions.ts, as bytes) in a reused buffer.
 * Valid until the next call.
 */
export class EtagWriter {
  readonly #scratch = new ScratchViews(ETAG_MAX_BYTES)

  of (cas: number): Uint8Array {
    // Anything that is not a safe non-negative integer keeps the string form (never seen: CAS
    // values are counters).
    if (!Number.isSafeInteger(cas) || cas < 0) return ascii(`"${cas}"`)
    let digits = 1
    for (let rest = cas; rest >= 10; rest = Math.floor(rest / 10)) digits++
    const bytes = this.#scratch.bytes
    bytes[0] = QUOTE
    let rest = cas
    for (let i = digits; i >= 1; i--) {
      bytes[i] = DIGIT_0 + rest % 10
      rest = Math.floor(rest / 10)
    }
    bytes[digits + 1] = QUOTE
    return this.#scratch.view(digits + 2)
  }
}

/** True when every byte is 7-bit ASCII (such bytes mean the same as their latin1 string). */
export function isAscii (bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false
  return true
}
