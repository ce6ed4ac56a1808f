/**
 * Range streamer: copies every local item (and tombstone) of a set of ring partitions to the
 * nodes that must now hold them: after a membership change, to a joining node, before a
 * graceful leave, and for anti-entropy repairs (DESIGN §9 "Failure"). Thread: main.
 * Owns: the queue of streaming passes, their throttle and their progress counters.
 * How: a pass walks each shard's hash table in bucket slices (exportShard: a slice holds the
 * shard lock for about a millisecond, like SCAN), keeps only records of planned partitions,
 * and sends them as REPLICATE batches to their targets, waiting for each batch's answer
 * before the next (one batch in flight per pass: the receiver applies at its own pace), and
 * sleeping so the pass stays under `rateBytesPerSec`. The receiver applies records
 * last-write-wins, so streaming a copy that is older than what the target has is harmless and
 * a pass can be repeated or interrupted at any point.
 * Invariants:
 * - Passes run one at a time in the order queued; a pass's plan is fixed when it starts.
 * - A batch that fails (target unreachable) is retried with backoff up to RETRIES times; then
 *   that target is skipped for the rest of the pass (a pass never blocks on a dead node) and
 *   its remainder is remembered: `resume` continues it from the slice where it stopped once the
 *   target is reachable again (resumable), and anti-entropy repairs anything still missed.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ExportBuffer } from '../../core/slab-export.js'
import { StoreStatus } from '../../core/store-status.js'
import { decodeRecord } from '../../persist/snapshot-format.js'
import { partitionOf, ringPosition } from '../../cluster/hash-ring.js'
import { encodeReplicate, type Tombstone } from '../../cluster/cluster-messages.js'
import type { Tombstones } from '../../cluster/tombstones.js'
import type { Engine } from '../../engine.js'
import type { Logger } from '../../util/log.js'

/** Partition → the nodes its items go to. */
export type StreamPlan = ReadonlyMap<number, readonly string[]>

/** Buckets per export slice, and the bytes a slice gathers before it is sent. */
const SLICE_BUCKETS = 1024
const SLICE_BYTES = 256 * 1024
const RETRIES = 4

export interface RangeStreamerOptions {
  readonly engine: Engine
  readonly tombstones: Tombstones
  readonly send: (node: string, payload: Buffer[]) => Promise<Buffer>
  readonly rateBytesPerSec: number
  readonly logger?: Logger | undefined
}

/** A place in a pass: a shard and a bucket cursor in it. */
export interface Position { readonly shard: number, readonly cursor: number }
const START: Position = Object.freeze({ shard: 0, cursor: 0 })

interface Unfinished { readonly partitions: Set<number>, readonly kind: number, readonly why: string, readonly from: Position }

export interface PassResult { readonly items: number, readonly complete: boolean }

export interface StreamProgress {
  running: boolean
  progress: number
  itemsSent: number
  bytesSent: number
  passes: number
}

export class RangeStreamer {
  readonly #o: RangeStreamerOptions
  #tail: Promise<unknown> = Promise.resolve()
  #closed = false
  #queued = 0
  /** Targets whose pass was interrupted (unreachable), with what is left for them. */
  readonly #unfinished = new Map<string, Unfinished>()
  readonly progress: StreamProgress = { running: false, progress: 1, itemsSent: 0, bytesSent: 0, passes: 0 }

  constructor (options: RangeStreamerOptions) {
    this.#o = options
  }

  /**
   * Queues a pass; resolves once it has run, with the items it sent and whether every target
   * got everything (`complete`: no target was skipped). `kind`: ReplicateKind.
   */
  async stream (plan: StreamPlan, kind: number, why: string, start: Position = START): Promise<PassResult> {
    this.#queued++
    const run = this.#tail.then(async () => await this.#pass(plan, kind, why, start))
    this.#tail = run.catch(() => {}).finally(() => { this.#queued-- })
    return await run
  }

  /** Targets with an interrupted pass waiting to resume. */
  get unfinished (): number { return this.#unfinished.size }

  /**
   * Resumes the interrupted passes of the targets `ready` accepts (reachable again), from the
   * slice where each stopped, keeping only the partitions `wanted` still sends there (the ring
   * may have changed meanwhile).
   */
  resume (ready: (target: string) => boolean, wanted: (partition: number, target: string) => boolean): void {
    for (const [target, work] of this.#unfinished) {
      if (!ready(target)) continue
      this.#unfinished.delete(target)
      const plan = new Map<number, readonly string[]>()
      for (const p of work.partitions) if (wanted(p, target)) plan.set(p, [target])
      this.stream(plan, work.kind, `${work.why} (resumed)`, work.from).catch(() => {})
    }
  }

  get busy (): boolean { return this.#queued > 0 }

  close (): void { this.#closed = true }

  /**
   * Removes, on this node only, every item of a partition `held` says this node no longer
   * holds (after its new holders received it). Each removal is a local tombstone at the item's
   * own CAS: a newer write arriving meanwhile survives, and nothing is replicated.
   */
  async drop (held: (partition: number) => boolean): Promise<number> {
    const { engine } = this.#o
    let dropped = 0
    for (let shard = 0; shard < engine.shardCount && !this.#closed; shard++) {
      let cursor = 0
      for (let first = true; (first || cursor !== 0) && !this.#closed; first = false) {
        const doomed: Array<{ tenantId: number, key: Buffer, cas: number }> = []
        const next = engine.visitShard(shard, cursor, SLICE_BUCKETS, (tenantId, bytes, keyOffset, keyLength, cas) => {
          const key = bytes.subarray(keyOffset, keyOffset + keyLength)
          if (!held(partitionOf(ringPosition(tenantId, key)))) doomed.push({ tenantId, key: Buffer.from(key), cas })
        })
        if (next === -1) {
          // Lock timeout: the same slice again, a little later.
          first = true
          await sleep(1)
          continue
        }
        for (const d of doomed) if (engine.applyTombstone(d.tenantId, d.key, d.cas, true) === StoreStatus.OK) dropped++
        cursor = next
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    return dropped
  }

  #remember (target: string, plan: StreamPlan, kind: number, why: string, from: Position): void {
    const partitions = new Set<number>()
    for (const [p, targets] of plan) if (targets.includes(target)) partitions.add(p)
    const earlier = this.#unfinished.get(target)
    if (earlier !== undefined) {
      // Two interrupted passes to one target: resume the union from the earlier position.
      for (const p of earlier.partitions) partitions.add(p)
      if (earlier.from.shard < from.shard || (earlier.from.shard === from.shard && earlier.from.cursor < from.cursor)) from = earlier.from
    }
    this.#unfinished.set(target, { partitions, kind, why, from: { ...from } })
  }

  async #pass (plan: StreamPlan, kind: number, why: string, start: Position): Promise<PassResult> {
    if (plan.size === 0 || this.#closed) return { items: 0, complete: plan.size === 0 }
    const { engine, logger } = this.#o
    const progress = this.progress
    progress.running = true
    progress.progress = 0
    const startedMs = Date.now()
    let bytesThisPass = 0
    let itemsThisPass = 0
    const skipped = new Set<string>()
    // Where the slice being sent started: an interrupted target resumes from there.
    const position = { shard: start.shard, cursor: start.cursor }
    const filter = (tenantId: number, bytes: Uint8Array, keyOffset: number, keyLength: number): boolean =>
      plan.has(partitionOf(ringPosition(tenantId, bytes.subarray(keyOffset, keyOffset + keyLength))))
    const sendBatch = async (target: string, records: Buffer[], recordBytes: number, tombstones: Tombstone[]): Promise<boolean> => {
      if (skipped.has(target)) return false
      const payload = encodeReplicate(kind, records, recordBytes, tombstones)
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#o.send(target, payload)
          return true
        } catch (error) {
          if (this.#closed || attempt >= RETRIES) {
            skipped.add(target)
            this.#remember(target, plan, kind, why, position)
            logger?.warn({ peer: target, err: error, why, shard: position.shard, cursor: position.cursor }, 'range stream to a peer interrupted; it resumes from here when the peer is reachable')
            return false
          }
          await sleep(100 << attempt)
        }
      }
    }
    try {
      const shardCount = engine.shardCount
      for (let shard = start.shard; shard < shardCount && !this.#closed; shard++) {
        const bucketCount = engine.shards.store(shard).memory.layout.bucketCount
        let cursor = shard === start.shard ? start.cursor : 0
        for (let first = true; (first || cursor !== 0) && !this.#closed; first = false) {
          position.shard = shard
          position.cursor = cursor
          const out = new ExportBuffer(SLICE_BYTES + 64 * 1024)
          const next = engine.exportShard(shard, cursor, SLICE_BUCKETS, SLICE_BYTES, out, filter)
          if (next === -1) {
            // Lock timeout: the same slice again, a little later.
            first = true
            await sleep(1)
            continue
          }
          const bytes = out.take()
          const batches = new Map<string, { records: Buffer[], recordBytes: number }>()
          for (let at = 0; at < bytes.length;) {
            const record = decodeRecord(bytes, at)
            if (record === null) break
            const view = bytes.subarray(at, at + record.recordBytes)
            at += record.recordBytes
            const targets = plan.get(partitionOf(ringPosition(record.tenantId, record.key)))
            if (targets === undefined) continue
            itemsThisPass++
            for (const target of targets) {
              let batch = batches.get(target)
              if (batch === undefined) batches.set(target, batch = { records: [], recordBytes: 0 })
              batch.records.push(view)
              batch.recordBytes += view.length
            }
          }
          for (const [target, batch] of batches) {
            if (!await sendBatch(target, batch.records, batch.recordBytes, [])) continue
            bytesThisPass += batch.recordBytes
            progress.bytesSent += batch.recordBytes
            progress.itemsSent += batch.records.length
          }
          cursor = next
          progress.progress = (shard + (cursor === 0 ? 1 : cursor / bucketCount)) / shardCount
          // Throttle: never ahead of rateBytesPerSec since the pass started.
          const aheadMs = bytesThisPass / this.#o.rateBytesPerSec * 1000 - (Date.now() - startedMs)
          if (aheadMs > 1) await sleep(aheadMs)
          else if (batches.size === 0) await new Promise((resolve) => setImmediate(resolve))
        }
      }
      // Deletes in the planned ranges, so a target holding an old copy drops it.
      position.shard = shardCount
      position.cursor = 0
      const byTarget = new Map<string, Tombstone[]>()
      const tombstones = this.#o.tombstones.inPartitions(new Set(plan.keys()))
      for (const t of tombstones) {
        for (const target of plan.get(partitionOf(ringPosition(t.tenantId, t.key))) ?? []) {
          let list = byTarget.get(target)
          if (list === undefined) byTarget.set(target, list = [])
          list.push(t)
        }
      }
      for (const [target, list] of byTarget) await sendBatch(target, [], 0, list)
      progress.passes++
      logger?.info({ why, partitions: plan.size, items: itemsThisPass, bytes: bytesThisPass, ms: Date.now() - startedMs, skipped: [...skipped] }, 'range stream pass done')
      return { items: itemsThisPass, complete: skipped.size === 0 && !this.#closed }
    } finally {
      progress.running = this.#queued > 1
      progress.progress = 1
    }
  }
}
