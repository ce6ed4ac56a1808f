// Two-thread tests of SpscRing with a real worker_threads Worker (test/fixtures/ring-echo-worker.mjs,
// which runs the built dist/ring/spsc-ring.js). The main thread produces seeded random frames in
// batches and verifies every reply; the worker verifies every request. Synchronisation is only
// by the ring's own Atomics waits (and one Atomics gate); timeouts only turn a hang into a failure.
import t from 'tap'
import { existsSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { SpscRing } from '../../src/ring/spsc-ring.js'

const WORKER_URL = new URL('../fixtures/ring-echo-worker.mjs', import.meta.url)
const BUILT_RING_URL = new URL('../../dist/ring/spsc-ring.js', import.meta.url)
/** Turns a hang into a failure; never the synchronisation mechanism. */
const WAIT_MS = 60_000
const MAX_PAYLOAD_BYTES = 2000
const REPLY_BYTES = 16

function xorshift32 (seed: number): () => number {
  let x = seed | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

interface WorkerOptions { mode: 'verify' | 'echo', frameCount?: number, gateSab?: SharedArrayBuffer }

/** Starts the fixture worker; `exited` rejects if it throws or exits non-zero. */
function startWorker (requests: SpscRing, replies: SpscRing, options: WorkerOptions): { worker: Worker, exited: Promise<void> } {
  const worker = new Worker(WORKER_URL, {
    // The fixture is plain JS over dist/: it needs none of the test runner's loaders.
    execArgv: [],
    workerData: { requestSab: requests.sab, replySab: replies.sab, ...options }
  })
  const exited = new Promise<void>((resolve, reject) => {
    worker.once('error', reject)
    worker.once('exit', code => { code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`)) })
  })
  return { worker, exited }
}

interface StressResult { frames: number, payloadBytes: number, elapsedMs: number, firstError: string | null, waits: number }

/**
 * Contents of frame `seq` (the fixture checks the same formula): 32-bit words
 * `base + j * WORD_STEP` with `base = seq * 0x9e3779b1` (distinct for every seq mod 2^32), then
 * the last `length & 3` bytes are the low bytes of `base ^ 0x5a5a5a5a`. Payloads start 4 bytes
 * into an 8-aligned frame, so they are word-aligned and can be written as Int32s: a quarter
 * of the work of a byte loop, which keeps 2 GB of payload inside the time budget. The reply's
 * checksum is the sum mod 2^32 of the words and tail bytes the worker read; the worker also
 * compares every word and byte with the pattern and reports the mismatches.
 */
const WORD_STEP = 0x85ebca6b | 0

/**
 * Sends `frameCount` frames of seeded random lengths 0..2000 in random batches of 1..64 (one
 * commit per batch) and checks that reply n carries seq n, the length and checksum of frame n,
 * and no mismatch seen by the worker. Lengths come from their own generator, so the frames do
 * not depend on thread timing.
 */
async function stress (requestCapacityBytes: number, replyCapacityBytes: number, frameCount: number, seed: number): Promise<StressResult> {
  const requests = SpscRing.create(requestCapacityBytes)
  const replies = SpscRing.create(replyCapacityBytes)
  const { worker, exited } = startWorker(requests, replies, { mode: 'verify', frameCount })
  const exitedOrFailed = exited.then(() => null, (error: unknown) => error)
  const randomLength = xorshift32(seed)
  const randomBatch = xorshift32(seed ^ 0x3c6ef372)
  const expectedLength = new Uint16Array(frameCount)
  const expectedChecksum = new Uint32Array(frameCount)
  const requestBytes = requests.bytes
  const requestWords = new Int32Array(requestBytes.buffer, requestBytes.byteOffset, requestBytes.byteLength / 4)
  const replyView = new DataView(replies.bytes.buffer, replies.bytes.byteOffset, replies.bytes.byteLength)
  let sent = 0
  let received = 0
  let payloadBytesSent = 0
  let pendingLength = randomLength() % (MAX_PAYLOAD_BYTES + 1)
  let firstError: string | null = null
  let waits = 0
  const startMs = performance.now()
  try {
    while (received < frameCount && firstError === null) {
      // Produce one batch: as many frames as fit, up to its random size, then one commit.
      let batch = 1 + randomBatch() % 64
      let produced = 0
      while (batch-- > 0 && sent < frameCount) {
        const offset = requests.reserve(pendingLength)
        if (offset < 0) break // full: the pending length is kept for the retry
        const base = Math.imul(sent, 0x9e3779b1)
        const wordCount = pendingLength >> 2
        const firstWord = offset >> 2
        for (let j = firstWord, word = base; j < firstWord + wordCount; j++, word = (word + WORD_STEP) | 0) {
          requestWords[j] = word
        }
        // The words form an arithmetic series, so their sum (the checksum) has a closed form.
        let checksum = (Math.imul(wordCount, base) + Math.imul(WORD_STEP, wordCount * (wordCount - 1) / 2)) | 0
        for (let i = pendingLength & ~3, last = base ^ 0x5a5a5a5a; i < pendingLength; i++, last >>>= 8) {
          requestBytes[offset + i] = last & 0xff
          checksum = (checksum + (last & 0xff)) | 0
        }
        expectedLength[sent] = pendingLength
        expectedChecksum[sent] = checksum >>> 0
        payloadBytesSent += pendingLength
        sent++
        produced++
        pendingLength = randomLength() % (MAX_PAYLOAD_BYTES + 1)
      }
      if (produced > 0) requests.commit()

      // Drain replies.
      let consumed = 0
      for (let length; (length = replies.next()) >= 0; consumed++) {
        const at = replies.frameOffset
        const seq = replyView.getUint32(at, true)
        if (length !== REPLY_BYTES || seq !== received ||
            replyView.getUint32(at + 4, true) !== expectedLength[received] ||
            replyView.getUint32(at + 8, true) !== expectedChecksum[received] ||
            replyView.getUint32(at + 12, true) !== 0) {
          firstError = `reply ${received}: length ${length}, seq ${seq}, payload length ` +
            `${replyView.getUint32(at + 4, true)} (expected ${expectedLength[received]}), checksum ` +
            `${replyView.getUint32(at + 8, true)} (expected ${expectedChecksum[received]}), ` +
            `${replyView.getUint32(at + 12, true)} mismatches seen by the worker`
          break
        }
        replies.release()
        received++
      }
      if (consumed > 0) replies.publishTail()

      // No progress on either ring. If frames are unanswered, the worker holds them and a reply
      // must come (it publishes its replies before it sleeps): wait for it. If all are answered,
      // the request ring is only full until the worker's tail store reaches us: wait for room.
      if (produced === 0 && consumed === 0 && firstError === null) {
        waits++
        const woke = await Promise.race([sent > received
          ? replies.waitReadableAsync(WAIT_MS)
          : requests.waitWritableAsync(pendingLength, WAIT_MS), exitedOrFailed])
        if (woke !== 'ok') firstError = `stalled after reply ${received}: ${String(woke)}`
      }
    }
    const elapsedMs = performance.now() - startMs
    if (firstError === null) await exited
    return { frames: received, payloadBytes: payloadBytesSent, elapsedMs, firstError, waits }
  } finally {
    await worker.terminate()
  }
}

t.before(() => {
  if (!existsSync(BUILT_RING_URL)) throw new Error('dist/ring/spsc-ring.js is missing: run `npm run build` first')
})

t.test('stress - 2,000,000 random frames through 64 KiB rings arrive in order and intact', { timeout: 120_000 }, async t => {
  const frameCount = 2_000_000
  const result = await stress(64 * 1024, 64 * 1024, frameCount, 0x9e3779b9)
  t.equal(result.firstError, null, 'every reply matches its frame (no loss, duplication, reordering or corruption)')
  t.equal(result.frames, frameCount)
  t.comment(`${frameCount} frames (${(result.payloadBytes / 2 ** 20).toFixed(0)} MiB of payload) in ` +
    `${result.elapsedMs.toFixed(0)} ms: ${Math.round(frameCount / result.elapsedMs * 1000)} frames/s, ` +
    `${result.waits} sleeps`)
})

t.test('stress - 100,000 random frames through 4 KiB rings (wrapping and full almost always)', { timeout: 60_000 }, async t => {
  const frameCount = 100_000
  const result = await stress(4096, 4096, frameCount, 12345)
  t.equal(result.firstError, null, 'every reply matches its frame')
  t.equal(result.frames, frameCount)
  t.comment(`${frameCount} frames in ${result.elapsedMs.toFixed(0)} ms: ` +
    `${Math.round(frameCount / result.elapsedMs * 1000)} frames/s, ${result.waits} sleeps`)
})

t.test('waitWritableAsync - a producer blocked on a full ring resumes when the worker drains it', { timeout: 30_000 }, async t => {
  const requests = SpscRing.create(4096)
  const replies = SpscRing.create(16384)
  const gateSab = new SharedArrayBuffer(4)
  const gate = new Int32Array(gateSab)
  const { worker, exited } = startWorker(requests, replies, { mode: 'echo', gateSab })
  t.teardown(() => worker.terminate())

  const PAYLOAD_BYTES = 32
  let frames = 0
  const fillFrame = (offset: number, seq: number): void => {
    for (let i = 0; i < PAYLOAD_BYTES; i++) requests.bytes[offset + i] = (seq * 7 + i) & 0xff
  }
  for (let offset; (offset = requests.reserve(PAYLOAD_BYTES)) >= 0; frames++) fillFrame(offset, frames)
  t.equal(frames, Math.floor(4096 / 40), 'the ring is full')

  const waiting = requests.waitWritableAsync(PAYLOAD_BYTES, WAIT_MS)
  let settled = false
  void waiting.then(() => { settled = true })
  // The worker is held at the gate, so nothing can free space: the promise must still pend.
  await new Promise(resolve => setImmediate(resolve))
  t.equal(settled, false, 'the producer is parked on the full ring')

  // SC store + notify: opens the gate; the worker drains, publishes its tail and wakes us.
  Atomics.store(gate, 0, 1)
  Atomics.notify(gate, 0)
  t.equal(await waiting, 'ok', 'woken by the consumer\'s publishTail')
  const offset = requests.reserve(PAYLOAD_BYTES)
  t.ok(offset >= 0, 'reserve succeeds after the wake-up')
  fillFrame(offset, frames++)
  requests.commit()

  let echoed = 0
  let corrupt = 0
  while (echoed < frames) {
    const length = replies.next()
    if (length < 0) {
      t.equal(await replies.waitReadableAsync(WAIT_MS), 'ok')
      continue
    }
    for (let i = 0; i < length; i++) if (replies.bytes[replies.frameOffset + i] !== ((echoed * 7 + i) & 0xff)) corrupt++
    if (length !== PAYLOAD_BYTES) corrupt++
    replies.release()
    echoed++
  }
  replies.publishTail()
  t.equal(corrupt, 0, `all ${frames} frames echoed intact and in order`)

  requests.reserve(0) // stop
  requests.commit()
  await exited
})
