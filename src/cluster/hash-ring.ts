/**
 * HashRing: which cluster members own and replicate each key. Thread: main (pure, L1: no
 * sockets, timers or clock; every node computes the same ring from the same member set).
 * Owns: ring positions of keys, the partition table, and the placement algorithm below. The
 * seeds, VNODES_PER_NODE, PARTITION_BITS and the algorithm are part of the on-wire contract:
 * two nodes that disagree on any of them disagree on owners and forward requests in circles.
 *
 * Algorithm (deterministic: a function of the SET of node ids and `replicas`, never of order):
 * 1. Points. Node n gets VNODES_PER_NODE points at xxh32(utf8(n) ‖ u32le(i), RING_HASH_SEED),
 *    i = 0..127. Points are sorted by position, ties by node id then i.
 * 2. Partitions. The u32 ring is cut into PARTITIONS = 4096 equal arcs; partition p starts at
 *    p << 20. A key's partition is the top 12 bits of its ring position. The successor chain
 *    of p lists the distinct nodes met walking the points clockwise from the first point at or
 *    after p's start (wrapping); chain[0] is p's raw (vnode) owner.
 * 3. Rebalance. Raw vnode ownership is uneven (128 random points per node leave shares well outside ±5 %),
 *    so each node gets a target of floor(P/N) or ceil(P/N) partitions: the P mod N nodes with
 *    the most raw partitions (ties: smaller id) get the +1, which keeps moves few. Then for
 *    k = 1..N−1, partitions are visited in order 0..P−1 and a partition whose current owner is
 *    over its target moves to chain[k] when that node is under its target. A node only ever
 *    gives or only ever receives, so at the end every node sits exactly on its target (an
 *    over-full node's remaining partitions all have every under-full node somewhere in their
 *    chain, and that pass would have moved one). Moving to the NEAREST successor first keeps
 *    moves local: adding a node takes partitions straight from the vnode layout, and the
 *    rebalance mostly shifts partitions between a node and its ring neighbour.
 * 4. Replicas of p: the owner, then the next distinct nodes of p's chain skipping the owner,
 *    min(replicas, N) in all. Lists are precomputed and shared (interned), so lookups are O(1)
 *    and allocate nothing.
 */
import { RING_HASH_SEED, xxh32 } from '../core/key-hash.js'

/** Virtual points per node (issue 7: "128 virtual points per node"). On-wire contract. */
export const VNODES_PER_NODE = 128
/** log2 of the partition count. On-wire contract. */
export const PARTITION_BITS = 12
/** Number of equal arcs the ring is cut into: the unit of ownership, streaming and digests. */
export const PARTITIONS = 4096 // 1 << PARTITION_BITS

/** Width of one partition's arc on the u32 ring: 2^(32 − PARTITION_BITS). */
const PARTITION_SPAN = 2 ** (32 - PARTITION_BITS)

/** Spreads tenant ids over the seed space; the same odd multiplier `keySeed` uses (2^32/φ). */
const TENANT_SEED_MULTIPLIER = 0x9E3779B1

const EMPTY: readonly string[] = Object.freeze([])
const utf8 = new TextEncoder()

/*
 * TEST VECTORS (asserted in test/cluster/hash-ring.ts, cross-checked there against
 * xxhash-wasm's h32Raw with the seed below). ringPosition = xxh32(key, ringSeed(tenant)),
 * ringSeed(tenant) = (RING_HASH_SEED ^ Math.imul(tenant, 0x9E3779B1)) >>> 0.
 *
 *   tenant  key           ringSeed     ringPosition   partition
 *   ------  ------------  ----------   ------------   ---------
 *      0    ""            0x52494E47   0x75DCB28F      1885
 *      0    "key"         0x52494E47   0x75E2F6A4      1886
 *      0    "user:1000"   0x52494E47   0xEDFA9671      3807
 *      1    "user:1000"   0xCC7E37F6   0xBFA0B22A      3066
 *     42    "session:9f"  0xA750B94D   0x76DF6D47      1901
 */

/**
 * The seed of a tenant's ring positions: RING_HASH_SEED mixed with the tenant id the way
 * `keySeed` mixes it into KEY_HASH_SEED (tenant 0 hashes with RING_HASH_SEED itself). Distinct
 * tenants get distinct seeds (odd multiplier, XOR with a constant: both bijective mod 2^32).
 */
export function ringSeed (tenantId: number): number {
  return (RING_HASH_SEED ^ Math.imul(tenantId, TENANT_SEED_MULTIPLIER)) >>> 0
}

/**
 * The key's ring position: xxh32(key, RING_HASH_SEED ^ tenant mix) as u32. Same inputs, same
 * answer on every node (on-wire contract). Unrelated to the key identity hash (different
 * seed), so a node's share of the ring spreads evenly over its shards. Allocation-free.
 */
export function ringPosition (tenantId: number, key: Uint8Array): number {
  return xxh32(key, 0, key.length, ringSeed(tenantId))
}

/** The partition of a ring position: its top PARTITION_BITS bits, `position >>> (32 − PARTITION_BITS)`. */
export function partitionOf (position: number): number {
  return position >>> (32 - PARTITION_BITS)
}

/** A node's vnode point i: xxh32(utf8(nodeId) ‖ u32le(i), RING_HASH_SEED), built in `scratch`. */
function vnodePosition (idBytes: Uint8Array, i: number, scratch: Uint8Array): number {
  scratch.set(idBytes, 0)
  const at = idBytes.length
  scratch[at] = i & 0xff
  scratch[at + 1] = (i >>> 8) & 0xff
  scratch[at + 2] = (i >>> 16) & 0xff
  scratch[at + 3] = (i >>> 24) & 0xff
  return xxh32(scratch, 0, at + 4, RING_HASH_SEED)
}

/**
 * An immutable placement of PARTITIONS partitions on a set of nodes. Build one per membership
 * change (`HashRing.build`, a few ms for 10 nodes; allocates); lookups are O(1) and allocate
 * nothing.
 */
export class HashRing {
  /** Member ids, sorted (code-unit order) and distinct. */
  readonly nodes: readonly string[]
  /** Copies of each key the placement asks for (owner included); lists hold min(replicas, N). */
  readonly replicas: number
  /** owners[p]: primary of partition p; empty when the ring has no node. */
  readonly #owners: ReadonlyArray<string>
  /** replicaLists[p]: owner then successors; interned, frozen. */
  readonly #replicaLists: ReadonlyArray<readonly string[]>

  private constructor (nodes: readonly string[], replicas: number, owners: string[], replicaLists: Array<readonly string[]>) {
    this.nodes = nodes
    this.replicas = replicas
    this.#owners = owners
    this.#replicaLists = replicaLists
  }

  /**
   * Deterministic: the same set of ids in any order (duplicates ignored) gives an identical
   * ring. An empty list is allowed: every lookup then returns null / []. Allocates; O(P·N·log N)
   * in the worst case, a few ms for ten nodes.
   * @param nodeIds member ids; each a non-empty string
   * @param replicas copies per key, an integer ≥ 1
   */
  static build (nodeIds: readonly string[], replicas: number): HashRing {
    if (!Number.isSafeInteger(replicas) || replicas < 1) {
      throw new RangeError(`replicas must be an integer of at least 1; received ${String(replicas)}`)
    }
    for (const id of nodeIds) {
      if (typeof id !== 'string' || id.length === 0) throw new RangeError(`node ids must be non-empty strings; received ${JSON.stringify(id)}`)
    }
    const nodes = Object.freeze([...new Set(nodeIds)].sort(compareIds))
    const nodeCount = nodes.length
    if (nodeCount === 0) {
      return new HashRing(nodes, replicas, [], [])
    }

    // 1. Points, sorted by position; ties (vanishingly rare) by node index then i, which is
    //    the order they are generated in, so a stable sort on position suffices.
    const pointCount = nodeCount * VNODES_PER_NODE
    const pointPos = new Uint32Array(pointCount)
    const pointNode = new Int32Array(pointCount)
    const encoded = nodes.map((id) => utf8.encode(id))
    const scratch = new Uint8Array(Math.max(...encoded.map((b) => b.length)) + 4)
    for (let n = 0; n < nodeCount; n++) {
      for (let i = 0; i < VNODES_PER_NODE; i++) {
        pointPos[n * VNODES_PER_NODE + i] = vnodePosition(encoded[n]!, i, scratch)
        pointNode[n * VNODES_PER_NODE + i] = n
      }
    }
    const order = Array.from({ length: pointCount }, (_, k) => k)
    order.sort((a, b) => (pointPos[a]! - pointPos[b]!) || (a - b))
    const sortedPos = Uint32Array.from(order, (k) => pointPos[k]!)
    const sortedNode = Int32Array.from(order, (k) => pointNode[k]!)

    // 2. Successor chains: chain[p·N + k] = k-th distinct node clockwise from p's start.
    const chain = new Int32Array(PARTITIONS * nodeCount)
    const seenStamp = new Int32Array(nodeCount) // seenStamp[n] === p + 1 ⇔ n already in p's chain
    let first = 0 // index of the first point at or after the current partition's start
    for (let p = 0; p < PARTITIONS; p++) {
      const start = p * PARTITION_SPAN
      while (first < pointCount && sortedPos[first]! < start) first++
      let found = 0
      for (let step = 0; found < nodeCount; step++) {
        const n = sortedNode[(first + step) % pointCount]!
        if (seenStamp[n] !== p + 1) {
          seenStamp[n] = p + 1
          chain[p * nodeCount + found++] = n
        }
      }
    }

    // 3. Rebalance to floor/ceil targets.
    const owner = new Int32Array(PARTITIONS)
    const count = new Int32Array(nodeCount)
    for (let p = 0; p < PARTITIONS; p++) {
      owner[p] = chain[p * nodeCount]!
      count[owner[p]!]!++
    }
    const base = Math.floor(PARTITIONS / nodeCount)
    const extra = PARTITIONS % nodeCount
    const target = new Int32Array(nodeCount).fill(base)
    const byRawShare = Array.from({ length: nodeCount }, (_, n) => n).sort((a, b) => (count[b]! - count[a]!) || (a - b))
    for (let r = 0; r < extra; r++) target[byRawShare[r]!]!++
    for (let k = 1; k < nodeCount && !balanced(count, target); k++) {
      for (let p = 0; p < PARTITIONS; p++) {
        const from = owner[p]!
        if (count[from]! <= target[from]!) continue
        const to = chain[p * nodeCount + k]!
        if (to === from || count[to]! >= target[to]!) continue
        owner[p] = to
        count[from]!--
        count[to]!++
      }
    }

    // 4. Replica lists, interned: with R small there are only a few hundred distinct lists.
    const listCount = Math.min(replicas, nodeCount)
    const interned = new Map<string, readonly string[]>()
    const owners: string[] = new Array(PARTITIONS)
    const replicaLists: Array<readonly string[]> = new Array(PARTITIONS)
    const picked: number[] = []
    for (let p = 0; p < PARTITIONS; p++) {
      const o = owner[p]!
      picked.length = 0
      picked.push(o)
      for (let k = 0; k < nodeCount && picked.length < listCount; k++) {
        const n = chain[p * nodeCount + k]!
        if (n !== o) picked.push(n)
      }
      const key = picked.join(',')
      let list = interned.get(key)
      if (list === undefined) {
        list = Object.freeze(picked.map((n) => nodes[n]!))
        interned.set(key, list)
      }
      owners[p] = nodes[o]!
      replicaLists[p] = list
    }
    return new HashRing(nodes, replicas, owners, replicaLists)
  }

  /** Owner of partition p (null on an empty ring or p out of range). O(1), allocation-free. */
  ownerOfPartition (partition: number): string | null {
    return this.#owners[partition] ?? null
  }

  /**
   * Owner first, then the next replicas−1 DISTINCT nodes (fewer if the ring is smaller; [] on
   * an empty ring). O(1), precomputed, allocation-free; the list is frozen and shared.
   */
  replicasOfPartition (partition: number): readonly string[] {
    return this.#replicaLists[partition] ?? EMPTY
  }

  /** Convenience: partitionOf(ringPosition(tenantId, key)) then ownerOfPartition. Allocation-free. */
  ownerOf (tenantId: number, key: Uint8Array): string | null {
    return this.ownerOfPartition(partitionOf(ringPosition(tenantId, key)))
  }

  /** Convenience: partitionOf(ringPosition(tenantId, key)) then replicasOfPartition. Allocation-free. */
  replicasOf (tenantId: number, key: Uint8Array): readonly string[] {
    return this.replicasOfPartition(partitionOf(ringPosition(tenantId, key)))
  }

  /** Fraction (0..1) of partitions each node owns as primary, for every node in `nodes`. Allocates. */
  ownership (): Map<string, number> {
    const counts = new Map<string, number>(this.nodes.map((id) => [id, 0]))
    for (const id of this.#owners) counts.set(id, counts.get(id)! + 1)
    for (const [id, n] of counts) counts.set(id, n / PARTITIONS)
    return counts
  }

  /** Partitions (ascending) where nodeId is owner or replica; [] for an unknown id. Allocates. */
  partitionsHeldBy (nodeId: string): number[] {
    const held: number[] = []
    for (let p = 0; p < this.#replicaLists.length; p++) {
      if (this.#replicaLists[p]!.includes(nodeId)) held.push(p)
    }
    return held
  }
}

/**
 * Partitions (ascending) whose replica list differs between two rings (order matters: a new
 * owner is a change even when the set is the same), with both lists. Allocates.
 */
export function diffRings (before: HashRing, after: HashRing): Array<{ partition: number, before: readonly string[], after: readonly string[] }> {
  const changes: Array<{ partition: number, before: readonly string[], after: readonly string[] }> = []
  for (let p = 0; p < PARTITIONS; p++) {
    const a = before.replicasOfPartition(p)
    const b = after.replicasOfPartition(p)
    if (a === b) continue // interned lists from one ring, or both empty
    if (a.length === b.length && a.every((id, i) => id === b[i])) continue
    changes.push({ partition: p, before: a, after: b })
  }
  return changes
}

/** Code-unit order: the same on every node, independent of locale. */
function compareIds (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function balanced (count: Int32Array, target: Int32Array): boolean {
  for (let n = 0; n < count.length; n++) if (count[n] !== target[n]) return false
  return true
}
