/**
 * Slab export (slab-export.ts) and restore (SlabStore.restoreItem): slices cover every live
 * item exactly once whatever the slice size, skip expired items and other tenants, carry every
 * field (value inline and chunked, flags, expiry, CAS, tags, content type); restoreItem keeps
 * the recorded CAS and moves the CAS counter past it. `checkSlab` after restoring.
 * Replication's views of the same data: an export filter, the copy-free bucket visitor and
 * exportKey cover exactly what exportBuckets does; decodeRecord reads every record back and
 * refuses any truncation of one.
 */
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { ReadResult, SetMode, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { ExportBuffer, exportBuckets, exportKey, visitBuckets } from '../../src/core/slab-export.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { ManualClock } from '../../src/util/clock.js'
import { recordEnd } from '../../src/persist/snapshot-order.js'
import { decodeRecord } from '../../src/persist/snapshot-format.js'

const b = (s: string): Buffer => Buffer.from(s)
const hashOf = (tenant: number, key: Uint8Array): number => keyHash(tenant, key, 0, key.length)

interface Rec { tenant: number, flags: number, expiryMs: number, cas: number, key: string, contentType: string, tags: string[], value: string }

function decode (bytes: Buffer, length: number): Rec[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Rec[] = []
  for (let at = 0; at < length;) {
    const keyLength = view.getUint16(at + 28, true)
    const ctLength = bytes[at + 31]!
    let p = at + 32
    const key = bytes.toString('latin1', p, p + keyLength)
    p += keyLength
    const contentType = bytes.toString('latin1', p, p + ctLength)
    p += ctLength
    const tags: string[] = []
    for (let i = 0; i < bytes[at + 30]!; i++) {
      const n = view.getUint16(p, true)
      tags.push(bytes.toString('latin1', p + 2, p + 2 + n))
      p += 2 + n
    }
    const valueLength = view.getUint32(at + 24, true)
    out.push({ tenant: view.getUint32(at, true), flags: view.getUint32(at + 4, true), expiryMs: view.getFloat64(at + 8, true), cas: view.getFloat64(at + 16, true), key, contentType, tags: tags.sort(), value: bytes.toString('latin1', p, p + valueLength) })
    const end = recordEnd(view, at)
    if (end !== p + valueLength) throw new Error('recordEnd disagrees')
    at = end
  }
  return out
}

function exportAll (store: SlabStore, tenant: number, buckets: number, maxBytes: number): Rec[] {
  const out = new ExportBuffer(64)
  let cursor = 0
  do {
    cursor = exportBuckets(store, tenant, cursor, buckets, maxBytes, out)
    if (cursor < 0) throw new Error('lock timeout')
  } while (cursor !== 0)
  return decode(out.bytes, out.length).sort((x, y) => x.key < y.key ? -1 : 1)
}

function fill (store: SlabStore, clock: ManualClock): void {
  const write = new WriteOptions()
  for (let i = 0; i < 300; i++) {
    write.mode = SetMode.SET
    write.flags = i * 7
    write.expiryMs = i % 5 === 0 ? clock.nowMs() + 1000 : i % 5 === 1 ? clock.nowMs() + 100_000 : 0
    write.tags = i % 3 === 0 ? [b(`tag${i % 4}`), b('all')] : null
    write.contentType = i % 2 === 0 ? b('text/plain') : null
    const tenant = i % 4 === 3 ? 9 : 0
    const key = b(`key${i}`)
    const value = i === 7 ? Buffer.alloc(700_000, 'z') : b(`value ${i} `.repeat(i % 9))
    if (store.set(tenant, key, hashOf(tenant, key), value, write) !== StoreStatus.OK) throw new Error('set')
  }
}

t.test('slices of any size export every live item once, with every field; expired and other tenants skipped', async (t) => {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock, ownerId: 1, recordsHits: true })
  fill(store, clock)
  clock.advance(2000) // the i % 5 === 0 items expire
  const all = exportAll(store, -1, 1 << 30, 1 << 30)
  t.equal(all.length, 240, '300 items minus the 60 expired')
  for (const [buckets, bytes] of [[1, 1], [7, 100], [256, 4096]] as const) {
    t.same(exportAll(store, -1, buckets, bytes), all, `slices of ${buckets} buckets / ${bytes} bytes give the same records`)
  }
  t.same(exportAll(store, 9, 64, 1 << 20), all.filter((r) => r.tenant === 9), 'tenant filter')
  const read = new ReadResult()
  for (const rec of all) {
    const key = b(rec.key)
    t.equal(store.getWithTags(rec.tenant, key, hashOf(rec.tenant, key), read), StoreStatus.OK)
    if (rec.value !== read.value.toString('latin1', 0, read.valueLength) || rec.flags !== read.flags || rec.cas !== read.cas ||
      rec.expiryMs !== read.expiryMs || rec.contentType !== read.contentType.toString('latin1', 0, read.contentTypeLength) ||
      JSON.stringify(rec.tags) !== JSON.stringify(read.tags.map(String).sort())) t.fail(`${rec.key} differs from the store`)
  }
  t.ok(all.some((r) => r.value.length === 700_000), 'the chunked value is exported whole')
})

t.test('restoreItem keeps the recorded CAS and every field; later writes get larger CASes', async (t) => {
  const clock = new ManualClock()
  const source = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock, ownerId: 1, recordsHits: true })
  fill(source, clock)
  const records = exportAll(source, -1, 1 << 30, 1 << 30)
  const target = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock: new ManualClock(1_600_000_000_000), ownerId: 1, recordsHits: true })
  const write = new WriteOptions()
  let maxCas = 0
  for (const rec of [...records].sort((x, y) => x.cas - y.cas)) {
    write.flags = rec.flags
    write.expiryMs = rec.expiryMs
    write.tags = rec.tags.length === 0 ? null : rec.tags.map(b)
    write.contentType = rec.contentType === '' ? null : b(rec.contentType)
    const key = b(rec.key)
    t.equal(target.restoreItem(rec.tenant, key, hashOf(rec.tenant, key), Buffer.from(rec.value, 'latin1'), write, rec.cas), StoreStatus.OK)
    t.equal(target.lastCas, rec.cas)
    maxCas = Math.max(maxCas, rec.cas)
  }
  t.equal(checkSlab(target), records.length, 'slab invariants hold (checkSlab counts the items)')
  t.same(exportAll(target, -1, 1 << 30, 1 << 30), records, 'exporting the restored store gives the same records')
  const key = b('fresh')
  t.equal(target.set(0, key, hashOf(0, key), b('x'), new WriteOptions()), StoreStatus.OK)
  t.ok(target.lastCas > maxCas, 'a new write gets a CAS above every restored one (the target clock is years behind)')
})

t.test('an export slice of 64 KiB holds the lock briefly (reported, not asserted: no timing assertions)', async (t) => {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(64 << 20), { clock, ownerId: 1, recordsHits: true })
  const write = new WriteOptions()
  const value = Buffer.alloc(100, 'v')
  let n = 0
  for (; n < 200_000; n++) {
    const key = b(`item:${n}`)
    if (store.set(0, key, hashOf(0, key), value, write) !== StoreStatus.OK) break
  }
  const out = new ExportBuffer(1 << 20)
  let cursor = 0
  const times: number[] = []
  let slices = 0
  do {
    const started = performance.now()
    cursor = exportBuckets(store, -1, cursor, 2048, 64 * 1024, out)
    times.push(performance.now() - started)
    slices++
    if (out.length > 900_000) out.take()
  } while (cursor > 0)
  times.sort((x, y) => x - y)
  const at = (q: number): string => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(3)
  t.comment(`${n} items of 100 B: ${slices} slices; lock hold median ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms, worst ${at(1)} ms`)
  t.ok(slices > 10)
})

t.test('an export filter keeps exactly the records it accepts, each once, whatever the slice size', async (t) => {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock, ownerId: 1, recordsHits: true })
  fill(store, clock)
  clock.advance(2000)
  const all = exportAll(store, -1, 1 << 30, 1 << 30)
  // Keys whose last digit is odd, of tenant 0: the filter reads the key in the slab.
  const accept = (tenant: number, bytes: Uint8Array, offset: number, length: number): boolean => tenant === 0 && (bytes[offset + length - 1]! & 1) === 1
  const expected = all.filter((r) => r.tenant === 0 && (r.key.charCodeAt(r.key.length - 1) & 1) === 1)
  t.ok(expected.length > 50 && expected.length < all.length)
  for (const [buckets, bytes] of [[1, 1], [13, 200], [1 << 30, 1 << 30]] as const) {
    const out = new ExportBuffer(64)
    let cursor = 0
    do {
      cursor = exportBuckets(store, -1, cursor, buckets, bytes, out, accept)
      if (cursor < 0) throw new Error('lock timeout')
    } while (cursor !== 0)
    t.same(decode(out.bytes, out.length).sort((x, y) => x.key < y.key ? -1 : 1), expected, `slices of ${buckets} buckets / ${bytes} bytes`)
  }
  const out = new ExportBuffer(64)
  t.equal(exportBuckets(store, 9, 0, 1 << 30, 1 << 30, out, null), 0, 'a null filter keeps everything')
  t.equal(out.items, all.filter((r) => r.tenant === 9).length)
})

t.test('visitBuckets visits every live item exactly once across cursors, with its CAS and expiry, copying nothing', async (t) => {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock, ownerId: 1, recordsHits: true })
  fill(store, clock)
  clock.advance(2000)
  const all = exportAll(store, -1, 1 << 30, 1 << 30)
  const expected = all.map((r) => `${r.tenant}/${r.key} ${r.cas} ${r.expiryMs}`).sort()
  for (const buckets of [1, 7, 256, 1 << 30]) {
    const seen: string[] = []
    let cursor = 0
    let calls = 0
    do {
      cursor = visitBuckets(store, cursor, buckets, (tenant, bytes, offset, length, cas, expiryMs) => {
        seen.push(`${tenant}/${Buffer.from(bytes.subarray(offset, offset + length)).toString('latin1')} ${cas} ${expiryMs}`)
      })
      if (cursor < 0) throw new Error('lock timeout')
      calls++
    } while (cursor !== 0)
    t.same(seen.sort(), expected, `${buckets} buckets per call (${calls} calls): every item once, expired ones skipped`)
  }
  t.equal(store.lock.holder(), 0, 'the lock is released')
  t.throws(() => visitBuckets(store, 0, 1 << 30, () => { throw new Error('visitor failed') }), /visitor failed/)
  t.equal(store.lock.holder(), 0, 'the lock is released when the visitor throws')
})

t.test('exportKey - one key\'s record and CAS; 0 and nothing appended when absent, expired or invalid', async (t) => {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock, ownerId: 1, recordsHits: true })
  fill(store, clock)
  const all = exportAll(store, -1, 1 << 30, 1 << 30)
  const out = new ExportBuffer(16)
  for (const rec of all) {
    const key = b(rec.key)
    const at = out.length
    t.equal(exportKey(store, rec.tenant, key, hashOf(rec.tenant, key), out), rec.cas)
    if (JSON.stringify(decode(out.bytes.subarray(at), out.length - at)) !== JSON.stringify([rec])) t.fail(`${rec.key}: the record differs from exportBuckets'`)
  }
  t.equal(out.items, all.length)
  const length = out.length
  t.equal(exportKey(store, 0, b('absent'), hashOf(0, b('absent')), out), 0)
  t.equal(exportKey(store, 9, b('key0'), hashOf(9, b('key0')), out), 0, 'another tenant\'s key')
  t.equal(exportKey(store, 0, Buffer.alloc(5000), 0, out), 0, 'a key too large')
  t.equal(exportKey(store, 5000, b('key0'), 0, out), 0, 'a tenant out of range')
  clock.advance(2000) // key0 expires
  t.equal(exportKey(store, 0, b('key0'), hashOf(0, b('key0')), out), 0, 'expired')
  t.equal(out.length, length, 'nothing appended')
})

t.test('decodeRecord - reads every exported record; any truncation or a bad CAS or expiry is null', async (t) => {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock, ownerId: 1, recordsHits: true })
  fill(store, clock)
  const out = new ExportBuffer(64)
  t.equal(exportBuckets(store, -1, 0, 1 << 30, 1 << 30, out), 0)
  const bytes = out.bytes.subarray(0, out.length)
  const expected = decode(bytes, bytes.length)
  let at = 0
  let n = 0
  while (at < bytes.length) {
    const record = decodeRecord(bytes, at)
    if (record === null) { t.fail(`record ${n} at ${at} not decoded`); return }
    const want = expected[n]!
    const got = {
      tenant: record.tenantId, flags: record.flags, expiryMs: record.expiryMs, cas: record.cas, key: record.key.toString('latin1'),
      contentType: record.contentType?.toString('latin1') ?? '', tags: (record.tags ?? []).map((tag) => tag.toString('latin1')).sort(), value: record.value.toString('latin1')
    }
    if (JSON.stringify(got) !== JSON.stringify(want)) t.fail(`record ${n} differs`)
    if (record.key.buffer !== bytes.buffer || record.value.buffer !== bytes.buffer) t.fail('views, not copies')
    at += record.recordBytes
    n++
  }
  t.equal(n, expected.length, 'every record, recordBytes chaining them')
  t.equal(at, bytes.length)
  // A record with content type and two tags, cut at every byte.
  const tagged = new ExportBuffer(64)
  t.equal(exportKey(store, 0, b('key6'), hashOf(0, b('key6')), tagged), expected.find((r) => r.key === 'key6')!.cas)
  const whole = Buffer.from(tagged.bytes.subarray(0, tagged.length))
  t.ok(decodeRecord(whole, 0) !== null)
  let refused = 0
  for (let cut = 0; cut < whole.length; cut++) if (decodeRecord(whole.subarray(0, cut), 0) === null) refused++
  t.equal(refused, whole.length, 'every truncation is refused')
  t.equal(decodeRecord(whole, whole.length), null, 'an offset at the end')
  const badCas = Buffer.from(whole)
  badCas.writeDoubleLE(0, 16)
  t.equal(decodeRecord(badCas, 0), null, 'CAS 0')
  badCas.writeDoubleLE(Number.NaN, 16)
  t.equal(decodeRecord(badCas, 0), null, 'CAS NaN')
  const badExpiry = Buffer.from(whole)
  badExpiry.writeDoubleLE(-1, 8)
  t.equal(decodeRecord(badExpiry, 0), null, 'a negative expiry')
})
