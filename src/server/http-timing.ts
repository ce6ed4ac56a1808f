/**
 * timeHttpRoutes: feeds the `http` request-duration histogram from every route of a uWS app by
 * wrapping each handler as it is registered. Thread: main. Owns: nothing (it replaces the app's
 * route-registration methods once, at construction).
 * What is measured: the handler's own main-thread time, from uWS calling it to its return —
 * the whole request for every handler that replies synchronously. A handler that waits for a
 * body (PUT, POST) replies from its last onData callback, which runs later and is not included.
 * One observation per request, pipelined ones included: uWS.js v20.30 runs each handler as a
 * separate callback (Node drains the nextTick and microtask queues after every one, even between
 * the requests of one read), so JS cannot tell where the batch uWS parsed from one read ends,
 * and a duration shared between requests would also count whatever ran in between.
 * Cost per request: two performance.now() calls and one observe (no allocation).
 */
import { performance } from 'node:perf_hooks'
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js'
import type { Metrics } from './metrics.js'

/** The app's route-registration methods (same signature: pattern, handler). */
const ROUTE_METHODS = ['get', 'post', 'put', 'del', 'patch', 'head', 'options', 'connect', 'trace', 'any'] as const

type Handler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>
type Register = (pattern: string, handler: Handler) => TemplatedApp

/** Makes every route registered on `app` from now on report its duration to `metrics`; returns `app`. */
export function timeHttpRoutes (app: TemplatedApp, metrics: Metrics): TemplatedApp {
  const routes = app as unknown as Record<string, Register>
  for (const method of ROUTE_METHODS) {
    const register = routes[method]!.bind(app)
    // No try/finally: an exception leaving a handler becomes an uncaughtException and, with no
    // reply written, uWS aborts the process (checked against v20.30), so there is no duration
    // worth observing then; the routes catch their own errors (exchange.ts).
    routes[method] = (pattern, handler) => register(pattern, (res, req) => {
      const startMs = performance.now()
      const returned = handler(res, req)
      metrics.observeRequest('http', performance.now() - startMs)
      return returned
    })
  }
  return app
}
