/**
 * SlabReclaim: where the memory for a write comes from. Allocates items (inline or chunked)
 * and chunks, and when none is free takes one, in order, from an empty page, a slightly larger
 * class, an LRU eviction (fair over tenants, tenant-lru.ts) or a reclaimed page of another
 * class. Also the shard worker's share of that work: draining the hit ring into the LRU (second
 * chance), evicting ahead in classes under pressure, and rebalancing pages between classes.
 * Thread: the thread of its SlabStore; every method runs under the slab lock with the seqlock
 * odd (inside a mutation). The hit ring's writer is the store's lock-free reader (#hit in
 * slab-store.ts); `applyHits` is its only consumer, and stamps each item it bumps with the
 * current bump epoch (bump-epoch.ts), which is what stops the reader recording it again this window.
 * L1: no I/O; no allocation (its per-class scratch arrays are made once).
 */
import {
  C_PRESSURE_F64, CHUNK_PAYLOAD_BYTES, H_HIT_HEAD, H_HIT_TAIL, H_PAGES_MOVED, HIT_RING_BASE, HIT_RING_SLOTS,
  I_CHUNK_INDEX, I_CHUNK_OWNER, I_META, I_VALUE_LEN, ITEM_HEADER_BYTES, KIND_ITEM, KIND_PENDING, KIND_VALUE_CHUNK,
  MAX_CHUNK_BYTES, META_EXT, META_TAG_RECORD, PAGE_FREE, makeMeta, metaKind, metaTenant, withBumpEpoch
} from './slab-layout.js'
import type { BumpEpoch } from './bump-epoch.js'
import { chunkListAt, newDataOffset } from './item-ext.js'
import { classAges, victimTail } from './tenant-lru.js'
import type { SlabAllocator } from './slab-allocator.js'
import type { SlabMemory } from './slab-memory.js'
import type { SlabTags } from './slab-tags.js'

/** Hit ring (DESIGN §4): u32 word indexes of its head, tail and slots. */
export const HIT_MASK = HIT_RING_SLOTS - 1
export const HIT_HEAD = H_HIT_HEAD >>> 2
export const HIT_TAIL = H_HIT_TAIL >>> 2
export const HIT_RING = HIT_RING_BASE >>> 2
/** Free chunks the shard worker keeps ready in a class that has been evicting. */
const EVICT_AHEAD_CHUNKS = 16
/** Evictions in a class between two rebalancer looks that count as pressure. */
const PRESSURE_THRESHOLD = 8
/** How many larger classes an allocation may borrow a free chunk from (×1.25 each). */
const BORROW_CLASSES = 4
/** A page with at most 1/SPARSE_PAGE_RATIO of its chunks in use is "mostly unused". */
const SPARSE_PAGE_RATIO = 4
/** Pages a single allocation may try to reclaim before giving up (then OUT_OF_MEMORY). */
const RECLAIM_ATTEMPTS = 8

/** What SlabReclaim needs from its store (runs under the store's lock). */
export interface ReclaimHost {
  /** Evicts live item `ref` as one journaled mutation, counted as an eviction. */
  evict (ref: number): void
}

export class SlabReclaim {
  readonly #memory: SlabMemory
  readonly #words: Uint32Array
  readonly #doubles: Float64Array
  readonly #allocator: SlabAllocator
  readonly #tags: SlabTags
  readonly #host: ReclaimHost
  readonly #bump: BumpEpoch
  /** Donor classes #reclaimPage has tried (reused, so reclaiming allocates nothing). */
  readonly #triedClasses: Uint8Array
  /** Per class: write time (CAS) of its oldest LRU tail over all tenants, and that tail (#classAges). */
  readonly #classAge: Float64Array
  readonly #classOldest: Uint32Array

  constructor (memory: SlabMemory, allocator: SlabAllocator, tags: SlabTags, host: ReclaimHost, bump: BumpEpoch) {
    this.#memory = memory
    this.#words = memory.words
    this.#doubles = memory.doubles
    this.#allocator = allocator
    this.#tags = tags
    this.#host = host
    this.#bump = bump
    this.#triedClasses = new Uint8Array(allocator.classCount)
    this.#classAge = new Float64Array(allocator.classCount)
    this.#classOldest = new Uint32Array(allocator.classCount)
  }

  /**
   * Allocates an item for (tenant, keyLength, valueLength), chunked if it exceeds the largest
   * chunk, stamped PENDING (invisible to readers, freed by repair). Returns its ref or 0.
   */
  allocItem (tenantId: number, keyLength: number, valueLength: number): number {
    // With tags or a content type (prepared by SlabTags.reserve/keep) the item gets an
    // extension block between key and value (item-ext.ts).
    const tags = this.#tags
    const ext = tags.count !== 0 || tags.contentTypeLength !== 0
    const extFlag = ext ? META_EXT : 0
    const data = newDataOffset(keyLength, tags.count, tags.contentTypeLength)
    const inlineBytes = data + valueLength
    if (inlineBytes <= MAX_CHUNK_BYTES) {
      const ref = this.allocChunk(this.#allocator.classFor(inlineBytes))
      if (ref === 0) return 0
      this.#words[ref * 2 + I_VALUE_LEN] = valueLength
      this.#words[ref * 2 + I_META] = (makeMeta(keyLength, tenantId, KIND_PENDING, false) | extFlag) >>> 0
      if (ext) this.#tags.writeExtHeader(ref, keyLength)
      return ref
    }
    const chunkCount = Math.ceil(valueLength / CHUNK_PAYLOAD_BYTES)
    const listOffset = chunkListAt(data)
    // An item that cannot fit even in an empty slab must fail before evicting anything (it
    // used to empty the whole slab first, then return OUT_OF_MEMORY).
    if (this.#pagesNeeded(listOffset + chunkCount * 4, valueLength) > this.#memory.layout.pageCount) return 0
    const ref = this.allocChunk(this.#allocator.classFor(listOffset + chunkCount * 4))
    if (ref === 0) return 0
    const words = this.#words
    words[ref * 2 + I_VALUE_LEN] = valueLength
    words[ref * 2 + I_META] = (makeMeta(keyLength, tenantId, KIND_PENDING, true) | extFlag) >>> 0
    if (ext) this.#tags.writeExtHeader(ref, keyLength)
    const listWord = ref * 2 + listOffset / 4
    words.fill(0, listWord, listWord + chunkCount)
    for (let i = 0; i < chunkCount; i++) {
      const payload = Math.min(CHUNK_PAYLOAD_BYTES, valueLength - i * CHUNK_PAYLOAD_BYTES)
      const chunk = this.allocChunk(this.#allocator.classFor(ITEM_HEADER_BYTES + payload))
      if (chunk === 0) {
        for (let j = 0; j < i; j++) this.#allocator.free(words[listWord + j]!)
        this.#allocator.free(ref)
        return 0
      }
      words[chunk * 2 + I_CHUNK_OWNER] = ref
      words[chunk * 2 + I_CHUNK_INDEX] = i
      words[chunk * 2 + I_VALUE_LEN] = payload
      words[chunk * 2 + I_META] = makeMeta(0, tenantId, KIND_VALUE_CHUNK, false)
      words[listWord + i] = chunk
    }
    return ref
  }

  /**
   * Fewest pages a chunked item needs: its header chunk (`headerBytes`), its full value
   * chunks (largest class) and the last, partial one. Classes do not share pages.
   */
  #pagesNeeded (headerBytes: number, valueLength: number): number {
    const allocator = this.#allocator
    const largest = allocator.classCount - 1
    const full = Math.floor(valueLength / CHUNK_PAYLOAD_BYTES)
    const rest = valueLength - full * CHUNK_PAYLOAD_BYTES
    const header = allocator.classFor(headerBytes)
    const last = rest === 0 ? -1 : allocator.classFor(ITEM_HEADER_BYTES + rest)
    // Chunks per class (at most three classes), then pages per class.
    const inLargest = full + (last === largest ? 1 : 0) + (header === largest ? 1 : 0)
    let pages = Math.ceil(inLargest / allocator.chunksPerPage(largest))
    if (header !== largest) pages += Math.ceil((header === last ? 2 : 1) / allocator.chunksPerPage(header))
    if (last >= 0 && last !== largest && last !== header) pages++
    return pages
  }

  /**
   * A chunk of class `cls` (or, see below, slightly larger). In order:
   *  1. a free chunk of the class, else a free page;
   *  2. a page another class holds with no chunk in use (expired or deleted memory);
   *  3. if the class has no item to evict: a free chunk of one of the next BORROW_CLASSES
   *     classes (the item lives in that class, on its LRU; up to ~2.4× the bytes);
   *  4. evict an LRU tail of the class (recent hits applied first: a second chance), from the
   *     tenant furthest over its share (#victimTail);
   *  5. empty a page of the class with the oldest tail (#reclaimPage).
   * Steps 1–3 evict nothing. Without step 3, a slab with fewer pages than active classes
   * thrashes: every write to a class without pages empties another class's page (a 6 MiB slab
   * under the model test kept ~10 of thousands of items). Returns 0 if nothing can be freed.
   */
  allocChunk (cls: number): number {
    const allocator = this.#allocator
    let ref = allocator.take(cls)
    if (ref !== 0) return ref
    if (allocator.emptyPages > 0) {
      const page = allocator.findEmptyPage(cls)
      if (page >= 0) {
        allocator.releasePage(page)
        this.#doubles[H_PAGES_MOVED >>> 3]!++
        ref = allocator.take(cls)
        if (ref !== 0) return ref
      }
    }
    this.applyHits()
    if (allocator.lruItems(cls) === 0) {
      const end = Math.min(allocator.classCount, cls + 1 + BORROW_CLASSES)
      for (let larger = cls + 1; larger < end; larger++) {
        if (allocator.hasFreeChunk(larger)) return allocator.take(larger)
      }
    }
    const pressure = this.#memory.classDouble(cls) + C_PRESSURE_F64
    for (let attempt = 0; attempt < RECLAIM_ATTEMPTS; attempt++) {
      const tail = this.#victimTail(cls)
      if (tail !== 0) {
        this.#host.evict(tail)
        this.#doubles[pressure]!++
      } else if (!this.#reclaimPage(cls)) {
        return 0
      }
      ref = allocator.take(cls)
      if (ref !== 0) return ref
    }
    return 0
  }

  /** Under memory pressure: the tail to evict from class `cls` (fair over tenants), 0 if none. */
  #victimTail (cls: number): number { return victimTail(this.#memory, this.#allocator, cls) }

  /** Fills #classAge/#classOldest: each class's oldest LRU tail over all tenants. */
  #classAges (): void { classAges(this.#memory, this.#allocator, this.#classAge, this.#classOldest) }

  /**
   * Frees one page for class `forClass` by emptying a page of another class: first the fully
   * carved page with the least live data among those at most 1/SPARSE_PAGE_RATIO in use (left
   * sparse by deletes, expiry or evictions: cheap to empty); else trying donor classes from the
   * oldest LRU tail to the newest (classes holding only value chunks last), and in each the page
   * holding the tail first. Pages holding a PENDING chunk (the allocation in progress) are
   * skipped, so a donor may fail and the next one is tried. Returns false if no page could be
   * freed. O(pageCount + classes²) reads, plus the evictions.
   *
   * Sizing note: memory is assigned to classes a page at a time, so a slab needs clearly more
   * pages than active size classes. With ~34 classes in play, a 16 MiB slab (15 pages) ended a
   * 10× overload with ~40% of its capacity holding items (each rare class holds a page it
   * barely uses: its carve page, which is not stolen as "sparse" because its items are the
   * class's newest); 64 MiB reached ~87%.
   */
  #reclaimPage (forClass: number): boolean {
    const allocator = this.#allocator
    const memory = this.#memory
    // A mostly unused page first: emptying it evicts the least live data. Not a carve page:
    // that one is sparse because it is being filled (its items are the newest of the class).
    let sparse = -1
    let sparseBytes = Infinity
    for (let page = 0; page < memory.layout.pageCount; page++) {
      const cls = memory.pageClass[page]!
      if (cls === PAGE_FREE || cls === forClass || allocator.carvePage(cls) === page + 1) continue
      const used = memory.pageUsed[page]!
      if (used * SPARSE_PAGE_RATIO > allocator.chunksPerPage(cls)) continue
      const liveBytes = used * allocator.chunkBytes(cls)
      if (liveBytes < sparseBytes) { sparse = page; sparseBytes = liveBytes }
    }
    if (sparse >= 0 && this.#emptyPage(sparse)) return true
    const tried = this.#triedClasses
    tried.fill(0)
    // Ages do not change below until a page is emptied (which ends the search): compute once.
    this.#classAges()
    const ages = this.#classAge
    for (;;) {
      let donor = -1
      let oldest = Infinity
      for (let cls = 0; cls < allocator.classCount; cls++) {
        if (cls === forClass || tried[cls] !== 0 || allocator.pageCount(cls) === 0) continue
        const age = ages[cls]!
        if (donor < 0 || age < oldest) { donor = cls; oldest = age }
      }
      if (donor < 0) return false
      tried[donor] = 1
      const tail = this.#classOldest[donor]!
      if (tail !== 0 && this.#emptyPage(memory.pageOf(tail))) return true
      for (let page = 0; page < memory.layout.pageCount; page++) {
        if (memory.pageClass[page] === donor && this.#emptyPage(page)) return true
      }
    }
  }

  /**
   * Evicts every item with a chunk in `page`, moves the tag records it holds elsewhere, then
   * frees the page. False if it holds PENDING (checked before anything is evicted), or if a
   * record reserved by the write in progress could neither move nor be emptied.
   * Only carved chunks are looked at: the rest of a carve page is garbage.
   */
  #emptyPage (page: number): boolean {
    const memory = this.#memory
    const words = this.#words
    const cls = memory.pageClass[page]!
    const chunkRefs = this.#allocator.chunkBytes(cls) / 8
    const first = memory.pageRef(page)
    const carved = memory.pageUsed[page] === 0 ? 0 : this.#allocator.carvedChunks(page)
    for (let i = 0; i < carved; i++) {
      const ref = first + i * chunkRefs
      const kind = metaKind(words[ref * 2 + I_META]!)
      if (kind === KIND_PENDING) return false
      if (kind === KIND_VALUE_CHUNK && metaKind(words[words[ref * 2 + I_CHUNK_OWNER]! * 2 + I_META]!) !== KIND_ITEM) return false
    }
    // Evictions free records whose last member leaves, so metas are re-read at every step.
    for (let i = 0; i < carved; i++) {
      const ref = first + i * chunkRefs
      const meta = words[ref * 2 + I_META]!
      const kind = metaKind(meta)
      if (kind === KIND_ITEM && (meta & META_TAG_RECORD) === 0) this.#host.evict(ref)
      else if (kind === KIND_VALUE_CHUNK) this.#host.evict(words[ref * 2 + I_CHUNK_OWNER]!)
    }
    for (let i = 0; i < carved; i++) {
      const ref = first + i * chunkRefs
      if (metaKind(words[ref * 2 + I_META]!) === KIND_ITEM && !this.#tags.moveRecord(ref, cls)) return false
    }
    this.#allocator.releasePage(page)
    this.#doubles[H_PAGES_MOVED >>> 3]!++
    return true
  }

  /**
   * Keeps a few free chunks ready in every class that had to evict since the last look, so an
   * inline set rarely pays for an eviction (an evicting set costs about twice a plain one).
   * Evictions made here count as that class's pressure too: demand, not the worker, caused them.
   * Returns evictions made (at most `budget`).
   */
  evictAhead (budget: number): number {
    const allocator = this.#allocator
    const doubles = this.#doubles
    let done = 0
    for (let cls = 0; cls < allocator.classCount && done < budget; cls++) {
      const pressure = this.#memory.classDouble(cls) + C_PRESSURE_F64
      if (doubles[pressure] === 0) continue
      const target = Math.min(EVICT_AHEAD_CHUNKS, allocator.chunksPerPage(cls))
      // The victim tenant is chosen once per class and slice (#victimTail scans the tenants):
      // a few evictions barely move the shares it compares.
      let tenant = -1
      while (done < budget && allocator.freeCount(cls) < target) {
        let tail = tenant >= 0 ? allocator.lruTail(cls, tenant) : 0
        if (tail === 0) {
          tail = this.#victimTail(cls)
          if (tail === 0) break
          tenant = metaTenant(this.#words[tail * 2 + I_META]!)
        }
        this.#host.evict(tail)
        doubles[pressure]!++
        done++
      }
    }
    return done
  }

  /**
   * Rebalancer: if a class is under eviction pressure and another class's LRU tail is older
   * than the pressured class's tail, move one page from the latter to the free stack (the
   * pressured class takes it on its next allocation). Returns work units done.
   */
  rebalance (): number {
    const allocator = this.#allocator
    const doubles = this.#doubles
    let pressured = -1
    let most = PRESSURE_THRESHOLD - 1
    for (let cls = 0; cls < allocator.classCount; cls++) {
      const p = doubles[this.#memory.classDouble(cls) + C_PRESSURE_F64]!
      if (p > most) { most = p; pressured = cls }
      doubles[this.#memory.classDouble(cls) + C_PRESSURE_F64] = 0
    }
    if (pressured < 0) return 0
    this.#classAges()
    const ages = this.#classAge
    let donor = -1
    let oldest = ages[pressured]!
    for (let cls = 0; cls < allocator.classCount; cls++) {
      if (cls === pressured || allocator.pageCount(cls) < 2) continue
      if (ages[cls]! < oldest) { oldest = ages[cls]!; donor = cls }
    }
    if (donor < 0) return 1
    return this.#emptyPage(this.#memory.pageOf(this.#classOldest[donor]!)) ? allocator.chunksPerPage(donor) : 1
  }

  /**
   * Moves items hit by the lock-free reader to the head of their LRU, stamping each with the
   * current bump epoch (the reader then skips it until the window changes). Returns hits applied.
   */
  applyHits (): number {
    const words = this.#words
    const memory = this.#memory
    let tail = words[HIT_TAIL]!
    const head = Atomics.load(memory.atomicWords, HIT_HEAD) >>> 0 // acquire: ring slots before head are written
    if (tail === head) return 0
    // One clock read per drain: hits applied together share a window.
    const epoch = this.#bump.current()
    let applied = 0
    while (tail !== head) {
      const ref = words[HIT_RING + (tail & HIT_MASK)]!
      tail = (tail + 1) >>> 0
      applied++
      // The ref may be stale (freed, reused, or its page re-assigned and not carved yet since
      // the hit): bump only a carved chunk start holding a live item.
      const meta = memory.isChunkStart(ref) && this.#allocator.isCarved(ref) ? words[ref * 2 + I_META]! : 0
      if (metaKind(meta) === KIND_ITEM && (meta & META_TAG_RECORD) === 0) {
        this.#allocator.lruBump(memory.pageClass[memory.pageOf(ref)]!, metaTenant(meta), ref)
        // Under the lock with the seqlock odd; lookups mask these bits out (META_IDENTITY_MASK).
        words[ref * 2 + I_META] = withBumpEpoch(meta, epoch)
      }
    }
    Atomics.store(memory.atomicWords, HIT_TAIL, tail | 0) // release: the reader may reuse the slots
    return applied
  }
}
