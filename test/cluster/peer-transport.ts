import t, { type Test } from 'tap'
import { connect, createServer, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { SlabcacheError } from '../../src/errors.js'
import { ManualClock } from '../../src/util/clock.js'
import { DecodeStatus, FrameDecoder, FrameKind, decodeErrorPayload, encodeFrame, type PeerFrame } from '../../src/cluster/peer-frame.js'
import { NONCE_BYTES, authProof, decodeHello, encodeHello } from '../../src/cluster/peer-handshake.js'
import { PeerTransport, type PeerTransportOptions } from '../../src/cluster/peer-transport.js'

const SECRET = 'cluster-secret'

interface Node {
  transport: PeerTransport
  requests: Array<{ from: string, type: number, payload: Buffer }>
  messages: Array<{ from: string, type: number, payload: Buffer }>
  ups: Array<[string, string]>
  downs: Array<[string, string | null, string]>
  logs: Array<Record<string, unknown>>
  /** Resolves when `predicate()` holds, re-checked on every callback of this node. */
  until: (predicate: () => boolean) => Promise<void>
}

type Handler = (from: string, type: number, payload: Buffer) => Buffer | Promise<Buffer>

/** A transport on 127.0.0.1:port (0 = ephemeral) that records what it is told; closed at the test's end. */
async function startNode (t: Test, nodeId: string, options: Partial<PeerTransportOptions> & { handler?: Handler } = {}): Promise<Node> {
  const waiters: Array<{ predicate: () => boolean, resolve: () => void }> = []
  const poke = (): void => {
    for (const waiter of [...waiters]) {
      if (waiter.predicate()) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  }
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      poke()
      callback()
    }
  })
  const node: Node = {
    transport: null as unknown as PeerTransport,
    requests: [],
    messages: [],
    ups: [],
    downs: [],
    logs,
    until: async (predicate) => {
      if (predicate()) return
      await new Promise<void>((resolve) => { waiters.push({ predicate, resolve }) })
    }
  }
  const handler: Handler = options.handler ?? ((_from, _type, payload) => Buffer.concat([Buffer.from('re:'), payload]))
  node.transport = await PeerTransport.listen({
    nodeId,
    host: '127.0.0.1',
    port: 0,
    secret: SECRET,
    logger: pino({ level: 'debug' }, sink),
    handshakeTimeoutMs: 2000,
    ...options,
    onRequest: (from, type, payload) => {
      node.requests.push({ from, type, payload: Buffer.from(payload) })
      try {
        return handler(from, type, payload)
      } finally {
        poke() // after the handler ran: waiters may look at what it recorded
      }
    },
    onMessage: (from, type, payload) => {
      node.messages.push({ from, type, payload: Buffer.from(payload) })
      poke()
    },
    onLinkUp: (address, remoteNodeId) => { node.ups.push([address, remoteNodeId]); poke() },
    onLinkDown: (address, remoteNodeId, reason) => { node.downs.push([address, remoteNodeId, reason]); poke() }
  })
  t.teardown(async () => { await node.transport.close() })
  return node
}

/** The SlabcacheError a promise rejects with (fails the test if it resolves). */
async function rejection (promise: Promise<unknown>): Promise<SlabcacheError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof SlabcacheError) return error
    throw error
  }
  throw new Error('expected a rejection, got a result')
}

/** A raw TCP socket that collects the frames it receives. */
class RawPeer {
  readonly socket: Socket
  readonly frames: PeerFrame[] = []
  closed = false
  readonly #decoder = new FrameDecoder()
  #wake: (() => void) | null = null

  constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#decoder.push(chunk)
      while (this.#decoder.next() === DecodeStatus.FRAME) this.frames.push({ ...this.#decoder.frame, payload: Buffer.from(this.#decoder.frame.payload) })
      this.#wake?.()
    })
    socket.on('close', () => { this.closed = true; this.#wake?.() })
    socket.on('error', () => {})
  }

  static async open (t: Test, port: number): Promise<RawPeer> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    t.teardown(() => { socket.destroy() })
    return new RawPeer(socket)
  }

  send (kind: FrameKind, type: number, id: number, payload?: Buffer): void {
    this.socket.write(Buffer.concat(encodeFrame(kind, type, id, payload)))
  }

  async until (predicate: () => boolean): Promise<void> {
    while (!predicate()) {
      if (this.closed) throw new Error('raw peer socket closed while waiting')
      await new Promise<void>((resolve) => { this.#wake = resolve })
    }
  }

  async closedPromise (): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => { this.#wake = resolve })
  }
}

/** A port nothing listens on (bound once, then closed). */
async function deadPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  return port
}

t.test('request - answers with the RESPONSE payload and names the caller', async (t) => {
  const a = await startNode(t, 'node-a')
  const b = await startNode(t, 'node-b')
  const link = a.transport.link(b.transport.address)
  t.equal(link.connected, false, 'links dial lazily')
  const answer = await link.request(7, [Buffer.from('ping '), Buffer.from('pong')])
  t.equal(answer.toString(), 're:ping pong')
  t.same(b.requests.map((r) => [r.from, r.type, r.payload.toString()]), [['node-a', 7, 'ping pong']])
  t.equal(link.connected, true)
  t.equal(link.remoteNodeId, 'node-b')
  t.same(a.ups, [[b.transport.address, 'node-b']])
  t.equal(a.transport.link(b.transport.address), link, 'one link per address')
  t.same(a.transport.links(), [link])
})

t.test('request - 1000 pipelined requests answered out of order all pair with their own ids', async (t) => {
  const held: Array<{ payload: Buffer, resolve: (answer: Buffer) => void }> = []
  const b = await startNode(t, 'node-b', {
    handler: async (_from, _type, payload) => await new Promise<Buffer>((resolve) => { held.push({ payload: Buffer.from(payload), resolve }) })
  })
  const a = await startNode(t, 'node-a')
  const link = a.transport.link(b.transport.address)
  const answers = Array.from({ length: 1000 }, async (_, i) => await link.request(i % 256, Buffer.from(`req-${i}`)))
  await b.until(() => held.length === 1000)
  t.equal(link.pendingCount, 1000)
  // Answer in reverse: completion order is not request order, ids must carry the pairing.
  for (const request of held.reverse()) request.resolve(Buffer.from(`ans-${request.payload.toString().slice(4)}`))
  const results = await Promise.all(answers)
  let wrong = 0
  for (let i = 0; i < results.length; i++) if (results[i]!.toString() !== `ans-${i}`) wrong++
  t.equal(wrong, 0, 'every answer is its own request\'s')
  t.same(b.requests.slice(0, 3).map((r) => r.type), [0, 1, 2])
  t.equal(link.queuedBytes, 0)
  t.equal(link.pendingCount, 0)
})

t.test('request - both directions at once use two connections and name their callers', async (t) => {
  const a = await startNode(t, 'node-a')
  const b = await startNode(t, 'node-b')
  const c = await startNode(t, 'node-c')
  const [ab, ba, ca] = await Promise.all([
    a.transport.link(b.transport.address).request(1, Buffer.from('x')),
    b.transport.link(a.transport.address).request(1, Buffer.from('y')),
    c.transport.link(a.transport.address).request(1, Buffer.from('z'))
  ])
  t.same([ab.toString(), ba.toString(), ca.toString()], ['re:x', 're:y', 're:z'])
  t.same(a.requests.map((r) => r.from).sort(), ['node-b', 'node-c'])
  t.same(b.requests.map((r) => r.from), ['node-a'])
})

t.test('MESSAGE - delivered in order with type and sender; no answer', async (t) => {
  const a = await startNode(t, 'node-a')
  const b = await startNode(t, 'node-b')
  const link = a.transport.link(b.transport.address)
  for (let i = 0; i < 50; i++) t.equal(link.send(3, [Buffer.from('m'), Buffer.from(String(i))]), true)
  await b.until(() => b.messages.length === 50)
  t.same(b.messages.map((m) => m.payload.toString()), Array.from({ length: 50 }, (_, i) => `m${i}`))
  t.ok(b.messages.every((m) => m.from === 'node-a' && m.type === 3))
  t.same(b.requests, [])
  await a.until(() => link.queuedBytes === 0)
  t.pass('message bytes leave the queue once written')
})

t.test('request - the remote\'s SlabcacheError code is relayed; other throws become INTERNAL', async (t) => {
  const b = await startNode(t, 'node-b', {
    handler: (_from, type) => {
      if (type === 1) throw new SlabcacheError('NOT_FOUND', 'no such key: k')
      if (type === 2) return Promise.reject(new SlabcacheError('REPLICATION_TIMEOUT'))
      if (type === 3) throw new Error('handler bug')
      if (type === 4) return 'not a buffer' as unknown as Buffer
      return Buffer.from('still up')
    }
  })
  const a = await startNode(t, 'node-a')
  const link = a.transport.link(b.transport.address)
  const notFound = await rejection(link.request(1, Buffer.alloc(0)))
  t.match(notFound, { code: 'NOT_FOUND', name: 'NotFoundError', message: 'no such key: k' })
  t.match(await rejection(link.request(2, Buffer.alloc(0))), { code: 'REPLICATION_TIMEOUT', name: 'ReplicationTimeoutError' })
  t.match(await rejection(link.request(3, Buffer.alloc(0))), { code: 'INTERNAL', name: 'InternalError', message: 'handler bug' })
  t.match(await rejection(link.request(4, Buffer.alloc(0))), { code: 'INTERNAL', message: /not a Buffer/ })
  t.equal((await link.request(5, Buffer.from('ok'))).toString(), 'still up', 'the connection survives an error answer')
  t.equal(link.connected, true)
})

t.test('handshake - a wrong secret is refused on both sides and nothing is delivered', async (t) => {
  const a = await startNode(t, 'node-a')
  const b = await startNode(t, 'node-b', { secret: 'another-secret', backoffInitialMs: 60_000, backoffMaxMs: 60_000 })
  const ab = a.transport.link(b.transport.address)
  const ba = b.transport.link(a.transport.address)
  const abError = await rejection(ab.request(1, Buffer.from('x')))
  const baError = await rejection(ba.request(1, Buffer.from('y')))
  t.match(abError, { code: 'PEER_AUTH_FAILED', name: 'PeerAuthFailedError' })
  t.match(baError, { code: 'PEER_AUTH_FAILED', name: 'PeerAuthFailedError' })
  t.equal(ab.connected, false)
  t.equal(ab.send(1, Buffer.from('m')), false, 'a refused link queues no message')
  t.match(await rejection(ab.request(1, Buffer.from('x'))), { code: 'PEER_AUTH_FAILED' }, 'while backing off, requests fail fast with the refusal code')
  t.same([a.requests, a.messages, b.requests, b.messages], [[], [], [], []], 'nothing reached onRequest/onMessage')
  t.same(a.ups, [])
  // Each acceptor logged a warning naming the remote address of the dialer it refused.
  const refused = (node: Node): Array<Record<string, unknown>> => node.logs.filter((line) => line.level === 40 && /failed authentication/.test(String(line.msg)))
  t.equal(refused(b).length >= 1, true, 'node-b warned')
  t.match(refused(b)[0], { remote: /^127\.0\.0\.1:\d+$/, remoteNodeId: 'node-a' })
  t.match(refused(a)[0], { remote: /^127\.0\.0\.1:\d+$/, remoteNodeId: 'node-b' })
  t.same(a.downs.map((down) => [down[0], down[1]]), [[b.transport.address, null]], 'one link-down report for the outage')
})

t.test('handshake - a peer speaking version 2 gets ERROR PEER_PROTOCOL and is closed', async (t) => {
  const b = await startNode(t, 'node-b')
  const raw = await RawPeer.open(t, b.transport.port)
  raw.send(FrameKind.HELLO, 0, 0, encodeHello({ version: 2, nonce: randomBytes(NONCE_BYTES), nodeId: 'future', address: '127.0.0.1:1' }))
  await raw.closedPromise()
  t.same(raw.frames.map((frame) => frame.kind), [FrameKind.HELLO, FrameKind.ERROR])
  t.equal(decodeHello(raw.frames[0]!.payload)?.nodeId, 'node-b')
  t.match(decodeErrorPayload(raw.frames[1]!.payload), { code: 'PEER_PROTOCOL', message: /version 2/ })
  t.equal(raw.frames.some((frame) => frame.kind === FrameKind.AUTH), false, 'no AUTH for a peer that did not prove itself')
})

t.test('handshake - garbage bytes are refused with PEER_PROTOCOL and the transport keeps serving', async (t) => {
  const b = await startNode(t, 'node-b')
  const raw = await RawPeer.open(t, b.transport.port)
  raw.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await raw.closedPromise()
  const error = raw.frames.find((frame) => frame.kind === FrameKind.ERROR)
  t.match(decodeErrorPayload(error!.payload), { code: 'PEER_PROTOCOL', message: /over the 16384-byte limit/ }, 'an unauthenticated peer gets a small frame limit')
  const tiny = await RawPeer.open(t, b.transport.port)
  tiny.socket.write(Buffer.from([9, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0]))
  await tiny.closedPromise()
  t.match(decodeErrorPayload(tiny.frames.find((frame) => frame.kind === FrameKind.ERROR)!.payload), { message: /unknown frame kind 42/ })
  const a = await startNode(t, 'node-a')
  t.equal((await a.transport.link(b.transport.address).request(1, Buffer.from('after'))).toString(), 're:after')
  t.same(b.requests.map((r) => r.from), ['node-a'])
})

t.test('handshake - a REQUEST before AUTH is refused; the acceptor answers AUTH only after verifying the dialer', async (t) => {
  const b = await startNode(t, 'node-b')
  const early = await RawPeer.open(t, b.transport.port)
  early.send(FrameKind.HELLO, 0, 0, encodeHello({ version: 1, nonce: randomBytes(NONCE_BYTES), nodeId: 'sneaky', address: '127.0.0.1:1' }))
  early.send(FrameKind.REQUEST, 1, 1, Buffer.from('let me in'))
  await early.closedPromise()
  t.match(decodeErrorPayload(early.frames.find((frame) => frame.kind === FrameKind.ERROR)!.payload), { code: 'PEER_PROTOCOL', message: /kind 3 before the handshake/ })
  t.same(b.requests, [])

  // A hand-rolled dialer with the right secret: HELLO, then AUTH over node-b's nonce.
  const raw = await RawPeer.open(t, b.transport.port)
  const nonce = randomBytes(NONCE_BYTES)
  raw.send(FrameKind.HELLO, 0, 0, encodeHello({ version: 1, nonce, nodeId: 'raw', address: '127.0.0.1:1' }))
  await raw.until(() => raw.frames.length >= 1)
  const hello = decodeHello(raw.frames[0]!.payload)!
  t.equal(raw.frames.length, 1, 'before the dialer proves itself the acceptor sent only HELLO')
  raw.send(FrameKind.AUTH, 0, 0, authProof(SECRET, hello.nonce, 'raw'))
  await raw.until(() => raw.frames.length >= 2)
  t.same(raw.frames[1]!.payload, authProof(SECRET, nonce, 'node-b'), 'then its AUTH over the dialer\'s nonce')
  raw.send(FrameKind.REQUEST, 9, 77, Buffer.from('hi'))
  await raw.until(() => raw.frames.length >= 3)
  t.match(raw.frames[2], { kind: FrameKind.RESPONSE, type: 9, id: 77 })
  t.equal(raw.frames[2]!.payload.toString(), 're:hi')
  // An inbound connection never receives answers.
  raw.send(FrameKind.RESPONSE, 9, 77, Buffer.from('nope'))
  await raw.closedPromise()
  t.match(decodeErrorPayload(raw.frames[3]!.payload), { code: 'PEER_PROTOCOL', message: /kind 4 is not allowed/ })
})

t.test('handshake - a silent socket is closed after handshakeTimeoutMs', async (t) => {
  const b = await startNode(t, 'node-b', { handshakeTimeoutMs: 50 })
  const raw = await RawPeer.open(t, b.transport.port)
  await raw.closedPromise()
  t.same(raw.frames.map((frame) => frame.kind), [FrameKind.HELLO], 'closed without anything but its HELLO')
})

t.test('request - PEER_TIMEOUT when no answer comes in time; the late answer is dropped', async (t) => {
  const held: Array<(answer: Buffer) => void> = []
  const b = await startNode(t, 'node-b', {
    handler: async (_from, type, payload) => type === 1 ? await new Promise<Buffer>((resolve) => { held.push(resolve) }) : Buffer.from(payload)
  })
  const clock = new ManualClock(1_000_000)
  const a = await startNode(t, 'node-a', { clock })
  const link = a.transport.link(b.transport.address)
  const slow = link.request(1, Buffer.from('slow'), 30)
  await b.until(() => held.length === 1)
  t.equal(link.oldestPendingAgeMs(clock.nowMs()), 0)
  clock.advance(500)
  t.equal(link.oldestPendingAgeMs(clock.nowMs()), 500, 'age on the injected clock')
  const error = await rejection(slow)
  t.match(error, { code: 'PEER_TIMEOUT', name: 'PeerTimeoutError', message: /within 30 ms/ })
  t.equal(link.oldestPendingAgeMs(clock.nowMs()), 0)
  t.equal(link.queuedBytes, 0, 'a timed-out request leaves the budget')
  held[0]!(Buffer.from('too late'))
  t.equal((await link.request(2, Buffer.from('next'))).toString(), 'next', 'the late answer does not answer the next request')
  t.equal(link.connected, true)
})

t.test('request - PEER_BUSY when the link\'s queue is full; send() returns false', async (t) => {
  const held: Array<() => void> = []
  const b = await startNode(t, 'node-b', {
    handler: async (_from, _type, payload) => await new Promise<Buffer>((resolve) => { held.push(() => { resolve(Buffer.from(payload.subarray(0, 1))) }) })
  })
  const a = await startNode(t, 'node-a', { maxQueueBytes: 1000 })
  const link = a.transport.link(b.transport.address)
  const payload = Buffer.alloc(200, 1) // 212-byte frames: four fit in 1000
  const accepted = [0, 1, 2, 3].map(async () => await link.request(1, payload))
  t.equal(link.queuedBytes, 848)
  t.match(await rejection(link.request(1, payload)), { code: 'PEER_BUSY', name: 'PeerBusyError' })
  t.equal(link.send(1, payload), false)
  t.equal(link.send(1, Buffer.alloc(100)), true, 'a smaller message still fits')
  await b.until(() => held.length === 4 && b.messages.length === 1)
  for (const answer of held) answer()
  t.equal((await Promise.all(accepted)).length, 4)
  await a.until(() => link.queuedBytes === 0)
  t.match(await rejection(link.request(1, Buffer.alloc(2000))), { code: 'PEER_BUSY' }, 'a request larger than the whole budget')
  held.length = 0
  const later = link.request(1, payload)
  await b.until(() => held.length === 1)
  held[0]!()
  t.same([...await later], [1], 'the link works once drained')
})

t.test('inbound - a connection is paused while its unanswered requests exceed maxQueueBytes', async (t) => {
  const held: Array<() => void> = []
  const b = await startNode(t, 'node-b', {
    maxQueueBytes: 1000,
    handler: async (_from, _type, payload) => await new Promise<Buffer>((resolve) => { held.push(() => { resolve(Buffer.from(payload)) }) })
  })
  const a = await startNode(t, 'node-a')
  const link = a.transport.link(b.transport.address)
  const answers = Array.from({ length: 20 }, async (_, i) => await link.request(1, Buffer.alloc(200, i)))
  // 212-byte frames: the 5th takes the unanswered bytes over 1000 and reading stops there.
  await b.until(() => held.length === 5)
  await new Promise((resolve) => setTimeout(resolve, 20)) // a few socket round trips
  t.equal(held.length, 5, 'no request past the budget is delivered while paused')
  let served = 0
  while (served < 20) {
    const batch = held.splice(0)
    served += batch.length
    for (const answer of batch) answer()
    if (served < 20) await b.until(() => held.length > 0)
  }
  const results = await Promise.all(answers)
  t.same(results.map((r) => r[0]), Array.from({ length: 20 }, (_, i) => i), 'all answered, each with its own payload')
})

t.test('link - fails fast with PEER_UNAVAILABLE to a dead port, never waiting out the backoff', async (t) => {
  const a = await startNode(t, 'node-a', { backoffInitialMs: 60_000, backoffMaxMs: 60_000, requestTimeoutMs: 60_000 })
  const address = `127.0.0.1:${await deadPort()}`
  const link = a.transport.link(address)
  t.match(await rejection(link.request(1, Buffer.from('x'))), { code: 'PEER_UNAVAILABLE', name: 'PeerUnavailableError', message: /cannot connect/ })
  // With a 60 s backoff and a 60 s request timeout, only failing fast lets this finish.
  t.match(await rejection(link.request(1, Buffer.from('x'))), { code: 'PEER_UNAVAILABLE', message: /reconnecting with backoff/ })
  t.equal(link.send(1, Buffer.from('m')), false)
  t.same(a.downs, [[address, null, a.downs[0]?.[2]]])
  t.equal(link.remoteNodeId, null)
  a.transport.drop(address)
  t.same(a.transport.links(), [])
  t.not(a.transport.link(address), link, 'a dropped link is forgotten')
})

t.test('link - reconnects after the remote transport restarts on the same port', async (t) => {
  const b1 = await startNode(t, 'node-b')
  const port = b1.transport.port
  const a = await startNode(t, 'node-a', { backoffInitialMs: 5, backoffMaxMs: 20 })
  const link = a.transport.link(b1.transport.address)
  t.equal((await link.request(1, Buffer.from('one'))).toString(), 're:one')
  await b1.transport.close()
  await a.until(() => a.downs.length === 1)
  t.same(a.downs[0]!.slice(0, 2), [b1.transport.address, 'node-b'])
  t.equal(link.connected, false)
  t.match(await rejection(link.request(1, Buffer.from('x'))), { code: 'PEER_UNAVAILABLE' })
  const b2 = await startNode(t, 'node-b2', { port })
  await a.until(() => a.ups.length === 2)
  t.same(a.ups[1], [b1.transport.address, 'node-b2'])
  t.equal((await link.request(1, Buffer.from('two'))).toString(), 're:two')
  t.same(b2.requests.map((r) => r.payload.toString()), ['two'])
  t.equal(a.downs.length, 1, 'failed redials during the outage are not reported again')
})

t.test('link - in-flight requests reject PEER_UNAVAILABLE when the connection drops, and on drop()', async (t) => {
  const b = await startNode(t, 'node-b', { handler: async () => await new Promise<Buffer>(() => {}) })
  const a = await startNode(t, 'node-a')
  const link = a.transport.link(b.transport.address)
  const inFlight = link.request(1, Buffer.from('x'), 60_000)
  await b.until(() => b.requests.length === 1)
  a.transport.drop(b.transport.address)
  t.match(await rejection(inFlight), { code: 'PEER_UNAVAILABLE', message: /dropped/ })
  t.match(await rejection(link.request(1, Buffer.from('y'))), { code: 'PEER_UNAVAILABLE' })
  t.same(a.downs, [], 'drop() is not reported as a link loss')
})

t.test('close - answers the inbound requests in hand, says GOODBYE, rejects its own pending, leaves no handles', async (t) => {
  const before = process.getActiveResourcesInfo().filter((name) => name !== 'Timeout').length
  const held: Array<() => void> = []
  const b = await startNode(t, 'node-b', {
    handler: async (_from, _type, payload) => await new Promise<Buffer>((resolve) => { held.push(() => { resolve(Buffer.from(payload)) }) })
  })
  const a = await startNode(t, 'node-a', { handler: async () => await new Promise<Buffer>(() => {}) })
  const ab = a.transport.link(b.transport.address)
  const ba = b.transport.link(a.transport.address)
  const served = ab.request(1, Buffer.from('in hand'))
  const orphan = ba.request(1, Buffer.from('never answered'), 60_000)
  await b.until(() => held.length === 1)
  await a.until(() => a.requests.length === 1)
  const closing = b.transport.close()
  t.match(await rejection(orphan), { code: 'PEER_UNAVAILABLE' }, 'b\'s own pending requests reject')
  held[0]!()
  t.equal((await served).toString(), 'in hand', 'the request b was serving is answered before it closes')
  await closing
  await a.until(() => a.downs.length === 1)
  t.equal(ab.connected, false)
  await a.transport.close()
  await b.transport.close()
  const after = process.getActiveResourcesInfo().filter((name) => name !== 'Timeout').length
  t.equal(after, before, 'no socket or server handle is left')
})

t.test('options - each bad option is refused naming it', async (t) => {
  const base: PeerTransportOptions = { nodeId: 'n', host: '127.0.0.1', port: 0, secret: 's', onRequest: () => Buffer.alloc(0), onMessage: () => {} }
  const cases: Array<[Partial<PeerTransportOptions>, RegExp]> = [
    [{ nodeId: '' }, /PeerTransportOptions\.nodeId must be a non-empty string; received ""/],
    [{ secret: '' }, /PeerTransportOptions\.secret must be a non-empty string/],
    [{ host: 5 as unknown as string }, /PeerTransportOptions\.host must be/],
    [{ port: 70000 }, /PeerTransportOptions\.port must be an integer from 0 to 65535; received 70000/],
    [{ advertisedAddress: 'no-port' }, /peer address must be "host:port".*received "no-port"/],
    [{ onRequest: undefined as unknown as PeerTransportOptions['onRequest'] }, /onRequest must be a function/],
    [{ onMessage: undefined as unknown as PeerTransportOptions['onMessage'] }, /onMessage must be a function/],
    [{ maxFrameBytes: 8 }, /maxFrameBytes must be at least 12; received 8/],
    [{ maxQueueBytes: 0 }, /maxQueueBytes must be a positive integer; received 0/],
    [{ connectTimeoutMs: -1 }, /connectTimeoutMs must be a positive integer/],
    [{ handshakeTimeoutMs: 1.5 }, /handshakeTimeoutMs must be a positive integer/],
    [{ requestTimeoutMs: Number.NaN }, /requestTimeoutMs must be a positive integer/],
    [{ backoffInitialMs: 0 }, /backoffInitialMs must be a positive integer/],
    [{ backoffMaxMs: -5 }, /backoffMaxMs must be a positive integer/]
  ]
  for (const [override, message] of cases) await t.rejects(PeerTransport.listen({ ...base, ...override }), { message }, Object.keys(override)[0])
})

t.test('link - misuse is refused: bad addresses, message types and timeouts', async (t) => {
  const a = await startNode(t, 'node-a')
  for (const address of ['localhost', 'host:0', 'host:99999', '::1:7946', '']) {
    t.throws(() => a.transport.link(address), { name: 'RangeError' }, JSON.stringify(address))
  }
  t.equal(a.transport.link('[::1]:7946').address, '[::1]:7946', 'bracketed IPv6')
  const link = a.transport.link(a.transport.address)
  await t.rejects(link.request(256, Buffer.alloc(0)), { name: 'RangeError', message: /type must be an integer from 0 to 255; received 256/ })
  await t.rejects(link.request(1, Buffer.alloc(0), 0), { name: 'RangeError', message: /timeoutMs must be a positive number/ })
  t.throws(() => link.send(-1, Buffer.alloc(0)), { name: 'RangeError' })
  t.equal((await link.request(1, Buffer.from('me'))).toString(), 're:me', 'a node may dial itself')
  t.same(a.requests.map((r) => r.from), ['node-a'])
})

t.test('listen - advertises loopback for a wildcard bind host, or the given address', async (t) => {
  const wildcard = await startNode(t, 'w', { host: '0.0.0.0' })
  t.equal(wildcard.transport.address, `127.0.0.1:${wildcard.transport.port}`)
  const given = await startNode(t, 'g', { advertisedAddress: 'node-g.example:7946' })
  t.equal(given.transport.address, 'node-g.example:7946')
  await t.rejects(PeerTransport.listen({ nodeId: 'x', host: '127.0.0.1', port: given.transport.port, secret: 's', onRequest: () => Buffer.alloc(0), onMessage: () => {} }), { code: 'EADDRINUSE' })
})

t.test('frames - a 4 MiB request crosses many chunks intact; one over the receiver\'s limit closes the connection', async (t) => {
  const b = await startNode(t, 'node-b', { maxFrameBytes: 8 * 1024 * 1024, handler: (_from, _type, payload) => Buffer.from(payload.subarray(payload.length - 16)) })
  const a = await startNode(t, 'node-a', { backoffInitialMs: 5, backoffMaxMs: 10, maxFrameBytes: 16 * 1024 * 1024, maxQueueBytes: 32 * 1024 * 1024 })
  const link = a.transport.link(b.transport.address)
  const big = randomBytes(4 * 1024 * 1024)
  t.same(await link.request(1, [big.subarray(0, 1000), big.subarray(1000)]), big.subarray(big.length - 16))
  t.same(b.requests[0]!.payload, big, 'the payload arrives byte for byte')
  // node-b accepts frames up to 8 MiB; node-a's own limit (16 MiB) lets a 9 MiB one out.
  const tooBig = await rejection(link.request(1, Buffer.alloc(9 * 1024 * 1024)))
  t.match(tooBig, { code: 'PEER_UNAVAILABLE' }, 'framing is lost: the connection closes and its requests fail')
  await b.until(() => b.logs.some((line) => line.msg === 'peer protocol error; closing the connection'))
  t.equal(b.requests.length, 1, 'the oversized request never reached onRequest')
  await a.until(() => a.ups.length === 2)
  t.equal((await link.request(1, Buffer.alloc(16, 7))).length, 16, 'the link reconnects')
  t.match(await rejection(link.request(1, Buffer.alloc(16 * 1024 * 1024))), { code: 'REQUEST_TOO_LARGE', message: /16777228 bytes is over the 16777216-byte frame limit/ }, 'a frame over the sender\'s own limit is refused before sending')
})
