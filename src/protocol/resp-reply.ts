/**
 * Reading RESP2 replies that are already complete: the parts of a command split across cluster
 * members come back as reply bytes (a member's, or this node's own written to a scratch writer),
 * and merging them needs their shape — error or not, an integer, an array's elements.
 * Thread: main (pure, L1). Owns nothing: every function reads a Buffer and allocates at most
 * the returned ranges.
 * Invariant: these read trusted bytes (our own writer's, or a member's that came whole over an
 * authenticated peer link), so a malformed reply is not a client error: callers turn -1 / null
 * into PEER_PROTOCOL.
 */

const CR = 0x0d

/** Offset just past the CRLF of the line starting at `at`, or -1 when there is none before `end`. */
function lineEnd (bytes: Uint8Array, at: number, end: number): number {
  for (let i = at; i + 1 < end; i++) if (bytes[i] === CR && bytes[i + 1] === 0x0a) return i + 2
  return -1
}

/** The signed decimal in bytes[at, crlf); NaN when it is not one. */
function decimal (bytes: Uint8Array, at: number, crlf: number): number {
  let i = at
  const negative = bytes[i] === 0x2d
  if (negative) i++
  if (i >= crlf) return NaN
  let value = 0
  for (; i < crlf; i++) {
    const digit = bytes[i]! - 0x30
    if (digit < 0 || digit > 9) return NaN
    value = value * 10 + digit
  }
  return negative ? -value : value
}

/**
 * Offset just past the complete reply that starts at `at` in bytes[0, end), or -1 when the
 * bytes there are not one complete reply.
 */
export function replyEnd (bytes: Uint8Array, at: number, end = bytes.length): number {
  if (at >= end) return -1
  const type = bytes[at]
  const next = lineEnd(bytes, at + 1, end)
  if (next < 0) return -1
  switch (type) {
    case 0x2b: // + simple string
    case 0x2d: // - error
    case 0x3a: // : integer
      return next
    case 0x24: { // $ bulk
      const length = decimal(bytes, at + 1, next - 2)
      if (length === -1) return next
      if (!(length >= 0) || next + length + 2 > end) return -1
      return next + length + 2
    }
    case 0x2a: { // * array
      const count = decimal(bytes, at + 1, next - 2)
      if (count === -1) return next
      if (!(count >= 0)) return -1
      let offset = next
      for (let i = 0; i < count; i++) {
        offset = replyEnd(bytes, offset, end)
        if (offset < 0) return -1
      }
      return offset
    }
    default:
      return -1
  }
}

/** Whether `reply` is an error reply (`-…`). */
export function isErrorReply (reply: Uint8Array): boolean {
  return reply[0] === 0x2d
}

/** The value of an integer reply (`:n`), or null when `reply` is something else. */
export function integerReply (reply: Uint8Array): number | null {
  if (reply[0] !== 0x3a) return null
  const next = lineEnd(reply, 1, reply.length)
  if (next < 0) return null
  const value = decimal(reply, 1, next - 2)
  return Number.isNaN(value) ? null : value
}

/** Whether `reply` is exactly `+OK`. */
export function isOkReply (reply: Uint8Array): boolean {
  return reply.length === 5 && reply[0] === 0x2b && reply[1] === 0x4f && reply[2] === 0x4b && reply[3] === CR
}

/**
 * The elements of an array reply as [start, end) offsets into `reply` (each a complete reply to
 * copy as is), or null when `reply` is not a well-formed array. Allocates the ranges.
 */
export function arrayElements (reply: Uint8Array): Array<[number, number]> | null {
  if (reply[0] !== 0x2a) return null
  const next = lineEnd(reply, 1, reply.length)
  if (next < 0) return null
  const count = decimal(reply, 1, next - 2)
  if (!(count >= 0)) return null
  const elements: Array<[number, number]> = []
  let offset = next
  for (let i = 0; i < count; i++) {
    const end = replyEnd(reply, offset)
    if (end < 0) return null
    elements.push([offset, end])
    offset = end
  }
  return elements
}

/**
 * Where the last of the complete replies in bytes[0, length) starts (they start at 0, one after
 * another, as in a RespWriter's buffer), or -1 when there is none.
 */
export function lastReplyStart (bytes: Uint8Array, length: number): number {
  let start = -1
  for (let at = 0; at < length;) {
    const end = replyEnd(bytes, at, length)
    if (end < 0) return start
    start = at
    at = end
  }
  return start
}
