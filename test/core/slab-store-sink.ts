/**
 * SlabStore reads into a caller's ValueSink (the reply buffer a GET hit is copied straight
 * into): every source and target alignment and length class, inline and chunked values, and
 * the seqlock contract — a read that a writer tears after the sink was written retries, claims
 * again, and the caller commits only the final value (or nothing, if the key went away).
 */
import t from 'tap'
import { ReadResult, SlabStore, StoreStatus, WriteOptions, type ValueSink } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { ManualClock } from '../../src/util/clock.js'

const FILL = 0xee

/** A sink over its own buffer that records its claims and can act in the middle of a read. */
class TestSink implements ValueSink {
  sinkBytes = Buffer.alloc(0)
  sinkWords = new Uint32Array(0)
  /** Where values go; the bytes before it must never be written. */
  offset = 0
  claims: number[] = []
  onClaim: ((attempt: number) => void) | null = null

  claimValue (length: number): number {
    this.claims.push(length)
    if (this.sinkBytes.length < this.offset + length + 3) {
      this.sinkBytes = Buffer.allocUnsafeSlow(((this.offset + length + 3) + 3) & ~3).fill(FILL)
      this.sinkWords = new Uint32Array(this.sinkBytes.buffer, 0, this.sinkBytes.length >>> 2)
    }
    this.onClaim?.(this.claims.length)
    return this.offset
  }

  reset (offset: number): void {
    this.offset = offset
    this.claims = []
    this.onClaim = null
    this.sinkBytes.fill(FILL)
  }
}

function setup (maxValueBytes = 4 << 20): { sab: SharedArrayBuffer, store: SlabStore, clock: ManualClock } {
  const clock = new ManualClock()
  const sab = new SharedArrayBuffer(16 << 20)
  return { sab, store: SlabStore.create(sab, { clock, ownerId: 1, recordsHits: true, maxValueBytes }), clock }
}
const hashOf = (key: Uint8Array): number => keyHash(0, key, 0, key.length)
const valueOf = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff))

t.test('sink - the value lands whole at the claimed offset, for every alignment and length class', async t => {
  const { store } = setup()
  const write = new WriteOptions()
  const read = new ReadResult()
  const sink = new TestSink()
  read.sink = sink
  // Key lengths 1–8 move the value's start in the slab across all four word alignments;
  // lengths cover the byte loop (≤ 32), the word loop, and a chunked value (> 512 KiB).
  const lengths = [0, 1, 3, 31, 32, 33, 34, 35, 36, 100, 257, 4099, 700_001]
  let failures = 0
  for (let keyLength = 1; keyLength <= 8; keyLength++) {
    for (const length of lengths) {
      const key = Buffer.from(`k${length}`.padEnd(keyLength, '.').slice(0, Math.max(keyLength, `k${length}`.length)))
      const value = valueOf(length, keyLength)
      if (store.set(0, key, hashOf(key), value, write) !== StoreStatus.OK) { t.fail(`set ${key}`); continue }
      for (let offset = 0; offset < 8; offset++) {
        sink.reset(offset)
        const status = store.get(0, key, hashOf(key), read)
        const got = sink.sinkBytes.subarray(offset, offset + length)
        const before = sink.sinkBytes.subarray(0, offset)
        if (status !== StoreStatus.OK || read.valueLength !== length || !got.equals(value) ||
            before.some(b => b !== FILL) || sink.claims.length !== 1 || sink.claims[0] !== length) {
          failures++
          t.fail(`key length ${key.length}, value ${length} at offset ${offset}: status ${status}, claims ${sink.claims.join()}`)
        }
      }
    }
  }
  t.equal(failures, 0, 'every combination copied exactly, nothing before the offset touched')
  t.end()
})

t.test('sink - a read torn after it wrote the sink retries and claims again; only the last claim holds the value', async t => {
  const { sab, store, clock } = setup()
  // Another thread's view of the slab (the shard worker, say): its writes take the lock and
  // move the seqlock, which is what a lock-free reader on this thread validates against.
  const other = SlabStore.attach(sab, { clock, ownerId: 2, recordsHits: false })
  const write = new WriteOptions()
  const read = new ReadResult()
  const sink = new TestSink()
  read.sink = sink
  const key = Buffer.from('torn:key')
  const hash = hashOf(key)
  const first = valueOf(100, 1)
  const longer = valueOf(300, 2)
  t.equal(store.set(0, key, hash, first, write), StoreStatus.OK)

  // A writer replaces the value (another length) while the first attempt is copying.
  sink.reset(5)
  sink.onClaim = attempt => { if (attempt === 1) t.equal(other.set(0, key, hash, longer, write), StoreStatus.OK) }
  t.equal(store.get(0, key, hash, read), StoreStatus.OK)
  t.same(sink.claims, [100, 300], 'claimed for the old length, then again for the new one')
  t.equal(read.valueLength, 300)
  t.ok(sink.sinkBytes.subarray(5, 305).equals(longer), 'the sink holds the new value whole')
  t.equal(read.cas, other.lastCas, 'with the new item\'s metadata')

  // A shorter value replaces it mid-copy: the longer bytes of the first attempt lie past the
  // value's end, where the caller does not commit.
  sink.reset(2)
  sink.onClaim = attempt => { if (attempt === 1) t.equal(other.set(0, key, hash, first, write), StoreStatus.OK) }
  t.equal(store.get(0, key, hash, read), StoreStatus.OK)
  t.same(sink.claims, [300, 100])
  t.equal(read.valueLength, 100)
  t.ok(sink.sinkBytes.subarray(2, 102).equals(first), 'the sink holds the shorter value')

  // The key is deleted mid-copy: the retry misses, and the caller commits nothing.
  sink.reset(0)
  sink.onClaim = attempt => { if (attempt === 1) t.equal(other.delete(0, key, hash), StoreStatus.OK) }
  const misses = store.stats().misses
  t.equal(store.get(0, key, hash, read), StoreStatus.NOT_FOUND, 'the retry sees the delete')
  t.same(sink.claims, [100], 'claimed once, by the torn attempt')
  t.equal(store.stats().misses, misses + 1, 'counted as a miss, not a hit')

  // Without a sink the store's own buffer is used, as before.
  read.sink = null
  t.equal(store.set(0, key, hash, longer, write), StoreStatus.OK)
  sink.reset(0)
  t.equal(store.get(0, key, hash, read), StoreStatus.OK)
  t.ok(read.value.subarray(0, read.valueLength).equals(longer))
  t.same(sink.claims, [], 'the sink is not touched')
  t.doesNotThrow(() => checkSlab(store))
  t.end()
})
