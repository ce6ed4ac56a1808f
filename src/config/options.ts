/**
 * The option table: every configuration option slabcache has, with its config-file key, CLI
 * flag, env var, default, help line and validator, plus the checks that relate two options.
 * Thread: main thread, at start-up (read by load-config.ts). Owns: option names, defaults and
 * validation rules; nothing else in the tree may define an option.
 * Invariant: every row is reachable from all three sources under the same rules, and every
 * rejection is a ConfigError reading `<key> (--<flag>) must be <rule>; received <value>`.
 */
import os from 'node:os'
import path from 'node:path'
import { ConfigError } from '../errors.js'
import { formatBytes, GIB, KIB, MIB, parseBytes } from '../util/bytes.js'

/** The smallest slab a shard can be given; below this the page table dominates. */
export const MIN_SHARD_MEMORY_BYTES = 8 * MIB
export const MAX_SHARDS = 64
/**
 * Key length is stored in 13 bits of the slab item header (so at most 8191); 4096 leaves
 * headroom and matches §8's 4 KiB key limit.
 */
export const MAX_KEY_BYTES = 4096
export const MAX_VALUE_BYTES = 1 * GIB
/** Most tags an item can carry in the slab format (core/item-ext.ts MAX_ITEM_TAGS). */
export const MAX_TAGS_PER_ITEM = 255
/** Room for framing and headers on top of the largest value in the default request limit. */
export const REQUEST_OVERHEAD_BYTES = 64 * KIB
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

/** What a validator may need besides the raw value. */
export interface ParseContext {
  /** Directory that relative paths are resolved against. */
  readonly cwd: string
}

/**
 * Parses and validates one raw value (a string from a flag or env var, or any JSON value from
 * the config file) into its resolved form. Throws ConfigError naming `label`.
 */
export type ParseFn = (raw: unknown, label: string, ctx: ParseContext) => unknown

/** Option values resolved so far, by dotted key; what a derived default may read. */
export type ResolvedValues = Readonly<Record<string, unknown>>

/** A raw default that goes through `parse` like any other value, or one computed from others. */
export type OptionDefault =
  | { readonly raw: string | number | boolean }
  | { readonly derive: (values: ResolvedValues) => unknown, readonly text: string }

/** One row of the table. */
export interface OptionSpec {
  /** Dotted config-file key: `httpPort`, `limits.maxKeyBytes` (nested objects in the JSON file). */
  readonly key: string
  /** Dotted path of the resolved value in `Config`; equals `key` except `memory` → `memoryBytes`. */
  readonly field: string
  /** Kebab-case CLI flag without the dashes. */
  readonly flag: string
  /** `SLABCACHE_` + UPPER_SNAKE of `key`. */
  readonly env: string
  /** `key (--flag)`: how every message names the option. */
  readonly label: string
  /** Placeholder in help (`<port>`); null for a switch (a boolean flag that takes no value). */
  readonly valueName: string | null
  readonly default: OptionDefault
  readonly help: string
  /** False only for `config` itself: a config file cannot name another config file. */
  readonly inFile: boolean
  readonly parse: ParseFn
}

/** `limits.maxValueBytes` → `SLABCACHE_LIMITS_MAX_VALUE_BYTES`. */
export function envName (key: string): string {
  return 'SLABCACHE_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase()
}

/** Renders a received value for a message: numbers bare, everything else as JSON. */
export function showValue (raw: unknown): string {
  if (typeof raw === 'number' || (typeof raw === 'string' && /^-?\d+(\.\d+)?$/.test(raw))) return String(raw)
  return JSON.stringify(raw) ?? String(raw)
}

function reject (label: string, mustBe: string, received: string): never {
  throw new ConfigError(`${label} must be ${mustBe}; received ${received}`)
}

/** Write acknowledgement modes (DESIGN §9): none, a majority of the key's replicas, all of them. */
export const CONSISTENCY_MODES = ['async', 'quorum', 'all'] as const
export type ConsistencyMode = typeof CONSISTENCY_MODES[number]
const NODE_ID_RULE = '1 to 64 characters of A-Z a-z 0-9 . _ : -'
const nodeId: ParseFn = (raw, label) => {
  const text = typeof raw === 'string' ? raw.trim() : undefined
  if (text === undefined || !/^[A-Za-z0-9._:-]{1,64}$/.test(text)) reject(label, NODE_ID_RULE, showValue(raw))
  return text
}
const PEER_ADDRESS_RULE = 'a comma-separated list of host:port peer addresses'
const peerAddressList: ParseFn = (raw, label) => {
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((part) => part.trim()).filter((part) => part !== '') : null
  if (items === null) reject(label, PEER_ADDRESS_RULE, showValue(raw))
  return Object.freeze(items.map((item: unknown) => {
    const match = typeof item === 'string' ? /^(.+):(\d{1,5})$/.exec(item.trim()) : null
    if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) reject(label, PEER_ADDRESS_RULE, showValue(item))
    return `${match[1]!}:${Number(match[2])}`
  }))
}
/** Cluster mode: asked for with --cluster, or implied by a non-empty join list. */
export function clusterEnabled (enabled: boolean, join: readonly string[]): boolean { return enabled || join.length > 0 }
/** Hosts that bind every interface and so cannot be dialled by a peer. */
function wildcardHost (host: string): boolean { return host === '0.0.0.0' || host === '::' || host === '' }

function integer (min: number, max: number): ParseFn {
  return (raw, label) => {
    const n = typeof raw === 'number' ? raw
      : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      reject(label, `an integer from ${min} to ${max}`, showValue(raw))
    }
    return n
  }
}

function bytes (minBytes: number, maxBytes: number): ParseFn {
  return (raw, label) => {
    if (typeof raw !== 'number' && typeof raw !== 'string') reject(label, 'a byte size such as 512mb or a number of bytes', showValue(raw))
    const n = parseBytes(raw, label)
    if (n < minBytes || n > maxBytes) {
      const range = maxBytes === Number.MAX_SAFE_INTEGER ? `at least ${formatBytes(minBytes)}`
        : `from ${formatBytes(minBytes)} to ${formatBytes(maxBytes)}`
      reject(label, range, formatBytes(n))
    }
    return n
  }
}

const boolean: ParseFn = (raw, label) => {
  if (typeof raw === 'boolean') return raw
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined
  if (text === 'true' || text === '1') return true
  if (text === 'false' || text === '0') return false
  return reject(label, 'true, false, 1 or 0', showValue(raw))
}

const nonEmptyString: ParseFn = (raw, label) => {
  if (typeof raw !== 'string' || raw.trim() === '') reject(label, 'a non-empty string', showValue(raw))
  return raw
}

/** A path, resolved against the working directory so later `chdir`s cannot move it. */
const absolutePath: ParseFn = (raw, label, ctx) => path.resolve(ctx.cwd, nonEmptyString(raw, label, ctx) as string)

/** One of `values`, case-insensitively (`LOG_LEVEL=INFO` is common); resolves to the listed spelling. */
function oneOf (values: readonly string[]): ParseFn {
  return (raw, label) => {
    const found = typeof raw === 'string' ? values.find((value) => value === raw.trim().toLowerCase()) : undefined
    return found ?? reject(label, `one of ${values.join(', ')}`, showValue(raw))
  }
}

/**
 * A secret or token: printable ASCII without spaces (it travels in RESP AUTH, SASL PLAIN and an
 * HTTP bearer header), 8 to 512 characters. A rejection never echoes the value: messages and
 * logs must not leak credentials.
 */
const secret: ParseFn = (raw, label) => {
  if (typeof raw !== 'string') reject(label, SECRET_RULE, typeof raw)
  if (raw.length < MIN_SECRET_CHARS || raw.length > MAX_SECRET_CHARS || !/^[\x21-\x7e]+$/.test(raw)) {
    reject(label, SECRET_RULE, `a string of ${raw.length} characters (not shown)`)
  }
  return raw
}

/** Units a duration may carry, in ms. */
const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION_RULE = '0 (off) or a duration such as 500ms, 30s, 5m, 1h, 1d'

/**
 * A duration in ms: `0` (off) or a string with a unit (ms, s, m, h, d), from `minMs` to
 * `maxMs`; a JSON number is ms. A bare number in a flag or env var (other than 0) is refused:
 * seconds or milliseconds would be a guess.
 */
function duration (minMs: number, maxMs: number): ParseFn {
  return (raw, label) => {
    if (raw === 0 || (typeof raw === 'string' && raw.trim() === '0')) return 0
    // A JSON number (config file, or a resolved Config fed back through defaultConfig) is ms.
    if (typeof raw === 'number') {
      if (!Number.isSafeInteger(raw) || raw < minMs || raw > maxMs) reject(label, `0 or from ${minMs} ms to ${maxMs / 86_400_000} days`, showValue(raw))
      return raw
    }
    const match = typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(raw) : null
    if (match === null) return reject(label, DURATION_RULE, showValue(raw))
    const ms = Math.round(Number(match[1]) * DURATION_UNITS[match[2]!.toLowerCase()]!)
    if (ms < minMs || ms > maxMs) reject(label, `0 or from ${minMs} ms to ${maxMs / 86_400_000} days`, showValue(raw))
    return ms
  }
}

export const MIN_SECRET_CHARS = 8
export const MAX_SECRET_CHARS = 512
const SECRET_RULE = `${MIN_SECRET_CHARS} to ${MAX_SECRET_CHARS} printable ASCII characters without spaces`
/** Tenant names: what RESP AUTH, SASL and URLs carry without escaping. */
export const TENANT_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
/** The shape of a stored scrypt hash (`scrypt$N$r$p$salt$hash`, base64url); tenants/ checks the numbers. */
export const SECRET_HASH_PATTERN = /^scrypt\$\d{1,8}\$\d{1,3}\$\d{1,3}\$[A-Za-z0-9_-]{16,128}\$[A-Za-z0-9_-]{16,128}$/

/** One tenant declared in the configuration (config key `tenants`). */
export interface TenantConfig {
  readonly name: string
  /** Plaintext secret from the config; only its scrypt hash is ever stored. */
  readonly secret: string | null
  /** A ready scrypt hash (as the tenant file stores it), instead of `secret`. */
  readonly secretHash: string | null
  /** Byte quota (file key `quota`, a size); null keeps what the tenant file has (0 = unlimited). */
  readonly quotaBytes: number | null
  /**
   * The tenant's default write consistency (issue 7): a mode, or null for the server's
   * `--consistency`. Absent keeps what the tenant file has; `null` stated clears it.
   */
  readonly consistency?: ConsistencyMode | null
}

/** `quotaBytes` (the resolved Config's name) is accepted too, so a resolved Config can be fed back (defaultConfig). */
const TENANT_KEYS = new Set(['name', 'secret', 'secretHash', 'quota', 'quotaBytes', 'consistency'])
const TENANTS_RULE = 'a JSON array of tenants {"name", "secret" or "secretHash", "quota", "consistency"}'

/**
 * `tenants`: an array (file) or its JSON text (flag, env). Each entry names the tenant and may
 * give a secret or a hash, and a quota. Messages name the entry by index and name, never a secret.
 */
const tenantList: ParseFn = (raw, label, ctx) => {
  let list: unknown = raw
  if (typeof raw === 'string') {
    try { list = JSON.parse(raw) } catch { reject(label, TENANTS_RULE, 'text that is not JSON') }
  }
  if (!Array.isArray(list)) return reject(label, TENANTS_RULE, list === null ? 'null' : typeof list)
  const names = new Set<string>()
  const tenants = list.map((entry: unknown, index): TenantConfig => {
    const at = `${label} entry ${index}`
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return reject(at, 'an object {"name", "secret" or "secretHash", "quota"}', showValue(entry))
    const fields = entry as Record<string, unknown>
    const unknownKeys = Object.keys(fields).filter((key) => !TENANT_KEYS.has(key))
    if (unknownKeys.length > 0) reject(at, 'an object with only the keys name, secret, secretHash, quota and consistency', `key(s) ${unknownKeys.join(', ')}`)
    const name = fields['name']
    if (typeof name !== 'string' || !TENANT_NAME_PATTERN.test(name)) reject(`${at} name`, '1 to 64 characters from A-Z a-z 0-9 _ -', showValue(name))
    if (names.has(name)) reject(`${at} name`, 'unique', `a second "${name}"`)
    names.add(name)
    const of = `${label} entry ${index} (${name})`
    const hasSecret = fields['secret'] !== undefined && fields['secret'] !== null
    const hasHash = fields['secretHash'] !== undefined && fields['secretHash'] !== null
    if (hasSecret && hasHash) reject(of, 'given either secret or secretHash, not both', 'both')
    const hash = fields['secretHash']
    if (hasHash && (typeof hash !== 'string' || !SECRET_HASH_PATTERN.test(hash))) {
      reject(`${of} secretHash`, 'a hash as the tenant file stores it (scrypt$N$r$p$salt$hash)', 'something else (not shown)')
    }
    if (fields['quota'] !== undefined && fields['quotaBytes'] !== undefined) reject(of, 'given either quota or quotaBytes, not both', 'both')
    const quota = fields['quota'] ?? fields['quotaBytes']
    const consistency = fields['consistency']
    if (consistency !== undefined && consistency !== null && !(CONSISTENCY_MODES as readonly unknown[]).includes(consistency)) {
      reject(`${of} consistency`, `one of ${CONSISTENCY_MODES.join(', ')} or null (the server's --consistency)`, showValue(consistency))
    }
    return Object.freeze({
      name,
      secret: hasSecret ? secret(fields['secret'], `${of} secret`, ctx) as string : null,
      secretHash: hasHash ? hash as string : null,
      quotaBytes: quota === undefined || quota === null ? null : bytes(0, Number.MAX_SAFE_INTEGER)(quota, `${of} quota`, ctx) as number,
      // Only when stated: absent keeps the tenant file's value (and keeps entries without it unchanged).
      ...(consistency !== undefined ? { consistency: consistency as ConsistencyMode | null } : {})
    })
  })
  return Object.freeze(tenants)
}

/**
 * Default shard count: one per CPU, leaving one for the main thread, capped so that the
 * default (or configured) memory still gives each shard 8 MiB and room for two of the largest
 * values; otherwise a big machine would fail its own defaults. An explicit `shards` is not capped.
 */
export function defaultShardCount (memoryBytes: number, maxValueBytes: number, cpus = os.availableParallelism()): number {
  const perShardBytes = Math.max(MIN_SHARD_MEMORY_BYTES, 2 * maxValueBytes)
  return Math.max(1, Math.min(cpus - 1, MAX_SHARDS, Math.floor(memoryBytes / perShardBytes)))
}

type Row = Omit<OptionSpec, 'env' | 'label' | 'field' | 'inFile'> & { field?: string, inFile?: boolean }
function option (row: Row): OptionSpec {
  return {
    ...row,
    field: row.field ?? row.key,
    env: envName(row.key),
    label: `${row.key} (--${row.flag})`,
    inFile: row.inFile ?? true
  }
}

/** Every option, in help order. A derived default may read only options whose default is `raw`. */
export const OPTIONS: readonly OptionSpec[] = [
  option({ key: 'config', field: 'configFile', flag: 'config', valueName: '<file>', inFile: false, default: { derive: () => null, text: 'none' }, parse: absolutePath, help: 'JSON config file to read; without one no file is read' }),
  option({ key: 'host', flag: 'host', valueName: '<host>', default: { raw: '127.0.0.1' }, parse: nonEmptyString, help: 'interface that every listener binds to' }),
  option({ key: 'httpPort', flag: 'http-port', valueName: '<port>', default: { raw: 8080 }, parse: integer(0, 65535), help: 'HTTP and WebSocket port (0 = ephemeral)' }),
  option({ key: 'respPort', flag: 'resp-port', valueName: '<port>', default: { raw: 6379 }, parse: integer(0, 65535), help: 'Redis protocol (RESP) port (0 = ephemeral)' }),
  option({ key: 'memcachePort', flag: 'memcache-port', valueName: '<port>', default: { raw: 11211 }, parse: integer(0, 65535), help: 'memcached protocol port (0 = ephemeral)' }),
  option({
    key: 'shards',
    flag: 'shards',
    valueName: '<n>',
    default: { derive: (v) => defaultShardCount(v['memory'] as number, v['limits.maxValueBytes'] as number), text: 'CPUs - 1 (at least 1; fewer if memory is too small for them)' },
    parse: integer(1, MAX_SHARDS),
    help: 'number of shard workers (one slab each)'
  }),
  option({ key: 'memory', field: 'memoryBytes', flag: 'memory', valueName: '<size>', default: { raw: '256mb' }, parse: bytes(1, Number.MAX_SAFE_INTEGER), help: 'total slab memory, split evenly across shards (at least 8 MiB per shard)' }),
  option({ key: 'dataDir', flag: 'data-dir', valueName: '<path>', default: { raw: './data' }, parse: absolutePath, help: 'directory for snapshots and the tenant list' }),
  option({ key: 'logLevel', flag: 'log-level', valueName: '<level>', default: { raw: 'info' }, parse: oneOf(LOG_LEVELS), help: `log level: ${LOG_LEVELS.join(', ')}` }),
  option({ key: 'lockTimeoutMs', flag: 'lock-timeout-ms', valueName: '<ms>', default: { raw: 200 }, parse: integer(1, 60_000), help: 'how long a command waits for a shard lock before failing with SHARD_UNAVAILABLE' }),
  option({ key: 'maintenanceIntervalMs', flag: 'maintenance-interval-ms', valueName: '<ms>', default: { raw: 10 }, parse: integer(1, 1000), help: 'how often an idle shard worker ticks its timing wheel and runs maintenance' }),
  // LRU (issue 4): memcached's ITEM_UPDATE_INTERVAL. The default equals core/bump-epoch.ts
  // DEFAULT_BUMP_INTERVAL_MS (config is L0 and may not import core; a test ties the two).
  option({ key: 'lru.bumpInterval', field: 'lru.bumpIntervalMs', flag: 'lru-bump-interval', valueName: '<duration>', default: { raw: '60s' }, parse: duration(1, 30 * 86_400_000), help: 'a read moves an item to the head of its LRU at most once per this interval (e.g. 60s); 0 = on every read (exact LRU)' }),
  option({ key: 'limits.maxKeyBytes', flag: 'max-key-bytes', valueName: '<n>', default: { raw: 4096 }, parse: integer(1, MAX_KEY_BYTES), help: 'largest key in bytes' }),
  option({ key: 'limits.maxValueBytes', flag: 'max-value-bytes', valueName: '<size>', default: { raw: '8mb' }, parse: bytes(1, MAX_VALUE_BYTES), help: 'largest value; at most half of one shard\'s memory' }),
  option({
    key: 'limits.maxRequestBytes',
    flag: 'max-request-bytes',
    valueName: '<size>',
    default: { derive: (v) => (v['limits.maxValueBytes'] as number) + REQUEST_OVERHEAD_BYTES, text: 'max-value-bytes + 64 KiB' },
    parse: bytes(1, Number.MAX_SAFE_INTEGER),
    help: 'largest request or body; at least max-value-bytes'
  }),
  option({ key: 'limits.maxConnections', flag: 'max-connections', valueName: '<n>', default: { raw: 10_000 }, parse: integer(1, 1_000_000), help: 'most client connections open at once, all protocols together' }),
  option({ key: 'limits.maxTagsPerItem', flag: 'max-tags-per-item', valueName: '<n>', default: { raw: 16 }, parse: integer(0, MAX_TAGS_PER_ITEM), help: `most tags one item may carry (0 disables tags; at most ${MAX_TAGS_PER_ITEM})` }),
  option({ key: 'limits.maxTagBytes', flag: 'max-tag-bytes', valueName: '<n>', default: { raw: 256 }, parse: integer(1, MAX_KEY_BYTES), help: 'longest tag name in bytes' }),
  option({ key: 'debug.clockControl', flag: 'debug-clock-control', valueName: null, default: { raw: false }, parse: boolean, help: 'enable the debug clock command that moves server time (tests only)' }),
  // Tenants and auth (issue 5). Any secret or token here turns authentication on everywhere.
  option({ key: 'auth.adminToken', flag: 'admin-token', valueName: '<token>', default: { derive: () => null, text: 'none' }, parse: secret, help: 'bearer token for the admin endpoints (/v1/tenants); setting it requires auth on every protocol' }),
  option({ key: 'auth.defaultSecret', flag: 'default-secret', valueName: '<secret>', default: { derive: () => null, text: 'none' }, parse: secret, help: 'secret of the default tenant (RESP AUTH <secret>, SASL user default); setting it requires auth' }),
  option({ key: 'tenants', flag: 'tenants', valueName: '<json>', default: { derive: () => Object.freeze([]), text: 'none' }, parse: tenantList, help: 'tenants to create or update at start: JSON array of {"name", "secret" or "secretHash", "quota", "consistency"}' }),
  // HTTP API (issue 5)
  // Persistence (issue 6): snapshots in <dataDir>/snapshots/
  option({ key: 'snapshot.interval', field: 'snapshot.intervalMs', flag: 'snapshot-interval', valueName: '<duration>', default: { raw: 0 }, parse: duration(100, 30 * 86_400_000), help: 'take a whole-server snapshot this often (e.g. 15m); 0 = never' }),
  option({ key: 'snapshot.onShutdown', flag: 'snapshot-on-shutdown', valueName: null, default: { raw: true }, parse: boolean, help: 'take a whole-server snapshot on SIGTERM/SIGINT before exiting' }),
  option({ key: 'snapshot.restoreOnStart', flag: 'restore-on-start', valueName: null, default: { raw: true }, parse: boolean, help: 'load <dataDir>/snapshots/dump.slab at start, before any listener opens' }),
  // Cluster (issue 7, DESIGN §9): on with --cluster or a non-empty --join.
  option({ key: 'cluster.enabled', flag: 'cluster', valueName: null, default: { raw: false }, parse: boolean, help: 'run as a cluster node (implied by --join); needs a cluster secret' }),
  option({ key: 'cluster.nodeId', flag: 'node-id', valueName: '<id>', default: { derive: () => null, text: '<advertised host>:<peer port>' }, parse: nodeId, help: 'this node\'s stable name in the cluster (1-64 of A-Z a-z 0-9 . _ : -)' }),
  option({ key: 'cluster.join', flag: 'join', valueName: '<host:port,...>', default: { derive: () => Object.freeze([]), text: 'none' }, parse: peerAddressList, help: 'peer addresses of existing members to join through (any one suffices)' }),
  option({ key: 'cluster.peerPort', flag: 'peer-port', valueName: '<port>', default: { raw: 7946 }, parse: integer(0, 65535), help: 'port of the binary peer protocol (0 = ephemeral)' }),
  option({ key: 'cluster.advertiseHost', flag: 'advertise-host', valueName: '<host>', default: { derive: (v) => wildcardHost(v['host'] as string) ? '127.0.0.1' : v['host'], text: 'host, or 127.0.0.1 when host is a wildcard' }, parse: nonEmptyString, help: 'host other members use to reach this node\'s peer port' }),
  option({ key: 'cluster.secret', flag: 'cluster-secret', valueName: '<secret>', default: { derive: () => null, text: 'none' }, parse: secret, help: 'shared secret every member proves with an HMAC challenge; required in cluster mode' }),
  option({ key: 'cluster.replicas', flag: 'replicas', valueName: '<n>', default: { raw: 2 }, parse: integer(1, 5), help: 'copies of every key: the owner plus the next n-1 distinct nodes on the ring' }),
  option({ key: 'cluster.consistency', flag: 'consistency', valueName: '<mode>', default: { raw: 'async' }, parse: oneOf(CONSISTENCY_MODES), help: `default write acknowledgement: ${CONSISTENCY_MODES.join(', ')} (per request: X-Slabcache-Consistency, RESP CLIENT CONSISTENCY)` }),
  option({ key: 'cluster.heartbeatInterval', field: 'cluster.heartbeatIntervalMs', flag: 'heartbeat-interval', valueName: '<duration>', default: { raw: '250ms' }, parse: duration(10, 60_000), help: 'how often a node sends heartbeats to its peers' }),
  option({ key: 'cluster.suspectAfter', field: 'cluster.suspectAfterMs', flag: 'suspect-after', valueName: '<duration>', default: { raw: '1s' }, parse: duration(20, 600_000), help: 'silence after which a peer is suspected' }),
  option({ key: 'cluster.deadAfter', field: 'cluster.deadAfterMs', flag: 'dead-after', valueName: '<duration>', default: { raw: '2s' }, parse: duration(30, 3_600_000), help: 'silence after which a peer is declared dead and leaves the ring' }),
  option({ key: 'cluster.replicationTimeout', field: 'cluster.replicationTimeoutMs', flag: 'replication-timeout', valueName: '<duration>', default: { raw: '2s' }, parse: duration(10, 600_000), help: 'how long a quorum/all write waits for replica acknowledgements' }),
  option({ key: 'cluster.rebalanceRate', field: 'cluster.rebalanceRateBytes', flag: 'rebalance-rate', valueName: '<size>', default: { raw: '64mb' }, parse: bytes(64 * KIB, Number.MAX_SAFE_INTEGER), help: 'bytes per second a node streams to others when ranges move or anti-entropy repairs' }),
  option({ key: 'cluster.antiEntropyInterval', field: 'cluster.antiEntropyIntervalMs', flag: 'anti-entropy-interval', valueName: '<duration>', default: { raw: '30s' }, parse: duration(100, 86_400_000), help: 'how often a node compares range digests with the other replicas; 0 = never' }),
  option({ key: 'limits.maxBatchItems', flag: 'max-batch-items', valueName: '<n>', default: { raw: 1000 }, parse: integer(1, 1_000_000), help: 'most keys or items in one HTTP mget/mset or key-listing page' })
]

const BY_KEY = new Map(OPTIONS.map((spec) => [spec.key, spec]))
/** The row for a dotted key; throws if there is none (a programming error, not user input). */
export function optionByKey (key: string): OptionSpec {
  const spec = BY_KEY.get(key)
  if (spec === undefined) throw new Error(`no option '${key}'`)
  return spec
}

/**
 * Checks that involve two or more options, after each value passed its own check.
 * Values are keyed by dotted key and fully resolved (bytes are numbers).
 */
export function checkRelations (values: ResolvedValues): void {
  const shards = values['shards'] as number
  const memoryBytes = values['memory'] as number
  const maxValueBytes = values['limits.maxValueBytes'] as number
  const maxRequestBytes = values['limits.maxRequestBytes'] as number
  const memory = optionByKey('memory').label
  const shardsLabel = optionByKey('shards').label
  const maxValue = optionByKey('limits.maxValueBytes').label

  const neededBytes = MIN_SHARD_MEMORY_BYTES * shards
  if (memoryBytes < neededBytes) {
    reject(memory, `at least ${formatBytes(MIN_SHARD_MEMORY_BYTES)} per shard (${shards} shard${shards === 1 ? ' needs' : 's need'} ${formatBytes(neededBytes)})`, formatBytes(memoryBytes))
  }
  // A value must fit in its shard with room to spare, or setting it would evict everything else.
  const halfShardBytes = Math.floor(memoryBytes / shards / 2)
  if (maxValueBytes > halfShardBytes) {
    reject(maxValue, `at most half of one shard's memory, ${memory} / ${shardsLabel} / 2 = ${formatBytes(halfShardBytes)}`, formatBytes(maxValueBytes))
  }
  const declaredDefault = (values['tenants'] as readonly TenantConfig[]).find((tenant) => tenant.name === 'default')
  if (values['auth.defaultSecret'] !== null && declaredDefault !== undefined && (declaredDefault.secret !== null || declaredDefault.secretHash !== null)) {
    reject(optionByKey('auth.defaultSecret').label, `unset when ${optionByKey('tenants').label} gives the default tenant a secret (one place per secret)`, 'both')
  }
  if (clusterEnabled(values['cluster.enabled'] as boolean, values['cluster.join'] as readonly string[])) {
    if (values['cluster.secret'] === null) reject(optionByKey('cluster.secret').label, 'set in cluster mode (--cluster or --join): peers prove it to each other', 'none')
    const heartbeatMs = values['cluster.heartbeatInterval'] as number
    const suspectMs = values['cluster.suspectAfter'] as number
    const deadMs = values['cluster.deadAfter'] as number
    if (heartbeatMs === 0) reject(optionByKey('cluster.heartbeatInterval').label, 'a duration above 0 in cluster mode', '0')
    if (suspectMs <= heartbeatMs) reject(optionByKey('cluster.suspectAfter').label, `longer than ${optionByKey('cluster.heartbeatInterval').label} (${heartbeatMs} ms)`, `${suspectMs} ms`)
    if (deadMs <= suspectMs) reject(optionByKey('cluster.deadAfter').label, `longer than ${optionByKey('cluster.suspectAfter').label} (${suspectMs} ms)`, `${deadMs} ms`)
  }
  if (maxRequestBytes < maxValueBytes) {
    reject(optionByKey('limits.maxRequestBytes').label, `at least ${maxValue} = ${formatBytes(maxValueBytes)}`, formatBytes(maxRequestBytes))
  }
}
