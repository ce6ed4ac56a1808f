/**
 * Item values in the slab: writing a value into an item (inline or chunked), copying it out,
 * filling a ReadResult (value, metadata, content type), an item's byte counts, and parsing a
 * stored decimal counter. Stateless functions over a SlabMemory; SlabStore calls them.
 * Thread: whichever thread's SlabStore calls them. `readItem`/`copyValue` with `guarded` run in
 * the lock-free reader (under the seqlock: every length and ref is bounded before use, because
 * a torn read can show anything); the rest run under the slab lock.
 * L1: no I/O; no allocation except growing a ReadResult's buffer (and `parseCounter`'s BigInt).
 */
import { CHUNK_PAYLOAD_BYTES, F_CAS, I_CHUNK_OWNER, I_FLAGS, I_META, I_VALUE_LEN, ITEM_HEADER_BYTES, META_CHUNKED, META_EXT, align } from './slab-layout.js'
import { MAX_CONTENT_TYPE_BYTES, chunkListAt, contentTypeLengthOf, contentTypeOffset, dataOffset } from './item-ext.js'
import { CounterMode } from './store-status.js'
import type { SlabMemory } from './slab-memory.js'

export const INT64_MAX = (1n << 63n) - 1n
export const INT64_MIN = -(1n << 63n)
export const UINT64_MASK = (1n << 64n) - 1n

/**
 * A caller's output buffer that a read copies the value into directly (a reply being encoded),
 * instead of `ReadResult.value`: one copy per hit instead of two. The lock-free read copies
 * BEFORE its seqlock check, so a torn read can write garbage and then retry: `claimValue`
 * must not commit anything — the caller commits the value once the read returned OK, and on
 * any other outcome the claimed bytes are simply never committed (the next write overwrites
 * them).
 */
export interface ValueSink {
  /**
   * Makes room for a value of `length` bytes plus 3 bytes of slack (word copies may write up
   * to 3 bytes past the value) and returns the offset in `sinkBytes` where the value goes.
   * Called once per read attempt; a retry may claim again with another length.
   */
  claimValue (length: number): number
  /** The buffer `claimValue` answered for (read after calling it: it may grow the buffer). */
  readonly sinkBytes: Buffer
  /** u32 view of `sinkBytes.buffer` from byte 0 (it must span the claimed range). */
  readonly sinkWords: Uint32Array
}

/** What a read returns besides its status; one reused instance per caller. */
export class ReadResult {
  /**
   * Scratch holding the value in [0, valueLength); overwritten by the next read. Owned by the
   * store, which replaces it when a larger value arrives: a 4-aligned buffer of its own, whose
   * length is a multiple of 4, so values are copied out a word at a time.
   */
  value: Buffer
  /** `value`'s memory as u32 words. */
  valueWords: Uint32Array
  valueLength = 0
  flags = 0
  cas = 0
  /** Absolute expiry in ms, 0 = none. */
  expiryMs = 0
  /** The item's content type is contentType[0, contentTypeLength); length 0 = none. */
  readonly contentType: Buffer = Buffer.alloc(MAX_CONTENT_TYPE_BYTES)
  contentTypeLength = 0
  /** getWithTags: copies of the item's tag names (allocated per call; a cold path). */
  tags: Buffer[] = []
  /**
   * When set, a read copies the value into this sink (and commits nothing there) instead of
   * `value`, which is then left as it was. Set by the caller around one read.
   */
  sink: ValueSink | null = null

  constructor () {
    this.value = Buffer.allocUnsafeSlow(256)
    this.valueWords = new Uint32Array(this.value.buffer, 0, 64)
  }

  /** Makes `value` hold at least `bytes`; allocates when it grows (at least doubling). */
  reserve (bytes: number): void {
    if (this.value.length >= bytes && this.valueWords.buffer === this.value.buffer) return
    const capacity = align(Math.max(bytes, this.value.length * 2), 4)
    this.value = Buffer.allocUnsafeSlow(capacity)
    this.valueWords = new Uint32Array(this.value.buffer, 0, capacity / 4)
  }
}

/** Header + key + value (+ chunk list) bytes of item `ref`. */
export function itemBytes (memory: SlabMemory, ref: number): number {
  const words = memory.words
  const meta = words[ref * 2 + I_META]!
  const valueLength = words[ref * 2 + I_VALUE_LEN]!
  const data = dataOffset(words, ref, meta)
  if ((meta & META_CHUNKED) === 0) return data + valueLength
  const count = Math.ceil(valueLength / CHUNK_PAYLOAD_BYTES)
  return chunkListAt(data) + count * 4 + valueLength + count * ITEM_HEADER_BYTES
}

/** Chunk bytes item `ref` holds: its own chunk plus its value chunks. */
export function chunkBytesHeld (memory: SlabMemory, ref: number): number {
  const words = memory.words
  let total = memory.chunkBytesOf(ref)
  const meta = words[ref * 2 + I_META]!
  if ((meta & META_CHUNKED) !== 0) {
    const listWord = ref * 2 + chunkListAt(dataOffset(words, ref, meta)) / 4
    const count = Math.ceil(words[ref * 2 + I_VALUE_LEN]! / CHUNK_PAYLOAD_BYTES)
    for (let i = 0; i < count; i++) total += memory.chunkBytesOf(words[listWord + i]!)
  }
  return total
}

/** Copies `source` into item `ref`'s value at `valueOffset` (chunked or not). */
export function writeValue (memory: SlabMemory, ref: number, keyLength: number, source: Uint8Array, valueOffset: number): void {
  const words = memory.words
  const bytes = memory.bytes
  const meta = words[ref * 2 + I_META]!
  const data = (meta & META_EXT) === 0 ? ITEM_HEADER_BYTES + keyLength : dataOffset(words, ref, meta)
  if ((meta & META_CHUNKED) === 0) {
    bytes.set(source, ref * 8 + data + valueOffset)
    return
  }
  const listWord = ref * 2 + chunkListAt(data) / 4
  let done = 0
  while (done < source.length) {
    const at = valueOffset + done
    const chunk = words[listWord + Math.floor(at / CHUNK_PAYLOAD_BYTES)]!
    const within = at % CHUNK_PAYLOAD_BYTES
    const n = Math.min(source.length - done, CHUNK_PAYLOAD_BYTES - within)
    bytes.set(source.subarray(done, done + n), chunk * 8 + ITEM_HEADER_BYTES + within)
    done += n
  }
}

/**
 * Copies item `ref`'s value into `target` at `targetOffset`. With `guarded`, every length and
 * ref is checked first (a lock-free reader may be looking at garbage); returns false then.
 */
export function copyValue (memory: SlabMemory, ref: number, keyLength: number, target: Buffer, targetOffset: number, guarded = false): boolean {
  const words = memory.words
  const bytes = memory.bytes
  const valueLength = words[ref * 2 + I_VALUE_LEN]!
  const meta = words[ref * 2 + I_META]!
  const data = (meta & META_EXT) === 0 ? ITEM_HEADER_BYTES + keyLength : dataOffset(words, ref, meta)
  if ((meta & META_CHUNKED) === 0) {
    const start = ref * 8 + data
    if (guarded && data + valueLength > memory.chunkBytesOf(ref)) return false
    if (valueLength <= 64) {
      for (let i = 0; i < valueLength; i++) target[targetOffset + i] = bytes[start + i]!
    } else {
      bytes.copy(target, targetOffset, start, start + valueLength)
    }
    return true
  }
  const count = Math.ceil(valueLength / CHUNK_PAYLOAD_BYTES)
  const listOffset = chunkListAt(data)
  if (guarded && listOffset + count * 4 > memory.chunkBytesOf(ref)) return false
  const listWord = ref * 2 + listOffset / 4
  for (let i = 0; i < count; i++) {
    const chunk = words[listWord + i]!
    if (guarded && (!memory.isChunkStart(chunk) || words[chunk * 2 + I_CHUNK_OWNER] !== ref)) return false
    const payload = Math.min(CHUNK_PAYLOAD_BYTES, valueLength - i * CHUNK_PAYLOAD_BYTES)
    if (guarded && ITEM_HEADER_BYTES + payload > memory.chunkBytesOf(chunk)) return false
    const start = chunk * 8 + ITEM_HEADER_BYTES
    bytes.copy(target, targetOffset + i * CHUNK_PAYLOAD_BYTES, start, start + payload)
  }
  return true
}

/**
 * Fills `out` from item `ref` (all but expiryMs, which the caller has read); false if
 * (guarded) the item looked torn. `maxValueBytes` bounds a guarded read's value length.
 */
export function readItem (memory: SlabMemory, maxValueBytes: number, ref: number, keyLength: number, out: ReadResult, copy: boolean, guarded: boolean): boolean {
  const words = memory.words
  const bytes = memory.bytes
  const valueLength = words[ref * 2 + I_VALUE_LEN]!
  const meta = words[ref * 2 + I_META]!
  // One branch for untagged items; the extension block moves the value (item-ext.ts).
  let data = ITEM_HEADER_BYTES + keyLength
  if ((meta & META_EXT) !== 0) {
    data = dataOffset(words, ref, meta)
    // A torn ext header shows any offset: bound it by the chunk before copying through it.
    if (guarded && data > memory.chunkBytesOf(ref)) return false
    const length = contentTypeLengthOf(words, ref, keyLength)
    const start = ref * 8 + contentTypeOffset(words, ref, keyLength)
    for (let i = 0; i < length; i++) out.contentType[i] = bytes[start + i]!
    out.contentTypeLength = length
  } else {
    out.contentTypeLength = 0
  }
  // A torn read can show any length: bound it by the chunk before sizing a buffer for it.
  if (guarded && (valueLength > maxValueBytes || ((meta & META_CHUNKED) === 0 &&
      data + valueLength > memory.chunkBytesOf(ref)))) return false
  out.valueLength = valueLength
  out.flags = words[ref * 2 + I_FLAGS]!
  out.cas = memory.doubles[ref + F_CAS]!
  if (!copy) return true
  const sink = out.sink
  if (sink !== null) {
    // Straight into the caller's reply (claimValue leaves room for the word copy's slack).
    const at = sink.claimValue(valueLength)
    if ((meta & META_CHUNKED) !== 0) return copyValue(memory, ref, keyLength, sink.sinkBytes, at, guarded)
    copyOut(words, bytes, ref * 8 + data, valueLength, sink.sinkBytes, sink.sinkWords, at)
    return true
  }
  // Word copies write up to 3 bytes past the value: room for whole words.
  out.reserve(valueLength + 3)
  if ((meta & META_CHUNKED) !== 0) return copyValue(memory, ref, keyLength, out.value, 0, guarded)
  copyOut(words, bytes, ref * 8 + data, valueLength, out.value, out.valueWords, 0)
  return true
}

/**
 * The decimal integer item `ref` holds, in `mode`'s range (REDIS: signed 64-bit, no leading
 * zeros; MEMCACHED: unsigned 64-bit); null if it is not one (or is chunked, empty, or longer
 * than 20 bytes).
 */
export function parseCounter (memory: SlabMemory, ref: number, mode: CounterMode): bigint | null {
  const words = memory.words
  const length = words[ref * 2 + I_VALUE_LEN]!
  if ((words[ref * 2 + I_META]! & META_CHUNKED) !== 0 || length === 0 || length > 20) return null
  const start = ref * 8 + dataOffset(words, ref, words[ref * 2 + I_META]!)
  const bytes = memory.bytes
  let i = 0
  const negative = bytes[start] === 0x2d
  if (negative) {
    if (mode === CounterMode.MEMCACHED || length === 1) return null
    i = 1
  }
  // Redis rejects leading zeros ("01", "-0", "-01") like string2ll; memcached's strtoull
  // accepts them.
  if (mode === CounterMode.REDIS && bytes[start + i] === 0x30 && (negative || length > i + 1)) return null
  for (let j = i; j < length; j++) {
    const digit = bytes[start + j]! - 0x30
    if (digit < 0 || digit > 9) return null
  }
  // Up to 15 digits fit a double exactly; longer ones go through BigInt's parser.
  let value = length - i <= 15 ? BigInt(Number(bytes.toString('latin1', start + i, start + length))) : BigInt(bytes.toString('latin1', start + i, start + length))
  if (negative) value = -value
  if (mode === CounterMode.REDIS ? (value > INT64_MAX || value < INT64_MIN) : value > UINT64_MASK) return null
  return value
}

/** Largest counter magnitude the number paths handle (2^53 − 1: every integer up to it is exact). */
export const SAFE_COUNTER = Number.MAX_SAFE_INTEGER
/** `smallCounter`'s answer when the number path does not apply (the BigInt path decides). */
export const NOT_SMALL = -Infinity

/**
 * The decimal integer item `ref` holds as a number, when it has at most 15 digits (so it is
 * exact) and follows `mode`'s rules (as `parseCounter`); NOT_SMALL otherwise — longer, chunked,
 * empty or not a number: `parseCounter` then gives the exact answer. Under the lock; no
 * allocation (INCR's fast path: no BigInt, no string).
 */
export function smallCounter (memory: SlabMemory, ref: number, mode: CounterMode): number {
  const words = memory.words
  const meta = words[ref * 2 + I_META]!
  const length = words[ref * 2 + I_VALUE_LEN]!
  if ((meta & META_CHUNKED) !== 0 || length === 0 || length > 16) return NOT_SMALL
  const bytes = memory.bytes
  const start = ref * 8 + dataOffset(words, ref, meta)
  let i = 0
  const negative = bytes[start] === 0x2d
  if (negative) {
    if (mode === CounterMode.MEMCACHED || length === 1) return NOT_SMALL
    i = 1
  }
  if (length - i > 15) return NOT_SMALL
  if (mode === CounterMode.REDIS && bytes[start + i] === 0x30 && (negative || length > i + 1)) return NOT_SMALL
  let value = 0
  for (; i < length; i++) {
    const digit = bytes[start + i]! - 0x30
    if (digit < 0 || digit > 9) return NOT_SMALL
    value = value * 10 + digit
  }
  return negative ? -value : value
}

/** Decimal digits (and sign) of integer `value` (|value| ≤ SAFE_COUNTER). */
export function counterLength (value: number): number {
  let length = value < 0 ? 2 : 1
  for (let rest = Math.abs(value); rest >= 10; rest = Math.floor(rest / 10)) length++
  return length
}

/**
 * Rewrites item `ref`'s inline value as the decimal `value` of `length` bytes (counterLength),
 * in place; the caller checked that the chunk has room and holds the lock with the seqlock
 * odd. Sets the value length; the caller fixes the byte totals.
 */
export function writeCounter (memory: SlabMemory, ref: number, value: number, length: number): void {
  const words = memory.words
  const bytes = memory.bytes
  const start = ref * 8 + dataOffset(words, ref, words[ref * 2 + I_META]!)
  let rest = Math.abs(value)
  for (let at = start + length - 1; at >= start; at--) {
    bytes[at] = 0x30 + rest % 10
    rest = Math.floor(rest / 10)
  }
  if (value < 0) bytes[start] = 0x2d
  words[ref * 2 + I_VALUE_LEN] = length
}

/**
 * Copies `length` bytes at slab byte `start` into `target` at `at` (`targetWords`: a u32 view
 * of target's ArrayBuffer from byte 0; room for up to 3 bytes past the value). Does not
 * allocate: Node 20's Buffer#copy makes a Uint8Array view whenever the source range is not the
 * whole buffer (~100 bytes per read, and 2.5× the time of this loop for a 100-byte value). The
 * 0–3 bytes before the first aligned target word are copied one by one; after that, whole
 * target words are stored, and an unaligned source is read as aligned words shifted together
 * (little-endian typed arrays, as on every platform Node supports; checked at load, with a
 * byte loop otherwise).
 */
function copyOut (slabWords: Uint32Array, slabBytes: Buffer, start: number, length: number, target: Buffer, targetWords: Uint32Array, at: number): void {
  if (length <= 32 || !LITTLE_ENDIAN) {
    for (let i = 0; i < length; i++) target[at + i] = slabBytes[start + i]!
    return
  }
  const absolute = target.byteOffset + at
  const head = (4 - (absolute & 3)) & 3
  for (let i = 0; i < head; i++) target[at + i] = slabBytes[start + i]!
  start += head
  length -= head
  const to = (absolute + head) >>> 2
  const misalign = start & 3 // low bits survive ToInt32 even for offsets ≥ 2^31
  const first = (start - misalign) / 4
  const count = (length + 3) >>> 2
  if (misalign === 0) {
    for (let i = 0; i < count; i++) targetWords[to + i] = slabWords[first + i]!
    return
  }
  const low = misalign * 8
  const high = 32 - low
  let word = slabWords[first]!
  for (let i = 0; i < count; i++) {
    const next = slabWords[first + i + 1] ?? 0 // past the slab's end only for its last word
    targetWords[to + i] = (word >>> low) | (next << high)
    word = next
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
