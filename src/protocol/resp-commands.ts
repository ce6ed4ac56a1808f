/**
 * RespCommands: the RESP command table and its dispatcher — name → arity/flags → handler.
 * Thread: main (pure, L1; the server hands it a RespHost over the engine).
 * Owns: the table (strings, keys/expiry, connection/server commands) and the RespContext
 * shared by every connection. Dispatch checks, in Redis's order: known command, auth, arity,
 * subcommand and its arity; then runs the handler, which writes exactly one reply.
 * In cluster mode (the host has a router) every command then goes through RespRouting, which
 * runs it here, on its keys' owner, split by owner, or on every member; without a router that
 * costs one null check. `executeForPeer` runs a member's forwarded command here, unrouted.
 * Invariants: `execute` never throws for client input; it returns undefined once the reply is
 * written, a Promise that resolves once it is (FLUSHALL, AUTH's off-thread check, a held
 * local write), never rejecting — the server holds back the connection's later commands until
 * then — or, in cluster mode, a DeferredReply (a forwarded or split command) whose bytes the
 * server writes in the command's place while it runs later commands that `pipelines` allows.
 */
import type { ConsistencyMode } from '../cluster/cluster-types.js'
import { ADMIN_COMMANDS } from './resp-admin-commands.js'
import { argText, keyword } from './resp-args.js'
import { CLUSTER_COMMANDS } from './resp-cluster-commands.js'
import { RespContext, RespSession, type RespCommandSpec, type RespHost } from './resp-context.js'
import { ERR_NOAUTH, errUnknownCommand, errUnknownSubcommand, errWrongArity, respErrorFor } from './resp-errors.js'
import { KEY_COMMANDS } from './resp-key-commands.js'
import { RATELIMIT_COMMANDS } from './resp-ratelimit-commands.js'
import { SNAPSHOT_COMMANDS } from './resp-snapshot-commands.js'
import { STRING_COMMANDS } from './resp-string-commands.js'
import { DeferredReply, RespRouting } from './resp-routing.js'
import { TAG_COMMANDS } from './resp-tag-commands.js'
import { RespWriter } from './resp-writer.js'

export { DeferredReply }

/** Every command, by lower-case name. */
export function commandTable (): Map<string, RespCommandSpec> {
  const table = new Map<string, RespCommandSpec>()
  for (const spec of [...STRING_COMMANDS, ...KEY_COMMANDS, ...ADMIN_COMMANDS, ...TAG_COMMANDS, ...RATELIMIT_COMMANDS, ...SNAPSHOT_COMMANDS, ...CLUSTER_COMMANDS]) table.set(spec.name, spec)
  return table
}

/** Longest command name the byte lookup handles; longer names are unknown anyway. */
const MAX_NAME_BYTES = 32

/** FNV-1a over the ASCII-lower-cased bytes of a command name. */
function nameHash (name: Uint8Array): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < name.length; i++) {
    let c = name[i]!
    if (c >= 0x41 && c <= 0x5a) c += 0x20
    hash = Math.imul(hash ^ c, 0x01000193)
  }
  return hash >>> 0
}

/** Whether `name` equals `lower` (already lower case) ignoring ASCII case. */
function sameName (name: Uint8Array, lower: Uint8Array): boolean {
  if (name.length !== lower.length) return false
  for (let i = 0; i < name.length; i++) {
    let c = name[i]!
    if (c >= 0x41 && c <= 0x5a) c += 0x20
    if (c !== lower[i]) return false
  }
  return true
}

function arityFits (arity: number, argc: number): boolean {
  return arity >= 0 ? argc === arity : argc >= -arity
}

function isNoAuth (spec: RespCommandSpec): boolean {
  return spec.flags.includes('no-auth')
}

/** A tenant's session for commands forwarded by peers, and the runs queued behind a pending one. */
interface PeerSession {
  readonly session: RespSession
  /** The last queued run's outcome while a run is pending; null when idle. */
  tail: Promise<Buffer> | null
}

const EMPTY_COMMAND_REPLY = Buffer.from('-ERR empty command\r\n')

export class RespCommands {
  readonly context: RespContext
  readonly #table: Map<string, RespCommandSpec>
  /**
   * name hash → command, so dispatch finds a command from its bytes without building a
   * string (a per-command allocation on the hot path); a hit is confirmed byte by byte.
   */
  readonly #byHash = new Map<number, { spec: RespCommandSpec, name: Buffer }>()
  readonly #host: RespHost
  /**
   * The last command found: a pipeline mostly repeats one command (redis-benchmark -P 16 sends
   * 16 GETs), so it is tried first, skipping the name hash and the map lookup.
   */
  #last: { spec: RespCommandSpec, name: Buffer } | undefined = undefined
  /** Cluster mode only: null on a single node (the hot path's one check). */
  readonly #routing: RespRouting | null
  /** Per tenant, the one session peers' commands run in (created on first use, reused). */
  readonly #peerSessions = new Map<number, PeerSession>()

  constructor (host: RespHost) {
    this.#host = host
    this.#table = commandTable()
    for (const spec of this.#table.values()) {
      const name = Buffer.from(spec.name, 'latin1')
      const hash = nameHash(name)
      // Construction-time invariant: the table's names must not collide.
      if (this.#byHash.has(hash)) throw new Error(`command name hash collision: ${spec.name} and ${this.#byHash.get(hash)!.spec.name}`)
      this.#byHash.set(hash, { spec, name })
    }
    this.context = new RespContext(host)
    this.context.table = this.#table
    const router = host.router ?? null
    this.#routing = router === null ? null : new RespRouting(router, this.#table, (spec, session, argv, argc) => this.#run(spec, session, argv, argc))
  }

  /** The command named by `name` (any case), or undefined. Allocates nothing. */
  #lookup (name: Uint8Array): RespCommandSpec | undefined {
    const last = this.#last
    if (last !== undefined && sameName(name, last.name)) return last.spec
    if (name.length > MAX_NAME_BYTES) return undefined
    const entry = this.#byHash.get(nameHash(name))
    if (entry === undefined || !sameName(name, entry.name)) return undefined
    this.#last = entry
    return entry.spec
  }

  /**
   * Whether command argv (its name is enough) may run while the connection's earlier
   * DeferredReplies are pending; false: it waits for them (see RespRouting.pipelines). Always
   * true on a single node (never asked there: nothing is ever deferred) and for unknown names
   * (their error reply changes nothing).
   */
  pipelines (argv: readonly Uint8Array[]): boolean {
    const routing = this.#routing
    if (routing === null) return true
    const spec = this.#lookup(argv[0]!)
    return spec === undefined || routing.pipelines(spec)
  }

  /**
   * Runs argv[0, argc) for `session`, writing the reply to `session.out`. Returns undefined
   * when the reply is written, a Promise (never rejecting) that resolves once it is, or (cluster
   * mode, a client's session only) a DeferredReply whose bytes the caller writes.
   */
  execute (session: RespSession, argv: Uint8Array[], argc: number): Promise<void> | DeferredReply | undefined {
    const out = session.out
    let spec = this.#lookup(argv[0]!)
    if (spec === undefined) {
      const args: string[] = []
      for (let i = 1; i < argc && i <= 128; i++) args.push(argText(argv[i]!))
      out.error(errUnknownCommand(argText(argv[0]!), args))
      return undefined
    }
    if (this.#host.authRequired && !session.authenticated && !isNoAuth(spec)) {
      out.error(ERR_NOAUTH)
      return undefined
    }
    if (!arityFits(spec.arity, argc)) {
      out.error(errWrongArity(spec.name))
      return undefined
    }
    if (spec.subcommands !== null && (argc >= 2 || spec.handler === null)) {
      const sub = spec.subcommands.get(keyword(argv[1]!))
      if (sub === undefined) {
        out.error(errUnknownSubcommand(argText(argv[1]!), spec.name))
        return undefined
      }
      if (!arityFits(sub.arity, argc)) {
        out.error(errWrongArity(sub.name))
        return undefined
      }
      spec = sub
    }
    const x = this.context
    x.tenantId = session.tenantId
    session.lastCommand = spec.name
    session.lastActiveMs = x.nowMs()
    this.#host.counters.totalCommandsProcessed++
    const routing = this.#routing
    if (routing !== null) return session.forPeer ? routing.runLocal(spec, session, argv, argc) : routing.execute(spec, session, argv, argc)
    return this.#run(spec, session, argv, argc)
  }

  /** Runs the handler here; a handler that throws (a bug) gets INTERNAL instead of its partial reply. */
  #run (spec: RespCommandSpec, session: RespSession, argv: Uint8Array[], argc: number): Promise<void> | undefined {
    const out = session.out
    const x = this.context
    x.tenantId = session.tenantId
    const mark = out.mark()
    try {
      const pending = spec.handler!(x, session, argv, argc)
      if (pending === undefined) return undefined
      return pending.catch((error: unknown) => { out.error(internalError(error)) })
    } catch (error) {
      // A bug in a handler must not take the connection down: drop its partial reply.
      out.rewind(mark)
      out.error(internalError(error))
      return undefined
    }
  }

  /**
   * Runs one command a peer forwarded: as an authenticated session of `tenantId` with
   * `consistency`, here and unrouted (this node is the owner the peer chose), resolving with
   * its whole reply (an error reply is a normal result; this never rejects). One session per
   * tenant serves every call; a call arriving while an earlier one of the tenant waits (a flush,
   * replication) queues behind it. `argv` must stay unchanged until the Promise settles.
   */
  async executeForPeer (tenantId: number, argv: readonly Uint8Array[], consistency: ConsistencyMode): Promise<Buffer> {
    let peer = this.#peerSessions.get(tenantId)
    if (peer === undefined) {
      const session = new RespSession(0, new RespWriter(), this.context.nowMs(), 'peer', '')
      session.forPeer = true
      peer = { session, tail: null }
      this.#peerSessions.set(tenantId, peer)
    }
    if (peer.tail === null) return await this.#runForPeer(peer, tenantId, argv, consistency)
    const queued = peer
    const next = peer.tail.then(async () => await this.#runForPeer(queued, tenantId, argv, consistency))
    this.#queue(peer, next)
    return await next
  }

  #queue (peer: PeerSession, tail: Promise<Buffer>): void {
    peer.tail = tail
    void tail.then(() => { if (peer.tail === tail) peer.tail = null })
  }

  async #runForPeer (peer: PeerSession, tenantId: number, argv: readonly Uint8Array[], consistency: ConsistencyMode): Promise<Buffer> {
    if (argv.length === 0) return EMPTY_COMMAND_REPLY
    const session = peer.session
    // Reset per call: a forwarded AUTH or CLIENT CONSISTENCY must not leak into the next one.
    session.tenantId = tenantId
    session.authenticated = true
    session.consistency = consistency
    session.closeAfterReply = false
    // A peer's session runs everything here (routing.runLocal): never a DeferredReply.
    const pending = this.execute(session, argv as Uint8Array[], argv.length) as Promise<void> | undefined
    if (pending === undefined) return session.out.take()
    const done = pending.then(() => session.out.take())
    this.#queue(peer, done)
    return await done
  }
}

function internalError (error: unknown): string {
  return respErrorFor('INTERNAL', error instanceof Error ? error.message : String(error))
}
