import t from 'tap'
import { ParseStatus, RespParser, type RespParserOptions } from '../../src/protocol/resp-parser.js'

interface Outcome { commands: string[][], error: string | null, needMore: boolean }

/** Feeds `chunks` one by one, draining after each; args are copied (they are only views). */
function parse (chunks: Buffer[], options: RespParserOptions = { maxBulkBytes: 1024 * 1024 }): Outcome {
  const parser = new RespParser(options)
  const commands: string[][] = []
  let error: string | null = null
  let status: ParseStatus = ParseStatus.NEED_MORE
  for (const chunk of chunks) {
    parser.feed(chunk)
    for (;;) {
      status = parser.next()
      if (status === ParseStatus.COMMAND) {
        commands.push(parser.argv.slice(0, parser.argc).map((arg) => Buffer.from(arg).toString('latin1')))
        continue
      }
      if (status === ParseStatus.ERROR) error = parser.error
      break
    }
    if (error !== null) break
  }
  return { commands, error, needMore: status === ParseStatus.NEED_MORE }
}

/** Every way of cutting `bytes` in two, plus byte by byte. */
function splits (bytes: Buffer): Buffer[][] {
  const ways: Buffer[][] = []
  for (let i = 0; i <= bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)])
  ways.push([...bytes].map((byte) => Buffer.from([byte])))
  return ways
}

function bulk (text: string): string {
  return `$${Buffer.byteLength(text, 'latin1')}\r\n${text}\r\n`
}

function multibulk (...args: string[]): string {
  return `*${args.length}\r\n${args.map(bulk).join('')}`
}

const VALID: Array<[string, string, string[][]]> = [
  ['multibulk - a one-word command', multibulk('PING'), [['PING']]],
  ['multibulk - an empty bulk', multibulk('SET', 'k', ''), [['SET', 'k', '']]],
  ['multibulk - binary bulk with CRLF and NUL inside', multibulk('SET', 'k\r\n', 'a\r\n\u0000b\r\n\u00ff'), [['SET', 'k\r\n', 'a\r\n\u0000b\r\n\u00ff']]],
  ['multibulk - *0 and *-1 are skipped without a command', `*0\r\n*-1\r\n${multibulk('PING')}`, [['PING']]],
  ['multibulk - several pipelined', multibulk('SET', 'a', '1') + multibulk('GET', 'a') + multibulk('DEL', 'a', 'b', 'c'), [['SET', 'a', '1'], ['GET', 'a'], ['DEL', 'a', 'b', 'c']]],
  ['inline - a plain command with CRLF', 'PING\r\n', [['PING']]],
  ['inline - LF alone ends a line', 'GET k\n', [['GET', 'k']]],
  ['inline - blank and whitespace-only lines are skipped', '\r\n   \r\n\t\nPING\r\n', [['PING']]],
  ['inline - double quotes with escapes', 'SET k "a b\\x41\\n\\t\\"q\\\\"\r\n', [['SET', 'k', 'a bA\n\t"q\\']]],
  ['inline - single quotes with an escaped quote', "ECHO 'it\\'s \"x\"'\r\n", [['ECHO', 'it\'s "x"']]],
  ['inline - empty quoted argument', 'SET k ""\r\n', [['SET', 'k', '']]],
  ['inline - a NUL ends the line like a C string', 'ECHO a\u0000 b\r\n', [['ECHO', 'a']]],
  ['mixed - inline and multibulk pipelined', 'PING\r\n' + multibulk('ECHO', 'x') + 'ECHO y\r\n', [['PING'], ['ECHO', 'x'], ['ECHO', 'y']]]
]

for (const [name, frame, expected] of VALID) {
  t.test(`${name}: the same commands whole and split at every byte offset`, async (t) => {
    const bytes = Buffer.from(frame, 'latin1')
    const whole = parse([bytes])
    t.same(whole, { commands: expected, error: null, needMore: true })
    for (const chunks of splits(bytes)) {
      const outcome = parse(chunks)
      if (!t.same(outcome, whole, `split into ${chunks.map((c) => c.length).join('+')} bytes`)) break
    }
  })
}

t.test('multibulk - arguments are views into the fed chunk, not copies', async (t) => {
  const chunk = Buffer.from(multibulk('SET', 'key', 'value'))
  const parser = new RespParser({ maxBulkBytes: 1024 })
  parser.feed(chunk)
  t.equal(parser.next(), ParseStatus.COMMAND)
  t.equal(parser.argc, 3)
  t.equal(parser.argv[2]!.buffer, chunk.buffer)
  t.equal(Buffer.from(parser.argv[2]!).toString(), 'value')
  t.equal(parser.bufferedBytes, 0)
})

t.test('multibulk - a repeated short command name is one reused copy; a new or long name is its own', async (t) => {
  const long = 'X'.repeat(17)
  const names = ['GET', 'GET', 'get', 'GET', 'SET', 'SET', 'GETT', 'GE', 'G', long, long, 'GET', 'x'.repeat(16), 'x'.repeat(16), 'x'.repeat(15) + 'y']
  const bytes = Buffer.from(names.map((name, i) => multibulk(name, `k${i}`)).join(''))
  // Whole, and split at every byte: names repeated across chunks must still read right.
  for (const chunks of [[bytes], ...splits(bytes).slice(0, 200)]) {
    t.same(parse(chunks).commands, names.map((name, i) => [name, `k${i}`]))
  }
  const parser = new RespParser({ maxBulkBytes: 1024 })
  const firstChunk = Buffer.from(multibulk('GET', 'a') + multibulk('GET', 'b'))
  parser.feed(firstChunk)
  t.equal(parser.next(), ParseStatus.COMMAND)
  const first = parser.argv[0]!
  t.not(first.buffer, firstChunk.buffer, 'the name is a copy, not a view of the input')
  t.equal(parser.argv[1]!.buffer, firstChunk.buffer, 'the other arguments are views')
  t.equal(parser.next(), ParseStatus.COMMAND)
  t.equal(parser.argv[0], first, 'the same name: the same copy')
  t.equal(parser.next(), ParseStatus.NEED_MORE)
  parser.feed(Buffer.from(multibulk('GET', 'c') + multibulk(long, 'd')))
  t.equal(parser.next(), ParseStatus.COMMAND)
  t.equal(parser.argv[0], first, 'still the same copy in a later chunk')
  t.equal(Buffer.from(first).toString(), 'GET')
  t.equal(parser.next(), ParseStatus.COMMAND)
  t.equal(Buffer.from(parser.argv[0]!).toString(), long, 'a long name is read as a view')
  t.equal(Buffer.from(first).toString(), 'GET', 'and a copy handed out earlier is never overwritten')
})

t.test('multibulk - a large bulk arriving in chunks is reassembled exactly', async (t) => {
  const value = Buffer.alloc(300_000)
  for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff
  const frame = Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${value.length}\r\n`), value, Buffer.from('\r\n'), Buffer.from(multibulk('PING'))])
  const parser = new RespParser({ maxBulkBytes: 1024 * 1024 })
  const seen: Buffer[][] = []
  for (let at = 0; at < frame.length; at += 7_001) {
    parser.feed(frame.subarray(at, at + 7_001))
    for (let s = parser.next(); s === ParseStatus.COMMAND; s = parser.next()) seen.push(parser.argv.map((a) => Buffer.from(a)))
  }
  t.equal(seen.length, 2)
  t.ok(seen[0]![2]!.equals(value))
  t.equal(seen[1]![0]!.toString(), 'PING')
})

const MALFORMED: Array<[string, string, string]> = [
  ['multibulk - a non-numeric count', '*x\r\n', 'Protocol error: invalid multibulk length'],
  ['multibulk - a count with a leading zero', '*01\r\n', 'Protocol error: invalid multibulk length'],
  ['multibulk - a count over 1048576', '*1048577\r\n', 'Protocol error: invalid multibulk length'],
  ['multibulk - CR not followed by LF in the count line', '*1\rx', 'Protocol error: invalid multibulk length'],
  ['multibulk - a non-bulk argument', '*2\r\n$3\r\nGET\r\n:1\r\n', "Protocol error: expected '$', got ':'"],
  ['multibulk - a negative bulk length', '*1\r\n$-5\r\n', 'Protocol error: invalid bulk length'],
  ['multibulk - a null bulk as an argument', '*1\r\n$-1\r\n', 'Protocol error: invalid bulk length'],
  ['multibulk - a non-numeric bulk length', '*1\r\n$x\r\n', 'Protocol error: invalid bulk length'],
  ['multibulk - bulk data not followed by CRLF', '*1\r\n$1\r\nab\r\n', "Protocol error: expected '\\r\\n' after bulk data"],
  ['inline - an unterminated double quote', 'SET "a\r\n', 'Protocol error: unbalanced quotes in request'],
  ['inline - a closing quote followed by a letter', 'ECHO "a"b\r\n', 'Protocol error: unbalanced quotes in request'],
  ['inline - an unterminated single quote', "ECHO 'a\r\n", 'Protocol error: unbalanced quotes in request']
]

for (const [name, frame, error] of MALFORMED) {
  t.test(`${name}: exact protocol error, whole and split`, async (t) => {
    const bytes = Buffer.from(frame, 'latin1')
    const whole = parse([bytes])
    t.equal(whole.error, error)
    for (const chunks of splits(bytes)) {
      const outcome = parse(chunks)
      if (!t.equal(outcome.error, error, `split into ${chunks.map((c) => c.length).join('+')} bytes`)) break
    }
  })
}

t.test('after a protocol error every next() is an error: framing is lost', async (t) => {
  const parser = new RespParser({ maxBulkBytes: 1024 })
  parser.feed(Buffer.from('*x\r\nPING\r\n'))
  t.equal(parser.next(), ParseStatus.ERROR)
  parser.feed(Buffer.from('PING\r\n'))
  t.equal(parser.next(), ParseStatus.ERROR)
})

t.test('limits - multibulk count of exactly 1048576 is accepted', async (t) => {
  const outcome = parse([Buffer.from('*1048576\r\n')])
  t.same(outcome, { commands: [], error: null, needMore: true })
})

t.test('limits - a bulk of exactly maxBulkBytes is accepted; one more is refused from its header alone', async (t) => {
  const options = { maxBulkBytes: 1000 }
  const ok = parse([Buffer.from(multibulk('SET', 'k', 'v'.repeat(1000)))], options)
  t.same(ok.commands, [['SET', 'k', 'v'.repeat(1000)]])
  // Only the header is fed: the error comes before any of the body is buffered.
  const refused = parse([Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1001\r\n')], options)
  t.equal(refused.error, 'Protocol error: invalid bulk length')
})

t.test('limits - a whole command over maxCommandBytes is refused at the bulk header that crosses it', async (t) => {
  const options = { maxBulkBytes: 100, maxCommandBytes: 200 }
  const frame = multibulk('MSET', 'a', 'x'.repeat(80), 'b', 'x'.repeat(80))
  t.ok(frame.length > 200)
  t.equal(parse([Buffer.from(frame)], options).error, 'Protocol error: too big request')
  t.same(parse([Buffer.from(multibulk('MSET', 'a', 'x'.repeat(80)))], options).commands, [['MSET', 'a', 'x'.repeat(80)]])
})

t.test('limits - inline line of 64 KiB is accepted; one byte more is refused, with or without its newline', async (t) => {
  const max = 64 * 1024
  const ok = 'ECHO ' + 'a'.repeat(max - 5)
  t.same(parse([Buffer.from(ok + '\n')]).commands, [['ECHO', 'a'.repeat(max - 5)]])
  t.equal(parse([Buffer.from(ok + 'a\n')]).error, 'Protocol error: too big inline request')
  t.equal(parse([Buffer.from(ok + 'a')]).error, 'Protocol error: too big inline request')
  t.same(parse([Buffer.from(ok)]), { commands: [], error: null, needMore: true }, 'exactly 64 KiB without newline waits')
})

t.test('limits - count and bulk-length lines without CR beyond 64 KiB are refused', async (t) => {
  t.equal(parse([Buffer.from('*' + '1'.repeat(70_000))]).error, 'Protocol error: too big mbulk count string')
  t.equal(parse([Buffer.from('*1\r\n$' + '1'.repeat(70_000))]).error, 'Protocol error: too big bulk count string')
})

t.test('a slow sender of a long inline line costs one scan per byte (no rescans)', async (t) => {
  const parser = new RespParser({ maxBulkBytes: 1024 })
  const started = process.hrtime.bigint()
  for (let i = 0; i < 60_000; i++) {
    parser.feed(Buffer.from('a'))
    if (parser.next() !== ParseStatus.NEED_MORE) break
  }
  parser.feed(Buffer.from('\n'))
  t.equal(parser.next(), ParseStatus.COMMAND)
  t.equal(parser.argv[0]!.length, 60_000)
  // Rescanning from the start each time would be 1.8e9 byte reads: far beyond a second.
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000)
})
