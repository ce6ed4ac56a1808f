/**
 * Slab export for snapshots and replication: copies the live items of a bucket range of one
 * slab (or one key), under its lock, into a growable buffer as snapshot item records (format:
 * persist/snapshot-format.ts); and a visitor over a bucket range that copies nothing (the
 * cluster's anti-entropy digests).
 * Thread: whichever thread holds the SlabStore (the main thread, for snapshots and the cluster).
 * L1: no I/O; allocates only to grow the output buffer.
 * Why bucket ranges: like SCAN, a slice holds the lock for a bounded time (the caller picks the
 * range and a byte budget so a slice stays around a millisecond), and writers run between
 * slices. A key lives in one bucket for its whole life, so every key is visited exactly once,
 * and each record is copied under the lock: it is one complete committed version of its key
 * (consistency per key, not across keys).
 * Only reads: the lock is taken without bumping the seqlock (lock-free readers are unaffected).
 */
import {
  F_CAS, F_EXPIRY, I_FLAGS, I_HASH_NEXT, I_META, I_VALUE_LEN, ITEM_HEADER_BYTES, MAX_KEY_BYTES, MAX_TENANTS, META_EXT, META_TAG_RECORD, metaKeyLength, metaTenant
} from './slab-layout.js'
import { N_RECORD, contentTypeLengthOf, contentTypeOffset, tagCountOf, tagNode } from './item-ext.js'
import { copyValue } from './slab-values.js'
import type { SlabMemory } from './slab-memory.js'
import type { SlabStore } from './slab-store.js'

/** Fixed part of an item record (persist/snapshot-format.ts RECORD_FIXED_BYTES). */
const RECORD_FIXED_BYTES = 32

/**
 * Records being gathered for one block. `take()` hands the filled bytes over (their own
 * ArrayBuffer, so they can be transferred to a worker) and starts a fresh buffer.
 */
export class ExportBuffer {
  bytes: Buffer
  #view: DataView
  /** Bytes of records in `bytes`. */
  length = 0
  /** Records in `bytes`. */
  items = 0

  constructor (capacityBytes = 1 << 20) {
    this.bytes = Buffer.allocUnsafeSlow(capacityBytes)
    this.#view = new DataView(this.bytes.buffer)
  }

  /** Makes room for `bytes` more; grows (doubling) by copying. */
  reserve (bytes: number): void {
    if (this.length + bytes <= this.bytes.length) return
    const grown = Buffer.allocUnsafeSlow(Math.max(this.length + bytes, this.bytes.length * 2))
    this.bytes.copy(grown, 0, 0, this.length)
    this.bytes = grown
    this.#view = new DataView(grown.buffer)
  }

  get view (): DataView { return this.#view }

  /** The records gathered so far (a view of a buffer no longer used here), and a fresh start. */
  take (): Buffer {
    const filled = this.bytes.subarray(0, this.length)
    this.bytes = Buffer.allocUnsafeSlow(this.bytes.length)
    this.#view = new DataView(this.bytes.buffer)
    this.length = 0
    this.items = 0
    return filled
  }
}

/**
 * Which records an export keeps: called with the item's tenant and its key, which is
 * bytes[keyOffset, keyOffset + keyLength) of the slab (read it inside the call only; the
 * store's lock is held, so the filter must not call the store).
 */
export type ExportFilter = (tenantId: number, bytes: Uint8Array, keyOffset: number, keyLength: number) => boolean

/**
 * Called for each visited item: its tenant, its key at bytes[keyOffset, keyOffset + keyLength)
 * of the slab (read it inside the call only), its CAS and absolute expiry (0 = none). The
 * store's lock is held during the call: do not call the store from it.
 */
export type VisitFn = (tenantId: number, bytes: Uint8Array, keyOffset: number, keyLength: number, cas: number, expiryMs: number) => void

/**
 * Appends the records of the live, unexpired items of `tenantId` (-1: every tenant) in buckets
 * [cursor, cursor + maxBuckets) of `store` to `out`, stopping after the bucket in which `out`
 * gained `maxBytes` or more. With a `filter`, only the items it accepts are appended (the
 * others cost no copy). Returns the next cursor (0 when the table is done) or -1 if the lock
 * timed out (nothing was appended then).
 */
export function exportBuckets (store: SlabStore, tenantId: number, cursor: number, maxBuckets: number, maxBytes: number, out: ExportBuffer,
  filter: ExportFilter | null = null): number {
  if (!store.lock.acquire()) return -1
  try {
    const memory = store.memory
    const words = memory.words
    const doubles = memory.doubles
    const bytes = memory.bytes
    const nowMs = store.clock.nowMs()
    const bucketCount = memory.layout.bucketCount
    const end = Math.min(bucketCount, cursor + maxBuckets)
    const startLength = out.length
    let bucket = cursor
    while (bucket < end && out.length - startLength < maxBytes) {
      for (let ref = store.index.bucketHead(bucket); ref !== 0; ref = words[ref * 2 + I_HASH_NEXT]!) {
        const meta = words[ref * 2 + I_META]!
        if ((meta & META_TAG_RECORD) !== 0) continue
        const tenant = metaTenant(meta)
        if (tenantId >= 0 && tenant !== tenantId) continue
        const expiryMs = doubles[ref + F_EXPIRY]!
        if (expiryMs !== 0 && expiryMs <= nowMs) continue
        if (filter !== null && !filter(tenant, bytes, ref * 8 + ITEM_HEADER_BYTES, metaKeyLength(meta))) continue
        appendRecord(memory, ref, meta, out)
      }
      bucket++
    }
    return bucket >= bucketCount ? 0 : bucket
  } finally {
    store.lock.release()
  }
}

/**
 * Calls `visit` for every live, unexpired item (any tenant) of buckets [cursor, cursor +
 * maxBuckets) of `store`, under its lock (no seqlock bump: lock-free readers are unaffected),
 * copying nothing. Every key is visited exactly once over a full walk of cursors, as in
 * exportBuckets. Returns the next cursor (0 when the table is done) or -1 if the lock timed
 * out (nothing was visited then).
 */
export function visitBuckets (store: SlabStore, cursor: number, maxBuckets: number, visit: VisitFn): number {
  if (!store.lock.acquire()) return -1
  try {
    const memory = store.memory
    const words = memory.words
    const doubles = memory.doubles
    const bytes = memory.bytes
    const nowMs = store.clock.nowMs()
    const bucketCount = memory.layout.bucketCount
    const end = Math.min(bucketCount, cursor + maxBuckets)
    for (let bucket = cursor; bucket < end; bucket++) {
      for (let ref = store.index.bucketHead(bucket); ref !== 0; ref = words[ref * 2 + I_HASH_NEXT]!) {
        const meta = words[ref * 2 + I_META]!
        if ((meta & META_TAG_RECORD) !== 0) continue
        const expiryMs = doubles[ref + F_EXPIRY]!
        if (expiryMs !== 0 && expiryMs <= nowMs) continue
        visit(metaTenant(meta), bytes, ref * 8 + ITEM_HEADER_BYTES, metaKeyLength(meta), doubles[ref + F_CAS]!, expiryMs)
      }
    }
    return end >= bucketCount ? 0 : end
  } finally {
    store.lock.release()
  }
}

/**
 * One key's record: appends the record of (tenantId, key) (its hash: `hash`) to `out` and
 * returns its CAS; 0 if the key is absent or expired, or the tenant or key is invalid (nothing
 * appended); -1 if the lock timed out. Under the lock without a seqlock bump, so the record is
 * one committed version and lock-free readers are unaffected. Allocates only to grow `out`.
 */
export function exportKey (store: SlabStore, tenantId: number, key: Uint8Array, hash: number, out: ExportBuffer): number {
  if (key.length > MAX_KEY_BYTES || (tenantId >>> 0) !== tenantId || tenantId >= MAX_TENANTS) return 0
  if (!store.lock.acquire()) return -1
  try {
    const memory = store.memory
    const ref = store.index.find(tenantId, key, hash)
    if (ref === 0) return 0
    const expiryMs = memory.doubles[ref + F_EXPIRY]!
    if (expiryMs !== 0 && expiryMs <= store.clock.nowMs()) return 0
    appendRecord(memory, ref, memory.words[ref * 2 + I_META]!, out)
    return memory.doubles[ref + F_CAS]!
  } finally {
    store.lock.release()
  }
}

/** Appends the record of live item `ref` (its meta word: `meta`) to `out`. The caller holds the lock. */
function appendRecord (memory: SlabMemory, ref: number, meta: number, out: ExportBuffer): void {
  const words = memory.words
  const doubles = memory.doubles
  const bytes = memory.bytes
  const keyLength = metaKeyLength(meta)
  const valueLength = words[ref * 2 + I_VALUE_LEN]!
  let tagCount = 0
  let contentTypeLength = 0
  let tagBytes = 0
  if ((meta & META_EXT) !== 0) {
    tagCount = tagCountOf(words, ref, keyLength)
    contentTypeLength = contentTypeLengthOf(words, ref, keyLength)
    for (let i = 0; i < tagCount; i++) {
      const record = words[tagNode(ref, keyLength, i) * 2 + N_RECORD]!
      tagBytes += 2 + metaKeyLength(words[record * 2 + I_META]!)
    }
  }
  out.reserve(RECORD_FIXED_BYTES + keyLength + contentTypeLength + tagBytes + valueLength)
  const view = out.view
  const target = out.bytes
  let at = out.length
  view.setUint32(at, metaTenant(meta), true)
  view.setUint32(at + 4, words[ref * 2 + I_FLAGS]!, true)
  view.setFloat64(at + 8, doubles[ref + F_EXPIRY]!, true)
  view.setFloat64(at + 16, doubles[ref + F_CAS]!, true)
  view.setUint32(at + 24, valueLength, true)
  view.setUint16(at + 28, keyLength, true)
  target[at + 30] = tagCount
  target[at + 31] = contentTypeLength
  at += RECORD_FIXED_BYTES
  // Short copies byte by byte: Buffer#copy makes a view per call (see slab-values.ts copyOut).
  const keyStart = ref * 8 + ITEM_HEADER_BYTES
  if (keyLength <= 64) for (let i = 0; i < keyLength; i++) target[at + i] = bytes[keyStart + i]!
  else bytes.copy(target, at, keyStart, keyStart + keyLength)
  at += keyLength
  if ((meta & META_EXT) !== 0) {
    const ctStart = ref * 8 + contentTypeOffset(words, ref, keyLength)
    bytes.copy(target, at, ctStart, ctStart + contentTypeLength)
    at += contentTypeLength
    for (let i = 0; i < tagCount; i++) {
      const record = words[tagNode(ref, keyLength, i) * 2 + N_RECORD]!
      const length = metaKeyLength(words[record * 2 + I_META]!)
      view.setUint16(at, length, true)
      const start = record * 8 + ITEM_HEADER_BYTES
      bytes.copy(target, at + 2, start, start + length)
      at += 2 + length
    }
  }
  copyValue(memory, ref, keyLength, target, at)
  out.length = at + valueLength
  out.items++
}
