/**
 * BumpEpoch: the 2-bit epoch of the current bump window, floor(nowMs / intervalMs) & 3, exact at
 * window edges and for clocks far beyond 2^32 windows; interval 0 answers NO_EPOCH (equal to no
 * stamp); a bad interval is refused by name.
 */
import t from 'tap'
import { BumpEpoch, DEFAULT_BUMP_INTERVAL_MS, NO_EPOCH } from '../../src/core/bump-epoch.js'
import { ManualClock } from '../../src/util/clock.js'

/** A clock the test sets directly (ManualClock only moves forward, and we also test the cache going back). */
class SetClock {
  ms = 0
  nowMs (): number { return this.ms }
}

t.test('current - floor(nowMs / interval) & 3, exact on both sides of each window edge', async (t) => {
  const clock = new SetClock()
  const epoch = new BumpEpoch(clock, 1000)
  const cases: Array<[number, number]> = [
    [0, 0], [999, 0], [1000, 1], [1999, 1], [2000, 2], [3999, 3], [4000, 0], [4999, 0], [5000, 1],
    [1_700_000_000_000, 1_700_000_000 & 3], [1_700_000_000_999, 1_700_000_000 & 3], [1_700_000_001_000, 1_700_000_001 & 3]
  ]
  for (const [ms, expected] of cases) {
    clock.ms = ms
    t.equal(epoch.current(), expected, `at ${ms} ms`)
  }
  // The cached window is left in either direction.
  clock.ms = 2500
  t.equal(epoch.current(), 2, 'back to an earlier window')
})

t.test('current - windows beyond 2^32 keep their low bits (interval 1 ms, clocks up to 2^53)', async (t) => {
  const clock = new SetClock()
  const epoch = new BumpEpoch(clock, 1)
  for (const ms of [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 32 + 2, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER]) {
    clock.ms = ms
    t.equal(epoch.current(), Number(BigInt(ms) % 4n), `at ${ms} ms`)
  }
})

t.test('current - interval 0 is exact LRU: NO_EPOCH at any time, which no 2-bit stamp equals', async (t) => {
  const clock = new ManualClock()
  const epoch = new BumpEpoch(clock, 0)
  t.equal(NO_EPOCH > 3, true)
  for (let i = 0; i < 5; i++) {
    t.equal(epoch.current(), NO_EPOCH)
    clock.advance(DEFAULT_BUMP_INTERVAL_MS)
  }
  t.equal(epoch.intervalMs, 0)
})

t.test('constructor - bumpIntervalMs must be a non-negative integer; the message names it', async (t) => {
  for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
    t.throws(() => new BumpEpoch(new ManualClock(), bad), { name: 'RangeError', message: /^bumpIntervalMs must be a non-negative integer \(0 = exact LRU\); received / }, String(bad))
  }
})
