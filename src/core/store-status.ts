/**
 * Result codes of the slab store, and the set modes it understands. Thread: any (pure, L1).
 * Core functions return these codes, never throw them: `command/` maps each code to every
 * protocol's reply in one table.
 */

/** What a store operation did. */
export const StoreStatus = {
  /** Done (a read found the key; a write stored or removed it). */
  OK: 0,
  /** The key is absent (or expired). */
  NOT_FOUND: 1,
  /** A condition failed: ADD on an existing key, REPLACE/APPEND on a missing one. */
  NOT_STORED: 2,
  /** CAS mismatch: the item changed since the client read it. */
  EXISTS: 3,
  KEY_TOO_LARGE: 4,
  VALUE_TOO_LARGE: 5,
  /** The item does not fit even after evicting everything evictable. */
  OUT_OF_MEMORY: 6,
  /** INCR/DECR on a value that is not a decimal integer in range. */
  NOT_NUMERIC: 7,
  /** INCR/DECR (Redis semantics) would leave the signed 64-bit range. */
  OVERFLOW: 8,
  /** The shard's lock was not released in time (a dead or stuck holder). */
  BUSY: 9,
  /** The tenant id is outside the slab's tenant table. */
  BAD_TENANT: 10,
  /** Tags or content type beyond what the item format holds (item-ext.ts limits). */
  BAD_METADATA: 11
} as const
export type StoreStatus = typeof StoreStatus[keyof typeof StoreStatus]

/** How `SlabStore.set` treats an existing item. */
export const SetMode = {
  /** Store unconditionally. */
  SET: 0,
  /** Only if absent (memcached add, Redis NX). */
  ADD: 1,
  /** Only if present (memcached replace, Redis XX). */
  REPLACE: 2,
  /** Only if present with cas === options.casExpected (memcached cas). */
  CAS: 3,
  /** Append to a present item, keeping its flags and expiry (memcached append). */
  APPEND: 4,
  /** Prepend to a present item (memcached prepend). */
  PREPEND: 5,
  /** Append, creating the item when absent (Redis APPEND). */
  APPEND_OR_SET: 6
} as const
export type SetMode = typeof SetMode[keyof typeof SetMode]

/** Counter semantics for `SlabStore.incr`. */
export const CounterMode = {
  /** Signed 64-bit; a missing key counts from 0; overflow is an error (Redis INCRBY). */
  REDIS: 0,
  /** Unsigned 64-bit; a missing key is NOT_FOUND; incr wraps, decr stops at 0 (memcached). */
  MEMCACHED: 1
} as const
export type CounterMode = typeof CounterMode[keyof typeof CounterMode]
