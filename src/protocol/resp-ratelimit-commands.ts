/**
 * RESP rate limiting: `CL.THROTTLE key max_burst count period [quantity]`, redis-cell's command
 * (GCRA: `count` actions per `period` seconds, bursts of max_burst + 1; quantity 0 peeks).
 * Thread: main (pure, L1). The engine's `rateLimit` command does the work (command/gcra.ts).
 * Reply, as redis-cell: [limited 0|1, limit, remaining, retry_after s (-1 if allowed),
 * reset_after s], durations rounded up to whole seconds when a millisecond or more is left.
 * Errors follow redis-cell's texts (`-Cell error: …`) for bad arguments; engine failures (key
 * too long, out of memory, a key holding another value) get the catalog's RESP replies.
 */
import type { Command, Result } from '../command/command.js'
import { cellSeconds } from '../command/gcra.js'
import { argText } from './resp-args.js'
import { command, ONE_KEY, type RespCommandSpec, type RespContext, type RespSession } from './resp-context.js'

/** redis-cell's usage error: any argument count other than 4 or 5. */
export const ERR_THROTTLE_USAGE = 'Cell error: Usage: cl.throttle <key> <max_burst> <count per period> <period> [<quantity>]'

const I64_MAX = 9223372036854775807n
const I64_MIN = -9223372036854775808n

/**
 * An argument as Rust's `i64::from_str` reads it (redis-cell's parser): an optional sign, then
 * ASCII digits (leading zeros fine), within the signed 64-bit range. null otherwise. Values
 * beyond 2^53 come back inexact; the limiter refuses them as out of range anyway.
 */
export function parseCellInteger (arg: Uint8Array): number | null {
  const length = arg.length
  let i = arg[0] === 0x2b || arg[0] === 0x2d ? 1 : 0
  if (i >= length || length > 21) return null
  let small = 0
  for (; i < length; i++) {
    const digit = arg[i]! - 0x30
    if (digit < 0 || digit > 9) return null
    small = small * 10 + digit
  }
  if (small <= Number.MAX_SAFE_INTEGER) return arg[0] === 0x2d ? -small : small
  const text = Buffer.from(arg.buffer, arg.byteOffset, length).toString('latin1')
  const value = BigInt(text)
  return value > I64_MAX || value < I64_MIN ? null : Number(value)
}

/** The reused engine command (one per process: handlers run one at a time on the main thread). */
const throttleCommand: Extract<Command, { op: 'rateLimit' }> = {
  op: 'rateLimit', tenantId: 0, key: new Uint8Array(0), burst: 0, count: 0, periodMs: 0, cost: 1
}

function throttle (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  const out = s.out
  if (argc !== 5 && argc !== 6) { out.error(ERR_THROTTLE_USAGE); return }
  // redis-cell parses max_burst, count, period, then quantity, and names the first bad one.
  const numbers = [0, 0, 0, 1]
  for (let i = 2; i < argc; i++) {
    const value = parseCellInteger(argv[i]!)
    if (value === null) { out.error(`Cell error: Couldn't parse as integer: ${argText(argv[i]!)}`); return }
    numbers[i - 2] = value
  }
  const c = throttleCommand
  c.tenantId = x.tenantId
  c.key = argv[1]!
  c.burst = numbers[0]!
  c.count = numbers[1]!
  // Seconds to ms; a period beyond 2^53 ms is refused by the engine as out of range.
  c.periodMs = numbers[2]! * 1000
  c.cost = numbers[3]!
  const result = x.host.execute(c) as Result
  if (result.error === 'BAD_REQUEST') { out.error(`Cell error: ${result.errorMessage}`); return }
  if (x.failed(out, result)) return
  out.array(5)
  out.integer(result.allowed ? 0 : 1)
  out.integer(result.limit)
  out.integer(result.remaining)
  out.integer(result.retryAfterMs < 0 ? -1 : cellSeconds(Math.round(result.retryAfterMs * 1000)))
  out.integer(cellSeconds(Math.round(result.resetAfterMs * 1000)))
}

/** Arity −1: redis-cell checks its own argument count (the usage error above). */
export const RATELIMIT_COMMANDS: readonly RespCommandSpec[] = [
  command('cl.throttle', -1, 'write denyoom fast', ONE_KEY, throttle)
]
