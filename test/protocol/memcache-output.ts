import t from 'tap'
import { MemcacheOutput } from '../../src/protocol/memcache-output.js'
import { writeResponseHeader } from '../../src/protocol/memcache-binary.js'

t.test('writeResponseHeader - every field big-endian, including a cas above 2^32 and an opaque above 2^31', async (t) => {
  const out = new MemcacheOutput()
  writeResponseHeader(out, 0x0c, 0x0081, 0x1234, 4, 0x01020304, 0xfedcba98, 2 ** 52 + 2 ** 33 + 0x0badf00d)
  const expected = Buffer.alloc(24)
  expected[0] = 0x81
  expected[1] = 0x0c
  expected.writeUInt16BE(0x1234, 2)
  expected[4] = 4
  expected.writeUInt16BE(0x0081, 6)
  expected.writeUInt32BE(0x01020304, 8)
  expected.writeUInt32BE(0xfedcba98, 12)
  expected.writeBigUInt64BE(BigInt(2 ** 52 + 2 ** 33 + 0x0badf00d), 16)
  t.same(out.take(), expected)
})

t.test('writeUint32 and writeBytes - short and long copies, slices included', async (t) => {
  const out = new MemcacheOutput()
  const source = Buffer.alloc(300)
  for (let i = 0; i < source.length; i++) source[i] = (i * 11) & 0xff
  out.writeUint32(0xdeadbeef)
  out.writeUint32(-1)
  out.writeBytes(source, 5, 37) // 32 bytes: the loop
  out.writeBytes(source, 5, 38) // 33 bytes: a view
  out.writeBytes(source) // whole
  const expected = Buffer.concat([Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff]), source.subarray(5, 37), source.subarray(5, 38), source])
  t.same(out.take(), expected)
})

t.test('recycle - the buffer is reused from its start only when nothing is pending', async (t) => {
  const out = new MemcacheOutput()
  out.writeAscii('first')
  const first = out.take()!
  out.recycle()
  out.writeAscii('again')
  const second = out.take()!
  t.equal(second.buffer, first.buffer)
  t.equal(second.byteOffset, first.byteOffset, 'written at the front again')
  t.equal(second.toString(), 'again')
  out.writeAscii('kept')
  out.recycle() // replies pending: must not move or drop them
  t.equal(out.take()!.toString(), 'kept')
  out.writeAscii('next') // without recycle (socket still writing): after the taken bytes
  const next = out.take()!
  t.equal(next.toString(), 'next')
  t.equal(second.toString(), 'again', 'bytes a socket may still hold are not overwritten')
})

t.test('expectValue/claimValue/commitValue - a value placed by a reader joins the reply only when committed, after its prefix', async (t) => {
  const out = new MemcacheOutput()
  out.writeAscii('first')
  const expected: Buffer[] = [Buffer.from('first')]
  const taken: Buffer[] = []
  for (const length of [0, 5, 100, 9000, 70_000, 3]) {
    const prefix = Buffer.from(`<prefix ${length}>`)
    out.expectValue(prefix.length)
    // A torn attempt at another length, then the one that holds; each may move the buffer.
    const torn = out.claimValue(length + 9)
    out.sinkBytes.fill(0x58, torn, torn + length + 12)
    const at = out.claimValue(length)
    t.ok(out.sinkWords.buffer === out.sinkBytes.buffer && out.sinkBytes.byteOffset === 0, 'words view the same memory from byte 0')
    t.ok(out.sinkWords.length * 4 >= at + length + 3, 'room for the value and the word-copy slack')
    const value = Buffer.from(Array.from({ length }, (_, i) => (i * 3 + length) & 0xff))
    value.copy(out.sinkBytes, at)
    out.sinkBytes.fill(0x58, at + length, at + length + 3)
    out.writeBytes(prefix)
    out.commitValue()
    expected.push(prefix, value)
    // A claim never committed (the read missed) leaves nothing behind.
    out.expectValue(4)
    const missed = out.claimValue(10)
    out.sinkBytes.fill(0x59, missed, missed + 13)
    out.writeAscii('miss')
    expected.push(Buffer.from('miss'))
    if (length === 100) taken.push(Buffer.from(out.take()!)) // later claims start after taken bytes
  }
  taken.push(Buffer.from(out.take()!))
  t.ok(Buffer.concat(taken).equals(Buffer.concat(expected)))
})
