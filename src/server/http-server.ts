/**
 * HttpServer: the uWebSockets.js front end, composed from the route groups in `./http/`
 * (DESIGN §7): cache, batch (mget/mset), keys, tags, counters, rate limits, tenants (admin),
 * health/stats/debug, snapshots; bearer auth from the tenant registry (`http/tenant-auth.ts`). Thread: main. Owns: the uWS app and its listen socket.
 * Invariants (uWS rules, DESIGN §4): every response is completed inside a uWS callback — the
 * request handler itself (which uWS corks), or the body's last onData (which it does not: the
 * reply is written inside `res.cork`, `http/body.ts`) — never after an await, because uWS
 * closes a connection whose pipelined request arrives while an earlier response is pending;
 * the only exceptions are replies that must wait (a first-seen credential's scrypt, a heavy
 * engine command), which register onAborted first, answer inside `res.cork` and never touch
 * `res` after an abort (`http/exchange.ts`). Bodies are bounded before they are buffered: a
 * Content-Length over the limit is refused at once, and a streamed body is refused the moment
 * it crosses the limit (`http/body.ts`).
 * Cluster mode (`options.router`): keyed routes run on the key's owner (`http/cluster-dispatch.ts`),
 * batches split by owner, tag invalidation fans out; without a router the routes are registered
 * exactly as single-node ones (no cluster code on their paths).
 */
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import type { ClusterRouter } from '../cluster/cluster-types.js'
import type { Engine } from '../engine.js'
import { registerAdminRoutes } from './http/admin-routes.js'
import { OPEN_AUTHENTICATOR } from './http/auth.js'
import { registerCacheRoutes } from './http/cache-routes.js'
import { ClusterDispatch } from './http/cluster-dispatch.js'
import { registerClusterRoutes } from './http/cluster-routes.js'
import { registerCounterRoutes } from './http/counter-routes.js'
import { registerKeysRoutes } from './http/keys-routes.js'
import { registerMultiRoutes } from './http/multi-routes.js'
import { registerRateLimitRoutes } from './http/ratelimit-routes.js'
import { sendError } from './http/reply.js'
import { Router } from './http/router.js'
import { registerSnapshotRoutes } from './http/snapshot-routes.js'
import { registerTagRoutes } from './http/tag-routes.js'
import { registryAuthenticator } from './http/tenant-auth.js'
import { registerTenantRoutes } from './http/tenant-routes.js'
import type { TenantRegistry } from '../tenants/tenant-registry.js'
import type { SnapshotManager } from '../persist/snapshot-manager.js'
import { loadUws } from './uws-loader.js'
import { timeHttpRoutes } from './http-timing.js'
import type { Metrics } from './metrics.js'
import { registerMetricsRoute } from './metrics-route.js'
import { registerStreamRoute, type StreamDeps } from './ws-stream.js'

export interface HttpServerOptions {
  /**
   * Tenants and credentials: bearer auth on every endpoint but health, and the admin API under
   * /v1/tenants. Without it auth is off (everyone is the default tenant) and there is no
   * tenant API.
   */
  tenants?: TenantRegistry
  /** Prometheus metrics: request durations of every route, and `GET /metrics`. */
  metrics?: Metrics
  /** The WebSocket stream `/v1/stream`. */
  stream?: StreamDeps
  /** Snapshots and restore under /v1/snapshots; without it those paths are 404. */
  snapshots?: SnapshotManager
  /**
   * Cluster mode: keyed requests for keys owned elsewhere are forwarded to their owner, local
   * writes wait for replication (X-Slabcache-Consistency), and `GET /v1/cluster` reports
   * `router.status()`. Absent or null: single node (those routes answer NOT_CLUSTERED).
   */
  router?: ClusterRouter | null
  /** `POST /v1/cluster/leave`: hands this node's data off and leaves; absent: NOT_CLUSTERED. */
  clusterLeave?: () => Promise<void>
}

export class HttpServer {
  readonly #app: TemplatedApp
  #listenSocket: us_listen_socket | null = null
  port = 0

  /** Cancels the WebSocket stream's own timers (delayed flushes) at close. */
  readonly #closeStream: () => void

  constructor (engine: Engine, options: HttpServerOptions = {}) {
    const uws = loadUws()
    const app = uws.App()
    // Before any route: it wraps the registration methods so every handler is timed.
    if (options.metrics !== undefined) timeHttpRoutes(app, options.metrics)
    const tenants = options.tenants
    const router = new Router(app, tenants !== undefined ? registryAuthenticator(tenants) : OPEN_AUTHENTICATOR)
    const clusterRouter = options.router ?? null
    const cluster = clusterRouter === null ? null : new ClusterDispatch(engine, clusterRouter)
    registerCacheRoutes(router, engine, cluster)
    registerMultiRoutes(router, engine, cluster)
    // Key listing stays local in a cluster: each node lists the keys it holds (README).
    registerKeysRoutes(router, engine)
    registerTagRoutes(router, engine, cluster)
    registerCounterRoutes(router, engine, cluster)
    registerRateLimitRoutes(router, engine, cluster)
    registerAdminRoutes(router, engine)
    registerClusterRoutes(router, clusterRouter, options.clusterLeave ?? null, engine.config.limits.maxRequestBytes)
    if (tenants !== undefined) registerTenantRoutes(router, engine, tenants)
    if (options.snapshots !== undefined) registerSnapshotRoutes(router, options.snapshots, tenants)
    // Routes of other front ends (/metrics, /v1/stream), before the fallback.
    if (options.metrics !== undefined) registerMetricsRoute(router, options.metrics)
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
}
