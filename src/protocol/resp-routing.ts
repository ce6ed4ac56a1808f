/**
 * RespRouting: the cluster half of the RESP dispatcher — which member runs a command, and how
 * the parts of one that spans members come back as one reply. Thread: main (pure, L1: it knows
 * members only through the ClusterRouter; the bytes travel in the router).
 * Owns: each command's route (local, keyed, split, fan-out, KEYS union), the forwarding of whole
 * commands and of per-member sub-commands, the merging of their replies, and the holding of a
 * local reply until `router.replicated()` says its writes are acknowledged.
 * Invariants:
 *  - exactly one reply per command: written to the session's writer synchronously (undefined),
 *    once a returned Promise resolves (fan-out, an async handler, a peer's or a key-less
 *    command's reply held for replication), or handed back as the bytes of a DeferredReply (a
 *    forward, a split command, a client's keyed local write held for replication), which the
 *    connection slots into request order while it goes on with later commands;
 *    neither Promise ever rejects (peer failures become catalog error replies);
 *  - a command runs on one member only: keyed commands whose keys all have one owner go there
 *    whole; MGET/MSET/DEL/UNLINK/EXISTS/TOUCH (and the seed aliases) split by owner, every other
 *    command whose keys span members is refused with Redis's CROSSSLOT;
 *  - a local reply is never sent before its replication settled: it is copied out and rewound
 *    while `replicated()` is pending, and replaced by the error reply if that rejects;
 *  - argv handed to the router is a copy: the parser's views die with its next input.
 */
import type { ClusterRouter, NodeId } from '../cluster/cluster-types.js'
import { SlabcacheError } from '../errors.js'
import { consistencyOf } from './resp-cluster-commands.js'
import { RespSession, type RespCommandSpec } from './resp-context.js'
import { respErrorFor } from './resp-errors.js'
import { arrayElements, integerReply, isErrorReply, isOkReply, lastReplyStart } from './resp-reply.js'
import { RespWriter } from './resp-writer.js'

/** Redis Cluster's exact text: client libraries recognise it. */
export const ERR_CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"

/** How a command is routed in cluster mode. */
const Route = {
  /** No keys, or none in this request: runs here (PING, INFO, SCAN, DBSIZE, CLIENT, CLUSTER …). */
  LOCAL: 0,
  /** Runs on the owner of its keys; keys owned by different members: CROSSSLOT. */
  KEYED: 1,
  /** Split by owner; the reply is the array of the parts' elements in key order (MGET). */
  SPLIT_ARRAY: 2,
  /** Split by owner; the reply is the sum of the parts' integers (DEL, UNLINK, EXISTS, TOUCH). */
  SPLIT_SUM: 3,
  /** Split by owner; +OK when every part said OK (MSET). */
  SPLIT_OK: 4,
  /** Runs here and on every peer; integers summed, the first error wins (FLUSHALL, TAG.INVALIDATE). */
  FAN_OUT: 5,
  /** Runs here and on every peer; the union of the arrays, without duplicates (KEYS). */
  UNION: 6
} as const
type Route = typeof Route[keyof typeof Route]

const ROUTE_BY_NAME: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['mget', Route.SPLIT_ARRAY],
  ['mset', Route.SPLIT_OK],
  ['del', Route.SPLIT_SUM],
  ['unlink', Route.SPLIT_SUM],
  ['delete', Route.SPLIT_SUM],
  ['exists', Route.SPLIT_SUM],
  ['has', Route.SPLIT_SUM],
  ['touch', Route.SPLIT_SUM],
  ['flushall', Route.FAN_OUT],
  ['flushdb', Route.FAN_OUT],
  // Every tag command that removes keys: a tag's keys live on every member.
  ['tag.invalidate', Route.FAN_OUT],
  ['keys', Route.UNION]
])

/** Runs a command's handler here (the dispatcher's guarded call): undefined once replied, or a Promise. */
export type LocalRun = (spec: RespCommandSpec, session: RespSession, argv: Uint8Array[], argc: number) => Promise<void> | undefined

/**
 * A reply that is not the session's to write: the complete bytes of a forwarded or split
 * command, resolved (never rejected) once every part answered. The connection keeps running
 * later commands meanwhile and writes these bytes in the command's place in the reply order.
 */
export class DeferredReply {
  readonly reply: Promise<Buffer>
  constructor (reply: Promise<Buffer>) { this.reply = reply }
}

/** Scratch writers for a local part start small: most parts' replies are short. */
const SCRATCH_BYTES = 256

function errorReplyText (error: unknown): string {
  return error instanceof SlabcacheError
    ? respErrorFor(error.code, error.message)
    : respErrorFor('INTERNAL', error instanceof Error ? error.message : String(error))
}

/** An error reply's bytes (CR and LF inside become spaces, as the writer does). */
function errorReply (text: string): Buffer {
  return Buffer.from(`-${text.replace(/[\r\n]/g, ' ')}\r\n`)
}

/** argv[0, argc) copied out of the parser's input (allocates: only on the forwarding path). */
function copyArgv (argv: readonly Uint8Array[], from: number, to: number, into: Uint8Array[]): void {
  for (let i = from; i < to; i++) into.push(Buffer.from(argv[i]!))
}

/** The requests for one member of a split command, and where its answers go in the reply. */
interface Part {
  readonly owner: NodeId | null
  readonly argv: Uint8Array[]
  /** Index (in key order) of each key of this part. */
  readonly positions: number[]
}

export class RespRouting {
  readonly #router: ClusterRouter
  readonly #run: LocalRun
  readonly #routes = new Map<RespCommandSpec, Route>()

  /** `table`: every command (subcommands route as LOCAL: none has keys). */
  constructor (router: ClusterRouter, table: ReadonlyMap<string, RespCommandSpec>, run: LocalRun) {
    this.#router = router
    this.#run = run
    for (const spec of table.values()) {
      this.#routes.set(spec, ROUTE_BY_NAME.get(spec.name) ?? (spec.firstKey > 0 ? Route.KEYED : Route.LOCAL))
    }
  }

  /**
   * Whether a client's command may run while its connection's earlier forwarded commands are
   * still in flight: keyed commands (whole or split) and PING/ECHO. Every other command is a
   * barrier that waits for them — connection state (AUTH, SELECT, CLIENT …, QUIT, HELLO),
   * fan-outs (FLUSHALL, KEYS) and the rest of the key-less ones, which may read or change what
   * the commands before them did.
   */
  pipelines (spec: RespCommandSpec): boolean {
    const route = this.#routes.get(spec) ?? Route.LOCAL
    if (route === Route.LOCAL) return spec.name === 'ping' || spec.name === 'echo'
    return route !== Route.FAN_OUT && route !== Route.UNION
  }

  /**
   * Runs a client's command (known, authorised, arity checked) wherever its keys live. Returns
   * undefined once the reply is written, a Promise (never rejecting) that resolves once it is,
   * or a DeferredReply (forwarded or split commands) whose bytes the caller writes.
   */
  execute (spec: RespCommandSpec, session: RespSession, argv: Uint8Array[], argc: number): Promise<void> | DeferredReply | undefined {
    const route = this.#routes.get(spec) ?? Route.LOCAL
    if (route === Route.LOCAL) return this.runLocal(spec, session, argv, argc)
    if (route === Route.FAN_OUT || route === Route.UNION) return this.#fanOut(route, spec, session, argv, argc)
    const first = spec.firstKey
    // A key-less request of a keyed command (CL.THROTTLE with no arguments) gets its error here.
    if (first >= argc) return this.runLocal(spec, session, argv, argc)
    const step = spec.keyStep
    const last = spec.lastKey < 0 ? argc + spec.lastKey : Math.min(spec.lastKey, argc - 1)
    const router = this.#router
    const tenantId = session.tenantId
    const owner = router.ownerOf(tenantId, argv[first]!)
    let spans = false
    for (let i = first + step; i <= last; i += step) {
      if (router.ownerOf(tenantId, argv[i]!) !== owner) { spans = true; break }
    }
    if (!spans) return owner === null ? this.#runLocalPipelined(spec, session, argv, argc) : this.#forward(owner, session, argv, argc)
    if (route === Route.KEYED) { session.out.error(ERR_CROSSSLOT); return undefined }
    // MSET with a key and no value: the handler's own error, without splitting.
    if (step > 1 && (argc - first) % step !== 0) return this.runLocal(spec, session, argv, argc)
    return new DeferredReply(this.#split(route, spec, session, argv, argc))
  }

  /**
   * Runs a command here (a peer's, or one whose keys this node serves), then holds its reply
   * until its writes are replicated as the connection's consistency asks. Costs one call of
   * `replicated()` when that has nothing to wait for.
   */
  runLocal (spec: RespCommandSpec, session: RespSession, argv: Uint8Array[], argc: number): Promise<void> | undefined {
    const out = session.out
    const mark = out.mark()
    const pending = this.#run(spec, session, argv, argc)
    const router = this.#router
    if (pending === undefined) {
      const acked = router.replicated(consistencyOf(router, session))
      return acked === null ? undefined : this.#hold(session, mark, acked)
    }
    return this.#afterAsync(session, pending)
  }

  /** An async handler's reply, held once it is written until its writes are replicated. */
  #afterAsync (session: RespSession, pending: Promise<void>): Promise<void> {
    const out = session.out
    const router = this.#router
    return pending.then(() => {
      const acked = router.replicated(consistencyOf(router, session))
      if (acked === null) return
      // The connection sent what preceded this reply when the handler went async, so the
      // writer now holds complete replies ending with this one: find where it starts.
      const start = lastReplyStart(out.sinkBytes, out.length)
      return this.#hold(session, start < 0 ? out.length : start, acked)
    })
  }

  /**
   * A client's keyed command that runs here: as `runLocal`, except that a reply held for
   * replication is handed back as a DeferredReply (the connection goes on with later commands
   * and sends it in its place once the replicas acknowledged, or the error reply instead).
   */
  #runLocalPipelined (spec: RespCommandSpec, session: RespSession, argv: Uint8Array[], argc: number): Promise<void> | DeferredReply | undefined {
    const out = session.out
    const mark = out.mark()
    const pending = this.#run(spec, session, argv, argc)
    if (pending !== undefined) return this.#afterAsync(session, pending)
    const router = this.#router
    const acked = router.replicated(consistencyOf(router, session))
    if (acked === null) return undefined
    const reply = Buffer.from(out.sinkBytes.subarray(mark, out.length))
    out.rewind(mark)
    return new DeferredReply(acked.then(() => reply, (error: unknown) => errorReply(errorReplyText(error))))
  }

  /** Takes the reply written since `mark` out of the writer and puts it back once `acked` settles. */
  async #hold (session: RespSession, mark: number, acked: Promise<void>): Promise<void> {
    const out = session.out
    const reply = Buffer.from(out.sinkBytes.subarray(mark, out.length))
    out.rewind(mark)
    try {
      await acked
      out.raw(reply)
    } catch (error) {
      out.error(errorReplyText(error))
    }
  }

  /** The whole command to `owner`; its reply bytes are relayed verbatim. */
  #forward (owner: NodeId, session: RespSession, argv: Uint8Array[], argc: number): DeferredReply {
    return new DeferredReply(this.#forwardPart(owner, session, argv, 0, argc))
  }

  /** argv[from, to) prefixed by nothing (from 0) to `owner`: its reply, or the error reply of a failure. */
  async #forwardPart (owner: NodeId, session: RespSession, argv: readonly Uint8Array[], from: number, to: number): Promise<Buffer> {
    const copy: Uint8Array[] = []
    copyArgv(argv, from, to, copy)
    try {
      return await this.#router.forwardResp(owner, session.tenantId, copy, consistencyOf(this.#router, session))
    } catch (error) {
      return errorReply(errorReplyText(error))
    }
  }

  /**
   * A part run here into a scratch session of the same tenant and consistency (its reply must
   * not mix with the connection's), replicated like any local command.
   */
  #localPart (spec: RespCommandSpec, session: RespSession, argv: Uint8Array[], argc: number): Buffer | Promise<Buffer> {
    const scratch = new RespSession(session.id, new RespWriter(SCRATCH_BYTES), session.lastActiveMs)
    scratch.tenantId = session.tenantId
    scratch.authenticated = true
    scratch.consistency = session.consistency
    scratch.forPeer = true
    const pending = this.runLocal(spec, scratch, argv, argc)
    if (pending === undefined) return scratch.out.take()
    return pending.then(() => scratch.out.take())
  }

  /**
   * One sub-command per owner, run in parallel, merged in the original key order into the
   * bytes of one reply. Everything that reads the session or argv happens before this returns.
   */
  async #split (route: Route, spec: RespCommandSpec, session: RespSession, argv: Uint8Array[], argc: number): Promise<Buffer> {
    const router = this.#router
    const tenantId = session.tenantId
    const step = spec.keyStep
    const parts = new Map<NodeId | null, Part>()
    let keys = 0
    for (let i = spec.firstKey; i < argc; i += step, keys++) {
      const owner = router.ownerOf(tenantId, argv[i]!)
      let part = parts.get(owner)
      if (part === undefined) {
        part = { owner, argv: [argv[0]!], positions: [] }
        parts.set(owner, part)
      }
      // Local parts run before this returns, remote ones later: copy every argument alike.
      copyArgv(argv, i, i + step, part.argv)
      part.positions.push(keys)
    }
    const ordered = [...parts.values()]
    // The local part runs now, synchronously, while the remote ones are in flight.
    const replies = await Promise.all(ordered.map((part) => part.owner === null
      ? this.#localPart(spec, session, part.argv, part.argv.length)
      : this.#forwardPart(part.owner, session, part.argv, 0, part.argv.length)))
    const out = new RespWriter(SCRATCH_BYTES)
    this.#merge(route, spec, ordered, replies, keys, out)
    return out.take()
  }

  /** Writes the reply of a split command from its parts' replies (`ordered` and `replies` align). */
  #merge (route: Route, spec: RespCommandSpec, ordered: readonly Part[], replies: readonly Buffer[], keys: number, out: RespWriter): void {
    // Parts are in the order of their first key: the first error in key order wins.
    for (const reply of replies) if (isErrorReply(reply)) { out.raw(reply); return }
    if (route === Route.SPLIT_SUM) {
      let sum = 0
      for (const reply of replies) {
        const value = integerReply(reply)
        if (value === null) { out.error(respErrorFor('PEER_PROTOCOL', `unexpected reply to ${spec.name}`)); return }
        sum += value
      }
      out.integer(sum)
    } else if (route === Route.SPLIT_OK) {
      for (const reply of replies) if (!isOkReply(reply)) { out.raw(reply); return }
      out.ok()
    } else {
      const slots = new Array<Buffer | undefined>(keys)
      for (let p = 0; p < ordered.length; p++) {
        const reply = replies[p]!
        const positions = ordered[p]!.positions
        const elements = arrayElements(reply)
        if (elements === null || elements.length !== positions.length) {
          out.error(respErrorFor('PEER_PROTOCOL', `unexpected reply to ${spec.name}`))
          return
        }
        for (let e = 0; e < elements.length; e++) slots[positions[e]!] = reply.subarray(elements[e]![0], elements[e]![1])
      }
      out.array(keys)
      for (const element of slots) out.raw(element!)
    }
  }

  /** Here and on every peer, in parallel; merged as the route says. */
  async #fanOut (route: Route, spec: RespCommandSpec, session: RespSession, argv: Uint8Array[], argc: number): Promise<void> {
    const peers = this.#router.peers()
    const local = this.#localPart(spec, session, argv, argc)
    const replies = await Promise.all([local, ...peers.map((peer) => this.#forwardPart(peer, session, argv, 0, argc))])
    const out = session.out
    // This node's answer first, then the peers' in `peers()` order: the first error wins.
    for (const reply of replies) if (isErrorReply(reply)) { out.raw(reply); return }
    if (route === Route.UNION) {
      // Replicas hold copies: a key is listed once, however many members have it.
      const seen = new Set<string>()
      const keys: Buffer[] = []
      for (const reply of replies) {
        const elements = arrayElements(reply)
        if (elements === null) { out.error(respErrorFor('PEER_PROTOCOL', `unexpected reply to ${spec.name}`)); return }
        for (const [start, end] of elements) {
          const element = reply.subarray(start, end)
          const id = element.toString('latin1')
          if (seen.has(id)) continue
          seen.add(id)
          keys.push(element)
        }
      }
      out.array(keys.length)
      for (const key of keys) out.raw(key)
      return
    }
    let sum = 0
    for (const reply of replies) {
      const value = integerReply(reply)
      // Not every reply an integer (FLUSHALL's +OK): this node's answer stands for all.
      if (value === null) { out.raw(replies[0]!); return }
      sum += value
    }
    out.integer(sum)
  }
}
