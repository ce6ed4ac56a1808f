import t, { type Test } from 'tap'
import { connect, type Socket } from 'node:net'
import memjs from 'memjs'
import WebSocket from 'ws'
import { StreamClient, type WebSocketConstructor } from '../../src/client/stream-client.js'
import { StreamClosedError, StreamStatusError } from '../../src/client/stream-errors.js'
import { Opcode, Status, encodeRequest, storeExtras } from '../../src/client/stream-protocol.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'

const WS = WebSocket as unknown as WebSocketConstructor

async function client (t: Test, server: TestServer): Promise<StreamClient> {
  const stream = await StreamClient.connect(`ws://127.0.0.1:${server.httpPort}/v1/stream`, { WebSocket: WS })
  t.teardown(async () => await stream.close())
  return stream
}

/** A raw WebSocket: sends bytes or text, collects binary messages, reports the close. */
class RawWs {
  readonly socket: WebSocket
  readonly messages: Buffer[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  #wake: (() => void) | null = null

  private constructor (socket: WebSocket) {
    this.socket = socket
    socket.on('message', (data: Buffer) => { this.messages.push(data); this.#wake?.() })
    socket.on('error', () => {})
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => { this.#wake?.(); resolve({ code, reason: reason.toString() }) }))
  }

  static async open (server: TestServer): Promise<RawWs> {
    const socket = new WebSocket(`ws://127.0.0.1:${server.httpPort}/v1/stream`)
    await new Promise<void>((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
    return new RawWs(socket)
  }

  /** Waits until the received bytes hold `count` complete response frames; returns and removes them. */
  async frames (count: number): Promise<Array<{ opcode: number, status: number, opaque: number, key: string, value: Buffer }>> {
    for (;;) {
      const bytes = Buffer.concat(this.messages)
      const frames = []
      let offset = 0
      while (offset + 24 <= bytes.length && offset + 24 + bytes.readUInt32BE(offset + 8) <= bytes.length && frames.length < count) {
        const body = bytes.readUInt32BE(offset + 8)
        const keyLength = bytes.readUInt16BE(offset + 2)
        const extras = bytes[offset + 4]!
        frames.push({
          opcode: bytes[offset + 1]!,
          status: bytes.readUInt16BE(offset + 6),
          opaque: bytes.readUInt32BE(offset + 12),
          key: bytes.toString('latin1', offset + 24 + extras, offset + 24 + extras + keyLength),
          value: bytes.subarray(offset + 24 + extras + keyLength, offset + 24 + body)
        })
        offset += 24 + body
      }
      if (frames.length === count) {
        this.messages.length = 0
        if (offset < bytes.length) this.messages.push(bytes.subarray(offset))
        return frames
      }
      if (this.socket.readyState !== WebSocket.OPEN) throw new Error(`closed while waiting for ${count} frames (have ${frames.length})`)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} frames`)), 10_000)
        this.#wake = () => { clearTimeout(timer); this.#wake = null; resolve() }
      })
    }
  }
}

const bytes = (text: string): Buffer => Buffer.from(text)
const frame = (opcode: number, opaque: number, key = '', value = '', extras: Uint8Array | null = null): Buffer =>
  Buffer.from(encodeRequest(opcode, opaque, extras, key === '' ? null : bytes(key), value === '' ? null : bytes(value)))

t.test('stream client - every command', async (t) => {
  const server = await startTestServer(t)
  const stream = await client(t, server)
  const cas = await stream.set('k', 'v1', { flags: 0xdeadbeef })
  t.ok(cas > 0, 'set answers with the new cas')
  const item = await stream.get('k')
  t.equal(Buffer.from(item!.value).toString(), 'v1')
  t.equal(item!.flags, 0xdeadbeef, 'flags round-trip')
  t.equal(item!.cas, cas)
  t.equal(await stream.get('missing'), null, 'a miss is null')

  const exists = await stream.add('k', 'x').catch((error: unknown) => error)
  t.ok(exists instanceof StreamStatusError, 'add of a present key rejects with a typed error')
  t.equal((exists as StreamStatusError).status, Status.KEY_EXISTS)
  t.equal((exists as StreamStatusError).statusName, 'KEY_EXISTS')
  t.equal((exists as StreamStatusError).code, 'STREAM_STATUS')
  t.ok(await stream.add('k2', 'fresh') > 0, 'add of an absent key stores')
  const absent = await stream.replace('nope', 'x').catch((error: unknown) => error) as StreamStatusError
  t.equal(absent.status, Status.KEY_NOT_FOUND, 'replace of an absent key: KEY_NOT_FOUND')
  t.ok(await stream.replace('k2', 'replaced') > 0)
  await stream.append('k2', '>')
  await stream.prepend('k2', '<')
  t.equal(Buffer.from((await stream.get('k2'))!.value).toString(), '<replaced>', 'append and prepend')
  const stale = await stream.set('k', 'v2', { cas: cas + 1 }).catch((error: unknown) => error) as StreamStatusError
  t.equal(stale.status, Status.KEY_EXISTS, 'set with a stale cas: KEY_EXISTS')
  t.ok(await stream.set('k', 'v2', { cas }) > 0, 'set with the current cas stores')

  t.equal(await stream.incr('n'), null, 'incr of an absent key without initial is null')
  t.equal(await stream.incr('n', 5, { initial: 10 }), 10n, 'incr creates with the initial value')
  t.equal(await stream.incr('n', 5), 15n)
  t.equal(await stream.decr('n', 100n), 0n, 'decr stops at 0')
  t.equal(await stream.incr('n', 2n ** 64n - 1n), 2n ** 64n - 1n, '64-bit range')
  t.equal(await stream.incr('n', 1), 0n, 'incr wraps')
  const nonNumeric = await stream.incr('k', 1).catch((error: unknown) => error) as StreamStatusError
  t.equal(nonNumeric.status, Status.NON_NUMERIC)

  t.equal(await stream.touch('k', 100), true)
  t.equal(await stream.touch('missing', 100), false)
  t.equal(Buffer.from((await stream.gat('k', 200))!.value).toString(), 'v2')
  t.equal(await stream.delete('k'), true)
  t.equal(await stream.delete('k'), false, 'delete of an absent key is false')
  t.match(await stream.version(), /^1\.6\.0-slabcache-/)
  await stream.noop()
  const stats = await stream.stats()
  t.ok(Number(stats.get('cmd_set')) >= 5, 'stats counts the stream\'s commands')
  await stream.saslPlain('anyone', 'secret')
  await stream.flush()
  t.equal(await stream.get('k2'), null, 'flush removed everything')
  t.equal(await stream.get('n'), null)
})

t.test('stream client - setTagged and invalidateTag (the binary tag extensions)', async (t) => {
  const server = await startTestServer(t, { limits: { maxTagsPerItem: 2 } })
  const stream = await client(t, server)
  t.ok(await stream.setTagged('a', 'va', ['t1', 't2'], { flags: 3 }) > 0, 'resolves with the new cas')
  await stream.setTagged(new Uint8Array([0x62]), 'vb', [new Uint8Array([0x74, 0x31])])
  await stream.set('c', 'vc')
  const put = await fetch(`http://127.0.0.1:${server.httpPort}/v1/cache/h?tags=t1`, { method: 'PUT', body: 'vh' })
  t.equal(put.status, 204)
  const item = await stream.get('a')
  t.same([Buffer.from(item!.value).toString(), item!.flags], ['va', 3])
  t.equal(await stream.invalidateTag('t1'), 3, 'a, b and the key tagged over HTTP')
  t.equal(await stream.get('a'), null)
  t.equal(await stream.get('h'), null)
  t.equal(Buffer.from((await stream.get('c'))!.value).toString(), 'vc', 'the untagged key stays')
  t.equal(await stream.invalidateTag('t2'), 0)
  const tooMany = await stream.setTagged('d', 'x', ['1', '2', '3']).catch((error: unknown) => error) as StreamStatusError
  t.equal(tooMany.statusName, 'INVALID_ARGUMENTS')
  t.match(tooMany.message, /at most 2 tags; received 3/)
  await t.rejects(stream.setTagged('d', 'x', ['a,b']), RangeError, 'a comma in a tag is refused before sending')
  await t.rejects(stream.setTagged('d', 'x', []), RangeError, 'so is an empty tag list')
  t.equal(await stream.get('d'), null)
})

t.test('stream client - a write pipelined behind a flush survives it (replies wait for the flush)', async (t) => {
  const server = await startTestServer(t)
  const stream = await client(t, server)
  await stream.set('old', 'x')
  const flushed = stream.flush()
  const stored = stream.set('new', 'y')
  const read = stream.get('new')
  await flushed
  t.ok(await stored > 0)
  t.equal(Buffer.from((await read)!.value).toString(), 'y', 'the set after the flush ran after it')
  t.equal(await stream.get('old'), null)
})

t.test('stream client - flush with a delay runs when the (debug) clock passes it', async (t) => {
  const server = await startTestServer(t, { debug: { clockControl: true } })
  const stream = await client(t, server)
  await stream.set('delayed', 'x')
  await stream.flush(10)
  t.ok(await stream.get('delayed'), 'not flushed before its time')
  await fetch(`${server.url}/v1/debug/clock`, { method: 'POST', body: JSON.stringify({ advanceMs: 10_000 }) })
  t.equal(await stream.get('delayed'), null, 'flushed once the clock passed the delay')
})

t.test('stream client - pipelining 1000 requests, replies matched by opaque', async (t) => {
  const server = await startTestServer(t)
  const stream = await client(t, server)
  const sets = Array.from({ length: 500 }, async (_, i) => await stream.set(`p${i}`, `value-${i}`))
  const gets = Array.from({ length: 500 }, async (_, i) => await stream.get(`p${i}`))
  t.equal(stream.inFlight, 1000, 'all 1000 requests are in flight at once')
  const casValues = await Promise.all(sets)
  const items = await Promise.all(gets)
  t.same(items.map((item) => Buffer.from(item!.value).toString()), Array.from({ length: 500 }, (_, i) => `value-${i}`))
  t.same(items.map((item) => item!.cas), casValues, 'each get carries the cas its set answered with')
  t.equal(stream.inFlight, 0)
})

t.test('stream client - quiet variants settle when a later reply passes them', async (t) => {
  const server = await startTestServer(t)
  const stream = await client(t, server)
  const quiet = [stream.setQuiet('q1', 'a'), stream.setQuiet('q2', 'b'), stream.setQuiet('q3', 'c')]
  const tooLarge = stream.setQuiet('q4', 'x'.repeat(server.engine.config.limits.maxValueBytes + 1)).catch((error: unknown) => error)
  await stream.noop()
  await Promise.all(quiet)
  t.equal(((await tooLarge) as StreamStatusError).status, Status.VALUE_TOO_LARGE, 'a failed quiet set rejects')
  const many = await stream.getMany(['q1', 'missing', 'q3', 'q2'])
  t.same(many.map((item) => item === null ? null : Buffer.from(item.value).toString()), ['a', null, 'c', 'b'])
  const missing = await stream.deleteQuiet('missing').catch((error: unknown) => error) as StreamStatusError
  t.equal(missing.status, Status.KEY_NOT_FOUND, 'DELETEQ of an absent key still answers (errors are always sent)')
})

t.test('raw - several frames per message and frames split across messages at every offset', async (t) => {
  const server = await startTestServer(t)
  const raw = await RawWs.open(server)
  t.teardown(() => raw.socket.close())
  const batch = Buffer.concat([
    frame(Opcode.SET, 1, 'split', 'value with \r\n and \u0000', storeExtras(7, 0)),
    frame(Opcode.GETK, 2, 'split'),
    frame(Opcode.GETQ, 3, 'absent'),
    frame(Opcode.DELETE, 4, 'absent'),
    frame(Opcode.NOOP, 5)
  ])
  raw.socket.send(batch)
  const whole = await raw.frames(4)
  t.same(whole.map((f) => [f.opcode, f.status, f.opaque]), [
    [Opcode.SET, Status.SUCCESS, 1], [Opcode.GETK, Status.SUCCESS, 2], [Opcode.DELETE, Status.KEY_NOT_FOUND, 4], [Opcode.NOOP, Status.SUCCESS, 5]
  ], 'one message, five frames: four replies (the GETQ miss is silent)')
  t.equal(whole[1]!.key, 'split')
  t.equal(whole[1]!.value.toString(), 'value with \r\n and \u0000')
  for (let cut = 1; cut < batch.length; cut++) {
    raw.socket.send(batch.subarray(0, cut))
    raw.socket.send(batch.subarray(cut))
    const replies = await raw.frames(4)
    const same = replies.map((f) => [f.opcode, f.status, f.opaque, f.key, f.value.toString()])
    if (JSON.stringify(same) !== JSON.stringify(whole.map((f) => [f.opcode, f.status, f.opaque, f.key, f.value.toString()]))) {
      t.fail(`split at ${cut} answered differently: ${JSON.stringify(same)}`)
      return
    }
  }
  t.pass(`the batch split at each of ${batch.length - 1} offsets answers the same`)
  // One frame in single-byte messages.
  for (const byte of frame(Opcode.GETK, 9, 'split')) raw.socket.send(Buffer.from([byte]))
  const [single] = await raw.frames(1)
  t.equal(single!.opaque, 9, 'a frame sent one byte per message is answered')
})

t.test('raw - a text message is refused with 1003 and the server keeps serving', async (t) => {
  const server = await startTestServer(t)
  const raw = await RawWs.open(server)
  raw.socket.send('get foo\r\n')
  const closed = await raw.closed
  t.equal(closed.code, 1003)
  t.match(closed.reason, /text message refused/)
  const stream = await client(t, server)
  t.match(await stream.version(), /slabcache/, 'a new connection is served')
})

t.test('raw - a binary stream that is not memcached binary is closed with 1002', async (t) => {
  const server = await startTestServer(t)
  const raw = await RawWs.open(server)
  raw.socket.send(bytes('get foo\r\n'))
  const closed = await raw.closed
  t.equal(closed.code, 1002)
  t.match(closed.reason, /first byte 0x67, expected 0x80/)
})

t.test('raw - lost framing answers the error, then closes with 1002; QUIT closes with 1000', async (t) => {
  const server = await startTestServer(t)
  const raw = await RawWs.open(server)
  const bad = frame(Opcode.NOOP, 2)
  bad[0] = 0x42
  raw.socket.send(Buffer.concat([frame(Opcode.NOOP, 1), bad]))
  const replies = await raw.frames(2)
  t.same(replies.map((f) => [f.opcode, f.status]), [[Opcode.NOOP, Status.SUCCESS], [Opcode.NOOP, Status.INVALID_ARGUMENTS]])
  const closed = await raw.closed
  t.equal(closed.code, 1002)
  t.match(closed.reason, /framing lost/)

  const stream = await client(t, server)
  await stream.quit()
  const late = await stream.get('x').catch((error: unknown) => error)
  t.ok(late instanceof StreamClosedError, 'requests after the close reject with StreamClosedError')
  t.equal((late as StreamClosedError).closeCode, 1000)
})

t.test('limits - message size and value size at the boundary', async (t) => {
  const server = await startTestServer(t, { limits: { maxValueBytes: 1024, maxRequestBytes: 2048 } })
  const stream = await client(t, server)
  t.ok(await stream.set('max', 'v'.repeat(1024)) > 0, 'a value of exactly max-value-bytes is stored')
  const tooLarge = await stream.set('over', 'v'.repeat(1025)).catch((error: unknown) => error) as StreamStatusError
  t.equal(tooLarge.status, Status.VALUE_TOO_LARGE, 'one byte more: VALUE_TOO_LARGE, the connection stays')
  t.equal((await stream.get('max'))!.value.length, 1024)

  const raw = await RawWs.open(server)
  const exactly = frame(Opcode.GETK, 1, 'k'.repeat(2048 - 24))
  t.equal(exactly.length, 2048)
  raw.socket.send(exactly)
  const [miss] = await raw.frames(1)
  t.same([miss!.opcode, miss!.status, miss!.key.length], [Opcode.GETK, Status.KEY_NOT_FOUND, 2024], 'a message of exactly max-request-bytes is read')
  raw.socket.send(frame(Opcode.GETK, 2, 'k'.repeat(2049 - 24)))
  const closed = await raw.closed
  t.equal(closed.code, 1006, 'a message over max-request-bytes drops the connection')
  t.equal((await stream.get('max'))!.value.length, 1024, 'other connections and the data are unaffected')
  const fresh = await client(t, server)
  t.match(await fresh.version(), /slabcache/, 'new connections are served')
})

t.test('limits - stream connections count against max-connections with the TCP front ends', async (t) => {
  const server = await startTestServer(t, { limits: { maxConnections: 2 } })
  const first = await client(t, server)
  const second = await client(t, server)
  const raw = await RawWs.open(server)
  const closed = await raw.closed
  t.equal(closed.code, 1013, 'the third connection is refused with 1013 (try again later)')
  t.match(closed.reason, /too many connections/)
  await first.close()
  const third = await client(t, server)
  t.match(await third.version(), /slabcache/, 'a closed connection frees its place')
  t.match(await second.version(), /slabcache/)
})

t.test('data written over the stream is visible over the memcached TCP port, and back', async (t) => {
  const server = await startTestServer(t)
  const stream = await client(t, server)
  const tcp = memjs.Client.create(`127.0.0.1:${server.memcachePort}`, { retries: 0, timeout: 5, logger: { log: () => {} } })
  t.teardown(() => tcp.close())
  await stream.set('shared', 'from the stream', { flags: 42 })
  const got = await tcp.get('shared')
  t.equal(got.value?.toString(), 'from the stream')
  t.equal(got.flags?.readUInt32BE(0), 42)
  await tcp.set('back', 'from tcp', {})
  t.equal(Buffer.from((await stream.get('back'))!.value).toString(), 'from tcp')
})

/** A WebSocket client on a raw TCP socket, so that a test can stop reading (backpressure). */
class TcpWs {
  readonly socket: Socket
  #buffer = Buffer.alloc(0)
  #ended = false
  #wake: (() => void) | null = null

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => { this.#buffer = Buffer.concat([this.#buffer, chunk]); this.#wake?.() })
    socket.on('close', () => { this.#ended = true; this.#wake?.() })
    socket.on('error', () => {})
  }

  static async open (server: TestServer): Promise<TcpWs> {
    const socket = connect(server.httpPort, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const ws = new TcpWs(socket)
    socket.write('GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    const head = await ws.#until((b) => { const i = b.indexOf('\r\n\r\n'); return i < 0 ? -1 : i + 4 })
    if (!head.toString().startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${head.toString()}`)
    return ws
  }

  /** Sends `payload` as one masked binary message (a zero mask key leaves the bytes as they are). */
  send (payload: Buffer): void {
    const length = payload.length
    const header = length < 126 ? Buffer.from([0x82, 0x80 | length]) : Buffer.alloc(length < 65536 ? 4 : 10)
    if (length >= 126 && length < 65536) { header[0] = 0x82; header[1] = 0x80 | 126; header.writeUInt16BE(length, 2) }
    if (length >= 65536) { header[0] = 0x82; header[1] = 0x80 | 127; header.writeBigUInt64BE(BigInt(length), 2) }
    this.socket.write(Buffer.concat([header, Buffer.alloc(4), payload]))
  }

  /** The next server message: its opcode (2 binary, 8 close) and payload; null once the socket ended. */
  async message (): Promise<{ opcode: number, payload: Buffer } | null> {
    let opcode = 0
    const frame = await this.#until((b) => {
      if (b.length < 2) return -1
      let length = b[1]! & 0x7f
      let offset = 2
      if (length === 126) { if (b.length < 4) return -1; length = b.readUInt16BE(2); offset = 4 }
      if (length === 127) { if (b.length < 10) return -1; length = Number(b.readBigUInt64BE(2)); offset = 10 }
      opcode = b[0]! & 0x0f
      return b.length < offset + length ? -1 : offset + length
    }).catch(() => null)
    if (frame === null) return null
    const length = frame[1]! & 0x7f
    return { opcode, payload: frame.subarray(length === 126 ? 4 : length === 127 ? 10 : 2) }
  }

  async #until (take: (pending: Buffer) => number): Promise<Buffer> {
    for (;;) {
      const length = take(this.#buffer)
      if (length >= 0) {
        const bytes = this.#buffer.subarray(0, length)
        this.#buffer = this.#buffer.subarray(length)
        return bytes
      }
      if (this.#ended) throw new Error('socket ended')
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timed out')), 20_000)
        this.#wake = () => { clearTimeout(timer); this.#wake = null; resolve() }
      })
    }
  }
}

t.test('backpressure - a peer that does not read is paused, loses no reply, and is closed with 1008 past the input limit', async (t) => {
  const valueBytes = 64 * 1024
  const server = await startTestServer(t, { limits: { maxValueBytes: valueBytes, maxRequestBytes: 2 * valueBytes } })
  const stream = await client(t, server)
  await stream.set('big', Buffer.alloc(valueBytes, 0x61))
  // A peer that stops reading, then reads again: every reply arrives (paused, then resumed on drain).
  const slow = await TcpWs.open(server)
  t.teardown(() => slow.socket.destroy())
  slow.socket.pause()
  slow.send(Buffer.concat(Array.from({ length: 400 }, (_, i) => frame(Opcode.GET, i, 'big'))))
  slow.send(frame(Opcode.NOOP, 400))
  await new Promise((resolve) => setTimeout(resolve, 5))
  slow.socket.resume()
  let received = 0
  let inOrder = true
  let rest = Buffer.alloc(0)
  while (received < 401) {
    const message = await slow.message()
    if (message === null || message.opcode !== 2) break
    rest = Buffer.concat([rest, message.payload])
    while (rest.length >= 24 && rest.length >= 24 + rest.readUInt32BE(8)) {
      if (rest.readUInt32BE(12) !== received || rest.readUInt32BE(8) !== (received < 400 ? 4 + valueBytes : 0)) inOrder = false
      received++
      rest = rest.subarray(24 + rest.readUInt32BE(8))
    }
  }
  t.equal(received, 401, 'a peer that stopped reading gets every reply once it reads again')
  t.ok(inOrder, 'whole and in order')

  const ws = await TcpWs.open(server)
  t.teardown(() => ws.socket.destroy())
  ws.socket.pause()
  // 400 GETs ask for 25 MiB of replies, more than the kernel buffers hold, so replies back up
  // in uWS and the stream stops handling requests; then more input than the limit arrives.
  const gets = Buffer.concat(Array.from({ length: 400 }, (_, i) => frame(Opcode.GET, i, 'big')))
  ws.send(gets)
  const filler = frame(Opcode.GET, 0xffff, 'big')
  const chunk = Buffer.concat(Array.from({ length: Math.floor(2 * valueBytes / filler.length) }, () => filler))
  const limitBytes = 2 * valueBytes + 4 * 1024 * 1024
  for (let sent = 0; sent <= limitBytes + chunk.length; sent += chunk.length) ws.send(chunk)
  ws.socket.resume()
  let replies = 0
  let bytesOk = true
  let close: { opcode: number, payload: Buffer } | null = null
  let pending = Buffer.alloc(0)
  for (;;) {
    const message = await ws.message()
    if (message === null || message.opcode === 8) { close = message; break }
    pending = Buffer.concat([pending, message.payload])
    while (pending.length >= 24 && pending.length >= 24 + pending.readUInt32BE(8)) {
      const body = pending.readUInt32BE(8)
      if (replies < 400 && (pending.readUInt32BE(12) !== replies || body !== 4 + valueBytes)) bytesOk = false
      replies++
      pending = pending.subarray(24 + body)
    }
  }
  t.ok(replies > 0 && replies < 400, `the stream stopped handling requests while its replies waited (${replies} of 400 sent)`)
  t.ok(bytesOk, 'the replies sent before the close are whole, with their opaques in order')
  t.ok(close !== null, 'the server sent a close frame')
  t.equal(close!.payload.readUInt16BE(0), 1008)
  t.match(close!.payload.subarray(2).toString(), /input limit exceeded/)
  t.match(await stream.version(), /slabcache/, 'the server keeps serving')
})
