/**
 * GET /metrics: the Prometheus exposition of a Metrics instance, on the HTTP app.
 * Thread: main (uWS callbacks). Owns: nothing but the route.
 * Invariant (uWS rule, DESIGN §4): prom-client formats asynchronously, so the handler registers
 * onAborted before it returns and writes the reply inside res.cork once the text is ready, and
 * never touches `res` after an abort (a scraper that hung up must not crash the server).
 * A scrape is not meant to be pipelined behind other requests on one connection: uWS drops a
 * connection whose next request arrives while this response is pending.
 */
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js'
import { ERROR_CATALOG } from '../errors.js'
import type { Metrics } from './metrics.js'

/** Registers GET /metrics on `app`; call before the app's catch-all route. */
export function registerMetricsRoute (app: TemplatedApp, metrics: Metrics): void {
  app.get('/metrics', (res) => {
    let aborted = false
    res.onAborted(() => { aborted = true })
    metrics.metrics().then((text) => {
      if (aborted) return
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('Content-Type', metrics.contentType).end(text)
      })
    }, (error: unknown) => {
      if (aborted) return
      res.cork(() => internalError(res, error))
    })
  })
}

function internalError (res: HttpResponse, error: unknown): void {
  const message = `metrics could not be collected: ${error instanceof Error ? error.message : String(error)}`
  res.writeStatus('500 Internal Server Error')
    .writeHeader('Content-Type', 'application/json')
    .end(JSON.stringify({ error: { code: 'INTERNAL', message: message === '' ? ERROR_CATALOG.INTERNAL.message : message } }))
}
