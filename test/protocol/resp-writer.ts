import t from 'tap'
import { ParseStatus, RespParser } from '../../src/protocol/resp-parser.js'
import { RespWriter } from '../../src/protocol/resp-writer.js'

const INT64_MAX = 9223372036854775807n
const INT64_MIN = -9223372036854775808n
const SAFE = BigInt(Number.MAX_SAFE_INTEGER)

t.test('integer - numbers and BigInts print exactly, on both sides of the 2^53 fast path and at ±2^63', async (t) => {
  const values: bigint[] = [0n, 1n, -1n, 9n, 10n, -10n, 99n, 100n, 999n, 1000n, -1000n, 123456789n,
    SAFE - 1n, SAFE, SAFE + 1n, SAFE + 2n, -SAFE + 1n, -SAFE, -SAFE - 1n, -SAFE - 2n, INT64_MAX - 1n, INT64_MAX, INT64_MIN + 1n, INT64_MIN]
  const out = new RespWriter(16) // small, so the buffer must grow on the way
  let expected = ''
  for (const value of values) {
    out.integer(value)
    expected += `:${value}\r\n`
    if (value >= -SAFE && value <= SAFE) {
      out.integer(Number(value))
      expected += `:${value}\r\n`
    }
  }
  t.equal(out.take().toString('latin1'), expected)
})

t.test('bulk - values below, at and above the short-copy size, whole and as a slice of a larger buffer', async (t) => {
  const source = Buffer.alloc(6000)
  for (let i = 0; i < source.length; i++) source[i] = (i * 7 + 3) & 0xff
  const out = new RespWriter(16)
  const parts: Buffer[] = []
  for (const size of [0, 1, 31, 32, 33, 100, 128, 129, 5000]) {
    const slice = source.subarray(17, 17 + size)
    out.bulk(source, 17, 17 + size)
    out.bulk(Buffer.from(slice))
    const one = Buffer.concat([Buffer.from(`$${size}\r\n`), slice, Buffer.from('\r\n')])
    parts.push(one, one)
  }
  t.same(out.take(), Buffer.concat(parts))
})

t.test('claimValue/commitValue - a value written by a reader becomes a bulk reply only when committed', async (t) => {
  const out = new RespWriter(8) // small: claims must grow the buffer and keep earlier replies
  const fill = (at: number, length: number, seed: number): void => {
    for (let i = 0; i < length; i++) out.sinkBytes[at + i] = (i + seed) & 0xff
    // The store's word copy may write up to 3 bytes past the value: claimValue left room.
    for (let i = 0; i < 3; i++) out.sinkBytes[at + length + i] = 0x58
  }
  const expected: Buffer[] = []
  out.ok()
  expected.push(Buffer.from('+OK\r\n'))
  for (const length of [0, 1, 9, 10, 99, 100, 101, 1000, 70_000]) {
    // A torn first attempt at another length, then the one that holds.
    fill(out.claimValue(length + 7), length + 7, 1)
    const at = out.claimValue(length)
    t.ok(out.sinkWords.buffer === out.sinkBytes.buffer && out.sinkBytes.byteOffset === 0, 'words view the same memory from byte 0')
    t.ok(out.sinkWords.length * 4 >= at + length + 3, 'room for the word-copy slack')
    fill(at, length, 2)
    out.commitValue()
    expected.push(Buffer.concat([Buffer.from(`$${length}\r\n`), Buffer.from(Array.from({ length }, (_, i) => (i + 2) & 0xff)), Buffer.from('\r\n')]))
    // A claim that is never committed (the read missed) leaves no trace.
    fill(out.claimValue(5), 5, 3)
    out.nullBulk()
    expected.push(Buffer.from('$-1\r\n'))
  }
  t.ok(out.take().equals(Buffer.concat(expected)))
})

t.test('pending/sent - the buffer is reused after a complete write and replaced while a socket still holds it', async (t) => {
  const out = new RespWriter(64)
  out.simple('first')
  const first = out.pending()
  t.equal(first.toString(), '+first\r\n')
  out.sent(false)
  t.equal(out.length, 0)
  out.simple('again')
  const second = out.pending()
  t.equal(second.buffer, first.buffer, 'written at once: the same buffer serves the next batch')
  t.equal(second.toString(), '+again\r\n')
  out.sent(true)
  out.simple('third')
  const third = out.pending()
  t.not(third.buffer, second.buffer, 'retained by the socket: the next batch goes elsewhere')
  t.equal(second.toString(), '+again\r\n', 'the retained bytes are not overwritten')
  t.equal(third.toString(), '+third\r\n')
  out.sent(false)
  out.bulk(Buffer.alloc(100_000, 0x61)) // grows past what a connection keeps
  out.pending()
  out.sent(false)
  out.simple('small')
  t.ok(out.pending().buffer.byteLength < 100_000, 'a grown buffer is dropped once sent')
})

t.test('parser - reused argv arrays carry each command\'s own arguments; long commands get their own', async (t) => {
  const parser = new RespParser({ maxBulkBytes: 1024 })
  const wire = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`
  const many = Array.from({ length: 12 }, (_, i) => `a${i}`)
  parser.feed(Buffer.from(wire('GET', 'k1') + wire('GET', 'k2') + wire('SET', 'k', 'v') + wire('MSET', ...many) + wire('GET', 'k3')))
  const seen: string[][] = []
  const arrays: Uint8Array[][] = []
  while (parser.next() === ParseStatus.COMMAND) {
    t.equal(parser.argv.length, parser.argc, 'argv is exactly argc long')
    seen.push(parser.argv.map((arg) => Buffer.from(arg).toString()))
    arrays.push(parser.argv)
  }
  t.same(seen, [['GET', 'k1'], ['GET', 'k2'], ['SET', 'k', 'v'], ['MSET', ...many], ['GET', 'k3']])
  t.equal(arrays[0], arrays[1], 'two-argument commands share one array')
  t.not(arrays[2], arrays[0])
  t.same(arrays[2]!.map((arg) => arg.length), [0, 0, 0], 'once the input is used up, reused arrays drop their views (no pinned input)')
})
