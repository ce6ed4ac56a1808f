/**
 * INCRBYFLOAT arithmetic in exact decimals. Thread: main (pure, L1); allocates BigInts.
 * Redis adds two C long doubles and prints the sum with `%.17Lf`, trailing zeros (and a
 * trailing dot) removed, so 0.1 + 0.2 = "0.3" and 5.0e3 + 2.0e2 = "5200". JavaScript has no
 * long double, and doubles would print "0.30000000000000004"; so both operands are parsed as
 * exact decimals (kept to SCALE places), added exactly, and rounded half away from zero to
 * the same 17 places. Where Redis's 64-bit mantissa loses digits (beyond ~19 significant
 * digits) this is exact instead; values beyond the double range count as infinite.
 */

/** Decimal places kept while adding (far below the 17 printed, so rounding is not doubled). */
const SCALE = 40
const PRINTED_PLACES = 17
/** Redis MAX_LONG_DOUBLE_CHARS: longer strings are not floats. */
const MAX_FLOAT_CHARS = 5 * 1024
const FLOAT_PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/
const INFINITY_PATTERN = /^[+-]?inf(inity)?$/i

/** What `incrByFloat` produced: the new value as text, or why not. */
export type FloatSum =
  | { readonly ok: true, readonly text: string }
  | { readonly ok: false, readonly reason: 'NOT_FLOAT' | 'NAN_OR_INFINITY' }

/** Parsed operand: the value × 10^SCALE, rounded; `Infinity` for infinite; null if malformed. */
function parseScaled (text: string): bigint | typeof Infinity | null {
  if (text.length === 0 || text.length >= MAX_FLOAT_CHARS) return null
  if (INFINITY_PATTERN.test(text)) return Infinity
  const match = FLOAT_PATTERN.exec(text)
  if (match === null) return null
  const intDigits = match[2]!
  const fracDigits = match[3] ?? ''
  if (intDigits.length === 0 && fracDigits.length === 0) return null
  if (!Number.isFinite(Number(text))) return Infinity
  const digits = (intDigits + fracDigits).replace(/^0+/, '')
  if (digits.length === 0) return 0n
  const exponent = Number(match[4] ?? '0') - fracDigits.length + SCALE
  let magnitude: bigint
  if (exponent >= 0) {
    magnitude = BigInt(digits) * 10n ** BigInt(exponent)
  } else if (digits.length < -exponent) {
    magnitude = 0n // below half a unit of the last kept place
  } else {
    magnitude = divideRounded(BigInt(digits), 10n ** BigInt(-exponent))
  }
  return match[1] === '-' ? -magnitude : magnitude
}

/** |n| / d rounded half away from zero (n ≥ 0, d > 0). */
function divideRounded (n: bigint, d: bigint): bigint {
  return (n * 2n + d) / (2n * d)
}

/** A scaled value printed as Redis's `%.17Lf` with trailing zeros removed. */
function format (scaled: bigint): string {
  const negative = scaled < 0n
  const rounded = divideRounded(negative ? -scaled : scaled, 10n ** BigInt(SCALE - PRINTED_PLACES))
  const digits = rounded.toString().padStart(PRINTED_PLACES + 1, '0')
  const integer = digits.slice(0, digits.length - PRINTED_PLACES)
  const fraction = digits.slice(digits.length - PRINTED_PLACES).replace(/0+$/, '')
  const text = fraction.length === 0 ? integer : `${integer}.${fraction}`
  // Redis turns "-0" into "0".
  return negative && text !== '0' ? `-${text}` : text
}

/**
 * `current` (the stored value as text, null if the key is absent) plus `increment`.
 * NOT_FLOAT: either is not a float; NAN_OR_INFINITY: the sum is not finite.
 */
export function incrByFloat (current: string | null, increment: string): FloatSum {
  const delta = parseScaled(increment)
  if (delta === null) return { ok: false, reason: 'NOT_FLOAT' }
  const base = current === null ? 0n : parseScaled(current)
  if (base === null) return { ok: false, reason: 'NOT_FLOAT' }
  if (typeof base !== 'bigint' || typeof delta !== 'bigint') return { ok: false, reason: 'NAN_OR_INFINITY' }
  const text = format(base + delta)
  if (!Number.isFinite(Number(text))) return { ok: false, reason: 'NAN_OR_INFINITY' }
  return { ok: true, text }
}
