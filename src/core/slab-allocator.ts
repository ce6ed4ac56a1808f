/**
 * SlabAllocator: 1 MiB pages, size classes, per-class free lists and per-(class, tenant) LRU
 * lists.
 * Thread: the lock holder (L1, no allocation after construction).
 * Owns: the page table, the per-page in-use counts, the free-page stack, the class table's
 * list heads, counts and carve cursors, and the LRU table (one list per class and tenant).
 * Invariants: a page is either on the free-page stack (class PAGE_FREE) or assigned to one
 * class. A page is cut into chunks lazily (memcached's old end_page_ptr): each class has at
 * most one carve page whose first C_CARVE_NEXT chunks are carved and whose other chunks are on
 * no list and hold garbage; every other assigned page is fully carved. Every carved chunk is
 * FREE and on its class's free list, or is in use (PENDING, ITEM on the class LRU, or
 * VALUE_CHUNK). pageUsed[page] counts the page's chunks in use, and H_EMPTY_PAGES the assigned
 * pages where that count is 0 (memory a class holds but does not use: another class may take
 * the page without evicting anything). Lazy carving makes assigning a page O(1) (it used to push
 * 16 Ki chunks for the 64-byte class inside an evicting set) and keeps free lists short.
 * Eviction policy is not here: the store decides what to evict and calls `free`.
 */
import {
  C_CARVE_NEXT, C_CARVE_PAGE, C_CHUNK_BYTES, C_CHUNKS_PER_PAGE, C_FREE_COUNT, C_FREE_HEAD, C_ITEM_COUNT,
  C_LRU_ITEMS, C_PAGE_COUNT, CLASS_STRIDE_BYTES, H_EMPTY_PAGES, H_FREE_PAGES, I_LRU_NEXT, I_LRU_PREV,
  I_META, KIND_FREE, LRU_TABLE_BASE, LRU_TABLE_BYTES, PAGE_BYTES, PAGE_FREE, makeMeta
} from './slab-layout.js'
import type { SlabMemory } from './slab-memory.js'
import { J_PAGE_FORMAT, type SlabLock } from './slab-lock.js'
import { moveToHead, pushHead, unlink } from './intrusive-list.js'

const FREE_PAGES = H_FREE_PAGES >>> 2
const EMPTY_PAGES = H_EMPTY_PAGES >>> 2

export class SlabAllocator {
  readonly #memory: SlabMemory
  readonly #words: Uint32Array
  readonly #lock: SlabLock
  readonly #classSizes: readonly number[]
  readonly #freePageWord: number
  /** classByEighth[ceil(bytes / 8)] = smallest class that fits; built once. */
  readonly #classByEighth: Uint8Array

  constructor (memory: SlabMemory, lock: SlabLock) {
    this.#memory = memory
    this.#words = memory.words
    this.#lock = lock
    this.#classSizes = memory.layout.classSizes
    this.#freePageWord = memory.layout.freePageBase >>> 2
    const sizes = this.#classSizes
    const table = new Uint8Array(sizes[sizes.length - 1]! / 8 + 1)
    let cls = 0
    for (let eighths = 0; eighths < table.length; eighths++) {
      while (sizes[cls]! < eighths * 8) cls++
      table[eighths] = cls
    }
    this.#classByEighth = table
  }

  get classCount (): number { return this.#classSizes.length }
  chunkBytes (cls: number): number { return this.#classSizes[cls]! }

  /** Initialises the class table and puts every page on the free stack (fresh slab). */
  reset (): void {
    const memory = this.#memory
    const words = this.#words
    for (let cls = 0; cls < this.#classSizes.length; cls++) {
      const base = memory.classWord(cls)
      words.fill(0, base, base + CLASS_STRIDE_BYTES / 4)
      words[base + C_CHUNK_BYTES] = this.#classSizes[cls]!
      words[base + C_CHUNKS_PER_PAGE] = Math.floor(PAGE_BYTES / this.#classSizes[cls]!)
    }
    this.clearLru()
    memory.pageClass.fill(PAGE_FREE)
    memory.pageUsed.fill(0)
    words[FREE_PAGES] = 0
    words[EMPTY_PAGES] = 0
    for (let page = memory.layout.pageCount - 1; page >= 0; page--) this.pushFreePage(page)
  }

  /** Smallest class whose chunks hold `bytes`; -1 if larger than the largest chunk. */
  classFor (bytes: number): number {
    const eighths = Math.ceil(bytes / 8)
    return eighths < this.#classByEighth.length ? this.#classByEighth[eighths]! : -1
  }

  /** Free pages left on the stack. */
  get freePages (): number { return this.#words[FREE_PAGES]! }
  /** Assigned pages with no chunk in use. */
  get emptyPages (): number { return this.#words[EMPTY_PAGES]! }

  /**
   * An assigned page of a class other than `exceptClass` with no chunk in use, or -1.
   * O(pageCount) byte and word reads; callers check `emptyPages` first.
   */
  findEmptyPage (exceptClass: number): number {
    const memory = this.#memory
    const pageClass = memory.pageClass
    const pageUsed = memory.pageUsed
    for (let page = 0; page < pageClass.length; page++) {
      const cls = pageClass[page]!
      if (cls !== PAGE_FREE && cls !== exceptClass && pageUsed[page] === 0) return page
    }
    return -1
  }

  /** Whether `take(cls)` would succeed without a free page (free list or uncarved chunks). */
  hasFreeChunk (cls: number): boolean {
    const base = this.#memory.classWord(cls)
    const words = this.#words
    return words[base + C_FREE_HEAD] !== 0 || (words[base + C_CARVE_PAGE] !== 0 && words[base + C_CARVE_NEXT]! < words[base + C_CHUNKS_PER_PAGE]!)
  }

  /**
   * Takes a free chunk of `cls`: from its free list, else the next uncarved chunk of its carve
   * page, else from a free page (which becomes the carve page). Returns the chunk ref, or 0 when
   * none of these exists. The chunk is marked FREE: the caller stamps its meta before releasing
   * the lock.
   */
  take (cls: number): number {
    const memory = this.#memory
    const words = this.#words
    const base = memory.classWord(cls)
    let ref = words[base + C_FREE_HEAD]!
    if (ref !== 0) {
      unlink(words, base + C_FREE_HEAD, -1, ref, I_LRU_PREV, I_LRU_NEXT)
      words[base + C_FREE_COUNT]!--
    } else {
      if (words[base + C_CARVE_PAGE] === 0 || words[base + C_CARVE_NEXT] === words[base + C_CHUNKS_PER_PAGE]) {
        const page = this.popFreePage()
        if (page < 0) return 0
        this.formatPage(page, cls)
      }
      const carved = words[base + C_CARVE_NEXT]!
      ref = memory.pageRef(words[base + C_CARVE_PAGE]! - 1) + carved * (this.#classSizes[cls]! / 8)
      // Stamp FREE before the cursor moves: a crash in between leaves a carved FREE chunk
      // (repair puts it on the free list), never carved garbage.
      words[ref * 2 + I_META] = makeMeta(0, 0, KIND_FREE, false)
      words[base + C_CARVE_NEXT] = carved + 1
    }
    words[base + C_ITEM_COUNT]!++
    if (memory.pageUsed[memory.pageOf(ref)]!++ === 0) words[EMPTY_PAGES]!--
    return ref
  }

  /** Returns chunk `ref` (off every list but this one) to its class's free list. */
  free (ref: number): void {
    const memory = this.#memory
    const words = this.#words
    const page = memory.pageOf(ref)
    const base = memory.classWord(memory.pageClass[page]!)
    words[ref * 2 + I_META] = makeMeta(0, 0, KIND_FREE, false)
    pushHead(words, base + C_FREE_HEAD, -1, ref, I_LRU_PREV, I_LRU_NEXT)
    words[base + C_FREE_COUNT]!++
    words[base + C_ITEM_COUNT]!--
    if (--memory.pageUsed[page]! === 0) words[EMPTY_PAGES]!++
  }

  /**
   * Assigns free page `page` (off the stack) to `cls` as its carve page, nothing carved. The
   * class's previous carve page, if any, is fully carved (take's precondition). O(1).
   * Journaled: repair completes a torn assignment.
   */
  formatPage (page: number, cls: number): void {
    const memory = this.#memory
    const words = this.#words
    const base = memory.classWord(cls)
    this.#lock.journal(J_PAGE_FORMAT, page, cls)
    memory.pageClass[page] = cls
    memory.pageUsed[page] = 0
    words[base + C_CARVE_PAGE] = page + 1
    words[base + C_CARVE_NEXT] = 0
    words[base + C_PAGE_COUNT]!++
    words[EMPTY_PAGES]!++
    this.#lock.journalClear()
  }

  /**
   * Whether chunk start `ref` (isChunkStart) has been carved. An uncarved chunk holds stale
   * bytes of whatever the page held before, possibly an old ITEM header: code that follows a
   * ref it does not trust (a hit recorded before the chunk was freed) must check this too.
   */
  isCarved (ref: number): boolean {
    const memory = this.#memory
    const page = memory.pageOf(ref)
    const base = memory.classWord(memory.pageClass[page]!)
    const words = this.#words
    if (words[base + C_CARVE_PAGE] !== page + 1) return true
    return (ref - memory.pageRef(page)) * 8 < words[base + C_CARVE_NEXT]! * words[base + C_CHUNK_BYTES]!
  }

  /** Chunks of `page` (assigned) that have been carved: all but the carve page's tail. */
  carvedChunks (page: number): number {
    const words = this.#words
    const base = this.#memory.classWord(this.#memory.pageClass[page]!)
    return words[base + C_CARVE_PAGE] === page + 1 ? words[base + C_CARVE_NEXT]! : words[base + C_CHUNKS_PER_PAGE]!
  }

  /**
   * Gives page `page` (assigned, no chunk in use) back to the free stack: its carved chunks
   * leave the free list (O(carved chunks)). The caller has emptied it (SlabStore's reclaim).
   */
  releasePage (page: number): void {
    const memory = this.#memory
    const words = this.#words
    const cls = memory.pageClass[page]!
    const base = memory.classWord(cls)
    const chunkRefs = this.#classSizes[cls]! / 8
    const carved = this.carvedChunks(page)
    const first = memory.pageRef(page)
    for (let i = 0; i < carved; i++) {
      unlink(words, base + C_FREE_HEAD, -1, first + i * chunkRefs, I_LRU_PREV, I_LRU_NEXT)
    }
    if (words[base + C_CARVE_PAGE] === page + 1) {
      words[base + C_CARVE_PAGE] = 0
      words[base + C_CARVE_NEXT] = 0
    }
    words[base + C_FREE_COUNT]! -= carved
    words[base + C_PAGE_COUNT]!--
    words[EMPTY_PAGES]!--
    memory.pageClass[page] = PAGE_FREE
    this.pushFreePage(page)
  }

  pushFreePage (page: number): void {
    const words = this.#words
    words[this.#freePageWord + words[FREE_PAGES]!] = page
    words[FREE_PAGES]!++
  }

  popFreePage (): number {
    const words = this.#words
    const depth = words[FREE_PAGES]!
    if (depth === 0) return -1
    words[FREE_PAGES] = depth - 1
    return words[this.#freePageWord + depth - 1]!
  }

  // ── LRU lists, one per (class, tenant): items only; value chunks are owned by their item ──
  // C_LRU_ITEMS counts the class's members over all tenants, so "does the class have anything
  // to evict" stays O(1).
  lruPush (cls: number, tenantId: number, ref: number): void {
    const list = this.#memory.lruWord(cls, tenantId)
    pushHead(this.#words, list, list + 1, ref, I_LRU_PREV, I_LRU_NEXT)
    this.#words[this.#memory.classWord(cls) + C_LRU_ITEMS]!++
  }

  lruRemove (cls: number, tenantId: number, ref: number): void {
    const list = this.#memory.lruWord(cls, tenantId)
    unlink(this.#words, list, list + 1, ref, I_LRU_PREV, I_LRU_NEXT)
    this.#words[this.#memory.classWord(cls) + C_LRU_ITEMS]!--
  }

  lruBump (cls: number, tenantId: number, ref: number): void {
    const list = this.#memory.lruWord(cls, tenantId)
    moveToHead(this.#words, list, list + 1, ref, I_LRU_PREV, I_LRU_NEXT)
  }

  /** Least recently used item of (cls, tenant), 0 if the list is empty. */
  lruTail (cls: number, tenantId: number): number { return this.#words[this.#memory.lruWord(cls, tenantId) + 1]! }
  lruHead (cls: number, tenantId: number): number { return this.#words[this.#memory.lruWord(cls, tenantId)]! }
  /** Items on the LRU lists of `cls`, all tenants. */
  lruItems (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_LRU_ITEMS]! }

  /** Empties every LRU list (fresh slab, or repair before relinking). O(table): 328 KiB. */
  clearLru (): void {
    this.#words.fill(0, LRU_TABLE_BASE >>> 2, (LRU_TABLE_BASE + LRU_TABLE_BYTES) >>> 2)
    for (let cls = 0; cls < this.#classSizes.length; cls++) this.#words[this.#memory.classWord(cls) + C_LRU_ITEMS] = 0
  }
  pageCount (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_PAGE_COUNT]! }
  freeCount (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_FREE_COUNT]! }
  chunksPerPage (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_CHUNKS_PER_PAGE]! }
  /** 1 + the class's carve page, 0 if none; and how many of its chunks are carved. */
  carvePage (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_CARVE_PAGE]! }
  carveNext (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_CARVE_NEXT]! }
}
