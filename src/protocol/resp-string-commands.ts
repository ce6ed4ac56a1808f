/**
 * RESP string and counter commands: GET, SET (EX/PX/EXAT/PXAT/NX/XX/KEEPTTL/GET), SETNX,
 * SETEX, PSETEX, GETSET, GETDEL, GETEX, MGET, MSET, MSETNX, APPEND, STRLEN, GETRANGE,
 * SETRANGE, INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT. Thread: main (pure, L1).
 * Each handler composes engine commands (atomic: see resp-context.ts) and follows Redis's
 * argument rules and the order of its checks, so the same bad input gets the same error.
 * Invariant: a handler writes exactly one reply; if an engine error follows a reply it had
 * begun (SET … GET), it rewinds the writer first.
 */
import { SetMode, StoreStatus } from '../core/store-status.js'
import { INT64_MAX, INT64_MIN, keyword, latin1, parseInt64 } from './resp-args.js'
import { ALL_KEYS, command, ONE_KEY, type RespCommandSpec, type RespContext, type RespSession } from './resp-context.js'
import {
  ERR_DECREMENT_OVERFLOW, ERR_NAN_OR_INFINITY, ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_OFFSET_RANGE, ERR_SYNTAX,
  errInvalidExpire, errWrongArity, respErrorFor
} from './resp-errors.js'
import { incrByFloat } from './resp-float.js'
import type { RespWriter } from './resp-writer.js'

// SET/GETEX option flags (Redis OBJ_SET_*).
const NX = 1
const XX = 2
const GET = 4
const KEEPTTL = 8
const PERSIST = 16
const EX = 32
const PX = 64
const EXAT = 128
const PXAT = 256
const ANY_EXPIRY = EX | PX | EXAT | PXAT

/** Largest absolute expiry, ms: expiries are doubles in the slab, exact up to 2^53. */
const MAX_EXPIRY_MS = BigInt(Number.MAX_SAFE_INTEGER)
const ONE = 1n
const MINUS_ONE = -1n

/** Options parsed by parseStringOptions (reused: handlers read them at once). */
const parsed = { flags: 0, expire: null as Uint8Array | null }

/**
 * Redis `parseExtendedStringArgumentsOrReply` for SET (`forSet`) and GETEX, from argv[from]:
 * returns false on a syntax error. Repeating an option is allowed (the last value wins), as in
 * Redis; conflicting ones are not.
 */
function parseStringOptions (argv: Uint8Array[], argc: number, from: number, forSet: boolean): boolean {
  let flags = 0
  let expire: Uint8Array | null = null
  for (let j = from; j < argc; j++) {
    const option = keyword(argv[j]!)
    const hasNext = j < argc - 1
    if (option === 'nx' && (flags & XX) === 0 && forSet) flags |= NX
    else if (option === 'xx' && (flags & NX) === 0 && forSet) flags |= XX
    else if (option === 'get' && forSet) flags |= GET
    else if (option === 'keepttl' && (flags & (PERSIST | ANY_EXPIRY)) === 0 && forSet) flags |= KEEPTTL
    else if (option === 'persist' && !forSet && (flags & (ANY_EXPIRY | KEEPTTL)) === 0) flags |= PERSIST
    else if (option === 'ex' && (flags & (KEEPTTL | PERSIST | EXAT | PX | PXAT)) === 0 && hasNext) { flags |= EX; expire = argv[++j]! }
    else if (option === 'px' && (flags & (KEEPTTL | PERSIST | EX | EXAT | PXAT)) === 0 && hasNext) { flags |= PX; expire = argv[++j]! }
    else if (option === 'exat' && (flags & (KEEPTTL | PERSIST | EX | PX | PXAT)) === 0 && hasNext) { flags |= EXAT; expire = argv[++j]! }
    else if (option === 'pxat' && (flags & (KEEPTTL | PERSIST | EX | EXAT | PX)) === 0 && hasNext) { flags |= PXAT; expire = argv[++j]! }
    else return false
  }
  parsed.flags = flags
  parsed.expire = expire
  return true
}

/**
 * Redis `getExpireMillisecondsOrReply`: the absolute expiry in ms for `arg` read as `unit`
 * (EX/EXAT seconds, PX/PXAT ms; EX/PX relative to now). Writes the error and returns −1 if it
 * is not an integer, not positive, or beyond what the slab can hold (2^53 ms).
 */
function expiryAt (x: RespContext, out: RespWriter, arg: Uint8Array, unit: number, commandName: string): number {
  const value = parseInt64(arg)
  if (value === null) { out.error(ERR_NOT_INTEGER); return -1 }
  const seconds = unit === EX || unit === EXAT
  if (value <= 0n || (seconds && value > INT64_MAX / 1000n)) { out.error(errInvalidExpire(commandName)); return -1 }
  let ms = seconds ? value * 1000n : value
  if (unit === EX || unit === PX) ms += BigInt(x.nowMs())
  if (ms > MAX_EXPIRY_MS) { out.error(errInvalidExpire(commandName)); return -1 }
  return Number(ms)
}

/**
 * The write shared by SET, SETEX, PSETEX, GETSET: `flags` as parsed, `atMs` the absolute
 * expiry (0: none). With GET, replies with the old value (even when NX/XX stops the write).
 */
function setGeneric (x: RespContext, s: RespSession, key: Uint8Array, value: Uint8Array, flags: number, atMs: number): void {
  const out = s.out
  const mark = out.mark()
  const withGet = (flags & GET) !== 0
  if (withGet) {
    const old = x.get(key)
    if (x.failed(out, old)) return
    if (old.status === StoreStatus.OK) out.bulk(old.value!, 0, old.valueLength)
    else out.nullBulk()
  }
  // The clock is read only for an expiry (a plain SET needs none).
  const nowMs = atMs !== 0 ? x.nowMs() : 0
  if (atMs !== 0 && atMs <= nowMs) {
    // Already expired (EXAT/PXAT in the past): Redis stores the key and it expires at once;
    // the net effect is that the key is gone, if the NX/XX condition let the write happen.
    const exists = x.exists(out, key)
    if (exists < 0) return
    const present = exists === 1
    if (((flags & NX) !== 0 && present) || ((flags & XX) !== 0 && !present)) {
      if (!withGet) out.nullBulk()
      return
    }
    const removed = x.delete(key)
    if (removed.error !== null) { out.rewind(mark); x.failed(out, removed); return }
    if (!withGet) out.ok()
    return
  }
  const mode = (flags & NX) !== 0 ? SetMode.ADD : (flags & XX) !== 0 ? SetMode.REPLACE : SetMode.SET
  const result = x.set(key, value, mode, atMs === 0 ? 0 : atMs - nowMs, (flags & KEEPTTL) !== 0)
  if (result.error !== null) { out.rewind(mark); x.failed(out, result); return }
  if (withGet) return
  if (result.status === StoreStatus.NOT_STORED) out.nullBulk()
  else out.ok()
}

function getCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  // The store copies a hit's value straight into the reply (RespWriter is its ValueSink).
  const result = x.getInto(argv[1]!, s.out)
  if (x.failed(s.out, result)) return
  if (result.status === StoreStatus.OK) s.out.commitValue()
  else s.out.nullBulk()
}

function setCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  if (!parseStringOptions(argv, argc, 3, true)) { s.out.error(ERR_SYNTAX); return }
  const flags = parsed.flags
  let atMs = 0
  if ((flags & ANY_EXPIRY) !== 0) {
    atMs = expiryAt(x, s.out, parsed.expire!, flags & ANY_EXPIRY, 'set')
    if (atMs < 0) return
  }
  setGeneric(x, s, argv[1]!, argv[2]!, flags, atMs)
}

function setnxCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const result = x.set(argv[1]!, argv[2]!, SetMode.ADD)
  if (x.failed(s.out, result)) return
  s.out.integer(result.status === StoreStatus.OK ? 1 : 0)
}

function setexGeneric (unit: number, name: string) {
  return (x: RespContext, s: RespSession, argv: Uint8Array[]): void => {
    const atMs = expiryAt(x, s.out, argv[2]!, unit, name)
    if (atMs < 0) return
    setGeneric(x, s, argv[1]!, argv[3]!, 0, atMs)
  }
}

function getsetCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  setGeneric(x, s, argv[1]!, argv[2]!, GET, 0)
}

function getdelCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const key = argv[1]!
  const result = x.get(key)
  if (x.failed(s.out, result)) return
  if (result.status !== StoreStatus.OK) { s.out.nullBulk(); return }
  const mark = s.out.mark()
  s.out.bulk(result.value!, 0, result.valueLength)
  const removed = x.delete(key)
  if (removed.error !== null) { s.out.rewind(mark); x.failed(s.out, removed) }
}

function getexCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  const out = s.out
  if (!parseStringOptions(argv, argc, 2, false)) { out.error(ERR_SYNTAX); return }
  const flags = parsed.flags
  const expire = parsed.expire
  const key = argv[1]!
  const result = x.get(key)
  if (x.failed(out, result)) return
  // Redis looks the key up before it validates the expiry: a missing key is nil either way.
  if (result.status !== StoreStatus.OK) { out.nullBulk(); return }
  let atMs = 0
  if ((flags & ANY_EXPIRY) !== 0) {
    atMs = expiryAt(x, out, expire!, flags & ANY_EXPIRY, 'getex')
    if (atMs < 0) return
  }
  const mark = out.mark()
  out.bulk(result.value!, 0, result.valueLength)
  let changed = null
  if (atMs !== 0) {
    const nowMs = x.nowMs()
    changed = atMs <= nowMs ? x.delete(key) : x.touch(key, atMs - nowMs)
  } else if ((flags & PERSIST) !== 0) {
    changed = x.touch(key, 0)
  }
  if (changed !== null && changed.error !== null) { out.rewind(mark); x.failed(out, changed) }
}

function mgetCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  const out = s.out
  if (!x.keysFit(out, argv, 1, argc)) return
  out.array(argc - 1)
  for (let i = 1; i < argc; i++) {
    const result = x.getInto(argv[i]!, out)
    // An engine failure on one key becomes an error element; the array stays well formed.
    if (x.failed(out, result)) continue
    if (result.status === StoreStatus.OK) out.commitValue()
    else out.nullBulk()
  }
}

/** MSET/MSETNX argument checks: pairs, and every key and value within limits. */
function msetArgumentsFit (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number, name: string): boolean {
  if (argc % 2 === 0) { s.out.error(errWrongArity(name)); return false }
  if (!x.keysFit(s.out, argv, 1, argc, 2)) return false
  const maxValueBytes = x.host.settings.maxValueBytes
  for (let i = 2; i < argc; i += 2) {
    if (argv[i]!.length > maxValueBytes) { s.out.error(respErrorFor('VALUE_TOO_LARGE')); return false }
  }
  return true
}

function msetAll (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): boolean {
  for (let i = 1; i < argc; i += 2) {
    if (x.failed(s.out, x.set(argv[i]!, argv[i + 1]!, SetMode.SET))) return false
  }
  return true
}

function msetCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  if (!msetArgumentsFit(x, s, argv, argc, 'mset')) return
  if (msetAll(x, s, argv, argc)) s.out.ok()
}

function msetnxCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  if (!msetArgumentsFit(x, s, argv, argc, 'msetnx')) return
  for (let i = 1; i < argc; i += 2) {
    const exists = x.exists(s.out, argv[i]!)
    if (exists < 0) return
    if (exists === 1) { s.out.integer(0); return }
  }
  if (msetAll(x, s, argv, argc)) s.out.integer(1)
}

function appendCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const key = argv[1]!
  const value = argv[2]!
  const before = x.ttl(key)
  if (x.failed(s.out, before)) return
  const oldLength = before.status === StoreStatus.OK ? before.valueLength : 0
  const result = x.set(key, value, SetMode.APPEND_OR_SET)
  if (x.failed(s.out, result)) return
  s.out.integer(oldLength + value.length)
}

function strlenCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const result = x.ttl(argv[1]!)
  if (x.failed(s.out, result)) return
  s.out.integer(result.status === StoreStatus.OK ? result.valueLength : 0)
}

function getrangeCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const out = s.out
  const startArg = parseInt64(argv[2]!)
  const endArg = parseInt64(argv[3]!)
  if (startArg === null || endArg === null) { out.error(ERR_NOT_INTEGER); return }
  const result = x.get(argv[1]!)
  if (x.failed(out, result)) return
  if (result.status !== StoreStatus.OK) { out.bulk(EMPTY); return }
  // Redis getrangeCommand, step for step (negative indexes count from the end).
  const length = result.valueLength
  let start = Number(startArg)
  let end = Number(endArg)
  if (start < 0 && end < 0 && start > end) { out.bulk(EMPTY); return }
  if (start < 0) start = length + start
  if (end < 0) end = length + end
  if (start < 0) start = 0
  if (end < 0) end = 0
  if (end >= length) end = length - 1
  if (start > end || length === 0) { out.bulk(EMPTY); return }
  out.bulk(result.value!, start, end + 1)
}

function setrangeCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const out = s.out
  const key = argv[1]!
  const value = argv[3]!
  const offsetArg = parseInt64(argv[2]!)
  if (offsetArg === null) { out.error(ERR_NOT_INTEGER); return }
  if (offsetArg < 0n) { out.error(ERR_OFFSET_RANGE); return }
  const current = x.get(key)
  if (x.failed(out, current)) return
  const present = current.status === StoreStatus.OK
  const oldLength = present ? current.valueLength : 0
  if (value.length === 0) { out.integer(oldLength); return }
  // Bounded before anything is allocated: the new length must fit the value limit.
  if (offsetArg + BigInt(value.length) > BigInt(x.host.settings.maxValueBytes)) { out.error(respErrorFor('VALUE_TOO_LARGE')); return }
  const offset = Number(offsetArg)
  const updated = Buffer.alloc(Math.max(oldLength, offset + value.length))
  if (present) current.value!.copy(updated, 0, 0, oldLength)
  const flags = current.flags
  updated.set(value, offset)
  const result = x.set(key, updated, SetMode.SET, 0, true, present ? flags : 0)
  if (x.failed(out, result)) return
  out.integer(updated.length)
}

function incrGeneric (x: RespContext, s: RespSession, key: Uint8Array, delta: bigint): void {
  const result = x.incr(key, delta)
  if (x.failed(s.out, result)) return
  s.out.integer(result.counter)
}

function incrbyCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const delta = parseInt64(argv[2]!)
  if (delta === null) { s.out.error(ERR_NOT_INTEGER); return }
  incrGeneric(x, s, argv[1]!, delta)
}

function decrbyCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const delta = parseInt64(argv[2]!)
  if (delta === null) { s.out.error(ERR_NOT_INTEGER); return }
  if (delta === INT64_MIN) { s.out.error(ERR_DECREMENT_OVERFLOW); return }
  incrGeneric(x, s, argv[1]!, -delta)
}

function incrbyfloatCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const out = s.out
  const key = argv[1]!
  const current = x.get(key)
  if (x.failed(out, current)) return
  const present = current.status === StoreStatus.OK
  const flags = current.flags
  const sum = incrByFloat(present ? current.value!.toString('latin1', 0, current.valueLength) : null, latin1(argv[2]!))
  if (!sum.ok) { out.error(sum.reason === 'NOT_FLOAT' ? ERR_NOT_FLOAT : ERR_NAN_OR_INFINITY); return }
  const text = Buffer.from(sum.text, 'latin1')
  // The new value keeps the key's expiry (and flags), as Redis's INCRBYFLOAT does.
  const result = x.set(key, text, SetMode.SET, 0, true, present ? flags : 0)
  if (x.failed(out, result)) return
  out.bulk(text)
}

const EMPTY = Buffer.alloc(0)

export const STRING_COMMANDS: readonly RespCommandSpec[] = [
  command('get', 2, 'readonly fast', ONE_KEY, getCommand),
  command('set', -3, 'write denyoom', ONE_KEY, setCommand),
  command('setnx', 3, 'write denyoom fast', ONE_KEY, setnxCommand),
  command('setex', 4, 'write denyoom', ONE_KEY, setexGeneric(EX, 'setex')),
  command('psetex', 4, 'write denyoom', ONE_KEY, setexGeneric(PX, 'psetex')),
  command('getset', 3, 'write denyoom fast', ONE_KEY, getsetCommand),
  command('getdel', 2, 'write fast', ONE_KEY, getdelCommand),
  command('getex', -2, 'write fast', ONE_KEY, getexCommand),
  command('mget', -2, 'readonly fast', ALL_KEYS, mgetCommand),
  command('mset', -3, 'write denyoom', [1, -1, 2], msetCommand),
  command('msetnx', -3, 'write denyoom', [1, -1, 2], msetnxCommand),
  command('append', 3, 'write denyoom fast', ONE_KEY, appendCommand),
  command('strlen', 2, 'readonly fast', ONE_KEY, strlenCommand),
  command('getrange', 4, 'readonly', ONE_KEY, getrangeCommand),
  command('setrange', 4, 'write denyoom', ONE_KEY, setrangeCommand),
  command('incr', 2, 'write denyoom fast', ONE_KEY, (x, s, argv) => incrGeneric(x, s, argv[1]!, ONE)),
  command('decr', 2, 'write denyoom fast', ONE_KEY, (x, s, argv) => incrGeneric(x, s, argv[1]!, MINUS_ONE)),
  command('incrby', 3, 'write denyoom fast', ONE_KEY, incrbyCommand),
  command('decrby', 3, 'write denyoom fast', ONE_KEY, decrbyCommand),
  command('incrbyfloat', 3, 'write denyoom fast', ONE_KEY, incrbyfloatCommand)
]
