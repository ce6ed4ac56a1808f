/**
 * SlabStore API edges and regressions: argument validation on every public operation, counter
 * parsing rules, scan and flush, oversized values, and stale refs in the hit ring.
 */
import t from 'tap'
import { CounterMode, ReadResult, SetMode, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { HIT_RING_BASE, H_HIT_HEAD, I_META, KIND_ITEM, MAX_KEY_BYTES, MAX_TENANTS, MIN_SLAB_BYTES, makeMeta } from '../../src/core/slab-layout.js'
import { ManualClock } from '../../src/util/clock.js'

function setup (slabBytes = 8 << 20, maxValueBytes?: number): { store: SlabStore, clock: ManualClock } {
  const clock = new ManualClock()
  // bumpIntervalMs 0: exact LRU, every hit recorded (the hit-ring test expects its one hit).
  const store = SlabStore.create(new SharedArrayBuffer(slabBytes), {
    clock, ownerId: 1, recordsHits: true, bumpIntervalMs: 0, ...(maxValueBytes === undefined ? {} : { maxValueBytes })
  })
  return { store, clock }
}
const hashOf = (tenant: number, key: Uint8Array): number => keyHash(tenant, key, 0, key.length)
const read = new ReadResult()

t.test('tenant ids - every operation rejects an out-of-range tenant without touching the slab', async t => {
  const { store } = setup()
  const key = Buffer.from('k')
  const write = new WriteOptions()
  t.equal(store.set(0, key, hashOf(0, key), Buffer.from('v'), write), StoreStatus.OK)
  // get used to count a miss in the tenant table at tenantId × 64: tenant 1024 wrote into the
  // timing wheel's heads, -1 into the class table.
  for (const tenant of [-1, MAX_TENANTS, MAX_TENANTS + 3, 4096, 1.5, Number.NaN]) {
    const hash = hashOf(0, key)
    t.equal(store.get(tenant, key, hash, read), StoreStatus.BAD_TENANT, `get, tenant ${tenant}`)
    t.equal(store.has(tenant, key, hash), StoreStatus.BAD_TENANT, `has, tenant ${tenant}`)
    t.equal(store.set(tenant, key, hash, Buffer.from('v'), write), StoreStatus.BAD_TENANT, `set, tenant ${tenant}`)
    t.equal(store.delete(tenant, key, hash), StoreStatus.BAD_TENANT, `delete, tenant ${tenant}`)
    t.equal(store.touch(tenant, key, hash, 0), StoreStatus.BAD_TENANT, `touch, tenant ${tenant}`)
    t.equal(store.incr(tenant, key, hash, 1n, CounterMode.REDIS), StoreStatus.BAD_TENANT, `incr, tenant ${tenant}`)
  }
  t.doesNotThrow(() => checkSlab(store), 'no table was written')
  t.equal(store.stats().misses, 0, 'and no miss was counted')
  t.end()
})

t.test('key length - a key over MAX_KEY_BYTES is KEY_TOO_LARGE everywhere; MAX_KEY_BYTES itself works', async t => {
  const { store } = setup()
  const write = new WriteOptions()
  const longest = Buffer.alloc(MAX_KEY_BYTES, 'k')
  t.equal(store.set(0, longest, hashOf(0, longest), Buffer.from('v'), write), StoreStatus.OK)
  t.equal(store.get(0, longest, hashOf(0, longest), read), StoreStatus.OK)
  const tooLong = Buffer.alloc(MAX_KEY_BYTES + 1, 'k')
  const hash = hashOf(0, tooLong)
  t.equal(store.set(0, tooLong, hash, Buffer.from('v'), write), StoreStatus.KEY_TOO_LARGE)
  t.equal(store.get(0, tooLong, hash, read), StoreStatus.KEY_TOO_LARGE)
  t.equal(store.has(0, tooLong, hash), StoreStatus.KEY_TOO_LARGE)
  t.equal(store.delete(0, tooLong, hash), StoreStatus.KEY_TOO_LARGE)
  t.equal(store.touch(0, tooLong, hash, 0), StoreStatus.KEY_TOO_LARGE)
  t.equal(store.incr(0, tooLong, hash, 1n, CounterMode.REDIS), StoreStatus.KEY_TOO_LARGE)
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('values - VALUE_TOO_LARGE over maxValueBytes, for a set and for an append that would cross it', async t => {
  const { store } = setup(8 << 20, 1000)
  const key = Buffer.from('k')
  const write = new WriteOptions()
  t.equal(store.set(0, key, hashOf(0, key), Buffer.alloc(1001), write), StoreStatus.VALUE_TOO_LARGE)
  t.equal(store.set(0, key, hashOf(0, key), Buffer.alloc(1000), write), StoreStatus.OK)
  write.mode = SetMode.APPEND
  t.equal(store.set(0, key, hashOf(0, key), Buffer.alloc(1), write), StoreStatus.VALUE_TOO_LARGE)
  t.equal(store.get(0, key, hashOf(0, key), read), StoreStatus.OK)
  t.equal(read.valueLength, 1000, 'the value is unchanged')
  t.end()
})

t.test('values - an item that cannot fit even in an empty slab is OUT_OF_MEMORY and evicts nothing', async t => {
  const { store } = setup(MIN_SLAB_BYTES)
  const write = new WriteOptions()
  for (let i = 0; i < 1000; i++) {
    const key = Buffer.from(`k${i}`)
    t.equal(store.set(0, key, hashOf(0, key), Buffer.alloc(100), write), StoreStatus.OK)
  }
  const key = Buffer.from('huge')
  t.equal(store.set(0, key, hashOf(0, key), Buffer.alloc(5 << 20), write), StoreStatus.OUT_OF_MEMORY)
  t.equal(store.stats().evictions, 0, 'it used to evict every item before giving up')
  t.equal(store.stats().items, 1000)
  // The largest value that fits 3 pages: 4 full value chunks in 2 pages + a header page.
  t.equal(store.set(0, key, hashOf(0, key), Buffer.alloc(4 * (512 * 1024 - 48)), write), StoreStatus.OK, 'the largest value that fits is stored')
  t.equal(store.get(0, key, hashOf(0, key), read), StoreStatus.OK)
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('incr - Redis parses like string2ll; memcached accepts leading zeros; both reject the rest', async t => {
  const { store } = setup()
  const write = new WriteOptions()
  const cases: Array<[string, CounterMode, StoreStatus, string]> = [
    // [stored, mode, expected status, expected value after +1]
    ['0', CounterMode.REDIS, StoreStatus.OK, '1'],
    ['-1', CounterMode.REDIS, StoreStatus.OK, '0'],
    ['-0', CounterMode.REDIS, StoreStatus.NOT_NUMERIC, ''],
    ['01', CounterMode.REDIS, StoreStatus.NOT_NUMERIC, ''],
    ['-01', CounterMode.REDIS, StoreStatus.NOT_NUMERIC, ''],
    ['+1', CounterMode.REDIS, StoreStatus.NOT_NUMERIC, ''],
    [' 1', CounterMode.REDIS, StoreStatus.NOT_NUMERIC, ''],
    ['', CounterMode.REDIS, StoreStatus.NOT_NUMERIC, ''],
    ['9223372036854775806', CounterMode.REDIS, StoreStatus.OK, '9223372036854775807'],
    ['9223372036854775807', CounterMode.REDIS, StoreStatus.OVERFLOW, ''],
    ['9223372036854775808', CounterMode.REDIS, StoreStatus.NOT_NUMERIC, ''],
    ['007', CounterMode.MEMCACHED, StoreStatus.OK, '8'],
    ['-1', CounterMode.MEMCACHED, StoreStatus.NOT_NUMERIC, ''],
    ['18446744073709551615', CounterMode.MEMCACHED, StoreStatus.OK, '0'],
    ['18446744073709551616', CounterMode.MEMCACHED, StoreStatus.NOT_NUMERIC, ''],
    ['1x', CounterMode.MEMCACHED, StoreStatus.NOT_NUMERIC, '']
  ]
  for (const [stored, mode, status, after] of cases) {
    const key = Buffer.from(`counter:${stored}:${mode}`)
    t.equal(store.set(0, key, hashOf(0, key), Buffer.from(stored, 'latin1'), write), StoreStatus.OK)
    t.equal(store.incr(0, key, hashOf(0, key), 1n, mode), status, `${mode === CounterMode.REDIS ? 'Redis' : 'memcached'} incr of "${stored}"`)
    if (status === StoreStatus.OK) t.equal(String(store.lastCounter), after)
  }
  const absent = Buffer.from('absent')
  t.equal(store.incr(0, absent, hashOf(0, absent), 5n, CounterMode.MEMCACHED), StoreStatus.NOT_FOUND, 'memcached: absent is NOT_FOUND')
  t.equal(store.incr(0, absent, hashOf(0, absent), -5n, CounterMode.REDIS), StoreStatus.OK, 'Redis: absent counts from 0')
  t.equal(store.lastCounter, -5n)
  const decr = Buffer.from('decr')
  t.equal(store.set(0, decr, hashOf(0, decr), Buffer.from('3'), write), StoreStatus.OK)
  t.equal(store.incr(0, decr, hashOf(0, decr), -10n, CounterMode.MEMCACHED), StoreStatus.OK)
  t.equal(store.lastCounter, 0n, 'memcached decr stops at 0')
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('incr - in-place number path and exact BigInt path agree at ±2^53 and across digit-length changes', async t => {
  const { store, clock } = setup()
  const write = new WriteOptions()
  const safe = 2n ** 53n - 1n
  const cases: Array<[string, bigint, CounterMode, string]> = [
    // [stored, delta, mode, value after]
    ['9', 1n, CounterMode.REDIS, '10'],
    ['10', -1n, CounterMode.REDIS, '9'],
    ['99999', 1n, CounterMode.REDIS, '100000'],
    ['1', -2n, CounterMode.REDIS, '-1'],
    ['-9', -1n, CounterMode.REDIS, '-10'],
    ['-10', 1n, CounterMode.REDIS, '-9'],
    ['-1', 1n, CounterMode.REDIS, '0'],
    ['999999999999999', 1n, CounterMode.REDIS, '1000000000000000'],
    ['-999999999999999', -1n, CounterMode.REDIS, '-1000000000000000'],
    ['0', safe, CounterMode.REDIS, '9007199254740991'],
    ['0', -safe, CounterMode.REDIS, '-9007199254740991'],
    ['1', safe, CounterMode.REDIS, '9007199254740992'],
    ['-1', -safe, CounterMode.REDIS, '-9007199254740992'],
    ['0', safe + 1n, CounterMode.REDIS, '9007199254740992'],
    ['0', -safe - 1n, CounterMode.REDIS, '-9007199254740992'],
    ['9007199254740991', 1n, CounterMode.REDIS, '9007199254740992'],
    ['9007199254740992', -1n, CounterMode.REDIS, '9007199254740991'],
    ['-9007199254740991', -1n, CounterMode.REDIS, '-9007199254740992'],
    ['123456789012345', 9007199254740991n - 123456789012345n, CounterMode.REDIS, '9007199254740991'],
    ['123456789012345', 9007199254740992n - 123456789012345n, CounterMode.REDIS, '9007199254740992'],
    ['10', -1n, CounterMode.MEMCACHED, '9'],
    ['5', -10n, CounterMode.MEMCACHED, '0'],
    ['0', -1n, CounterMode.MEMCACHED, '0'],
    ['99', 1n, CounterMode.MEMCACHED, '100'],
    ['000099', 1n, CounterMode.MEMCACHED, '100'],
    ['1', safe, CounterMode.MEMCACHED, '9007199254740992'],
    ['18446744073709551615', 2n, CounterMode.MEMCACHED, '1']
  ]
  const value = new ReadResult()
  let i = 0
  for (const [stored, delta, mode, after] of cases) {
    const key = Buffer.from(`boundary:${i++}`)
    const hash = hashOf(0, key)
    write.flags = 0xbeef
    write.expiryMs = clock.nowMs() + 60_000
    t.equal(store.set(0, key, hash, Buffer.from(stored, 'latin1'), write), StoreStatus.OK)
    const setCas = store.lastCas
    const label = `${mode === CounterMode.REDIS ? 'Redis' : 'memcached'} "${stored}" ${delta >= 0n ? '+' : ''}${delta}`
    t.equal(store.incr(0, key, hash, delta, mode), StoreStatus.OK, label)
    t.equal(String(store.lastCounter), after, `${label}: counter`)
    t.equal(store.get(0, key, hash, value), StoreStatus.OK)
    t.equal(value.value.toString('latin1', 0, value.valueLength), after, `${label}: stored digits`)
    t.equal(value.flags, 0xbeef, `${label}: flags kept`)
    t.equal(value.expiryMs, write.expiryMs, `${label}: expiry kept`)
    t.ok(value.cas > setCas && value.cas === store.lastCas, `${label}: a new CAS, reported as lastCas`)
    t.doesNotThrow(() => checkSlab(store), `${label}: slab consistent (item bytes follow the new length)`)
  }
  write.flags = 0
  write.expiryMs = 0
  // Many increments through a digit-length change in both directions, as a counter lives.
  const counter = Buffer.from('counter:walk')
  const hash = hashOf(0, counter)
  t.equal(store.set(0, counter, hash, Buffer.from('95'), write), StoreStatus.OK)
  for (let n = 96; n <= 1005; n++) store.incr(0, counter, hash, 1n, CounterMode.REDIS)
  t.equal(store.lastCounter, 1005n)
  for (let n = 1004; n >= -105; n--) store.incr(0, counter, hash, -1n, CounterMode.REDIS)
  t.equal(store.lastCounter, -105n)
  t.equal(store.get(0, counter, hash, value), StoreStatus.OK)
  t.equal(value.value.toString('latin1', 0, value.valueLength), '-105')
  t.equal(store.tenantStats(0).sets, cases.length * 2 + 1 + 910 + 1110, 'every increment counts as a set')
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('scan - returns one tenant\'s live keys across cursors, skipping expired items and other tenants', async t => {
  const { store, clock } = setup()
  const write = new WriteOptions()
  const expected = new Set<string>()
  for (let i = 0; i < 300; i++) {
    const tenant = i % 3
    const key = Buffer.from(`scan:${i}`)
    write.expiryMs = i % 10 === 0 ? clock.nowMs() + 1000 : 0
    t.equal(store.set(tenant, key, hashOf(tenant, key), Buffer.from('v'), write), StoreStatus.OK)
    if (tenant === 1 && i % 10 !== 0) expected.add(key.toString())
  }
  clock.advance(1000)
  const keys: Buffer[] = []
  let cursor = 0
  let calls = 0
  do { cursor = store.scan(1, cursor, 1000, keys); calls++ } while (cursor > 0)
  t.equal(cursor, 0)
  t.ok(calls > 1, `took ${calls} slices`)
  t.same(new Set(keys.map(k => k.toString())), expected, 'exactly the live keys of tenant 1')
  t.equal(keys.length, expected.size, 'each once')
  t.end()
})

t.test('flushStep - removes one tenant\'s items in slices and leaves the others', async t => {
  const { store } = setup()
  const write = new WriteOptions()
  for (let i = 0; i < 600; i++) {
    const key = Buffer.from(`flush:${i}`)
    t.equal(store.set(i % 2, key, hashOf(i % 2, key), Buffer.alloc(50), write), StoreStatus.OK)
  }
  let cursor = 0
  let removed = 0
  do { cursor = store.flushStep(1, cursor, 4096); removed += store.lastRemoved; checkSlab(store) } while (cursor > 0)
  t.equal(removed, 300)
  t.equal(store.tenantStats(1).items, 0)
  t.equal(store.tenantStats(1).deletes, 300)
  t.equal(store.tenantStats(0).items, 300, 'the other tenant is untouched')
  cursor = 0
  do { cursor = store.flushStep(-1, cursor, 100_000) } while (cursor > 0)
  t.equal(store.stats().items, 0, 'tenant -1 flushes everything')
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('hit ring - a recorded hit whose chunk is now uncarved garbage is ignored by maintain', async t => {
  const { store } = setup()
  const write = new WriteOptions()
  const key = Buffer.from('hit')
  t.equal(store.set(0, key, hashOf(0, key), Buffer.alloc(10), write), StoreStatus.OK)
  const ref = store.index.find(0, key, hashOf(0, key))
  t.equal(store.get(0, key, hashOf(0, key), read), StoreStatus.OK, 'the hit is recorded')
  t.equal(store.delete(0, key, hashOf(0, key)), StoreStatus.OK)
  // Its page goes back to the free stack and comes back as another class's carve page with
  // nothing carved, and old bytes at `ref` still look like an item header.
  const { allocator, memory, lock } = store
  const page = memory.pageOf(ref)
  t.ok(lock.acquire())
  allocator.releasePage(page)
  t.equal(allocator.popFreePage(), page)
  allocator.formatPage(page, allocator.classFor(64)) // same alignment: ref is a chunk start
  memory.words[ref * 2 + I_META] = makeMeta(3, 0, KIND_ITEM, false)
  lock.release()
  t.ok(memory.isChunkStart(ref) && !allocator.isCarved(ref), 'the stale ref is an uncarved chunk start')
  t.equal(memory.words[HIT_RING_BASE / 4]!, ref, 'and it is in the hit ring')
  t.equal(memory.words[H_HIT_HEAD / 4]!, 1)
  t.equal(store.maintain(0, 100), 1, 'maintain applies the one recorded hit')
  t.doesNotThrow(() => checkSlab(store), 'without linking garbage into an LRU')
  t.end()
})

t.test('get - copies values of every length at every key alignment exactly (word copy)', async t => {
  const { store } = setup(16 << 20)
  const write = new WriteOptions()
  const result = new ReadResult()
  let x = 0x9e3779b9
  const lengths = [...Array.from({ length: 80 }, (_, i) => i), 100, 127, 128, 129, 255, 256, 257, 1000, 4093, 4096, 70_000]
  let wrong = 0
  for (let keyLength = 1; keyLength <= 8; keyLength++) {
    for (const length of lengths) {
      const key = Buffer.alloc(keyLength, 65 + keyLength)
      const value = Buffer.allocUnsafe(length)
      for (let i = 0; i < length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; value[i] = x & 0xff }
      if (store.set(0, key, hashOf(0, key), value, write) !== StoreStatus.OK) { t.fail(`set ${keyLength}/${length}`); continue }
      if (store.get(0, key, hashOf(0, key), result) !== StoreStatus.OK ||
          result.valueLength !== length || !result.value.subarray(0, length).equals(value)) wrong++
    }
  }
  t.equal(wrong, 0, 'every value read back exactly')
  t.ok(result.value.byteOffset === 0 && result.value.length % 4 === 0, 'the read buffer is word-aligned')
  // A caller that swaps in its own buffer gets a correct (re-allocated) one back.
  result.value = Buffer.alloc(3)
  const key = Buffer.from('k')
  t.equal(store.set(0, key, hashOf(0, key), Buffer.from('hello world, longer than thirty-two bytes'), write), StoreStatus.OK)
  t.equal(store.get(0, key, hashOf(0, key), result), StoreStatus.OK)
  t.equal(result.value.toString('latin1', 0, result.valueLength), 'hello world, longer than thirty-two bytes')
  t.end()
})
