/**
 * RESP connection and server commands: AUTH, HELLO, PING, ECHO, QUIT, SELECT, CLIENT
 * (SETNAME, GETNAME, ID, INFO, SETINFO, CONSISTENCY), INFO, COMMAND (COUNT, DOCS, INFO, LIST), CONFIG GET,
 * TIME and DEBUG CLOCK. Thread: main (pure, L1).
 * These answer what client libraries probe on connect (ioredis: INFO; node-redis: CLIENT
 * SETINFO; redis-cli: COMMAND DOCS) with Redis's reply shapes. Invariant: nothing here
 * touches the keyspace; DEBUG CLOCK moves the shared clock only when debug.clockControl is on.
 */
import type { Result } from '../command/command.js'
import { argText, keyword, latin1, parseInteger } from './resp-args.js'
import { CLIENT_CONSISTENCY, clusterInfoFields, consistencyOf } from './resp-cluster-commands.js'
import { command, NO_KEYS, type RespCommandSpec, type RespContext, type RespSession } from './resp-context.js'
import {
  ERR_AUTH_NOT_CONFIGURED, ERR_CLIENT_NAME, ERR_DB_INDEX, ERR_NOPROTO, ERR_NOT_INTEGER, ERR_PROTOCOL_VERSION, ERR_SYNTAX,
  ERR_WRONGPASS, errWrongArity, respErrorFor
} from './resp-errors.js'
import { globMatch } from './resp-glob.js'
import { formatInfo, REDIS_COMPAT_VERSION } from './resp-info.js'
import type { RespWriter } from './resp-writer.js'

/** Redis's default user: the default tenant (id 0); `AUTH <secret>` authenticates as it. */
const DEFAULT_USER = 'default'
const ERR_HELLO_NOAUTH = 'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time'

function pingCommand (_x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  if (argc > 2) { s.out.error(errWrongArity('ping')); return }
  if (argc === 2) s.out.bulk(argv[1]!)
  else s.out.simple('PONG')
}

function echoCommand (_x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  s.out.bulk(argv[1]!)
}

function quitCommand (_x: RespContext, s: RespSession): void {
  s.closeAfterReply = true
  s.out.ok()
}

function selectCommand (_x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const index = parseInteger(argv[1]!)
  if (index === null || index > 2147483647 || index < -2147483648) { s.out.error(ERR_NOT_INTEGER); return }
  // One database per tenant: index 0 only.
  if (index !== 0) { s.out.error(ERR_DB_INDEX); return }
  s.out.ok()
}

/**
 * Checks (user, password), then runs `then` on success. With no credentials configured every
 * connection is the default user, whom Redis lets in with any password ("nopass"); other
 * users do not exist. With credentials, the host's tenant registry decides, and a success
 * makes the tenant the connection's for every later command. Writes WRONGPASS when refused (an
 * earlier successful AUTH stays in force, as in Redis). Returns a Promise when the check runs
 * off the main thread: the dispatcher holds the connection's later commands until it settles.
 */
function authenticate (x: RespContext, s: RespSession, user: Uint8Array | null, password: Uint8Array, then: () => void): void | Promise<void> {
  const userName = user === null ? DEFAULT_USER : argText(user)
  const check = x.host.authenticate
  if (!x.host.authRequired || check === undefined) {
    if (x.host.authRequired || userName !== DEFAULT_USER) { s.out.error(ERR_WRONGPASS); return }
    s.authenticated = true
    then()
    return
  }
  const settle = (tenantId: number | null): void => {
    if (tenantId === null) { s.out.error(ERR_WRONGPASS); return }
    s.authenticated = true
    s.tenantId = tenantId
    then()
  }
  const outcome = check(userName, argText(password))
  if (outcome instanceof Promise) return outcome.then(settle)
  settle(outcome)
}

function authCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void | Promise<void> {
  if (argc > 3) { s.out.error(ERR_SYNTAX); return }
  if (argc === 2 && !x.host.authRequired) {
    // AUTH <password> authenticates the default user, who has no password configured.
    s.out.error(ERR_AUTH_NOT_CONFIGURED)
    return
  }
  return authenticate(x, s, argc === 2 ? null : argv[1]!, argv[argc - 1]!, () => s.out.ok())
}

/** Client names and library attributes: printable ASCII without spaces (Redis's rule). */
function validAttribute (value: Uint8Array): boolean {
  for (let i = 0; i < value.length; i++) if (value[i]! < 0x21 || value[i]! > 0x7e) return false
  return true
}

function helloCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void | Promise<void> {
  const out = s.out
  let next = 1
  if (argc >= 2) {
    const version = parseInteger(argv[next++]!)
    if (version === null) { out.error(ERR_PROTOCOL_VERSION); return }
    // RESP3 is not spoken here: clients fall back to RESP2 on NOPROTO.
    if (version !== 2) { out.error(ERR_NOPROTO); return }
  }
  let user: Uint8Array | null = null
  let password: Uint8Array | null = null
  let name: Uint8Array | null = null
  for (let j = next; j < argc; j++) {
    const more = argc - 1 - j
    const option = keyword(argv[j]!)
    if (option === 'auth' && more >= 2) { user = argv[j + 1]!; password = argv[j + 2]!; j += 2 } else if (option === 'setname' && more >= 1) { name = argv[j + 1]!; j += 1 } else {
      out.error(`ERR Syntax error in HELLO option '${argText(argv[j]!)}'`)
      return
    }
  }
  if (user !== null && password !== null) {
    // A copy: the reply may come after the check settles, when argv's bytes may be reused.
    const kept = name === null ? null : Buffer.from(name)
    return authenticate(x, s, user, password, () => helloReply(s, kept))
  }
  if (x.host.authRequired && !s.authenticated) { out.error(ERR_HELLO_NOAUTH); return }
  helloReply(s, name)
}

/** HELLO's answer once any AUTH option succeeded: SETNAME, then the server's properties. */
function helloReply (s: RespSession, name: Uint8Array | null): void {
  const out = s.out
  if (name !== null) {
    if (!validAttribute(name)) { out.error(ERR_CLIENT_NAME); return }
    s.name = latin1(name)
  }
  out.array(14)
  out.bulkString('server')
  out.bulkString('redis')
  out.bulkString('version')
  out.bulkString(REDIS_COMPAT_VERSION)
  out.bulkString('proto')
  out.integer(2)
  out.bulkString('id')
  out.integer(s.id)
  out.bulkString('mode')
  out.bulkString('standalone')
  out.bulkString('role')
  out.bulkString('master')
  out.bulkString('modules')
  out.array(0)
}

function clientSetname (_x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  if (!validAttribute(argv[2]!)) { s.out.error(ERR_CLIENT_NAME); return }
  s.name = latin1(argv[2]!)
  s.out.ok()
}

function clientGetname (_x: RespContext, s: RespSession): void {
  if (s.name === '') s.out.nullBulk()
  else s.out.bulkString(s.name)
}

function clientId (_x: RespContext, s: RespSession): void {
  s.out.integer(s.id)
}

/** One CLIENT INFO / CLIENT LIST line, with the fields Redis prints (buffers as 0). */
function clientLine (x: RespContext, s: RespSession): string {
  const nowMs = x.nowMs()
  return `id=${s.id} addr=${s.remoteAddress} laddr=${s.localAddress} fd=-1 name=${s.name} ` +
    `age=${Math.floor((nowMs - s.createdMs) / 1000)} idle=${Math.floor((nowMs - s.lastActiveMs) / 1000)} flags=N db=0 ` +
    'sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 ' +
    `events=r cmd=${s.lastCommand} user=${DEFAULT_USER} redir=-1 resp=2 lib-name=${s.libName} lib-ver=${s.libVersion}\n`
}

function clientInfo (x: RespContext, s: RespSession): void {
  s.out.bulkString(clientLine(x, s))
}

function clientSetinfo (_x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const attribute = keyword(argv[2]!)
  const value = argv[3]!
  if (attribute !== 'lib-name' && attribute !== 'lib-ver') { s.out.error(`ERR Unrecognized option '${argText(argv[2]!)}'`); return }
  if (!validAttribute(value)) { s.out.error(`ERR ${argText(argv[2]!)} cannot contain spaces, newlines or special characters.`); return }
  if (attribute === 'lib-name') s.libName = latin1(value)
  else s.libVersion = latin1(value)
  s.out.ok()
}

/** CONTAINER HELP: the subcommands, one per line, as Redis's help replies list them. */
function helpFor (container: string) {
  return (x: RespContext, s: RespSession): void => {
    const spec = x.table.get(container)
    const names = spec?.subcommands === null || spec === undefined ? [] : [...spec.subcommands.keys()]
    const lines = [`${container.toUpperCase()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`, ...names.map((name) => name.toUpperCase())]
    s.out.array(lines.length)
    for (const line of lines) s.out.simple(line)
  }
}

function infoCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  const requested: string[] = []
  for (let i = 1; i < argc; i++) requested.push(argText(argv[i]!).toLowerCase())
  const host = x.host
  const snapshots = host.snapshots
  const router = host.router
  s.out.bulkString(formatInfo(requested, {
    stats: x.stats(),
    process: host.processInfo(),
    counters: host.counters,
    settings: host.settings,
    nowMs: x.nowMs(),
    ...(snapshots !== undefined ? { persistence: { saving: snapshots.saving, lastSaveMs: snapshots.lastSaveMs } } : {}),
    ...(router !== undefined && router !== null ? { cluster: clusterInfoFields(router, consistencyOf(router, s)) } : {})
  }))
}

/** One COMMAND INFO entry (Redis 7: name, arity, flags, first, last, step, ACL, tips, key specs, subcommands). */
function writeCommandInfo (out: RespWriter, spec: RespCommandSpec): void {
  out.array(10)
  out.bulkString(spec.name)
  out.integer(spec.arity)
  out.array(spec.flags.length)
  for (const flag of spec.flags) out.simple(flag)
  out.integer(spec.firstKey)
  out.integer(spec.lastKey)
  out.integer(spec.keyStep)
  out.array(0)
  out.array(0)
  out.array(0)
  const subcommands = spec.subcommands === null ? [] : [...spec.subcommands.values()]
  out.array(subcommands.length)
  for (const sub of subcommands) writeCommandInfo(out, sub)
}

function commandAll (x: RespContext, s: RespSession): void {
  s.out.array(x.table.size)
  for (const spec of x.table.values()) writeCommandInfo(s.out, spec)
}

function commandCount (x: RespContext, s: RespSession): void {
  s.out.integer(x.table.size)
}

function commandDocs (_x: RespContext, s: RespSession): void {
  // Docs are optional for clients (redis-cli uses them for hints only): none are shipped.
  s.out.array(0)
}

function commandInfo (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  if (argc === 2) { commandAll(x, s); return }
  s.out.array(argc - 2)
  for (let i = 2; i < argc; i++) {
    const spec = x.table.get(argText(argv[i]!).toLowerCase())
    if (spec === undefined) s.out.nullArray()
    else writeCommandInfo(s.out, spec)
  }
}

function commandList (x: RespContext, s: RespSession): void {
  s.out.array(x.table.size)
  for (const name of x.table.keys()) s.out.bulkString(name)
}

/** CONFIG GET parameters: the ones clients and tools probe, with slabcache's real values. */
const CONFIG_PARAMETERS: ReadonlyArray<readonly [string, (x: RespContext) => string]> = [
  ['appendonly', () => 'no'],
  ['bind', (x) => x.host.settings.bindHost],
  ['cluster-enabled', (x) => x.host.router !== undefined && x.host.router !== null ? 'yes' : 'no'],
  ['databases', () => '1'],
  ['maxclients', (x) => String(x.host.settings.maxConnections)],
  ['maxmemory', (x) => String(x.host.settings.memoryBytes)],
  ['maxmemory-policy', () => 'allkeys-lru'],
  ['notify-keyspace-events', () => ''],
  ['port', (x) => String(x.host.processInfo().tcpPort)],
  ['proto-max-bulk-len', (x) => String(x.host.settings.maxRequestBytes)],
  ['protected-mode', () => 'yes'],
  ['save', () => ''],
  ['tcp-keepalive', () => '0'],
  ['timeout', () => '0']
]
const CONFIG_NAMES = CONFIG_PARAMETERS.map(([name]) => Buffer.from(name))

function configGet (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  const matched: number[] = []
  for (let i = 0; i < CONFIG_PARAMETERS.length; i++) {
    for (let j = 2; j < argc; j++) {
      if (globMatch(argv[j]!, CONFIG_NAMES[i]!, true)) { matched.push(i); break }
    }
  }
  s.out.array(matched.length * 2)
  for (const i of matched) {
    const [name, value] = CONFIG_PARAMETERS[i]!
    s.out.bulkString(name)
    s.out.bulkString(value(x))
  }
}

function timeCommand (x: RespContext, s: RespSession): void {
  const nowMs = x.nowMs()
  s.out.array(2)
  s.out.bulkString(String(Math.floor(nowMs / 1000)))
  s.out.bulkString(String(Math.floor((nowMs % 1000) * 1000)))
}

/** DEBUG CLOCK <ms>: moves the shared clock forward (DESIGN §6); refused unless enabled. */
function debugClock (x: RespContext, s: RespSession, argv: Uint8Array[]): void {
  const advanceMs = parseInteger(argv[2]!)
  if (advanceMs === null) { s.out.error(ERR_NOT_INTEGER); return }
  const result = x.host.execute({ op: 'debugClock', advanceMs }) as Result
  if (result.error !== null) { s.out.error(respErrorFor(result.error, result.errorMessage)); return }
  s.out.ok()
}

export const ADMIN_COMMANDS: readonly RespCommandSpec[] = [
  command('auth', -2, 'noscript loading stale fast no-auth', NO_KEYS, authCommand),
  command('hello', -1, 'noscript loading stale fast no-auth', NO_KEYS, helloCommand),
  command('ping', -1, 'fast', NO_KEYS, pingCommand),
  command('echo', 2, 'fast', NO_KEYS, echoCommand),
  command('quit', -1, 'noscript loading stale fast no-auth', NO_KEYS, quitCommand),
  command('select', 2, 'loading stale fast', NO_KEYS, selectCommand),
  command('client', -2, '', NO_KEYS, null, [
    command('client|setname', 3, 'noscript loading stale', NO_KEYS, clientSetname),
    command('client|getname', 2, 'noscript loading stale', NO_KEYS, clientGetname),
    command('client|id', 2, 'noscript loading stale', NO_KEYS, clientId),
    command('client|info', 2, 'noscript loading stale', NO_KEYS, clientInfo),
    command('client|setinfo', 4, 'noscript loading stale', NO_KEYS, clientSetinfo),
    CLIENT_CONSISTENCY,
    command('client|help', 2, 'loading stale', NO_KEYS, helpFor('client'))
  ]),
  command('info', -1, 'loading stale', NO_KEYS, infoCommand),
  command('command', -1, 'loading stale', NO_KEYS, commandAll, [
    command('command|count', 2, 'loading stale', NO_KEYS, commandCount),
    command('command|docs', -2, 'loading stale', NO_KEYS, commandDocs),
    command('command|info', -2, 'loading stale', NO_KEYS, commandInfo),
    command('command|list', -2, 'loading stale', NO_KEYS, commandList),
    command('command|help', 2, 'loading stale', NO_KEYS, helpFor('command'))
  ]),
  command('config', -2, '', NO_KEYS, null, [
    command('config|get', -3, 'admin noscript loading stale', NO_KEYS, configGet),
    command('config|help', 2, 'loading stale', NO_KEYS, helpFor('config'))
  ]),
  command('time', 1, 'loading stale fast', NO_KEYS, timeCommand),
  command('debug', -2, 'admin noscript loading stale', NO_KEYS, null, [
    command('debug|clock', 3, 'admin noscript loading stale', NO_KEYS, debugClock),
    command('debug|help', 2, 'loading stale', NO_KEYS, helpFor('debug'))
  ])
]
