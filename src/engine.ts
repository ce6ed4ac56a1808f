/**
 * Engine: `execute(command)`, the one seam every front end calls (DESIGN §2, §7).
 * Thread: main. Owns: the shard set, the shared clock and the key hasher.
 * Routing: xxh32(tenant, key) picks the shard from the hash's high bits (shardOf); the same
 * hash, passed down, picks the bucket from its low bits, so no key is hashed twice.
 * O(1) commands run inline on the owning slab and return a Result synchronously (one reused
 * object: read it before the next call); heavy commands (flush) go to the shard workers over
 * their command rings and return a Promise.
 */
import { ReadResult, WriteOptions, type TenantStats } from './core/slab-store.js'
import { type ExportBuffer, type ExportFilter, type VisitFn, exportBuckets, exportKey, visitBuckets } from './core/slab-export.js'
import { shardOf } from './core/key-hash.js'
import { SetMode, StoreStatus } from './core/store-status.js'
import { MAX_CONTENT_TYPE_BYTES } from './core/item-ext.js'
import { Result, type Command } from './command/command.js'
import { errorForStatus } from './command/status-errors.js'
import { formatTat, gcra, GcraDecision, GcraParams, gcraParams, parseTat, TAT_MAX_DIGITS } from './command/gcra.js'
import { MAX_TENANTS } from './core/slab-layout.js'
import { SlabcacheError } from './errors.js'
import { createKeyHasher, type KeyHasher } from './shard/key-hasher.js'
import { OP_FLUSH } from './shard/shard-messages.js'
import { ShardSet } from './shard/shard-set.js'
import { SharedClock } from './util/shared-clock.js'
import { decodeRecord } from './persist/snapshot-format.js'
import type { Config } from './config/load-config.js'

/** Buckets a scan visits per call and shard before returning a partial page. */
const SCAN_BUCKETS_PER_CALL = 4096
/** Tag members removed per lock hold during an invalidation (≈ 0.3 ms of lock time). */
const TAG_SLICE_ITEMS = 1024

export interface EngineOptions {
  /** Accept debug ring ops (worker crash simulation); tests only. */
  debugOps?: boolean
  onShardRestart?: (shardId: number, exitCode: number, repaired: boolean) => void
}

export class Engine {
  readonly config: Config
  readonly clock: SharedClock
  readonly shards: ShardSet
  readonly #hasher: KeyHasher
  readonly #result = new Result()
  readonly #read = new ReadResult()
  readonly #write = new WriteOptions()
  readonly #startedMs: number
  readonly #gcraParams = new GcraParams()
  readonly #gcraDecision = new GcraDecision()
  readonly #tatBytes = Buffer.alloc(TAT_MAX_DIGITS)
  /** #tatBytes[0, n) for every n, made once: a rate-limit write allocates no view. */
  readonly #tatViews = Array.from({ length: TAT_MAX_DIGITS + 1 }, (_, n) => this.#tatBytes.subarray(0, n))
  readonly #rateWrite = new WriteOptions()
  /** Options of the replicated versions applyRecords writes (mode SET; the rest per record). */
  readonly #applyWrite = new WriteOptions()
  /**
   * Observer of every successful LOCAL write, called synchronously after the store committed:
   * set (every SetMode, incl. append/prepend/cas), delete (deleted = true), touch, incr/decr,
   * rateLimit when it wrote. `cas` = the new item's CAS, or for a delete the tombstone stamp
   * (store.lastCas after delete). `key` may be a reused buffer: the observer copies what it
   * keeps. Not called for applyRecords/applyTombstone, flush, invalidateTag, expiry or
   * eviction. Null (the default, and single-node) costs one branch per write.
   */
  onWrite: ((tenantId: number, key: Uint8Array, cas: number, deleted: boolean) => void) | null = null

  private constructor (config: Config, clock: SharedClock, shards: ShardSet, hasher: KeyHasher) {
    this.config = config
    this.clock = clock
    this.shards = shards
    this.#hasher = hasher
    this.#startedMs = clock.nowMs()
  }

  static async start (config: Config, options: EngineOptions = {}): Promise<Engine> {
    const clock = SharedClock.start({ clockControl: config.debug.clockControl })
    const hasher = await createKeyHasher()
    try {
      const shards = await ShardSet.start({
        shards: config.shards,
        memoryBytes: config.memoryBytes,
        clock,
        lockTimeoutMs: config.lockTimeoutMs,
        maintenanceIntervalMs: config.maintenanceIntervalMs,
        maxValueBytes: config.limits.maxValueBytes,
        bumpIntervalMs: config.lru.bumpIntervalMs,
        debugOps: options.debugOps === true,
        ...(options.onShardRestart !== undefined ? { onRestart: options.onShardRestart } : {})
      })
      return new Engine(config, clock, shards, hasher)
    } catch (error) {
      clock.stop()
      throw error
    }
  }

  /** Hash of (tenant, key): the routing and bucket hash. */
  hash (tenantId: number, key: Uint8Array): number {
    return this.#hasher.hash(tenantId, key, 0, key.length)
  }

  /** Shard that owns (tenant, key). */
  shardOf (tenantId: number, key: Uint8Array): number {
    return shardOf(this.hash(tenantId, key), this.shards.count)
  }

  /**
   * Runs `command`. Inline commands return the engine's reused Result (valid until the next
   * call); heavy ones return a Promise of a fresh Result. Never throws for client mistakes:
   * they come back as `result.error`.
   */
  execute (command: Command): Result | Promise<Result> {
    const result = this.#result.reset()
    try {
      return this.#execute(command, result)
    } catch (error) {
      // A broken invariant or a bug inside a store call: the store repaired its slab before the
      // exception left it (SlabStore #abort), so the server keeps serving; the client gets
      // INTERNAL rather than a dropped connection.
      return this.#fail(result, 'INTERNAL', error instanceof Error ? `internal error: ${error.message}` : undefined)
    }
  }

  #execute (command: Command, result: Result): Result | Promise<Result> {
    switch (command.op) {
      case 'get': {
        const store = this.#storeFor(command.tenantId, command.key)
        const withTags = command.withTags === true
        const read = this.#read
        const sink = command.sink ?? null
        read.sink = sink
        let status: StoreStatus
        try {
          status = withTags
            ? store.getWithTags(command.tenantId, command.key, this.#lastHash, read)
            : store.get(command.tenantId, command.key, this.#lastHash, read)
        } finally {
          read.sink = null
        }
        result.status = status
        if (status === StoreStatus.OK) {
          // With a sink the value is already in the caller's output.
          if (sink === null) result.value = read.value
          result.valueLength = read.valueLength
          result.flags = read.flags
          result.cas = read.cas
          // A view only for items that have a content type: untagged gets allocate nothing.
          if (read.contentTypeLength !== 0) result.contentType = read.contentType.subarray(0, read.contentTypeLength)
          if (withTags) result.tags = read.tags
        }
        return this.#finish(result)
      }
      case 'set': {
        if (command.key.length > this.config.limits.maxKeyBytes) return this.#fail(result, 'KEY_TOO_LARGE')
        if (command.value.length > this.config.limits.maxValueBytes) return this.#fail(result, 'VALUE_TOO_LARGE')
        const tags = command.tags
        if (tags !== undefined) {
          const limits = this.config.limits
          if (tags.length > limits.maxTagsPerItem) return this.#fail(result, 'TOO_MANY_TAGS', `an item may carry at most ${limits.maxTagsPerItem} tags; received ${tags.length}`)
          for (let i = 0; i < tags.length; i++) {
            if (tags[i]!.length > limits.maxTagBytes) return this.#fail(result, 'TAG_TOO_LARGE', `a tag may be at most ${limits.maxTagBytes} bytes; received ${tags[i]!.length}`)
          }
        }
        if (command.contentType !== undefined && command.contentType.length > MAX_CONTENT_TYPE_BYTES) {
          return this.#fail(result, 'BAD_REQUEST', `content type longer than ${MAX_CONTENT_TYPE_BYTES} bytes`)
        }
        const write = this.#write
        write.tags = tags ?? null
        write.contentType = command.contentType ?? null
        write.mode = command.mode
        write.flags = command.flags
        write.keepTtl = command.keepTtl
        write.casExpected = command.casExpected
        write.expiryMs = command.ttlMs > 0 ? this.clock.nowMs() + command.ttlMs : 0
        const store = this.#storeFor(command.tenantId, command.key)
        result.status = store.set(command.tenantId, command.key, this.#lastHash, command.value, write)
        if (result.status === StoreStatus.OK) {
          result.cas = store.lastCas
          if (this.onWrite !== null) this.onWrite(command.tenantId, command.key, store.lastCas, false)
        }
        return this.#finish(result)
      }
      case 'delete': {
        const store = this.#storeFor(command.tenantId, command.key)
        result.status = store.delete(command.tenantId, command.key, this.#lastHash)
        if (result.status === StoreStatus.OK && this.onWrite !== null) this.onWrite(command.tenantId, command.key, store.lastCas, true)
        return this.#finish(result)
      }
      case 'exists':
        result.status = this.#storeFor(command.tenantId, command.key).has(command.tenantId, command.key, this.#lastHash)
        return this.#finish(result)
      case 'touch': {
        const expiryMs = command.ttlMs > 0 ? this.clock.nowMs() + command.ttlMs : 0
        const store = this.#storeFor(command.tenantId, command.key)
        // Observed (clustered), a touch is a new version with a fresh CAS, so replicas take it LWW.
        result.status = store.touch(command.tenantId, command.key, this.#lastHash, expiryMs, this.onWrite !== null)
        if (result.status === StoreStatus.OK && this.onWrite !== null) this.onWrite(command.tenantId, command.key, store.lastCas, false)
        return this.#finish(result)
      }
      case 'ttl': {
        const status = this.#storeFor(command.tenantId, command.key).get(command.tenantId, command.key, this.#lastHash, this.#read, false)
        result.status = status
        if (status === StoreStatus.OK) {
          result.ttlMs = this.#read.expiryMs === 0 ? -1 : Math.max(0, this.#read.expiryMs - this.clock.nowMs())
          // A metadata read: the value's length without copying it (RESP STRLEN, APPEND).
          result.valueLength = this.#read.valueLength
          result.flags = this.#read.flags
        } else if (status === StoreStatus.NOT_FOUND) {
          result.ttlMs = -2
        }
        return this.#finish(result)
      }
      case 'incr': {
        if (command.key.length > this.config.limits.maxKeyBytes) return this.#fail(result, 'KEY_TOO_LARGE')
        const store = this.#storeFor(command.tenantId, command.key)
        result.status = store.incr(command.tenantId, command.key, this.#lastHash, command.delta, command.mode)
        if (result.status === StoreStatus.OK) {
          result.counter = store.lastCounter
          // The rewritten item's CAS (memcached binary INCR/DECR answer with it).
          result.cas = store.lastCas
          if (this.onWrite !== null) this.onWrite(command.tenantId, command.key, store.lastCas, false)
        }
        return this.#finish(result)
      }
      case 'scan': return this.#scan(command.tenantId, command.cursor, command.count)
      case 'flush': return this.#flush(command.tenantId)
      case 'stats':
        result.stats = this.stats()
        return result
      case 'invalidateTag': return this.#invalidateTag(command.tenantId, command.tag, result)
      case 'rateLimit': return this.#rateLimit(command, result)
      case 'debugClock':
        try {
          this.clock.advance(command.advanceMs)
        } catch (error) {
          if (error instanceof SlabcacheError) return this.#fail(result, error.code, error.message)
          throw error
        }
        return result
    }
  }

  /** Engine-wide counters, summed over shards, plus each shard's. */
  stats (): EngineStats {
    const perShard = []
    const total = { items: 0, itemBytes: 0, chunkBytes: 0, capacityBytes: 0, hits: 0, misses: 0, evictions: 0, expirations: 0 }
    for (let id = 0; id < this.shards.count; id++) {
      const s = this.shards.store(id).stats()
      perShard.push({ id, alive: this.shards.alive(id), restarts: this.shards.restarts(id), ...s })
      addCounters(total, s)
    }
    return { uptimeMs: this.clock.nowMs() - this.#startedMs, shardCount: this.shards.count, memoryBytes: this.config.memoryBytes, ...total, shards: perShard }
  }

  /**
   * Sets `tenantId`'s byte quota (chunk bytes, as `tenantStats().bytes` counts them; 0 =
   * unlimited). Each shard enforces its share: quota ÷ shards, the first (quota mod shards)
   * shards one byte more, so the shares add up to the quota exactly (at least 1 byte each).
   * A tenant over its share in a shard evicts its own least recently used items there; an item
   * larger than its shard's share is refused with QUOTA_EXCEEDED. Throws SlabcacheError
   * BAD_REQUEST for a tenant id or quota out of range, SHARD_UNAVAILABLE if a shard's lock is
   * stuck (shards before it already hold the new share).
   */
  setTenantQuota (tenantId: number, quotaBytes: number): void {
    this.#checkTenant(tenantId)
    if (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0) {
      throw new SlabcacheError('BAD_REQUEST', `quotaBytes must be a non-negative integer; received ${quotaBytes}`)
    }
    const shards = this.shards.count
    const base = Math.floor(quotaBytes / shards)
    const extra = quotaBytes - base * shards
    for (let id = 0; id < shards; id++) {
      const share = quotaBytes === 0 ? 0 : Math.max(1, base + (id < extra ? 1 : 0))
      if (this.shards.store(id).setTenantQuota(tenantId, share) !== StoreStatus.OK) {
        throw new SlabcacheError('SHARD_UNAVAILABLE', `shard ${id} did not release its lock in time`)
      }
    }
  }

  /** Counters of `tenantId` summed over shards, and its quota (the sum of the shard shares). */
  tenantStats (tenantId: number): TenantStats {
    this.#checkTenant(tenantId)
    const total: TenantStats = { items: 0, bytes: 0, quotaBytes: 0, hits: 0, misses: 0, sets: 0, deletes: 0, evictions: 0, expirations: 0 }
    for (let id = 0; id < this.shards.count; id++) {
      addCounters(total, this.shards.store(id).tenantStats(tenantId))
    }
    return total
  }

  #checkTenant (tenantId: number): void {
    if (!Number.isSafeInteger(tenantId) || tenantId < 0 || tenantId >= MAX_TENANTS) {
      throw new SlabcacheError('BAD_REQUEST', `tenantId must be an integer from 0 to ${MAX_TENANTS - 1}; received ${tenantId}`)
    }
  }

  // ── replication hooks (cluster/): versions and tombstones applied last-write-wins ────

  get shardCount (): number { return this.shards.count }

  /**
   * Applies the snapshot-format item records in bytes[0, length) (as exportKey / exportShard
   * wrote them, possibly from another node with another shard count) last-write-wins: each on
   * its key's shard with SlabStore.applyVersion, `winsTie` deciding equal CASes. Counts:
   * applied (OK), stale (EXISTS: a newer or equal version was here), failed (any other status:
   * OUT_OF_MEMORY, QUOTA_EXCEEDED, BUSY, BAD_TENANT, ...). Does not call onWrite. Throws
   * SlabcacheError PEER_PROTOCOL at a malformed record (the records before it stay applied).
   * Allocates the views of each decoded record.
   */
  applyRecords (bytes: Buffer, winsTie: boolean): { applied: number, stale: number, failed: number } {
    const counts = { applied: 0, stale: 0, failed: 0 }
    const write = this.#applyWrite
    write.mode = SetMode.SET
    write.keepTtl = false
    for (let at = 0; at < bytes.length;) {
      const record = decodeRecord(bytes, at)
      if (record === null) throw new SlabcacheError('PEER_PROTOCOL', `replicated record at byte ${at} of ${bytes.length} is malformed`)
      write.flags = record.flags
      write.expiryMs = record.expiryMs
      write.tags = record.tags
      write.contentType = record.contentType
      const store = this.#storeFor(record.tenantId, record.key)
      const status = store.applyVersion(record.tenantId, record.key, this.#lastHash, record.value, write, record.cas, winsTie)
      if (status === StoreStatus.OK) counts.applied++
      else if (status === StoreStatus.EXISTS) counts.stale++
      else counts.failed++
      at += record.recordBytes
    }
    write.tags = null
    write.contentType = null
    return counts
  }

  /**
   * Applies a replicated delete stamped `cas` (SlabStore.applyDelete): OK removed, NOT_FOUND
   * absent, EXISTS a newer (or equal, without `winsTie`) version kept; BUSY, KEY_TOO_LARGE,
   * BAD_TENANT. Does not call onWrite.
   */
  applyTombstone (tenantId: number, key: Uint8Array, cas: number, winsTie: boolean): StoreStatus {
    return this.#storeFor(tenantId, key).applyDelete(tenantId, key, this.#lastHash, cas, winsTie)
  }

  /** exportKey on the key's shard: appends its record to `out` and returns its CAS; 0 absent or expired; -1 lock timeout. */
  exportKey (tenantId: number, key: Uint8Array, out: ExportBuffer): number {
    return exportKey(this.#storeFor(tenantId, key), tenantId, key, this.#lastHash, out)
  }

  /** The key's current CAS, 0 when absent or expired (lock-free read; -1 if the lock fallback timed out). */
  versionOf (tenantId: number, key: Uint8Array): number {
    return this.#storeFor(tenantId, key).versionOf(tenantId, key, this.#lastHash)
  }

  /**
   * exportBuckets (every tenant) on shard `shard`: records of buckets [cursor, cursor +
   * maxBuckets) that pass `filter`, up to about `maxBytes`. Returns the next cursor (0 done) or
   * -1 on lock timeout. For rebalancing streams.
   */
  exportShard (shard: number, cursor: number, maxBuckets: number, maxBytes: number, out: ExportBuffer, filter: ExportFilter | null): number {
    return exportBuckets(this.shards.store(shard), -1, cursor, maxBuckets, maxBytes, out, filter)
  }

  /** visitBuckets on shard `shard`: next cursor (0 done) or -1 on lock timeout. For anti-entropy digests. */
  visitShard (shard: number, cursor: number, maxBuckets: number, visit: VisitFn): number {
    return visitBuckets(this.shards.store(shard), cursor, maxBuckets, visit)
  }

  async close (): Promise<void> {
    await this.shards.close()
    this.clock.stop()
  }

  /** Hash computed by the last #storeFor call, handed to the store with the key. */
  #lastHash = 0

  #storeFor (tenantId: number, key: Uint8Array): import('./core/slab-store.js').SlabStore {
    const hash = this.#hasher.hash(tenantId, key, 0, key.length)
    this.#lastHash = hash
    return this.shards.store(shardOf(hash, this.shards.count))
  }

  #finish (result: Result): Result {
    const error = errorForStatus(result.status)
    if (error !== null) result.error = error
    return result
  }

  #fail (result: Result, code: import('./errors.js').ErrorCode, message?: string): Result {
    result.error = code
    result.errorMessage = message ?? ''
    return result
  }

  /**
   * Scan: the cursor packs (shard, bucket) as shard × 2^32 + bucket. One call visits at most
   * SCAN_BUCKETS_PER_CALL buckets in all (a sparse table returns fewer keys than `count`, as
   * Redis's SCAN may), each store call holding one shard's lock for a bounded slice.
   */
  #scan (tenantId: number, cursor: number, count: number): Result {
    const result = this.#result
    result.keys = []
    let shard = Math.floor(cursor / 2 ** 32)
    let bucket = cursor % 2 ** 32
    let budget = SCAN_BUCKETS_PER_CALL
    while (shard < this.shards.count && result.keys.length < count && budget > 0) {
      const slice = Math.min(budget, Math.max(16, count))
      budget -= slice
      const next = this.shards.store(shard).scan(tenantId, bucket, slice, result.keys)
      if (next < 0) return this.#fail(result, 'SHARD_UNAVAILABLE')
      if (next === 0) { shard++; bucket = 0 } else bucket = next
    }
    result.cursor = shard >= this.shards.count ? 0 : shard * 2 ** 32 + bucket
    return result
  }

  /**
   * Tag invalidation: on every shard, removes the tag's members in slices of TAG_SLICE_ITEMS,
   * one lock hold each (writers on the main thread and the shard worker interleave between
   * slices). O(members). Bounded by the member count the first slice saw, so writers tagging
   * new keys meanwhile cannot keep it running; the walk takes the oldest members first, so
   * every key tagged before the call is gone when it returns (unless rewritten meanwhile).
   */
  #invalidateTag (tenantId: number, tag: Uint8Array, result: Result): Result {
    if (tag.length > this.config.limits.maxTagBytes) return this.#fail(result, 'TAG_TOO_LARGE', `a tag may be at most ${this.config.limits.maxTagBytes} bytes; received ${tag.length}`)
    const hash = this.#hasher.hash(tenantId, tag, 0, tag.length)
    let removed = 0
    for (let id = 0; id < this.shards.count; id++) {
      const store = this.shards.store(id)
      let budget = -1
      let processed = 0
      for (;;) {
        const left = store.invalidateTag(tenantId, tag, hash, TAG_SLICE_ITEMS)
        if (left < 0) return this.#fail(result, 'SHARD_UNAVAILABLE', `shard ${id} lock timed out after ${removed} keys were removed`)
        removed += store.lastRemoved
        processed += store.lastTagProcessed
        if (budget < 0) budget = processed + left
        if (left === 0 || processed >= budget) break
      }
    }
    result.count = removed
    return result
  }

  /**
   * GCRA rate limit (command/gcra.ts). The theoretical arrival time is stored as decimal µs in
   * an ordinary item under (tenant, key), expiring at that time, so an idle limiter vanishes.
   * The read and the conditional write happen in this one synchronous call on the main thread,
   * the only thread that writes items inline, so no other command runs in between: atomic.
   * (The shard worker may expire or evict the item meanwhile; the write then recreates it.)
   * Errors: KEY_TOO_LARGE; BAD_REQUEST (parameters; the message says which); NOT_NUMERIC (the
   * key holds another value); OUT_OF_MEMORY / QUOTA_EXCEEDED / SHARD_UNAVAILABLE from the write.
   */
  #rateLimit (command: Extract<Command, { op: 'rateLimit' }>, result: Result): Result {
    if (command.key.length > this.config.limits.maxKeyBytes) return this.#fail(result, 'KEY_TOO_LARGE')
    const params = this.#gcraParams
    const invalid = gcraParams(params, command.burst, command.count, command.periodMs, command.cost)
    if (invalid !== null) return this.#fail(result, 'BAD_REQUEST', invalid)
    const store = this.#storeFor(command.tenantId, command.key)
    const hash = this.#lastHash
    const read = this.#read
    const status = store.get(command.tenantId, command.key, hash, read)
    let tatUs = -1
    if (status === StoreStatus.OK) {
      tatUs = parseTat(read.value, read.valueLength)
      if (tatUs < 0) return this.#fail(result, 'NOT_NUMERIC', 'the key holds a value that is not a rate limiter')
    } else if (status !== StoreStatus.NOT_FOUND) {
      result.status = status
      return this.#finish(result)
    }
    const decision = this.#gcraDecision
    gcra(decision, params, tatUs, this.clock.nowMs() * 1000)
    if (decision.newTatUs >= 0) {
      const write = this.#rateWrite
      write.mode = SetMode.SET
      write.flags = 0
      write.keepTtl = false
      write.expiryMs = Math.ceil(decision.newTatUs / 1000)
      const length = formatTat(decision.newTatUs, this.#tatBytes)
      const written = store.set(command.tenantId, command.key, hash, this.#tatViews[length]!, write)
      if (written !== StoreStatus.OK) {
        result.status = written
        return this.#finish(result)
      }
      if (this.onWrite !== null) this.onWrite(command.tenantId, command.key, store.lastCas, false)
    }
    result.status = StoreStatus.OK
    result.allowed = !decision.limited
    result.limit = params.limit
    result.remaining = decision.remaining
    result.retryAfterMs = decision.retryAfterUs < 0 ? -1 : decision.retryAfterUs / 1000
    result.resetAfterMs = decision.resetAfterUs / 1000
    return result
  }

  async #flush (tenantId: number): Promise<Result> {
    const replies = await Promise.all(
      Array.from({ length: this.shards.count }, async (_, id) => await this.shards.send(id, OP_FLUSH, tenantId))
    )
    const result = new Result()
    result.count = replies.reduce((sum, reply) => sum + reply.number, 0)
    return result
  }
}

/** Adds to each counter of `total` the same-named counter of `part` (sums over shards). */
function addCounters<K extends string> (total: Record<K, number>, part: Readonly<Record<NoInfer<K>, number>>): void {
  for (const key of Object.keys(total) as K[]) total[key] += part[key]
}

export interface EngineStats {
  uptimeMs: number
  shardCount: number
  memoryBytes: number
  items: number
  itemBytes: number
  chunkBytes: number
  capacityBytes: number
  hits: number
  misses: number
  evictions: number
  expirations: number
  shards: Array<{ id: number, alive: boolean, restarts: number } & ReturnType<import('./core/slab-store.js').SlabStore['stats']>>
}

export { SetMode, StoreStatus }
