/**
 * The load order of a verified snapshot: the offsets of the records a restore will insert (one
 * tenant's or all, unexpired at `nowMs`), sorted by ascending CAS, i.e. oldest write first.
 * Thread: a piscina snapshot job (the sort of a million records takes about a second, which
 * must not stall the main thread during an on-demand restore); tests call it directly. Pure.
 */
import { RECORD_FIXED_BYTES } from './snapshot-format.js'
import type { VerifiedSnapshot } from './snapshot-verify.js'

export interface LoadOrder {
  /** Byte offsets of the records to insert, in insertion order. */
  offsets: Float64Array
  /** Records in scope skipped because they had expired at `nowMs`. */
  skippedExpired: number
}

/** Records of `tenantId` (null: all) in `b`, unexpired at `nowMs`, in ascending CAS order. */
export function loadOrder (b: Uint8Array, snapshot: VerifiedSnapshot, tenantId: number | null, nowMs: number): LoadOrder {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  let total = 0
  for (const block of snapshot.blocks) total += block.items
  const found = new Float64Array(total)
  const cases = new Float64Array(total)
  let count = 0
  let skippedExpired = 0
  for (const block of snapshot.blocks) {
    let at = block.payloadOffset
    for (let i = 0; i < block.items; i++) {
      const tenant = view.getUint32(at, true)
      if (tenantId === null || tenant === tenantId) {
        const expiryMs = view.getFloat64(at + 8, true)
        if (expiryMs !== 0 && expiryMs <= nowMs) {
          skippedExpired++
        } else {
          found[count] = at
          cases[count] = view.getFloat64(at + 16, true)
          count++
        }
      }
      at = recordEnd(view, at)
    }
  }
  const order = new Uint32Array(count)
  for (let i = 0; i < count; i++) order[i] = i
  order.sort((x, y) => cases[x]! - cases[y]!)
  const offsets = new Float64Array(count)
  for (let i = 0; i < count; i++) offsets[i] = found[order[i]!]!
  return { offsets, skippedExpired }
}

/** End of the (verified) record at `at`. */
export function recordEnd (view: DataView, at: number): number {
  let p = at + RECORD_FIXED_BYTES + view.getUint16(at + 28, true) + view.getUint8(at + 31)
  for (let t = view.getUint8(at + 30); t > 0; t--) p += 2 + view.getUint16(p, true)
  return p + view.getUint32(at + 24, true)
}
