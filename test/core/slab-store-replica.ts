/**
 * Replication on the store (SlabStore.applyVersion / applyDelete / versionOf, and
 * delete's tombstone stamp): last-write-wins by CAS with ties decided by the caller, the CAS
 * counter moved past every applied stamp, and a version carried whole (value, flags, expiry,
 * tags, content type, CAS) through exportKey → decodeRecord → applyVersion into another store.
 * `checkSlab` after the mutations.
 */
import t from 'tap'
import { ReadResult, SetMode, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { ExportBuffer, exportKey } from '../../src/core/slab-export.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { ManualClock } from '../../src/util/clock.js'
import { decodeRecord } from '../../src/persist/snapshot-format.js'

const b = (s: string): Buffer => Buffer.from(s)
const hashOf = (tenant: number, key: Uint8Array): number => keyHash(tenant, key, 0, key.length)
const newStore = (clock: ManualClock, bytes = 8 << 20): SlabStore => SlabStore.create(new SharedArrayBuffer(bytes), { clock, ownerId: 1, recordsHits: true })

function options (fields: Partial<WriteOptions> = {}): WriteOptions {
  return Object.assign(new WriteOptions(), fields)
}

function set (store: SlabStore, tenant: number, key: string, value: string, write = options()): number {
  const k = b(key)
  if (store.set(tenant, k, hashOf(tenant, k), b(value), write) !== StoreStatus.OK) throw new Error(`set ${key}`)
  return store.lastCas
}

function apply (store: SlabStore, tenant: number, key: string, value: string, cas: number, winsTie: boolean, write = options()): StoreStatus {
  const k = b(key)
  return store.applyVersion(tenant, k, hashOf(tenant, k), b(value), write, cas, winsTie)
}

function applyDelete (store: SlabStore, tenant: number, key: string, cas: number, winsTie: boolean): StoreStatus {
  const k = b(key)
  return store.applyDelete(tenant, k, hashOf(tenant, k), cas, winsTie)
}

/** The value and CAS of (tenant, key), or null when absent. */
function read (store: SlabStore, tenant: number, key: string): { value: string, cas: number, flags: number, expiryMs: number } | null {
  const k = b(key)
  const out = new ReadResult()
  const status = store.get(tenant, k, hashOf(tenant, k), out)
  if (status === StoreStatus.NOT_FOUND) return null
  if (status !== StoreStatus.OK) throw new Error(`get ${key}: ${status}`)
  return { value: out.value.toString('latin1', 0, out.valueLength), cas: out.cas, flags: out.flags, expiryMs: out.expiryMs }
}

t.test('applyVersion - absent, older, equal (both tie rules) and newer versions', async (t) => {
  const clock = new ManualClock()
  const store = newStore(clock)
  const base = 1_800_000_000_000 * 1024
  t.equal(apply(store, 0, 'k', 'v1', base, false), StoreStatus.OK, 'absent: applied')
  t.same(read(store, 0, 'k'), { value: 'v1', cas: base, flags: 0, expiryMs: 0 }, 'the item carries the applied CAS, not a fresh one')
  t.equal(store.lastCas, base)
  t.equal(apply(store, 0, 'k', 'older', base - 1, true), StoreStatus.EXISTS, 'older: refused even when it would win a tie')
  t.equal(apply(store, 0, 'k', 'tie', base, false), StoreStatus.EXISTS, 'equal without winsTie: refused')
  t.equal(read(store, 0, 'k')!.value, 'v1', 'nothing changed')
  t.equal(apply(store, 0, 'k', 'tie', base, true), StoreStatus.OK, 'equal with winsTie: applied')
  t.same(read(store, 0, 'k'), { value: 'tie', cas: base, flags: 0, expiryMs: 0 })
  t.equal(apply(store, 0, 'k', 'v2', base + 5, false, options({ flags: 7, mode: SetMode.ADD, keepTtl: true, expiryMs: clock.nowMs() + 60_000 })), StoreStatus.OK,
    'newer: applied (mode and keepTtl are ignored: a version replaces the item whole)')
  t.same(read(store, 0, 'k'), { value: 'v2', cas: base + 5, flags: 7, expiryMs: clock.nowMs() + 60_000 })
  t.equal(apply(store, 3, 'k', 'other tenant', base - 100, false), StoreStatus.OK, 'another tenant\'s key is another key')
  t.equal(read(store, 0, 'k')!.value, 'v2')
  t.equal(apply(store, 0, 'k'.repeat(5000), 'v', base, false), StoreStatus.KEY_TOO_LARGE)
  t.equal(apply(store, 5000, 'k', 'v', base, false), StoreStatus.BAD_TENANT)
  t.equal(apply(store, 0, 'k', 'v', base + 9, false, options({ tags: Array.from({ length: 300 }, (_, i) => b(`t${i}`)) })), StoreStatus.BAD_METADATA)
  t.equal(checkSlab(store), 2)
})

t.test('applyVersion - an expired local item counts as absent; a version expired on arrival removes the older item and stores nothing', async (t) => {
  const clock = new ManualClock()
  const store = newStore(clock)
  const expiring = set(store, 0, 'e', 'old', options({ expiryMs: clock.nowMs() + 10 }))
  clock.advance(20)
  t.equal(apply(store, 0, 'e', 'replica', expiring - 1, false), StoreStatus.OK, 'the expired item is not a newer version')
  t.equal(read(store, 0, 'e')!.value, 'replica')
  const live = set(store, 0, 'x', 'live')
  t.equal(apply(store, 0, 'x', 'dead', live + 1, false, options({ expiryMs: clock.nowMs() - 1 })), StoreStatus.OK, 'applied')
  t.equal(read(store, 0, 'x'), null, 'the older live item is gone and nothing expired was stored')
  t.equal(apply(store, 0, 'y', 'dead', live + 2, false, options({ expiryMs: clock.nowMs() })), StoreStatus.OK)
  t.equal(read(store, 0, 'y'), null)
  t.equal(checkSlab(store), 1)
})

t.test('applyVersion and applyDelete move the CAS counter: later local writes stamp higher', async (t) => {
  // The local clock is a year behind the stamps it receives: only the counter keeps order.
  const clock = new ManualClock(1_700_000_000_000)
  const store = newStore(clock)
  const ahead = (1_700_000_000_000 + 365 * 86_400_000) * 1024
  t.equal(apply(store, 0, 'a', 'remote', ahead, false), StoreStatus.OK)
  const local = set(store, 0, 'b', 'local')
  t.ok(local > ahead, 'a set after an applied version gets a larger CAS')
  t.equal(apply(store, 0, 'a', 'local wins', local, false), StoreStatus.OK)
  t.equal(set(store, 0, 'a', 'overwrite') > local, true, 'an overwrite of an applied version is newer than it')
  const further = ahead + 10_000_000
  t.equal(applyDelete(store, 0, 'absent', further, false), StoreStatus.NOT_FOUND)
  t.ok(set(store, 0, 'c', 'x') > further, 'a tombstone for an absent key still moves the counter')
  const beyond = read(store, 0, 'c')!.cas + 1_000_000
  t.equal(apply(store, 0, 'c', 'v', beyond, false), StoreStatus.OK)
  t.ok(set(store, 0, 'd', 'x') > beyond, 'and so does a write after it')
  t.equal(checkSlab(store), 4)
})

t.test('applyDelete - absent, expired, older, equal (both tie rules) and newer stamps', async (t) => {
  const clock = new ManualClock()
  const store = newStore(clock)
  t.equal(applyDelete(store, 0, 'none', 5, true), StoreStatus.NOT_FOUND, 'absent')
  const cas = set(store, 0, 'k', 'v')
  t.equal(applyDelete(store, 0, 'k', cas - 1, true), StoreStatus.EXISTS, 'an older tombstone keeps the newer item')
  t.equal(applyDelete(store, 0, 'k', cas, false), StoreStatus.EXISTS, 'equal without winsTie keeps it')
  t.equal(read(store, 0, 'k')!.value, 'v')
  t.equal(applyDelete(store, 0, 'k', cas, true), StoreStatus.OK, 'equal with winsTie removes it')
  t.equal(read(store, 0, 'k'), null)
  const again = set(store, 0, 'k', 'v2')
  t.equal(applyDelete(store, 0, 'k', again + 1, false), StoreStatus.OK, 'a newer tombstone removes it')
  t.equal(read(store, 0, 'k'), null)
  t.equal(store.tenantStats(0).deletes, 2, 'counted as deletes')
  const expiring = set(store, 0, 'e', 'v', options({ expiryMs: clock.nowMs() + 5 }))
  clock.advance(10)
  t.equal(applyDelete(store, 0, 'e', expiring + 1, false), StoreStatus.NOT_FOUND, 'an expired item is absent')
  t.equal(applyDelete(store, 0, 'k'.repeat(5000), 1, false), StoreStatus.KEY_TOO_LARGE)
  t.equal(applyDelete(store, -1, 'k', 1, false), StoreStatus.BAD_TENANT)
  t.equal(checkSlab(store), 0)
})

t.test('delete - lastCas is a tombstone stamp above the deleted version, which removes it on a replica', async (t) => {
  const clock = new ManualClock()
  const primary = newStore(clock)
  const replica = newStore(new ManualClock(1_600_000_000_000))
  for (let i = 0; i < 50; i++) {
    const key = `k${i}`
    const cas = set(primary, 0, key, `v${i}`)
    t.equal(apply(replica, 0, key, `v${i}`, cas, false), StoreStatus.OK)
    const k = b(key)
    if (i % 2 === 0) clock.advance(1) // with and without the clock moving between set and delete
    t.equal(primary.delete(0, k, hashOf(0, k)), StoreStatus.OK)
    const tombstone = primary.lastCas
    if (!(tombstone > cas)) t.fail(`tombstone ${tombstone} is not above the deleted CAS ${cas}`)
    t.equal(applyDelete(replica, 0, key, tombstone, false), StoreStatus.OK)
    if (set(primary, 0, key, 'after') <= tombstone) t.fail('a write after the delete must be newer than its tombstone')
  }
  t.equal(replica.stats().items, 0, 'every tombstone removed its version on the replica')
  const k = b('k0')
  const before = primary.lastCas
  t.equal(primary.delete(0, b('never'), hashOf(0, b('never'))), StoreStatus.NOT_FOUND)
  t.equal(primary.lastCas, before, 'a delete that found nothing leaves lastCas')
  t.equal(primary.delete(0, k, hashOf(0, k)), StoreStatus.OK)
  t.equal(checkSlab(primary), 49)
})

t.test('touch - keeps the CAS (memcached), or restamps it when asked (a replicated touch is a new version)', async (t) => {
  const clock = new ManualClock()
  const store = newStore(clock)
  const cas = set(store, 0, 'k', 'v')
  const k = b('k')
  t.equal(store.touch(0, k, hashOf(0, k), clock.nowMs() + 1000), StoreStatus.OK)
  t.equal(store.lastCas, cas)
  t.equal(read(store, 0, 'k')!.cas, cas)
  t.equal(store.touch(0, k, hashOf(0, k), clock.nowMs() + 2000, true), StoreStatus.OK)
  t.ok(store.lastCas > cas)
  t.same(read(store, 0, 'k'), { value: 'v', cas: store.lastCas, flags: 0, expiryMs: clock.nowMs() + 2000 })
})

t.test('versionOf - the CAS without a hit; 0 when absent or expired', async (t) => {
  const clock = new ManualClock()
  const store = newStore(clock)
  const cas = set(store, 2, 'k', 'v', options({ expiryMs: clock.nowMs() + 100 }))
  const k = b('k')
  t.equal(store.versionOf(2, k, hashOf(2, k)), cas)
  t.equal(store.versionOf(0, k, hashOf(0, k)), 0, 'another tenant')
  t.equal(store.versionOf(2, b('nope'), hashOf(2, b('nope'))), 0)
  t.equal(store.versionOf(2, b('k'.repeat(5000)), 0), 0, 'an invalid key is absent')
  const stats = store.stats()
  t.equal(stats.hits + stats.misses, 0, 'no hit or miss counted')
  clock.advance(100)
  t.equal(store.versionOf(2, k, hashOf(2, k)), 0, 'expired')
})

t.test('a version carried whole: exportKey → decodeRecord → applyVersion gives a byte-identical record', async (t) => {
  const clock = new ManualClock()
  const source = newStore(clock, 16 << 20)
  const target = newStore(new ManualClock(1_600_000_000_000), 16 << 20)
  const keys: Array<[number, string]> = []
  for (let i = 0; i < 120; i++) {
    const tenant = i % 3
    const key = `key:${i}`
    set(source, tenant, key, i === 5 ? 'c'.repeat(300_000) : `value ${i}`.repeat(i % 7), options({
      flags: i * 13,
      expiryMs: i % 4 === 0 ? clock.nowMs() + 60_000 : 0,
      tags: i % 3 === 0 ? [b(`tag${i % 5}`), b('all')] : null,
      contentType: i % 2 === 0 ? b('application/json') : null
    }))
    keys.push([tenant, key])
  }
  const out = new ExportBuffer(64)
  const again = new ExportBuffer(64)
  const write = new WriteOptions()
  let identical = 0
  for (const [tenant, key] of keys) {
    const k = b(key)
    const start = out.length
    const cas = exportKey(source, tenant, k, hashOf(tenant, k), out)
    const record = decodeRecord(out.bytes, start)
    if (record === null || cas !== record.cas || record.recordBytes !== out.length - start) { t.fail(`${key}: decode`); continue }
    t.equal(record.key.toString(), key)
    write.flags = record.flags
    write.expiryMs = record.expiryMs
    write.tags = record.tags
    write.contentType = record.contentType
    t.equal(target.applyVersion(record.tenantId, record.key, hashOf(record.tenantId, record.key), record.value, write, record.cas, false), StoreStatus.OK)
    const at = again.length
    t.equal(exportKey(target, tenant, k, hashOf(tenant, k), again), cas, 'the same CAS')
    if (again.bytes.subarray(at, again.length).equals(out.bytes.subarray(start, out.length))) identical++
    else t.fail(`${key}: the record read back from the target differs`)
    t.equal(target.applyVersion(record.tenantId, record.key, hashOf(record.tenantId, record.key), record.value, write, record.cas, false), StoreStatus.EXISTS,
      're-applying is stale')
  }
  t.equal(identical, keys.length, 'every record is byte-identical after the trip (tags, content type, expiry, flags, CAS, chunked value)')
  t.equal(checkSlab(target), keys.length)
  const read = new ReadResult()
  t.equal(target.getWithTags(0, b('key:0'), hashOf(0, b('key:0')), read), StoreStatus.OK)
  t.same(read.tags.map(String).sort(), ['all', 'tag0'], 'tags are real memberships on the target')
  t.equal(target.invalidateTag(0, b('all'), hashOf(0, b('all')), 1000), 0)
  t.equal(target.lastRemoved, 40, 'tag invalidation on the target finds the replicated members')
})
