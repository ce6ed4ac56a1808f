/**
 * Invariant walker for a slab: hash chains, LRU and free lists, wheel membership, the page
 * table and byte accounting, checked against each other. Thread: a test, or a debug command,
 * holding the slab quiescent (no concurrent writer). L1, allocates freely (it is not on any
 * request path). Throws `SlabcacheError('SLAB_CORRUPT')` naming the first broken invariant.
 */
import { SlabcacheError } from '../errors.js'
import { keyHash } from './key-hash.js'
import {
  C_FREE_COUNT, C_FREE_HEAD, C_ITEM_COUNT, C_LRU_HEAD, C_LRU_TAIL, C_PAGE_COUNT, CHUNK_PAYLOAD_BYTES, F_EXPIRY,
  H_CHUNK_BYTES, H_ITEM_COUNT, I_CHUNK_OWNER, I_LRU_NEXT, I_LRU_PREV, I_META, I_VALUE_LEN, I_WHEEL_NEXT, I_WHEEL_PREV,
  ITEM_HEADER_BYTES, KIND_FREE, KIND_ITEM, KIND_VALUE_CHUNK, MAX_TENANTS, META_CHUNKED, PAGE_FREE, T_BYTES, T_ITEMS,
  WHEEL_HEADS, chunkListOffset, metaKeyLength, metaKind, metaTenant
} from './slab-layout.js'
import type { SlabStore } from './slab-store.js'

function fail (message: string): never {
  throw new SlabcacheError('SLAB_CORRUPT', `slab invariant broken: ${message}`)
}

/** Walks a doubly linked list; returns its members in order. */
function walk (words: Uint32Array, head: number, prevField: number, nextField: number, name: string, limit: number): number[] {
  const members: number[] = []
  let prev = 0
  for (let ref = head; ref !== 0; ref = words[ref * 2 + nextField]!) {
    if (words[ref * 2 + prevField] !== prev) fail(`${name}: prev[${ref}] is ${words[ref * 2 + prevField]}, expected ${prev}`)
    members.push(ref)
    if (members.length > limit) fail(`${name}: cycle`)
    prev = ref
  }
  return members
}

// Mark bits per chunk start, indexed by ref - minRef (reused between calls: checks run after
// every step of randomized tests, so they must be cheap).
const ITEM = 1
const VALUE = 2
const FREE = 4
const CHAINED = 8
const WHEELED = 16
const OWNED = 32
const LISTED = 64
const marksBySlab = new WeakMap<SharedArrayBuffer, Uint8Array>()

/** A set of chunk refs as mark bits. */
class Marks {
  readonly #marks: Uint8Array
  readonly #minRef: number
  constructor (marks: Uint8Array, minRef: number) { this.#marks = marks; this.#minRef = minRef }
  has (ref: number, bit: number): boolean { return (this.#marks[ref - this.#minRef]! & bit) !== 0 }
  add (ref: number, bit: number): void { this.#marks[ref - this.#minRef]! |= bit }
}

/** Checks every invariant of `store`'s slab; returns the number of live items. */
export function checkSlab (store: SlabStore): number {
  const { memory, allocator, index, wheel } = store
  const words = memory.words
  const doubles = memory.doubles
  const layout = memory.layout
  const limit = memory.endRef - memory.minRef
  let raw = marksBySlab.get(memory.sab)
  if (raw === undefined) { raw = new Uint8Array(limit); marksBySlab.set(memory.sab, raw) }
  raw.fill(0)
  const marks = new Marks(raw, memory.minRef)

  // Pages: each free page is on the stack exactly once; assigned pages count per class.
  const pagesPerClass = new Array<number>(allocator.classCount).fill(0)
  let freePages = 0
  for (let page = 0; page < layout.pageCount; page++) {
    const cls = memory.pageClass[page]!
    if (cls === PAGE_FREE) freePages++
    else if (cls >= allocator.classCount) fail(`page ${page} has class ${cls}`)
    else pagesPerClass[cls]!++
  }
  if (freePages !== allocator.freePages) fail(`free page stack holds ${allocator.freePages}, page table says ${freePages}`)

  // Chunks by kind, per class.
  const liveItems: number[] = []
  let valueChunkCount = 0
  let freeChunkCount = 0
  for (let page = 0; page < layout.pageCount; page++) {
    const cls = memory.pageClass[page]!
    if (cls === PAGE_FREE) continue
    const chunkRefs = layout.classSizes[cls]! / 8
    for (let i = 0; i < allocator.chunksPerPage(cls); i++) {
      const ref = memory.pageRef(page) + i * chunkRefs
      const kind = metaKind(words[ref * 2 + I_META]!)
      if (kind === KIND_ITEM) { liveItems.push(ref); marks.add(ref, ITEM) } else if (kind === KIND_VALUE_CHUNK) { valueChunkCount++; marks.add(ref, VALUE) } else if (kind === KIND_FREE) { freeChunkCount++; marks.add(ref, FREE) }
      else fail(`chunk ${ref} is PENDING outside a mutation`)
    }
  }

  // Classes: page counts, free lists, LRU lists, in-use counts.
  let lruTotal = 0
  for (let cls = 0; cls < allocator.classCount; cls++) {
    const base = memory.classWord(cls)
    if (words[base + C_PAGE_COUNT] !== pagesPerClass[cls]) fail(`class ${cls} page count ${words[base + C_PAGE_COUNT]} != ${pagesPerClass[cls]}`)
    const free = walk(words, words[base + C_FREE_HEAD]!, I_LRU_PREV, I_LRU_NEXT, `class ${cls} free list`, limit)
    if (free.length !== words[base + C_FREE_COUNT]) fail(`class ${cls} free count ${words[base + C_FREE_COUNT]} != list length ${free.length}`)
    for (const ref of free) {
      if (!marks.has(ref, FREE) || marks.has(ref, LISTED)) fail(`class ${cls} free list holds non-free chunk ${ref}`)
      marks.add(ref, LISTED)
      if (memory.pageClass[memory.pageOf(ref)] !== cls) fail(`free chunk ${ref} is on the wrong class list ${cls}`)
    }
    const lru = walk(words, words[base + C_LRU_HEAD]!, I_LRU_PREV, I_LRU_NEXT, `class ${cls} LRU`, limit)
    if ((lru.length === 0 ? 0 : lru[lru.length - 1]) !== words[base + C_LRU_TAIL]) fail(`class ${cls} LRU tail is stale`)
    for (const ref of lru) {
      if (!marks.has(ref, ITEM) || marks.has(ref, LISTED)) fail(`class ${cls} LRU holds non-item ${ref}`)
      marks.add(ref, LISTED)
      if (memory.pageClass[memory.pageOf(ref)] !== cls) fail(`item ${ref} is on the wrong LRU ${cls}`)
    }
    lruTotal += lru.length
    const chunks = pagesPerClass[cls]! * allocator.chunksPerPage(cls)
    if (words[base + C_ITEM_COUNT]! + free.length !== chunks) fail(`class ${cls}: ${words[base + C_ITEM_COUNT]} in use + ${free.length} free != ${chunks} chunks`)
  }
  let freeTotal = 0
  for (let cls = 0; cls < allocator.classCount; cls++) freeTotal += words[memory.classWord(cls) + C_FREE_COUNT]!
  if (freeTotal !== freeChunkCount) fail(`${freeChunkCount} free chunks, ${freeTotal} on free lists`)
  if (lruTotal !== liveItems.length) fail(`${liveItems.length} items, ${lruTotal} on LRU lists`)

  // Hash chains: every live item exactly once, on its own bucket.
  let chained = 0
  for (let bucket = 0; bucket < layout.bucketCount; bucket++) {
    let steps = 0
    for (let ref = index.bucketHead(bucket); ref !== 0; ref = words[ref * 2 + 2]!) {
      if (!marks.has(ref, ITEM)) fail(`bucket ${bucket} chains non-item ${ref}`)
      if (marks.has(ref, CHAINED)) fail(`item ${ref} chained twice`)
      marks.add(ref, CHAINED)
      chained++
      const meta = words[ref * 2 + I_META]!
      const hash = keyHash(metaTenant(meta), memory.bytes, ref * 8 + ITEM_HEADER_BYTES, metaKeyLength(meta))
      if ((hash & layout.bucketMask) !== bucket) fail(`item ${ref} is on bucket ${bucket}, hashes to ${hash & layout.bucketMask}`)
      if (++steps > limit) fail(`bucket ${bucket}: cycle`)
    }
  }
  if (chained !== liveItems.length) fail(`${liveItems.length} items, ${chained} on hash chains`)

  // Wheel: exactly the items with an expiry, each once.
  let wheeled = 0
  for (let slot = 0; slot < WHEEL_HEADS; slot++) {
    for (const ref of walk(words, words[wheel.slotHeadWord(slot)]!, I_WHEEL_PREV, I_WHEEL_NEXT, `wheel slot ${slot}`, limit)) {
      if (!marks.has(ref, ITEM)) fail(`wheel slot ${slot} holds non-item ${ref}`)
      if (marks.has(ref, WHEELED)) fail(`item ${ref} on the wheel twice`)
      if (doubles[ref + F_EXPIRY] === 0) fail(`item ${ref} without expiry is on the wheel`)
      marks.add(ref, WHEELED)
      wheeled++
    }
  }
  for (const ref of liveItems) if (doubles[ref + F_EXPIRY] !== 0 && !marks.has(ref, WHEELED)) fail(`item ${ref} with expiry is not on the wheel`)
  if (wheeled !== wheel.size) fail(`wheel count ${wheel.size} != ${wheeled}`)

  // Value chunks belong to live chunked items; byte accounting per tenant and in total.
  const tenantItems = new Map<number, number>()
  const tenantBytes = new Map<number, number>()
  let chunkBytes = 0
  let owned = 0
  for (const ref of liveItems) {
    const meta = words[ref * 2 + I_META]!
    const tenant = metaTenant(meta)
    if (tenant >= MAX_TENANTS) fail(`item ${ref} has tenant ${tenant}`)
    let held = memory.chunkBytesOf(ref)
    if ((meta & META_CHUNKED) !== 0) {
      const listWord = (ref * 8 + chunkListOffset(metaKeyLength(meta))) >>> 2
      const count = Math.ceil(words[ref * 2 + I_VALUE_LEN]! / CHUNK_PAYLOAD_BYTES)
      for (let i = 0; i < count; i++) {
        const chunk = words[listWord + i]!
        if (!marks.has(chunk, VALUE) || marks.has(chunk, OWNED) || words[chunk * 2 + I_CHUNK_OWNER] !== ref) fail(`item ${ref} chunk ${i} (${chunk}) is not its value chunk`)
        marks.add(chunk, OWNED)
        owned++
        held += memory.chunkBytesOf(chunk)
      }
    } else if (ITEM_HEADER_BYTES + metaKeyLength(meta) + words[ref * 2 + I_VALUE_LEN]! > memory.chunkBytesOf(ref)) {
      fail(`item ${ref} overflows its chunk`)
    }
    tenantItems.set(tenant, (tenantItems.get(tenant) ?? 0) + 1)
    tenantBytes.set(tenant, (tenantBytes.get(tenant) ?? 0) + held)
    chunkBytes += held
  }
  if (owned !== valueChunkCount) fail(`${valueChunkCount - owned} value chunks have no owner`)
  if (doubles[H_ITEM_COUNT >>> 3] !== liveItems.length) fail(`item count ${doubles[H_ITEM_COUNT >>> 3]} != ${liveItems.length}`)
  if (doubles[H_CHUNK_BYTES >>> 3] !== chunkBytes) fail(`chunk bytes ${doubles[H_CHUNK_BYTES >>> 3]} != ${chunkBytes}`)
  for (let tenant = 0; tenant < MAX_TENANTS; tenant++) {
    const base = memory.tenantDouble(tenant)
    if (doubles[base + T_ITEMS] !== (tenantItems.get(tenant) ?? 0)) fail(`tenant ${tenant} items ${doubles[base + T_ITEMS]} != ${tenantItems.get(tenant) ?? 0}`)
    if (doubles[base + T_BYTES] !== (tenantBytes.get(tenant) ?? 0)) fail(`tenant ${tenant} bytes ${doubles[base + T_BYTES]} != ${tenantBytes.get(tenant) ?? 0}`)
  }
  if (chunkBytes > layout.pageCount * 1048576) fail('more bytes held than the slab has')
  return liveItems.length
}
