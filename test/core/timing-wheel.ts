/**
 * TimingWheel on its own: items are bare chunks with an expiry (the wheel reads nothing else),
 * the expire callback records what it is given. A seeded random walk inserts, removes and
 * advances across every level and the overflow list; after each step an independent oracle
 * checks that every item sits in the slot its due tick calls for, that nothing expired early,
 * and that everything due expired once the wheel caught up.
 */
import t from 'tap'
import { SlabStore } from '../../src/core/slab-store.js'
import { F_EXPIRY, I_WHEEL_NEXT, TICK_MS, WHEEL_LEVELS, WHEEL_OVERFLOW, WHEEL_SLOTS } from '../../src/core/slab-layout.js'
import { dueTick, type TimingWheel } from '../../src/core/timing-wheel.js'
import { ManualClock } from '../../src/util/clock.js'

const SEED = process.env.WHEEL_SEED !== undefined ? Number(process.env.WHEEL_SEED) >>> 0 : 0xc0ffee
const DAY_MS = 86_400_000

function xorshift32 (seed: number): () => number {
  let x = seed | 1
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0 }
}

interface Harness {
  wheel: TimingWheel
  doubles: Float64Array
  words: Uint32Array
  /** A fresh chunk ref (the allocator hands them out; nothing else is set up). */
  newRef: () => number
}

function harness (): Harness {
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(16 << 20), { clock, ownerId: 1, recordsHits: false })
  const cls = store.allocator.classFor(64)
  return {
    wheel: store.wheel,
    doubles: store.memory.doubles,
    words: store.memory.words,
    newRef: () => {
      const ref = store.allocator.take(cls)
      if (ref === 0) throw new Error('out of chunks')
      return ref
    }
  }
}

/** Slot (0..WHEEL_OVERFLOW) that holds `ref`, by walking every slot. */
function slotOf (h: Harness, ref: number): number {
  for (let slot = 0; slot <= WHEEL_OVERFLOW; slot++) {
    for (let r = h.words[h.wheel.slotHeadWord(slot)]!; r !== 0; r = h.words[r * 2 + I_WHEEL_NEXT]!) if (r === ref) return slot
  }
  return -1
}

/** The oracle: the slot a due tick belongs in while the wheel's next tick is `tick`. */
function expectedSlot (due: number, tick: number): number | 'any-level-0-overdue' {
  const delta = due - tick
  if (delta < 0) return 'any-level-0-overdue'
  if (delta < WHEEL_SLOTS) return due % WHEEL_SLOTS
  for (let level = 1; level < WHEEL_LEVELS; level++) {
    if (delta < WHEEL_SLOTS ** (level + 1)) return level * WHEEL_SLOTS + Math.floor(due / WHEEL_SLOTS ** level) % WHEEL_SLOTS
  }
  return WHEEL_OVERFLOW
}

t.test('dueTick - an expiry belongs to the first tick at or after it', async t => {
  t.equal(dueTick(5000), 5)
  t.equal(dueTick(5001), 6)
  t.equal(dueTick(4999), 5)
  t.end()
})

t.test('insert - places items by distance: level 0 < 64 s, then 64× per level, then overflow', async t => {
  const h = harness()
  const now = 1_700_000_000_000
  h.wheel.reset(now)
  const tick = h.wheel.tick
  for (const seconds of [0, 1, 63, 64, 4095, 4096, 262_143, 262_144, 16_777_215, 16_777_216, 40_000_000]) {
    const ref = h.newRef()
    h.doubles[ref + F_EXPIRY] = (tick + seconds) * TICK_MS
    h.wheel.insert(ref)
    t.equal(slotOf(h, ref), expectedSlot(tick + seconds, tick), `${seconds} s out`)
  }
  t.equal(h.wheel.size, 11)
  t.end()
})

t.test('remove - unlinks the head, a middle member and the last member of a slot', async t => {
  const h = harness()
  h.wheel.reset(0)
  const refs = [h.newRef(), h.newRef(), h.newRef(), h.newRef()]
  for (const ref of refs) { h.doubles[ref + F_EXPIRY] = 10 * TICK_MS; h.wheel.insert(ref) }
  const head = h.wheel.slotHeadWord(10)
  const members = (): number[] => { const m = []; for (let r = h.words[head]!; r !== 0; r = h.words[r * 2 + I_WHEEL_NEXT]!) m.push(r); return m }
  t.same(members(), [...refs].reverse(), 'pushed at the head')
  h.wheel.remove(refs[1]!)
  h.wheel.remove(refs[3]!) // the head
  h.wheel.remove(refs[0]!) // the tail
  t.same(members(), [refs[2]])
  t.equal(h.wheel.size, 1)
  t.equal(h.wheel.headOf(refs[2]!), head)
  t.throws(() => h.wheel.remove(refs[0]!), /on no slot/, 'removing an item that is on no slot throws')
  t.end()
})

t.test(`advance - a random walk never expires early, never misses a due item, and keeps every item in its slot (seed ${SEED}; WHEEL_SEED replays)`, async t => {
  const random = xorshift32(SEED)
  const h = harness()
  let nowMs = 1_700_000_000_000
  h.wheel.reset(nowMs)
  const live = new Map<number, number>() // ref → expiryMs
  // An item inserted already overdue goes into the current slot and expires with the next
  // tick processed (up to 1 s after its expiry; reads expire it lazily meanwhile).
  const dueBy = new Map<number, number>() // ref → the tick by which it must be expired
  const expiredAt = new Map<number, number>()
  let early = 0
  let twice = 0
  let misplaced = 0
  let late = 0
  const expire = (ref: number): void => {
    if (expiredAt.has(ref)) twice++
    if (live.get(ref)! > nowMs) early++
    expiredAt.set(ref, nowMs)
    live.delete(ref)
  }
  for (let step = 0; step < 20_000; step++) {
    const roll = random() % 100
    if (roll < 45 && live.size < 3000) {
      const ref = h.newRef()
      const far = random() % 100
      const distanceMs = far < 50 ? random() % 120_000 : far < 80 ? random() % (2 * DAY_MS) : far < 95 ? random() % (300 * DAY_MS) : random() % 700 * DAY_MS
      const expiryMs = far === 99 ? nowMs - random() % 5000 : nowMs + distanceMs
      h.doubles[ref + F_EXPIRY] = expiryMs
      h.wheel.insert(ref)
      live.set(ref, expiryMs)
      dueBy.set(ref, Math.max(dueTick(expiryMs), h.wheel.tick))
    } else if (roll < 55 && live.size > 0) {
      const ref = [...live.keys()][random() % live.size]!
      h.wheel.remove(ref)
      live.delete(ref)
    } else {
      const jump = random() % 100
      nowMs += jump < 70 ? random() % 5000 : jump < 95 ? random() % (6 * 3_600_000) : random() % (200 * DAY_MS)
      const budget = random() % 4 === 0 ? 1 + random() % 20 : 1_000_000
      const left = h.wheel.advance(nowMs, budget, expire)
      if (left > 0) {
        // Caught up: everything due by now is gone.
        for (const ref of live.keys()) if (dueBy.get(ref)! * TICK_MS <= nowMs) late++
        if (h.wheel.tick !== Math.floor(nowMs / TICK_MS) + 1) t.fail(`caught up but tick ${h.wheel.tick} for now ${nowMs}`)
      }
    }
    if (step % 50 === 0 || live.size < 50) {
      for (const [ref, expiryMs] of live) {
        const expected = expectedSlot(dueTick(expiryMs), h.wheel.tick)
        const slot = slotOf(h, ref)
        if (expected === 'any-level-0-overdue' ? slot !== h.wheel.tick % WHEEL_SLOTS : slot !== expected) {
          // Level-L items inserted before the wheel moved may sit in a coarser slot than a
          // fresh insert would pick; they must still be in their due tick's block.
          const level = Math.floor(slot / WHEEL_SLOTS)
          const ok = slot === WHEEL_OVERFLOW
            ? dueTick(expiryMs) >= Math.ceil(h.wheel.tick / WHEEL_SLOTS ** 4) * WHEEL_SLOTS ** 4
            : level > 0 && Math.floor(dueTick(expiryMs) / WHEEL_SLOTS ** level) % WHEEL_SLOTS === slot % WHEEL_SLOTS &&
              Math.floor(dueTick(expiryMs) / WHEEL_SLOTS ** level) * WHEEL_SLOTS ** level >= h.wheel.tick
          if (!ok) misplaced++
        }
      }
    }
    if (h.wheel.size !== live.size) { t.fail(`wheel size ${h.wheel.size}, ${live.size} live at step ${step}`); break }
  }
  t.equal(early, 0, 'no item expired before its expiry')
  t.equal(twice, 0, 'no item expired twice')
  t.equal(late, 0, 'no due item survived a completed advance (overdue inserts: by the next tick)')
  t.equal(misplaced, 0, 'every item was in a slot that reaches it in time')
  t.ok(expiredAt.size > 1000, `${expiredAt.size} items expired`)
  t.end()
})

t.test('advance - budget counts expiries and cascade moves, and the next call resumes', async t => {
  const h = harness()
  let nowMs = 0
  h.wheel.reset(nowMs)
  for (let i = 0; i < 100; i++) { const ref = h.newRef(); h.doubles[ref + F_EXPIRY] = 5000 + (i % 3) * 1000; h.wheel.insert(ref) }
  for (let i = 0; i < 100; i++) { const ref = h.newRef(); h.doubles[ref + F_EXPIRY] = 100_000; h.wheel.insert(ref) } // level 1
  nowMs = 200_000
  let expired = 0
  let calls = 0
  while (h.wheel.advance(nowMs, 7, () => { expired++ }) === 0) calls++
  t.equal(expired, 200)
  t.equal(calls, Math.ceil(300 / 7) - 1, '200 expiries + 100 cascade moves in slices of 7')
  t.equal(h.wheel.size, 0)
  t.end()
})

t.test('advance - an empty wheel jumps to now; a wheel with one far item skips empty runs', async t => {
  const h = harness()
  h.wheel.reset(0)
  t.equal(h.wheel.advance(10 * DAY_MS + 500, 10, () => {}), 10, 'no work')
  t.equal(h.wheel.tick, 10 * 86_400 + 1, 'the next tick to process is the first not yet due')
  const ref = h.newRef()
  h.doubles[ref + F_EXPIRY] = 1000 * DAY_MS
  h.wheel.insert(ref)
  let expiredAt = -1
  const started = performance.now()
  for (const day of [200, 400, 600, 800, 999]) {
    h.wheel.advance(day * DAY_MS, 1_000_000, () => { expiredAt = day })
    t.ok(slotOf(h, ref) >= 0, `still on the wheel on day ${day} (slot ${slotOf(h, ref)})`)
  }
  t.equal(expiredAt, -1, 'not expired before day 1000')
  h.wheel.advance(1000 * DAY_MS, 1_000_000, () => { expiredAt = 1000 })
  t.equal(expiredAt, 1000, 'expired on day 1000')
  t.ok(performance.now() - started < 100, 'over 86 million ticks in well under 100 ms')
  t.end()
})
