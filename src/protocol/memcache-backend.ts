/**
 * The seams of a memcached session: what it needs from the server (MemcacheBackend, shared
 * MemcacheCounters, MemcacheLimits), what run() reports (SessionState), and the markers the
 * session and its cluster routing (memcache-cluster.ts) share. Thread: main (pure types and
 * counters, L1). Owns: nothing per connection; MemcacheCounters is one per server.
 * Invariant: a step's return is either a SessionState or CONTINUE, never both meanings at once.
 */
import type { ClusterRouter } from '../cluster/cluster-types.js'
import type { Command, Result } from '../command/command.js'
import type { Clock } from '../util/clock.js'

/** Internal step result: keep going with the next request (not a SessionState). */
export const CONTINUE = -1
/** ttl marker: the exptime is already in the past, so the item must vanish at once. */
export const EXPIRED = -1
/** Binary INCR/DECR expiration meaning "fail if absent" instead of creating the initial value. */
export const NO_CREATE = 0xffffffff

/** What run() stopped on; the server acts on it. */
export const SessionState = {
  /** All input handled: read more. */
  IDLE: 0,
  /** Replies over OUTPUT_HIGH_WATER_BYTES: write them, then run() again (after 'drain' if the socket is full). */
  BLOCKED: 1,
  /** A Promise result is pending: run() again once `pending` settles; do not read meanwhile. */
  WAITING: 2,
  /** quit, or framing lost: write what is pending, then close. */
  CLOSING: 3
} as const
export type SessionState = typeof SessionState[keyof typeof SessionState]

/** memcached's per-server counters (the `stats` names in comments), shared by all sessions. */
export class MemcacheCounters {
  cmdGet = 0 // cmd_get
  cmdSet = 0 // cmd_set
  cmdFlush = 0 // cmd_flush
  cmdTouch = 0 // cmd_touch
  getHits = 0 // get_hits
  getMisses = 0 // get_misses
  deleteHits = 0 // delete_hits
  deleteMisses = 0 // delete_misses
  incrHits = 0 // incr_hits
  incrMisses = 0 // incr_misses
  decrHits = 0 // decr_hits
  decrMisses = 0 // decr_misses
  casHits = 0 // cas_hits
  casMisses = 0 // cas_misses
  casBadval = 0 // cas_badval
  touchHits = 0 // touch_hits
  touchMisses = 0 // touch_misses
  authCmds = 0 // auth_cmds
  authErrors = 0 // auth_errors
  bytesRead = 0 // bytes_read
  bytesWritten = 0 // bytes_written
  totalConnections = 0 // total_connections
  rejectedConnections = 0 // rejected_connections
  /** curr_connections: not reset by `stats reset`. */
  currConnections = 0

  /** `stats reset`: zeroes every counter but the current connection count. */
  reset (): void {
    const current = this.currConnections
    Object.assign(this, new MemcacheCounters())
    this.currConnections = current
  }
}

/** What a session needs from the server. The Engine provides execute() and clock. */
export interface MemcacheBackend {
  /**
   * Runs a command. O(1) commands return a reused Result synchronously (read it before the next
   * call); heavy ones (flush) return a Promise.
   */
  execute: (command: Command) => Result | Promise<Result>
  readonly clock: Clock
  readonly counters: MemcacheCounters
  /** The version string `version` reports. */
  readonly version: string
  /** `[name, value]` pairs for a stats group ('' = general), or null if the group is unknown. */
  stats: (group: string) => ReadonlyArray<readonly [string, string]> | null
  /** flush_all with a delay: flushes `tenantId` at `atMs` (0 cancels), replacing an earlier schedule. */
  scheduleFlush: (tenantId: number, atMs: number) => void
  /** The flush of `tenantId` if its scheduled time has come (it is then no longer scheduled), else null. */
  dueFlush: (tenantId: number) => Promise<Result> | null
  /** SASL PLAIN: the tenant `user`/`password` authenticate as, or -1 (a Promise when checked off the main thread). */
  authenticate: (user: string, password: string) => number | Promise<number>
  /**
   * Credentials are configured: binary requests other than SASL and VERSION answer AUTH_ERROR
   * until SASL succeeds, and text connections are refused. Absent = false.
   */
  readonly authRequired?: boolean
  /**
   * Cluster mode: keyed requests whose owner is another node are forwarded to it, flush_all
   * and tag_invalidate fan out to every peer, and local writes hold their reply until
   * `replicated()` settles. Absent or null: single node, everything runs locally (read once,
   * when a session is created).
   */
  readonly router?: ClusterRouter | null
}

export interface MemcacheLimits {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  /** Longest text get/gets/gat/gats line. */
  readonly maxRetrievalLineBytes: number
}
