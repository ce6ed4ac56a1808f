/**
 * Persistence through the real CLI process: a snapshot survives `kill -9` (every item back
 * byte-identical with its TTL, flags, CAS, tags and content type, also into another shard
 * count); SIGTERM writes a snapshot and exits 0; --no-snapshot-on-shutdown does not.
 */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { verifySnapshot } from '../../src/persist/snapshot-verify.js'
import { CliProcess } from '../fixtures/cli-process.js'
import { fillItems, readItems, sameItems } from '../fixtures/snapshot-data.js'

t.test('kill -9 after a snapshot: a new process restores every item identically, into another shard count', async (t) => {
  const dataDir = t.testdir({})
  const first = new CliProcess(t, ['--data-dir', dataDir, '--shards', '2', '--memory', '32mb', '--snapshot-interval', '200ms'])
  const { url, memcachePort } = await first.listening()
  const keys = await fillItems(t, url, memcachePort, 150)
  const before = await readItems(t, url, memcachePort, keys)
  t.equal(before.size, keys.length)
  // A snapshot that started after the last write: the interval writes one within ~200 ms.
  const from = first.logs.length
  const written = await first.waitFor((e) => e.msg === 'snapshot written' && e['items'] === keys.length, 'a snapshot with every item', from)
  t.equal(written['file'], join(dataDir, 'snapshots', 'dump.slab'))
  first.child.kill('SIGKILL')
  t.same(await first.exited, { code: null, signal: 'SIGKILL' }, 'killed')

  const second = new CliProcess(t, ['--data-dir', dataDir, '--shards', '3', '--memory', '48mb'])
  const restarted = await second.listening()
  const restored = second.logs.find((e) => e.msg === 'snapshot restored')
  t.match(restored, { items: keys.length, skippedExpired: 0, evicted: 0 }, 'restored before listening')
  t.ok(second.logs.indexOf(restored!) < second.logs.findIndex((e) => e.msg === 'slabcache listening'), 'restore finished before any listener opened')
  sameItems(t, before, await readItems(t, restarted.url, restarted.memcachePort, keys))
  second.child.kill('SIGKILL')
})

t.test('SIGTERM: stop accepting, write the snapshot, exit 0; the next start has the data', async (t) => {
  const dataDir = t.testdir({})
  const first = new CliProcess(t, ['--data-dir', dataDir, '--memory', '32mb', '--shards', '2'])
  const { url, memcachePort } = await first.listening()
  const keys = await fillItems(t, url, memcachePort, 60)
  const before = await readItems(t, url, memcachePort, keys)
  first.child.kill('SIGTERM')
  t.same(await first.exited, { code: 0, signal: null }, 'exit code 0')
  const order = ['shutting down', 'snapshot written', 'stopped'].map((msg) => first.logs.findIndex((e) => e.msg === msg))
  t.ok(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)), `logs in order: shutting down, snapshot written, stopped (${order.join(', ')})`)
  const file = join(dataDir, 'snapshots', 'dump.slab')
  t.equal(verifySnapshot(readFileSync(file), file).trailer.items, keys.length, 'a complete snapshot with every item')

  const second = new CliProcess(t, ['--data-dir', dataDir, '--memory', '32mb', '--shards', '2'])
  const restarted = await second.listening()
  sameItems(t, before, await readItems(t, restarted.url, restarted.memcachePort, keys))
  second.child.kill('SIGKILL')
})

t.test('--no-snapshot-on-shutdown: SIGTERM exits 0 without writing a snapshot', async (t) => {
  const dataDir = t.testdir({})
  const child = new CliProcess(t, ['--data-dir', dataDir, '--memory', '32mb', '--shards', '2', '--no-snapshot-on-shutdown'])
  const { url } = await child.listening()
  t.equal((await fetch(`${url}/v1/cache/a`, { method: 'PUT', body: 'b' })).status, 204)
  child.child.kill('SIGTERM')
  t.same(await child.exited, { code: 0, signal: null })
  t.notOk(existsSync(join(dataDir, 'snapshots', 'dump.slab')), 'no snapshot written')
})
