/**
 * RespWriter: RESP2 replies encoded into one connection's output buffer, which the server
 * flushes once per batch of pipelined commands (one socket write per batch, not per reply).
 * Thread: main (pure, L1). Owns: the connection's output buffer until `take()` hands it over
 * (or, on the server's path, lends it with `pending()` / `sent()`: no copy per batch).
 * Invariants: `length` bytes of the buffer are complete replies (a reply is written whole by
 * one call sequence of a handler; `mark`/`rewind` let a handler replace a reply it began);
 * simple strings and errors are one line (CR and LF in them become spaces).
 * GET hits are copied by the store straight into the buffer (`ValueSink`: `claimValue` writes
 * the bulk header past `length` and leaves room, `commitValue` makes it a reply once the read
 * succeeded), so a value is copied once, slab → reply. The buffer always has its own
 * ArrayBuffer with a length a multiple of 4, so the store can copy whole words into it.
 */
import type { ValueSink } from '../core/slab-values.js'

/** Initial buffer; it grows by doubling to fit the largest batch. */
const INITIAL_BYTES = 16 * 1024
/** `take()` copies batches up to this size out (the buffer is kept); larger ones are handed over. */
const COPY_OUT_BYTES = 16 * 1024

const OK = Buffer.from('+OK\r\n')
const NULL_BULK = Buffer.from('$-1\r\n')
const NULL_ARRAY = Buffer.from('*-1\r\n')
const EMPTY_ARRAY = Buffer.from('*0\r\n')
const EMPTY_BULK = Buffer.from('$0\r\n\r\n')
const ZERO = Buffer.from(':0\r\n')
const ONE = Buffer.from(':1\r\n')
/** bulk() copies values up to this many bytes with a loop instead of a view + TypedArray#set. */
const SHORT_COPY_BYTES = 32
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER)
const MIN_SAFE_BIGINT = -MAX_SAFE_BIGINT
/** Output buffers up to this size are kept across batches; a larger one is dropped once sent. */
const KEEP_BYTES = 64 * 1024

export class RespWriter implements ValueSink {
  #buf: Buffer
  /** #buf's memory as u32 words (ValueSink). */
  #words: Uint32Array
  /** Where the value claimed by the last `claimValue` ends. */
  #claimedEnd = 0
  /** Bytes of complete replies in the buffer. */
  length = 0

  constructor (initialBytes = INITIAL_BYTES) {
    this.#buf = Buffer.allocUnsafeSlow((initialBytes + 3) & ~3)
    this.#words = new Uint32Array(this.#buf.buffer, 0, this.#buf.length >>> 2)
  }

  get sinkBytes (): Buffer { return this.#buf }
  get sinkWords (): Uint32Array { return this.#words }

  /**
   * ValueSink: writes the bulk header of a `length`-byte value after the complete replies
   * without counting it, makes room for the value (+ 3 bytes of word-copy slack and the CRLF)
   * and returns where the value goes. Nothing is committed: a retried read claims again.
   */
  claimValue (length: number): number {
    this.#reserve(length + 24)
    const mark = this.length
    this.#buf[this.length++] = 0x24
    this.#decimal(length)
    this.#crlf()
    const at = this.length
    this.length = mark
    this.#claimedEnd = at + length
    return at
  }

  /** Makes the value the last read copied in through `claimValue` a complete bulk reply. */
  commitValue (): void {
    this.length = this.#claimedEnd
    this.#crlf()
  }

  /** `+text` (text must be one line of ASCII). */
  simple (text: string): void {
    this.#reserve(text.length + 3)
    this.#buf[this.length++] = 0x2b
    this.length += this.#buf.write(text, this.length, 'latin1')
    this.#crlf()
  }

  /** `-text`; CR and LF inside become spaces, as Redis's addReplyError does. */
  error (text: string): void {
    const line = /[\r\n]/.test(text) ? text.replace(/[\r\n]/g, ' ') : text
    this.#reserve(Buffer.byteLength(line) + 3)
    this.#buf[this.length++] = 0x2d
    this.length += this.#buf.write(line, this.length, 'utf8')
    this.#crlf()
  }

  ok (): void { this.raw(OK) }

  integer (value: number | bigint): void {
    if (value === 0) { this.raw(ZERO); return }
    if (value === 1) { this.raw(ONE); return }
    // Counters arrive as BigInt (64-bit): within ±2^53 they print exactly as a number, without
    // the string a BigInt template would allocate; beyond, they take the exact BigInt path.
    const small = typeof value === 'bigint' && value >= MIN_SAFE_BIGINT && value <= MAX_SAFE_BIGINT ? Number(value) : value
    if (typeof small === 'number' && small >= -Number.MAX_SAFE_INTEGER && small <= Number.MAX_SAFE_INTEGER && Number.isInteger(small)) {
      this.#reserve(20)
      this.#buf[this.length++] = 0x3a
      if (small < 0) this.#buf[this.length++] = 0x2d
      this.#decimal(small < 0 ? -small : small)
      this.#crlf()
      return
    }
    const text = `:${value}\r\n`
    this.#reserve(text.length)
    this.length += this.#buf.write(text, this.length, 'latin1')
  }

  /** `$len\r\n<bytes>\r\n`: copies bytes[start, end). */
  bulk (bytes: Uint8Array, start = 0, end = bytes.length): void {
    const size = end - start
    if (size === 0) { this.raw(EMPTY_BULK); return }
    this.#reserve(size + 21)
    const buf = this.#buf
    buf[this.length++] = 0x24
    this.#decimal(size)
    this.#crlf()
    if (size <= SHORT_COPY_BYTES) {
      // Short values: a byte loop beats creating a view for TypedArray#set.
      let at = this.length
      for (let i = start; i < end; i++) buf[at++] = bytes[i]!
    } else {
      // A plain Uint8Array view costs about half a Buffer#subarray.
      buf.set(start === 0 && end === bytes.length ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset + start, size), this.length)
    }
    this.length += size
    this.#crlf()
  }

  /** A bulk string of `text` encoded as UTF-8. */
  bulkString (text: string): void {
    const size = Buffer.byteLength(text)
    const header = `$${size}\r\n`
    this.#reserve(header.length + size + 2)
    this.length += this.#buf.write(header, this.length, 'latin1')
    this.length += this.#buf.write(text, this.length, 'utf8')
    this.#crlf()
  }

  nullBulk (): void { this.raw(NULL_BULK) }
  nullArray (): void { this.raw(NULL_ARRAY) }

  /** `*count\r\n`: the caller then writes `count` replies. */
  array (count: number): void {
    if (count === 0) { this.raw(EMPTY_ARRAY); return }
    const header = `*${count}\r\n`
    this.#reserve(header.length)
    this.length += this.#buf.write(header, this.length, 'latin1')
  }

  /** Pre-encoded reply bytes. */
  raw (bytes: Uint8Array): void {
    this.#reserve(bytes.length)
    this.#buf.set(bytes, this.length)
    this.length += bytes.length
  }

  /** Position to `rewind` to, dropping what was written after it. */
  mark (): number { return this.length }
  rewind (mark: number): void { this.length = mark }

  /**
   * Hands over the pending bytes and empties the writer. A small batch is copied into a
   * fresh (pooled) Buffer and the output buffer is kept; a large one is handed over as is,
   * and a new buffer is allocated for the next batch (the socket keeps the old one until sent).
   */
  take (): Buffer {
    const length = this.length
    this.length = 0
    if (length <= COPY_OUT_BYTES) {
      const out = Buffer.allocUnsafe(length)
      this.#buf.copy(out, 0, 0, length)
      return out
    }
    const out = this.#buf.subarray(0, length)
    this.#allocate(INITIAL_BYTES)
    return out
  }

  /**
   * The pending bytes as a view of the output buffer, without copying: hand it to the socket,
   * then call `sent()` at once. Allocates only the view.
   */
  pending (): Buffer {
    return this.#buf.subarray(0, this.length)
  }

  /**
   * Empties the writer after `pending()` went out. `retained`: the socket still holds the view
   * (it could not write it all at once, `socket.writableLength > 0`), so the next batch goes to
   * a fresh buffer; otherwise the kernel has the bytes and the buffer is reused.
   */
  sent (retained: boolean): void {
    this.length = 0
    if (retained || this.#buf.length > KEEP_BYTES) this.#allocate(INITIAL_BYTES)
  }

  /** ASCII digits of a non-negative safe integer (room reserved by the caller). */
  #decimal (value: number): void {
    const buf = this.#buf
    // Short numbers (bulk lengths, small counters) without the division loop.
    if (value < 10) { buf[this.length++] = 0x30 + value; return }
    if (value < 100) {
      const tens = (value / 10) | 0
      buf[this.length++] = 0x30 + tens
      buf[this.length++] = 0x30 + value - tens * 10
      return
    }
    if (value < 1000) {
      const hundreds = (value / 100) | 0
      const rest = value - hundreds * 100
      const tens = (rest / 10) | 0
      buf[this.length++] = 0x30 + hundreds
      buf[this.length++] = 0x30 + tens
      buf[this.length++] = 0x30 + rest - tens * 10
      return
    }
    let digits = 1
    for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++
    let at = this.length + digits
    this.length = at
    for (let v = value; at > this.length - digits; v = Math.floor(v / 10)) buf[--at] = 0x30 + (v % 10)
  }

  #crlf (): void {
    this.#buf[this.length++] = 0x0d
    this.#buf[this.length++] = 0x0a
  }

  /** Makes room for `bytes` more; allocates (doubling) when the buffer is too small. */
  #reserve (bytes: number): void {
    const needed = this.length + bytes
    if (needed <= this.#buf.length) return
    const old = this.#buf
    this.#allocate(Math.max(needed, old.length * 2))
    old.copy(this.#buf, 0, 0, this.length)
  }

  /** A new output buffer of at least `bytes`: its own ArrayBuffer, whole words (ValueSink). */
  #allocate (bytes: number): void {
    this.#buf = Buffer.allocUnsafeSlow((bytes + 3) & ~3)
    this.#words = new Uint32Array(this.#buf.buffer, 0, this.#buf.length >>> 2)
  }
}
