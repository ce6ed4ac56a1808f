/**
 * SlabTags: the tag-record lifecycle of one SlabStore (layout in item-ext.ts). It holds the
 * extension a write is preparing (the tag records reserved for the new item and its content
 * type), and finds/creates, reserves, releases, links, unlinks, moves and frees tag records.
 * Thread: the thread of its SlabStore; every method runs under the slab lock with the seqlock
 * odd (inside a mutation), except `names`, which only needs the lock.
 * L1: no I/O, no allocation (records live in slab chunks; `names` copies tag names, a cold path).
 * Invariants (item-ext.ts): a record exists only while it has members or reservations; R_COUNT
 * is members + reservations; a reservation becomes a membership at commit (`link`) or is
 * dropped (`release`). Reserved records cannot be freed by the evictions a write makes.
 */
import { keyHash } from './key-hash.js'
import { F_CAS, F_EXPIRY, H_CHUNK_BYTES, I_META, ITEM_HEADER_BYTES, KIND_ITEM, KIND_PENDING, META_EXT, META_TAG_RECORD, T_BYTES, makeMeta, metaKeyLength, metaTenant } from './slab-layout.js'
import {
  MAX_CONTENT_TYPE_BYTES, MAX_ITEM_TAGS, N_NEXT, N_OWNER, N_PREV, N_RECORD, R_COUNT, R_HEAD, R_TAIL,
  contentTypeLengthOf, contentTypeOffset, extHeader, extWord, tagCountOf, tagNode
} from './item-ext.js'
import { pushHead, unlink } from './intrusive-list.js'
import type { HashIndex } from './hash-index.js'
import type { SlabAllocator } from './slab-allocator.js'
import type { SlabMemory } from './slab-memory.js'

/** What SlabTags needs from its store (both run under the store's lock). */
export interface TagHost {
  /** A chunk of class `cls` (or slightly larger), evicting if need be; 0 if none. */
  allocChunk (cls: number): number
  /** Evicts live item `ref` as one journaled mutation, counted as an eviction. */
  evict (ref: number): void
}

export class SlabTags {
  /**
   * Tag records reserved for the item being written (item-ext.ts: each counts one reservation)
   * and its content type, consumed by the store's commit. Empty outside a write.
   */
  readonly refs = new Uint32Array(MAX_ITEM_TAGS)
  count = 0
  readonly contentType = Buffer.alloc(MAX_CONTENT_TYPE_BYTES)
  contentTypeLength = 0

  readonly #memory: SlabMemory
  readonly #words: Uint32Array
  readonly #doubles: Float64Array
  readonly #bytes: Buffer
  readonly #index: HashIndex
  readonly #allocator: SlabAllocator
  readonly #host: TagHost

  constructor (memory: SlabMemory, index: HashIndex, allocator: SlabAllocator, host: TagHost) {
    this.#memory = memory
    this.#words = memory.words
    this.#doubles = memory.doubles
    this.#bytes = memory.bytes
    this.#index = index
    this.#allocator = allocator
    this.#host = host
  }

  /** Forgets the prepared extension without touching the slab (after commit, or before repair). */
  clear (): void {
    this.count = 0
    this.contentTypeLength = 0
  }

  /**
   * Prepares the new item's extension (the commit consumes it): finds or creates the record of
   * each distinct tag and reserves it (R_COUNT + 1), and copies the content type. Creating a
   * record allocates and so may evict; reserved records cannot be freed by those evictions.
   * False (nothing reserved) if a record could not be allocated.
   */
  reserve (tenantId: number, tags: readonly Uint8Array[] | null, contentType: Uint8Array | null): boolean {
    this.count = 0
    this.contentTypeLength = 0
    if (tags !== null) {
      const words = this.#words
      for (let i = 0; i < tags.length; i++) {
        const tag = tags[i]!
        let duplicate = false
        for (let j = 0; j < i && !duplicate; j++) duplicate = Buffer.compare(tags[j]!, tag) === 0
        if (duplicate) continue
        const hash = keyHash(tenantId, tag, 0, tag.length)
        let record = this.#index.findRecord(tenantId, tag, hash)
        if (record === 0) record = this.#createRecord(tenantId, tag, hash)
        if (record === 0) {
          this.release()
          return false
        }
        words[record * 2 + R_COUNT]!++
        this.refs[this.count++] = record
      }
    }
    if (contentType !== null) {
      this.contentType.set(contentType)
      this.contentTypeLength = contentType.length
    }
    return true
  }

  /** Prepares the new item's extension as a copy of item `ref`'s (reserving its records). */
  keep (ref: number): void {
    const words = this.#words
    this.count = 0
    this.contentTypeLength = 0
    const meta = words[ref * 2 + I_META]!
    if ((meta & META_EXT) === 0) return
    const keyLength = metaKeyLength(meta)
    const count = tagCountOf(words, ref, keyLength)
    for (let i = 0; i < count; i++) {
      const record = words[tagNode(ref, keyLength, i) * 2 + N_RECORD]!
      words[record * 2 + R_COUNT]!++
      this.refs[i] = record
    }
    this.count = count
    const length = contentTypeLengthOf(words, ref, keyLength)
    const start = ref * 8 + contentTypeOffset(words, ref, keyLength)
    this.#bytes.copy(this.contentType, 0, start, start + length)
    this.contentTypeLength = length
  }

  /** Drops the reservations `reserve` or `keep` made (a write that failed). */
  release (): void {
    const words = this.#words
    for (let i = 0; i < this.count; i++) {
      const record = this.refs[i]!
      if (--words[record * 2 + R_COUNT]! === 0) this.#freeRecord(record)
    }
    this.count = 0
    this.contentTypeLength = 0
  }

  /** Writes the ext header of new item `ref` (allocated with room for the prepared extension). */
  writeExtHeader (ref: number, keyLength: number): void {
    const at = extWord(ref, keyLength)
    this.#words[at] = extHeader(this.count, this.contentTypeLength)
    this.#words[at + 1] = 0
  }

  /**
   * Fills new (PENDING) item `ref`'s tag nodes and content type from the prepared extension.
   * Nodes name their record and owner now; they join the record lists at commit (`link`).
   */
  writeNodes (ref: number, keyLength: number): void {
    const words = this.#words
    for (let i = 0; i < this.count; i++) {
      const node = tagNode(ref, keyLength, i)
      words[node * 2 + N_RECORD] = this.refs[i]!
      words[node * 2 + N_PREV] = 0
      words[node * 2 + N_NEXT] = 0
      words[node * 2 + N_OWNER] = ref
    }
    this.contentType.copy(this.#bytes, ref * 8 + contentTypeOffset(words, ref, keyLength), 0, this.contentTypeLength)
  }

  /** Links the tag nodes of item `ref` (just made live) into their reserved records. */
  link (ref: number, keyLength: number): void {
    const words = this.#words
    const count = tagCountOf(words, ref, keyLength)
    for (let i = 0; i < count; i++) {
      const node = tagNode(ref, keyLength, i)
      const record = words[node * 2 + N_RECORD]!
      pushHead(words, record * 2 + R_HEAD, record * 2 + R_TAIL, node, N_PREV, N_NEXT)
    }
  }

  /** Unlinks the tag nodes of item `ref` (being removed); frees records left without members. */
  unlink (ref: number, keyLength: number): void {
    const words = this.#words
    const count = tagCountOf(words, ref, keyLength)
    for (let i = 0; i < count; i++) {
      const node = tagNode(ref, keyLength, i)
      const record = words[node * 2 + N_RECORD]!
      unlink(words, record * 2 + R_HEAD, record * 2 + R_TAIL, node, N_PREV, N_NEXT)
      if (--words[record * 2 + R_COUNT]! === 0) this.#freeRecord(record)
    }
  }

  /** Appends copies of the tag names of item `ref` (with META_EXT) to `out`. Allocates. */
  names (ref: number, keyLength: number, out: Buffer[]): void {
    const words = this.#words
    const count = tagCountOf(words, ref, keyLength)
    for (let i = 0; i < count; i++) {
      const record = words[tagNode(ref, keyLength, i) * 2 + N_RECORD]!
      const start = record * 8 + ITEM_HEADER_BYTES
      out.push(Buffer.from(this.#bytes.subarray(start, start + metaKeyLength(words[record * 2 + I_META]!))))
    }
  }

  /**
   * Moves tag record `record` (in a page of class `cls` being emptied) to a free chunk of
   * another class that fits it, rewriting its members' nodes: O(members). Without such a chunk
   * it evicts the record's members instead (the record goes with the last). Returns false only
   * if the record survives that (it holds a reservation of the write in progress).
   * Crash safety: the copy stays PENDING until every node names it (repair frees it, and drops
   * the items whose nodes already did: never two records of one tag).
   */
  moveRecord (record: number, cls: number): boolean {
    const words = this.#words
    const allocator = this.#allocator
    const meta = words[record * 2 + I_META]!
    const keyLength = metaKeyLength(meta)
    let target = 0
    for (let c = allocator.classFor(ITEM_HEADER_BYTES + keyLength); c < allocator.classCount && target === 0; c++) {
      if (c !== cls && allocator.hasFreeChunk(c)) target = allocator.take(c)
    }
    if (target === 0) {
      while (words[record * 2 + R_HEAD] !== 0) {
        const last = words[record * 2 + R_COUNT] === 1
        this.#host.evict(words[words[record * 2 + R_HEAD]! * 2 + N_OWNER]!)
        if (last) return true
      }
      return false
    }
    this.#bytes.copy(this.#bytes, target * 8, record * 8, record * 8 + ITEM_HEADER_BYTES + keyLength)
    words[target * 2 + I_META] = (meta & ~(3 << 25)) | (KIND_PENDING << 25)
    for (let node = words[record * 2 + R_HEAD]!; node !== 0; node = words[node * 2 + N_NEXT]!) words[node * 2 + N_RECORD] = target
    words[target * 2 + I_META] = meta
    const tenantId = metaTenant(meta)
    const hash = keyHash(tenantId, this.#bytes, record * 8 + ITEM_HEADER_BYTES, keyLength)
    this.#index.unlink(record, hash)
    this.#index.link(target, hash)
    for (let i = 0; i < this.count; i++) if (this.refs[i] === record) this.refs[i] = target
    const memory = this.#memory
    const grown = memory.chunkBytesOf(target) - memory.chunkBytesOf(record)
    this.#doubles[memory.tenantDouble(tenantId) + T_BYTES]! += grown
    this.#doubles[H_CHUNK_BYTES >>> 3]! += grown
    allocator.free(record)
    return true
  }

  /** Allocates and chains an empty tag record for (tenant, tag); 0 if no memory. */
  #createRecord (tenantId: number, tag: Uint8Array, hash: number): number {
    const record = this.#host.allocChunk(this.#allocator.classFor(ITEM_HEADER_BYTES + tag.length))
    if (record === 0) return 0
    const words = this.#words
    const doubles = this.#doubles
    words.fill(0, record * 2, record * 2 + I_META)
    doubles[record + F_EXPIRY] = 0
    doubles[record + F_CAS] = 0
    this.#bytes.set(tag, record * 8 + ITEM_HEADER_BYTES)
    words[record * 2 + I_META] = (makeMeta(tag.length, tenantId, KIND_ITEM, false) | META_TAG_RECORD) >>> 0
    this.#index.link(record, hash)
    const chunkBytes = this.#memory.chunkBytesOf(record)
    doubles[this.#memory.tenantDouble(tenantId) + T_BYTES]! += chunkBytes
    doubles[H_CHUNK_BYTES >>> 3]! += chunkBytes
    return record
  }

  /** Unchains and frees tag record `record` (it has no members and no reservations). */
  #freeRecord (record: number): void {
    const meta = this.#words[record * 2 + I_META]!
    const tenantId = metaTenant(meta)
    this.#index.unlink(record, keyHash(tenantId, this.#bytes, record * 8 + ITEM_HEADER_BYTES, metaKeyLength(meta)))
    const chunkBytes = this.#memory.chunkBytesOf(record)
    this.#doubles[this.#memory.tenantDouble(tenantId) + T_BYTES]! -= chunkBytes
    this.#doubles[H_CHUNK_BYTES >>> 3]! -= chunkBytes
    this.#allocator.free(record)
  }
}
