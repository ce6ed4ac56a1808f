/**
 * The one table from store outcomes to the error catalog. Thread: main (pure, L1).
 * Each protocol then maps an ErrorCode to its own reply (HTTP: the catalog's httpStatus; RESP
 * and memcached: their replies, in their protocol modules). Statuses that are not failures
 * (OK, and NOT_FOUND/NOT_STORED/EXISTS, which protocols answer natively) map to null.
 */
import type { ErrorCode } from '../errors.js'
import { StoreStatus } from '../core/store-status.js'

const TABLE: Record<StoreStatus, ErrorCode | null> = {
  [StoreStatus.OK]: null,
  [StoreStatus.NOT_FOUND]: null,
  [StoreStatus.NOT_STORED]: null,
  [StoreStatus.EXISTS]: null,
  [StoreStatus.KEY_TOO_LARGE]: 'KEY_TOO_LARGE',
  [StoreStatus.VALUE_TOO_LARGE]: 'VALUE_TOO_LARGE',
  [StoreStatus.OUT_OF_MEMORY]: 'OUT_OF_MEMORY',
  [StoreStatus.NOT_NUMERIC]: 'NOT_NUMERIC',
  [StoreStatus.OVERFLOW]: 'COUNTER_OVERFLOW',
  [StoreStatus.BUSY]: 'SHARD_UNAVAILABLE',
  [StoreStatus.BAD_TENANT]: 'BAD_REQUEST',
  [StoreStatus.BAD_METADATA]: 'BAD_REQUEST'
}

/** The catalog error for a store outcome, or null if the outcome is not a failure. */
export function errorForStatus (status: StoreStatus): ErrorCode | null {
  return TABLE[status]
}
