/**
 * Loading a verified snapshot into the shards: clears the target (every tenant, or one), then
 * inserts the records in ascending CAS (write time) order, rehashing each key so any shard
 * count works. Thread: main; works in slices with the event loop running between them, so it
 * can restore one tenant while the server serves the others.
 * Why ascending CAS: when the memory is smaller than the snapshot's, each shard's LRU evicts
 * the least recently *written* items first (the slab keeps no access time, so "written" is the
 * best recency a snapshot has).
 * Counting: every record in scope is either skipped as expired, present after the load, or
 * counted as evicted (evicted by a later record, or refused: larger than the memory, the
 * tenant's quota or the current size limits). items + skippedExpired + evicted = records.
 */
import { performance } from 'node:perf_hooks'
import { SlabcacheError } from '../errors.js'
import { keyHash, shardOf } from '../core/key-hash.js'
import { SetMode, StoreStatus, WriteOptions } from '../core/slab-store.js'
import type { ShardSet } from '../shard/shard-set.js'
import { RECORD_FIXED_BYTES } from './snapshot-format.js'
import type { LoadOrder } from './snapshot-order.js'
import { yieldToRequests } from './snapshot-writer.js'

/** Records inserted per slice, and buckets cleared per slice. */
const INSERT_SLICE_ITEMS = 512
const FLUSH_SLICE_BUCKETS = 256

export interface LoadProgress {
  done: number
  total: number
  percent: number
  itemsPerSecond: number
}

export interface LoadResult {
  items: number
  skippedExpired: number
  evicted: number
}

/**
 * Replaces the contents of `tenantId` (null: every tenant) with the records of a verified
 * snapshot (`bytes`) at `order.offsets`, in that order. `onProgress` is called about once a second.
 */
export async function loadSnapshot (shards: ShardSet, bytes: Buffer, order: LoadOrder, tenantId: number | null,
  onProgress?: (progress: LoadProgress) => void): Promise<LoadResult> {
  const offsets = order.offsets
  const total = offsets.length
  // 1. Clear the target, a slice at a time.
  for (let id = 0; id < shards.count; id++) {
    let cursor = 0
    do {
      const next = shards.store(id).flushStep(tenantId ?? -1, cursor, FLUSH_SLICE_BUCKETS)
      if (next < 0) throw new SlabcacheError('SHARD_UNAVAILABLE', `restore: shard ${id} did not release its lock in time`)
      cursor = next
      await yieldToRequests()
    } while (cursor !== 0)
  }

  // 2. Insert, oldest write first (the job sorted them).
  const write = new WriteOptions()
  write.mode = SetMode.SET
  write.keepTtl = false
  let stored = 0
  let refused = 0
  const started = performance.now()
  let lastReport = started
  for (let n = 0; n < total; n++) {
    const at = offsets[n]!
    const tenant = bytes.readUInt32LE(at)
    const valueLength = bytes.readUInt32LE(at + 24)
    const keyLength = bytes.readUInt16LE(at + 28)
    const tagCount = bytes[at + 30]!
    const contentTypeLength = bytes[at + 31]!
    let p = at + RECORD_FIXED_BYTES
    const keyStart = p
    const key = bytes.subarray(p, p + keyLength)
    p += keyLength
    write.contentType = contentTypeLength === 0 ? null : bytes.subarray(p, p + contentTypeLength)
    p += contentTypeLength
    let tags: Buffer[] | null = null
    if (tagCount > 0) {
      tags = []
      for (let t = 0; t < tagCount; t++) {
        const length = bytes.readUInt16LE(p)
        tags.push(bytes.subarray(p + 2, p + 2 + length))
        p += 2 + length
      }
    }
    write.tags = tags
    write.flags = bytes.readUInt32LE(at + 4)
    write.expiryMs = bytes.readDoubleLE(at + 8)
    const hash = keyHash(tenant, bytes, keyStart, keyLength)
    const store = shards.store(shardOf(hash, shards.count))
    let status = store.restoreItem(tenant, key, hash, bytes.subarray(p, p + valueLength), write, bytes.readDoubleLE(at + 16))
    if (status === StoreStatus.BUSY) {
      await yieldToRequests()
      status = store.restoreItem(tenant, key, hash, bytes.subarray(p, p + valueLength), write, bytes.readDoubleLE(at + 16))
      if (status === StoreStatus.BUSY) throw new SlabcacheError('SHARD_UNAVAILABLE', `restore: a shard did not release its lock in time after ${stored} items`)
    }
    if (status === StoreStatus.OK) stored++
    else refused++
    if ((n + 1) % INSERT_SLICE_ITEMS === 0) {
      const nowPerf = performance.now()
      if (onProgress !== undefined && nowPerf - lastReport >= 1000) {
        lastReport = nowPerf
        onProgress({ done: n + 1, total, percent: Math.floor((n + 1) * 1000 / total) / 10, itemsPerSecond: Math.round((n + 1) * 1000 / (nowPerf - started)) })
      }
      await yieldToRequests()
    }
  }

  // 3. What is left of what was stored (later records evicted earlier ones when memory is short).
  let present = 0
  for (let id = 0; id < shards.count; id++) {
    const store = shards.store(id)
    present += tenantId === null ? store.stats().items : store.tenantStats(tenantId).items
  }
  const items = Math.min(stored, present)
  return { items, skippedExpired: order.skippedExpired, evicted: refused + (stored - items) }
}
