/**
 * GET /metrics: the Prometheus exposition of a Metrics instance, on the HTTP router.
 * Thread: main (uWS callbacks). Owns: nothing but the route.
 * Invariant (uWS rule, DESIGN §4): prom-client formats asynchronously, so the reply is deferred
 * through Exchange.settle (onAborted first, the reply inside cork, nothing after an abort).
 * A scrape is not meant to be pipelined behind other requests on one connection: uWS drops a
 * connection whose next request arrives while this response is pending.
 */
import type { Metrics } from './metrics.js'
import type { Router } from './http/router.js'

/**
 * Registers GET /metrics. Access is `admin`: when credentials are configured, a scrape needs
 * the admin token (`Authorization: Bearer <admin token>`; Prometheus `authorization` in the
 * scrape config), because the exposition names every tenant and its usage; without
 * credentials (loopback only, DESIGN §8) it is open like every endpoint.
 */
export function registerMetricsRoute (router: Router, metrics: Metrics): void {
  router.route('/metrics', {
    GET: {
      access: 'admin',
      parse: (): true => true,
      run: (exchange) => {
        exchange.settle(metrics.metrics(), (text) => {
          exchange.res.writeStatus('200 OK').writeHeader('Content-Type', metrics.contentType).end(text)
        })
      }
    }
  })
}
