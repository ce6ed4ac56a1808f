/**
 * HttpServer: the uWebSockets.js front end (minimal surface for now: raw-value CRUD under
 * /v1/cache/{key}, health, stats, debug clock). Thread: main.
 * Owns: the uWS app and its listen socket.
 * Invariants (uWS rules, DESIGN §4): every response is completed inside a uWS callback — the
 * request handler itself, or the body's last onData — never after an await, because uWS
 * closes a connection whose pipelined request arrives while an earlier response is pending;
 * a handler that returns without replying registers onAborted first and never touches `res`
 * after an abort. Bodies are bounded before they are buffered: a Content-Length over the limit
 * is refused at once, and a streamed body is refused the moment it crosses the limit.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import { Result } from '../command/command.js'
import { SetMode, StoreStatus } from '../core/store-status.js'
import type { Engine } from '../engine.js'
import { ERROR_CATALOG, type ErrorCode } from '../errors.js'
import { loadUws } from './uws-loader.js'
import { timeHttpRoutes } from './http-timing.js'
import type { Metrics } from './metrics.js'
import { registerMetricsRoute } from './metrics-route.js'
import { registerStreamRoute, type StreamDeps } from './ws-stream.js'

/** Tenant of unauthenticated requests until tenants and auth arrive. */
const DEFAULT_TENANT = 0
/** Longest TTL accepted, seconds (ten years, as an upper bound on nonsense). */
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 204: '204 No Content', 400: '400 Bad Request', 403: '403 Forbidden', 404: '404 Not Found',
  405: '405 Method Not Allowed', 409: '409 Conflict', 413: '413 Payload Too Large', 414: '414 URI Too Long',
  500: '500 Internal Server Error', 503: '503 Service Unavailable', 507: '507 Insufficient Storage'
}

export class HttpServer {
  readonly #engine: Engine
  readonly #app: TemplatedApp
  #listenSocket: us_listen_socket | null = null
  port = 0

  /** Cancels the WebSocket stream's own timers (delayed flushes) at close. */
  readonly #closeStream: () => void

  constructor (engine: Engine, options: { metrics?: Metrics, stream?: StreamDeps } = {}) {
    this.#engine = engine
    const uws = loadUws()
    const app = uws.App()
    if (options.metrics !== undefined) timeHttpRoutes(app, options.metrics)
    app.get('/v1/cache/:key', (res, req) => this.#get(res, req, false))
    app.head('/v1/cache/:key', (res, req) => this.#get(res, req, true))
    app.put('/v1/cache/:key', (res, req) => this.#put(res, req))
    app.del('/v1/cache/:key', (res, req) => this.#delete(res, req))
    app.get('/v1/health', (res) => this.#health(res))
    app.get('/v1/stats', (res) => json(res, 200, engine.stats()))
    app.post('/v1/debug/clock', (res, req) => this.#debugClock(res, req))
    if (options.metrics !== undefined) registerMetricsRoute(app, options.metrics)
    this.#closeStream = options.stream !== undefined ? registerStreamRoute(app, options.stream) : () => {}
    app.any('/*', (res) => sendError(res, 'NOT_FOUND', 'no such endpoint'))
    this.#app = app
  }

  /** Listens on host:port (0 = ephemeral); resolves with the bound port. */
  async listen (host: string, port: number): Promise<number> {
    const uws = loadUws()
    return await new Promise((resolve, reject) => {
      this.#app.listen(host, port, (socket) => {
        if (socket === false) {
          reject(new Error(`HTTP server could not listen on ${host}:${port}`))
          return
        }
        this.#listenSocket = socket
        this.port = uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0])
        resolve(this.port)
      })
    })
  }

  /** Stops listening and closes every open connection (uWS apps must close before exit). */
  close (): void {
    if (this.#listenSocket !== null) loadUws().us_listen_socket_close(this.#listenSocket)
    this.#listenSocket = null
    this.#closeStream()
    // `close` exists on the native app in v20.30 but is missing from its type declarations.
    ;(this.#app as unknown as { close: () => void }).close()
  }

  #get (res: HttpResponse, req: HttpRequest, headOnly: boolean): void {
    const key = keyParameter(res, req, this.#engine.config.limits.maxKeyBytes)
    if (key === null) return
    const result = this.#engine.execute({ op: 'get', tenantId: DEFAULT_TENANT, key }) as Result
    if (result.error !== null) { sendError(res, result.error); return }
    if (result.status !== StoreStatus.OK) { sendError(res, 'NOT_FOUND'); return }
    res.writeStatus('200 OK')
      .writeHeader('Content-Type', 'application/octet-stream')
      .writeHeader('ETag', `"${result.cas}"`)
    if (headOnly) endWithoutBody(res, result.valueLength)
    else res.end(result.value!.subarray(0, result.valueLength))
  }

  #put (res: HttpResponse, req: HttpRequest): void {
    const limits = this.#engine.config.limits
    const key = keyParameter(res, req, limits.maxKeyBytes)
    if (key === null) return
    const ttlSeconds = ttlParameter(req.getQuery('ttl'))
    if (ttlSeconds < 0) { sendError(res, 'BAD_REQUEST', `ttl must be an integer number of seconds from 1 to ${MAX_TTL_SECONDS}`); return }
    const lengthHeader = req.getHeader('content-length')
    const declared = lengthHeader === '' ? -1 : Number(lengthHeader)
    if (declared > limits.maxValueBytes) {
      sendError(res, 'VALUE_TOO_LARGE', `value is ${declared} bytes; the limit is ${limits.maxValueBytes}`, true)
      return
    }
    let body = Buffer.allocUnsafe(declared >= 0 ? declared : 1024)
    let received = 0
    let aborted = false
    res.onAborted(() => { aborted = true })
    res.onData((chunk, isLast) => {
      if (aborted) return
      const bytes = chunk.byteLength
      if (received + bytes > limits.maxValueBytes) {
        aborted = true
        sendError(res, 'VALUE_TOO_LARGE', `value exceeds the limit of ${limits.maxValueBytes} bytes`, true)
        return
      }
      if (received + bytes > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(limits.maxValueBytes, Math.max(received + bytes, body.length * 2)))
        body.copy(grown, 0, 0, received)
        body = grown
      }
      // uWS reuses `chunk` after this callback returns: copy now.
      body.set(new Uint8Array(chunk), received)
      received += bytes
      if (!isLast) return
      const result = this.#engine.execute({
        op: 'set', tenantId: DEFAULT_TENANT, key, value: body.subarray(0, received), mode: SetMode.SET,
        ttlMs: ttlSeconds * 1000, flags: 0, keepTtl: false, casExpected: 0
      }) as Result
      if (result.error !== null) { sendError(res, result.error); return }
      endWithoutBody(res.writeStatus('204 No Content').writeHeader('ETag', `"${result.cas}"`), null)
    })
  }

  #delete (res: HttpResponse, req: HttpRequest): void {
    const key = keyParameter(res, req, this.#engine.config.limits.maxKeyBytes)
    if (key === null) return
    const result = this.#engine.execute({ op: 'delete', tenantId: DEFAULT_TENANT, key }) as Result
    if (result.error !== null) { sendError(res, result.error); return }
    if (result.status !== StoreStatus.OK) { sendError(res, 'NOT_FOUND'); return }
    endWithoutBody(res.writeStatus('204 No Content'), null)
  }

  #health (res: HttpResponse): void {
    const shards = this.#engine.shards
    const alive = Array.from({ length: shards.count }, (_, id) => shards.alive(id))
    const ok = alive.every(Boolean)
    json(res, ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', shards: alive.map((up, id) => ({ id, up, restarts: shards.restarts(id) })) })
  }

  #debugClock (res: HttpResponse, _req: HttpRequest): void {
    const limit = this.#engine.config.limits.maxRequestBytes
    let body = ''
    let received = 0
    let aborted = false
    res.onAborted(() => { aborted = true })
    res.onData((chunk, isLast) => {
      if (aborted) return
      received += chunk.byteLength
      if (received > limit) { aborted = true; sendError(res, 'REQUEST_TOO_LARGE', `request body exceeds ${limit} bytes`, true); return }
      body += Buffer.from(chunk).toString()
      if (!isLast) return
      let advanceMs: unknown
      try { advanceMs = (JSON.parse(body) as { advanceMs?: unknown }).advanceMs } catch { advanceMs = undefined }
      if (typeof advanceMs !== 'number') { sendError(res, 'BAD_REQUEST', 'body must be JSON {"advanceMs": <number>}'); return }
      const result = this.#engine.execute({ op: 'debugClock', advanceMs }) as Result
      if (result.error !== null) { sendError(res, result.error, result.errorMessage); return }
      json(res, 200, { nowMs: this.#engine.clock.nowMs() })
    })
  }
}

/** Decodes the :key parameter to bytes; answers the request itself and returns null if invalid. */
function keyParameter (res: HttpResponse, req: HttpRequest, maxKeyBytes: number): Buffer | null {
  let text: string
  try {
    text = decodeURIComponent(req.getParameter(0))
  } catch {
    sendError(res, 'BAD_REQUEST', 'key is not valid percent-encoded UTF-8')
    return null
  }
  const key = Buffer.from(text)
  if (key.length > maxKeyBytes) {
    sendError(res, 'KEY_TOO_LARGE', `key is ${key.length} bytes; the limit is ${maxKeyBytes}`)
    return null
  }
  return key
}

/** Parses ?ttl= (seconds): 0 when absent, -1 when invalid. */
function ttlParameter (raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0
  if (!/^[0-9]{1,10}$/.test(raw)) return -1
  const seconds = Number(raw)
  return seconds >= 1 && seconds <= MAX_TTL_SECONDS ? seconds : -1
}

/**
 * Ends a response without a body: a HEAD reporting `contentLength`, or a 204 (null: no
 * Content-Length at all). uWS v20.30 mishandles `endWithoutBody(length)`: the response does not
 * count as ended, so the process aborts when the handler returns, or (with an abort handler)
 * the next pipelined request finds it pending and the connection is dropped. Writing the header
 * ourselves and calling `endWithoutBody()` with no arguments works (test/integration/http-pipelining.ts).
 */
function endWithoutBody (res: HttpResponse, contentLength: number | null): void {
  if (contentLength !== null) res.writeHeader('Content-Length', String(contentLength))
  res.endWithoutBody()
}

function json (res: HttpResponse, status: number, body: unknown): void {
  res.writeStatus(STATUS_TEXT[status] ?? `${status} Unknown`).writeHeader('Content-Type', 'application/json').end(JSON.stringify(body))
}

/** Sends the JSON error `{ error: { code, message } }` with the catalog's HTTP status. */
function sendError (res: HttpResponse, code: ErrorCode, message?: string, closeConnection = false): void {
  const entry = ERROR_CATALOG[code]
  res.writeStatus(STATUS_TEXT[entry.httpStatus] ?? `${entry.httpStatus} Error`)
    .writeHeader('Content-Type', 'application/json')
    .end(JSON.stringify({ error: { code, message: message ?? entry.message } }), closeConnection)
}
