/**
 * Route registration on the uWS app: each path pattern gets its methods' handlers plus an
 * `any` handler that answers 405 METHOD_NOT_ALLOWED with an `Allow` header. Thread: main.
 * uWS prefers a method-specific handler over `any` on the same pattern, and a specific pattern
 * over the `/*` fallback (404), so the three layers never overlap.
 */
import type { TemplatedApp } from 'uWebSockets.js'
import type { HttpAuthenticator } from './auth.js'
import { handle, type Endpoint } from './exchange.js'
import { sendErrorWith } from './reply.js'

/** The methods a route may define, by their HTTP names. */
export interface Methods {
  readonly GET?: Endpoint<any>
  readonly HEAD?: Endpoint<any>
  readonly PUT?: Endpoint<any>
  readonly POST?: Endpoint<any>
  readonly DELETE?: Endpoint<any>
}

const REGISTER = {
  GET: 'get', HEAD: 'head', PUT: 'put', POST: 'post', DELETE: 'del'
} as const satisfies Record<keyof Methods, keyof TemplatedApp>

export class Router {
  readonly #app: TemplatedApp
  readonly #auth: HttpAuthenticator

  constructor (app: TemplatedApp, auth: HttpAuthenticator) {
    this.#app = app
    this.#auth = auth
  }

  /** Registers `methods` on `pattern` (uWS syntax: `/v1/cache/:key`) and the 405 fallback. */
  route (pattern: string, methods: Methods): this {
    const auth = this.#auth
    const names = Object.keys(methods) as Array<keyof Methods>
    for (const name of names) {
      const endpoint = methods[name]!
      this.#app[REGISTER[name]](pattern, (res, req) => handle(auth, endpoint, res, req))
    }
    const allow = { Allow: names.join(', ') }
    const message = `${pattern.replace(/:(\w+)/g, '{$1}')} allows ${names.join(', ')}`
    this.#app.any(pattern, (res) => sendErrorWith(res, 'METHOD_NOT_ALLOWED', message, allow, null))
    return this
  }
}
