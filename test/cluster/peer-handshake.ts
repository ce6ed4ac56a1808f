import t, { type Test } from 'tap'
import { connect, createServer, type Socket } from 'node:net'
import { FrameKind, type PeerFrame } from '../../src/cluster/peer-frame.js'
import { PeerConnection, type PeerConnectionOptions } from '../../src/cluster/peer-handshake.js'

/** A connected socket pair over loopback; both destroyed at the test's end. */
async function socketPair (t: Test): Promise<[Socket, Socket]> {
  const server = createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const accepted = new Promise<Socket>((resolve) => { server.once('connection', resolve) })
  const dialer = connect((server.address() as { port: number }).port, '127.0.0.1')
  await new Promise<void>((resolve) => { dialer.once('connect', resolve) })
  const acceptor = await accepted
  server.close()
  t.teardown(() => { dialer.destroy(); acceptor.destroy() })
  return [dialer, acceptor]
}

function options (role: 'dial' | 'accept', overrides: Partial<PeerConnectionOptions> = {}): PeerConnectionOptions {
  return { nodeId: `node-${role}`, address: '127.0.0.1:1', secret: 's', role, maxFrameBytes: 1 << 20, handshakeTimeoutMs: 2000, ...overrides }
}

t.test('PeerConnection - both sides learn each other\'s node id and advertised address', async (t) => {
  const [dialSocket, acceptSocket] = await socketPair(t)
  const dialer = new PeerConnection(dialSocket, options('dial', { address: '10.0.0.1:7946' }))
  const acceptor = new PeerConnection(acceptSocket, options('accept', { address: '10.0.0.2:7946' }))
  await Promise.all([dialer.handshake(), acceptor.handshake()])
  t.same([dialer.remoteNodeId, dialer.remoteAddress], ['node-accept', '10.0.0.2:7946'])
  t.same([acceptor.remoteNodeId, acceptor.remoteAddress], ['node-dial', '10.0.0.1:7946'])
  t.ok(dialer.ready && acceptor.ready)
})

t.test('PeerConnection - frames written in one event-loop turn leave in one socket write', async (t) => {
  const [dialSocket, acceptSocket] = await socketPair(t)
  const dialer = new PeerConnection(dialSocket, options('dial'))
  const acceptor = new PeerConnection(acceptSocket, options('accept'))
  await Promise.all([dialer.handshake(), acceptor.handshake()])
  const received: PeerFrame[] = []
  let wake = (): void => {}
  acceptor.start((frame) => { received.push(frame); wake() }, () => {})
  dialer.start(() => {}, () => {})
  // Count the stream's calls into the socket handle (a corked batch is one _writev).
  const internals = dialSocket as unknown as { _write: (...args: unknown[]) => void, _writev: (...args: unknown[]) => void }
  let handleWrites = 0
  const write = internals._write.bind(dialSocket)
  const writev = internals._writev.bind(dialSocket)
  internals._write = (...args) => { handleWrites++; write(...args) }
  internals._writev = (...args) => { handleWrites++; writev(...args) }
  let written = 0
  for (let i = 0; i < 100; i++) dialer.write(FrameKind.MESSAGE, 1, 0, [Buffer.from('m'), Buffer.from(String(i))], () => { written++ })
  t.equal(dialer.unsentBytes, 100 * 12 + 290, 'queued in the batch, not yet written')
  t.equal(handleWrites, 0, 'nothing is written before the turn ends')
  await new Promise<void>((resolve) => { wake = () => { if (received.length === 100) resolve() } })
  t.equal(handleWrites, 1, 'one write for the whole batch')
  t.equal(written, 100, 'every onWritten ran')
  t.same(received.map((frame) => frame.payload.toString()), Array.from({ length: 100 }, (_, i) => `m${i}`))
})

t.test('PeerConnection - a closed connection queues nothing and start() reports the close at once', async (t) => {
  const [dialSocket, acceptSocket] = await socketPair(t)
  const dialer = new PeerConnection(dialSocket, options('dial'))
  const acceptor = new PeerConnection(acceptSocket, options('accept'))
  await Promise.all([dialer.handshake(), acceptor.handshake()])
  acceptor.start(() => {}, () => {})
  dialer.destroy('test')
  await dialer.closedPromise()
  dialer.write(FrameKind.MESSAGE, 1, 0, Buffer.from('late'))
  t.equal(dialer.unsentBytes, 0)
  let reason: string | null = null
  dialer.start(() => {}, (why) => { reason = why })
  t.equal(reason, 'test')
})

t.test('PeerConnection - handshake on an already closed socket rejects PEER_UNAVAILABLE', async (t) => {
  const [dialSocket] = await socketPair(t)
  const dialer = new PeerConnection(dialSocket, options('dial'))
  dialer.destroy('gone')
  await dialer.closedPromise()
  await t.rejects(dialer.handshake(), { code: 'PEER_UNAVAILABLE' })
})
