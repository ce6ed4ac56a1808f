/**
 * Server endpoints: `GET /v1/health` (public: load balancers probe it without credentials),
 * `GET /v1/stats` (the admin sees the engine-wide counters; a tenant sees its own) and `POST /v1/debug/clock` (admin; only with
 * debug.clockControl). Thread: main; every reply is synchronous.
 */
import type { Result } from '../../command/command.js'
import type { Engine } from '../../engine.js'
import { answerParamErrors, jsonObject, ParamError } from './params.js'
import { sendError, sendJson } from './reply.js'
import type { Router } from './router.js'

export function registerAdminRoutes (router: Router, engine: Engine): void {
  const none = (): true => true
  router.route('/v1/health', {
    GET: {
      access: 'public',
      parse: none,
      run: (exchange) => {
        const shards = engine.shards
        const alive = Array.from({ length: shards.count }, (_, id) => shards.alive(id))
        const ok = alive.every(Boolean)
        sendJson(exchange.res, ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', shards: alive.map((up, id) => ({ id, up, restarts: shards.restarts(id) })) })
      }
    }
  })
  router.route('/v1/stats', {
    GET: {
      access: 'tenant',
      parse: none,
      run: (exchange) => {
        const principal = exchange.principal
        if (principal.admin) { sendJson(exchange.res, 200, engine.stats()); return }
        sendJson(exchange.res, 200, { tenant: principal.tenantName, ...engine.tenantStats(principal.tenantId) })
      }
    }
  })
  router.route('/v1/debug/clock', {
    POST: {
      access: 'admin',
      body: { limitBytes: engine.config.limits.maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' },
      parse: none,
      run: (exchange, _params: true, body) => answerParamErrors(exchange.res, () => {
        const advanceMs = jsonObject(body, '{"advanceMs": <number>}')['advanceMs']
        if (typeof advanceMs !== 'number') throw new ParamError('BAD_REQUEST', 'body must be JSON {"advanceMs": <number>}')
        const result = engine.execute({ op: 'debugClock', advanceMs }) as Result
        if (result.error !== null) { sendError(exchange.res, result.error, result.errorMessage); return }
        sendJson(exchange.res, 200, { nowMs: engine.clock.nowMs() })
      })
    }
  })
}
