/**
 * The messages a shard's command ring carries: op codes and the byte layout of requests
 * (main thread → shard worker) and replies (worker → main thread). Thread: both sides. L3.
 * Invariant: every request gets exactly one reply with the same id, in request order
 * (the worker runs one ring's commands in order; a heavy command that runs in slices delays
 * the replies queued behind it rather than overtaking them).
 *
 *   request  off size                    reply  off size
 *            0   4  request id u32              0   4  request id u32
 *            4   1  op u8                       4   1  status u8 (StoreStatus, or REPLY_ERROR)
 *            8   4  arg i32 (tenant, …)         8   8  number f64 (count, cas, …)
 *           12   4  key length u32             16   …  payload (value bytes, error text)
 *           16   …  key bytes, then value bytes
 */

export const OP_PING = 1
/** Remove every item of tenant `arg` (-1: all) in bounded slices; reply number = removed. */
export const OP_FLUSH = 2
/** Worker-side get (benchmarks compare it with inline execution); reply payload = value. */
export const OP_GET = 3
/** Worker-side set of key → value; reply number = cas. */
export const OP_SET = 4
/** Run the slab invariant walker; reply number = live items, or REPLY_ERROR with the message. */
export const OP_CHECK = 5
/** Stop the worker loop and exit cleanly. */
export const OP_STOP = 6
/** Debug only: take the slab lock, make the seqlock odd, reply, and spin until terminated. */
export const OP_DEBUG_HANG_HOLDING_LOCK = 7
/** Debug only: a set of key → value that replies and spins after unlinking the old item (torn commit). */
export const OP_DEBUG_HANG_MID_SET = 8

export const REQUEST_HEADER_BYTES = 16
export const REPLY_HEADER_BYTES = 16
/** Reply status for failures that are not store outcomes; payload = message. */
export const REPLY_ERROR = 255
/** Reply status meaning "debug ops are disabled in this worker". */
export const REPLY_DEBUG_DISABLED = 254

/** What the shard worker receives as workerData. */
export interface ShardWorkerData {
  shardId: number
  ownerId: number
  slab: SharedArrayBuffer
  clock: SharedArrayBuffer
  requests: SharedArrayBuffer
  replies: SharedArrayBuffer
  maintenanceIntervalMs: number
  lockTimeoutMs: number
  maxValueBytes: number
  /** LRU bump interval, ms (0 = exact LRU); the worker stamps bumps with it, as the main thread's store does. */
  bumpIntervalMs: number
  /** Whether debug ops (crash simulation) are accepted. */
  debugOps: boolean
}
