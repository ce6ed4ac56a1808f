import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { startTestServer } from '../fixtures/server.js'
import { fillItems, readItems, sameItems } from '../fixtures/snapshot-data.js'

t.test('save, then a new server on the same data dir restores every item identically, into another shard count', async (t) => {
  const dataDir = t.testdir({})
  const first = await startTestServer(t, { dataDir, shards: 2 })
  const keys = await fillItems(t, first.url, first.memcachePort)
  const before = await readItems(t, first.url, first.memcachePort, keys)
  t.equal(before.size, keys.length, 'every item written')
  t.equal(first.snapshots.lastSaveMs, 0, 'no save yet')
  const info = await first.snapshots.save()
  t.equal(info.items, keys.length, 'the snapshot holds every item')
  t.equal(info.tenantId, null)
  t.equal(info.file, join(dataDir, 'snapshots', 'dump.slab'))
  t.ok(existsSync(info.file), 'dump.slab written')
  t.ok(first.snapshots.lastSaveMs > 0, 'lastSaveMs set')
  t.same((await first.snapshots.list()).map((s) => [s.file, s.items, s.bytes]), [[info.file, info.items, info.bytes]], 'list shows it')
  await first.close()

  const second = await startTestServer(t, { dataDir, shards: 3, memoryBytes: 48 * 1024 * 1024 })
  const after = await readItems(t, second.url, second.memcachePort, keys)
  sameItems(t, before, after)
  t.equal(second.engine.stats().items, keys.length, 'nothing else was loaded')
})
