/**
 * `POST /v1/counters/{key}/incr` and `/decr` with an optional body `{"by": n}` (default 1) →
 * `{"value": n}`, with Redis INCRBY semantics: signed 64-bit, a missing key counts from 0, the
 * TTL and tags are kept. `by` is a JSON integer, or a decimal string for values beyond 2^53;
 * `value` is a JSON number when it is a safe integer, else a decimal string. A value that is
 * not a decimal integer is 409 NOT_NUMERIC; leaving the 64-bit range is 409 COUNTER_OVERFLOW.
 * Thread: main (inline engine command; synchronous reply).
 */
import type { Result } from '../../command/command.js'
import type { Engine } from '../../engine.js'
import { incrCommand } from './item-commands.js'
import { answerParamErrors, keyParameter, optionalJsonObject, ParamError } from './params.js'
import { sendError, sendJson } from './reply.js'
import type { Router } from './router.js'

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const SHAPE = '{"by"?: integer}'

export function registerCounterRoutes (router: Router, engine: Engine): void {
  const limits = engine.config.limits
  const body = { limitBytes: limits.maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' } as const
  for (const [name, sign] of [['incr', 1n], ['decr', -1n]] as const) {
    router.route(`/v1/counters/:key/${name}`, {
      POST: {
        access: 'tenant',
        body,
        parse: (res, req) => keyParameter(res, req, 0, limits.maxKeyBytes),
        run: (exchange, key: Buffer, raw) => answerParamErrors(exchange.res, () => {
          const by = deltaFromJson(optionalJsonObject(raw, SHAPE)['by'])
          // decr of INT64_MIN would itself overflow: Redis refuses it the same way.
          if (sign < 0n && by === INT64_MIN) throw new ParamError('COUNTER_OVERFLOW', 'decrement would overflow')
          const result = engine.execute(incrCommand(exchange.principal.tenantId, key, sign * by)) as Result
          if (result.error !== null) { sendError(exchange.res, result.error, result.errorMessage); return }
          const value = result.counter
          sendJson(exchange.res, 200, { value: value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString() })
        })
      }
    })
  }
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
