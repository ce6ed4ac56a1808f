/**
 * RESP persistence commands (DESIGN §10). Thread: main (pure, L1: the snapshots themselves are
 * the server's, reached through `RespHost.snapshots`).
 *   SAVE              → +OK once a whole-server snapshot is on disk (this connection waits;
 *                       every other client keeps being served, unlike Redis)
 *   BGSAVE            → +Background saving started; the outcome is logged by the server
 *   LASTSAVE          → integer: unix seconds of the last successful whole-server save (the
 *                       server's start before the first one, as Redis counts it)
 *   SNAPSHOT [tenant] → snapshot of the whole server, or of one tenant: an array
 *                       [file, <path>, items, <n>, bytes, <n>, duration_ms, <n>]
 *   RESTORE [tenant]  → replaces the whole server's (or one tenant's) items by its latest
 *                       snapshot: [file, <path>, items, <n>, skipped_expired, <n>, evicted, <n>,
 *                       duration_ms, <n>]. Redis's `RESTORE key ttl payload` (3+ arguments) is
 *                       refused with a clear error, never read as a tenant name.
 * Who may: while auth is off every connection administers the server. With auth on, a
 * connection is a tenant without admin rights (RESP has no admin login): it may SNAPSHOT and
 * RESTORE its own tenant by name and read LASTSAVE; whole-server SAVE, BGSAVE, SNAPSHOT and
 * RESTORE answer Redis's NOPERM (use HTTP with the admin token for those).
 * Invariants: one reply per command; a snapshot or restore already running answers Redis's
 * exact `-ERR Background save already in progress` (the RESP text of SNAPSHOT_IN_PROGRESS, so
 * SNAPSHOT and RESTORE answer it too); a failed snapshot or restore answers its catalog error
 * and changes nothing.
 */
import { SlabcacheError } from '../errors.js'
import { argText } from './resp-args.js'
import { command, NO_KEYS, type RespCommandSpec, type RespContext, type RespSession, type RespSnapshots } from './resp-context.js'
import {
  ERR_DUMP_RESTORE, ERR_SNAPSHOTS_UNAVAILABLE, ERR_SYNTAX, errNoPermission, errWrongArity, respErrorFor
} from './resp-errors.js'
import type { RespWriter } from './resp-writer.js'

const DEFAULT_TENANT_NAME = 'default'
/** Redis's `ERR Background save already in progress`: the catalog's RESP text for SNAPSHOT_IN_PROGRESS. */
const ERR_BGSAVE_IN_PROGRESS = respErrorFor('SNAPSHOT_IN_PROGRESS')

/** The host's snapshots, or null after answering that there are none. */
function snapshotsOf (x: RespContext, out: RespWriter): RespSnapshots | null {
  const snapshots = x.host.snapshots
  if (snapshots === undefined) { out.error(ERR_SNAPSHOTS_UNAVAILABLE); return null }
  return snapshots
}

function userName (x: RespContext, s: RespSession): string {
  return x.host.tenantName?.(s.tenantId) ?? DEFAULT_TENANT_NAME
}

/** Whole-server operations need admin rights: a RESP connection has them only while auth is off. */
function mayAdminister (x: RespContext, s: RespSession, commandName: string): boolean {
  if (!x.host.authRequired) return true
  s.out.error(errNoPermission(userName(x, s), commandName))
  return false
}

/**
 * The tenant a SNAPSHOT/RESTORE argument names, checked against the connection: undefined
 * after answering the error (unknown tenant, or another tenant's while auth is on).
 */
function namedTenant (x: RespContext, s: RespSession, arg: Uint8Array, commandName: string): number | undefined {
  const name = argText(arg)
  // Permission before existence: a tenant must not learn which other tenant names exist.
  if (x.host.authRequired && name !== userName(x, s)) {
    s.out.error(`NOPERM User ${userName(x, s)} may run '${commandName}' only for its own tenant`)
    return undefined
  }
  const lookup = x.host.tenantId
  const tenantId = lookup !== undefined ? lookup(name) : (name === DEFAULT_TENANT_NAME ? 0 : undefined)
  if (tenantId === undefined) { s.out.error(respErrorFor('TENANT_NOT_FOUND', `no tenant named "${name}"`)); return undefined }
  return tenantId
}

/** The error reply of a rejected save or restore: its catalog code, or INTERNAL. */
function failure (error: unknown): string {
  if (error instanceof SlabcacheError) return respErrorFor(error.code, error.message)
  return respErrorFor('INTERNAL', error instanceof Error ? error.message : String(error))
}

function saveCommand (x: RespContext, s: RespSession): void | Promise<void> {
  const snapshots = snapshotsOf(x, s.out)
  if (snapshots === null || !mayAdminister(x, s, 'save')) return
  if (snapshots.saving) { s.out.error(ERR_BGSAVE_IN_PROGRESS); return }
  return snapshots.save(null).then(() => s.out.ok(), (error: unknown) => s.out.error(failure(error)))
}

function bgsaveCommand (x: RespContext, s: RespSession, _argv: Uint8Array[], argc: number): void {
  // Redis 7's only option, SCHEDULE (run after the save in progress), is not offered: any
  // argument gets Redis's answer to an unknown option.
  if (argc > 1) { s.out.error(ERR_SYNTAX); return }
  const snapshots = snapshotsOf(x, s.out)
  if (snapshots === null || !mayAdminister(x, s, 'bgsave')) return
  if (!snapshots.saveInBackground()) { s.out.error(ERR_BGSAVE_IN_PROGRESS); return }
  s.out.simple('Background saving started')
}

function lastsaveCommand (x: RespContext, s: RespSession): void {
  const snapshots = snapshotsOf(x, s.out)
  if (snapshots === null) return
  s.out.integer(Math.floor(snapshots.lastSaveMs / 1000))
}

function snapshotCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void | Promise<void> {
  if (argc > 2) { s.out.error(errWrongArity('snapshot')); return }
  const snapshots = snapshotsOf(x, s.out)
  if (snapshots === null) return
  let tenantId: number | null = null
  if (argc === 2) {
    const named = namedTenant(x, s, argv[1]!, 'snapshot')
    if (named === undefined) return
    tenantId = named
  } else if (!mayAdminister(x, s, 'snapshot')) {
    return
  }
  const out = s.out
  return snapshots.save(tenantId).then((info) => {
    out.array(8)
    out.bulkString('file')
    out.bulkString(info.file)
    out.bulkString('items')
    out.integer(info.items)
    out.bulkString('bytes')
    out.integer(info.bytes)
    out.bulkString('duration_ms')
    out.integer(Math.round(info.durationMs))
  }, (error: unknown) => out.error(failure(error)))
}

function restoreCommand (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void | Promise<void> {
  if (argc >= 4) { s.out.error(ERR_DUMP_RESTORE); return }
  if (argc === 3) { s.out.error(errWrongArity('restore')); return }
  const snapshots = snapshotsOf(x, s.out)
  if (snapshots === null) return
  let tenantId: number | null = null
  if (argc === 2) {
    const named = namedTenant(x, s, argv[1]!, 'restore')
    if (named === undefined) return
    tenantId = named
  } else if (!mayAdminister(x, s, 'restore')) {
    return
  }
  const out = s.out
  return snapshots.restore(tenantId).then((info) => {
    out.array(10)
    out.bulkString('file')
    out.bulkString(info.file)
    out.bulkString('items')
    out.integer(info.items)
    out.bulkString('skipped_expired')
    out.integer(info.skippedExpired)
    out.bulkString('evicted')
    out.integer(info.evicted)
    out.bulkString('duration_ms')
    out.integer(Math.round(info.durationMs))
  }, (error: unknown) => out.error(failure(error)))
}

export const SNAPSHOT_COMMANDS: readonly RespCommandSpec[] = [
  command('save', 1, 'admin noscript no-async-loading no-multi', NO_KEYS, saveCommand),
  command('bgsave', -1, 'admin noscript no-async-loading', NO_KEYS, bgsaveCommand),
  command('lastsave', 1, 'loading stale fast', NO_KEYS, lastsaveCommand),
  command('snapshot', -1, 'admin noscript', NO_KEYS, snapshotCommand),
  command('restore', -1, 'write denyoom admin', NO_KEYS, restoreCommand)
]
