/**
 * Restore semantics through the SnapshotManager of a real server, data checked over the wire:
 * per-tenant restore replaces one tenant and leaves the others untouched; a tenant restores
 * from the newer of its own and the whole snapshot; a smaller memory keeps the most recently
 * written items and reports the rest as evicted; expired items are skipped; a second
 * snapshot while one runs is refused.
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { basename } from 'node:path'
import { startTestServer, type TestServer } from '../fixtures/server.js'

const TENANTS = [
  { name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null },
  { name: 'beta', secret: 'beta-secret-12', secretHash: null, quotaBytes: null }
]

async function redisAs (t: Test, server: TestServer, username: string, password: string): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: server.respPort, username, password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  await redis.connect()
  t.teardown(() => { redis.disconnect() })
  return redis
}

async function redisPlain (t: Test, server: TestServer): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: server.respPort, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  await redis.connect()
  t.teardown(() => { redis.disconnect() })
  return redis
}

async function contents (redis: Redis): Promise<Record<string, string | null>> {
  const keys = (await redis.keys('*')).sort()
  const values = keys.length === 0 ? [] : await redis.mget(...keys)
  return Object.fromEntries(keys.map((key, i) => [key, values[i]!]))
}

t.test('per-tenant restore replaces that tenant only; the newer of its own and the whole snapshot is used', async (t) => {
  const server = await startTestServer(t, { tenants: TENANTS })
  const alphaId = server.tenants.byName('alpha')!.id
  const alpha = await redisAs(t, server, 'alpha', 'alpha-secret-1')
  const beta = await redisAs(t, server, 'beta', 'beta-secret-12')
  await alpha.mset('a1', 'one', 'a2', 'two', 'shared', 'alpha-shared')
  await beta.mset('b1', 'uno', 'shared', 'beta-shared')
  const alphaSaved = await contents(alpha)

  const info = await server.snapshots.save({ tenantId: alphaId })
  t.equal(basename(info.file), `tenant-${alphaId}.slab`)
  t.equal(info.tenantId, alphaId)
  t.equal(info.items, 3, "only alpha's items")
  t.equal(server.snapshots.lastSaveMs, 0, 'a tenant snapshot is not a whole-server save')

  await alpha.set('a1', 'changed')
  await alpha.del('a2')
  await alpha.set('a-new', 'new')
  await beta.set('b1', 'beta-changed')
  await beta.set('b-new', 'beta-new')
  const betaNow = await contents(beta)

  const restored = await server.snapshots.restore({ tenantId: alphaId })
  t.equal(basename(restored.file), `tenant-${alphaId}.slab`)
  t.match(restored, { tenantId: alphaId, items: 3, skippedExpired: 0, evicted: 0 })
  t.same(await contents(alpha), alphaSaved, 'alpha is exactly as saved (a-new gone, a2 back)')
  t.same(await contents(beta), betaNow, 'beta untouched')

  // A whole snapshot taken later is newer: the tenant restores from it.
  await alpha.set('a1', 'whole-version')
  const whole = await server.snapshots.save()
  t.ok(server.snapshots.lastSaveMs > 0)
  await alpha.set('a1', 'after-whole')
  const fromWhole = await server.snapshots.restore({ tenantId: alphaId })
  t.equal(basename(fromWhole.file), 'dump.slab')
  t.equal(await alpha.get('a1'), 'whole-version')
  t.same(await contents(beta), betaNow, 'beta still untouched')
  t.same((await server.snapshots.list()).map((s) => basename(s.file)), ['dump.slab', `tenant-${alphaId}.slab`], 'list: newest first')
  t.equal(whole.items, 3 + 3, 'the whole snapshot holds both tenants')
})

t.test('restore into a smaller memory keeps the most recently written items and counts the evicted ones', async (t) => {
  const dataDir = t.testdir({})
  const big = await startTestServer(t, { dataDir, shards: 2, memoryBytes: 64 * 1024 * 1024 })
  const redis = await redisPlain(t, big)
  const value = 'x'.repeat(2000)
  const count = 16_000 // ≈ 34 MB of items: more than a 16 MiB server holds
  for (let i = 0; i < count; i += 500) {
    const pipeline = redis.pipeline()
    for (let j = i; j < i + 500; j++) pipeline.set(`key:${j}`, `${j}:${value}`)
    await pipeline.exec()
  }
  t.equal(big.engine.stats().items, count, 'everything fits in 64 MiB')
  const saved = await big.snapshots.save()
  t.equal(saved.items, count)
  await big.close()

  const small = await startTestServer(t, { dataDir, shards: 2, memoryBytes: 16 * 1024 * 1024, limits: { maxValueBytes: 1024 * 1024 }, snapshot: { restoreOnStart: false } })
  const info = await small.snapshots.restore()
  t.ok(info.evicted > 0, `${info.evicted} items did not fit`)
  t.equal(info.items + info.evicted + info.skippedExpired, count, 'every record accounted for')
  // The shard workers' evict-ahead may free a little more headroom right after the load.
  const held = small.engine.stats().items
  t.ok(held <= info.items && held >= info.items * 0.97, `items (${info.items}) = what the server holds (${held}), up to evict-ahead`)
  const client = await redisPlain(t, small)
  t.equal(await client.get(`key:${count - 1}`), `${count - 1}:${value}`, 'the last written item is there')
  t.equal(await client.get('key:0'), null, 'the first written item was evicted')
  // The newest quarter survives: eviction went oldest first.
  const newest = await client.mget(...Array.from({ length: 200 }, (_, i) => `key:${count - 1 - i}`))
  t.equal(newest.filter((v) => v === null).length, 0, 'the 200 most recently written are all present')
})

t.test('expired items are skipped on restore and counted', async (t) => {
  const server = await startTestServer(t, { debug: { clockControl: true } })
  for (let i = 0; i < 10; i++) {
    t.equal((await fetch(`${server.url}/v1/cache/short${i}?ttl=10`, { method: 'PUT', body: 's' })).status, 204)
    t.equal((await fetch(`${server.url}/v1/cache/long${i}?ttl=100000`, { method: 'PUT', body: 'l' })).status, 204)
  }
  t.equal((await server.snapshots.save()).items, 20)
  t.equal((await fetch(`${server.url}/v1/debug/clock`, { method: 'POST', body: JSON.stringify({ advanceMs: 20_000 }) })).status, 200)
  const info = await server.snapshots.restore()
  t.match(info, { items: 10, skippedExpired: 10, evicted: 0 })
  t.equal((await fetch(`${server.url}/v1/cache/short3`)).status, 404)
  t.equal(await (await fetch(`${server.url}/v1/cache/long3`)).text(), 'l')
})

t.test('one snapshot or restore at a time: a second is refused with SNAPSHOT_IN_PROGRESS; bad tenant ids are refused', async (t) => {
  const server = await startTestServer(t)
  await t.rejects(server.snapshots.restore(), { code: 'SNAPSHOT_NOT_FOUND', message: /dump\.slab does not exist/ }, 'nothing saved yet')
  await t.rejects(server.snapshots.restore({ tenantId: 5 }), { code: 'SNAPSHOT_NOT_FOUND' }, 'nothing saved yet, for a tenant')
  for (let i = 0; i < 50; i++) await fetch(`${server.url}/v1/cache/k${i}`, { method: 'PUT', body: 'v' })
  const first = server.snapshots.save()
  t.equal(server.snapshots.saving, true)
  await t.rejects(server.snapshots.save(), { code: 'SNAPSHOT_IN_PROGRESS', message: 'a snapshot is already being written' })
  await t.rejects(server.snapshots.restore(), { code: 'SNAPSHOT_IN_PROGRESS' })
  await first
  t.equal(server.snapshots.saving, false)
  await t.rejects(server.snapshots.save({ tenantId: 1024 }), { code: 'BAD_REQUEST' })
  await t.rejects(server.snapshots.restore({ tenantId: -1 }), { code: 'BAD_REQUEST' })
  t.match(await server.snapshots.restore({ tenantId: 5 }), { items: 0 }, 'a tenant without items restores nothing from the whole snapshot')
  t.equal(server.engine.stats().items, 50, 'and the default tenant is untouched')
})

t.test('a snapshot taken during a write load holds, for every key, a value some write stored for it', async (t) => {
  const server = await startTestServer(t)
  const redis = await redisPlain(t, server)
  const keys = 3000
  const valueOf = (key: number, version: number): string => `${key}/${version}/${'p'.repeat((key * 7 + version * 13) % 300)}`
  const seed = redis.pipeline()
  for (let k = 0; k < keys; k++) seed.set(`w:${k}`, valueOf(k, 0))
  await seed.exec()
  let stop = false
  let version = 0
  const load = (async () => {
    while (!stop) {
      version++
      const pipeline = redis.pipeline()
      for (let i = 0; i < 200; i++) {
        const k = (version * 811 + i * 97) % keys
        pipeline.set(`w:${k}`, valueOf(k, version))
      }
      await pipeline.exec()
    }
  })()
  const saved = await server.snapshots.save()
  const versionsDuringSave = version
  stop = true
  await load
  t.ok(versionsDuringSave > 0, `${versionsDuringSave} write batches ran during the snapshot`)
  t.equal(saved.items, keys)
  await server.snapshots.restore()
  const values = await redis.mget(...Array.from({ length: keys }, (_, k) => `w:${k}`))
  const bad = values.filter((value, k) => {
    const [key, v] = (value ?? '').split('/')
    return value === null || Number(key) !== k || value !== valueOf(k, Number(v)) || Number(v) > version
  })
  t.same(bad, [], 'every restored value is one that was written for its key')
})
