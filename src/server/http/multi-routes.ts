/**
 * Batch endpoints: `POST /v1/mget` `{"keys": [...]}` → `{"items": [{"key", "value" | null}]}` and
 * `POST /v1/mset` `{"items": [{"key", "value", "encoding"?, "ttl"?, "tags"?, "contentType"?}]}`
 * → `{"stored": n}`. Thread: main. Bounded twice: the body by --max-request-bytes, the number
 * of keys/items by --max-batch-items (413 REQUEST_TOO_LARGE). mset validates every item before
 * it writes any, so a malformed batch changes nothing; a store failure part-way (out of memory)
 * answers its error with `stored` = items written before it.
 */
import type { Result } from '../../command/command.js'
import { StoreStatus } from '../../core/store-status.js'
import type { Engine } from '../../engine.js'
import type { Exchange } from './exchange.js'
import { getCommand, PLAIN_WRITE, setCommand, type WriteSpec } from './item-commands.js'
import { answerParamErrors, jsonObject, keyFromJson, ParamError, tagsFromJson, ttlFromJson, valueFromJson, valueToJson } from './params.js'
import { MAX_CONTENT_TYPE_BYTES } from './cache-routes.js'
import { sendError, sendErrorWith, sendJson } from './reply.js'
import { FIELD_VALUE_RULE, isFieldValue } from './wire.js'
import type { Router } from './router.js'

const MGET_SHAPE = '{"keys": [string]}'
const MSET_SHAPE = '{"items": [{"key": string, "value": string, "encoding"?: "base64", "ttl"?: seconds, "tags"?: [string], "contentType"?: string}]}'

export function registerMultiRoutes (router: Router, engine: Engine): void {
  const limits = engine.config.limits
  const body = { limitBytes: limits.maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' } as const
  const noParams = (): true => true

  router.route('/v1/mget', {
    POST: {
      access: 'tenant',
      body,
      parse: noParams,
      run: (exchange, _params: true, raw) => answerParamErrors(exchange.res, () => {
        const keys = batch(jsonObject(raw, MGET_SHAPE)['keys'], 'keys', MGET_SHAPE, limits.maxBatchItems)
        const keyBytes = keys.map((key, i) => keyFromJson(key, limits.maxKeyBytes, `keys[${i}]`))
        mget(engine, exchange, keyBytes)
      })
    }
  })

  router.route('/v1/mset', {
    POST: {
      access: 'tenant',
      body,
      parse: noParams,
      run: (exchange, _params: true, raw) => answerParamErrors(exchange.res, () => {
        const items = batch(jsonObject(raw, MSET_SHAPE)['items'], 'items', MSET_SHAPE, limits.maxBatchItems)
        const writes = items.map((item, i) => itemFromJson(item, i, limits.maxKeyBytes))
        mset(engine, exchange, writes)
      })
    }
  })
}

/** A JSON array of 1 … maxItems entries; throws ParamError (413 when too many). */
function batch (raw: unknown, what: string, shape: string, maxItems: number): unknown[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new ParamError('BAD_REQUEST', `${what} must be a non-empty array: ${shape}`)
  if (raw.length > maxItems) throw new ParamError('REQUEST_TOO_LARGE', `${raw.length} ${what}; the limit is ${maxItems} (--max-batch-items)`)
  return raw
}

interface ItemWrite { key: Buffer, value: Buffer, spec: WriteSpec }

function itemFromJson (raw: unknown, index: number, maxKeyBytes: number): ItemWrite {
  const where = `items[${index}]`
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ParamError('BAD_REQUEST', `${where} must be an object`)
  const item = raw as Record<string, unknown>
  const key = keyFromJson(item['key'], maxKeyBytes, `${where}.key`)
  const value = valueFromJson(item['value'], item['encoding'], `${where}.value`)
  const rawType = item['contentType']
  if (rawType !== undefined && rawType !== null && (typeof rawType !== 'string' || Buffer.byteLength(rawType, 'latin1') > MAX_CONTENT_TYPE_BYTES)) {
    throw new ParamError('BAD_REQUEST', `${where}.contentType must be a string of at most ${MAX_CONTENT_TYPE_BYTES} bytes`)
  }
  const contentType = typeof rawType === 'string' && rawType !== '' ? Buffer.from(rawType, 'latin1') : null
  if (contentType !== null && !isFieldValue(contentType)) throw new ParamError('BAD_REQUEST', `${where}.contentType must be ${FIELD_VALUE_RULE}`)
  const spec: WriteSpec = {
    ...PLAIN_WRITE,
    ttlSeconds: ttlFromJson(item['ttl'], `${where}.ttl`),
    tags: tagsFromJson(item['tags'], `${where}.tags`),
    contentType
  }
  return { key, value, spec }
}

function mget (engine: Engine, exchange: Exchange, keys: Buffer[]): void {
  const tenantId = exchange.principal.tenantId
  const items: Array<{ key: string, value: string | null, encoding?: 'base64' }> = []
  for (const key of keys) {
    const result = engine.execute(getCommand(tenantId, key)) as Result
    if (result.error !== null) { sendError(exchange.res, result.error, result.errorMessage); return }
    const name = key.toString('utf8')
    items.push(result.status === StoreStatus.OK ? { key: name, ...valueToJson(result.value!.subarray(0, result.valueLength)) } : { key: name, value: null })
  }
  sendJson(exchange.res, 200, { items })
}

function mset (engine: Engine, exchange: Exchange, writes: ItemWrite[]): void {
  const tenantId = exchange.principal.tenantId
  let stored = 0
  for (const write of writes) {
    const result = engine.execute(setCommand(tenantId, write.key, write.value, write.spec)) as Result
    if (result.error !== null) {
      sendErrorWith(exchange.res, result.error, result.errorMessage !== '' ? result.errorMessage : undefined, null, { stored })
      return
    }
    stored++
  }
  sendJson(exchange.res, 200, { stored })
}
