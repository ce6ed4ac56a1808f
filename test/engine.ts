import t from 'tap'
import { startTestServer } from './fixtures/server.js'
import type { Result } from '../src/command/command.js'
import { SetMode, StoreStatus } from '../src/core/store-status.js'
import { keyHash } from '../src/core/key-hash.js'
import { I_META, metaBumpEpoch } from '../src/core/slab-layout.js'
import { OP_SET } from '../src/shard/shard-messages.js'

t.test('scan - one call visits a bounded number of buckets; following the cursor finds every key once', async (t) => {
  const server = await startTestServer(t)
  const engine = server.engine
  const empty = engine.execute({ op: 'scan', tenantId: 0, cursor: 0, count: 10 }) as Result
  t.equal(empty.keys.length, 0)
  t.not(empty.cursor, 0, 'an empty table is not walked whole in one call: the cursor says where to go on')
  for (let i = 0; i < 500; i++) {
    engine.execute({ op: 'set', tenantId: 0, key: Buffer.from(`k${i}`), value: Buffer.from('v'), mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 })
  }
  const seen = new Set<string>()
  let cursor = 0
  let calls = 0
  do {
    const page = engine.execute({ op: 'scan', tenantId: 0, cursor, count: 100 }) as Result
    for (const key of page.keys) {
      t.notOk(seen.has(key.toString()), `${key.toString()} returned once`)
      seen.add(key.toString())
    }
    cursor = page.cursor
    calls++
  } while (cursor !== 0 && calls < 10_000)
  t.equal(seen.size, 500, 'every key was found')
})

t.test('tags - set stores tags and content type, get returns them, invalidateTag sums removals over shards', async (t) => {
  const server = await startTestServer(t, { shards: 3, memoryBytes: 48 * 1024 * 1024, limits: { maxTagsPerItem: 2, maxTagBytes: 4 } })
  const engine = server.engine
  const set = (key: string, tags?: string[], contentType?: string, tenantId = 0): Result => engine.execute({
    op: 'set', tenantId, key: Buffer.from(key), value: Buffer.from('v'), mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0,
    ...(tags !== undefined ? { tags: tags.map((tag) => Buffer.from(tag)) } : {}),
    ...(contentType !== undefined ? { contentType: Buffer.from(contentType) } : {})
  }) as Result
  t.equal(set('a', ['x', 'y'], 'text/html').error, null)
  let got = engine.execute({ op: 'get', tenantId: 0, key: Buffer.from('a') }) as Result
  t.equal(got.contentType?.toString(), 'text/html', 'a plain get carries the content type')
  t.same(got.tags, [], 'and no tags unless asked')
  got = engine.execute({ op: 'get', tenantId: 0, key: Buffer.from('a'), withTags: true }) as Result
  t.same(got.tags.map(String), ['x', 'y'])
  t.equal(set('plain').error, null)
  got = engine.execute({ op: 'get', tenantId: 0, key: Buffer.from('plain') }) as Result
  t.equal(got.contentType, null, 'an item stored without one has no content type')
  t.equal(set('b', ['x', 'y', 'z']).error, 'TOO_MANY_TAGS')
  t.equal(set('b', ['12345']).error, 'TAG_TOO_LARGE')
  t.equal(set('b', [], 'c'.repeat(256)).error, 'BAD_REQUEST')
  t.equal(set('b', [], 'c'.repeat(255)).error, null, 'a 255-byte content type fits')
  for (let i = 0; i < 300; i++) set(`k${i}`, ['x'])
  set('other-tenant', ['x'], undefined, 7)
  const removed = engine.execute({ op: 'invalidateTag', tenantId: 0, tag: Buffer.from('x') }) as Result
  t.equal(removed.error, null)
  t.equal(removed.count, 301, 'every key of the tenant with the tag, on all shards')
  t.equal((engine.execute({ op: 'invalidateTag', tenantId: 0, tag: Buffer.from('12345') }) as Result).error, 'TAG_TOO_LARGE')
  t.equal((engine.execute({ op: 'exists', tenantId: 7, key: Buffer.from('other-tenant') }) as Result).status, 0, 'another tenant keeps its tagged key')
  t.equal((engine.execute({ op: 'invalidateTag', tenantId: 7, tag: Buffer.from('x') }) as Result).count, 1)
})

t.test('lru.bumpInterval - reaches the main thread\'s store and the shard workers, which stamp epochs of that interval', async (t) => {
  const intervalMs = 4 * 3_600_000
  const server = await startTestServer(t, { shards: 2, lru: { bumpIntervalMs: intervalMs }, debug: { clockControl: true } })
  const engine = server.engine
  for (let shard = 0; shard < engine.shards.count; shard++) t.equal(engine.shards.store(shard).bumpIntervalMs, intervalMs, `shard ${shard} main-thread store`)
  // Worker-side sets link items, stamping the worker's epoch. Four sets a minute apart in one
  // 4 h window all carry that window's epoch; a worker on another interval (say the 60 s
  // default) would have stamped four different epochs.
  engine.clock.advance(intervalMs - (engine.clock.nowMs() % intervalMs))
  const store = engine.shards.store(0)
  for (let i = 0; i < 4; i++) {
    const key = Buffer.from(`worker-set-${i}`)
    const reply = await engine.shards.send(0, OP_SET, 0, key, Buffer.from('v'))
    t.equal(reply.status, StoreStatus.OK)
    const ref = store.index.find(0, key, keyHash(0, key, 0, key.length))
    t.not(ref, 0)
    t.equal(metaBumpEpoch(store.memory.words[ref * 2 + I_META]!), Math.floor(engine.clock.nowMs() / intervalMs) & 3, `set ${i}: the worker stamped the ${intervalMs} ms window's epoch`)
    engine.clock.advance(60_000)
  }
})
