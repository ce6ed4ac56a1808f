/**
 * SpscRing: a single-producer single-consumer byte ring in a SharedArrayBuffer that carries
 * length-prefixed frames between the main thread and one shard worker (one ring per direction).
 * Threads: both. The producer half (reserve/commit/freeBytes/waitWritable*) runs on one thread,
 * the consumer half (readable/next/release/publishTail/waitReadable*) on the other; each thread
 * holds its own SpscRing object over the same `sab` (create() on one side, attach() on the other).
 * Owns: the ring's control words and data area, not the payload format (callers own that).
 * Invariant: 0 <= head - tail <= capacityBytes (mod 2^32); [tail, head) holds only committed,
 * unreleased frames and no frame crosses the end of the data area. Nothing allocates per frame,
 * and commit() does at most one Atomics.notify per batch.
 */
import { ConfigError, SlabcacheError } from '../errors.js'

/*
 * Layout of the SharedArrayBuffer (byte offsets). Each word written at run time sits alone on
 * its own 64-byte cache line: false sharing made a store 4x slower on these machines (DESIGN §4).
 *
 *   offset  size  word                written by        read by
 *   ------  ----  ------------------  ----------------  -------------------
 *        0     4  MAGIC               create()          attach()
 *        4     4  VERSION             create()          attach()
 *        8     4  CAPACITY_BYTES      create()          attach()
 *       64     4  HEAD                producer commit   consumer
 *      128     4  TAIL                consumer publish  producer
 *      192     4  CONSUMER_SLEEPING   consumer          producer commit
 *      256     4  PRODUCER_SLEEPING   producer          consumer publishTail
 *      320     C  data area (C = capacityBytes, a power of two), `bytes` views it
 *
 * HEAD and TAIL are byte counts since the ring was created (or reset), kept as one Int32 each
 * and allowed to wrap past 2^31 and 2^32: all arithmetic on them is `(a - b) | 0`, which is
 * exact because C <= 2^30, so the number of used bytes (0..C) never reaches 2^31. The data-area
 * position of an index is `index & (C - 1)`, still exact after wrapping because C divides 2^32.
 *
 * Frame at position p (p is always a multiple of 8):
 *
 *   p        p+4                 p+4+len          p + frameBytes(len)
 *   │ len u32 LE │ payload (len bytes) │ padding │      frameBytes(len) = (4 + len + 7) & ~7
 *
 * A frame never wraps. When it does not fit between p and C, the producer writes WRAP_MARKER
 * as the length at p, the bytes p..C are skipped, and the frame goes at 0 (it is committed in
 * the same commit() as its marker, so a consumer never sees a marker without a frame after it).
 * MAX payload = C/2 - 8 makes frameBytes <= C/2, so any legal frame fits in an empty ring at
 * any position (either p >= C/2 leaves room at 0, or C - p > C/2 leaves room before the end).
 */

/** 'SRNG': marks a SharedArrayBuffer laid out by SpscRing. */
export const RING_MAGIC = 0x53524e47
/** Bumped when the layout above changes; attach() refuses other versions. */
export const RING_LAYOUT_VERSION = 1
/** Smallest allowed data area. */
export const RING_MIN_CAPACITY_BYTES = 4096
/** Largest allowed data area: keeps head - tail below 2^31 (see the table above). */
export const RING_MAX_CAPACITY_BYTES = 2 ** 30
/** Bytes before the data area: five 64-byte lines. */
export const RING_HEADER_BYTES = 320
/** The length prefix of every frame. */
export const FRAME_HEADER_BYTES = 4
/** Frames start and end on this boundary. */
export const FRAME_ALIGN_BYTES = 8
/** Length value that means "skip to offset 0". Never a legal length (lengths are < 2^30). */
const WRAP_MARKER = -1

/** Byte offsets of the control words, as in the table above (tests and tools read them). */
export const RING_CONTROL_OFFSETS = {
  magic: 0,
  version: 4,
  capacityBytes: 8,
  head: 64,
  tail: 128,
  consumerSleeping: 192,
  producerSleeping: 256
} as const

// Int32 indices (byte offset / 4) of the control words.
const MAGIC_WORD = RING_CONTROL_OFFSETS.magic / 4
const VERSION_WORD = RING_CONTROL_OFFSETS.version / 4
const CAPACITY_WORD = RING_CONTROL_OFFSETS.capacityBytes / 4
const HEAD_WORD = RING_CONTROL_OFFSETS.head / 4
const TAIL_WORD = RING_CONTROL_OFFSETS.tail / 4
const CONSUMER_SLEEPING_WORD = RING_CONTROL_OFFSETS.consumerSleeping / 4
const PRODUCER_SLEEPING_WORD = RING_CONTROL_OFFSETS.producerSleeping / 4

/** What a wait returns: `'ok'` means the condition holds now. */
export type RingWaitResult = 'ok' | 'timed-out'

// Node 20 has Atomics.waitAsync; the ES2023 lib this project compiles against does not declare it.
type WaitAsync = (control: Int32Array, index: number, value: number, timeoutMs: number) =>
  { async: false, value: 'not-equal' | 'timed-out' } | { async: true, value: Promise<'ok' | 'timed-out'> }
const waitAsync: WaitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync

// Settled promises are reused so that a wait that needs no sleep allocates nothing.
const OK: Promise<RingWaitResult> = Promise.resolve('ok')
const TIMED_OUT: Promise<RingWaitResult> = Promise.resolve('timed-out')

function frameBytesFor (payloadBytes: number): number {
  return (payloadBytes + FRAME_HEADER_BYTES + FRAME_ALIGN_BYTES - 1) & ~(FRAME_ALIGN_BYTES - 1)
}

function isPowerOfTwo (n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0
}

/**
 * A single-producer single-consumer frame ring over a SharedArrayBuffer.
 *
 * Producer call pattern (one thread):
 * ```
 * for each frame of a batch:
 *   off = ring.reserve(len)          // -1: full right now → commit(), then waitWritableAsync(len, ms)
 *   write the payload into ring.bytes[off .. off + len)
 * ring.commit()                      // publishes the whole batch: one store, ≤ 1 notify
 * ```
 * Consumer call pattern (the other thread):
 * ```
 * while ((len = ring.next()) >= 0) {
 *   read ring.bytes[ring.frameOffset .. ring.frameOffset + len)
 *   ring.release()                   // local, except every quarter ring: then it publishes
 * }
 * ring.publishTail()                 // hands the released space back: one store, ≤ 1 notify
 * await ring.waitReadableAsync(ms)   // or waitReadable(ms) in a worker
 * ```
 * A thread that answers on a second ring (a shard worker) ends each batch with publishTail()
 * on the request ring *before* commit() on the reply ring: a peer that has seen reply n then
 * also sees the room freed by request n, and can never wait for a reply to a request it
 * believes is still queued. Before sleeping, each wait publishes its own side (waitReadable*
 * publishes the tail, waitWritable* commits), so the two sides of one ring never both sleep.
 * Payload offsets are 4 (mod 8): Int32Array views over `bytes` can read and write them.
 * At most one wait may be pending per side at a time. Only the wait methods block.
 */
export class SpscRing {
  /** The whole ring (control words and data area); send it to the other thread and attach(). */
  readonly sab: SharedArrayBuffer
  /**
   * The data area. Payloads are written at the offsets reserve() returns and read at
   * `frameOffset`; a payload's bytes belong to the producer from reserve() to commit() and to
   * the consumer from next() to release().
   */
  readonly bytes: Uint8Array
  /** Size of the data area: a power of two from 4 KiB to 1 GiB. */
  readonly capacityBytes: number
  /** Largest payload reserve() accepts: capacityBytes / 2 - 8. */
  readonly maxPayloadBytes: number
  /** Consumer: payload offset in `bytes` of the frame the last next() returned. */
  frameOffset = 0

  readonly #control: Int32Array
  /** Frame length prefixes, read and written little-endian whatever the platform. */
  readonly #frameHeader: DataView
  readonly #positionMask: number
  /** release() publishes the tail by itself once this many bytes are released: capacity / 4. */
  readonly #autoPublishBytes: number

  // Producer half. Only the producer thread touches these.
  /** Head including reserved, uncommitted frames. */
  #head: number
  /** Last value stored to HEAD_WORD. */
  #publishedHead: number
  /** Last TAIL_WORD value loaded; stale is safe (it only understates free space). */
  #tailSeen: number

  // Consumer half. Only the consumer thread touches these.
  /** Tail including released, unpublished frames. */
  #tail: number
  /** Last value stored to TAIL_WORD. */
  #publishedTail: number
  /** Last HEAD_WORD value loaded; stale is safe (it only understates readable bytes). */
  #headSeen: number
  /** Size of the frame next() returned (marker skip excluded); 0 when there is none to release. */
  #frameBytes = 0

  private constructor (sab: SharedArrayBuffer, capacityBytes: number) {
    this.sab = sab
    this.capacityBytes = capacityBytes
    this.maxPayloadBytes = capacityBytes / 2 - FRAME_ALIGN_BYTES
    this.#control = new Int32Array(sab, 0, RING_HEADER_BYTES / 4)
    this.bytes = new Uint8Array(sab, RING_HEADER_BYTES, capacityBytes)
    this.#frameHeader = new DataView(sab, RING_HEADER_BYTES, capacityBytes)
    this.#positionMask = capacityBytes - 1
    this.#autoPublishBytes = capacityBytes / 4
    // SC loads: this object may be created on a thread that has never seen the indices; the
    // SharedArrayBuffer arrived by postMessage/workerData, which already orders create()'s stores
    // before us, and SC loads keep that true for an attach() made later in a ring's life.
    const head = Atomics.load(this.#control, HEAD_WORD)
    const tail = Atomics.load(this.#control, TAIL_WORD)
    this.#head = this.#publishedHead = this.#headSeen = head
    this.#tail = this.#publishedTail = this.#tailSeen = tail
  }

  /**
   * Creates an empty ring. Allocates the SharedArrayBuffer (capacityBytes + 320 bytes).
   * @throws ConfigError unless capacityBytes is a power of two from 4096 to 2^30.
   */
  static create (capacityBytes: number): SpscRing {
    if (!isPowerOfTwo(capacityBytes) || capacityBytes < RING_MIN_CAPACITY_BYTES ||
        capacityBytes > RING_MAX_CAPACITY_BYTES) {
      throw new ConfigError(`capacityBytes must be a power of two from ${RING_MIN_CAPACITY_BYTES} ` +
        `to ${RING_MAX_CAPACITY_BYTES}; received ${String(capacityBytes)}`)
    }
    const sab = new SharedArrayBuffer(RING_HEADER_BYTES + capacityBytes)
    const control = new Int32Array(sab, 0, RING_HEADER_BYTES / 4)
    // Plain-enough ordering: nobody else can see `sab` until we hand it over, and the hand-over
    // (postMessage / workerData) happens-after these stores. SC stores for uniformity.
    Atomics.store(control, CAPACITY_WORD, capacityBytes)
    Atomics.store(control, VERSION_WORD, RING_LAYOUT_VERSION)
    Atomics.store(control, MAGIC_WORD, RING_MAGIC)
    return new SpscRing(sab, capacityBytes)
  }

  /**
   * Opens a ring another thread created. Picks up the current head and tail, so a replacement
   * worker can attach to a live ring (after reset() if the previous side died mid-frame).
   * @throws ConfigError if `sab` is not a SharedArrayBuffer laid out by create() (magic,
   * version, capacity and byte length are checked).
   */
  static attach (sab: SharedArrayBuffer): SpscRing {
    if (!(sab instanceof SharedArrayBuffer)) {
      throw new ConfigError(`sab must be a SharedArrayBuffer from SpscRing.create(); received ${typeof sab}`)
    }
    if (sab.byteLength < RING_HEADER_BYTES + RING_MIN_CAPACITY_BYTES) {
      throw new ConfigError(`sab must be at least ${RING_HEADER_BYTES + RING_MIN_CAPACITY_BYTES} bytes ` +
        `to hold a ring; received ${sab.byteLength}`)
    }
    const control = new Int32Array(sab, 0, RING_HEADER_BYTES / 4)
    // SC loads of words written once by create() before the buffer was shared.
    const magic = Atomics.load(control, MAGIC_WORD)
    if (magic !== RING_MAGIC) {
      throw new ConfigError(`sab is not an SpscRing: magic must be 0x${RING_MAGIC.toString(16)}; ` +
        `received 0x${(magic >>> 0).toString(16)}`)
    }
    const version = Atomics.load(control, VERSION_WORD)
    if (version !== RING_LAYOUT_VERSION) {
      throw new ConfigError(`SpscRing layout version must be ${RING_LAYOUT_VERSION}; received ${version}`)
    }
    const capacityBytes = Atomics.load(control, CAPACITY_WORD)
    if (!isPowerOfTwo(capacityBytes) || sab.byteLength !== RING_HEADER_BYTES + capacityBytes) {
      throw new ConfigError(`SpscRing capacity word ${capacityBytes} does not match a ` +
        `${sab.byteLength}-byte sab`)
    }
    return new SpscRing(sab, capacityBytes)
  }

  // ─── Producer ────────────────────────────────────────────────────────────────────────────

  /**
   * Producer: reserves a frame for `payloadBytes` and writes its length prefix (and, when the
   * frame would cross the end of the data area, a wrap marker). Nothing is visible to the
   * consumer until commit(). Does not allocate or block.
   * @returns the offset in `bytes` where the payload goes, or -1 when there is not enough free
   *   space right now (retry after the consumer releases: see waitWritableAsync).
   * @throws SlabcacheError RING_FRAME_TOO_LARGE if payloadBytes > maxPayloadBytes (it could
   *   never fit); RangeError if payloadBytes is not a non-negative integer.
   */
  reserve (payloadBytes: number): number {
    if ((payloadBytes | 0) !== payloadBytes || payloadBytes < 0 || payloadBytes > this.maxPayloadBytes) {
      this.#rejectPayload(payloadBytes)
    }
    const frameBytes = frameBytesFor(payloadBytes)
    const position = this.#head & this.#positionMask
    const bytesToEnd = this.capacityBytes - position
    const wraps = frameBytes > bytesToEnd
    const neededBytes = wraps ? bytesToEnd + frameBytes : frameBytes
    if (this.capacityBytes - ((this.#head - this.#tailSeen) | 0) < neededBytes) {
      // Acquire: SC load of TAIL. Every read the consumer made of the bytes it released
      // happens-before its SC store of this value, so our writes into them below cannot be
      // observed by those reads.
      this.#tailSeen = Atomics.load(this.#control, TAIL_WORD)
      if (this.capacityBytes - ((this.#head - this.#tailSeen) | 0) < neededBytes) return -1
    }
    let frameStart = position
    if (wraps) {
      // Plain write, published by commit()'s SC store of HEAD together with the frame.
      this.#frameHeader.setInt32(position, WRAP_MARKER, true)
      this.#head = (this.#head + bytesToEnd) | 0
      frameStart = 0
    }
    // Plain write, published by commit().
    this.#frameHeader.setInt32(frameStart, payloadBytes, true)
    this.#head = (this.#head + frameBytes) | 0
    return frameStart + FRAME_HEADER_BYTES
  }

  /**
   * Producer: publishes every frame reserved since the last commit with one Atomics.store, then
   * wakes the consumer with one Atomics.notify only if it flagged itself sleeping. A no-op when
   * nothing was reserved. Does not allocate or block.
   */
  commit (): void {
    if (this.#head === this.#publishedHead) return
    this.#publishedHead = this.#head
    // Release: SC store of HEAD. Every plain write of the batch (payloads, length prefixes, wrap
    // marker) precedes it in program order, so a consumer whose SC load reads this value (or a
    // later one) happens-after them and sees the bytes.
    Atomics.store(this.#control, HEAD_WORD, this.#head)
    // SC load after our SC store: the producer half of the sleep handshake (see
    // #sleepUntilReadable). Reading 0 proves the consumer will see the new HEAD before it sleeps.
    if (Atomics.load(this.#control, CONSUMER_SLEEPING_WORD) !== 0) {
      // Wakes the consumer if it is parked on HEAD; if it is not parked yet, its wait compares
      // HEAD with the value it saw and returns at once, because our store came first.
      Atomics.notify(this.#control, HEAD_WORD)
    }
  }

  /**
   * Producer: bytes not used by frames (committed, reserved or skipped by a wrap marker), with
   * the freshest tail. A frame of n payload bytes needs frameBytes(n) of them, or more when it
   * has to wrap, so use reserve()'s answer, not this, to decide. Does not allocate or block.
   */
  freeBytes (): number {
    // Acquire: SC load of TAIL (same contract as in reserve()).
    this.#tailSeen = Atomics.load(this.#control, TAIL_WORD)
    return this.capacityBytes - ((this.#head - this.#tailSeen) | 0)
  }

  /**
   * Producer, may block the calling thread (Atomics.wait): for a worker, or the main thread only
   * where blocking is acceptable. Commits pending frames first (so the two sides can never both
   * sleep), then waits until reserve(bytesNeeded) would succeed.
   * @param bytesNeeded the payload length of the frame to reserve next (wrap waste is counted).
   * @returns 'ok' when that reserve() will succeed now, 'timed-out' after timeoutMs.
   */
  waitWritable (bytesNeeded: number, timeoutMs: number): RingWaitResult {
    const neededBytes = this.#prepareWritableWait(bytesNeeded, timeoutMs)
    if (neededBytes < 0) return 'ok'
    const deadlineMs = performance.now() + timeoutMs
    // SC store; see #sleepUntilWritable for the handshake.
    Atomics.store(this.#control, PRODUCER_SLEEPING_WORD, 1)
    let result: RingWaitResult
    for (;;) {
      // Acquire: SC load of TAIL, ordered after our flag store.
      const tail = Atomics.load(this.#control, TAIL_WORD)
      if (this.capacityBytes - ((this.#head - tail) | 0) >= neededBytes) {
        this.#tailSeen = tail
        result = 'ok'
        break
      }
      const remainingMs = deadlineMs - performance.now()
      if (remainingMs <= 0) { result = 'timed-out'; break }
      // Returns at once ('not-equal') if TAIL moved since our load; otherwise parks until the
      // consumer's publishTail() notifies, or a stale notify wakes us early (we loop).
      Atomics.wait(this.#control, TAIL_WORD, tail, remainingMs)
    }
    // SC store: only the producer writes its flag, so a late notify can at worst wake a later
    // wait early, never skip one.
    Atomics.store(this.#control, PRODUCER_SLEEPING_WORD, 0)
    return result
  }

  /**
   * Producer, async (Atomics.waitAsync; never blocks the thread): for the main thread after
   * reserve() returned -1. Commits pending frames first, then resolves 'ok' once
   * reserve(bytesNeeded) would succeed, or 'timed-out' after timeoutMs. Allocates a promise
   * only when it has to sleep.
   * Node 20 pitfall: a pending Atomics.waitAsync does not keep the event loop alive; something
   * else (a socket, the Worker, a timer) must, or the process may exit with the promise pending.
   */
  waitWritableAsync (bytesNeeded: number, timeoutMs: number): Promise<RingWaitResult> {
    const neededBytes = this.#prepareWritableWait(bytesNeeded, timeoutMs)
    if (neededBytes < 0) return OK
    return this.#sleepUntilWritable(neededBytes, performance.now() + timeoutMs)
  }

  /** Validates, commits, and returns the bytes reserve() would need, or -1 if it fits now. */
  #prepareWritableWait (bytesNeeded: number, timeoutMs: number): number {
    if ((bytesNeeded | 0) !== bytesNeeded || bytesNeeded < 0 || bytesNeeded > this.maxPayloadBytes) {
      this.#rejectPayload(bytesNeeded)
    }
    if (!(timeoutMs >= 0)) throw new RangeError(`timeoutMs must be a number >= 0; received ${String(timeoutMs)}`)
    this.commit()
    const frameBytes = frameBytesFor(bytesNeeded)
    const bytesToEnd = this.capacityBytes - (this.#head & this.#positionMask)
    const neededBytes = frameBytes > bytesToEnd ? bytesToEnd + frameBytes : frameBytes
    return this.freeBytes() >= neededBytes ? -1 : neededBytes
  }

  #sleepUntilWritable (neededBytes: number, deadlineMs: number): Promise<RingWaitResult> {
    // The sleep handshake, mirror image of #sleepUntilReadable: SC store of our flag, then SC
    // load of TAIL; the consumer does SC store of TAIL, then SC load of our flag.
    Atomics.store(this.#control, PRODUCER_SLEEPING_WORD, 1)
    const tail = Atomics.load(this.#control, TAIL_WORD)
    if (this.capacityBytes - ((this.#head - tail) | 0) >= neededBytes) {
      this.#tailSeen = tail
      // SC store; only the producer writes its flag.
      Atomics.store(this.#control, PRODUCER_SLEEPING_WORD, 0)
      return OK
    }
    const remainingMs = deadlineMs - performance.now()
    const waiter = remainingMs > 0 ? waitAsync(this.#control, TAIL_WORD, tail, remainingMs) : null
    if (waiter === null || (!waiter.async && waiter.value === 'timed-out')) {
      Atomics.store(this.#control, PRODUCER_SLEEPING_WORD, 0)
      return TIMED_OUT
    }
    // 'not-equal' (TAIL moved since our load) or a wake-up: re-check from the top.
    if (!waiter.async) return this.#sleepUntilWritable(neededBytes, deadlineMs)
    return waiter.value.then(() => this.#sleepUntilWritable(neededBytes, deadlineMs))
  }

  // ─── Consumer ────────────────────────────────────────────────────────────────────────────

  /**
   * Consumer: true when next() would return a frame. Loads HEAD only when the frames already
   * seen are used up. Does not allocate or block.
   */
  readable (): boolean {
    if (this.#tail !== this.#headSeen) return true
    // Acquire: SC load of HEAD; the frames below it are visible to our plain reads (see commit()).
    this.#headSeen = Atomics.load(this.#control, HEAD_WORD)
    return this.#tail !== this.#headSeen
  }

  /**
   * Consumer: the next committed frame, without consuming it (calling next() again before
   * release() returns the same frame). Does not allocate or block.
   * @returns the payload length (>= 0) with the payload at `bytes[frameOffset ..]`, or -1 when
   *   the ring is empty.
   * @throws SlabcacheError SLAB_CORRUPT if a length prefix is out of range (the shared memory
   *   was overwritten: a broken invariant, not a recoverable condition).
   */
  next (): number {
    if (this.#tail === this.#headSeen) {
      // Acquire: SC load of HEAD. The producer's SC store of this value follows all its plain
      // writes of the frames below it, so our plain reads of those frames see them.
      this.#headSeen = Atomics.load(this.#control, HEAD_WORD)
      if (this.#tail === this.#headSeen) return -1
    }
    let position = this.#tail & this.#positionMask
    let payloadBytes = this.#frameHeader.getInt32(position, true)
    if (payloadBytes === WRAP_MARKER) {
      // Skipping the marker is local and idempotent; the real frame at 0 was committed with it.
      this.#tail = (this.#tail + this.capacityBytes - position) | 0
      position = 0
      payloadBytes = this.#frameHeader.getInt32(0, true)
    }
    if (payloadBytes < 0 || payloadBytes > this.maxPayloadBytes) this.#corrupt(position, payloadBytes)
    this.frameOffset = position + FRAME_HEADER_BYTES
    this.#frameBytes = frameBytesFor(payloadBytes)
    return payloadBytes
  }

  /**
   * Consumer: frees the frame the last next() returned, locally: the producer sees the space
   * after publishTail(), which release() also calls by itself once a quarter of the ring is
   * released but unpublished. Do not read the frame's bytes afterwards. Does not allocate or
   * block.
   * @throws RangeError if there is no frame to release.
   */
  release (): void {
    if (this.#frameBytes === 0) throw new RangeError('release() must follow a next() that returned a frame')
    this.#tail = (this.#tail + this.#frameBytes) | 0
    this.#frameBytes = 0
    // Without this, a consumer that publishes only at the end of a long batch makes the threads
    // take turns: the producer, finding the ring full, waits for the whole ring to drain, then
    // the consumer waits for the refill. A quarter ring keeps both busy for one store per quarter.
    if (((this.#tail - this.#publishedTail) | 0) >= this.#autoPublishBytes) this.publishTail()
  }

  /**
   * Consumer: hands every released frame back to the producer with one Atomics.store, then
   * wakes the producer with one Atomics.notify only if it flagged itself sleeping. Call it after
   * each batch; a no-op when nothing was released. Does not allocate or block.
   */
  publishTail (): void {
    if (this.#tail === this.#publishedTail) return
    this.#publishedTail = this.#tail
    // Release: SC store of TAIL. Our plain reads of the released frames precede it, so the
    // producer (whose SC load reads this value before it reuses the bytes) cannot overwrite
    // them under us.
    Atomics.store(this.#control, TAIL_WORD, this.#tail)
    // SC load after SC store: the consumer half of the producer's sleep handshake.
    if (Atomics.load(this.#control, PRODUCER_SLEEPING_WORD) !== 0) {
      // Wakes a parked producer; one about to park sees TAIL changed and does not sleep.
      Atomics.notify(this.#control, TAIL_WORD)
    }
  }

  /**
   * Consumer, may block the calling thread (Atomics.wait): for shard workers and tests.
   * Publishes the tail first (so the two sides can never both sleep), then waits for a frame.
   * @returns 'ok' when next() will return a frame, 'timed-out' after timeoutMs (Infinity allowed).
   */
  waitReadable (timeoutMs: number): RingWaitResult {
    if (!(timeoutMs >= 0)) throw new RangeError(`timeoutMs must be a number >= 0; received ${String(timeoutMs)}`)
    if (this.readable()) return 'ok'
    this.publishTail()
    const deadlineMs = performance.now() + timeoutMs
    // SC store; see #sleepUntilReadable for the handshake.
    Atomics.store(this.#control, CONSUMER_SLEEPING_WORD, 1)
    let result: RingWaitResult
    for (;;) {
      // Acquire: SC load of HEAD, ordered after our flag store.
      const head = Atomics.load(this.#control, HEAD_WORD)
      if (head !== this.#tail) {
        this.#headSeen = head
        result = 'ok'
        break
      }
      const remainingMs = deadlineMs - performance.now()
      if (remainingMs <= 0) { result = 'timed-out'; break }
      // Returns at once ('not-equal') if HEAD moved since our load; otherwise parks until a
      // commit() notifies, or a stale notify wakes us early (we loop).
      Atomics.wait(this.#control, HEAD_WORD, head, remainingMs)
    }
    // SC store: only the consumer writes its flag, so a producer that read 1 late can at worst
    // wake a later wait early (which re-checks), never make one miss a commit.
    Atomics.store(this.#control, CONSUMER_SLEEPING_WORD, 0)
    return result
  }

  /**
   * Consumer, async (Atomics.waitAsync; never blocks the thread): for the main thread.
   * Publishes the tail first, then resolves 'ok' once next() will return a frame, or
   * 'timed-out' after timeoutMs. Allocates a promise only when it has to sleep.
   * Node 20 pitfall: a pending Atomics.waitAsync does not keep the event loop alive; something
   * else (a socket, the Worker, a timer) must, or the process may exit with the promise pending.
   */
  waitReadableAsync (timeoutMs: number): Promise<RingWaitResult> {
    if (!(timeoutMs >= 0)) throw new RangeError(`timeoutMs must be a number >= 0; received ${String(timeoutMs)}`)
    if (this.readable()) return OK
    this.publishTail()
    return this.#sleepUntilReadable(performance.now() + timeoutMs)
  }

  /*
   * Why no wake-up is lost. Consumer: (S1) SC store CONSUMER_SLEEPING = 1, (L1) SC load HEAD,
   * sleep on HEAD only if L1 saw no new frame. Producer, in commit(): (S2) SC store HEAD,
   * (L2) SC load CONSUMER_SLEEPING, notify if it saw 1. All four are sequentially consistent,
   * so they fall in one total order that respects each thread's program order. If L1 missed
   * S2, then L1 < S2 in that order, hence S1 < L1 < S2 < L2 and L2 reads 1: the producer
   * notifies. The notify may still come before we park, but we park with waitAsync(HEAD, value
   * L1 saw), which compares HEAD atomically with respect to notify: after S2 it finds a
   * different value and returns 'not-equal' at once. So either we see the frame, or we are
   * notified, or our wait refuses to sleep. Setting the flag after loading HEAD would break
   * this (the producer could read 0 between the two and never notify). Wake-ups without a new
   * frame (a producer that read the flag of an earlier sleep) are harmless: we re-check.
   */
  #sleepUntilReadable (deadlineMs: number): Promise<RingWaitResult> {
    Atomics.store(this.#control, CONSUMER_SLEEPING_WORD, 1) // S1
    const head = Atomics.load(this.#control, HEAD_WORD) // L1, also the acquire of the frames
    if (head !== this.#tail) {
      this.#headSeen = head
      // SC store; only the consumer writes its flag.
      Atomics.store(this.#control, CONSUMER_SLEEPING_WORD, 0)
      return OK
    }
    const remainingMs = deadlineMs - performance.now()
    const waiter = remainingMs > 0 ? waitAsync(this.#control, HEAD_WORD, head, remainingMs) : null
    if (waiter === null || (!waiter.async && waiter.value === 'timed-out')) {
      Atomics.store(this.#control, CONSUMER_SLEEPING_WORD, 0)
      return TIMED_OUT
    }
    // 'not-equal' (HEAD moved since L1) or a wake-up: re-check from the top.
    if (!waiter.async) return this.#sleepUntilReadable(deadlineMs)
    return waiter.value.then(() => this.#sleepUntilReadable(deadlineMs))
  }

  // ─── Recovery ────────────────────────────────────────────────────────────────────────────

  /**
   * Empties the ring: HEAD = TAIL = 0, both sleeping flags cleared, this object's producer and
   * consumer state rewound. For crash recovery after the other side's thread died. The caller
   * guarantees neither side is running; every other SpscRing object over this `sab` must be
   * dropped and the new thread must attach() after this returns. Does not allocate or block.
   */
  reset (): void {
    // SC stores; the replacement thread is started (or notified) after this, which orders them
    // before its attach().
    Atomics.store(this.#control, HEAD_WORD, 0)
    Atomics.store(this.#control, TAIL_WORD, 0)
    Atomics.store(this.#control, CONSUMER_SLEEPING_WORD, 0)
    Atomics.store(this.#control, PRODUCER_SLEEPING_WORD, 0)
    this.#head = this.#publishedHead = this.#tailSeen = 0
    this.#tail = this.#publishedTail = this.#headSeen = 0
    this.#frameBytes = 0
    this.frameOffset = 0
  }

  // ─── Cold paths ──────────────────────────────────────────────────────────────────────────

  #rejectPayload (payloadBytes: number): never {
    if (payloadBytes > this.maxPayloadBytes) {
      throw new SlabcacheError('RING_FRAME_TOO_LARGE', `payloadBytes must be at most ` +
        `${this.maxPayloadBytes} for a ${this.capacityBytes}-byte ring; received ${payloadBytes}`)
    }
    throw new RangeError(`payloadBytes must be an integer from 0 to ${this.maxPayloadBytes}; ` +
      `received ${String(payloadBytes)}`)
  }

  #corrupt (position: number, payloadBytes: number): never {
    throw new SlabcacheError('SLAB_CORRUPT', `ring frame at data offset ${position} has length ` +
      `${payloadBytes}; lengths must be 0 to ${this.maxPayloadBytes}`)
  }
}
