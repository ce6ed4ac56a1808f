import t from 'tap'
import { HLC_LOGICAL_BITS, Hlc, compareVersions, hlcWallMs } from '../../src/cluster/hlc.js'

/** A clock moved by hand. */
function manualClock (startMs: number): { nowMs: () => number, set: (ms: number) => void } {
  let ms = startMs
  return { nowMs: () => ms, set: (next) => { ms = next } }
}

const T0 = 1_765_000_000_000 // a Dec 2025 wall time in ms

t.test('Hlc - stamps have the slab CAS shape wallMs * 1024 + logical', async (t) => {
  t.equal(HLC_LOGICAL_BITS, 10)
  const clock = manualClock(T0)
  const hlc = new Hlc(clock.nowMs)
  t.equal(hlc.last, 0)
  const a = hlc.now()
  t.equal(a, T0 * 1024)
  t.equal(hlcWallMs(a), T0)
  t.equal(hlc.last, a)
  t.ok(Number.isSafeInteger(a), 'below 2^53')
})

t.test('Hlc - strictly increasing within one millisecond', async (t) => {
  const hlc = new Hlc(() => T0)
  let previous = hlc.now()
  for (let i = 0; i < 3000; i++) {
    const next = hlc.now()
    if (next <= previous) t.fail(`stamp ${i} went from ${previous} to ${next}`)
    previous = next
  }
  t.equal(previous, T0 * 1024 + 3000, 'logical overflow carries into the wall part')
})

t.test('Hlc - monotonic under a clock that jumps back', async (t) => {
  const clock = manualClock(T0)
  const hlc = new Hlc(clock.nowMs)
  const before = hlc.now()
  clock.set(T0 - 60_000)
  const during = hlc.now()
  t.ok(during > before, 'a minute back in time still moves forward')
  t.equal(during, before + 1)
  clock.set(T0 + 5)
  const after = hlc.now()
  t.equal(after, (T0 + 5) * 1024, 'the physical part takes over again once the wall clock passes')
})

t.test('Hlc - a fractional clock is floored to whole ms', async (t) => {
  const hlc = new Hlc(() => T0 + 0.75)
  t.equal(hlc.now(), T0 * 1024)
})

t.test('Hlc.observe - the next stamp is above a remote stamp from a clock running ahead', async (t) => {
  const clock = manualClock(T0)
  const hlc = new Hlc(clock.nowMs)
  const remote = (T0 + 10_000) * 1024 + 7
  hlc.observe(remote)
  t.equal(hlc.last, remote)
  const next = hlc.now()
  t.equal(next, remote + 1)
  t.ok(compareVersions(next, 'a', remote, 'z') > 0, 'a write after seeing a remote one wins even against a larger node id')
})

t.test('Hlc.observe - an older remote stamp changes nothing', async (t) => {
  const hlc = new Hlc(() => T0)
  const mine = hlc.now()
  hlc.observe(mine - 5000)
  t.equal(hlc.last, mine)
  t.equal(hlc.now(), mine + 1)
})

t.test('Hlc.observe - rejects values that are not stamps', async (t) => {
  const hlc = new Hlc(() => T0)
  for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
    t.throws(() => hlc.observe(bad), { name: 'RangeError', message: /remote hlc must be a non-negative safe integer/ }, String(bad))
  }
  t.equal(hlc.last, 0, 'a refused value does not move the clock')
})

t.test('Hlc - constructor rejects a non-function clock', async (t) => {
  t.throws(() => new Hlc(42 as unknown as () => number), { name: 'TypeError', message: /nowMs must be a function/ })
})

t.test('two nodes exchanging writes: every stamp is unique and causally ordered', async (t) => {
  // Node b's clock is 3 s behind; each write it makes after receiving a's must still win.
  const a = new Hlc(() => T0)
  const b = new Hlc(() => T0 - 3000)
  let last = 0
  for (let i = 0; i < 100; i++) {
    const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a]
    const stamp = writer.now()
    if (stamp <= last) t.fail(`write ${i} (${stamp}) is not after the write it saw (${last})`)
    reader.observe(stamp)
    last = stamp
  }
  t.pass('100 alternating writes stayed in causal order')
})

t.test('compareVersions - by hlc, ties by node id', async (t) => {
  t.ok(compareVersions(2, 'a', 1, 'z') > 0)
  t.ok(compareVersions(1, 'z', 2, 'a') < 0)
  t.ok(compareVersions(5, 'node-b', 5, 'node-a') > 0, 'larger id wins a tie')
  t.ok(compareVersions(5, 'node-a', 5, 'node-b') < 0)
  t.equal(compareVersions(5, 'n', 5, 'n'), 0)
  t.ok(compareVersions(1024, 'a', 0, 'b') > 0, 'the first write (any stamp) beats the empty version 0')
})

t.test('hlcWallMs - drops the logical part', async (t) => {
  t.equal(hlcWallMs(T0 * 1024 + 1023), T0)
  t.equal(hlcWallMs(0), 0)
})
