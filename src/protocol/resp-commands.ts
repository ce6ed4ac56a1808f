/**
 * RespCommands: the RESP command table and its dispatcher — name → arity/flags → handler.
 * Thread: main (pure, L1; the server hands it a RespHost over the engine).
 * Owns: the table (strings, keys/expiry, connection/server commands) and the RespContext
 * shared by every connection. Dispatch checks, in Redis's order: known command, auth, arity,
 * subcommand and its arity; then runs the handler, which writes exactly one reply.
 * Invariants: `execute` never throws for client input; it returns undefined once the reply is
 * written, or a Promise that resolves once it is (FLUSHALL), never rejecting — the server
 * holds back the connection's later commands until then, so replies stay in order.
 */
import { ADMIN_COMMANDS } from './resp-admin-commands.js'
import { argText, keyword } from './resp-args.js'
import { RespContext, type RespCommandSpec, type RespHost, type RespSession } from './resp-context.js'
import { ERR_NOAUTH, errUnknownCommand, errUnknownSubcommand, errWrongArity, respErrorFor } from './resp-errors.js'
import { KEY_COMMANDS } from './resp-key-commands.js'
import { RATELIMIT_COMMANDS } from './resp-ratelimit-commands.js'
import { SNAPSHOT_COMMANDS } from './resp-snapshot-commands.js'
import { STRING_COMMANDS } from './resp-string-commands.js'
import { TAG_COMMANDS } from './resp-tag-commands.js'

/** Every command, by lower-case name. */
export function commandTable (): Map<string, RespCommandSpec> {
  const table = new Map<string, RespCommandSpec>()
  for (const spec of [...STRING_COMMANDS, ...KEY_COMMANDS, ...ADMIN_COMMANDS, ...TAG_COMMANDS, ...RATELIMIT_COMMANDS, ...SNAPSHOT_COMMANDS]) table.set(spec.name, spec)
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
   * Runs argv[0, argc) for `session`, writing the reply to `session.out`. Returns undefined
   * when the reply is written, or a Promise (never rejecting) that resolves once it is.
   */
  execute (session: RespSession, argv: Uint8Array[], argc: number): Promise<void> | undefined {
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
}

function internalError (error: unknown): string {
  return respErrorFor('INTERNAL', error instanceof Error ? error.message : String(error))
}
