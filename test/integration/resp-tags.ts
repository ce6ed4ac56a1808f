/**
 * TAG.SET / TAG.GET / TAG.INVALIDATE over the wire with ioredis against a real server: tag
 * invalidation across every shard removes every tagged key, and tags leave with their items on
 * delete, overwrite, expiry (debug clock) and eviction. Each test ends with the slab invariant
 * walker on every shard (tag lists and records included).
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import type { ConfigOverrides } from '../../src/config/load-config.js'
import { OP_CHECK } from '../../src/shard/shard-messages.js'

async function connect (t: Test, overrides: ConfigOverrides = {}): Promise<{ server: TestServer, redis: Redis }> {
  const server = await startTestServer(t, overrides)
  const redis = new Redis({ host: '127.0.0.1', port: server.respPort, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  await redis.connect()
  t.teardown(() => { redis.disconnect() })
  return { server, redis }
}

async function checkShards (t: Test, server: TestServer): Promise<void> {
  for (let id = 0; id < server.engine.shards.count; id++) {
    const reply = await server.engine.shards.send(id, OP_CHECK, 0)
    t.equal(reply.status, 0, `shard ${id} passes the invariant walk`)
  }
}

async function replyError (t: Test, promise: Promise<unknown>, message: string): Promise<void> {
  await t.rejects(promise, { name: 'ReplyError', message }, message)
}

t.test('TAG.INVALIDATE - removes all 10 000 keys of a tag across every shard and nothing else', async (t) => {
  const { server, redis } = await connect(t, { shards: 4, memoryBytes: 64 * 1024 * 1024 })
  const pipeline = redis.pipeline()
  for (let i = 0; i < 10_000; i++) pipeline.call('TAG.SET', `item:${i}`, `value ${i}`, 'TAGS', 'bulk', i % 10 === 0 ? 'tenth' : 'rest')
  for (let i = 0; i < 100; i++) pipeline.call('TAG.SET', `other:${i}`, 'v', 'TAGS', 'unrelated')
  pipeline.set('plain', 'v')
  const replies = await pipeline.exec()
  t.ok(replies!.every(([error, reply]) => error === null && reply === 'OK'), 'every write answered OK')
  const perShard = server.engine.stats().shards.map((shard) => shard.items)
  t.ok(perShard.every((items) => items > 2000), `the keys are spread over all shards (${perShard.join(', ')})`)
  t.same(await redis.call('TAG.GET', 'item:20'), ['bulk', 'tenth'])

  t.equal(await redis.call('TAG.INVALIDATE', 'tenth'), 1000)
  t.equal(await redis.call('TAG.INVALIDATE', 'bulk'), 9000, 'the rest of the tag')
  t.equal(await redis.call('TAG.INVALIDATE', 'bulk', 'tenth', 'rest'), 0, 'nothing is left to remove')
  t.equal(await redis.dbsize(), 101, 'only the untagged and the unrelated keys remain')
  const exists = await redis.exists(...Array.from({ length: 10_000 }, (_, i) => `item:${i}`))
  t.equal(exists, 0, 'none of the 10 000 keys exists')
  t.equal(await redis.get('other:5'), 'v')
  t.equal(await redis.get('plain'), 'v')
  await checkShards(t, server)
})

t.test('TAG.SET / TAG.GET - options, replies and tags kept by APPEND and INCR, replaced by SET', async (t) => {
  const { server, redis } = await connect(t)
  t.equal(await redis.call('TAG.SET', 'k', '10', 'EX', '100', 'TAGS', 'a', 'b', 'a'), 'OK')
  t.same(await redis.call('TAG.GET', 'k'), ['a', 'b'], 'a repeated tag is stored once')
  t.equal(await redis.ttl('k'), 100)
  t.equal(await redis.get('k'), '10')
  t.equal(await redis.call('TAG.SET', 'k', 'x', 'NX', 'TAGS', 'c'), null, 'NX on an existing key is nil')
  t.equal(await redis.call('TAG.SET', 'absent', 'x', 'XX', 'TAGS', 'c'), null, 'XX on a missing key is nil')
  t.equal(await redis.call('TAG.GET', 'absent'), null, 'TAG.GET of a missing key is nil')
  t.equal(await redis.append('k', '5'), 3)
  t.equal(await redis.incr('k'), 106)
  t.same(await redis.call('TAG.GET', 'k'), ['a', 'b'], 'APPEND and INCR keep the tags')
  t.equal(await redis.call('TAG.SET', 'k', 'v', 'PX', '5000', 'XX', 'TAGS', 'c'), 'OK')
  t.same(await redis.call('TAG.GET', 'k'), ['c'], 'TAG.SET replaces the tags')
  t.equal(await redis.call('TAG.INVALIDATE', 'a'), 0, 'the replaced tag has no members')
  t.equal(await redis.set('k', 'plain'), 'OK')
  t.same(await redis.call('TAG.GET', 'k'), [], 'plain SET stores the key without tags')
  t.equal(await redis.call('TAG.INVALIDATE', 'c'), 0)
  t.equal(await redis.get('k'), 'plain')
  t.equal(await redis.call('TAG.SET', 'd', 'v', 'TAGS', 'gone'), 'OK')
  t.equal(await redis.del('d'), 1)
  t.equal(await redis.call('TAG.INVALIDATE', 'gone'), 0, 'DEL took the key off its tag')
  await checkShards(t, server)
  t.equal(server.engine.stats().chunkBytes, server.engine.stats().shards.reduce((sum, s) => sum + s.chunkBytes, 0))
})

t.test('TAG.* - syntax, arity and limit errors', async (t) => {
  const { redis } = await connect(t, { limits: { maxTagsPerItem: 3, maxTagBytes: 8 } })
  await replyError(t, redis.call('TAG.SET', 'k', 'v', 'EX', '10', 'c'), 'ERR syntax error')
  await replyError(t, redis.call('TAG.SET', 'k', 'v', 'NX', 'XX', 'TAGS', 'a'), 'ERR syntax error')
  await replyError(t, redis.call('TAG.SET', 'k', 'v', 'EX', '1', 'TAGS'), 'ERR syntax error')
  await replyError(t, redis.call('TAG.SET', 'k', 'v', 'EX', 'soon', 'TAGS', 'a'), 'ERR value is not an integer or out of range')
  await replyError(t, redis.call('TAG.SET', 'k', 'v', 'EX', '0', 'TAGS', 'a'), "ERR invalid expire time in 'tag.set' command")
  await replyError(t, redis.call('TAG.SET', 'k', 'v', 'TAGS'), "ERR wrong number of arguments for 'tag.set' command")
  await replyError(t, redis.call('TAG.GET'), "ERR wrong number of arguments for 'tag.get' command")
  await replyError(t, redis.call('TAG.INVALIDATE'), "ERR wrong number of arguments for 'tag.invalidate' command")
  t.equal(await redis.call('TAG.SET', 'k', 'v', 'TAGS', 'a', 'b', 'c'), 'OK', 'maxTagsPerItem tags are accepted')
  await replyError(t, redis.call('TAG.SET', 'k', 'v2', 'TAGS', 'a', 'b', 'c', 'd'), 'ERR TOO_MANY_TAGS an item may carry at most 3 tags; received 4')
  t.equal(await redis.call('TAG.SET', 'k', 'v', 'TAGS', '12345678'), 'OK', 'a tag of maxTagBytes is accepted')
  await replyError(t, redis.call('TAG.SET', 'k', 'v3', 'TAGS', '123456789'), 'ERR TAG_TOO_LARGE a tag may be at most 8 bytes; received 9')
  await replyError(t, redis.call('TAG.INVALIDATE', '123456789'), 'ERR TAG_TOO_LARGE a tag may be at most 8 bytes; received 9')
  t.equal(await redis.get('k'), 'v', 'rejected writes stored nothing')
  t.same(await redis.call('TAG.GET', 'k'), ['12345678'])
})

t.test('TAG.INVALIDATE - expired keys are not counted and their tags are gone', async (t) => {
  const { server, redis } = await connect(t, { debug: { clockControl: true } })
  for (let i = 0; i < 50; i++) await redis.call('TAG.SET', `short:${i}`, 'v', 'EX', '10', 'TAGS', 'ttl')
  for (let i = 0; i < 5; i++) await redis.call('TAG.SET', `long:${i}`, 'v', 'EX', '1000', 'TAGS', 'ttl')
  t.equal(await redis.call('DEBUG', 'CLOCK', '11000'), 'OK')
  t.equal(await redis.exists('short:1'), 0, 'the short keys expired')
  t.equal(await redis.call('TAG.INVALIDATE', 'ttl'), 5, 'only the keys still alive count')
  t.equal(await redis.dbsize(), 0)
  await checkShards(t, server)
  t.equal(server.engine.stats().chunkBytes, 0, 'no tag record outlived its members')
})

t.test('TAG.INVALIDATE - evicted keys leave their tags; the count is what was still stored', async (t) => {
  const { server, redis } = await connect(t, { shards: 1, memoryBytes: 8 * 1024 * 1024, limits: { maxValueBytes: 1024 * 1024 } })
  const value = Buffer.alloc(4000, 'x')
  let written = 0
  while (server.engine.stats().evictions < 500) {
    const pipeline = redis.pipeline()
    for (let i = 0; i < 200; i++, written++) pipeline.call('TAG.SET', `e:${written}`, value, 'TAGS', 'all', `group:${written % 7}`)
    await pipeline.exec()
  }
  // The shard worker keeps evicting ahead of demand for a while; with no more writes, stored
  // keys + evictions stays constant, so that is what the invalidation must account for.
  let stored = 0
  let evictions = 0
  do {
    evictions = server.engine.stats().evictions
    stored = await redis.dbsize()
  } while (server.engine.stats().evictions !== evictions)
  t.ok(stored < written, `evictions happened (${written} written, ${stored} stored)`)
  await checkShards(t, server)
  const removed = await redis.call('TAG.INVALIDATE', 'all') as number
  t.equal(removed + server.engine.stats().evictions - evictions, stored, 'every stored key was removed (or evicted meanwhile)')
  t.equal(await redis.dbsize(), 0)
  t.equal(await redis.call('TAG.INVALIDATE', 'group:3'), 0)
  await checkShards(t, server)
  t.equal(server.engine.stats().chunkBytes, 0, 'every tag record was freed')
})
