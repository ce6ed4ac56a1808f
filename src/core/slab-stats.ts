/**
 * The counters a slab exposes: slab-wide totals (SlabStats) and one tenant's (TenantStats),
 * read from the header and tenant tables.
 * Thread: any thread attached to the slab; read without the lock, so exact only under
 * quiescence (each field is one aligned f64, never torn).
 * L1: no I/O; allocates the returned object (a cold path: stats and metrics).
 */
import {
  H_CHUNK_BYTES, H_EVICTIONS, H_EXPIRATIONS, H_HITS, H_ITEM_BYTES, H_ITEM_COUNT, H_MISSES, H_PAGES_MOVED,
  T_BYTES, T_DELETES, T_EVICTIONS, T_EXPIRATIONS, T_HITS, T_ITEMS, T_MISSES, T_QUOTA, T_SETS
} from './slab-layout.js'
import type { SlabAllocator } from './slab-allocator.js'
import type { SlabMemory } from './slab-memory.js'
import type { TimingWheel } from './timing-wheel.js'

export interface SlabStats {
  items: number
  itemBytes: number
  chunkBytes: number
  capacityBytes: number
  slabBytes: number
  freePages: number
  pageCount: number
  hits: number
  misses: number
  evictions: number
  expirations: number
  pagesMoved: number
  wheelItems: number
}

export interface TenantStats {
  items: number
  /** Chunk bytes the tenant's items hold (what its quota limits). */
  bytes: number
  /** Byte quota, 0 = unlimited (a slab's: its share of the engine-wide quota). */
  quotaBytes: number
  hits: number
  misses: number
  sets: number
  deletes: number
  evictions: number
  expirations: number
}

export function readSlabStats (memory: SlabMemory, allocator: SlabAllocator, wheel: TimingWheel): SlabStats {
  const d = memory.doubles
  const layout = memory.layout
  return {
    items: d[H_ITEM_COUNT >>> 3]!,
    itemBytes: d[H_ITEM_BYTES >>> 3]!,
    chunkBytes: d[H_CHUNK_BYTES >>> 3]!,
    capacityBytes: layout.pageCount * 1048576,
    slabBytes: layout.slabBytes,
    freePages: allocator.freePages,
    pageCount: layout.pageCount,
    hits: d[H_HITS >>> 3]!,
    misses: d[H_MISSES >>> 3]!,
    evictions: d[H_EVICTIONS >>> 3]!,
    expirations: d[H_EXPIRATIONS >>> 3]!,
    pagesMoved: d[H_PAGES_MOVED >>> 3]!,
    wheelItems: wheel.size
  }
}

/** Counters of one tenant (items, bytes, hits, misses, sets, deletes, evictions, expirations) and its quota here. */
export function readTenantStats (memory: SlabMemory, tenantId: number): TenantStats {
  const d = memory.doubles
  const base = memory.tenantDouble(tenantId)
  return {
    items: d[base + T_ITEMS]!,
    bytes: d[base + T_BYTES]!,
    quotaBytes: d[base + T_QUOTA]!,
    hits: d[base + T_HITS]!,
    misses: d[base + T_MISSES]!,
    sets: d[base + T_SETS]!,
    deletes: d[base + T_DELETES]!,
    evictions: d[base + T_EVICTIONS]!,
    expirations: d[base + T_EXPIRATIONS]!
  }
}
