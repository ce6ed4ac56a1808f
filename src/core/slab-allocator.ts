/**
 * SlabAllocator: 1 MiB pages, size classes, per-class free lists and per-class LRU lists.
 * Thread: the lock holder (L1, no allocation after construction).
 * Owns: the page table, the free-page stack, and the class table's list heads and counts.
 * Invariants: a page is either on the free-page stack (class PAGE_FREE) or assigned to one
 * class and cut into that class's chunks; every chunk of an assigned page is FREE and on its
 * class's free list, or is in use (PENDING, ITEM on the class LRU, or VALUE_CHUNK). Eviction
 * policy is not here: the store decides what to evict and calls `free`.
 */
import {
  C_CHUNK_BYTES, C_CHUNKS_PER_PAGE, C_FREE_COUNT, C_FREE_HEAD, C_ITEM_COUNT, C_LRU_HEAD, C_LRU_TAIL, C_PAGE_COUNT,
  H_FREE_PAGES, I_LRU_NEXT, I_LRU_PREV, I_META, KIND_FREE, PAGE_BYTES, PAGE_FREE, makeMeta
} from './slab-layout.js'
import type { SlabMemory } from './slab-memory.js'
import { J_PAGE_FORMAT, type SlabLock } from './slab-lock.js'
import { moveToHead, pushHead, unlink } from './intrusive-list.js'

const FREE_PAGES = H_FREE_PAGES >>> 2

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

  /** Initialises the class table and puts every page on the free stack (fresh slab, repair). */
  reset (): void {
    const memory = this.#memory
    const words = this.#words
    for (let cls = 0; cls < this.#classSizes.length; cls++) {
      const base = memory.classWord(cls)
      words.fill(0, base, base + 8)
      words[base + C_CHUNK_BYTES] = this.#classSizes[cls]!
      words[base + C_CHUNKS_PER_PAGE] = Math.floor(PAGE_BYTES / this.#classSizes[cls]!)
    }
    memory.pageClass.fill(PAGE_FREE)
    words[FREE_PAGES] = 0
    for (let page = memory.layout.pageCount - 1; page >= 0; page--) this.pushFreePage(page)
  }

  /** Smallest class whose chunks hold `bytes`; -1 if larger than the largest chunk. */
  classFor (bytes: number): number {
    const eighths = Math.ceil(bytes / 8)
    return eighths < this.#classByEighth.length ? this.#classByEighth[eighths]! : -1
  }

  /** Free pages left on the stack. */
  get freePages (): number { return this.#words[FREE_PAGES]! }

  /**
   * Takes a free chunk of `cls`, cutting a free page for it if its free list is empty.
   * Returns the chunk ref, or 0 when neither a free chunk nor a free page exists.
   * The chunk is still marked FREE: the caller stamps its meta before releasing the lock.
   */
  take (cls: number): number {
    const words = this.#words
    const base = this.#memory.classWord(cls)
    if (words[base + C_FREE_HEAD] === 0) {
      const page = this.popFreePage()
      if (page < 0) return 0
      this.formatPage(page, cls)
    }
    const ref = words[base + C_FREE_HEAD]!
    unlink(words, base + C_FREE_HEAD, -1, ref, I_LRU_PREV, I_LRU_NEXT)
    words[base + C_FREE_COUNT]!--
    words[base + C_ITEM_COUNT]!++
    return ref
  }

  /** Returns chunk `ref` (off every list but this one) to its class's free list. */
  free (ref: number): void {
    const words = this.#words
    const base = this.#memory.classWord(this.#memory.pageClass[this.#memory.pageOf(ref)]!)
    words[ref * 2 + I_META] = makeMeta(0, 0, KIND_FREE, false)
    pushHead(words, base + C_FREE_HEAD, -1, ref, I_LRU_PREV, I_LRU_NEXT)
    words[base + C_FREE_COUNT]!++
    words[base + C_ITEM_COUNT]!--
  }

  /** Cuts page `page` into free chunks of `cls`. Journaled: repair re-formats a torn page. */
  formatPage (page: number, cls: number): void {
    const memory = this.#memory
    const words = this.#words
    const base = memory.classWord(cls)
    this.#lock.journal(J_PAGE_FORMAT, page, cls)
    memory.pageClass[page] = cls
    const chunkWords = this.#classSizes[cls]! / 4
    const perPage = words[base + C_CHUNKS_PER_PAGE]!
    const first = memory.pageRef(page)
    // Push in reverse so allocation walks the page upwards (friendlier to the prefetcher).
    for (let i = perPage - 1; i >= 0; i--) {
      const ref = first + i * chunkWords / 2
      words[ref * 2 + I_META] = 0
      pushHead(words, base + C_FREE_HEAD, -1, ref, I_LRU_PREV, I_LRU_NEXT)
    }
    words[base + C_FREE_COUNT]! += perPage
    words[base + C_PAGE_COUNT]!++
    this.#lock.journalClear()
  }

  /**
   * Gives page `page` (assigned, every chunk FREE) back to the free stack. The caller has
   * emptied it (see SlabStore's page reclaim).
   */
  releasePage (page: number): void {
    const memory = this.#memory
    const words = this.#words
    const cls = memory.pageClass[page]!
    const base = memory.classWord(cls)
    const chunkRefs = this.#classSizes[cls]! / 8
    const perPage = words[base + C_CHUNKS_PER_PAGE]!
    const first = memory.pageRef(page)
    for (let i = 0; i < perPage; i++) {
      unlink(words, base + C_FREE_HEAD, -1, first + i * chunkRefs, I_LRU_PREV, I_LRU_NEXT)
    }
    words[base + C_FREE_COUNT]! -= perPage
    words[base + C_PAGE_COUNT]!--
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

  // ── class LRU lists (items only; value chunks are owned by their item) ─────────────────
  lruPush (cls: number, ref: number): void {
    const base = this.#memory.classWord(cls)
    pushHead(this.#words, base + C_LRU_HEAD, base + C_LRU_TAIL, ref, I_LRU_PREV, I_LRU_NEXT)
  }

  lruRemove (cls: number, ref: number): void {
    const base = this.#memory.classWord(cls)
    unlink(this.#words, base + C_LRU_HEAD, base + C_LRU_TAIL, ref, I_LRU_PREV, I_LRU_NEXT)
  }

  lruBump (cls: number, ref: number): void {
    const base = this.#memory.classWord(cls)
    moveToHead(this.#words, base + C_LRU_HEAD, base + C_LRU_TAIL, ref, I_LRU_PREV, I_LRU_NEXT)
  }

  lruTail (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_LRU_TAIL]! }
  lruHead (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_LRU_HEAD]! }
  pageCount (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_PAGE_COUNT]! }
  freeCount (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_FREE_COUNT]! }
  chunksPerPage (cls: number): number { return this.#words[this.#memory.classWord(cls) + C_CHUNKS_PER_PAGE]! }
}
