/**
 * BumpEpoch: which 2-bit LRU "bump epoch" the current time window has, so an item moves to its
 * LRU head at most about once per `bumpIntervalMs` (memcached's ITEM_UPDATE_INTERVAL, 60 s).
 * Thread: the thread of its SlabStore (one instance per store; it caches the window, shares nothing).
 * L1: time comes from the injected Clock; no allocation.
 *
 * epoch(nowMs) = floor(nowMs / bumpIntervalMs) & 3. A commit and every applied bump stamp the
 * item's meta bits 30–31 with it (under the lock); the lock-free reader skips recording a hit
 * when the item's bits equal the current epoch, so a hot item costs the hit ring and the
 * worker's applyHits one entry per window instead of one per read.
 * Aliasing: 2 bits cannot tell a stamp from this window from one exactly 4k windows old, so an
 * item untouched for 4k windows and then read is bumped one window late. It never moves too often.
 * bumpIntervalMs 0 is exact LRU: `current()` returns NO_EPOCH, which no 2-bit stamp equals, so
 * every hit is recorded, and nothing divides.
 */
import type { Clock } from '../util/clock.js'

/** memcached's ITEM_UPDATE_INTERVAL; the `lru.bumpInterval` config default is the same. */
export const DEFAULT_BUMP_INTERVAL_MS = 60_000
/** What `current()` returns when bumping is exact (interval 0): equal to no item's 2-bit epoch. */
export const NO_EPOCH = 4

export class BumpEpoch {
  readonly intervalMs: number
  readonly #clock: Clock
  /** The cached window [#startMs, #endMs) and its epoch; recomputed when the clock leaves it. */
  #startMs = Infinity
  #endMs = -Infinity
  #epoch = NO_EPOCH

  /** Throws RangeError unless `intervalMs` is a non-negative safe integer (API misuse). */
  constructor (clock: Clock, intervalMs: number) {
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 0) {
      throw new RangeError(`bumpIntervalMs must be a non-negative integer (0 = exact LRU); received ${intervalMs}`)
    }
    this.#clock = clock
    this.intervalMs = intervalMs
    // Exact LRU: a window that never ends, whose epoch matches no stamp.
    if (intervalMs === 0) { this.#startMs = -Infinity; this.#endMs = Infinity }
  }

  /**
   * The epoch (0–3) of the window holding the clock's now, or NO_EPOCH when the interval is 0.
   * One clock read and two compares; divides only when the clock has left the cached window.
   */
  current (): number {
    const nowMs = this.#clock.nowMs()
    if (nowMs >= this.#endMs || nowMs < this.#startMs) this.#enter(nowMs)
    return this.#epoch
  }

  #enter (nowMs: number): void {
    const window = Math.floor(nowMs / this.intervalMs)
    this.#startMs = window * this.intervalMs
    this.#endMs = this.#startMs + this.intervalMs
    // `& 3` keeps the low bits exactly for any window below 2^53 (2^32 is a multiple of 4).
    this.#epoch = window & 3
  }
}
