/**
 * RESP in cluster mode: 2–3 real RESP servers in this process, each with its own engine, joined
 * by loopback routers (test/fixtures/loopback-router.ts) whose forwards run on the target's
 * `executeForPeer`. Clients are ioredis and raw sockets against node 0 and node 1. Where a key
 * really lives is checked on each node with `executeForPeer` (it never routes).
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { RawClient } from '../fixtures/raw-client.js'
import { keyOwnedBy, ownerIndex, startLoopbackCluster, type LoopbackCluster, type LoopbackNode } from '../fixtures/loopback-router.js'
import { startTestServer } from '../fixtures/server.js'
import { SlabcacheError } from '../../src/errors.js'
import { replyEnd } from '../../src/protocol/resp-reply.js'

async function client (t: Test, node: LoopbackNode | { respPort: number }): Promise<Redis> {
  const port = 'port' in node ? node.port : node.respPort
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  await redis.connect()
  t.teardown(() => { redis.disconnect() })
  return redis
}

async function replyError (t: Test, promise: Promise<unknown>, message: string): Promise<void> {
  await t.rejects(promise, { name: 'ReplyError', message }, message)
}

/** The node's own answer to a command, run there without routing (latin1 text of the reply). */
async function onNode (node: LoopbackNode, ...argv: string[]): Promise<string> {
  return (await node.resp.executeForPeer(0, argv.map((arg) => Buffer.from(arg, 'latin1')), 'async')).toString('latin1')
}

/** One complete RESP reply from a raw client, as latin1 text. */
async function reply (raw: RawClient): Promise<string> {
  return (await raw.until((bytes) => replyEnd(bytes, 0), 'a RESP reply')).toString('latin1')
}

/** Bytes the raw client has received and not yet read. */
async function pendingBytes (raw: RawClient): Promise<number> {
  let length = 0
  await raw.until((bytes) => { length = bytes.length; return 0 }, 'nothing')
  return length
}

function command (...argv: string[]): string {
  return `*${argv.length}\r\n${argv.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`
}

/** Lets the event loop turn until `done()` (a server-side effect this test waits for) holds. */
async function until (done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve))
}

function keysOf (count: number): { byNode: string[][], all: string[] } {
  const byNode: string[][] = Array.from({ length: count }, () => [])
  const all: string[] = []
  for (let n = 0; n < 12 * count; n++) {
    const key = `key:${n}`
    byNode[ownerIndex(0, Buffer.from(key), count)]!.push(key)
    all.push(key)
  }
  return { byNode, all }
}

async function cluster3 (t: Test): Promise<LoopbackCluster> {
  return await startLoopbackCluster(t, 3)
}

t.test('routing - every key is writable and readable through every node, and lives on its owner only', async (t) => {
  const cluster = await cluster3(t)
  const clients = await Promise.all(cluster.nodes.map(async (node) => await client(t, node)))
  const { byNode, all } = keysOf(3)
  t.ok(byNode.every((keys) => keys.length > 0), 'every node owns some of the keys')
  for (let i = 0; i < all.length; i++) t.equal(await clients[i % 3]!.set(all[i]!, `value ${i}`), 'OK')
  for (const redis of clients) {
    for (let i = 0; i < all.length; i++) t.equal(await redis.get(all[i]!), `value ${i}`, `${all[i]!} through every node`)
  }
  for (let n = 0; n < 3; n++) {
    for (const key of byNode[n]!) {
      for (let m = 0; m < 3; m++) {
        const local = await onNode(cluster.nodes[m]!, 'GET', key)
        t.equal(local !== '$-1\r\n', m === n, `${key} is stored on node ${n} only (checked on node ${m})`)
      }
    }
  }
  // Keyed commands with arguments run on the owner as sent: INCRBY, EXPIRE/TTL, APPEND, GETDEL.
  const remote = byNode[1]![0]!
  t.equal(await clients[0]!.incrby(`${remote}:n`, 5), 5)
  t.equal(await clients[2]!.append(remote, '!'), `value ${all.indexOf(remote)}!`.length)
  t.equal(await clients[0]!.expire(remote, 100), 1)
  t.equal(await clients[2]!.ttl(remote), 100)
  t.equal(await clients[0]!.getdel(remote), `value ${all.indexOf(remote)}!`)
  t.equal(await clients[1]!.exists(remote), 0)
  // DBSIZE and SCAN are this node's: each node counts what it holds.
  const sizes = await Promise.all(clients.map(async (redis) => await redis.dbsize()))
  t.equal(sizes.reduce((a, b) => a + b, 0), all.length, 'the DBSIZEs of the nodes add up to every key (and the counter)')
})

t.test('MGET/MSET/DEL/UNLINK/EXISTS/TOUCH - split by owner, merged in the original key order', async (t) => {
  const cluster = await cluster3(t)
  const redis = await client(t, cluster.nodes[0]!)
  const { all } = keysOf(3)
  const keys = all.slice(0, 12)
  const pairs = keys.flatMap((key, i) => [key, `v${i}`])
  t.equal(await redis.mset(...pairs), 'OK')
  const forwarded = cluster.nodes[0]!.router.forwards.filter((call) => call.argv[0] === 'MSET' || call.argv[0] === 'mset')
  t.equal(forwarded.length, 2, 'one MSET sub-command per other owner')
  for (const call of forwarded) {
    const index = Number(call.node.slice('node-'.length))
    for (let a = 1; a < call.argv.length; a += 2) t.equal(ownerIndex(0, Buffer.from(call.argv[a]!), 3), index, `${call.argv[a]!} went to its owner`)
  }
  for (let n = 0; n < 3; n++) {
    const mine = keys.filter((key) => ownerIndex(0, Buffer.from(key), 3) === n)
    for (const key of mine) t.not(await onNode(cluster.nodes[n]!, 'GET', key), '$-1\r\n', `${key} stored on its owner ${n}`)
  }
  // Order, misses and duplicates: the reply follows the request, whatever the owners.
  const asked = [keys[5]!, 'missing:a', keys[0]!, keys[11]!, keys[5]!, 'missing:b', keys[3]!]
  t.same(await redis.mget(...asked), ['v5', null, 'v0', 'v11', 'v5', null, 'v3'])
  t.equal(await redis.exists(keys[0]!, keys[1]!, keys[2]!, 'missing:a', keys[0]!), 4, 'EXISTS counts a key once per mention, across owners')
  t.equal(await redis.call('TOUCH', keys[3]!, keys[4]!, 'missing:c'), 2)
  t.equal(await redis.del(keys[0]!, keys[1]!, keys[2]!, 'missing:a'), 3)
  t.equal(await redis.unlink(keys[3]!, keys[4]!, keys[5]!), 3)
  t.same(await redis.mget(keys[0]!, keys[3]!, keys[6]!), [null, null, 'v6'])
  // An error in one part is the reply: a key over the limit is refused by its owner.
  const long = 'x'.repeat(cluster.nodes[0]!.engine.config.limits.maxKeyBytes + 1)
  await t.rejects(redis.mset(keys[6]!, 'again', long, 'v'), { name: 'ReplyError' }, 'MSET with an over-long key is refused')
  await replyError(t, redis.call('MSET', keys[6]!, 'v', keys[7]!), "ERR wrong number of arguments for 'mset' command")
  // Through node 1 as well: the local part there is another set of keys.
  const other = await client(t, cluster.nodes[1]!)
  t.same(await other.mget(keys[11]!, keys[10]!, keys[9]!), ['v11', 'v10', 'v9'])
})

t.test('CROSSSLOT - other multi-key commands whose keys have different owners are refused', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const redis = await client(t, cluster.nodes[0]!)
  const a0 = keyOwnedBy(0, 2, 'a')
  const b0 = keyOwnedBy(0, 2, 'b')
  const a1 = keyOwnedBy(1, 2, 'a')
  const b1 = keyOwnedBy(1, 2, 'b')
  t.equal(await redis.set(a0, 'x'), 'OK')
  t.equal(await redis.set(a1, 'y'), 'OK')
  const crossslot = "CROSSSLOT Keys in request don't hash to the same slot"
  await replyError(t, redis.rename(a0, a1), crossslot)
  await replyError(t, redis.renamenx(a1, b0), crossslot)
  await replyError(t, redis.msetnx(a0, '1', b1, '2'), crossslot)
  t.equal(await redis.get(a0), 'x', 'nothing was renamed')
  // Keys with one owner run there whole, local or remote.
  t.equal(await redis.rename(a1, b1), 'OK')
  t.equal(await onNode(cluster.nodes[1]!, 'GET', b1), '$1\r\ny\r\n', 'renamed on the owner')
  t.equal(await redis.msetnx(a0, '1', b0, '2'), 0, 'MSETNX on one owner (here): a0 exists')
  t.equal(await redis.msetnx(keyOwnedBy(1, 2, 'c'), '1', keyOwnedBy(1, 2, 'd'), '2'), 1, 'MSETNX on one owner (node 1)')
})

t.test('FLUSHALL/FLUSHDB and TAG.INVALIDATE - reach every node, integer replies summed', async (t) => {
  const cluster = await cluster3(t)
  const redis = await client(t, cluster.nodes[1]!)
  const { byNode, all } = keysOf(3)
  for (const key of all) t.equal(await redis.call('TAG.SET', key, 'v', 'TAGS', all.indexOf(key) % 2 === 0 ? 'even' : 'odd'), 'OK')
  const even = all.filter((_, i) => i % 2 === 0)
  const evenOwners = new Set(even.map((key) => ownerIndex(0, Buffer.from(key), 3)))
  t.ok(evenOwners.size > 1, 'the tag has keys on several nodes')
  t.equal(await redis.call('TAG.INVALIDATE', 'even', 'nothing'), even.length, 'every key of the tag, on every node, counted once')
  for (const key of even) t.equal(await redis.exists(key), 0, `${key} is gone`)
  t.equal(await redis.exists(...all.filter((_, i) => i % 2 === 1)), all.length - even.length, 'the other tag is untouched')
  t.equal(await redis.flushall(), 'OK')
  for (let n = 0; n < 3; n++) t.equal(await onNode(cluster.nodes[n]!, 'DBSIZE'), ':0\r\n', `node ${n} is empty`)
  t.equal(await redis.set(byNode[2]![0]!, 'v'), 'OK')
  t.equal(await redis.flushdb(), 'OK')
  t.equal(await onNode(cluster.nodes[2]!, 'DBSIZE'), ':0\r\n', 'FLUSHDB reached node 2')
  await replyError(t, redis.call('FLUSHALL', 'NOW'), 'ERR syntax error')
})

t.test('KEYS - the union of every node, a key held by several listed once; SCAN stays local', async (t) => {
  const cluster = await cluster3(t)
  const redis = await client(t, cluster.nodes[0]!)
  const { all } = keysOf(3)
  for (const key of all) await redis.set(key, 'v')
  // A replica's copy: the same key also stored on a node that does not own it.
  const copied = all.find((key) => ownerIndex(0, Buffer.from(key), 3) === 1)!
  t.equal(await onNode(cluster.nodes[2]!, 'SET', copied, 'copy'), '+OK\r\n')
  const listed = await redis.keys('key:*') as string[]
  t.equal(listed.length, all.length, 'each key once')
  t.same([...listed].sort(), [...all].sort())
  t.same(await redis.keys(copied), [copied], 'a literal pattern')
  const scanned: string[] = []
  let cursor = '0'
  do {
    const [next, page] = await redis.scan(cursor, 'COUNT', '1000')
    scanned.push(...page)
    cursor = next
  } while (cursor !== '0')
  t.same([...new Set(scanned)].sort(), all.filter((key) => ownerIndex(0, Buffer.from(key), 3) === 0).sort(), 'SCAN lists this node\'s items')
})

t.test('pipelining - mixed local and forwarded commands keep their reply order', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const local = keyOwnedBy(0, 2)
  const remote = keyOwnedBy(1, 2)
  let batch = ''
  for (let i = 0; i < 50; i++) {
    // Counters keyed by the value key: owned wherever their name hashes, local or not.
    const key = i % 3 === 0 ? local : remote
    batch += command('SET', key, `v${i}`) + command('GET', key) + command('INCR', `${key}:n`) + command('PING')
  }
  raw.write(batch)
  let localCount = 0
  let remoteCount = 0
  for (let i = 0; i < 50; i++) {
    t.equal(await reply(raw), '+OK\r\n', `SET ${i}`)
    t.equal(await reply(raw), `$${`v${i}`.length}\r\nv${i}\r\n`, `GET ${i}`)
    const counter = await reply(raw)
    if (i % 3 === 0) localCount++
    else remoteCount++
    t.equal(counter, `:${i % 3 === 0 ? localCount : remoteCount}\r\n`, `INCR ${i}`)
    t.equal(await reply(raw), '+PONG\r\n', `PING ${i}`)
  }
})

t.test('peer failure - a rejected forward answers -TRYAGAIN and the connection stays usable', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const remote = keyOwnedBy(1, 2)
  const local = keyOwnedBy(0, 2)
  cluster.nodes[0]!.router.unreachable.add('node-1')
  raw.write(command('SET', remote, 'v') + command('SET', local, 'w') + command('MGET', local, remote) + command('PING'))
  t.equal(await reply(raw), '-TRYAGAIN PEER_UNAVAILABLE node-1 cannot be reached\r\n')
  t.equal(await reply(raw), '+OK\r\n', 'the next command runs')
  t.equal(await reply(raw), '-TRYAGAIN PEER_UNAVAILABLE node-1 cannot be reached\r\n', 'a split command with a failed part answers its error')
  t.equal(await reply(raw), '+PONG\r\n')
  cluster.nodes[0]!.router.unreachable.clear()
  raw.write(command('SET', remote, 'v') + command('GET', remote))
  t.equal(await reply(raw), '+OK\r\n')
  t.equal(await reply(raw), '$1\r\nv\r\n')
  // Fan-out with an unreachable peer: the first error wins, the local part still ran.
  cluster.nodes[0]!.router.unreachable.add('node-1')
  raw.write(command('FLUSHALL'))
  t.equal(await reply(raw), '-TRYAGAIN PEER_UNAVAILABLE node-1 cannot be reached\r\n')
  t.equal(await onNode(cluster.nodes[0]!, 'DBSIZE'), ':0\r\n', 'this node flushed')
  t.equal(await onNode(cluster.nodes[1]!, 'DBSIZE'), ':1\r\n', 'the unreachable one did not')
})

t.test('CLIENT CONSISTENCY - per connection, default from the tenant, passed on with forwards and to replicated()', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const router = cluster.nodes[0]!.router
  router.tenantConsistency = 'quorum'
  const redis = await client(t, cluster.nodes[0]!)
  t.equal(await redis.call('CLIENT', 'CONSISTENCY'), 'quorum', 'the tenant default')
  const remote = keyOwnedBy(1, 2)
  const local = keyOwnedBy(0, 2)
  await redis.set(remote, 'v')
  t.equal(router.forwards.at(-1)!.consistency, 'quorum')
  t.equal(await redis.call('CLIENT', 'CONSISTENCY', 'ALL'), 'OK')
  t.equal(await redis.call('CLIENT', 'CONSISTENCY'), 'all')
  await redis.set(remote, 'w')
  t.equal(router.forwards.at(-1)!.consistency, 'all', 'forwarded with the connection\'s mode')
  t.equal(cluster.nodes[1]!.router.replicatedCalls.at(-1), 'all', 'the owner waited for replication with it')
  await redis.set(local, 'v')
  t.equal(router.replicatedCalls.at(-1), 'all', 'a local write asks replicated() with it')
  await replyError(t, redis.call('CLIENT', 'CONSISTENCY', 'eventual'), 'ERR CONSISTENCY must be one of async, quorum, all')
  await replyError(t, redis.call('CLIENT', 'CONSISTENCY', 'all', 'now'), 'ERR syntax error')
  const other = await client(t, cluster.nodes[0]!)
  t.equal(await other.call('CLIENT', 'CONSISTENCY'), 'quorum', 'another connection keeps the default')
})

t.test('replication - a pending replicated() holds the reply and the later ones; a rejection answers -NOREPL', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const router = cluster.nodes[0]!.router
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const probe = await client(t, cluster.nodes[0]!)
  const local = keyOwnedBy(0, 2)
  await probe.ping()
  // Every local command calls replicated(), the probe's too: count from just before each write.
  const hold = router.holdReplication()
  let calls = router.replicatedCalls.length
  raw.write(command('SET', local, 'v1') + command('PING'))
  await until(() => router.replicatedCalls.length > calls)
  router.hold = null
  // Another client's round trip: the held connection had the time to answer, and did not.
  t.equal(await probe.ping(), 'PONG')
  t.equal(await pendingBytes(raw), 0, 'no reply while replication is pending')
  hold.resolve()
  t.equal(await reply(raw), '+OK\r\n')
  t.equal(await reply(raw), '+PONG\r\n', 'the later reply after it')
  // Rejected: the command's reply is replaced by the error, the connection goes on.
  const failing = router.holdReplication()
  calls = router.replicatedCalls.length
  raw.write(command('SET', local, 'v2') + command('GET', local))
  await until(() => router.replicatedCalls.length > calls)
  router.hold = null
  failing.reject(new SlabcacheError('REPLICATION_TIMEOUT', 'replicas did not acknowledge within 1000 ms'))
  t.equal(await reply(raw), '-NOREPL REPLICATION_TIMEOUT replicas did not acknowledge within 1000 ms\r\n')
  t.equal(await reply(raw), '$2\r\nv2\r\n', 'the write itself was applied here')
  // On the owner of a forwarded command: the relayed reply carries the owner's NOREPL.
  const viaPeer = await client(t, cluster.nodes[1]!)
  await viaPeer.ping()
  const owned = cluster.nodes[0]!.router.holdReplication()
  calls = router.replicatedCalls.length
  const pending = viaPeer.set(local, 'v3')
  await until(() => router.replicatedCalls.length > calls)
  router.hold = null
  owned.reject(new SlabcacheError('REPLICATION_TIMEOUT', 'late'))
  await replyError(t, pending, 'NOREPL REPLICATION_TIMEOUT late')
  t.equal(await viaPeer.get(local), 'v3')
})

t.test('executeForPeer - runs here without routing, one session per tenant, error replies resolve', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const node0 = cluster.nodes[0]!
  const remote = keyOwnedBy(1, 2)
  const before = node0.router.forwards.length
  t.equal(await onNode(node0, 'SET', remote, 'here'), '+OK\r\n', 'stored on node 0 although node 1 owns it')
  t.equal(await onNode(node0, 'GET', remote), '$4\r\nhere\r\n')
  t.equal(await onNode(node0, 'FLUSHALL'), '+OK\r\n')
  t.equal(node0.router.forwards.length, before, 'nothing was forwarded, not even the fan-out')
  t.equal(await onNode(node0, 'NOSUCH'), "-ERR unknown command 'NOSUCH', with args beginning with: \r\n")
  t.equal((await node0.resp.executeForPeer(0, [], 'async')).toString(), '-ERR empty command\r\n')
  // Concurrent calls of one tenant while one waits for replication: queued, answered in order.
  const hold = node0.router.holdReplication()
  const first = node0.resp.executeForPeer(0, [Buffer.from('SET'), Buffer.from('q'), Buffer.from('1')], 'all')
  node0.router.hold = null
  const second = node0.resp.executeForPeer(0, [Buffer.from('GET'), Buffer.from('q')], 'async')
  hold.resolve()
  t.equal((await first).toString(), '+OK\r\n')
  t.equal((await second).toString(), '$1\r\n1\r\n')
})

t.test('CLUSTER INFO/MYID/MEMBERS and INFO cluster - from the router', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const redis = await client(t, cluster.nodes[1]!)
  const info = await redis.call('CLUSTER', 'INFO') as string
  t.match(info, /^cluster_enabled:1\r\ncluster_state:ok\r\ncluster_my_id:node-1\r\ncluster_known_nodes:2\r\ncluster_size:2\r\ncluster_replicas:2\r\ncluster_consistency:async\r\n/)
  t.match(info, /cluster_migration_running:0\r\ncluster_migration_progress:1\.0000\r\n.*cluster_migration_passes:3\r\ncluster_migration_interrupted:0\r\n$/s)
  t.equal(await redis.call('CLUSTER', 'MYID'), 'node-1')
  t.same(await redis.call('CLUSTER', 'MEMBERS'), [
    ['node-0', '127.0.0.1:7946', 'up', 1, '0.5000', 0],
    ['node-1', '127.0.0.1:7947', 'up', 2, '0.5000', 0]
  ])
  await replyError(t, redis.call('CLUSTER', 'NODES'), "ERR unknown subcommand 'NODES'. Try CLUSTER HELP.")
  const section = await redis.info('cluster')
  t.match(section, /^# Cluster\r\ncluster_enabled:1\r\ncluster_state:ok\r\n/)
  t.same(await redis.config('GET', 'cluster-enabled'), ['cluster-enabled', 'yes'])
})

t.test('single node - CLUSTER answers that cluster support is disabled, INFO says cluster_enabled:0, routing is off', async (t) => {
  const server = await startTestServer(t)
  const redis = await client(t, server)
  await replyError(t, redis.call('CLUSTER', 'INFO'), 'ERR This instance has cluster support disabled')
  await replyError(t, redis.call('CLUSTER', 'MYID'), 'ERR This instance has cluster support disabled')
  await replyError(t, redis.call('CLUSTER', 'MEMBERS'), 'ERR This instance has cluster support disabled')
  t.equal(await redis.info('cluster'), '# Cluster\r\ncluster_enabled:0\r\n')
  t.equal(await redis.call('CLIENT', 'CONSISTENCY'), 'async')
  t.equal(await redis.call('CLIENT', 'CONSISTENCY', 'quorum'), 'OK')
  t.equal(await redis.call('CLIENT', 'CONSISTENCY'), 'quorum')
  t.equal(await redis.mset('a', '1', 'b', '2', 'c', '3'), 'OK')
  t.equal(await redis.rename('a', 'z'), 'OK', 'no CROSSSLOT on a single node')
  t.same(await redis.mget('z', 'b', 'c'), ['1', '2', '3'])
  t.equal(await redis.call('TOUCH', 'z', 'b', 'nope'), 2)
})

/** A deterministic pseudo-random sequence (a test must fail the same way twice). */
function lcg (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 0x100000000
  }
}

t.test('pipelining - 200 mixed local/remote GET/SET/INCR answer in exact order while forwards resolve out of order', async (t) => {
  const cluster = await cluster3(t)
  const router = cluster.nodes[0]!.router
  // Replies come back late by a varying number of event-loop turns: out of call order.
  router.replyDelayTurns = (call) => (call * 7) % 5
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const keys = [0, 1, 2].flatMap((n) => [keyOwnedBy(n, 3, 's'), keyOwnedBy(n, 3, 't')])
  const counters = [0, 1, 2].flatMap((n) => [keyOwnedBy(n, 3, 'c'), keyOwnedBy(n, 3, 'd')])
  const values = new Map<string, string>()
  const counts = new Map<string, number>()
  const random = lcg(7)
  let batch = ''
  const expected: string[] = []
  let local = 0
  for (let i = 0; i < 200; i++) {
    const pick = random()
    if (pick < 0.35) {
      const key = keys[Math.floor(random() * keys.length)]!
      const value = `v${i}`
      batch += command('SET', key, value)
      values.set(key, value)
      expected.push('+OK\r\n')
      if (ownerIndex(0, Buffer.from(key), 3) === 0) local++
    } else if (pick < 0.7) {
      const key = keys[Math.floor(random() * keys.length)]!
      batch += command('GET', key)
      const value = values.get(key)
      expected.push(value === undefined ? '$-1\r\n' : `$${value.length}\r\n${value}\r\n`)
      if (ownerIndex(0, Buffer.from(key), 3) === 0) local++
    } else {
      const key = counters[Math.floor(random() * counters.length)]!
      batch += command('INCR', key)
      const count = (counts.get(key) ?? 0) + 1
      counts.set(key, count)
      expected.push(`:${count}\r\n`)
      if (ownerIndex(0, Buffer.from(key), 3) === 0) local++
    }
  }
  t.ok(local > 20 && local < 180, `a mix: ${local} of 200 commands run locally`)
  raw.write(batch)
  for (let i = 0; i < expected.length; i++) t.equal(await reply(raw), expected[i], `reply ${i}`)
  t.equal(router.forwards.length, 200 - local, 'every other command was forwarded')
  t.ok(router.maxInFlight > 1, `forwards ran concurrently (${router.maxInFlight} at once)`)
  t.equal(router.inFlight, 0)
})

t.test('pipelining - a forward holds the replies after it, errors and split replies keep their slot', async (t) => {
  const cluster = await cluster3(t)
  const router = cluster.nodes[0]!.router
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const probe = await client(t, cluster.nodes[0]!)
  const local = keyOwnedBy(0, 3)
  const remote = keyOwnedBy(1, 3)
  const lost = keyOwnedBy(2, 3)
  t.equal(await probe.set(local, 'here'), 'OK')
  router.unreachable.add('node-2')
  const release = router.holdReplies()
  raw.write(command('SET', remote, 'there') + command('GET', lost) + command('GET', local) +
    command('MGET', remote, local) + command('PING') + command('INCR', lost) + command('GET', remote))
  await until(() => router.forwards.length >= 5)
  t.equal(await probe.ping(), 'PONG')
  t.equal(router.forwards.length, 5, 'SET, GET, the MGET part, INCR and GET forwarded without waiting')
  t.equal(router.inFlight, 3, 'the reachable forwards are in flight together')
  t.equal(await pendingBytes(raw), 0, 'nothing answered while the first forward is pending')
  release()
  t.equal(await reply(raw), '+OK\r\n')
  t.equal(await reply(raw), '-TRYAGAIN PEER_UNAVAILABLE node-2 cannot be reached\r\n', 'the failed forward answers in its slot')
  t.equal(await reply(raw), '$4\r\nhere\r\n', 'the local reply after it')
  t.equal(await reply(raw), '*2\r\n$5\r\nthere\r\n$4\r\nhere\r\n', 'the split reply, merged, in its slot')
  t.equal(await reply(raw), '+PONG\r\n')
  t.equal(await reply(raw), '-TRYAGAIN PEER_UNAVAILABLE node-2 cannot be reached\r\n')
  t.equal(await reply(raw), '$5\r\nthere\r\n')
})

t.test('pipelining - CLIENT, SELECT, FLUSHALL and QUIT wait for the forwards before them', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const router = cluster.nodes[0]!.router
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const probe = await client(t, cluster.nodes[0]!)
  const remote = keyOwnedBy(1, 2)
  const local = keyOwnedBy(0, 2)
  // CLIENT CONSISTENCY: the forwards before it keep the old mode, the ones after get the new.
  let release = router.holdReplies()
  raw.write(command('SET', remote, 'a') + command('GET', local) + command('CLIENT', 'CONSISTENCY', 'quorum') + command('SET', remote, 'b') + command('SELECT', '0') + command('GET', remote))
  await until(() => router.forwards.length >= 1)
  t.equal(await probe.ping(), 'PONG')
  t.equal(router.forwards.length, 1, 'the command after the barrier was not run')
  t.equal(await pendingBytes(raw), 0)
  release()
  t.equal(await reply(raw), '+OK\r\n')
  t.equal(await reply(raw), '$-1\r\n')
  t.equal(await reply(raw), '+OK\r\n', 'CLIENT CONSISTENCY')
  t.equal(await reply(raw), '+OK\r\n')
  t.equal(await reply(raw), '+OK\r\n', 'SELECT 0')
  t.equal(await reply(raw), '$1\r\nb\r\n')
  t.same(router.forwards.map((call) => call.consistency), ['async', 'quorum', 'quorum'])
  // FLUSHALL (a fan-out): not started, here or on the peer, before the write ahead of it answered.
  const before = router.forwards.length
  release = router.holdReplies()
  raw.write(command('SET', remote, 'c') + command('FLUSHALL') + command('GET', remote))
  await until(() => router.forwards.length > before)
  t.equal(await probe.ping(), 'PONG')
  t.equal(router.forwards.length, before + 1, 'FLUSHALL waits')
  release()
  t.equal(await reply(raw), '+OK\r\n')
  t.equal(await reply(raw), '+OK\r\n', 'FLUSHALL')
  t.equal(await reply(raw), '$-1\r\n', 'the flush came after the write')
  // QUIT: every reply before it is written, then the connection ends.
  release = router.holdReplies()
  raw.write(command('SET', remote, 'd') + command('QUIT') + command('PING'))
  await until(() => router.inFlight === 1)
  release()
  t.equal(await reply(raw), '+OK\r\n')
  t.equal(await reply(raw), '+OK\r\n', 'QUIT')
  t.equal(await raw.closed(), '', 'closed after QUIT, PING ignored')
})

t.test('pipelining - at most 128 forwards in flight per connection; reading resumes as they answer', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const router = cluster.nodes[0]!.router
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const probe = await client(t, cluster.nodes[0]!)
  const remote = keyOwnedBy(1, 2)
  const release = router.holdReplies()
  let batch = ''
  for (let i = 0; i < 300; i++) batch += command('INCR', remote)
  raw.write(batch)
  await until(() => router.forwards.length >= 128)
  t.equal(await probe.ping(), 'PONG')
  t.equal(router.forwards.length, 128, 'the connection stops at the cap')
  release()
  for (let i = 1; i <= 300; i++) t.equal(await reply(raw), `:${i}\r\n`, `INCR ${i}`)
  t.ok(router.maxInFlight <= 128, `never more than 128 in flight (${router.maxInFlight})`)
})

t.test('pipelining - a protocol error after pending forwards answers after them, then closes', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const router = cluster.nodes[0]!.router
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const remote = keyOwnedBy(1, 2)
  const release = router.holdReplies()
  raw.write(command('SET', remote, 'v') + '*1\r\n$x\r\n')
  await until(() => router.inFlight === 1)
  release()
  t.equal(await reply(raw), '+OK\r\n')
  t.match(await reply(raw), /^-ERR Protocol error/)
  t.equal(await raw.closed(), '')
})

t.test('pipelining - a local write held for replication keeps its slot; later keyed commands run, barriers wait', async (t) => {
  const cluster = await startLoopbackCluster(t, 2)
  const router = cluster.nodes[0]!.router
  const raw = await RawClient.open(t, cluster.nodes[0]!.port)
  const probe = await client(t, cluster.nodes[0]!)
  const local = keyOwnedBy(0, 2, 'a')
  const other = keyOwnedBy(0, 2, 'b')
  const remote = keyOwnedBy(1, 2)
  await probe.ping()
  const hold = router.holdReplication()
  raw.write(command('SET', local, 'v1') + command('SET', other, 'w') + command('SET', remote, 'r') + command('CLIENT', 'CONSISTENCY', 'all') + command('GET', remote))
  await until(() => router.forwards.length >= 1)
  t.equal(await probe.ping(), 'PONG')
  t.equal(await onNode(cluster.nodes[0]!, 'GET', other), '$1\r\nw\r\n', 'the write after the held one ran')
  t.equal(router.forwards.length, 1, 'the command after the barrier did not run')
  t.equal(await pendingBytes(raw), 0, 'no reply while replication is pending')
  hold.resolve()
  for (const expected of ['+OK\r\n', '+OK\r\n', '+OK\r\n', '+OK\r\n', '$1\r\nr\r\n']) t.equal(await reply(raw), expected)
  t.same(router.forwards.map((call) => call.consistency), ['async', 'all'])
  // Rejected: the error reply in the write's slot, the replies after it unchanged.
  const failing = router.holdReplication()
  raw.write(command('SET', local, 'v2') + command('GET', remote) + command('GET', local))
  await until(() => router.forwards.length >= 3)
  failing.reject(new SlabcacheError('REPLICATION_TIMEOUT', 'late'))
  t.equal(await reply(raw), '-NOREPL REPLICATION_TIMEOUT late\r\n')
  t.equal(await reply(raw), '$1\r\nr\r\n')
  t.equal(await reply(raw), '$2\r\nv2\r\n')
})
