/**
 * SlabMemory: typed views over one shard's SharedArrayBuffer, plus the arithmetic that turns
 * item refs into offsets and checks them. Thread: any thread attached to the slab (the main
 * thread and the shard's worker each hold one). L1, no allocation after construction.
 * Owns: nothing but views; the bytes belong to the slab. Invariant: views are named by role
 * elsewhere; here they are the raw words that `slab-layout.ts` describes.
 */
import {
  CLASS_STRIDE_BYTES, CLASS_TABLE_BASE, H_CREATED_MS, H_MAGIC, H_SLAB_BYTES, H_VERSION, LAYOUT_VERSION,
  LRU_CLASSES, LRU_LIST_BYTES, LRU_TABLE_BASE, PAGE_BYTES, PAGE_FREE, SLAB_MAGIC, TENANT_STRIDE_BYTES, TENANT_TABLE_BASE, computeLayout, type SlabLayout
} from './slab-layout.js'

/** log2 of the refs (8-byte units) in a page. */
const PAGE_REF_SHIFT = Math.log2(PAGE_BYTES / 8)
const PAGE_REF_MASK = PAGE_BYTES / 8 - 1

export class SlabMemory {
  readonly sab: SharedArrayBuffer
  readonly layout: SlabLayout
  /** Byte view; a Buffer so that copies use memcpy without allocating views. */
  readonly bytes: Buffer
  readonly words: Uint32Array
  readonly atomicWords: Int32Array
  readonly doubles: Float64Array
  readonly pageClass: Uint8Array
  /** Chunks in use (PENDING, ITEM or VALUE_CHUNK) per page; 0 for free and empty pages. */
  readonly pageUsed: Uint32Array
  /** u32 index of the first bucket head. */
  readonly indexWord: number
  /** Smallest and one-past-largest valid item ref. */
  readonly minRef: number
  readonly endRef: number

  private constructor (sab: SharedArrayBuffer, layout: SlabLayout) {
    this.sab = sab
    this.layout = layout
    this.bytes = Buffer.from(sab)
    this.words = new Uint32Array(sab)
    this.atomicWords = new Int32Array(sab)
    this.doubles = new Float64Array(sab)
    this.pageClass = new Uint8Array(sab, layout.pageTableBase, layout.pageCount)
    this.pageUsed = new Uint32Array(sab, layout.pageUsedBase, layout.pageCount)
    this.indexWord = layout.indexBase >>> 2
    this.minRef = layout.pagesBase / 8
    this.endRef = (layout.pagesBase + layout.pageCount * PAGE_BYTES) / 8
  }

  /** Lays out a fresh, zeroed slab. Does not initialise tables: see `SlabStore.create`. */
  static format (sab: SharedArrayBuffer, createdMs: number): SlabMemory {
    const memory = new SlabMemory(sab, computeLayout(sab.byteLength))
    memory.words[H_MAGIC >>> 2] = SLAB_MAGIC
    memory.words[H_VERSION >>> 2] = LAYOUT_VERSION
    memory.doubles[H_SLAB_BYTES >>> 3] = sab.byteLength
    memory.doubles[H_CREATED_MS >>> 3] = createdMs
    memory.pageClass.fill(PAGE_FREE)
    return memory
  }

  /** Attaches to a slab formatted by another thread (or before a crash). Throws if foreign. */
  static attach (sab: SharedArrayBuffer): SlabMemory {
    const memory = new SlabMemory(sab, computeLayout(sab.byteLength))
    const words = memory.words
    if (words[H_MAGIC >>> 2] !== SLAB_MAGIC || words[H_VERSION >>> 2] !== LAYOUT_VERSION ||
        memory.doubles[H_SLAB_BYTES >>> 3] !== sab.byteLength) {
      throw new Error('not a slabcache slab of this layout version')
    }
    return memory
  }

  /** u32 index of class `cls`'s first field. */
  classWord (cls: number): number { return (CLASS_TABLE_BASE + cls * CLASS_STRIDE_BYTES) >>> 2 }
  /** f64 index of class `cls`'s first double. */
  classDouble (cls: number): number { return (CLASS_TABLE_BASE + cls * CLASS_STRIDE_BYTES) >>> 3 }
  /** f64 index of tenant `tenantId`'s first counter. */
  tenantDouble (tenantId: number): number { return (TENANT_TABLE_BASE + tenantId * TENANT_STRIDE_BYTES) >>> 3 }
  /** u32 index of the head word of LRU list (cls, tenantId); its tail word follows. */
  lruWord (cls: number, tenantId: number): number { return (LRU_TABLE_BASE + (tenantId * LRU_CLASSES + cls) * LRU_LIST_BYTES) >>> 2 }

  /**
   * Page index holding `ref`; caller guarantees minRef ≤ ref < endRef. Integer arithmetic:
   * ref − minRef < 2^32 (refs are u32), and a page is 2^17 refs.
   */
  pageOf (ref: number): number { return (ref - this.minRef) >>> PAGE_REF_SHIFT }
  /** First item ref of page `page`. */
  pageRef (page: number): number { return (this.layout.pagesBase + page * PAGE_BYTES) / 8 }

  /**
   * Whether `ref` is the start of a chunk in an assigned page: in range, and aligned to the
   * chunk size of its page's class. Readers use it to reject garbage refs before touching them.
   */
  isChunkStart (ref: number): boolean {
    if (!(ref >= this.minRef && ref < this.endRef)) return false
    const relative = ref - this.minRef
    const cls = this.pageClass[relative >>> PAGE_REF_SHIFT]!
    if (cls === PAGE_FREE) return false
    const chunkBytes = this.layout.classSizes[cls]!
    // Both operands are small int32s, so `%` is an integer remainder (on values V8 cannot
    // prove int32 it is a float-mod runtime call, ~10× slower; this runs per chain step).
    const offsetInPage = (relative & PAGE_REF_MASK) * 8
    return offsetInPage % chunkBytes === 0 && offsetInPage + chunkBytes <= PAGE_BYTES
  }

  /** Chunk size of the class that owns `ref`'s page; caller guarantees isChunkStart(ref). */
  chunkBytesOf (ref: number): number {
    return this.layout.classSizes[this.pageClass[this.pageOf(ref)]!]!
  }
}
