import t from 'tap'
import { Worker } from 'node:worker_threads'
import { SlabStore, ReadResult, WriteOptions, CounterMode, StoreStatus } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { MAIN_THREAD_OWNER } from '../../src/core/slab-lock.js'
import { SharedClock } from '../../src/util/shared-clock.js'
// @ts-expect-error plain JS fixture shared with the worker
import { checkValue, writeValue } from '../fixtures/hammer-value.mjs'

const KEYS = 2000
const MAIN_OPS = Number(process.env.HAMMER_OPS ?? 300_000)

t.test('a worker mutating and maintaining the slab while the main thread reads and writes: no torn read, no lost update', async (t) => {
  const clock = SharedClock.start({ clockControl: true })
  t.teardown(() => clock.stop())
  const store = SlabStore.create(new SharedArrayBuffer(64 << 20), { clock, ownerId: MAIN_THREAD_OWNER, recordsHits: true, lockTimeoutMs: 1000 })
  const control = new Int32Array(new SharedArrayBuffer(64))
  const worker = new Worker(new URL('../fixtures/slab-hammer-worker.mjs', import.meta.url), {
    workerData: { slab: store.memory.sab, clock: clock.sab, control: control.buffer, keys: KEYS }, execArgv: []
  })
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
  // Handshake: start only once the worker runs.
  while (Atomics.load(control, 1) === 0) await Atomics.waitAsync(control, 1, 0, 100).value

  const read = new ReadResult()
  const write = new WriteOptions()
  const scratch = Buffer.alloc(4096)
  const counterKey = Buffer.from('ctr')
  const counterHash = keyHash(0, counterKey, 0, counterKey.length)
  const mainVersions = new Uint32Array(KEYS)
  let torn = 0
  let firstTear = ''
  let hits = 0
  let incrs = 0
  let failedSets = 0
  let seed = 99
  const random = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 4294967296 }
  for (let op = 0; op < MAIN_OPS; op++) {
    const index = Math.floor(random() * KEYS)
    const roll = random()
    if (roll < 0.6) {
      const key = Buffer.from(`w:${index}`)
      if (store.get(0, key, keyHash(0, key, 0, key.length), read) === StoreStatus.OK) {
        hits++
        const problem = checkValue(read.value, read.valueLength, index)
        if (problem !== null) { torn++; firstTear ||= `w:${index}: ${problem}` }
      }
    } else if (roll < 0.9) {
      const key = Buffer.from(`m:${index}`)
      mainVersions[index]!++
      if (store.set(0, key, keyHash(0, key, 0, key.length), writeValue(scratch, index, mainVersions[index]), write) !== StoreStatus.OK) failedSets++
    } else if (roll < 0.95) {
      if (store.incr(0, counterKey, counterHash, 1n, CounterMode.REDIS) === StoreStatus.OK) incrs++
    } else if (op % 1000 === 0) {
      clock.advance(100) // keeps the worker's timing wheel expiring
    }
    if (op % 20_000 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  Atomics.store(control, 0, 1)
  t.equal(await exited, 0)
  t.equal(failedSets, 0, 'every main-thread set was stored')
  t.equal(torn, 0, `no torn reads out of ${hits} hits${firstTear === '' ? '' : ` (first: ${firstTear})`}`)
  t.ok(hits > MAIN_OPS / 10, 'the readers really read the worker\'s items')
  let lost = 0
  for (let index = 0; index < KEYS; index++) {
    if (mainVersions[index] === 0) continue
    const key = Buffer.from(`m:${index}`)
    if (store.get(0, key, keyHash(0, key, 0, key.length), read) !== StoreStatus.OK ||
        read.value.readUInt32LE(4) !== mainVersions[index]) lost++
  }
  t.equal(lost, 0, 'every key the main thread wrote holds its last version')
  const workerIncrs = Atomics.load(control, 2)
  t.ok(workerIncrs > 0 && Atomics.load(control, 3) > 0, 'the worker really wrote')
  t.equal(store.get(0, counterKey, counterHash, read), StoreStatus.OK)
  t.equal(read.value.subarray(0, read.valueLength).toString(), String(incrs + workerIncrs), 'no increment from either thread was lost')
  t.equal(store.stats().evictions, 0, 'nothing was evicted (so nothing may be missing)')
  t.ok(store.stats().expirations > 0, 'the worker expired items meanwhile')
  t.doesNotThrow(() => checkSlab(store), 'slab invariants hold')
})
