/**
 * RespParser: the incremental RESP2 request parser of one connection — multibulk commands
 * (`*N\r\n$len\r\n...`) and inline ones (telnet style, Redis's quoting rules).
 * Thread: main (pure, L1: bytes in, commands out; no sockets, no clock).
 * Owns: the connection's input buffer. Bytes are fed as they arrive; `next()` returns
 * NEED_MORE, COMMAND (argv in `argv[0, argc)`) or ERROR (Redis's text in `error`), never throws.
 * Invariants:
 *  - every buffer is bounded before its delimiter is found: an inline line ≤ maxInlineBytes,
 *    a count line ≤ maxInlineBytes, a bulk ≤ maxBulkBytes and a whole command ≤
 *    maxCommandBytes, each checked from the length header, before the bytes are buffered;
 *  - the result does not depend on how the bytes were split into chunks;
 *  - multibulk arguments are views into the input buffer (no copy); they stay valid until the
 *    next `feed()`, which may compact the buffer. A short command name (argv[0]) may instead
 *    be the parser's own copy, reused while the following commands have the same name. Inline arguments are fresh copies. The argv
 *    array itself is reused for short commands: read it before the next `next()`.
 *  - after ERROR framing is lost: every later `next()` returns ERROR again.
 */
import {
  PROTO_EXPECTED_CRLF, PROTO_INVALID_BULK_LENGTH, PROTO_INVALID_MULTIBULK_LENGTH, PROTO_TOO_BIG_BULK_COUNT,
  PROTO_TOO_BIG_INLINE, PROTO_TOO_BIG_MBULK_COUNT, PROTO_TOO_BIG_REQUEST, PROTO_UNBALANCED_QUOTES, protoExpectedDollar
} from './resp-errors.js'

/** What `next()` found. */
export const ParseStatus = {
  /** No complete command in the buffer: feed more bytes. */
  NEED_MORE: 0,
  /** A command: `argv[0, argc)`. */
  COMMAND: 1,
  /** Malformed input (`error` holds Redis's text); the connection must reply and close. */
  ERROR: 2
} as const
export type ParseStatus = typeof ParseStatus[keyof typeof ParseStatus]

/** Longest inline line and longest `*N` / `$N` line (Redis PROTO_INLINE_MAX_SIZE). */
export const RESP_MAX_INLINE_BYTES = 64 * 1024
/** Most arguments in one multibulk command (Redis's limit). */
export const RESP_MAX_MULTIBULK_LENGTH = 1024 * 1024

export interface RespParserOptions {
  /** Largest bulk argument, bytes (config `limits.maxRequestBytes`). */
  maxBulkBytes: number
  /**
   * Largest whole multibulk command, bytes; defaults to twice maxBulkBytes (Redis's defaults
   * keep the same ratio: 512 MB proto-max-bulk-len, 1 GB client-query-buffer-limit).
   */
  maxCommandBytes?: number
  maxInlineBytes?: number
  maxMultibulkLength?: number
}

const CR = 0x0d
const LF = 0x0a
const STAR = 0x2a
const DOLLAR = 0x24
/** Smallest buffer the parser allocates when a command spans chunks. */
const MIN_BUFFER_BYTES = 16 * 1024
/** Owned buffers up to this size are kept for reuse once drained; larger ones are dropped. */
const KEEP_BUFFER_BYTES = 64 * 1024
const EMPTY = Buffer.alloc(0)
/** Internal: the header was consumed and the loop must look again (empty command, `*0`). */
const SKIP = -1
/** Internal: a multibulk header was read; go on with its bulks. */
const CONTINUE = -2
/** Command names up to this long are copied once and reused while a pipeline repeats them. */
const NAME_COPY_BYTES = 16
/** Commands with up to this many arguments reuse an argv array (see #argvByCount). */
const REUSED_ARGV_MAX = 8
/** #lengthLine results besides a CR index. */
const LINE_INCOMPLETE = -1
const LINE_FAILED = -2

export class RespParser {
  /** The last command's arguments, views into the input (see the header for how long they stay valid). */
  argv: Uint8Array[] = []
  argc = 0
  /** The protocol error text after ERROR. */
  error = ''
  readonly #maxBulkBytes: number
  readonly #maxCommandBytes: number
  readonly #maxInlineBytes: number
  readonly #maxMultibulkLength: number
  #buf: Buffer = EMPTY
  /** #buf's ArrayBuffer and byte offset, read once per buffer rather than per command. */
  #arrayBuffer: ArrayBufferLike = EMPTY.buffer
  #byteOffset = 0
  /**
   * Reused argv arrays by argument count (index = argc, up to REUSED_ARGV_MAX): a command's
   * argv is valid until the next `next()` anyway (its views die with the input), so
   * the common short commands cost no array allocation.
   */
  readonly #argvByCount: Uint8Array[][] = []
  /** Bit n set: #argvByCount[n] holds views since the last drain (cleared then, see #drained). */
  #argvUsed = 0
  /** Whether #buf is ours (else it is the caller's chunk, which we never write into). */
  #owned = false
  /** A drained buffer of ours kept for the next command that spans chunks. */
  #spare: Buffer = EMPTY
  /** First byte of the command being parsed. */
  #start = 0
  /** Next byte to parse in the current multibulk command. */
  #pos = 0
  /** Where the delimiter search resumes (each byte is scanned once). */
  #scan = 0
  /** End of the valid bytes in #buf. */
  #end = 0
  /** Bulks still expected in the current multibulk command; -1 between commands. */
  #remaining = -1
  /** Length of the bulk whose header was read; -1 when a `$` header is expected next. */
  #bulkLength = -1
  /** Arguments of the current command: offsets from #start and lengths. */
  #argOffsets: number[] = []
  #argLengths: number[] = []
  #argCount = 0
  /** Bytes the current command needs up to the end of its pending bulk (growth hint). */
  #wantBytes = 0
  #failed = false
  /** A copy of the last multibulk command's name when it is short (see #bulks). */
  #lastName: Uint8Array = new Uint8Array(0)

  constructor (options: RespParserOptions) {
    this.#maxBulkBytes = options.maxBulkBytes
    this.#maxCommandBytes = options.maxCommandBytes ?? 2 * options.maxBulkBytes
    this.#maxInlineBytes = options.maxInlineBytes ?? RESP_MAX_INLINE_BYTES
    this.#maxMultibulkLength = options.maxMultibulkLength ?? RESP_MAX_MULTIBULK_LENGTH
  }

  /** Bytes buffered and not yet returned as commands. */
  get bufferedBytes (): number { return this.#end - this.#start }

  /**
   * Appends `chunk`. Without pending bytes the chunk itself becomes the buffer (no copy; the
   * parser never writes into it). Otherwise it is copied after them, compacting or growing an
   * owned buffer (allocates then; invalidates the previous command's argv).
   */
  feed (chunk: Buffer): void {
    if (this.#failed || chunk.length === 0) return
    const pending = this.#end - this.#start
    if (pending === 0) {
      if (this.#owned && this.#buf.length <= KEEP_BUFFER_BYTES) this.#spare = this.#buf
      this.#setBuffer(chunk)
      this.#owned = false
      this.#start = this.#pos = this.#scan = 0
      this.#end = chunk.length
      return
    }
    const needed = pending + chunk.length
    if (this.#owned && this.#buf.length - this.#end >= chunk.length) {
      chunk.copy(this.#buf, this.#end)
      this.#end += chunk.length
      return
    }
    let target: Buffer
    if (this.#owned && this.#buf.length >= needed) {
      target = this.#buf
      target.copyWithin(0, this.#start, this.#end)
    } else {
      const size = Math.max(needed, this.#wantBytes, pending * 2, MIN_BUFFER_BYTES)
      target = this.#spare.length >= size ? this.#spare : Buffer.allocUnsafe(size)
      this.#spare = EMPTY
      this.#buf.copy(target, 0, this.#start, this.#end)
    }
    chunk.copy(target, pending)
    const shift = this.#start
    this.#setBuffer(target)
    this.#owned = true
    this.#start = 0
    this.#pos -= shift
    this.#scan -= shift
    this.#end = needed
  }

  /**
   * Parses the next command. Returns NEED_MORE, COMMAND (`argv`, `argc`) or ERROR (`error`).
   * Allocates one view per argument (and the argv array beyond REUSED_ARGV_MAX arguments).
   */
  next (): ParseStatus {
    if (this.#failed) return ParseStatus.ERROR
    for (;;) {
      if (this.#remaining < 0) {
        if (this.#start === this.#end) return this.#drained()
        const status = this.#buf[this.#start] === STAR ? this.#multibulkHeader() : this.#inline()
        if (status === SKIP) continue
        if (status !== CONTINUE) return status as ParseStatus
      }
      return this.#bulks()
    }
  }

  #setBuffer (buf: Buffer): void {
    this.#buf = buf
    this.#arrayBuffer = buf.buffer
    this.#byteOffset = buf.byteOffset
  }

  #drained (): ParseStatus {
    // Nothing pending: drop a large buffer so an idle connection does not pin it.
    if (this.#owned && this.#buf.length > KEEP_BUFFER_BYTES) {
      this.#setBuffer(EMPTY)
      this.#owned = false
    }
    // Nor should the reused argv arrays pin old input through their views.
    for (let used = this.#argvUsed, argc = 0; used !== 0; used >>>= 1, argc++) {
      if ((used & 1) !== 0) this.#argvByCount[argc]!.fill(EMPTY)
    }
    this.#argvUsed = 0
    this.#start = this.#pos = this.#scan = this.#end = 0
    return ParseStatus.NEED_MORE
  }

  #fail (text: string): ParseStatus {
    this.#failed = true
    this.error = text
    this.argc = 0
    return ParseStatus.ERROR
  }

  /**
   * Index of the first `byte` in [from, end), or -1. Callers resume from #scan, so each byte is
   * looked at once however the line trickles in (a byte-at-a-time sender costs O(n), not O(n²)).
   */
  #find (byte: number, from: number): number {
    const buf = this.#buf
    const end = this.#end
    for (let i = from; i < end; i++) if (buf[i] === byte) return i
    return -1
  }

  /**
   * The `*N` / `$N` length line starting at `lineStart` (its type byte): the index of its CR
   * once the CR and the byte after it have arrived; LINE_INCOMPLETE (resume scanning later);
   * or LINE_FAILED after #fail(`tooBig`) when the line outgrows the inline limit before or
   * after its CR shows up (so the outcome does not depend on how the bytes were chunked).
   */
  #lengthLine (lineStart: number, tooBig: string): number {
    const cr = this.#find(CR, Math.max(this.#scan, lineStart + 1))
    if (cr < 0) {
      if (this.#end - lineStart > this.#maxInlineBytes) { this.#fail(tooBig); return LINE_FAILED }
      this.#scan = this.#end
      return LINE_INCOMPLETE
    }
    if (cr - lineStart > this.#maxInlineBytes) { this.#fail(tooBig); return LINE_FAILED }
    if (cr + 1 >= this.#end) {
      this.#scan = cr
      return LINE_INCOMPLETE
    }
    return cr
  }

  /** `*N\r\n`. Returns SKIP (N ≤ 0: no command), CONTINUE, NEED_MORE or ERROR. */
  #multibulkHeader (): number {
    const start = this.#start
    const cr = this.#lengthLine(start, PROTO_TOO_BIG_MBULK_COUNT)
    if (cr < 0) return cr === LINE_INCOMPLETE ? ParseStatus.NEED_MORE : ParseStatus.ERROR
    const count = parseLength(this.#buf, start + 1, cr)
    if (Number.isNaN(count) || this.#buf[cr + 1] !== LF || count > this.#maxMultibulkLength) return this.#fail(PROTO_INVALID_MULTIBULK_LENGTH)
    this.#pos = this.#scan = cr + 2
    if (count <= 0) {
      // `*0` and `*-1` are empty commands: Redis skips them without a reply.
      this.#start = this.#pos
      return SKIP
    }
    this.#remaining = count
    this.#argCount = 0
    this.#bulkLength = -1
    return CONTINUE
  }

  /**
   * The bulks of the current multibulk command, resuming where the last call stopped. The
   * loop keeps its position in locals and stores it back before every return.
   */
  #bulks (): ParseStatus {
    const start = this.#start
    const buf = this.#buf
    const end = this.#end
    const offsets = this.#argOffsets
    const lengths = this.#argLengths
    let remaining = this.#remaining
    let pos = this.#pos
    let length = this.#bulkLength
    while (remaining > 0) {
      if (length < 0) {
        if (pos >= end) break
        // Fast path: a complete `$<digits>\r\n` (no leading zero, ≤ 15 digits) in one pass.
        let i = pos + 1
        let value = 0
        const digitsEnd = Math.min(end, i + 15)
        for (; i < digitsEnd; i++) {
          const digit = buf[i]! - 0x30
          if (digit < 0 || digit > 9) break
          value = value * 10 + digit
        }
        if (buf[pos] === DOLLAR && i > pos + 1 && i + 1 < end && buf[i] === CR && buf[i + 1] === LF && (buf[pos + 1] !== 0x30 || i === pos + 2)) {
          if (value > this.#maxBulkBytes) return this.#fail(PROTO_INVALID_BULK_LENGTH)
          pos = i + 2
          const commandBytes = pos - start + value + 2
          if (commandBytes > this.#maxCommandBytes) return this.#fail(PROTO_TOO_BIG_REQUEST)
          length = value
          this.#scan = pos
          this.#wantBytes = commandBytes
        } else {
          this.#remaining = remaining
          this.#pos = pos
          const status = this.#bulkHeader(pos)
          if (status !== CONTINUE) return status as ParseStatus
          pos = this.#pos
          length = this.#bulkLength
        }
      }
      if (end - pos < length + 2) break
      if (buf[pos + length] !== CR || buf[pos + length + 1] !== LF) return this.#fail(PROTO_EXPECTED_CRLF)
      const index = this.#argCount++
      offsets[index] = pos - start
      lengths[index] = length
      pos += length + 2
      this.#scan = pos
      length = -1
      remaining--
    }
    this.#pos = pos
    this.#bulkLength = length
    this.#remaining = remaining
    if (remaining > 0) return ParseStatus.NEED_MORE
    const argc = this.#argCount
    let argv: Uint8Array[]
    if (argc <= REUSED_ARGV_MAX) {
      argv = this.#argvByCount[argc] ?? (this.#argvByCount[argc] = new Array<Uint8Array>(argc))
      this.#argvUsed |= 1 << argc
    } else {
      argv = new Array<Uint8Array>(argc)
    }
    // The command name: a pipeline repeats it, so the parser's own copy of the last short name
    // stands in for a view when the bytes are the same (one allocation less per command).
    let first = 0
    const nameLength = lengths[0]!
    if (nameLength <= NAME_COPY_BYTES) {
      const at = start + offsets[0]!
      let name = this.#lastName
      let same = name.length === nameLength
      for (let i = 0; same && i < nameLength; i++) same = name[i] === buf[at + i]
      if (!same) {
        name = this.#lastName = new Uint8Array(nameLength)
        for (let i = 0; i < nameLength; i++) name[i] = buf[at + i]!
      }
      argv[0] = name
      first = 1
    }
    // Plain Uint8Array views: about half the cost of Buffer#subarray, and no copy.
    const arrayBuffer = this.#arrayBuffer
    const base = this.#byteOffset + start
    for (let i = first; i < argc; i++) argv[i] = new Uint8Array(arrayBuffer, base + offsets[i]!, lengths[i]!)
    this.argv = argv
    this.argc = argc
    this.#start = pos
    this.#remaining = -1
    this.#wantBytes = 0
    return ParseStatus.COMMAND
  }

  /**
   * A `$N\r\n` header at `pos` that the fast path did not take: incomplete, malformed or
   * unusual. Returns CONTINUE (header read: #bulkLength and #pos set), NEED_MORE or ERROR.
   */
  #bulkHeader (pos: number): number {
    const start = this.#start
    const first = this.#buf[pos]!
    if (first !== DOLLAR) return this.#fail(protoExpectedDollar(printable(first)))
    const cr = this.#lengthLine(pos, PROTO_TOO_BIG_BULK_COUNT)
    if (cr < 0) return cr === LINE_INCOMPLETE ? ParseStatus.NEED_MORE : ParseStatus.ERROR
    const length = parseLength(this.#buf, pos + 1, cr)
    if (Number.isNaN(length) || length < 0 || length > this.#maxBulkBytes || this.#buf[cr + 1] !== LF) return this.#fail(PROTO_INVALID_BULK_LENGTH)
    const dataStart = cr + 2
    const commandBytes = dataStart - start + length + 2
    if (commandBytes > this.#maxCommandBytes) return this.#fail(PROTO_TOO_BIG_REQUEST)
    this.#bulkLength = length
    this.#pos = this.#scan = dataStart
    this.#wantBytes = commandBytes
    return CONTINUE
  }

  /** One inline line. Returns SKIP (blank line), COMMAND, NEED_MORE or ERROR. */
  #inline (): number {
    const start = this.#start
    const lf = this.#find(LF, Math.max(this.#scan, start))
    if (lf < 0) {
      if (this.#end - start > this.#maxInlineBytes) return this.#fail(PROTO_TOO_BIG_INLINE)
      this.#scan = this.#end
      return ParseStatus.NEED_MORE
    }
    // Also refuse a long line that arrived whole, so the outcome does not depend on chunking.
    if (lf - start > this.#maxInlineBytes) return this.#fail(PROTO_TOO_BIG_INLINE)
    let lineEnd = lf
    if (lineEnd > start && this.#buf[lineEnd - 1] === CR) lineEnd--
    const args = splitArgs(this.#buf, start, lineEnd)
    this.#start = this.#pos = this.#scan = lf + 1
    if (args === null) return this.#fail(PROTO_UNBALANCED_QUOTES)
    if (args.length === 0) return SKIP
    this.argv = args
    this.argc = args.length
    return ParseStatus.COMMAND
  }
}

/**
 * Redis's `string2ll` over buf[from, to) for a length: optional '-', digits, no leading zero
 * (except "0"), no sign on zero. Returns NaN if malformed; values beyond 2^53 come back as a
 * large number (every limit is far below), never as a wrong small one.
 */
export function parseLength (buf: Uint8Array, from: number, to: number): number {
  if (from >= to) return NaN
  let i = from
  const negative = buf[i] === 0x2d
  if (negative) i++
  if (i >= to) return NaN
  if (buf[i] === 0x30) return to - i === 1 && !negative ? 0 : NaN
  let value = 0
  for (; i < to; i++) {
    const digit = buf[i]! - 0x30
    if (digit < 0 || digit > 9) return NaN
    value = value * 10 + digit
  }
  return negative ? -value : value
}

/** A byte as Redis prints it with %c, except that controls (CR, LF, …) become visible. */
function printable (byte: number): string {
  if (byte >= 0x20 && byte < 0x7f) return String.fromCharCode(byte)
  return `\\x${byte.toString(16).padStart(2, '0')}`
}

function isSpace (byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)
}

function hexValue (byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10
  return -1
}

/**
 * Redis's `sdssplitargs` over buf[from, to): words separated by whitespace; "double quotes"
 * with \n \r \t \b \a \xHH and \<any> escapes; 'single quotes' with \' only; a closing quote
 * must be followed by whitespace or the end. A NUL byte ends the line (C string). Returns the
 * arguments (copies), or null for unbalanced quotes.
 */
export function splitArgs (buf: Uint8Array, from: number, to: number): Buffer[] | null {
  const args: Buffer[] = []
  let p = from
  const at = (i: number): number => (i < to ? buf[i]! : 0)
  for (;;) {
    while (p < to && at(p) !== 0 && isSpace(at(p))) p++
    if (p >= to || at(p) === 0) return args
    const bytes: number[] = []
    let inDouble = false
    let inSingle = false
    let done = false
    while (!done) {
      const c = at(p)
      if (inDouble) {
        if (c === 0x5c && at(p + 1) === 0x78 && hexValue(at(p + 2)) >= 0 && hexValue(at(p + 3)) >= 0) {
          bytes.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)))
          p += 3
        } else if (c === 0x5c && at(p + 1) !== 0) {
          p++
          const e = at(p)
          bytes.push(e === 0x6e ? 0x0a : e === 0x72 ? 0x0d : e === 0x74 ? 0x09 : e === 0x62 ? 0x08 : e === 0x61 ? 0x07 : e)
        } else if (c === 0x22) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null
          done = true
        } else if (c === 0) {
          return null
        } else {
          bytes.push(c)
        }
      } else if (inSingle) {
        if (c === 0x5c && at(p + 1) === 0x27) {
          p++
          bytes.push(0x27)
        } else if (c === 0x27) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null
          done = true
        } else if (c === 0) {
          return null
        } else {
          bytes.push(c)
        }
      } else if (c === 0 || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        done = true
      } else if (c === 0x22) {
        inDouble = true
      } else if (c === 0x27) {
        inSingle = true
      } else {
        bytes.push(c)
      }
      if (c !== 0) p++
    }
    args.push(Buffer.from(bytes))
  }
}
