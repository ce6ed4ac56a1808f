/**
 * Anti-entropy: finds ring partitions whose copies differ between this node and another replica
 * and repairs them (DESIGN §9: "an anti-entropy pass (digests per ring range) repairs what
 * async replication missed"). Thread: main.
 * Owns: this node's partition digests and the periodic pass.
 * How: a digest of a partition is the item count and the 32-bit sum of a mix of each live
 * item's ring position and CAS, so two replicas agree on a partition exactly when (barring a
 * 2^-32 collision) they hold the same versions of the same keys. For every other member, the
 * pass sends the digests of the partitions both hold; the member answers with those that differ
 * on its side, and this node streams its copy of them (items and tombstones) there. The
 * member's own pass does the same the other way, so after one pass on each side both hold the
 * newest version of every key (last-write-wins makes the exchange idempotent).
 * Known limit: TTL changes by TOUCH/EXPIRE keep the item's CAS, so digests do not see a lost
 * TTL change (it replicates asynchronously like any write, but is not repaired here).
 */
import { partitionOf, PARTITIONS, ringPosition, type HashRing } from '../../cluster/hash-ring.js'
import { decodeDigests, decodePartitions, encodeDigests, encodePartitions, MessageType, ReplicateKind, type PartitionDigest } from '../../cluster/cluster-messages.js'
import type { Engine } from '../../engine.js'
import type { Logger } from '../../util/log.js'
import type { RangeStreamer } from './range-streamer.js'

const VISIT_BUCKETS = 4096

export interface AntiEntropyOptions {
  readonly selfId: string
  readonly engine: Engine
  readonly streamer: RangeStreamer
  readonly ring: () => HashRing
  readonly request: (node: string, type: number, payload: Buffer) => Promise<Buffer>
  readonly logger?: Logger | undefined
}

interface Digests { readonly items: Uint32Array, readonly sums: Int32Array }

function mix (position: number, cas: number): number {
  const low = cas % 4294967296
  const high = Math.floor(cas / 4294967296)
  let h = (position ^ Math.imul(low | 0, 0x9E3779B1) ^ Math.imul(high | 0, 0xC2B2AE3D)) | 0
  h ^= h >>> 15
  h = Math.imul(h, 0x85EBCA77)
  h ^= h >>> 13
  return h
}

export class AntiEntropy {
  readonly #o: AntiEntropyOptions
  #computing: Promise<Digests> | null = null
  passes = 0
  partitionsRepaired = 0

  constructor (options: AntiEntropyOptions) {
    this.#o = options
  }

  /**
   * This node's digests of every partition, computed now (requests for them that arrive while
   * a computation runs share it). Never cached beyond that: a digest taken before a repair
   * would report the repaired partitions as different again.
   */
  async digests (): Promise<Digests> {
    this.#computing ??= this.#compute().finally(() => { this.#computing = null })
    return await this.#computing
  }

  async #compute (): Promise<Digests> {
    const items = new Uint32Array(PARTITIONS)
    const sums = new Int32Array(PARTITIONS)
    const { engine } = this.#o
    const visit = (tenantId: number, bytes: Uint8Array, keyOffset: number, keyLength: number, cas: number): void => {
      const position = ringPosition(tenantId, bytes.subarray(keyOffset, keyOffset + keyLength))
      const p = partitionOf(position)
      items[p]!++
      sums[p] = (sums[p]! + mix(position, cas)) | 0
    }
    for (let shard = 0; shard < engine.shardCount; shard++) {
      let cursor = 0
      for (let first = true; first || cursor !== 0; first = false) {
        const next = engine.visitShard(shard, cursor, VISIT_BUCKETS, visit)
        // -1: the lock timed out, nothing was visited: the same slice again.
        if (next === -1) first = true
        else cursor = next
        // Yield between slices: requests run in between.
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    return { items, sums }
  }

  /** DIGEST from a peer: the partitions whose digest differs here. */
  async answer (payload: Buffer): Promise<Buffer> {
    const theirs = decodeDigests(payload)
    const mine = await this.digests()
    const differ: number[] = []
    for (const d of theirs) {
      if (d.partition >= PARTITIONS) continue
      if (mine.items[d.partition] !== d.items || (mine.sums[d.partition]! >>> 0) !== d.digest) differ.push(d.partition)
    }
    return encodePartitions(differ)
  }

  /** One pass over every other member holding partitions with this node. */
  async pass (): Promise<number> {
    const ring = this.#o.ring()
    const self = this.#o.selfId
    const shared = new Map<string, number[]>()
    for (let p = 0; p < PARTITIONS; p++) {
      const holders = ring.replicasOfPartition(p)
      if (!holders.includes(self)) continue
      for (const node of holders) {
        if (node === self) continue
        let list = shared.get(node)
        if (list === undefined) shared.set(node, list = [])
        list.push(p)
      }
    }
    if (shared.size === 0) return 0
    const mine = await this.digests()
    let repaired = 0
    for (const [node, partitions] of shared) {
      const digests: PartitionDigest[] = partitions.map((p) => ({ partition: p, items: mine.items[p]!, digest: mine.sums[p]! >>> 0 }))
      let differ: number[]
      try {
        differ = decodePartitions(await this.#o.request(node, MessageType.DIGEST, encodeDigests(digests)))
      } catch (error) {
        this.#o.logger?.debug({ peer: node, err: error }, 'anti-entropy digest exchange failed')
        continue
      }
      if (differ.length === 0) continue
      repaired += differ.length
      const plan = new Map<number, readonly string[]>(differ.map((p) => [p, [node]]))
      await this.#o.streamer.stream(plan, ReplicateKind.REPAIR, `anti-entropy with ${node}`)
    }
    this.passes++
    this.partitionsRepaired += repaired
    if (repaired > 0) this.#o.logger?.info({ partitions: repaired }, 'anti-entropy repaired differing partitions')
    return repaired
  }
}
