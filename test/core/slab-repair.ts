/**
 * Crash repair at the store level: an exception inside a mutation (fault hook), and a lock
 * holder that died mid-mutation (a second SlabStore attached to the same slab, owner 2, leaves
 * a half-done mutation and never releases). After repair, checkSlab passes and every item
 * stored before is readable with its value; the interrupted write took effect entirely or not
 * at all. Also: the lock timeout (BUSY), and that reads stay lock-free while a writer holds it.
 */
import t, { type Test } from 'tap'
import { CounterMode, ReadResult, SetMode, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import {
  F_CAS, F_EXPIRY, H_CAS_COUNTER, H_REPAIRS, I_FLAGS, I_LRU_NEXT, I_LRU_PREV, I_META, I_VALUE_LEN, I_WHEEL_NEXT,
  ITEM_HEADER_BYTES, KIND_PENDING, makeMeta
} from '../../src/core/slab-layout.js'
import { J_DELETE, J_PAGE_FORMAT, J_SET_COMMIT } from '../../src/core/slab-lock.js'
import { ManualClock } from '../../src/util/clock.js'

const TENANT = 1
const keyOf = (i: number): Buffer => Buffer.from(`repair:${i}`)
const hashOf = (key: Uint8Array): number => keyHash(TENANT, key, 0, key.length)
/** Item i's value: mostly small, every 50th chunked (600 KiB), every 7th with a TTL. */
const lengthOf = (i: number): number => i % 50 === 25 ? 600 * 1024 + i : 20 + (i * 37) % 400
const valueOf = (i: number, generation = 0): Buffer => Buffer.alloc(lengthOf(i), `${i}/${generation};`)

interface Fixture { store: SlabStore, clock: ManualClock, sab: SharedArrayBuffer, count: number }

function fixture (count = 300): Fixture {
  const clock = new ManualClock()
  const sab = new SharedArrayBuffer(16 << 20)
  const store = SlabStore.create(sab, { clock, ownerId: 1, recordsHits: true, lockTimeoutMs: 5 })
  const write = new WriteOptions()
  for (let i = 0; i < count; i++) {
    write.expiryMs = i % 7 === 0 ? clock.nowMs() + 3_600_000 : 0
    write.flags = i
    const key = keyOf(i)
    if (store.set(TENANT, key, hashOf(key), valueOf(i), write) !== StoreStatus.OK) throw new Error(`fixture set ${i}`)
  }
  checkSlab(store)
  return { store, clock, sab, count }
}

const read = new ReadResult()

/** Value of key i, or null if absent. */
function valueAt (store: SlabStore, i: number): Buffer | null {
  const key = keyOf(i)
  const status = store.get(TENANT, key, hashOf(key), read)
  if (status === StoreStatus.NOT_FOUND) return null
  if (status !== StoreStatus.OK) throw new Error(`get ${i}: status ${status}`)
  return Buffer.from(read.value.subarray(0, read.valueLength))
}

/** Every fixture item but `except` reads back with its original value and flags. */
function intact (store: SlabStore, count: number, except = -1): number[] {
  const broken: number[] = []
  for (let i = 0; i < count; i++) {
    if (i === except) continue
    const value = valueAt(store, i)
    if (value === null || !value.equals(valueOf(i)) || read.flags !== i) broken.push(i)
  }
  return broken
}

const repairs = (store: SlabStore): number => store.memory.doubles[H_REPAIRS >>> 3]!

for (const point of ['set:written', 'set:old-removed']) {
  const tookEffect = point === 'set:old-removed'
  for (const [label, target, newLength] of [
    ['overwriting a small item', 3, 100],
    ['overwriting a chunked item', 25, 700 * 1024],
    ['with a chunked value over a small item', 4, 900 * 1024],
    ['creating a new key', 1000, 64]
  ] as const) {
    t.test(`repair - an exception at ${point} ${label}: it propagates, the slab is repaired, the set ${tookEffect ? 'took effect' : 'did not happen'}`, async t => {
      const { store, count } = fixture()
      const before = valueAt(store, target)
      const items = store.stats().items
      const key = keyOf(target)
      const value = Buffer.alloc(newLength, 'new!')
      store.faultHook = (at) => { if (at === point) throw new Error('boom') }
      t.throws(() => store.set(TENANT, key, hashOf(key), value, new WriteOptions()), { message: 'boom' })
      store.faultHook = null
      t.equal(store.lock.holder(), 0, 'the lock was released')
      t.equal(store.lock.readSeq() & 1, 0, 'the seqlock is even')
      t.equal(repairs(store), 1, 'one repair ran')
      t.doesNotThrow(() => checkSlab(store), 'checkSlab passes')
      const after = valueAt(store, target)
      if (tookEffect) {
        t.same(after, value, 'the key holds the new value')
      } else {
        t.same(after, before, 'the key holds what it held before')
      }
      t.equal(store.stats().items, items + (target >= count && tookEffect ? 1 : 0), 'item count is consistent')
      t.same(intact(store, count, target), [], 'every other item reads back with its value')
      const again = new WriteOptions()
      t.equal(store.set(TENANT, key, hashOf(key), Buffer.from('after'), again), StoreStatus.OK, 'the store keeps working')
      t.same(valueAt(store, target), Buffer.from('after'))
      t.doesNotThrow(() => checkSlab(store))
      t.end()
    })
  }
}

t.test('repair - an exception inside APPEND and INCR leaves the old value or the whole new one', async t => {
  const { store, count } = fixture()
  const key = keyOf(5)
  const append = new WriteOptions()
  append.mode = SetMode.APPEND
  store.faultHook = (at) => { if (at === 'set:written') throw new Error('boom') }
  t.throws(() => store.set(TENANT, key, hashOf(key), Buffer.from('+tail'), append), { message: 'boom' })
  t.same(valueAt(store, 5), valueOf(5), 'append undone')
  store.faultHook = (at) => { if (at === 'set:old-removed') throw new Error('boom') }
  t.throws(() => store.set(TENANT, key, hashOf(key), Buffer.from('+tail'), append), { message: 'boom' })
  t.same(valueAt(store, 5), Buffer.concat([valueOf(5), Buffer.from('+tail')]), 'append done whole')
  t.equal(read.flags, 5, 'with the old flags')
  store.faultHook = null

  const counter = Buffer.from('counter')
  const write = new WriteOptions()
  // '41' + 1 is rewritten in place; 9 nines fill the 64-byte chunk after the 48-byte header and
  // the 7-byte key, so + 1 (10 digits) takes the new-item path.
  for (const [before, after, point] of [['41', '42', 'incr:in-place'], ['999999999', '1000000000', 'set:written']] as const) {
    t.equal(store.set(TENANT, counter, hashOf(counter), Buffer.from(before), write), StoreStatus.OK)
    let fired = false
    store.faultHook = (at) => { if (at === point) { fired = true; throw new Error('boom') } }
    t.throws(() => store.incr(TENANT, counter, hashOf(counter), 1n, CounterMode.REDIS), { message: 'boom' })
    store.faultHook = null
    t.ok(fired, `the fault fired at ${point}`)
    t.equal(store.get(TENANT, counter, hashOf(counter), read), StoreStatus.OK)
    t.equal(read.value.toString('latin1', 0, read.valueLength), before, `incr undone (${point})`)
    t.equal(store.incr(TENANT, counter, hashOf(counter), 1n, CounterMode.REDIS), StoreStatus.OK)
    t.equal(String(store.lastCounter), after)
    t.doesNotThrow(() => checkSlab(store))
  }
  t.same(intact(store, count, 5), [])
  t.end()
})

/** A second thread's view of the slab: owner 2, which will "die" holding the lock. */
function deadHolder (t: Test, f: Fixture): SlabStore {
  const other = SlabStore.attach(f.sab, { clock: f.clock, ownerId: 2, recordsHits: false, lockTimeoutMs: 5 })
  t.ok(other.lock.acquire(), 'owner 2 takes the lock')
  other.lock.beginWrite()
  return other
}

/** Seizes the lock from dead owner 2, repairs, releases; checks the seqlock moved to even. */
function recover (t: Test, store: SlabStore): void {
  const seqBefore = store.lock.readSeq()
  t.equal(store.lock.seizeFrom(3), false, 'seizing from a thread that does not hold the lock fails')
  t.ok(store.lock.seizeFrom(2), 'owner 1 seizes the lock from dead owner 2')
  store.repairHeld()
  store.lock.release()
  t.equal(store.lock.holder(), 0)
  t.equal(store.lock.readSeq() & 1, 0, 'seqlock even after repair')
  t.ok(store.lock.readSeq() > seqBefore, 'and moved, so overlapping readers retry')
  t.equal(store.lock.seizeFrom(2), false, 'nothing to seize any more')
}

/** Writes a complete new item for key i (PENDING, not linked), as a set does before commit. */
function pendingItem (store: SlabStore, i: number, value: Buffer): number {
  const { allocator, memory } = store
  const key = keyOf(i)
  const ref = allocator.take(allocator.classFor(ITEM_HEADER_BYTES + key.length + value.length))
  const words = memory.words
  const doubles = memory.doubles
  words[ref * 2 + I_VALUE_LEN] = value.length
  words[ref * 2 + I_FLAGS] = 4242
  doubles[ref + F_EXPIRY] = 0
  const cas = doubles[H_CAS_COUNTER >>> 3]! + 1
  doubles[H_CAS_COUNTER >>> 3] = cas
  doubles[ref + F_CAS] = cas
  memory.bytes.set(key, ref * 8 + ITEM_HEADER_BYTES)
  memory.bytes.set(value, ref * 8 + ITEM_HEADER_BYTES + key.length)
  words[ref * 2 + I_META] = makeMeta(key.length, TENANT, KIND_PENDING, false)
  return ref
}

t.test('repair - a holder died after journaling a set commit: new item PENDING, old still linked', async t => {
  const f = fixture()
  const { store, count } = f
  const other = deadHolder(t, f)
  const key = keyOf(8)
  const newValue = Buffer.from('committed but not linked')
  const pending = pendingItem(other, 8, newValue)
  other.lock.journal(J_SET_COMMIT, pending, other.index.find(TENANT, key, hashOf(key)))
  // Owner 2 dies here. Owner 1's writes time out; its reads cannot validate (seq odd) and
  // fall back to the lock, which times out too.
  t.equal(store.set(TENANT, key, hashOf(key), Buffer.from('x'), new WriteOptions()), StoreStatus.BUSY, 'writes are BUSY')
  t.equal(store.get(TENANT, key, hashOf(key), read), StoreStatus.BUSY, 'reads are BUSY while the seqlock stays odd')
  recover(t, store)
  t.same(valueAt(store, 8), newValue, 'the journaled commit was completed')
  t.equal(read.flags, 4242)
  t.doesNotThrow(() => checkSlab(store))
  t.same(intact(store, count, 8), [], 'every other item is intact')
  t.equal(store.stats().items, count, 'the old item was freed, not duplicated')
  t.end()
})

t.test('repair - a holder died with a set prepared but not committed: the set is dropped', async t => {
  const f = fixture()
  const { store, count } = f
  const other = deadHolder(t, f)
  pendingItem(other, 9, Buffer.from('never committed'))
  pendingItem(other, 5000, Buffer.from('a new key, never committed'))
  recover(t, store)
  t.same(intact(store, count), [], 'old values everywhere')
  t.equal(valueAt(store, 5000), null, 'the new key does not exist')
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('repair - a holder died in the middle of an unlink, leaving garbage links', async t => {
  const f = fixture()
  const { store, count } = f
  const other = deadHolder(t, f)
  const words = other.memory.words
  const refOf = (i: number): number => other.index.find(TENANT, keyOf(i), hashOf(keyOf(i)))
  // Earlier in the same lock hold, a torn LRU move left another item's links garbage (LRU
  // moves are not journaled: repair rebuilds lists from the items).
  const damaged = refOf(25) // chunked, with a TTL
  words[damaged * 2 + I_LRU_PREV] = 0xdeadbeef
  words[damaged * 2 + I_WHEEL_NEXT] = damaged
  // Then the journaled delete of item 14 (with a TTL) stopped half way.
  const ref = refOf(14)
  other.lock.journal(J_DELETE, ref, 0)
  other.index.unlink(ref, hashOf(keyOf(14))) // off its chain, still on the LRU and wheel...
  words[ref * 2 + I_LRU_PREV] = 0x12345 // ...with its links overwritten
  words[ref * 2 + I_LRU_NEXT] = 0xffffffff
  recover(t, store)
  t.doesNotThrow(() => checkSlab(store), 'checkSlab passes')
  t.equal(valueAt(store, 14), null, 'the journaled delete was completed')
  t.same(valueAt(store, 25), valueOf(25), 'an item that was only damaged, not being removed, survives')
  t.same(intact(store, count, 14), [], 'every other item is intact')
  t.end()
})

t.test('repair - a garbage chunk list naming another item\'s value chunk costs only the garbage item', async t => {
  // Either order of the two items in repair's scan: once the garbage item comes second (it
  // finds the chunk already claimed), once first (the chunk's owner field rejects it). Repair
  // used to unclaim every chunk in a rejected list, freeing the other item's chunk under it.
  for (const [garbage, victim] of [[75, 25], [25, 75]]) {
    const f = fixture()
    const { store, count } = f
    const other = deadHolder(t, f)
    const { words } = other.memory
    const listWordOf = (i: number): number => {
      const key = keyOf(i)
      return (other.index.find(TENANT, key, hashOf(key)) * 8 + ITEM_HEADER_BYTES + Math.ceil(key.length / 4) * 4) / 4
    }
    words[listWordOf(garbage)] = words[listWordOf(victim)]!
    recover(t, store)
    t.doesNotThrow(() => checkSlab(store), `checkSlab passes (garbage in item ${garbage})`)
    t.equal(valueAt(store, garbage), null, 'the item with the garbage list is dropped')
    t.same(valueAt(store, victim), valueOf(victim), 'the item it pointed into is intact')
    t.same(intact(store, count, garbage), [], 'so is everything else')
  }
  t.end()
})

t.test('repair - a holder died while assigning a page to a class', async t => {
  const f = fixture()
  const { store, count } = f
  const other = deadHolder(t, f)
  const page = other.allocator.popFreePage()
  const cls = other.allocator.classFor(200)
  other.lock.journal(J_PAGE_FORMAT, page, cls)
  other.memory.pageClass[page] = cls // and nothing else
  recover(t, store)
  t.doesNotThrow(() => checkSlab(store))
  t.equal(store.allocator.carvePage(cls), page + 1, 'the page became the class\'s carve page')
  t.same(intact(store, count), [])
  t.end()
})

t.test('repair - readers see the seqlock odd for the whole rebuild, whatever parity the dead holder left', async t => {
  for (const leftOdd of [true, false]) {
    const f = fixture(20)
    const { store } = f
    const other = SlabStore.attach(f.sab, { clock: f.clock, ownerId: 2, recordsHits: false })
    other.lock.acquire()
    if (leftOdd) other.lock.beginWrite()
    let seqDuringRebuild = -1
    const clear = store.index.clear.bind(store.index)
    store.index.clear = () => { seqDuringRebuild = store.lock.readSeq(); clear() }
    const seqBefore = store.lock.readSeq()
    store.lock.seizeFrom(2)
    store.repairHeld()
    store.lock.release()
    t.equal(seqDuringRebuild & 1, 1, `odd during the rebuild (holder left it ${leftOdd ? 'odd' : 'even'})`)
    t.equal(store.lock.readSeq() & 1, 0, 'even after')
    t.not(store.lock.readSeq(), seqBefore, 'and different from before')
    t.doesNotThrow(() => checkSlab(store))
  }
  t.end()
})

t.test('lock - writes return BUSY after about lockTimeoutMs while another owner holds the lock; reads stay lock-free', async t => {
  const f = fixture(20)
  const { store } = f
  const other = SlabStore.attach(f.sab, { clock: f.clock, ownerId: 2, recordsHits: false })
  t.ok(other.lock.acquire())
  t.equal(store.lock.holder(), 2)
  const key = keyOf(1)
  const started = performance.now()
  t.equal(store.set(TENANT, key, hashOf(key), Buffer.from('x'), new WriteOptions()), StoreStatus.BUSY)
  const elapsedMs = performance.now() - started
  t.ok(elapsedMs >= 4 && elapsedMs < 500, `set gave up after ${elapsedMs.toFixed(1)} ms (lockTimeoutMs 5)`)
  t.equal(store.delete(TENANT, key, hashOf(key)), StoreStatus.BUSY, 'delete is BUSY')
  t.equal(store.touch(TENANT, key, hashOf(key), 0), StoreStatus.BUSY, 'touch is BUSY')
  t.equal(store.incr(TENANT, key, hashOf(key), 1n, CounterMode.REDIS), StoreStatus.BUSY, 'incr is BUSY')
  t.equal(store.maintain(f.clock.nowMs(), 10), -1, 'maintain reports -1')
  t.equal(store.flushStep(TENANT, 0, 10), -1, 'flushStep reports -1')
  t.equal(store.scan(TENANT, 0, 10, []), -1, 'scan reports -1')
  t.same(valueAt(store, 1), valueOf(1), 'get still reads (lock-free, the seqlock is even)')
  t.equal(store.has(TENANT, key, hashOf(key)), StoreStatus.OK, 'has too')
  other.lock.release()
  t.equal(store.set(TENANT, key, hashOf(key), Buffer.from('x'), new WriteOptions()), StoreStatus.OK, 'OK once released')
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})

t.test('get - falls back to the lock when the seqlock stays odd, and reads under it', async t => {
  const f = fixture(20)
  const { store } = f
  const other = SlabStore.attach(f.sab, { clock: f.clock, ownerId: 2, recordsHits: false })
  other.lock.beginWrite() // a writer mid-write that does not hold the lock: only a test can do this
  t.same(valueAt(store, 2), valueOf(2), 'the read succeeded through the lock')
  t.equal(store.lock.holder(), 0, 'and released it')
  other.lock.endWrite()
  t.end()
})
