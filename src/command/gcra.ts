/**
 * GCRA (generic cell rate algorithm) rate limiting, as redis-cell's CL.THROTTLE computes it:
 * pure arithmetic over a stored theoretical arrival time (TAT). Thread: main (pure, L1; no clock:
 * `nowUs` comes in). Owns: the limiter's math, its parameter checks and the TAT's stored form.
 *
 * A limiter allows `count` actions per `periodMs` with bursts of up to `burst + 1` at once:
 *   emission interval  T   = periodMs / count      (time one action "costs")
 *   tolerance          τ   = T × (burst + 1)        (how far ahead of schedule one may run)
 *   an action of cost c at `now`: newTat = max(tat, now) + c × T; allowed iff newTat − τ ≤ now.
 * Everything is integer microseconds (exact in doubles below 2^53, i.e. for clocks up to year
 * 2255 plus any tolerance checked by gcraParams), so `remaining` never drifts by a rounding
 * error, while ms-resolution clocks and sub-ms intervals (1000 actions per second) both work.
 * Invariant: `gcra` allocates nothing and does not throw.
 */

/** Largest value any microsecond quantity may take (exact integer arithmetic). */
const MAX_US = Number.MAX_SAFE_INTEGER

/** Checked limiter parameters, in microseconds. One reused instance per caller. */
export class GcraParams {
  /** burst + 1: what redis-cell reports as the limit. */
  limit = 0
  emissionUs = 0
  toleranceUs = 0
  incrementUs = 0
}

/** What one rate-limited action decided. One reused instance per caller. */
export class GcraDecision {
  limited = false
  /** Actions of cost 1 still allowed right now. */
  remaining = 0
  /** µs until this action would be allowed; -1 when allowed (or never allowed: cost > limit). */
  retryAfterUs = -1
  /** µs until the limiter is back to full (its TAT), ≥ 0. */
  resetAfterUs = 0
  /** TAT to store (µs since the epoch), or -1: store nothing (limited, or cost 0). */
  newTatUs = -1
}

/**
 * Validates a limiter (`burst` ≥ 0, `count` ≥ 1 actions per `periodMs` ≥ 1, `cost` ≥ 0, all
 * integers) and fills `out`. Returns null, or the redis-cell-style reason it is refused:
 * 'Zero rates are not supported' for a zero count or period (or an interval below 1 µs), else
 * a message naming the argument.
 */
export function gcraParams (out: GcraParams, burst: number, count: number, periodMs: number, cost: number): string | null {
  if (!Number.isSafeInteger(burst) || burst < 0) return 'max_burst must be an integer >= 0'
  if (!Number.isSafeInteger(count) || count < 0) return 'count per period must be an integer >= 0'
  if (!Number.isSafeInteger(periodMs) || periodMs < 0) return 'period must be an integer >= 0'
  if (!Number.isSafeInteger(cost) || cost < 0) return 'quantity must be an integer >= 0'
  if (count === 0 || periodMs === 0) return 'Zero rates are not supported'
  // Truncated to whole µs as redis-cell truncates to whole ns.
  const emissionUs = Math.trunc(periodMs * 1000 / count)
  if (emissionUs === 0) return 'Zero rates are not supported'
  const toleranceUs = emissionUs * (burst + 1)
  const incrementUs = emissionUs * cost
  // Both are added to a TAT near now (≈ 2^50.6 µs today): keep the sums exact.
  if (toleranceUs > MAX_US / 4 || incrementUs > MAX_US / 4) return 'rate limit parameters are out of range'
  out.limit = burst + 1
  out.emissionUs = emissionUs
  out.toleranceUs = toleranceUs
  out.incrementUs = incrementUs
  return null
}

/**
 * Decides one action at `nowUs` given the stored TAT (`tatUs`, -1 if the key is absent).
 * redis-cell's rules: a refused action changes nothing and reports the time until it would
 * fit (-1 if it never can: cost × T > τ); `remaining` is trunc((τ − ttl) / T) where ttl is the
 * time left until the TAT in force after the decision.
 */
export function gcra (out: GcraDecision, params: GcraParams, tatUs: number, nowUs: number): void {
  const tat = tatUs < 0 ? nowUs : tatUs
  const newTat = (nowUs > tat ? nowUs : tat) + params.incrementUs
  const allowAt = newTat - params.toleranceUs
  const diff = nowUs - allowAt
  let ttl: number
  if (diff < 0) {
    out.limited = true
    out.retryAfterUs = params.incrementUs <= params.toleranceUs ? -diff : -1
    ttl = tat - nowUs
    out.newTatUs = -1
  } else {
    out.limited = false
    out.retryAfterUs = -1
    ttl = newTat - nowUs
    out.newTatUs = params.incrementUs === 0 ? -1 : newTat
  }
  const next = params.toleranceUs - ttl
  out.remaining = next > -params.emissionUs ? Math.max(0, Math.trunc(next / params.emissionUs)) : 0
  out.resetAfterUs = ttl < 0 ? 0 : ttl
}

/**
 * A duration in whole seconds as redis-cell replies: truncated, plus one if a whole millisecond
 * or more is left over (so a fast client does not retry too early); -1 stays -1.
 */
export function cellSeconds (us: number): number {
  if (us < 0) return -1
  const seconds = Math.trunc(us / 1_000_000)
  return us - seconds * 1_000_000 >= 1000 ? seconds + 1 : seconds
}

/** Longest stored TAT: 16 decimal digits of µs (exact below 2^53). */
export const TAT_MAX_DIGITS = 16

/**
 * Parses a stored TAT (decimal µs, 1–16 digits) from `bytes[0, length)`. Returns it, or -1 if
 * the bytes are not one (the key holds something else). Allocates nothing.
 */
export function parseTat (bytes: Uint8Array, length: number): number {
  if (length === 0 || length > TAT_MAX_DIGITS) return -1
  let value = 0
  for (let i = 0; i < length; i++) {
    const digit = bytes[i]! - 0x30
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value
}

/**
 * Writes `tatUs` (a non-negative integer below 10^16) as decimal digits into `target` from 0;
 * returns the length. Allocates nothing.
 */
export function formatTat (tatUs: number, target: Uint8Array): number {
  let digits = 1
  for (let n = tatUs; n >= 10; n = Math.floor(n / 10)) digits++
  let n = tatUs
  for (let i = digits - 1; i >= 0; i--) {
    const quotient = Math.floor(n / 10)
    target[i] = 0x30 + (n - quotient * 10)
    n = quotient
  }
  return digits
}
