/**
 * SlabStore: the cache operations of one shard, over its SharedArrayBuffer slab.
 * Thread: every thread attached to the slab holds its own SlabStore over the same memory: the
 * main thread runs O(1) commands inline; the shard worker runs maintenance and heavy commands.
 * L1: no clock of its own (a `Clock` is injected), no I/O, no allocation on get/set/delete
 * beyond growing its scratch buffers.
 * Concurrency contract (DESIGN §4): reads are lock-free under the seqlock and may run on ONE
 * thread only (the one constructed with `recordsHits`), which also owns the hit ring and the
 * hit/miss counters; every mutation holds the lock with the seqlock odd, and journals what
 * repair must finish or undo (slab-repair.ts).
 * Tenants: each has its own LRU list per size class and an optional byte quota; a write over
 * the quota evicts the tenant's own items (tenant-lru.ts holds the eviction policy).
 * LRU bumps are rate-limited (bump-epoch.ts): an item linked or bumped in the current
 * `bumpIntervalMs` window is not recorded again by a hit, so a hot key costs the hit ring and
 * the worker's drain about one entry per window (0 = every hit, exact LRU).
 * This file owns the public API and the mutation protocol (lock, seqlock, journal, commit,
 * linking and removing items); it delegates to collaborators that share its slab views:
 * slab-values.ts (value copy/read, ReadResult), slab-tags.ts (tag records and the extension a
 * write prepares), slab-reclaim.ts (allocation, page reclaim, evict-ahead, rebalance, hit
 * draining), slab-quota.ts (tenant quotas) and slab-stats.ts (counters).
 */
import { HashIndex, TORN } from './hash-index.js'
import { keyHash } from './key-hash.js'
import { SlabAllocator } from './slab-allocator.js'
import {
  C_EVICTIONS_F64, CHUNK_PAYLOAD_BYTES, F_CAS, F_EXPIRY, H_CAS_COUNTER, H_CHUNK_BYTES, H_EVICTIONS, H_EXPIRATIONS,
  H_HITS, H_ITEM_BYTES, H_ITEM_COUNT, H_MISSES, HIT_RING_SLOTS, I_FLAGS, I_META, I_VALUE_LEN,
  ITEM_HEADER_BYTES, KIND_ITEM, MAX_CHUNK_BYTES, MAX_KEY_BYTES, MAX_TENANTS, META_CHUNKED, META_EXT, META_KIND_SHIFT, META_TAG_RECORD, PAGE_FREE,
  T_BYTES, T_DELETES, T_EVICTIONS, T_EXPIRATIONS, T_HITS, T_ITEMS, T_MISSES, T_QUOTA, T_SETS, metaBumpEpoch, metaKeyLength, metaTenant, withBumpEpoch
} from './slab-layout.js'
import { BumpEpoch, DEFAULT_BUMP_INTERVAL_MS } from './bump-epoch.js'
import { MAX_CONTENT_TYPE_BYTES, MAX_ITEM_TAGS, N_OWNER, R_COUNT, R_TAIL, chunkListAt, contentTypeLengthOf, contentTypeOffset, dataOffset, newDataOffset, tagCountOf } from './item-ext.js'
import { J_DELETE, J_SET_COMMIT, SlabLock } from './slab-lock.js'
import { SlabMemory } from './slab-memory.js'
import { rebuildSlab } from './slab-repair.js'
import { CounterMode, SetMode, StoreStatus } from './store-status.js'
import { SlabQuota } from './slab-quota.js'
import { HIT_HEAD, HIT_MASK, HIT_RING, HIT_TAIL, SlabReclaim } from './slab-reclaim.js'
import { type SlabStats, type TenantStats, readSlabStats, readTenantStats } from './slab-stats.js'
import { SlabTags } from './slab-tags.js'
import { TimingWheel } from './timing-wheel.js'
import {
  INT64_MAX, INT64_MIN, NOT_SMALL, ReadResult, SAFE_COUNTER, UINT64_MASK, chunkBytesHeld, copyValue, counterLength, itemBytes, parseCounter, readItem,
  smallCounter, writeCounter, writeValue
} from './slab-values.js'
import { coverTenant } from './tenant-lru.js'
import type { Clock } from '../util/clock.js'

export interface SlabStoreOptions {
  clock: Clock
  /** Lock owner id of this thread (MAIN_THREAD_OWNER on the main thread). */
  ownerId: number
  /** Whether this thread is the slab's one lock-free reader (records hits and hit counters). */
  recordsHits: boolean
  lockTimeoutMs?: number
  /** Largest value accepted, bytes (the configured limit; the format allows more). */
  maxValueBytes?: number
  /**
   * An item is moved to its LRU head at most about once per this many ms (config
   * `lru.bumpInterval`; default DEFAULT_BUMP_INTERVAL_MS, 60 s). 0 = every hit is recorded
   * (exact LRU). Every store attached to one slab must use the same value: the one that links
   * or bumps an item stamps the epoch the reader compares. Throws RangeError if not a
   * non-negative integer.
   */
  bumpIntervalMs?: number
}

/** Options of a write; one reused instance per caller. */
export class WriteOptions {
  mode: SetMode = SetMode.SET
  flags = 0
  /** Absolute expiry in ms; 0 = none. Ignored when keepTtl finds an existing item. */
  expiryMs = 0
  keepTtl = false
  /** For SetMode.CAS. */
  casExpected = 0
  /**
   * Tags of the new item (replacing the old item's); null or empty = none. APPEND, PREPEND and
   * APPEND_OR_SET onto an existing item keep its tags and content type and ignore these two.
   * Duplicates are stored once. At most MAX_ITEM_TAGS, each at most MAX_KEY_BYTES.
   */
  tags: readonly Uint8Array[] | null = null
  /** Content type stored with the new item; null or empty = none; at most MAX_CONTENT_TYPE_BYTES. */
  contentType: Uint8Array | null = null
}

const READ_RETRIES = 64
/** incr deltas the in-place number path takes (BigInt, compared without allocating). */
const SAFE_DELTA = BigInt(SAFE_COUNTER)

export class SlabStore {
  readonly memory: SlabMemory
  readonly lock: SlabLock
  readonly index: HashIndex
  readonly allocator: SlabAllocator
  readonly wheel: TimingWheel
  readonly clock: Clock
  /** CAS of the item the last successful write stored. */
  lastCas = 0
  /** Value after the last successful incr. */
  lastCounter = 0n
  /** Items the last flushStep or invalidateTag removed. */
  lastRemoved = 0
  /** Members invalidateTag took off the tag's list in its last call (removed or expired). */
  lastTagProcessed = 0

  readonly #words: Uint32Array
  readonly #doubles: Float64Array
  readonly #bytes: Buffer
  readonly #recordsHits: boolean
  readonly #maxValueBytes: number
  /** The current bump window's epoch (read by #hit, stamped by #linkItem and the hit drain). */
  readonly #bump: BumpEpoch
  readonly #expire: (ref: number) => void
  #scratch: Buffer = Buffer.allocUnsafe(256)
  /** Tag records and the extension a write is preparing (slab-tags.ts). */
  readonly #tags: SlabTags
  /** Item and chunk allocation, page reclaim, evict-ahead, rebalance, hit draining (slab-reclaim.ts). */
  readonly #reclaim: SlabReclaim
  /** Tenant byte quotas: making room before a write, trimming after it and in maintenance (slab-quota.ts). */
  readonly #quota: SlabQuota
  /** Items removed by this store (any cause); lets a write skip re-finding an item it found. */
  #removals = 0
  /** Optional fault injection for crash tests: called at named points inside mutations. */
  faultHook: ((point: string) => void) | null = null

  private constructor (memory: SlabMemory, options: SlabStoreOptions) {
    this.memory = memory
    this.clock = options.clock
    this.lock = new SlabLock(memory, options.ownerId, options.lockTimeoutMs ?? 200)
    this.index = new HashIndex(memory)
    this.allocator = new SlabAllocator(memory, this.lock)
    this.wheel = new TimingWheel(memory)
    this.#words = memory.words
    this.#doubles = memory.doubles
    this.#bytes = memory.bytes
    this.#recordsHits = options.recordsHits
    this.#maxValueBytes = options.maxValueBytes ?? 64 * 1024 * 1024
    this.#bump = new BumpEpoch(options.clock, options.bumpIntervalMs ?? DEFAULT_BUMP_INTERVAL_MS)
    this.#tags = new SlabTags(memory, this.index, this.allocator, {
      allocChunk: (cls: number) => this.#reclaim.allocChunk(cls),
      evict: (ref: number) => { this.#evict(ref) }
    })
    const host = { evict: (ref: number) => { this.#evict(ref) } }
    this.#reclaim = new SlabReclaim(memory, this.allocator, this.#tags, host, this.#bump)
    this.#quota = new SlabQuota(memory, this.allocator, this.index, this.#tags, this.#reclaim, host)
    this.#expire = (ref: number) => {
      this.#countRemoval(ref, T_EXPIRATIONS, H_EXPIRATIONS)
      this.#removeItem(ref, false)
    }
  }

  /** Formats `sab` (zeroed, freshly created) as an empty slab and opens it. */
  static create (sab: SharedArrayBuffer, options: SlabStoreOptions): SlabStore {
    const nowMs = options.clock.nowMs()
    const store = new SlabStore(SlabMemory.format(sab, nowMs), options)
    store.allocator.reset()
    store.index.clear()
    store.wheel.reset(nowMs)
    store.#doubles[H_CAS_COUNTER >>> 3] = nowMs * 1024
    return store
  }

  /** How often at most an item is moved to its LRU head, ms (0: on every hit). */
  get bumpIntervalMs (): number { return this.#bump.intervalMs }

  /** Opens a slab another thread formatted. Does not repair: the shard set calls `repairHeld` when a holder died. */
  static attach (sab: SharedArrayBuffer, options: SlabStoreOptions): SlabStore {
    return new SlabStore(SlabMemory.attach(sab), options)
  }

  // ── reads (lock-free) ────────────────────────────────────────────────────────────────

  /**
   * Reads (tenant, key). Returns OK (value and metadata in `out`), NOT_FOUND, BUSY (the lock
   * fallback timed out), KEY_TOO_LARGE or BAD_TENANT. With `copyValue` false only the metadata
   * is filled. Allocates only to grow `out.value`.
   */
  get (tenantId: number, key: Uint8Array, hash: number, out: ReadResult, copyValue = true): StoreStatus {
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    const lock = this.lock
    for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
      const seq = lock.readSeq()
      if ((seq & 1) !== 0) continue
      const ref = this.index.findGuarded(tenantId, key, hash)
      if (ref === TORN) continue
      if (ref === 0) {
        if (lock.readSeq() !== seq) continue
        return this.#miss(tenantId)
      }
      const expiryMs = this.#doubles[ref + F_EXPIRY]!
      if (expiryMs !== 0 && expiryMs <= this.clock.nowMs()) {
        if (lock.readSeq() !== seq) continue
        return this.#miss(tenantId)
      }
      if (!readItem(this.memory, this.#maxValueBytes, ref, key.length, out, copyValue, true)) continue
      out.expiryMs = expiryMs
      if (lock.readSeq() !== seq) continue
      return this.#hit(tenantId, ref)
    }
    // A writer kept the seqlock busy: read under the lock instead (bounded wait).
    if (!lock.acquire()) return StoreStatus.BUSY
    try {
      const ref = this.#findLive(tenantId, key, hash, false)
      if (ref === 0) return this.#miss(tenantId)
      readItem(this.memory, this.#maxValueBytes, ref, key.length, out, copyValue, false)
      out.expiryMs = this.#doubles[ref + F_EXPIRY]!
      return this.#hit(tenantId, ref)
    } finally {
      lock.release()
    }
  }

  /**
   * Whether (tenant, key) is present and unexpired: OK or NOT_FOUND; BUSY if the lock
   * fallback timed out (a stuck shard must not look like an absent key); KEY_TOO_LARGE or
   * BAD_TENANT for invalid input. Lock-free; not counted as a hit.
   */
  has (tenantId: number, key: Uint8Array, hash: number): StoreStatus {
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
      const seq = this.lock.readSeq()
      if ((seq & 1) !== 0) continue
      const ref = this.index.findGuarded(tenantId, key, hash)
      if (ref === TORN) continue
      const present = ref !== 0 && this.#unexpired(ref)
      if (this.lock.readSeq() === seq) return present ? StoreStatus.OK : StoreStatus.NOT_FOUND
    }
    if (!this.lock.acquire()) return StoreStatus.BUSY
    try {
      return this.#findLive(tenantId, key, hash, false) !== 0 ? StoreStatus.OK : StoreStatus.NOT_FOUND
    } finally {
      this.lock.release()
    }
  }

  // ── writes (under the lock) ──────────────────────────────────────────────────────────

  /**
   * Stores `value` under (tenant, key) as `options.mode` says. Returns OK, NOT_STORED (ADD,
   * REPLACE, APPEND, PREPEND conditions), NOT_FOUND / EXISTS (CAS), KEY_TOO_LARGE,
   * VALUE_TOO_LARGE, OUT_OF_MEMORY, QUOTA_EXCEEDED (the item alone is larger than the tenant's
   * quota), BAD_TENANT or BUSY. On OK, `lastCas` is the new CAS. May evict other items (only the
   * tenant's own when it is over its quota), and may block up to the lock timeout.
   */
  set (tenantId: number, key: Uint8Array, hash: number, value: Uint8Array, options: WriteOptions): StoreStatus {
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    if (value.length > this.#maxValueBytes) return StoreStatus.VALUE_TOO_LARGE
    const tags = options.tags
    if (tags !== null) {
      if (tags.length > MAX_ITEM_TAGS) return StoreStatus.BAD_METADATA
      for (let i = 0; i < tags.length; i++) if (tags[i]!.length > MAX_KEY_BYTES) return StoreStatus.BAD_METADATA
    }
    if (options.contentType !== null && options.contentType.length > MAX_CONTENT_TYPE_BYTES) return StoreStatus.BAD_METADATA
    if (!this.#enter()) return StoreStatus.BUSY
    try {
      return this.#set(tenantId, key, hash, value, options)
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * Like `get` (value, metadata and content type), plus copies of the item's tag names in
   * `out.tags`, read under the lock so that tags and value are one snapshot. Allocates the tag
   * copies (a cold path). Returns OK, NOT_FOUND, BUSY, KEY_TOO_LARGE or BAD_TENANT.
   */
  getWithTags (tenantId: number, key: Uint8Array, hash: number, out: ReadResult): StoreStatus {
    out.tags = []
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    if (!this.lock.acquire()) return StoreStatus.BUSY
    try {
      const ref = this.#findLive(tenantId, key, hash, false)
      if (ref === 0) return this.#miss(tenantId)
      readItem(this.memory, this.#maxValueBytes, ref, key.length, out, true, false)
      out.expiryMs = this.#doubles[ref + F_EXPIRY]!
      if ((this.#words[ref * 2 + I_META]! & META_EXT) !== 0) this.#tags.names(ref, key.length, out.tags)
      return this.#hit(tenantId, ref)
    } finally {
      this.lock.release()
    }
  }

  /**
   * Tag invalidation, one bounded slice: removes the members of tag (tenant, tag) oldest first
   * (new members join at the head, so a concurrent writer cannot starve the walk), at most
   * `maxItems` per call, under one lock hold. O(members taken). Returns the members left
   * (0: the tag has none and its record is gone), or -1 if the lock timed out. `lastRemoved`
   * counts the live items removed (as deletes), `lastTagProcessed` every member taken (expired
   * ones count as expirations). Invalid tenant or tag: 0, nothing removed.
   */
  invalidateTag (tenantId: number, tag: Uint8Array, hash: number, maxItems: number): number {
    this.lastRemoved = 0
    this.lastTagProcessed = 0
    if (this.#checkKey(tenantId, tag) !== StoreStatus.OK) return 0
    if (!this.#enter()) return -1
    try {
      const record = this.index.findRecord(tenantId, tag, hash)
      if (record === 0) return 0
      const words = this.#words
      for (;;) {
        const count = words[record * 2 + R_COUNT]!
        if (this.lastTagProcessed >= maxItems) return count
        const owner = words[words[record * 2 + R_TAIL]! * 2 + N_OWNER]!
        this.lastTagProcessed++
        if (this.#unexpired(owner)) {
          this.#discard(owner, T_DELETES, -1)
          this.lastRemoved++
        } else {
          this.#discard(owner, T_EXPIRATIONS, H_EXPIRATIONS)
        }
        // The last member's removal freed the record.
        if (count === 1) return 0
      }
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * Removes (tenant, key). Returns OK, NOT_FOUND, BUSY, KEY_TOO_LARGE or BAD_TENANT. On OK,
   * `lastCas` is the tombstone stamp: a fresh stamp from the CAS counter, above the removed item's CAS.
   */
  delete (tenantId: number, key: Uint8Array, hash: number): StoreStatus {
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    if (!this.#enter()) return StoreStatus.BUSY
    try {
      const ref = this.#findLive(tenantId, key, hash)
      if (ref === 0) return StoreStatus.NOT_FOUND
      this.#discard(ref, T_DELETES, -1)
      // The tombstone's stamp: above the removed item's CAS (the counter is ≥ every CAS issued
      // or applied here), so a replica applying it LWW removes exactly this version or older.
      this.lastCas = this.#stamp()
      return StoreStatus.OK
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * Sets the expiry of (tenant, key) to `expiryMs` (0 = persist). Returns OK, NOT_FOUND, BUSY,
   * KEY_TOO_LARGE or BAD_TENANT. On OK `lastCas` is the item's CAS, which stays as it was
   * (memcached's touch keeps it) unless `restamp`: then the item gets a fresh CAS, because a
   * replicated touch is a new version that replicas must prefer to the untouched one (LWW).
   */
  touch (tenantId: number, key: Uint8Array, hash: number, expiryMs: number, restamp = false): StoreStatus {
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    if (!this.#enter()) return StoreStatus.BUSY
    try {
      const ref = this.#findLive(tenantId, key, hash)
      if (ref === 0) return StoreStatus.NOT_FOUND
      if (this.#doubles[ref + F_EXPIRY] !== 0) this.wheel.remove(ref)
      this.#doubles[ref + F_EXPIRY] = expiryMs
      if (expiryMs !== 0) this.wheel.insert(ref)
      // Readers see the new CAS and expiry together: the seqlock is odd until #leave.
      if (restamp) this.#doubles[ref + F_CAS] = this.#stamp()
      this.lastCas = this.#doubles[ref + F_CAS]!
      return StoreStatus.OK
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * Adds `delta` to the decimal integer stored at (tenant, key), keeping flags and expiry.
   * REDIS: signed 64-bit, absent counts as 0, OVERFLOW on leaving the range. MEMCACHED:
   * unsigned 64-bit, absent is NOT_FOUND, incr wraps, decr (negative delta) stops at 0.
   * Returns OK (new value in `lastCounter`), NOT_FOUND, NOT_NUMERIC, OVERFLOW,
   * OUT_OF_MEMORY, QUOTA_EXCEEDED, KEY_TOO_LARGE, BAD_TENANT or BUSY.
   */
  incr (tenantId: number, key: Uint8Array, hash: number, delta: bigint, mode: CounterMode): StoreStatus {
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    if (!this.#enter()) return StoreStatus.BUSY
    try {
      const ref = this.#findLive(tenantId, key, hash)
      // Fast path: a counter within ±(2^53 − 1) before and after, whose new digits fit the
      // item's chunk, is rewritten in place with number arithmetic (no BigInt parse, string or
      // new item). Anything else (longer counters, wrap, overflow, errors) takes the exact path.
      if (ref !== 0 && delta >= -SAFE_DELTA && delta <= SAFE_DELTA) {
        const small = smallCounter(this.memory, ref, mode)
        if (small !== NOT_SMALL && this.#incrInPlace(ref, small, Number(delta), mode)) return StoreStatus.OK
      }
      let current = 0n
      let flags = 0
      let expiryMs = 0
      if (ref === 0) {
        if (mode === CounterMode.MEMCACHED) return StoreStatus.NOT_FOUND
      } else {
        const parsed = parseCounter(this.memory, ref, mode)
        if (parsed === null) return StoreStatus.NOT_NUMERIC
        current = parsed
        flags = this.#words[ref * 2 + I_FLAGS]!
        expiryMs = this.#doubles[ref + F_EXPIRY]!
      }
      let next = current + delta
      if (mode === CounterMode.REDIS) {
        if (next > INT64_MAX || next < INT64_MIN) return StoreStatus.OVERFLOW
      } else if (delta < 0n) {
        if (next < 0n) next = 0n
      } else {
        next &= UINT64_MASK
      }
      const text = this.#scratchFor(24)
      const length = text.write(next.toString(), 0, 'latin1')
      // The rewritten counter keeps the item's tags and content type.
      if (ref !== 0) this.#tags.keep(ref)
      const status = this.#commitNew(tenantId, key, hash, text.subarray(0, length), null, flags, expiryMs)
      if (status === StoreStatus.OK) this.lastCounter = next
      return status
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * Sets this slab's byte quota for `tenantId` (chunk bytes, as `tenantStats().bytes` counts
   * them; 0 = unlimited). Returns OK, BAD_TENANT or BUSY; throws RangeError if `quotaBytes` is
   * not a non-negative safe integer (API misuse). Evicts nothing itself: a tenant left over a
   * lowered quota is trimmed by its next write and by the worker's maintenance.
   */
  setTenantQuota (tenantId: number, quotaBytes: number): StoreStatus {
    if (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0) throw new RangeError(`quotaBytes must be a non-negative integer; received ${quotaBytes}`)
    if ((tenantId >>> 0) !== tenantId || tenantId >= MAX_TENANTS) return StoreStatus.BAD_TENANT
    if (!this.lock.acquire()) return StoreStatus.BUSY
    try {
      this.#doubles[this.memory.tenantDouble(tenantId) + T_QUOTA] = quotaBytes
      this.#coverTenant(tenantId)
      return StoreStatus.OK
    } finally {
      this.lock.release()
    }
  }

  // ── scans and heavy work (bounded slices under the lock) ─────────────────────────────

  /**
   * Appends copies of the keys of `tenantId` (-1: every tenant) found in buckets
   * [cursor, cursor + maxBuckets) to `keys`. Returns the next cursor, 0 when the table is done.
   * Allocates the key copies. BUSY cannot be returned: -1 means the lock timed out.
   */
  scan (tenantId: number, cursor: number, maxBuckets: number, keys: Buffer[]): number {
    if (!this.lock.acquire()) return -1
    try {
      const nowMs = this.clock.nowMs()
      const bucketCount = this.memory.layout.bucketCount
      const end = Math.min(bucketCount, cursor + maxBuckets)
      for (let bucket = cursor; bucket < end; bucket++) {
        for (let ref = this.index.bucketHead(bucket); ref !== 0; ref = this.#words[ref * 2 + 2]!) {
          const meta = this.#words[ref * 2 + I_META]!
          if ((meta & META_TAG_RECORD) !== 0) continue
          if (tenantId >= 0 && metaTenant(meta) !== tenantId) continue
          const expiryMs = this.#doubles[ref + F_EXPIRY]!
          if (expiryMs !== 0 && expiryMs <= nowMs) continue
          const start = ref * 8 + ITEM_HEADER_BYTES
          keys.push(Buffer.from(this.#bytes.subarray(start, start + metaKeyLength(meta))))
        }
      }
      return end >= bucketCount ? 0 : end
    } finally {
      this.lock.release()
    }
  }

  /**
   * Removes every item of `tenantId` (-1: all) in buckets [cursor, cursor + maxBuckets).
   * Returns the next cursor (0 when done; the count removed is in `lastRemoved`) or -1 if the
   * lock timed out.
   */
  flushStep (tenantId: number, cursor: number, maxBuckets: number): number {
    if (!this.#enter()) return -1
    try {
      this.lastRemoved = 0
      const end = Math.min(this.memory.layout.bucketCount, cursor + maxBuckets)
      for (let bucket = cursor; bucket < end; bucket++) {
        let ref = this.index.bucketHead(bucket)
        while (ref !== 0) {
          const next = this.#words[ref * 2 + 2]!
          const meta = this.#words[ref * 2 + I_META]!
          if ((meta & META_TAG_RECORD) === 0 && (tenantId < 0 || metaTenant(meta) === tenantId)) {
            this.#discard(ref, T_DELETES, -1)
            this.lastRemoved++
            // The discard may have freed a tag record chained after this item (its last member
            // left): `next` may be gone, so walk the bucket again from its head.
            ref = this.index.bucketHead(bucket)
            continue
          }
          ref = next
        }
      }
      return end >= this.memory.layout.bucketCount ? 0 : end
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * One maintenance slice (shard worker): applies recorded hits to the LRU, advances the TTL
   * wheel to `nowMs`, trims tenants over a (lowered) quota, and moves a page to a class under
   * eviction pressure. Does at most about `budget` units of work; returns the units done (budget
   * means "call again soon"), or -1 if the lock timed out.
   */
  maintain (nowMs: number, budget: number): number {
    if (!this.#enter()) return -1
    try {
      let done = this.#reclaim.applyHits()
      const wheelBudget = Math.max(1, budget - done)
      done += wheelBudget - this.wheel.advance(nowMs, wheelBudget, this.#expire)
      done += this.#quota.trimAll(Math.max(1, budget - done))
      if (this.allocator.freePages === 0) {
        done += this.#reclaim.evictAhead(Math.max(1, budget - done))
        done += this.#reclaim.rebalance()
      }
      return done
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * Repairs the slab after its lock holder died or threw mid-mutation: finishes or undoes the
   * journaled mutation and rebuilds every derived structure from the items themselves. The
   * caller holds the lock (it seized it from the dead owner, or already held it).
   */
  repairHeld (): void {
    // Readers must see seq odd for the whole rebuild, and a different even value after it. A
    // dead holder may have left seq odd (it died inside a write) or even: make it odd only if
    // it is even, then end the write. (beginWrite on an odd seq would make it even while the
    // rebuild runs, and a reader could validate a torn read against it.)
    if ((this.lock.readSeq() & 1) === 0) this.lock.beginWrite()
    rebuildSlab(this, this.clock.nowMs())
    this.lock.endWrite()
  }

  // ── counters (read without the lock; exact under quiescence) ─────────────────────────

  stats (): SlabStats { return readSlabStats(this.memory, this.allocator, this.wheel) }

  /** Counters of one tenant (items, bytes, hits, misses, sets, deletes, evictions, expirations) and its quota here. */
  tenantStats (tenantId: number): TenantStats { return readTenantStats(this.memory, tenantId) }

  // ── internals: the caller holds the lock unless the name says otherwise ──────────────

  #enter (): boolean {
    if (!this.lock.acquire()) return false
    this.lock.beginWrite()
    return true
  }

  #leave (): void {
    this.lock.endWrite()
    this.lock.release()
  }

  /** An exception escaped a mutation: repair before the lock is released (by #leave). */
  #abort (): void {
    this.#tags.clear()
    rebuildSlab(this, this.clock.nowMs())
  }

  /**
   * Validates a public operation's tenant and key. Returns OK, KEY_TOO_LARGE or BAD_TENANT (an
   * integer from 0 to MAX_TENANTS − 1: the tenant indexes the counter table, so anything else
   * would write outside it).
   */
  #checkKey (tenantId: number, key: Uint8Array): StoreStatus {
    if (key.length > MAX_KEY_BYTES) return StoreStatus.KEY_TOO_LARGE
    if ((tenantId >>> 0) !== tenantId || tenantId >= MAX_TENANTS) return StoreStatus.BAD_TENANT
    return StoreStatus.OK
  }

  /**
   * Exact lookup under the lock; 0 if absent or expired. With `reclaim` (the caller is inside
   * a write, seq odd) an expired item is removed on the spot: lazy expiry.
   */
  #findLive (tenantId: number, key: Uint8Array, hash: number, reclaim = true): number {
    const ref = this.index.find(tenantId, key, hash)
    if (ref === 0 || this.#unexpired(ref)) return ref
    if (reclaim) this.#discard(ref, T_EXPIRATIONS, H_EXPIRATIONS)
    return 0
  }

  #unexpired (ref: number): boolean {
    const expiryMs = this.#doubles[ref + F_EXPIRY]!
    return expiryMs === 0 || expiryMs > this.clock.nowMs()
  }

  #set (tenantId: number, key: Uint8Array, hash: number, value: Uint8Array, options: WriteOptions): StoreStatus {
    const mode = options.mode
    const old = this.#findLive(tenantId, key, hash)
    // If no item is removed from here to the commit, `old` is still the key's item (or none).
    const removals = this.#removals
    let flags = options.flags
    let expiryMs = options.expiryMs
    if (old !== 0 && options.keepTtl) expiryMs = this.#doubles[old + F_EXPIRY]!
    switch (mode) {
      case SetMode.SET: break
      case SetMode.ADD: if (old !== 0) return StoreStatus.NOT_STORED; break
      case SetMode.REPLACE: if (old === 0) return StoreStatus.NOT_STORED; break
      case SetMode.CAS:
        if (old === 0) return StoreStatus.NOT_FOUND
        if (this.#doubles[old + F_CAS] !== options.casExpected) return StoreStatus.EXISTS
        break
      default: {
        // APPEND, PREPEND, APPEND_OR_SET: the old value is copied out first, because making
        // room for the new item may evict the old one.
        if (old === 0) {
          if (mode !== SetMode.APPEND_OR_SET) return StoreStatus.NOT_STORED
          break
        }
        flags = this.#words[old * 2 + I_FLAGS]!
        expiryMs = this.#doubles[old + F_EXPIRY]!
        const oldLength = this.#words[old * 2 + I_VALUE_LEN]!
        if (oldLength + value.length > this.#maxValueBytes) return StoreStatus.VALUE_TOO_LARGE
        const saved = this.#scratchFor(oldLength)
        copyValue(this.memory, old, metaKeyLength(this.#words[old * 2 + I_META]!), saved, 0)
        const oldValue = saved.subarray(0, oldLength)
        this.#tags.keep(old)
        return mode === SetMode.PREPEND
          ? this.#commitNew(tenantId, key, hash, value, oldValue, flags, expiryMs)
          : this.#commitNew(tenantId, key, hash, oldValue, value, flags, expiryMs)
      }
    }
    if (old !== 0 && (options.tags === null || options.tags.length === 0) &&
      this.#overwriteInPlace(old, tenantId, value, flags, expiryMs, options.contentType)) return StoreStatus.OK
    if (!this.#tags.reserve(tenantId, options.tags, options.contentType)) return StoreStatus.OUT_OF_MEMORY
    return this.#commitNew(tenantId, key, hash, value, null, flags, expiryMs, old, removals)
  }

  /**
   * SET / REPLACE / CAS over live item `ref` whose new value needs the same size class: the
   * value, flags and expiry are rewritten in the item's own chunk instead of allocating a new
   * item and unlinking the old one (no allocation, no hash-chain or LRU unlink/link: a plain
   * overwrite otherwise pays cache misses on the old item's LRU neighbours and a cold chunk).
   * The item's extension block, if any, stays as it is, so it applies only when the write's
   * content type is the one stored (both none, or the same bytes: an HTTP client re-PUTting a
   * key sends the same Content-Type) and neither carries tags. Returns false, touching
   * nothing, when it does not apply: tags, another content type, a chunked value, a tenant
   * with a quota (quota trimming stays with #commitNew), or a new value of another size class
   * (never keeps an oversized chunk).
   * Same outcome as the commit: a fresh CAS, a set counted, the item at its LRU head — moved
   * at most once per bump window, like a hit (bump-epoch.ts). Under the lock with the seqlock
   * odd, so lock-free readers retry rather than see a half-written value. Journaled as a
   * delete: a holder dying mid-copy leaves repair to drop the key, never to serve a torn
   * value (the write was not acknowledged; a cache may lose an entry, not corrupt one).
   */
  #overwriteInPlace (ref: number, tenantId: number, value: Uint8Array, flags: number, expiryMs: number, contentType: Uint8Array | null): boolean {
    const words = this.#words
    const doubles = this.#doubles
    const meta = words[ref * 2 + I_META]!
    if ((meta & META_CHUNKED) !== 0) return false
    if (doubles[this.memory.tenantDouble(tenantId) + T_QUOTA]! > 0) return false
    const keyLength = metaKeyLength(meta)
    const contentTypeLength = contentType === null ? 0 : contentType.length
    if ((meta & META_EXT) === 0 ? contentTypeLength !== 0 : !this.#sameExtension(ref, keyLength, contentType)) return false
    const inlineBytes = newDataOffset(keyLength, 0, contentTypeLength) + value.length
    const memory = this.memory
    const cls = memory.pageClass[memory.pageOf(ref)]!
    if (inlineBytes > MAX_CHUNK_BYTES || this.allocator.classFor(inlineBytes) !== cls) return false
    const oldLength = words[ref * 2 + I_VALUE_LEN]!
    this.lock.journal(J_DELETE, ref, 0)
    words[ref * 2 + I_VALUE_LEN] = value.length
    writeValue(memory, ref, keyLength, value, 0)
    this.faultHook?.('set:in-place')
    words[ref * 2 + I_FLAGS] = flags
    const oldExpiryMs = doubles[ref + F_EXPIRY]!
    if (oldExpiryMs !== expiryMs) {
      if (oldExpiryMs !== 0) this.wheel.remove(ref)
      doubles[ref + F_EXPIRY] = expiryMs
      if (expiryMs !== 0) this.wheel.insert(ref)
    }
    const cas = this.#stamp()
    doubles[ref + F_CAS] = cas
    // Inline and not chunked: the item's bytes change by the value's change only.
    doubles[H_ITEM_BYTES >>> 3]! += value.length - oldLength
    this.#moveToHead(ref, meta, cls)
    this.lock.journalClear()
    doubles[memory.tenantDouble(tenantId) + T_SETS]!++
    this.lastCas = cas
    return true
  }

  /**
   * Writes a new item holding `first` followed by `second` (may be null), then atomically (for
   * readers: under the odd seqlock; for repair: journaled) replaces whatever item holds the key.
   * Its CAS is a fresh stamp, or `fixedCas` when not 0 (restored and replicated versions); the
   * counter never moves down, so later fresh stamps stay above both.
   */
  #commitNew (tenantId: number, key: Uint8Array, hash: number, first: Uint8Array, second: Uint8Array | null,
    flags: number, expiryMs: number, knownOld = -1, removalsAtFind = -1, fixedCas = 0): StoreStatus {
    const valueLength = first.length + (second === null ? 0 : second.length)
    const quotaBytes = this.#doubles[this.memory.tenantDouble(tenantId) + T_QUOTA]!
    if (quotaBytes > 0 && !this.#quota.makeRoom(tenantId, key, hash, valueLength, quotaBytes)) {
      // The refused write's tag reservations must go too, or their records never empty.
      this.#tags.release()
      return StoreStatus.QUOTA_EXCEEDED
    }
    const ref = this.#reclaim.allocItem(tenantId, key.length, valueLength)
    if (ref === 0) {
      this.#tags.release()
      return StoreStatus.OUT_OF_MEMORY
    }
    const words = this.#words
    const doubles = this.#doubles
    const cas = fixedCas !== 0 ? fixedCas : this.#stamp()
    this.#raiseCounter(cas)
    words[ref * 2 + I_FLAGS] = flags
    doubles[ref + F_EXPIRY] = expiryMs
    doubles[ref + F_CAS] = cas
    this.#bytes.set(key, ref * 8 + ITEM_HEADER_BYTES)
    const tags = this.#tags
    const tagCount = tags.count
    // Nodes name their record and owner now; they join the record lists at commit.
    if ((words[ref * 2 + I_META]! & META_EXT) !== 0) tags.writeNodes(ref, key.length)
    tags.clear()
    writeValue(this.memory, ref, key.length, first, 0)
    if (second !== null) writeValue(this.memory, ref, key.length, second, first.length)
    this.faultHook?.('set:written')
    // The old item as the caller found it (`knownOld`, when it says so) if nothing was removed
    // since (#removals counts every item removal); else re-find it: making room may have
    // evicted it.
    const old = knownOld !== -1 && this.#removals === removalsAtFind ? knownOld : this.index.find(tenantId, key, hash)
    this.lock.journal(J_SET_COMMIT, ref, old)
    // An overwrite (neither a delete nor an eviction); the old item's key is this key, so its
    // hash is known and not recomputed.
    if (old !== 0) this.#removeItem(old, true, hash)
    this.faultHook?.('set:old-removed')
    this.#linkItem(ref, hash)
    // The reservations taken for this write become the item's memberships.
    if (tagCount !== 0) tags.link(ref, key.length)
    this.lock.journalClear()
    if (quotaBytes > 0) this.#quota.trimTenant(tenantId, quotaBytes, ref, Infinity)
    const tenantBase = this.memory.tenantDouble(tenantId)
    doubles[tenantBase + T_SETS]!++
    this.lastCas = cas
    return StoreStatus.OK
  }

  // ── tenants and removal (quotas in slab-quota.ts; victim policy in tenant-lru.ts) ────

  #coverTenant (tenantId: number): void { coverTenant(this.memory, tenantId) }

  #evict (ref: number): void {
    const cls = this.memory.pageClass[this.memory.pageOf(ref)]!
    this.#doubles[this.memory.classDouble(cls) + C_EVICTIONS_F64]!++
    this.#discard(ref, T_EVICTIONS, H_EVICTIONS)
  }

  /**
   * Removes live item `ref` as one journaled mutation (repair completes it if we die midway),
   * counting it in its tenant's `tenantField` and, if ≥ 0, the header total `headerField`.
   */
  #discard (ref: number, tenantField: number, headerField: number): void {
    this.#countRemoval(ref, tenantField, headerField)
    this.lock.journal(J_DELETE, ref, 0)
    this.#removeItem(ref, true)
    this.lock.journalClear()
  }

  /**
   * Links PENDING item `ref` everywhere and makes it live. It joins its LRU at the head, so it
   * is stamped with the current bump epoch: hits in this window need not move it again.
   */
  #linkItem (ref: number, hash: number): void {
    const words = this.#words
    const doubles = this.#doubles
    const meta = words[ref * 2 + I_META]!
    words[ref * 2 + I_META] = withBumpEpoch((meta & ~(3 << META_KIND_SHIFT)) | (KIND_ITEM << META_KIND_SHIFT), this.#bump.current())
    this.index.link(ref, hash)
    this.#coverTenant(metaTenant(meta))
    this.allocator.lruPush(this.memory.pageClass[this.memory.pageOf(ref)]!, metaTenant(meta), ref)
    if (doubles[ref + F_EXPIRY] !== 0) this.wheel.insert(ref)
    const chunkBytes = chunkBytesHeld(this.memory, ref)
    const tenantBase = this.memory.tenantDouble(metaTenant(meta))
    doubles[tenantBase + T_ITEMS]!++
    doubles[tenantBase + T_BYTES]! += chunkBytes
    doubles[H_ITEM_COUNT >>> 3]!++
    doubles[H_ITEM_BYTES >>> 3]! += itemBytes(this.memory, ref)
    doubles[H_CHUNK_BYTES >>> 3]! += chunkBytes
  }

  /**
   * Unlinks live item `ref` everywhere and frees its chunks. Accounting included. `knownHash`:
   * the hash of its (tenant, key) when the caller has it (-1: computed here).
   */
  #removeItem (ref: number, onWheel: boolean, knownHash = -1): void {
    const words = this.#words
    const doubles = this.#doubles
    const meta = words[ref * 2 + I_META]!
    const keyLength = metaKeyLength(meta)
    const tenantId = metaTenant(meta)
    const hash = knownHash !== -1 ? knownHash : keyHash(tenantId, this.#bytes, ref * 8 + ITEM_HEADER_BYTES, keyLength)
    this.#removals++
    this.index.unlink(ref, hash)
    this.allocator.lruRemove(this.memory.pageClass[this.memory.pageOf(ref)]!, tenantId, ref)
    if (onWheel && doubles[ref + F_EXPIRY] !== 0) this.wheel.remove(ref)
    const chunkBytes = chunkBytesHeld(this.memory, ref)
    const tenantBase = this.memory.tenantDouble(tenantId)
    doubles[tenantBase + T_ITEMS]!--
    doubles[tenantBase + T_BYTES]! -= chunkBytes
    doubles[H_ITEM_COUNT >>> 3]!--
    doubles[H_ITEM_BYTES >>> 3]! -= itemBytes(this.memory, ref)
    doubles[H_CHUNK_BYTES >>> 3]! -= chunkBytes
    if ((meta & META_CHUNKED) !== 0) {
      const listWord = ref * 2 + chunkListAt(dataOffset(words, ref, meta)) / 4
      const count = Math.ceil(words[ref * 2 + I_VALUE_LEN]! / CHUNK_PAYLOAD_BYTES)
      for (let i = 0; i < count; i++) this.allocator.free(words[listWord + i]!)
    }
    if ((meta & META_EXT) !== 0) this.#tags.unlink(ref, keyLength)
    this.allocator.free(ref)
  }

  /** Counts a removal of `ref` in its tenant's `tenantField` and, if ≥ 0, a header total. */
  #countRemoval (ref: number, tenantField: number, headerField: number): void {
    const tenantBase = this.memory.tenantDouble(metaTenant(this.#words[ref * 2 + I_META]!))
    this.#doubles[tenantBase + tenantField]!++
    if (headerField >= 0) this.#doubles[headerField >>> 3]!++
  }

  #hit (tenantId: number, ref: number): StoreStatus {
    const doubles = this.#doubles
    doubles[H_HITS >>> 3]!++
    doubles[this.memory.tenantDouble(tenantId) + T_HITS]!++
    if (this.#recordsHits) {
      const words = this.#words
      // Rate limit (bump-epoch.ts): an item linked or bumped in this window stays where it is.
      // Only read, never written here: the meta word belongs to the lock holder. A racing
      // free or reuse of `ref` makes this compare garbage, which only records or drops one hit.
      if (metaBumpEpoch(words[ref * 2 + I_META]!) === this.#bump.current()) return StoreStatus.OK
      const head = words[HIT_HEAD]!
      // Full ring: drop the hit (the LRU is approximate by design; maintenance drains it).
      if (((head - Atomics.load(this.memory.atomicWords, HIT_TAIL)) >>> 0) < HIT_RING_SLOTS) {
        words[HIT_RING + (head & HIT_MASK)] = ref
        Atomics.store(this.memory.atomicWords, HIT_HEAD, (head + 1) | 0) // release: slot written first
      }
    }
    return StoreStatus.OK
  }

  #miss (tenantId: number): StoreStatus {
    this.#doubles[H_MISSES >>> 3]!++
    this.#doubles[this.memory.tenantDouble(tenantId) + T_MISSES]!++
    return StoreStatus.NOT_FOUND
  }

  /**
   * incr's in-place rewrite of live counter `ref` (its value is `current`): false, touching
   * nothing, when the result leaves ±SAFE_COUNTER or its digits do not fit the chunk. Like the
   * rewrite it replaces, it takes a new CAS and counts a set; it moves the item to its LRU head
   * at most once per bump window (#moveToHead); flags, expiry, tags and content type stay. Under the lock with the seqlock odd, so
   * lock-free readers retry rather than see half-written digits. Not journaled: a holder dying
   * mid-rewrite leaves a well-formed item whose digits may be mixed, as a torn memcached
   * in-place incr would.
   */
  #incrInPlace (ref: number, current: number, delta: number, mode: CounterMode): boolean {
    let next = current + delta
    // memcached decr stops at 0 (current ≥ 0 there, so only a decrement gets below).
    if (mode === CounterMode.MEMCACHED && next < 0) next = 0
    if (!(next >= -SAFE_COUNTER && next <= SAFE_COUNTER)) return false
    const words = this.#words
    const doubles = this.#doubles
    const length = counterLength(next)
    const data = dataOffset(words, ref, words[ref * 2 + I_META]!)
    if (data + length > this.memory.chunkBytesOf(ref)) return false
    const oldLength = words[ref * 2 + I_VALUE_LEN]!
    this.faultHook?.('incr:in-place')
    writeCounter(this.memory, ref, next, length)
    doubles[H_ITEM_BYTES >>> 3]! += length - oldLength
    const cas = this.#stamp()
    doubles[ref + F_CAS] = cas
    const meta = words[ref * 2 + I_META]!
    this.#moveToHead(ref, meta, this.memory.pageClass[this.memory.pageOf(ref)]!)
    doubles[this.memory.tenantDouble(metaTenant(meta)) + T_SETS]!++
    this.lastCas = cas
    this.lastCounter = BigInt(next)
    return true
  }

  /** Whether item `ref`'s extension block holds no tags and exactly `contentType` (null: none). */
  #sameExtension (ref: number, keyLength: number, contentType: Uint8Array | null): boolean {
    const words = this.#words
    if (tagCountOf(words, ref, keyLength) !== 0) return false
    const length = contentTypeLengthOf(words, ref, keyLength)
    if (length !== (contentType === null ? 0 : contentType.length)) return false
    const at = ref * 8 + contentTypeOffset(words, ref, keyLength)
    const bytes = this.#bytes
    for (let i = 0; i < length; i++) if (bytes[at + i] !== contentType![i]) return false
    return true
  }

  /**
   * A live item rewritten in place (incr, same-class overwrite) moves to its LRU head like a
   * recorded hit: at most once per bump window (bump-epoch.ts), stamped with the window's epoch.
   * Under the lock with the seqlock odd.
   */
  #moveToHead (ref: number, meta: number, cls: number): void {
    const epoch = this.#bump.current()
    if (metaBumpEpoch(meta) === epoch) return
    this.allocator.lruBump(cls, metaTenant(meta), ref)
    this.#words[ref * 2 + I_META] = withBumpEpoch(meta, epoch)
  }

  #scratchFor (bytes: number): Buffer {
    if (this.#scratch.length < bytes) this.#scratch = Buffer.allocUnsafe(Math.max(bytes, this.#scratch.length * 2))
    return this.#scratch
  }

  // ── restore (persist/) and replication (cluster/): appended so the hot paths above stay untouched ──

  /**
   * Stores an item as a snapshot recorded it: `set` with `options` (mode SET: value, flags,
   * absolute expiry, tags, content type), the new item carrying the recorded `cas` instead of
   * a fresh one (`cas` 0: a fresh one). The CAS counter moves up to `cas` if it is below, so
   * later writes still get larger CASes. Same statuses as `set`. One lookup: the item found
   * before the write is the one the commit replaces (unless making room removed items).
   */
  restoreItem (tenantId: number, key: Uint8Array, hash: number, value: Uint8Array, options: WriteOptions, cas: number): StoreStatus {
    const invalid = this.#checkVersion(tenantId, key, value, options)
    if (invalid !== StoreStatus.OK) return invalid
    if (!this.#enter()) return StoreStatus.BUSY
    try {
      return this.#setVersion(tenantId, key, hash, value, options, cas)
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * LWW apply of a replicated version: writes (value, options, CAS = cas) when the key is
   * absent (or expired) or its CAS < cas, or CAS === cas && winsTie. The version replaces the
   * item whole: `options.mode` and `keepTtl` are ignored (always SET with the given flags,
   * absolute expiry, tags and content type). A version already expired on arrival is applied
   * as the removal of the older item (nothing is stored). Bumps the slab CAS counter to ≥ cas
   * (so later local writes stamp higher), whatever the outcome once the lock is held.
   * Returns OK (applied; `lastCas` = cas), EXISTS (a newer or equal version is here, nothing
   * changed), or what `set` reports: OUT_OF_MEMORY, QUOTA_EXCEEDED, VALUE_TOO_LARGE,
   * KEY_TOO_LARGE, BAD_METADATA, BAD_TENANT, BUSY. `cas` must be positive (0 would mean "fresh stamp").
   */
  applyVersion (tenantId: number, key: Uint8Array, hash: number, value: Uint8Array, options: WriteOptions, cas: number, winsTie: boolean): StoreStatus {
    const invalid = this.#checkVersion(tenantId, key, value, options)
    if (invalid !== StoreStatus.OK) return invalid
    if (!this.#enter()) return StoreStatus.BUSY
    try {
      this.#raiseCounter(cas)
      const old = this.#findLive(tenantId, key, hash)
      if (old !== 0 && !this.#newer(old, cas, winsTie)) return StoreStatus.EXISTS
      const expiryMs = options.expiryMs
      if (expiryMs !== 0 && expiryMs <= this.clock.nowMs()) {
        // Storing it would only leave an expired item for the wheel: the version's effect is
        // that the key is gone, as its expiry would have made it on the origin.
        if (old !== 0) this.#discard(old, T_EXPIRATIONS, H_EXPIRATIONS)
        this.lastCas = cas
        return StoreStatus.OK
      }
      return this.#setVersion(tenantId, key, hash, value, options, cas)
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * LWW tombstone: removes (tenant, key) when its CAS < cas, or CAS === cas && winsTie; bumps
   * the CAS counter to ≥ cas. Returns OK (removed, counted as a delete), NOT_FOUND (absent or
   * expired), EXISTS (a newer or equal version is here, kept), BUSY, KEY_TOO_LARGE or BAD_TENANT.
   * No tombstone is kept: a version older than `cas` arriving later is applied (the caller
   * remembers recent tombstones if it must refuse such late versions).
   */
  applyDelete (tenantId: number, key: Uint8Array, hash: number, cas: number, winsTie: boolean): StoreStatus {
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    if (!this.#enter()) return StoreStatus.BUSY
    try {
      this.#raiseCounter(cas)
      const ref = this.#findLive(tenantId, key, hash)
      if (ref === 0) return StoreStatus.NOT_FOUND
      if (!this.#newer(ref, cas, winsTie)) return StoreStatus.EXISTS
      this.#discard(ref, T_DELETES, -1)
      this.lastCas = cas
      return StoreStatus.OK
    } catch (error) {
      this.#abort()
      throw error
    } finally {
      this.#leave()
    }
  }

  /**
   * The CAS of (tenant, key), 0 when absent or expired, -1 when the lock fallback timed out.
   * Lock-free like `has` (no hit, miss or LRU effect), for version comparisons (anti-entropy,
   * replication) that must not disturb the cache's statistics.
   */
  versionOf (tenantId: number, key: Uint8Array, hash: number): number {
    if (this.#checkKey(tenantId, key) !== StoreStatus.OK) return 0
    for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
      const seq = this.lock.readSeq()
      if ((seq & 1) !== 0) continue
      const ref = this.index.findGuarded(tenantId, key, hash)
      if (ref === TORN) continue
      const cas = ref !== 0 && this.#unexpired(ref) ? this.#doubles[ref + F_CAS]! : 0
      if (this.lock.readSeq() === seq) return cas
    }
    if (!this.lock.acquire()) return -1
    try {
      const ref = this.#findLive(tenantId, key, hash, false)
      return ref === 0 ? 0 : this.#doubles[ref + F_CAS]!
    } finally {
      this.lock.release()
    }
  }

  /** Validates a restored or replicated version: KEY_TOO_LARGE, BAD_TENANT, VALUE_TOO_LARGE, BAD_METADATA or OK. */
  #checkVersion (tenantId: number, key: Uint8Array, value: Uint8Array, options: WriteOptions): StoreStatus {
    const invalid = this.#checkKey(tenantId, key)
    if (invalid !== StoreStatus.OK) return invalid
    if (value.length > this.#maxValueBytes) return StoreStatus.VALUE_TOO_LARGE
    const tags = options.tags
    if (tags !== null) {
      if (tags.length > MAX_ITEM_TAGS) return StoreStatus.BAD_METADATA
      for (let i = 0; i < tags.length; i++) if (tags[i]!.length > MAX_KEY_BYTES) return StoreStatus.BAD_METADATA
    }
    if (options.contentType !== null && options.contentType.length > MAX_CONTENT_TYPE_BYTES) return StoreStatus.BAD_METADATA
    return StoreStatus.OK
  }

  /**
   * Writes (value, flags, absolute expiry, tags, content type of `options`) under the key with
   * CAS `cas`, replacing any item. The commit reuses the item found here (no second lookup)
   * unless making room removed items meanwhile.
   */
  #setVersion (tenantId: number, key: Uint8Array, hash: number, value: Uint8Array, options: WriteOptions, cas: number): StoreStatus {
    const old = this.#findLive(tenantId, key, hash)
    const removals = this.#removals
    if (!this.#tags.reserve(tenantId, options.tags, options.contentType)) return StoreStatus.OUT_OF_MEMORY
    return this.#commitNew(tenantId, key, hash, value, null, options.flags, options.expiryMs, old, removals, cas)
  }

  /** Whether a version stamped `cas` replaces live item `ref` (LWW; equal stamps: `winsTie`). */
  #newer (ref: number, cas: number, winsTie: boolean): boolean {
    const current = this.#doubles[ref + F_CAS]!
    return current < cas || (current === cas && winsTie)
  }

  /** Moves the CAS counter up to `cas` (never down). */
  #raiseCounter (cas: number): void {
    if (this.#doubles[H_CAS_COUNTER >>> 3]! < cas) this.#doubles[H_CAS_COUNTER >>> 3] = cas
  }

  /** Takes a fresh stamp from the CAS counter: max(counter + 1, nowMs × 1024). */
  #stamp (): number {
    const cas = Math.max(this.#doubles[H_CAS_COUNTER >>> 3]! + 1, this.clock.nowMs() * 1024)
    this.#doubles[H_CAS_COUNTER >>> 3] = cas
    return cas
  }
}

// Re-exported for callers that only import the store.
export { CounterMode, SetMode, StoreStatus } from './store-status.js'
export { MAX_TENANTS, PAGE_FREE }
export { ReadResult }
export type { ValueSink } from './slab-values.js'
export type { SlabStats, TenantStats }
