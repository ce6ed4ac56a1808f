/**
 * Tombstones: the larger stamp wins, retention expires them, the bound holds, and partition
 * lookups find them (clock injected as arguments).
 */
import t from 'tap'
import { Tombstones } from '../../src/cluster/tombstones.js'
import { partitionOf, ringPosition } from '../../src/cluster/hash-ring.js'

t.test('record keeps the newest stamp; stampOf is 0 for unknown keys', async (t) => {
  const tombs = new Tombstones(1000)
  t.equal(tombs.stampOf(0, Buffer.from('a')), 0)
  tombs.record(0, Buffer.from('a'), 50, 0)
  tombs.record(0, Buffer.from('a'), 40, 1)
  t.equal(tombs.stampOf(0, Buffer.from('a')), 50, 'an older stamp does not replace a newer one')
  tombs.record(0, Buffer.from('a'), 60, 2)
  t.equal(tombs.stampOf(0, Buffer.from('a')), 60)
  t.equal(tombs.stampOf(1, Buffer.from('a')), 0, 'tenants are separate')
})

t.test('retention and bound', async (t) => {
  const tombs = new Tombstones(1000, 3)
  for (let i = 0; i < 5; i++) tombs.record(0, Buffer.from(`k${i}`), 10 + i, i * 100)
  t.equal(tombs.size, 3, 'at most maxEntries')
  t.equal(tombs.stampOf(0, Buffer.from('k0')), 0, 'the oldest went first')
  tombs.expire(1250)
  t.equal(tombs.size, 2, 'k2 (recorded at 200) is 1050 ms old: expired')
  tombs.expire(5000)
  t.equal(tombs.size, 0)
})

t.test('inPartitions finds tombstones by ring partition', async (t) => {
  const tombs = new Tombstones(1000)
  const key = Buffer.from('somewhere')
  tombs.record(2, key, 99, 0)
  const p = partitionOf(ringPosition(2, key))
  t.same(tombs.inPartitions(new Set([p])).map((x) => [x.tenantId, x.key.toString(), x.stamp]), [[2, 'somewhere', 99]])
  t.same(tombs.inPartitions(new Set([(p + 1) % 4096])), [])
})
