/**
 * `POST /v1/counters/{key}/incr` and `/decr` with an optional body `{"by": n}` (default 1) →
 * `{"value": n}`, with Redis INCRBY semantics: signed 64-bit, a missing key counts from 0, the
 * TTL and tags are kept. `by` is a JSON integer, or a decimal string for values beyond 2^53;
 * `value` is a JSON number when it is a safe integer, else a decimal string. A value that is
 * not a decimal integer is 409 NOT_NUMERIC; leaving the 64-bit range is 409 COUNTER_OVERFLOW.
 * Thread: main (inline engine command; synchronous reply; in a cluster a key owned elsewhere is
 * forwarded and a local write waits for its replicas: the reply is deferred).
 */
import type { Result } from '../../command/command.js'
import type { Engine } from '../../engine.js'
import { keyedParams, type ClusterDispatch, type KeyedParams } from './cluster-dispatch.js'
import { incrCommand } from './item-commands.js'
import { answerParamErrors, optionalJsonObject, ParamError } from './params.js'
import { sendError, sendJson } from './reply.js'
import type { Router } from './router.js'

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const SHAPE = '{"by"?: integer}'

export function registerCounterRoutes (router: Router, engine: Engine, cluster: ClusterDispatch | null = null): void {
  const limits = engine.config.limits
  const body = { limitBytes: limits.maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' } as const
  for (const [name, sign] of [['incr', 1n], ['decr', -1n]] as const) {
    router.route(`/v1/counters/:key/${name}`, {
      POST: {
        access: 'tenant',
        body,
        parse: (res, req) => keyedParams(res, req, limits.maxKeyBytes, cluster),
        run: (exchange, params: KeyedParams, raw) => answerParamErrors(exchange.res, () => {
          const by = deltaFromJson(optionalJsonObject(raw, SHAPE)['by'])
          // decr of INT64_MIN would itself overflow: Redis refuses it the same way.
          if (sign < 0n && by === INT64_MIN) throw new ParamError('COUNTER_OVERFLOW', 'decrement would overflow')
          const tenantId = exchange.principal.tenantId
          const command = incrCommand(tenantId, params.key, sign * by)
          if (cluster === null) reply(exchange.res, engine.execute(command) as Result)
          else cluster.run(exchange, tenantId, params.key, command, params.consistency, (result) => reply(exchange.res, result))
        })
      }
    })
  }
}

function reply (res: import('uWebSockets.js').HttpResponse, result: Result): void {
  if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
  const value = result.counter
  sendJson(res, 200, { value: value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString() })
}

/** `by`: absent → 1; a safe JSON integer or a decimal string within int64. */
function deltaFromJson (raw: unknown): bigint {
  if (raw === undefined || raw === null) return 1n
  let delta: bigint | null = null
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) delta = BigInt(raw)
  else if (typeof raw === 'string' && /^-?[0-9]{1,19}$/.test(raw)) delta = BigInt(raw)
  if (delta === null || delta < INT64_MIN || delta > INT64_MAX) {
    throw new ParamError('BAD_REQUEST', 'by must be a 64-bit integer (a JSON integer, or a decimal string beyond 2^53)')
  }
  return delta
}
