/**
 * ShardSet: the N shards of this process as the main thread sees them — each one's slab (with
 * the main thread's SlabStore for inline commands), its command rings and its worker — and the
 * crash handling that keeps a shard's data alive across worker deaths.
 * Thread: main. Owns: the slabs (created here, so a worker's death cannot take them along),
 * the workers' lifecycle, and the in-flight ring requests.
 * Invariants: at most one worker per shard is alive; before a replacement starts, the slab is
 * repaired (lock seized from the dead owner, journal applied, structures rebuilt) and every
 * request in flight to the dead worker has failed with SHARD_CRASHED — none hangs.
 */
import { Worker } from 'node:worker_threads'
import { SlabStore } from '../core/slab-store.js'
import { MAIN_THREAD_OWNER } from '../core/slab-lock.js'
import { SpscRing } from '../ring/spsc-ring.js'
import { SlabcacheError } from '../errors.js'
import type { SharedClock } from '../util/shared-clock.js'
import {
  OP_STOP, REPLY_DEBUG_DISABLED, REPLY_ERROR, REPLY_HEADER_BYTES, REQUEST_HEADER_BYTES, type ShardWorkerData
} from './shard-messages.js'

const RING_BYTES = 1 << 20
const WORKER_URL = new URL('../../dist/shard/shard-worker.js', import.meta.url)

export interface ShardSetOptions {
  shards: number
  memoryBytes: number
  clock: SharedClock
  lockTimeoutMs: number
  maintenanceIntervalMs: number
  maxValueBytes: number
  /**
   * An item moves to its LRU head at most once per this many ms (config `lru.bumpInterval`);
   * 0 = exact LRU. Omitted: the store default (60 s). Both stores of a slab get the same value.
   */
  bumpIntervalMs?: number
  /** Accept debug ring ops (crash simulation). Tests only. */
  debugOps?: boolean
  /** Called after a crashed worker was replaced (for logs and metrics). */
  onRestart?: (shardId: number, exitCode: number, repaired: boolean) => void
}

/** A worker's answer to a ring request. */
export interface ShardReply {
  status: number
  number: number
  payload: Buffer
}

interface Pending {
  id: number
  resolve: (reply: ShardReply) => void
  reject: (error: Error) => void
}

/** One shard as the main thread holds it. */
class Shard {
  readonly id: number
  readonly store: SlabStore
  worker!: Worker
  ownerId = 0
  requests!: SpscRing
  replies!: SpscRing
  #replyView!: DataView
  #requestView!: DataView
  /** Requests sent to the current worker, oldest first (replies come back in order). */
  pending: Pending[] = []
  #nextId = 1
  #draining = false
  restarts = 0
  alive = false

  constructor (id: number, store: SlabStore) {
    this.id = id
    this.store = store
  }

  attachRings (requests: SpscRing, replies: SpscRing): void {
    this.requests = requests
    this.replies = replies
    this.#requestView = new DataView(requests.bytes.buffer, requests.bytes.byteOffset, requests.bytes.byteLength)
    this.#replyView = new DataView(replies.bytes.buffer, replies.bytes.byteOffset, replies.bytes.byteLength)
  }

  /** Queues one request; the promise settles with the worker's reply or SHARD_CRASHED. */
  send (op: number, arg: number, key: Uint8Array | null, value: Uint8Array | null): Promise<ShardReply> {
    if (!this.alive) return Promise.reject(new SlabcacheError('SHARD_UNAVAILABLE', `shard ${this.id} is restarting`))
    const keyLength = key?.length ?? 0
    const length = REQUEST_HEADER_BYTES + keyLength + (value?.length ?? 0)
    const at = this.requests.reserve(length)
    if (at < 0) return Promise.reject(new SlabcacheError('SHARD_UNAVAILABLE', `shard ${this.id} command ring is full`))
    const id = this.#nextId++ >>> 0
    const view = this.#requestView
    view.setUint32(at, id, true)
    view.setUint8(at + 4, op)
    view.setInt32(at + 8, arg, true)
    view.setUint32(at + 12, keyLength, true)
    if (key !== null) this.requests.bytes.set(key, at + REQUEST_HEADER_BYTES)
    if (value !== null) this.requests.bytes.set(value, at + REQUEST_HEADER_BYTES + keyLength)
    this.requests.commit()
    return new Promise<ShardReply>((resolve, reject) => {
      this.pending.push({ id, resolve, reject })
      if (!this.#draining) void this.#drainReplies()
    })
  }

  /** Reads replies while requests are outstanding; one loop per shard, stops when idle. */
  async #drainReplies (): Promise<void> {
    this.#draining = true
    const replies = this.replies
    try {
      while (this.pending.length > 0 && replies === this.replies) {
        for (let length = replies.next(); length >= 0; length = replies.next()) {
          const at = replies.frameOffset
          const id = this.#replyView.getUint32(at, true)
          const status = this.#replyView.getUint8(at + 4)
          const number = this.#replyView.getFloat64(at + 8, true)
          const payload = Buffer.from(replies.bytes.subarray(at + REPLY_HEADER_BYTES, at + length))
          replies.release()
          const waiter = this.pending.shift()
          if (waiter === undefined || waiter.id !== id) throw new Error(`shard ${this.id}: reply ${id} out of order`)
          if (status === REPLY_ERROR) waiter.reject(new SlabcacheError('INTERNAL', payload.toString()))
          else if (status === REPLY_DEBUG_DISABLED) waiter.reject(new SlabcacheError('DEBUG_DISABLED'))
          else waiter.resolve({ status, number, payload })
        }
        replies.publishTail()
        if (this.pending.length > 0) await replies.waitReadableAsync(50)
      }
    } finally {
      this.#draining = false
    }
  }

  /** Fails every request in flight (the worker that would answer them is gone). */
  failPending (exitCode: number): void {
    const pending = this.pending
    this.pending = []
    for (const waiter of pending) {
      waiter.reject(new SlabcacheError('SHARD_CRASHED', `shard ${this.id} worker exited (code ${exitCode}) with the command in flight`))
    }
  }
}

export class ShardSet {
  readonly #shards: Shard[]
  readonly #options: ShardSetOptions
  #closing = false

  private constructor (shards: Shard[], options: ShardSetOptions) {
    this.#shards = shards
    this.#options = options
  }

  /** Creates the slabs, then starts one worker per shard and waits until all are online. */
  static async start (options: ShardSetOptions): Promise<ShardSet> {
    const slabBytes = Math.floor(options.memoryBytes / options.shards / 8) * 8
    const shards: Shard[] = []
    for (let id = 0; id < options.shards; id++) {
      const store = SlabStore.create(new SharedArrayBuffer(slabBytes), {
        clock: options.clock, ownerId: MAIN_THREAD_OWNER, recordsHits: true,
        lockTimeoutMs: options.lockTimeoutMs, maxValueBytes: options.maxValueBytes,
        ...(options.bumpIntervalMs !== undefined ? { bumpIntervalMs: options.bumpIntervalMs } : {})
      })
      shards.push(new Shard(id, store))
    }
    const set = new ShardSet(shards, options)
    await Promise.all(shards.map(async (shard) => await set.#spawn(shard)))
    return set
  }

  get count (): number { return this.#shards.length }

  /** The main thread's store for shard `id` (inline O(1) commands). */
  store (id: number): SlabStore { return this.#shards[id]!.store }

  /** Whether shard `id` has a live worker. */
  alive (id: number): boolean { return this.#shards[id]!.alive }
  restarts (id: number): number { return this.#shards[id]!.restarts }
  /** The worker of shard `id` (tests kill it to prove crash safety). */
  worker (id: number): Worker { return this.#shards[id]!.worker }

  /** Sends a heavy command to shard `id`'s worker over its command ring. */
  send (id: number, op: number, arg: number, key: Uint8Array | null = null, value: Uint8Array | null = null): Promise<ShardReply> {
    return this.#shards[id]!.send(op, arg, key, value)
  }

  /** Stops every worker (asks politely, then terminates after 2 s). */
  async close (): Promise<void> {
    this.#closing = true
    await Promise.all(this.#shards.map(async (shard) => {
      if (!shard.alive) return
      const exited = new Promise<void>((resolve) => shard.worker.once('exit', () => resolve()))
      shard.send(OP_STOP, 0, null, null).catch(() => {})
      const timer = setTimeout(() => { void shard.worker.terminate() }, 2000)
      await exited
      clearTimeout(timer)
    }))
  }

  async #spawn (shard: Shard): Promise<void> {
    const options = this.#options
    const requests = SpscRing.create(RING_BYTES)
    const replies = SpscRing.create(RING_BYTES)
    shard.attachRings(requests, replies)
    shard.ownerId = MAIN_THREAD_OWNER + 1 + shard.restarts
    const data: ShardWorkerData = {
      shardId: shard.id,
      ownerId: shard.ownerId,
      slab: shard.store.memory.sab,
      clock: options.clock.sab,
      requests: requests.sab,
      replies: replies.sab,
      maintenanceIntervalMs: options.maintenanceIntervalMs,
      lockTimeoutMs: options.lockTimeoutMs,
      maxValueBytes: options.maxValueBytes,
      bumpIntervalMs: shard.store.bumpIntervalMs,
      debugOps: options.debugOps === true
    }
    // execArgv: [] — the worker is plain JS from dist/; inheriting a test runner's loader hooks
    // made each worker take ~1.5 s longer to exit.
    const worker = new Worker(WORKER_URL, { workerData: data, name: `slabcache-shard-${shard.id}`, execArgv: [] })
    shard.worker = worker
    worker.on('error', () => { /* the exit handler below does the work */ })
    await new Promise<void>((resolve, reject) => {
      worker.once('online', () => {
        shard.alive = true
        // Only a worker that came up is replaced when it dies: one that cannot start would
        // otherwise be restarted forever.
        worker.once('exit', (code) => this.#onExit(shard, worker, code))
        resolve()
      })
      worker.once('exit', (code) => {
        if (!shard.alive) reject(new SlabcacheError('SHARD_CRASHED', `shard ${shard.id} worker exited (code ${code}) while starting`))
      })
    })
  }

  /**
   * A worker ended. During close that is expected; otherwise: fail its in-flight requests,
   * seize the lock if it died holding it, repair the slab, and start a replacement.
   */
  #onExit (shard: Shard, worker: Worker, code: number): void {
    if (shard.worker !== worker) return
    shard.alive = false
    shard.failPending(code)
    if (this.#closing) return
    const deadOwner = shard.ownerId
    const store = shard.store
    let repaired = false
    if (store.lock.seizeFrom(deadOwner)) {
      // It died inside a mutation: its half-done work is in the journal and the structures.
      store.repairHeld()
      store.lock.release()
      repaired = true
    }
    shard.restarts++
    this.#spawn(shard).then(
      () => this.#options.onRestart?.(shard.id, code, repaired),
      () => { /* the replacement's own exit handler retries */ }
    )
  }
}
