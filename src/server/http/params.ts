/**
 * Parsing and validation of what HTTP requests carry: path parameters (percent-encoded UTF-8
 * keys, tags, tenant names), `ttl` and `tags` from the query or `X-Slabcache-*` headers, JSON
 * bodies, and the JSON form of a value (UTF-8 string, or base64 with `"encoding": "base64"`).
 * Thread: main. Every function either returns the parsed value or answers the request with a
 * 400-family JSON error and returns null (or throws ParamError inside JSON walkers).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { ErrorCode } from '../../errors.js'
import { sendError } from './reply.js'
import { H_TAGS, H_TTL, type ScratchViews } from './wire.js'

/** Longest TTL accepted, seconds (ten years, as an upper bound on nonsense). */
export const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600

/** A validation failure inside a JSON walker; the endpoint turns it into its JSON error. */
export class ParamError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/** Decodes path parameter `index` to bytes; answers 400/414 and returns null if invalid. */
export function keyParameter (res: HttpResponse, req: HttpRequest, index: number, maxKeyBytes: number, what = 'key'): Buffer | null {
  const raw = req.getParameter(index) ?? ''
  let text = raw
  // decodeURIComponent returns a string without '%' unchanged (and never throws on it).
  if (raw.includes('%')) {
    try {
      text = decodeURIComponent(raw)
    } catch {
      sendError(res, 'BAD_REQUEST', `${what} is not valid percent-encoded UTF-8`)
      return null
    }
  }
  const key = Buffer.from(text)
  if (key.length === 0) {
    sendError(res, 'BAD_REQUEST', `${what} must not be empty`)
    return null
  }
  if (key.length > maxKeyBytes) {
    sendError(res, 'KEY_TOO_LARGE', `${what} is ${key.length} bytes; the limit is ${maxKeyBytes}`)
    return null
  }
  return key
}

/**
 * `keyParameter` into `scratch` instead of a new Buffer, for a reply made before the handler
 * returns: the key is a view of `scratch` (capacity ≥ 3 × maxKeyBytes), valid until the next
 * use of `scratch`. Returns null without answering when the fast form does not apply (a
 * percent-encoded, empty or oversized key): call `keyParameter`, which decodes or refuses.
 */
export function keyIntoScratch (req: HttpRequest, index: number, maxKeyBytes: number, scratch: ScratchViews): Buffer | null {
  const raw = req.getParameter(index) ?? ''
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so the write below always fits.
  if (raw.length === 0 || raw.length > maxKeyBytes || raw.includes('%')) return null
  const bytes = scratch.bytes
  const length = raw.length
  for (let i = 0; i < length; i++) {
    const code = raw.charCodeAt(i)
    // Not ASCII: let Buffer encode the UTF-8 (a JS loop is cheaper than Buffer#write's checks
    // for the common short ASCII key).
    if (code >= 0x80) {
      const lengthBytes = bytes.write(raw, 0)
      return lengthBytes > maxKeyBytes ? null : scratch.view(lengthBytes)
    }
    bytes[i] = code
  }
  return scratch.view(length)
}

/** Checks a TTL in seconds (1 … MAX_TTL_SECONDS) from JSON; throws ParamError. */
export function ttlFromJson (raw: unknown, what = 'ttl'): number {
  if (raw === undefined || raw === null) return 0
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > MAX_TTL_SECONDS) {
    throw new ParamError('BAD_REQUEST', `${what} must be an integer number of seconds from 1 to ${MAX_TTL_SECONDS}`)
  }
  return raw
}

/**
 * TTL from `?ttl=` or else the `X-Slabcache-TTL` header: 0 when both are absent, -1 when
 * invalid (the caller answers 400 with TTL_RULE). `hasQuery` false: the request has no query
 * string, so only the header is read.
 */
export function ttlFromRequest (req: HttpRequest, hasQuery = true): number {
  let raw = hasQuery ? req.getQuery('ttl') : ''
  if (raw === '' || raw === undefined) raw = req.getHeader(H_TTL)
  if (raw === '') return 0
  if (!/^[0-9]{1,10}$/.test(raw)) return -1
  const seconds = Number(raw)
  return seconds >= 1 && seconds <= MAX_TTL_SECONDS ? seconds : -1
}
export const TTL_RULE = `ttl must be an integer number of seconds from 1 to ${MAX_TTL_SECONDS}`

/**
 * Tags from `?tags=a,b` or else `X-Slabcache-Tags: a,b` (comma-separated, spaces trimmed):
 * null when absent, an array of byte strings otherwise. Empty tags are refused (ParamError).
 * Tag count and size limits are the engine's (it answers TOO_MANY_TAGS / TAG_TOO_LARGE).
 * `hasQuery` as for ttlFromRequest.
 */
export function tagsFromRequest (req: HttpRequest, hasQuery = true): Buffer[] | null {
  let raw = hasQuery ? req.getQuery('tags') : ''
  if (raw === '' || raw === undefined) raw = req.getHeader(H_TAGS)
  if (raw === '') return null
  return raw.split(',').map((tag) => {
    const trimmed = tag.trim()
    if (trimmed === '') throw new ParamError('BAD_REQUEST', 'tags must be a comma-separated list of non-empty tags')
    return Buffer.from(trimmed)
  })
}

/** Tags from a JSON field: an array of non-empty strings; null when absent. */
export function tagsFromJson (raw: unknown, what = 'tags'): Buffer[] | null {
  if (raw === undefined || raw === null) return null
  if (!Array.isArray(raw) || !raw.every((tag) => typeof tag === 'string' && tag !== '')) {
    throw new ParamError('BAD_REQUEST', `${what} must be an array of non-empty strings`)
  }
  return raw.map((tag: string) => Buffer.from(tag))
}

/** A key from a JSON field: a non-empty string within the key limit. */
export function keyFromJson (raw: unknown, maxKeyBytes: number, what = 'key'): Buffer {
  if (typeof raw !== 'string' || raw === '') throw new ParamError('BAD_REQUEST', `${what} must be a non-empty string`)
  const key = Buffer.from(raw)
  if (key.length > maxKeyBytes) throw new ParamError('KEY_TOO_LARGE', `${what} is ${key.length} bytes; the limit is ${maxKeyBytes}`)
  return key
}

/**
 * A value from JSON: `value` is a string, stored as its UTF-8 bytes, or as the bytes it decodes
 * to when `encoding` is `"base64"`.
 */
export function valueFromJson (value: unknown, encoding: unknown, what = 'value'): Buffer {
  if (typeof value !== 'string') throw new ParamError('BAD_REQUEST', `${what} must be a string`)
  if (encoding === undefined || encoding === null || encoding === 'utf8') return Buffer.from(value)
  if (encoding !== 'base64') throw new ParamError('BAD_REQUEST', 'encoding must be "utf8" or "base64"')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) throw new ParamError('BAD_REQUEST', `${what} is not valid base64`)
  return Buffer.from(value, 'base64')
}

/** The JSON form of stored bytes: a UTF-8 string when they are valid UTF-8, else base64. */
export function valueToJson (bytes: Uint8Array): { value: string, encoding?: 'base64' } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const text = buffer.toString('utf8')
  // Round-trip check: invalid sequences decode to U+FFFD and would not re-encode identically.
  if (Buffer.byteLength(text) === buffer.length && Buffer.from(text).equals(buffer)) return { value: text }
  return { value: buffer.toString('base64'), encoding: 'base64' }
}

/** Parses a JSON object body; throws ParamError for malformed JSON or a non-object. */
export function jsonObject (body: Buffer, shape: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = body.length === 0 ? undefined : JSON.parse(body.toString('utf8'))
  } catch {
    throw new ParamError('BAD_REQUEST', `body is not valid JSON; expected ${shape}`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ParamError('BAD_REQUEST', `body must be a JSON object: ${shape}`)
  }
  return parsed as Record<string, unknown>
}

/** Like jsonObject, but an empty body is `{}` (endpoints whose fields are all optional). */
export function optionalJsonObject (body: Buffer, shape: string): Record<string, unknown> {
  return body.length === 0 ? {} : jsonObject(body, shape)
}

/** Runs `fn`; a ParamError becomes its JSON error (anything else propagates). */
export function answerParamErrors (res: HttpResponse, fn: () => void): void {
  try {
    fn()
  } catch (error) {
    if (error instanceof ParamError) { sendError(res, error.code, error.message); return }
    throw error
  }
}

/** An integer in [min, max] from JSON; throws ParamError naming `what`. */
export function integerFromJson (raw: unknown, what: string, min: number, max: number): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) {
    throw new ParamError('BAD_REQUEST', `${what} must be an integer from ${min} to ${max}`)
  }
  return raw
}
