/**
 * SlabQuota: per-tenant byte quotas of one SlabStore. Before a write, makes room in the
 * writer's quota by evicting the tenant's OWN least recently used items (never another
 * tenant's); after it, and in maintenance, trims tenants left over a (lowered) quota. Which item
 * goes is tenant-lru.ts's policy (ownVictim); the store does the evicting (its `evict`).
 * Thread: the thread of its SlabStore; every method runs under the slab lock with the seqlock
 * odd (inside a mutation).
 * L1: no I/O, no allocation.
 */
import { ITEM_HEADER_BYTES, MAX_CHUNK_BYTES, T_BYTES, T_QUOTA } from './slab-layout.js'
import { newDataOffset } from './item-ext.js'
import { chunkBytesHeld } from './slab-values.js'
import { itemChunkBytes, ownVictim, tenantSpan } from './tenant-lru.js'
import type { HashIndex } from './hash-index.js'
import type { SlabAllocator } from './slab-allocator.js'
import type { SlabMemory } from './slab-memory.js'
import type { ReclaimHost, SlabReclaim } from './slab-reclaim.js'
import type { SlabTags } from './slab-tags.js'

export class SlabQuota {
  readonly #memory: SlabMemory
  readonly #doubles: Float64Array
  readonly #allocator: SlabAllocator
  readonly #index: HashIndex
  readonly #tags: SlabTags
  readonly #reclaim: SlabReclaim
  readonly #host: ReclaimHost

  constructor (memory: SlabMemory, allocator: SlabAllocator, index: HashIndex, tags: SlabTags, reclaim: SlabReclaim, host: ReclaimHost) {
    this.#memory = memory
    this.#doubles = memory.doubles
    this.#allocator = allocator
    this.#index = index
    this.#tags = tags
    this.#reclaim = reclaim
    this.#host = host
  }

  /**
   * Makes room in `tenantId`'s quota for a new item of `valueLength` bytes under `key`: evicts
   * the tenant's own least recently used items (recent hits applied first, so they count as
   * recent) until its bytes, less those of the item the write replaces, plus the new item's,
   * fit `quotaBytes`. Returns false, evicting nothing, if the item alone exceeds the quota.
   * Never touches another tenant's items.
   */
  makeRoom (tenantId: number, key: Uint8Array, hash: number, valueLength: number, quotaBytes: number): boolean {
    const needBytes = itemChunkBytes(this.#allocator, newDataOffset(key.length, this.#tags.count, this.#tags.contentTypeLength), valueLength)
    if (needBytes > quotaBytes) return false
    const doubles = this.#doubles
    const bytesAt = this.#memory.tenantDouble(tenantId) + T_BYTES
    const old = this.#index.find(tenantId, key, hash)
    const creditBytes = old === 0 ? 0 : chunkBytesHeld(this.#memory, old)
    if (doubles[bytesAt]! - creditBytes + needBytes <= quotaBytes) return true
    this.#reclaim.applyHits()
    const inlineBytes = ITEM_HEADER_BYTES + key.length + valueLength
    const preferClass = inlineBytes <= MAX_CHUNK_BYTES ? this.#allocator.classFor(inlineBytes) : -1
    while (doubles[bytesAt]! - creditBytes + needBytes > quotaBytes) {
      const victim = ownVictim(this.#memory, this.#allocator, tenantId, preferClass, old)
      if (victim === 0) break
      this.#host.evict(victim)
    }
    return true
  }

  /**
   * Evicts `tenantId`'s own least recently used items, never `keepRef`, until it holds at most
   * `quotaBytes` or `budget` items went. Returns the evictions made.
   */
  trimTenant (tenantId: number, quotaBytes: number, keepRef: number, budget: number): number {
    const bytesAt = this.#memory.tenantDouble(tenantId) + T_BYTES
    let done = 0
    while (done < budget && this.#doubles[bytesAt]! > quotaBytes) {
      const victim = ownVictim(this.#memory, this.#allocator, tenantId, -1, keepRef)
      if (victim === 0) break
      this.#host.evict(victim)
      done++
    }
    return done
  }

  /** Maintenance: trims tenants left over a lowered quota, within `budget` evictions. O(tenant span). */
  trimAll (budget: number): number {
    const doubles = this.#doubles
    const span = tenantSpan(this.#memory)
    let done = 0
    for (let t = 0; t < span && done < budget; t++) {
      const base = this.#memory.tenantDouble(t)
      const quotaBytes = doubles[base + T_QUOTA]!
      if (quotaBytes > 0 && doubles[base + T_BYTES]! > quotaBytes) done += this.trimTenant(t, quotaBytes, 0, budget - done)
    }
    return done
  }
}
