/**
 * `/v1/cache/{key}`: raw-value GET / HEAD / PUT / DELETE with the stored Content-Type, TTL and
 * tags from the query or `X-Slabcache-*` headers, ETag = CAS with If-None-Match (304) and
 * If-Match (412), and POST with the JSON envelope `{value, encoding?, ttl?, tags?, contentType?}`.
 * GET `?envelope=1` answers the envelope `{key, value, encoding?, ttl, tags, contentType, cas}`.
 * Thread: main. Every reply is synchronous (inline engine commands), so pipelining holds.
 * Conditional writes are one store operation (CAS / ADD / REPLACE mode); a multi-tag If-Match
 * and conditional DELETE read the CAS first, which is atomic because every front end runs
 * commands on this one thread.
 * Hot path (native-bench/RESULTS.md, "HTTP path, optimisation round 3"): a GET/HEAD without a
 * query string whose principal is known at once answers from `respond` with the key decoded
 * into a scratch buffer, a reused get command, header names, status lines and the ETag as
 * bytes, and a reused view of the value: it allocates nothing of its own.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Command, Result } from '../../command/command.js'
import { SetMode, StoreStatus } from '../../core/store-status.js'
import type { Engine } from '../../engine.js'
import { etagMatches, parseEtags, type EtagList } from './conditions.js'
import type { Principal } from './auth.js'
import type { Exchange } from './exchange.js'
import { getCommand, setCommand, storedContentType, tagsOf, type WriteSpec } from './item-commands.js'
import {
  answerParamErrors, jsonObject, keyIntoScratch, keyParameter, ParamError, tagsFromJson, tagsFromRequest, ttlFromJson, ttlFromRequest,
  TTL_RULE, valueFromJson, valueToJson
} from './params.js'
import { endWithoutBody, sendError } from './reply.js'
import type { Router } from './router.js'
import {
  APPLICATION_JSON, CONTENT_TYPE, ETAG, EtagWriter, FIELD_VALUE, FIELD_VALUE_RULE, fieldValueKind, H_CONTENT_TYPE, H_IF_MATCH, H_IF_NONE_MATCH,
  isFieldValue, NOT_FIELD_VALUE, OCTET_STREAM, ScratchViews, STATUS_204, STATUS_304, TypeAndEtagWriter
} from './wire.js'

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
    return { key, ifNoneMatch: parseEtags(req.getHeader(H_IF_NONE_MATCH)), envelope: envelope === '1' || envelope === 'true' }
  }

  // Reused by every synchronous read (valid only until the reply is written).
  const keyScratch = new ScratchViews(3 * maxKeyBytes)
  const etags = new EtagWriter()
  const typeAndEtag = new TypeAndEtagWriter(MAX_CONTENT_TYPE_BYTES)
  const plainGet: Command & { op: 'get' } = { op: 'get', tenantId: 0, key: keyScratch.bytes }
  /** The last value view handed to uWS, reused while the engine's value buffer and length repeat. */
  let lastValue: Buffer | null = null
  let lastValueView: Buffer = Buffer.alloc(0)

  const read = (res: HttpResponse, tenantId: number, key: Buffer, ifNoneMatch: EtagList | null, envelope: boolean, headOnly: boolean): void => {
    let command: Command = plainGet
    if (envelope) command = getCommand(tenantId, key, true)
    else { plainGet.tenantId = tenantId; plainGet.key = key }
    const result = engine.execute(command) as Result
    if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
    if (result.status !== StoreStatus.OK) { sendError(res, 'NOT_FOUND'); return }
    const cas = result.cas
    if (ifNoneMatch !== null && etagMatches(ifNoneMatch, cas)) {
      res.writeStatus(STATUS_304).writeHeader(ETAG, etags.of(cas))
      endWithoutBody(res, null)
      return
    }
    if (envelope) {
      const body = {
        key: key.toString('utf8'),
        ...valueToJson(result.value!.subarray(0, result.valueLength)),
        contentType: storedContentType(result),
        tags: tagsOf(result),
        cas,
        ttl: 0 as number | null
      }
      // A second inline command on this thread: nothing can run between the two.
      const ttl = engine.execute({ op: 'ttl', tenantId, key }) as Result
      body.ttl = ttl.ttlMs < 0 ? null : Math.ceil(ttl.ttlMs / 1000)
      const text = JSON.stringify(body)
      res.writeHeader(CONTENT_TYPE, APPLICATION_JSON).writeHeader(ETAG, etags.of(cas))
      if (headOnly) endWithoutBody(res, Buffer.byteLength(text))
      else res.end(text)
      return
    }
    // uWS writes `200 OK` itself before the first header. The stored type goes out as its
    // bytes when they are ASCII (the same bytes its latin1 string would give).
    // A stored type that is not a valid header value (written before writes were checked) is
    // not sent: it could add header lines.
    const stored = result.contentType
    const kind = stored === null || stored.length === 0 ? NOT_FIELD_VALUE : fieldValueKind(stored)
    const type = kind === NOT_FIELD_VALUE ? OCTET_STREAM : stored!
    const ascii = kind !== FIELD_VALUE
    const both = ascii ? typeAndEtag.of(type, cas) : null
    if (both !== null) res.writeHeader(CONTENT_TYPE, both)
    else res.writeHeader(CONTENT_TYPE, ascii ? type : type.toString('latin1')).writeHeader(ETAG, etags.of(cas))
    const valueLength = result.valueLength
    if (headOnly) { endWithoutBody(res, valueLength); return }
    const value = result.value!
    if (value !== lastValue || lastValueView.length !== valueLength) {
      lastValue = value
      lastValueView = value.subarray(0, valueLength)
    }
    res.end(lastValueView)
  }

  /** GET / HEAD answered before the handler returns (see Endpoint.respond). */
  const respondRead = (headOnly: boolean) => (res: HttpResponse, req: HttpRequest, principal: Principal): void => {
    const query = req.getQuery()
    if (query !== '' && query !== undefined) {
      const params = parseRead(res, req)
      if (params !== null) read(res, principal.tenantId, params.key, params.ifNoneMatch, params.envelope, headOnly)
      return
    }
    const key = keyIntoScratch(req, 0, maxKeyBytes, keyScratch) ?? keyParameter(res, req, 0, maxKeyBytes)
    if (key === null) return
    read(res, principal.tenantId, key, parseEtags(req.getHeader(H_IF_NONE_MATCH)), false, headOnly)
  }

  /** Reused by every write (setCommand reads it before returning). */
  const writeSpec: { -readonly [F in keyof WriteSpec]: WriteSpec[F] } = { ttlSeconds: 0, tags: null, contentType: null, mode: SetMode.SET, casExpected: 0 }

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
    const spec = writeSpec
    spec.ttlSeconds = params.ttlSeconds
    spec.tags = params.tags
    spec.contentType = params.contentType
    spec.mode = mode
    spec.casExpected = casExpected
    const result = engine.execute(setCommand(tenantId, key, value, spec)) as Result
    if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
    if (result.status !== StoreStatus.OK) {
      // NOT_STORED (ADD on a present key, REPLACE on an absent one), EXISTS (CAS mismatch),
      // NOT_FOUND (CAS on an absent key): the precondition did not hold.
      sendError(res, 'PRECONDITION_FAILED', params.ifNoneMatch !== null ? 'the key exists (If-None-Match: *)' : 'the item does not match If-Match')
      return
    }
    res.writeStatus(STATUS_204).writeHeader(ETAG, etags.of(result.cas))
    endWithoutBody(res, null)
  }

  /** The last Content-Type header seen on a PUT and its bytes (clients repeat theirs). */
  let lastTypeHeader = ''
  let lastTypeBytes: Buffer | null = null

  const parseWrite = (res: HttpResponse, req: HttpRequest): WriteParams | null => {
    const key = keyParameter(res, req, 0, maxKeyBytes)
    if (key === null) return null
    const query = req.getQuery()
    const hasQuery = query !== '' && query !== undefined
    const ttlSeconds = ttlFromRequest(req, hasQuery)
    if (ttlSeconds < 0) { sendError(res, 'BAD_REQUEST', TTL_RULE); return null }
    let tags: Buffer[] | null
    try {
      tags = tagsFromRequest(req, hasQuery)
    } catch (error) {
      sendError(res, 'BAD_REQUEST', (error as ParamError).message)
      return null
    }
    const conditions = writeConditions(res, req)
    if (conditions === null) return null
    const typeHeader = req.getHeader(H_CONTENT_TYPE)
    let contentType: Buffer | null = null
    if (typeHeader !== '') {
      // Never mutated: the engine copies the bytes into the slab. Only checked bytes are kept.
      if (typeHeader !== lastTypeHeader || lastTypeBytes === null) {
        const bytes = Buffer.from(typeHeader, 'latin1')
        if (!isFieldValue(bytes)) { sendError(res, 'BAD_REQUEST', `Content-Type must be ${FIELD_VALUE_RULE}`); return null }
        lastTypeBytes = bytes
        lastTypeHeader = typeHeader
      }
      contentType = lastTypeBytes
    }
    if (contentType !== null && contentType.length > MAX_CONTENT_TYPE_BYTES) {
      sendError(res, 'BAD_REQUEST', `Content-Type is ${contentType.length} bytes; the limit is ${MAX_CONTENT_TYPE_BYTES}`)
      return null
    }
    return { key, ttlSeconds, tags, contentType, ifMatch: conditions.ifMatch, ifNoneMatch: conditions.ifNoneMatch }
  }

  router.route('/v1/cache/:key', {
    GET: {
      access: 'tenant',
      parse: parseRead,
      run: (exchange, params: ReadParams) => read(exchange.res, exchange.principal.tenantId, params.key, params.ifNoneMatch, params.envelope, false),
      respond: respondRead(false)
    },
    HEAD: {
      access: 'tenant',
      parse: parseRead,
      run: (exchange, params: ReadParams) => read(exchange.res, exchange.principal.tenantId, params.key, params.ifNoneMatch, params.envelope, true),
      respond: respondRead(true)
    },
    PUT: {
      access: 'tenant',
      // write() hands the body to one inline set, which copies it into the slab.
      body: { limitBytes: limits.maxValueBytes, tooLargeCode: 'VALUE_TOO_LARGE', borrows: true },
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
        if (contentType !== null && !isFieldValue(contentType)) throw new ParamError('BAD_REQUEST', `contentType must be ${FIELD_VALUE_RULE}`)
        write(exchange, params.key, value, {
          ttlSeconds: ttlFromJson(envelope['ttl']), tags: tagsFromJson(envelope['tags']), contentType, ifMatch: params.ifMatch, ifNoneMatch: params.ifNoneMatch
        })
      })
    },
    DELETE: {
      access: 'tenant',
      parse: (res, req): DeleteParams | null => {
        const key = keyParameter(res, req, 0, maxKeyBytes)
        return key === null ? null : { key, ifMatch: parseEtags(req.getHeader(H_IF_MATCH)) }
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
        res.writeStatus(STATUS_204)
        endWithoutBody(res, null)
      }
    }
  })
}

interface WriteConditions { ifMatch: EtagList | null, ifNoneMatch: EtagList | null }
const UNCONDITIONAL: WriteConditions = { ifMatch: null, ifNoneMatch: null }

/** If-Match / If-None-Match of a write; If-None-Match supports only `*` (create-only). */
function writeConditions (res: HttpResponse, req: HttpRequest): WriteConditions | null {
  const ifMatch = parseEtags(req.getHeader(H_IF_MATCH))
  const ifNoneMatch = parseEtags(req.getHeader(H_IF_NONE_MATCH))
  if (ifMatch === null && ifNoneMatch === null) return UNCONDITIONAL
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
