import t from 'tap'
import {
  DEFAULT_MAX_FRAME_BYTES, DecodeStatus, FRAME_HEADER_BYTES, FrameDecoder, FrameKind, decodeErrorPayload,
  encodeErrorPayload, encodeFrame, encodeFrameHeader
} from '../../src/cluster/peer-frame.js'
import {
  AUTH_CONTEXT, NONCE_BYTES, PEER_PROTOCOL_VERSION, authProof, decodeHello, encodeHello, verifyAuthProof
} from '../../src/cluster/peer-handshake.js'
import { createHmac, randomBytes } from 'node:crypto'

interface Decoded { kind: number, type: number, id: number, payload: string }
interface Outcome { frames: Decoded[], error: string | null, needMore: boolean }

function decode (chunks: Buffer[], maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Outcome {
  const decoder = new FrameDecoder(maxFrameBytes)
  const frames: Decoded[] = []
  let status: DecodeStatus = DecodeStatus.NEED_MORE
  for (const chunk of chunks) {
    decoder.push(chunk)
    for (;;) {
      status = decoder.next()
      if (status !== DecodeStatus.FRAME) break
      const { kind, type, id, payload } = decoder.frame
      frames.push({ kind, type, id, payload: payload.toString('hex') })
    }
    if (status === DecodeStatus.ERROR) return { frames, error: decoder.error, needMore: false }
  }
  return { frames, error: null, needMore: status === DecodeStatus.NEED_MORE }
}

/** Every way of cutting `bytes` in two, plus byte by byte. */
function splits (bytes: Buffer): Buffer[][] {
  const ways: Buffer[][] = []
  for (let i = 0; i <= bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)])
  ways.push([...bytes].map((byte) => Buffer.from([byte])))
  return ways
}

const frameBytes = (kind: FrameKind, type: number, id: number, payload?: Buffer | Buffer[]): Buffer => Buffer.concat(encodeFrame(kind, type, id, payload))

t.test('encodeFrameHeader - lays out length, kind, type, reserved and id little-endian', async (t) => {
  const header = encodeFrameHeader(FrameKind.REQUEST, 0xab, 0x01020304, 5)
  t.same([...header], [13, 0, 0, 0, 3, 0xab, 0, 0, 4, 3, 2, 1])
  t.equal(header.length, FRAME_HEADER_BYTES)
})

t.test('encodeFrame - a multi-buffer payload is written as one frame without concatenation', async (t) => {
  const a = Buffer.from('hello ')
  const b = Buffer.from('world')
  const chunks = encodeFrame(FrameKind.MESSAGE, 7, 0, [a, Buffer.alloc(0), b])
  t.equal(chunks.length, 3, 'header + the two non-empty parts')
  t.equal(chunks[1], a, 'the payload buffers themselves, not copies')
  t.equal(chunks[2], b)
  t.same(decode([Buffer.concat(chunks)]).frames, [{ kind: FrameKind.MESSAGE, type: 7, id: 0, payload: Buffer.from('hello world').toString('hex') }])
})

t.test('FrameDecoder - every kind round trips whole and split at every byte boundary', async (t) => {
  const stream = Buffer.concat([
    frameBytes(FrameKind.HELLO, 0, 0, Buffer.from([1, 2, 3])),
    frameBytes(FrameKind.AUTH, 0, 0, randomBytes(32)),
    frameBytes(FrameKind.REQUEST, 255, 0xffffffff, [Buffer.from('ab'), Buffer.from('cd')]),
    frameBytes(FrameKind.RESPONSE, 1, 42),
    frameBytes(FrameKind.ERROR, 2, 43, encodeErrorPayload('PEER_BUSY', 'full')),
    frameBytes(FrameKind.MESSAGE, 3, 0, randomBytes(300)),
    frameBytes(FrameKind.GOODBYE, 0, 0)
  ])
  const whole = decode([stream])
  t.equal(whole.frames.length, 7)
  t.same(whole.frames.map((frame) => frame.kind), [1, 2, 3, 4, 5, 6, 7])
  t.same(whole.frames[2], { kind: 3, type: 255, id: 0xffffffff, payload: Buffer.from('abcd').toString('hex') })
  t.same(whole.frames[3], { kind: 4, type: 1, id: 42, payload: '' })
  t.ok(whole.needMore)
  t.equal(whole.error, null)
  let mismatches = 0
  for (const chunks of splits(stream)) {
    const split = decode(chunks)
    if (JSON.stringify(split) !== JSON.stringify(whole)) mismatches++
  }
  t.equal(mismatches, 0, 'every split decodes to the same frames')
})

t.test('FrameDecoder - a payload spanning chunks is one copy that later pushes do not change', async (t) => {
  const decoder = new FrameDecoder()
  const frame = frameBytes(FrameKind.MESSAGE, 9, 0, Buffer.from('0123456789'))
  decoder.push(frame.subarray(0, 15))
  t.equal(decoder.next(), DecodeStatus.NEED_MORE)
  decoder.push(frame.subarray(15))
  t.equal(decoder.next(), DecodeStatus.FRAME)
  const payload = decoder.frame.payload
  decoder.push(frameBytes(FrameKind.MESSAGE, 9, 0, Buffer.from('xxxxxxxxxx')))
  t.equal(decoder.next(), DecodeStatus.FRAME)
  t.equal(payload.toString(), '0123456789')
  t.equal(decoder.bufferedBytes, 0)
})

t.test('FrameDecoder - a frame over maxFrameBytes is refused from its length field alone', async (t) => {
  const big = frameBytes(FrameKind.REQUEST, 1, 1, Buffer.alloc(100))
  const refused = decode([big.subarray(0, 5)], 100)
  t.match(refused.error, /over the 100-byte limit/)
  t.same(refused.frames, [])
  t.same(decode([big], 112).frames.length, 1, 'exactly at the limit (header included) is accepted')
  t.match(decode([big], 111).error, /112 bytes is over the 111-byte limit/)
})

t.test('FrameDecoder - an unknown kind is refused and stays refused', async (t) => {
  for (const kind of [0, 8, 255]) {
    const bytes = Buffer.from(frameBytes(FrameKind.MESSAGE, 0, 0))
    bytes[4] = kind
    t.match(decode([bytes]).error, `unknown frame kind ${kind}`)
  }
  const decoder = new FrameDecoder()
  decoder.push(Buffer.from([8, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0]))
  t.equal(decoder.next(), DecodeStatus.ERROR)
  decoder.push(frameBytes(FrameKind.GOODBYE, 0, 0))
  t.equal(decoder.next(), DecodeStatus.ERROR, 'framing lost: later frames are not read')
})

t.test('FrameDecoder - a length shorter than a header is refused', async (t) => {
  t.match(decode([Buffer.from([3, 0, 0, 0, 1, 0, 0])]).error, /shorter than a frame header/)
})

t.test('FrameDecoder - rejects a maxFrameBytes below the header size', async (t) => {
  t.throws(() => new FrameDecoder(11), { name: 'RangeError', message: /maxFrameBytes must be an integer >= 12; received 11/ })
})

t.test('ERROR payload - code and utf8 message round trip; unknown codes become INTERNAL', async (t) => {
  const payload = encodeErrorPayload('PEER_TIMEOUT', 'zu spät ⏱')
  t.equal(payload.readUInt16LE(0), 'PEER_TIMEOUT'.length)
  t.same(decodeErrorPayload(payload), { code: 'PEER_TIMEOUT', message: 'zu spät ⏱' })
  const unknown = Buffer.concat([Buffer.from([4, 0]), Buffer.from('NOPEboom')])
  t.same(decodeErrorPayload(unknown), { code: 'INTERNAL', message: 'peer answered unknown error code "NOPE": boom' })
  t.equal(decodeErrorPayload(Buffer.from([9, 0, 65])), null, 'code length past the end')
  t.equal(decodeErrorPayload(Buffer.from([1])), null)
  t.same(decodeErrorPayload(Buffer.concat([Buffer.from([8, 0]), Buffer.from('toString')])), { code: 'INTERNAL', message: 'peer answered unknown error code "toString": ' }, 'no prototype keys')
})

t.test('HELLO - round trips and lays out version, nonce, node id and address', async (t) => {
  const nonce = randomBytes(NONCE_BYTES)
  const payload = encodeHello({ version: PEER_PROTOCOL_VERSION, nonce, nodeId: 'nöde-a', address: '10.0.0.1:7946' })
  t.equal(payload.readUInt16LE(0), 1)
  t.same(payload.subarray(2, 34), nonce)
  t.equal(payload.readUInt16LE(34), Buffer.byteLength('nöde-a'))
  t.same(decodeHello(payload), { version: 1, nonce, nodeId: 'nöde-a', address: '10.0.0.1:7946' })
  t.equal(decodeHello(payload.subarray(0, payload.length - 1)), null, 'truncated')
  t.equal(decodeHello(Buffer.concat([payload, Buffer.from([0])])), null, 'trailing bytes')
  t.equal(decodeHello(encodeHello({ version: 1, nonce, nodeId: '', address: 'x:1' })), null, 'empty node id')
  const v2 = Buffer.from(payload)
  v2.writeUInt16LE(2, 0)
  t.equal(decodeHello(v2)?.version, 2, 'another version is reported, not parsed')
})

t.test('AUTH - HMAC-SHA256 over context, the other nonce and the own node id; verified in constant time', async (t) => {
  const nonce = randomBytes(NONCE_BYTES)
  const proof = authProof('s3cret', nonce, 'node-b')
  const expected = createHmac('sha256', 's3cret').update(Buffer.concat([Buffer.from(AUTH_CONTEXT), nonce, Buffer.from('node-b')])).digest()
  t.same(proof, expected)
  t.ok(verifyAuthProof('s3cret', nonce, 'node-b', proof))
  t.notOk(verifyAuthProof('other', nonce, 'node-b', proof), 'wrong secret')
  t.notOk(verifyAuthProof('s3cret', randomBytes(NONCE_BYTES), 'node-b', proof), 'replayed against another nonce')
  t.notOk(verifyAuthProof('s3cret', nonce, 'node-c', proof), 'claimed by another node id')
  t.notOk(verifyAuthProof('s3cret', nonce, 'node-b', proof.subarray(0, 31)), 'short proof')
})
