/**
 * ClusterNode: this process as a member of a slabcache cluster (DESIGN §9). Thread: main.
 * Owns: the peer transport, the member list and its failure detector (heartbeats), the ring
 * built from it, the replicator, the range streamer and anti-entropy; implements the
 * ClusterRouter every front end routes through.
 * Lifecycle: `start` listens on the peer port and, with a join list, asks any reachable member
 * for the member list (JOIN), then asks every ring member to stream what this node will hold
 * (SYNC), and only then marks itself up: a joining node is not an owner until it has its data,
 * and while it joins, writes for the ranges it will hold are replicated to it as well.
 * Invariants:
 * - The ring is a pure function of the member list (ring members = up + suspect), so members
 *   that agree on the list agree on every key's owner without a leader.
 * - When the ring changes, for each partition whose replica set gained a node, exactly one
 *   node pushes its copy there: the first of the old replica set still in the new ring.
 * - A forwarded request runs on its owner with no further forwarding (`executeForPeer` and
 *   engine.execute directly), so a request crosses the peer network at most once.
 */
import { HashRing, partitionOf, PARTITIONS, ringPosition, VNODES_PER_NODE, diffRings } from '../../cluster/hash-ring.js'
import { Membership, type MemberChange } from '../../cluster/membership.js'
import { decodeMemberRecords, encodeMemberRecords } from '../../cluster/member-codec.js'
import { PeerTransport, type PeerLink } from '../../cluster/peer-transport.js'
import { decodeCommand, decodeResult, encodeCommand, encodeResult } from '../../cluster/command-codec.js'
import {
  decodeForwardHead, decodeForwardResp, decodeU32, encodeForwardHead, encodeForwardResp, encodeU32,
  MessageType, ReplicateKind
} from '../../cluster/cluster-messages.js'
import { Tombstones } from '../../cluster/tombstones.js'
import { randomBytes } from 'node:crypto'
import { SlabcacheError } from '../../errors.js'
import type { ClusterMemberStatus, ClusterRouter, ClusterStatus, ConsistencyMode, NodeId } from '../../cluster/cluster-types.js'
import type { Command, Result } from '../../command/command.js'
import type { Config } from '../../config/load-config.js'
import type { Engine } from '../../engine.js'
import type { Logger } from '../../util/log.js'
import { AntiEntropy } from './anti-entropy.js'
import { RangeStreamer } from './range-streamer.js'
import { Replicator, type Placement } from './replicator.js'

/** How long a joining node waits for one member's SYNC stream (large caches take a while). */
const SYNC_TIMEOUT_MS = 30 * 60_000
/** Pause between rounds over the join list, and how long a starting node tries before it starts a cluster of its own. */
const JOIN_RETRY_MS = 500
const JOIN_GIVE_UP_MS = 5000
/** Dead members are probed every this many heartbeat intervals. */
const PROBE_EVERY_TICKS = 4
/** Tombstones outlive this many anti-entropy intervals (and at least 10 minutes). */
const TOMBSTONE_INTERVALS = 10

/** Runs a RESP command for a peer (RespServer.executeForPeer). */
export type RespExecutor = (tenantId: number, argv: readonly Uint8Array[], consistency: ConsistencyMode) => Promise<Buffer>

export interface ClusterNodeOptions {
  readonly config: Config
  readonly engine: Engine
  readonly logger?: Logger | undefined
  /** A tenant's own default consistency, or null for the server default. */
  readonly tenantConsistency?: (tenantId: number) => ConsistencyMode | null
}

const EMPTY: readonly string[] = Object.freeze([])

export class ClusterNode implements ClusterRouter {
  readonly selfId: NodeId
  readonly #config: Config['cluster']
  readonly #engine: Engine
  readonly #logger: Logger | undefined
  readonly #transport: PeerTransport
  readonly #membership: Membership
  readonly #tombstones: Tombstones
  readonly #replicator: Replicator
  readonly #streamer: RangeStreamer
  readonly #antiEntropy: AntiEntropy
  readonly #tenantConsistency: ((tenantId: number) => ConsistencyMode | null) | undefined
  /** Current ring (up + suspect members) and the ring once joining members are up. */
  #ring: HashRing
  #futureRing: HashRing
  /** Per partition: where its writes are replicated (see #buildPlacements). */
  #placements: Placement[] = []
  #peers: readonly string[] = EMPTY
  /** Joining nodes this node streamed their ranges to (SYNC): not pushed again when they join the ring. */
  readonly #synced = new Set<string>()
  #respExecutor: RespExecutor | null = null
  #heartbeatTimer: NodeJS.Timeout | null = null
  #antiEntropyTimer: NodeJS.Timeout | null = null
  #closed = false
  #ticks = 0
  #leaving: Promise<void> | null = null

  private constructor (options: ClusterNodeOptions, transport: PeerTransport, membership: Membership) {
    const config = options.config.cluster
    this.#config = config
    this.#engine = options.engine
    this.#logger = options.logger
    this.#transport = transport
    this.#membership = membership
    this.#tenantConsistency = options.tenantConsistency
    this.selfId = membership.selfId
    this.#tombstones = new Tombstones(Math.max(600_000, TOMBSTONE_INTERVALS * config.antiEntropyIntervalMs))
    this.#ring = HashRing.build([], config.replicas)
    this.#futureRing = this.#ring
    this.#placements = this.#buildPlacements()
    this.#replicator = new Replicator({
      selfId: this.selfId,
      engine: this.#engine,
      tombstones: this.#tombstones,
      placement: (tenantId, key) => this.#placement(tenantId, key),
      send: async (node, payload) => await this.#request(node, MessageType.REPLICATE, payload, config.replicationTimeoutMs),
      nowMs: () => Date.now(),
      timeoutMs: config.replicationTimeoutMs,
      logger: this.#logger
    })
    this.#streamer = new RangeStreamer({
      engine: this.#engine,
      tombstones: this.#tombstones,
      send: async (node, payload) => await this.#request(node, MessageType.REPLICATE, payload, 30_000),
      rateBytesPerSec: config.rebalanceRateBytes,
      logger: this.#logger
    })
    this.#antiEntropy = new AntiEntropy({
      selfId: this.selfId,
      engine: this.#engine,
      streamer: this.#streamer,
      ring: () => this.#ring,
      request: async (node, type, payload) => await this.#request(node, type, [payload], 30_000),
      logger: this.#logger
    })
    this.#engine.onWrite = this.#replicator.capture
  }

  /** Listens on the peer port and joins (see the file header). Resolves once this node is up. */
  static async start (options: ClusterNodeOptions): Promise<ClusterNode> {
    const config = options.config.cluster
    if (config.secret === null) throw new SlabcacheError('CONFIG_INVALID', 'cluster mode needs a cluster secret')
    let node: ClusterNode | null = null
    // Without --node-id the id is the advertised peer address; with an ephemeral peer port that
    // is unknown before listening, so such a node gets a random id (it cannot rejoin as itself
    // after a restart anyway: its address changes).
    const selfId = config.nodeId ?? (config.peerPort !== 0 ? `${config.advertiseHost}:${config.peerPort}` : `${config.advertiseHost}-${randomBytes(4).toString('hex')}`)
    const transport = await PeerTransport.listen({
      nodeId: selfId,
      host: options.config.host,
      port: config.peerPort,
      ...(config.peerPort !== 0 ? { advertisedAddress: `${config.advertiseHost}:${config.peerPort}` } : {}),
      secret: config.secret,
      onRequest: async (from, type, payload) => {
        if (node === null) throw new SlabcacheError('PEER_UNAVAILABLE', 'this node is still starting')
        return await node.#onRequest(from, type, payload)
      },
      onMessage: (from, type, payload) => { if (node !== null) node.#onMessage(from, type, payload) },
      onLinkDown: (address, remoteNodeId, reason) => { options.logger?.debug({ peer: remoteNodeId, address, reason }, 'peer link down') },
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      requestTimeoutMs: Math.max(2000, config.replicationTimeoutMs)
    })
    const joining = config.join.length > 0
    const membership = new Membership({
      selfId,
      selfAddress: transport.address,
      nowMs: Date.now(),
      suspectAfterMs: config.suspectAfterMs,
      deadAfterMs: config.deadAfterMs,
      joining
    })
    node = new ClusterNode(options, transport, membership)
    node.#rebuildRings()
    node.#heartbeatTimer = setInterval(() => { node!.#heartbeat() }, config.heartbeatIntervalMs)
    node.#heartbeatTimer.unref()
    if (config.antiEntropyIntervalMs > 0) {
      node.#antiEntropyTimer = setInterval(() => { node!.#runAntiEntropy() }, config.antiEntropyIntervalMs)
      node.#antiEntropyTimer.unref()
    }
    options.logger?.info({ nodeId: selfId, peerPort: transport.port, address: transport.address, join: config.join }, 'cluster peer port listening')
    if (joining) {
      try {
        await node.#join(config.join)
      } catch (error) {
        await node.close()
        throw error
      }
    }
    return node
  }

  get peerPort (): number { return this.#transport.port }

  /** Lets forwarded RESP commands run here (the RESP server exists after the router). */
  setRespExecutor (executor: RespExecutor): void { this.#respExecutor = executor }

  // ── ClusterRouter ─────────────────────────────────────────────────────────────────────

  ownerOf (tenantId: number, key: Uint8Array): NodeId | null {
    const owner = this.#ring.ownerOfPartition(partitionOf(ringPosition(tenantId, key)))
    return owner === null || owner === this.selfId ? null : owner
  }

  peers (): readonly NodeId[] { return this.#peers }

  async forwardResp (node: NodeId, tenantId: number, argv: readonly Uint8Array[], consistency: ConsistencyMode): Promise<Buffer> {
    return await this.#request(node, MessageType.FORWARD_RESP, encodeForwardResp(tenantId, argv, consistency), this.#forwardTimeoutMs())
  }

  async forwardCommand (node: NodeId, command: Command, consistency: ConsistencyMode): Promise<Result> {
    const reply = await this.#request(node, MessageType.FORWARD_CMD, [encodeForwardHead(consistency), encodeCommand(command)], this.#forwardTimeoutMs())
    return decodeResult(reply)
  }

  replicated (consistency: ConsistencyMode): Promise<void> | null {
    return this.#replicator.replicated(consistency)
  }

  defaultConsistency (tenantId: number): ConsistencyMode {
    return this.#tenantConsistency?.(tenantId) ?? this.#config.consistency
  }

  status (): ClusterStatus {
    const nowMs = Date.now()
    const ownership = this.#ring.ownership()
    const members: ClusterMemberStatus[] = this.#membership.members().map((m) => {
      const queue = this.#replicator.queueOf(m.id, nowMs)
      return {
        id: m.id,
        address: m.address,
        state: m.state,
        incarnation: m.incarnation,
        ownership: ownership.get(m.id) ?? 0,
        lastHeardAgoMs: m.id === this.selfId ? 0 : Math.max(0, nowMs - m.lastHeardMs),
        replicationQueue: queue.writes,
        replicationLagMs: queue.lagMs
      }
    })
    const p = this.#streamer.progress
    return {
      selfId: this.selfId,
      replicas: this.#config.replicas,
      vnodesPerNode: VNODES_PER_NODE,
      members,
      migration: { running: p.running, progress: p.progress, itemsSent: p.itemsSent, bytesSent: p.bytesSent, passes: p.passes + this.#antiEntropy.passes, interrupted: this.#streamer.unfinished }
    }
  }

  /** Replication and repair counters since start (for /metrics). */
  counters (): { replicatedWrites: number, appliedRecords: number, staleRecords: number, repairedPartitions: number } {
    return {
      replicatedWrites: this.#replicator.sentRecords,
      appliedRecords: this.#replicator.appliedRecords,
      staleRecords: this.#replicator.staleRecords,
      repairedPartitions: this.#antiEntropy.partitionsRepaired
    }
  }

  // ── Leaving and closing ───────────────────────────────────────────────────────────────

  /**
   * Graceful leave: streams every range this node holds to the nodes that hold it once this
   * node is gone, then marks itself left (gossiped at once). The process keeps serving, as a
   * forwarder: every key now has another owner.
   */
  async leave (): Promise<void> {
    this.#leaving ??= (async () => {
      const before = this.#ring
      const after = HashRing.build(this.#membership.ringMembers().filter((id) => id !== this.selfId), this.#config.replicas)
      const plan = new Map<number, readonly string[]>()
      for (let p = 0; p < PARTITIONS; p++) {
        if (!before.replicasOfPartition(p).includes(this.selfId)) continue
        const targets = after.replicasOfPartition(p)
        if (targets.length > 0) plan.set(p, targets)
      }
      this.#logger?.info({ partitions: plan.size }, 'leaving the cluster: handing off data')
      const pass = await this.#streamer.stream(plan, ReplicateKind.STREAM, 'leave')
      if (!pass.complete) this.#logger?.warn({}, 'some ranges could not be handed off before leaving; their other replicas still hold them')
      this.#applyChanges(this.#membership.markSelfLeft(Date.now()))
      this.#heartbeat()
      this.#logger?.info({}, 'left the cluster')
    })()
    await this.#leaving
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#heartbeatTimer !== null) clearInterval(this.#heartbeatTimer)
    if (this.#antiEntropyTimer !== null) clearInterval(this.#antiEntropyTimer)
    if (this.#engine.onWrite === this.#replicator.capture) this.#engine.onWrite = null
    this.#replicator.close()
    this.#streamer.close()
    await this.#transport.close()
  }

  // ── Membership ────────────────────────────────────────────────────────────────────────

  async #join (seeds: readonly string[]): Promise<void> {
    const records = (): Buffer => encodeMemberRecords(this.#membership.records())
    const deadline = Date.now() + JOIN_GIVE_UP_MS
    for (;;) {
      let joined = false
      for (const address of seeds) {
        if (address === this.#transport.address) continue
        try {
          const reply = await this.#transport.link(address).request(MessageType.JOIN, records())
          this.#applyChanges(this.#membership.merge(decodeMemberRecords(reply), Date.now()))
          joined = true
          break
        } catch (error) {
          this.#logger?.warn({ seed: address, err: error }, 'join through this member failed')
          // A refused secret or protocol will not get better by retrying.
          if (error instanceof SlabcacheError && (error.code === 'PEER_AUTH_FAILED' || error.code === 'PEER_PROTOCOL')) throw error
        }
      }
      if (joined || this.#closed) break
      if (Date.now() > deadline) {
        // Every node may be given the same join list, so the first one up finds nobody: it starts
        // the cluster, and the others join it. (A refused secret or protocol stopped us above.)
        this.#logger?.warn({ join: seeds, waitedMs: JOIN_GIVE_UP_MS }, 'no member of the join list answered; starting a new cluster')
        break
      }
      await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_MS).unref())
    }
    // Every current ring member streams what this node will hold; then this node is an owner.
    const members = this.#membership.ringMembers().filter((id) => id !== this.selfId)
    const results = await Promise.allSettled(members.map(async (id) =>
      decodeU32(await this.#request(id, MessageType.SYNC, [encodeMemberRecords(this.#membership.records())], SYNC_TIMEOUT_MS))))
    let items = 0
    for (const [i, result] of results.entries()) {
      if (result.status === 'fulfilled') items += result.value
      else this.#logger?.warn({ peer: members[i], err: result.reason }, 'sync from a member failed; anti-entropy will repair it')
    }
    this.#applyChanges(this.#membership.markSelfUp(Date.now()))
    this.#heartbeat()
    this.#logger?.info({ members: this.#membership.ringMembers().length, itemsReceived: items }, 'joined the cluster')
  }

  #heartbeat (): void {
    if (this.#closed) return
    const nowMs = Date.now()
    this.#applyChanges(this.#membership.tick(nowMs))
    this.#tombstones.expire(nowMs)
    const payload = encodeMemberRecords(this.#membership.records())
    for (const target of this.#membership.heartbeatTargets()) this.#transport.link(target.address).send(MessageType.HEARTBEAT, payload)
    // Nobody heartbeats a dead member; probe it now and then, so that one declared dead while
    // alive (a healed network partition, a long stall) learns it and refutes, and comes back.
    if (++this.#ticks % PROBE_EVERY_TICKS === 0) {
      for (const target of this.#membership.probeTargets()) this.#transport.link(target.address).send(MessageType.HEARTBEAT, payload)
      // Interrupted range streams continue once their target is connected again, with only the
      // partitions it still holds.
      if (this.#streamer.unfinished > 0) {
        this.#streamer.resume(
          (target) => this.#membership.get(target)?.state === 'up' && this.#link(target).connected,
          (p, target) => this.#futureRing.replicasOfPartition(p).includes(target))
      }
    }
  }

  #onMessage (from: string, type: number, payload: Buffer): void {
    if (type !== MessageType.HEARTBEAT || this.#closed) return
    const nowMs = Date.now()
    const before = this.#membership.get(from)?.state
    this.#membership.heard(from, nowMs)
    this.#applyChanges(this.#membership.merge(decodeMemberRecords(payload), nowMs))
    // A member this node holds dead still talks: tell it at once, so it can refute (a higher
    // incarnation) instead of staying out of the ring. A member that left still talks: it
    // keeps serving as a forwarder, and nobody heartbeats a left member, so without an answer
    // it would hear nobody, declare every member dead after deadAfterMs and route every key
    // to itself (it answers its own heartbeats' senders, so it always has a fresh view).
    const member = this.#membership.get(from)
    if ((before === 'dead' && member?.state === 'dead') || member?.state === 'left') {
      this.#transport.link(member.address).send(MessageType.HEARTBEAT, encodeMemberRecords(this.#membership.records()))
    }
  }

  #applyChanges (changes: readonly MemberChange[]): void {
    if (changes.length === 0) return
    for (const change of changes) {
      const member = this.#membership.get(change.id)
      this.#logger?.info({ member: change.id, from: change.from, to: change.to, incarnation: member?.incarnation, silentMs: member !== undefined && change.id !== this.selfId ? Date.now() - member.lastHeardMs : 0 }, 'cluster member state changed')
      if (change.to === 'dead' || change.to === 'left' || change.to === 'joining') this.#synced.delete(change.id)
    }
    this.#rebuildRings()
  }

  #rebuildRings (): void {
    const ringMembers = this.#membership.ringMembers()
    const before = this.#ring
    const sameRing = before.nodes.length === ringMembers.length && before.nodes.every((id, i) => id === ringMembers[i])
    const joiners = this.#membership.joiningMembers()
    if (!sameRing) this.#ring = HashRing.build(ringMembers, this.#config.replicas)
    this.#futureRing = joiners.length === 0 ? this.#ring : HashRing.build([...ringMembers, ...joiners].sort(), this.#config.replicas)
    this.#placements = this.#buildPlacements()
    this.#peers = this.#membership.members().filter((m) => m.id !== this.selfId && (m.state === 'up' || m.state === 'suspect' || m.state === 'joining')).map((m) => m.id)
    if (!sameRing && before.nodes.length > 0) this.#onRingChange(before, this.#ring)
  }

  /** Pushes this node's copy of every partition whose replica set gained a node (see the header). */
  #onRingChange (before: HashRing, after: HashRing): void {
    const plan = new Map<number, readonly string[]>()
    // Partitions this node may let go of once the pass is done: it is not in the new replica
    // set, and either it pushed them itself or another old holder keeps a copy.
    const droppable = new Set<number>()
    const inAfter = new Set(after.nodes)
    for (const d of diffRings(before, after)) {
      const pusher = d.before.find((id) => inAfter.has(id))
      if (d.before.includes(this.selfId) && !d.after.includes(this.selfId) &&
        (pusher === this.selfId || d.before.some((id) => id !== this.selfId && d.after.includes(id)))) droppable.add(d.partition)
      if (pusher !== this.selfId) continue
      const newcomers = d.after.filter((id) => id !== this.selfId && !d.before.includes(id) && !this.#synced.has(id))
      if (newcomers.length > 0) plan.set(d.partition, newcomers)
    }
    // A synced joiner is skipped once, when it enters the ring; later changes push to it as to anyone.
    for (const id of after.nodes) this.#synced.delete(id)
    this.#logger?.info({ members: after.nodes, partitionsToPush: plan.size }, 'ring changed')
    this.#streamer.stream(plan, ReplicateKind.STREAM, 'ring change').then(async (pass) => {
      // Then let go of what this node no longer holds, once the new holders have it and only if
      // the ring is still the one the pass was planned for (a newer change plans its own).
      if (droppable.size === 0 || !pass.complete || this.#ring !== after || this.#membership.self.state !== 'up') return
      const dropped = await this.#streamer.drop((p) => !droppable.has(p))
      if (dropped > 0) this.#logger?.info({ dropped }, 'dropped the items of ranges other nodes hold now')
    }).catch((error: unknown) => {
      this.#logger?.error({ err: error }, 'range stream after a ring change failed')
    })
  }

  #runAntiEntropy (): void {
    if (this.#closed || this.#streamer.busy || this.#membership.self.state !== 'up') return
    this.#antiEntropy.pass().catch((error: unknown) => { this.#logger?.warn({ err: error }, 'anti-entropy pass failed') })
  }

  /** Anti-entropy now (tests and operators: RESP CLUSTER REPAIR, when wired); resolves with the partitions repaired. */
  async repair (): Promise<number> { return await this.#antiEntropy.pass() }

  // ── Replication targets ───────────────────────────────────────────────────────────────

  #placement (tenantId: number, key: Uint8Array): Placement {
    return this.#placements[partitionOf(ringPosition(tenantId, key))]!
  }

  /**
   * Every partition's write targets, computed once per ring change (a write then allocates
   * nothing to find them): the other current replicas, plus joining nodes that will hold it.
   */
  #buildPlacements (): Placement[] {
    const placements: Placement[] = []
    for (let p = 0; p < PARTITIONS; p++) {
      const current = this.#ring.replicasOfPartition(p)
      const future = this.#futureRing === this.#ring ? current : this.#futureRing.replicasOfPartition(p)
      const targets = current.filter((id) => id !== this.selfId)
      for (const id of future) if (id !== this.selfId && !current.includes(id)) targets.push(id)
      placements.push({ targets: targets.length === 0 ? EMPTY : targets, replicaCount: current.length })
    }
    return placements
  }

  // ── Requests ──────────────────────────────────────────────────────────────────────────

  #forwardTimeoutMs (): number { return this.#config.replicationTimeoutMs + 2000 }

  #link (node: string): PeerLink {
    const member = this.#membership.get(node)
    if (member === undefined) throw new SlabcacheError('PEER_UNAVAILABLE', `no member ${node}`)
    return this.#transport.link(member.address)
  }

  async #request (node: string, type: number, payload: Buffer | readonly Buffer[], timeoutMs: number): Promise<Buffer> {
    return await this.#link(node).request(type, payload, timeoutMs)
  }

  async #onRequest (from: string, type: number, payload: Buffer): Promise<Buffer> {
    if (this.#closed) throw new SlabcacheError('PEER_UNAVAILABLE', 'this node is shutting down')
    switch (type) {
      case MessageType.FORWARD_CMD: {
        const { consistency, command } = decodeForwardHead(payload)
        const pending = this.#engine.execute(decodeCommand(command))
        // Synchronous commands: their writes are exactly those since the last mark.
        const replicated = pending instanceof Promise ? null : this.#replicator.replicated(consistency)
        const result = pending instanceof Promise ? await pending : pending
        // Encode before waiting: the engine's Result is reused by the next command.
        const reply = encodeResult(result)
        if (replicated !== null) await replicated
        return reply
      }
      case MessageType.FORWARD_RESP: {
        const executor = this.#respExecutor
        if (executor === null) throw new SlabcacheError('PEER_UNAVAILABLE', 'this node has no RESP front end')
        const { consistency, tenantId, argv } = decodeForwardResp(payload)
        return await executor(tenantId, argv, consistency)
      }
      case MessageType.REPLICATE:
        return this.#replicator.apply(from, payload)
      case MessageType.DIGEST:
        return await this.#antiEntropy.answer(payload)
      case MessageType.JOIN: {
        this.#membership.heard(from, Date.now())
        this.#applyChanges(this.#membership.merge(decodeMemberRecords(payload), Date.now()))
        return encodeMemberRecords(this.#membership.records())
      }
      case MessageType.SYNC:
        return encodeU32(await this.#sync(from, payload))
      default:
        throw new SlabcacheError('PEER_PROTOCOL', `unknown cluster message type ${type}`)
    }
  }

  /** SYNC from joining node `from`: stream it the partitions it will hold that this node owns now. */
  async #sync (from: string, payload: Buffer): Promise<number> {
    this.#applyChanges(this.#membership.merge(decodeMemberRecords(payload), Date.now()))
    const current = this.#ring
    const future = HashRing.build([...new Set([...current.nodes, from])].sort(), this.#config.replicas)
    const plan = new Map<number, readonly string[]>()
    for (let p = 0; p < PARTITIONS; p++) {
      if (!future.replicasOfPartition(p).includes(from) || current.replicasOfPartition(p).includes(from)) continue
      // One pusher per partition: its current owner.
      if (current.ownerOfPartition(p) === this.selfId) plan.set(p, [from])
    }
    this.#synced.add(from)
    return (await this.#streamer.stream(plan, ReplicateKind.STREAM, `sync ${from}`)).items
  }
}
