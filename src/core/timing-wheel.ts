/**
 * TimingWheel: the shard's hierarchical TTL wheel, intrusive in the items (I_WHEEL_PREV/NEXT)
 * with its 257 list heads in the slab. Thread: the lock holder (L1, no allocation, no clock:
 * the caller passes `nowMs`).
 *
 *   level  slots  slot width     range from the current tick
 *     0     64    1 s (1 tick)   < 64 s
 *     1     64    64 s           < 68 min
 *     2     64    4096 s         < 3 days
 *     3     64    262144 s       < 194 days
 *   overflow list                 beyond; re-placed each time level 3 wraps
 *
 * An item expiring at `expiryMs` belongs to tick ceil(expiryMs / 1000): when that tick is
 * processed (now ≥ tick × 1000) the item is certainly expired. Invariants: every live item with
 * expiryMs ≠ 0 is on exactly one slot list and items without expiry are on none; a slot of
 * level L > 0 holds only items whose tick falls in the block it stands for, so cascading a slot
 * when the wheel enters its block (Linux's classic timer wheel) moves each item down at most
 * once per level. Work is bounded per call: `advance` stops after `budget` item moves or
 * expiries and resumes exactly there (lists are popped from the head); the overflow list is
 * re-placed whole when level 3 wraps (every ~194 days; items that far out are rare). Empty
 * ticks cost no budget and are skipped in runs (whole empty levels at once), so moving the
 * clock by days costs a few hundred head reads, not a loop per second.
 */
import { F_EXPIRY, H_WHEEL_COUNT, H_WHEEL_TICK, I_WHEEL_NEXT, I_WHEEL_PREV, TICK_MS, WHEEL_BASE, WHEEL_HEADS, WHEEL_LEVELS, WHEEL_OVERFLOW, WHEEL_SLOT_BITS, WHEEL_SLOTS } from './slab-layout.js'
import type { SlabMemory } from './slab-memory.js'
import { pushHead, unlink } from './intrusive-list.js'

const HEAD = WHEEL_BASE >>> 2
const SLOT_MASK = WHEEL_SLOTS - 1
const TICK = H_WHEEL_TICK >>> 3
const COUNT = H_WHEEL_COUNT >>> 3

/** Tick at which an item expiring at `expiryMs` is due. */
export function dueTick (expiryMs: number): number { return Math.ceil(expiryMs / TICK_MS) }

export class TimingWheel {
  readonly #words: Uint32Array
  readonly #doubles: Float64Array

  constructor (memory: SlabMemory) {
    this.#words = memory.words
    this.#doubles = memory.doubles
  }

  /** Starts the wheel at `nowMs` (fresh slab or after repair; the lists must be empty). */
  reset (nowMs: number): void {
    this.#words.fill(0, HEAD, HEAD + WHEEL_HEADS)
    this.#doubles[TICK] = Math.floor(nowMs / TICK_MS)
    this.#doubles[COUNT] = 0
  }

  /** Next tick to process: every tick before it has been fully processed. */
  get tick (): number { return this.#doubles[TICK]! }
  /** Items on the wheel. */
  get size (): number { return this.#doubles[COUNT]! }

  /** Links item `ref` (expiry set, on no slot) into the slot for its due tick. */
  insert (ref: number): void {
    pushHead(this.#words, this.#slotHead(ref), -1, ref, I_WHEEL_PREV, I_WHEEL_NEXT)
    this.#doubles[COUNT]!++
  }

  /**
   * Unlinks item `ref`, which is on some slot. An item's slot depends on the tick at which it
   * was placed, so it is not recomputed: a member with a predecessor unlinks locally; a slot
   * head is found by comparing the 257 head words (cheap, and only for heads).
   */
  remove (ref: number): void {
    const words = this.#words
    const prev = words[ref * 2 + I_WHEEL_PREV]!
    const next = words[ref * 2 + I_WHEEL_NEXT]!
    if (prev !== 0) {
      words[prev * 2 + I_WHEEL_NEXT] = next
      if (next !== 0) words[next * 2 + I_WHEEL_PREV] = prev
    } else {
      const head = this.headOf(ref)
      if (head < 0) throw new Error(`wheel: item ${ref} is on no slot`)
      words[head] = next
      if (next !== 0) words[next * 2 + I_WHEEL_PREV] = 0
    }
    words[ref * 2 + I_WHEEL_PREV] = 0
    words[ref * 2 + I_WHEEL_NEXT] = 0
    this.#doubles[COUNT]!--
  }

  /** Head word index whose list starts with `ref`, or -1. */
  headOf (ref: number): number {
    const words = this.#words
    for (let slot = 0; slot < WHEEL_HEADS; slot++) if (words[HEAD + slot] === ref) return HEAD + slot
    return -1
  }

  /** Head word index of wheel slot `slot` (0 ≤ slot < WHEEL_HEADS), for invariant walks. */
  slotHeadWord (slot: number): number { return HEAD + slot }

  /**
   * Advances the wheel towards `nowMs`, cascading and expiring. `expire(ref)` must unlink the
   * item everywhere (it is already off the wheel when called). Returns the budget left; 0 means
   * the wheel may still be behind.
   */
  advance (nowMs: number, budget: number, expire: (ref: number) => void): number {
    const doubles = this.#doubles
    const words = this.#words
    if (doubles[COUNT] === 0) {
      // Nothing to expire: every tick up to now is trivially processed (the same place the
      // loop below ends: the first tick not yet due).
      const nextTick = Math.floor(nowMs / TICK_MS) + 1
      if (doubles[TICK]! < nextTick) doubles[TICK] = nextTick
      return budget
    }
    while (budget > 0) {
      const tick = doubles[TICK]!
      if (tick * TICK_MS > nowMs) break
      // Cascade the slots whose block starts at this tick: level 1 every 64 ticks, level 2
      // when level 1 wraps, and so on (lower level first, as Linux does; an item from level
      // L+1 lands below L's just-emptied slot, never in it).
      let level = 1
      let shifted = tick
      while (level <= 3 && (shifted & SLOT_MASK) === 0) {
        shifted = Math.floor(shifted / WHEEL_SLOTS)
        const head = HEAD + level * WHEEL_SLOTS + (shifted & SLOT_MASK)
        while (budget > 0 && words[head] !== 0) {
          const ref = words[head]!
          unlink(words, head, -1, ref, I_WHEEL_PREV, I_WHEEL_NEXT)
          pushHead(words, this.#slotHead(ref), -1, ref, I_WHEEL_PREV, I_WHEEL_NEXT)
          budget--
        }
        if (budget === 0) return 0
        level++
      }
      if (level === 4 && (shifted & SLOT_MASK) === 0) {
        // Level 3 wrapped: re-place the overflow list (items ≥ 194 days out). Detached first,
        // because items still that far out go back onto it.
        const head = HEAD + WHEEL_OVERFLOW
        let ref = words[head]!
        words[head] = 0
        while (ref !== 0) {
          const next = words[ref * 2 + I_WHEEL_NEXT]!
          words[ref * 2 + I_WHEEL_PREV] = 0
          words[ref * 2 + I_WHEEL_NEXT] = 0
          pushHead(words, this.#slotHead(ref), -1, ref, I_WHEEL_PREV, I_WHEEL_NEXT)
          ref = next
          if (budget > 0) budget--
        }
      }
      const head = HEAD + (tick & SLOT_MASK)
      while (budget > 0 && words[head] !== 0) {
        const ref = words[head]!
        unlink(words, head, -1, ref, I_WHEEL_PREV, I_WHEEL_NEXT)
        doubles[COUNT]!--
        expire(ref)
        budget--
      }
      if (words[head] !== 0) return 0
      doubles[TICK] = this.#nextTick(tick, nowMs)
    }
    return budget
  }

  /**
   * The tick after `tick` (fully processed) at which there can be work, but never beyond the
   * first tick not yet due. Skips empty level-0 slots up to the next level-1 boundary; at a
   * boundary, if level 0 and levels 1..L are entirely empty, nothing can happen before the next
   * multiple of 64^(L+1) (the next cascade of level L+1, or the overflow re-place for L = 3).
   */
  #nextTick (tick: number, nowMs: number): number {
    const words = this.#words
    const limit = Math.floor(nowMs / TICK_MS) + 1
    let next = tick + 1
    while (next < limit && (next & SLOT_MASK) !== 0 && words[HEAD + (next & SLOT_MASK)] === 0) next++
    if (next >= limit || (next & SLOT_MASK) !== 0 || !this.#levelEmpty(0)) return Math.min(next, limit)
    let width = WHEEL_SLOTS
    for (let level = 1; level < WHEEL_LEVELS && next < limit; level++) {
      if (!this.#levelEmpty(level)) break
      width *= WHEEL_SLOTS
      next = Math.ceil(next / width) * width
    }
    return Math.min(next, limit)
  }

  #levelEmpty (level: number): boolean {
    const words = this.#words
    const first = HEAD + level * WHEEL_SLOTS
    for (let slot = first; slot < first + WHEEL_SLOTS; slot++) if (words[slot] !== 0) return false
    return true
  }

  /** Head word of the slot item `ref` belongs in now, from its expiry and the current tick. */
  #slotHead (ref: number): number {
    const due = dueTick(this.#doubles[ref + F_EXPIRY]!)
    const tick = this.#doubles[TICK]!
    const delta = due - tick
    if (delta < WHEEL_SLOTS) return HEAD + ((delta < 0 ? tick : due) & SLOT_MASK)
    let level = 1
    let span = WHEEL_SLOTS * WHEEL_SLOTS
    while (level <= 3) {
      if (delta < span) return HEAD + level * WHEEL_SLOTS + (Math.floor(due / 2 ** (WHEEL_SLOT_BITS * level)) & SLOT_MASK)
      span *= WHEEL_SLOTS
      level++
    }
    return HEAD + WHEEL_OVERFLOW
  }
}
