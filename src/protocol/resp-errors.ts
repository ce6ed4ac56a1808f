/**
 * RESP error replies: the one table from the error catalog (engine result codes) to Redis
 * error lines, and the Redis-native texts the command layer answers with. Thread: main (pure, L1).
 * Owns: every error string the RESP front end sends, without the leading '-' and trailing CRLF.
 * Invariant: a text is a single line (the writer turns CR and LF into spaces anyway); where Redis
 * has an equivalent error its exact text is used, because client libraries match on it.
 */
import { ERROR_CATALOG, type ErrorCode } from '../errors.js'

/** Prefix (Redis's error "code", the first word) and fixed text of each catalog error. */
interface RespErrorEntry {
  readonly prefix: 'ERR' | 'BUSY' | 'OOM' | 'NOAUTH' | 'NOPERM' | 'TRYAGAIN' | 'TIMEOUT' | 'NOREPL'
  /** Redis-native text; null: `<CODE> <message>` with the engine's or the catalog's message. */
  readonly text: string | null
}

/**
 * Catalog code → RESP reply. Total over ErrorCode: adding a code to the catalog fails the build
 * until it has a RESP reply here.
 */
export const RESP_ERROR_TABLE: Readonly<Record<ErrorCode, RespErrorEntry>> = {
  CONFIG_INVALID: { prefix: 'ERR', text: null },
  UWS_NATIVE_UNAVAILABLE: { prefix: 'ERR', text: null },
  KEY_TOO_LARGE: { prefix: 'ERR', text: 'key exceeds maximum allowed size' },
  VALUE_TOO_LARGE: { prefix: 'ERR', text: 'string exceeds maximum allowed size' },
  OUT_OF_MEMORY: { prefix: 'OOM', text: "command not allowed when used memory > 'maxmemory'." },
  NOT_NUMERIC: { prefix: 'ERR', text: 'value is not an integer or out of range' },
  COUNTER_OVERFLOW: { prefix: 'ERR', text: 'increment or decrement would overflow' },
  // BUSY: the client may retry; the code name says which transient condition it was.
  SHARD_UNAVAILABLE: { prefix: 'BUSY', text: null },
  SHARD_CRASHED: { prefix: 'BUSY', text: null },
  RING_FRAME_TOO_LARGE: { prefix: 'ERR', text: null },
  DEBUG_DISABLED: { prefix: 'ERR', text: null },
  BAD_REQUEST: { prefix: 'ERR', text: null },
  NOT_FOUND: { prefix: 'ERR', text: 'no such key' },
  INTERNAL: { prefix: 'ERR', text: null },
  SLAB_CORRUPT: { prefix: 'ERR', text: null },
  SHUTTING_DOWN: { prefix: 'ERR', text: null },
  REQUEST_TOO_LARGE: { prefix: 'ERR', text: null },
  TOO_MANY_TAGS: { prefix: 'ERR', text: null },
  TAG_TOO_LARGE: { prefix: 'ERR', text: null },
  QUOTA_EXCEEDED: { prefix: 'ERR', text: null },
  PROTECTED_MODE: { prefix: 'ERR', text: null },
  TENANT_FILE_INVALID: { prefix: 'ERR', text: null },
  TENANT_NOT_FOUND: { prefix: 'ERR', text: null },
  TENANT_EXISTS: { prefix: 'ERR', text: null },
  TENANT_LIMIT: { prefix: 'ERR', text: null },
  // Redis's own texts: clients (ioredis, node-redis) recognise them.
  UNAUTHORIZED: { prefix: 'NOAUTH', text: 'Authentication required.' },
  FORBIDDEN: { prefix: 'NOPERM', text: null },
  // HTTP API codes (issue 5)
  METHOD_NOT_ALLOWED: { prefix: 'ERR', text: null },
  PRECONDITION_FAILED: { prefix: 'ERR', text: null },
  RATE_LIMITED: { prefix: 'ERR', text: null },
  // Persistence (issue 6). Redis's BGSAVE answers a second save with exactly this text.
  SNAPSHOT_CORRUPT: { prefix: 'ERR', text: null },
  SNAPSHOT_TRUNCATED: { prefix: 'ERR', text: null },
  SNAPSHOT_VERSION: { prefix: 'ERR', text: null },
  SNAPSHOT_IN_PROGRESS: { prefix: 'ERR', text: 'Background save already in progress' },
  SNAPSHOT_NOT_FOUND: { prefix: 'ERR', text: null },
  SNAPSHOT_IO: { prefix: 'ERR', text: null },
  // Redis Cluster clients retry on TRYAGAIN and CLUSTERDOWN; a timed-out peer may have applied the write.
  PEER_UNAVAILABLE: { prefix: 'TRYAGAIN', text: null },
  PEER_TIMEOUT: { prefix: 'TIMEOUT', text: null },
  PEER_BUSY: { prefix: 'TRYAGAIN', text: null },
  PEER_AUTH_FAILED: { prefix: 'ERR', text: null },
  PEER_PROTOCOL: { prefix: 'ERR', text: null },
  REPLICATION_TIMEOUT: { prefix: 'NOREPL', text: null },
  NOT_CLUSTERED: { prefix: 'ERR', text: 'This instance has cluster support disabled' }
}

/** The error line for a catalog code; `message` (the engine's detail) replaces the catalog's. */
export function respErrorFor (code: ErrorCode, message = ''): string {
  const entry = RESP_ERROR_TABLE[code]
  if (entry.text !== null) return `${entry.prefix} ${entry.text}`
  return `${entry.prefix} ${code} ${message !== '' ? message : ERROR_CATALOG[code].message}`
}

// ── Redis-native replies of the command layer (exact texts; clients parse some of them) ──────

export const ERR_SYNTAX = 'ERR syntax error'
export const ERR_NOT_INTEGER = 'ERR value is not an integer or out of range'
export const ERR_NOT_FLOAT = 'ERR value is not a valid float'
export const ERR_NAN_OR_INFINITY = 'ERR increment would produce NaN or Infinity'
export const ERR_DECREMENT_OVERFLOW = 'ERR decrement would overflow'
export const ERR_NO_SUCH_KEY = 'ERR no such key'
export const ERR_OFFSET_RANGE = 'ERR offset is out of range'
export const ERR_INVALID_CURSOR = 'ERR invalid cursor'
export const ERR_DB_INDEX = 'ERR DB index is out of range'
export const ERR_NOAUTH = 'NOAUTH Authentication required.'
export const ERR_NOPROTO = 'NOPROTO unsupported protocol version'
export const ERR_PROTOCOL_VERSION = 'ERR Protocol version is not an integer or out of range'
export const ERR_AUTH_NOT_CONFIGURED = 'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?'
export const ERR_WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.'
export const ERR_CLIENT_NAME = 'ERR Client names cannot contain spaces, newlines or special characters.'
export const ERR_EXPIRE_NX = 'ERR NX and XX, GT or LT options at the same time are not compatible'
export const ERR_EXPIRE_GT_LT = 'ERR GT and LT options at the same time are not compatible'
export const ERR_MAX_CLIENTS = 'ERR max number of clients reached'

export const ERR_SNAPSHOTS_UNAVAILABLE = 'ERR snapshots are not available on this server'
/** Redis's own `RESTORE key ttl serialized-value`: a DUMP payload, which slabcache cannot read. */
export const ERR_DUMP_RESTORE = "ERR RESTORE key ttl serialized-value (Redis DUMP payloads) is not supported; slabcache's RESTORE [tenant] restores a snapshot"

/** Redis 7's ACL refusal text, with the tenant as the user. */
export function errNoPermission (user: string, commandName: string): string {
  return `NOPERM User ${user} has no permissions to run the '${commandName}' command`
}

export function errWrongArity (commandName: string): string {
  return `ERR wrong number of arguments for '${commandName}' command`
}

export function errInvalidExpire (commandName: string): string {
  return `ERR invalid expire time in '${commandName}' command`
}

export function errUnknownSubcommand (subcommand: string, container: string): string {
  return `ERR unknown subcommand '${subcommand.slice(0, 128)}'. Try ${container.toUpperCase()} HELP.`
}

/**
 * Redis's unknown-command text: the name (up to 128 characters), then the arguments quoted,
 * each cut so that the list stays within about 128 characters, as `processCommand` builds it.
 */
export function errUnknownCommand (name: string, args: readonly string[]): string {
  let list = ''
  for (let i = 0; i < args.length && list.length < 128; i++) list += `'${args[i]!.slice(0, 128 - list.length)}' `
  return `ERR unknown command '${name.slice(0, 128)}', with args beginning with: ${list}`
}

// ── protocol errors: framing is lost, the connection replies `-ERR <text>` and closes ─────────

export const PROTO_INVALID_MULTIBULK_LENGTH = 'Protocol error: invalid multibulk length'
export const PROTO_INVALID_BULK_LENGTH = 'Protocol error: invalid bulk length'
export const PROTO_TOO_BIG_INLINE = 'Protocol error: too big inline request'
export const PROTO_TOO_BIG_MBULK_COUNT = 'Protocol error: too big mbulk count string'
export const PROTO_TOO_BIG_BULK_COUNT = 'Protocol error: too big bulk count string'
export const PROTO_UNBALANCED_QUOTES = 'Protocol error: unbalanced quotes in request'
/** slabcache's own: Redis skips the two bytes after a bulk without looking at them. */
export const PROTO_EXPECTED_CRLF = "Protocol error: expected '\\r\\n' after bulk data"
/** slabcache's own: one command larger than `limits.maxRequestBytes` (Redis: query buffer limit). */
export const PROTO_TOO_BIG_REQUEST = 'Protocol error: too big request'

export function protoExpectedDollar (got: string): string {
  return `Protocol error: expected '$', got '${got}'`
}
