/**
 * MemcacheSession: one memcached connection's protocol logic, independent of sockets: buffers
 * its input, detects text or binary from the first byte (0x80 = binary request magic), parses,
 * turns each request into protocol-neutral Commands run through an injected backend, and writes
 * the replies into its MemcacheOutput. Thread: main (L1: no net, no timers, no system clock;
 * the server owns the socket and calls push()/run()). Owns: the input buffer, the output, the
 * connection's tenant (SASL), and a multi-key get in progress.
 * In cluster mode (the backend has a router) a keyed request whose owner is another node is
 * forwarded to it, flush_all and tag_invalidate fan out to every peer, and a local write's
 * reply is held until replication acknowledges it; without a router all of that costs one null
 * check per request. `stats` always shows this node alone.
 * Invariants: replies leave in request order — any request may be pending (a flush, a forward,
 * a held write): processing stops until it settles (later requests, quiet ones included, are
 * not run early: a set after a flush must survive it); one request's commands run back to back
 * on the main thread, so a local composed request (touch + get, get + compare + delete) is
 * atomic with respect to other clients (a forwarded one runs as a sequence of forwards); the
 * input holds at most one incomplete request plus the last chunk pushed (the parsers bound
 * requests), and run() stops once OUTPUT_HIGH_WATER_BYTES of replies are pending.
 */
import type { ClusterRouter, ConsistencyMode, NodeId } from '../cluster/cluster-types.js'
import { Result, type Command } from '../command/command.js'
import { CounterMode, SetMode, StoreStatus } from '../core/store-status.js'
import { ERROR_CATALOG, SlabcacheError, type ErrorCode } from '../errors.js'
import type { Clock } from '../util/clock.js'
import {
  BinaryParse, BinaryRequest, BinaryStatus, MemcacheBinaryParser, Opcode, REQUEST_MAGIC, writeErrorResponse,
  writeResponseHeader
} from './memcache-binary.js'
import { MemcacheOutput } from './memcache-output.js'
import { MAX_RELATIVE_EXPTIME_S, MemcacheTextParser, TEXT_MAX_KEY_BYTES, TextOp, TextParse, TextReply, TextRequest, splitTags, valueLine } from './memcache-text.js'

/** run() stops taking requests while this many reply bytes wait to be written. */
export const OUTPUT_HIGH_WATER_BYTES = 256 * 1024
/** An owned input buffer larger than this is dropped once empty rather than kept per connection. */
const MAX_RETAINED_INPUT_BYTES = 64 * 1024
const MIN_INPUT_BYTES = 16 * 1024
/** ttl marker: the exptime is already in the past, so the item must vanish at once. */
const EXPIRED = -1
/** Binary INCR/DECR expiration meaning "fail if absent" instead of creating the initial value. */
const NO_CREATE = 0xffffffff
const EMPTY = Buffer.alloc(0)
/** The text protocol has no login (DESIGN §8): with credentials configured it is refused, then closed. */
export const TEXT_AUTH_REQUIRED = 'CLIENT_ERROR authentication required: the text protocol has no login; use the binary protocol with SASL PLAIN\r\n'

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

const Protocol = { UNKNOWN: 0, TEXT: 1, BINARY: 2 } as const
/** Internal: keep going with the next request. */
const CONTINUE = -1

type GetCommand = Extract<Command, { op: 'get' }>
type SetCommand = Extract<Command, { op: 'set' }>
type KeyCommand = Extract<Command, { op: 'delete' }>
type TouchCommand = Extract<Command, { op: 'touch' }>
type IncrCommand = Extract<Command, { op: 'incr' }>

/**
 * One connection. The server pushes each chunk it reads, calls run(), writes `output.take()`
 * and acts on the returned SessionState.
 */
export class MemcacheSession {
  readonly output = new MemcacheOutput()
  /** Settles when a WAITING session can run again. */
  pending: Promise<void> | null = null
  /** Tenant of this connection's commands: the default (0) until SASL says otherwise. */
  tenantId = 0
  /** SASL succeeded on this connection (required for most binary requests when auth is on). */
  authenticated = false
  readonly #backend: MemcacheBackend
  readonly #counters: MemcacheCounters
  /** Cluster mode's router, or null: the one check the single-node hot path pays. */
  readonly #router: ClusterRouter | null
  readonly #text: MemcacheTextParser
  readonly #binary: MemcacheBinaryParser
  readonly #textRequest = new TextRequest()
  readonly #binaryRequest = new BinaryRequest()
  #protocol: number = Protocol.UNKNOWN
  #closing = false
  #input: Buffer = EMPTY
  #start = 0
  #end = 0
  /** Whether #input is ours (else it is a pushed chunk, never written to). */
  #owned = false
  // A text retrieval yielded half way (output full): its op, exptime, keys (copies) and progress.
  #retrievalOp = 0
  #retrievalExptime = 0
  #retrievalKeys: Buffer[] = []
  #retrievalNext = -1
  /** Output mark at the retrieval's start, or -1 once replies were taken (no rollback then). */
  #retrievalMark = -1
  // Reused commands (no allocation per request).
  readonly #get: GetCommand = { op: 'get', tenantId: 0, key: EMPTY, sink: null }
  readonly #set: SetCommand = { op: 'set', tenantId: 0, key: EMPTY, value: EMPTY, mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 }
  readonly #delete: KeyCommand = { op: 'delete', tenantId: 0, key: EMPTY }
  readonly #touch: TouchCommand = { op: 'touch', tenantId: 0, key: EMPTY, ttlMs: 0 }
  readonly #incr: IncrCommand = { op: 'incr', tenantId: 0, key: EMPTY, delta: 0n, mode: CounterMode.MEMCACHED }
  readonly #invalidateTag: Extract<Command, { op: 'invalidateTag' }> = { op: 'invalidateTag', tenantId: 0, tag: EMPTY }

  constructor (backend: MemcacheBackend, limits: MemcacheLimits) {
    this.#backend = backend
    this.#counters = backend.counters
    this.#router = backend.router ?? null
    this.#text = new MemcacheTextParser({
      maxKeyBytes: Math.min(TEXT_MAX_KEY_BYTES, limits.maxKeyBytes),
      maxValueBytes: limits.maxValueBytes,
      maxRetrievalLineBytes: limits.maxRetrievalLineBytes
    })
    this.#binary = new MemcacheBinaryParser({ maxKeyBytes: limits.maxKeyBytes, maxValueBytes: limits.maxValueBytes })
  }

  /** 'text' or 'binary' once the first byte arrived, else null. */
  get protocol (): 'text' | 'binary' | null {
    return this.#protocol === Protocol.TEXT ? 'text' : this.#protocol === Protocol.BINARY ? 'binary' : null
  }

  /** Bytes received and not yet handled. */
  get bufferedBytes (): number { return this.#end - this.#start }

  /**
   * Adds received bytes. Keeps `chunk` itself when nothing is pending (no copy); otherwise
   * copies it behind the pending bytes, growing the buffer to the size the pending request is
   * known to need, so a large value is copied about once.
   */
  push (chunk: Buffer): void {
    if (chunk.length === 0) return
    if (this.#start === this.#end) {
      this.#input = chunk
      this.#start = 0
      this.#end = chunk.length
      this.#owned = false
      return
    }
    if (this.#owned && this.#end + chunk.length <= this.#input.length) {
      chunk.copy(this.#input, this.#end)
      this.#end += chunk.length
      return
    }
    const pending = this.#end - this.#start
    const needed = pending + chunk.length
    if (this.#owned && needed <= this.#input.length) {
      this.#input.copyWithin(0, this.#start, this.#end)
    } else {
      const hint = this.#protocol === Protocol.BINARY ? this.#binary.needBytes : this.#text.needBytes
      const grown = Buffer.allocUnsafe(Math.max(needed, hint, MIN_INPUT_BYTES, this.#owned ? 2 * this.#input.length : 0))
      this.#input.copy(grown, 0, this.#start, this.#end)
      this.#input = grown
      this.#owned = true
    }
    chunk.copy(this.#input, pending)
    this.#start = 0
    this.#end = needed
  }

  /**
   * Copies pending input that still lies in a pushed chunk into a buffer the session owns, for
   * transports whose chunks do not outlive their callback (uWS detaches a WebSocket message's
   * ArrayBuffer when the message handler returns). Allocates only when such bytes are pending.
   */
  retain (): void {
    if (this.#owned || this.#start === this.#end) return
    const pending = this.#end - this.#start
    const hint = this.#protocol === Protocol.BINARY ? this.#binary.needBytes : this.#text.needBytes
    const owned = Buffer.allocUnsafe(Math.max(pending, hint, MIN_INPUT_BYTES))
    this.#input.copy(owned, 0, this.#start, this.#end)
    this.#input = owned
    this.#start = 0
    this.#end = pending
    this.#owned = true
  }

  /** Handles buffered requests until input runs out, output is full, a Promise is pending or the connection must close. */
  run (): SessionState {
    if (this.#closing) return SessionState.CLOSING
    if (this.pending !== null) return SessionState.WAITING
    for (;;) {
      if (this.output.pendingBytes >= OUTPUT_HIGH_WATER_BYTES) {
        this.#retrievalMark = -1
        return SessionState.BLOCKED
      }
      let state: number
      if (this.#retrievalNext >= 0) {
        state = this.#retrieve(this.#retrievalKeys, this.#retrievalKeys.length)
      } else {
        if (this.#start === this.#end) return SessionState.IDLE
        if (this.#protocol === Protocol.UNKNOWN) this.#protocol = this.#input[this.#start] === REQUEST_MAGIC ? Protocol.BINARY : Protocol.TEXT
        const due = this.#backend.dueFlush(this.tenantId)
        if (due !== null) {
          this.#wait(due, () => {})
          return SessionState.WAITING
        }
        state = this.#protocol === Protocol.TEXT ? this.#stepText() : this.#stepBinary()
      }
      if (state !== CONTINUE) return state as SessionState
    }
  }

  // ── text ─────────────────────────────────────────────────────────────────────────────

  #stepText (): number {
    if (this.#backend.authRequired === true) {
      this.output.writeAscii(TEXT_AUTH_REQUIRED)
      this.#closing = true
      return SessionState.CLOSING
    }
    const request = this.#textRequest
    const kind = this.#text.parse(this.#input, this.#start, this.#end, request)
    this.#consume(this.#text.consumed)
    switch (kind) {
      case TextParse.NEED_MORE: return SessionState.IDLE
      case TextParse.ERROR:
        if (!request.noreply) this.output.writeAscii(request.reply)
        return CONTINUE
      case TextParse.FATAL:
        this.output.writeAscii(request.reply)
        this.#closing = true
        return SessionState.CLOSING
      default: return this.#router === null ? this.#executeText(request) : this.#clusterText(request, this.#router)
    }
  }

  #executeText (request: TextRequest): number {
    const out = this.output
    switch (request.op) {
      case TextOp.GET: case TextOp.GETS: case TextOp.GAT: case TextOp.GATS:
        this.#retrievalOp = request.op
        this.#retrievalExptime = request.exptime
        this.#retrievalNext = 0
        this.#retrievalMark = out.mark()
        return this.#retrieve(request.keys, request.keyCount)
      case TextOp.SET: case TextOp.ADD: case TextOp.REPLACE: case TextOp.APPEND: case TextOp.PREPEND: case TextOp.CAS:
      case TextOp.TAG_SET:
        return this.#textStore(request)
      case TextOp.TAG_INVALIDATE: {
        const command = this.#invalidateTag
        command.tenantId = this.tenantId
        command.tag = request.tags
        const result = this.#run(command)
        const reply = result.error === null ? `${result.count}\r\n` : textTagError(result)
        if (!request.noreply) out.writeAscii(reply)
        return CONTINUE
      }
      case TextOp.DELETE:
        this.#textDeleted(this.#run(this.#keyCommand(this.#delete, request.keys[0]!)), request.noreply)
        return CONTINUE
      case TextOp.INCR: case TextOp.DECR: {
        const incr = request.op === TextOp.INCR
        this.#textCounted(this.#counter(request.keys[0]!, incr ? request.delta : -request.delta), incr, request.noreply)
        return CONTINUE
      }
      case TextOp.TOUCH: {
        this.#counters.cmdTouch++
        const ttlMs = this.#ttlMs(request.exptime)
        const key = request.keys[0]!
        // An exptime already past: the item is touched into expiry, i.e. removed.
        const result = ttlMs === EXPIRED ? this.#run(this.#keyCommand(this.#delete, key)) : this.#touchKey(key, ttlMs)
        this.#textTouched(result, request.noreply)
        return CONTINUE
      }
      case TextOp.FLUSH_ALL: {
        this.#counters.cmdFlush++
        const noreply = request.noreply
        const atMs = request.hasDelay && request.exptime > 0 ? this.#absoluteMs(request.exptime) : 0
        if (atMs > this.#backend.clock.nowMs()) {
          this.#backend.scheduleFlush(this.tenantId, atMs)
          if (!noreply) out.writeAscii(TextReply.OK)
          return CONTINUE
        }
        return this.#flush((failure) => {
          if (!noreply) out.writeAscii(failure === null ? TextReply.OK : `SERVER_ERROR ${failure}\r\n`)
        })
      }
      case TextOp.STATS: {
        if (request.group === 'reset') {
          this.#counters.reset()
          out.writeAscii(TextReply.RESET)
          return CONTINUE
        }
        const stats = this.#backend.stats(request.group)
        if (stats === null) {
          out.writeAscii(TextReply.ERROR)
          return CONTINUE
        }
        for (const [name, value] of stats) out.writeAscii(`STAT ${name} ${value}\r\n`)
        out.writeAscii(TextReply.END)
        return CONTINUE
      }
      case TextOp.VERSION:
        out.writeAscii(`VERSION ${this.#backend.version}\r\n`)
        return CONTINUE
      case TextOp.VERBOSITY:
        if (!request.noreply) out.writeAscii(TextReply.OK)
        return CONTINUE
      default: // QUIT
        this.#closing = true
        return SessionState.CLOSING
    }
  }

  /**
   * get/gets/gat/gats over keys[#retrievalNext, count): VALUE lines, then END. Yields (BLOCKED)
   * when the output is full, keeping copies of the remaining keys, since the input they point
   * into may be reused before the session runs again.
   */
  #retrieve (keys: Buffer[], count: number): number {
    const out = this.output
    const op = this.#retrievalOp
    const touch = op === TextOp.GAT || op === TextOp.GATS
    const withCas = op === TextOp.GETS || op === TextOp.GATS
    const ttlMs = touch ? this.#ttlMs(this.#retrievalExptime) : 0
    const counters = this.#counters
    for (let i = this.#retrievalNext; i < count; i++) {
      if (out.pendingBytes >= OUTPUT_HIGH_WATER_BYTES) {
        if (keys !== this.#retrievalKeys) this.#retrievalKeys = keys.slice(i, count).map((key) => Buffer.from(key))
        else this.#retrievalKeys = keys.slice(i, count)
        this.#retrievalNext = 0
        this.#retrievalMark = -1
        return SessionState.BLOCKED
      }
      const key = keys[i]!
      let result: Result
      if (touch) {
        counters.cmdTouch++
        result = this.#getAndTouch(key, ttlMs)
        if (result.error === null) counters[result.status === StoreStatus.OK ? 'touchHits' : 'touchMisses']++
      } else {
        result = this.#run(this.#keyCommand(this.#get, key))
      }
      counters.cmdGet++
      if (result.error !== null) {
        if (this.#retrievalMark >= 0) out.rollback(this.#retrievalMark)
        out.writeAscii(textError(result.error))
        this.#endRetrieval()
        return CONTINUE
      }
      if (result.status !== StoreStatus.OK) {
        counters.getMisses++
        continue
      }
      counters.getHits++
      out.writeAscii(valueLine(key, result.flags, result.valueLength, withCas ? result.cas : -1))
      out.writeBytes(result.value!, 0, result.valueLength)
      out.writeAscii('\r\n')
    }
    out.writeAscii(TextReply.END)
    this.#endRetrieval()
    return CONTINUE
  }

  #endRetrieval (): void {
    this.#retrievalNext = -1
    this.#retrievalKeys = []
    this.#retrievalMark = -1
  }

  #textStore (request: TextRequest): number {
    this.#counters.cmdSet++
    const mode = TEXT_SET_MODE[request.op]!
    // tag_set allocates its tag list (an extension, off memcached's hot path).
    const tags = request.op === TextOp.TAG_SET ? splitTags(request.tags) : undefined
    this.#textStored(this.#store(request.keys[0]!, request.value, mode, request.flags, request.exptime, request.cas, tags), mode, request.noreply)
    return CONTINUE
  }

  /** A storage command's reply line (and cas counters) for its result. */
  #textStored (result: Result, mode: SetMode, noreply: boolean): void {
    const counters = this.#counters
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
    if (!noreply) this.output.writeAscii(reply)
  }

  #textDeleted (result: Result, noreply: boolean): void {
    const reply = result.error !== null ? textError(result.error) : result.status === StoreStatus.OK ? TextReply.DELETED : TextReply.NOT_FOUND
    if (result.error === null) this.#counters[result.status === StoreStatus.OK ? 'deleteHits' : 'deleteMisses']++
    if (!noreply) this.output.writeAscii(reply)
  }

  #textCounted (result: Result, incr: boolean, noreply: boolean): void {
    let reply: string
    if (result.error === null || result.status === StoreStatus.NOT_NUMERIC) {
      const hit = result.status === StoreStatus.OK
      if (result.status !== StoreStatus.NOT_NUMERIC) this.#counters[incr ? (hit ? 'incrHits' : 'incrMisses') : (hit ? 'decrHits' : 'decrMisses')]++
      reply = hit ? `${result.counter}\r\n` : result.status === StoreStatus.NOT_FOUND ? TextReply.NOT_FOUND : TextReply.NON_NUMERIC
    } else {
      reply = result.error === 'OUT_OF_MEMORY' ? TextReply.OUT_OF_MEMORY : textError(result.error)
    }
    if (!noreply) this.output.writeAscii(reply)
  }

  #textTouched (result: Result, noreply: boolean): void {
    let reply: string
    if (result.error !== null) {
      reply = textError(result.error)
    } else {
      const hit = result.status === StoreStatus.OK
      this.#counters[hit ? 'touchHits' : 'touchMisses']++
      reply = hit ? TextReply.TOUCHED : TextReply.NOT_FOUND
    }
    if (!noreply) this.output.writeAscii(reply)
  }

  // ── binary ───────────────────────────────────────────────────────────────────────────

  #stepBinary (): number {
    const request = this.#binaryRequest
    const kind = this.#binary.parse(this.#input, this.#start, this.#end, request)
    this.#consume(this.#binary.consumed)
    switch (kind) {
      case BinaryParse.NEED_MORE: return SessionState.IDLE
      case BinaryParse.ERROR:
        writeErrorResponse(this.output, request.opcode, request.status, request.opaque)
        return CONTINUE
      case BinaryParse.FATAL:
        writeErrorResponse(this.output, request.opcode, request.status, request.opaque)
        this.#closing = true
        return SessionState.CLOSING
      default:
        if (!this.authenticated && this.#backend.authRequired === true && !AUTH_FREE_OPCODES.has(request.command)) {
          // memcached's authenticated(): refused even for quiet requests; framing is kept.
          writeErrorResponse(this.output, request.opcode, BinaryStatus.AUTH_ERROR, request.opaque)
          return CONTINUE
        }
        return this.#router === null ? this.#executeBinary(request) : this.#clusterBinary(request, this.#router)
    }
  }

  #executeBinary (request: BinaryRequest): number {
    const out = this.output
    const counters = this.#counters
    switch (request.command) {
      case Opcode.GET: case Opcode.GETK: {
        counters.cmdGet++
        // A hit's value is copied by the store straight to its place in the reply, after the
        // 24-byte header, 4 bytes of flags and (GETK) the key, which #binaryValue then writes.
        const withKey = request.command === Opcode.GETK
        const get = this.#keyCommand(this.#get, request.key)
        out.expectValue(24 + 4 + (withKey ? request.key.length : 0))
        get.sink = out
        const result = this.#run(get)
        get.sink = null
        this.#binaryValue(request, result, withKey, true, true)
        return CONTINUE
      }
      case Opcode.TOUCH: case Opcode.GAT: case Opcode.GATK: {
        counters.cmdTouch++
        const result = this.#getAndTouch(request.key, this.#ttlMs(request.expiration))
        if (result.error === null) counters[result.status === StoreStatus.OK ? 'touchHits' : 'touchMisses']++
        if (request.command !== Opcode.TOUCH) counters.cmdGet++
        this.#binaryValue(request, result, request.command === Opcode.GATK, request.command !== Opcode.TOUCH)
        return CONTINUE
      }
      case Opcode.SET: case Opcode.ADD: case Opcode.REPLACE: {
        counters.cmdSet++
        // A cas turns any of the three into a compare-and-swap (memcached's process_bin_update).
        const mode = request.cas !== 0 ? SetMode.CAS : request.command === Opcode.SET ? SetMode.SET : request.command === Opcode.ADD ? SetMode.ADD : SetMode.REPLACE
        const result = this.#store(request.key, request.value, mode, request.flags, request.expiration, request.cas)
        if (mode === SetMode.CAS && result.error === null) counters[result.status === StoreStatus.OK ? 'casHits' : result.status === StoreStatus.EXISTS ? 'casBadval' : 'casMisses']++
        this.#binaryStored(request, result)
        return CONTINUE
      }
      case Opcode.TAG_SET: {
        counters.cmdSet++
        const tagged = splitTagBlock(request.value)
        if (tagged === null) {
          writeErrorResponse(out, request.opcode, BinaryStatus.INVALID_ARGUMENTS, request.opaque)
          return CONTINUE
        }
        const mode = request.cas !== 0 ? SetMode.CAS : SetMode.SET
        const result = this.#store(request.key, tagged.data, mode, request.flags, request.expiration, request.cas, tagged.tags)
        this.#binaryStored(request, result)
        return CONTINUE
      }
      case Opcode.TAG_INVALIDATE: {
        const command = this.#invalidateTag
        command.tenantId = this.tenantId
        command.tag = request.key
        const result = this.#run(command)
        if (result.error !== null) {
          this.#binaryFailure(request, result.error, result.errorMessage)
          return CONTINUE
        }
        writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 8, request.opaque, 0)
        out.writeBigUint64(BigInt(result.count))
        return CONTINUE
      }
      case Opcode.APPEND: case Opcode.PREPEND: {
        counters.cmdSet++
        if (request.cas !== 0) {
          const check = this.#casCheck(request.key, request.cas)
          if (check !== BinaryStatus.SUCCESS) {
            writeErrorResponse(out, request.opcode, check === BinaryStatus.KEY_NOT_FOUND ? BinaryStatus.ITEM_NOT_STORED : check, request.opaque)
            return CONTINUE
          }
        }
        const result = this.#store(request.key, request.value, request.command === Opcode.APPEND ? SetMode.APPEND : SetMode.PREPEND, 0, 0, 0)
        this.#binaryStored(request, result)
        return CONTINUE
      }
      case Opcode.DELETE: {
        if (request.cas !== 0) {
          const check = this.#casCheck(request.key, request.cas)
          if (check !== BinaryStatus.SUCCESS) {
            if (check === BinaryStatus.KEY_NOT_FOUND) counters.deleteMisses++
            writeErrorResponse(out, request.opcode, check, request.opaque)
            return CONTINUE
          }
        }
        const result = this.#run(this.#keyCommand(this.#delete, request.key))
        if (result.error !== null) this.#binaryFailure(request, result.error)
        else if (result.status !== StoreStatus.OK) {
          counters.deleteMisses++
          writeErrorResponse(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
        } else {
          counters.deleteHits++
          if (!request.quiet) writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 0, request.opaque, 0)
        }
        return CONTINUE
      }
      case Opcode.INCREMENT: case Opcode.DECREMENT:
        this.#binaryCounter(request)
        return CONTINUE
      case Opcode.QUIT:
        if (!request.quiet) writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 0, request.opaque, 0)
        this.#closing = true
        return SessionState.CLOSING
      case Opcode.FLUSH: {
        counters.cmdFlush++
        const atMs = request.expiration > 0 ? this.#absoluteMs(request.expiration) : 0
        const { opcode, opaque, quiet } = request
        if (atMs > this.#backend.clock.nowMs()) {
          this.#backend.scheduleFlush(this.tenantId, atMs)
          if (!quiet) writeResponseHeader(out, opcode, BinaryStatus.SUCCESS, 0, 0, 0, opaque, 0)
          return CONTINUE
        }
        return this.#flush((failure) => {
          if (failure !== null) writeErrorResponse(out, opcode, BinaryStatus.TEMPORARY_FAILURE, opaque, failure)
          else if (!quiet) writeResponseHeader(out, opcode, BinaryStatus.SUCCESS, 0, 0, 0, opaque, 0)
        })
      }
      case Opcode.NOOP: case Opcode.VERBOSITY:
        writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 0, request.opaque, 0)
        return CONTINUE
      case Opcode.VERSION: {
        const version = this.#backend.version
        writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, version.length, request.opaque, 0)
        out.writeAscii(version)
        return CONTINUE
      }
      case Opcode.STAT: {
        const group = request.key.toString('latin1')
        let stats: ReadonlyArray<readonly [string, string]> | null = []
        if (group === 'reset') counters.reset()
        else stats = this.#backend.stats(group)
        if (stats === null) {
          writeErrorResponse(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
          return CONTINUE
        }
        for (const [name, value] of stats) {
          writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, name.length, 0, name.length + value.length, request.opaque, 0)
          out.writeAscii(name)
          out.writeAscii(value)
        }
        writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 0, request.opaque, 0)
        return CONTINUE
      }
      case Opcode.SASL_LIST_MECHS:
        writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 5, request.opaque, 0)
        out.writeAscii('PLAIN')
        return CONTINUE
      case Opcode.SASL_AUTH: {
        counters.authCmds++
        const outcome = request.key.toString('latin1') === 'PLAIN' ? this.#plain(request.value) : -1
        if (typeof outcome === 'number') {
          this.#saslReply(outcome, request.opcode, request.opaque)
          return CONTINUE
        }
        // Verified off the main thread: later requests wait, so they run as the new tenant.
        const { opcode, opaque } = request
        this.pending = outcome.then((tenantId) => {
          this.pending = null
          this.#saslReply(tenantId, opcode, opaque)
        }, () => {
          this.pending = null
          this.#saslReply(-1, opcode, opaque)
        })
        return SessionState.WAITING
      }
      default: // SASL_STEP: PLAIN has no second step
        counters.authCmds++
        counters.authErrors++
        writeErrorResponse(out, request.opcode, BinaryStatus.AUTH_ERROR, request.opaque)
        return CONTINUE
    }
  }

  /**
   * The answer to a GET/GETK/TOUCH/GAT/GATK: on a hit, flags as extras, the key (K variants),
   * the value (not for TOUCH) and the item's cas; on a miss nothing for quiet variants, else
   * KEY_NOT_FOUND (with the key as body for K variants, as memcached does).
   */
  #binaryValue (request: BinaryRequest, result: Result, withKey: boolean, withValue: boolean, valueInPlace = false): void {
    const out = this.output
    if (result.error !== null) {
      this.#binaryFailure(request, result.error)
      return
    }
    const counters = this.#counters
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
    // valueInPlace: the read copied the value into the output right after what was just written.
    if (withValue) {
      if (valueInPlace) out.commitValue()
      else out.writeBytes(result.value!, 0, valueLength)
    }
  }

  /** The answer to SET/ADD/REPLACE/APPEND/PREPEND (memcached's complete_update_bin statuses). */
  #binaryStored (request: BinaryRequest, result: Result): void {
    if (result.error !== null) {
      this.#binaryFailure(request, result.error, result.errorMessage)
      return
    }
    switch (result.status) {
      case StoreStatus.OK:
        if (!request.quiet) writeResponseHeader(this.output, request.opcode, BinaryStatus.SUCCESS, 0, 0, 0, request.opaque, result.cas)
        return
      case StoreStatus.EXISTS:
        writeErrorResponse(this.output, request.opcode, BinaryStatus.KEY_EXISTS, request.opaque)
        return
      case StoreStatus.NOT_FOUND:
        writeErrorResponse(this.output, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
        return
      default: {
        // NOT_STORED: add finds the key (exists), replace misses it (not found), append/prepend: not stored.
        const status = request.command === Opcode.ADD
          ? BinaryStatus.KEY_EXISTS
          : request.command === Opcode.REPLACE ? BinaryStatus.KEY_NOT_FOUND : BinaryStatus.ITEM_NOT_STORED
        writeErrorResponse(this.output, request.opcode, status, request.opaque)
      }
    }
  }

  /**
   * INCREMENT/DECREMENT: the new value as 8 bytes and the item's cas. A missing key is created
   * with `initial` (flags 0) unless the expiration is 0xffffffff, which means KEY_NOT_FOUND.
   */
  #binaryCounter (request: BinaryRequest): void {
    const out = this.output
    const counters = this.#counters
    const incr = request.command === Opcode.INCREMENT
    if (request.cas !== 0) {
      const check = this.#casCheck(request.key, request.cas)
      if (check === BinaryStatus.KEY_EXISTS) {
        writeErrorResponse(out, request.opcode, check, request.opaque)
        return
      }
    }
    let result = this.#counter(request.key, incr ? request.delta : -request.delta)
    let value = result.counter
    if (result.status === StoreStatus.NOT_FOUND && result.error === null) {
      counters[incr ? 'incrMisses' : 'decrMisses']++
      if (request.expiration === NO_CREATE) {
        writeErrorResponse(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
        return
      }
      value = request.initial
      result = this.#store(request.key, Buffer.from(value.toString(), 'latin1'), SetMode.ADD, 0, request.expiration, 0)
      if (result.error === null && result.status !== StoreStatus.OK) {
        writeErrorResponse(out, request.opcode, BinaryStatus.ITEM_NOT_STORED, request.opaque)
        return
      }
    } else if (result.status === StoreStatus.OK) {
      counters[incr ? 'incrHits' : 'decrHits']++
    }
    if (result.status === StoreStatus.NOT_NUMERIC) {
      writeErrorResponse(out, request.opcode, BinaryStatus.NON_NUMERIC, request.opaque)
      return
    }
    if (result.error !== null) {
      this.#binaryFailure(request, result.error)
      return
    }
    if (request.quiet) return
    writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 8, request.opaque, result.cas)
    out.writeBigUint64(value)
  }

  /** A failure outside the store's own outcomes, as a binary status. */
  #binaryFailure (request: BinaryRequest, error: ErrorCode, detail = ''): void {
    // Tag limits are the client's mistake: INVALID_ARGUMENTS with the engine's own message.
    if (error === 'TOO_MANY_TAGS' || error === 'TAG_TOO_LARGE') {
      writeErrorResponse(this.output, request.opcode, BinaryStatus.INVALID_ARGUMENTS, request.opaque, detail !== '' ? detail : ERROR_CATALOG[error].message)
      return
    }
    writeErrorResponse(this.output, request.opcode, BINARY_STATUS_OF_ERROR[error] ?? BinaryStatus.INTERNAL_ERROR, request.opaque,
      BINARY_STATUS_OF_ERROR[error] === undefined ? ERROR_CATALOG[error].message : undefined)
  }

  /**
   * For binary requests carrying a cas: SUCCESS if (tenant, key) holds an item with that cas,
   * KEY_NOT_FOUND if absent, KEY_EXISTS if its cas differs (or the lookup failed).
   */
  #casCheck (key: Buffer, cas: number): number {
    const result = this.#run(this.#keyCommand(this.#get, key))
    if (result.error === null && result.status === StoreStatus.NOT_FOUND) return BinaryStatus.KEY_NOT_FOUND
    return result.error === null && result.cas === cas ? BinaryStatus.SUCCESS : BinaryStatus.KEY_EXISTS
  }

  /** SASL_AUTH's answer: success makes `tenantId` this connection's tenant; -1 is AUTH_ERROR (an earlier login stays). */
  #saslReply (tenantId: number, opcode: number, opaque: number): void {
    if (tenantId < 0) {
      this.#counters.authErrors++
      writeErrorResponse(this.output, opcode, BinaryStatus.AUTH_ERROR, opaque)
      return
    }
    this.tenantId = tenantId
    this.authenticated = true
    writeResponseHeader(this.output, opcode, BinaryStatus.SUCCESS, 0, 0, 13, opaque, 0)
    this.output.writeAscii('Authenticated')
  }

  /** SASL PLAIN's message: [authzid] NUL authcid NUL password. Returns the tenant or -1 (or a Promise of it). */
  #plain (message: Buffer): number | Promise<number> {
    const first = message.indexOf(0)
    const second = first < 0 ? -1 : message.indexOf(0, first + 1)
    if (second < 0 || message.indexOf(0, second + 1) >= 0) return -1
    return this.#backend.authenticate(message.toString('utf8', first + 1, second), message.toString('utf8', second + 1))
  }

  // ── cluster mode (a router is set) ───────────────────────────────────────────────────
  // Keyed requests whose owner is another node are forwarded whole (composed requests as a
  // sequence of forwarded Commands), their reply written once the owner answered; local writes
  // hold their reply until replication acknowledges them. Either way the session is WAITING
  // meanwhile and parses nothing further, so replies keep request order (quiet ones too).

  #clusterText (request: TextRequest, router: ClusterRouter): number {
    switch (request.op) {
      case TextOp.GET: case TextOp.GETS:
        for (let i = 0; i < request.keyCount; i++) {
          if (router.ownerOf(this.tenantId, request.keys[i]!) !== null) return this.#clusterRetrieve(request, router)
        }
        return this.#executeText(request)
      case TextOp.GAT: case TextOp.GATS:
        // Touches are writes: even all-local, the reply waits for replication.
        return this.#clusterRetrieve(request, router)
      case TextOp.TAG_INVALIDATE: {
        const noreply = request.noreply
        const command: Command = { op: 'invalidateTag', tenantId: this.tenantId, tag: Buffer.from(request.tags) }
        return this.#defer(runOnEveryNode((command) => this.#backend.execute(command), router, command), (result) => {
          if (!noreply) this.output.writeAscii(result.error === null ? `${result.count}\r\n` : textTagError(result))
        }, (error) => this.#textPeerFailure(error, noreply))
      }
      case TextOp.SET: case TextOp.ADD: case TextOp.REPLACE: case TextOp.APPEND: case TextOp.PREPEND: case TextOp.CAS:
      case TextOp.TAG_SET: case TextOp.DELETE: case TextOp.INCR: case TextOp.DECR: case TextOp.TOUCH: {
        const noreply = request.noreply
        const owner = router.ownerOf(this.tenantId, request.keys[0]!)
        if (owner !== null) {
          return this.#defer(this.#remoteText(copyTextRequest(request), router, owner), () => {}, (error) => this.#textPeerFailure(error, noreply))
        }
        const mark = this.output.mark()
        const state = this.#executeText(request)
        return state === CONTINUE ? this.#holdReply(router, mark, (error) => this.#textPeerFailure(error, noreply)) : state
      }
      default:
        return this.#executeText(request)
    }
  }

  /** A forwarded text write, touch, delete or incr/decr; writes its reply (the session is WAITING). */
  async #remoteText (request: TextRequest, router: ClusterRouter, owner: NodeId): Promise<void> {
    const key = request.keys[0]!
    const tenantId = this.tenantId
    switch (request.op) {
      case TextOp.DELETE:
        this.#textDeleted(await this.#forward(router, owner, { op: 'delete', tenantId, key }), request.noreply)
        return
      case TextOp.INCR: case TextOp.DECR: {
        const incr = request.op === TextOp.INCR
        const command: Command = { op: 'incr', tenantId, key, delta: incr ? request.delta : -request.delta, mode: CounterMode.MEMCACHED }
        this.#textCounted(await this.#forward(router, owner, command), incr, request.noreply)
        return
      }
      case TextOp.TOUCH: {
        this.#counters.cmdTouch++
        const ttlMs = this.#ttlMs(request.exptime)
        const command: Command = ttlMs === EXPIRED ? { op: 'delete', tenantId, key } : { op: 'touch', tenantId, key, ttlMs }
        this.#textTouched(await this.#forward(router, owner, command), request.noreply)
        return
      }
      default: {
        this.#counters.cmdSet++
        const mode = TEXT_SET_MODE[request.op]!
        const tags = request.op === TextOp.TAG_SET ? splitTags(request.tags) : undefined
        const result = await this.#remoteStore(router, owner, key, request.value, mode, request.flags, request.exptime, request.cas, tags)
        this.#textStored(result, mode, request.noreply)
      }
    }
  }

  /**
   * get/gets/gat/gats in cluster mode: every remote key is forwarded at once (the router
   * batches per peer), local keys are read now (copied out of the reused Result); the VALUE
   * lines follow in key order once all settled. Any failure answers the error alone, as a
   * local failure does. Allocates.
   */
  #clusterRetrieve (request: TextRequest, router: ClusterRouter): number {
    const op = request.op
    const touch = op === TextOp.GAT || op === TextOp.GATS
    const withCas = op === TextOp.GETS || op === TextOp.GATS
    const ttlMs = touch ? this.#ttlMs(request.exptime) : 0
    const tenantId = this.tenantId
    const counters = this.#counters
    const keys: Buffer[] = []
    const results: Array<Result | Promise<Result>> = []
    for (let i = 0; i < request.keyCount; i++) {
      const key = Buffer.from(request.keys[i]!)
      keys.push(key)
      counters.cmdGet++
      if (touch) counters.cmdTouch++
      const owner = router.ownerOf(tenantId, key)
      if (owner !== null) {
        results.push(touch ? this.#remoteGetAndTouch(router, owner, key, ttlMs) : this.#forward(router, owner, { op: 'get', tenantId, key }))
      } else {
        results.push(copyResult(touch ? this.#getAndTouch(key, ttlMs) : this.#run(this.#keyCommand(this.#get, key))))
      }
    }
    const held = touch ? router.replicated(router.defaultConsistency(tenantId)) : null
    const all = Promise.all(results)
    return this.#defer(held === null ? all : Promise.all([all, held]).then(([settled]) => settled), (settled) => {
      const out = this.output
      for (const result of settled) {
        if (result.error !== null) {
          out.writeAscii(textError(result.error))
          return
        }
      }
      for (let i = 0; i < settled.length; i++) {
        const result = settled[i]!
        const hit = result.status === StoreStatus.OK
        if (touch) counters[hit ? 'touchHits' : 'touchMisses']++
        if (!hit) {
          counters.getMisses++
          continue
        }
        counters.getHits++
        out.writeAscii(valueLine(keys[i]!, result.flags, result.valueLength, withCas ? result.cas : -1))
        out.writeBytes(result.value!, 0, result.valueLength)
        out.writeAscii('\r\n')
      }
      out.writeAscii(TextReply.END)
    }, (error) => this.#textPeerFailure(error, false))
  }

  #clusterBinary (request: BinaryRequest, router: ClusterRouter): number {
    const command = request.command
    if (command === Opcode.TAG_INVALIDATE) {
      const copy = copyBinaryRequest(request)
      const invalidate: Command = { op: 'invalidateTag', tenantId: this.tenantId, tag: copy.key }
      return this.#defer(runOnEveryNode((command) => this.#backend.execute(command), router, invalidate), (result) => {
        if (result.error !== null) {
          this.#binaryFailure(copy, result.error, result.errorMessage)
          return
        }
        writeResponseHeader(this.output, copy.opcode, BinaryStatus.SUCCESS, 0, 0, 8, copy.opaque, 0)
        this.output.writeBigUint64(BigInt(result.count))
      }, (error) => this.#binaryPeerFailure(copy.opcode, copy.opaque, error))
    }
    if (!KEYED_OPCODES.has(command)) return this.#executeBinary(request)
    const owner = router.ownerOf(this.tenantId, request.key)
    const get = command === Opcode.GET || command === Opcode.GETK
    if (owner !== null) {
      if (get) return this.#binaryGetBatch(request, router, owner)
      const copy = copyBinaryRequest(request)
      return this.#defer(this.#remoteBinary(copy, router, owner), () => {}, (error) => this.#binaryPeerFailure(copy.opcode, copy.opaque, error))
    }
    if (get) return this.#executeBinary(request)
    const { opcode, opaque } = request
    const mark = this.output.mark()
    const state = this.#executeBinary(request)
    return state === CONTINUE ? this.#holdReply(router, mark, (error) => this.#binaryPeerFailure(opcode, opaque, error)) : state
  }

  /**
   * A GET/GETK (quiet or not) whose key lives on another node, together with the GET-family
   * requests complete in the input right behind it (a GETQ/GETKQ pipeline): remote keys are
   * forwarded at once, local ones read now (copied), and the replies are written in request
   * order once all settled. A key whose owner cannot be reached answers BUSY with the reason;
   * the others answer normally. Allocates.
   */
  #binaryGetBatch (first: BinaryRequest, router: ClusterRouter, firstOwner: NodeId): number {
    const counters = this.#counters
    const tenantId = this.tenantId
    const requests: BinaryRequest[] = []
    const results: Array<Result | Promise<Result>> = []
    // A malformed frame met while collecting: answered after the batch (fatal: then closed).
    let trailer: { opcode: number, opaque: number, status: number, fatal: boolean } | null = null
    let request = first
    let owner: NodeId | null = firstOwner
    for (;;) {
      counters.cmdGet++
      const copy = copyBinaryRequest(request)
      requests.push(copy)
      if (owner !== null) results.push(this.#forward(router, owner, { op: 'get', tenantId, key: copy.key }).catch(failedResult))
      else results.push(copyResult(this.#run(this.#keyCommand(this.#get, copy.key))))
      if (requests.length >= MAX_GET_BATCH || !this.#nextIsGet()) break
      request = this.#binaryRequest
      const kind = this.#binary.parse(this.#input, this.#start, this.#end, request)
      this.#consume(this.#binary.consumed)
      if (kind !== BinaryParse.REQUEST) {
        trailer = { opcode: request.opcode, opaque: request.opaque, status: request.status, fatal: kind === BinaryParse.FATAL }
        break
      }
      owner = router.ownerOf(tenantId, request.key)
    }
    return this.#defer(Promise.all(results), (settled) => {
      const out = this.output
      for (let i = 0; i < settled.length; i++) {
        const request = requests[i]!
        const result = settled[i]!
        if (result.error !== null && result.errorMessage !== '') {
          counters.getMisses++
          writeErrorResponse(out, request.opcode, BINARY_STATUS_OF_ERROR[result.error] ?? BinaryStatus.INTERNAL_ERROR, request.opaque, result.errorMessage)
          continue
        }
        this.#binaryValue(request, result, request.command === Opcode.GETK, true)
      }
      if (trailer !== null) {
        writeErrorResponse(out, trailer.opcode, trailer.status, trailer.opaque)
        if (trailer.fatal) this.#closing = true
      }
    }, () => { this.#closing = true })
  }

  /** Whether the input starts with a complete GET/GETQ/GETK/GETKQ frame (by its header). */
  #nextIsGet (): boolean {
    const input = this.#input
    const start = this.#start
    if (this.#end - start < 24 || input[start] !== REQUEST_MAGIC) return false
    const opcode = input[start + 1]
    if (opcode !== Opcode.GET && opcode !== Opcode.GETQ && opcode !== Opcode.GETK && opcode !== Opcode.GETKQ) return false
    return this.#end - start >= 24 + input.readUInt32BE(start + 8)
  }

  /** A forwarded binary keyed request other than GET/GETK; writes its reply (the session is WAITING). */
  async #remoteBinary (request: BinaryRequest, router: ClusterRouter, owner: NodeId): Promise<void> {
    const out = this.output
    const counters = this.#counters
    const tenantId = this.tenantId
    const key = request.key
    switch (request.command) {
      case Opcode.TOUCH: case Opcode.GAT: case Opcode.GATK: {
        counters.cmdTouch++
        if (request.command !== Opcode.TOUCH) counters.cmdGet++
        const result = await this.#remoteGetAndTouch(router, owner, key, this.#ttlMs(request.expiration))
        if (result.error === null) counters[result.status === StoreStatus.OK ? 'touchHits' : 'touchMisses']++
        this.#binaryValue(request, result, request.command === Opcode.GATK, request.command !== Opcode.TOUCH)
        return
      }
      case Opcode.SET: case Opcode.ADD: case Opcode.REPLACE: {
        counters.cmdSet++
        const mode = request.cas !== 0 ? SetMode.CAS : request.command === Opcode.SET ? SetMode.SET : request.command === Opcode.ADD ? SetMode.ADD : SetMode.REPLACE
        const result = await this.#remoteStore(router, owner, key, request.value, mode, request.flags, request.expiration, request.cas)
        if (mode === SetMode.CAS && result.error === null) counters[result.status === StoreStatus.OK ? 'casHits' : result.status === StoreStatus.EXISTS ? 'casBadval' : 'casMisses']++
        this.#binaryStored(request, result)
        return
      }
      case Opcode.TAG_SET: {
        counters.cmdSet++
        const tagged = splitTagBlock(request.value)
        if (tagged === null) {
          writeErrorResponse(out, request.opcode, BinaryStatus.INVALID_ARGUMENTS, request.opaque)
          return
        }
        const mode = request.cas !== 0 ? SetMode.CAS : SetMode.SET
        this.#binaryStored(request, await this.#remoteStore(router, owner, key, tagged.data, mode, request.flags, request.expiration, request.cas, tagged.tags))
        return
      }
      case Opcode.APPEND: case Opcode.PREPEND: {
        counters.cmdSet++
        if (request.cas !== 0) {
          const check = await this.#remoteCasCheck(router, owner, key, request.cas)
          if (check !== BinaryStatus.SUCCESS) {
            writeErrorResponse(out, request.opcode, check === BinaryStatus.KEY_NOT_FOUND ? BinaryStatus.ITEM_NOT_STORED : check, request.opaque)
            return
          }
        }
        const mode = request.command === Opcode.APPEND ? SetMode.APPEND : SetMode.PREPEND
        this.#binaryStored(request, await this.#remoteStore(router, owner, key, request.value, mode, 0, 0, 0))
        return
      }
      case Opcode.DELETE: {
        if (request.cas !== 0) {
          const check = await this.#remoteCasCheck(router, owner, key, request.cas)
          if (check !== BinaryStatus.SUCCESS) {
            if (check === BinaryStatus.KEY_NOT_FOUND) counters.deleteMisses++
            writeErrorResponse(out, request.opcode, check, request.opaque)
            return
          }
        }
        const result = await this.#forward(router, owner, { op: 'delete', tenantId, key })
        if (result.error !== null) this.#binaryFailure(request, result.error)
        else if (result.status !== StoreStatus.OK) {
          counters.deleteMisses++
          writeErrorResponse(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
        } else {
          counters.deleteHits++
          if (!request.quiet) writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 0, request.opaque, 0)
        }
        return
      }
      default: { // INCREMENT, DECREMENT: as #binaryCounter, one forwarded step at a time
        const incr = request.command === Opcode.INCREMENT
        if (request.cas !== 0 && await this.#remoteCasCheck(router, owner, key, request.cas) === BinaryStatus.KEY_EXISTS) {
          writeErrorResponse(out, request.opcode, BinaryStatus.KEY_EXISTS, request.opaque)
          return
        }
        let result = await this.#forward(router, owner, { op: 'incr', tenantId, key, delta: incr ? request.delta : -request.delta, mode: CounterMode.MEMCACHED })
        let value = result.counter
        if (result.status === StoreStatus.NOT_FOUND && result.error === null) {
          counters[incr ? 'incrMisses' : 'decrMisses']++
          if (request.expiration === NO_CREATE) {
            writeErrorResponse(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
            return
          }
          value = request.initial
          result = await this.#remoteStore(router, owner, key, Buffer.from(value.toString(), 'latin1'), SetMode.ADD, 0, request.expiration, 0)
          if (result.error === null && result.status !== StoreStatus.OK) {
            writeErrorResponse(out, request.opcode, BinaryStatus.ITEM_NOT_STORED, request.opaque)
            return
          }
        } else if (result.status === StoreStatus.OK) {
          counters[incr ? 'incrHits' : 'decrHits']++
        }
        if (result.status === StoreStatus.NOT_NUMERIC) {
          writeErrorResponse(out, request.opcode, BinaryStatus.NON_NUMERIC, request.opaque)
          return
        }
        if (result.error !== null) {
          this.#binaryFailure(request, result.error)
          return
        }
        if (request.quiet) return
        writeResponseHeader(out, request.opcode, BinaryStatus.SUCCESS, 0, 0, 8, request.opaque, result.cas)
        out.writeBigUint64(value)
      }
    }
  }

  /** #store on `owner`: the set, then (exptime already past) the delete that expires it. */
  async #remoteStore (router: ClusterRouter, owner: NodeId, key: Buffer, value: Buffer, mode: SetMode, flags: number, exptime: number, cas: number, tags?: readonly Uint8Array[]): Promise<Result> {
    const concat = mode === SetMode.APPEND || mode === SetMode.PREPEND
    const ttlMs = concat ? 0 : this.#ttlMs(exptime)
    const tenantId = this.tenantId
    const set: Command = { op: 'set', tenantId, key, value, mode, ttlMs: ttlMs === EXPIRED ? 0 : ttlMs, flags, keepTtl: false, casExpected: cas, tags }
    const result = await this.#forward(router, owner, set)
    if (ttlMs === EXPIRED && result.error === null && result.status === StoreStatus.OK) await this.#forward(router, owner, { op: 'delete', tenantId, key })
    return result
  }

  /** #getAndTouch on `owner`, one forwarded step at a time (not atomic there, unlike locally). */
  async #remoteGetAndTouch (router: ClusterRouter, owner: NodeId, key: Buffer, ttlMs: number): Promise<Result> {
    const tenantId = this.tenantId
    if (ttlMs === EXPIRED) {
      const result = await this.#forward(router, owner, { op: 'get', tenantId, key })
      if (result.error !== null || result.status !== StoreStatus.OK) return result
      await this.#forward(router, owner, { op: 'delete', tenantId, key })
      return result
    }
    const touched = await this.#forward(router, owner, { op: 'touch', tenantId, key, ttlMs })
    if (touched.error !== null || touched.status !== StoreStatus.OK) return touched
    return await this.#forward(router, owner, { op: 'get', tenantId, key })
  }

  /** #casCheck on `owner`: SUCCESS, KEY_NOT_FOUND or KEY_EXISTS. */
  async #remoteCasCheck (router: ClusterRouter, owner: NodeId, key: Buffer, cas: number): Promise<number> {
    const result = await this.#forward(router, owner, { op: 'get', tenantId: this.tenantId, key })
    if (result.error === null && result.status === StoreStatus.NOT_FOUND) return BinaryStatus.KEY_NOT_FOUND
    return result.error === null && result.cas === cas ? BinaryStatus.SUCCESS : BinaryStatus.KEY_EXISTS
  }

  /** Runs `command` on `owner` with the tenant's default consistency (memcached has no per-request option). */
  #forward (router: ClusterRouter, owner: NodeId, command: Command): Promise<Result> {
    return router.forwardCommand(owner, command, router.defaultConsistency(this.tenantId))
  }

  /**
   * After a local write whose reply was written from `mark` on: when replication must be
   * awaited, takes that reply out (a copy) and writes it back once `replicated()` resolves;
   * on rejection (REPLICATION_TIMEOUT) `fail` answers instead. Allocates only when holding.
   */
  #holdReply (router: ClusterRouter, mark: number, fail: (error: unknown) => void): number {
    const held = router.replicated(router.defaultConsistency(this.tenantId))
    if (held === null) return CONTINUE
    const reply = this.output.copySince(mark)
    this.output.rollback(mark)
    return this.#defer(held, () => { if (reply.length > 0) this.output.writeBytes(reply) }, fail)
  }

  /**
   * Makes the session WAITING on `work`; `reply` (or `fail` on rejection) writes the answer.
   * A throw in either (a bug) closes this connection only, as a sync one would.
   */
  #defer<T> (work: Promise<T>, reply: (value: T) => void, fail: (error: unknown) => void): number {
    this.pending = work.then((value) => {
      this.pending = null
      reply(value)
    }, (error: unknown) => {
      this.pending = null
      fail(error)
    }).catch(() => {
      this.pending = null
      this.#closing = true
    })
    return SessionState.WAITING
  }

  /** A forward or replication failure as a text reply: `SERVER_ERROR <reason>` (none with noreply). */
  #textPeerFailure (error: unknown, noreply: boolean): void {
    if (!noreply) this.output.writeAscii(`SERVER_ERROR ${failureMessage(error)}\r\n`)
  }

  /**
   * A forward or replication failure as a binary reply, the reason as its body: PEER_* →
   * BUSY (0x0085, retry), REPLICATION_TIMEOUT → INTERNAL_ERROR (0x0084: the write happened).
   * Quiet requests get it too (memcached answers quiet requests' errors).
   */
  #binaryPeerFailure (opcode: number, opaque: number, error: unknown): void {
    const code: ErrorCode = error instanceof SlabcacheError ? error.code : 'PEER_UNAVAILABLE'
    writeErrorResponse(this.output, opcode, BINARY_STATUS_OF_ERROR[code] ?? BinaryStatus.INTERNAL_ERROR, opaque, failureMessage(error))
  }

  // ── commands shared by both protocols ───────────────────────────────────────────────

  /**
   * A write in `mode`. An exptime already in the past stores the item (conditions apply, so
   * add/replace/cas answer as usual) and removes it at once, as memcached's items then vanish;
   * append/prepend keep the old item's flags and expiry, so their exptime is ignored.
   */
  #store (key: Buffer, value: Buffer, mode: SetMode, flags: number, exptime: number, cas: number, tags?: readonly Uint8Array[]): Result {
    const concat = mode === SetMode.APPEND || mode === SetMode.PREPEND
    const ttlMs = concat ? 0 : this.#ttlMs(exptime)
    const command = this.#set
    command.tenantId = this.tenantId
    command.key = key
    command.value = value
    command.mode = mode
    command.ttlMs = ttlMs === EXPIRED ? 0 : ttlMs
    command.flags = flags
    command.casExpected = cas
    command.tags = tags
    const result = this.#run(command)
    command.tags = undefined
    if (ttlMs === EXPIRED && result.error === null && result.status === StoreStatus.OK) {
      const cas = result.cas
      this.#run(this.#keyCommand(this.#delete, key))
      // The delete reused the Result: restore what the caller reads.
      result.status = StoreStatus.OK
      result.error = null
      result.cas = cas
    }
    return result
  }

  #counter (key: Buffer, delta: bigint): Result {
    const command = this.#incr
    command.tenantId = this.tenantId
    command.key = key
    command.delta = delta
    return this.#run(command)
  }

  #touchKey (key: Buffer, ttlMs: number): Result {
    const command = this.#touch
    command.tenantId = this.tenantId
    command.key = key
    command.ttlMs = ttlMs
    return this.#run(command)
  }

  /** Touch then read (one atomic step on the main thread); an exptime already past reads then removes. */
  #getAndTouch (key: Buffer, ttlMs: number): Result {
    if (ttlMs === EXPIRED) {
      const result = this.#run(this.#keyCommand(this.#get, key))
      if (result.error !== null || result.status !== StoreStatus.OK) return result
      // Copy the read out before the delete reuses the Result and its scratch value.
      const value = Buffer.from(result.value!.subarray(0, result.valueLength))
      const { flags, cas } = result
      this.#run(this.#keyCommand(this.#delete, key))
      result.reset()
      result.value = value
      result.valueLength = value.length
      result.flags = flags
      result.cas = cas
      return result
    }
    const touched = this.#touchKey(key, ttlMs)
    if (touched.error !== null || touched.status !== StoreStatus.OK) return touched
    return this.#run(this.#keyCommand(this.#get, key))
  }

  /**
   * Flushes this tenant now (cancelling a delayed flush), on every node in cluster mode;
   * `reply` runs once it is done.
   */
  #flush (reply: (failure: string | null) => void): number {
    this.#backend.scheduleFlush(this.tenantId, 0)
    if (this.#router !== null) {
      const backend = this.#backend
      this.#wait(runOnEveryNode((command) => backend.execute(command), this.#router, { op: 'flush', tenantId: this.tenantId }), (settled) => {
        reply(settled === null
          ? ERROR_CATALOG.SHARD_CRASHED.message
          : settled.error === null ? null : settled.errorMessage !== '' ? settled.errorMessage : ERROR_CATALOG[settled.error].message)
      })
      return SessionState.WAITING
    }
    const result = this.#backend.execute({ op: 'flush', tenantId: this.tenantId })
    if (!(result instanceof Promise)) {
      reply(result.error === null ? null : ERROR_CATALOG[result.error].message)
      return CONTINUE
    }
    this.#wait(result, (settled) => {
      reply(settled !== null && settled.error === null ? null : settled === null ? ERROR_CATALOG.SHARD_CRASHED.message : ERROR_CATALOG[settled.error!].message)
    })
    return SessionState.WAITING
  }

  #wait (promise: Promise<Result>, done: (result: Result | null) => void): void {
    this.pending = promise.then((result) => {
      this.pending = null
      done(result)
    }, () => {
      this.pending = null
      done(null)
    })
  }

  #keyCommand<C extends GetCommand | KeyCommand> (command: C, key: Buffer): C {
    command.tenantId = this.tenantId
    command.key = key
    return command
  }

  /** Runs an O(1) command, which the engine answers synchronously. */
  #run (command: Command): Result {
    const result = this.#backend.execute(command)
    if (result instanceof Promise) throw new Error(`engine returned a Promise for inline command '${command.op}'`)
    return result
  }

  /** ttl for an exptime in seconds: 0 = none, ≤ 30 days relative, else a Unix time; EXPIRED if already past. */
  #ttlMs (exptime: number): number {
    if (exptime === 0) return 0
    if (exptime < 0) return EXPIRED
    if (exptime <= MAX_RELATIVE_EXPTIME_S) return exptime * 1000
    const ttlMs = exptime * 1000 - this.#backend.clock.nowMs()
    return ttlMs > 0 ? ttlMs : EXPIRED
  }

  /** Absolute time in ms of a positive delay/exptime in memcached's relative-or-Unix form. */
  #absoluteMs (seconds: number): number {
    return seconds <= MAX_RELATIVE_EXPTIME_S ? this.#backend.clock.nowMs() + seconds * 1000 : seconds * 1000
  }

  #consume (bytes: number): void {
    this.#start += bytes
    if (this.#start < this.#end) return
    // Nothing pending: let go of the chunk, or of an owned buffer grown for a large request.
    if (!this.#owned || this.#input.length > MAX_RETAINED_INPUT_BYTES) {
      this.#input = EMPTY
      this.#owned = false
    }
    this.#start = 0
    this.#end = 0
  }
}

const TEXT_SET_MODE: Partial<Record<TextOp, SetMode>> = {
  [TextOp.SET]: SetMode.SET,
  [TextOp.ADD]: SetMode.ADD,
  [TextOp.REPLACE]: SetMode.REPLACE,
  [TextOp.APPEND]: SetMode.APPEND,
  [TextOp.PREPEND]: SetMode.PREPEND,
  [TextOp.CAS]: SetMode.CAS,
  [TextOp.TAG_SET]: SetMode.SET
}

/** Binary requests served before SASL succeeds when auth is required (memcached's authenticated()). */
const AUTH_FREE_OPCODES: ReadonlySet<number> = new Set([Opcode.SASL_LIST_MECHS, Opcode.SASL_AUTH, Opcode.SASL_STEP, Opcode.VERSION])

/** Binary statuses for catalog errors; anything else is INTERNAL_ERROR with the catalog message. */
const BINARY_STATUS_OF_ERROR: Partial<Record<ErrorCode, BinaryStatus>> = {
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

/** Binary requests that carry a key a cluster routes by (GET/GETK first: they batch). */
const KEYED_OPCODES: ReadonlySet<number> = new Set([
  Opcode.GET, Opcode.GETK, Opcode.TOUCH, Opcode.GAT, Opcode.GATK, Opcode.SET, Opcode.ADD, Opcode.REPLACE, Opcode.TAG_SET,
  Opcode.APPEND, Opcode.PREPEND, Opcode.DELETE, Opcode.INCREMENT, Opcode.DECREMENT
])
/** Most GET-family requests one cluster batch collects before its replies are written. */
const MAX_GET_BATCH = 256

/**
 * Runs a fan-out command (flush, invalidateTag) on this node and every peer at once. Resolves
 * with a fresh Result: `count` summed over the nodes, or the first failure (a peer that could
 * not be reached: its PEER_* code, the reason in errorMessage). Never rejects. Allocates.
 */
export async function runOnEveryNode (execute: MemcacheBackend['execute'], router: ClusterRouter, command: Extract<Command, { op: 'flush' | 'invalidateTag' }>): Promise<Result> {
  const consistency: ConsistencyMode = router.defaultConsistency(command.tenantId)
  const outcomes: Array<Promise<Result>> = []
  try {
    const local = execute(command)
    // The local Result may be the engine's reused one: copied before anything else runs.
    outcomes.push(local instanceof Promise ? local.then(copyResult, failedResult) : Promise.resolve(copyResult(local)))
  } catch (error) {
    outcomes.push(Promise.resolve(failedResult(error)))
  }
  for (const node of router.peers()) outcomes.push(router.forwardCommand(node, command, consistency).catch(failedResult))
  const results = await Promise.all(outcomes)
  const total = new Result()
  for (const result of results) {
    if (result.error !== null) return result
    total.count += result.count
  }
  return total
}

/** A fresh copy of what the memcached replies read from a (possibly reused) Result. Allocates. */
function copyResult (result: Result): Result {
  const copy = new Result()
  copy.status = result.status
  copy.error = result.error
  copy.errorMessage = result.errorMessage
  copy.flags = result.flags
  copy.cas = result.cas
  copy.counter = result.counter
  copy.count = result.count
  copy.ttlMs = result.ttlMs
  if (result.value !== null) {
    copy.value = Buffer.from(result.value.subarray(0, result.valueLength))
    copy.valueLength = result.valueLength
  }
  return copy
}

/** A rejected forward as a Result: its PEER_* code (PEER_UNAVAILABLE if it is not a SlabcacheError) and reason. */
function failedResult (error: unknown): Result {
  const result = new Result()
  result.error = error instanceof SlabcacheError ? error.code : 'PEER_UNAVAILABLE'
  result.errorMessage = failureMessage(error)
  return result
}

/** A rejection's reason, on one line (it goes into a protocol line). */
function failureMessage (error: unknown): string {
  const message = error instanceof Error ? error.message : ERROR_CATALOG.PEER_UNAVAILABLE.message
  return message.replace(/[\r\n]+/g, ' ')
}

/** A text request whose key, value and tags outlive the input (a forward reads them later). Allocates. */
function copyTextRequest (request: TextRequest): TextRequest {
  const copy = new TextRequest()
  copy.op = request.op
  copy.keys.push(Buffer.from(request.keys[0]!))
  copy.keyCount = 1
  copy.flags = request.flags
  copy.exptime = request.exptime
  copy.cas = request.cas
  copy.delta = request.delta
  copy.noreply = request.noreply
  copy.tags = Buffer.from(request.tags)
  copy.value = Buffer.from(request.value)
  return copy
}

/** A binary request whose key and value outlive the input. Allocates. */
function copyBinaryRequest (request: BinaryRequest): BinaryRequest {
  const copy = new BinaryRequest()
  copy.opcode = request.opcode
  copy.command = request.command
  copy.quiet = request.quiet
  copy.opaque = request.opaque
  copy.cas = request.cas
  copy.key = Buffer.from(request.key)
  copy.value = Buffer.from(request.value)
  copy.flags = request.flags
  copy.expiration = request.expiration
  copy.delta = request.delta
  copy.initial = request.initial
  return copy
}

/** The text reply for a catalog error without a memcached-specific line. */
function textError (error: ErrorCode): string {
  return error === 'KEY_TOO_LARGE' ? TextReply.BAD_FORMAT : `SERVER_ERROR ${ERROR_CATALOG[error].message}\r\n`
}

/**
 * A binary TAG_SET value: u16 big-endian tag-block length, the tags joined by ',', the data.
 * null when the block overruns the value, is empty, or has an empty tag. Allocates the list.
 */
function splitTagBlock (value: Buffer): { tags: Buffer[], data: Buffer } | null {
  if (value.length < 2) return null
  const blockBytes = value.readUInt16BE(0)
  if (blockBytes === 0 || 2 + blockBytes > value.length) return null
  const block = value.subarray(2, 2 + blockBytes)
  const tags = splitTags(block)
  if (tags.some((tag) => tag.length === 0)) return null
  return { tags, data: value.subarray(2 + blockBytes) }
}

/** The text reply for a failed tag_set/tag_invalidate: a tag limit is the client's mistake. */
function textTagError (result: Result): string {
  const error = result.error!
  if (error !== 'TOO_MANY_TAGS' && error !== 'TAG_TOO_LARGE') return textError(error)
  return `CLIENT_ERROR ${result.errorMessage !== '' ? result.errorMessage : ERROR_CATALOG[error].message}\r\n`
}
