/**
 * checkSlab is only worth running after every step if it notices breakage: each case here
 * damages one structure of a healthy slab and expects SlabCorruptError (code SLAB_CORRUPT)
 * naming that structure.
 */
import t from 'tap'
import { SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import {
  F_EXPIRY, H_CHUNK_BYTES, H_ITEM_COUNT, I_HASH_NEXT, I_LRU_PREV, I_META, I_VALUE_LEN, KIND_ITEM, KIND_PENDING, META_TAG_RECORD, TICK_MS, makeMeta
} from '../../src/core/slab-layout.js'
import { J_DELETE } from '../../src/core/slab-lock.js'
import { N_NEXT, N_PREV, N_RECORD, R_COUNT, R_HEAD, R_TAIL, tagNode } from '../../src/core/item-ext.js'
import { unlink } from '../../src/core/intrusive-list.js'
import { ManualClock } from '../../src/util/clock.js'

function healthy (): { store: SlabStore, refs: number[] } {
  const clock = new ManualClock()
  // 16 MiB: the items span ~10 size classes (tag records and extension blocks included), each
  // needing a page of its own, so that nothing is evicted.
  const store = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock, ownerId: 1, recordsHits: true })
  const write = new WriteOptions()
  const refs: number[] = []
  for (let i = 0; i < 200; i++) {
    const key = Buffer.from(`check:${i}`)
    write.expiryMs = i % 2 === 0 ? clock.nowMs() + (i + 1) * 10_000 : 0
    // Every fifth item (1, 6, 11, …) carries tags, so the tag lists and records are checked too.
    write.tags = i % 5 === 1 ? [Buffer.from('t1'), Buffer.from(`g${i % 3}`)] : null
    if (store.set(0, key, keyHash(0, key, 0, key.length), Buffer.alloc(20 + i), write) !== StoreStatus.OK) throw new Error('set')
    refs.push(store.index.find(0, key, keyHash(0, key, 0, key.length)))
  }
  checkSlab(store)
  return { store, refs }
}

const CASES: Array<[string, RegExp, (store: SlabStore, refs: number[]) => void]> = [
  ['a broken LRU back-link', /LRU: prev/, (s, r) => { s.memory.words[r[10]! * 2 + I_LRU_PREV] = r[50]! }],
  ['an item dropped from its hash chain', /hash chains/, (s, r) => { s.index.unlink(r[7]!, keyHash(0, Buffer.from('check:7'), 0, 7)) }],
  ['an item on the wrong bucket', /is on bucket/, (s, r) => {
    const hash = keyHash(0, Buffer.from('check:9'), 0, 7)
    s.index.unlink(r[9]!, hash)
    s.index.link(r[9]!, hash + 1)
  }],
  ['a chain cycle', /chained twice|chains non-item/, (s, r) => { s.memory.words[r[11]! * 2 + I_HASH_NEXT] = r[11]! }],
  ['a PENDING chunk outside a mutation (leak)', /in use|leaked/, (s) => {
    const ref = s.allocator.take(s.allocator.classFor(100))
    s.memory.words[ref * 2 + I_META] = makeMeta(0, 0, KIND_PENDING, false)
  }],
  ['an item in the wrong wheel slot', /wheel slot/, (s, r) => {
    s.memory.doubles[r[20]! + F_EXPIRY]! += 3600 * TICK_MS // expiry moved an hour on, slot not
  }],
  ['an item with an expiry missing from the wheel', /wheel/, (s, r) => { s.wheel.remove(r[30]!) }],
  ['an item count off by one', /item count/, (s) => { s.memory.doubles[H_ITEM_COUNT >>> 3]!++ }],
  ['chunk bytes off', /chunk bytes/, (s) => { s.memory.doubles[H_CHUNK_BYTES >>> 3]! += 8 }],
  ['a value longer than its chunk', /overflows its chunk/, (s, r) => { s.memory.words[r[40]! * 2 + I_VALUE_LEN] = 1 << 20 }],
  ['a journal left behind', /journal/, (s, r) => { s.lock.journal(J_DELETE, r[0]!, 0) }],
  ['an odd seqlock with the lock free', /seqlock/, (s) => { s.lock.beginWrite() }],
  ['a tag record count off by one', /count \d+ != list length/, (s) => { s.memory.words[recordOf(s, 't1') * 2 + R_COUNT]!++ }],
  ['a tag node missing from its record list', /count \d+ != list length/, (s, r) => {
    const record = recordOf(s, 't1')
    unlink(s.memory.words, record * 2 + R_HEAD, record * 2 + R_TAIL, tagNode(r[41]!, 8, 0), N_PREV, N_NEXT)
  }],
  ['a tag node naming another record', /lists node|names/, (s, r) => { s.memory.words[tagNode(r[46]!, 8, 0) * 2 + N_RECORD] = recordOf(s, 'g0') }],
  ['a tag record without members', /no members/, (s) => {
    const tag = Buffer.from('lonely')
    const ref = s.allocator.take(s.allocator.classFor(64))
    s.memory.words.fill(0, ref * 2, ref * 2 + I_META)
    s.memory.bytes.set(tag, ref * 8 + 48)
    s.memory.words[ref * 2 + I_META] = (makeMeta(tag.length, 0, KIND_ITEM, false) | META_TAG_RECORD) >>> 0
    s.index.link(ref, keyHash(0, tag, 0, tag.length))
  }]
]

function recordOf (store: SlabStore, tag: string): number {
  const bytes = Buffer.from(tag)
  return store.index.findRecord(0, bytes, keyHash(0, bytes, 0, bytes.length))
}

for (const [what, message, damage] of CASES) {
  t.test(`checkSlab - notices ${what}`, async t => {
    const { store, refs } = healthy()
    damage(store, refs)
    t.throws(() => checkSlab(store), { code: 'SLAB_CORRUPT', name: 'SlabCorruptError', message })
    t.end()
  })
}

t.test('checkSlab - returns the live item count of a healthy slab', async t => {
  const { store } = healthy()
  t.equal(checkSlab(store), 200)
  t.end()
})
