/**
 * The peer codec of forwarded Commands and Results: every op and every Result field round-trip
 * exactly; decoded keys are views of the payload; decoded Results own their bytes; truncated,
 * garbage, wrong-version and trailing-byte payloads are refused with PEER_PROTOCOL; and a
 * command run on a real engine through the codec answers like a direct call.
 */
import t from 'tap'
import { Result, type Command } from '../../src/command/command.js'
import { COMMAND_CODEC_VERSION, decodeCommand, decodeResult, encodeCommand, encodeResult } from '../../src/cluster/command-codec.js'
import { defaultConfig } from '../../src/config/load-config.js'
import { CounterMode, SetMode, StoreStatus } from '../../src/core/store-status.js'
import { Engine } from '../../src/engine.js'
import { SlabcacheError } from '../../src/errors.js'

const b = (text: string): Buffer => Buffer.from(text)

/** True when `part` lies inside `whole`'s bytes (small Buffers share one pool ArrayBuffer). */
function viewOf (part: Uint8Array, whole: Uint8Array): boolean {
  return part.buffer === whole.buffer && part.byteOffset >= whole.byteOffset && part.byteOffset + part.length <= whole.byteOffset + whole.length
}

/** One command of every op, and the variants of their optional fields. */
const COMMANDS: Command[] = [
  { op: 'get', tenantId: 0, key: b('k') },
  { op: 'get', tenantId: 7, key: b('ключ'), withTags: true },
  { op: 'get', tenantId: 7, key: b('k'), withTags: false },
  { op: 'set', tenantId: 3, key: b('k'), value: b('value'), mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 },
  {
    op: 'set',
    tenantId: 1023,
    key: Buffer.alloc(4096, 0x61),
    value: Buffer.alloc(300_000, 0xfe),
    mode: SetMode.CAS,
    ttlMs: 86_400_000_123,
    flags: 0xffffffff,
    keepTtl: true,
    casExpected: 2 ** 52 + 3,
    tags: [b('users'), b(''), b('team-7')],
    contentType: b('text/plain; charset=utf-8')
  },
  { op: 'set', tenantId: 0, key: b(''), value: Buffer.alloc(0), mode: SetMode.APPEND_OR_SET, ttlMs: 1, flags: 5, keepTtl: false, casExpected: 0, tags: [] },
  { op: 'delete', tenantId: 2, key: b('gone') },
  { op: 'exists', tenantId: 2, key: b('here') },
  { op: 'touch', tenantId: 2, key: b('k'), ttlMs: 0 },
  { op: 'touch', tenantId: 2, key: b('k'), ttlMs: 1500 },
  { op: 'ttl', tenantId: 2, key: b('k') },
  { op: 'incr', tenantId: 4, key: b('n'), delta: -(2n ** 63n), mode: CounterMode.REDIS },
  { op: 'incr', tenantId: 4, key: b('n'), delta: 2n ** 64n - 1n, mode: CounterMode.MEMCACHED },
  { op: 'scan', tenantId: 5, cursor: 0, count: 100 },
  { op: 'scan', tenantId: 5, cursor: 2 ** 40 + 17, count: 1 },
  { op: 'flush', tenantId: -1 },
  { op: 'flush', tenantId: 9 },
  { op: 'stats' },
  { op: 'debugClock', advanceMs: 1234.5 },
  { op: 'invalidateTag', tenantId: 6, tag: b('users') },
  { op: 'rateLimit', tenantId: 8, key: b('rl'), burst: 4, count: 1, periodMs: 1000, cost: 0 },
  { op: 'rateLimit', tenantId: 8, key: b('rl'), burst: 99, count: 7.5, periodMs: 60_000, cost: 3 }
]

t.test('every op round-trips exactly, key and value as views of the payload', async (t) => {
  const ops = new Set<string>()
  for (const command of COMMANDS) {
    ops.add(command.op)
    const payload = encodeCommand(command)
    t.equal(payload[0], COMMAND_CODEC_VERSION, `${command.op}: version byte first`)
    const decoded = decodeCommand(payload)
    t.same(decoded, command, `${command.op}: round trip`)
    t.same(Object.keys(decoded).sort(), Object.keys(command).sort(), `${command.op}: the same optional fields present`)
    if ('key' in decoded) t.ok(viewOf(decoded.key, payload), `${command.op}: the key is a view of the payload`)
    if (decoded.op === 'set') t.ok(viewOf(decoded.value, payload), 'set: the value is a view of the payload')
  }
  t.equal(ops.size, 13, 'every op of command.ts is covered')
})

t.test('sink is dropped: the owner returns the value bytes', async (t) => {
  const command: Command = { op: 'get', tenantId: 1, key: b('k'), sink: { reserve: () => { throw new Error('never') } } as any }
  t.same(decodeCommand(encodeCommand(command)), { op: 'get', tenantId: 1, key: b('k') })
})

t.test('every Result field round-trips; value is cut at valueLength and owned by the fresh Result', async (t) => {
  const full = new Result()
  full.status = StoreStatus.EXISTS
  full.error = 'QUOTA_EXCEEDED'
  full.errorMessage = 'too big — 大'
  full.value = Buffer.concat([b('payload'), Buffer.alloc(64, 0xee)])
  full.valueLength = 7
  full.flags = 0xdeadbeef
  full.cas = 2 ** 50 + 1
  full.ttlMs = 1500
  full.counter = -(2n ** 63n)
  full.keys = [b('a'), b(''), b('ccc')]
  full.cursor = 123456789
  full.count = 42
  full.stats = { items: 3, shards: [{ id: 0, alive: true }] }
  full.contentType = b('application/json')
  full.tags = [b('t1'), b('t2')]
  full.allowed = true
  full.limit = 5
  full.remaining = 4
  full.retryAfterMs = 12.345
  full.resetAfterMs = 1000.5
  const payload = encodeResult(full)
  const decoded = decodeResult(payload)
  t.ok(decoded instanceof Result, 'a Result')
  t.not(decoded, full)
  const expected = { ...full, value: b('payload') }
  t.same({ ...decoded }, expected, 'every field')
  t.equal(decoded.value!.length, 7, 'value is exactly valueLength bytes')
  t.notOk(viewOf(decoded.value!, payload), 'the value does not share the payload')
  payload.fill(0)
  t.equal(decoded.value!.toString(), 'payload', 'still valid after the payload buffer is reused')
  t.equal(decoded.tags[1]!.toString(), 't2')

  const empty = decodeResult(encodeResult(new Result()))
  t.same({ ...empty }, { ...new Result() }, 'a default Result')
  t.ok(encodeResult(new Result()).length <= 4, 'a default Result is 4 bytes')

  // Each field alone, so no field's bit hides behind another.
  const single: Array<[string, (r: Result) => void]> = [
    ['error without message', (r) => { r.error = 'NOT_CLUSTERED' }],
    ['empty value', (r) => { r.value = Buffer.alloc(0) }],
    ['valueLength without value (ttl, sink)', (r) => { r.valueLength = 99 }],
    ['ttlMs -2', (r) => { r.ttlMs = -2 }],
    ['unsigned 64-bit counter', (r) => { r.counter = 2n ** 64n - 1n }],
    ['empty content type', (r) => { r.contentType = Buffer.alloc(0) }],
    ['refused rate limit', (r) => { r.limit = 5; r.retryAfterMs = 200 }],
    ['stats of 0', (r) => { r.stats = 0 }]
  ]
  for (const [label, set] of single) {
    const result = new Result()
    set(result)
    t.same({ ...decodeResult(encodeResult(result)) }, { ...result }, label)
  }
})

t.test('malformed payloads are refused with PEER_PROTOCOL, never another error', async (t) => {
  const refused = (payload: Buffer, label: string, decode: (p: Buffer) => unknown): void => {
    try {
      decode(payload)
      t.fail(`${label}: accepted`)
    } catch (error) {
      t.ok(error instanceof SlabcacheError, `${label}: a SlabcacheError`)
      t.equal((error as SlabcacheError).code, 'PEER_PROTOCOL', `${label}: PEER_PROTOCOL`)
      t.equal((error as SlabcacheError).name, 'PeerProtocolError')
    }
  }
  // Every truncation of every command and of a full result.
  for (const command of COMMANDS.slice(0, 8)) {
    const payload = encodeCommand(command)
    for (let cut = 0; cut < Math.min(payload.length, 120); cut++) refused(payload.subarray(0, cut), `${command.op} cut at ${cut}`, decodeCommand)
    refused(Buffer.concat([payload, Buffer.from([0])]), `${command.op} with a trailing byte`, decodeCommand)
  }
  const result = new Result()
  result.error = 'PEER_TIMEOUT'
  result.value = b('v')
  result.valueLength = 1
  result.keys = [b('k')]
  result.stats = { a: 1 }
  result.tags = [b('t')]
  result.limit = 3
  const encoded = encodeResult(result)
  for (let cut = 0; cut < encoded.length; cut++) refused(encoded.subarray(0, cut), `result cut at ${cut}`, decodeResult)
  refused(Buffer.concat([encoded, Buffer.from([1])]), 'result with a trailing byte', decodeResult)

  const command = encodeCommand({ op: 'get', tenantId: 0, key: b('k') })
  refused(Buffer.from([COMMAND_CODEC_VERSION + 1, ...command.subarray(1)]), 'a newer version', decodeCommand)
  refused(Buffer.from([COMMAND_CODEC_VERSION, 0xee]), 'an unknown op', decodeCommand)
  const badMode = encodeCommand(COMMANDS[3]!)
  badMode[1 + 1 + 4 + 4 + 1 + 4 + 5] = 200
  refused(badMode, 'an unknown set mode', decodeCommand)
  const hugeLength = Buffer.from(command)
  hugeLength.writeUInt32LE(0xffffffff, 6)
  refused(hugeLength, 'a key length past the end', decodeCommand)
  refused(Buffer.from([COMMAND_CODEC_VERSION, 99, 0, 0]), 'an unknown store status', decodeResult)
  refused(Buffer.from([COMMAND_CODEC_VERSION, 0, 0, 0x80]), 'an unknown field bit', decodeResult)
  refused(Buffer.from([COMMAND_CODEC_VERSION, 0, 1, 0, 250, 0, 0, 0, 0]), 'an unknown error code', decodeResult)
  const listBomb = Buffer.from([COMMAND_CODEC_VERSION, 0, 0x80, 0, 0xff, 0xff, 0xff, 0x0f])
  refused(listBomb, 'a key list longer than the payload could hold', decodeResult)
  const badStats = new Result()
  badStats.stats = 'x'
  const statsPayload = encodeResult(badStats)
  statsPayload[statsPayload.length - 1] = 0x7b // '{': no longer JSON
  refused(statsPayload, 'stats that are not JSON', decodeResult)

  // Seeded garbage: whatever it decodes to, it never throws anything but PEER_PROTOCOL.
  let seed = 0x2545f491
  const random = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32 }
  let other = 0
  for (let i = 0; i < 2000; i++) {
    const garbage = Buffer.alloc(1 + Math.floor(random() * 40), 0)
    for (let j = 0; j < garbage.length; j++) garbage[j] = Math.floor(random() * 256)
    garbage[0] = COMMAND_CODEC_VERSION
    for (const decode of [decodeCommand, decodeResult]) {
      try { decode(garbage) } catch (error) { if (!(error instanceof SlabcacheError) || error.code !== 'PEER_PROTOCOL') other++ }
    }
  }
  t.equal(other, 0, 'garbage raises nothing but PEER_PROTOCOL')
})

t.test('values that cannot be represented are refused at encode time', async (t) => {
  t.throws(() => encodeCommand({ op: 'incr', tenantId: 0, key: b('n'), delta: 2n ** 64n, mode: CounterMode.MEMCACHED }), { code: 'PEER_PROTOCOL' })
  t.throws(() => encodeCommand({ op: 'get', tenantId: 2 ** 31, key: b('k') }), { code: 'PEER_PROTOCOL' })
})

t.test('a command run through the codec on a real engine answers like a direct call', async (t) => {
  const engine = await Engine.start(defaultConfig({ shards: 1, memoryBytes: 16 * 1024 * 1024, logLevel: 'silent' }))
  t.teardown(() => engine.close())
  const through = async (command: Command): Promise<Result> => decodeResult(encodeResult(await engine.execute(decodeCommand(encodeCommand(command)))))
  const set = await through({ op: 'set', tenantId: 0, key: b('k'), value: b('hello'), mode: SetMode.SET, ttlMs: 60_000, flags: 3, keepTtl: false, casExpected: 0, tags: [b('t')], contentType: b('text/plain') })
  t.equal(set.status, StoreStatus.OK)
  t.ok(set.cas > 0, 'the set answers its CAS')
  const got = await through({ op: 'get', tenantId: 0, key: b('k'), withTags: true })
  t.equal(got.value!.toString(), 'hello')
  t.equal(got.valueLength, 5)
  t.equal(got.cas, set.cas)
  t.equal(got.flags, 3)
  t.equal(got.contentType!.toString(), 'text/plain')
  t.same(got.tags.map(String), ['t'])
  const ttl = await through({ op: 'ttl', tenantId: 0, key: b('k') })
  t.ok(ttl.ttlMs > 0 && ttl.ttlMs <= 60_000, 'ttl')
  const counter = await through({ op: 'incr', tenantId: 0, key: b('n'), delta: -5n, mode: CounterMode.REDIS })
  t.equal(counter.counter, -5n)
  const removed = await through({ op: 'invalidateTag', tenantId: 0, tag: b('t') })
  t.equal(removed.count, 1)
  t.equal((await through({ op: 'get', tenantId: 0, key: b('k') })).status, StoreStatus.NOT_FOUND)
  const stats = await through({ op: 'stats' })
  t.equal((stats.stats as { shardCount: number }).shardCount, 1, 'stats travel as JSON')
  const flushed = await through({ op: 'flush', tenantId: -1 })
  t.equal(flushed.count, 1, 'flush (a Promise on the engine) counts the counter')
  const tooLarge = await through({ op: 'set', tenantId: 0, key: Buffer.alloc(5000, 1), value: b('x'), mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 })
  t.equal(tooLarge.error, 'KEY_TOO_LARGE', 'an engine error travels as its code')
})
