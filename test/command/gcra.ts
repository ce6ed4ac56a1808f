/**
 * GCRA math: redis-cell's published behaviour for a limit of 5 (burst 4) at 1 action per second,
 * replayed on a moved clock (ManualClock), then the parameter checks, the seconds rounding of
 * CL.THROTTLE's reply, and the stored TAT's decimal form.
 */
import t from 'tap'
import { cellSeconds, formatTat, gcra, GcraDecision, GcraParams, gcraParams, parseTat } from '../../src/command/gcra.js'
import { ManualClock } from '../../src/util/clock.js'

t.test('gcra - burst, refusal, refill over moved time, peek and costly actions (limit 5, 1/s)', async t => {
  const clock = new ManualClock()
  const start = clock.nowMs()
  let tat = -1
  const decision = new GcraDecision()
  // [ms after start, cost, limited, remaining, resetAfterMs, retryAfterMs]
  const cases: Array<[number, number, boolean, number, number, number]> = [
    [0, 6, true, 5, 0, -1], // larger than the limit: never allowed, nothing stored
    [0, 1, false, 4, 1000, -1],
    [0, 1, false, 3, 2000, -1],
    [0, 1, false, 2, 3000, -1],
    [0, 1, false, 1, 4000, -1],
    [0, 1, false, 0, 5000, -1],
    [0, 1, true, 0, 5000, 1000], // the burst is spent: retry in one emission interval
    [3000, 1, false, 2, 3000, -1],
    [3100, 1, false, 1, 3900, -1],
    [4000, 1, false, 1, 4000, -1],
    [8000, 1, false, 4, 1000, -1],
    [9500, 1, false, 4, 1000, -1],
    [9500, 0, false, 4, 1000, -1], // cost 0 peeks
    [9500, 2, false, 2, 3000, -1],
    [9500, 5, true, 2, 3000, 3000]
  ]
  const params = new GcraParams()
  for (const [at, cost, limited, remaining, resetMs, retryMs] of cases) {
    clock.advance(start + at - clock.nowMs())
    t.equal(gcraParams(params, 4, 1, 1000, cost), null)
    t.equal(params.limit, 5)
    gcra(decision, params, tat, clock.nowMs() * 1000)
    const label = `at +${at} ms, cost ${cost}`
    t.same([decision.limited, decision.remaining, decision.resetAfterUs / 1000, decision.retryAfterUs < 0 ? -1 : decision.retryAfterUs / 1000],
      [limited, remaining, resetMs, retryMs], label)
    if (decision.newTatUs >= 0) tat = decision.newTatUs
    else t.ok(limited || cost === 0, `${label}: only a refusal or a peek stores nothing`)
  }
})

t.test('gcra - fractional intervals stay exact: 3 per second never drifts by one', async t => {
  const params = new GcraParams()
  const decision = new GcraDecision()
  t.equal(gcraParams(params, 2, 3, 1000, 1), null)
  t.equal(params.emissionUs, 333_333)
  const now = 1_763_000_000_000_000
  let tat = -1
  const remaining: number[] = []
  for (let i = 0; i < 4; i++) {
    gcra(decision, params, tat, now)
    remaining.push(decision.limited ? -1 : decision.remaining)
    if (decision.newTatUs >= 0) tat = decision.newTatUs
  }
  t.same(remaining, [2, 1, 0, -1], 'three allowed at once, then refused')
  t.equal(decision.retryAfterUs, 333_333)
})

t.test('gcraParams - refuses what redis-cell refuses, and what it would get wrong', async t => {
  const params = new GcraParams()
  t.equal(gcraParams(params, 1, 0, 1000, 1), 'Zero rates are not supported')
  t.equal(gcraParams(params, 1, 1, 0, 1), 'Zero rates are not supported')
  t.equal(gcraParams(params, 1, 2_000_000, 1, 1), 'Zero rates are not supported', 'an interval under 1 µs')
  t.equal(gcraParams(params, -1, 1, 1000, 1), 'max_burst must be an integer >= 0')
  t.equal(gcraParams(params, 1, -1, 1000, 1), 'count per period must be an integer >= 0')
  t.equal(gcraParams(params, 1, 1, -1, 1), 'period must be an integer >= 0')
  t.equal(gcraParams(params, 1, 1, 1000, -1), 'quantity must be an integer >= 0')
  t.equal(gcraParams(params, 1.5, 1, 1000, 1), 'max_burst must be an integer >= 0')
  t.equal(gcraParams(params, 2 ** 50, 1, 1000, 1), 'rate limit parameters are out of range')
  t.equal(gcraParams(params, 0, 1, 1, 0), null, 'the smallest limiter')
})

t.test('cellSeconds - whole seconds, rounded up when a millisecond or more is left', async t => {
  t.equal(cellSeconds(-1), -1)
  t.equal(cellSeconds(0), 0)
  t.equal(cellSeconds(999), 0, 'under a millisecond left: down, as redis-cell')
  t.equal(cellSeconds(1000), 1)
  t.equal(cellSeconds(1_000_000), 1)
  t.equal(cellSeconds(1_000_999), 1)
  t.equal(cellSeconds(1_001_000), 2)
  t.equal(cellSeconds(59_500_000), 60)
})

t.test('TAT - decimal µs round trip; anything else is not a TAT', async t => {
  const buffer = Buffer.alloc(16)
  for (const value of [0, 7, 10, 1_763_000_000_123_456, Number.MAX_SAFE_INTEGER]) {
    const length = formatTat(value, buffer)
    t.equal(buffer.toString('latin1', 0, length), String(value))
    t.equal(parseTat(buffer, length), value)
  }
  t.equal(parseTat(Buffer.from('12a'), 3), -1)
  t.equal(parseTat(Buffer.from(''), 0), -1)
  t.equal(parseTat(Buffer.from('-1'), 2), -1)
  t.equal(parseTat(Buffer.from('12345678901234567'), 17), -1, 'more than 16 digits')
})
