/**
 * The memcached reply writers both a local and a forwarded request use: one Result in, the
 * text line or binary response out (and the hit/miss counters it implies), plus the tables
 * that map catalog errors to memcached's replies. Thread: main (pure, L1: writes into a
 * MemcacheOutput). Owns: nothing.
 * Invariant: a request's reply is written whole by one call (or not at all, for noreply and
 * quiet hits), so callers can hold or roll it back as a unit.
 */
import type { Result } from '../command/command.js'
import { SetMode, StoreStatus } from '../core/store-status.js'
import { ERROR_CATALOG, SlabcacheError, type ErrorCode } from '../errors.js'
import type { MemcacheCounters } from './memcache-backend.js'
import { BinaryStatus, Opcode, writeErrorResponse, writeResponseHeader, type BinaryRequest } from './memcache-binary.js'
import type { MemcacheOutput } from './memcache-output.js'
import { TextOp, TextReply, splitTags } from './memcache-text.js'

/** The store mode of each text storage command. */
export const TEXT_SET_MODE: Partial<Record<TextOp, SetMode>> = {
  [TextOp.SET]: SetMode.SET,
  [TextOp.ADD]: SetMode.ADD,
  [TextOp.REPLACE]: SetMode.REPLACE,
  [TextOp.APPEND]: SetMode.APPEND,
  [TextOp.PREPEND]: SetMode.PREPEND,
  [TextOp.CAS]: SetMode.CAS,
  [TextOp.TAG_SET]: SetMode.SET
}

/** Binary statuses for catalog errors; anything else is INTERNAL_ERROR with the catalog message. */
export const BINARY_STATUS_OF_ERROR: Partial<Record<ErrorCode, BinaryStatus>> = {
  KEY_TOO_LARGE: BinaryStatus.INVALID_ARGUMENTS,
  VALUE_TOO_LARGE: BinaryStatus.VALUE_TOO_LARGE,
  OUT_OF_MEMORY: BinaryStatus.OUT_OF_MEMORY,
  NOT_NUMERIC: BinaryStatus.NON_NUMERIC,
  SHARD_UNAVAILABLE: BinaryStatus.BUSY,
  SHARD_CRASHED: BinaryStatus.TEMPORARY_FAILURE,
  SHUTTING_DOWN: BinaryStatus.TEMPORARY_FAILURE,
  QUOTA_EXCEEDED: BinaryStatus.VALUE_TOO_LARGE,
  // Cluster: the owner could not be asked (or not in time): a transient, retryable state.
  PEER_UNAVAILABLE: BinaryStatus.BUSY,
  PEER_TIMEOUT: BinaryStatus.BUSY,
  PEER_BUSY: BinaryStatus.BUSY,
  PEER_PROTOCOL: BinaryStatus.BUSY,
  PEER_AUTH_FAILED: BinaryStatus.BUSY
}

// ── text ───────────────────────────────────────────────────────────────────────────────

/** A storage command's reply line (and cas counters) for its result. */
export function writeTextStored (out: MemcacheOutput, counters: MemcacheCounters, result: Result, mode: SetMode, noreply: boolean): void {
  let reply: string
  if (result.error !== null) {
    reply = result.error === 'VALUE_TOO_LARGE'
      ? TextReply.TOO_LARGE
      : result.error === 'OUT_OF_MEMORY' ? TextReply.OUT_OF_MEMORY_STORING : textTagError(result)
  } else {
    switch (result.status) {
      case StoreStatus.OK: reply = TextReply.STORED; break
      case StoreStatus.EXISTS: reply = TextReply.EXISTS; break
      case StoreStatus.NOT_FOUND: reply = TextReply.NOT_FOUND; break
      default: reply = TextReply.NOT_STORED
    }
    if (mode === SetMode.CAS) counters[result.status === StoreStatus.OK ? 'casHits' : result.status === StoreStatus.EXISTS ? 'casBadval' : 'casMisses']++
  }
  if (!noreply) out.writeAscii(reply)
}

export function writeTextDeleted (out: MemcacheOutput, counters: MemcacheCounters, result: Result, noreply: boolean): void {
  const reply = result.error !== null ? textError(result.error) : result.status === StoreStatus.OK ? TextReply.DELETED : TextReply.NOT_FOUND
  if (result.error === null) counters[result.status === StoreStatus.OK ? 'deleteHits' : 'deleteMisses']++
  if (!noreply) out.writeAscii(reply)
}

export function writeTextCounted (out: MemcacheOutput, counters: MemcacheCounters, result: Result, incr: boolean, noreply: boolean): void {
  let reply: string
  if (result.error === null || result.status === StoreStatus.NOT_NUMERIC) {
    const hit = result.status === StoreStatus.OK
    if (result.status !== StoreStatus.NOT_NUMERIC) counters[incr ? (hit ? 'incrHits' : 'incrMisses') : (hit ? 'decrHits' : 'decrMisses')]++
    reply = hit ? `${result.counter}\r\n` : result.status === StoreStatus.NOT_FOUND ? TextReply.NOT_FOUND : TextReply.NON_NUMERIC
  } else {
    reply = result.error === 'OUT_OF_MEMORY' ? TextReply.OUT_OF_MEMORY : textError(result.error)
  }
  if (!noreply) out.writeAscii(reply)
}

export function writeTextTouched (out: MemcacheOutput, counters: MemcacheCounters, result: Result, noreply: boolean): void {
  let reply: string
  if (result.error !== null) {
    reply = textError(result.error)
  } else {
    const hit = result.status === StoreStatus.OK
    counters[hit ? 'touchHits' : 'touchMisses']++
    reply = hit ? TextReply.TOUCHED : TextReply.NOT_FOUND
  }
  if (!noreply) out.writeAscii(reply)
}

/** A forward or replication failure as a text reply: `SERVER_ERROR <reason>` (none with noreply). */
export function writeTextPeerFailure (out: MemcacheOutput, error: unknown, noreply: boolean): void {
  if (!noreply) out.writeAscii(`SERVER_ERROR ${failureMessage(error)}\r\n`)
}

/** The text reply for a catalog error without a memcached-specific line. */
export function textError (error: ErrorCode): string {
  return error === 'KEY_TOO_LARGE' ? TextReply.BAD_FORMAT : `SERVER_ERROR ${ERROR_CATALOG[error].message}\r\n`
}

/** The text reply for a failed tag_set/tag_invalidate: a tag limit is the client's mistake. */
export function textTagError (result: Result): string {
  const error = result.error!
  if (error !== 'TOO_MANY_TAGS' && error !== 'TAG_TOO_LARGE') return textError(error)
  return `CLIENT_ERROR ${result.errorMessage !== '' ? result.errorMessage : ERROR_CATALOG[error].message}\r\n`
}

// ── binary ─────────────────────────────────────────────────────────────────────────────

/**
 * The answer to a GET/GETK/TOUCH/GAT/GATK: on a hit, flags as extras, the key (K variants),
 * the value (not for TOUCH) and the item's cas; on a miss nothing for quiet variants, else
 * KEY_NOT_FOUND (with the key as body for K variants, as memcached does).
 * valueInPlace: the read already copied the value into `out` (MemcacheOutput.expectValue).
 */
export function writeBinaryValue (out: MemcacheOutput, counters: MemcacheCounters, request: BinaryRequest, result: Result,
  withKey: boolean, withValue: boolean, valueInPlace = false): void {
  if (result.error !== null) {
    writeBinaryFailure(out, request, result.error)
    return
  }
  if (result.status !== StoreStatus.OK) {
    if (withValue) counters.getMisses++
    if (request.quiet) return
    if (withKey) {
      writeResponseHeader(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.key.length, 0, request.key.length, request.opaque, 0)
      out.writeBytes(request.key)
    } else {
      writeErrorResponse(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
    }
    return
  }
  if (withValue) counters.getHits++
  const keyLength = withKey ? request.key.length : 0
  const valueLength = withValue ? result.valueLength : 0
  writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, keyLength, 4, 4 + keyLength + valueLength, request.opaque, result.cas)
  out.writeUint32(result.flags)
  if (withKey) out.writeBytes(request.key)
  if (withValue) {
    if (valueInPlace) out.commitValue()
    else out.writeBytes(result.value!, 0, valueLength)
  }
}

/** The answer to SET/ADD/REPLACE/APPEND/PREPEND (memcached's complete_update_bin statuses). */
export function writeBinaryStored (out: MemcacheOutput, request: BinaryRequest, result: Result): void {
  if (result.error !== null) {
    writeBinaryFailure(out, request, result.error, result.errorMessage)
    return
  }
  switch (result.status) {
    case StoreStatus.OK:
      if (!request.quiet) writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 0, request.opaque, result.cas)
      return
    case StoreStatus.EXISTS:
      writeErrorResponse(out, request.opcode, BinaryStatus.KEY_EXISTS, request.opaque)
      return
    case StoreStatus.NOT_FOUND:
      writeErrorResponse(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
      return
    default: {
      // NOT_STORED: add finds the key (exists), replace misses it (not found), append/prepend: not stored.
      const status = request.command === Opcode.ADD
        ? BinaryStatus.KEY_EXISTS
        : request.command === Opcode.REPLACE ? BinaryStatus.KEY_NOT_FOUND : BinaryStatus.ITEM_NOT_STORED
      writeErrorResponse(out, request.opcode, status, request.opaque)
    }
  }
}

/**
 * The reply to a binary INCREMENT/DECREMENT once its last step is known: `result` from the
 * increment (or from the ADD that created the counter) and `value`, the counter's new value.
 */
export function writeBinaryCounted (out: MemcacheOutput, request: BinaryRequest, result: Result, value: bigint): void {
  if (result.status === StoreStatus.NOT_NUMERIC) {
    writeErrorResponse(out, request.opcode, BinaryStatus.NON_NUMERIC, request.opaque)
    return
  }
  if (result.error !== null) {
    writeBinaryFailure(out, request, result.error)
    return
  }
  if (request.quiet) return
  writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 8, request.opaque, result.cas)
  out.writeBigUint64(value)
}

/** A failure outside the store's own outcomes, as a binary status. */
export function writeBinaryFailure (out: MemcacheOutput, request: BinaryRequest, error: ErrorCode, detail = ''): void {
  // Tag limits are the client's mistake: INVALID_ARGUMENTS with the engine's own message.
  if (error === 'TOO_MANY_TAGS' || error === 'TAG_TOO_LARGE') {
    writeErrorResponse(out, request.opcode, BinaryStatus.INVALID_ARGUMENTS, request.opaque, detail !== '' ? detail : ERROR_CATALOG[error].message)
    return
  }
  writeErrorResponse(out, request.opcode, BINARY_STATUS_OF_ERROR[error] ?? BinaryStatus.INTERNAL_ERROR, request.opaque,
    BINARY_STATUS_OF_ERROR[error] === undefined ? ERROR_CATALOG[error].message : undefined)
}

/**
 * A forward or replication failure as a binary reply, the reason as its body: PEER_* →
 * BUSY (0x0085, retry), REPLICATION_TIMEOUT → INTERNAL_ERROR (0x0084: the write happened).
 * Quiet requests get it too (memcached answers quiet requests' errors).
 */
export function writeBinaryPeerFailure (out: MemcacheOutput, opcode: number, opaque: number, error: unknown): void {
  const code: ErrorCode = error instanceof SlabcacheError ? error.code : 'PEER_UNAVAILABLE'
  writeErrorResponse(out, opcode, BINARY_STATUS_OF_ERROR[code] ?? BinaryStatus.INTERNAL_ERROR, opaque, failureMessage(error))
}

/**
 * A binary TAG_SET value: u16 big-endian tag-block length, the tags joined by ',', the data.
 * null when the block overruns the value, is empty, or has an empty tag. Allocates the list.
 */
export function splitTagBlock (value: Buffer): { tags: Buffer[], data: Buffer } | null {
  if (value.length < 2) return null
  const blockBytes = value.readUInt16BE(0)
  if (blockBytes === 0 || 2 + blockBytes > value.length) return null
  const block = value.subarray(2, 2 + blockBytes)
  const tags = splitTags(block)
  if (tags.some((tag) => tag.length === 0)) return null
  return { tags, data: value.subarray(2 + blockBytes) }
}

/** A rejection's reason, on one line (it goes into a protocol line). */
export function failureMessage (error: unknown): string {
  const message = error instanceof Error ? error.message : ERROR_CATALOG.PEER_UNAVAILABLE.message
  return message.replace(/[\r\n]+/g, ' ')
}
