/**
 * Hlc: the hybrid logical clock that stamps every write an owner applies, and the last-write-
 * wins order over those stamps. Thread: main (L3 by location, but pure: the wall clock comes in
 * as a function, so tests move time by hand).
 * Owns: the stamp layout `hlc = wallMs · 1024 + logical` (HLC_LOGICAL_BITS = 10), the same
 * shape as the slab CAS (SlabStore stamps CAS = max(counter + 1, nowMs · 1024)), so an HLC can
 * be stored as an item's CAS and compared as one number.
 * Invariants: `now()` is strictly increasing, ≥ wallMs · 1024, and greater than every stamp
 * this clock issued or observed; stamps are non-negative integers below 2^53, exact in doubles.
 */

/** Low bits of a stamp that count events within one wall-clock millisecond. */
export const HLC_LOGICAL_BITS = 10

/** 2^HLC_LOGICAL_BITS: multiplying by it is exact in doubles (a power of two). */
const LOGICAL_SPAN = 2 ** HLC_LOGICAL_BITS

/**
 * A hybrid logical clock. When more than 1024 stamps are taken within one millisecond, or a
 * remote stamp from a node whose clock runs ahead is observed, the stamp runs ahead of this
 * node's wall clock (the logical part carries into the wall part); it never goes back, and
 * the wall clock catches up. Allocation-free.
 */
export class Hlc {
  readonly #nowMs: () => number
  #last = 0

  /** @param nowMs the wall clock in ms since the epoch (Date.now, or a test clock) */
  constructor (nowMs: () => number) {
    if (typeof nowMs !== 'function') throw new TypeError(`nowMs must be a function returning ms; received ${typeof nowMs}`)
    this.#nowMs = nowMs
  }

  /** Strictly increasing stamp ≥ nowMs·1024 and > every stamp seen or issued. */
  now (): number {
    // A clock that jumps back (NTP step) only stops the physical part from advancing; the
    // `last + 1` arm keeps the order.
    const physical = Math.floor(this.#nowMs()) * LOGICAL_SPAN
    const stamp = physical > this.#last ? physical : this.#last + 1
    this.#last = stamp
    return stamp
  }

  /**
   * Merge a remote stamp (received with replicated data), so the next `now()` is above it:
   * a write this node makes after seeing another node's write always wins over it.
   * @param remote a non-negative safe integer (a peer's `now()`); anything else is a codec bug
   *   and throws RangeError rather than poisoning the clock
   */
  observe (remote: number): void {
    if (!Number.isSafeInteger(remote) || remote < 0) throw new RangeError(`remote hlc must be a non-negative safe integer; received ${String(remote)}`)
    if (remote > this.#last) this.#last = remote
  }

  /** The largest stamp issued or observed so far (0 before any). */
  get last (): number {
    return this.#last
  }
}

/** The wall-clock part of a stamp, in ms since the epoch. */
export function hlcWallMs (hlc: number): number {
  return Math.floor(hlc / LOGICAL_SPAN)
}

/**
 * LWW order: by hlc, ties by node id (larger id, in code-unit order, wins). >0 when a wins,
 * <0 when b wins, 0 only for the same stamp from the same node (the same write).
 */
export function compareVersions (aHlc: number, aNode: string, bHlc: number, bNode: string): number {
  if (aHlc !== bHlc) return aHlc > bHlc ? 1 : -1
  return aNode > bNode ? 1 : aNode < bNode ? -1 : 0
}
