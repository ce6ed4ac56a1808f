/**
 * A 3-node cluster of real processes on loopback: every key is served through every node and
 * every protocol (HTTP, RESP with ioredis, memcached with memjs, the WebSocket stream), deletes
 * and tag invalidation reach every copy, concurrent writes to one key converge, ownership is
 * even, and a node with the wrong cluster secret is refused.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import WebSocket from 'ws'
import { StreamClient, type WebSocketConstructor } from '../../src/client/stream-client.js'
import { clusterStatus, eventually, startCluster, startNode, type NodeHandle } from '../fixtures/cluster.js'
import { CliProcess } from '../fixtures/cli-process.js'

const WS = WebSocket as unknown as WebSocketConstructor
const quiet = { log: (): void => {} }

const nodes = await startCluster(t, 3)

interface Clients { redis: Redis, memcache: memjs.Client, stream: StreamClient }
const clients: Clients[] = []
for (const node of nodes) {
  const redis = new Redis({ port: node.respPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 })
  await redis.connect()
  const memcache = memjs.Client.create(`127.0.0.1:${node.memcachePort}`, { retries: 0, timeout: 5, logger: quiet })
  const stream = await StreamClient.connect(`ws://127.0.0.1:${new URL(node.url).port}/v1/stream`, { WebSocket: WS })
  clients.push({ redis, memcache, stream })
}
t.teardown(async () => {
  for (const c of clients) {
    c.redis.disconnect()
    c.memcache.close()
    await c.stream.close()
  }
})

type Protocol = 'http' | 'resp' | 'memcache' | 'stream'
const PROTOCOLS: readonly Protocol[] = ['http', 'resp', 'memcache', 'stream']

async function write (i: number, protocol: Protocol, key: string, value: string): Promise<void> {
  const c = clients[i]!
  switch (protocol) {
    case 'http': {
      const response = await fetch(`${nodes[i]!.url}/v1/cache/${key}`, { method: 'PUT', body: value })
      if (response.status !== 204) throw new Error(`PUT ${key} via node ${i}: ${response.status} ${await response.text()}`)
      return
    }
    case 'resp':
      if (await c.redis.set(key, value) !== 'OK') throw new Error('SET failed')
      return
    case 'memcache':
      if (!await c.memcache.set(key, value, {})) throw new Error('memjs set failed')
      return
    case 'stream':
      await c.stream.set(key, value)
  }
}

async function read (i: number, protocol: Protocol, key: string): Promise<string | null> {
  const c = clients[i]!
  switch (protocol) {
    case 'http': {
      const response = await fetch(`${nodes[i]!.url}/v1/cache/${key}`)
      if (response.status === 404) { await response.arrayBuffer(); return null }
      if (response.status !== 200) throw new Error(`GET ${key} via node ${i}: ${response.status} ${await response.text()}`)
      return await response.text()
    }
    case 'resp':
      return await c.redis.get(key)
    case 'memcache': {
      const { value } = await c.memcache.get(key)
      return value === null ? null : value.toString()
    }
    case 'stream': {
      const item = await c.stream.get(key)
      return item === null ? null : Buffer.from(item.value).toString()
    }
  }
}

/** Items stored on each node (owner copies and replicas). */
async function localItems (node: NodeHandle): Promise<number> {
  const stats = await (await fetch(`${node.url}/v1/stats`)).json() as { items: number }
  return stats.items
}

async function totalItems (): Promise<number> {
  let total = 0
  for (const node of nodes) total += await localItems(node)
  return total
}

t.test('every node owns a third of the ring (±5 %), and /v1/cluster agrees everywhere', async (t) => {
  for (const node of nodes) {
    const status = await clusterStatus(node)
    t.equal(status.selfId, node.id)
    t.equal(status.replicas, 2)
    t.equal(status.vnodesPerNode, 128)
    t.same(status.members.map((m) => [m.id, m.state]).sort(), [['n1', 'up'], ['n2', 'up'], ['n3', 'up']], `${node.id} sees every member up`)
    for (const member of status.members) t.ok(Math.abs(member.ownership - 1 / 3) <= 0.05 / 3, `${member.id} owns ${member.ownership} (1/3 ± 5 %)`)
  }
})

t.test('a write through any node and protocol is readable through every node and protocol', async (t) => {
  const written: Array<[string, string]> = []
  for (let i = 0; i < nodes.length; i++) {
    for (const protocol of PROTOCOLS) {
      for (let n = 0; n < 4; n++) {
        const key = `any-${protocol}-${i}-${n}`
        const value = `value of ${key} ${'x'.repeat(n * 300)}`
        await write(i, protocol, key, value)
        written.push([key, value])
      }
    }
  }
  let mismatches = 0
  for (const [key, value] of written) {
    for (let j = 0; j < nodes.length; j++) {
      for (const protocol of PROTOCOLS) if (await read(j, protocol, key) !== value) mismatches++
    }
  }
  t.equal(mismatches, 0, `${written.length} keys × ${nodes.length} nodes × ${PROTOCOLS.length} protocols read back`)
  // Replication: every key ends up on two nodes (the owner and its successor).
  const expected = written.length * 2
  t.equal(await eventually(async () => { const n = await totalItems(); return n === expected ? n : null }, 'replicas'), expected, 'two copies of every key')
})

t.test('a large value written through a non-owner arrives whole', async (t) => {
  const value = Buffer.alloc(3 * 1024 * 1024, 'abcdefghij').toString()
  await write(1, 'http', 'big-one', value)
  for (let j = 0; j < 3; j++) t.equal((await read(j, 'resp', 'big-one'))?.length, value.length, `node ${j}`)
  await clients[0]!.redis.del('big-one')
})

t.test('deletes reach every node and every copy', async (t) => {
  const before = await totalItems()
  const keys = Array.from({ length: 30 }, (_, i) => `del-${i}`)
  for (const [i, key] of keys.entries()) await write(i % 3, 'resp', key, 'doomed')
  await eventually(async () => (await totalItems() === before + keys.length * 2 ? true : null), 'replicas of the keys to delete')
  for (const [i, key] of keys.entries()) {
    if (i % 2 === 0) t.equal(await clients[(i + 1) % 3]!.redis.del(key), 1, `DEL ${key}`)
    else {
      const response = await fetch(`${nodes[(i + 2) % 3]!.url}/v1/cache/${key}`, { method: 'DELETE' })
      t.equal(response.status, 204, `HTTP DELETE ${key}`)
    }
  }
  for (const key of keys) for (let j = 0; j < 3; j++) t.equal(await read(j, 'memcache', key), null, `${key} gone via node ${j}`)
  t.equal(await eventually(async () => { const n = await totalItems(); return n === before ? n : null }, 'tombstones applied on the replicas'), before, 'no copy survives')
})

t.test('tag invalidation is cluster-wide', async (t) => {
  const before = await totalItems()
  for (let i = 0; i < 40; i++) {
    const response = await fetch(`${nodes[i % 3]!.url}/v1/cache/tagged-${i}?tags=${i % 2 === 0 ? 'even' : 'odd'},all`, { method: 'PUT', body: `t${i}` })
    t.equal(response.status, 204)
  }
  await eventually(async () => (await totalItems() === before + 80 ? true : null), 'tagged replicas')
  const response = await fetch(`${nodes[1]!.url}/v1/tags/even/invalidate`, { method: 'POST' })
  t.equal(response.status, 200)
  t.ok(((await response.json()) as { removed: number }).removed >= 20, 'every even key removed (copies counted once per node)')
  for (let i = 0; i < 40; i++) t.equal(await read(i % 3, 'http', `tagged-${i}`), i % 2 === 0 ? null : `t${i}`, `tagged-${i}`)
  t.equal(await totalItems(), before + 40, 'the even keys are gone from every copy, the odd ones stay')
  t.equal(await clients[2]!.redis.call('TAG.INVALIDATE', 'all') as number >= 20, true, 'RESP TAG.INVALIDATE fans out too')
  t.equal(await totalItems(), before)
})

t.test('concurrent writes to one key through different nodes converge to one value everywhere', async (t) => {
  for (let round = 0; round < 5; round++) {
    const key = `contended-${round}`
    await Promise.all(nodes.flatMap((_, i) => Array.from({ length: 20 }, async (_, n) => await write(i, n % 2 === 0 ? 'resp' : 'http', key, `node${i}-write${n}`))))
    const seen = new Set<string | null>()
    for (let j = 0; j < 3; j++) for (const protocol of PROTOCOLS) seen.add(await read(j, protocol, key))
    t.equal(seen.size, 1, `${key}: one value through every node and protocol (${[...seen].join(', ')})`)
  }
})

t.test('a node with the wrong cluster secret is refused', async (t) => {
  const intruder = new CliProcess(t, ['--shards', '1', '--memory', '16mb', '--peer-port', '0', '--node-id', 'intruder', '--cluster-secret', 'not-the-secret-at-all', '--join', nodes[0]!.peerAddress])
  const exit = await intruder.exited
  t.not(exit.code, 0, 'the intruder cannot start')
  t.ok(intruder.logs.some((e) => JSON.stringify(e).includes('PEER_AUTH_FAILED')), 'and says why')
  const status = await clusterStatus(nodes[0]!)
  t.notOk(status.members.some((m) => m.id === 'intruder'), 'the cluster never lists it')
  // The refusal is logged on the member's side too.
  const refusal = await nodes[0]!.cli.waitFor((e) => typeof e.msg === 'string' && e.msg.includes('failed authentication') && e['remoteNodeId'] === 'intruder', 'refusal logged')
  t.equal(refusal['remoteNodeId'], 'intruder', 'the member logged the refusal, naming the intruder')
})

t.test('/metrics shows the cluster', async (t) => {
  const text = await (await fetch(`${nodes[0]!.url}/metrics`)).text()
  t.match(text, /slabcache_cluster_members\{state="up"\} 3/)
  t.match(text, /slabcache_cluster_ownership_ratio\{node="n2"\} 0\.33/)
  const sent = Number(/slabcache_cluster_replicated_writes_total (\d+)/.exec(text)?.[1])
  const applied = Number(/slabcache_cluster_applied_records_total (\d+)/.exec(text)?.[1])
  t.ok(sent > 0 && applied > 0, `n1 replicated ${sent} writes and applied ${applied} records`)
})

t.test('RESP CLUSTER INFO summarises the cluster', async (t) => {
  const info = await clients[0]!.redis.call('CLUSTER', 'INFO') as string
  t.match(info, /cluster_enabled:1/)
  t.match(info, /cluster_known_nodes:3/)
  t.equal(await clients[1]!.redis.call('CLUSTER', 'MYID'), 'n2')
})

t.test('nodes given the same join list, themselves included, form one cluster', async (t) => {
  // Fixed peer ports, so every node can be given the whole list before any of them runs.
  const { createServer } = await import('node:net')
  const freePort = async (): Promise<number> => await new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => { const { port } = server.address() as { port: number }; server.close(() => { resolve(port) }) })
  })
  const ports = [await freePort(), await freePort()]
  const join = ports.map((p) => `127.0.0.1:${p}`)
  const [x, y] = await Promise.all(['x', 'y'].map(async (id, i) => await startNode(t, { id, join, args: ['--peer-port', String(ports[i])] })))
  const views = await Promise.all([x!, y!].map(async (node) => await eventually(async () => {
    const status = await clusterStatus(node)
    return status.members.filter((m) => m.state === 'up').length === 2 ? status : null
  }, `${node.id} sees both up`)))
  for (const view of views) t.same(view.members.map((m) => m.id).sort(), ['x', 'y'])
})
