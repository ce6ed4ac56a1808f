/**
 * Crash repair: rebuilds a slab's derived structures from the items themselves.
 * Thread: whichever thread holds the lock after a holder died (the shard set on the main
 * thread, or a replacement worker) or after an exception escaped an inline mutation. L1.
 * Allocates temporary arrays (repair is cold and rare).
 *
 * What is authoritative: the page table (page → class), each class's carve cursor (which
 * chunks of its carve page exist), and each carved chunk's meta word (FREE, PENDING, ITEM,
 * VALUE_CHUNK) with the item bytes behind it, corrected by the journal record of the one
 * mutation that may have been torn:
 *   J_SET_COMMIT(A, B)  the new item A is complete: A becomes live, the old item B is freed
 *   J_DELETE(A)         A is freed
 *   J_PAGE_FORMAT(P, C) page P becomes class C's carve page with nothing carved
 * Every PENDING chunk not named by a commit is freed (its set never committed). Everything else
 * (bucket chains, LRU and free lists, the wheel, the free-page stack, item and byte counts) is
 * derived and rebuilt (per-page in-use counts included). LRU order is restored from CAS order
 * (CAS grows with write time), one list per (class, tenant). Tenant quotas are kept; the tenant
 * span (H_TENANT_SPAN) is clamped to MAX_TENANTS and raised to cover every live item. Bump
 * epochs (meta bits 30–31, bump-epoch.ts) are kept as found, not re-stamped: this file has no
 * interval, and a stale epoch can only make a hit in its window go unrecorded (one late bump).
 * Tags (item-ext.ts): a record chunk keeps its tag name; its member list and count are derived
 * from the live items' nodes (relinked oldest first, so the newest member is at the head). An
 * item whose node names something that is not a record of its tenant, or one record twice, is
 * dropped (keeping it could let it survive an invalidation); a record left without members is
 * freed.
 */
import { pushHead } from './intrusive-list.js'
import { keyHash } from './key-hash.js'
import {
  C_CARVE_NEXT, C_CARVE_PAGE, C_CHUNKS_PER_PAGE, C_FREE_COUNT, C_FREE_HEAD, C_ITEM_COUNT, C_PAGE_COUNT, CHUNK_PAYLOAD_BYTES, F_CAS, F_EXPIRY,
  H_CHUNK_BYTES, H_EMPTY_PAGES, H_ITEM_BYTES, H_ITEM_COUNT, H_REPAIRS, H_TENANT_SPAN, I_CHUNK_INDEX, I_CHUNK_OWNER, I_LRU_NEXT,
  I_LRU_PREV, I_META, I_VALUE_LEN, ITEM_HEADER_BYTES, KIND_FREE, KIND_ITEM, KIND_VALUE_CHUNK, MAX_TENANTS,
  META_CHUNKED, PAGE_FREE, T_BYTES, T_ITEMS, metaKeyLength, metaKind, metaTenant, META_EXT, META_TAG_RECORD
} from './slab-layout.js'
import { N_OWNER, N_PREV, N_NEXT, N_RECORD, R_COUNT, R_HEAD, R_TAIL, chunkListAt, dataOffset, tagCountOf, tagNode } from './item-ext.js'
import { J_DELETE, J_PAGE_FORMAT, J_SET_COMMIT } from './slab-lock.js'
import type { SlabStore } from './slab-store.js'
import { coverTenant } from './tenant-lru.js'

const KIND_MASK = ~(3 << 25)

/** Rebuilds `store`'s slab (see file comment). The caller holds the lock with seq odd. */
export function rebuildSlab (store: SlabStore, nowMs: number): void {
  const { memory, allocator, index, wheel, lock } = store
  const words = memory.words
  const doubles = memory.doubles
  const layout = memory.layout

  // 1. Finish or undo the journaled mutation.
  const op = lock.journalOp()
  const refA = lock.journalRefA()
  const refB = lock.journalRefB()
  if (op === J_SET_COMMIT) {
    words[refA * 2 + I_META] = (words[refA * 2 + I_META]! & KIND_MASK) | (KIND_ITEM << 25)
    if (refB !== 0 && refB !== refA) words[refB * 2 + I_META] = 0
  } else if (op === J_DELETE) {
    words[refA * 2 + I_META] = 0
  } else if (op === J_PAGE_FORMAT) {
    // take() formats a page only when the class's carve page is used up, so P replaces it.
    memory.pageClass[refA] = refB
    const base = memory.classWord(refB)
    words[base + C_CARVE_PAGE] = refA + 1
    words[base + C_CARVE_NEXT] = 0
  }
  lock.journalClear()

  // 2. Forget every derived structure. Keep carve cursors that name a page of their class
  //    (a cursor that does not is garbage: its page is then treated as fully carved).
  for (let cls = 0; cls < allocator.classCount; cls++) {
    const base = memory.classWord(cls)
    words.fill(0, base + C_FREE_HEAD, base + C_CHUNKS_PER_PAGE)
    const carvePage = words[base + C_CARVE_PAGE]!
    if (carvePage !== 0 && (carvePage > layout.pageCount || memory.pageClass[carvePage - 1] !== cls ||
        words[base + C_CARVE_NEXT]! > words[base + C_CHUNKS_PER_PAGE]!)) {
      words[base + C_CARVE_PAGE] = 0
      words[base + C_CARVE_NEXT] = 0
    }
  }
  allocator.clearLru()
  if (words[H_TENANT_SPAN >>> 2]! > MAX_TENANTS) words[H_TENANT_SPAN >>> 2] = MAX_TENANTS
  while (allocator.popFreePage() >= 0) { /* empty the stack */ }
  memory.pageUsed.fill(0)
  index.clear()
  wheel.reset(nowMs)
  for (let tenant = 0; tenant < MAX_TENANTS; tenant++) {
    const base = memory.tenantDouble(tenant)
    doubles[base + T_ITEMS] = 0
    doubles[base + T_BYTES] = 0
  }
  doubles[H_ITEM_COUNT >>> 3] = 0
  doubles[H_ITEM_BYTES >>> 3] = 0
  doubles[H_CHUNK_BYTES >>> 3] = 0

  // 3. Classify every chunk of every assigned page.
  const items: number[] = []
  const records = new Set<number>()
  const valueChunks = new Set<number>()
  for (let page = layout.pageCount - 1; page >= 0; page--) {
    const cls = memory.pageClass[page]!
    if (cls === PAGE_FREE) { allocator.pushFreePage(page); continue }
    const base = memory.classWord(cls)
    words[base + C_PAGE_COUNT]!++
    const chunkBytes = layout.classSizes[cls]!
    const first = memory.pageRef(page)
    for (let i = allocator.carvedChunks(page) - 1; i >= 0; i--) {
      const ref = first + i * chunkBytes / 8
      const meta = words[ref * 2 + I_META]!
      const kind = metaKind(meta)
      if (kind === KIND_ITEM && (meta & META_TAG_RECORD) !== 0) {
        if (metaTenant(meta) < MAX_TENANTS && ITEM_HEADER_BYTES + metaKeyLength(meta) <= chunkBytes) records.add(ref)
        else freeChunk(store, ref)
      } else if (kind === KIND_ITEM && itemFits(store, ref, chunkBytes)) items.push(ref)
      else if (kind === KIND_VALUE_CHUNK) valueChunks.add(ref)
      else freeChunk(store, ref)
    }
  }

  // 4. Keep chunked items whose every value chunk points back at them; free the rest.
  const claimed = new Set<number>()
  const live: number[] = []
  for (const ref of items) {
    const meta = words[ref * 2 + I_META]!
    if ((meta & META_EXT) !== 0 && !tagsValid(store, ref, records)) { freeChunk(store, ref); continue }
    if ((meta & META_CHUNKED) === 0) { live.push(ref); continue }
    const listWord = ref * 2 + chunkListAt(dataOffset(words, ref, meta)) / 4
    const count = Math.ceil(words[ref * 2 + I_VALUE_LEN]! / CHUNK_PAYLOAD_BYTES)
    let whole = 0
    while (whole < count) {
      const chunk = words[listWord + whole]!
      if (!valueChunks.has(chunk) || claimed.has(chunk) ||
        words[chunk * 2 + I_CHUNK_OWNER] !== ref || words[chunk * 2 + I_CHUNK_INDEX] !== whole) break
      claimed.add(chunk)
      whole++
    }
    if (whole === count) live.push(ref)
    else {
      // Unclaim only what this item claimed: a garbage list may name another item's chunk.
      for (let i = 0; i < whole; i++) claimed.delete(words[listWord + i]!)
      freeChunk(store, ref)
    }
  }
  for (const chunk of valueChunks) {
    if (claimed.has(chunk)) {
      words[memory.classWord(memory.pageClass[memory.pageOf(chunk)]!) + C_ITEM_COUNT]!++
      memory.pageUsed[memory.pageOf(chunk)]!++
    } else {
      freeChunk(store, chunk)
    }
  }

  // 5. Relink live items, oldest first so the newest ends at each LRU head (and tag list head).
  for (const record of records) {
    words[record * 2 + R_HEAD] = 0
    words[record * 2 + R_TAIL] = 0
    words[record * 2 + R_COUNT] = 0
  }
  live.sort((a, b) => doubles[a + F_CAS]! - doubles[b + F_CAS]!)
  for (const ref of live) {
    const meta = words[ref * 2 + I_META]!
    const tenant = metaTenant(meta)
    const keyLength = metaKeyLength(meta)
    const cls = memory.pageClass[memory.pageOf(ref)]!
    words[memory.classWord(cls) + C_ITEM_COUNT]!++
    memory.pageUsed[memory.pageOf(ref)]!++
    index.link(ref, keyHash(tenant, memory.bytes, ref * 8 + ITEM_HEADER_BYTES, keyLength))
    coverTenant(memory, tenant)
    allocator.lruPush(cls, tenant, ref)
    if (doubles[ref + F_EXPIRY] !== 0) wheel.insert(ref)
    if ((meta & META_EXT) !== 0) {
      for (let i = 0; i < tagCountOf(words, ref, keyLength); i++) {
        const node = tagNode(ref, keyLength, i)
        const record = words[node * 2 + N_RECORD]!
        words[node * 2 + N_OWNER] = ref
        pushHead(words, record * 2 + R_HEAD, record * 2 + R_TAIL, node, N_PREV, N_NEXT)
        words[record * 2 + R_COUNT]!++
      }
    }
    const data = dataOffset(words, ref, meta)
    let held = memory.chunkBytesOf(ref)
    let itemBytes = data + words[ref * 2 + I_VALUE_LEN]!
    if ((meta & META_CHUNKED) !== 0) {
      const listWord = ref * 2 + chunkListAt(data) / 4
      const count = Math.ceil(words[ref * 2 + I_VALUE_LEN]! / CHUNK_PAYLOAD_BYTES)
      for (let i = 0; i < count; i++) held += memory.chunkBytesOf(words[listWord + i]!)
      itemBytes = chunkListAt(data) + count * 4 + words[ref * 2 + I_VALUE_LEN]! + count * ITEM_HEADER_BYTES
    }
    const tenantBase = memory.tenantDouble(tenant)
    doubles[tenantBase + T_ITEMS]!++
    doubles[tenantBase + T_BYTES]! += held
    doubles[H_ITEM_COUNT >>> 3]!++
    doubles[H_ITEM_BYTES >>> 3]! += itemBytes
    doubles[H_CHUNK_BYTES >>> 3]! += held
  }
  for (const record of records) {
    if (words[record * 2 + R_COUNT] === 0) { freeChunk(store, record); continue }
    const meta = words[record * 2 + I_META]!
    const tenant = metaTenant(meta)
    const chunkBytes = memory.chunkBytesOf(record)
    words[memory.classWord(memory.pageClass[memory.pageOf(record)]!) + C_ITEM_COUNT]!++
    memory.pageUsed[memory.pageOf(record)]!++
    index.link(record, keyHash(tenant, memory.bytes, record * 8 + ITEM_HEADER_BYTES, metaKeyLength(meta)))
    doubles[memory.tenantDouble(tenant) + T_BYTES]! += chunkBytes
    doubles[H_CHUNK_BYTES >>> 3]! += chunkBytes
  }
  let emptyPages = 0
  for (let page = 0; page < layout.pageCount; page++) {
    if (memory.pageClass[page] !== PAGE_FREE && memory.pageUsed[page] === 0) emptyPages++
  }
  words[H_EMPTY_PAGES >>> 2] = emptyPages
  doubles[H_REPAIRS >>> 3]!++
}

/** Whether ITEM chunk `ref`'s lengths fit its chunk (garbage from a torn write does not). */
function itemFits (store: SlabStore, ref: number, chunkBytes: number): boolean {
  const words = store.memory.words
  const meta = words[ref * 2 + I_META]!
  if (metaTenant(meta) >= MAX_TENANTS) return false
  const valueLength = words[ref * 2 + I_VALUE_LEN]!
  if (ITEM_HEADER_BYTES + metaKeyLength(meta) > chunkBytes) return false
  const data = dataOffset(words, ref, meta)
  if ((meta & META_CHUNKED) === 0) return data + valueLength <= chunkBytes
  return chunkListAt(data) + Math.ceil(valueLength / CHUNK_PAYLOAD_BYTES) * 4 <= chunkBytes
}

/** Whether every tag node of item `ref` names a distinct record (in `records`) of its tenant. */
function tagsValid (store: SlabStore, ref: number, records: ReadonlySet<number>): boolean {
  const words = store.memory.words
  const meta = words[ref * 2 + I_META]!
  const keyLength = metaKeyLength(meta)
  const count = tagCountOf(words, ref, keyLength)
  for (let i = 0; i < count; i++) {
    const record = words[tagNode(ref, keyLength, i) * 2 + N_RECORD]!
    if (!records.has(record) || metaTenant(words[record * 2 + I_META]!) !== metaTenant(meta)) return false
    for (let j = 0; j < i; j++) if (words[tagNode(ref, keyLength, j) * 2 + N_RECORD] === record) return false
  }
  return true
}

function freeChunk (store: SlabStore, ref: number): void {
  const memory = store.memory
  const words = memory.words
  const base = memory.classWord(memory.pageClass[memory.pageOf(ref)]!)
  words[ref * 2 + I_META] = KIND_FREE
  pushHead(words, base + C_FREE_HEAD, -1, ref, I_LRU_PREV, I_LRU_NEXT)
  words[base + C_FREE_COUNT]!++
}

