/**
 * Clock: the one way code reads time. Thread: any. Pure (L0).
 * Core structures never call Date.now(): they take a `Clock`, so tests move time instead of
 * waiting for it (CONVENTIONS "Time is moved, never slept"). The server's clock is the shared
 * coarse clock in `shared-clock.ts`; tests use `ManualClock`.
 */

/** A source of wall-clock milliseconds (Unix epoch). Must be non-decreasing. */
export interface Clock {
  nowMs (): number
}

/** A clock that only moves when told to; for tests and benchmarks. */
export class ManualClock implements Clock {
  #nowMs: number
  constructor (startMs = 1_700_000_000_000) { this.#nowMs = startMs }
  nowMs (): number { return this.#nowMs }
  /** Moves time forward; moving it backwards is a bug in the caller. */
  advance (ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance(ms) needs ms >= 0; received ${ms}`)
    this.#nowMs += ms
  }
}
