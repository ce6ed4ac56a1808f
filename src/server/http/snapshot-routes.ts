/**
 * Snapshot endpoints (DESIGN §10): `POST /v1/snapshots[?tenant=<name>]` takes a snapshot of the
 * whole server or of one tenant → 201 `{snapshot}`; `GET /v1/snapshots` lists the snapshots in
 * the data directory, newest first → 200 `{snapshots}`; `POST /v1/snapshots/restore[?tenant=<name>]`
 * replaces the whole server's (or that tenant's) items by its latest snapshot → 200 `{restore}`.
 * Thread: main; saves and restores are awaited, so their replies are deferred (Exchange.settle:
 * onAborted first, the reply inside cork, nothing written after the client left).
 * Who may: the admin token (or anyone while auth is off) may do everything. A tenant's own
 * credential may snapshot and restore its own tenant, named with `?tenant=`, and lists only its
 * own snapshots; the whole server or another tenant is 403 FORBIDDEN. Failures answer their
 * catalog code (SNAPSHOT_IN_PROGRESS, SNAPSHOT_NOT_FOUND, SNAPSHOT_CORRUPT, …) and change nothing.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Principal } from './auth.js'
import { sendError, sendJson } from './reply.js'
import type { Router } from './router.js'
import type { RestoreInfo, SnapshotInfo, SnapshotManager } from '../../persist/snapshot-manager.js'

/** What the routes need to name tenants (the registry; absent: only `default`, id 0). */
export interface TenantNames {
  byName: (name: string) => { readonly id: number } | undefined
  byId: (id: number) => { readonly name: string } | undefined
}

/** `?tenant=`: absent → null (the whole server); present → the tenant's name. */
interface Target { tenantName: string | null }

const DEFAULT_TENANT = { id: 0, name: 'default' } as const
const SINGLE_TENANT: TenantNames = {
  byName: (name) => name === DEFAULT_TENANT.name ? DEFAULT_TENANT : undefined,
  byId: (id) => id === DEFAULT_TENANT.id ? DEFAULT_TENANT : undefined
}

export function registerSnapshotRoutes (router: Router, snapshots: SnapshotManager, tenants: TenantNames = SINGLE_TENANT): void {
  const name = (tenantId: number | null): string | null => tenantId === null ? null : tenants.byId(tenantId)?.name ?? null

  /** The tenant id to act on (null: whole server), or undefined after answering 403/404. */
  const resolve = (res: HttpResponse, principal: Principal, target: Target, verb: string): number | null | undefined => {
    if (target.tenantName === null) {
      if (principal.admin) return null
      sendError(res, 'FORBIDDEN', `${verb} of the whole server needs the admin token; a tenant's credential may name its own tenant with ?tenant=${encodeURIComponent(principal.tenantName)}`)
      return undefined
    }
    // Permission before existence: a tenant must not learn which other tenant names exist.
    if (!principal.admin && target.tenantName !== principal.tenantName) {
      sendError(res, 'FORBIDDEN', `a tenant's credential may ${verb.toLowerCase()} only its own tenant ("${principal.tenantName}")`)
      return undefined
    }
    const tenant = tenants.byName(target.tenantName)
    if (tenant === undefined) { sendError(res, 'TENANT_NOT_FOUND', `no tenant named "${target.tenantName}"`); return undefined }
    return tenant.id
  }

  const describeSnapshot = (info: SnapshotInfo): Record<string, unknown> => ({
    file: info.file,
    tenant: name(info.tenantId),
    tenantId: info.tenantId,
    items: info.items,
    bytes: info.bytes,
    createdMs: info.createdMs,
    durationMs: info.durationMs
  })
  const describeRestore = (info: RestoreInfo): Record<string, unknown> => ({
    file: info.file,
    tenant: name(info.tenantId),
    tenantId: info.tenantId,
    items: info.items,
    skippedExpired: info.skippedExpired,
    evicted: info.evicted,
    durationMs: info.durationMs
  })

  router.route('/v1/snapshots', {
    GET: {
      access: 'tenant',
      parse: () => true,
      run: (exchange) => {
        const principal = exchange.principal
        exchange.settle(snapshots.list(), (list) => {
          const visible = principal.admin ? list : list.filter((info) => info.tenantId === principal.tenantId)
          sendJson(exchange.res, 200, { snapshots: visible.map(describeSnapshot) })
        })
      }
    },
    POST: {
      access: 'tenant',
      parse: targetOf,
      run: (exchange, target: Target) => {
        const tenantId = resolve(exchange.res, exchange.principal, target, 'Snapshot')
        if (tenantId === undefined) return
        const save = tenantId === null ? snapshots.save() : snapshots.save({ tenantId })
        exchange.settle(save, (info) => sendJson(exchange.res, 201, { snapshot: describeSnapshot(info) }))
      }
    }
  })

  router.route('/v1/snapshots/restore', {
    POST: {
      access: 'tenant',
      parse: targetOf,
      run: (exchange, target: Target) => {
        const tenantId = resolve(exchange.res, exchange.principal, target, 'Restore')
        if (tenantId === undefined) return
        const restore = tenantId === null ? snapshots.restore() : snapshots.restore({ tenantId })
        exchange.settle(restore, (info) => sendJson(exchange.res, 200, { restore: describeRestore(info) }))
      }
    }
  })
}

/**
 * `?tenant=<name>` (percent-decoded), or null when absent. An empty or repeated `tenant`, or
 * any other parameter, is 400: a typo must not turn a one-tenant operation into a whole-server one.
 */
function targetOf (res: HttpResponse, req: HttpRequest): Target | null {
  const query = req.getQuery() ?? ''
  if (query === '') return { tenantName: null }
  const params = new URLSearchParams(query)
  for (const key of params.keys()) {
    if (key !== 'tenant') { sendError(res, 'BAD_REQUEST', `unknown query parameter "${key}"; only ?tenant=<name> is accepted`); return null }
  }
  const names = params.getAll('tenant')
  if (names.length !== 1 || names[0] === '') { sendError(res, 'BAD_REQUEST', 'tenant must be given once and must not be empty: ?tenant=<name>'); return null }
  return { tenantName: names[0]! }
}
