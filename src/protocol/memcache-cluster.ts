/**
 * MemcacheCluster: the cluster routing of one memcached connection (its session creates it
 * only when the backend has a router). Keyed requests whose owner is another node are
 * forwarded whole (composed requests as a sequence of forwarded Commands) and their reply
 * written once the owner answered; get/gets and GET pipelines forward every remote key at once;
 * flush_all and tag_invalidate fan out to every peer; a local write's reply is held until
 * replication acknowledges it. Thread: main (L1: the router does the I/O). Owns: the reply
 * queue (replies not yet in the session's output) and a scratch request; the session owns
 * input, output, tenant and the pending Promise.
 * Pipelining: a one-step forward, a get, or a held write queues its reply in its own
 * MemcacheOutput and the session goes on parsing; replies move to the session's output in
 * request order as the head of the queue settles. A request that must run alone (#textBlocks,
 * #binaryBlocks: state changes, fan-outs, forwards of several steps, where a later request on
 * the key could slip between the steps) waits for an empty queue and then blocks the session
 * (host.defer) until it is done. Requests on one key reach its owner in order: one-step
 * forwards are sent in request order over one peer link and run there on arrival.
 */
import type { ClusterRouter, ConsistencyMode, NodeId } from '../cluster/cluster-types.js'
import { Result, type Command } from '../command/command.js'
import { CounterMode, SetMode, StoreStatus } from '../core/store-status.js'
import { SlabcacheError } from '../errors.js'
import { CONTINUE, EXPIRED, NO_CREATE, type MemcacheBackend, type MemcacheCounters } from './memcache-backend.js'
import { BinaryParse, BinaryRequest, BinaryStatus, Opcode, writeErrorResponse, writeResponseHeader } from './memcache-binary.js'
import { MemcacheOutput } from './memcache-output.js'
import {
  BINARY_STATUS_OF_ERROR, TEXT_SET_MODE, failureMessage, splitTagBlock, textError, textTagError, writeBinaryCounted, writeBinaryFailure,
  writeBinaryPeerFailure, writeBinaryStored, writeBinaryValue, writeTextCounted, writeTextDeleted, writeTextPeerFailure,
  writeTextStored, writeTextTouched
} from './memcache-replies.js'
import { TextOp, TextReply, TextRequest, splitTags, valueLine } from './memcache-text.js'

/** What the cluster routing uses of its session (closures over the session's private state). */
export interface MemcacheClusterHost {
  /** The connection's tenant now (SASL may change it between requests). */
  readonly tenantId: number
  readonly output: MemcacheOutput
  /** Runs a text / binary request locally, as the single-node session does: CONTINUE or a SessionState. */
  executeText: (request: TextRequest) => number
  executeBinary: (request: BinaryRequest) => number
  /** Local get of (tenant, key): the engine's reused Result. */
  get: (key: Buffer) => Result
  /** Local touch-then-read (atomic on the main thread): the engine's reused Result. */
  getAndTouch: (key: Buffer, ttlMs: number) => Result
  /** ttl of a memcached exptime (EXPIRED if already past). */
  ttlMs: (exptime: number) => number
  /** Makes the session WAITING on `work`; `reply` or `fail` writes the answer. Returns SessionState.WAITING. */
  defer: <T>(work: Promise<T>, reply: (value: T) => void, fail: (error: unknown) => void) => number
  /**
   * If the input starts with a complete GET/GETQ/GETK/GETKQ frame: parses (and consumes) it
   * into `request` and returns its BinaryParse kind; else -1 and nothing is consumed.
   */
  nextGet: (request: BinaryRequest) => number
  /** Closes the connection once pending replies are written. */
  close: () => void
}

/** Binary requests that carry a key a cluster routes by (GET/GETK first: they batch). */
const KEYED_OPCODES: ReadonlySet<number> = new Set([
  Opcode.GET, Opcode.GETK, Opcode.TOUCH, Opcode.GAT, Opcode.GATK, Opcode.SET, Opcode.ADD, Opcode.REPLACE, Opcode.TAG_SET,
  Opcode.APPEND, Opcode.PREPEND, Opcode.DELETE, Opcode.INCREMENT, Opcode.DECREMENT
])
/** Most GET-family requests one cluster batch collects before its replies are written. */
const MAX_GET_BATCH = 256
/**
 * Most replies one connection queues (forwards in flight, held writes, and replies ready
 * behind them); at this many the session stops parsing until the head settles.
 */
export const MAX_IN_FLIGHT = 128

/** One queued reply: its bytes once its request settled (null: it had none, e.g. quiet). */
interface ReplySlot {
  bytes: Buffer | null
  settled: boolean
}

export class MemcacheCluster {
  readonly #router: ClusterRouter
  readonly #backend: MemcacheBackend
  readonly #counters: MemcacheCounters
  readonly #host: MemcacheClusterHost
  readonly #out: MemcacheOutput
  /** The GET-family requests a batch parses after its first. */
  readonly #scratch = new BinaryRequest()
  /** Replies not yet in the session's output, in request order; the head is not settled. */
  readonly #queue: ReplySlot[] = []
  /** Resolves the session's wait for progress (see progress()). */
  #wake: (() => void) | null = null

  constructor (router: ClusterRouter, backend: MemcacheBackend, host: MemcacheClusterHost) {
    this.#router = router
    this.#backend = backend
    this.#counters = backend.counters
    this.#host = host
    this.#out = host.output
  }

  /** A parsed text request: forwarded, fanned out, held or run locally. CONTINUE or a SessionState. */
  text (request: TextRequest): number {
    const router = this.#router
    switch (request.op) {
      case TextOp.GET: case TextOp.GETS:
        // Behind pending replies even an all-local get is collected (copied) and queued.
        if (this.#queue.length > 0) return this.#clusterRetrieve(request, router)
        for (let i = 0; i < request.keyCount; i++) {
          if (router.ownerOf(this.#host.tenantId, request.keys[i]!) !== null) return this.#clusterRetrieve(request, router)
        }
        return this.#host.executeText(request)
      case TextOp.GAT: case TextOp.GATS:
        // Touches are writes: even all-local, the reply waits for replication.
        return this.#clusterRetrieve(request, router)
      case TextOp.TAG_INVALIDATE: {
        const noreply = request.noreply
        const command: Command = { op: 'invalidateTag', tenantId: this.#host.tenantId, tag: Buffer.from(request.tags) }
        return this.#host.defer(runOnEveryNode((command) => this.#backend.execute(command), router, command), (result) => {
          if (!noreply) this.#out.writeAscii(result.error === null ? `${result.count}\r\n` : textTagError(result))
        }, (error) => writeTextPeerFailure(this.#out, error, noreply))
      }
      case TextOp.SET: case TextOp.ADD: case TextOp.REPLACE: case TextOp.APPEND: case TextOp.PREPEND: case TextOp.CAS:
      case TextOp.TAG_SET: case TextOp.DELETE: case TextOp.INCR: case TextOp.DECR: case TextOp.TOUCH: {
        const noreply = request.noreply
        const owner = router.ownerOf(this.#host.tenantId, request.keys[0]!)
        if (owner !== null) {
          const out = this.#textBlocks(request) ? null : new MemcacheOutput()
          const work = this.#remoteText(copyTextRequest(request), router, owner, out ?? this.#out)
          return this.#start(out, work, () => {}, (error, out) => writeTextPeerFailure(out, error, noreply))
        }
        const mark = this.#out.mark()
        const state = this.#host.executeText(request)
        return state === CONTINUE ? this.#holdReply(router, mark, (error, out) => writeTextPeerFailure(out, error, noreply)) : state
      }
      default:
        return this.#host.executeText(request)
    }
  }

  /** A forwarded text write, touch, delete or incr/decr; writes its reply (the session is WAITING). */
  async #remoteText (request: TextRequest, router: ClusterRouter, owner: NodeId, out: MemcacheOutput): Promise<void> {
    const key = request.keys[0]!
    const tenantId = this.#host.tenantId
    switch (request.op) {
      case TextOp.DELETE:
        writeTextDeleted(out, this.#counters, await this.#forward(router, owner, { op: 'delete', tenantId, key }), request.noreply)
        return
      case TextOp.INCR: case TextOp.DECR: {
        const incr = request.op === TextOp.INCR
        const command: Command = { op: 'incr', tenantId, key, delta: incr ? request.delta : -request.delta, mode: CounterMode.MEMCACHED }
        writeTextCounted(out, this.#counters, await this.#forward(router, owner, command), incr, request.noreply)
        return
      }
      case TextOp.TOUCH: {
        this.#counters.cmdTouch++
        const ttlMs = this.#host.ttlMs(request.exptime)
        const command: Command = ttlMs === EXPIRED ? { op: 'delete', tenantId, key } : { op: 'touch', tenantId, key, ttlMs }
        writeTextTouched(out, this.#counters, await this.#forward(router, owner, command), request.noreply)
        return
      }
      default: {
        this.#counters.cmdSet++
        const mode = TEXT_SET_MODE[request.op]!
        const tags = request.op === TextOp.TAG_SET ? splitTags(request.tags) : undefined
        const result = await this.#remoteStore(router, owner, key, request.value, mode, request.flags, request.exptime, request.cas, tags)
        writeTextStored(out, this.#counters, result, mode, request.noreply)
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
    const ttlMs = touch ? this.#host.ttlMs(request.exptime) : 0
    const tenantId = this.#host.tenantId
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
        results.push(copyResult(touch ? this.#host.getAndTouch(key, ttlMs) : this.#host.get(key)))
      }
    }
    const held = touch ? router.replicated(router.defaultConsistency(tenantId)) : null
    const all = Promise.all(results)
    // gat/gats touch then read on the owner (two forwards): they wait for an empty queue and
    // block it (#textBlocks); a get is one step per key and queues.
    return this.#start(touch ? null : new MemcacheOutput(), held === null ? all : Promise.all([all, held]).then(([settled]) => settled), (settled, out) => {
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
    }, (error, out) => writeTextPeerFailure(out, error, false))
  }

  /** A parsed (and authorized) binary request, as text() does. CONTINUE or a SessionState. */
  binary (request: BinaryRequest): number {
    const router = this.#router
    const command = request.command
    if (command === Opcode.TAG_INVALIDATE) {
      const copy = copyBinaryRequest(request)
      const invalidate: Command = { op: 'invalidateTag', tenantId: this.#host.tenantId, tag: copy.key }
      return this.#host.defer(runOnEveryNode((command) => this.#backend.execute(command), router, invalidate), (result) => {
        if (result.error !== null) {
          writeBinaryFailure(this.#out, copy, result.error, result.errorMessage)
          return
        }
        writeResponseHeader(this.#out, copy.opcode, BinaryStatus.SUCCESS, 0, 0, 8, copy.opaque, 0)
        this.#out.writeBigUint64(BigInt(result.count))
      }, (error) => writeBinaryPeerFailure(this.#out, copy.opcode, copy.opaque, error))
    }
    if (!KEYED_OPCODES.has(command)) return this.#host.executeBinary(request)
    const owner = router.ownerOf(this.#host.tenantId, request.key)
    const get = command === Opcode.GET || command === Opcode.GETK
    if (owner !== null) {
      if (get) return this.#binaryGetBatch(request, router, owner)
      const copy = copyBinaryRequest(request)
      const out = this.#binaryBlocks(request) ? null : new MemcacheOutput()
      const work = this.#remoteBinary(copy, router, owner, out ?? this.#out)
      return this.#start(out, work, () => {}, (error, out) => writeBinaryPeerFailure(out, copy.opcode, copy.opaque, error))
    }
    if (get) return this.#host.executeBinary(request)
    const { opcode, opaque } = request
    const mark = this.#out.mark()
    const state = this.#host.executeBinary(request)
    return state === CONTINUE ? this.#holdReply(router, mark, (error, out) => writeBinaryPeerFailure(out, opcode, opaque, error)) : state
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
    const tenantId = this.#host.tenantId
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
      else results.push(copyResult(this.#host.get(copy.key)))
      if (requests.length >= MAX_GET_BATCH) break
      request = this.#scratch
      const kind = this.#host.nextGet(request)
      if (kind < 0) break
      if (kind !== BinaryParse.REQUEST) {
        trailer = { opcode: request.opcode, opaque: request.opaque, status: request.status, fatal: kind === BinaryParse.FATAL }
        break
      }
      owner = router.ownerOf(tenantId, request.key)
    }
    return this.#enqueue(new MemcacheOutput(), Promise.all(results), (settled, out) => {
      for (let i = 0; i < settled.length; i++) {
        const request = requests[i]!
        const result = settled[i]!
        if (result.error !== null && result.errorMessage !== '') {
          counters.getMisses++
          writeErrorResponse(out, request.opcode, BINARY_STATUS_OF_ERROR[result.error] ?? BinaryStatus.INTERNAL_ERROR, request.opaque, result.errorMessage)
          continue
        }
        writeBinaryValue(out, this.#counters, request, result, request.command === Opcode.GETK, true)
      }
      if (trailer !== null) {
        writeErrorResponse(out, trailer.opcode, trailer.status, trailer.opaque)
        if (trailer.fatal) this.#host.close()
      }
    }, () => { this.#host.close() })
  }

  /** A forwarded binary keyed request other than GET/GETK; writes its reply (the session is WAITING). */
  async #remoteBinary (request: BinaryRequest, router: ClusterRouter, owner: NodeId, out: MemcacheOutput): Promise<void> {
    const counters = this.#counters
    const tenantId = this.#host.tenantId
    const key = request.key
    switch (request.command) {
      case Opcode.TOUCH: case Opcode.GAT: case Opcode.GATK: {
        counters.cmdTouch++
        if (request.command !== Opcode.TOUCH) counters.cmdGet++
        const result = await this.#remoteGetAndTouch(router, owner, key, this.#host.ttlMs(request.expiration))
        if (result.error === null) counters[result.status === StoreStatus.OK ? 'touchHits' : 'touchMisses']++
        writeBinaryValue(out, this.#counters, request, result, request.command === Opcode.GATK, request.command !== Opcode.TOUCH)
        return
      }
      case Opcode.SET: case Opcode.ADD: case Opcode.REPLACE: {
        counters.cmdSet++
        const mode = request.cas !== 0 ? SetMode.CAS : request.command === Opcode.SET ? SetMode.SET : request.command === Opcode.ADD ? SetMode.ADD : SetMode.REPLACE
        const result = await this.#remoteStore(router, owner, key, request.value, mode, request.flags, request.expiration, request.cas)
        if (mode === SetMode.CAS && result.error === null) counters[result.status === StoreStatus.OK ? 'casHits' : result.status === StoreStatus.EXISTS ? 'casBadval' : 'casMisses']++
        writeBinaryStored(out, request, result)
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
        writeBinaryStored(out, request, await this.#remoteStore(router, owner, key, tagged.data, mode, request.flags, request.expiration, request.cas, tagged.tags))
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
        writeBinaryStored(out, request, await this.#remoteStore(router, owner, key, request.value, mode, 0, 0, 0))
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
        if (result.error !== null) writeBinaryFailure(out, request, result.error)
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
        writeBinaryCounted(out, request, result, value)
      }
    }
  }

  /** #store on `owner`: the set, then (exptime already past) the delete that expires it. */
  async #remoteStore (router: ClusterRouter, owner: NodeId, key: Buffer, value: Buffer, mode: SetMode, flags: number, exptime: number, cas: number, tags?: readonly Uint8Array[]): Promise<Result> {
    const concat = mode === SetMode.APPEND || mode === SetMode.PREPEND
    const ttlMs = concat ? 0 : this.#host.ttlMs(exptime)
    const tenantId = this.#host.tenantId
    const set: Command = { op: 'set', tenantId, key, value, mode, ttlMs: ttlMs === EXPIRED ? 0 : ttlMs, flags, keepTtl: false, casExpected: cas, tags }
    const result = await this.#forward(router, owner, set)
    if (ttlMs === EXPIRED && result.error === null && result.status === StoreStatus.OK) await this.#forward(router, owner, { op: 'delete', tenantId, key })
    return result
  }

  /** #getAndTouch on `owner`, one forwarded step at a time (not atomic there, unlike locally). */
  async #remoteGetAndTouch (router: ClusterRouter, owner: NodeId, key: Buffer, ttlMs: number): Promise<Result> {
    const tenantId = this.#host.tenantId
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
    const result = await this.#forward(router, owner, { op: 'get', tenantId: this.#host.tenantId, key })
    if (result.error === null && result.status === StoreStatus.NOT_FOUND) return BinaryStatus.KEY_NOT_FOUND
    return result.error === null && result.cas === cas ? BinaryStatus.SUCCESS : BinaryStatus.KEY_EXISTS
  }

  /** Runs `command` on `owner` with the tenant's default consistency (memcached has no per-request option). */
  #forward (router: ClusterRouter, owner: NodeId, command: Command): Promise<Result> {
    return router.forwardCommand(owner, command, router.defaultConsistency(this.#host.tenantId))
  }

  /**
   * After a local write whose reply was written from `mark` on: when replication must be
   * awaited, takes that reply out (a copy) and writes it back once `replicated()` resolves;
   * on rejection (REPLICATION_TIMEOUT) `fail` answers instead. Allocates only when holding.
   */
  #holdReply (router: ClusterRouter, mark: number, fail: (error: unknown, out: MemcacheOutput) => void): number {
    const held = router.replicated(router.defaultConsistency(this.#host.tenantId))
    if (held === null) return CONTINUE
    const reply = this.#out.copySince(mark)
    this.#out.rollback(mark)
    return this.#enqueue(new MemcacheOutput(), held, (_, out) => { if (reply.length > 0) out.writeBytes(reply) }, fail)
  }

  // ── the reply queue ─────────────────────────────────────────────────────────────────────

  /**
   * Starts `work`: blocking (out null: the session waits for it, which it may only do with an
   * empty queue, and its reply goes straight to the session's output) or queued in `out`.
   */
  #start<T> (out: MemcacheOutput | null, work: Promise<T>, reply: (value: T, out: MemcacheOutput) => void,
    fail: (error: unknown, out: MemcacheOutput) => void): number {
    if (out !== null) return this.#enqueue(out, work, reply, fail)
    const main = this.#out
    return this.#host.defer(work, (value) => reply(value, main), (error) => fail(error, main))
  }

  /**
   * Queues `work` behind the replies already pending; `reply` (or `fail`) writes its answer
   * into `out`, which moves to the session's output once every reply before it did. CONTINUE
   * while fewer than MAX_IN_FLIGHT replies are queued, else the session waits. Allocates.
   */
  #enqueue<T> (out: MemcacheOutput, work: Promise<T>, reply: (value: T, out: MemcacheOutput) => void,
    fail: (error: unknown, out: MemcacheOutput) => void): number {
    const slot: ReplySlot = { bytes: null, settled: false }
    this.#queue.push(slot)
    work.then((value) => reply(value, out), (error: unknown) => fail(error, out)).then(() => {
      this.#settle(slot, out)
    }, () => {
      // A throw in a reply writer (a bug): this connection closes after what is queued.
      this.#host.close()
      this.#settle(slot, out)
    })
    return this.#queue.length < MAX_IN_FLIGHT ? CONTINUE : this.#host.defer(this.progress(), () => {}, () => {})
  }

  #settle (slot: ReplySlot, out: MemcacheOutput): void {
    slot.bytes = out.take()
    slot.settled = true
    const queue = this.#queue
    if (queue[0] !== slot) return
    // The head settled: it and every settled reply behind it leave, in request order.
    let done = 0
    while (done < queue.length && queue[done]!.settled) {
      const bytes = queue[done]!.bytes
      if (bytes !== null) this.#out.writeBytes(bytes)
      done++
    }
    queue.splice(0, done)
    const wake = this.#wake
    this.#wake = null
    if (wake !== null) wake()
  }

  /** Replies are queued (a forward or a held write is pending, or ready behind one that is). */
  get queued (): boolean { return this.#queue.length > 0 }

  /** MAX_IN_FLIGHT replies are queued: take no request until the head settled. */
  get full (): boolean { return this.#queue.length >= MAX_IN_FLIGHT }

  /**
   * Resolves once the head of the queue settled and its replies (and those ready behind it)
   * are in the session's output. Only the session waits on it, one wait at a time.
   */
  progress (): Promise<void> {
    return new Promise((resolve) => { this.#wake = resolve })
  }

  /**
   * After a step ran with replies queued: what it wrote to the session's output since `mark`
   * (a local reply, a protocol error) joins the queue as a ready reply, so it leaves in order.
   * Allocates a copy when there is one.
   */
  capture (mark: number): void {
    const out = this.#out
    if (out.pendingBytes === 0 || this.#queue.length === 0) return
    const bytes = out.copySince(mark)
    if (bytes.length === 0) return
    out.rollback(mark)
    this.#queue.push({ bytes, settled: true })
  }

  /** With replies queued: whether this text request must wait until they left (see #textBlocks). */
  mustWaitText (request: TextRequest): boolean {
    return this.#queue.length > 0 && this.#textBlocks(request)
  }

  /** With replies queued: whether this binary request must wait until they left (see #binaryBlocks). */
  mustWaitBinary (request: BinaryRequest): boolean {
    return this.#queue.length > 0 && this.#binaryBlocks(request)
  }

  /**
   * Whether a text request runs alone (queue empty, nothing after it until it is done): all
   * that changes connection or node-wide state (flush_all, verbosity, quit, tag_invalidate),
   * stats/version, gat/gats, and a forwarded store whose exptime is past (a set, then a
   * delete: a later request on that key must not run between the two).
   */
  #textBlocks (request: TextRequest): boolean {
    switch (request.op) {
      case TextOp.GET: case TextOp.GETS: case TextOp.DELETE: case TextOp.INCR: case TextOp.DECR: case TextOp.TOUCH:
      case TextOp.APPEND: case TextOp.PREPEND:
        return false
      case TextOp.SET: case TextOp.ADD: case TextOp.REPLACE: case TextOp.CAS: case TextOp.TAG_SET:
        return this.#host.ttlMs(request.exptime) === EXPIRED && this.#router.ownerOf(this.#host.tenantId, request.keys[0]!) !== null
      default:
        return true
    }
  }

  /**
   * The binary counterpart of #textBlocks: every unkeyed opcode (SASL, FLUSH, NOOP, QUIT,
   * VERBOSITY, STAT, VERSION, TAG_INVALIDATE), and forwards of more than one step: TOUCH/GAT
   * (touch, then get), a cas check before APPEND/PREPEND/DELETE/INCR/DECR, INCR/DECR that may
   * create the item (incr, then add), a store whose exptime is past.
   */
  #binaryBlocks (request: BinaryRequest): boolean {
    const command = request.command
    if (!KEYED_OPCODES.has(command)) return true
    if (command === Opcode.GET || command === Opcode.GETK) return false
    if (this.#router.ownerOf(this.#host.tenantId, request.key) === null) return false
    switch (command) {
      case Opcode.SET: case Opcode.ADD: case Opcode.REPLACE: case Opcode.TAG_SET:
        return this.#host.ttlMs(request.expiration) === EXPIRED
      case Opcode.APPEND: case Opcode.PREPEND: case Opcode.DELETE:
        return request.cas !== 0
      case Opcode.INCREMENT: case Opcode.DECREMENT:
        return request.cas !== 0 || request.expiration !== NO_CREATE
      default: // TOUCH, GAT, GATK
        return true
    }
  }

}

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
