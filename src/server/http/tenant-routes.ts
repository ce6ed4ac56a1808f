/**
 * Tenant administration (admin token only; 403 FORBIDDEN for a tenant's credential):
 * `POST /v1/tenants` `{name, quotaBytes?, consistency?, secret?}` → 201 `{tenant, secret}` (the
 * secret is shown this once), `GET /v1/tenants`, `GET /v1/tenants/{name}`, `PUT /v1/tenants/{name}`
 * `{quotaBytes?, consistency?}` (at least one; consistency "async" | "quorum" | "all" | null =
 * the server's --consistency), `POST /v1/tenants/{name}/rotate` → `{secret}`, `DELETE /v1/tenants/{name}`
 * (its data is flushed on every shard first) → 204. Listings carry per-tenant stats
 * (`engine.tenantStats`). Thread: main. Registry mutations are asynchronous
 * (file write, scrypt, flush): their replies are deferred (Exchange.settle).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { ConsistencyMode } from '../../config/options.js'
import type { Engine } from '../../engine.js'
import type { TenantInfo, TenantRegistry } from '../../tenants/tenant-registry.js'
import { answerParamErrors, jsonObject, optionalJsonObject, ParamError } from './params.js'
import { endWithoutBody, sendError, sendJson } from './reply.js'
import type { Router } from './router.js'

const CONSISTENCY_SHAPE = '"async" | "quorum" | "all" | null'
const CREATE_SHAPE = `{"name": string, "quotaBytes"?: integer, "consistency"?: ${CONSISTENCY_SHAPE}, "secret"?: string}`
const UPDATE_SHAPE = `{"quotaBytes"?: integer, "consistency"?: ${CONSISTENCY_SHAPE}} (at least one)`

/** `consistency` as the body gives it: undefined when absent; the registry checks the value. */
function consistencyField (request: Record<string, unknown>): ConsistencyMode | null | undefined {
  const consistency = request['consistency']
  if (consistency !== undefined && consistency !== null && typeof consistency !== 'string') {
    throw new ParamError('BAD_REQUEST', `consistency must be ${CONSISTENCY_SHAPE}`)
  }
  return consistency as ConsistencyMode | null | undefined
}

export function registerTenantRoutes (router: Router, engine: Engine, registry: TenantRegistry): void {
  const body = { limitBytes: engine.config.limits.maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' } as const
  const describe = (tenant: TenantInfo): Record<string, unknown> => ({ ...tenant, stats: engine.tenantStats(tenant.id) })
  const none = (): true => true

  router.route('/v1/tenants', {
    GET: { access: 'admin', parse: none, run: (exchange) => sendJson(exchange.res, 200, { tenants: registry.list().map(describe) }) },
    POST: {
      access: 'admin',
      body,
      parse: none,
      run: (exchange, _params: true, raw) => answerParamErrors(exchange.res, () => {
        const request = jsonObject(raw, CREATE_SHAPE)
        const name = request['name']
        const quotaBytes = request['quotaBytes'] ?? 0
        const secret = request['secret']
        const consistency = consistencyField(request)
        if (typeof name !== 'string') throw new ParamError('BAD_REQUEST', `name must be a string: ${CREATE_SHAPE}`)
        if (typeof quotaBytes !== 'number') throw new ParamError('BAD_REQUEST', 'quotaBytes must be a non-negative integer (0 = unlimited)')
        if (secret !== undefined && typeof secret !== 'string') throw new ParamError('BAD_REQUEST', 'secret must be a string')
        const options = { name, quotaBytes, ...(consistency !== undefined ? { consistency } : {}), ...(secret !== undefined ? { secret } : {}) }
        exchange.settle(registry.create(options), (created) => sendJson(exchange.res, 201, { tenant: describe(created.tenant), secret: created.secret }))
      })
    }
  })

  router.route('/v1/tenants/:name', {
    GET: {
      access: 'admin',
      parse: tenantName,
      run: (exchange, name: string) => {
        const tenant = registry.byName(name)
        if (tenant === undefined) { sendError(exchange.res, 'TENANT_NOT_FOUND', `no tenant named "${name}"`); return }
        sendJson(exchange.res, 200, { tenant: describe(tenant) })
      }
    },
    PUT: {
      access: 'admin',
      body,
      parse: tenantName,
      run: (exchange, name: string, raw) => answerParamErrors(exchange.res, () => {
        const request = jsonObject(raw, UPDATE_SHAPE)
        const quotaBytes = request['quotaBytes']
        const consistency = consistencyField(request)
        if (quotaBytes !== undefined && typeof quotaBytes !== 'number') throw new ParamError('BAD_REQUEST', 'quotaBytes must be a non-negative integer (0 = unlimited)')
        if (quotaBytes === undefined && consistency === undefined) throw new ParamError('BAD_REQUEST', `nothing to change: ${UPDATE_SHAPE}`)
        const changes = { ...(quotaBytes !== undefined ? { quotaBytes } : {}), ...(consistency !== undefined ? { consistency } : {}) }
        exchange.settle(registry.update(name, changes), (tenant) => sendJson(exchange.res, 200, { tenant: describe(tenant) }))
      })
    },
    DELETE: {
      access: 'admin',
      parse: tenantName,
      run: (exchange, name: string) => {
        exchange.settle(registry.delete(name), () => endWithoutBody(exchange.res.writeStatus('204 No Content'), null))
      }
    }
  })

  router.route('/v1/tenants/:name/rotate', {
    POST: {
      access: 'admin',
      body,
      parse: tenantName,
      run: (exchange, name: string, raw) => answerParamErrors(exchange.res, () => {
        optionalJsonObject(raw, '{} or no body')
        exchange.settle(registry.rotateSecret(name), (rotated) => sendJson(exchange.res, 200, { secret: rotated.secret }))
      })
    }
  })
}

/** The :name parameter, percent-decoded; the registry validates its grammar. */
function tenantName (res: HttpResponse, req: HttpRequest): string | null {
  try {
    return decodeURIComponent(req.getParameter(0))
  } catch {
    sendError(res, 'BAD_REQUEST', 'tenant name is not valid percent-encoded UTF-8')
    return null
  }
}
