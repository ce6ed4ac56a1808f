/**
 * MemcacheSession: one memcached connection's protocol logic, independent of sockets: buffers
 * its input, detects text or binary from the first byte (0x80 = binary request magic), parses,
 * turns each request into protocol-neutral Commands run through an injected backend, and writes
 * the replies into its MemcacheOutput. Thread: main (L1: no net, no timers, no system clock;
 * the server owns the socket and calls push()/run()). Owns: the input buffer, the output, the
 * connection's tenant (SASL), and a multi-key get in progress.
 * In cluster mode (the backend has a router) parsed requests go through MemcacheCluster
 * (memcache-cluster.ts: forwarding, fan-out, replication holds); without a router that costs
 * one null check per request. Reply writers live in memcache-replies.ts, the seams (backend,
 * counters, SessionState) in memcache-backend.ts. `stats` always shows this node alone.
 * Invariants: replies leave in request order. Single node, any pending request (a flush, a
 * SASL check) stops processing until it settles (later requests, quiet ones included, are not
 * run early: a set after a flush must survive it). Cluster mode, forwards and held writes queue
 * their replies (at most MAX_IN_FLIGHT) while later requests run: a local one at once, its reply
 * queued behind (#stepQueued); a request that must run alone waits, unparsed, for the queue to
 * empty, then blocks it as a single-node flush does. One request's commands run back to back
 * on the main thread, so a local composed request (touch + get, get + compare + delete) is
 * atomic with respect to other clients (a forwarded one runs as a sequence of forwards); the
 * input holds at most one incomplete request plus the last chunk pushed (the parsers bound
 * requests), and run() stops once OUTPUT_HIGH_WATER_BYTES of replies are pending.
 */
import type { ClusterRouter } from '../cluster/cluster-types.js'
import type { Result } from '../command/command.js'
import { SetMode, StoreStatus } from '../core/store-status.js'
import { ERROR_CATALOG } from '../errors.js'
import { CONTINUE, EXPIRED, NO_CREATE, SessionState, type MemcacheBackend, type MemcacheCounters, type MemcacheLimits } from './memcache-backend.js'
import {
  BinaryParse, BinaryRequest, BinaryStatus, MemcacheBinaryParser, Opcode, REQUEST_MAGIC, writeErrorResponse,
  writeResponseHeader
} from './memcache-binary.js'
import { MemcacheCluster, runOnEveryNode } from './memcache-cluster.js'
import { MemcacheLocalCommands } from './memcache-local-commands.js'
import { MemcacheOutput } from './memcache-output.js'
import {
  TEXT_SET_MODE, splitTagBlock, textError, textTagError, writeBinaryCounted, writeBinaryFailure, writeBinaryStored, writeBinaryValue,
  writeTextCounted, writeTextDeleted, writeTextStored, writeTextTouched
} from './memcache-replies.js'
import { MAX_RELATIVE_EXPTIME_S, MemcacheTextParser, TEXT_MAX_KEY_BYTES, TextOp, TextParse, TextReply, TextRequest, splitTags, valueLine } from './memcache-text.js'

// The session's seams live in memcache-backend.ts; importers keep using this module for them.
export { MemcacheCounters, SessionState, type MemcacheBackend, type MemcacheLimits } from './memcache-backend.js'
export { runOnEveryNode } from './memcache-cluster.js'

/** run() stops taking requests while this many reply bytes wait to be written. */
export const OUTPUT_HIGH_WATER_BYTES = 256 * 1024
/** An owned input buffer larger than this is dropped once empty rather than kept per connection. */
const MAX_RETAINED_INPUT_BYTES = 64 * 1024
const MIN_INPUT_BYTES = 16 * 1024
const EMPTY = Buffer.alloc(0)
/** The text protocol has no login (DESIGN §8): with credentials configured it is refused, then closed. */
export const TEXT_AUTH_REQUIRED = 'CLIENT_ERROR authentication required: the text protocol has no login; use the binary protocol with SASL PLAIN\r\n'

const Protocol = { UNKNOWN: 0, TEXT: 1, BINARY: 2 } as const

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
  /** Cluster mode's router, or null (flush_all fans out through it). */
  readonly #router: ClusterRouter | null
  /** Cluster mode's routing, or null: the one check the single-node hot path pays. */
  readonly #cluster: MemcacheCluster | null
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
  /** This node's commands for the connection's tenant (reused Commands: no allocation per request). */
  readonly #local: MemcacheLocalCommands

  constructor (backend: MemcacheBackend, limits: MemcacheLimits) {
    this.#backend = backend
    this.#counters = backend.counters
    this.#router = backend.router ?? null
    this.#local = new MemcacheLocalCommands(backend, this)
    this.#text = new MemcacheTextParser({
      maxKeyBytes: Math.min(TEXT_MAX_KEY_BYTES, limits.maxKeyBytes),
      maxValueBytes: limits.maxValueBytes,
      maxRetrievalLineBytes: limits.maxRetrievalLineBytes
    })
    this.#binary = new MemcacheBinaryParser({ maxKeyBytes: limits.maxKeyBytes, maxValueBytes: limits.maxValueBytes })
    const session = this
    this.#cluster = this.#router === null
      ? null
      : new MemcacheCluster(this.#router, backend, {
        get tenantId () { return session.tenantId },
        output: this.output,
        executeText: (request) => this.#executeText(request),
        executeBinary: (request) => this.#executeBinary(request),
        get: (key) => this.#local.get(key),
        getAndTouch: (key, ttlMs) => this.#local.getAndTouch(key, ttlMs),
        ttlMs: (exptime) => this.#local.ttlMs(exptime),
        defer: (work, reply, fail) => this.#defer(work, reply, fail),
        nextGet: (request) => this.#nextGet(request),
        close: () => { this.#closing = true }
      })
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
    if (this.#closing) {
      // Replies still queued (cluster mode) leave before the connection closes.
      if (this.#cluster === null || !this.#cluster.queued) return SessionState.CLOSING
      return this.pending !== null ? SessionState.WAITING : this.#waitReplies()
    }
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
        if (this.#start === this.#end) return this.#cluster !== null && this.#cluster.queued ? this.#waitReplies() : SessionState.IDLE
        if (this.#protocol === Protocol.UNKNOWN) this.#protocol = this.#input[this.#start] === REQUEST_MAGIC ? Protocol.BINARY : Protocol.TEXT
        if (this.#cluster !== null && this.#cluster.queued) {
          state = this.#stepQueued(this.#cluster)
        } else {
          const due = this.#backend.dueFlush(this.tenantId)
          if (due !== null) {
            this.#wait(due, () => {})
            return SessionState.WAITING
          }
          state = this.#protocol === Protocol.TEXT ? this.#stepText() : this.#stepBinary()
        }
      }
      if (state !== CONTINUE) return state as SessionState
    }
  }

  /**
   * One request while replies are queued behind a pending forward (cluster mode): what it
   * writes at once joins the queue, so replies still leave in request order. A request that
   * must run alone (MemcacheCluster#textBlocks), a delayed flush that came due, a parser
   * discarding a rejected body (re-parsing could not be undone), a full queue and a lost
   * framing all wait for the queue to empty.
   */
  #stepQueued (cluster: MemcacheCluster): number {
    const text = this.#protocol === Protocol.TEXT
    if (cluster.full || (text ? this.#text.swallowing : this.#binary.swallowing)) return this.#waitReplies()
    const mark = this.output.mark()
    const state = text ? this.#stepText() : this.#stepBinary()
    cluster.capture(mark)
    // Out of input (or closing) with replies queued: nothing would wake the server once they
    // settle, so wait for them (reading resumes when the queue is empty, IDLE).
    return (state === SessionState.IDLE || state === SessionState.CLOSING) && cluster.queued ? this.#waitReplies() : state
  }

  /** WAITING until the head of the cluster reply queue settled. */
  #waitReplies (): SessionState {
    this.pending = this.#cluster!.progress().then(() => { this.pending = null })
    return SessionState.WAITING
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
    // Left in the input (not consumed) to be parsed again once the queued replies are out.
    if (this.#cluster !== null && kind === TextParse.REQUEST && this.#cluster.mustWaitText(request)) return this.#waitReplies()
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
      default: return this.#cluster === null ? this.#executeText(request) : this.#cluster.text(request)
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
        const result = this.#local.invalidateTag(request.tags)
        const reply = result.error === null ? `${result.count}\r\n` : textTagError(result)
        if (!request.noreply) out.writeAscii(reply)
        return CONTINUE
      }
      case TextOp.DELETE:
        writeTextDeleted(this.output, this.#counters, this.#local.delete(request.keys[0]!), request.noreply)
        return CONTINUE
      case TextOp.INCR: case TextOp.DECR: {
        const incr = request.op === TextOp.INCR
        writeTextCounted(this.output, this.#counters, this.#local.counter(request.keys[0]!, incr ? request.delta : -request.delta), incr, request.noreply)
        return CONTINUE
      }
      case TextOp.TOUCH: {
        this.#counters.cmdTouch++
        const ttlMs = this.#local.ttlMs(request.exptime)
        const key = request.keys[0]!
        // An exptime already past: the item is touched into expiry, i.e. removed.
        const result = ttlMs === EXPIRED ? this.#local.delete(key) : this.#local.touchKey(key, ttlMs)
        writeTextTouched(this.output, this.#counters, result, request.noreply)
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
    const ttlMs = touch ? this.#local.ttlMs(this.#retrievalExptime) : 0
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
        result = this.#local.getAndTouch(key, ttlMs)
        if (result.error === null) counters[result.status === StoreStatus.OK ? 'touchHits' : 'touchMisses']++
      } else {
        result = this.#local.get(key)
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
    writeTextStored(this.output, this.#counters, this.#local.store(request.keys[0]!, request.value, mode, request.flags, request.exptime, request.cas, tags), mode, request.noreply)
    return CONTINUE
  }

  // ── binary ───────────────────────────────────────────────────────────────────────────

  #stepBinary (): number {
    const request = this.#binaryRequest
    const kind = this.#binary.parse(this.#input, this.#start, this.#end, request)
    if (this.#cluster !== null && kind === BinaryParse.REQUEST && this.#cluster.mustWaitBinary(request)) return this.#waitReplies()
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
        return this.#cluster === null ? this.#executeBinary(request) : this.#cluster.binary(request)
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
        out.expectValue(24 + 4 + (withKey ? request.key.length : 0))
        const result = this.#local.get(request.key, out)
        writeBinaryValue(this.output, this.#counters, request, result, withKey, true, true)
        return CONTINUE
      }
      case Opcode.TOUCH: case Opcode.GAT: case Opcode.GATK: {
        counters.cmdTouch++
        const result = this.#local.getAndTouch(request.key, this.#local.ttlMs(request.expiration))
        if (result.error === null) counters[result.status === StoreStatus.OK ? 'touchHits' : 'touchMisses']++
        if (request.command !== Opcode.TOUCH) counters.cmdGet++
        writeBinaryValue(this.output, this.#counters, request, result, request.command === Opcode.GATK, request.command !== Opcode.TOUCH)
        return CONTINUE
      }
      case Opcode.SET: case Opcode.ADD: case Opcode.REPLACE: {
        counters.cmdSet++
        // A cas turns any of the three into a compare-and-swap (memcached's process_bin_update).
        const mode = request.cas !== 0 ? SetMode.CAS : request.command === Opcode.SET ? SetMode.SET : request.command === Opcode.ADD ? SetMode.ADD : SetMode.REPLACE
        const result = this.#local.store(request.key, request.value, mode, request.flags, request.expiration, request.cas)
        if (mode === SetMode.CAS && result.error === null) counters[result.status === StoreStatus.OK ? 'casHits' : result.status === StoreStatus.EXISTS ? 'casBadval' : 'casMisses']++
        writeBinaryStored(this.output, request, result)
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
        const result = this.#local.store(request.key, tagged.data, mode, request.flags, request.expiration, request.cas, tagged.tags)
        writeBinaryStored(this.output, request, result)
        return CONTINUE
      }
      case Opcode.TAG_INVALIDATE: {
        const result = this.#local.invalidateTag(request.key)
        if (result.error !== null) {
          writeBinaryFailure(this.output, request, result.error, result.errorMessage)
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
        const result = this.#local.store(request.key, request.value, request.command === Opcode.APPEND ? SetMode.APPEND : SetMode.PREPEND, 0, 0, 0)
        writeBinaryStored(this.output, request, result)
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
        const result = this.#local.delete(request.key)
        if (result.error !== null) writeBinaryFailure(this.output, request, result.error)
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
    let result = this.#local.counter(request.key, incr ? request.delta : -request.delta)
    let value = result.counter
    if (result.status === StoreStatus.NOT_FOUND && result.error === null) {
      counters[incr ? 'incrMisses' : 'decrMisses']++
      if (request.expiration === NO_CREATE) {
        writeErrorResponse(out, request.opcode, BinaryStatus.KEY_NOT_FOUND, request.opaque)
        return
      }
      value = request.initial
      result = this.#local.store(request.key, Buffer.from(value.toString(), 'latin1'), SetMode.ADD, 0, request.expiration, 0)
      if (result.error === null && result.status !== StoreStatus.OK) {
        writeErrorResponse(out, request.opcode, BinaryStatus.ITEM_NOT_STORED, request.opaque)
        return
      }
    } else if (result.status === StoreStatus.OK) {
      counters[incr ? 'incrHits' : 'decrHits']++
    }
    writeBinaryCounted(out, request, result, value)
  }

  /**
   * For binary requests carrying a cas: SUCCESS if (tenant, key) holds an item with that cas,
   * KEY_NOT_FOUND if absent, KEY_EXISTS if its cas differs (or the lookup failed).
   */
  #casCheck (key: Buffer, cas: number): number {
    const result = this.#local.get(key)
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

  /**
   * If the input starts with a complete GET/GETQ/GETK/GETKQ frame (judged by its header):
   * parses and consumes it into `request`, returning its BinaryParse kind; else -1.
   */
  #nextGet (request: BinaryRequest): number {
    const input = this.#input
    const start = this.#start
    if (this.#end - start < 24 || input[start] !== REQUEST_MAGIC) return -1
    const opcode = input[start + 1]
    if (opcode !== Opcode.GET && opcode !== Opcode.GETQ && opcode !== Opcode.GETK && opcode !== Opcode.GETKQ) return -1
    if (this.#end - start < 24 + input.readUInt32BE(start + 8)) return -1
    const kind = this.#binary.parse(input, start, this.#end, request)
    this.#consume(this.#binary.consumed)
    return kind
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
/** Binary requests served before SASL succeeds when auth is required (memcached's authenticated()). */
const AUTH_FREE_OPCODES: ReadonlySet<number> = new Set([Opcode.SASL_LIST_MECHS, Opcode.SASL_AUTH, Opcode.SASL_STEP, Opcode.VERSION])
