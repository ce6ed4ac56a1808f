/**
 * Whole-file verification of a snapshot held in memory: header, every block (both CRCs, and
 * every record's framing inside it), the trailer and its counts, and nothing after it. Restore
 * loads nothing until this passed, so a damaged file leaves the server untouched.
 * Thread: a piscina snapshot job (src/jobs/snapshot-job.ts); tests call it directly. Pure.
 * Refusals are SlabcacheErrors naming the file and what is wrong: SNAPSHOT_VERSION (wrong magic
 * or version), SNAPSHOT_TRUNCATED (the file ends before its trailer does), SNAPSHOT_CORRUPT
 * (a CRC mismatch, bad framing, or counts that disagree).
 */
import { SlabcacheError } from '../errors.js'
import { MAX_KEY_BYTES, MAX_TENANTS } from '../core/slab-layout.js'
import { crc32c } from './crc32c.js'
import {
  BLOCK_HEADER_BYTES, BLOCK_MAGIC, HEADER_BYTES, SNAPSHOT_MAGIC, RECORD_FIXED_BYTES, TRAILER_BYTES, TRAILER_MAGIC, decodeHeader, decodeTrailer,
  type SnapshotHeader, type SnapshotTrailer
} from './snapshot-format.js'

/** One verified block: its payload is bytes [payloadOffset, payloadOffset + payloadBytes). */
export interface VerifiedBlock {
  shard: number
  items: number
  payloadOffset: number
  payloadBytes: number
}

export interface VerifiedSnapshot {
  header: SnapshotHeader
  trailer: SnapshotTrailer
  blocks: VerifiedBlock[]
}

/** Verifies `file`'s bytes `b` completely; throws a SlabcacheError (see the file comment). */
export function verifySnapshot (b: Buffer, file: string): VerifiedSnapshot {
  const truncated = (why: string): SlabcacheError => new SlabcacheError('SNAPSHOT_TRUNCATED', `snapshot ${file} is truncated: ${why}`)
  const corrupt = (why: string): SlabcacheError => new SlabcacheError('SNAPSHOT_CORRUPT', `snapshot ${file} is corrupt: ${why}`)
  if (b.length < HEADER_BYTES) {
    if (b.length >= SNAPSHOT_MAGIC.length && !b.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) {
      throw new SlabcacheError('SNAPSHOT_VERSION', `snapshot ${file} cannot be read: it does not start with the magic "SLABSNAP" (not a slabcache snapshot)`)
    }
    throw truncated(`it is ${b.length} bytes, shorter than the ${HEADER_BYTES}-byte file header`)
  }
  const header = decodeHeader(b)
  if ('fault' in header) {
    if (header.fault === 'version') throw new SlabcacheError('SNAPSHOT_VERSION', `snapshot ${file} cannot be read: ${header.why}`)
    throw corrupt(header.why)
  }
  const blocks: VerifiedBlock[] = []
  let at = HEADER_BYTES
  let items = 0
  let payloadTotal = 0
  for (;;) {
    if (b.length - at < 4) throw truncated(`it ends at byte ${b.length} after ${blocks.length} blocks, without its trailer`)
    const magic = b.readUInt32LE(at)
    if (magic === TRAILER_MAGIC) {
      if (b.length - at < TRAILER_BYTES) throw truncated(`the trailer at byte ${at} is cut off at byte ${b.length}`)
      const trailer = decodeTrailer(b, at)
      if (trailer === null) throw corrupt(`the trailer CRC32C at byte ${at} does not match`)
      if (b.length !== at + TRAILER_BYTES) throw corrupt(`${b.length - at - TRAILER_BYTES} unexpected bytes follow the trailer`)
      if (trailer.blocks !== blocks.length || trailer.items !== items || trailer.payloadBytes !== payloadTotal) {
        throw corrupt(`the trailer counts (${trailer.blocks} blocks, ${trailer.items} items) disagree with the file (${blocks.length} blocks, ${items} items)`)
      }
      return { header, trailer, blocks }
    }
    if (magic !== BLOCK_MAGIC) throw corrupt(`byte ${at} holds neither a block nor the trailer`)
    if (b.length - at < BLOCK_HEADER_BYTES) throw truncated(`the block header at byte ${at} is cut off at byte ${b.length}`)
    if (b.readUInt32LE(at + 20) !== crc32c(b, at, at + 20)) throw corrupt(`the block header CRC32C at byte ${at} does not match`)
    const shard = b.readUInt32LE(at + 4)
    const count = b.readUInt32LE(at + 8)
    const payloadBytes = b.readUInt32LE(at + 12)
    const payloadOffset = at + BLOCK_HEADER_BYTES
    if (b.length - payloadOffset < payloadBytes) throw truncated(`block ${blocks.length} (byte ${at}) needs ${payloadBytes} payload bytes; the file ends ${b.length - payloadOffset} bytes in`)
    if (b.readUInt32LE(at + 16) !== crc32c(b, payloadOffset, payloadOffset + payloadBytes)) throw corrupt(`the payload CRC32C of block ${blocks.length} (byte ${at}) does not match`)
    const framing = checkRecords(b, payloadOffset, payloadBytes, count)
    if (framing !== null) throw corrupt(`block ${blocks.length} (byte ${at}): ${framing}`)
    blocks.push({ shard, items: count, payloadOffset, payloadBytes })
    items += count
    payloadTotal += payloadBytes
    at = payloadOffset + payloadBytes
  }
}

/** Checks that `count` well-formed records fill payload [start, start + bytes) exactly; null if so. */
function checkRecords (b: Buffer, start: number, bytes: number, count: number): string | null {
  const end = start + bytes
  let at = start
  for (let i = 0; i < count; i++) {
    if (end - at < RECORD_FIXED_BYTES) return `record ${i} is cut off`
    const tenant = b.readUInt32LE(at)
    const keyLength = b.readUInt16LE(at + 28)
    if (tenant >= MAX_TENANTS) return `record ${i} names tenant ${tenant}`
    if (keyLength > MAX_KEY_BYTES) return `record ${i} has a ${keyLength}-byte key`
    let next = at + RECORD_FIXED_BYTES + keyLength + b[at + 31]!
    for (let t = b[at + 30]!; t > 0; t--) {
      if (end - next < 2) return `record ${i} is cut off in its tags`
      next += 2 + b.readUInt16LE(next)
    }
    next += b.readUInt32LE(at + 24)
    if (next > end) return `record ${i} runs past the block`
    at = next
  }
  return at === end ? null : `${end - at} bytes follow its ${count} records`
}
