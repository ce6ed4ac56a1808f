/**
 * timeHttpRoutes: feeds the `http` request-duration histogram from every route of a uWS app by
 * wrapping each handler as it is registered. Thread: main. Owns: nothing (it replaces the app's
 * route-registration methods once, at construction).
 * What is measured: the handler's own main-thread time, from uWS calling it to its return —
 * the whole request for every handler that replies synchronously. A handler that waits for a
 * body (PUT, POST) replies from its last onData callback, which runs later and is not included.
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
    routes[method] = (pattern, handler) => register(pattern, (res, req) => {
      const startMs = performance.now()
      try {
        return handler(res, req)
      } finally {
        metrics.observeRequest('http', performance.now() - startMs)
      }
    })
  }
  return app
}
