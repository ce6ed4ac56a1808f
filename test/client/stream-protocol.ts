import t from 'tap'
import { BinaryStatus, Opcode as ServerOpcode, REQUEST_MAGIC as SERVER_REQUEST_MAGIC, RESPONSE_MAGIC as SERVER_RESPONSE_MAGIC, BINARY_HEADER_BYTES } from '../../src/protocol/memcache-binary.js'
import { HEADER_BYTES, Opcode, REQUEST_MAGIC, RESPONSE_MAGIC, ResponseReader, Status, encodeRequest, statusName, storeExtras } from '../../src/client/stream-protocol.js'
import { StreamStatusError } from '../../src/client/stream-errors.js'

t.test('the client\'s protocol tables equal the server\'s', async (t) => {
  t.same(Opcode, ServerOpcode, 'opcodes')
  t.same(Status, BinaryStatus, 'statuses')
  t.equal(REQUEST_MAGIC, SERVER_REQUEST_MAGIC)
  t.equal(RESPONSE_MAGIC, SERVER_RESPONSE_MAGIC)
  t.equal(HEADER_BYTES, BINARY_HEADER_BYTES)
})

t.test('encodeRequest - header fields, extras, key and value in order', async (t) => {
  const frame = Buffer.from(encodeRequest(Opcode.SET, 0xfeedface, storeExtras(0xdeadbeef, 60), Buffer.from('key'), Buffer.from('value'), 2 ** 40 + 5))
  t.equal(frame.length, 24 + 8 + 3 + 5)
  t.same([frame[0], frame[1], frame.readUInt16BE(2), frame[4], frame[5], frame.readUInt16BE(6)], [0x80, Opcode.SET, 3, 8, 0, 0])
  t.equal(frame.readUInt32BE(8), 16, 'total body length')
  t.equal(frame.readUInt32BE(12), 0xfeedface, 'opaque')
  t.equal(frame.readUInt32BE(16) * 2 ** 32 + frame.readUInt32BE(20), 2 ** 40 + 5, 'cas')
  t.equal(frame.readUInt32BE(24), 0xdeadbeef, 'flags')
  t.equal(frame.readUInt32BE(28), 60, 'expiration')
  t.equal(frame.toString('latin1', 32), 'keyvalue')
})

/** A response frame as the server writes it. */
function response (opcode: number, status: number, opaque: number, key: string, value: string, extras = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(24)
  header[0] = 0x81
  header[1] = opcode
  header.writeUInt16BE(key.length, 2)
  header[4] = extras.length
  header.writeUInt16BE(status, 6)
  header.writeUInt32BE(extras.length + key.length + value.length, 8)
  header.writeUInt32BE(opaque, 12)
  header.writeUInt32BE(7, 20)
  return Buffer.concat([header, extras, Buffer.from(key), Buffer.from(value)])
}

t.test('ResponseReader - frames split at every offset and several per message read the same', async (t) => {
  const stream = Buffer.concat([
    response(Opcode.GETK, 0, 1, 'k', 'v', Buffer.from([0, 0, 0, 9])),
    response(Opcode.NOOP, 0, 2, '', ''),
    response(Opcode.DELETE, Status.KEY_NOT_FOUND, 3, '', 'Not found')
  ])
  const describe = (frames: ReturnType<ResponseReader['push']>): string => JSON.stringify(frames.map((f) => [f.opcode, f.status, f.opaque, f.cas, Buffer.from(f.extras).toString('hex'), Buffer.from(f.key).toString(), Buffer.from(f.value).toString()]))
  const whole = describe(new ResponseReader().push(new Uint8Array(stream)))
  t.equal(JSON.parse(whole).length, 3)
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new ResponseReader()
    const frames = [...reader.push(new Uint8Array(stream.subarray(0, cut))), ...reader.push(new Uint8Array(stream.subarray(cut)))]
    if (describe(frames) !== whole) { t.fail(`split at ${cut}`); return }
  }
  t.pass('every split point gives the same frames')
  t.throws(() => new ResponseReader().push(new Uint8Array(24).fill(0x80)), /out of sync/, 'a request magic where a response is expected')
})

t.test('StreamStatusError carries the status and its name', async (t) => {
  const error = new StreamStatusError(Opcode.ADD, Status.KEY_EXISTS, 'Data exists for key.')
  t.equal(error.name, 'StreamStatusError')
  t.equal(error.code, 'STREAM_STATUS')
  t.equal(error.status, 2)
  t.equal(error.statusName, 'KEY_EXISTS')
  t.match(error.message, /KEY_EXISTS \(0x0002\): Data exists/)
  t.equal(statusName(0x9999), 'UNKNOWN')
})
