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
import { declaredBodyBytes, readBody, refuseDeclaredOverLimit } from './body.js'
import { sendError, sendErrorWith } from './reply.js'
import { H_AUTHORIZATION } from './wire.js'

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
  /**
   * Absent: the body (if any) is ignored. `borrows`: `run` uses the body only before it
   * returns (it never keeps it nor hands it to something that answers later), so a body that
   * arrived in one chunk is passed as a view of uWS's chunk, without a copy.
   */
  readonly body?: { readonly limitBytes: number, readonly tooLargeCode: ErrorCode, readonly borrows?: boolean }
  /** Reads params, query and headers while `req` is valid; replies and returns null if invalid. */
  readonly parse: (res: HttpResponse, req: HttpRequest) => P | null
  /** Runs with auth and body ready; must end the response (or defer via replyWhenDone). */
  readonly run: (exchange: Exchange, params: P, body: Buffer) => void
  /**
   * Optional fast path of an endpoint without a body: called instead of `parse` + `run` when
   * the principal is known at once (auth off or a cached credential). It reads `req`, answers
   * before returning and never defers, so it may use scratch buffers instead of copies. An
   * endpoint whose principal must be awaited still goes through `parse` + `run`.
   */
  readonly respond?: (res: HttpResponse, req: HttpRequest, principal: Principal) => void
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
 * Runs `endpoint` for one request. Without a body and with a principal known at once it
 * allocates nothing here (`respond`) or one Exchange; with a body, a BodyExchange and the two
 * callbacks uWS needs (onAborted, onData).
 */
export function handle<P> (auth: HttpAuthenticator, endpoint: Endpoint<P>, res: HttpResponse, req: HttpRequest): void {
  let outcome: AuthOutcome | null = ANONYMOUS
  let authorization = ''
  if (endpoint.access !== 'public') {
    // Auth off: the header cannot change the outcome, so it is not read.
    if (auth.required()) authorization = req.getHeader(H_AUTHORIZATION)
    outcome = auth.check(authorization)
    if (outcome !== null && refuseAccess(res, endpoint.access, outcome)) return
  }
  const spec = endpoint.body
  if (spec === undefined && outcome !== null) {
    const principal = isRefusal(outcome) ? ANONYMOUS : outcome
    if (endpoint.respond !== undefined) { respondSafely(endpoint.respond, res, req, principal); return }
    const params = endpoint.parse(res, req)
    if (params === null) return
    runSafely(endpoint, new Exchange(res, principal), params, EMPTY_BODY)
    return
  }
  const params = endpoint.parse(res, req)
  if (params === null) return
  let declaredBytes = -1
  if (spec !== undefined) {
    declaredBytes = declaredBodyBytes(req)
    if (refuseDeclaredOverLimit(res, declaredBytes, spec.limitBytes, spec.tooLargeCode)) return
  }
  const exchange = new BodyExchange(res, outcome !== null && !isRefusal(outcome) ? outcome : ANONYMOUS, endpoint, params, outcome !== null)
  exchange.defer()
  if (spec !== undefined) readBody(res, declaredBytes, spec.limitBytes, spec.tooLargeCode, exchange)
  else exchange.complete(EMPTY_BODY, false)
  if (outcome === null) {
    // First sight of this credential: scrypt runs off the request path and the reply is
    // deferred (documented: such a request is answered asynchronously; later ones are not).
    void auth.verify(authorization).then((verified) => {
      if (exchange.closed) return
      res.cork(() => exchange.authorize(verified))
    })
  }
}

/**
 * An exchange that waits for its body, its credential's verification, or both; runs the
 * endpoint once both are there (inside the uWS callback that brought the last of them).
 */
class BodyExchange<P> extends Exchange {
  readonly #endpoint: Endpoint<P>
  readonly #params: P
  #body: Buffer | null = null
  #authorized: boolean

  constructor (res: HttpResponse, principal: Principal, endpoint: Endpoint<P>, params: P, authorized: boolean) {
    super(res, principal)
    this.#endpoint = endpoint
    this.#params = params
    this.#authorized = authorized
  }

  get closed (): boolean { return this.aborted || this.ended }

  complete (body: Buffer, borrowed: boolean): void {
    if (this.#authorized) {
      const keep = borrowed && this.#endpoint.body?.borrows !== true
      if (!this.closed) runSafely(this.#endpoint, this, this.#params, keep ? Buffer.from(body) : body)
      return
    }
    // Kept until the credential is verified: a borrowed view dies with this callback.
    this.#body = borrowed ? Buffer.from(body) : body
  }

  refused (): void { this.ended = true }

  /** The verified credential (inside res.cork): refuse, or run if the body is complete. */
  authorize (verified: AuthOutcome): void {
    // A refusal while the body still streams closes the connection (the rest is unread).
    if (refuseAccess(this.res, this.#endpoint.access, verified, this.#body === null)) { this.ended = true; return }
    this.principal = verified as Principal
    this.#authorized = true
    if (this.#body !== null) runSafely(this.#endpoint, this, this.#params, this.#body)
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

/** `runSafely` for an endpoint's `respond` fast path. */
function respondSafely (respond: NonNullable<Endpoint<unknown>['respond']>, res: HttpResponse, req: HttpRequest, principal: Principal): void {
  try {
    respond(res, req, principal)
  } catch (error) {
    try {
      sendError(res, 'INTERNAL', error instanceof Error ? `internal error: ${error.message}` : undefined)
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
