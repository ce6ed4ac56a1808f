/**
 * HashIndex: the shard's key → item map: `bucketCount` u32 bucket heads, items chained through
 * their I_HASH_NEXT field. Thread: lookups from any thread (lock-free with `findGuarded`),
 * changes only by the lock holder. L1, no allocation.
 * The bucket is the LOW bits of the key hash (`bucketOf`); the shard was chosen from the high
 * bits, so every bucket of every shard is used. Invariant: every live item is on exactly one
 * chain, the one of its bucket, and nothing else is.
 */
import { I_HASH_NEXT, I_META, ITEM_HEADER_BYTES, KIND_ITEM, META_IDENTITY_MASK, META_KIND_SHIFT, META_TAG_RECORD, META_TENANT_SHIFT } from './slab-layout.js'
import type { SlabMemory } from './slab-memory.js'

/** Returned by findGuarded when the chain it walked cannot be a consistent one. */
export const TORN = -1
/** A lock-free walk longer than this is treated as torn (the reader falls back to the lock). */
export const MAX_GUARDED_CHAIN = 256

export class HashIndex {
  readonly #memory: SlabMemory
  readonly #words: Uint32Array
  readonly #bytes: Buffer
  readonly #indexWord: number
  readonly #mask: number

  constructor (memory: SlabMemory) {
    this.#memory = memory
    this.#words = memory.words
    this.#bytes = memory.bytes
    this.#indexWord = memory.indexWord
    this.#mask = memory.layout.bucketMask
  }

  /** Meta bits an exact match must carry for (tenant, keyLength): kind ITEM included. */
  static identity (tenantId: number, keyLength: number): number {
    return (keyLength | (tenantId << META_TENANT_SHIFT) | (KIND_ITEM << META_KIND_SHIFT)) >>> 0
  }

  /** Exact lookup under the lock. Returns the item ref or 0. */
  find (tenantId: number, key: Uint8Array, hash: number): number {
    const words = this.#words
    const identity = HashIndex.identity(tenantId, key.length)
    let ref = words[this.#indexWord + (hash & this.#mask)]!
    while (ref !== 0) {
      if ((words[ref * 2 + I_META]! & META_IDENTITY_MASK) === identity && this.#keyEquals(ref, key)) return ref
      ref = words[ref * 2 + I_HASH_NEXT]!
    }
    return 0
  }

  /**
   * Exact lookup of the tag record of (tenant, tag) under the lock (item-ext.ts): the same
   * chains, in the record namespace that no user key lookup matches. Returns its ref or 0.
   */
  findRecord (tenantId: number, tag: Uint8Array, hash: number): number {
    const words = this.#words
    const identity = (HashIndex.identity(tenantId, tag.length) | META_TAG_RECORD) >>> 0
    let ref = words[this.#indexWord + (hash & this.#mask)]!
    while (ref !== 0) {
      if (((words[ref * 2 + I_META]! & META_IDENTITY_MASK) >>> 0) === identity && this.#keyEquals(ref, tag)) return ref
      ref = words[ref * 2 + I_HASH_NEXT]!
    }
    return 0
  }

  /**
   * Lock-free lookup. Tolerates garbage: every ref is range- and alignment-checked before it is
   * read, and the walk is bounded. Returns the ref, 0 (absent, if the caller's seqlock check
   * then passes), or TORN (retry). The caller validates the result with the seqlock.
   */
  findGuarded (tenantId: number, key: Uint8Array, hash: number): number {
    const words = this.#words
    const memory = this.#memory
    const identity = HashIndex.identity(tenantId, key.length)
    let ref = words[this.#indexWord + (hash & this.#mask)]!
    for (let steps = 0; ref !== 0; steps++) {
      if (steps === MAX_GUARDED_CHAIN || !memory.isChunkStart(ref)) return TORN
      if ((words[ref * 2 + I_META]! & META_IDENTITY_MASK) === identity &&
          ITEM_HEADER_BYTES + key.length <= memory.chunkBytesOf(ref) && this.#keyEquals(ref, key)) return ref
      ref = words[ref * 2 + I_HASH_NEXT]!
    }
    return 0
  }

  /** Links item `ref` (not on any chain) at the head of its bucket. */
  link (ref: number, hash: number): void {
    const head = this.#indexWord + (hash & this.#mask)
    this.#words[ref * 2 + I_HASH_NEXT] = this.#words[head]!
    this.#words[head] = ref
  }

  /** Unlinks item `ref` from its bucket's chain. Returns false if it was not there. */
  unlink (ref: number, hash: number): boolean {
    const words = this.#words
    let slot = this.#indexWord + (hash & this.#mask)
    let cur = words[slot]!
    while (cur !== 0) {
      if (cur === ref) {
        words[slot] = words[ref * 2 + I_HASH_NEXT]!
        words[ref * 2 + I_HASH_NEXT] = 0
        return true
      }
      slot = cur * 2 + I_HASH_NEXT
      cur = words[slot]!
    }
    return false
  }

  /** First ref on bucket `bucket`'s chain (for scans, repair and checks). */
  bucketHead (bucket: number): number { return this.#words[this.#indexWord + bucket]! }

  /** Empties every bucket (flush-all and repair). */
  clear (): void { this.#words.fill(0, this.#indexWord, this.#indexWord + this.#mask + 1) }

  #keyEquals (ref: number, key: Uint8Array): boolean {
    const bytes = this.#bytes
    const start = ref * 8 + ITEM_HEADER_BYTES
    const length = key.length
    if (length > 32) return bytes.compare(key, 0, length, start, start + length) === 0
    for (let i = 0; i < length; i++) if (bytes[start + i] !== key[i]) return false
    return true
  }
}
