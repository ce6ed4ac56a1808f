import t from 'tap'
import { feedParser } from '../fixtures/feed-parser.js'
import {
  MemcacheTextParser, TEXT_MAX_LINE_BYTES, TextOp, TextParse, TextReply, TextRequest, parseInt32, parseUint32, parseUint64,
  type TextLimits
} from '../../src/protocol/memcache-text.js'

const LIMITS: TextLimits = { maxKeyBytes: 250, maxValueBytes: 1024, maxRetrievalLineBytes: 8192 }
const OP_NAMES = Object.fromEntries(Object.entries(TextOp).map(([name, op]) => [op, name]))
const KIND_NAMES = Object.fromEntries(Object.entries(TextParse).map(([name, kind]) => [kind, name]))

/** A parse result as plain data (the request's views are copied out at once). */
function summarize (kind: TextParse, request: TextRequest): Record<string, unknown> {
  if (kind !== TextParse.REQUEST) return { kind: KIND_NAMES[kind], reply: request.reply, noreply: request.noreply }
  return {
    kind: 'REQUEST',
    op: OP_NAMES[request.op],
    keys: request.keys.slice(0, request.keyCount).map((key) => key.toString('latin1')),
    flags: request.flags,
    exptime: request.exptime,
    cas: request.cas,
    delta: request.delta.toString(),
    noreply: request.noreply,
    hasDelay: request.hasDelay,
    group: request.group,
    tags: request.op === TextOp.TAG_SET || request.op === TextOp.TAG_INVALIDATE ? request.tags.toString('latin1') : null,
    value: [TextOp.SET, TextOp.ADD, TextOp.REPLACE, TextOp.APPEND, TextOp.PREPEND, TextOp.CAS, TextOp.TAG_SET].includes(request.op as 5) ? request.value.toString('latin1') : null
  }
}

/**
 * Feeds `chunks` to one parser the way a session does (pending bytes kept, consumed bytes
 * dropped whatever the answer) and returns every result until NEED_MORE or FATAL.
 */
function feed (chunks: Buffer[], limits: TextLimits = LIMITS): Array<Record<string, unknown>> {
  return feedParser(new MemcacheTextParser(limits), new TextRequest(), chunks, { needMore: TextParse.NEED_MORE, fatal: TextParse.FATAL }, summarize)
}

const whole = (text: string | Buffer, limits?: TextLimits): Array<Record<string, unknown>> => feed([Buffer.from(text)], limits)
/** A request's op name, or an error's reply line. */
const label = (r: Record<string, unknown>): unknown => r['kind'] === 'REQUEST' ? r['op'] : r['reply']
const replies = (text: string | Buffer, limits?: TextLimits): unknown[] => whole(text, limits).map(label)

const VALID = [
  'get a\r\n',
  'get a b  c\r\n',
  'gets k1 k2\r\n',
  'gat 100 a b\r\n',
  'gats -1 a\r\n',
  'gat 10\r\n',
  'set k 5 0 5\r\nhello\r\n',
  'set k 4294967295 2592001 0\r\n\r\n',
  'add k 0 -1 3 noreply\r\na\r\n\r\n',
  'replace k 1 2 1\r\nx\r\n',
  'append k 0 0 2\r\n\u0000\n\r\n',
  'prepend k 0 0 1 noreply\r\nz\r\n',
  'cas k 0 0 1 12345\r\nq\r\n',
  'cas k 0 0 1 18446744073709551615 noreply\r\nq\r\n',
  'delete k\r\n',
  'delete k 0\r\n',
  'delete k noreply\r\n',
  'delete k 0 noreply\r\n',
  'incr k 1\r\n',
  'decr k 18446744073709551615 noreply\r\n',
  'touch k 10\r\n',
  'touch k -1 noreply\r\n',
  'flush_all\r\n',
  'flush_all 10\r\n',
  'flush_all noreply\r\n',
  'flush_all 0 noreply\r\n',
  'stats\r\n',
  'stats reset\r\n',
  'version\r\n',
  'version extra words\r\n',
  'verbosity 1\r\n',
  'verbosity 0 noreply\r\n',
  'quit\r\n',
  'get a\n',
  '  get   spaced  \r\n',
  'tag_set k 1 10 3 a,b\r\nabc\r\n',
  'tag_set k 0 0 0 t noreply\r\n\r\n',
  'tag_invalidate t\r\n',
  'tag_invalidate t noreply\r\n'
]

t.test('every valid request parses the same whole, split at every byte offset, and byte by byte', async (t) => {
  const stream = Buffer.from(VALID.join(''), 'latin1')
  const expected = feed([stream])
  t.equal(expected.length, VALID.length)
  t.ok(expected.every((r) => r['kind'] === 'REQUEST'), 'all are requests')
  for (const request of VALID) {
    const bytes = Buffer.from(request, 'latin1')
    const one = feed([bytes])
    for (let i = 1; i < bytes.length; i++) {
      t.same(feed([bytes.subarray(0, i), bytes.subarray(i)]), one, `${JSON.stringify(request)} split at ${i}`)
    }
  }
  for (let i = 1; i < stream.length; i++) {
    const split = feed([stream.subarray(0, i), stream.subarray(i)])
    if (JSON.stringify(split) !== JSON.stringify(expected)) t.fail(`the whole stream split at ${i} differs`)
  }
  t.same(feed([...stream].map((byte) => Buffer.of(byte))), expected, 'byte by byte')
})

t.test('parsed fields: keys, flags, exptime, cas, delta, noreply, data block', async (t) => {
  t.same(whole('get a b  c\r\n')[0], { kind: 'REQUEST', op: 'GET', keys: ['a', 'b', 'c'], flags: 0, exptime: 0, cas: 0, delta: '0', noreply: false, hasDelay: false, group: '', tags: null, value: null })
  const set = whole('set k 4294967295 -5 5 noreply\r\nhe\r\no\r\n')[0]!
  t.match(set, { op: 'SET', keys: ['k'], flags: 4294967295, exptime: -5, noreply: true, value: 'he\r\no' })
  t.match(whole('cas k 0 0 1 9007199254740991\r\nq\r\n')[0], { op: 'CAS', cas: 9007199254740991 })
  t.match(whole('cas k 0 0 1 9007199254740992\r\nq\r\n')[0], { op: 'CAS', cas: -1 }, 'a cas beyond 2^53 matches nothing')
  t.match(whole('decr k 18446744073709551615\r\n')[0], { op: 'DECR', delta: '18446744073709551615' })
  t.match(whole('gat -1 a b\r\n')[0], { op: 'GAT', exptime: -1, keys: ['a', 'b'] })
  t.match(whole('flush_all 10 noreply\r\n')[0], { op: 'FLUSH_ALL', hasDelay: true, exptime: 10, noreply: true })
  t.match(whole('flush_all noreply\r\n')[0], { op: 'FLUSH_ALL', hasDelay: false, noreply: true })
  t.match(whole('stats reset\r\n')[0], { op: 'STATS', group: 'reset' })
  t.match(whole('set k 0 0 1 whatever\r\nx\r\n')[0], { op: 'SET', noreply: false }, 'a sixth token other than noreply is ignored, as memcached does')
  t.match(whole('gat 10\r\n')[0], { op: 'GAT', keys: [] }, 'gat without keys (memcached answers END)')
})

t.test('malformed requests give memcached\'s exact error replies', async (t) => {
  const cases: Array<[string, unknown[]]> = [
    ['\r\n', [TextReply.ERROR]],
    ['   \r\n', [TextReply.ERROR]],
    ['foo\r\n', [TextReply.ERROR]],
    ['GET a\r\n', [TextReply.ERROR]],
    ['get\r\n', [TextReply.ERROR]],
    ['gets \r\n', [TextReply.ERROR]],
    ['set a 0 0\r\n', [TextReply.ERROR]],
    ['set a 0 0 1 2 3\r\nh\r\n', [TextReply.ERROR, TextReply.ERROR]],
    ['set a 0 0 -1\r\nh\r\n', [TextReply.BAD_FORMAT, TextReply.ERROR]],
    ['set a 0 0 x\r\nh\r\n', [TextReply.BAD_FORMAT, TextReply.ERROR]],
    ['set a x 0 1\r\nh\r\nversion\r\n', [TextReply.BAD_FORMAT, 'VERSION']],
    ['set a -1 0 1\r\nh\r\nversion\r\n', [TextReply.BAD_FORMAT, 'VERSION']],
    ['set a 4294967296 0 1\r\nh\r\nversion\r\n', [TextReply.BAD_FORMAT, 'VERSION']],
    ['set a 0 2147483648 1\r\nh\r\nversion\r\n', [TextReply.BAD_FORMAT, 'VERSION']],
    ['set a\tb 0 0 1\r\nh\r\nversion\r\n', [TextReply.BAD_FORMAT, 'VERSION']],
    ['cas a 0 0 1\r\nh\r\n', [TextReply.ERROR, TextReply.ERROR]],
    ['cas a 0 0 1 x\r\nh\r\nversion\r\n', [TextReply.BAD_FORMAT, 'VERSION']],
    ['cas a 0 0 1 18446744073709551616\r\nh\r\nversion\r\n', [TextReply.BAD_FORMAT, 'VERSION']],
    ['set a 0 0 5\r\nhelloXXversion\r\n', [TextReply.BAD_DATA_CHUNK, 'VERSION']],
    ['set a 0 0 1\r\nhh\r\n', [TextReply.BAD_DATA_CHUNK, TextReply.ERROR]],
    ['delete\r\n', [TextReply.ERROR]],
    ['delete a b c d e\r\n', [TextReply.ERROR]],
    ['delete a b\r\n', [TextReply.BAD_DELETE]],
    ['delete a 1 noreply\r\n', [TextReply.BAD_DELETE]],
    ['incr a\r\n', [TextReply.ERROR]],
    ['incr a x\r\n', [TextReply.BAD_DELTA]],
    ['incr a -1\r\n', [TextReply.BAD_DELTA]],
    ['incr a 18446744073709551616\r\n', [TextReply.BAD_DELTA]],
    ['decr a 1 2 3\r\n', [TextReply.ERROR]],
    ['touch a\r\n', [TextReply.ERROR]],
    ['touch a x\r\n', [TextReply.BAD_EXPTIME]],
    ['gat x a\r\n', [TextReply.BAD_EXPTIME]],
    ['gat\r\n', [TextReply.ERROR]],
    ['flush_all foo\r\n', [TextReply.BAD_EXPTIME]],
    ['flush_all 0 noreply extra\r\n', [TextReply.ERROR]],
    ['stats a b\r\n', [TextReply.ERROR]],
    ['verbosity\r\n', [TextReply.ERROR]],
    ['verbosity foo bar my\r\n', [TextReply.ERROR]],
    ['verbosity x\r\n', [TextReply.BAD_FORMAT]],
    ['get a\u0001b\r\n', [TextReply.BAD_FORMAT]],
    ['get a\u007fb\r\n', [TextReply.BAD_FORMAT]],
    [`set ${'a '.repeat(30)}\r\n`, [TextReply.ERROR]]
  ]
  for (const [input, expected] of cases) {
    const got = whole(input).map(label)
    t.same(got, expected, JSON.stringify(input))
  }
})

t.test('noreply silences errors found after the noreply token is known, as in memcached', async (t) => {
  t.match(whole('verbosity noreply\r\n')[0], { kind: 'ERROR', reply: TextReply.BAD_FORMAT, noreply: true })
  t.match(whole('set a 0 0 5 noreply\r\nhelloXX')[0], { kind: 'ERROR', reply: TextReply.BAD_DATA_CHUNK, noreply: true })
  t.match(whole('incr a x noreply\r\n')[0], { kind: 'ERROR', reply: TextReply.BAD_DELTA, noreply: true })
  t.match(whole('set a 0 0 1 2 noreply\r\n')[0], { kind: 'ERROR', reply: TextReply.ERROR, noreply: false }, 'a wrong token count is answered')
})

t.test('limits: keys of 250 bytes, values of maxValueBytes, lines of 2048 bytes', async (t) => {
  const k250 = 'k'.repeat(250)
  const k251 = 'k'.repeat(251)
  t.same(replies(`get ${k250}\r\n`), ['GET'])
  t.same(replies(`get a ${k251} b\r\n`), [TextReply.BAD_FORMAT], 'one long key rejects the whole get')
  t.same(replies(`set ${k250} 0 0 1\r\nx\r\n`), ['SET'])
  t.same(replies(`set ${k251} 0 0 1\r\nx\r\nversion\r\n`), [TextReply.BAD_FORMAT, 'VERSION'], 'a long key swallows its block')
  t.same(replies(`get ${'k'.repeat(17)}\r\n`, { ...LIMITS, maxKeyBytes: 16 }), [TextReply.BAD_FORMAT], 'a lower server key limit applies')

  t.same(replies(`set v 0 0 1024\r\n${'x'.repeat(1024)}\r\n`), ['SET'], 'a value of exactly the limit')
  const tooLarge = `set v 0 0 1025\r\n${'x'.repeat(1025)}\r\nversion\r\n`
  t.same(replies(tooLarge), [TextReply.TOO_LARGE, 'VERSION'], 'one byte more is refused and swallowed')
  const bytes = Buffer.from(tooLarge)
  for (let i = 1; i < bytes.length; i += 97) {
    t.same(feed([bytes.subarray(0, i), bytes.subarray(i)]).map(label), [TextReply.TOO_LARGE, 'VERSION'], `swallow split at ${i}`)
  }
  t.same(replies(`set v 0 0 1025 noreply\r\n${'x'.repeat(1025)}\r\nversion\r\n`).slice(1), ['VERSION'])
  t.equal(whole(`set v 0 0 1025 noreply\r\n${'x'.repeat(1025)}\r\n`)[0]!['noreply'], true, 'too large with noreply is silent')

  const line2048 = `foo ${'x'.repeat(TEXT_MAX_LINE_BYTES - 6)}\r\n`
  t.equal(line2048.length, TEXT_MAX_LINE_BYTES)
  t.same(replies(line2048), [TextReply.ERROR], 'a line of exactly 2048 bytes is read')
  const line2049 = `foo ${'x'.repeat(TEXT_MAX_LINE_BYTES - 5)}\r\n`
  t.same(whole(line2049), [{ kind: 'FATAL', reply: TextReply.LINE_TOO_LONG, noreply: false }], 'one byte more loses framing')
  t.same(whole('x'.repeat(TEXT_MAX_LINE_BYTES)), [{ kind: 'FATAL', reply: TextReply.LINE_TOO_LONG, noreply: false }], 'without a newline too')
  t.same(whole('x'.repeat(TEXT_MAX_LINE_BYTES - 1)), [], 'one byte less still waits')

  const keys = Array.from({ length: 1000 }, (_, i) => `key${i}`)
  const longGet = `get ${keys.join(' ')}\r\n`
  t.ok(longGet.length > TEXT_MAX_LINE_BYTES && longGet.length <= 8192)
  t.same(whole(longGet)[0]!['keys'], keys, 'a multi-key get may exceed 2048 bytes')
  const mid = Buffer.from(longGet)
  t.same(feed([mid.subarray(0, 2047), mid.subarray(2047, 2049), mid.subarray(2049)])[0]!['keys'], keys, 'split around the 2048 boundary')
  const retrievalLimit = `gets ${'k '.repeat(4093)}\r\n`
  t.equal(retrievalLimit.length, 8193)
  t.same(whole(retrievalLimit).map((r) => r['kind']), ['FATAL'], 'a retrieval line past maxRetrievalLineBytes loses framing')
})

t.test('number parsers accept exactly their ranges', async (t) => {
  const b = (s: string): Buffer => Buffer.from(s)
  const u32 = (s: string): number => parseUint32(b(s), 0, s.length)
  const i32 = (s: string): number => parseInt32(b(s), 0, s.length)
  const u64 = (s: string): bigint | null => parseUint64(b(s), 0, s.length)
  t.equal(u32('0'), 0)
  t.equal(u32('4294967295'), 4294967295)
  t.equal(u32('4294967296'), -1)
  t.equal(u32('-1'), -1)
  t.equal(u32(''), -1)
  t.equal(u32('+1'), -1)
  t.equal(i32('-2147483648'), -2147483648)
  t.equal(i32('2147483647'), 2147483647)
  t.ok(Number.isNaN(i32('2147483648')))
  t.ok(Number.isNaN(i32('-')))
  t.ok(Number.isNaN(i32('1x')))
  t.equal(u64('18446744073709551615'), 18446744073709551615n)
  t.equal(u64('18446744073709551616'), null)
  t.equal(u64('123456789012345678901'), null)
  t.equal(u64('12a'), null)
})

t.test('tag_set / tag_invalidate (extensions): fields, and empty tags refused with the block swallowed', async (t) => {
  t.match(whole('tag_set k 3 7 2 a,bc\r\nxy\r\n'), [{ op: 'TAG_SET', keys: ['k'], flags: 3, exptime: 7, tags: 'a,bc', value: 'xy', noreply: false }])
  t.match(whole('tag_invalidate team-7 noreply\r\n'), [{ op: 'TAG_INVALIDATE', tags: 'team-7', noreply: true }])
  t.same(replies('tag_set k 0 0 2 a,,b\r\nxy\r\nversion\r\n'), [TextReply.BAD_FORMAT, 'VERSION'], 'block swallowed, next line parsed')
  t.same(replies('tag_set k 0 0 2000 a\r\n' + 'x'.repeat(2000) + '\r\nversion\r\n'), [TextReply.TOO_LARGE, 'VERSION'], 'value limit as for set')
  t.same(replies('tag_set k 0 0 2\r\nxy\r\n'), [TextReply.ERROR, TextReply.ERROR], 'without a tags token it is not a storage line')
  t.same(replies('tag_invalidate a b\r\n'), [TextReply.BAD_FORMAT])
})
