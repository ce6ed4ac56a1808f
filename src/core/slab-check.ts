/**
 * Invariant walker for a slab: hash chains, LRU and free lists, wheel membership and slot
 * placement, the page table, per-page in-use counts and byte accounting, checked against each
 * other. Thread: a test, or a debug command, holding the slab quiescent (no concurrent writer).
 * L1, allocates a little per call and a reused scratch state per slab (it is on no request path).
 * Throws `SlabcacheError('SLAB_CORRUPT')` naming the first broken invariant.
 *
 * Cost is O(live items + free chunks + buckets), not O(chunks): randomized tests run it after
 * every operation. It never visits a chunk that no list reaches; instead it counts: per class,
 * free-list members + LRU items + value chunks (all distinct, all carved chunk starts of that
 * class's pages) + the uncarved rest of its carve page must equal the class's chunks, so by
 * pigeonhole every carved chunk was reached, and none is PENDING or leaked. Lists reached after the LRU (hash chains, wheel) identify an item by its
 * 64-byte granule and the exact ref stored there, instead of re-deriving chunk alignment.
 * Tags (item-ext.ts): every record on a hash chain is a carved record chunk with members; its
 * list is well linked, each member node is a node of a live item of the record's tenant that
 * names this record, R_COUNT is the list length, and the lists together hold every node of
 * every tagged item (each item's records distinct); records count in their class's in-use
 * chunks and in their tenant's bytes.
 * The cost is memory latency: each pass over the items is a walk in list order, ~50 ns per
 * item once the slab is larger than the caches.
 */
import { SlabcacheError } from '../errors.js'
import { keyHash } from './key-hash.js'
import {
  C_CARVE_NEXT, C_CARVE_PAGE, C_CHUNK_BYTES, C_CHUNKS_PER_PAGE, C_FREE_COUNT, C_FREE_HEAD, C_ITEM_COUNT, C_LRU_HEAD, C_LRU_TAIL, C_PAGE_COUNT,
  CHUNK_PAYLOAD_BYTES, F_EXPIRY, H_CHUNK_BYTES, H_EMPTY_PAGES, H_HIT_HEAD, H_HIT_TAIL, H_ITEM_BYTES,
  H_ITEM_COUNT, HIT_RING_SLOTS, I_CHUNK_INDEX, I_CHUNK_OWNER, I_HASH_NEXT, I_LRU_NEXT, I_LRU_PREV, I_META,
  I_VALUE_LEN, I_WHEEL_NEXT, I_WHEEL_PREV, ITEM_HEADER_BYTES, KIND_FREE, KIND_ITEM, KIND_VALUE_CHUNK, MAX_TENANTS,
  META_CHUNKED, META_KIND_SHIFT, PAGE_BYTES, PAGE_FREE, T_BYTES, T_ITEMS, TICK_MS, WHEEL_LEVELS, WHEEL_OVERFLOW, WHEEL_SLOT_BITS,
  WHEEL_SLOTS, metaKeyLength, metaKind, metaTenant, META_EXT, META_TAG_RECORD
} from './slab-layout.js'
import { N_NEXT, N_OWNER, N_PREV, N_RECORD, R_COUNT, R_HEAD, R_TAIL, chunkListAt, dataOffset, tagCountOf, tagNode } from './item-ext.js'
import { J_NONE } from './slab-lock.js'
import type { SlabStore } from './slab-store.js'

function fail (message: string): never {
  throw new SlabcacheError('SLAB_CORRUPT', `slab invariant broken: ${message}`)
}

// Mark bits per chunk start. Chunks are ≥ 64 bytes, so a chunk start is identified by its
// 64-byte granule: index (ref × 8 − pagesBase) / 64.
const FREE = 1
const ITEM = 2
const VALUE = 4
const CHAINED = 8
const WHEELED = 16
const RECORD = 32
const GRANULE_BYTES = 64
const GRANULE_REF_SHIFT = 3

/**
 * Mark index of chunk `ref`. A top-level function, not a closure made per call: V8 inlines a
 * closure's identity and deoptimized checkSlab on every call ("wrong call target"), 10× slower.
 */
function granuleOf (ref: number, minRef: number): number {
  return (ref - minRef) >>> GRANULE_REF_SHIFT
}

/** Scratch reused between checks of one slab. */
interface CheckState {
  marks: Uint8Array
  /** The item ref marked ITEM in each granule. */
  refAt: Uint32Array
  tenantItems: Float64Array
  tenantBytes: Float64Array
  pageUsed: Uint32Array
  pageMarks: Uint8Array
  inUse: Float64Array
}
const stateBySlab = new WeakMap<SharedArrayBuffer, CheckState>()

/** Checks every invariant of `store`'s slab; returns the number of live items. */
export function checkSlab (store: SlabStore): number {
  const { memory, allocator, wheel, lock } = store
  const words = memory.words
  const doubles = memory.doubles
  const layout = memory.layout
  const minRef = memory.minRef
  const pageCount = layout.pageCount
  const granules = pageCount * PAGE_BYTES / GRANULE_BYTES
  let state = stateBySlab.get(memory.sab)
  if (state === undefined) {
    state = {
      marks: new Uint8Array(granules),
      refAt: new Uint32Array(granules),
      tenantItems: new Float64Array(MAX_TENANTS),
      tenantBytes: new Float64Array(MAX_TENANTS),
      pageUsed: new Uint32Array(layout.pageCount),
      pageMarks: new Uint8Array(layout.pageCount),
      inUse: new Float64Array(allocator.classCount)
    }
    stateBySlab.set(memory.sab, state)
  }
  const { marks, refAt, tenantItems, tenantBytes, pageUsed, pageMarks, inUse } = state
  marks.fill(0)
  refAt.fill(0)
  tenantItems.fill(0)
  tenantBytes.fill(0)
  pageUsed.fill(0)
  pageMarks.fill(0)
  inUse.fill(0)
  const limit = granules

  // Control words: no mutation in flight.
  if (lock.journalOp() !== J_NONE) fail(`journal holds op ${lock.journalOp()} outside a mutation`)
  if (lock.holder() === 0 && (lock.readSeq() & 1) !== 0) fail('seqlock is odd with the lock free')
  const hitBacklog = (words[H_HIT_HEAD >>> 2]! - words[H_HIT_TAIL >>> 2]!) >>> 0
  if (hitBacklog > HIT_RING_SLOTS) fail(`hit ring holds ${hitBacklog} > ${HIT_RING_SLOTS} entries`)

  // Pages: assigned pages count per class; the free stack holds each free page exactly once.
  const pagesPerClass = new Array<number>(allocator.classCount).fill(0)
  let freePages = 0
  for (let page = 0; page < layout.pageCount; page++) {
    const cls = memory.pageClass[page]!
    if (cls === PAGE_FREE) freePages++
    else if (cls >= allocator.classCount) fail(`page ${page} has class ${cls}`)
    else pagesPerClass[cls]!++
  }
  if (freePages !== allocator.freePages) fail(`free page stack holds ${allocator.freePages}, page table says ${freePages}`)
  for (let i = 0; i < allocator.freePages; i++) {
    const page = words[(layout.freePageBase >>> 2) + i]!
    if (page >= layout.pageCount || memory.pageClass[page] !== PAGE_FREE) fail(`free page stack entry ${i} is page ${page}, not a free page`)
    if (pageMarks[page] !== 0) fail(`page ${page} is on the free page stack twice`)
    pageMarks[page] = 1
  }

  // Classes: table entries, free lists, LRU lists; items checked as the LRU reaches them.
  let items = 0
  let itemBytes = 0
  let chunkBytes = 0
  let withExpiry = 0
  /** Live items with an extension block, checked against the tag records below. */
  const tagged: number[] = []
  for (let cls = 0; cls < allocator.classCount; cls++) {
    const base = memory.classWord(cls)
    const size = layout.classSizes[cls]!
    if (words[base + C_CHUNK_BYTES] !== size || words[base + C_CHUNKS_PER_PAGE] !== Math.floor(PAGE_BYTES / size)) fail(`class ${cls} table entry is not its size`)
    if (words[base + C_PAGE_COUNT] !== pagesPerClass[cls]) fail(`class ${cls} page count ${words[base + C_PAGE_COUNT]} != ${pagesPerClass[cls]}`)
    const carvePage = words[base + C_CARVE_PAGE]!
    if (carvePage !== 0 && (carvePage > pageCount || memory.pageClass[carvePage - 1] !== cls)) fail(`class ${cls} carves page ${carvePage - 1}, not one of its pages`)
    if (carvePage === 0 ? words[base + C_CARVE_NEXT] !== 0 : words[base + C_CARVE_NEXT]! > words[base + C_CHUNKS_PER_PAGE]!) fail(`class ${cls} carve cursor ${words[base + C_CARVE_NEXT]} is out of range`)

    // The hottest loop: a fresh page of a small class is 16 Ki free chunks.
    let free = 0
    let prev = 0
    for (let ref = words[base + C_FREE_HEAD]!; ref !== 0; ref = words[ref * 2 + I_LRU_NEXT]!) {
      if (!memory.isChunkStart(ref) || memory.pageClass[memory.pageOf(ref)] !== cls || !allocator.isCarved(ref)) fail(`class ${cls} free list holds ${ref}, not a carved chunk of the class`)
      if ((words[ref * 2 + I_META]! >>> META_KIND_SHIFT & 3) !== KIND_FREE) fail(`class ${cls} free list holds non-free chunk ${ref}`)
      if (words[ref * 2 + I_LRU_PREV] !== prev) fail(`class ${cls} free list: prev[${ref}] is ${words[ref * 2 + I_LRU_PREV]}, expected ${prev}`)
      const g = granuleOf(ref, minRef)
      if (marks[g] !== 0) fail(`class ${cls} free list reaches ${ref} twice`)
      marks[g] = FREE
      if (++free > limit) fail(`class ${cls} free list: cycle`)
      prev = ref
    }
    if (free !== words[base + C_FREE_COUNT]) fail(`class ${cls} free count ${words[base + C_FREE_COUNT]} != list length ${free}`)

    prev = 0
    for (let ref = words[base + C_LRU_HEAD]!; ref !== 0; ref = words[ref * 2 + I_LRU_NEXT]!) {
      if (!memory.isChunkStart(ref) || memory.pageClass[memory.pageOf(ref)] !== cls || !allocator.isCarved(ref)) fail(`class ${cls} LRU holds ${ref}, not a carved chunk of the class`)
      const meta = words[ref * 2 + I_META]!
      if (metaKind(meta) !== KIND_ITEM) fail(`class ${cls} LRU holds non-item ${ref} (kind ${metaKind(meta)})`)
      if (words[ref * 2 + I_LRU_PREV] !== prev) fail(`class ${cls} LRU: prev[${ref}] is ${words[ref * 2 + I_LRU_PREV]}, expected ${prev}`)
      const g = granuleOf(ref, minRef)
      if (marks[g] !== 0) fail(`item ${ref} is reached twice by the LRU lists`)
      marks[g] = ITEM
      refAt[g] = ref
      if (++items > limit) fail(`class ${cls} LRU: cycle`)
      prev = ref
      inUse[cls]!++
      pageUsed[memory.pageOf(ref)]!++

      // The item itself: tenant, lengths, value chunks, bytes.
      const tenant = metaTenant(meta)
      if (tenant >= MAX_TENANTS) fail(`item ${ref} has tenant ${tenant}`)
      if ((meta & META_TAG_RECORD) !== 0) fail(`tag record ${ref} is on class ${cls}'s LRU`)
      const valueLength = words[ref * 2 + I_VALUE_LEN]!
      const data = dataOffset(words, ref, meta)
      if (data > size) fail(`item ${ref} extension block overflows its chunk`)
      if ((meta & META_EXT) !== 0) tagged.push(ref)
      let held = size
      if ((meta & META_CHUNKED) === 0) {
        if (data + valueLength > size) fail(`item ${ref} overflows its chunk`)
        itemBytes += data + valueLength
      } else {
        const count = Math.ceil(valueLength / CHUNK_PAYLOAD_BYTES)
        if (chunkListAt(data) + count * 4 > size) fail(`item ${ref} chunk list overflows its chunk`)
        const listWord = ref * 2 + chunkListAt(data) / 4
        for (let i = 0; i < count; i++) {
          const chunk = words[listWord + i]!
          if (!memory.isChunkStart(chunk) || !allocator.isCarved(chunk) || metaKind(words[chunk * 2 + I_META]!) !== KIND_VALUE_CHUNK) fail(`item ${ref} chunk ${i} (${chunk}) is not a value chunk`)
          if (words[chunk * 2 + I_CHUNK_OWNER] !== ref || words[chunk * 2 + I_CHUNK_INDEX] !== i) fail(`item ${ref} chunk ${i} (${chunk}) names owner ${words[chunk * 2 + I_CHUNK_OWNER]} index ${words[chunk * 2 + I_CHUNK_INDEX]}`)
          const payload = Math.min(CHUNK_PAYLOAD_BYTES, valueLength - i * CHUNK_PAYLOAD_BYTES)
          const chunkSize = memory.chunkBytesOf(chunk)
          if (words[chunk * 2 + I_VALUE_LEN] !== payload || ITEM_HEADER_BYTES + payload > chunkSize) fail(`item ${ref} chunk ${i} payload does not fit`)
          const cg = granuleOf(chunk, minRef)
          if (marks[cg] !== 0) fail(`value chunk ${chunk} is reached twice`)
          marks[cg] = VALUE
          inUse[memory.pageClass[memory.pageOf(chunk)]!]!++
          pageUsed[memory.pageOf(chunk)]!++
          held += chunkSize
        }
        itemBytes += chunkListAt(data) + count * 4 + valueLength + count * ITEM_HEADER_BYTES
      }
      if (doubles[ref + F_EXPIRY] !== 0) withExpiry++
      tenantItems[tenant]!++
      tenantBytes[tenant]! += held
      chunkBytes += held
    }
    if (prev !== words[base + C_LRU_TAIL]) fail(`class ${cls} LRU tail is ${words[base + C_LRU_TAIL]}, last member ${prev}`)
  }

  // Hash chains: every item exactly once, on the bucket of its key hash.
  let chained = 0
  let listedNodes = 0
  let steps = 0
  const indexWord = memory.indexWord
  for (let bucket = 0; bucket < layout.bucketCount; bucket++) {
    for (let ref = words[indexWord + bucket]!; ref !== 0; ref = words[ref * 2 + I_HASH_NEXT]!) {
      if (++steps > 2 * limit) fail(`bucket ${bucket}: chain cycle (an item chained twice)`)
      if (ref < minRef || ref >= memory.endRef) fail(`bucket ${bucket} chains ${ref}, outside the pages`)
      if ((words[ref * 2 + I_META]! & META_TAG_RECORD) !== 0) {
        // A tag record (on no LRU, so first reached here); counted before the pigeonhole check.
        if (!memory.isChunkStart(ref) || !allocator.isCarved(ref)) fail(`bucket ${bucket} chains ${ref}, not a carved chunk`)
        const meta = words[ref * 2 + I_META]!
        const g = granuleOf(ref, minRef)
        if (metaKind(meta) !== KIND_ITEM || (marks[g]! & ~RECORD) !== 0) fail(`tag record ${ref} is not a record chunk (kind ${metaKind(meta)}, marks ${marks[g]})`)
        if ((marks[g]! & RECORD) !== 0) fail(`tag record ${ref} chained twice (or a chain cycle)`)
        marks[g] = RECORD
        refAt[g] = ref
        const tenant = metaTenant(meta)
        const size = memory.chunkBytesOf(ref)
        if (tenant >= MAX_TENANTS) fail(`tag record ${ref} has tenant ${tenant}`)
        if (ITEM_HEADER_BYTES + metaKeyLength(meta) > size) fail(`tag record ${ref} overflows its chunk`)
        if (doubles[ref + F_EXPIRY] !== 0) fail(`tag record ${ref} has an expiry`)
        const count = words[ref * 2 + R_COUNT]!
        if (count === 0) fail(`tag record ${ref} has no members`)
        let members = 0
        let prev = 0
        for (let node = words[ref * 2 + R_HEAD]!; node !== 0; node = words[node * 2 + N_NEXT]!) {
          if (++members > count) fail(`tag record ${ref}: list longer than its count ${count} (or a cycle)`)
          if (words[node * 2 + N_PREV] !== prev) fail(`tag record ${ref}: prev of node ${node} is ${words[node * 2 + N_PREV]}, expected ${prev}`)
          if (words[node * 2 + N_RECORD] !== ref) fail(`tag record ${ref} lists node ${node} of record ${words[node * 2 + N_RECORD]}`)
          const owner = words[node * 2 + N_OWNER]!
          if (owner < minRef || owner >= memory.endRef) fail(`tag node ${node} names owner ${owner}, outside the pages`)
          const og = granuleOf(owner, minRef)
          if (refAt[og] !== owner || (marks[og]! & ITEM) === 0) fail(`tag node ${node} names owner ${owner}, not a live item`)
          const ownerMeta = words[owner * 2 + I_META]!
          if ((ownerMeta & META_EXT) === 0 || metaTenant(ownerMeta) !== tenant) fail(`tag node ${node}: owner ${owner} is untagged or of another tenant`)
          const keyLength = metaKeyLength(ownerMeta)
          const index = (node - tagNode(owner, keyLength, 0)) / 2
          if (!Number.isInteger(index) || index < 0 || index >= tagCountOf(words, owner, keyLength)) fail(`tag node ${node} is not a node of its owner ${owner}`)
          prev = node
        }
        if (members !== count) fail(`tag record ${ref}: count ${count} != list length ${members}`)
        if (words[ref * 2 + R_TAIL] !== prev) fail(`tag record ${ref}: tail ${words[ref * 2 + R_TAIL]}, last member ${prev}`)
        listedNodes += members
        const cls = memory.pageClass[memory.pageOf(ref)]!
        inUse[cls]!++
        pageUsed[memory.pageOf(ref)]!++
        tenantBytes[tenant]! += size
        chunkBytes += size
        const hash = keyHash(tenant, memory.bytes, ref * 8 + ITEM_HEADER_BYTES, metaKeyLength(meta))
        if ((hash & layout.bucketMask) !== bucket) fail(`tag record ${ref} is on bucket ${bucket}, hashes to ${hash & layout.bucketMask}`)
        continue
      }
      const g = granuleOf(ref, minRef)
      if (refAt[g] !== ref || (marks[g]! & ITEM) === 0) fail(`bucket ${bucket} chains non-item ${ref}`)
      if ((marks[g]! & CHAINED) !== 0) fail(`item ${ref} chained twice (or a chain cycle)`)
      marks[g]! |= CHAINED
      chained++
      const meta = words[ref * 2 + I_META]!
      const hash = keyHash(metaTenant(meta), memory.bytes, ref * 8 + ITEM_HEADER_BYTES, metaKeyLength(meta))
      if ((hash & layout.bucketMask) !== bucket) fail(`item ${ref} is on bucket ${bucket}, hashes to ${hash & layout.bucketMask}`)
    }
  }
  if (chained !== items) fail(`${items} items, ${chained} on hash chains`)

  let itemNodes = 0
  for (const ref of tagged) {
    const keyLength = metaKeyLength(words[ref * 2 + I_META]!)
    const count = tagCountOf(words, ref, keyLength)
    for (let i = 0; i < count; i++) {
      const node = tagNode(ref, keyLength, i)
      const record = words[node * 2 + N_RECORD]!
      if (record < minRef || record >= memory.endRef || refAt[granuleOf(record, minRef)] !== record || (marks[granuleOf(record, minRef)]! & RECORD) === 0) fail(`item ${ref} tag ${i} names ${record}, not a chained tag record`)
      if (words[node * 2 + N_OWNER] !== ref) fail(`item ${ref} tag node ${i} names owner ${words[node * 2 + N_OWNER]}`)
      for (let j = 0; j < i; j++) {
        if (words[tagNode(ref, keyLength, j) * 2 + N_RECORD] === record) fail(`item ${ref} carries tag record ${record} twice`)
      }
    }
    itemNodes += count
  }
  if (itemNodes !== listedNodes) fail(`${itemNodes} tag nodes in items, ${listedNodes} on record lists`)

  // Pigeonhole: distinct free + in-use chunks reached + uncarved == chunks of the class's pages.
  for (let cls = 0; cls < allocator.classCount; cls++) {
    const base = memory.classWord(cls)
    const perPage = words[base + C_CHUNKS_PER_PAGE]!
    const chunks = pagesPerClass[cls]! * perPage
    const uncarved = words[base + C_CARVE_PAGE] === 0 ? 0 : perPage - words[base + C_CARVE_NEXT]!
    if (words[base + C_ITEM_COUNT] !== inUse[cls]) fail(`class ${cls}: ${words[base + C_ITEM_COUNT]} chunks counted in use, ${inUse[cls]} reachable (PENDING or leaked chunk?)`)
    if (inUse[cls]! + words[base + C_FREE_COUNT]! + uncarved !== chunks) fail(`class ${cls}: ${inUse[cls]} in use + ${words[base + C_FREE_COUNT]} free + ${uncarved} uncarved != ${chunks} chunks`)
  }
  let emptyPages = 0
  for (let page = 0; page < layout.pageCount; page++) {
    if (memory.pageUsed[page] !== pageUsed[page]) fail(`page ${page} in-use count ${memory.pageUsed[page]} != ${pageUsed[page]}`)
    if (memory.pageClass[page] !== PAGE_FREE && pageUsed[page] === 0) emptyPages++
  }
  if (words[H_EMPTY_PAGES >>> 2] !== emptyPages) fail(`empty page count ${words[H_EMPTY_PAGES >>> 2]} != ${emptyPages}`)


  // Wheel: exactly the items with an expiry, each once, each in the slot its due tick and the
  // wheel's tick call for (see timing-wheel.ts): level 0 holds ticks [tick, tick + 64) (and
  // overdue items in the current slot); level L slot s holds a block of 64^L ticks that starts
  // at or after the current tick and is reached before the slot wraps; overflow holds items due
  // at or after the next level-3 wrap.
  const tick = wheel.tick
  let wheeled = 0
  for (let slot = 0; slot < WHEEL_OVERFLOW + 1; slot++) {
    let prev = 0
    for (let ref = words[wheel.slotHeadWord(slot)]!; ref !== 0; ref = words[ref * 2 + I_WHEEL_NEXT]!) {
      const g = granuleOf(ref, minRef)
      if (refAt[g] !== ref || (marks[g]! & ITEM) === 0) fail(`wheel slot ${slot} holds non-item ${ref}`)
      if ((marks[g]! & WHEELED) !== 0) fail(`item ${ref} on the wheel twice (or a slot cycle)`)
      if (words[ref * 2 + I_WHEEL_PREV] !== prev) fail(`wheel slot ${slot}: prev[${ref}] is ${words[ref * 2 + I_WHEEL_PREV]}, expected ${prev}`)
      marks[g]! |= WHEELED
      wheeled++
      prev = ref
      const expiryMs = doubles[ref + F_EXPIRY]!
      if (expiryMs === 0) fail(`item ${ref} without expiry is on the wheel`)
      const due = Math.ceil(expiryMs / TICK_MS)
      if (!inRightSlot(slot, due, tick)) fail(`item ${ref} due at tick ${due} is in wheel slot ${slot} at tick ${tick}`)
    }
  }
  if (wheeled !== withExpiry) fail(`${withExpiry} items have an expiry, ${wheeled} are on the wheel`)
  if (wheeled !== wheel.size) fail(`wheel count ${wheel.size} != ${wheeled}`)

  // Totals.
  if (doubles[H_ITEM_COUNT >>> 3] !== items) fail(`item count ${doubles[H_ITEM_COUNT >>> 3]} != ${items}`)
  if (doubles[H_ITEM_BYTES >>> 3] !== itemBytes) fail(`item bytes ${doubles[H_ITEM_BYTES >>> 3]} != ${itemBytes}`)
  if (doubles[H_CHUNK_BYTES >>> 3] !== chunkBytes) fail(`chunk bytes ${doubles[H_CHUNK_BYTES >>> 3]} != ${chunkBytes}`)
  for (let tenant = 0; tenant < MAX_TENANTS; tenant++) {
    const base = memory.tenantDouble(tenant)
    if (doubles[base + T_ITEMS] !== tenantItems[tenant]) fail(`tenant ${tenant} items ${doubles[base + T_ITEMS]} != ${tenantItems[tenant]}`)
    if (doubles[base + T_BYTES] !== tenantBytes[tenant]) fail(`tenant ${tenant} bytes ${doubles[base + T_BYTES]} != ${tenantBytes[tenant]}`)
  }
  if (chunkBytes > layout.pageCount * PAGE_BYTES) fail('more bytes held than the slab has')
  return items
}

/** Whether an item due at tick `due` belongs in wheel slot `slot` when the wheel is at `tick`. */
function inRightSlot (slot: number, due: number, tick: number): boolean {
  if (slot === WHEEL_OVERFLOW) {
    const wrap = WHEEL_SLOTS ** WHEEL_LEVELS
    return due >= Math.ceil(tick / wrap) * wrap
  }
  const level = Math.floor(slot / WHEEL_SLOTS)
  const index = slot % WHEEL_SLOTS
  if (level === 0) {
    const at = Math.max(due, tick)
    return at % WHEEL_SLOTS === index && at - tick < WHEEL_SLOTS
  }
  const width = 2 ** (WHEEL_SLOT_BITS * level)
  const block = Math.floor(due / width)
  const start = block * width
  return block % WHEEL_SLOTS === index && start >= tick && start - tick < width * WHEEL_SLOTS
}
