/**
 * SlabAllocator on its own: size-class lookup, lazy carving, free lists, per-page in-use counts,
 * empty-page discovery, page release, and the class LRU lists. Driven under the slab lock, as
 * the store drives it.
 */
import t from 'tap'
import { SlabStore } from '../../src/core/slab-store.js'
import { I_LRU_NEXT, I_META, KIND_FREE, KIND_ITEM, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, PAGE_BYTES, PAGE_FREE, makeMeta, metaKind } from '../../src/core/slab-layout.js'
import { ManualClock } from '../../src/util/clock.js'

function setup (slabBytes = 8 << 20): SlabStore {
  return SlabStore.create(new SharedArrayBuffer(slabBytes), { clock: new ManualClock(), ownerId: 1, recordsHits: false })
}

t.test('classFor - the smallest class whose chunk holds the bytes; -1 past the largest', async t => {
  const { allocator } = setup()
  t.equal(allocator.classFor(0), 0)
  t.equal(allocator.classFor(MIN_CHUNK_BYTES), 0)
  t.equal(allocator.classFor(MIN_CHUNK_BYTES + 1), 1)
  for (let cls = 0; cls < allocator.classCount; cls++) {
    const size = allocator.chunkBytes(cls)
    if (allocator.classFor(size) !== cls) t.fail(`classFor(${size}) != ${cls}`)
    if (cls + 1 < allocator.classCount && allocator.classFor(size + 1) !== cls + 1) t.fail(`classFor(${size + 1}) != ${cls + 1}`)
  }
  t.equal(allocator.classFor(MAX_CHUNK_BYTES), allocator.classCount - 1)
  t.equal(allocator.classFor(MAX_CHUNK_BYTES + 1), -1)
  t.end()
})

t.test('take - carves a fresh page lazily, in page order, counting chunks in use per page', async t => {
  const store = setup()
  const { allocator, memory } = store
  const cls = allocator.classFor(100)
  const size = allocator.chunkBytes(cls)
  const freePages = allocator.freePages
  t.equal(allocator.hasFreeChunk(cls), false, 'no page yet')
  const first = allocator.take(cls)
  const page = memory.pageOf(first)
  t.equal(allocator.freePages, freePages - 1, 'one page taken off the free stack')
  t.equal(memory.pageClass[page], cls)
  t.equal(first, memory.pageRef(page), 'the first chunk is at the page start')
  t.equal(allocator.carvePage(cls), page + 1)
  t.equal(allocator.carveNext(cls), 1)
  t.equal(allocator.freeCount(cls), 0, 'nothing is put on the free list up front')
  const refs = [first]
  for (let i = 1; i < 10; i++) refs.push(allocator.take(cls))
  t.same(refs.map(r => (r - first) * 8), Array.from({ length: 10 }, (_, i) => i * size), 'consecutive chunks')
  t.equal(memory.pageUsed[page], 10)
  t.equal(allocator.emptyPages, 0)
  t.ok(allocator.isCarved(refs[9]!), 'taken chunks are carved')
  t.notOk(allocator.isCarved(refs[9]! + size / 8), 'the next one is not')
  t.equal(metaKind(memory.words[first * 2 + I_META]!), KIND_FREE, 'handed out stamped FREE')
  t.end()
})

t.test('free - returns chunks LIFO to the free list; a page with none in use counts as empty', async t => {
  const store = setup()
  const { allocator, memory } = store
  const cls = allocator.classFor(100)
  const refs = Array.from({ length: 5 }, () => allocator.take(cls))
  const page = memory.pageOf(refs[0]!)
  for (const ref of refs) memory.words[ref * 2 + I_META] = makeMeta(0, 0, KIND_ITEM, false)
  allocator.free(refs[1]!)
  allocator.free(refs[3]!)
  t.equal(allocator.freeCount(cls), 2)
  t.equal(allocator.take(cls), refs[3], 'last freed is reused first')
  t.equal(allocator.take(cls), refs[1])
  t.equal(allocator.take(cls), refs[4]! + allocator.chunkBytes(cls) / 8, 'then carving resumes')
  t.equal(allocator.emptyPages, 0)
  for (const ref of [...refs, refs[4]! + allocator.chunkBytes(cls) / 8]) allocator.free(ref)
  t.equal(memory.pageUsed[page], 0)
  t.equal(allocator.emptyPages, 1, 'the page is empty')
  t.equal(allocator.findEmptyPage(cls), -1, 'findEmptyPage skips the asking class')
  t.equal(allocator.findEmptyPage(cls + 1), page, 'and finds it for another')
  t.end()
})

t.test('releasePage - an empty carve page goes back to the free stack with its carved chunks off the free list', async t => {
  const store = setup()
  const { allocator, memory } = store
  const cls = allocator.classFor(200)
  const refs = Array.from({ length: 50 }, () => allocator.take(cls))
  for (const ref of refs) allocator.free(ref)
  const page = memory.pageOf(refs[0]!)
  const freePages = allocator.freePages
  allocator.releasePage(page)
  t.equal(memory.pageClass[page], PAGE_FREE)
  t.equal(allocator.freePages, freePages + 1)
  t.equal(allocator.freeCount(cls), 0)
  t.equal(memory.words[memory.classWord(cls) + 1], 0, 'free list head cleared')
  t.equal(allocator.carvePage(cls), 0, 'no carve page any more')
  t.equal(allocator.pageCount(cls), 0)
  t.equal(allocator.emptyPages, 0)
  t.equal(allocator.popFreePage(), page, 'the page is on top of the free stack')
  t.end()
})

t.test('take - returns 0 when there is no free chunk and no free page; a full page is fully carved', async t => {
  const store = setup()
  const { allocator, memory } = store
  const cls = allocator.classCount - 1 // 2 chunks per page
  const perPage = allocator.chunksPerPage(cls)
  t.equal(perPage, Math.floor(PAGE_BYTES / MAX_CHUNK_BYTES))
  let taken = 0
  while (allocator.take(cls) !== 0) taken++
  t.equal(taken, memory.layout.pageCount * perPage, 'every chunk of every page')
  t.equal(allocator.freePages, 0)
  t.equal(allocator.hasFreeChunk(cls), false)
  t.equal(allocator.take(0), 0, 'another class gets nothing either')
  t.end()
})

t.test('LRU lists - push at the head, bump to the head, remove anywhere, tail is the oldest; one list per tenant', async t => {
  const store = setup()
  const { allocator, memory } = store
  const cls = allocator.classFor(100)
  const refs = Array.from({ length: 4 }, () => allocator.take(cls))
  for (const ref of refs) allocator.lruPush(cls, 7, ref)
  const other = allocator.take(cls)
  allocator.lruPush(cls, 8, other)
  const order = (tenant = 7): number[] => { const m = []; for (let r = allocator.lruHead(cls, tenant); r !== 0; r = memory.words[r * 2 + I_LRU_NEXT]!) m.push(r); return m }
  t.same(order(), [...refs].reverse())
  t.same(order(8), [other], "another tenant's list is its own")
  t.equal(allocator.lruItems(cls), 5, 'the class counts both lists')
  t.equal(allocator.lruTail(cls, 7), refs[0])
  allocator.lruBump(cls, 7, refs[0]!)
  t.same(order(), [refs[0], refs[3], refs[2], refs[1]])
  t.equal(allocator.lruTail(cls, 7), refs[1])
  allocator.lruRemove(cls, 7, refs[3]!)
  allocator.lruRemove(cls, 7, refs[1]!)
  t.same(order(), [refs[0], refs[2]])
  t.equal(allocator.lruTail(cls, 7), refs[2])
  t.equal(allocator.lruItems(cls), 3)
  allocator.lruRemove(cls, 8, other)
  t.equal(allocator.lruHead(cls, 8), 0)
  t.equal(allocator.lruTail(cls, 8), 0)
  t.equal(allocator.lruTail(cls + 1, 7), 0, 'lists of other classes are untouched')
  t.end()
})
