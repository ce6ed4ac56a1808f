/**
 * SlabStore tags and content type (item-ext.ts): stored with the item, invalidation removes
 * every member, records are cleaned up on delete, overwrite, expiry, eviction and flush, and
 * crash repair rebuilds the lists. `checkSlab` walks every invariant after each step.
 */
import t from 'tap'
import { CounterMode, ReadResult, SetMode, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { MAX_KEY_BYTES, MIN_SLAB_BYTES } from '../../src/core/slab-layout.js'
import { MAX_CONTENT_TYPE_BYTES, MAX_ITEM_TAGS, N_RECORD, tagNode } from '../../src/core/item-ext.js'
import { ManualClock } from '../../src/util/clock.js'

function setup (slabBytes = 8 << 20): { store: SlabStore, clock: ManualClock } {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(slabBytes), { clock, ownerId: 1, recordsHits: true })
  return { store, clock }
}
const b = (s: string): Buffer => Buffer.from(s)
const hashOf = (tenant: number, key: Uint8Array): number => keyHash(tenant, key, 0, key.length)
const read = new ReadResult()

function put (store: SlabStore, tenant: number, key: string, value: string | Uint8Array, tags: string[] | null, contentType: string | null = null,
  mode: SetMode = SetMode.SET, expiryMs = 0): number {
  const write = new WriteOptions()
  write.mode = mode
  write.expiryMs = expiryMs
  write.tags = tags === null ? null : tags.map(b)
  write.contentType = contentType === null ? null : b(contentType)
  const k = b(key)
  return store.set(tenant, k, hashOf(tenant, k), typeof value === 'string' ? b(value) : value, write)
}
function tagsOf (store: SlabStore, tenant: number, key: string): string[] | null {
  const k = b(key)
  const status = store.getWithTags(tenant, k, hashOf(tenant, k), read)
  return status === StoreStatus.OK ? read.tags.map(String) : null
}
function invalidate (store: SlabStore, tenant: number, tag: string, slice = 1 << 30): number {
  const t = b(tag)
  let removed = 0
  while (store.invalidateTag(tenant, t, hashOf(tenant, t), slice) > 0) removed += store.lastRemoved
  return removed + store.lastRemoved
}
function valueOf (store: SlabStore, tenant: number, key: string): string | null {
  const k = b(key)
  return store.get(tenant, k, hashOf(tenant, k), read) === StoreStatus.OK ? read.value.toString('latin1', 0, read.valueLength) : null
}

t.test('tags - stored with the item, read back with the value and content type', async t => {
  const { store } = setup()
  t.equal(put(store, 0, 'k', 'hello', ['a', 'b', 'a'], 'text/plain'), StoreStatus.OK)
  checkSlab(store)
  t.equal(valueOf(store, 0, 'k'), 'hello')
  t.equal(read.contentType.toString('latin1', 0, read.contentTypeLength), 'text/plain', 'lock-free get returns the content type')
  t.same(tagsOf(store, 0, 'k'), ['a', 'b'], 'duplicate tags are stored once, in order')
  t.equal(read.value.toString('latin1', 0, read.valueLength), 'hello')
  t.equal(put(store, 0, 'plain', 'x', null), StoreStatus.OK)
  t.equal(valueOf(store, 0, 'plain'), 'x')
  t.equal(read.contentTypeLength, 0, 'an untagged item has no content type')
  t.same(tagsOf(store, 0, 'plain'), [])
  t.equal(put(store, 0, 'ct-only', 'y', [], 'application/json'), StoreStatus.OK)
  t.equal(valueOf(store, 0, 'ct-only'), 'y')
  t.equal(read.contentType.toString('latin1', 0, read.contentTypeLength), 'application/json')
  checkSlab(store)
  t.end()
})

t.test('tags - the record namespace never collides with user keys, scans or flushes of keys', async t => {
  const { store } = setup()
  t.equal(put(store, 0, 'a', 'tagged', ['a']), StoreStatus.OK)
  t.equal(valueOf(store, 0, 'a'), 'tagged', 'a key named like its tag is its own item')
  t.equal(put(store, 0, 'b', 'v', ['a']), StoreStatus.OK)
  const keys: Buffer[] = []
  t.equal(store.scan(-1, 0, 1 << 20, keys), 0)
  t.same(keys.map(String).sort(), ['a', 'b'], 'scan lists keys, not tag records')
  t.equal(valueOf(store, 0, 'nope'), null)
  t.equal(store.flushStep(-1, 0, 1 << 20), 0)
  t.equal(store.lastRemoved, 2, 'flush counts items only')
  checkSlab(store)
  t.equal(store.stats().chunkBytes, 0, 'the record went with its last member')
  t.equal(store.tenantStats(0).bytes, 0)
  t.end()
})

t.test('tags - invalidation removes every member, in bounded slices, and only that tag', async t => {
  const { store } = setup(32 << 20)
  for (let i = 0; i < 10_000; i++) t.equal(put(store, 1, `k${i}`, `v${i}`, i % 2 === 0 ? ['even', 'all'] : ['all']), StoreStatus.OK) || t.bailout()
  t.equal(put(store, 2, 'other-tenant', 'v', ['all']), StoreStatus.OK)
  checkSlab(store)
  const tag = b('even')
  t.equal(store.invalidateTag(1, tag, hashOf(1, tag), 1000), 4000, 'one slice takes 1000 and reports the rest')
  t.equal(store.lastRemoved, 1000)
  checkSlab(store)
  t.equal(invalidate(store, 1, 'even', 1000), 4000)
  checkSlab(store)
  t.equal(invalidate(store, 1, 'even'), 0, 'a tag without members removes nothing')
  t.equal(valueOf(store, 1, 'k1'), 'v1', 'odd keys stay')
  t.same(tagsOf(store, 1, 'k1'), ['all'])
  t.equal(invalidate(store, 1, 'all'), 5000)
  checkSlab(store)
  t.equal(store.stats().items, 1, 'only the other tenant\'s item is left')
  t.equal(valueOf(store, 2, 'other-tenant'), 'v', 'another tenant\'s tag of the same name is untouched')
  t.equal(store.tenantStats(1).deletes, 10_000, 'invalidations count as deletes')
  t.equal(store.tenantStats(1).bytes, 0, 'tenant 1 holds no record bytes any more')
  t.end()
})

t.test('tags - cleaned up on delete, overwrite, expiry and eviction; kept by append, incr and touch', async t => {
  const { store, clock } = setup()
  put(store, 0, 'k', '1', ['t1', 't2'], 'text/plain')
  const k = b('k')
  t.equal(store.delete(0, k, hashOf(0, k)), StoreStatus.OK)
  checkSlab(store)
  t.equal(store.stats().chunkBytes, 0, 'delete freed both records')

  put(store, 0, 'k', '1', ['t1', 't2'], 'text/plain')
  t.equal(put(store, 0, 'k', '23', ['t1', 't2'], 'text/plain', SetMode.APPEND), StoreStatus.OK)
  t.equal(valueOf(store, 0, 'k'), '123')
  t.same(tagsOf(store, 0, 'k'), ['t1', 't2'], 'append keeps the tags')
  t.equal(read.contentType.toString('latin1', 0, read.contentTypeLength), 'text/plain', 'and the content type')
  t.equal(put(store, 0, 'k', '9', ['ignored'], null, SetMode.PREPEND), StoreStatus.OK)
  t.same(tagsOf(store, 0, 'k'), ['t1', 't2'], 'prepend keeps them too')
  t.equal(store.incr(0, k, hashOf(0, k), 1n, CounterMode.REDIS), StoreStatus.OK)
  t.equal(valueOf(store, 0, 'k'), '9124')
  t.same(tagsOf(store, 0, 'k'), ['t1', 't2'], 'incr keeps them')
  t.equal(store.touch(0, k, hashOf(0, k), clock.nowMs() + 5000), StoreStatus.OK)
  t.same(tagsOf(store, 0, 'k'), ['t1', 't2'], 'touch keeps them')
  checkSlab(store)

  t.equal(put(store, 0, 'k', 'new', ['t3']), StoreStatus.OK)
  t.same(tagsOf(store, 0, 'k'), ['t3'], 'set replaces the tags')
  t.equal(read.contentTypeLength, 0, 'and the content type')
  t.equal(invalidate(store, 0, 't1'), 0, 'the old tags have no members')
  checkSlab(store)

  put(store, 0, 'e', 'v', ['t3'], null, SetMode.SET, clock.nowMs() + 2000)
  clock.advance(3000)
  store.maintain(clock.nowMs(), 1 << 20)
  checkSlab(store)
  t.equal(store.stats().expirations, 1)
  t.equal(invalidate(store, 0, 't3'), 1, 'the expired member left the tag: only k remains')
  checkSlab(store)
  t.equal(store.stats().chunkBytes, 0)
  t.end()
})

t.test('tags - evicted items leave their tags; records never leak under memory pressure', async t => {
  const { store } = setup(MIN_SLAB_BYTES)
  const value = Buffer.alloc(3000, 'v')
  let i = 0
  while (store.stats().evictions < 3000) {
    t.equal(put(store, 0, `k${i}`, value, [`tag${i % 50}`, 'all']), StoreStatus.OK) || t.bailout()
    i++
  }
  checkSlab(store)
  const items = store.stats().items
  t.equal(invalidate(store, 0, 'all'), items, 'invalidation removes exactly the items still present')
  checkSlab(store)
  t.equal(store.stats().chunkBytes, 0, 'no tag record is left behind')
  t.end()
})

t.test('tags - chunked values carry tags and content type', async t => {
  const { store } = setup(16 << 20)
  const big = Buffer.alloc(1_500_000)
  for (let i = 0; i < big.length; i++) big[i] = i * 7 & 0xff
  t.equal(put(store, 0, 'big', big, ['large'], 'application/octet-stream'), StoreStatus.OK)
  checkSlab(store)
  const k = b('big')
  t.equal(store.get(0, k, hashOf(0, k), read), StoreStatus.OK)
  t.equal(Buffer.compare(read.value.subarray(0, read.valueLength), big), 0)
  t.equal(read.contentType.toString('latin1', 0, read.contentTypeLength), 'application/octet-stream')
  t.equal(put(store, 0, 'big', 'tail', null, null, SetMode.APPEND), StoreStatus.OK)
  t.same(tagsOf(store, 0, 'big'), ['large'])
  t.equal(read.valueLength, big.length + 4)
  t.equal(invalidate(store, 0, 'large'), 1)
  checkSlab(store)
  t.end()
})

t.test('tags - format limits are BAD_METADATA before the lock', async t => {
  const { store } = setup()
  const many = Array.from({ length: MAX_ITEM_TAGS + 1 }, (_, i) => `t${i}`)
  t.equal(put(store, 0, 'k', 'v', many), StoreStatus.BAD_METADATA)
  t.equal(put(store, 0, 'k', 'v', many.slice(0, MAX_ITEM_TAGS)), StoreStatus.OK, `${MAX_ITEM_TAGS} tags fit`)
  t.equal(tagsOf(store, 0, 'k')?.length, MAX_ITEM_TAGS)
  t.equal(put(store, 0, 'k', 'v', ['x'.repeat(MAX_KEY_BYTES + 1)]), StoreStatus.BAD_METADATA)
  t.equal(put(store, 0, 'k', 'v', ['x'.repeat(MAX_KEY_BYTES)]), StoreStatus.OK)
  t.equal(put(store, 0, 'k', 'v', null, 'c'.repeat(MAX_CONTENT_TYPE_BYTES + 1)), StoreStatus.BAD_METADATA)
  t.equal(put(store, 0, 'k', 'v', null, 'c'.repeat(MAX_CONTENT_TYPE_BYTES)), StoreStatus.OK)
  checkSlab(store)
  t.end()
})

t.test('tags - repair rebuilds lists and counts, and drops an item whose node is garbage', async t => {
  const { store } = setup()
  for (let i = 0; i < 100; i++) put(store, 0, `k${i}`, 'v', ['x', `y${i % 3}`])
  // Scramble what repair must derive: every record's list head, count and the items' owners.
  const words = store.memory.words
  const k5 = b('k5')
  const ref = store.index.find(0, k5, hashOf(0, k5))
  words[tagNode(ref, 2, 1) * 2 + N_RECORD] = ref // names an item, not a record
  t.ok(store.lock.acquire())
  store.repairHeld()
  store.lock.release()
  checkSlab(store)
  t.equal(valueOf(store, 0, 'k5'), null, 'the item with a garbage node was dropped')
  t.same(tagsOf(store, 0, 'k6'), ['x', 'y0'])
  t.equal(invalidate(store, 0, 'y0'), 34)
  t.equal(invalidate(store, 0, 'x'), 65)
  checkSlab(store)
  t.equal(store.stats().chunkBytes, 0)
  t.end()
})

t.test('tags - pages holding tag records are reclaimed: records move (or their members go) and lists stay whole', async t => {
  const { store } = setup(MIN_SLAB_BYTES)
  // Sizes rotate through many classes on a 3-page slab, so pages keep moving between classes
  // while records sit in the small classes' pages.
  let i = 0
  for (let round = 0; round < 40; round++) {
    const size = [40, 2000, 9000, 300, 60_000, 120][round % 6]!
    for (let j = 0; j < 60; j++, i++) {
      // Tag names as long as the values, so records share size classes (and pages) with items.
      const status = put(store, 0, `k${i}`, Buffer.alloc(size, 1), [`${'t'.repeat(Math.min(size, 4000))}${i % 40}`, `r${round}`, 'all'], round % 2 === 0 ? 'text/plain' : null)
      t.equal(status, StoreStatus.OK, `set ${i} (${size} B)`) || t.bailout()
    }
    checkSlab(store)
  }
  t.ok(store.stats().pagesMoved > 10, `pages moved between classes (${store.stats().pagesMoved})`)
  const items = store.stats().items
  t.equal(invalidate(store, 0, 'all'), items)
  checkSlab(store)
  t.equal(store.stats().chunkBytes, 0)
  t.end()
})

t.test('tags - an exception inside a tagged overwrite is repaired before the lock is released', async t => {
  for (const point of ['set:written', 'set:old-removed']) {
    const { store } = setup()
    for (let i = 0; i < 20; i++) put(store, 0, `k${i}`, 'v', ['a', `b${i % 2}`], 'text/plain')
    store.faultHook = (at) => { if (at === point) throw new Error(`fault at ${at}`) }
    t.throws(() => put(store, 0, 'k3', 'new', ['c']), /fault at/)
    store.faultHook = null
    checkSlab(store)
    const tags = tagsOf(store, 0, 'k3')
    t.ok(tags === null || tags.join() === 'a,b1' || tags.join() === 'c', `${point}: k3 is absent, old or new (${String(tags)})`)
    const removed = invalidate(store, 0, 'a') + invalidate(store, 0, 'c')
    t.equal(removed, tags === null ? 19 : 20, `${point}: every key left was reachable from one of its tags`)
    t.equal(store.stats().items, 0)
    checkSlab(store)
    t.equal(store.stats().chunkBytes, 0)
  }
  t.end()
})

t.test('tags - emptying a page moves the tag record it holds; its members keep the tag', async t => {
  const { store } = setup(MIN_SLAB_BYTES) // 3 pages
  const tag = 'T'.repeat(900) // a ~950-byte record: the class of the ~950-byte items below
  t.equal(put(store, 0, 'A', Buffer.alloc(100_000, 1), [tag]), StoreStatus.OK, 'the record takes a page of the small class, A a large one')
  const record = (): number => store.index.findRecord(0, b(tag), hashOf(0, b(tag)))
  const recordClass = store.memory.pageClass[store.memory.pageOf(record())]!
  const firstPage = store.memory.pageOf(record())
  let n = 0
  while (store.allocator.pageCount(recordClass) < 2) t.equal(put(store, 0, `c${n++}`, Buffer.alloc(890, 2), null), StoreStatus.OK)
  // Empty the record's page of items: only the record keeps it in use (sparse, not carving).
  for (let i = 0; i < n; i++) {
    const k = b(`c${i}`)
    const ref = store.index.find(0, k, hashOf(0, k))
    if (ref !== 0 && store.memory.pageOf(ref) === firstPage) store.delete(0, k, hashOf(0, k))
  }
  checkSlab(store)
  // A new size class with no page of its own reclaims the sparse page.
  t.equal(put(store, 0, 'D', Buffer.alloc(20_000, 3), null), StoreStatus.OK)
  checkSlab(store)
  t.not(record(), 0)
  t.not(store.memory.pageOf(record()), firstPage, 'the record moved out of the reclaimed page')
  t.same(tagsOf(store, 0, 'A'), [tag], 'A still carries the tag')
  t.equal(invalidate(store, 0, tag), 1)
  checkSlab(store)
  t.end()
})
