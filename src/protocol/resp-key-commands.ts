/**
 * RESP keyspace and expiry commands: DEL, UNLINK, EXISTS, TOUCH, KEYS, SCAN, TYPE, RENAME, RENAMENX,
 * DBSIZE, FLUSHDB, FLUSHALL, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX/XX/GT/LT), TTL, PTTL,
 * PERSIST, EXPIRETIME, PEXPIRETIME, and the seed aliases DELETE and HAS.
 * Thread: main (pure, L1). FLUSHDB/FLUSHALL return a Promise (the shards flush in their
 * workers); every other handler completes synchronously.
 * Invariants: SCAN's cursor is the engine's (shard × 2^32 + bucket), so a key present for the
 * whole iteration is returned at least once; a scan step holds one shard lock for a bounded
 * number of buckets. KEYS walks the whole keyspace on the main thread, as Redis does.
 */
import { SetMode, StoreStatus } from '../core/store-status.js'
import { SlabcacheError } from '../errors.js'
import { argText, INT64_MAX, INT64_MIN, keyword, latin1, parseInt64, parseInteger, sameBytes } from './resp-args.js'
import { ALL_KEYS, command, NO_KEYS, ONE_KEY, type RespCommandSpec, type RespContext, type RespSession } from './resp-context.js'
import {
  ERR_EXPIRE_GT_LT, ERR_EXPIRE_NX, ERR_INVALID_CURSOR, ERR_NO_SUCH_KEY, ERR_NOT_INTEGER, ERR_SYNTAX,
  errInvalidExpire, respErrorFor
} from './resp-errors.js'
import { globMatch, isLiteralPattern } from './resp-glob.js'

/** Keys the engine is asked for per step while KEYS walks the keyspace. */
const KEYS_STEP = 1024
/** SCAN's default COUNT, as in Redis. */
const SCAN_DEFAULT_COUNT = 10
/** Largest absolute expiry, ms (expiries are doubles in the slab, exact up to 2^53). */
const MAX_EXPIRY_MS = BigInt(Number.MAX_SAFE_INTEGER)
const STRING_TYPE = Buffer.from('string')

function delCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  if (!x.keysFit(s.out, argv, 1, argc)) return
  let removed = 0
  for (let i = 1; i < argc; i++) {
    const result = x.delete(argv[i]!)
    if (x.failed(s.out, result)) return
    if (result.status === StoreStatus.OK) removed++
  }
  s.out.integer(removed)
}

function existsCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  if (!x.keysFit(s.out, argv, 1, argc)) return
  // Duplicates count once per mention, as in Redis.
  let found = 0
  for (let i = 1; i < argc; i++) {
    const exists = x.exists(s.out, argv[i]!)
    if (exists < 0) return
    found += exists
  }
  s.out.integer(found)
}

function keysCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const out = s.out
  const pattern = argv[1]!
  if (isLiteralPattern(pattern)) {
    // No wildcard: at most the one key; skip the walk.
    const exists = pattern.length <= x.host.settings.maxKeyBytes ? x.exists(out, pattern) : 0
    if (exists < 0) return
    if (exists === 1) {
      out.array(1)
      out.bulk(pattern)
    } else {
      out.array(0)
    }
    return
  }
  const matched: Buffer[] = []
  let cursor = 0
  do {
    const result = x.scan(cursor, KEYS_STEP)
    if (x.failed(out, result)) return
    for (const key of result.keys) if (globMatch(pattern, key)) matched.push(key)
    cursor = result.cursor
  } while (cursor !== 0)
  out.array(matched.length)
  for (const key of matched) out.bulk(key)
}

/** Redis parseScanCursorOrReply: an unsigned decimal; −1 if invalid. Beyond 2^53: past the end. */
function parseCursor (arg: Uint8Array): number {
  if (arg.length === 0 || arg.length > 20) return -1
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i]!
    if (c < 0x30 || c > 0x39) return -1
  }
  const cursor = Number(latin1(arg))
  return cursor > 18446744073709551615 ? -1 : cursor
}

function scanCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  const out = s.out
  const cursor = parseCursor(argv[1]!)
  if (cursor < 0) { out.error(ERR_INVALID_CURSOR); return }
  let count = SCAN_DEFAULT_COUNT
  let pattern: Uint8Array | null = null
  let type: Uint8Array | null = null
  for (let i = 2; i < argc;) {
    const option = keyword(argv[i]!)
    const more = argc - i
    if (option === 'count' && more >= 2) {
      const value = parseInteger(argv[i + 1]!)
      if (value === null) { out.error(ERR_NOT_INTEGER); return }
      if (value < 1) { out.error(ERR_SYNTAX); return }
      count = Math.min(value, 1_000_000)
      i += 2
    } else if (option === 'match' && more >= 2) {
      const match = argv[i + 1]!
      pattern = match.length === 1 && match[0] === 0x2a ? null : match
      i += 2
    } else if (option === 'type' && more >= 2) {
      type = argv[i + 1]!
      i += 2
    } else {
      out.error(ERR_SYNTAX)
      return
    }
  }
  let next = 0
  let keys: Buffer[] = []
  if (Number.isSafeInteger(cursor)) {
    const result = x.scan(cursor, count)
    if (x.failed(out, result)) return
    next = result.cursor
    keys = result.keys
  }
  // Every key is a string here: TYPE string keeps them all, any other type none.
  const typeMatches = type === null || (type.length === STRING_TYPE.length && keyword(type) === 'string')
  const matched = typeMatches ? (pattern === null ? keys : keys.filter((key) => globMatch(pattern, key))) : []
  out.array(2)
  out.bulkString(String(next))
  out.array(matched.length)
  for (const key of matched) out.bulk(key)
}

function typeCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  if (!x.keysFit(s.out, argv, 1, 2)) return
  const exists = x.exists(s.out, argv[1]!)
  if (exists >= 0) s.out.simple(exists === 1 ? 'string' : 'none')
}

/** RENAME (nx false) and RENAMENX: copies value, flags and remaining TTL, then deletes. */
function renameGeneric (nx: boolean) {
  return (x: RespContext, s: RespSession, argv: Uint8Array[]): void => {
    const out = s.out
    const source = argv[1]!
    const target = argv[2]!
    if (!x.keysFit(out, argv, 1, 3)) return
    const meta = x.ttl(source)
    if (x.failed(out, meta)) return
    if (meta.status !== StoreStatus.OK) { out.error(ERR_NO_SUCH_KEY); return }
    const ttlMs = meta.ttlMs
    if (sameBytes(source, target)) {
      if (nx) out.integer(0)
      else out.ok()
      return
    }
    if (nx) {
      const exists = x.exists(out, target)
      if (exists < 0) return
      if (exists === 1) { out.integer(0); return }
    }
    const current = x.get(source)
    if (x.failed(out, current)) return
    if (current.status !== StoreStatus.OK) { out.error(ERR_NO_SUCH_KEY); return }
    // Copy out: the engine's scratch value must not be read after the next engine call.
    const value = Buffer.from(current.value!.subarray(0, current.valueLength))
    const flags = current.flags
    // A remaining TTL of 0 ms cannot be stored as "expires now"; 1 ms expires it next tick.
    const written = x.set(target, value, SetMode.SET, ttlMs < 0 ? 0 : Math.max(1, ttlMs), false, flags)
    if (x.failed(out, written)) return
    const removed = x.delete(source)
    if (x.failed(out, removed)) return
    if (nx) out.integer(1)
    else out.ok()
  }
}

function dbsizeCommand (x: RespContext, s: RespSession): void {
  // The connection's tenant only (one database per tenant): other tenants' counts are theirs.
  s.out.integer(x.host.tenantItems !== undefined ? x.host.tenantItems(s.tenantId) : x.stats().items)
}

/** FLUSHDB / FLUSHALL [ASYNC|SYNC]: both flush this tenant's items (one database per tenant). */
function flushCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void | Promise<void> {
  if (argc > 2 || (argc === 2 && keyword(argv[1]!) !== 'async' && keyword(argv[1]!) !== 'sync')) {
    s.out.error(ERR_SYNTAX)
    return
  }
  const out = s.out
  return x.flush().then((result) => {
    if (!x.failed(out, result)) out.ok()
  }, (error: unknown) => {
    // A shard that crashed or is restarting rejects its part of the flush with a typed error.
    out.error(error instanceof SlabcacheError
      ? respErrorFor(error.code, error.message)
      : respErrorFor('INTERNAL', error instanceof Error ? error.message : String(error)))
  })
}

// EXPIRE family option flags (Redis EXPIRE_NX …).
const E_NX = 1
const E_XX = 2
const E_GT = 4
const E_LT = 8

/**
 * Redis expireGenericCommand: options, then the time (not an integer → error; overflow →
 * invalid expire time), then the key. Replies 1 if the expiry was set (or the key removed,
 * for a time already past), 0 if the key is absent or a condition failed.
 */
function expireGeneric (seconds: boolean, absolute: boolean, name: string) {
  return (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void => {
    const out = s.out
    let flags = 0
    for (let j = 3; j < argc; j++) {
      const option = keyword(argv[j]!)
      if (option === 'nx') flags |= E_NX
      else if (option === 'xx') flags |= E_XX
      else if (option === 'gt') flags |= E_GT
      else if (option === 'lt') flags |= E_LT
      else { out.error(`ERR Unsupported option ${argText(argv[j]!)}`); return }
    }
    if ((flags & E_NX) !== 0 && (flags & (E_XX | E_GT | E_LT)) !== 0) { out.error(ERR_EXPIRE_NX); return }
    if ((flags & E_GT) !== 0 && (flags & E_LT) !== 0) { out.error(ERR_EXPIRE_GT_LT); return }
    const value = parseInt64(argv[2]!)
    if (value === null) { out.error(ERR_NOT_INTEGER); return }
    if (seconds && (value > INT64_MAX / 1000n || value < INT64_MIN / 1000n)) { out.error(errInvalidExpire(name)); return }
    const nowMs = x.nowMs()
    let whenMs = seconds ? value * 1000n : value
    if (!absolute) {
      if (whenMs > INT64_MAX - BigInt(nowMs)) { out.error(errInvalidExpire(name)); return }
      whenMs += BigInt(nowMs)
    }
    if (whenMs > MAX_EXPIRY_MS) { out.error(errInvalidExpire(name)); return }
    const key = argv[1]!
    const meta = x.ttl(key)
    if (x.failed(out, meta)) return
    if (meta.status !== StoreStatus.OK) { out.integer(0); return }
    const when = Number(whenMs)
    const current = meta.ttlMs < 0 ? -1 : nowMs + meta.ttlMs
    // A key without expiry counts as an infinite TTL for GT and LT.
    if ((flags & E_NX) !== 0 && current !== -1) { out.integer(0); return }
    if ((flags & E_XX) !== 0 && current === -1) { out.integer(0); return }
    if ((flags & E_GT) !== 0 && (current === -1 || when <= current)) { out.integer(0); return }
    if ((flags & E_LT) !== 0 && current !== -1 && when >= current) { out.integer(0); return }
    const result = when <= nowMs ? x.delete(key) : x.touch(key, when - nowMs)
    if (x.failed(out, result)) return
    out.integer(result.status === StoreStatus.OK ? 1 : 0)
  }
}

function ttlGeneric (inMs: boolean) {
  return (x: RespContext, s: RespSession, argv: Uint8Array[]): void => {
    const result = x.ttl(argv[1]!)
    if (x.failed(s.out, result)) return
    const ttlMs = result.ttlMs
    s.out.integer(ttlMs < 0 || inMs ? ttlMs : Math.floor((ttlMs + 500) / 1000))
  }
}

function expiretimeGeneric (inMs: boolean) {
  return (x: RespContext, s: RespSession, argv: Uint8Array[]): void => {
    const result = x.ttl(argv[1]!)
    if (x.failed(s.out, result)) return
    if (result.ttlMs < 0) { s.out.integer(result.ttlMs); return }
    const atMs = x.nowMs() + result.ttlMs
    s.out.integer(inMs ? atMs : Math.floor(atMs / 1000))
  }
}

function persistCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const key = argv[1]!
  const meta = x.ttl(key)
  if (x.failed(s.out, meta)) return
  if (meta.status !== StoreStatus.OK || meta.ttlMs === -1) { s.out.integer(0); return }
  const result = x.touch(key, 0)
  if (x.failed(s.out, result)) return
  s.out.integer(result.status === StoreStatus.OK ? 1 : 0)
}

export const KEY_COMMANDS: readonly RespCommandSpec[] = [
  command('del', -2, 'write', ALL_KEYS, delCommand),
  command('unlink', -2, 'write fast', ALL_KEYS, delCommand),
  command('delete', -2, 'write', ALL_KEYS, delCommand),
  command('exists', -2, 'readonly fast', ALL_KEYS, existsCommand),
  command('has', -2, 'readonly fast', ALL_KEYS, existsCommand),
  // Redis TOUCH: the number of the keys that exist (a key counts once per mention).
  command('touch', -2, 'readonly fast', ALL_KEYS, existsCommand),
  command('keys', 2, 'readonly', NO_KEYS, keysCommand),
  command('scan', -2, 'readonly', NO_KEYS, scanCommand),
  command('type', 2, 'readonly fast', ONE_KEY, typeCommand),
  command('rename', 3, 'write', [1, 2, 1], renameGeneric(false)),
  command('renamenx', 3, 'write fast', [1, 2, 1], renameGeneric(true)),
  command('dbsize', 1, 'readonly fast', NO_KEYS, dbsizeCommand),
  command('flushdb', -1, 'write', NO_KEYS, flushCommand),
  command('flushall', -1, 'write', NO_KEYS, flushCommand),
  command('expire', -3, 'write fast', ONE_KEY, expireGeneric(true, false, 'expire')),
  command('pexpire', -3, 'write fast', ONE_KEY, expireGeneric(false, false, 'pexpire')),
  command('expireat', -3, 'write fast', ONE_KEY, expireGeneric(true, true, 'expireat')),
  command('pexpireat', -3, 'write fast', ONE_KEY, expireGeneric(false, true, 'pexpireat')),
  command('ttl', 2, 'readonly fast', ONE_KEY, ttlGeneric(false)),
  command('pttl', 2, 'readonly fast', ONE_KEY, ttlGeneric(true)),
  command('expiretime', 2, 'readonly fast', ONE_KEY, expiretimeGeneric(false)),
  command('pexpiretime', 2, 'readonly fast', ONE_KEY, expiretimeGeneric(true)),
  command('persist', 2, 'write fast', ONE_KEY, persistCommand)
]
