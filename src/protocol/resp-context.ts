/**
 * What RESP command handlers work with: the host they run in (an engine seen through the
 * protocol-neutral Command/Result types, plus server facts for INFO), the per-connection
 * session, and RespContext — typed shortcuts to the engine over reused Command objects.
 * Thread: main (pure, L1: knows no sockets, no shards; the server supplies the RespHost).
 * Invariants: a handler runs synchronously to completion on the main thread, so a sequence of
 * inline engine calls inside one handler is atomic with respect to every other client; the
 * engine's Result is reused, so a handler reads (or copies) it before its next engine call.
 */
import type { ClusterRouter, ConsistencyMode } from '../cluster/cluster-types.js'
import type { Command, Result } from '../command/command.js'
import { CounterMode, SetMode, StoreStatus } from '../core/store-status.js'
import type { RespWriter } from './resp-writer.js'
import type { ValueSink } from '../core/slab-values.js'
import { respErrorFor } from './resp-errors.js'

/** Limits and listener facts the handlers need (CONFIG GET, size checks). */
export interface RespSettings {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  readonly maxRequestBytes: number
  readonly maxConnections: number
  readonly memoryBytes: number
  readonly bindHost: string
}

/** Process facts for INFO server/memory, read when INFO runs. */
export interface RespProcessInfo {
  readonly version: string
  readonly processId: number
  readonly os: string
  readonly archBits: number
  readonly runId: string
  readonly tcpPort: number
  readonly rssBytes: number
  readonly executable: string
}

/** Connection and command counters, kept by the server and the dispatcher. */
export class RespCounters {
  connectedClients = 0
  totalConnectionsReceived = 0
  rejectedConnections = 0
  totalCommandsProcessed = 0
}

/** The engine's counters as the 'stats' command reports them (the fields RESP reads). */
export interface RespStatsView {
  uptimeMs: number
  memoryBytes: number
  items: number
  itemBytes: number
  chunkBytes: number
  capacityBytes: number
  hits: number
  misses: number
  evictions: number
  expirations: number
  shards: ReadonlyArray<{ wheelItems: number }>
}

/** What SNAPSHOT reports of a completed snapshot. */
export interface RespSnapshotInfo {
  readonly file: string
  readonly items: number
  readonly bytes: number
  readonly durationMs: number
}

/** What RESTORE reports of a completed restore. */
export interface RespRestoreInfo {
  readonly file: string
  readonly items: number
  readonly skippedExpired: number
  readonly evicted: number
  readonly durationMs: number
}

/**
 * Snapshots as the RESP commands see them (the server adapts its SnapshotManager). `tenantId`
 * null means the whole server. Promises reject with a SlabcacheError (SNAPSHOT_* codes).
 */
export interface RespSnapshots {
  /** A snapshot is being taken right now (by any trigger). */
  readonly saving: boolean
  /** Unix ms of the last successful whole-server save, or of the server's start if none yet (LASTSAVE). */
  readonly lastSaveMs: number
  save (tenantId: number | null): Promise<RespSnapshotInfo>
  /**
   * BGSAVE: starts a whole-server save whose outcome is logged, not replied; false (nothing
   * started) when a snapshot or restore is already running.
   */
  saveInBackground (): boolean
  restore (tenantId: number | null): Promise<RespRestoreInfo>
}

/** The server side of the RESP command layer. */
export interface RespHost {
  /** engine.execute: inline commands return the reused Result, heavy ones a Promise. */
  execute (command: Command): Result | Promise<Result>
  /** The engine's shared clock, ms since the epoch (moved by the debug clock in tests). */
  nowMs (): number
  readonly settings: RespSettings
  readonly counters: RespCounters
  processInfo (): RespProcessInfo
  /** Whether clients must AUTH first (any credential configured: see the tenant registry). */
  readonly authRequired: boolean
  /**
   * The tenant id that (user, secret) authenticates as, or null; a Promise when it must be
   * verified off the main thread (scrypt). Absent: nobody has credentials, and only Redis's
   * `default` user (tenant 0, no password) exists.
   */
  authenticate?: (user: string, secret: string) => number | null | Promise<number | null>
  /** Items of one tenant, all shards (DBSIZE); absent: DBSIZE counts every tenant's. */
  tenantItems?: (tenantId: number) => number
  /** The id of the tenant called `name`, or undefined; absent: only `default` (id 0) exists. */
  tenantId?: (name: string) => number | undefined
  /** The name of tenant `tenantId` (for NOPERM texts); absent: `default`. */
  tenantName?: (tenantId: number) => string | undefined
  /** SAVE, BGSAVE, LASTSAVE, SNAPSHOT, RESTORE; absent: they answer that snapshots are unavailable. */
  readonly snapshots?: RespSnapshots
  /**
   * Cluster mode: where each key lives and how to reach the other members. Absent or null:
   * single node, everything runs locally (the dispatcher's one null check).
   */
  readonly router?: ClusterRouter | null
}

/** One client connection's state. */
export class RespSession {
  readonly id: number
  readonly out: RespWriter
  /** Tenant the connection acts for: the default tenant until AUTH picks another. */
  tenantId = 0
  authenticated = false
  name = ''
  libName = ''
  libVersion = ''
  /** Set by QUIT: the server closes the connection once the replies are written. */
  closeAfterReply = false
  /** Full name of the last command ('client|info'), for CLIENT INFO. */
  lastCommand = ''
  readonly createdMs: number
  lastActiveMs: number
  readonly remoteAddress: string
  readonly localAddress: string
  /** CLIENT CONSISTENCY: this connection's write acknowledgement; null = the tenant's default. */
  consistency: ConsistencyMode | null = null
  /**
   * A peer's requests (executeForPeer): the owner runs them locally, never routing them again
   * (a forwarded command must not bounce between members that disagree about the ring).
   */
  forPeer = false

  constructor (id: number, out: RespWriter, nowMs: number, remoteAddress = '', localAddress = '') {
    this.id = id
    this.out = out
    this.createdMs = nowMs
    this.lastActiveMs = nowMs
    this.remoteAddress = remoteAddress
    this.localAddress = localAddress
  }
}

/** A handler: reads argv[0, argc), writes exactly one reply to `s.out` (or a Promise that will). */
export type RespHandler = (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number) => void | Promise<void>

/** One row of the command table (Redis's COMMAND INFO fields plus the handler). */
export interface RespCommandSpec {
  /** Lower case; subcommands are 'container|sub' as Redis 7 names them in errors. */
  readonly name: string
  /** Redis convention: N exactly N arguments (name included), −N at least N. */
  readonly arity: number
  readonly flags: readonly string[]
  readonly firstKey: number
  readonly lastKey: number
  readonly keyStep: number
  /** null for containers (CLIENT, COMMAND, CONFIG, DEBUG). */
  readonly handler: RespHandler | null
  readonly subcommands: ReadonlyMap<string, RespCommandSpec> | null
}

/** Builds a table row; `flags` is space-separated ('write denyoom fast'). */
export function command (name: string, arity: number, flags: string, keys: readonly [number, number, number],
  handler: RespHandler | null, subcommands: readonly RespCommandSpec[] | null = null): RespCommandSpec {
  return {
    name,
    arity,
    flags: flags === '' ? [] : flags.split(' '),
    firstKey: keys[0],
    lastKey: keys[1],
    keyStep: keys[2],
    handler,
    subcommands: subcommands === null ? null : new Map(subcommands.map((sub) => [sub.name.slice(sub.name.indexOf('|') + 1), sub]))
  }
}

export const NO_KEYS = [0, 0, 0] as const
export const ONE_KEY = [1, 1, 1] as const
export const ALL_KEYS = [1, -1, 1] as const

const EMPTY_KEY: Uint8Array = new Uint8Array(0)

/**
 * Typed engine calls for handlers, each over one reused Command object (no allocation per
 * call). Every method returns the engine's reused Result: read it before the next call.
 */
export class RespContext {
  readonly host: RespHost
  /** The command table (COMMAND reads it); filled by RespCommands. */
  table: ReadonlyMap<string, RespCommandSpec> = new Map()
  /** Tenant of the command being run; set by the dispatcher from the session. */
  tenantId = 0
  readonly #get = { op: 'get' as const, tenantId: 0, key: EMPTY_KEY, sink: null as ValueSink | null }
  readonly #set = { op: 'set' as const, tenantId: 0, key: EMPTY_KEY, value: EMPTY_KEY, mode: SetMode.SET as SetMode, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 }
  readonly #delete = { op: 'delete' as const, tenantId: 0, key: EMPTY_KEY }
  readonly #exists = { op: 'exists' as const, tenantId: 0, key: EMPTY_KEY }
  readonly #touch = { op: 'touch' as const, tenantId: 0, key: EMPTY_KEY, ttlMs: 0 }
  readonly #ttl = { op: 'ttl' as const, tenantId: 0, key: EMPTY_KEY }
  readonly #incr = { op: 'incr' as const, tenantId: 0, key: EMPTY_KEY, delta: 0n, mode: CounterMode.REDIS as CounterMode }
  readonly #scan = { op: 'scan' as const, tenantId: 0, cursor: 0, count: 0 }
  readonly #stats = { op: 'stats' as const }

  constructor (host: RespHost) {
    this.host = host
  }

  nowMs (): number { return this.host.nowMs() }

  get (key: Uint8Array): Result {
    const c = this.#get
    c.tenantId = this.tenantId
    c.key = key
    c.sink = null
    return this.host.execute(c) as Result
  }

  /**
   * A get whose value the store copies straight into `out` (RespWriter as ValueSink): on OK
   * the caller calls `out.commitValue()`; `result.value` is null.
   */
  getInto (key: Uint8Array, out: RespWriter): Result {
    const c = this.#get
    c.tenantId = this.tenantId
    c.key = key
    c.sink = out
    const result = this.host.execute(c) as Result
    c.sink = null // the command object outlives this session's writer
    return result
  }

  /** ttlMs: relative, 0 = no expiry (or, with keepTtl, the existing item's expiry). */
  set (key: Uint8Array, value: Uint8Array, mode: SetMode, ttlMs = 0, keepTtl = false, flags = 0): Result {
    const c = this.#set
    c.tenantId = this.tenantId
    c.key = key
    c.value = value
    c.mode = mode
    c.ttlMs = ttlMs
    c.keepTtl = keepTtl
    c.flags = flags
    return this.host.execute(c) as Result
  }

  delete (key: Uint8Array): Result {
    const c = this.#delete
    c.tenantId = this.tenantId
    c.key = key
    return this.host.execute(c) as Result
  }

  /**
   * Whether `key` exists: 1 or 0; -1 after writing the error reply when the engine could not
   * tell (a stuck shard must not read as "absent").
   */
  exists (out: RespWriter, key: Uint8Array): number {
    const c = this.#exists
    c.tenantId = this.tenantId
    c.key = key
    const result = this.host.execute(c) as Result
    if (this.failed(out, result)) return -1
    return result.status === StoreStatus.OK ? 1 : 0
  }

  /** Sets the expiry to now + ttlMs; 0 removes it. */
  touch (key: Uint8Array, ttlMs: number): Result {
    const c = this.#touch
    c.tenantId = this.tenantId
    c.key = key
    c.ttlMs = ttlMs
    return this.host.execute(c) as Result
  }

  /** Metadata read: ttlMs (−1 none, −2 absent) and valueLength, without copying the value. */
  ttl (key: Uint8Array): Result {
    const c = this.#ttl
    c.tenantId = this.tenantId
    c.key = key
    return this.host.execute(c) as Result
  }

  incr (key: Uint8Array, delta: bigint): Result {
    const c = this.#incr
    c.tenantId = this.tenantId
    c.key = key
    c.delta = delta
    return this.host.execute(c) as Result
  }

  scan (cursor: number, count: number): Result {
    const c = this.#scan
    c.tenantId = this.tenantId
    c.cursor = cursor
    c.count = count
    return this.host.execute(c) as Result
  }

  /** Flushes the tenant's items on every shard (heavy: a Promise of a fresh Result). */
  async flush (): Promise<Result> {
    return await this.host.execute({ op: 'flush', tenantId: this.tenantId })
  }

  stats (): RespStatsView {
    return (this.host.execute(this.#stats) as Result).stats as RespStatsView
  }

  /** Writes the error reply if `result` failed outside the store; returns whether it did. */
  failed (out: RespWriter, result: Result): boolean {
    if (result.error === null) return false
    out.error(respErrorFor(result.error, result.errorMessage))
    return true
  }

  /**
   * Checks the keys argv[from], argv[from + step], … below `to` against the key limit before a
   * multi-key command touches any; writes the error and returns false if one is too long.
   */
  keysFit (out: RespWriter, argv: Uint8Array[], from: number, to: number, step = 1): boolean {
    const max = this.host.settings.maxKeyBytes
    for (let i = from; i < to; i += step) {
      if (argv[i]!.length > max) {
        out.error(respErrorFor('KEY_TOO_LARGE'))
        return false
      }
    }
    return true
  }
}
