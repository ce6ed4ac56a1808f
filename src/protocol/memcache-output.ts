/**
 * MemcacheOutput: the reply bytes of one memcached connection, accumulated between two socket
 * writes. Thread: main (pure, L1: Buffers only). Owns: one growable Buffer.
 * Invariant: bytes in [0, #taken) have been handed out by take() (a socket may still be
 * writing them) and are never written again until recycle() says the socket is done with them;
 * new replies go to [#taken, #length). When the
 * tail has no room, a fresh buffer is allocated and only the untaken bytes move to it.
 * A mark (from mark()) stays valid until the next take(): rollback() drops replies written
 * after it (a multi-key get that fails half way answers with the error alone).
 * It is also a ValueSink: a binary GET hit's value is copied by the store straight to where it
 * goes in the reply (`expectValue`, then the read, then the header and `commitValue`), so the
 * value is copied once; buffers are allocated with their own ArrayBuffer and whole words.
 */
import type { ValueSink } from '../core/slab-values.js'

/** The least a fresh buffer gets: most batches fit without growing. */
const MIN_CAPACITY_BYTES = 8 * 1024
/** A buffer grown past this (a large value went out) is dropped once taken, not kept per connection. */
const MAX_RETAINED_BYTES = 64 * 1024
const EMPTY = Buffer.alloc(0)
const EMPTY_WORDS = new Uint32Array(0)
/** writeBytes copies up to this many bytes with a loop instead of a view + TypedArray#set. */
const SHORT_COPY_BYTES = 32

export class MemcacheOutput implements ValueSink {
  /** Allocated on the first write, so idle connections hold no output memory. */
  #buffer: Buffer = EMPTY
  /** #buffer's memory as u32 words (ValueSink). */
  #words: Uint32Array = EMPTY_WORDS
  /** Bytes the caller writes before an expected value (expectValue), and the claimed value's length. */
  #valuePrefix = 0
  #valueLength = 0
  /** Start of the bytes not yet taken. */
  #taken = 0
  /** End of the bytes written. */
  #length = 0

  /** Bytes written and not yet taken. */
  get pendingBytes (): number { return this.#length - this.#taken }

  /** Appends latin1/ASCII text (protocol lines: digits, keys are written with writeBytes). */
  writeAscii (text: string): void {
    this.#reserve(text.length)
    this.#length += this.#buffer.write(text, this.#length, 'latin1')
  }

  /** Appends bytes [start, end) of `source`. */
  writeBytes (source: Uint8Array, start = 0, end = source.length): void {
    const length = end - start
    this.#reserve(length)
    const buffer = this.#buffer
    if (length <= SHORT_COPY_BYTES) {
      // Keys and small values: a byte loop beats creating a view for TypedArray#set.
      let at = this.#length
      for (let i = start; i < end; i++) buffer[at++] = source[i]!
    } else {
      buffer.set(length === source.length ? source : new Uint8Array(source.buffer, source.byteOffset + start, length), this.#length)
    }
    this.#length += length
  }

  /**
   * Reserves `bytes` at the end for the caller to fill in `buffer` at once (before any other
   * write): returns their offset. For fixed-size binary headers.
   */
  claim (bytes: number): number {
    this.#reserve(bytes)
    const at = this.#length
    this.#length += bytes
    return at
  }

  /** The current buffer, for filling a claim(). */
  get buffer (): Buffer { return this.#buffer }

  get sinkBytes (): Buffer { return this.#buffer }
  get sinkWords (): Uint32Array { return this.#words }

  /**
   * The next read into this sink puts its value `prefixBytes` after the current end: the caller
   * writes exactly that many bytes (header, extras, key) once the read succeeded, then calls
   * commitValue.
   */
  expectValue (prefixBytes: number): void { this.#valuePrefix = prefixBytes }

  /**
   * ValueSink: makes room for the prefix, the value and 3 bytes of word-copy slack without
   * writing anything, and returns where the value goes. A retried read claims again.
   */
  claimValue (length: number): number {
    this.#reserve(this.#valuePrefix + length + 3)
    this.#valueLength = length
    return this.#length + this.#valuePrefix
  }

  /** After the prefix was written: counts the claimed value, already in place, as written. */
  commitValue (): void { this.#length += this.#valueLength }

  writeUint8 (value: number): void {
    this.#reserve(1)
    this.#buffer[this.#length++] = value
  }

  writeUint16 (value: number): void {
    this.#reserve(2)
    this.#length = this.#buffer.writeUInt16BE(value, this.#length)
  }

  writeUint32 (value: number): void {
    this.#reserve(4)
    const buffer = this.#buffer
    const at = this.#length
    buffer[at] = value >>> 24
    buffer[at + 1] = value >>> 16
    buffer[at + 2] = value >>> 8
    buffer[at + 3] = value
    this.#length = at + 4
  }

  /** Writes a non-negative integer < 2^64 as 8 big-endian bytes (CAS values are < 2^53). */
  writeUint64 (value: number): void {
    this.#reserve(8)
    this.#buffer.writeUInt32BE(Math.floor(value / 0x100000000) >>> 0, this.#length)
    this.#buffer.writeUInt32BE(value >>> 0, this.#length + 4)
    this.#length += 8
  }

  writeBigUint64 (value: bigint): void {
    this.#reserve(8)
    this.#length = this.#buffer.writeBigUInt64BE(value, this.#length)
  }

  /** Position to roll back to; valid until the next take(). */
  mark (): number { return this.#length - this.#taken }

  /** Drops everything written after `mark`. */
  rollback (mark: number): void { this.#length = this.#taken + mark }

  /**
   * A copy of what was written after `mark` (allocates): a reply held back until replication
   * acknowledges its write is taken out with this, rolled back, and written again later.
   */
  copySince (mark: number): Buffer { return Buffer.from(this.#buffer.subarray(this.#taken + mark, this.#length)) }

  /**
   * Hands out the pending bytes (a view, not a copy: the caller may keep it, e.g. until a socket
   * has written it) and starts a new batch after them. Returns null when nothing is pending.
   */
  take (): Buffer | null {
    if (this.#length === this.#taken) return null
    const bytes = this.#buffer.subarray(this.#taken, this.#length)
    if (this.#buffer.length > MAX_RETAINED_BYTES) {
      this.#buffer = EMPTY
      this.#words = EMPTY_WORDS
      this.#length = 0
    }
    this.#taken = this.#length
    return bytes
  }

  /**
   * The socket has written everything taken so far (nothing of it is queued any more): when no
   * reply is pending either, the next replies start again at the front of the same buffer, so
   * a connection whose writes complete at once never allocates a new output buffer.
   */
  recycle (): void {
    if (this.#length === this.#taken) this.#length = this.#taken = 0
  }

  /** Makes room for `bytes` more; allocates when the tail is too small. */
  #reserve (bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return
    const pending = this.#length - this.#taken
    // Its own ArrayBuffer and whole words: a ValueSink's store copies whole words into it.
    const next = Buffer.allocUnsafeSlow((Math.max(MIN_CAPACITY_BYTES, 2 * (pending + bytes)) + 3) & ~3)
    this.#buffer.copy(next, 0, this.#taken, this.#length)
    this.#buffer = next
    this.#words = new Uint32Array(next.buffer, 0, next.length >>> 2)
    this.#taken = 0
    this.#length = pending
  }
}
