/**
 * `/v1/cache/{key}`: raw-value GET / HEAD / PUT / DELETE with the stored Content-Type, TTL and
 * tags from the query or `X-Slabcache-*` headers, ETag = CAS with If-None-Match (304) and
 * If-Match (412), and POST with the JSON envelope `{value, encoding?, ttl?, tags?, contentType?}`.
 * GET `?envelope=1` answers the envelope `{key, value, encoding?, ttl, tags, contentType, cas}`.
 * Thread: main. Every reply is synchronous (inline engine commands), so pipelining holds.
 * Conditional writes are one store operation (CAS / ADD / REPLACE mode); a multi-tag If-Match
 * and conditional DELETE read the CAS first, which is atomic because every front end runs
 * commands on this one thread.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Result } from '../../command/command.js'
import { SetMode, StoreStatus } from '../../core/store-status.js'
import type { Engine } from '../../engine.js'
import { etagMatches, etagOf, parseEtags, type EtagList } from './conditions.js'
import type { Exchange } from './exchange.js'
import { contentTypeOf, getCommand, setCommand, storedContentType, tagsOf, type WriteSpec } from './item-commands.js'
import {
  answerParamErrors, jsonObject, keyParameter, ParamError, tagsFromJson, tagsFromRequest, ttlFromJson, ttlFromRequest,
  TTL_RULE, valueFromJson, valueToJson
} from './params.js'
import { endWithoutBody, sendError } from './reply.js'
import type { Router } from './router.js'

/** Longest stored Content-Type (the slab keeps its length in one byte). */
export const MAX_CONTENT_TYPE_BYTES = 255

interface ReadParams { key: Buffer, ifNoneMatch: EtagList | null, envelope: boolean }
interface WriteParams { key: Buffer, ifMatch: EtagList | null, ifNoneMatch: EtagList | null, ttlSeconds: number, tags: Buffer[] | null, contentType: Buffer | null }
interface DeleteParams { key: Buffer, ifMatch: EtagList | null }

const ENVELOPE_SHAPE = '{"value": string, "encoding"?: "base64", "ttl"?: seconds, "tags"?: [string], "contentType"?: string}'

export function registerCacheRoutes (router: Router, engine: Engine): void {
  const limits = engine.config.limits
  const maxKeyBytes = limits.maxKeyBytes

  const parseRead = (res: HttpResponse, req: HttpRequest): ReadParams | null => {
    const key = keyParameter(res, req, 0, maxKeyBytes)
    if (key === null) return null
    const envelope = req.getQuery('envelope')
    return { key, ifNoneMatch: parseEtags(req.getHeader('if-none-match')), envelope: envelope === '1' || envelope === 'true' }
  }

  const read = (exchange: Exchange, params: ReadParams, headOnly: boolean): void => {
    const res = exchange.res
    const tenantId = exchange.principal.tenantId
    const result = engine.execute(getCommand(tenantId, params.key, params.envelope)) as Result
    if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
    if (result.status !== StoreStatus.OK) { sendError(res, 'NOT_FOUND'); return }
    const etag = etagOf(result.cas)
    if (params.ifNoneMatch !== null && etagMatches(params.ifNoneMatch, result.cas)) {
      endWithoutBody(res.writeStatus('304 Not Modified').writeHeader('ETag', etag), null)
      return
    }
    if (params.envelope) {
      const envelope = {
        key: params.key.toString('utf8'),
        ...valueToJson(result.value!.subarray(0, result.valueLength)),
        contentType: storedContentType(result),
        tags: tagsOf(result),
        cas: result.cas,
        ttl: 0 as number | null
      }
      // A second inline command on this thread: nothing can run between the two.
      const ttl = engine.execute({ op: 'ttl', tenantId, key: params.key }) as Result
      envelope.ttl = ttl.ttlMs < 0 ? null : Math.ceil(ttl.ttlMs / 1000)
      const text = JSON.stringify(envelope)
      res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').writeHeader('ETag', etag)
      if (headOnly) endWithoutBody(res, Buffer.byteLength(text))
      else res.end(text)
      return
    }
    res.writeStatus('200 OK').writeHeader('Content-Type', contentTypeOf(result)).writeHeader('ETag', etag)
    if (headOnly) endWithoutBody(res, result.valueLength)
    else res.end(result.value!.subarray(0, result.valueLength))
  }

  /** Runs a write under its If-Match / If-None-Match condition and answers 204 + ETag. */
  const write = (exchange: Exchange, key: Buffer, value: Uint8Array, params: Omit<WriteParams, 'key'>): void => {
    const res = exchange.res
    const tenantId = exchange.principal.tenantId
    let mode: SetMode = SetMode.SET
    let casExpected = 0
    if (params.ifNoneMatch !== null) {
      mode = SetMode.ADD
    } else if (params.ifMatch !== null) {
      if (params.ifMatch.any) {
        mode = SetMode.REPLACE
      } else if (params.ifMatch.cas.length === 1) {
        mode = SetMode.CAS
        casExpected = params.ifMatch.cas[0]!
      } else {
        const current = currentCas(engine, tenantId, key)
        if (current === null || !etagMatches(params.ifMatch, current)) { sendError(res, 'PRECONDITION_FAILED'); return }
        mode = SetMode.CAS
        casExpected = current
      }
    }
    const spec: WriteSpec = { ttlSeconds: params.ttlSeconds, tags: params.tags, contentType: params.contentType, mode, casExpected }
    const result = engine.execute(setCommand(tenantId, key, value, spec)) as Result
    if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
    if (result.status !== StoreStatus.OK) {
      // NOT_STORED (ADD on a present key, REPLACE on an absent one), EXISTS (CAS mismatch),
      // NOT_FOUND (CAS on an absent key): the precondition did not hold.
      sendError(res, 'PRECONDITION_FAILED', params.ifNoneMatch !== null ? 'the key exists (If-None-Match: *)' : 'the item does not match If-Match')
      return
    }
    endWithoutBody(res.writeStatus('204 No Content').writeHeader('ETag', etagOf(result.cas)), null)
  }

  const parseWrite = (res: HttpResponse, req: HttpRequest): WriteParams | null => {
    const key = keyParameter(res, req, 0, maxKeyBytes)
    if (key === null) return null
    const ttlSeconds = ttlFromRequest(req)
    if (ttlSeconds < 0) { sendError(res, 'BAD_REQUEST', TTL_RULE); return null }
    let tags: Buffer[] | null
    try {
      tags = tagsFromRequest(req)
    } catch (error) {
      sendError(res, 'BAD_REQUEST', (error as ParamError).message)
      return null
    }
    const conditions = writeConditions(res, req)
    if (conditions === null) return null
    const typeHeader = req.getHeader('content-type')
    const contentType = typeHeader === '' ? null : Buffer.from(typeHeader, 'latin1')
    if (contentType !== null && contentType.length > MAX_CONTENT_TYPE_BYTES) {
      sendError(res, 'BAD_REQUEST', `Content-Type is ${contentType.length} bytes; the limit is ${MAX_CONTENT_TYPE_BYTES}`)
      return null
    }
    return { key, ttlSeconds, tags, contentType, ...conditions }
  }

  router.route('/v1/cache/:key', {
    GET: { access: 'tenant', parse: parseRead, run: (exchange, params: ReadParams) => read(exchange, params, false) },
    HEAD: { access: 'tenant', parse: parseRead, run: (exchange, params: ReadParams) => read(exchange, params, true) },
    PUT: {
      access: 'tenant',
      body: { limitBytes: limits.maxValueBytes, tooLargeCode: 'VALUE_TOO_LARGE' },
      parse: parseWrite,
      run: (exchange, params: WriteParams, body) => write(exchange, params.key, body, params)
    },
    POST: {
      access: 'tenant',
      body: { limitBytes: limits.maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' },
      parse: (res, req) => {
        const key = keyParameter(res, req, 0, maxKeyBytes)
        if (key === null) return null
        const conditions = writeConditions(res, req)
        return conditions === null ? null : { key, ...conditions }
      },
      run: (exchange, params: { key: Buffer, ifMatch: EtagList | null, ifNoneMatch: EtagList | null }, body) => answerParamErrors(exchange.res, () => {
        const envelope = jsonObject(body, ENVELOPE_SHAPE)
        const value = valueFromJson(envelope['value'], envelope['encoding'])
        const rawType = envelope['contentType']
        if (rawType !== undefined && rawType !== null && typeof rawType !== 'string') throw new ParamError('BAD_REQUEST', 'contentType must be a string')
        const contentType = typeof rawType === 'string' && rawType !== '' ? Buffer.from(rawType, 'latin1') : null
        if (contentType !== null && contentType.length > MAX_CONTENT_TYPE_BYTES) {
          throw new ParamError('BAD_REQUEST', `contentType is ${contentType.length} bytes; the limit is ${MAX_CONTENT_TYPE_BYTES}`)
        }
        write(exchange, params.key, value, {
          ttlSeconds: ttlFromJson(envelope['ttl']), tags: tagsFromJson(envelope['tags']), contentType, ifMatch: params.ifMatch, ifNoneMatch: params.ifNoneMatch
        })
      })
    },
    DELETE: {
      access: 'tenant',
      parse: (res, req): DeleteParams | null => {
        const key = keyParameter(res, req, 0, maxKeyBytes)
        return key === null ? null : { key, ifMatch: parseEtags(req.getHeader('if-match')) }
      },
      run: (exchange, params: DeleteParams) => {
        const res = exchange.res
        const tenantId = exchange.principal.tenantId
        if (params.ifMatch !== null) {
          // Read-then-delete is atomic here: commands from every front end run on this thread.
          const current = currentCas(engine, tenantId, params.key)
          if (current === null || !etagMatches(params.ifMatch, current)) { sendError(res, 'PRECONDITION_FAILED', 'the item does not match If-Match'); return }
        }
        const result = engine.execute({ op: 'delete', tenantId, key: params.key }) as Result
        if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
        if (result.status !== StoreStatus.OK) { sendError(res, 'NOT_FOUND'); return }
        endWithoutBody(res.writeStatus('204 No Content'), null)
      }
    }
  })
}

/** If-Match / If-None-Match of a write; If-None-Match supports only `*` (create-only). */
function writeConditions (res: HttpResponse, req: HttpRequest): { ifMatch: EtagList | null, ifNoneMatch: EtagList | null } | null {
  const ifMatch = parseEtags(req.getHeader('if-match'))
  const ifNoneMatch = parseEtags(req.getHeader('if-none-match'))
  if (ifNoneMatch !== null && !ifNoneMatch.any) {
    sendError(res, 'BAD_REQUEST', 'on writes If-None-Match supports only * (create if absent)')
    return null
  }
  if (ifMatch !== null && ifNoneMatch !== null) {
    sendError(res, 'BAD_REQUEST', 'use either If-Match or If-None-Match, not both')
    return null
  }
  return { ifMatch, ifNoneMatch }
}

/** The item's CAS, or null when absent (or the lookup failed: a condition cannot hold then). */
function currentCas (engine: Engine, tenantId: number, key: Buffer): number | null {
  const result = engine.execute({ op: 'get', tenantId, key }) as Result
  return result.error === null && result.status === StoreStatus.OK ? result.cas : null
}
