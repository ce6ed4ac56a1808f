/**
 * RESP argument grammar: Redis's strict integers (`string2ll`), option keywords, key-size
 * checks. Thread: main (pure, L1). Owns nothing; allocates only small strings and BigInts.
 * Invariant: a parser here returns null for malformed input and never throws.
 */

export const INT64_MAX = 9223372036854775807n
export const INT64_MIN = -9223372036854775808n

/**
 * Redis `string2ll` over all of `arg`: an optional '-', then digits without a leading zero
 * ("0" alone is fine, "-0" and "+1" and " 1" are not), within the signed 64-bit range.
 * Returns the value, or null.
 */
export function parseInt64 (arg: Uint8Array): bigint | null {
  const length = arg.length
  if (length === 0 || length > 20) return null
  let i = 0
  const negative = arg[0] === 0x2d
  if (negative) i = 1
  if (i >= length) return null
  if (arg[i] === 0x30) return length - i === 1 && !negative ? 0n : null
  let small = 0
  for (let j = i; j < length; j++) {
    const digit = arg[j]! - 0x30
    if (digit < 0 || digit > 9) return null
    small = small * 10 + digit
  }
  // Up to 15 digits the double is exact; longer ones go through BigInt's own parser.
  let value = length - i <= 15 ? BigInt(small) : BigInt(Buffer.from(arg.buffer, arg.byteOffset + i, length - i).toString('latin1'))
  if (negative) value = -value
  return value > INT64_MAX || value < INT64_MIN ? null : value
}

/** parseInt64 as a number (exact below 2^53; beyond, magnitude only), or null. */
export function parseInteger (arg: Uint8Array): number | null {
  const value = parseInt64(arg)
  return value === null ? null : Number(value)
}

/** A short argument lower-cased (ASCII) for keyword matching; '' if it cannot be a keyword. */
export function keyword (arg: Uint8Array): string {
  if (arg.length === 0 || arg.length > 24) return ''
  return Buffer.from(arg.buffer, arg.byteOffset, arg.length).toString('latin1').toLowerCase()
}

/** An argument's bytes as a latin1 string (one character per byte). */
export function latin1 (arg: Uint8Array): string {
  return Buffer.from(arg.buffer, arg.byteOffset, arg.length).toString('latin1')
}

/** An argument as text for messages (UTF-8, invalid bytes replaced). */
export function argText (arg: Uint8Array): string {
  return Buffer.from(arg.buffer, arg.byteOffset, arg.length).toString('utf8')
}

/** Byte equality. */
export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
}
