/**
 * Redis glob patterns (`stringmatchlen`) for KEYS, SCAN MATCH and CONFIG GET: `*`, `?`,
 * `[abc]`, `[^a-z]`, `\x` escapes. Thread: main (pure, L1); no allocation.
 * Invariant: matching is O(pattern × subject) at worst — a star remembers one backtrack point
 * (the classic greedy algorithm), never recursing, so `a*a*a*a*…b` cannot blow up as a
 * naive recursive matcher would. Results equal Redis's for every pattern.
 */

const STAR = 0x2a
const QUESTION = 0x3f
const OPEN = 0x5b
const CLOSE = 0x5d
const BACKSLASH = 0x5c
const CARET = 0x5e
const DASH = 0x2d

function lower (byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte
}

/**
 * Matches pattern position `p` against one subject byte. Returns the pattern position after
 * the element, or -1 if the byte does not match it. `p` is not a star.
 */
function matchOne (pattern: Uint8Array, p: number, byte: number, noCase: boolean): number {
  const end = pattern.length
  const c = pattern[p]!
  if (c === QUESTION) return p + 1
  if (c === OPEN) {
    p++
    const negate = p < end && pattern[p] === CARET
    if (negate) p++
    let match = false
    const b = noCase ? lower(byte) : byte
    for (;;) {
      if (p >= end) break // an unterminated class runs to the end of the pattern, as in Redis
      const k = pattern[p]!
      if (k === BACKSLASH && end - p >= 2) {
        p++
        if ((noCase ? lower(pattern[p]!) : pattern[p]!) === b) match = true
      } else if (k === CLOSE) {
        break
      } else if (end - p >= 3 && pattern[p + 1] === DASH) {
        let from = pattern[p]!
        let to = pattern[p + 2]!
        if (from > to) { const swap = from; from = to; to = swap }
        if (noCase) { from = lower(from); to = lower(to) }
        p += 2
        if (b >= from && b <= to) match = true
      } else if ((noCase ? lower(k) : k) === b) {
        match = true
      }
      p++
    }
    if (negate) match = !match
    return match ? Math.min(p + 1, end) : -1
  }
  if (c === BACKSLASH && end - p >= 2) p++
  const literal = pattern[p]!
  return (noCase ? lower(literal) === lower(byte) : literal === byte) ? p + 1 : -1
}

/** Whether `subject` matches the Redis glob `pattern` (case-insensitively with `noCase`). */
export function globMatch (pattern: Uint8Array, subject: Uint8Array, noCase = false): boolean {
  let p = 0
  let s = 0
  let starP = -1
  let starS = 0
  const pEnd = pattern.length
  const sEnd = subject.length
  while (s < sEnd) {
    if (p < pEnd) {
      if (pattern[p] === STAR) {
        while (p < pEnd && pattern[p] === STAR) p++
        if (p === pEnd) return true
        starP = p
        starS = s
        continue
      }
      const next = matchOne(pattern, p, subject[s]!, noCase)
      if (next >= 0) {
        p = next
        s++
        continue
      }
    }
    // Mismatch (or pattern exhausted): let the last star swallow one more byte.
    if (starP < 0) return false
    p = starP
    s = ++starS
  }
  while (p < pEnd && pattern[p] === STAR) p++
  return p === pEnd
}

/** Whether the pattern has no special characters (then only the identical key matches). */
export function isLiteralPattern (pattern: Uint8Array): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === STAR || c === QUESTION || c === OPEN || c === BACKSLASH) return false
  }
  return true
}
