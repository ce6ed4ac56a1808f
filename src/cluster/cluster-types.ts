/**
 * The seams between the cluster layer (src/cluster/) and the front ends (RESP, memcached,
 * HTTP, WebSocket stream). Thread: main (pure types, L1).
 * Owns: the router contract every front end codes against. In single-node mode the server
 * passes no router (null) and the front ends run everything locally, exactly as before.
 * Invariants:
 * - `ownerOf` is synchronous and cheap (one ring lookup, no allocation): front ends call it for
 *   every keyed request.
 * - A forwarded request runs on its owner exactly as if a client of that node had sent it, for
 *   the same tenant; its reply comes back whole (RESP: the complete reply bytes; Command: a
 *   fresh Result that stays valid, unlike the engine's reused one).
 * - Replies leave every connection in request order: a front end that gets a Promise holds back
 *   later replies until it settles (the same rule FLUSHALL already follows).
 */
import type { Command, Result } from '../command/command.js'
import type { ConsistencyMode } from '../config/options.js'

/** A member's stable name (`--node-id`). */
export type NodeId = string

export type { ConsistencyMode }

export interface ClusterRouter {
  /** This node's id. */
  readonly selfId: NodeId
  /**
   * The node that must run a command on (tenantId, key): null when this node serves it (it is
   * the owner, or the owner is dead and this node is the first live replica).
   */
  ownerOf: (tenantId: number, key: Uint8Array) => NodeId | null
  /** Every live member except this one: the fan-out set of FLUSHALL, tag invalidation, DBSIZE. */
  peers: () => readonly NodeId[]
  /**
   * RESP: runs argv[0, argc) for `tenantId` on `node` (no further routing there) and resolves
   * with its complete RESP reply bytes. Rejects with a SlabcacheError PEER_UNAVAILABLE,
   * PEER_TIMEOUT or PEER_BUSY; the front end answers that as an error reply.
   */
  forwardResp: (node: NodeId, tenantId: number, argv: readonly Uint8Array[], consistency: ConsistencyMode) => Promise<Buffer>
  /**
   * Any keyed or fan-out Command on `node`; resolves with a fresh Result (errors inside it, as
   * the engine reports them). Rejects like forwardResp when the node cannot be reached.
   */
  forwardCommand: (node: NodeId, command: Command, consistency: ConsistencyMode) => Promise<Result>
  /**
   * Call right after a command ran locally and synchronously: null when nothing needs waiting
   * (no write happened in it, or `consistency` is async), else a Promise that resolves once every
   * write it made is acknowledged by enough replicas, or rejects with REPLICATION_TIMEOUT. The
   * front end must hold that command's reply until it settles.
   */
  replicated: (consistency: ConsistencyMode) => Promise<void> | null
  /** The consistency a tenant's writes use when the request does not say. */
  defaultConsistency: (tenantId: number) => ConsistencyMode
  /** Members, ring ownership, replication lag and migration progress. */
  status: () => ClusterStatus
}

/** A member as `/v1/cluster` and RESP `CLUSTER INFO` show it. */
export interface ClusterMemberStatus {
  readonly id: NodeId
  /** Peer address (host:port) other members dial. */
  readonly address: string
  readonly state: 'joining' | 'up' | 'suspect' | 'dead' | 'left'
  readonly incarnation: number
  /** Fraction of the key space this member owns as primary (0..1); 0 when not in the ring. */
  readonly ownership: number
  /** ms since this node last heard from it (0 for self). */
  readonly lastHeardAgoMs: number
  /** Writes queued here for replication to it, and the age of the oldest (replication lag). */
  readonly replicationQueue: number
  readonly replicationLagMs: number
}

/** What `/v1/cluster` and `CLUSTER INFO` report. */
export interface ClusterStatus {
  readonly selfId: NodeId
  readonly replicas: number
  readonly vnodesPerNode: number
  readonly members: readonly ClusterMemberStatus[]
  /** Background streaming of moved ranges and anti-entropy repair. */
  readonly migration: {
    readonly running: boolean
    /** 0..1 of the current pass. */
    readonly progress: number
    readonly itemsSent: number
    readonly bytesSent: number
    readonly passes: number
    /** Peers whose range stream was interrupted (unreachable) and resumes when they are back. */
    readonly interrupted: number
  }
}
