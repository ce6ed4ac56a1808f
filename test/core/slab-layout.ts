/**
 * Slab layout: the item header is 48 bytes with non-overlapping fields, the size classes ascend
 * from 64 bytes to half a page, control words sit on their own cache lines, and the layout of
 * every slab size fits, in order and aligned, with no room left for another page.
 */
import t from 'tap'
import {
  CLASS_STRIDE_BYTES, CLASS_TABLE_BASE, C_CARVE_NEXT, C_CARVE_PAGE, C_CHUNK_BYTES, C_CHUNKS_PER_PAGE, C_EVICTIONS_F64,
  C_FREE_COUNT, C_FREE_HEAD, C_ITEM_COUNT, C_LRU_ITEMS, C_PAGE_COUNT, C_PRESSURE_F64, CLASS_GROWTH, F_CAS,
  F_EXPIRY, FIXED_BYTES, HEADER_BYTES, HIT_RING_BASE, HIT_RING_SLOTS, H_HIT_HEAD, H_HIT_TAIL, H_JOURNAL_OP, H_LOCK,
  H_SEQ, H_TENANT_SPAN, I_FLAGS, I_HASH_NEXT, I_LRU_NEXT, I_LRU_PREV, I_META, I_VALUE_LEN, I_WHEEL_NEXT, I_WHEEL_PREV,
  ITEM_HEADER_BYTES, KIND_VALUE_CHUNK, MAX_CHUNK_BYTES, MAX_CLASSES, MAX_KEY_BYTES, MAX_TENANTS, MIN_CHUNK_BYTES,
  LRU_CLASSES, LRU_TABLE_BASE, LRU_TABLE_BYTES, MIN_SLAB_BYTES, PAGE_BYTES, PAGE_FREE, T_QUOTA, TENANT_STRIDE_BYTES, TENANT_TABLE_BASE, WHEEL_BASE, WHEEL_HEADS, computeLayout, makeMeta,
  metaKeyLength, metaKind, metaTenant, sizeClasses
} from '../../src/core/slab-layout.js'

t.test('item header - 48 bytes, fields at their documented offsets, none overlapping', async t => {
  t.equal(ITEM_HEADER_BYTES, 48)
  // [name, byte offset, size]: u32 fields at index × 4, f64 fields at index × 8.
  const fields: Array<[string, number, number]> = [
    ['lruPrev', I_LRU_PREV * 4, 4], ['lruNext', I_LRU_NEXT * 4, 4], ['hashNext', I_HASH_NEXT * 4, 4],
    ['wheelPrev', I_WHEEL_PREV * 4, 4], ['wheelNext', I_WHEEL_NEXT * 4, 4], ['valueLen', I_VALUE_LEN * 4, 4],
    ['expiryMs', F_EXPIRY * 8, 8], ['cas', F_CAS * 8, 8], ['flags', I_FLAGS * 4, 4], ['meta', I_META * 4, 4]
  ]
  t.same(fields.map(([, offset]) => offset), [0, 4, 8, 12, 16, 20, 24, 32, 40, 44], 'the offset table in slab-layout.ts')
  const used = new Uint8Array(ITEM_HEADER_BYTES)
  for (const [name, offset, size] of fields) {
    t.equal(offset % size, 0, `${name} is aligned`)
    for (let b = offset; b < offset + size; b++) {
      if (used[b] !== 0) t.fail(`${name} overlaps at byte ${b}`)
      used[b] = 1
    }
  }
  t.equal(used.reduce((a, b) => a + b, 0), ITEM_HEADER_BYTES, 'the fields cover the header exactly')
  t.end()
})

t.test('meta word - key length, tenant and kind round-trip at their limits', async t => {
  for (const [keyLength, tenant, kind, chunked] of [[0, 0, 0, false], [MAX_KEY_BYTES, MAX_TENANTS - 1, KIND_VALUE_CHUNK, true], [17, 513, 2, false]] as const) {
    const meta = makeMeta(keyLength, tenant, kind, chunked)
    t.equal(metaKeyLength(meta), keyLength)
    t.equal(metaTenant(meta), tenant)
    t.equal(metaKind(meta), kind)
    t.ok(meta >= 0 && meta < 2 ** 32, 'an unsigned 32-bit word')
  }
  t.end()
})

t.test('size classes - ascend from 64 bytes by at most ×1.25 (8-aligned) to half a page', async t => {
  const sizes = sizeClasses()
  t.equal(sizes[0], MIN_CHUNK_BYTES)
  t.equal(sizes[sizes.length - 1], MAX_CHUNK_BYTES)
  t.equal(MAX_CHUNK_BYTES, PAGE_BYTES / 2)
  t.ok(sizes.length <= MAX_CLASSES && sizes.length < PAGE_FREE, `${sizes.length} classes fit the class table and a page-table byte`)
  for (let i = 1; i < sizes.length; i++) {
    if (!(sizes[i]! > sizes[i - 1]!)) t.fail(`class ${i} does not ascend`)
    if (sizes[i]! % 8 !== 0) t.fail(`class ${i} is not 8-aligned`)
    if (i < sizes.length - 1 && sizes[i]! > Math.ceil(sizes[i - 1]! * CLASS_GROWTH) + 7) t.fail(`class ${i} grows more than ×${CLASS_GROWTH}`)
  }
  t.end()
})

t.test('header - each control word has its own 64-byte line; tables follow in order', async t => {
  const lines = [H_LOCK, H_SEQ, H_HIT_HEAD, H_HIT_TAIL, H_JOURNAL_OP].map(offset => Math.floor(offset / 64))
  t.equal(new Set(lines).size, lines.length, 'lock, seqlock, hit head, hit tail and journal on distinct lines')
  t.ok(H_JOURNAL_OP < HEADER_BYTES)
  t.equal(CLASS_TABLE_BASE, HEADER_BYTES)
  t.equal(TENANT_TABLE_BASE, CLASS_TABLE_BASE + MAX_CLASSES * CLASS_STRIDE_BYTES)
  t.equal(WHEEL_BASE, TENANT_TABLE_BASE + MAX_TENANTS * 128)
  t.ok(T_QUOTA * 8 < TENANT_STRIDE_BYTES, 'the quota fits the tenant row')
  t.ok(HIT_RING_BASE >= WHEEL_BASE + WHEEL_HEADS * 4 && HIT_RING_BASE % 64 === 0)
  t.ok(LRU_TABLE_BASE >= HIT_RING_BASE + HIT_RING_SLOTS * 4 && LRU_TABLE_BASE % 64 === 0)
  t.equal(LRU_CLASSES, sizeClasses().length, 'one LRU row per size class')
  t.equal(LRU_TABLE_BYTES, LRU_CLASSES * MAX_TENANTS * 8, 'a u32 head and tail per (class, tenant): 328 KiB')
  t.equal(FIXED_BYTES, LRU_TABLE_BASE + LRU_TABLE_BYTES)
  t.ok(H_TENANT_SPAN >= 384 && H_TENANT_SPAN < 512, 'the tenant span is a writer-side header word')
  // Class table: 16 u32 words per class; the two f64 counters do not overlap the u32 fields.
  const words = [C_CHUNK_BYTES, C_FREE_HEAD, C_FREE_COUNT, C_LRU_ITEMS, C_ITEM_COUNT, C_PAGE_COUNT, C_CHUNKS_PER_PAGE,
    C_EVICTIONS_F64 * 2, C_EVICTIONS_F64 * 2 + 1, C_PRESSURE_F64 * 2, C_PRESSURE_F64 * 2 + 1, C_CARVE_PAGE, C_CARVE_NEXT]
  t.equal(new Set(words).size, words.length, 'class table fields are distinct')
  t.ok(Math.max(...words) < CLASS_STRIDE_BYTES / 4)
  t.end()
})

t.test('computeLayout - regions are ordered, aligned and inside the slab, for every slab size', async t => {
  for (const slabBytes of [MIN_SLAB_BYTES, MIN_SLAB_BYTES + 1, 6 << 20, 64 << 20, 100_000_000, 1 << 30, 4 * 2 ** 30]) {
    const layout = computeLayout(slabBytes)
    const label = `${slabBytes} bytes`
    t.ok(layout.pageTableBase >= FIXED_BYTES, `${label}: page table after the fixed tables`)
    t.ok(layout.pageUsedBase >= layout.pageTableBase + layout.pageCount, `${label}: in-use counts after the page table`)
    t.ok(layout.freePageBase >= layout.pageUsedBase + layout.pageCount * 4, `${label}: free stack after the counts`)
    t.ok(layout.indexBase >= layout.freePageBase + layout.pageCount * 4, `${label}: index after the free stack`)
    t.ok(layout.pagesBase >= layout.indexBase + layout.bucketCount * 4, `${label}: pages after the index`)
    t.equal(layout.pagesBase % 4096, 0, `${label}: pages are 4 KiB aligned`)
    t.equal(layout.pageUsedBase % 4, 0)
    t.ok(layout.pagesBase + layout.pageCount * PAGE_BYTES <= slabBytes, `${label}: pages end inside the slab`)
    t.ok(slabBytes - (layout.pagesBase + layout.pageCount * PAGE_BYTES) < PAGE_BYTES + 9 * layout.pageCount + 8192, `${label}: no room for another page`)
    t.equal(layout.bucketCount & (layout.bucketCount - 1), 0, `${label}: bucket count is a power of two`)
    t.equal(layout.bucketMask, layout.bucketCount - 1)
  }
  t.equal(computeLayout(MIN_SLAB_BYTES).pageCount, 3, 'the minimum slab holds 3 pages')
  t.equal(computeLayout(64 << 20).pageCount, 62)
  t.end()
})

t.test('computeLayout - rejects a slab below the minimum or not an integer, naming the option', async t => {
  for (const slabBytes of [MIN_SLAB_BYTES - 1, 0, -1, 1.5 * MIN_SLAB_BYTES + 0.5, Number.NaN]) {
    t.throws(() => computeLayout(slabBytes), { name: 'RangeError', message: /^slabBytes must be an integer of at least 4194304; received / }, `${slabBytes}`)
  }
  t.end()
})
