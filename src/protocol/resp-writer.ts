/**
 * RespWriter: RESP2 replies encoded into one connection's output buffer, which the server
 * flushes once per batch of pipelined commands (one socket write per batch, not per reply).
 * Thread: main (pure, L1). Owns: the connection's output buffer until `take()` hands it over.
 * Invariants: `length` bytes of the buffer are complete replies (a reply is written whole by
 * one call sequence of a handler; `mark`/`rewind` let a handler replace a reply it began);
 * simple strings and errors are one line (CR and LF in them become spaces).
 */

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

export class RespWriter {
  #buf: Buffer
  /** Bytes of complete replies in the buffer. */
  length = 0

  constructor (initialBytes = INITIAL_BYTES) {
    this.#buf = Buffer.allocUnsafe(initialBytes)
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
    if (typeof value === 'number' && value > 0 && value <= Number.MAX_SAFE_INTEGER && Number.isInteger(value)) {
      this.#reserve(19)
      this.#buf[this.length++] = 0x3a
      this.#decimal(value)
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
    if (size <= 32) {
      // Short values: a byte loop beats creating a subarray view for TypedArray#set.
      let at = this.length
      for (let i = start; i < end; i++) buf[at++] = bytes[i]!
    } else {
      buf.set(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), this.length)
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
    this.#buf = Buffer.allocUnsafe(INITIAL_BYTES)
    return out
  }

  /** ASCII digits of a positive safe integer (room reserved by the caller). */
  #decimal (value: number): void {
    const buf = this.#buf
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
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#buf.length * 2))
    this.#buf.copy(grown, 0, 0, this.length)
    this.#buf = grown
  }
}
