/**
 * SET over a live item whose new value needs the same size class is rewritten in the item's own
 * chunk (SlabStore #overwriteInPlace): same ref, new value, flags, expiry and CAS, a set counted,
 * counters and every derived structure consistent (checkSlab); an item whose extension is only a
 * content type, rewritten with the same type, too. Not in place, exactly as before: another size
 * class, tags on the item or the write, another content type (or one added or removed), a tenant
 * with a quota, a chunked value. An exception mid-copy is repaired by dropping the key (never a torn value); a
 * lock-free reader overlapping the rewrite retries and reads the whole new value; the item
 * moves to its LRU head at most once per bump window (every time with interval 0).
 * Time is moved with a ManualClock.
 */
import t from 'tap'
import { ReadResult, SetMode, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { H_REPAIRS } from '../../src/core/slab-layout.js'
import type { ValueSink } from '../../src/core/slab-values.js'
import { ManualClock } from '../../src/util/clock.js'
import { lruList } from '../fixtures/lru-list.js'

const TENANT = 2
const START_MS = 1_700_000_000_000
const keyOf = (i: number): Buffer => Buffer.from(`inplace:${String(i).padStart(4, '0')}`)
const hashOf = (key: Uint8Array): number => keyHash(TENANT, key, 0, key.length)
const read = new ReadResult()

function setup (bumpIntervalMs = 0): { store: SlabStore, clock: ManualClock, sab: SharedArrayBuffer } {
  const clock = new ManualClock(START_MS)
  const sab = new SharedArrayBuffer(8 << 20)
  return { store: SlabStore.create(sab, { clock, ownerId: 1, recordsHits: true, bumpIntervalMs }), clock, sab }
}

function options (fields: Partial<WriteOptions> = {}): WriteOptions {
  return Object.assign(new WriteOptions(), fields)
}
function set (store: SlabStore, i: number, value: Buffer, write = new WriteOptions()): StoreStatus {
  const key = keyOf(i)
  return store.set(TENANT, key, hashOf(key), value, write)
}
function refOf (store: SlabStore, i: number): number {
  const key = keyOf(i)
  return store.index.find(TENANT, key, hashOf(key))
}
function valueOf (store: SlabStore, i: number): Buffer | null {
  const key = keyOf(i)
  const status = store.get(TENANT, key, hashOf(key), read)
  if (status === StoreStatus.NOT_FOUND) return null
  if (status !== StoreStatus.OK) throw new Error(`get ${i}: ${status}`)
  return Buffer.from(read.value.subarray(0, read.valueLength))
}
/** The tenant's LRU list of item i's class, most recent first. */
function lruOrder (store: SlabStore, i: number): number[] { return lruList(store, TENANT, refOf(store, i)) }

t.test('in place - same class: same chunk, new value, flags and CAS; counts and structures consistent', async t => {
  const { store } = setup()
  t.equal(set(store, 1, Buffer.alloc(100, 'a'), options({ flags: 7 })), StoreStatus.OK)
  t.equal(set(store, 2, Buffer.alloc(100, 'b')), StoreStatus.OK)
  const ref = refOf(store, 1)
  t.equal(store.get(TENANT, keyOf(1), hashOf(keyOf(1)), read), StoreStatus.OK)
  const oldCas = read.cas
  const before = store.stats()
  const setsBefore = store.tenantStats(TENANT).sets

  // 100 → 104 bytes: the same 176-byte class for a 12-byte key.
  const next = Buffer.alloc(104, 'c')
  t.equal(set(store, 1, next, options({ flags: 9 })), StoreStatus.OK)
  t.equal(refOf(store, 1), ref, 'the item kept its chunk')
  t.same(valueOf(store, 1), next, 'the new value')
  t.equal(read.flags, 9, 'the new flags')
  t.ok(read.cas > oldCas, 'a fresh, larger CAS')
  t.equal(read.cas, store.lastCas, 'lastCas is the item\'s')
  const after = store.stats()
  t.equal(after.items, before.items, 'item count unchanged')
  t.equal(after.itemBytes, before.itemBytes + 4, 'item bytes follow the new length')
  t.equal(store.tenantStats(TENANT).sets, setsBefore + 1, 'a set counted')
  t.same(valueOf(store, 2), Buffer.alloc(100, 'b'), 'the neighbour is untouched')
  t.doesNotThrow(() => checkSlab(store))

  // REPLACE and CAS overwrite in place too; a wrong CAS still answers EXISTS and changes nothing.
  t.equal(set(store, 1, Buffer.alloc(100, 'd'), options({ mode: SetMode.REPLACE })), StoreStatus.OK)
  t.equal(refOf(store, 1), ref)
  valueOf(store, 1)
  const cas = read.cas
  t.equal(set(store, 1, Buffer.alloc(100, 'e'), options({ mode: SetMode.CAS, casExpected: cas + 1 })), StoreStatus.EXISTS)
  t.same(valueOf(store, 1), Buffer.alloc(100, 'd'))
  t.equal(set(store, 1, Buffer.alloc(100, 'e'), options({ mode: SetMode.CAS, casExpected: cas })), StoreStatus.OK)
  t.equal(refOf(store, 1), ref)
  t.same(valueOf(store, 1), Buffer.alloc(100, 'e'))
  t.doesNotThrow(() => checkSlab(store))
})

t.test('in place - not taken: another class, tags, a content type, a quota, a chunked value', async t => {
  const { store } = setup()
  t.equal(set(store, 1, Buffer.alloc(100, 'a')), StoreStatus.OK)
  let ref = refOf(store, 1)
  t.equal(set(store, 1, Buffer.alloc(400, 'b')), StoreStatus.OK)
  t.not(refOf(store, 1), ref, 'a larger class: a new item')
  ref = refOf(store, 1)
  t.equal(set(store, 1, Buffer.alloc(20, 'c')), StoreStatus.OK)
  t.not(refOf(store, 1), ref, 'a smaller class: a new item (no oversized chunk kept)')
  t.same(valueOf(store, 1), Buffer.alloc(20, 'c'))

  ref = refOf(store, 1)
  t.equal(set(store, 1, Buffer.alloc(20, 'd'), options({ tags: [Buffer.from('t1')] })), StoreStatus.OK)
  t.not(refOf(store, 1), ref, 'a write with tags: a new item')
  ref = refOf(store, 1)
  t.equal(set(store, 1, Buffer.alloc(20, 'e')), StoreStatus.OK)
  t.not(refOf(store, 1), ref, 'over an item with tags: a new item')
  t.equal(store.invalidateTag(TENANT, Buffer.from('t1'), hashOf(Buffer.from('t1')), 100), 0, 'the plain write left the tag')
  t.same(valueOf(store, 1), Buffer.alloc(20, 'e'))
  ref = refOf(store, 1)
  t.equal(set(store, 1, Buffer.alloc(20, 'f'), options({ contentType: Buffer.from('text/plain') })), StoreStatus.OK)
  t.not(refOf(store, 1), ref, 'a write with a content type: a new item')

  t.equal(set(store, 2, Buffer.alloc(600 * 1024, 'g')), StoreStatus.OK)
  ref = refOf(store, 2)
  t.equal(set(store, 2, Buffer.alloc(600 * 1024, 'h')), StoreStatus.OK)
  t.not(refOf(store, 2), ref, 'a chunked value: a new item')
  t.same(valueOf(store, 2), Buffer.alloc(600 * 1024, 'h'))

  t.equal(store.setTenantQuota(TENANT, 1 << 20), StoreStatus.OK)
  t.equal(set(store, 3, Buffer.alloc(100, 'i')), StoreStatus.OK)
  ref = refOf(store, 3)
  t.equal(set(store, 3, Buffer.alloc(100, 'j')), StoreStatus.OK)
  t.not(refOf(store, 3), ref, 'a tenant with a quota: a new item')
  t.doesNotThrow(() => checkSlab(store))
})

t.test('in place - an item whose extension is only a content type: the same type in place, another or none not', async t => {
  const { store } = setup()
  const json = Buffer.from('application/json')
  const contentTypeOf = (i: number): string => { valueOf(store, i); return read.contentType.toString('latin1', 0, read.contentTypeLength) }
  t.equal(set(store, 1, Buffer.alloc(100, 'a'), options({ contentType: json })), StoreStatus.OK)
  let ref = refOf(store, 1)
  const before = store.stats()
  t.equal(set(store, 1, Buffer.alloc(104, 'b'), options({ contentType: Buffer.from('application/json') })), StoreStatus.OK)
  t.equal(refOf(store, 1), ref, 'the same content type (equal bytes, another buffer): in place')
  t.same(valueOf(store, 1), Buffer.alloc(104, 'b'))
  t.equal(contentTypeOf(1), 'application/json', 'the content type is kept')
  t.equal(store.stats().itemBytes, before.itemBytes + 4, 'item bytes follow the new length')
  t.doesNotThrow(() => checkSlab(store))

  t.equal(set(store, 1, Buffer.alloc(104, 'c'), options({ contentType: Buffer.from('application/jsoN') })), StoreStatus.OK)
  t.not(refOf(store, 1), ref, 'another content type of the same length: a new item')
  t.equal(contentTypeOf(1), 'application/jsoN')
  ref = refOf(store, 1)
  t.equal(set(store, 1, Buffer.alloc(104, 'd'), options({ contentType: Buffer.from('text/plain') })), StoreStatus.OK)
  t.not(refOf(store, 1), ref, 'another content type: a new item')
  ref = refOf(store, 1)
  t.equal(set(store, 1, Buffer.alloc(104, 'e')), StoreStatus.OK)
  t.not(refOf(store, 1), ref, 'no content type over one: a new item')
  t.equal(contentTypeOf(1), '', 'and the content type is gone')
  t.same(valueOf(store, 1), Buffer.alloc(104, 'e'))

  t.equal(set(store, 2, Buffer.alloc(100, 'f'), options({ contentType: json, tags: [Buffer.from('t2')] })), StoreStatus.OK)
  ref = refOf(store, 2)
  t.equal(set(store, 2, Buffer.alloc(100, 'g'), options({ contentType: json })), StoreStatus.OK)
  t.not(refOf(store, 2), ref, 'over an item with tags and the same content type: a new item')
  t.equal(store.invalidateTag(TENANT, Buffer.from('t2'), hashOf(Buffer.from('t2')), 100), 0, 'the write left the tag')
  t.same(valueOf(store, 2), Buffer.alloc(100, 'g'))
  t.doesNotThrow(() => checkSlab(store))
})

t.test('in place - expiry: added, changed and removed on the timing wheel', async t => {
  const { store, clock } = setup()
  t.equal(set(store, 1, Buffer.alloc(100, 'a')), StoreStatus.OK)
  t.equal(set(store, 2, Buffer.alloc(100, 'b'), options({ expiryMs: START_MS + 1000 })), StoreStatus.OK)
  const ref1 = refOf(store, 1)
  const ref2 = refOf(store, 2)
  t.equal(set(store, 1, Buffer.alloc(100, 'c'), options({ expiryMs: START_MS + 2000 })), StoreStatus.OK, 'no TTL → a TTL')
  t.equal(set(store, 2, Buffer.alloc(100, 'd')), StoreStatus.OK, 'a TTL → none')
  t.equal(refOf(store, 1), ref1)
  t.equal(refOf(store, 2), ref2)
  t.equal(store.stats().wheelItems, 1, 'only the item with a TTL is on the wheel')
  t.doesNotThrow(() => checkSlab(store))
  clock.advance(1500)
  store.maintain(clock.nowMs(), 1000)
  t.same(valueOf(store, 2), Buffer.alloc(100, 'd'), 'the TTL taken off does not expire it')
  t.same(valueOf(store, 1), Buffer.alloc(100, 'c'), 'not expired before its new TTL')
  clock.advance(1000)
  store.maintain(clock.nowMs(), 1000)
  t.equal(valueOf(store, 1), null, 'expired at its new TTL')
  t.equal(store.stats().items, 1)
  t.doesNotThrow(() => checkSlab(store))

  // keepTtl keeps the old expiry.
  t.equal(set(store, 3, Buffer.alloc(100, 'e'), options({ expiryMs: clock.nowMs() + 500 })), StoreStatus.OK)
  const ref3 = refOf(store, 3)
  t.equal(set(store, 3, Buffer.alloc(100, 'f'), options({ keepTtl: true })), StoreStatus.OK)
  t.equal(refOf(store, 3), ref3)
  clock.advance(600)
  store.maintain(clock.nowMs(), 1000)
  t.equal(valueOf(store, 3), null, 'expired at the kept TTL')
  t.doesNotThrow(() => checkSlab(store))
})

t.test('in place - an exception mid-copy: repair drops the key, everything else intact', async t => {
  const { store } = setup()
  for (let i = 0; i < 50; i++) t.equal(set(store, i, Buffer.alloc(100, i)), StoreStatus.OK)
  const items = store.stats().items
  let fired = false
  store.faultHook = (at) => { if (at === 'set:in-place') { fired = true; throw new Error('boom') } }
  t.throws(() => set(store, 7, Buffer.alloc(100, 0xee)), { message: 'boom' })
  store.faultHook = null
  t.ok(fired, 'the overwrite took the in-place path')
  t.equal(store.memory.doubles[H_REPAIRS >>> 3], 1, 'one repair ran')
  t.equal(store.lock.holder(), 0, 'the lock was released')
  t.equal(store.lock.readSeq() & 1, 0, 'the seqlock is even')
  t.doesNotThrow(() => checkSlab(store))
  t.equal(valueOf(store, 7), null, 'the key is gone: no torn value is ever served')
  t.equal(store.stats().items, items - 1)
  for (let i = 0; i < 50; i++) if (i !== 7) t.same(valueOf(store, i), Buffer.alloc(100, i), `key ${i} intact`)
  t.equal(set(store, 7, Buffer.alloc(100, 0xef)), StoreStatus.OK, 'the store keeps working')
  t.same(valueOf(store, 7), Buffer.alloc(100, 0xef))
})

t.test('in place - a lock-free reader overlapping the rewrite retries and reads the whole new value', async t => {
  const { store, clock, sab } = setup()
  const other = SlabStore.attach(sab, { clock, ownerId: 2, recordsHits: false, bumpIntervalMs: 0 })
  const key = keyOf(1)
  const hash = hashOf(key)
  t.equal(store.set(TENANT, key, hash, Buffer.alloc(100, 'o'), new WriteOptions()), StoreStatus.OK)
  const ref = refOf(store, 1)
  const next = Buffer.alloc(100, 'n')
  let claims = 0
  const sinkBytes = Buffer.alloc(128)
  const sink: ValueSink = {
    sinkBytes,
    sinkWords: new Uint32Array(sinkBytes.buffer, sinkBytes.byteOffset, 32),
    claimValue () {
      // The first attempt's copy races a writer on the other store: the overwrite lands now.
      if (++claims === 1) t.equal(other.set(TENANT, key, hash, next, new WriteOptions()), StoreStatus.OK)
      return 0
    }
  }
  read.sink = sink
  try {
    t.equal(store.get(TENANT, key, hash, read), StoreStatus.OK)
  } finally { read.sink = null }
  t.equal(claims, 2, 'the torn attempt was retried')
  t.equal(refOf(store, 1), ref, 'the writer rewrote the item in place')
  t.ok(sinkBytes.subarray(0, 100).equals(next), 'the reader holds the whole new value')
})

t.test('in place - the item moves to its LRU head: every time with interval 0, once per window otherwise', async t => {
  {
    const { store } = setup(0)
    for (let i = 1; i <= 3; i++) t.equal(set(store, i, Buffer.alloc(100, i)), StoreStatus.OK)
    t.equal(lruOrder(store, 1)[0], refOf(store, 3))
    t.equal(set(store, 1, Buffer.alloc(100, 9)), StoreStatus.OK)
    t.equal(lruOrder(store, 1)[0], refOf(store, 1), 'exact LRU: the overwritten item is most recent')
    t.doesNotThrow(() => checkSlab(store))
  }
  {
    const { store, clock } = setup(1000)
    for (let i = 1; i <= 3; i++) t.equal(set(store, i, Buffer.alloc(100, i)), StoreStatus.OK)
    t.equal(set(store, 1, Buffer.alloc(100, 9)), StoreStatus.OK)
    t.equal(lruOrder(store, 1)[0], refOf(store, 3), 'linked this window: not moved again')
    clock.advance(1000)
    t.equal(set(store, 1, Buffer.alloc(100, 8)), StoreStatus.OK)
    t.equal(lruOrder(store, 1)[0], refOf(store, 1), 'next window: moved to the head')
    t.same(valueOf(store, 1), Buffer.alloc(100, 8))
    t.doesNotThrow(() => checkSlab(store))
  }
})
