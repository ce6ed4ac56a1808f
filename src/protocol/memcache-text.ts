/**
 * memcached text protocol: an incremental request parser and the reply lines it shares with the
 * session. Thread: main (pure, L1: bytes in, a reused TextRequest out; no I/O, no clock).
 * Owns: the parser's small state (bytes still to swallow, how far the pending line was searched).
 * Invariants: parse() never throws on client input; it answers NEED_MORE, REQUEST, ERROR (a reply
 * line, framing kept) or FATAL (a reply line, then close), and the caller drops `consumed` bytes
 * whatever the answer. Nothing is buffered unbounded: a line must end within
 * TEXT_MAX_LINE_BYTES (retrieval lines within limits.maxRetrievalLineBytes), a data block is at
 * most limits.maxValueBytes + 2 bytes, and the block of a rejected storage command is swallowed
 * (counted down, never buffered). Results depend only on the bytes, never on how they were split.
 */

/** Longest key memcached's text protocol accepts (KEY_MAX_LENGTH). */
export const TEXT_MAX_KEY_BYTES = 250
/** Longest command line, "\r\n" included, before it is refused (memcached's 2048). */
export const TEXT_MAX_LINE_BYTES = 2048
/** Exptimes up to this many seconds (30 days) are relative; larger ones are Unix times. */
export const MAX_RELATIVE_EXPTIME_S = 60 * 60 * 24 * 30
/** Most tokens a non-retrieval command may have (memcached's MAX_TOKENS, minus its terminal token). */
const MAX_TOKENS = 24
const INT32_MAX = 2 ** 31 - 1
const UINT64_MAX = (1n << 64n) - 1n

const SPACE = 0x20
const CR = 0x0d
const LF = 0x0a
const COMMA = 0x2c

/** The commands of the text protocol. */
export const TextOp = {
  GET: 1, GETS: 2, GAT: 3, GATS: 4,
  SET: 5, ADD: 6, REPLACE: 7, APPEND: 8, PREPEND: 9, CAS: 10,
  DELETE: 11, INCR: 12, DECR: 13, TOUCH: 14,
  FLUSH_ALL: 15, STATS: 16, VERSION: 17, VERBOSITY: 18, QUIT: 19,
  /** slabcache extensions (names memcached does not use): see the README's memcached section. */
  TAG_SET: 20, TAG_INVALIDATE: 21
} as const
export type TextOp = typeof TextOp[keyof typeof TextOp]

/** What parse() found. */
export const TextParse = {
  /** No complete request yet (bytes may still have been consumed: a swallowed block). */
  NEED_MORE: 0,
  /** A request, in the TextRequest passed in. */
  REQUEST: 1,
  /** A rejected request: send `request.reply` unless `request.noreply`; framing is kept. */
  ERROR: 2,
  /** Framing is lost: send `request.reply`, then close the connection. */
  FATAL: 3
} as const
export type TextParse = typeof TextParse[keyof typeof TextParse]

/** Reply lines, exactly as memcached writes them. */
export const TextReply = {
  STORED: 'STORED\r\n',
  NOT_STORED: 'NOT_STORED\r\n',
  EXISTS: 'EXISTS\r\n',
  NOT_FOUND: 'NOT_FOUND\r\n',
  DELETED: 'DELETED\r\n',
  TOUCHED: 'TOUCHED\r\n',
  END: 'END\r\n',
  OK: 'OK\r\n',
  RESET: 'RESET\r\n',
  ERROR: 'ERROR\r\n',
  BAD_FORMAT: 'CLIENT_ERROR bad command line format\r\n',
  BAD_DELETE: 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n',
  BAD_DATA_CHUNK: 'CLIENT_ERROR bad data chunk\r\n',
  BAD_DELTA: 'CLIENT_ERROR invalid numeric delta argument\r\n',
  BAD_EXPTIME: 'CLIENT_ERROR invalid exptime argument\r\n',
  NON_NUMERIC: 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n',
  LINE_TOO_LONG: 'CLIENT_ERROR line too long\r\n',
  TOO_LARGE: 'SERVER_ERROR object too large for cache\r\n',
  OUT_OF_MEMORY_STORING: 'SERVER_ERROR out of memory storing object\r\n',
  OUT_OF_MEMORY: 'SERVER_ERROR out of memory\r\n',
  /** Written by the server, before any parsing, to a connection over the budget. */
  TOO_MANY_CONNECTIONS: 'ERROR Too many open connections\r\n'
} as const

const EMPTY = Buffer.alloc(0)

/** One parsed request; a single instance is reused, so read it before the next parse(). */
export class TextRequest {
  op: TextOp = TextOp.GET
  /**
   * Keys as views into the input (valid until the caller drops the consumed bytes): every key of
   * a retrieval, or the one key of the other commands, in keys[0]. Only [0, keyCount) is live.
   */
  readonly keys: Buffer[] = []
  keyCount = 0
  /** Client flags (u32). */
  flags = 0
  /** Seconds as sent: 0 = never, ≤ 30 days relative, larger a Unix time, negative = expired. */
  exptime = 0
  /** cas unique; -1 when above 2^53 (no item can have it, so it never matches). */
  cas = 0
  /** incr/decr amount (unsigned 64-bit). */
  delta = 0n
  noreply = false
  /** flush_all: whether a delay was given (then in `exptime`). */
  hasDelay = false
  /** stats: the group asked for ('' = general stats). */
  group = ''
  /**
   * tag_set: the comma-separated tags token; tag_invalidate: the tag. A view into the input;
   * tag_set's tags are non-empty (no empty segment), their count and length the engine's limits.
   */
  tags: Buffer = EMPTY
  /** Storage commands: the data block without its "\r\n", a view into the input. */
  value: Buffer = EMPTY
  /** ERROR and FATAL: the reply line, "\r\n" included. */
  reply = ''
}

export interface TextLimits {
  /** Longest key; memcached's 250, or less if the server's key limit is lower. */
  readonly maxKeyBytes: number
  /** Largest data block; larger blocks are answered TOO_LARGE and swallowed. */
  readonly maxValueBytes: number
  /** Longest get/gets/gat/gats line (multi-key gets may exceed TEXT_MAX_LINE_BYTES). */
  readonly maxRetrievalLineBytes: number
}

/**
 * Incremental parser for one connection. Call parse() with the unconsumed input; drop
 * `consumed` bytes whatever it returns; call again while it returns anything but NEED_MORE.
 * Allocates only the key views of the request it returns.
 */
export class MemcacheTextParser {
  /** Bytes of the input the last parse() used up (lines, data blocks, swallowed bytes). */
  consumed = 0
  /** Once a storage line is read: the bytes its request needs in all (a hint to size buffers). */
  needBytes = 0
  readonly #limits: TextLimits
  /** Bytes of a rejected data block still to discard. */
  #swallow = 0
  /** How much of the pending line was already searched for its newline. */
  #scanned = 0
  readonly #tokenStart: number[] = []
  readonly #tokenEnd: number[] = []
  #tokens = 0

  constructor (limits: TextLimits) {
    this.#limits = limits
  }

  /** Whether the parser is discarding a rejected data block. */
  get swallowing (): boolean { return this.#swallow > 0 }

  /**
   * Parses one request from buf[start, end). Returns NEED_MORE, REQUEST, ERROR or FATAL (see
   * TextParse); `consumed` says how many bytes to drop.
   */
  parse (buf: Buffer, start: number, end: number, request: TextRequest): TextParse {
    this.consumed = 0
    if (this.#swallow > 0) {
      const skipped = Math.min(this.#swallow, end - start)
      this.#swallow -= skipped
      this.consumed = skipped
      if (this.#swallow > 0) return TextParse.NEED_MORE
      start += skipped
    }
    if (this.needBytes > 0 && end - start < this.needBytes) return TextParse.NEED_MORE
    const newline = this.#findNewline(buf, start, end)
    if (newline < 0) {
      if (newline === -1) return TextParse.NEED_MORE
      this.#reset()
      return this.#fatal(request, TextReply.LINE_TOO_LONG)
    }
    let lineEnd = newline
    if (lineEnd > start && buf[lineEnd - 1] === CR) lineEnd--
    const lineBytes = newline + 1 - start
    request.noreply = false
    request.reply = ''
    if (!this.#tokenize(buf, start, lineEnd)) return this.#error(request, lineBytes, TextReply.ERROR)
    const op = commandOf(buf, this.#tokenStart[0]!, this.#tokenEnd[0]!)
    if (op === 0) return this.#error(request, lineBytes, TextReply.ERROR)
    request.op = op
    switch (op) {
      case TextOp.GET: case TextOp.GETS: return this.#retrieval(buf, request, lineBytes, 1)
      case TextOp.GAT: case TextOp.GATS: return this.#getAndTouch(buf, request, lineBytes)
      case TextOp.SET: case TextOp.ADD: case TextOp.REPLACE: case TextOp.APPEND: case TextOp.PREPEND: case TextOp.CAS:
      case TextOp.TAG_SET:
        return this.#storage(buf, start, end, request, lineBytes)
      case TextOp.TAG_INVALIDATE: return this.#tagInvalidate(buf, request, lineBytes)
      case TextOp.DELETE: return this.#delete(buf, request, lineBytes)
      case TextOp.INCR: case TextOp.DECR: return this.#arithmetic(buf, request, lineBytes)
      case TextOp.TOUCH: return this.#touch(buf, request, lineBytes)
      case TextOp.FLUSH_ALL: return this.#flushAll(buf, request, lineBytes)
      case TextOp.STATS:
        if (this.#tokens > 2) return this.#error(request, lineBytes, TextReply.ERROR)
        request.group = this.#tokens === 2 ? buf.toString('latin1', this.#tokenStart[1]!, this.#tokenEnd[1]!) : ''
        return this.#request(lineBytes)
      case TextOp.VERBOSITY: {
        if (this.#tokens !== 2 && this.#tokens !== 3) return this.#error(request, lineBytes, TextReply.ERROR)
        request.noreply = this.#lastIsNoreply(buf)
        if (parseUint32(buf, this.#tokenStart[1]!, this.#tokenEnd[1]!) < 0) return this.#error(request, lineBytes, TextReply.BAD_FORMAT)
        return this.#request(lineBytes)
      }
      default: // VERSION, QUIT: memcached 1.6 ignores their arguments
        return this.#request(lineBytes)
    }
  }

  /**
   * Index of the newline ending the line at `start`; -1 if it may still come, -2 if the line is
   * already too long. Searches each byte once across calls (#scanned).
   */
  #findNewline (buf: Buffer, start: number, end: number): number {
    const available = end - start
    // Only a retrieval may grow past TEXT_MAX_LINE_BYTES; its prefix is checked once that many
    // bytes are in, so the verdict is the same however the bytes were split.
    let limit = TEXT_MAX_LINE_BYTES
    if (available >= TEXT_MAX_LINE_BYTES && isRetrieval(buf, start)) limit = Math.max(limit, this.#limits.maxRetrievalLineBytes)
    const stop = start + Math.min(available, limit)
    for (let i = start + this.#scanned; i < stop; i++) {
      if (buf[i] === LF) return i
    }
    this.#scanned = stop - start
    return available < limit ? -1 : -2
  }

  /** Splits [start, lineEnd) at spaces; false if there is no token or too many for a non-retrieval. */
  #tokenize (buf: Buffer, start: number, lineEnd: number): boolean {
    const starts = this.#tokenStart
    const ends = this.#tokenEnd
    let count = 0
    let i = start
    while (i < lineEnd) {
      while (i < lineEnd && buf[i] === SPACE) i++
      if (i === lineEnd) break
      const tokenStart = i
      while (i < lineEnd && buf[i] !== SPACE) i++
      starts[count] = tokenStart
      ends[count] = i
      count++
    }
    this.#tokens = count
    if (count === 0) return false
    if (count > MAX_TOKENS) {
      const op = commandOf(buf, starts[0]!, ends[0]!)
      return op === TextOp.GET || op === TextOp.GETS || op === TextOp.GAT || op === TextOp.GATS || op === TextOp.VERSION || op === TextOp.QUIT
    }
    return true
  }

  /** get/gets (first key at token 1) and gat/gats (at token 2): validates every key. */
  #retrieval (buf: Buffer, request: TextRequest, lineBytes: number, firstKey: number): TextParse {
    if (this.#tokens <= firstKey && firstKey === 1) return this.#error(request, lineBytes, TextReply.ERROR)
    const keys = request.keys
    let count = 0
    for (let t = firstKey; t < this.#tokens; t++) {
      const s = this.#tokenStart[t]!
      const e = this.#tokenEnd[t]!
      if (!this.#validKey(buf, s, e)) return this.#error(request, lineBytes, TextReply.BAD_FORMAT)
      keys[count++] = buf.subarray(s, e)
    }
    request.keyCount = count
    return this.#request(lineBytes)
  }

  #getAndTouch (buf: Buffer, request: TextRequest, lineBytes: number): TextParse {
    if (this.#tokens < 2) return this.#error(request, lineBytes, TextReply.ERROR)
    const exptime = parseInt32(buf, this.#tokenStart[1]!, this.#tokenEnd[1]!)
    if (Number.isNaN(exptime)) return this.#error(request, lineBytes, TextReply.BAD_EXPTIME)
    request.exptime = exptime
    // "gat <exptime>" without keys answers END, as memcached does.
    return this.#retrieval(buf, request, lineBytes, 2)
  }

  /**
   * set/add/replace/append/prepend <key> <flags> <exptime> <bytes> [noreply], and
   * cas <key> <flags> <exptime> <bytes> <cas unique> [noreply], and the extension
   * tag_set <key> <flags> <exptime> <bytes> <tag>[,<tag>…] [noreply]. Once <bytes> is valid, every
   * rejection swallows the data block, so the next line is parsed where the client meant it.
   */
  #storage (buf: Buffer, start: number, end: number, request: TextRequest, lineBytes: number): TextParse {
    const isCas = request.op === TextOp.CAS
    const isTagSet = request.op === TextOp.TAG_SET
    const fixed = isCas || isTagSet ? 6 : 5
    if (this.#tokens !== fixed && this.#tokens !== fixed + 1) return this.#error(request, lineBytes, TextReply.ERROR)
    const s = this.#tokenStart
    const e = this.#tokenEnd
    request.noreply = this.#tokens === fixed + 1 && this.#lastIsNoreply(buf)
    const bytes = parseInt32(buf, s[4]!, e[4]!)
    if (Number.isNaN(bytes) || bytes < 0 || bytes > INT32_MAX - 2) return this.#error(request, lineBytes, TextReply.BAD_FORMAT)
    const flags = parseUint32(buf, s[2]!, e[2]!)
    const exptime = parseInt32(buf, s[3]!, e[3]!)
    const cas = isCas ? parseCas(buf, s[5]!, e[5]!) : 0
    const tagsValid = !isTagSet || validTagList(buf, s[5]!, e[5]!)
    if (!this.#validKey(buf, s[1]!, e[1]!) || flags < 0 || Number.isNaN(exptime) || cas === -2 || !tagsValid) {
      return this.#rejectBlock(request, lineBytes, bytes, TextReply.BAD_FORMAT)
    }
    if (bytes > this.#limits.maxValueBytes) return this.#rejectBlock(request, lineBytes, bytes, TextReply.TOO_LARGE)
    const total = lineBytes + bytes + 2
    if (end - start < total) {
      // Keep the line until its block is in; the newline need not be searched for again.
      this.needBytes = total
      this.#scanned = lineBytes - 1
      return TextParse.NEED_MORE
    }
    const blockEnd = start + lineBytes + bytes
    if (buf[blockEnd] !== CR || buf[blockEnd + 1] !== LF) {
      // memcached reads exactly <bytes> + 2 bytes and resynchronises after them.
      this.#reset()
      this.consumed += total
      request.reply = TextReply.BAD_DATA_CHUNK
      return TextParse.ERROR
    }
    request.keys[0] = buf.subarray(s[1]!, e[1]!)
    request.keyCount = 1
    request.flags = flags
    request.exptime = exptime
    request.cas = cas
    request.tags = isTagSet ? buf.subarray(s[5]!, e[5]!) : EMPTY
    request.value = buf.subarray(start + lineBytes, blockEnd)
    this.#reset()
    this.consumed += total
    return TextParse.REQUEST
  }

  /** delete <key> [0] [noreply] (the "0" is memcached's legacy hold time, accepted if zero). */
  #delete (buf: Buffer, request: TextRequest, lineBytes: number): TextParse {
    const tokens = this.#tokens
    if (tokens < 2 || tokens > 4) return this.#error(request, lineBytes, TextReply.ERROR)
    if (tokens > 2) {
      const holdIsZero = this.#tokenEnd[2]! - this.#tokenStart[2]! === 1 && buf[this.#tokenStart[2]!] === 0x30
      request.noreply = this.#lastIsNoreply(buf)
      const valid = (tokens === 3 && (holdIsZero || request.noreply)) || (tokens === 4 && holdIsZero && request.noreply)
      if (!valid) return this.#error(request, lineBytes, TextReply.BAD_DELETE)
    }
    return this.#oneKey(buf, request, lineBytes)
  }

  /** incr|decr <key> <delta> [noreply] */
  #arithmetic (buf: Buffer, request: TextRequest, lineBytes: number): TextParse {
    if (this.#tokens !== 3 && this.#tokens !== 4) return this.#error(request, lineBytes, TextReply.ERROR)
    request.noreply = this.#lastIsNoreply(buf)
    if (!this.#validKey(buf, this.#tokenStart[1]!, this.#tokenEnd[1]!)) return this.#error(request, lineBytes, TextReply.BAD_FORMAT)
    const delta = parseUint64(buf, this.#tokenStart[2]!, this.#tokenEnd[2]!)
    if (delta === null) return this.#error(request, lineBytes, TextReply.BAD_DELTA)
    request.delta = delta
    return this.#oneKey(buf, request, lineBytes)
  }

  /** touch <key> <exptime> [noreply] */
  #touch (buf: Buffer, request: TextRequest, lineBytes: number): TextParse {
    if (this.#tokens !== 3 && this.#tokens !== 4) return this.#error(request, lineBytes, TextReply.ERROR)
    request.noreply = this.#lastIsNoreply(buf)
    if (!this.#validKey(buf, this.#tokenStart[1]!, this.#tokenEnd[1]!)) return this.#error(request, lineBytes, TextReply.BAD_FORMAT)
    const exptime = parseInt32(buf, this.#tokenStart[2]!, this.#tokenEnd[2]!)
    if (Number.isNaN(exptime)) return this.#error(request, lineBytes, TextReply.BAD_EXPTIME)
    request.exptime = exptime
    return this.#oneKey(buf, request, lineBytes)
  }

  /** tag_invalidate <tag> [noreply] (an extension; the tag's length is the engine's limit). */
  #tagInvalidate (buf: Buffer, request: TextRequest, lineBytes: number): TextParse {
    if (this.#tokens !== 2 && this.#tokens !== 3) return this.#error(request, lineBytes, TextReply.ERROR)
    request.noreply = this.#tokens === 3 && this.#lastIsNoreply(buf)
    if (this.#tokens === 3 && !request.noreply) return this.#error(request, lineBytes, TextReply.BAD_FORMAT)
    request.tags = buf.subarray(this.#tokenStart[1]!, this.#tokenEnd[1]!)
    return this.#request(lineBytes)
  }

  /** flush_all [delay] [noreply] */
  #flushAll (buf: Buffer, request: TextRequest, lineBytes: number): TextParse {
    const tokens = this.#tokens
    if (tokens > 3) return this.#error(request, lineBytes, TextReply.ERROR)
    request.noreply = tokens > 1 && this.#lastIsNoreply(buf)
    request.hasDelay = tokens !== (request.noreply ? 2 : 1)
    request.exptime = 0
    if (request.hasDelay) {
      const delay = parseInt32(buf, this.#tokenStart[1]!, this.#tokenEnd[1]!)
      if (Number.isNaN(delay)) return this.#error(request, lineBytes, TextReply.BAD_EXPTIME)
      request.exptime = delay
    }
    return this.#request(lineBytes)
  }

  #oneKey (buf: Buffer, request: TextRequest, lineBytes: number): TextParse {
    const s = this.#tokenStart[1]!
    const e = this.#tokenEnd[1]!
    if (!this.#validKey(buf, s, e)) return this.#error(request, lineBytes, TextReply.BAD_FORMAT)
    request.keys[0] = buf.subarray(s, e)
    request.keyCount = 1
    return this.#request(lineBytes)
  }

  /** A key: 1 to maxKeyBytes bytes, none of them a control character (spaces split tokens). */
  #validKey (buf: Buffer, start: number, end: number): boolean {
    const length = end - start
    if (length === 0 || length > this.#limits.maxKeyBytes) return false
    for (let i = start; i < end; i++) {
      const byte = buf[i]!
      if (byte < 0x21 || byte === 0x7f) return false
    }
    return true
  }

  #lastIsNoreply (buf: Buffer): boolean {
    const last = this.#tokens - 1
    return last > 0 && tokenEquals(buf, this.#tokenStart[last]!, this.#tokenEnd[last]!, 'noreply')
  }

  #request (lineBytes: number): TextParse {
    this.#reset()
    this.consumed += lineBytes
    return TextParse.REQUEST
  }

  #error (request: TextRequest, lineBytes: number, reply: string): TextParse {
    this.#reset()
    this.consumed += lineBytes
    request.reply = reply
    return TextParse.ERROR
  }

  /** Rejects a storage line whose block length is known: reply, then discard <bytes> + 2. */
  #rejectBlock (request: TextRequest, lineBytes: number, bytes: number, reply: string): TextParse {
    const result = this.#error(request, lineBytes, reply)
    this.#swallow = bytes + 2
    return result
  }

  #fatal (request: TextRequest, reply: string): TextParse {
    request.noreply = false
    request.reply = reply
    return TextParse.FATAL
  }

  #reset (): void {
    this.#scanned = 0
    this.needBytes = 0
  }
}

/** Whether the line at `start` is a retrieval (the only lines allowed past TEXT_MAX_LINE_BYTES). */
function isRetrieval (buf: Buffer, start: number): boolean {
  return tokenEquals(buf, start, start + 4, 'get ') || tokenEquals(buf, start, start + 5, 'gets ') ||
    tokenEquals(buf, start, start + 4, 'gat ') || tokenEquals(buf, start, start + 5, 'gats ')
}

/** A tag_set tags token: tags split at ',', none empty. */
function validTagList (buf: Buffer, start: number, end: number): boolean {
  if (buf[start] === COMMA || buf[end - 1] === COMMA) return false
  for (let i = start + 1; i < end; i++) {
    if (buf[i] === COMMA && buf[i - 1] === COMMA) return false
  }
  return true
}

/** Splits a tags token (already validated) at ',' into views. Allocates the list. */
export function splitTags (tags: Buffer): Buffer[] {
  const list: Buffer[] = []
  let from = 0
  for (let i = 0; i <= tags.length; i++) {
    if (i === tags.length || tags[i] === COMMA) {
      list.push(tags.subarray(from, i))
      from = i + 1
    }
  }
  return list
}

const COMMANDS: ReadonlyArray<[string, TextOp]> = [
  ['get', TextOp.GET], ['gets', TextOp.GETS], ['gat', TextOp.GAT], ['gats', TextOp.GATS],
  ['set', TextOp.SET], ['add', TextOp.ADD], ['replace', TextOp.REPLACE], ['append', TextOp.APPEND],
  ['prepend', TextOp.PREPEND], ['cas', TextOp.CAS], ['delete', TextOp.DELETE], ['incr', TextOp.INCR],
  ['decr', TextOp.DECR], ['touch', TextOp.TOUCH], ['flush_all', TextOp.FLUSH_ALL], ['stats', TextOp.STATS],
  ['version', TextOp.VERSION], ['verbosity', TextOp.VERBOSITY], ['quit', TextOp.QUIT],
  ['tag_set', TextOp.TAG_SET], ['tag_invalidate', TextOp.TAG_INVALIDATE]
]

/** The command named by buf[start, end) (case-sensitive, as in memcached), or 0. */
function commandOf (buf: Buffer, start: number, end: number): TextOp | 0 {
  for (const [name, op] of COMMANDS) {
    if (tokenEquals(buf, start, end, name)) return op
  }
  return 0
}

function tokenEquals (buf: Buffer, start: number, end: number, text: string): boolean {
  if (end - start !== text.length || end > buf.length) return false
  for (let i = 0; i < text.length; i++) {
    if (buf[start + i] !== text.charCodeAt(i)) return false
  }
  return true
}

/** Decimal u32 (digits only); -1 if invalid or out of range. */
export function parseUint32 (buf: Uint8Array, start: number, end: number): number {
  const length = end - start
  if (length === 0 || length > 10) return -1
  let value = 0
  for (let i = start; i < end; i++) {
    const digit = buf[i]! - 0x30
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value <= 0xffffffff ? value : -1
}

/** Decimal i32 with an optional '-'; NaN if invalid or out of range. */
export function parseInt32 (buf: Uint8Array, start: number, end: number): number {
  const negative = end > start && buf[start] === 0x2d
  const digitsStart = negative ? start + 1 : start
  const length = end - digitsStart
  if (length === 0 || length > 10) return Number.NaN
  let value = 0
  for (let i = digitsStart; i < end; i++) {
    const digit = buf[i]! - 0x30
    if (digit < 0 || digit > 9) return Number.NaN
    value = value * 10 + digit
  }
  if (negative) value = -value
  return value >= -(2 ** 31) && value <= INT32_MAX ? value : Number.NaN
}

/** Decimal u64 (digits only); null if invalid or out of range. Allocates a BigInt. */
export function parseUint64 (buf: Uint8Array, start: number, end: number): bigint | null {
  const length = end - start
  if (length === 0 || length > 20) return null
  for (let i = start; i < end; i++) {
    const digit = buf[i]! - 0x30
    if (digit < 0 || digit > 9) return null
  }
  const value = BigInt(Buffer.from(buf.buffer, buf.byteOffset + start, length).toString('latin1'))
  return value <= UINT64_MAX ? value : null
}

/** A cas unique (u64): the number, -1 if above 2^53 (matches nothing), -2 if invalid. */
function parseCas (buf: Uint8Array, start: number, end: number): number {
  const value = parseUint64(buf, start, end)
  if (value === null) return -2
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : -1
}

/** Writes "VALUE <key> <flags> <bytes>[ <cas>]\r\n" (cas < 0: without it). */
export function valueLine (key: Uint8Array, flags: number, bytes: number, cas: number): string {
  const keyText = Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1')
  return cas < 0 ? `VALUE ${keyText} ${flags} ${bytes}\r\n` : `VALUE ${keyText} ${flags} ${bytes} ${cas}\r\n`
}
