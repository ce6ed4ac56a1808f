/**
 * The request pipeline every HTTP endpoint runs through: authenticate, parse what the handler
 * needs from `req`, read the body under its limit, run the endpoint, and defer a reply safely
 * when something must be awaited. Thread: main (uWS callbacks; deferred replies inside cork).
 * Invariants (DESIGN §4, uWS rules):
 * - `req` is read only inside the handler (it is stack-allocated by uWS); `parse` copies out
 *   everything later steps need.
 * - A reply happens in the handler, in the body's last onData, or — only when a Promise must be
 *   awaited (scrypt on a first-seen credential, a heavy engine command) — inside `res.cork`
 *   after `res.onAborted` was registered in a uWS callback. An aborted exchange is never
 *   touched again. Only the deferred case can break pipelining (uWS drops a connection whose
 *   next pipelined request arrives while a response is pending), which is why cached
 *   credentials and inline commands answer synchronously.
 * - Every exchange ends exactly once: `ended` guards the body reader after an early refusal.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Result } from '../../command/command.js'
import { SlabcacheError, type ErrorCode } from '../../errors.js'
import { isRefusal, type AuthOutcome, type HttpAuthenticator, type Principal } from './auth.js'
import { bodyHeader, readBody, refuseDeclaredOverLimit } from './body.js'
import { sendError, sendErrorWith } from './reply.js'

/** State of one request/response pair once the handler has returned. */
export class Exchange {
  readonly res: HttpResponse
  principal: Principal
  /** The client went away: never touch `res` again. */
  aborted = false
  /** onAborted is registered (the reply may come later). */
  deferred = false
  /** A reply was sent (the body reader ignores further chunks). */
  ended = false

  constructor (res: HttpResponse, principal: Principal) {
    this.res = res
    this.principal = principal
  }

  /** Registers onAborted once; call only inside a uWS callback. */
  defer (): void {
    if (this.deferred) return
    this.deferred = true
    this.res.onAborted(() => { this.aborted = true })
  }

  /**
   * Replies with `reply(result)` now if `value` is a Result, or when its Promise settles
   * (see `settle`).
   */
  replyWhenDone (value: Result | Promise<Result>, reply: (result: Result) => void): void {
    if (value instanceof Promise) this.settle(value, reply)
    else reply(value)
  }

  /**
   * Replies with `reply(value)` when `promise` settles: inside cork, skipped if the client
   * left. A rejection with a SlabcacheError answers its code and message; anything else is
   * 500 INTERNAL. Call inside a uWS callback (it registers onAborted if needed).
   */
  settle<T> (promise: Promise<T>, reply: (value: T) => void): void {
    this.defer()
    promise.then(
      (value) => { if (!this.aborted) this.res.cork(() => reply(value)) },
      (error: unknown) => {
        if (this.aborted) return
        this.res.cork(() => {
          if (error instanceof SlabcacheError) sendError(this.res, error.code, error.message)
          else sendError(this.res, 'INTERNAL', error instanceof Error ? `internal error: ${error.message}` : undefined)
        })
      }
    )
  }
}

/** Who may call an endpoint. */
export type Access = 'public' | 'tenant' | 'admin'

/** One method on one route. `P` is what `parse` copies out of the request. */
export interface Endpoint<P> {
  readonly access: Access
  /** Absent: the body (if any) is ignored. */
  readonly body?: { readonly limitBytes: number, readonly tooLargeCode: ErrorCode }
  /** Reads params, query and headers while `req` is valid; replies and returns null if invalid. */
  readonly parse: (res: HttpResponse, req: HttpRequest) => P | null
  /** Runs with auth and body ready; must end the response (or defer via replyWhenDone). */
  readonly run: (exchange: Exchange, params: P, body: Buffer) => void
}

/** A public endpoint's principal: the default tenant without admin rights. */
const ANONYMOUS: Principal = { tenantId: 0, tenantName: 'default', admin: false }
const EMPTY_BODY = Buffer.alloc(0)
const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="slabcache"' } as const

/** 401 with the challenge header (RFC 6750). */
export function sendUnauthorized (res: HttpResponse, message: string, closeConnection = false): void {
  sendErrorWith(res, 'UNAUTHORIZED', message, CHALLENGE, null, closeConnection)
}

/**
 * Runs `endpoint` for one request. Allocates one Exchange (and, with a body or an awaited
 * credential, one or two closures).
 */
export function handle<P> (auth: HttpAuthenticator, endpoint: Endpoint<P>, res: HttpResponse, req: HttpRequest): void {
  let outcome: AuthOutcome | null = ANONYMOUS
  let authorization = ''
  if (endpoint.access !== 'public') {
    authorization = req.getHeader('authorization')
    outcome = auth.check(authorization)
    if (outcome !== null && refuseAccess(res, endpoint.access, outcome)) return
  }
  const params = endpoint.parse(res, req)
  if (params === null) return
  const spec = endpoint.body
  const header = spec !== undefined ? bodyHeader(req) : null
  if (spec !== undefined && refuseDeclaredOverLimit(res, header!, spec.limitBytes, spec.tooLargeCode)) return
  const exchange = new Exchange(res, outcome !== null && !isRefusal(outcome) ? outcome : ANONYMOUS)
  if (outcome !== null && spec === undefined) { runSafely(endpoint, exchange, params, EMPTY_BODY); return }

  exchange.defer()
  let body: Buffer | null = spec === undefined ? EMPTY_BODY : null
  let authorized = outcome !== null
  const proceed = (): void => {
    if (body !== null && authorized && !exchange.ended && !exchange.aborted) runSafely(endpoint, exchange, params, body)
  }
  if (spec !== undefined) {
    readBody(res, header!, spec.limitBytes, spec.tooLargeCode, () => exchange.aborted || exchange.ended, (complete) => {
      body = complete
      proceed()
    }, () => { exchange.ended = true })
  }
  if (outcome === null) {
    // First sight of this credential: scrypt runs off the request path and the reply is
    // deferred (documented: such a request is answered asynchronously; later ones are not).
    void auth.verify(authorization).then((verified) => {
      if (exchange.aborted || exchange.ended) return
      res.cork(() => {
        // A refusal while the body still streams closes the connection (the rest is unread).
        if (refuseAccess(res, endpoint.access, verified, body === null)) { exchange.ended = true; return }
        exchange.principal = verified as Principal
        authorized = true
        proceed()
      })
    })
  }
}

/**
 * Runs the endpoint; a bug that throws before the reply answers 500 INTERNAL instead of
 * unwinding through uWS (which would abort the process). If the reply was already written,
 * the second write throws too and is ignored: the client got its answer.
 */
function runSafely<P> (endpoint: Endpoint<P>, exchange: Exchange, params: P, body: Buffer): void {
  try {
    endpoint.run(exchange, params, body)
  } catch (error) {
    try {
      sendError(exchange.res, 'INTERNAL', error instanceof Error ? `internal error: ${error.message}` : undefined)
    } catch {}
  }
}

/** Answers 401/403 and returns true when `outcome` may not use an endpoint with `access`. */
function refuseAccess (res: HttpResponse, access: Access, outcome: AuthOutcome, closeConnection = false): boolean {
  if (isRefusal(outcome)) { sendUnauthorized(res, outcome.message, closeConnection); return true }
  if (access === 'admin' && !outcome.admin) {
    sendError(res, 'FORBIDDEN', 'this endpoint needs the admin token', closeConnection)
    return true
  }
  return false
}
