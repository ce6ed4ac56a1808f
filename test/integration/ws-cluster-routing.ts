import t from 'tap'
import WebSocket from 'ws'
import type { us_listen_socket } from 'uWebSockets.js'
import { StreamClient, type WebSocketConstructor } from '../../src/client/stream-client.js'
import { StreamStatusError } from '../../src/client/stream-errors.js'
import { loadUws } from '../../src/server/uws-loader.js'
import { registerStreamRoute, STREAM_PATH } from '../../src/server/ws-stream.js'
import { startLoopbackCluster } from '../fixtures/command-loopback-router.js'

// A WebSocket stream on node 1 of an in-process 3-node cluster; keys owned by nodes 0 and 2.
const cluster = await startLoopbackCluster(t, 3)
const uws = loadUws()
const app = uws.App()
const closeStream = registerStreamRoute(app, { engine: cluster.engines[1]!, router: cluster.routers[1] })
const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
  app.listen('127.0.0.1', 0, (socket) => { if (socket === false) reject(new Error('no listen')); else resolve(socket) })
})
const port = uws.us_socket_local_port(listenSocket as unknown as Parameters<typeof uws.us_socket_local_port>[0])
t.teardown(async () => {
  uws.us_listen_socket_close(listenSocket)
  closeStream()
  ;(app as unknown as { close: () => void }).close()
  await cluster.close()
})

const stream = await StreamClient.connect(`ws://127.0.0.1:${port}${STREAM_PATH}`, { WebSocket: WebSocket as unknown as WebSocketConstructor })
t.teardown(async () => await stream.close())
let unique = 0
const keyOf = (node: number): string => cluster.keyOwnedBy(node, `ws-${unique++}-`)
const heldBy = (node: number, key: string): boolean => {
  const result = cluster.engines[node]!.execute({ op: 'get', tenantId: 0, key: Buffer.from(key) })
  return !(result instanceof Promise) && result.error === null && result.status === 0
}
const text = (value: Uint8Array | undefined): string | undefined => value === undefined ? undefined : Buffer.from(value).toString()

t.test('stream - commands through a non-owner run on the owner', async (t) => {
  const [a, b, c] = [keyOf(0), keyOf(1), keyOf(2)]
  const forwards = cluster.forwards.length
  const cas = await stream.set(a, 'va', { flags: 3 })
  await stream.set(b, 'vb')
  await stream.set(c, Buffer.alloc(1024 * 1024, 'c'))
  t.same([heldBy(0, a), heldBy(1, a), heldBy(1, b), heldBy(2, c), heldBy(1, c)], [true, false, true, true, false], 'each on its owner')
  const item = await stream.get(a)
  t.same([text(item?.value), item?.flags, item?.cas], ['va', 3, cas], 'value, flags and the owner\'s cas')
  t.equal((await stream.get(c))?.value.length, 1024 * 1024, 'a 1 MiB value comes back whole')
  const stale = await stream.set(a, 'x', { cas: cas + 1 }).catch((error: unknown) => error)
  t.ok(stale instanceof StreamStatusError, 'a stale cas is refused by the owner')
  t.ok(await stream.set(a, 'vA', { cas }) > 0, 'the current cas stores')
  t.equal(await stream.incr(keyOf(2), 5, { initial: 10 }), 10n)
  t.equal(await stream.delete(c), true)
  t.equal(await stream.get(c), null)
  t.ok(cluster.forwards.length > forwards, 'forwarded')
})

t.test('stream - pipelined requests over mixed owners answer in order', async (t) => {
  const keys = [keyOf(0), keyOf(1), keyOf(2), keyOf(0), keyOf(2)]
  await Promise.all(keys.map(async (key, i) => await stream.set(key, `v${i}`)))
  const missing = 'absent-' + keyOf(2)
  const items = await stream.getMany([keys[0]!, missing, ...keys.slice(1)])
  t.same(items.map((item) => text(item?.value) ?? null), ['v0', null, 'v1', 'v2', 'v3', 'v4'], 'GETKQ batch, in key order')
  const replies = await Promise.all([stream.get(keys[2]!), stream.delete(keys[3]!), stream.get(keys[3]!), stream.incr(keys[1]!, 1).catch(() => 'non-numeric'), stream.get(keys[4]!)])
  t.same([text(replies[0]?.value), replies[1], replies[2], replies[3], text((replies[4] as { value: Uint8Array } | null)?.value)], ['v2', true, null, 'non-numeric', 'v4'])
})

t.test('stream - flush fans out to every node', async (t) => {
  const keys = [keyOf(0), keyOf(1), keyOf(2)]
  for (const key of keys) await stream.set(key, 'x')
  await stream.flush()
  t.same(keys.map((key, node) => heldBy(node, key)), [false, false, false])
})

t.test('stream - pipelined forwards overlap; owners answering out of order still reply in request order', async (t) => {
  cluster.setForwardDelay((seq) => 5 - (seq % 5))
  t.teardown(() => cluster.setForwardDelay(null))
  cluster.forwardStats.maxInFlight = 0
  const keys = Array.from({ length: 20 }, (_, i) => keyOf(i % 3))
  await Promise.all(keys.map(async (key, i) => await stream.set(key, `p${i}`)))
  t.ok(cluster.forwardStats.maxInFlight > 1, `forwarded sets overlapped (at most ${cluster.forwardStats.maxInFlight} at once)`)
  const values = await Promise.all(keys.map(async (key) => await stream.get(key)))
  t.same(values.map((item) => text(item?.value)), keys.map((_, i) => `p${i}`))
  t.same(keys.map((key, i) => heldBy(i % 3, key)), keys.map(() => true), 'each key on its owner')
})
