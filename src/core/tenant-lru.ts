/**
 * Eviction choices over the per-(class, tenant) LRU lists: which tenant's tail goes under memory
 * pressure, which of a tenant's own items goes when it is over its quota, and how old each
 * class's oldest tail is (for the rebalancer). Thread: the slab's lock holder (L1; reads only,
 * allocates nothing: callers pass reused arrays). The store does the evicting.
 *
 * Policy (DESIGN §5, "Tenants"):
 *  - A tenant over its quota evicts its OWN least recently used items (ownVictim): nobody else
 *    pays for it.
 *  - Memory pressure (no free chunk, no free page) evicts, in the class being allocated, the
 *    tail of the tenant furthest over its share (victimTail): share = its quota if it has one,
 *    else an equal part of the memory the quotas leave. Ties go to the older tail, so one tenant
 *    alone (or tenants at equal shares) behaves exactly like a per-class LRU.
 * Every scan over tenants stops at H_TENANT_SPAN (1 + the highest tenant id seen in the slab),
 * so the usual few tenants cost a few reads; the worst case is MAX_TENANTS (1024) per call.
 */
import {
  CHUNK_PAYLOAD_BYTES, F_CAS, H_TENANT_SPAN, I_LRU_PREV, ITEM_HEADER_BYTES, LRU_CLASSES, MAX_CHUNK_BYTES, PAGE_BYTES,
  T_BYTES, T_ITEMS, T_QUOTA
} from './slab-layout.js'
import { chunkListAt } from './item-ext.js'
import type { SlabAllocator } from './slab-allocator.js'
import type { SlabMemory } from './slab-memory.js'

const TENANT_SPAN = H_TENANT_SPAN >>> 2
/** Distance in u32 words between list (cls, t) and list (cls, t + 1): the table is tenant-major. */
const TENANT_ROW_WORDS = LRU_CLASSES * 2

/** Tenant ids below this have held an item or a quota in the slab. */
export function tenantSpan (memory: SlabMemory): number {
  return memory.words[TENANT_SPAN]!
}

/** Raises the tenant span to cover `tenantId` (caller holds the lock). */
export function coverTenant (memory: SlabMemory, tenantId: number): void {
  if (tenantId >= memory.words[TENANT_SPAN]!) memory.words[TENANT_SPAN] = tenantId + 1
}

/**
 * The item to evict from class `cls` under memory pressure: the LRU tail of the tenant with the
 * largest bytes ÷ share, where share = the tenant's quota, or for a tenant without one
 * (capacity − the quotas of tenants holding items) ÷ (unlimited tenants holding items), or
 * capacity ÷ tenants holding items when the quotas claim everything. Only tenants with an item
 * in `cls` are candidates; ties go to the older tail (smaller CAS). Returns 0 if the class holds
 * no item. O(tenant span): two passes over the tenant table, one over the class's column.
 */
export function victimTail (memory: SlabMemory, allocator: SlabAllocator, cls: number): number {
  if (allocator.lruItems(cls) === 0) return 0
  const words = memory.words
  const doubles = memory.doubles
  const span = words[TENANT_SPAN]!
  const column = memory.lruWord(cls, 0)
  if (span <= 1) return words[column + 1]!
  let quotaSum = 0
  let unlimited = 0
  let holding = 0
  for (let t = 0; t < span; t++) {
    const base = memory.tenantDouble(t)
    if (doubles[base + T_ITEMS] === 0) continue
    holding++
    const quota = doubles[base + T_QUOTA]!
    if (quota > 0) quotaSum += quota
    else unlimited++
  }
  const capacity = memory.layout.pageCount * PAGE_BYTES
  let fairShare = unlimited === 0 ? capacity : (capacity - quotaSum) / unlimited
  if (!(fairShare > 0)) fairShare = capacity / Math.max(1, holding)
  let victim = 0
  let worst = -1
  let victimAge = Infinity
  for (let t = 0; t < span; t++) {
    const tail = words[column + t * TENANT_ROW_WORDS + 1]!
    if (tail === 0) continue
    const base = memory.tenantDouble(t)
    const quota = doubles[base + T_QUOTA]!
    const score = doubles[base + T_BYTES]! / (quota > 0 ? quota : fairShare)
    const age = doubles[tail + F_CAS]!
    if (score > worst || (score === worst && age < victimAge)) {
      victim = tail
      worst = score
      victimAge = age
    }
  }
  return victim
}

/**
 * The item tenant `tenantId` gives up for its own quota, never `exceptRef` (the item it is
 * overwriting or has just written). When memory is tight (no free page, and `preferClass` ≥ 0
 * has no free chunk) its tail in `preferClass` goes first: that chunk is reused at once by the
 * write, which then takes nothing from other tenants. Otherwise, its oldest tail (by write time)
 * over all its classes: its least recently used item, as near as per-class lists can tell.
 * Returns 0 if it has nothing else. O(classes).
 */
export function ownVictim (memory: SlabMemory, allocator: SlabAllocator, tenantId: number, preferClass: number, exceptRef: number): number {
  const words = memory.words
  if (preferClass >= 0 && allocator.freePages === 0 && !allocator.hasFreeChunk(preferClass)) {
    const tail = notExcept(words, words[memory.lruWord(preferClass, tenantId) + 1]!, exceptRef)
    if (tail !== 0) return tail
  }
  const doubles = memory.doubles
  let victim = 0
  let oldest = Infinity
  let word = memory.lruWord(0, tenantId) + 1
  for (let cls = 0; cls < allocator.classCount; cls++, word += 2) {
    const tail = notExcept(words, words[word]!, exceptRef)
    if (tail !== 0 && doubles[tail + F_CAS]! < oldest) { victim = tail; oldest = doubles[tail + F_CAS]! }
  }
  return victim
}

/** `tail`, or the item before it when `tail` is the excluded one. */
function notExcept (words: Uint32Array, tail: number, exceptRef: number): number {
  return tail !== 0 && tail === exceptRef ? words[tail * 2 + I_LRU_PREV]! : tail
}

/**
 * Fills `ages[cls]` with the write time (CAS) of the class's oldest LRU tail over all tenants
 * (Infinity if the class holds no item) and `oldest[cls]` with that tail (0 if none).
 * O(classes × tenant span) reads.
 */
export function classAges (memory: SlabMemory, allocator: SlabAllocator, ages: Float64Array, oldest: Uint32Array): void {
  const words = memory.words
  const doubles = memory.doubles
  const span = words[TENANT_SPAN]!
  for (let cls = 0; cls < allocator.classCount; cls++) {
    let age = Infinity
    let ref = 0
    if (allocator.lruItems(cls) !== 0) {
      const column = memory.lruWord(cls, 0)
      for (let t = 0; t < span; t++) {
        const tail = words[column + t * TENANT_ROW_WORDS + 1]!
        if (tail !== 0 && doubles[tail + F_CAS]! < age) { age = doubles[tail + F_CAS]!; ref = tail }
      }
    }
    ages[cls] = age
    oldest[cls] = ref
  }
}

/**
 * Chunk bytes a new item will hold (what it adds to its tenant's bytes), given where its data
 * starts (`dataOffset`: header, key and any extension block, item-ext.ts newDataOffset) and its
 * value length: its chunk, or for a chunked value its header chunk plus its value chunks. Exact
 * unless the allocation borrows a larger class's chunk (the store trims to the quota after the
 * write).
 */
export function itemChunkBytes (allocator: SlabAllocator, dataOffset: number, valueLength: number): number {
  const inlineBytes = dataOffset + valueLength
  if (inlineBytes <= MAX_CHUNK_BYTES) return allocator.chunkBytes(allocator.classFor(inlineBytes))
  const count = Math.ceil(valueLength / CHUNK_PAYLOAD_BYTES)
  const full = Math.floor(valueLength / CHUNK_PAYLOAD_BYTES)
  const rest = valueLength - full * CHUNK_PAYLOAD_BYTES
  let bytes = allocator.chunkBytes(allocator.classFor(chunkListAt(dataOffset) + count * 4)) + full * MAX_CHUNK_BYTES
  if (rest > 0) bytes += allocator.chunkBytes(allocator.classFor(ITEM_HEADER_BYTES + rest))
  return bytes
}
