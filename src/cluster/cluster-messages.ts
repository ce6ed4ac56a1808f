/**
 * The cluster's application messages on the peer protocol: their `type` numbers and payload
 * codecs (the frame around them is peer-frame.ts). Thread: main (pure codecs, no I/O).
 * Owns: the on-wire layout of every cluster message; the README "Cluster messages" table lists
 * the same. All integers little-endian. Decoders throw SlabcacheError PEER_PROTOCOL on a
 * malformed payload (a peer speaking garbage never takes a node down).
 *
 *  HEARTBEAT     MESSAGE  member records (member-codec.ts): the sender's whole member list
 *  JOIN          REQUEST  member records → member records (the answering member's list)
 *  SYNC          REQUEST  (empty) → u32 items: stream everything the caller will hold, then answer
 *  FORWARD_RESP  REQUEST  u8 consistency · u32 tenant · u32 argc · argc × (u32 length · bytes) → RESP reply bytes
 *  FORWARD_CMD   REQUEST  u8 consistency · command (command-codec.ts) → result (command-codec.ts)
 *  REPLICATE     REQUEST  u8 kind · u32 record bytes · records (snapshot record format) ·
 *                         u32 tombstones · tombstones × (u32 tenant · f64 stamp · u16 key length · key)
 *                         → u32 applied · u32 stale
 *  DIGEST        REQUEST  u32 count · count × (u16 partition · u32 items · u32 digest)
 *                         → u32 count · count × u16 partition (the ones that differ here)
 */
import { SlabcacheError } from '../errors.js'
import type { ConsistencyMode } from '../config/options.js'

export const MessageType = {
  HEARTBEAT: 1,
  JOIN: 2,
  SYNC: 3,
  FORWARD_RESP: 4,
  FORWARD_CMD: 5,
  REPLICATE: 6,
  DIGEST: 7
} as const

/** Why a REPLICATE batch was sent (statistics and logs only; applied the same way). */
export const ReplicateKind = {
  WRITE: 0,
  STREAM: 1,
  REPAIR: 2
} as const

const CONSISTENCY_CODES: readonly ConsistencyMode[] = ['async', 'quorum', 'all']

export function consistencyCode (mode: ConsistencyMode): number {
  return mode === 'async' ? 0 : mode === 'quorum' ? 1 : 2
}

function consistencyOf (code: number): ConsistencyMode {
  const mode = CONSISTENCY_CODES[code]
  if (mode === undefined) throw malformed(`consistency code ${code}`)
  return mode
}

function malformed (what: string): SlabcacheError {
  return new SlabcacheError('PEER_PROTOCOL', `malformed cluster message: ${what}`)
}

function need (payload: Buffer, at: number, bytes: number, what: string): void {
  if (at + bytes > payload.length) throw malformed(`${what} runs past the end (${payload.length} bytes)`)
}

// ── FORWARD_RESP ────────────────────────────────────────────────────────────────────────

/** The payload as buffers to write in order (no concatenation of the arguments). */
export function encodeForwardResp (tenantId: number, argv: readonly Uint8Array[], consistency: ConsistencyMode): Buffer[] {
  const parts: Buffer[] = []
  const head = Buffer.allocUnsafe(9 + argv.length * 4)
  head[0] = consistencyCode(consistency)
  head.writeUInt32LE(tenantId, 1)
  head.writeUInt32LE(argv.length, 5)
  parts.push(head)
  // Lengths go into the head; the argument bytes follow it in one run, so the decoder reads
  // every length first and then slices.
  for (let i = 0; i < argv.length; i++) head.writeUInt32LE(argv[i]!.length, 9 + i * 4)
  for (const arg of argv) parts.push(Buffer.isBuffer(arg) ? arg : Buffer.from(arg.buffer, arg.byteOffset, arg.length))
  return parts
}

export interface ForwardResp { consistency: ConsistencyMode, tenantId: number, argv: Buffer[] }

export function decodeForwardResp (payload: Buffer): ForwardResp {
  need(payload, 0, 9, 'FORWARD_RESP header')
  const consistency = consistencyOf(payload[0]!)
  const tenantId = payload.readUInt32LE(1)
  const argc = payload.readUInt32LE(5)
  need(payload, 9, argc * 4, 'FORWARD_RESP lengths')
  let at = 9 + argc * 4
  const argv: Buffer[] = []
  for (let i = 0; i < argc; i++) {
    const length = payload.readUInt32LE(9 + i * 4)
    need(payload, at, length, 'FORWARD_RESP argument')
    argv.push(payload.subarray(at, at + length))
    at += length
  }
  if (at !== payload.length) throw malformed('FORWARD_RESP has trailing bytes')
  return { consistency, tenantId, argv }
}

// ── FORWARD_CMD ─────────────────────────────────────────────────────────────────────────

export function encodeForwardHead (consistency: ConsistencyMode): Buffer {
  return Buffer.of(consistencyCode(consistency))
}

export function decodeForwardHead (payload: Buffer): { consistency: ConsistencyMode, command: Buffer } {
  need(payload, 0, 1, 'FORWARD_CMD header')
  return { consistency: consistencyOf(payload[0]!), command: payload.subarray(1) }
}

// ── REPLICATE ───────────────────────────────────────────────────────────────────────────

/** A deleted key's stamp: newer versions than `stamp` may exist, older ones are dead. */
export interface Tombstone { tenantId: number, key: Buffer, stamp: number }

/**
 * The payload as buffers: a 5-byte head, the record views as they are, then the tombstones.
 * `recordBytes` is the sum of the records' lengths.
 */
export function encodeReplicate (kind: number, records: readonly Buffer[], recordBytes: number, tombstones: readonly Tombstone[]): Buffer[] {
  const head = Buffer.allocUnsafe(5)
  head[0] = kind
  head.writeUInt32LE(recordBytes, 1)
  let tombBytes = 4
  for (const t of tombstones) tombBytes += 14 + t.key.length
  const tail = Buffer.allocUnsafe(tombBytes)
  tail.writeUInt32LE(tombstones.length, 0)
  let at = 4
  for (const t of tombstones) {
    tail.writeUInt32LE(t.tenantId, at)
    tail.writeDoubleLE(t.stamp, at + 4)
    tail.writeUInt16LE(t.key.length, at + 12)
    t.key.copy(tail, at + 14)
    at += 14 + t.key.length
  }
  return [head, ...records, tail]
}

export interface Replicate { kind: number, records: Buffer, tombstones: Tombstone[] }

export function decodeReplicate (payload: Buffer): Replicate {
  need(payload, 0, 5, 'REPLICATE header')
  const kind = payload[0]!
  const recordBytes = payload.readUInt32LE(1)
  need(payload, 5, recordBytes + 4, 'REPLICATE records')
  const records = payload.subarray(5, 5 + recordBytes)
  let at = 5 + recordBytes
  const count = payload.readUInt32LE(at)
  at += 4
  const tombstones: Tombstone[] = []
  for (let i = 0; i < count; i++) {
    need(payload, at, 14, 'REPLICATE tombstone')
    const keyLength = payload.readUInt16LE(at + 12)
    need(payload, at + 14, keyLength, 'REPLICATE tombstone key')
    tombstones.push({ tenantId: payload.readUInt32LE(at), stamp: payload.readDoubleLE(at + 4), key: payload.subarray(at + 14, at + 14 + keyLength) })
    at += 14 + keyLength
  }
  if (at !== payload.length) throw malformed('REPLICATE has trailing bytes')
  return { kind, records, tombstones }
}

export function encodeCounts (a: number, b: number): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeUInt32LE(a, 0)
  out.writeUInt32LE(b, 4)
  return out
}

export function decodeCounts (payload: Buffer): [number, number] {
  need(payload, 0, 8, 'counts')
  return [payload.readUInt32LE(0), payload.readUInt32LE(4)]
}

// ── DIGEST ──────────────────────────────────────────────────────────────────────────────

export interface PartitionDigest { partition: number, items: number, digest: number }

export function encodeDigests (digests: readonly PartitionDigest[]): Buffer {
  const out = Buffer.allocUnsafe(4 + digests.length * 10)
  out.writeUInt32LE(digests.length, 0)
  let at = 4
  for (const d of digests) {
    out.writeUInt16LE(d.partition, at)
    out.writeUInt32LE(d.items, at + 2)
    out.writeUInt32LE(d.digest >>> 0, at + 6)
    at += 10
  }
  return out
}

export function decodeDigests (payload: Buffer): PartitionDigest[] {
  need(payload, 0, 4, 'DIGEST header')
  const count = payload.readUInt32LE(0)
  need(payload, 4, count * 10, 'DIGEST entries')
  if (payload.length !== 4 + count * 10) throw malformed('DIGEST has trailing bytes')
  const out: PartitionDigest[] = []
  for (let i = 0, at = 4; i < count; i++, at += 10) out.push({ partition: payload.readUInt16LE(at), items: payload.readUInt32LE(at + 2), digest: payload.readUInt32LE(at + 6) })
  return out
}

export function encodePartitions (partitions: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(4 + partitions.length * 2)
  out.writeUInt32LE(partitions.length, 0)
  for (let i = 0; i < partitions.length; i++) out.writeUInt16LE(partitions[i]!, 4 + i * 2)
  return out
}

export function decodePartitions (payload: Buffer): number[] {
  need(payload, 0, 4, 'partition list header')
  const count = payload.readUInt32LE(0)
  if (payload.length !== 4 + count * 2) throw malformed('partition list length')
  const out: number[] = []
  for (let i = 0; i < count; i++) out.push(payload.readUInt16LE(4 + i * 2))
  return out
}

export function encodeU32 (value: number): Buffer {
  const out = Buffer.allocUnsafe(4)
  out.writeUInt32LE(value, 0)
  return out
}

export function decodeU32 (payload: Buffer): number {
  need(payload, 0, 4, 'u32')
  return payload.readUInt32LE(0)
}
