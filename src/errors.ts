/**
 * The error catalog: every error slabcache raises or reports, each with a stable `code`.
 * Thread: any (pure, L0). Owns: the codes and their default messages.
 * Invariant: a code never changes meaning once released; the README table lists every code
 * here and `test/errors.ts` checks both directions. Errors never cross a thread or a socket as
 * objects: the numeric `status` travels, and `errorFromStatus()` rebuilds the error.
 */

/** Base class: `code` is the stable identifier clients and tests match on. */
export class SlabcacheError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string = ERROR_CATALOG[code].message) {
    super(message)
    this.code = code
    this.name = ERROR_CATALOG[code].name
  }
}

interface CatalogEntry {
  /** Stable small integer used on rings and in shared memory; never reused. */
  readonly status: number
  readonly name: string
  /** HTTP status for the HTTP front end. */
  readonly httpStatus: number
  readonly message: string
}

/**
 * The catalog. Adding a code: pick the next unused `status`, add a README row, and construct
 * it in a test.
 */
export const ERROR_CATALOG = {
  CONFIG_INVALID: { status: 1, name: 'ConfigError', httpStatus: 500, message: 'invalid configuration' },
  UWS_NATIVE_UNAVAILABLE: { status: 2, name: 'UwsNativeUnavailableError', httpStatus: 500, message: 'the uWebSockets.js native binary could not be loaded' },
  KEY_TOO_LARGE: { status: 3, name: 'KeyTooLargeError', httpStatus: 414, message: 'key is larger than the configured limit' },
  VALUE_TOO_LARGE: { status: 4, name: 'ValueTooLargeError', httpStatus: 413, message: 'value is larger than the configured limit' },
  OUT_OF_MEMORY: { status: 5, name: 'OutOfMemoryError', httpStatus: 507, message: 'the item does not fit in the shard even after eviction' },
  NOT_NUMERIC: { status: 6, name: 'NotNumericError', httpStatus: 409, message: 'value is not an integer or out of range' },
  COUNTER_OVERFLOW: { status: 7, name: 'CounterOverflowError', httpStatus: 409, message: 'increment or decrement would overflow' },
  SHARD_UNAVAILABLE: { status: 8, name: 'ShardUnavailableError', httpStatus: 503, message: 'the shard did not answer in time; retry' },
  SHARD_CRASHED: { status: 9, name: 'ShardCrashedError', httpStatus: 503, message: 'the shard worker stopped while the command was in flight' },
  RING_FRAME_TOO_LARGE: { status: 10, name: 'RingFrameTooLargeError', httpStatus: 500, message: 'frame is larger than the ring can ever hold' },
  DEBUG_DISABLED: { status: 11, name: 'DebugDisabledError', httpStatus: 403, message: 'debug commands are disabled (debug.clockControl is off)' },
  BAD_REQUEST: { status: 12, name: 'BadRequestError', httpStatus: 400, message: 'malformed request' },
  NOT_FOUND: { status: 13, name: 'NotFoundError', httpStatus: 404, message: 'no such key' },
  INTERNAL: { status: 14, name: 'InternalError', httpStatus: 500, message: 'internal error; the shard was repaired' },
  SLAB_CORRUPT: { status: 15, name: 'SlabCorruptError', httpStatus: 500, message: 'slab invariant broken' },
  SHUTTING_DOWN: { status: 16, name: 'ShuttingDownError', httpStatus: 503, message: 'the server is shutting down' },
  REQUEST_TOO_LARGE: { status: 17, name: 'RequestTooLargeError', httpStatus: 413, message: 'request is larger than the configured limit' },
  TOO_MANY_TAGS: { status: 18, name: 'TooManyTagsError', httpStatus: 400, message: 'more tags than the configured limit' },
  TAG_TOO_LARGE: { status: 19, name: 'TagTooLargeError', httpStatus: 400, message: 'tag is longer than the configured limit' },
  QUOTA_EXCEEDED: { status: 20, name: 'QuotaExceededError', httpStatus: 413, message: "the item is larger than its tenant's byte quota" },
  PROTECTED_MODE: { status: 21, name: 'ProtectedModeError', httpStatus: 500, message: 'refusing to listen on a non-loopback interface without credentials: set auth.adminToken (--admin-token), auth.defaultSecret (--default-secret) or a tenant secret, or bind to 127.0.0.1' },
  TENANT_FILE_INVALID: { status: 22, name: 'TenantFileInvalidError', httpStatus: 500, message: 'the tenant file in the data directory is unreadable or invalid' },
  TENANT_NOT_FOUND: { status: 23, name: 'TenantNotFoundError', httpStatus: 404, message: 'no such tenant' },
  TENANT_EXISTS: { status: 24, name: 'TenantExistsError', httpStatus: 409, message: 'a tenant with this name exists' },
  TENANT_LIMIT: { status: 25, name: 'TenantLimitError', httpStatus: 409, message: 'no tenant id is free (at most 1024 tenants, the default included)' },
  UNAUTHORIZED: { status: 26, name: 'UnauthorizedError', httpStatus: 401, message: 'authentication required: missing or invalid credentials' },
  FORBIDDEN: { status: 27, name: 'ForbiddenError', httpStatus: 403, message: 'these credentials do not allow this operation' },
  METHOD_NOT_ALLOWED: { status: 28, name: 'MethodNotAllowedError', httpStatus: 405, message: 'method not allowed on this endpoint' },
  PRECONDITION_FAILED: { status: 29, name: 'PreconditionFailedError', httpStatus: 412, message: 'the item does not match If-Match / If-None-Match' },
  RATE_LIMITED: { status: 30, name: 'RateLimitedError', httpStatus: 429, message: 'rate limit exceeded; retry after the given delay' },
  // Persistence (issue 6)
  SNAPSHOT_CORRUPT: { status: 31, name: 'SnapshotCorruptError', httpStatus: 500, message: 'the snapshot file is corrupt (CRC mismatch or bad framing); nothing was loaded' },
  SNAPSHOT_TRUNCATED: { status: 32, name: 'SnapshotTruncatedError', httpStatus: 500, message: 'the snapshot file ends before its trailer; nothing was loaded' },
  SNAPSHOT_VERSION: { status: 33, name: 'SnapshotVersionError', httpStatus: 500, message: 'the file is not a snapshot this build can read (wrong magic or version); nothing was loaded' },
  SNAPSHOT_IN_PROGRESS: { status: 34, name: 'SnapshotInProgressError', httpStatus: 409, message: 'a snapshot or restore is already running' },
  SNAPSHOT_NOT_FOUND: { status: 35, name: 'SnapshotNotFoundError', httpStatus: 404, message: 'no snapshot to restore from in the data directory' },
  SNAPSHOT_IO: { status: 36, name: 'SnapshotIoError', httpStatus: 500, message: 'the snapshot could not be written or read (disk error)' },
  // Cluster (issue 7)
  PEER_UNAVAILABLE: { status: 37, name: 'PeerUnavailableError', httpStatus: 503, message: 'the node that owns the key cannot be reached; retry' },
  PEER_TIMEOUT: { status: 38, name: 'PeerTimeoutError', httpStatus: 504, message: 'the peer did not answer in time; the request may or may not have been applied' },
  PEER_BUSY: { status: 39, name: 'PeerBusyError', httpStatus: 503, message: 'the link to the peer has too much queued; retry later' },
  PEER_AUTH_FAILED: { status: 40, name: 'PeerAuthFailedError', httpStatus: 403, message: 'the peer did not prove the cluster secret' },
  PEER_PROTOCOL: { status: 41, name: 'PeerProtocolError', httpStatus: 502, message: 'the peer sent a frame this node cannot read (bad framing or version)' },
  REPLICATION_TIMEOUT: { status: 42, name: 'ReplicationTimeoutError', httpStatus: 504, message: 'the write was applied on its owner but not acknowledged by enough replicas in time' },
  NOT_CLUSTERED: { status: 43, name: 'NotClusteredError', httpStatus: 409, message: 'this node is not running in cluster mode' }
} as const satisfies Record<string, CatalogEntry>

export type ErrorCode = keyof typeof ERROR_CATALOG

const BY_STATUS: ErrorCode[] = []
for (const code of Object.keys(ERROR_CATALOG) as ErrorCode[]) BY_STATUS[ERROR_CATALOG[code].status] = code

/** Rebuilds an error from the numeric status that crossed a thread boundary. */
export function errorFromStatus (status: number, message?: string): SlabcacheError {
  const code = BY_STATUS[status] ?? 'INTERNAL'
  return new SlabcacheError(code, message)
}

/** Thrown by config loading: names the option, what it must be and what it received. */
export class ConfigError extends SlabcacheError {
  constructor (message: string) { super('CONFIG_INVALID', message) }
}
