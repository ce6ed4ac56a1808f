/**
 * `/v1/cache/{key}`: raw-value GET / HEAD / PUT / DELETE with the stored Content-Type, TTL and
 * tags from the query or `X-Slabcache-*` headers, ETag = CAS with If-None-Match (304) and
 * If-Match (412), and POST with the JSON envelope `{value, encoding?, ttl?, tags?, contentType?}`.
 * GET `?envelope=1` answers the envelope `{key, value, encoding?, ttl, tags, contentType, cas}`.
 * Thread: main. Single-node, every reply is synchronous (inline engine commands), so pipelining
 * holds. In a cluster (`cluster` non-null, cluster-dispatch.ts) a key owned by another node is
 * forwarded and answered from the owner's Result exactly as a local one (its reply is deferred),
 * and a local write's reply waits for its replication acknowledgements.
 * Conditional writes are one store operation (CAS / ADD / REPLACE mode); a multi-tag If-Match
 * and conditional DELETE read the CAS first, which is atomic because every front end runs
 * commands on this one thread.
 * Hot path (native-bench/RESULTS.md, "HTTP path, optimisation round 3"): a GET/HEAD without a
 * query string whose principal is known at once answers from `respond` with the key decoded
 * into a scratch buffer, a reused get command, header names, status lines and the ETag as
 * bytes, and a reused view of the value: it allocates nothing of its own; it reads If-None-Match
 * only for a hit. Bodiless replies with an ETag (204 after a write, 304) write status and ETag in
 * one writeStatus call (wire.ts `StatusAndEtagWriter`), and a single-node write reuses one set
 * command.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Command, Result } from '../../command/command.js'
import type { ConsistencyMode } from '../../cluster/cluster-types.js'
import { SetMode, StoreStatus } from '../../core/store-status.js'
import type { Engine } from '../../engine.js'
import { etagMatches, parseEtags, type EtagList } from './conditions.js'
import type { Principal } from './auth.js'
import { INVALID_CONSISTENCY, parseConsistency, type ClusterDispatch } from './cluster-dispatch.js'
import { Exchange } from './exchange.js'
import { getCommand, setCommand, storedContentType, tagsOf, type WriteSpec } from './item-commands.js'
import {
  answerParamErrors, jsonObject, keyIntoScratch, keyParameter, ParamError, tagsFromJson, tagsFromRequest, ttlFromJson, ttlFromRequest,
  TTL_RULE, valueFromJson, valueToJson
} from './params.js'
import { endWithoutBody, sendError } from './reply.js'
import type { Router } from './router.js'
import {
  APPLICATION_JSON, CONTENT_TYPE, ETAG, EtagWriter, FIELD_VALUE, FIELD_VALUE_RULE, fieldValueKind, H_CONTENT_TYPE, H_IF_MATCH, H_IF_NONE_MATCH,
  isFieldValue, NOT_FIELD_VALUE, OCTET_STREAM, ScratchViews, STATUS_204, STATUS_304, StatusAndEtagWriter, TypeAndEtagWriter
} from './wire.js'

const EMPTY_BYTES = new Uint8Array(0)

/** Longest stored Content-Type (the slab keeps its length in one byte). */
export const MAX_CONTENT_TYPE_BYTES = 255

/** `consistency`: the X-Slabcache-Consistency header (null: absent, or single-node: not read). */
interface ReadParams { key: Buffer, ifNoneMatch: EtagList | null, envelope: boolean, consistency: ConsistencyMode | null }
interface WriteParams { key: Buffer, ifMatch: EtagList | null, ifNoneMatch: EtagList | null, ttlSeconds: number, tags: Buffer[] | null, contentType: Buffer | null, consistency: ConsistencyMode | null }
interface DeleteParams { key: Buffer, ifMatch: EtagList | null, consistency: ConsistencyMode | null }

const ENVELOPE_SHAPE = '{"value": string, "encoding"?: "base64", "ttl"?: seconds, "tags"?: [string], "contentType"?: string}'

/** The cache routes; `cluster` (null: single node) routes every key to its owner. */
export function registerCacheRoutes (router: Router, engine: Engine, cluster: ClusterDispatch | null = null): void {
  const limits = engine.config.limits
  const maxKeyBytes = limits.maxKeyBytes

  /** The consistency header in cluster mode (else null, unread); undefined after a 400. */
  const consistencyOf = (res: HttpResponse, req: HttpRequest): ConsistencyMode | null | undefined => {
    if (cluster === null) return null
    const consistency = parseConsistency(res, req)
    return consistency === INVALID_CONSISTENCY ? undefined : consistency
  }

  const parseRead = (res: HttpResponse, req: HttpRequest): ReadParams | null => {
    const key = keyParameter(res, req, 0, maxKeyBytes)
    if (key === null) return null
    const envelope = req.getQuery('envelope')
    const consistency = consistencyOf(res, req)
    if (consistency === undefined) return null
    return { key, ifNoneMatch: parseEtags(req.getHeader(H_IF_NONE_MATCH)), envelope: envelope === '1' || envelope === 'true', consistency }
  }

  // Reused by every synchronous read (valid only until the reply is written).
  const keyScratch = new ScratchViews(3 * maxKeyBytes)
  const etags = new EtagWriter()
  const typeAndEtag = new TypeAndEtagWriter(MAX_CONTENT_TYPE_BYTES)
  const notModified = new StatusAndEtagWriter(STATUS_304)
  const written = new StatusAndEtagWriter(STATUS_204)
  const plainGet: Command & { op: 'get' } = { op: 'get', tenantId: 0, key: keyScratch.bytes }
  /** The last value view handed to uWS, reused while the engine's value buffer and length repeat. */
  let lastValue: Buffer | null = null
  let lastValueView: Buffer = Buffer.alloc(0)

  const read = (res: HttpResponse, tenantId: number, key: Buffer, ifNoneMatch: EtagList | null, envelope: boolean, headOnly: boolean): void => {
    let command: Command = plainGet
    if (envelope) command = getCommand(tenantId, key, true)
    else { plainGet.tenantId = tenantId; plainGet.key = key }
    answerRead(res, tenantId, engine.execute(command) as Result, key, ifNoneMatch, envelope, headOnly, false, null)
  }

  /**
   * Answers a read from its get Result. `owned`: the Result is a detached or forwarded one
   * (its value is exactly valueLength bytes, not the engine's scratch). `ttl`: for an envelope,
   * the owner's ttl Result; null: the key is local and its ttl is read here.
   */
  const answerRead = (
    res: HttpResponse, tenantId: number, result: Result, key: Buffer, ifNoneMatch: EtagList | null, envelope: boolean, headOnly: boolean,
    owned: boolean, ttl: Result | null
  ): void => {
    if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
    if (result.status !== StoreStatus.OK) { sendError(res, 'NOT_FOUND'); return }
    const cas = result.cas
    if (ifNoneMatch !== null && etagMatches(ifNoneMatch, cas)) {
      const line = notModified.of(cas)
      if (line !== null) res.writeStatus(line)
      else res.writeStatus(STATUS_304).writeHeader(ETAG, etags.of(cas))
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
      const ttlMs = (ttl ?? engine.execute({ op: 'ttl', tenantId, key }) as Result).ttlMs
      body.ttl = ttlMs < 0 ? null : Math.ceil(ttlMs / 1000)
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
    // Not kept as the reused view: it would hold a forwarded value alive.
    if (owned) { res.end(value.subarray(0, valueLength)); return }
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
    const tenantId = principal.tenantId
    plainGet.tenantId = tenantId
    plainGet.key = key
    const result = engine.execute(plainGet) as Result
    // If-None-Match can only change a hit's answer (a miss or an error is the same without
    // it), so it is read after the lookup, and only for a hit: one native call less per miss.
    // `req` is still valid: the engine answered inline, inside this handler.
    const ifNoneMatch = result.error === null && result.status === StoreStatus.OK ? parseEtags(req.getHeader(H_IF_NONE_MATCH)) : null
    answerRead(res, tenantId, result, key, ifNoneMatch, false, headOnly, false, null)
  }

  /**
   * Cluster `respond`: a key this node serves takes the single-node fast path; one owned
   * elsewhere is parsed into copies (the scratch key dies with this callback) and forwarded.
   */
  const respondReadClustered = (headOnly: boolean, dispatch: ClusterDispatch) => {
    const local = respondRead(headOnly)
    return (res: HttpResponse, req: HttpRequest, principal: Principal): void => {
      const key = keyIntoScratch(req, 0, maxKeyBytes, keyScratch)
      if (key !== null && dispatch.ownerOf(principal.tenantId, key) === null) {
        if (parseConsistency(res, req) !== INVALID_CONSISTENCY) local(res, req, principal)
        return
      }
      const params = parseRead(res, req)
      if (params !== null) runRead(new Exchange(res, principal), params, headOnly)
    }
  }

  /** GET / HEAD through `parse` + `run`: here, or on the key's owner in a cluster. */
  const runRead = (exchange: Exchange, params: ReadParams, headOnly: boolean): void => {
    const tenantId = exchange.principal.tenantId
    const key = params.key
    if (cluster === null || cluster.ownerOf(tenantId, key) === null) {
      read(exchange.res, tenantId, key, params.ifNoneMatch, params.envelope, headOnly)
      return
    }
    const consistency = cluster.consistency(tenantId, params.consistency)
    const got = cluster.resultOf(tenantId, key, getCommand(tenantId, key, params.envelope), consistency)
    // The envelope's ttl is a second command on the owner, sent at once beside the get.
    const both: Promise<[Result, Result | null]> = params.envelope
      ? Promise.all([got, cluster.resultOf(tenantId, key, { op: 'ttl', tenantId, key }, consistency)])
      : got.then((result) => [result, null])
    exchange.settle(both, ([result, ttl]) => answerRead(exchange.res, tenantId, result, key, params.ifNoneMatch, params.envelope, headOnly, true, ttl))
  }

  /**
   * The set command of every single-node write, reused: the inline set reads it and copies key,
   * value, tags and type into the slab before returning. A clustered write may be forwarded and
   * encoded later, so it gets its own (setCommand).
   */
  const inlineSet: Command & { op: 'set' } = {
    op: 'set', tenantId: 0, key: EMPTY_BYTES, value: EMPTY_BYTES, mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0, tags: undefined, contentType: undefined
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
      } else if (cluster !== null && cluster.ownerOf(tenantId, key) !== null) {
        writeAfterRemoteCas(exchange, cluster, key, value, params)
        return
      } else {
        const current = currentCas(engine, tenantId, key)
        if (current === null || !etagMatches(params.ifMatch, current)) { sendError(res, 'PRECONDITION_FAILED'); return }
        mode = SetMode.CAS
        casExpected = current
      }
    }
    if (cluster === null) {
      const set = inlineSet
      set.tenantId = tenantId
      set.key = key
      set.value = value
      set.mode = mode
      set.ttlMs = params.ttlSeconds * 1000
      set.casExpected = casExpected
      set.tags = params.tags ?? undefined
      set.contentType = params.contentType ?? undefined
      const result = engine.execute(set) as Result
      // Not kept past the call: the value may be a view of uWS's chunk, or a large body.
      set.key = EMPTY_BYTES
      set.value = EMPTY_BYTES
      set.tags = undefined
      set.contentType = undefined
      answerWrite(res, result, params.ifNoneMatch !== null)
      return
    }
    const spec = writeSpec
    spec.ttlSeconds = params.ttlSeconds
    spec.tags = params.tags
    spec.contentType = params.contentType
    spec.mode = mode
    spec.casExpected = casExpected
    const command = setCommand(tenantId, key, value, spec)
    cluster.run(exchange, tenantId, key, command, params.consistency, (result) => answerWrite(exchange.res, result, params.ifNoneMatch !== null))
  }

  /**
   * A multi-tag If-Match on a key owned elsewhere: the owner's CAS is read first, then the write
   * is a CAS on it there, so a change in between still fails the write (412), as locally.
   */
  const writeAfterRemoteCas = (exchange: Exchange, dispatch: ClusterDispatch, key: Buffer, value: Uint8Array, params: Omit<WriteParams, 'key'>): void => {
    const tenantId = exchange.principal.tenantId
    const consistency = dispatch.consistency(tenantId, params.consistency)
    const written = dispatch.resultOf(tenantId, key, getCommand(tenantId, key), consistency).then(async (current) => {
      if (current.error !== null || current.status !== StoreStatus.OK || !etagMatches(params.ifMatch!, current.cas)) return null
      // A fresh spec: the shared writeSpec belongs to whichever request runs now.
      const spec: WriteSpec = { ttlSeconds: params.ttlSeconds, tags: params.tags, contentType: params.contentType, mode: SetMode.CAS, casExpected: current.cas }
      return await dispatch.resultOf(tenantId, key, setCommand(tenantId, key, value, spec), consistency)
    })
    exchange.settle(written, (result) => {
      if (result === null) sendError(exchange.res, 'PRECONDITION_FAILED')
      else answerWrite(exchange.res, result, false)
    })
  }

  /** 204 + ETag, or the write's error; a failed condition is 412. */
  const answerWrite = (res: HttpResponse, result: Result, createOnly: boolean): void => {
    if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
    if (result.status !== StoreStatus.OK) {
      // NOT_STORED (ADD on a present key, REPLACE on an absent one), EXISTS (CAS mismatch),
      // NOT_FOUND (CAS on an absent key): the precondition did not hold.
      sendError(res, 'PRECONDITION_FAILED', createOnly ? 'the key exists (If-None-Match: *)' : 'the item does not match If-Match')
      return
    }
    const line = written.of(result.cas)
    if (line !== null) res.writeStatus(line)
    else res.writeStatus(STATUS_204).writeHeader(ETAG, etags.of(result.cas))
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
    const consistency = consistencyOf(res, req)
    if (consistency === undefined) return null
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
    return { key, ttlSeconds, tags, contentType, ifMatch: conditions.ifMatch, ifNoneMatch: conditions.ifNoneMatch, consistency }
  }

  router.route('/v1/cache/:key', {
    GET: {
      access: 'tenant',
      parse: parseRead,
      run: (exchange, params: ReadParams) => runRead(exchange, params, false),
      respond: cluster === null ? respondRead(false) : respondReadClustered(false, cluster)
    },
    HEAD: {
      access: 'tenant',
      parse: parseRead,
      run: (exchange, params: ReadParams) => runRead(exchange, params, true),
      respond: cluster === null ? respondRead(true) : respondReadClustered(true, cluster)
    },
    PUT: {
      access: 'tenant',
      // write() hands the body to one inline set, which copies it into the slab. In a cluster
      // it may be forwarded (encoded later): then the body is a copy the command owns.
      body: { limitBytes: limits.maxValueBytes, tooLargeCode: 'VALUE_TOO_LARGE', borrows: cluster === null },
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
        if (conditions === null) return null
        const consistency = consistencyOf(res, req)
        return consistency === undefined ? null : { key, ...conditions, consistency }
      },
      run: (exchange, params: { key: Buffer, ifMatch: EtagList | null, ifNoneMatch: EtagList | null, consistency: ConsistencyMode | null }, body) => answerParamErrors(exchange.res, () => {
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
          ttlSeconds: ttlFromJson(envelope['ttl']), tags: tagsFromJson(envelope['tags']), contentType, ifMatch: params.ifMatch, ifNoneMatch: params.ifNoneMatch, consistency: params.consistency
        })
      })
    },
    DELETE: {
      access: 'tenant',
      parse: (res, req): DeleteParams | null => {
        const key = keyParameter(res, req, 0, maxKeyBytes)
        if (key === null) return null
        const consistency = consistencyOf(res, req)
        return consistency === undefined ? null : { key, ifMatch: parseEtags(req.getHeader(H_IF_MATCH)), consistency }
      },
      run: (exchange, params: DeleteParams) => {
        const res = exchange.res
        const tenantId = exchange.principal.tenantId
        if (cluster !== null) { deleteClustered(exchange, cluster, params); return }
        if (params.ifMatch !== null) {
          // Read-then-delete is atomic here: commands from every front end run on this thread.
          const current = currentCas(engine, tenantId, params.key)
          if (current === null || !etagMatches(params.ifMatch, current)) { sendError(res, 'PRECONDITION_FAILED', 'the item does not match If-Match'); return }
        }
        answerDelete(res, engine.execute({ op: 'delete', tenantId, key: params.key }) as Result)
      }
    }
  })

  /**
   * DELETE in a cluster. A conditional one on a key owned elsewhere reads the owner's CAS, then
   * deletes: two round trips, so unlike a local one it is not atomic (there is no
   * compare-and-delete command): a write landing in between is deleted too.
   */
  const deleteClustered = (exchange: Exchange, dispatch: ClusterDispatch, params: DeleteParams): void => {
    const tenantId = exchange.principal.tenantId
    const key = params.key
    const command: Command = { op: 'delete', tenantId, key }
    const ifMatch = params.ifMatch
    if (dispatch.ownerOf(tenantId, key) === null) {
      if (ifMatch !== null) {
        const current = currentCas(engine, tenantId, key)
        if (current === null || !etagMatches(ifMatch, current)) { sendError(exchange.res, 'PRECONDITION_FAILED', 'the item does not match If-Match'); return }
      }
      dispatch.run(exchange, tenantId, key, command, params.consistency, (result) => answerDelete(exchange.res, result))
      return
    }
    const consistency = dispatch.consistency(tenantId, params.consistency)
    if (ifMatch === null) { exchange.settle(dispatch.resultOf(tenantId, key, command, consistency), (result) => answerDelete(exchange.res, result)); return }
    const deleted = dispatch.resultOf(tenantId, key, getCommand(tenantId, key), consistency).then(async (current) => {
      if (current.error !== null || current.status !== StoreStatus.OK || !etagMatches(ifMatch, current.cas)) return null
      return await dispatch.resultOf(tenantId, key, command, consistency)
    })
    exchange.settle(deleted, (result) => {
      if (result === null) sendError(exchange.res, 'PRECONDITION_FAILED', 'the item does not match If-Match')
      else answerDelete(exchange.res, result)
    })
  }
}

/** 204, 404 NOT_FOUND, or the delete's error. */
function answerDelete (res: HttpResponse, result: Result): void {
  if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
  if (result.status !== StoreStatus.OK) { sendError(res, 'NOT_FOUND'); return }
  res.writeStatus(STATUS_204)
  endWithoutBody(res, null)
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
