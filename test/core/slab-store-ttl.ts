/**
 * SlabStore TTLs with a ManualClock (time is moved, never slept): lazy expiry on read, prompt
 * reclaim by `maintain` through the timing wheel, reuse of expired memory, far expiries across
 * every wheel level and the overflow list, touch, and bounded work per maintenance slice.
 * checkSlab verifies each item's wheel slot against its due tick, so a misplaced item fails
 * here even before it would expire late.
 */
import t from 'tap'
import { ReadResult, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { TICK_MS } from '../../src/core/slab-layout.js'
import { ManualClock } from '../../src/util/clock.js'

const TENANT = 2
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

function setup (slabBytes = 8 << 20): { store: SlabStore, clock: ManualClock } {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(slabBytes), { clock, ownerId: 1, recordsHits: true })
  return { store, clock }
}

const keyOf = (i: number): Buffer => Buffer.from(`ttl:${String(i).padStart(6, '0')}`)
const hashOf = (key: Buffer): number => keyHash(TENANT, key, 0, key.length)
const write = new WriteOptions()
const read = new ReadResult()

function set (store: SlabStore, i: number, expiryMs: number, valueBytes = 100): number {
  const key = keyOf(i)
  write.expiryMs = expiryMs
  return store.set(TENANT, key, hashOf(key), Buffer.alloc(valueBytes, i & 0xff), write)
}
function get (store: SlabStore, i: number): number {
  const key = keyOf(i)
  return store.get(TENANT, key, hashOf(key), read)
}
function has (store: SlabStore, i: number): boolean {
  const key = keyOf(i)
  return store.has(TENANT, key, hashOf(key)) === StoreStatus.OK
}

/** Runs maintenance until the wheel has processed every tick up to now. Returns the calls. */
function catchUp (store: SlabStore, clock: ManualClock, budget = 1000): number {
  let calls = 0
  while (store.wheel.tick <= Math.floor(clock.nowMs() / TICK_MS)) {
    if (store.maintain(clock.nowMs(), budget) < 0) throw new Error('maintain: lock timed out')
    if (++calls > 1_000_000) throw new Error('maintain does not catch up')
  }
  return calls
}

t.test('TTL - an item is served until its expiry and missed right after, before maintain runs', async t => {
  const { store, clock } = setup()
  const expiryMs = clock.nowMs() + 5 * SECOND + 250
  t.equal(set(store, 1, expiryMs), StoreStatus.OK)
  t.equal(set(store, 2, 0), StoreStatus.OK, 'and one without expiry')
  clock.advance(5 * SECOND + 249)
  t.equal(get(store, 1), StoreStatus.OK, 'served 1 ms before its expiry')
  t.equal(read.expiryMs, expiryMs, 'get reports the absolute expiry')
  clock.advance(1)
  t.equal(get(store, 1), StoreStatus.NOT_FOUND, 'missed at its expiry')
  t.notOk(has(store, 1), 'has agrees')
  t.equal(get(store, 2), StoreStatus.OK, 'the item without expiry stays')
  t.equal(store.stats().items, 2, 'nothing reclaimed yet: expiry on read is lazy')
  t.equal(store.stats().wheelItems, 1)
  const key = keyOf(1)
  t.equal(store.touch(TENANT, key, hashOf(key), 0), StoreStatus.NOT_FOUND, 'touch cannot revive an expired item')
  t.equal(store.stats().items, 1, 'a write-path lookup reclaimed it on the spot')
  t.equal(store.stats().expirations, 1)
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('TTL - maintain reclaims expired items: counts, bytes and the wheel drop to the live items', async t => {
  const { store, clock } = setup()
  for (let i = 0; i < 500; i++) t.equal(set(store, i, 0, 100 + i), StoreStatus.OK)
  const liveBytes = store.stats().chunkBytes
  const liveItemBytes = store.stats().itemBytes
  const now = clock.nowMs()
  for (let i = 500; i < 3500; i++) t.equal(set(store, i, now + 1 + (i * 7919) % (10 * MINUTE), 50 + i % 400), StoreStatus.OK)
  t.equal(store.stats().wheelItems, 3000)
  clock.advance(5 * MINUTE)
  catchUp(store, clock)
  const halfway = store.stats()
  t.ok(halfway.items > 500 && halfway.items < 3500, `part of them expired after 5 minutes (${halfway.items} items left)`)
  for (let i = 500; i < 3500; i++) {
    const due = Math.ceil((now + 1 + (i * 7919) % (10 * MINUTE)) / TICK_MS) * TICK_MS
    if (due <= clock.nowMs() && has(store, i)) { t.fail(`item ${i} due at ${due} survived maintain`); break }
  }
  clock.advance(5 * MINUTE)
  catchUp(store, clock)
  const stats = store.stats()
  t.equal(stats.items, 500, 'only the items without expiry are left')
  t.equal(stats.chunkBytes, liveBytes, 'chunk bytes are back to the live items\' bytes')
  t.equal(stats.itemBytes, liveItemBytes)
  t.equal(stats.wheelItems, 0, 'the wheel is empty')
  t.equal(stats.expirations, 3000)
  t.equal(store.tenantStats(TENANT).expirations, 3000, 'counted for the tenant')
  t.equal(store.tenantStats(TENANT).items, 500)
  t.equal(stats.evictions, 0)
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

for (const [label, newValueBytes] of [['the same size', 100], ['another size class', 1000]] as const) {
  t.test(`TTL - a slab full of expired items takes new items of ${label} without evicting live ones`, async t => {
    const { store, clock } = setup()
    const cls = store.allocator.classFor(48 + 10 + 100)
    const chunks = store.stats().pageCount * store.allocator.chunksPerPage(cls)
    for (let i = 0; i < 1000; i++) t.equal(set(store, i, 0), StoreStatus.OK)
    const expiryMs = clock.nowMs() + MINUTE
    for (let i = 1000; i < chunks; i++) if (set(store, i, expiryMs) !== StoreStatus.OK) t.fail(`set ${i}`)
    t.equal(store.stats().items, chunks, 'the slab is exactly full')
    t.equal(store.stats().evictions, 0)
    clock.advance(MINUTE)
    catchUp(store, clock)
    t.equal(store.stats().items, 1000)
    // The expired items' pages are empty now (the live ones filled the first pages); about a
    // page less than that is what another class can take without evicting.
    const freedBytes = (chunks - 1000) * store.allocator.chunkBytes(cls)
    const count = Math.floor(0.8 * freedBytes / store.allocator.chunkBytes(store.allocator.classFor(48 + 10 + newValueBytes)))
    let failed = 0
    for (let i = chunks; i < chunks + count; i++) if (set(store, i, 0, newValueBytes) !== StoreStatus.OK) failed++
    t.equal(failed, 0, `${count} new items stored`)
    t.equal(store.stats().evictions, 0, 'nothing was evicted')
    const missing = []
    for (let i = 0; i < 1000; i++) if (get(store, i) !== StoreStatus.OK) missing.push(i)
    t.same(missing, [], 'every live item is still there')
    t.doesNotThrow(() => checkSlab(store))
    t.end()
  })
}

const FAR_TTLS = [
  { label: '30 s (level 0)', ttlMs: 30 * SECOND + 123 },
  { label: '50 min (level 1)', ttlMs: 50 * MINUTE + 7 },
  { label: '2 h (level 2)', ttlMs: 2 * HOUR + 999 },
  { label: '2 days (level 2)', ttlMs: 2 * DAY + 500 },
  { label: '20 days (level 3)', ttlMs: 20 * DAY + 1 },
  { label: '150 days (level 3)', ttlMs: 150 * DAY + 321 },
  { label: '200 days (overflow)', ttlMs: 200 * DAY + 42 },
  { label: '400 days (overflow)', ttlMs: 400 * DAY + 4242 },
  { label: '800 days (overflow, re-placed twice)', ttlMs: 800 * DAY + 17 }
]

for (const steps of ['big steps', 'small steps']) {
  t.test(`TTL - far expiries cascade through every wheel level, clock moved in ${steps}`, async t => {
    const { store, clock } = setup()
    const start = clock.nowMs()
    // Several items per TTL, offset by a few seconds, so slots hold more than one item.
    const items: Array<{ i: number, expiryMs: number, label: string }> = []
    FAR_TTLS.forEach(({ label, ttlMs }, n) => {
      for (let k = 0; k < 5; k++) items.push({ i: n * 10 + k, expiryMs: start + ttlMs + k * 3 * SECOND, label })
    })
    for (const { i, expiryMs } of items) t.equal(set(store, i, expiryMs), StoreStatus.OK)
    t.doesNotThrow(() => checkSlab(store), 'inserted in the right slots')

    // Checkpoints: each expiry's last ms before, its due tick, and some time after.
    const checkpoints = new Set<number>()
    for (const { expiryMs } of items) {
      const due = Math.ceil(expiryMs / TICK_MS) * TICK_MS
      checkpoints.add(expiryMs - 1)
      checkpoints.add(due)
      checkpoints.add(due + 3 * SECOND + 1)
    }
    const sorted = [...checkpoints].sort((a, b) => a - b)
    let seed = 7
    let early = 0
    let late = 0
    for (const target of sorted) {
      if (steps === 'big steps') {
        clock.advance(target - clock.nowMs())
        catchUp(store, clock)
      } else {
        // Up to 200 random steps of up to 3 days, maintenance after each.
        for (let n = 0; n < 200 && clock.nowMs() < target; n++) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
          clock.advance(Math.min(target - clock.nowMs(), 1 + seed % (3 * DAY)))
          catchUp(store, clock)
        }
        clock.advance(target - clock.nowMs())
        catchUp(store, clock)
      }
      checkSlab(store)
      const now = clock.nowMs()
      for (const { i, expiryMs } of items) {
        const present = has(store, i)
        if (expiryMs > now && !present) early++
        if (Math.ceil(expiryMs / TICK_MS) * TICK_MS <= now && present) late++
      }
      const dueCount = items.filter(({ expiryMs }) => Math.ceil(expiryMs / TICK_MS) * TICK_MS <= now).length
      if (store.stats().items !== items.length - dueCount) {
        t.fail(`at +${Math.round((now - start) / DAY)} days: ${store.stats().items} items, expected ${items.length - dueCount}`)
        break
      }
    }
    t.equal(early, 0, 'no item was gone before its expiry')
    t.equal(late, 0, 'no item was readable after its due tick')
    t.equal(store.stats().items, 0, 'all expired in the end')
    t.equal(store.stats().expirations, items.length, 'each once, by the wheel or lazily')
    t.equal(store.stats().wheelItems, 0)
    t.end()
  })
}

t.test('TTL - touch moves an item between wheel slots (and off the wheel)', async t => {
  const { store, clock } = setup()
  const key = keyOf(1)
  const start = clock.nowMs()
  t.equal(set(store, 1, start + 10 * SECOND), StoreStatus.OK)
  const slotOf = (): number => store.wheel.headOf(store.index.find(TENANT, key, hashOf(key)))
  const first = slotOf()
  t.equal(store.touch(TENANT, key, hashOf(key), start + 3 * HOUR), StoreStatus.OK)
  t.not(slotOf(), first, 'moved to another slot')
  t.doesNotThrow(() => checkSlab(store), 'and it is the right one')
  clock.advance(11 * SECOND)
  catchUp(store, clock)
  t.equal(get(store, 1), StoreStatus.OK, 'still there after the old expiry')
  t.equal(store.touch(TENANT, key, hashOf(key), clock.nowMs() + 5 * SECOND), StoreStatus.OK)
  t.doesNotThrow(() => checkSlab(store))
  clock.advance(5 * SECOND)
  catchUp(store, clock)
  t.equal(store.stats().items, 0, 'expired at the touched time')

  t.equal(set(store, 2, clock.nowMs() + SECOND), StoreStatus.OK)
  const key2 = keyOf(2)
  t.equal(store.touch(TENANT, key2, hashOf(key2), 0), StoreStatus.OK, 'touch to 0 persists')
  t.equal(store.stats().wheelItems, 0, 'and takes the item off the wheel')
  clock.advance(DAY)
  catchUp(store, clock)
  t.equal(get(store, 2), StoreStatus.OK)
  t.equal(read.expiryMs, 0)
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('TTL - keepTtl keeps the old expiry; a plain set replaces it', async t => {
  const { store, clock } = setup()
  const key = keyOf(1)
  const expiryMs = clock.nowMs() + MINUTE
  t.equal(set(store, 1, expiryMs), StoreStatus.OK)
  write.keepTtl = true
  t.equal(set(store, 1, 0), StoreStatus.OK)
  write.keepTtl = false
  t.equal(store.get(TENANT, key, hashOf(key), read), StoreStatus.OK)
  t.equal(read.expiryMs, expiryMs, 'keepTtl kept it')
  t.equal(set(store, 1, 0), StoreStatus.OK)
  t.equal(store.get(TENANT, key, hashOf(key), read), StoreStatus.OK)
  t.equal(read.expiryMs, 0, 'a plain set cleared it')
  t.equal(store.stats().wheelItems, 0)
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('TTL - maintain with budget 10 does about 10 units per call and catches up', async t => {
  const { store, clock } = setup()
  const start = clock.nowMs()
  for (let i = 0; i < 1000; i++) t.equal(set(store, i, start + 30 * SECOND), StoreStatus.OK)
  // And 1000 due in ~3 hours: they sit on level 2 and cascade twice on their way down.
  for (let i = 1000; i < 2000; i++) t.equal(set(store, i, start + 3 * HOUR + (i % 50) * SECOND), StoreStatus.OK)
  clock.advance(31 * SECOND)
  let calls = 0
  let most = 0
  let before = store.stats().items
  while (store.stats().items > 1000) {
    const done = store.maintain(clock.nowMs(), 10)
    const after = store.stats().items
    most = Math.max(most, before - after)
    if (done > 10) t.fail(`maintain reported ${done} units for budget 10`)
    before = after
    if (++calls > 10_000) break
  }
  t.ok(most <= 10, `at most 10 items expired per call (max ${most})`)
  t.ok(calls >= 100 && calls <= 110, `1000 expiries took ${calls} calls`)
  t.doesNotThrow(() => checkSlab(store), 'a half-done tick is a consistent state')

  clock.advance(3 * HOUR + MINUTE)
  calls = 0
  let checked = 0
  while (store.stats().items > 0) {
    const itemsBefore = store.stats().items
    store.maintain(clock.nowMs(), 10)
    if (itemsBefore - store.stats().items > 10) t.fail('more than 10 expiries in one call')
    if (++calls % 25 === 0) { checkSlab(store); checked++ }
    if (calls > 100_000) { t.fail('maintain never caught up'); break }
  }
  t.ok(calls >= 100, `1000 far items (cascades included) took ${calls} calls of budget 10`)
  t.ok(checked > 0)
  t.equal(store.stats().wheelItems, 0)
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('TTL - a clock moved by years with items on the wheel is processed in few steps', async t => {
  const { store, clock } = setup()
  const start = clock.nowMs()
  t.equal(set(store, 1, start + 3 * 365 * DAY), StoreStatus.OK)
  t.equal(set(store, 2, start + 10 * SECOND), StoreStatus.OK)
  clock.advance(2 * 365 * DAY)
  const started = performance.now()
  catchUp(store, clock)
  const elapsedMs = performance.now() - started
  t.ok(elapsedMs < 50, `two years of ticks processed in ${elapsedMs.toFixed(2)} ms (empty runs are skipped)`)
  t.equal(get(store, 1), StoreStatus.OK, 'the 3-year item is still there')
  t.equal(store.stats().items, 1, 'the 10-second item is gone')
  t.doesNotThrow(() => checkSlab(store))
  clock.advance(365 * DAY)
  catchUp(store, clock)
  t.equal(store.stats().items, 0)
  t.end()
})
