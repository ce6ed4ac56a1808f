/**
 * LRU bump rate limit (issue 4, memcached's ITEM_UPDATE_INTERVAL): a hit on an item linked or
 * bumped in the current bumpIntervalMs window is not recorded, so the item does not move; once
 * the clock enters the next window the hit is recorded and the drain moves the item to its LRU
 * head and stamps the new epoch. Shown on the LRU lists, the hit ring and eviction order, with
 * the main-thread/worker split (one store reads, another drains); epochs 0–3 in the meta word
 * never disturb lookups, tags, export, repair or the invariant walker; interval 0 is exact LRU.
 * Time is moved with a ManualClock.
 */
import t from 'tap'
import { CounterMode, ReadResult, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { ExportBuffer, exportKey } from '../../src/core/slab-export.js'
import { H_HIT_HEAD, I_META, MIN_SLAB_BYTES, metaBumpEpoch } from '../../src/core/slab-layout.js'
import { ManualClock } from '../../src/util/clock.js'
import { lruList } from '../fixtures/lru-list.js'

const INTERVAL_MS = 1000
/** A window start (a multiple of INTERVAL_MS): the tests know where each window ends. */
const START_MS = 1_700_000_000_000
const TENANT = 3
const read = new ReadResult()
const write = new WriteOptions()

const keyOf = (i: number): Buffer => Buffer.from(`key:${String(i).padStart(6, '0')}`)
const hashOf = (key: Uint8Array): number => keyHash(TENANT, key, 0, key.length)
const epochAt = (ms: number): number => Math.floor(ms / INTERVAL_MS) & 3

function setup (bumpIntervalMs = INTERVAL_MS, slabBytes = 8 << 20): { store: SlabStore, clock: ManualClock, sab: SharedArrayBuffer } {
  const clock = new ManualClock(START_MS)
  const sab = new SharedArrayBuffer(slabBytes)
  const store = SlabStore.create(sab, { clock, ownerId: 1, recordsHits: true, bumpIntervalMs })
  return { store, clock, sab }
}

function set (store: SlabStore, i: number, valueBytes = 100): StoreStatus {
  const key = keyOf(i)
  return store.set(TENANT, key, hashOf(key), Buffer.alloc(valueBytes, i & 0xff), write)
}
function get (store: SlabStore, i: number): StoreStatus {
  const key = keyOf(i)
  return store.get(TENANT, key, hashOf(key), read)
}
function has (store: SlabStore, i: number): boolean {
  const key = keyOf(i)
  return store.has(TENANT, key, hashOf(key)) === StoreStatus.OK
}
function refOf (store: SlabStore, i: number): number {
  const key = keyOf(i)
  return store.index.find(TENANT, key, hashOf(key))
}
/** Hits recorded in the ring so far (its head only moves when a hit is recorded). */
function recorded (store: SlabStore): number { return store.memory.words[H_HIT_HEAD >>> 2]! }
function epochOf (store: SlabStore, i: number): number { return metaBumpEpoch(store.memory.words[refOf(store, i) * 2 + I_META]!) }
/** The tenant's LRU list of item i's class, head (most recent) first. */
function lruOrder (store: SlabStore, i: number): number[] { return lruList(store, TENANT, refOf(store, i)) }

t.test('set - the new item is stamped with the epoch of its window', async (t) => {
  const { store, clock } = setup()
  t.equal(set(store, 0), StoreStatus.OK)
  t.equal(epochOf(store, 0), epochAt(START_MS))
  clock.advance(INTERVAL_MS)
  t.equal(set(store, 1), StoreStatus.OK)
  t.equal(epochOf(store, 1), epochAt(START_MS + INTERVAL_MS))
  t.not(epochOf(store, 1), epochOf(store, 0), 'consecutive windows have different epochs')
})

t.test('get - a hit in the window of the set is not recorded and the item keeps its LRU place; past the window edge it moves to the head', async (t) => {
  const { store, clock } = setup()
  for (let i = 0; i < 3; i++) t.equal(set(store, i), StoreStatus.OK)
  const [a, b, c] = [refOf(store, 0), refOf(store, 1), refOf(store, 2)]
  t.same(lruOrder(store, 0), [c, b, a], 'newest first')

  clock.advance(INTERVAL_MS - 1) // the last ms of the set's window
  t.equal(get(store, 0), StoreStatus.OK, 'the read itself succeeds')
  t.equal(recorded(store), 0, 'the hit is not recorded')
  t.ok(store.maintain(clock.nowMs(), 100) >= 0)
  t.same(lruOrder(store, 0), [c, b, a], 'the item did not move')
  t.equal(store.stats().hits, 1, 'the hit still counts')

  clock.advance(1) // the next window
  t.equal(get(store, 0), StoreStatus.OK)
  t.equal(recorded(store), 1, 'the hit is recorded')
  t.equal(epochOf(store, 0), epochAt(START_MS), 'the reader does not write the meta word')
  store.maintain(clock.nowMs(), 100)
  t.same(lruOrder(store, 0), [a, c, b], 'the drain moved it to the head')
  t.equal(epochOf(store, 0), epochAt(START_MS + INTERVAL_MS), 'the bump stamped the new window\'s epoch')

  t.equal(get(store, 0), StoreStatus.OK)
  t.equal(get(store, 1), StoreStatus.OK)
  t.equal(recorded(store), 2, 'in the bump\'s window a hit on the bumped item is skipped again; another item\'s (set a window ago) is recorded')
  store.maintain(clock.nowMs(), 100)
  t.same(lruOrder(store, 0), [b, a, c])
  t.doesNotThrow(() => checkSlab(store))
})

t.test('get - aliasing: an item last stamped exactly 4 windows ago is bumped one window late, never early', async (t) => {
  const { store, clock } = setup()
  t.equal(set(store, 0), StoreStatus.OK)
  t.equal(set(store, 1), StoreStatus.OK)
  clock.advance(4 * INTERVAL_MS)
  t.equal(get(store, 0), StoreStatus.OK)
  t.equal(recorded(store), 0, 'same 2-bit epoch: taken for this window, not recorded')
  clock.advance(INTERVAL_MS)
  t.equal(get(store, 0), StoreStatus.OK)
  t.equal(recorded(store), 1, 'one window later it is recorded')
})

t.test('eviction - an item read in its set\'s window is still the LRU tail and goes first; one read in a later window survives', async (t) => {
  // The smallest slab (3 pages) and one size class: once full, every set evicts the tail.
  const { store, clock } = setup(INTERVAL_MS, MIN_SLAB_BYTES)
  let next = 0
  while (store.stats().evictions === 0) t.equal(set(store, next++, 1000), StoreStatus.OK) || t.bailout()
  const survivors: number[] = []
  for (let i = 0; i < next; i++) if (has(store, i)) survivors.push(i)
  const [s0, s1, s2] = survivors as [number, number, number]

  t.equal(get(store, s0), StoreStatus.OK, 'the oldest survivor is read within its window')
  t.equal(set(store, next++, 1000), StoreStatus.OK)
  t.notOk(has(store, s0), 'it was evicted anyway: the read was not recorded')
  t.ok(has(store, s1))

  clock.advance(INTERVAL_MS)
  t.equal(get(store, s1), StoreStatus.OK, 'the next oldest is read in a later window')
  t.equal(set(store, next++, 1000), StoreStatus.OK)
  t.ok(has(store, s1), 'the read was recorded, so the allocation\'s drain moved it off the tail')
  t.notOk(has(store, s2), 'the item behind it was evicted instead')
  t.doesNotThrow(() => checkSlab(store))
})

t.test('two stores on one slab - the reader records, the draining store stamps, and the reader then skips', async (t) => {
  const { store: reader, clock, sab } = setup()
  const worker = SlabStore.attach(sab, { clock, ownerId: 2, recordsHits: false, bumpIntervalMs: INTERVAL_MS })
  t.equal(worker.bumpIntervalMs, INTERVAL_MS)
  t.equal(set(reader, 0), StoreStatus.OK)
  t.equal(set(reader, 1), StoreStatus.OK)
  clock.advance(INTERVAL_MS)
  t.equal(get(reader, 0), StoreStatus.OK)
  t.equal(recorded(reader), 1)
  t.ok(worker.maintain(clock.nowMs(), 100) >= 1, 'the worker drains the hit')
  t.equal(epochOf(reader, 0), epochAt(clock.nowMs()), 'and stamps the epoch')
  t.equal(reader.allocator.lruHead(reader.memory.pageClass[reader.memory.pageOf(refOf(reader, 0))]!, TENANT), refOf(reader, 0))
  t.equal(get(reader, 0), StoreStatus.OK)
  t.equal(recorded(reader), 1, 'the reader skips the item the worker bumped in this window')
})

t.test('incr - the in-place rewrite moves the counter to its LRU head and stamps the epoch', async (t) => {
  const { store, clock } = setup()
  const counter = Buffer.from('counter')
  t.equal(store.set(TENANT, counter, hashOf(counter), Buffer.from('41'), write), StoreStatus.OK)
  const ref = store.index.find(TENANT, counter, hashOf(counter))
  clock.advance(2 * INTERVAL_MS)
  t.equal(store.incr(TENANT, counter, hashOf(counter), 1n, CounterMode.REDIS), StoreStatus.OK)
  t.equal(store.index.find(TENANT, counter, hashOf(counter)), ref, 'rewritten in place')
  t.equal(metaBumpEpoch(store.memory.words[ref * 2 + I_META]!), epochAt(clock.nowMs()))
  t.equal(store.get(TENANT, counter, hashOf(counter), read), StoreStatus.OK)
  t.equal(recorded(store), 0, 'a hit in the incr\'s window is skipped')
})

t.test('meta word - items stamped with every epoch (bit 31 set included) are found, tagged, exported, repaired and checked', async (t) => {
  const { store, clock } = setup()
  const tagged = new WriteOptions()
  const tag = Buffer.from('group')
  tagged.tags = [tag]
  const seen = new Set<number>()
  for (let w = 0; w < 4; w++) {
    const key = keyOf(w)
    t.equal(store.set(TENANT, key, hashOf(key), Buffer.from(`v${w}`), tagged), StoreStatus.OK)
    seen.add(epochOf(store, w))
    clock.advance(INTERVAL_MS)
  }
  t.same([...seen].sort(), [0, 1, 2, 3], 'all four epochs are in use')
  const out = new ExportBuffer(4096)
  for (let w = 0; w < 4; w++) {
    const key = keyOf(w)
    t.equal(get(store, w), StoreStatus.OK, `get, epoch ${epochOf(store, w)}`)
    t.equal(read.value.subarray(0, read.valueLength).toString(), `v${w}`)
    t.ok(has(store, w))
    t.ok(exportKey(store, TENANT, key, hashOf(key), out) > 0, 'exported')
    t.equal(out.view.getUint32(out.length - (32 + key.length + 2 + 2 + tag.length), true), TENANT, 'the record names the tenant, not meta bits')
  }
  t.equal(out.items, 4)
  t.doesNotThrow(() => checkSlab(store))
  store.lock.acquire()
  store.repairHeld()
  store.lock.release()
  t.doesNotThrow(() => checkSlab(store), 'after repair')
  for (let w = 0; w < 4; w++) t.ok(has(store, w), `item ${w} survives repair`)
  t.equal(store.invalidateTag(TENANT, tag, hashOf(tag), 100), 0, 'tag invalidation reaches every member')
  t.equal(store.lastRemoved, 4)
  t.doesNotThrow(() => checkSlab(store))
})

t.test('bumpIntervalMs 0 - exact LRU: every hit is recorded, even right after the set, and moves the item', async (t) => {
  const { store, clock } = setup(0)
  t.equal(store.bumpIntervalMs, 0)
  for (let i = 0; i < 3; i++) t.equal(set(store, i), StoreStatus.OK)
  const [a, b, c] = [refOf(store, 0), refOf(store, 1), refOf(store, 2)]
  t.equal(get(store, 0), StoreStatus.OK)
  t.equal(get(store, 0), StoreStatus.OK)
  t.equal(recorded(store), 2, 'both hits recorded')
  store.maintain(clock.nowMs(), 100)
  t.same(lruOrder(store, 0), [a, c, b])
  t.equal(get(store, 1), StoreStatus.OK)
  store.maintain(clock.nowMs(), 100)
  t.same(lruOrder(store, 0), [b, a, c])
  t.equal(recorded(store), 3)
})

t.test('bumpIntervalMs - the default is 60 s; a negative or fractional value is refused by name', async (t) => {
  const store = SlabStore.create(new SharedArrayBuffer(MIN_SLAB_BYTES), { clock: new ManualClock(), ownerId: 1, recordsHits: true })
  t.equal(store.bumpIntervalMs, 60_000)
  for (const bad of [-1, 0.5]) {
    t.throws(() => SlabStore.create(new SharedArrayBuffer(MIN_SLAB_BYTES), { clock: new ManualClock(), ownerId: 1, recordsHits: true, bumpIntervalMs: bad }),
      { name: 'RangeError', message: /^bumpIntervalMs must be a non-negative integer/ })
  }
})
