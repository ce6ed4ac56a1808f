/**
 * Tenants in one slab (DESIGN §5): a tenant over its byte quota evicts its own least recently
 * used items and nobody else's; an item larger than the whole quota is refused; memory pressure
 * without quotas still evicts, from the tenant furthest over its fair share; stats per tenant
 * are exact; repair rebuilds the per-tenant lists. checkSlab runs after each scenario.
 */
import t from 'tap'
import { ReadResult, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { F_CAS, I_LRU_NEXT, MIN_SLAB_BYTES, PAGE_BYTES } from '../../src/core/slab-layout.js'
import { newDataOffset } from '../../src/core/item-ext.js'
import { itemChunkBytes } from '../../src/core/tenant-lru.js'
import { ManualClock } from '../../src/util/clock.js'

const A = 1
const B = 2
const VALUE_BYTES = 200

const write = new WriteOptions()
const read = new ReadResult()

// bumpIntervalMs 0: exact LRU. A tenant's recently read items must outlive its unread ones.
function makeStore (slabBytes = 12 << 20): SlabStore {
  return SlabStore.create(new SharedArrayBuffer(slabBytes), { clock: new ManualClock(), ownerId: 1, recordsHits: true, bumpIntervalMs: 0 })
}

const keyOf = (tenant: number, i: number): Buffer => Buffer.from(`t${tenant}:${String(i).padStart(6, '0')}`)
const valueOf = (tenant: number, i: number, length = VALUE_BYTES): Buffer => Buffer.alloc(length, `${tenant}/${i};`)

function set (store: SlabStore, tenant: number, i: number, length = VALUE_BYTES): number {
  const key = keyOf(tenant, i)
  return store.set(tenant, key, keyHash(tenant, key, 0, key.length), valueOf(tenant, i, length), write)
}

/** Whether (tenant, i) is present with its exact value (a get: counts as a hit, records it). */
function get (store: SlabStore, tenant: number, i: number, length = VALUE_BYTES): boolean {
  const key = keyOf(tenant, i)
  const status = store.get(tenant, key, keyHash(tenant, key, 0, key.length), read)
  if (status === StoreStatus.NOT_FOUND) return false
  if (status !== StoreStatus.OK) throw new Error(`get ${tenant}/${i}: status ${status}`)
  if (!read.value.subarray(0, read.valueLength).equals(valueOf(tenant, i, length))) throw new Error(`get ${tenant}/${i}: wrong value`)
  return true
}

/** Presence without counting a hit or recording one. */
function has (store: SlabStore, tenant: number, i: number): boolean {
  const key = keyOf(tenant, i)
  return store.has(tenant, key, keyHash(tenant, key, 0, key.length)) === StoreStatus.OK
}

/** Chunk bytes one test item of `tenant` holds. */
function chunkOf (store: SlabStore, tenant: number, length = VALUE_BYTES): number {
  return itemChunkBytes(store.allocator, newDataOffset(keyOf(tenant, 0).length, 0, 0), length)
}

t.test('quota - a tenant over its quota evicts only its own items, least recently used first; the other tenant keeps every item', async t => {
  const store = makeStore()
  const chunk = chunkOf(store, A)
  const fits = 100
  t.equal(store.setTenantQuota(A, fits * chunk), StoreStatus.OK)
  for (let i = 0; i < 300; i++) t.equal(set(store, B, i), StoreStatus.OK)
  for (let i = 0; i < fits; i++) t.equal(set(store, A, i), StoreStatus.OK)
  t.equal(store.tenantStats(A).evictions, 0, 'exactly at the quota: nothing evicted yet')
  // Reads make A's five oldest items recent (hits go through the hit ring).
  for (let i = 0; i < 5; i++) t.ok(get(store, A, i))
  const more = 60
  for (let i = fits; i < fits + more; i++) {
    t.equal(set(store, A, i), StoreStatus.OK)
    const stats = store.tenantStats(A)
    if (stats.bytes > fits * chunk) t.fail(`A holds ${stats.bytes} bytes, over its quota`)
  }
  checkSlab(store)
  for (let i = 0; i < 5; i++) t.ok(has(store, A, i), `A's item ${i}, read before the overflow, survived`)
  for (let i = 5; i < 5 + more; i++) if (has(store, A, i)) t.fail(`A's item ${i} (least recently used) should be gone`)
  for (let i = 5 + more; i < fits + more; i++) if (!has(store, A, i)) t.fail(`A's item ${i} (recent) should be there`)
  for (let i = 0; i < 300; i++) if (!get(store, B, i)) t.fail(`B's item ${i} was lost`)
  const a = store.tenantStats(A)
  t.same({ items: a.items, bytes: a.bytes, quotaBytes: a.quotaBytes, sets: a.sets, evictions: a.evictions, hits: a.hits },
    { items: fits, bytes: fits * chunk, quotaBytes: fits * chunk, sets: fits + more, evictions: more, hits: 5 }, 'A: exact counters')
  const b = store.tenantStats(B)
  t.same({ items: b.items, bytes: b.bytes, quotaBytes: b.quotaBytes, evictions: b.evictions, hits: b.hits },
    { items: 300, bytes: 300 * chunkOf(store, B), quotaBytes: 0, evictions: 0, hits: 300 }, 'B: all 300 items, no eviction')
  t.equal(store.stats().evictions, more, 'the slab counts the quota evictions too')
})

t.test('quota - an item larger than the whole quota is refused with QUOTA_EXCEEDED and evicts nothing', async t => {
  const store = makeStore()
  const quota = 10 * chunkOf(store, A)
  store.setTenantQuota(A, quota)
  for (let i = 0; i < 5; i++) set(store, A, i)
  const big = 4096
  t.ok(chunkOf(store, A, big) > quota)
  t.equal(set(store, A, 99, big), StoreStatus.QUOTA_EXCEEDED)
  t.equal(set(store, A, 98, 600 * 1024), StoreStatus.QUOTA_EXCEEDED, 'a chunked value too')
  t.equal(store.tenantStats(A).items, 5, 'nothing evicted for it')
  t.equal(store.tenantStats(A).evictions, 0)
  t.equal(set(store, B, 99, big), StoreStatus.OK, 'a tenant without a quota stores it')
  // Exactly the quota fits.
  store.setTenantQuota(A, chunkOf(store, A, big))
  t.equal(set(store, A, 97, big), StoreStatus.OK, 'an item of exactly the quota is stored')
  t.equal(store.tenantStats(A).items, 1, 'by evicting every other item of A')
  t.equal(store.tenantStats(A).bytes, chunkOf(store, A, big))
  checkSlab(store)
})

t.test('quota - a tagged write refused with QUOTA_EXCEEDED leaves no tag reservation behind', async t => {
  const store = makeStore()
  store.setTenantQuota(A, 10 * chunkOf(store, A))
  const tagged = new WriteOptions()
  tagged.tags = [Buffer.from('news'), Buffer.from('sport')]
  const key = keyOf(A, 1)
  // Both tags are new: their records are created and reserved before the quota check refuses.
  t.equal(store.set(A, key, keyHash(A, key, 0, key.length), valueOf(A, 1, 4096), tagged), StoreStatus.QUOTA_EXCEEDED)
  t.doesNotThrow(() => { checkSlab(store) }, 'no record is left without members')
  t.equal(store.invalidateTag(A, tagged.tags[0]!, keyHash(A, tagged.tags[0]!, 0, 4), 10), 0, 'the tag has no record')
  t.equal(store.set(A, key, keyHash(A, key, 0, key.length), valueOf(A, 1), tagged), StoreStatus.OK, 'a small tagged item fits')
  checkSlab(store)
})

t.test('quota - overwriting a key at the quota evicts nothing: the old item\'s bytes count as freed', async t => {
  const store = makeStore()
  store.setTenantQuota(A, 20 * chunkOf(store, A))
  for (let i = 0; i < 20; i++) set(store, A, i)
  for (let round = 0; round < 3; round++) for (let i = 0; i < 20; i++) t.equal(set(store, A, i), StoreStatus.OK)
  t.equal(store.tenantStats(A).evictions, 0)
  t.equal(store.tenantStats(A).items, 20)
  checkSlab(store)
})

t.test('quota - lowering a quota trims the tenant in maintenance, oldest first; 0 lifts it', async t => {
  const store = makeStore()
  const chunk = chunkOf(store, A)
  for (let i = 0; i < 50; i++) set(store, A, i)
  for (let i = 0; i < 50; i++) set(store, B, i)
  t.equal(store.setTenantQuota(A, 20 * chunk), StoreStatus.OK)
  t.equal(store.tenantStats(A).items, 50, 'setting a quota evicts nothing by itself')
  t.equal(store.tenantStats(A).quotaBytes, 20 * chunk)
  t.ok(store.maintain(0, 1000) >= 30)
  t.equal(store.tenantStats(A).items, 20)
  for (let i = 30; i < 50; i++) t.ok(has(store, A, i), `newest item ${i} kept`)
  t.equal(store.tenantStats(B).items, 50, 'B untouched')
  t.equal(store.setTenantQuota(A, 0), StoreStatus.OK)
  for (let i = 50; i < 100; i++) set(store, A, i)
  t.equal(store.tenantStats(A).items, 70, 'unlimited again')
  checkSlab(store)
})

t.test('quota - with memory full, a tenant at its quota reuses its own chunk and leaves the others alone', async t => {
  const store = makeStore(MIN_SLAB_BYTES)
  const chunk = chunkOf(store, A)
  const capacityItems = Math.floor(PAGE_BYTES / store.allocator.chunkBytes(store.allocator.classFor(chunk))) * store.memory.layout.pageCount
  store.setTenantQuota(A, 1000 * chunk)
  for (let i = 0; i < 1000; i++) set(store, A, i)
  let b = 0
  while (store.allocator.freePages > 0 || store.allocator.hasFreeChunk(store.allocator.classFor(chunk))) t.equal(set(store, B, b++), StoreStatus.OK)
  t.equal(store.tenantStats(A).items + store.tenantStats(B).items, capacityItems, 'the slab is full')
  for (let i = 1000; i < 1500; i++) t.equal(set(store, A, i), StoreStatus.OK)
  t.equal(store.tenantStats(B).evictions, 0, 'B lost nothing')
  for (let i = 0; i < b; i++) if (!has(store, B, i)) t.fail(`B's item ${i} was lost`)
  t.equal(store.tenantStats(A).evictions, 500)
  checkSlab(store)
})

t.test('memory pressure - one tenant, no quotas: a full slab still evicts, least recently used first', async t => {
  const store = makeStore(MIN_SLAB_BYTES)
  const chunk = chunkOf(store, 0)
  const capacityItems = Math.floor(PAGE_BYTES / store.allocator.chunkBytes(store.allocator.classFor(chunk))) * store.memory.layout.pageCount
  const total = capacityItems * 3
  for (let i = 0; i < total; i++) {
    t.equal(set(store, 0, i), StoreStatus.OK)
    if (i === capacityItems - 1) t.ok(get(store, 0, 0), 'item 0 read once the slab is full')
    if (i > capacityItems && i % 500 === 0) get(store, 0, 0)
  }
  t.equal(store.stats().evictions, total - capacityItems)
  t.equal(store.tenantStats(0).items, capacityItems)
  t.ok(has(store, 0, 0), 'the item read all along survived')
  t.notOk(has(store, 0, 1), 'the oldest unread item went')
  t.ok(has(store, 0, total - 1))
  checkSlab(store)
})

t.test('memory pressure - two tenants without quotas: the one holding more gives way until the shares even out', async t => {
  const store = makeStore(MIN_SLAB_BYTES)
  const chunk = chunkOf(store, A)
  const capacityItems = Math.floor(PAGE_BYTES / store.allocator.chunkBytes(store.allocator.classFor(chunk))) * store.memory.layout.pageCount
  for (let i = 0; i < capacityItems; i++) set(store, A, i)
  t.equal(store.tenantStats(A).items, capacityItems, 'A filled the slab alone')
  const half = Math.floor(capacityItems / 2)
  for (let i = 0; i < half; i++) t.equal(set(store, B, i), StoreStatus.OK)
  t.equal(store.tenantStats(B).evictions, 0, 'while B holds less than A, only A gives way')
  t.equal(store.tenantStats(A).evictions, half)
  for (let i = 0; i < half; i++) if (!has(store, B, i)) t.fail(`B's item ${i} was lost`)
  for (let i = half; i < half + 1000; i++) set(store, B, i)
  const a = store.tenantStats(A).items
  const b = store.tenantStats(B).items
  // At equal shares the older tail (A's) goes, then B holds more and gives way: they alternate.
  t.ok(Math.abs(a - b) <= 2, `at equal shares both give way in turn (A ${a}, B ${b})`)
  t.ok(store.tenantStats(B).evictions > 0)
  checkSlab(store)
})

t.test('quota - a tenant without a quota is not evicted for another\'s writes when memory is free', async t => {
  const store = makeStore()
  store.setTenantQuota(A, 10 * chunkOf(store, A))
  for (let i = 0; i < 100; i++) set(store, B, i)
  for (let i = 0; i < 5000; i++) set(store, A, i % 700, 50 + (i % 7) * 300)
  t.equal(store.tenantStats(B).evictions, 0)
  t.equal(store.tenantStats(B).items, 100)
  t.ok(store.tenantStats(A).bytes <= 10 * chunkOf(store, A), 'A within its quota across size classes')
  checkSlab(store)
})

t.test('quota - across size classes the tenant\'s oldest item goes first, not the newest of the class being written', async t => {
  const store = makeStore()
  const big = chunkOf(store, A, 1000)
  const small = chunkOf(store, A)
  t.ok(big > 3 * small && big < 5 * small, `one big chunk (${big}) is 3–5 small ones (${small})`)
  store.setTenantQuota(A, 5 * big + 10 * small)
  for (let i = 0; i < 5; i++) set(store, A, 100 + i, 1000)
  for (let i = 0; i < 10; i++) set(store, A, i)
  t.equal(store.tenantStats(A).evictions, 0, 'exactly at the quota')
  for (let i = 10; i < 13; i++) set(store, A, i)
  t.notOk(has(store, A, 100), 'the oldest item, in another class, went')
  for (let i = 101; i < 105; i++) t.ok(has(store, A, i), `big ${i} stays: one big chunk made room for three small items`)
  for (let i = 0; i < 13; i++) t.ok(has(store, A, i), `small ${i} stays`)
  t.equal(store.tenantStats(A).evictions, 1)
  checkSlab(store)
})

t.test('setTenantQuota - validates its arguments', async t => {
  const store = makeStore()
  t.equal(store.setTenantQuota(1024, 1), StoreStatus.BAD_TENANT)
  t.equal(store.setTenantQuota(-1, 1), StoreStatus.BAD_TENANT)
  t.throws(() => store.setTenantQuota(1, -1), { name: 'RangeError', message: 'quotaBytes must be a non-negative integer; received -1' })
  t.throws(() => store.setTenantQuota(1, 1.5), RangeError)
  t.throws(() => store.setTenantQuota(1, Number.NaN), RangeError)
})

t.test('repair - rebuilds one LRU list per (class, tenant) in write order and keeps quotas', async t => {
  const store = makeStore()
  store.setTenantQuota(A, 1 << 20)
  for (let i = 0; i < 40; i++) {
    set(store, A, i)
    set(store, B, i, 50 + (i % 3) * 400) // few size classes: 11 pages cannot serve dozens without evicting
    set(store, 900, i)
  }
  store.lock.acquire()
  store.repairHeld()
  store.lock.release()
  checkSlab(store)
  t.equal(store.tenantStats(A).quotaBytes, 1 << 20, 'the quota survives repair')
  for (const tenant of [A, B, 900]) t.equal(store.tenantStats(tenant).items, 40)
  const cls = store.allocator.classFor(chunkOf(store, A))
  const order: number[] = []
  for (let ref = store.allocator.lruHead(cls, A); ref !== 0; ref = store.memory.words[ref * 2 + I_LRU_NEXT]!) order.push(store.memory.doubles[ref + F_CAS]!)
  t.equal(order.length, 40)
  t.same(order, [...order].sort((x, y) => y - x), 'newest write at the head')
  t.equal(store.stats().evictions, 0)
  for (let i = 0; i < 40; i++) if (!get(store, 900, i)) t.fail(`tenant 900 item ${i} lost`)
})
