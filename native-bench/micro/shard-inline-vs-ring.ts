/**
 * Question: what does a GET and a SET cost when the main thread runs it inline on the shard's
 * slab (lock-free read; write under the Atomics lock) versus sending it to the shard worker over
 * the command ring and waiting for the reply, at batches of 1, 16 and 256 commands?
 * Decision it informs: DESIGN §2's choice to run O(1) commands inline and to use the ring only
 * for heavy commands. If a ring round trip, even batched, costs more main-thread time per op
 * than doing the op inline, inline execution wins for a single acceptor thread.
 *
 * Setup: one 64 MiB slab, 100,000 keys of 16 bytes with 100-byte values, one real shard worker
 * (dist/shard/shard-worker.js) attached to the same slab and rings, as the server runs it. The
 * ring variant writes `batch` OP_GET/OP_SET frames, commits once, and blocks (Atomics.wait via
 * waitReadable) until all replies are read. Per-op figures divide by the batch size.
 * Run: `npm run build && node --import ./native-bench/ts-loader.mjs native-bench/micro/shard-inline-vs-ring.ts`
 */
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { bench, do_not_optimize, run, summary } from 'mitata'
import { ReadResult, SlabStore, WriteOptions } from '../../dist/core/slab-store.js'
import { keyHash } from '../../dist/core/key-hash.js'
import { MAIN_THREAD_OWNER } from '../../dist/core/slab-lock.js'
import { SpscRing } from '../../dist/ring/spsc-ring.js'
import { SharedClock } from '../../dist/util/shared-clock.js'
import { OP_GET, OP_SET, REQUEST_HEADER_BYTES } from '../../dist/shard/shard-messages.js'

const KEYS = 100_000
const clock = SharedClock.start({ clockControl: false })
const store = SlabStore.create(new SharedArrayBuffer(64 << 20), { clock, ownerId: MAIN_THREAD_OWNER, recordsHits: true })
const keys = Array.from({ length: KEYS }, (_, i) => Buffer.from(`key:${String(i).padStart(12, '0')}`))
const hashes = keys.map((key) => keyHash(0, key, 0, key.length))
const value = Buffer.alloc(100, 7)
const write = new WriteOptions()
const read = new ReadResult()
for (let i = 0; i < KEYS; i++) store.set(0, keys[i]!, hashes[i]!, value, write)

const requests = SpscRing.create(1 << 22)
const replies = SpscRing.create(1 << 22)
const worker = new Worker(new URL('../../dist/shard/shard-worker.js', import.meta.url), {
  execArgv: [],
  workerData: {
    shardId: 0, ownerId: MAIN_THREAD_OWNER + 1, slab: store.memory.sab, clock: clock.sab, requests: requests.sab,
    replies: replies.sab, maintenanceIntervalMs: 10, lockTimeoutMs: 200, maxValueBytes: 1 << 20, debugOps: false
  }
})
await once(worker, 'online')
const view = new DataView(requests.bytes.buffer, requests.bytes.byteOffset, requests.bytes.byteLength)

let cursor = 0
/** One batch through the ring: `batch` requests, one commit, all replies read. */
function ringBatch (op: number, batch: number): number {
  for (let n = 0; n < batch; n++) {
    const i = cursor++ % KEYS
    const key = keys[i]!
    const length = REQUEST_HEADER_BYTES + key.length + (op === OP_SET ? value.length : 0)
    const at = requests.reserve(length)
    view.setUint32(at, n, true)
    view.setUint8(at + 4, op)
    view.setInt32(at + 8, 0, true)
    view.setUint32(at + 12, key.length, true)
    requests.bytes.set(key, at + REQUEST_HEADER_BYTES)
    if (op === OP_SET) requests.bytes.set(value, at + REQUEST_HEADER_BYTES + key.length)
  }
  requests.commit()
  let got = 0
  while (got < batch) {
    if (replies.waitReadable(10_000) !== 'ok') throw new Error('worker stopped answering')
    for (let length = replies.next(); length >= 0; length = replies.next()) { replies.release(); got++ }
    replies.publishTail()
  }
  return got
}

summary(() => {
  bench('inline get (hit)', () => {
    const i = cursor++ % KEYS
    do_not_optimize(store.get(0, keys[i]!, hashes[i]!, read))
  })
  bench('inline set (overwrite)', () => {
    const i = cursor++ % KEYS
    do_not_optimize(store.set(0, keys[i]!, hashes[i]!, value, write))
  })
  for (const batch of [1, 16, 256]) {
    bench(`ring get ×${batch}`, () => do_not_optimize(ringBatch(OP_GET, batch)))
    bench(`ring set ×${batch}`, () => do_not_optimize(ringBatch(OP_SET, batch)))
  }
})

await run()
await worker.terminate()
clock.stop()
