/**
 * RESP tag commands (DESIGN §7 "a TAG.INVALIDATE family"). Thread: main (pure, L1).
 *   TAG.SET key value [EX seconds | PX milliseconds] [NX | XX] TAGS tag [tag ...]
 *       stores value with exactly these tags (replacing the key's old tags) → +OK, or a nil
 *       bulk when NX/XX stopped the write
 *   TAG.GET key            → the key's tags as an array of bulk strings (empty when it has
 *                            none), or a nil array when the key does not exist
 *   TAG.INVALIDATE tag [tag ...]
 *                          → integer: keys removed (each tag on every shard; a key carrying
 *                            two of the tags counts once, it is gone after the first)
 * Tags are per tenant (the connection's). Plain SET, SETEX, GETSET… store a value without
 * tags (they replace the item); APPEND and INCR/DECR keep a key's tags.
 * Invariant: a handler writes exactly one reply; limits (tag count and length) come back from
 * the engine as catalog errors (TOO_MANY_TAGS, TAG_TOO_LARGE).
 */
import type { Command, Result } from '../command/command.js'
import { SetMode, StoreStatus } from '../core/store-status.js'
import { INT64_MAX, keyword, parseInt64 } from './resp-args.js'
import { command, NO_KEYS, ONE_KEY, type RespCommandSpec, type RespContext, type RespSession } from './resp-context.js'
import { ERR_NOT_INTEGER, ERR_SYNTAX, errInvalidExpire } from './resp-errors.js'

const EMPTY_KEY: Uint8Array = new Uint8Array(0)

/** Reused command objects (handlers run one at a time on the main thread). */
const setCommand = {
  op: 'set' as const, tenantId: 0, key: EMPTY_KEY, value: EMPTY_KEY, mode: SetMode.SET as SetMode, ttlMs: 0, flags: 0,
  keepTtl: false, casExpected: 0, tags: [] as Uint8Array[]
}
const getCommand = { op: 'get' as const, tenantId: 0, key: EMPTY_KEY, withTags: true }
const invalidateCommand = { op: 'invalidateTag' as const, tenantId: 0, tag: EMPTY_KEY }

function run (x: RespContext, command: Command): Result {
  // get, set and invalidateTag are inline engine commands: the Result is synchronous.
  return x.host.execute(command) as Result
}

function tagSetCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  const out = s.out
  let ttlMs = 0
  let mode: SetMode = SetMode.SET
  let i = 3
  for (; i < argc; i++) {
    const option = keyword(argv[i]!)
    if (option === 'tags') break
    if ((option === 'ex' || option === 'px') && ttlMs === 0 && i + 1 < argc) {
      const value = parseInt64(argv[++i]!)
      if (value === null) { out.error(ERR_NOT_INTEGER); return }
      const seconds = option === 'ex'
      if (value <= 0n || (seconds && value > INT64_MAX / 1000n) || (seconds ? value * 1000n : value) > BigInt(Number.MAX_SAFE_INTEGER) - BigInt(x.nowMs())) {
        out.error(errInvalidExpire('tag.set'))
        return
      }
      ttlMs = Number(seconds ? value * 1000n : value)
    } else if (option === 'nx' && mode !== SetMode.REPLACE) {
      mode = SetMode.ADD
    } else if (option === 'xx' && mode !== SetMode.ADD) {
      mode = SetMode.REPLACE
    } else {
      out.error(ERR_SYNTAX)
      return
    }
  }
  // TAGS must be there and name at least one tag.
  if (i >= argc - 1) { out.error(ERR_SYNTAX); return }
  const c = setCommand
  c.tenantId = x.tenantId
  c.key = argv[1]!
  c.value = argv[2]!
  c.mode = mode
  c.ttlMs = ttlMs
  c.tags = argv.slice(i + 1, argc)
  const result = run(x, c)
  c.tags = []
  if (x.failed(out, result)) return
  if (result.status === StoreStatus.NOT_STORED) out.nullBulk()
  else out.ok()
}

function tagGetCommand (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const c = getCommand
  c.tenantId = x.tenantId
  c.key = argv[1]!
  const result = run(x, c)
  if (x.failed(s.out, result)) return
  if (result.status !== StoreStatus.OK) { s.out.nullArray(); return }
  s.out.array(result.tags.length)
  for (const tag of result.tags) s.out.bulk(tag)
}

function tagInvalidateCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  const c = invalidateCommand
  c.tenantId = x.tenantId
  let removed = 0
  for (let i = 1; i < argc; i++) {
    c.tag = argv[i]!
    const result = run(x, c)
    if (x.failed(s.out, result)) return
    removed += result.count
  }
  s.out.integer(removed)
}

export const TAG_COMMANDS: readonly RespCommandSpec[] = [
  command('tag.set', -5, 'write denyoom', ONE_KEY, tagSetCommand),
  command('tag.get', 2, 'readonly', ONE_KEY, tagGetCommand),
  command('tag.invalidate', -2, 'write', NO_KEYS, tagInvalidateCommand)
]
