import t from 'tap'
import { feedParser } from '../fixtures/feed-parser.js'
import {
  BINARY_HEADER_BYTES, BinaryParse, BinaryRequest, BinaryStatus, MemcacheBinaryParser, Opcode, SASL_MAX_BYTES, writeErrorResponse,
  writeResponseHeader, type BinaryLimits
} from '../../src/protocol/memcache-binary.js'
import { MemcacheOutput } from '../../src/protocol/memcache-output.js'
import { counterExtras as arithmetic, u32 } from '../fixtures/memcache-frames.js'

const LIMITS: BinaryLimits = { maxKeyBytes: 300, maxValueBytes: 1024 }
const KIND_NAMES = Object.fromEntries(Object.entries(BinaryParse).map(([name, kind]) => [kind, name]))

interface Frame { opcode: number, key?: string | Buffer, extras?: Buffer, value?: string | Buffer, cas?: bigint, opaque?: number, magic?: number, keyLength?: number, bodyLength?: number }

/** A request frame; keyLength and bodyLength may be forced to lie. */
function frame (f: Frame): Buffer {
  const key = Buffer.from(f.key ?? '')
  const extras = f.extras ?? Buffer.alloc(0)
  const value = Buffer.from(f.value ?? '')
  const header = Buffer.alloc(BINARY_HEADER_BYTES)
  header[0] = f.magic ?? 0x80
  header[1] = f.opcode
  header.writeUInt16BE(f.keyLength ?? key.length, 2)
  header[4] = extras.length
  header.writeUInt32BE(f.bodyLength ?? extras.length + key.length + value.length, 8)
  header.writeUInt32BE(f.opaque ?? 0xdeadbeef, 12)
  header.writeBigUInt64BE(f.cas ?? 0n, 16)
  return Buffer.concat([header, extras, key, value])
}

function summarize (kind: BinaryParse, r: BinaryRequest): Record<string, unknown> {
  if (kind !== BinaryParse.REQUEST) return { kind: KIND_NAMES[kind], opcode: r.opcode, opaque: r.opaque, status: r.status }
  return {
    kind: 'REQUEST', opcode: r.opcode, command: r.command, quiet: r.quiet, opaque: r.opaque, cas: r.cas,
    key: r.key.toString('latin1'), value: r.value.toString('latin1'), flags: r.flags, expiration: r.expiration,
    delta: r.delta.toString(), initial: r.initial.toString()
  }
}

/** Feeds chunks the way a session does; returns every result until NEED_MORE or FATAL. */
function feed (chunks: Buffer[], limits: BinaryLimits = LIMITS): Array<Record<string, unknown>> {
  return feedParser(new MemcacheBinaryParser(limits), new BinaryRequest(), chunks, { needMore: BinaryParse.NEED_MORE, fatal: BinaryParse.FATAL }, summarize)
}

const VALID: Frame[] = [
  { opcode: Opcode.GET, key: 'k' }, { opcode: Opcode.GETQ, key: 'k' }, { opcode: Opcode.GETK, key: 'k' }, { opcode: Opcode.GETKQ, key: 'k' },
  { opcode: Opcode.SET, key: 'k', extras: u32(7, 100), value: 'v\r\n\u0000' }, { opcode: Opcode.SETQ, key: 'k', extras: u32(0, 0), value: '', cas: 42n },
  { opcode: Opcode.ADD, key: 'k', extras: u32(1, 2), value: 'a' }, { opcode: Opcode.ADDQ, key: 'k', extras: u32(1, 2), value: 'a' },
  { opcode: Opcode.REPLACE, key: 'k', extras: u32(1, 2), value: 'r' }, { opcode: Opcode.REPLACEQ, key: 'k', extras: u32(1, 2), value: 'r' },
  { opcode: Opcode.APPEND, key: 'k', value: 'x' }, { opcode: Opcode.APPENDQ, key: 'k', value: 'x' },
  { opcode: Opcode.PREPEND, key: 'k', value: 'x' }, { opcode: Opcode.PREPENDQ, key: 'k', value: 'x' },
  { opcode: Opcode.DELETE, key: 'k' }, { opcode: Opcode.DELETEQ, key: 'k', cas: 9007199254740991n },
  { opcode: Opcode.INCREMENT, key: 'c', extras: arithmetic(1n, 10n, 0) }, { opcode: Opcode.INCREMENTQ, key: 'c', extras: arithmetic(2n ** 64n - 1n, 0n, 0xffffffff) },
  { opcode: Opcode.DECREMENT, key: 'c', extras: arithmetic(5n, 0n, 60) }, { opcode: Opcode.DECREMENTQ, key: 'c', extras: arithmetic(1n, 1n, 1) },
  { opcode: Opcode.QUIT }, { opcode: Opcode.QUITQ }, { opcode: Opcode.FLUSH }, { opcode: Opcode.FLUSH, extras: u32(10) }, { opcode: Opcode.FLUSHQ },
  { opcode: Opcode.NOOP }, { opcode: Opcode.VERSION }, { opcode: Opcode.STAT }, { opcode: Opcode.STAT, key: 'reset' },
  { opcode: Opcode.VERBOSITY, extras: u32(1) }, { opcode: Opcode.TOUCH, key: 'k', extras: u32(10) },
  { opcode: Opcode.GAT, key: 'k', extras: u32(10) }, { opcode: Opcode.GATQ, key: 'k', extras: u32(10) },
  { opcode: Opcode.GATK, key: 'k', extras: u32(10) }, { opcode: Opcode.GATKQ, key: 'k', extras: u32(10) },
  { opcode: Opcode.SASL_LIST_MECHS }, { opcode: Opcode.SASL_AUTH, key: 'PLAIN', value: '\u0000user\u0000pass' },
  { opcode: Opcode.SASL_STEP, key: 'PLAIN', value: 'x' },
  { opcode: Opcode.TAG_INVALIDATE, key: 'tag' }, { opcode: Opcode.TAG_SET, key: 'k', extras: u32(3, 60), value: '\u0000\u0001tdata' }
]

t.test('every opcode\'s frame parses the same whole, split at every byte offset, and byte by byte', async (t) => {
  const frames = VALID.map(frame)
  const stream = Buffer.concat(frames)
  const expected = feed([stream])
  t.equal(expected.length, VALID.length)
  t.ok(expected.every((r) => r['kind'] === 'REQUEST'), 'all are requests')
  t.same(new Set(expected.map((r) => r['opcode'])), new Set(Object.values(Opcode)), 'every opcode of the spec is covered')
  for (const bytes of frames) {
    const one = feed([bytes])
    for (let i = 1; i < bytes.length; i++) t.same(feed([bytes.subarray(0, i), bytes.subarray(i)]), one, `opcode ${bytes[1]} split at ${i}`)
  }
  for (let i = 1; i < stream.length; i++) {
    if (JSON.stringify(feed([stream.subarray(0, i), stream.subarray(i)])) !== JSON.stringify(expected)) t.fail(`the whole stream split at ${i} differs`)
  }
  t.same(feed([...stream].map((byte) => Buffer.of(byte))), expected, 'byte by byte')
})

t.test('parsed fields: quiet flag, opaque, cas, extras, key and value', async (t) => {
  t.match(feed([frame({ opcode: Opcode.SETQ, key: 'key', extras: u32(0xffffffff, 2592001), value: 'a\r\nb', cas: 77n, opaque: 5 })])[0],
    { opcode: Opcode.SETQ, command: Opcode.SET, quiet: true, opaque: 5, cas: 77, key: 'key', value: 'a\r\nb', flags: 0xffffffff, expiration: 2592001 })
  t.match(feed([frame({ opcode: Opcode.GATKQ, key: 'k', extras: u32(30) })])[0], { command: Opcode.GATK, quiet: true, expiration: 30 })
  t.match(feed([frame({ opcode: Opcode.DECREMENTQ, key: 'c', extras: arithmetic(2n ** 64n - 1n, 12n, 0xffffffff) })])[0],
    { command: Opcode.DECREMENT, quiet: true, delta: '18446744073709551615', initial: '12', expiration: 0xffffffff })
  t.match(feed([frame({ opcode: Opcode.GET, key: 'k', cas: 2n ** 53n })])[0], { cas: -1 }, 'a cas beyond 2^53 matches nothing')
  t.match(feed([frame({ opcode: Opcode.FLUSHQ, extras: u32(5) })])[0], { command: Opcode.FLUSH, quiet: true, expiration: 5 })
})

t.test('malformed frames: exact statuses, framing kept where the header allows it', async (t) => {
  const next = frame({ opcode: Opcode.NOOP, opaque: 99 })
  const fatal = (f: Frame, status: number, name: string): void => {
    t.same(feed([Buffer.concat([frame(f), next])]), [{ kind: 'FATAL', opcode: f.opcode, opaque: f.opaque ?? 0xdeadbeef, status }], name)
  }
  fatal({ opcode: Opcode.GET, key: 'k', magic: 0x81 }, BinaryStatus.INVALID_ARGUMENTS, 'a response magic loses framing')
  fatal({ opcode: Opcode.GET, key: 'k', magic: 0x00 }, BinaryStatus.INVALID_ARGUMENTS, 'a zero magic loses framing')
  fatal({ opcode: Opcode.GET, key: 'k', keyLength: 10, bodyLength: 1 }, BinaryStatus.UNKNOWN_COMMAND, 'key longer than the body (memcached answers unknown command)')
  fatal({ opcode: Opcode.SET, key: 'k', extras: u32(0, 0, 0), bodyLength: 2 }, BinaryStatus.UNKNOWN_COMMAND, 'extras + key longer than the body')
  fatal({ opcode: Opcode.GET, key: 'k', extras: u32(1) }, BinaryStatus.INVALID_ARGUMENTS, 'GET with extras')
  fatal({ opcode: Opcode.GET }, BinaryStatus.INVALID_ARGUMENTS, 'GET without a key')
  fatal({ opcode: Opcode.GET, key: 'k', value: 'v' }, BinaryStatus.INVALID_ARGUMENTS, 'GET with a value')
  fatal({ opcode: Opcode.SET, key: 'k', value: 'v' }, BinaryStatus.INVALID_ARGUMENTS, 'SET without its 8 bytes of extras')
  fatal({ opcode: Opcode.SET, extras: u32(0, 0), value: 'v' }, BinaryStatus.INVALID_ARGUMENTS, 'SET without a key')
  fatal({ opcode: Opcode.APPEND, key: 'k', extras: u32(0), value: 'v' }, BinaryStatus.INVALID_ARGUMENTS, 'APPEND with extras')
  fatal({ opcode: Opcode.INCREMENT, key: 'k', extras: u32(1) }, BinaryStatus.INVALID_ARGUMENTS, 'INCREMENT with 4 bytes of extras')
  fatal({ opcode: Opcode.NOOP, key: 'k' }, BinaryStatus.INVALID_ARGUMENTS, 'NOOP with a key')
  fatal({ opcode: Opcode.VERSION, value: 'x' }, BinaryStatus.INVALID_ARGUMENTS, 'VERSION with a body')
  fatal({ opcode: Opcode.QUIT, extras: u32(1) }, BinaryStatus.INVALID_ARGUMENTS, 'QUIT with extras')
  fatal({ opcode: Opcode.FLUSH, extras: Buffer.alloc(2) }, BinaryStatus.INVALID_ARGUMENTS, 'FLUSH with 2 bytes of extras')
  fatal({ opcode: Opcode.FLUSH, key: 'k' }, BinaryStatus.INVALID_ARGUMENTS, 'FLUSH with a key')
  fatal({ opcode: Opcode.TOUCH, key: 'k' }, BinaryStatus.INVALID_ARGUMENTS, 'TOUCH without its expiration')
  fatal({ opcode: Opcode.VERBOSITY }, BinaryStatus.INVALID_ARGUMENTS, 'VERBOSITY without its level')
  fatal({ opcode: Opcode.STAT, value: 'x' }, BinaryStatus.INVALID_ARGUMENTS, 'STAT with a value')
  fatal({ opcode: Opcode.SASL_AUTH, value: 'x' }, BinaryStatus.INVALID_ARGUMENTS, 'SASL auth without a mechanism')
  fatal({ opcode: Opcode.SASL_AUTH, key: 'PLAIN', value: 'x'.repeat(SASL_MAX_BYTES + 1) }, BinaryStatus.INVALID_ARGUMENTS, 'SASL auth beyond its bound')

  const kept = (f: Frame, status: number, name: string): void => {
    const results = feed([Buffer.concat([frame(f), next])])
    t.same(results.map((r) => [r['kind'], r['status'] ?? r['opcode']]), [['ERROR', status], ['REQUEST', Opcode.NOOP]], name)
  }
  kept({ opcode: 0x55, key: 'k', extras: u32(1), value: 'body' }, BinaryStatus.UNKNOWN_COMMAND, 'an unknown opcode is answered and its body swallowed')
  kept({ opcode: 0x1f }, BinaryStatus.UNKNOWN_COMMAND, 'opcode 0x1f is not in the spec')
  kept({ opcode: Opcode.GET, key: 'k'.repeat(301) }, BinaryStatus.INVALID_ARGUMENTS, 'a key over the limit is refused, framing kept')
  kept({ opcode: Opcode.SET, key: 'k', extras: u32(0, 0), value: 'x'.repeat(1025) }, BinaryStatus.VALUE_TOO_LARGE, 'a value over the limit is refused and swallowed')
  kept({ opcode: Opcode.APPENDQ, key: 'k', value: 'x'.repeat(1025) }, BinaryStatus.VALUE_TOO_LARGE, 'also for quiet appends')
})

t.test('an oversized body is refused from its header, before it is buffered, whatever the split', async (t) => {
  const big = Buffer.concat([frame({ opcode: Opcode.SETQ, key: 'k', extras: u32(0, 0), value: 'x'.repeat(5000) }), frame({ opcode: Opcode.NOOP })])
  const expected = [{ kind: 'ERROR', opcode: Opcode.SETQ, opaque: 0xdeadbeef, status: BinaryStatus.VALUE_TOO_LARGE }]
  t.same(feed([big.subarray(0, BINARY_HEADER_BYTES)]), expected, 'the header alone is enough to refuse')
  for (let i = 1; i < big.length; i += 37) {
    t.same(feed([big.subarray(0, i), big.subarray(i)]).map((r) => r['kind']), ['ERROR', 'REQUEST'], `split at ${i}`)
  }
})

t.test('limits at the boundary: key of maxKeyBytes, value of maxValueBytes', async (t) => {
  t.match(feed([frame({ opcode: Opcode.GET, key: 'k'.repeat(300) })])[0], { kind: 'REQUEST' })
  t.match(feed([frame({ opcode: Opcode.GET, key: 'k'.repeat(301) })])[0], { kind: 'ERROR', status: BinaryStatus.INVALID_ARGUMENTS })
  t.match(feed([frame({ opcode: Opcode.SET, key: 'k', extras: u32(0, 0), value: 'x'.repeat(1024) })])[0], { kind: 'REQUEST' })
  t.match(feed([frame({ opcode: Opcode.SET, key: 'k', extras: u32(0, 0), value: 'x'.repeat(1025) })])[0], { kind: 'ERROR', status: BinaryStatus.VALUE_TOO_LARGE })
  t.match(feed([frame({ opcode: Opcode.SASL_AUTH, key: 'PLAIN', value: 'x'.repeat(SASL_MAX_BYTES) })], { ...LIMITS, maxValueBytes: 8192 })[0], { kind: 'REQUEST' })
})

t.test('response encoding: header fields big-endian, error bodies as memcached writes them', async (t) => {
  const out = new MemcacheOutput()
  writeResponseHeader(out, Opcode.GETK, BinaryStatus.SUCCESS, 3, 4, 10, 0x01020304, 2 ** 53 - 1)
  writeErrorResponse(out, Opcode.ADDQ, BinaryStatus.KEY_EXISTS, 7)
  const bytes = out.take()!
  t.same([...bytes.subarray(0, 24)], [0x81, 0x0c, 0, 3, 4, 0, 0, 0, 0, 0, 0, 10, 1, 2, 3, 4, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
  const error = bytes.subarray(24)
  t.equal(error[1], Opcode.ADDQ)
  t.equal(error.readUInt16BE(6), 0x0002)
  t.equal(error.readUInt32BE(8), 'Data exists for key.'.length)
  t.equal(error.readBigUInt64BE(16), 0n)
  t.equal(error.subarray(24).toString(), 'Data exists for key.')
  t.equal(out.take(), null, 'nothing pending after take()')
})
