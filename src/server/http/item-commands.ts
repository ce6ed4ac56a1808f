/**
 * Builders for the engine commands the HTTP routes send, and readers for the Result fields they
 * use (tags, content type, rate-limit numbers). Thread: main. One place that knows the Command
 * shapes, so the route files stay about HTTP.
 * Invariant: a Result read here is the engine's reused object: read before the next execute.
 */
import type { Command, Result } from '../../command/command.js'
import { CounterMode, SetMode } from '../../core/store-status.js'

/** Options of a write from HTTP (PUT, POST envelope, mset). */
export interface WriteSpec {
  readonly ttlSeconds: number
  /** null: the item has no tags (a set replaces the item's tags). */
  readonly tags: readonly Uint8Array[] | null
  /** null: no stored content type (GET answers application/octet-stream). */
  readonly contentType: Uint8Array | null
  readonly mode: SetMode
  readonly casExpected: number
}

export const PLAIN_WRITE: WriteSpec = { ttlSeconds: 0, tags: null, contentType: null, mode: SetMode.SET, casExpected: 0 }

export function setCommand (tenantId: number, key: Uint8Array, value: Uint8Array, spec: WriteSpec): Command {
  const command: Command & { op: 'set' } = {
    op: 'set', tenantId, key, value, mode: spec.mode, ttlMs: spec.ttlSeconds * 1000, flags: 0, keepTtl: false, casExpected: spec.casExpected
  }
  if (spec.tags !== null) command.tags = spec.tags
  if (spec.contentType !== null) command.contentType = spec.contentType
  return command
}

export function getCommand (tenantId: number, key: Uint8Array, withTags = false): Command {
  return withTags ? { op: 'get', tenantId, key, withTags } : { op: 'get', tenantId, key }
}

/** INCRBY with Redis semantics (signed 64-bit, a missing key counts from 0). */
export function incrCommand (tenantId: number, key: Uint8Array, delta: bigint): Command {
  return { op: 'incr', tenantId, key, delta, mode: CounterMode.REDIS }
}

export function invalidateTagCommand (tenantId: number, tag: Uint8Array): Command {
  return { op: 'invalidateTag', tenantId, tag }
}

/** GCRA: `count` per `periodMs` with bucket capacity `burst`; `cost` units taken. */
export function rateLimitCommand (tenantId: number, key: Uint8Array, burst: number, count: number, periodMs: number, cost: number): Command {
  return { op: 'rateLimit', tenantId, key, burst, count, periodMs, cost }
}

/** The numbers of a rateLimit result. */
export interface RateLimitNumbers { allowed: boolean, limit: number, remaining: number, retryAfterMs: number, resetAfterMs: number }
export function rateLimitOf (result: Result): RateLimitNumbers {
  return { allowed: result.allowed, limit: result.limit, remaining: result.remaining, retryAfterMs: result.retryAfterMs, resetAfterMs: result.resetAfterMs }
}

/** The stored content type, or null when the item has none. */
export function storedContentType (result: Result): string | null {
  const stored = result.contentType
  return stored === null || stored.length === 0 ? null : stored.toString('latin1')
}

/** The stored content type as a header value, or the default. */
export function contentTypeOf (result: Result): string {
  return storedContentType(result) ?? 'application/octet-stream'
}

/** Tags of a `get` with withTags, as strings. */
export function tagsOf (result: Result): string[] {
  return result.tags.map((tag) => tag.toString('utf8'))
}
