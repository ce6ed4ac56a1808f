/**
 * Replicator: successor replication of local writes, and applying what peers replicate here
 * (DESIGN §9 "Writes"). Thread: main.
 * Owns: the writes captured in this event-loop turn, their per-replica batches in flight, the
 * acknowledgement counts that `quorum`/`all` requests wait on, and the tombstones of deletes.
 * How: replication ships STATE, not commands. The engine reports every successful local write
 * (engine.onWrite: key, new CAS or tombstone stamp); at the end of the turn the replicator reads
 * each written key back as a snapshot item record (value, flags, absolute expiry, tags, content
 * type, CAS) and sends one REPLICATE batch per replica. Replicas apply records last-write-wins
 * by CAS, which is a hybrid logical clock (wall ms × 1024 + logical; applying a record raises
 * the slab's counter past it), ties going to the larger node id. So an APPEND, an INCR or a
 * rate-limit update replicate exactly like a SET, replaying a batch twice changes nothing, and
 * batches may arrive in any order.
 * Invariants:
 * - A write is acknowledged by a replica once a REPLICATE batch that carried it (or a newer
 *   version of its key) was answered by that replica.
 * - `quorum` = a majority of the key's replica set, the owner included (R = 2: the owner and
 *   its successor; R = 3: the owner and one more); `all` = every replica.
 * - Expiry needs no message: the absolute expiry travels with the record, so every replica
 *   expires the item at the same moment on its own. Eviction is local to each node's memory.
 */
import { ExportBuffer } from '../../core/slab-export.js'
import { StoreStatus } from '../../core/store-status.js'
import { decodeRecord } from '../../persist/snapshot-format.js'
import { SlabcacheError } from '../../errors.js'
import { decodeReplicate, encodeCounts, encodeReplicate, ReplicateKind, type Tombstone } from '../../cluster/cluster-messages.js'
import type { Tombstones } from '../../cluster/tombstones.js'
import type { ConsistencyMode } from '../../cluster/cluster-types.js'
import type { Engine } from '../../engine.js'
import type { Logger } from '../../util/log.js'

/** Where a key's writes go: its other replicas (current ring, and joining nodes that will hold it), and the replica set size. */
export interface Placement { readonly targets: readonly string[], readonly replicaCount: number }

export interface ReplicatorOptions {
  readonly selfId: string
  readonly engine: Engine
  readonly tombstones: Tombstones
  readonly placement: (tenantId: number, key: Uint8Array) => Placement
  /** One REPLICATE request to `node`; resolves with its answer. */
  readonly send: (node: string, payload: Buffer[]) => Promise<Buffer>
  readonly nowMs: () => number
  readonly timeoutMs: number
  readonly logger?: Logger | undefined
}

class Waiter {
  remaining: number
  settled = false
  readonly promise: Promise<void>
  resolve!: () => void
  reject!: (error: Error) => void
  timer: NodeJS.Timeout | null = null

  constructor (remaining: number) {
    this.remaining = remaining
    this.promise = new Promise<void>((resolve, reject) => { this.resolve = resolve; this.reject = reject })
  }

  done (): void {
    if (this.settled) return
    this.settled = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.resolve()
  }

  fail (error: Error): void {
    if (this.settled) return
    this.settled = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.reject(error)
  }
}

class Write {
  acks = 0
  failures = 0
  /** Waiters for `quorum` and for `all`, when any request waits on this write. */
  quorumWaiters: Waiter[] | null = null
  allWaiters: Waiter[] | null = null
  constructor (
    readonly tenantId: number,
    readonly key: Buffer,
    readonly stamp: number,
    readonly deleted: boolean,
    readonly targets: readonly string[],
    readonly quorumNeeded: number,
    readonly allNeeded: number,
    /** When it was captured (replication lag). */
    readonly atMs: number
  ) {}
}

/**
 * Replication toward one peer: the writes waiting for the next batch, and the batches in
 * flight. At most MAX_BATCHES_IN_FLIGHT are in flight; writes made meanwhile wait and go out
 * together when one is answered. So under load batches grow (fewer, larger frames and socket
 * writes, fewer answers), while a lone write still leaves at the end of its event-loop turn.
 */
interface PeerQueue {
  queue: Write[]
  inFlight: number
  /** Writes in the batches in flight, and each batch's send time (oldest first). */
  inFlightWrites: number
  sentAtMs: number[]
}

const MAX_BATCHES_IN_FLIGHT = 2
/** A batch stops taking writes once its records pass this (a value is at most 8 MiB by default). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024

export class Replicator {
  readonly #o: ReplicatorOptions
  /** Writes since the last `replicated()` call (cleared at every flush: callers ask synchronously). */
  #sinceMark: Write[] = []
  #scheduled = false
  #closed = false
  readonly #peers = new Map<string, PeerQueue>()
  /** Statistics. */
  sentRecords = 0
  appliedRecords = 0
  staleRecords = 0

  constructor (options: ReplicatorOptions) {
    this.#o = options
  }

  /** engine.onWrite: capture a committed local write. */
  readonly capture = (tenantId: number, key: Uint8Array, stamp: number, deleted: boolean): void => {
    if (this.#closed) return
    const o = this.#o
    const copy = Buffer.from(key)
    const nowMs = o.nowMs()
    if (deleted) o.tombstones.record(tenantId, copy, stamp, nowMs)
    const placement = o.placement(tenantId, copy)
    const quorumNeeded = Math.floor(placement.replicaCount / 2)
    const allNeeded = Math.max(0, placement.replicaCount - 1)
    const write = new Write(tenantId, copy, stamp, deleted, placement.targets, Math.min(quorumNeeded, placement.targets.length), Math.min(allNeeded, placement.targets.length), nowMs)
    this.#sinceMark.push(write)
    if (placement.targets.length === 0) return
    for (const target of placement.targets) this.#peer(target).queue.push(write)
    this.#schedule()
  }

  #schedule (): void {
    if (this.#scheduled || this.#closed) return
    this.#scheduled = true
    setImmediate(this.#flush)
  }

  /** ClusterRouter.replicated: null, or a Promise for the writes made since the last call. */
  replicated (consistency: ConsistencyMode): Promise<void> | null {
    const writes = this.#sinceMark
    if (writes.length === 0) return null
    if (consistency === 'async') {
      writes.length = 0
      return null
    }
    this.#sinceMark = []
    const all = consistency === 'all'
    let remaining = 0
    for (const w of writes) if (w.acks < (all ? w.allNeeded : w.quorumNeeded)) remaining++
    if (remaining === 0) return null
    const waiter = new Waiter(remaining)
    for (const w of writes) {
      if (w.acks >= (all ? w.allNeeded : w.quorumNeeded)) continue
      if (all) (w.allWaiters ??= []).push(waiter)
      else (w.quorumWaiters ??= []).push(waiter)
    }
    waiter.timer = setTimeout(() => {
      waiter.fail(new SlabcacheError('REPLICATION_TIMEOUT', `not enough replicas acknowledged the write within ${this.#o.timeoutMs} ms (${consistency})`))
    }, this.#o.timeoutMs)
    waiter.timer.unref()
    return waiter.promise
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    this.#sinceMark.length = 0
    for (const [target, peer] of this.#peers) {
      if (peer.queue.length !== 0 && peer.inFlight < MAX_BATCHES_IN_FLIGHT) this.#send(target, peer)
    }
  }

  /** One REPLICATE batch of everything `peer` has queued: each key's current record, or its tombstone. */
  #send (target: string, peer: PeerQueue): void {
    const writes = peer.queue
    peer.queue = []
    const out = new ExportBuffer(64 * 1024)
    const tombstones: Tombstone[] = []
    const sent: Write[] = []
    for (let i = 0; i < writes.length; i++) {
      if (out.length >= MAX_BATCH_BYTES) {
        // The rest waits for the next batch: a frame stays far below the peer frame limit.
        peer.queue = writes.slice(i)
        break
      }
      const w = writes[i]!
      if (w.deleted) {
        tombstones.push({ tenantId: w.tenantId, key: w.key, stamp: w.stamp })
        sent.push(w)
        continue
      }
      const cas = this.#o.engine.exportKey(w.tenantId, w.key, out)
      if (cas <= 0) {
        // 0: gone since (a later delete carries it; or expired or evicted): nothing to wait
        // for. -1: the shard lock timed out: not sent now; anti-entropy repairs it.
        this.#settle(w, cas === 0, 1)
        continue
      }
      sent.push(w)
    }
    if (sent.length === 0) return
    // The records of one batch are contiguous: one view of the export buffer carries them all.
    const records = out.take()
    const payload = encodeReplicate(ReplicateKind.WRITE, records.length === 0 ? [] : [records], records.length, tombstones)
    peer.inFlight++
    peer.inFlightWrites += sent.length
    peer.sentAtMs.push(this.#o.nowMs())
    this.sentRecords += sent.length
    this.#o.send(target, payload).then(() => {
      for (const w of sent) this.#settle(w, true, 1)
    }, (error: unknown) => {
      this.#o.logger?.debug({ peer: target, err: error }, 'replication batch failed; anti-entropy will repair it')
      for (const w of sent) this.#settle(w, false, 1)
    }).finally(() => {
      peer.inFlight--
      peer.inFlightWrites -= sent.length
      peer.sentAtMs.shift()
      if (peer.queue.length !== 0) this.#schedule()
    })
    // Writes left over by the size cap go in the next turn's batch (if one may be in flight).
    if (peer.queue.length !== 0) this.#schedule()
  }

  #peer (target: string): PeerQueue {
    let peer = this.#peers.get(target)
    if (peer === undefined) this.#peers.set(target, peer = { queue: [], inFlight: 0, inFlightWrites: 0, sentAtMs: [] })
    return peer
  }

  /** `count` replicas answered (ok) or failed for write `w`: wake or fail its waiters. */
  #settle (w: Write, ok: boolean, count: number): void {
    if (ok) w.acks += count
    else w.failures += count
    for (const [waiters, needed] of [[w.quorumWaiters, w.quorumNeeded], [w.allWaiters, w.allNeeded]] as const) {
      if (waiters === null) continue
      if (ok && w.acks >= needed && w.acks - count < needed) {
        for (const waiter of waiters) if (--waiter.remaining === 0) waiter.done()
      } else if (!ok && w.targets.length - w.failures < needed) {
        for (const waiter of waiters) waiter.fail(new SlabcacheError('REPLICATION_TIMEOUT', 'a replica the write needed could not be reached'))
      }
    }
  }

  /** REPLICATE from `from`: apply tombstones, then records, last-write-wins. */
  apply (from: string, payload: Buffer): Buffer {
    const message = decodeReplicate(payload)
    const { engine, tombstones } = this.#o
    const winsTie = from > this.#o.selfId
    const nowMs = this.#o.nowMs()
    let applied = 0
    let stale = 0
    let failed = 0
    for (const t of message.tombstones) {
      tombstones.record(t.tenantId, t.key, t.stamp, nowMs)
      const status = engine.applyTombstone(t.tenantId, t.key, t.stamp, winsTie)
      // BUSY (lock timeout) or an invalid key: not applied. Anything else leaves the key deleted.
      if (status === StoreStatus.BUSY || status === StoreStatus.KEY_TOO_LARGE || status === StoreStatus.BAD_TENANT) failed++
      else applied++
    }
    const records = message.records
    if (tombstones.size === 0) {
      const counts = engine.applyRecords(records, winsTie)
      applied += counts.applied
      stale += counts.stale
      failed += counts.failed
    } else {
      // Check each record against the deletes this node knows of.
      for (let at = 0; at < records.length;) {
        const record = decodeRecord(records, at)
        if (record === null) throw new SlabcacheError('PEER_PROTOCOL', `replicated record at byte ${at} of ${records.length} is malformed`)
        const end = at + record.recordBytes
        if (tombstones.stampOf(record.tenantId, record.key) >= record.cas) stale++
        else {
          const counts = engine.applyRecords(records.subarray(at, end), winsTie)
          applied += counts.applied
          stale += counts.stale
          failed += counts.failed
        }
        at = end
      }
    }
    this.appliedRecords += applied
    this.staleRecords += stale
    // A version this node could not store (memory, quota, lock timeout) is not acknowledged:
    // the sender's quorum/all waiters must not count this replica for it.
    if (failed > 0) throw new SlabcacheError('OUT_OF_MEMORY', `${failed} replicated record(s) could not be stored on ${this.#o.selfId} (out of memory, over quota or the shard was busy)`)
    return encodeCounts(applied, stale)
  }

  /** Writes queued for or in flight to `node` (not yet acknowledged), and the age of the oldest, ms. */
  queueOf (node: string, nowMs: number): { writes: number, lagMs: number } {
    const peer = this.#peers.get(node)
    if (peer === undefined) return { writes: 0, lagMs: 0 }
    const oldestMs = peer.sentAtMs.length !== 0 ? peer.sentAtMs[0]! : peer.queue.length !== 0 ? peer.queue[0]!.atMs : nowMs
    return { writes: peer.queue.length + peer.inFlightWrites, lagMs: Math.max(0, nowMs - oldestMs) }
  }

  close (): void {
    this.#closed = true
    for (const peer of this.#peers.values()) peer.queue = []
    this.#sinceMark = []
  }
}
