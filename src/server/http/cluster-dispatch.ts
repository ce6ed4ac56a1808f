/**
 * Cluster routing of HTTP commands (DESIGN §9): a keyed command runs on the node that owns its
 * key — here, or forwarded with `ClusterRouter.forwardCommand` — and a write run here is answered
 * only once `ClusterRouter.replicated` says enough replicas have it. Thread: main (uWS callbacks;
 * deferred replies through Exchange.settle, inside cork, skipped after an abort).
 * Owns: the `X-Slabcache-Consistency` request header and the rule of which ops are writes.
 * Invariants:
 * - Only built when the server has a router: single-node routes never reach this file, so their
 *   hot paths keep their synchronous, allocation-free replies.
 * - A reply that waits (a forward, a replication ack) never holds the engine's reused Result:
 *   a local Result is detached (copied) before anything is awaited.
 * - A forward rejection (PEER_UNAVAILABLE, PEER_TIMEOUT, PEER_BUSY) and a REPLICATION_TIMEOUT
 *   answer their catalog error and HTTP status; nothing else of the server is affected.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Command, Result } from '../../command/command.js'
import type { ClusterRouter, ConsistencyMode, NodeId } from '../../cluster/cluster-types.js'
import { decodeResult, encodeResult } from '../../cluster/command-codec.js'
import type { Engine } from '../../engine.js'
import type { Exchange } from './exchange.js'
import { keyParameter } from './params.js'
import { sendError } from './reply.js'
import { ascii } from './wire.js'

/** Request header choosing a write's acknowledgement: `async`, `quorum` or `all`. */
export const H_CONSISTENCY = ascii('x-slabcache-consistency')
export const CONSISTENCY_HEADER = 'X-Slabcache-Consistency'

/** `parseConsistency` after it answered 400 for a value it does not know. */
export const INVALID_CONSISTENCY = 'invalid'

/**
 * The request's consistency: null when the header is absent (the tenant's default applies),
 * the mode, or INVALID_CONSISTENCY after answering 400 BAD_REQUEST. Read it in `parse` (req is
 * valid only inside the handler).
 */
export function parseConsistency (res: HttpResponse, req: HttpRequest): ConsistencyMode | null | typeof INVALID_CONSISTENCY {
  const raw = req.getHeader(H_CONSISTENCY)
  if (raw === '') return null
  const mode = raw.trim().toLowerCase()
  if (mode === 'async' || mode === 'quorum' || mode === 'all') return mode
  sendError(res, 'BAD_REQUEST', `${CONSISTENCY_HEADER} must be async, quorum or all; received ${JSON.stringify(raw.slice(0, 64))}`)
  return INVALID_CONSISTENCY
}

/** A keyed route's path key and, in a cluster, its consistency header. */
export interface KeyedParams { key: Buffer, consistency: ConsistencyMode | null }

/**
 * `parse` of a route keyed by path parameter 0: the key, and the consistency header when
 * `cluster` is set (single node: not read). Null after answering 400/414.
 */
export function keyedParams (res: HttpResponse, req: HttpRequest, maxKeyBytes: number, cluster: ClusterDispatch | null): KeyedParams | null {
  const key = keyParameter(res, req, 0, maxKeyBytes)
  if (key === null) return null
  if (cluster === null) return { key, consistency: null }
  const consistency = parseConsistency(res, req)
  return consistency === INVALID_CONSISTENCY ? null : { key, consistency }
}

/** Ops that change data: after one ran here, its reply waits for `router.replicated`. */
const WRITE_OPS: ReadonlySet<Command['op']> = new Set(['set', 'delete', 'touch', 'incr', 'rateLimit', 'invalidateTag', 'flush'])

/** A copy of `result` that stays valid after the engine's next command (allocates). */
export function detachResult (result: Result): Result {
  return decodeResult(encodeResult(result))
}

/** Runs keyed commands where their key lives; one per server, shared by every route group. */
export class ClusterDispatch {
  readonly engine: Engine
  readonly router: ClusterRouter

  constructor (engine: Engine, router: ClusterRouter) {
    this.engine = engine
    this.router = router
  }

  /** The request's mode, or the tenant's default when it named none. */
  consistency (tenantId: number, requested: ConsistencyMode | null): ConsistencyMode {
    return requested ?? this.router.defaultConsistency(tenantId)
  }

  /** The node that must run a command on (tenantId, key); null: this one. */
  ownerOf (tenantId: number, key: Uint8Array): NodeId | null {
    return this.router.ownerOf(tenantId, key)
  }

  /**
   * Runs `command` (on `key`) where the key lives and calls `reply` with its Result: at once
   * when it ran here and nothing must be waited for (the engine's reused Result: read it before
   * returning), else later inside cork through `exchange.settle`. Call inside a uWS callback.
   * `command` and its buffers must stay unchanged until the forward settles.
   */
  run (exchange: Exchange, tenantId: number, key: Uint8Array, command: Command, requested: ConsistencyMode | null, reply: (result: Result) => void): void {
    const router = this.router
    const consistency = requested ?? router.defaultConsistency(tenantId)
    const owner = router.ownerOf(tenantId, key)
    if (owner !== null) {
      exchange.settle(router.forwardCommand(owner, command, consistency), reply)
      return
    }
    this.runLocal(exchange, command, consistency, reply)
  }

  /** `run` for a command this node serves whatever its key (fan-out members, unkeyed ops). */
  runLocal (exchange: Exchange, command: Command, consistency: ConsistencyMode, reply: (result: Result) => void): void {
    const ran = this.engine.execute(command)
    if (ran instanceof Promise) {
      // Heavy commands finish on the shard workers: `replicated` can only be asked right after a
      // synchronous run, so their writes are not waited for (see README, cluster consistency).
      exchange.settle(ran, reply)
      return
    }
    const pending = WRITE_OPS.has(command.op) ? this.router.replicated(consistency) : null
    if (pending === null) { reply(ran); return }
    const detached = detachResult(ran)
    exchange.settle(pending.then(() => detached), reply)
  }

  /**
   * The Result of `command` on the owner of `key`, always valid after the engine's next
   * command (a local one is detached) and, for a local write, settled only once replicated.
   * For routes that combine several commands (mget, mset, conditional writes, the envelope).
   * Rejects with the forward's or replication's SlabcacheError.
   */
  async resultOf (tenantId: number, key: Uint8Array, command: Command, consistency: ConsistencyMode): Promise<Result> {
    const router = this.router
    const owner = router.ownerOf(tenantId, key)
    if (owner !== null) return await router.forwardCommand(owner, command, consistency)
    return await this.localResult(command, consistency)
  }

  /** `resultOf` for a command this node runs whatever its key. */
  async localResult (command: Command, consistency: ConsistencyMode): Promise<Result> {
    const ran = this.engine.execute(command)
    if (ran instanceof Promise) return await ran
    const pending = WRITE_OPS.has(command.op) ? this.router.replicated(consistency) : null
    const detached = detachResult(ran)
    if (pending !== null) await pending
    return detached
  }
}
