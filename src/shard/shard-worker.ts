/**
 * Shard worker entry: the only file that runs inside a shard's worker thread.
 * Thread: shard worker i. Owns slab i's life while the main thread runs O(1) commands inline:
 * the TTL wheel, LRU maintenance (hits recorded by the main thread's reads), page rebalancing,
 * and the heavy commands that arrive on the command ring (flush, checks).
 * Invariants: it holds the slab lock only inside SlabStore calls, each bounded (maintenance
 * budget, flush slices); it answers every request on the reply ring in order; it never
 * repairs at start — the shard set repairs a dead predecessor's slab before starting it.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { SlabStore, ReadResult, WriteOptions } from '../core/slab-store.js'
import { checkSlab } from '../core/slab-check.js'
import { keyHash } from '../core/key-hash.js'
import { SpscRing } from '../ring/spsc-ring.js'
import { SharedClock } from '../util/shared-clock.js'
import { SlabcacheError } from '../errors.js'
import {
  OP_CHECK, OP_DEBUG_HANG_HOLDING_LOCK, OP_DEBUG_HANG_MID_SET, OP_FLUSH, OP_GET, OP_PING, OP_SET, OP_STOP,
  REPLY_DEBUG_DISABLED, REPLY_ERROR, REPLY_HEADER_BYTES, REQUEST_HEADER_BYTES, type ShardWorkerData
} from './shard-messages.js'

/** Work units (items expired, hits applied) per maintenance slice: ≈ tens of µs. */
const MAINTENANCE_BUDGET = 256
/** Buckets per flush slice: bounds how long one slice holds the lock. */
const FLUSH_SLICE_BUCKETS = 512

const data = workerData as ShardWorkerData
const clock = SharedClock.attach(data.clock)
const store = SlabStore.attach(data.slab, {
  clock, ownerId: data.ownerId, recordsHits: false, lockTimeoutMs: data.lockTimeoutMs, maxValueBytes: data.maxValueBytes,
  // The main thread's store reads the epochs this store stamps when it applies hits: same interval.
  bumpIntervalMs: data.bumpIntervalMs
})
const requests = SpscRing.attach(data.requests)
const replies = SpscRing.attach(data.replies)
const requestView = new DataView(requests.bytes.buffer, requests.bytes.byteOffset, requests.bytes.byteLength)
const replyView = new DataView(replies.bytes.buffer, replies.bytes.byteOffset, replies.bytes.byteLength)
const readResult = new ReadResult()
const writeOptions = new WriteOptions()
let stopping = false

/** A flush in progress: it runs in slices between other work; its reply waits until done. */
interface FlushJob { id: number, tenantId: number, cursor: number, removed: number }
let flush: FlushJob | null = null

/** Writes one reply; waits (blocking this worker, never the main thread) if the ring is full. */
function reply (id: number, status: number, number: number, payload: Uint8Array | null, payloadLength = payload?.length ?? 0): void {
  let at = replies.reserve(REPLY_HEADER_BYTES + payloadLength)
  while (at < 0) {
    // Hand back the request space read so far before sleeping, or the main thread may wait on
    // a full request ring while we wait on a full reply ring.
    requests.publishTail()
    replies.commit()
    replies.waitWritable(REPLY_HEADER_BYTES + payloadLength, 1000)
    at = replies.reserve(REPLY_HEADER_BYTES + payloadLength)
  }
  replyView.setUint32(at, id, true)
  replyView.setUint8(at + 4, status)
  replyView.setFloat64(at + 8, number, true)
  if (payload !== null && payloadLength > 0) replies.bytes.set(payload.subarray(0, payloadLength), at + REPLY_HEADER_BYTES)
}

function replyError (id: number, error: unknown): void {
  const message = Buffer.from(error instanceof Error ? error.message : String(error))
  reply(id, REPLY_ERROR, error instanceof SlabcacheError ? 1 : 0, message)
}

/** Handles one request frame at `at` of `length` bytes. Returns false if it must wait (flush busy). */
function handle (at: number, length: number): boolean {
  const id = requestView.getUint32(at, true)
  const op = requestView.getUint8(at + 4)
  const arg = requestView.getInt32(at + 8, true)
  const keyLength = requestView.getUint32(at + 12, true)
  // Copies: the frame is released before slow work and the store keeps no reference.
  const key = Buffer.from(requests.bytes.subarray(at + REQUEST_HEADER_BYTES, at + REQUEST_HEADER_BYTES + keyLength))
  const valueStart = at + REQUEST_HEADER_BYTES + keyLength
  try {
    switch (op) {
      case OP_PING: reply(id, 0, 0, null); break
      case OP_FLUSH:
        if (flush !== null) return false
        flush = { id, tenantId: arg, cursor: 0, removed: 0 }
        break
      case OP_GET: {
        const status = store.get(arg, key, keyHash(arg, key, 0, key.length), readResult)
        reply(id, status, readResult.cas, status === 0 ? readResult.value : null, status === 0 ? readResult.valueLength : 0)
        break
      }
      case OP_SET: {
        const value = requests.bytes.subarray(valueStart, at + length)
        const status = store.set(arg, key, keyHash(arg, key, 0, key.length), value, writeOptions)
        reply(id, status, store.lastCas, null)
        break
      }
      case OP_CHECK: {
        // The walker needs a quiescent slab: hold the lock (the main thread's writes wait).
        if (!store.lock.acquire()) { reply(id, REPLY_ERROR, 0, Buffer.from('lock busy')); break }
        let items: number
        try { items = checkSlab(store) } finally { store.lock.release() }
        reply(id, 0, items, null)
        break
      }
      case OP_STOP: stopping = true; reply(id, 0, 0, null); break
      case OP_DEBUG_HANG_HOLDING_LOCK:
        if (!data.debugOps) { reply(id, REPLY_DEBUG_DISABLED, 0, null); break }
        store.lock.acquire()
        store.lock.beginWrite()
        // The reply is the handshake: the lock is held from here until this thread dies.
        reply(id, 0, 0, null)
        replies.commit()
        for (;;) { /* spin until the shard set terminates this thread */ }
      case OP_DEBUG_HANG_MID_SET: {
        if (!data.debugOps) { reply(id, REPLY_DEBUG_DISABLED, 0, null); break }
        store.faultHook = (point) => {
          if (point !== 'set:old-removed' && point !== 'set:in-place') return
          // Handshake, under the lock: a new item's set has unlinked the old item and not yet
          // linked the new one; a same-class overwrite has copied the value into the item.
          reply(id, 0, 0, null)
          replies.commit()
          for (;;) { /* spin until the shard set terminates this thread */ }
        }
        store.set(arg, key, keyHash(arg, key, 0, key.length), Buffer.from(requests.bytes.subarray(valueStart, at + length)), writeOptions)
        break
      }
      default: reply(id, REPLY_ERROR, 0, Buffer.from(`unknown shard op ${op}`))
    }
  } catch (error) {
    replyError(id, error)
  }
  return true
}

function drainRequests (): void {
  let handled = 0
  for (let length = requests.next(); length >= 0; length = requests.next()) {
    if (!handle(requests.frameOffset, length)) break
    requests.release()
    if (++handled % 64 === 0) { requests.publishTail(); replies.commit() }
    if (stopping) break
  }
  requests.publishTail()
  replies.commit()
}

function flushSlice (): void {
  if (flush === null) return
  const next = store.flushStep(flush.tenantId, flush.cursor, FLUSH_SLICE_BUCKETS)
  if (next < 0) return // lock busy: try again next turn
  flush.removed += store.lastRemoved
  flush.cursor = next
  if (next === 0) {
    reply(flush.id, 0, flush.removed, null)
    replies.commit()
    flush = null
  }
}

async function run (): Promise<void> {
  // A pending Atomics.waitAsync does not keep a thread's event loop alive: this timer does,
  // until the loop ends.
  const keepAlive = setInterval(() => {}, 1 << 30)
  while (!stopping) {
    drainRequests()
    flushSlice()
    const done = store.maintain(clock.nowMs(), MAINTENANCE_BUDGET)
    // More work pending (a backlog of expiries, or a flush): yield briefly, then continue.
    const busy = done >= MAINTENANCE_BUDGET || flush !== null
    if (!stopping) await requests.waitReadableAsync(busy ? 0 : data.maintenanceIntervalMs)
  }
  replies.commit()
  clearInterval(keepAlive)
  parentPort?.close()
}

run().catch((error: unknown) => {
  // An invariant broke inside the worker: crash it; the shard set repairs and restarts.
  console.error(error)
  process.exit(1)
})
