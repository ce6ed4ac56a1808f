/**
 * Slab layout: where everything lives inside one shard's SharedArrayBuffer.
 * Thread: any (pure constants and arithmetic, L1).
 * Owns: the byte layout of the slab (header, tables, hash index, pages) and of an item.
 * Invariant: the layout is a pure function of `slabBytes`, so a thread attaching to an existing
 * slab recomputes it and checks MAGIC/LAYOUT_VERSION/SLAB_BYTES instead of trusting pointers.
 *
 *  slab (byte offsets)
 *  ┌──────────────────────────── 0
 *  │ header, 16 lines of 64 B    (control words each on their own cache line: false sharing
 *  │                              made a store 4× slower on this machine)
 *  ├──────────────────────────── CLASS_TABLE_BASE   64 classes × 64 B
 *  ├──────────────────────────── TENANT_TABLE_BASE  MAX_TENANTS × 128 B (f64 counters, quota)
 *  ├──────────────────────────── WHEEL_BASE         257 u32 list heads (4 levels × 64 + overflow)
 *  ├──────────────────────────── HIT_RING_BASE      HIT_RING_SLOTS u32 item refs
 *  ├──────────────────────────── LRU_TABLE_BASE     LRU_CLASSES × MAX_TENANTS × (u32 head, u32 tail)
 *  ├──────────────────────────── layout.pageTableBase   pageCount u8 (size class or PAGE_FREE)
 *  ├──────────────────────────── layout.pageUsedBase    pageCount u32 (chunks in use per page)
 *  ├──────────────────────────── layout.freePageBase    pageCount u32 (stack of free pages)
 *  ├──────────────────────────── layout.indexBase       bucketCount u32 bucket heads
 *  ├──────────────────────────── layout.pagesBase       pageCount × PAGE_BYTES (4 KiB aligned)
 *  └──────────────────────────── slabBytes (tail < 1 page unused)
 */

export const SLAB_MAGIC = 0x534c4142 // 'SLAB'
/**
 * 2: per-page in-use chunk counts (pageUsedBase), H_EMPTY_PAGES, lazy carving (C_CARVE_*).
 * 3: item extension block (META_EXT: tags and content type), tag records (META_TAG_RECORD),
 *    and one LRU list per (size class, tenant) in LRU_TABLE_BASE instead of one per class;
 *    C_LRU_ITEMS; 128-byte tenant rows with T_QUOTA; H_TENANT_SPAN.
 */
export const LAYOUT_VERSION = 3
export const PAGE_BYTES = 1 << 20
/** Smallest chunk; each class is ×1.25 the previous, rounded up to 8 bytes. */
export const MIN_CHUNK_BYTES = 64
export const CLASS_GROWTH = 1.25
/** Largest chunk. Larger items are chunked: a header item plus value chunks of this size. */
export const MAX_CHUNK_BYTES = PAGE_BYTES / 2
export const MAX_CLASSES = 64
export const PAGE_FREE = 0xff
/** Tenant ids are 12 bits in the item's meta word; counters exist for this many. */
export const MAX_TENANTS = 1024
/** Key length is 13 bits in the item's meta word. */
export const MAX_KEY_BYTES = 4096
/** Hits recorded by lock-free readers, applied to the LRU under the lock (power of two). */
export const HIT_RING_SLOTS = 4096
/** One bucket per this many slab bytes (rounded down to a power of two). */
export const BYTES_PER_BUCKET = 256
/** Smallest slab: it holds 3 pages after the fixed tables (see computeLayout). */
export const MIN_SLAB_BYTES = 4 * PAGE_BYTES

// ── header: byte offsets ──────────────────────────────────────────────────────────────
// line 0: identity
export const H_MAGIC = 0 // u32
export const H_VERSION = 4 // u32
export const H_SLAB_BYTES = 8 // f64
export const H_CREATED_MS = 16 // f64
// lines 1–4: one control word per line
export const H_LOCK = 64 // i32: 0 = free, else owner id (1 = main thread, 2+ = a worker)
export const H_LOCK_WAITERS = 96 // i32: threads parked in Atomics.wait on H_LOCK (same line: both touched by the releaser)
export const H_SEQ = 128 // i32 seqlock: odd while a writer changes chains or item bytes
export const H_HIT_HEAD = 192 // u32: written by the (single) lock-free reader thread
export const H_HIT_TAIL = 256 // u32: written by the lock holder when it applies hits
// line 5: journal of the mutation in progress (see slab-journal.ts)
export const H_JOURNAL_OP = 320 // u32
export const H_JOURNAL_REF_A = 324 // u32
export const H_JOURNAL_REF_B = 328 // u32
// line 6–7: writer-side totals (changed only under the lock)
export const H_CAS_COUNTER = 384 // f64, integer < 2^53
export const H_ITEM_COUNT = 392 // f64
export const H_ITEM_BYTES = 400 // f64: header + key + value (+ chunk refs) of live items
export const H_CHUNK_BYTES = 408 // f64: chunk bytes held by live items (what they cost)
export const H_FREE_PAGES = 416 // u32: depth of the free-page stack
export const H_EMPTY_PAGES = 420 // u32: assigned pages with no chunk in use (free memory in a class)
export const H_WHEEL_TICK = 424 // f64: next wheel tick to process (ticks are seconds)
export const H_WHEEL_COUNT = 432 // f64: items linked in the wheel
export const H_EVICTIONS = 440 // f64
export const H_EXPIRATIONS = 448 // f64
export const H_PAGES_MOVED = 456 // f64: pages taken from one class and given to another
export const H_REPAIRS = 464 // f64: crash repairs run on this slab
/**
 * u32: 1 + the highest tenant id that has linked an item or had a quota set in this slab (never
 * lowered). Every per-tenant scan (victim choice, rebalancer ages, checks) stops here, so a
 * slab used by a few tenants pays for a few, not for MAX_TENANTS.
 */
export const H_TENANT_SPAN = 504
// line 8: reader-side totals (changed only by the reader thread, no lock)
export const H_HITS = 512 // f64
export const H_MISSES = 520 // f64
export const HEADER_BYTES = 1024

// ── class table: 64 B per class; u32 field indexes within the class's 16 words ────────
export const CLASS_TABLE_BASE = HEADER_BYTES
export const CLASS_STRIDE_BYTES = 64
export const C_CHUNK_BYTES = 0
export const C_FREE_HEAD = 1
export const C_FREE_COUNT = 2
/**
 * Items on the class's LRU lists, all tenants together (the lists themselves are in the LRU
 * table, one per tenant). Word 4 is unused since layout 3 (it held the class's LRU tail).
 */
export const C_LRU_ITEMS = 3
export const C_ITEM_COUNT = 5 // items and value chunks held by the class
export const C_PAGE_COUNT = 6
export const C_CHUNKS_PER_PAGE = 7
/** 1 + the page being carved (chunks handed out in page order, lazily); 0 = none. */
export const C_CARVE_PAGE = 12
/** Chunks of the carve page carved so far; the rest are not on any list (bytes are garbage). */
export const C_CARVE_NEXT = 13
export const C_EVICTIONS_F64 = 4 // f64 index within the class's 8 doubles (byte 32)
export const C_PRESSURE_F64 = 5 // f64: evictions since the rebalancer last looked (byte 40)

// ── tenant table: 128 B per tenant = 16 f64 (8 counters, the quota, 7 spare) ─────────────
export const TENANT_TABLE_BASE = CLASS_TABLE_BASE + MAX_CLASSES * CLASS_STRIDE_BYTES
export const TENANT_STRIDE_BYTES = 128
export const T_ITEMS = 0
export const T_BYTES = 1 // chunk bytes held (the tenant's share of memory)
export const T_HITS = 2
export const T_MISSES = 3
export const T_SETS = 4
export const T_DELETES = 5
export const T_EVICTIONS = 6
export const T_EXPIRATIONS = 7
/**
 * This slab's byte quota for the tenant (chunk bytes, as T_BYTES counts them); 0 = unlimited.
 * Set by SlabStore.setTenantQuota (the engine gives each shard its share); survives repair.
 */
export const T_QUOTA = 8

// ── timing wheel heads ─────────────────────────────────────────────────────────────────
export const WHEEL_BASE = TENANT_TABLE_BASE + MAX_TENANTS * TENANT_STRIDE_BYTES
export const WHEEL_LEVELS = 4
export const WHEEL_SLOTS = 64
export const WHEEL_SLOT_BITS = 6
/** Index (in wheel heads) of the list of items beyond the wheel's range (~194 days). */
export const WHEEL_OVERFLOW = WHEEL_LEVELS * WHEEL_SLOTS
export const WHEEL_HEADS = WHEEL_OVERFLOW + 1
export const TICK_MS = 1000
export const HIT_RING_BASE = align(WHEEL_BASE + WHEEL_HEADS * 4, 64)

// ── LRU table: one intrusive list per (size class, tenant) ──────────────────────────────
// Tenant-major: list (cls, tenant) is at LRU_TABLE_BASE + (tenant × LRU_CLASSES + cls) × 8, u32
// head (most recently used) then u32 tail (the eviction end). Tenant-major keeps one tenant's
// 41 lists in 328 contiguous bytes: with class-major rows (8 KiB apart) an eviction-heavy set
// loop ran ~25% slower on this machine (cache and TLB misses), while the scans across tenants
// that class-major would speed up (victim choice, class ages) run only with several tenants.
// Cost: 41 classes × 1024 tenants × 8 B = 328 KiB per shard (one tenant-blind list per class
// cost 512 B). It buys O(1) eviction of a tenant's own least recently used item, which is
// what keeps a tenant over its quota from touching anyone else's data.
export const LRU_TABLE_BASE = align(HIT_RING_BASE + HIT_RING_SLOTS * 4, 64)
export const LRU_LIST_BYTES = 8
/** Size classes the LRU table has rows for: exactly the classes `sizeClasses()` makes (41). */
export const LRU_CLASSES = sizeClasses().length
export const LRU_TABLE_BYTES = LRU_CLASSES * MAX_TENANTS * LRU_LIST_BYTES
export const FIXED_BYTES = LRU_TABLE_BASE + LRU_TABLE_BYTES

// ── item: 48-byte header, then key bytes, then value bytes ─────────────────────────────
// Item refs are u32 byte offsets / 8 (items are 8-aligned); ref 0 is "none" (the header
// lives at offset 0, so no item has ref 0). u32 field index = ref * 2 + I_*; f64 = ref + F_*.
//   off size field
//    0   4   lruPrev     LRU (or free list) links
//    4   4   lruNext
//    8   4   hashNext    bucket chain   | value chunk: owner item ref
//   12   4   wheelPrev   timing wheel   | value chunk: index in the owner's chunk list
//   16   4   wheelNext
//   20   4   valueLen    bytes          | value chunk: payload bytes
//   24   8   expiryMs    f64, absolute ms, 0 = never
//   32   8   cas         f64 integer: (write ms × 1024 + counter), unique per slab
//   40   4   clientFlags memcached flags, round-tripped
//   44   4   meta        keyLen (13 bits) | tenant (12) << 13 | kind (2) << 25 | CHUNKED << 27
//                        | EXT << 28 | TAG_RECORD << 29 | bump epoch (2) << 30
export const ITEM_HEADER_BYTES = 48
export const I_LRU_PREV = 0
export const I_LRU_NEXT = 1
export const I_HASH_NEXT = 2
export const I_WHEEL_PREV = 3
export const I_WHEEL_NEXT = 4
export const I_VALUE_LEN = 5
export const F_EXPIRY = 3
export const F_CAS = 4
export const I_FLAGS = 10
export const I_META = 11
export const I_CHUNK_OWNER = I_HASH_NEXT
export const I_CHUNK_INDEX = I_WHEEL_PREV

export const META_KEY_MASK = 0x1fff
export const META_TENANT_SHIFT = 13
export const META_TENANT_MASK = 0xfff
export const META_KIND_SHIFT = 25
export const KIND_FREE = 0
/** Allocated by a set that has not committed; never visible to readers. */
export const KIND_PENDING = 1
export const KIND_ITEM = 2
export const KIND_VALUE_CHUNK = 3
export const META_CHUNKED = 1 << 27
/** The item carries an extension block after its key (tags, content type): see item-ext.ts. */
export const META_EXT = 1 << 28
/**
 * The chunk is a tag record, not a user item (see item-ext.ts). Part of the lookup identity, so
 * a user key lookup (bit clear) never matches a record and a record lookup never matches a key.
 */
export const META_TAG_RECORD = 1 << 29
/** The part of meta a lookup compares: key length, tenant, kind and the tag-record namespace bit. */
export const META_IDENTITY_MASK = ((1 << 27) - 1) | META_TAG_RECORD
/**
 * Bits 30–31 of a live item: its LRU bump epoch, floor(nowMs / bumpIntervalMs) & 3 of the window
 * in which it was last linked at its LRU head (committed, or bumped by a recorded hit); see
 * bump-epoch.ts. Written only under the lock; the lock-free reader only compares it. Outside
 * META_IDENTITY_MASK, so lookups ignore it; 0 in free chunks, value chunks and tag records (they
 * are never on an LRU); never exported (snapshots carry tenant and key length, not the word).
 */
export const META_BUMP_EPOCH_SHIFT = 30
export const META_BUMP_EPOCH_MASK = 0xc0000000

/** Builds an item's meta word. */
export function makeMeta (keyLength: number, tenantId: number, kind: number, chunked: boolean): number {
  return (keyLength | (tenantId << META_TENANT_SHIFT) | (kind << META_KIND_SHIFT) | (chunked ? META_CHUNKED : 0)) >>> 0
}
export function metaKind (meta: number): number { return (meta >>> META_KIND_SHIFT) & 3 }
export function metaKeyLength (meta: number): number { return meta & META_KEY_MASK }
export function metaTenant (meta: number): number { return (meta >>> META_TENANT_SHIFT) & META_TENANT_MASK }
export function metaBumpEpoch (meta: number): number { return meta >>> META_BUMP_EPOCH_SHIFT }
/** `meta` with its bump epoch replaced by `epoch` (only its low 2 bits are kept). */
export function withBumpEpoch (meta: number, epoch: number): number {
  return ((meta & ~META_BUMP_EPOCH_MASK) | ((epoch & 3) << META_BUMP_EPOCH_SHIFT)) >>> 0
}

/** Where the chunk-ref list of a chunked item starts, relative to the item (4-aligned). */
export function chunkListOffset (keyLength: number): number {
  return ITEM_HEADER_BYTES + align(keyLength, 4)
}

/** Payload bytes one value chunk carries. */
export const CHUNK_PAYLOAD_BYTES = MAX_CHUNK_BYTES - ITEM_HEADER_BYTES

export function align (n: number, to: number): number {
  return Math.ceil(n / to) * to
}

/** Chunk sizes of the size classes, ascending; the last is MAX_CHUNK_BYTES. */
export function sizeClasses (): number[] {
  const sizes: number[] = []
  let size = MIN_CHUNK_BYTES
  while (size < MAX_CHUNK_BYTES) {
    sizes.push(size)
    size = align(Math.ceil(size * CLASS_GROWTH), 8)
  }
  sizes.push(MAX_CHUNK_BYTES)
  if (sizes.length > MAX_CLASSES) throw new Error('size class table overflows MAX_CLASSES')
  return sizes
}

export interface SlabLayout {
  readonly slabBytes: number
  readonly bucketCount: number
  readonly bucketMask: number
  readonly pageCount: number
  readonly pageTableBase: number
  readonly pageUsedBase: number
  readonly freePageBase: number
  readonly indexBase: number
  readonly pagesBase: number
  readonly classSizes: readonly number[]
}

/**
 * Computes the layout for a slab of `slabBytes` (the configured memory divided by the shard
 * count). Throws RangeError when it is smaller than MIN_SLAB_BYTES (which leaves 3 pages).
 */
export function computeLayout (slabBytes: number): SlabLayout {
  if (!Number.isSafeInteger(slabBytes) || slabBytes < MIN_SLAB_BYTES) {
    throw new RangeError(`slabBytes must be an integer of at least ${MIN_SLAB_BYTES}; received ${slabBytes}`)
  }
  let bucketCount = 1024
  while (bucketCount * 2 * BYTES_PER_BUCKET <= slabBytes) bucketCount *= 2
  // pageCount × (PAGE_BYTES + 1 + 4 + 4) + buckets + alignment slack must fit after FIXED_BYTES.
  const slack = 64 * 4 + 4096
  const pageCount = Math.floor((slabBytes - FIXED_BYTES - bucketCount * 4 - slack) / (PAGE_BYTES + 9))
  if (pageCount < 1) throw new RangeError(`slabBytes ${slabBytes} leaves no room for pages`)
  const pageTableBase = FIXED_BYTES
  const pageUsedBase = align(pageTableBase + pageCount, 64)
  const freePageBase = align(pageUsedBase + pageCount * 4, 64)
  const indexBase = align(freePageBase + pageCount * 4, 64)
  const pagesBase = align(indexBase + bucketCount * 4, 4096)
  if (pagesBase + pageCount * PAGE_BYTES > slabBytes) throw new Error('layout arithmetic overflowed the slab')
  if ((pagesBase + pageCount * PAGE_BYTES) / 8 >= 2 ** 32) throw new RangeError('slabBytes too large for u32 item refs (32 GiB)')
  return { slabBytes, bucketCount, bucketMask: bucketCount - 1, pageCount, pageTableBase, pageUsedBase, freePageBase, indexBase, pagesBase, classSizes: sizeClasses() }
}
