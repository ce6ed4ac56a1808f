/**
 * `POST /v1/ratelimit/{key}` `{"limit": n, "period": seconds, "cost"?: n}`: GCRA rate limiting
 * (the engine's `rateLimit` command, redis-cell's GCRA, with count = limit and burst = limit − 1:
 * `limit` units per `period`, up to `limit` at once). The limiter's state is an ordinary item
 * under the key (as with CL.THROTTLE), so RESP and HTTP share limiters by name. Answers 200
 * `{allowed: true, limit, remaining, retryAfter: 0, reset}` or 429 RATE_LIMITED with the same numbers beside the error and `Retry-After` (`retryAfter`
 * -1 and no header when the cost exceeds the limit: never allowed); both carry
 * `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`. Times are whole seconds, rounded
 * up. Thread: main (the engine may answer with a Promise; then the reply is deferred; so is the
 * reply of a key owned by another cluster node, forwarded there, or of a local write waiting for
 * its replicas).
 */
import type { Result } from '../../command/command.js'
import type { Engine } from '../../engine.js'
import { keyedParams, type ClusterDispatch, type KeyedParams } from './cluster-dispatch.js'
import { rateLimitCommand, rateLimitOf } from './item-commands.js'
import { MAX_TTL_SECONDS, answerParamErrors, integerFromJson, jsonObject, ParamError } from './params.js'
import { sendErrorWith, statusLine } from './reply.js'
import type { Router } from './router.js'

/** Largest `limit` and `cost` accepted. */
export const MAX_RATE_LIMIT = 1_000_000_000
const SHAPE = '{"limit": integer, "period": seconds, "cost"?: integer}'

export function registerRateLimitRoutes (router: Router, engine: Engine, cluster: ClusterDispatch | null = null): void {
  const limits = engine.config.limits
  router.route('/v1/ratelimit/:key', {
    POST: {
      access: 'tenant',
      body: { limitBytes: limits.maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' },
      parse: (res, req) => keyedParams(res, req, limits.maxKeyBytes, cluster),
      run: (exchange, params: KeyedParams, raw) => answerParamErrors(exchange.res, () => {
        const body = jsonObject(raw, SHAPE)
        const limit = integerFromJson(body['limit'], 'limit', 1, MAX_RATE_LIMIT)
        const period = body['period']
        if (typeof period !== 'number' || !(period >= 0.001) || period > MAX_TTL_SECONDS) {
          throw new ParamError('BAD_REQUEST', `period must be a number of seconds from 0.001 to ${MAX_TTL_SECONDS}`)
        }
        const cost = body['cost'] === undefined ? 1 : integerFromJson(body['cost'], 'cost', 0, MAX_RATE_LIMIT)
        // The engine follows redis-cell: bursts of `burst + 1`, reported as its limit.
        const tenantId = exchange.principal.tenantId
        const command = rateLimitCommand(tenantId, params.key, limit - 1, limit, Math.round(period * 1000), cost)
        if (cluster === null) exchange.replyWhenDone(engine.execute(command), (result) => reply(exchange.res, result))
        else cluster.run(exchange, tenantId, params.key, command, params.consistency, (result) => reply(exchange.res, result))
      })
    }
  })
}

function reply (res: import('uWebSockets.js').HttpResponse, result: Result): void {
  if (result.error !== null) { sendErrorWith(res, result.error, result.errorMessage, null, null); return }
  const gcra = rateLimitOf(result)
  const numbers = {
    allowed: gcra.allowed,
    limit: gcra.limit,
    remaining: gcra.remaining,
    // -1: never allowed (cost over the limit).
    retryAfter: gcra.allowed ? 0 : gcra.retryAfterMs < 0 ? -1 : Math.ceil(gcra.retryAfterMs / 1000),
    reset: Math.ceil(gcra.resetAfterMs / 1000)
  }
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(numbers.limit),
    'RateLimit-Remaining': String(numbers.remaining),
    'RateLimit-Reset': String(numbers.reset)
  }
  if (!gcra.allowed) {
    if (numbers.retryAfter >= 0) headers['Retry-After'] = String(numbers.retryAfter)
    sendErrorWith(res, 'RATE_LIMITED', `rate limit exceeded; retry after ${numbers.retryAfter} s`, headers, numbers)
    return
  }
  res.writeStatus(statusLine(200))
  for (const name in headers) res.writeHeader(name, headers[name]!)
  res.writeHeader('Content-Type', 'application/json').end(JSON.stringify(numbers))
}
