/**
 * Question: how many slab bytes does one small item cost — a 1,000,000-item load of keys like
 * `key:0000001` (11 bytes) with 100-byte values — and where do they go: the 48-byte item header,
 * the size-class rounding, the hash index and the fixed tables?
 * Decisions it informs: sizing guidance (items per GiB of configured memory), and whether the
 * 48-byte header or the ×1.25 class growth factor is worth tightening (e.g. a 40-byte header by
 * dropping the wheel back-link, or a finer growth factor for small classes).
 * Not mitata: it measures bytes, not time.
 *
 * Setup: one slab just large enough for the load (the smallest whole-page slab that holds it,
 * found with computeLayout), one size class; every set must succeed without eviction.
 * "Used" is chunk bytes held by items + the whole hash index + the fixed tables and page
 * tables, i.e. everything but pages that hold no item; the slab's unused pages are listed
 * apart.
 * Run: `node --import ./native-bench/ts-loader.mjs native-bench/micro/store-bytes-per-item.ts`
 */
import { SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { keyHash } from '../../src/core/key-hash.js'
import { ITEM_HEADER_BYTES, PAGE_BYTES, computeLayout } from '../../src/core/slab-layout.js'
import { ManualClock } from '../../src/util/clock.js'

const ITEMS = 1_000_000
const KEY_BYTES = 11
const VALUE_BYTES = 100

// Smallest slab whose pages hold ITEMS chunks of the class.
const probe = SlabStore.create(new SharedArrayBuffer(8 << 20), { clock: new ManualClock(), ownerId: 1, recordsHits: false })
const cls = probe.allocator.classFor(ITEM_HEADER_BYTES + KEY_BYTES + VALUE_BYTES)
const chunkBytes = probe.allocator.chunkBytes(cls)
const pagesNeeded = Math.ceil(ITEMS / Math.floor(PAGE_BYTES / chunkBytes))
let slabBytes = pagesNeeded * PAGE_BYTES
while (computeLayout(slabBytes).pageCount < pagesNeeded) slabBytes += PAGE_BYTES / 16

const store = SlabStore.create(new SharedArrayBuffer(slabBytes), { clock: new ManualClock(), ownerId: 1, recordsHits: false })
const write = new WriteOptions()
const value = Buffer.alloc(VALUE_BYTES, 7)
const key = Buffer.alloc(KEY_BYTES)
key.write('key:', 0, 'latin1')
const started = performance.now()
for (let i = 1; i <= ITEMS; i++) {
  key.write(String(i).padStart(7, '0'), 4, 'latin1')
  if (store.set(0, key, keyHash(0, key, 0, KEY_BYTES), value, write) !== StoreStatus.OK) throw new Error(`set ${i} failed`)
}
const loadMs = performance.now() - started
const stats = store.stats()
if (stats.items !== ITEMS || stats.evictions !== 0) throw new Error(`expected ${ITEMS} items, no evictions: ${JSON.stringify(stats)}`)

const layout = store.memory.layout
const indexBytes = layout.bucketCount * 4
const tableBytes = layout.pagesBase - indexBytes // header, class/tenant tables, wheel, hit ring, page tables, padding
const usedBytes = stats.chunkBytes + indexBytes + tableBytes
const unusedPageBytes = (stats.pageCount - Math.ceil(stats.chunkBytes / PAGE_BYTES)) * PAGE_BYTES
const itemBytes = ITEM_HEADER_BYTES + KEY_BYTES + VALUE_BYTES
const perItem = (bytes: number): string => (bytes / ITEMS).toFixed(2).padStart(8)
const rows: Array<[string, string]> = [
  ['slab', `${(slabBytes / 2 ** 20).toFixed(2)} MiB, ${stats.pageCount} pages of ${PAGE_BYTES / 1024} KiB, ${layout.bucketCount} buckets`],
  ['load', `${ITEMS} sets in ${loadMs.toFixed(0)} ms (${(loadMs * 1e6 / ITEMS).toFixed(0)} ns/set, key formatting included)`],
  ['item payload (key + value)', `${perItem((KEY_BYTES + VALUE_BYTES) * ITEMS)} B/item`],
  ['item header', `${perItem(ITEM_HEADER_BYTES * ITEMS)} B/item`],
  ['item bytes (header + key + value)', `${perItem(itemBytes * ITEMS)} B/item  (stats.itemBytes / items = ${(stats.itemBytes / ITEMS).toFixed(2)})`],
  ['size-class waste', `${perItem((chunkBytes - itemBytes) * ITEMS)} B/item  (chunk ${chunkBytes} B for ${itemBytes} B: ${(100 * (chunkBytes - itemBytes) / chunkBytes).toFixed(1)}% of the chunk)`],
  ['free space in used pages', `${perItem((stats.pageCount * PAGE_BYTES - unusedPageBytes - stats.chunkBytes))} B/item  (${PAGE_BYTES % chunkBytes} B per page tail + the last page's uncarved rest)`],
  ['chunk bytes', `${perItem(stats.chunkBytes)} B/item`],
  ['hash index share', `${perItem(indexBytes)} B/item  (${layout.bucketCount} × 4 B, load factor ${(ITEMS / layout.bucketCount).toFixed(2)})`],
  ['fixed tables share', `${perItem(tableBytes)} B/item  (header, class/tenant tables, wheel, hit ring, page tables)`],
  ['slab bytes used / item', `${perItem(usedBytes)} B/item  (payload is ${(100 * (KEY_BYTES + VALUE_BYTES) * ITEMS / usedBytes).toFixed(1)}% of it)`],
  ['whole slab / item', `${perItem(slabBytes)} B/item  (unused pages: ${unusedPageBytes / 2 ** 20} MiB)`]
]
for (const [name, text] of rows) console.log(`${name.padEnd(36)} ${text}`)

/* Output (Node v20.20.2, 2 vCPU Intel Xeon VM):
slab                                 170.13 MiB, 168 pages of 1024 KiB, 524288 buckets
load                                 1000000 sets in 1422 ms (1422 ns/set, key formatting included)
item payload (key + value)             111.00 B/item
item header                             48.00 B/item
item bytes (header + key + value)      159.00 B/item  (stats.itemBytes / items = 159.00)
size-class waste                        17.00 B/item  (chunk 176 B for 159 B: 9.7% of the chunk)
free space in used pages                 0.16 B/item  (144 B per page tail + the last page's uncarved rest)
chunk bytes                            176.00 B/item
hash index share                         2.10 B/item  (524288 × 4 B, load factor 1.91)
fixed tables share                       0.09 B/item  (header, class/tenant tables, wheel, hit ring, page tables)
slab bytes used / item                 178.19 B/item  (payload is 62.3% of it)
whole slab / item                      178.39 B/item  (unused pages: 0 MiB)
*/
