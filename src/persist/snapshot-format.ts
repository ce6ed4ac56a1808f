/**
 * The snapshot file format (version 1): byte layout of the file header, the block headers, the
 * item records inside blocks and the trailer, with their encoders and the header/trailer
 * decoders. Thread: any (pure; the main thread, the piscina snapshot jobs and tests use it).
 * All integers little-endian. The README "Snapshot format" section documents the same layout.
 *
 *  file   = header (64 B) · block* · trailer (48 B), nothing after the trailer
 *  header   0 magic "SLABSNAP" (8)   8 u32 version   12 u32 header bytes (64)
 *          16 f64 createdMs (wall clock when the snapshot started)
 *          24 i32 tenant id (-1 = whole server)      28 u32 shard count of the writer
 *          32 u32 key hash seed (KEY_HASH_SEED)      36 u32 hash algorithm (1 = xxh32, seed ^ tenant)
 *          40..59 zero                               60 u32 CRC32C of bytes [0, 60)
 *  block    0 u32 "BLK1"  4 u32 shard  8 u32 item count  12 u32 payload bytes
 *          16 u32 CRC32C of the payload  20 u32 CRC32C of bytes [0, 20)  · payload
 *  record   0 u32 tenant id  4 u32 client flags  8 f64 expiry (absolute ms, 0 = none)
 *          16 f64 CAS (the write time is floor(CAS / 1024) ms)  24 u32 value bytes
 *          28 u16 key bytes  30 u8 tag count  31 u8 content type bytes
 *          32 key · content type · tag count × (u16 length · tag bytes) · value
 *  trailer  0 u32 "END1"  4 u32 blocks  8 f64 items  16 f64 payload bytes  24 f64 durationMs
 *          32..43 zero  44 u32 CRC32C of bytes [0, 44)
 * Every block is checked by both CRCs, so one flipped bit anywhere in the file is detected
 * (in a payload, a block header, the header or the trailer), and the trailer's counts must
 * agree with the blocks, so a file cut at a block boundary is detected too.
 */
import { crc32c } from './crc32c.js'

export const SNAPSHOT_MAGIC = Buffer.from('SLABSNAP', 'latin1')
export const SNAPSHOT_VERSION = 1
export const HEADER_BYTES = 64
export const BLOCK_HEADER_BYTES = 24
export const TRAILER_BYTES = 48
export const RECORD_FIXED_BYTES = 32
export const BLOCK_MAGIC = 0x314b4c42 // "BLK1" read as a little-endian u32
export const TRAILER_MAGIC = 0x31444e45 // "END1"
/** The key hash: xxh32 over the key with seed KEY_HASH_SEED ^ tenant (core/key-hash.ts). */
export const HASH_ALGORITHM_XXH32 = 1
/** Tenant id written in the header of a whole-server snapshot. */
export const WHOLE_SERVER = -1

export interface SnapshotHeader {
  version: number
  createdMs: number
  /** WHOLE_SERVER (-1) or the tenant the snapshot holds. */
  tenantId: number
  shardCount: number
  hashSeed: number
  hashAlgorithm: number
}

export interface SnapshotTrailer {
  blocks: number
  items: number
  payloadBytes: number
  durationMs: number
}

export function encodeHeader (header: SnapshotHeader): Buffer {
  const b = Buffer.alloc(HEADER_BYTES)
  SNAPSHOT_MAGIC.copy(b, 0)
  b.writeUInt32LE(header.version, 8)
  b.writeUInt32LE(HEADER_BYTES, 12)
  b.writeDoubleLE(header.createdMs, 16)
  b.writeInt32LE(header.tenantId, 24)
  b.writeUInt32LE(header.shardCount, 28)
  b.writeUInt32LE(header.hashSeed >>> 0, 32)
  b.writeUInt32LE(header.hashAlgorithm, 36)
  b.writeUInt32LE(crc32c(b, 0, 60), 60)
  return b
}

/** Why a header, block header or trailer was refused; the reader turns it into an error code. */
export type FormatFault = 'version' | 'corrupt'

/** Decodes the header at b[0, 64); returns a fault instead for a wrong magic/version or bad CRC. */
export function decodeHeader (b: Buffer): SnapshotHeader | { fault: FormatFault, why: string } {
  if (!b.subarray(0, 8).equals(SNAPSHOT_MAGIC)) return { fault: 'version', why: 'it does not start with the magic "SLABSNAP" (not a slabcache snapshot)' }
  if (b.readUInt32LE(60) !== crc32c(b, 0, 60)) return { fault: 'corrupt', why: 'the file header CRC32C does not match' }
  const version = b.readUInt32LE(8)
  if (version !== SNAPSHOT_VERSION) return { fault: 'version', why: `format version ${version} is not supported (this build reads version ${SNAPSHOT_VERSION})` }
  if (b.readUInt32LE(12) !== HEADER_BYTES) return { fault: 'corrupt', why: `header length ${b.readUInt32LE(12)} is not ${HEADER_BYTES}` }
  return {
    version,
    createdMs: b.readDoubleLE(16),
    tenantId: b.readInt32LE(24),
    shardCount: b.readUInt32LE(28),
    hashSeed: b.readUInt32LE(32),
    hashAlgorithm: b.readUInt32LE(36)
  }
}

/** The 24-byte header of a block holding `payload`. */
export function encodeBlockHeader (shard: number, items: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(BLOCK_HEADER_BYTES)
  b.writeUInt32LE(BLOCK_MAGIC, 0)
  b.writeUInt32LE(shard, 4)
  b.writeUInt32LE(items, 8)
  b.writeUInt32LE(payload.length, 12)
  b.writeUInt32LE(crc32c(payload), 16)
  b.writeUInt32LE(crc32c(b, 0, 20), 20)
  return b
}

export function encodeTrailer (trailer: SnapshotTrailer): Buffer {
  const b = Buffer.alloc(TRAILER_BYTES)
  b.writeUInt32LE(TRAILER_MAGIC, 0)
  b.writeUInt32LE(trailer.blocks, 4)
  b.writeDoubleLE(trailer.items, 8)
  b.writeDoubleLE(trailer.payloadBytes, 16)
  b.writeDoubleLE(trailer.durationMs, 24)
  b.writeUInt32LE(crc32c(b, 0, 44), 44)
  return b
}

/** Decodes a trailer at b[at, at + 48); null if its magic or CRC is wrong. */
export function decodeTrailer (b: Buffer, at: number): SnapshotTrailer | null {
  if (b.readUInt32LE(at) !== TRAILER_MAGIC || b.readUInt32LE(at + 44) !== crc32c(b, at, at + 44)) return null
  return { blocks: b.readUInt32LE(at + 4), items: b.readDoubleLE(at + 8), payloadBytes: b.readDoubleLE(at + 16), durationMs: b.readDoubleLE(at + 24) }
}

/** Byte length of the record of an item with these parts. */
export function recordBytes (keyBytes: number, contentTypeBytes: number, tagBytesTotal: number, tagCount: number, valueBytes: number): number {
  return RECORD_FIXED_BYTES + keyBytes + contentTypeBytes + tagBytesTotal + 2 * tagCount + valueBytes
}

/** One item record, decoded: every Buffer is a view of the decoded bytes (no copies). */
export interface DecodedRecord {
  tenantId: number
  flags: number
  /** Absolute expiry, ms; 0 = none. */
  expiryMs: number
  cas: number
  key: Buffer
  /** null when the item has none. */
  contentType: Buffer | null
  /** null when the item has none. */
  tags: Buffer[] | null
  value: Buffer
  /** Length of the whole record: the next record starts at offset + recordBytes. */
  recordBytes: number
}

/**
 * Decodes the record at bytes[offset]. Returns views into `bytes` (no copies; it allocates
 * the views, the result object and the tag array), or null, never throwing, when the record is
 * malformed: it runs past the end of `bytes` (fixed part, key, content type, a tag length or
 * tag, or the value), or its CAS is not positive and finite, or its expiry is negative or
 * not finite. The tenant id and the lengths are not checked against the store's limits:
 * the store refuses what it cannot hold.
 */
export function decodeRecord (bytes: Buffer, offset: number): DecodedRecord | null {
  const end = bytes.length
  if (!(offset >= 0) || offset + RECORD_FIXED_BYTES > end) return null
  const cas = bytes.readDoubleLE(offset + 16)
  const expiryMs = bytes.readDoubleLE(offset + 8)
  if (!(cas > 0) || !Number.isFinite(cas) || !Number.isFinite(expiryMs) || expiryMs < 0) return null
  const valueLength = bytes.readUInt32LE(offset + 24)
  const keyLength = bytes.readUInt16LE(offset + 28)
  const tagCount = bytes[offset + 30]!
  const contentTypeLength = bytes[offset + 31]!
  let p = offset + RECORD_FIXED_BYTES
  if (p + keyLength + contentTypeLength > end) return null
  const key = bytes.subarray(p, p + keyLength)
  p += keyLength
  const contentType = contentTypeLength === 0 ? null : bytes.subarray(p, p + contentTypeLength)
  p += contentTypeLength
  let tags: Buffer[] | null = null
  if (tagCount > 0) {
    tags = new Array<Buffer>(tagCount)
    for (let i = 0; i < tagCount; i++) {
      if (p + 2 > end) return null
      const length = bytes.readUInt16LE(p)
      if (p + 2 + length > end) return null
      tags[i] = bytes.subarray(p + 2, p + 2 + length)
      p += 2 + length
    }
  }
  if (p + valueLength > end) return null
  return {
    tenantId: bytes.readUInt32LE(offset),
    flags: bytes.readUInt32LE(offset + 4),
    expiryMs,
    cas,
    key,
    contentType,
    tags,
    value: bytes.subarray(p, p + valueLength),
    recordBytes: p + valueLength - offset
  }
}

/** File names in `<dataDir>/snapshots/`. */
export const WHOLE_FILE = 'dump.slab'
export function tenantFile (tenantId: number): string { return `tenant-${tenantId}.slab` }
