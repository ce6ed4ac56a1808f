/**
 * Member-record codec: the compact binary body of the peer frames that carry gossip
 * (heartbeats, join requests and replies, probes). Thread: main (pure: bytes in, bytes out).
 * Owns: the layout below. Part of the peer protocol (on-wire contract); all integers are
 * big-endian (network order).
 *
 *   offset  size  field
 *   ------  ----  -------------------------------------------------------------
 *   0       2     u16 record count
 *   then, per record:
 *   +0      1     u8 state: 0 joining, 1 up, 2 suspect, 3 dead, 4 left (PRECEDENCE rank)
 *   +1      8     f64 incarnation (a non-negative integer below 2^53: ms since the epoch)
 *   +9      2     u16 id byte length (≥ 1)
 *   +11     n     id, UTF-8
 *   +11+n   2     u16 address byte length
 *   +13+n   m     address, UTF-8
 *
 * Invariant: decode accepts exactly what encode produces: a truncated, padded or otherwise
 * malformed payload is refused whole with PEER_PROTOCOL, never half decoded.
 */
import { SlabcacheError } from '../errors.js'
import { MEMBER_STATES, PRECEDENCE } from './membership.js'
import type { MemberRecord } from './membership.js'

/** Largest count and string length the u16 fields can carry. */
const MAX_U16 = 0xFFFF
/** Fixed bytes of one record: state, incarnation and the two length fields. */
const RECORD_FIXED_BYTES = 1 + 8 + 2 + 2
const COUNT_BYTES = 2
/** u8 state + f64 incarnation, ahead of the id. */
const STATE_AND_INCARNATION_BYTES = 9

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Encodes records (typically `Membership.records()`). Allocates one Buffer.
 * Throws RangeError on API misuse: more than 65535 records, an empty id, an id or address
 * longer than 65535 UTF-8 bytes, an unknown state, an incarnation that is not a non-negative
 * safe integer.
 */
export function encodeMemberRecords (records: readonly MemberRecord[]): Buffer {
  if (records.length > MAX_U16) throw new RangeError(`at most ${MAX_U16} member records fit a frame; received ${records.length}`)
  const ids: Buffer[] = []
  const addresses: Buffer[] = []
  let totalBytes = COUNT_BYTES
  for (const r of records) {
    if (!Object.hasOwn(PRECEDENCE, r.state)) throw new RangeError(`member record state must be one of ${MEMBER_STATES.join(', ')}; received ${JSON.stringify(r.state)}`)
    if (!Number.isSafeInteger(r.incarnation) || r.incarnation < 0) throw new RangeError(`member record incarnation must be a non-negative integer; received ${String(r.incarnation)}`)
    const id = Buffer.from(r.id, 'utf8')
    const address = Buffer.from(r.address, 'utf8')
    if (id.length === 0 || id.length > MAX_U16) throw new RangeError(`member record id must be 1 to ${MAX_U16} UTF-8 bytes; received ${id.length}`)
    if (address.length > MAX_U16) throw new RangeError(`member record address must be at most ${MAX_U16} UTF-8 bytes; received ${address.length}`)
    ids.push(id)
    addresses.push(address)
    totalBytes += RECORD_FIXED_BYTES + id.length + address.length
  }
  const out = Buffer.allocUnsafe(totalBytes)
  let at = out.writeUInt16BE(records.length, 0)
  for (let i = 0; i < records.length; i++) {
    at = out.writeUInt8(PRECEDENCE[records[i]!.state], at)
    at = out.writeDoubleBE(records[i]!.incarnation, at)
    at = out.writeUInt16BE(ids[i]!.length, at)
    at += ids[i]!.copy(out, at)
    at = out.writeUInt16BE(addresses[i]!.length, at)
    at += addresses[i]!.copy(out, at)
  }
  return out
}

/**
 * Decodes a payload from `encodeMemberRecords`. Allocates the records.
 * @throws SlabcacheError PEER_PROTOCOL when the payload is truncated, has bytes after the
 *   last record, or holds an unknown state, an incarnation that is not a non-negative safe
 *   integer, an empty id, or invalid UTF-8; the message says which and at what offset.
 */
export function decodeMemberRecords (payload: Buffer): MemberRecord[] {
  if (payload.length < COUNT_BYTES) refuse(`payload of ${payload.length} bytes has no record count`)
  const count = payload.readUInt16BE(0)
  // Each record takes at least RECORD_FIXED_BYTES + 1: refuse an absurd count before looping.
  if (count * (RECORD_FIXED_BYTES + 1) > payload.length - COUNT_BYTES) refuse(`${count} records cannot fit in ${payload.length} bytes`)
  const records: MemberRecord[] = []
  let at = COUNT_BYTES
  for (let i = 0; i < count; i++) {
    if (at + STATE_AND_INCARNATION_BYTES > payload.length) refuse(`record ${i} is truncated at byte ${at}`)
    const stateCode = payload.readUInt8(at)
    const state = MEMBER_STATES[stateCode]
    if (state === undefined) refuse(`record ${i} has unknown state ${stateCode} at byte ${at}`)
    const incarnation = payload.readDoubleBE(at + 1)
    if (!Number.isSafeInteger(incarnation) || incarnation < 0) refuse(`record ${i} has invalid incarnation ${incarnation} at byte ${at + 1}`)
    at += STATE_AND_INCARNATION_BYTES
    const id = readString(payload, at, i, 'id')
    at += 2 + id.bytes
    if (id.bytes === 0) refuse(`record ${i} has an empty id`)
    const address = readString(payload, at, i, 'address')
    at += 2 + address.bytes
    records.push({ id: id.text, address: address.text, state, incarnation })
  }
  if (at !== payload.length) refuse(`${payload.length - at} bytes after the last record`)
  return records
}

/** A u16-length-prefixed UTF-8 string at `at`. */
function readString (payload: Buffer, at: number, record: number, field: string): { text: string, bytes: number } {
  if (at + 2 > payload.length) refuse(`record ${record} is truncated before its ${field} length at byte ${at}`)
  const bytes = payload.readUInt16BE(at)
  if (at + 2 + bytes > payload.length) refuse(`record ${record} ${field} of ${bytes} bytes is truncated at byte ${at + 2}`)
  let text: string
  try {
    text = decoder.decode(payload.subarray(at + 2, at + 2 + bytes))
  } catch {
    refuse(`record ${record} ${field} is not valid UTF-8 at byte ${at + 2}`)
  }
  return { text, bytes }
}

function refuse (detail: string): never {
  throw new SlabcacheError('PEER_PROTOCOL', `malformed member records: ${detail}`)
}
