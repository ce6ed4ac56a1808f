/**
 * `GET /v1/keys?prefix=&cursor=&count=`: one page of the tenant's keys, from the engine's scan.
 * Thread: main. The cursor is opaque to clients (the engine cursor in base 36); `"cursor": null`
 * ends the listing. As with Redis SCAN, a page may hold fewer than `count` keys (prefix
 * filtering, sparse buckets) without the listing being over; a key present for the whole
 * listing is returned at least once. Each request runs at most SCANS_PER_PAGE bounded engine
 * scans, so one page never holds a shard lock for long.
 */
import type { Result } from '../../command/command.js'
import type { Engine } from '../../engine.js'
import { sendError, sendJson } from './reply.js'
import type { Router } from './router.js'

/** Default page size when `count` is absent. */
export const DEFAULT_KEYS_PAGE = 100
/** Engine scan calls per page: bounds the work of one request when a prefix matches little. */
const SCANS_PER_PAGE = 8

interface KeysParams { prefix: Buffer, cursor: number, count: number }

export function registerKeysRoutes (router: Router, engine: Engine): void {
  const maxItems = engine.config.limits.maxBatchItems
  router.route('/v1/keys', {
    GET: {
      access: 'tenant',
      parse: (res, req): KeysParams | null => {
        const rawCursor = req.getQuery('cursor') ?? ''
        const cursor = rawCursor === '' ? 0 : decodeCursor(rawCursor)
        if (cursor < 0) { sendError(res, 'BAD_REQUEST', 'cursor is not one this server returned'); return null }
        const rawCount = req.getQuery('count') ?? ''
        const count = rawCount === '' ? Math.min(DEFAULT_KEYS_PAGE, maxItems) : /^[0-9]{1,7}$/.test(rawCount) ? Number(rawCount) : 0
        if (count < 1 || count > maxItems) { sendError(res, 'BAD_REQUEST', `count must be an integer from 1 to ${maxItems}`); return null }
        return { prefix: Buffer.from(req.getQuery('prefix') ?? ''), cursor, count }
      },
      run: (exchange, params: KeysParams) => {
        const keys: string[] = []
        let cursor = params.cursor
        for (let scans = 0; scans < SCANS_PER_PAGE && keys.length < params.count; scans++) {
          const result = engine.execute({ op: 'scan', tenantId: exchange.principal.tenantId, cursor, count: params.count - keys.length }) as Result
          if (result.error !== null) { sendError(exchange.res, result.error, result.errorMessage); return }
          for (const key of result.keys) {
            if (params.prefix.length === 0 || (key.length >= params.prefix.length && params.prefix.equals(key.subarray(0, params.prefix.length)))) {
              keys.push(key.toString('utf8'))
            }
          }
          cursor = result.cursor
          if (cursor === 0) break
        }
        sendJson(exchange.res, 200, { keys, cursor: cursor === 0 ? null : cursor.toString(36) })
      }
    }
  })
}

/** Base-36 engine cursor → number; -1 when malformed. */
function decodeCursor (raw: string): number {
  if (!/^[0-9a-z]{1,11}$/.test(raw)) return -1
  const value = parseInt(raw, 36)
  return Number.isSafeInteger(value) && value > 0 ? value : -1
}
