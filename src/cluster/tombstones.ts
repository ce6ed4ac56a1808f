/**
 * Tombstones: the stamps of recently deleted keys, so that an older version arriving later
 * (a delayed replication batch, a range stream, an anti-entropy push from a replica that missed
 * the delete) cannot bring a deleted key back. Thread: main (pure data structure; time comes in
 * as arguments).
 * Owns: a bounded map (tenant, key) → stamp with an age limit.
 * Invariants:
 * - A tombstone lives `retainMs` (by default 10 anti-entropy intervals): long past the time any
 *   in-flight copy of the old version can still arrive. After that, the deleted key's absence is
 *   agreed by every replica (anti-entropy compares digests of present items only).
 * - At most `maxEntries`; the oldest go first (insertion order = stamp order, nearly: a Map
 *   iterates in insertion order and a re-delete re-inserts).
 * Why not in the slab: a tombstone item would cost a slab chunk per deleted key and an LRU
 * entry, and would be evicted under memory pressure exactly when deletes are frequent. A main-
 * thread map with a hard bound costs ~200 bytes per recent delete (at most DEFAULT_MAX_TOMBSTONES).
 */
import { partitionOf, ringPosition } from './hash-ring.js'
import type { Tombstone } from './cluster-messages.js'

/**
 * At most this many tombstones (~200 bytes each with the key: ~20 MiB outside the slab). Under
 * more than ~170 deletes a second the oldest go before their 10 minutes; a copy older than an
 * evicted tombstone can then come back only if it reaches a node later than that.
 */
export const DEFAULT_MAX_TOMBSTONES = 100_000

interface Entry { readonly tenantId: number, readonly key: Buffer, readonly stamp: number, readonly atMs: number, readonly partition: number }

export class Tombstones {
  readonly #entries = new Map<string, Entry>()
  readonly #retainMs: number
  readonly #maxEntries: number

  constructor (retainMs: number, maxEntries = DEFAULT_MAX_TOMBSTONES) {
    this.#retainMs = retainMs
    this.#maxEntries = maxEntries
  }

  get size (): number { return this.#entries.size }

  static #id (tenantId: number, key: Uint8Array): string {
    return `${tenantId}:${Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1')}`
  }

  /** Remembers that (tenantId, key) was deleted at `stamp` (keeps the larger stamp). */
  record (tenantId: number, key: Uint8Array, stamp: number, nowMs: number): void {
    const id = Tombstones.#id(tenantId, key)
    const old = this.#entries.get(id)
    if (old !== undefined) {
      if (old.stamp >= stamp) return
      this.#entries.delete(id)
    }
    this.#entries.set(id, { tenantId, key: Buffer.from(key), stamp, atMs: nowMs, partition: partitionOf(ringPosition(tenantId, key)) })
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
  }

  /** The stamp (tenantId, key) was deleted at, or 0. */
  stampOf (tenantId: number, key: Uint8Array): number {
    if (this.#entries.size === 0) return 0
    return this.#entries.get(Tombstones.#id(tenantId, key))?.stamp ?? 0
  }

  /** Drops tombstones older than the retention. */
  expire (nowMs: number): void {
    for (const [id, entry] of this.#entries) {
      if (nowMs - entry.atMs < this.#retainMs) break
      this.#entries.delete(id)
    }
  }

  /** The tombstones of the given partitions (for range streams and repairs). */
  inPartitions (partitions: ReadonlySet<number>): Tombstone[] {
    const out: Tombstone[] = []
    for (const entry of this.#entries.values()) {
      if (partitions.has(entry.partition)) out.push({ tenantId: entry.tenantId, key: entry.key, stamp: entry.stamp })
    }
    return out
  }
}
