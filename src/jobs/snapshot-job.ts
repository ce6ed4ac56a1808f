/**
 * Piscina snapshot jobs: the CPU and disk work of snapshots, off the main thread.
 * Thread: a piscina worker thread (loaded from dist/jobs/snapshot-job.js by
 * persist/snapshot-pool.ts). Owns nothing between calls: every job gets what it needs (the
 * file descriptor, the position, the bytes) and leaves no state behind, and no job touches a
 * slab, so a job thread that dies can never leave a shard lock held.
 *  - writeBlock: frames one block (header with both CRC32Cs) and writes it at its position.
 *  - readSnapshot: reads a snapshot file, verifies all of it, works out the load order (the
 *    records in scope, unexpired, by ascending CAS), and hands the bytes and the order back
 *    (transferred, not copied); refusals come back as { error }, because an Error's code does
 *    not survive the trip between threads.
 */
import fs from 'node:fs'
import { move, transferableSymbol, valueSymbol } from 'piscina'
import { SlabcacheError } from '../errors.js'
import { encodeBlockHeader } from '../persist/snapshot-format.js'
import { verifySnapshot, type VerifiedSnapshot } from '../persist/snapshot-verify.js'
import { loadOrder, type LoadOrder } from '../persist/snapshot-order.js'

export interface WriteBlockTask {
  fd: number
  /** File offset of the block header. */
  position: number
  shard: number
  items: number
  payload: Uint8Array
}

/** Writes a block; resolves to the bytes written (header + payload). */
export function writeBlock (task: WriteBlockTask): number {
  const header = encodeBlockHeader(task.shard, task.items, task.payload)
  writeAll(task.fd, header, task.position)
  writeAll(task.fd, task.payload, task.position + header.length)
  return header.length + task.payload.length
}

function writeAll (fd: number, bytes: Uint8Array, position: number): void {
  let done = 0
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done)
}

export type ReadSnapshotResult =
  | { error: null, bytes: Uint8Array, snapshot: VerifiedSnapshot, order: LoadOrder }
  | { error: { code: SlabcacheError['code'], message: string }, bytes: null, snapshot: null, order: null }

export interface ReadSnapshotTask {
  file: string
  /** Records of this tenant only; null = all. */
  tenantId: number | null
  /** Records expired at this time are skipped. */
  nowMs: number
}

/** Reads and verifies `file` (see persist/snapshot-verify.ts). */
export function readSnapshot (task: ReadSnapshotTask): ReadSnapshotResult {
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(task.file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'SNAPSHOT_NOT_FOUND' : 'SNAPSHOT_IO'
    return { error: { code, message: `snapshot ${task.file} cannot be read: ${(error as Error).message}` }, bytes: null, snapshot: null, order: null }
  }
  try {
    const snapshot = verifySnapshot(bytes, task.file)
    // Transfer needs a buffer of its own: a small file may sit in this thread's Buffer pool,
    // and transferring the pool would detach it under every later allocation here.
    let own = bytes
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) {
      own = Buffer.allocUnsafeSlow(bytes.length)
      bytes.copy(own)
    }
    const order = loadOrder(own, snapshot, task.tenantId, task.nowMs)
    const result: ReadSnapshotResult = { error: null, bytes: own, snapshot, order }
    // Piscina transfers only what a top-level movable names: wrap the result in one.
    return move({ [transferableSymbol]: [own.buffer, order.offsets.buffer], [valueSymbol]: result } as never) as unknown as ReadSnapshotResult
  } catch (error) {
    if (error instanceof SlabcacheError) return { error: { code: error.code, message: error.message }, bytes: null, snapshot: null, order: null }
    throw error
  }
}
