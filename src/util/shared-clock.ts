/**
 * SharedClock: the coarse millisecond clock every TTL check reads (DESIGN §6), one Float64 in a
 * small SharedArrayBuffer. Thread: the main thread writes it (every millisecond, from an unref'd
 * interval); shard workers attach read-only. L0.
 * Invariant: the value never decreases. With debug clock control on, `advance(ms)` adds to an
 * offset so tests move time instead of sleeping; with it off, `advance` throws DEBUG_DISABLED.
 * Aligned 8-byte loads and stores do not tear on the 64-bit platforms Node supports, so plain
 * Float64Array access is enough for a value that is only ever replaced whole.
 */
import { SlabcacheError } from '../errors.js'
import type { Clock } from './clock.js'

const CLOCK_BYTES = 64
const NOW = 0

export class SharedClock implements Clock {
  readonly sab: SharedArrayBuffer
  readonly #now: Float64Array
  readonly #writable: boolean
  readonly #clockControl: boolean
  #offsetMs = 0
  #timer: NodeJS.Timeout | null = null

  private constructor (sab: SharedArrayBuffer, writable: boolean, clockControl: boolean) {
    this.sab = sab
    this.#now = new Float64Array(sab, 0, 1)
    this.#writable = writable
    this.#clockControl = clockControl
  }

  /** The writer side (main thread). Starts ticking at once; `stop()` ends it. */
  static start (options: { clockControl: boolean }): SharedClock {
    const clock = new SharedClock(new SharedArrayBuffer(CLOCK_BYTES), true, options.clockControl)
    clock.#tick()
    clock.#timer = setInterval(() => clock.#tick(), 1)
    clock.#timer.unref()
    return clock
  }

  /** A read-only view (shard workers). */
  static attach (sab: SharedArrayBuffer): SharedClock {
    return new SharedClock(sab, false, false)
  }

  nowMs (): number { return this.#now[NOW]! }

  /** Debug clock: moves time forward by `ms`. Throws DEBUG_DISABLED unless clock control is on. */
  advance (ms: number): void {
    if (!this.#writable || !this.#clockControl) throw new SlabcacheError('DEBUG_DISABLED')
    if (!(Number.isFinite(ms) && ms >= 0)) throw new SlabcacheError('BAD_REQUEST', `clock advance must be a non-negative number of ms; received ${ms}`)
    this.#offsetMs += ms
    this.#tick()
  }

  /** Re-reads the system clock now (the interval may lag behind a busy event loop). */
  refresh (): void { if (this.#writable) this.#tick() }

  stop (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #tick (): void {
    const next = Date.now() + this.#offsetMs
    if (next > this.#now[NOW]!) this.#now[NOW] = next
  }
}
