// Single-thread tests of SpscRing: framing, wrap-around, back-pressure, validation, reset and
// the wake-up rules. Both halves run on this thread, each on its own SpscRing object over the
// same SharedArrayBuffer, as the main thread and a worker would hold them.
import t from 'tap'
import {
  FRAME_HEADER_BYTES,
  RING_CONTROL_OFFSETS,
  RING_HEADER_BYTES,
  SpscRing
} from '../../src/ring/spsc-ring.js'

const CAPACITY_BYTES = 4096
const MAX_PAYLOAD_BYTES = CAPACITY_BYTES / 2 - 8

function frameBytes (payloadBytes: number): number {
  return (payloadBytes + FRAME_HEADER_BYTES + 7) & ~7
}

function xorshift32 (seed: number): () => number {
  let x = seed | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

/** Deterministic contents of frame `seq`: position-dependent, different for each seq. */
function patternByte (seq: number, i: number): number {
  return ((Math.imul(seq, 0x9e3779b1) >>> 24) + Math.imul(i, 151) + (i >>> 8)) & 0xff
}

function fill (bytes: Uint8Array, offset: number, payloadBytes: number, seq: number): void {
  for (let i = 0; i < payloadBytes; i++) bytes[offset + i] = patternByte(seq, i)
}

function matches (bytes: Uint8Array, offset: number, payloadBytes: number, seq: number): boolean {
  for (let i = 0; i < payloadBytes; i++) if (bytes[offset + i] !== patternByte(seq, i)) return false
  return true
}

function pair (capacityBytes = CAPACITY_BYTES): { producer: SpscRing, consumer: SpscRing } {
  const producer = SpscRing.create(capacityBytes)
  return { producer, consumer: SpscRing.attach(producer.sab) }
}

/**
 * A pending Atomics.waitAsync does not keep Node's event loop alive; hold a timer until the
 * promise settles so the test process cannot exit under it. This is not the synchronisation.
 */
async function keepAlive<T> (promise: Promise<T>): Promise<T> {
  const handle = setInterval(() => {}, 60_000)
  try { return await promise } finally { clearInterval(handle) }
}

/** Moves an empty ring to data position `target` with filler frames that never wrap. */
function moveTo (producer: SpscRing, consumer: SpscRing, from: number, target: number): void {
  const regions = target >= from ? [[from, target]] : [[from, producer.capacityBytes], [0, target]]
  for (const [start, end] of regions) {
    for (let at = start!; at < end!;) {
      const chunk = Math.min(end! - at, producer.capacityBytes / 2)
      if (producer.reserve(chunk - 8) !== at + FRAME_HEADER_BYTES) throw new Error('filler misplaced')
      producer.commit()
      consumer.next()
      consumer.release()
      at += chunk
    }
  }
  consumer.publishTail()
}

t.test('create - rejects capacityBytes that is not a power of two from 4096 to 2^30', async t => {
  for (const bad of [0, -4096, 1000, 2048, 4095, 6000, 4096.5, 2 ** 31, Number.NaN]) {
    t.throws(() => SpscRing.create(bad), {
      code: 'CONFIG_INVALID',
      name: 'ConfigError',
      message: new RegExp(`^capacityBytes must be a power of two from 4096 to 1073741824; received ${String(bad)}$`)
    }, `rejects ${bad}`)
  }
  const ring = SpscRing.create(4096)
  t.equal(ring.capacityBytes, 4096)
  t.equal(ring.maxPayloadBytes, 2040)
  t.equal(ring.bytes.byteLength, 4096)
  t.equal(ring.sab.byteLength, RING_HEADER_BYTES + 4096)
  t.equal(ring.freeBytes(), 4096)
  t.equal(ring.readable(), false)
  t.equal(ring.next(), -1)
})

t.test('layout - every control word the two sides write sits on its own 64-byte line', async t => {
  const lines = [RING_CONTROL_OFFSETS.head, RING_CONTROL_OFFSETS.tail,
    RING_CONTROL_OFFSETS.consumerSleeping, RING_CONTROL_OFFSETS.producerSleeping, RING_HEADER_BYTES]
    .map(offset => Math.floor(offset / 64))
  t.equal(new Set([...lines, Math.floor(RING_CONTROL_OFFSETS.magic / 64)]).size, lines.length + 1)
  t.equal(RING_HEADER_BYTES % 64, 0, 'the data area starts on a line boundary')
})

t.test('frames - every payload length 0..300 round-trips, one per commit and all in one batch', async t => {
  const { producer, consumer } = pair(16384)
  let failures = 0
  for (let len = 0; len <= 300; len++) {
    const offset = producer.reserve(len)
    fill(producer.bytes, offset, len, len)
    if (consumer.readable()) failures++ // nothing is visible before commit()
    producer.commit()
    if (consumer.next() !== len || consumer.frameOffset !== offset ||
        !matches(consumer.bytes, consumer.frameOffset, len, len)) failures++
    consumer.release()
    consumer.publishTail()
  }
  t.equal(failures, 0, 'one frame per commit')

  // A batch larger than the ring: produce until full, drain, continue.
  let written = 0
  let read = 0
  while (read <= 300) {
    while (written <= 300) {
      const offset = producer.reserve(written)
      if (offset < 0) break
      fill(producer.bytes, offset, written, written + 1000)
      written++
    }
    producer.commit()
    for (let len; (len = consumer.next()) >= 0; read++) {
      if (len !== read || !matches(consumer.bytes, consumer.frameOffset, len, read + 1000)) failures++
      consumer.release()
    }
    consumer.publishTail()
  }
  t.equal(failures, 0, 'batched')
  t.equal(producer.freeBytes(), producer.capacityBytes, 'empty again')
})

t.test('reserve - a frame stays invisible until commit', async t => {
  const { producer, consumer } = pair()
  producer.reserve(10)
  producer.reserve(0)
  t.equal(consumer.readable(), false)
  t.equal(consumer.next(), -1)
  producer.commit()
  t.equal(consumer.readable(), true)
  t.equal(consumer.next(), 10)
  t.equal(consumer.next(), 10, 'next() without release() returns the same frame')
  consumer.release()
  t.equal(consumer.next(), 0)
  consumer.release()
  t.equal(consumer.next(), -1)
  t.throws(() => consumer.release(), RangeError, 'release() without a frame is misuse')
})

t.test('wrap - a frame that does not fit before the end wraps to 0, from every 8-byte start', async t => {
  const { producer, consumer } = pair()
  const lengths = [...Array.from({ length: 17 }, (_, i) => i), 60, 100, 500, 1000, 2000, MAX_PAYLOAD_BYTES]
  let position = 0
  let failures = 0
  let wraps = 0
  for (const len of lengths) {
    for (let start = 0; start < CAPACITY_BYTES; start += 8) {
      moveTo(producer, consumer, position, start)
      const fits = frameBytes(len) <= CAPACITY_BYTES - start
      const expectedOffset = fits ? start + FRAME_HEADER_BYTES : FRAME_HEADER_BYTES
      if (!fits) wraps++
      const first = producer.reserve(len)
      fill(producer.bytes, first, len, start)
      // A second frame checks that framing continues right after a wrapped frame.
      const second = producer.reserve(3)
      fill(producer.bytes, second, 3, start + 1)
      producer.commit()
      if (first !== expectedOffset) failures++
      if (consumer.next() !== len || consumer.frameOffset !== first ||
          !matches(consumer.bytes, first, len, start)) failures++
      consumer.release()
      if (consumer.next() !== 3 || consumer.frameOffset !== second ||
          !matches(consumer.bytes, second, 3, start + 1)) failures++
      consumer.release()
      if (consumer.next() !== -1) failures++
      consumer.publishTail()
      if (producer.freeBytes() !== CAPACITY_BYTES) failures++
      position = (second - FRAME_HEADER_BYTES + frameBytes(3)) % CAPACITY_BYTES
    }
  }
  t.equal(failures, 0, `${lengths.length * CAPACITY_BYTES / 8} start/length pairs`)
  t.ok(wraps > 0, `${wraps} of them wrapped`)
})

t.test('full ring - reserve returns -1, and succeeds again only after release and publishTail', async t => {
  const { producer, consumer } = pair()
  t.equal(producer.reserve(56), FRAME_HEADER_BYTES) // a 64-byte frame, then 104-byte frames
  let frames = 1
  while (producer.reserve(100) >= 0) frames++
  const used = 64 + (frames - 1) * 104
  t.equal(used, 4016, '39 frames; 80 bytes left at the end, too few for one more')
  t.equal(producer.freeBytes(), CAPACITY_BYTES - used)
  t.equal(producer.reserve(100), -1, 'still full')
  producer.commit()
  t.equal(consumer.next(), 56)
  consumer.release()
  t.equal(producer.reserve(100), -1, 'released but not published: still full')
  consumer.publishTail()
  t.equal(producer.freeBytes(), 144, 'enough bytes in total for a 104-byte frame...')
  t.equal(producer.reserve(100), -1, '...but a frame never wraps: it needs the 80-byte end plus 104 at 0')
  t.equal(consumer.next(), 100)
  consumer.release()
  consumer.publishTail()
  t.equal(producer.reserve(100), FRAME_HEADER_BYTES, 'wraps to 0 once there is room')
  producer.commit()
  for (let i = 0; i < frames - 2; i++) { consumer.next(); consumer.release() }
  t.equal(consumer.next(), 100)
  t.equal(consumer.frameOffset, FRAME_HEADER_BYTES, 'the consumer follows the wrap marker')
  consumer.release()
  t.equal(consumer.next(), -1)
  consumer.publishTail()
  t.equal(producer.freeBytes(), CAPACITY_BYTES)
})

t.test('too large - reserve throws RING_FRAME_TOO_LARGE above capacity/2 - 8', async t => {
  const { producer } = pair()
  t.throws(() => producer.reserve(MAX_PAYLOAD_BYTES + 1), {
    code: 'RING_FRAME_TOO_LARGE',
    name: 'RingFrameTooLargeError',
    message: `payloadBytes must be at most 2040 for a 4096-byte ring; received 2041`
  })
  t.throws(() => producer.reserve(2 ** 40), { code: 'RING_FRAME_TOO_LARGE' })
  t.throws(() => producer.waitWritableAsync(MAX_PAYLOAD_BYTES + 1, 10), { code: 'RING_FRAME_TOO_LARGE' },
    'a wait for a frame that can never fit is refused too')
  t.throws(() => producer.reserve(-1), RangeError)
  t.throws(() => producer.reserve(1.5), RangeError)
  t.throws(() => producer.reserve(Number.NaN), RangeError)
  t.equal(producer.reserve(MAX_PAYLOAD_BYTES), FRAME_HEADER_BYTES, 'the largest frame fits an empty ring')
  producer.commit()
})

t.test('next - a corrupt length prefix throws SLAB_CORRUPT instead of reading out of bounds', async t => {
  const { producer, consumer } = pair()
  const offset = producer.reserve(4)
  producer.bytes.set([0xff, 0xff, 0xff, 0x7f], offset - FRAME_HEADER_BYTES)
  producer.commit()
  t.throws(() => consumer.next(), {
    code: 'SLAB_CORRUPT',
    message: 'ring frame at data offset 0 has length 2147483647; lengths must be 0 to 2040'
  })
})

t.test('attach - validates the magic word, version, capacity and size', async t => {
  const { producer, consumer } = pair()
  fill(producer.bytes, producer.reserve(5), 5, 7)
  producer.commit()
  t.equal(consumer.next(), 5, 'an attached ring sees the creator\'s frames')
  t.ok(matches(consumer.bytes, consumer.frameOffset, 5, 7))

  const words = new Int32Array(producer.sab, 0, RING_HEADER_BYTES / 4)
  words[RING_CONTROL_OFFSETS.magic / 4] = 0x12345678
  t.throws(() => SpscRing.attach(producer.sab), {
    code: 'CONFIG_INVALID',
    name: 'ConfigError',
    message: 'sab is not an SpscRing: magic must be 0x53524e47; received 0x12345678'
  })
  t.throws(() => SpscRing.attach(new SharedArrayBuffer(RING_HEADER_BYTES + 4096)), { code: 'CONFIG_INVALID' },
    'a zeroed buffer has no magic')
  const other = SpscRing.create(4096)
  new Int32Array(other.sab)[RING_CONTROL_OFFSETS.version / 4] = 2
  t.throws(() => SpscRing.attach(other.sab), { code: 'CONFIG_INVALID', message: /version must be 1; received 2/ })
  const resized = SpscRing.create(8192)
  new Int32Array(resized.sab)[RING_CONTROL_OFFSETS.capacityBytes / 4] = 4096
  t.throws(() => SpscRing.attach(resized.sab), { code: 'CONFIG_INVALID', message: /capacity word 4096/ })
  t.throws(() => SpscRing.attach(new SharedArrayBuffer(64)), { code: 'CONFIG_INVALID', message: /at least/ })
  t.throws(() => SpscRing.attach(new ArrayBuffer(8192) as unknown as SharedArrayBuffer),
    { code: 'CONFIG_INVALID', message: /must be a SharedArrayBuffer/ })
})

t.test('reset - empties the ring and a newly attached side starts over', async t => {
  const { producer, consumer } = pair()
  for (let i = 0; i < 40; i++) producer.reserve(50)
  producer.commit()
  producer.reserve(7) // reserved, never committed: dropped by reset
  consumer.next()
  consumer.release()
  consumer.publishTail()
  consumer.next() // the consumer "dies" holding a frame

  producer.reset()
  t.equal(producer.freeBytes(), CAPACITY_BYTES)
  const replacement = SpscRing.attach(producer.sab)
  t.equal(replacement.readable(), false, 'the replacement consumer sees an empty ring')
  t.equal(replacement.next(), -1)
  const offset = producer.reserve(9)
  t.equal(offset, FRAME_HEADER_BYTES, 'frames start again at 0')
  fill(producer.bytes, offset, 9, 99)
  producer.commit()
  t.equal(replacement.next(), 9)
  t.ok(matches(replacement.bytes, replacement.frameOffset, 9, 99))
  replacement.release()
  replacement.publishTail()
  t.equal(producer.freeBytes(), CAPACITY_BYTES)

  replacement.reset()
  t.equal(replacement.next(), -1, 'reset() also rewinds the consumer half of the caller')
})

/**
 * Random operations on both halves against a model that predicts every offset, length and
 * free-byte count, starting with HEAD = TAIL = startIndex (so the indices can wrap).
 */
function runModel (seed: number, startIndex: number, operations: number): { frames: number, divergence: string | null } {
  const created = SpscRing.create(CAPACITY_BYTES)
  const words = new Int32Array(created.sab, 0, RING_HEADER_BYTES / 4)
  words[RING_CONTROL_OFFSETS.head / 4] = startIndex | 0
  words[RING_CONTROL_OFFSETS.tail / 4] = startIndex | 0
  const producer = SpscRing.attach(created.sab)
  const consumer = SpscRing.attach(created.sab)
  const random = xorshift32(seed)
  // Model indices are exact integers (no wrap); positions are index % capacity, which matches
  // the ring's `index & mask` because the capacity divides 2^32.
  let head = startIndex // reserved
  let committedHead = startIndex
  let tail = startIndex // released
  let publishedTail = startIndex
  const frames: Array<{ seq: number, len: number, offset: number, start: number, end: number }> = []
  let committedFrames = 0
  let readFrames = 0
  let seq = 0
  let divergence: string | null = null
  const fail = (what: string): void => { divergence ??= what }
  for (let op = 0; op < operations && divergence === null; op++) {
    const choice = random() % 100
    if (choice < 45) {
      const len = random() % 100 < 5 ? random() % (MAX_PAYLOAD_BYTES + 1) : random() % 200
      const position = head % CAPACITY_BYTES
      const size = frameBytes(len)
      const waste = size > CAPACITY_BYTES - position ? CAPACITY_BYTES - position : 0
      const free = CAPACITY_BYTES - (head - publishedTail)
      const expected = waste + size > free ? -1 : (waste > 0 ? 0 : position) + FRAME_HEADER_BYTES
      const offset = producer.reserve(len)
      if (offset !== expected) fail(`op ${op}: reserve(${len}) = ${offset}, expected ${expected}`)
      if (offset >= 0) {
        fill(producer.bytes, offset, len, seq)
        head += waste + size
        frames.push({ seq: seq++, len, offset, start: head - size, end: head })
      }
    } else if (choice < 60) {
      producer.commit()
      committedHead = head
      committedFrames = frames.length
    } else if (choice < 90) {
      const len = consumer.next()
      if (readFrames === committedFrames) {
        if (len !== -1) fail(`op ${op}: next() = ${len} on an empty ring`)
      } else {
        const frame = frames[readFrames]!
        if (len !== frame.len || consumer.frameOffset !== frame.offset ||
            !matches(consumer.bytes, consumer.frameOffset, len, frame.seq)) {
          fail(`op ${op}: frame ${frame.seq} read as length ${len} at ${consumer.frameOffset}`)
        }
        tail = frame.start // reading a wrapped frame already skipped its marker's waste
        if (random() % 4 !== 0) {
          consumer.release()
          tail = frame.end
          readFrames++
          if (tail - publishedTail >= CAPACITY_BYTES / 4) publishedTail = tail // release() auto-publishes
        }
      }
    } else if (choice < 97) {
      consumer.publishTail()
      publishedTail = tail
    } else {
      const free = producer.freeBytes()
      if (free !== CAPACITY_BYTES - (head - publishedTail)) fail(`op ${op}: freeBytes() = ${free}`)
    }
    if (consumer.readable() !== (readFrames < committedFrames)) fail(`op ${op}: readable() disagrees`)
  }
  if (committedHead < startIndex) fail('the committed head went backwards')
  return { frames: seq, divergence }
}

t.test('random operations - the consumer sees exactly the committed frames, in order', async t => {
  const { frames, divergence } = runModel(0x2545f491, 0, 200_000)
  t.equal(divergence, null, `200000 operations on ${frames} frames match the model`)
})

t.test('indices - HEAD and TAIL wrap past 2^31 and 2^32 without losing a frame', async t => {
  for (const startIndex of [2 ** 31 - 1000, 2 ** 32 - 1000]) {
    const { frames, divergence } = runModel(startIndex, startIndex, 50_000)
    t.equal(divergence, null, `${frames} frames from index ${startIndex} match the model`)
  }
})

t.test('commit - notifies only a sleeping consumer, once per batch', async t => {
  const { producer, consumer } = pair()
  const realNotify = Atomics.notify
  let notifies = 0
  Atomics.notify = (array, index, count) => { notifies++; return realNotify(array as Int32Array, index, count) }
  t.teardown(() => { Atomics.notify = realNotify })

  producer.reserve(1)
  producer.commit()
  t.equal(notifies, 0, 'an awake consumer is not notified')
  consumer.next()
  consumer.release()

  const waiting = consumer.waitReadableAsync(30_000)
  for (let i = 0; i < 50; i++) producer.reserve(16)
  producer.commit()
  producer.commit()
  t.equal(notifies, 1, 'one notify for a batch of 50 frames; an empty commit does nothing')
  t.equal(await keepAlive(waiting), 'ok')
  let frames = 0
  while (consumer.next() >= 0) { consumer.release(); frames++ }
  t.equal(frames, 50)
  consumer.publishTail()
  t.equal(notifies, 1, 'publishTail does not notify an awake producer')

  producer.reserve(1)
  producer.commit()
  t.equal(notifies, 1, 'the consumer cleared its flag when it woke')
})

t.test('waitReadable - returns at once when readable, times out when not', async t => {
  const { producer, consumer } = pair()
  t.equal(consumer.waitReadable(0), 'timed-out')
  t.equal(consumer.waitReadable(5), 'timed-out')
  t.equal(await keepAlive(consumer.waitReadableAsync(5)), 'timed-out')
  t.equal(await consumer.waitReadableAsync(0), 'timed-out')
  producer.reserve(0)
  producer.commit()
  t.equal(consumer.waitReadable(0), 'ok')
  t.equal(await consumer.waitReadableAsync(1000), 'ok')
  t.throws(() => consumer.waitReadable(-1), RangeError)
  t.throws(() => consumer.waitReadableAsync(Number.NaN), RangeError)
})

t.test('waitReadable - publishes released frames before sleeping so a full producer can go on', async t => {
  const { producer, consumer } = pair()
  for (let i = 0; i < 9; i++) producer.reserve(100)
  producer.commit()
  while (consumer.next() >= 0) consumer.release()
  t.equal(producer.freeBytes(), CAPACITY_BYTES - 9 * 104, 'released but not yet published')
  t.equal(consumer.waitReadable(0), 'timed-out')
  t.equal(producer.freeBytes(), CAPACITY_BYTES, 'the wait published the tail')
})

t.test('release - publishes the tail by itself once a quarter of the ring is released', async t => {
  const { producer, consumer } = pair()
  for (let i = 0; i < 20; i++) producer.reserve(100)
  producer.commit()
  for (let i = 0; i < 9; i++) { consumer.next(); consumer.release() }
  t.equal(producer.freeBytes(), CAPACITY_BYTES - 20 * 104, '936 bytes released: not yet')
  consumer.next()
  consumer.release()
  t.equal(producer.freeBytes(), CAPACITY_BYTES - 10 * 104, '1040 bytes >= 1024: published')
})

t.test('waitWritableAsync - commits pending frames and resolves when the consumer publishes room', async t => {
  const { producer, consumer } = pair()
  let frames = 0
  while (producer.reserve(500) >= 0) frames++
  t.equal(await producer.waitWritableAsync(0, 0), 'ok', 'an 8-byte frame still fits')
  t.equal(producer.waitWritable(500, 0), 'timed-out')
  t.equal(consumer.next(), 500, 'the wait committed the reserved frames')
  consumer.release()
  t.equal(await keepAlive(producer.waitWritableAsync(500, 5)), 'timed-out', 'not published yet')

  const waiting = producer.waitWritableAsync(500, 30_000)
  let settled = false
  void waiting.then(() => { settled = true })
  await new Promise(resolve => setImmediate(resolve))
  t.equal(settled, false, 'still waiting for room')
  consumer.next()
  consumer.release()
  consumer.publishTail()
  t.equal(await keepAlive(waiting), 'ok')
  t.ok(producer.reserve(500) >= 0)
  t.equal(frames, Math.floor(CAPACITY_BYTES / frameBytes(500)))
  t.throws(() => producer.waitWritable(1, -1), RangeError)
})
