/**
 * Batch endpoints: `POST /v1/mget` `{"keys": [...]}` → `{"items": [{"key", "value" | null}]}` and
 * `POST /v1/mset` `{"items": [{"key", "value", "encoding"?, "ttl"?, "tags"?, "contentType"?}]}`
 * → `{"stored": n}`. Thread: main. Bounded twice: the body by --max-request-bytes, the number
 * of keys/items by --max-batch-items (413 REQUEST_TOO_LARGE). mset validates every item before
 * it writes any, so a malformed batch changes nothing; a store failure part-way (out of memory)
 * answers its error with `stored` = items written before it.
 * In a cluster the batch is split by owner: keys served here run inline, the others are
 * forwarded (one command per key, all sent at once) and the answers merged in request order; the
 * reply waits for the forwards and for the replication of the local writes. There a failure
 * part-way answers the first failed item's error (in request order) with `stored` = items
 * stored anywhere (later items on other nodes may have been written).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Result } from '../../command/command.js'
import type { ConsistencyMode } from '../../cluster/cluster-types.js'
import { StoreStatus } from '../../core/store-status.js'
import type { Engine } from '../../engine.js'
import { INVALID_CONSISTENCY, parseConsistency, type ClusterDispatch } from './cluster-dispatch.js'
import { SlabcacheError } from '../../errors.js'
import type { Exchange } from './exchange.js'
import { getCommand, PLAIN_WRITE, setCommand, type WriteSpec } from './item-commands.js'
import { answerParamErrors, jsonObject, keyFromJson, ParamError, tagsFromJson, ttlFromJson, valueFromJson, valueToJson } from './params.js'
import { MAX_CONTENT_TYPE_BYTES } from './cache-routes.js'
import { sendError, sendErrorWith, sendJson } from './reply.js'
import { FIELD_VALUE_RULE, isFieldValue } from './wire.js'
import type { Router } from './router.js'

const SINGLE_NODE = { consistency: null }
const MGET_SHAPE = '{"keys": [string]}'
const MSET_SHAPE = '{"items": [{"key": string, "value": string, "encoding"?: "base64", "ttl"?: seconds, "tags"?: [string], "contentType"?: string}]}'

export function registerMultiRoutes (router: Router, engine: Engine, cluster: ClusterDispatch | null = null): void {
  const limits = engine.config.limits
  const body = { limitBytes: limits.maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' } as const
  // The consistency header in a cluster (null: absent, or single node: not read).
  const parse = (res: HttpResponse, req: HttpRequest): { consistency: ConsistencyMode | null } | null => {
    if (cluster === null) return SINGLE_NODE
    const consistency = parseConsistency(res, req)
    return consistency === INVALID_CONSISTENCY ? null : { consistency }
  }

  router.route('/v1/mget', {
    POST: {
      access: 'tenant',
      body,
      parse,
      run: (exchange, params: { consistency: ConsistencyMode | null }, raw) => answerParamErrors(exchange.res, () => {
        const keys = batch(jsonObject(raw, MGET_SHAPE)['keys'], 'keys', MGET_SHAPE, limits.maxBatchItems)
        const keyBytes = keys.map((key, i) => keyFromJson(key, limits.maxKeyBytes, `keys[${i}]`))
        if (cluster === null) mget(engine, exchange, keyBytes)
        else mgetClustered(cluster, exchange, keyBytes, params.consistency)
      })
    }
  })

  router.route('/v1/mset', {
    POST: {
      access: 'tenant',
      body,
      parse,
      run: (exchange, params: { consistency: ConsistencyMode | null }, raw) => answerParamErrors(exchange.res, () => {
        const items = batch(jsonObject(raw, MSET_SHAPE)['items'], 'items', MSET_SHAPE, limits.maxBatchItems)
        const writes = items.map((item, i) => itemFromJson(item, i, limits.maxKeyBytes))
        if (cluster === null) mset(engine, exchange, writes)
        else msetClustered(cluster, exchange, writes, params.consistency)
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

/** One mget entry. */
type MgetItem = { key: string, value: string | null, encoding?: 'base64' }

function mgetItem (key: Buffer, result: Result): MgetItem {
  const name = key.toString('utf8')
  return result.status === StoreStatus.OK ? { key: name, ...valueToJson(result.value!.subarray(0, result.valueLength)) } : { key: name, value: null }
}

/**
 * mget split by owner: local keys are read inline now (their values copied into the reply
 * items), the others forwarded all at once; the reply keeps request order. The first failure
 * in request order (a local error, a forwarded one, or a forward's rejection) is the answer;
 * every forward is awaited first, so none is left unobserved.
 */
function mgetClustered (cluster: ClusterDispatch, exchange: Exchange, keys: Buffer[], requested: ConsistencyMode | null): void {
  const tenantId = exchange.principal.tenantId
  const consistency = cluster.consistency(tenantId, requested)
  const items: Array<MgetItem | null> = new Array(keys.length).fill(null)
  const failures: Array<SlabcacheError | undefined> = []
  const remote: Array<Promise<void>> = []
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const owner = cluster.ownerOf(tenantId, key)
    if (owner === null) {
      const result = cluster.engine.execute(getCommand(tenantId, key)) as Result
      if (result.error !== null) failures[i] = new SlabcacheError(result.error, result.errorMessage === '' ? undefined : result.errorMessage)
      else items[i] = mgetItem(key, result)
      continue
    }
    remote.push(cluster.router.forwardCommand(owner, getCommand(tenantId, key), consistency).then(
      (result) => {
        if (result.error !== null) failures[i] = new SlabcacheError(result.error, result.errorMessage === '' ? undefined : result.errorMessage)
        else items[i] = mgetItem(key, result)
      },
      (error: unknown) => { failures[i] = error instanceof SlabcacheError ? error : new SlabcacheError('INTERNAL', String(error)) }
    ))
  }
  const answer = (): void => {
    const failure = failures.find((entry) => entry !== undefined)
    if (failure !== undefined) sendError(exchange.res, failure.code, failure.message)
    else sendJson(exchange.res, 200, { items })
  }
  if (remote.length === 0) answer()
  else exchange.settle(Promise.all(remote), answer)
}

/**
 * mset split by owner: every item goes to its owner (local ones inline, in request order;
 * forwarded ones all at once), each local write waits for its replication, and the reply
 * waits for all of them. `stored` counts the items stored anywhere.
 */
function msetClustered (cluster: ClusterDispatch, exchange: Exchange, writes: ItemWrite[], requested: ConsistencyMode | null): void {
  const tenantId = exchange.principal.tenantId
  const consistency = cluster.consistency(tenantId, requested)
  const outcomes = writes.map(async (write) => await cluster.resultOf(tenantId, write.key, setCommand(tenantId, write.key, write.value, write.spec), consistency))
  const settled = Promise.allSettled(outcomes).then((all) => {
    let stored = 0
    let failure: { code: Result['error'], message: string } | null = null
    for (const outcome of all) {
      if (outcome.status === 'fulfilled' && outcome.value.error === null) { stored++; continue }
      if (failure !== null) continue
      if (outcome.status === 'fulfilled') failure = { code: outcome.value.error, message: outcome.value.errorMessage }
      else if (outcome.reason instanceof SlabcacheError) failure = { code: outcome.reason.code, message: outcome.reason.message }
      else throw outcome.reason
    }
    return { stored, failure }
  })
  exchange.settle(settled, ({ stored, failure }) => {
    if (failure === null) sendJson(exchange.res, 200, { stored })
    else sendErrorWith(exchange.res, failure.code!, failure.message !== '' ? failure.message : undefined, null, { stored })
  })
}
