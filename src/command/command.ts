/**
 * The protocol-neutral command set every front end (HTTP, and later RESP, memcached, WS, peers)
 * translates into, and the result it gets back. Thread: main (pure types, L1).
 * Invariant: a Command carries everything needed to run it: tenant resolved, key as bytes,
 * TTLs as relative milliseconds (the engine turns them into absolute expiries with the shared
 * clock). Results carry a StoreStatus, or an ErrorCode for failures outside the store.
 */
import type { ErrorCode } from '../errors.js'
import type { CounterMode, SetMode, StoreStatus } from '../core/store-status.js'
import type { ValueSink } from '../core/slab-values.js'

export type Command =
  /**
   * withTags: also return the item's tags (read under the shard lock; allocates). sink: copy
   * the value straight into the caller's output (slab-values.ts ValueSink; `result.value` is
   * then null): the caller commits it there when the status is OK.
   */
  | { op: 'get', tenantId: number, key: Uint8Array, withTags?: boolean, sink?: ValueSink | null }
  /**
   * tags replace the item's tags (absent: none); APPEND, PREPEND and APPEND_OR_SET onto an
   * existing item keep its tags and content type. contentType (≤ 255 bytes) is stored with it.
   */
  | { op: 'set', tenantId: number, key: Uint8Array, value: Uint8Array, mode: SetMode, ttlMs: number, flags: number, keepTtl: boolean, casExpected: number, tags?: readonly Uint8Array[], contentType?: Uint8Array }
  | { op: 'delete', tenantId: number, key: Uint8Array }
  | { op: 'exists', tenantId: number, key: Uint8Array }
  /** ttlMs 0 removes the expiry (persist). */
  | { op: 'touch', tenantId: number, key: Uint8Array, ttlMs: number }
  | { op: 'ttl', tenantId: number, key: Uint8Array }
  | { op: 'incr', tenantId: number, key: Uint8Array, delta: bigint, mode: CounterMode }
  /** cursor 0 starts a scan; the result's cursor 0 ends it. */
  | { op: 'scan', tenantId: number, cursor: number, count: number }
  /** tenantId -1 flushes every tenant. */
  | { op: 'flush', tenantId: number }
  | { op: 'stats' }
  | { op: 'debugClock', advanceMs: number }
  /** Removes every key of the tenant carrying `tag`, on every shard; result.count = removed. */
  | { op: 'invalidateTag', tenantId: number, tag: Uint8Array }
  /**
   * GCRA rate limit on (tenantId, key): `count` actions per `periodMs`, bursts of `burst` + 1,
   * this action costing `cost` (0 peeks). The limiter's state is an ordinary item under the key.
   */
  | { op: 'rateLimit', tenantId: number, key: Uint8Array, burst: number, count: number, periodMs: number, cost: number }

/**
 * What a command produced. For inline (O(1)) commands the engine reuses one Result object:
 * it is valid until the next `execute` call, so front ends read it synchronously.
 */
export class Result {
  /** Store outcome; StoreStatus.OK for commands that cannot fail in the store. */
  status: StoreStatus = 0
  /** Set when the command failed outside the store (limits, shard trouble, debug off). */
  error: ErrorCode | null = null
  errorMessage = ''
  /** get: the value is value[0, valueLength) — a scratch buffer, valid until the next call. */
  value: Buffer | null = null
  valueLength = 0
  flags = 0
  cas = 0
  /** ttl: remaining ms; -1 no expiry; -2 absent (Redis PTTL conventions). */
  ttlMs = 0
  counter = 0n
  /** scan: keys found and the next cursor. */
  keys: Buffer[] = []
  cursor = 0
  /** flush, invalidateTag: items removed. */
  count = 0
  stats: unknown = null
  /** get: the item's content type (a view of a scratch buffer, valid until the next call), or null. */
  contentType: Buffer | null = null
  /** get with withTags: copies of the item's tag names. */
  tags: Buffer[] = []
  /** rateLimit: whether the action was allowed, the limit (burst + 1) and what is left. */
  allowed = false
  limit = 0
  remaining = 0
  /** rateLimit: ms (µs resolution, may be fractional) until allowed; -1 when allowed. */
  retryAfterMs = -1
  /** rateLimit: ms (µs resolution) until the limiter is full again. */
  resetAfterMs = 0

  reset (): this {
    this.status = 0
    this.error = null
    this.errorMessage = ''
    this.value = null
    this.valueLength = 0
    this.flags = 0
    this.cas = 0
    this.ttlMs = 0
    this.counter = 0n
    this.cursor = 0
    this.count = 0
    this.stats = null
    this.contentType = null
    if (this.tags.length !== 0) this.tags = []
    this.allowed = false
    this.limit = 0
    this.remaining = 0
    this.retryAfterMs = -1
    this.resetAfterMs = 0
    return this
  }
}
