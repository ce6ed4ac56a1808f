/**
 * Server: composes the engine and the front ends into one running slabcache, and stops them
 * in order. Thread: main. Used by the CLI (main.ts) and by integration tests, which start it on
 * ephemeral ports (port 0) and read the bound ports from the returned object.
 * Invariant: close() stops accepting first, then (graceful shutdown only) writes a snapshot,
 * then stops the snapshot jobs, the shard workers and the clock. Start-up restores the latest
 * whole snapshot before any listener opens, so no client ever sees a half-restored cache.
 */
import { Engine, type EngineOptions } from '../engine.js'
import type { Config } from '../config/load-config.js'
import { HttpServer } from './http-server.js'
import { ConnectionBudget } from './connection-budget.js'
import { MemcacheServer } from './memcache-server.js'
import { RespServer } from './resp-server.js'
import { loadUws } from './uws-loader.js'
import { Metrics } from './metrics.js'
import type { Logger } from '../util/log.js'
import { TenantRegistry } from '../tenants/tenant-registry.js'
import { checkProtectedMode } from './protected-mode.js'
import { SnapshotManager } from '../persist/snapshot-manager.js'
import { clusterEnabled } from '../config/options.js'
import { ClusterNode } from './cluster/cluster-node.js'
import { registerClusterMetrics } from './cluster/cluster-metrics.js'

export interface RunningServer {
  readonly engine: Engine
  /** Prometheus metrics (GET /metrics); front ends report request durations to it. */
  readonly metrics: Metrics
  readonly httpPort: number
  /** memcached protocol port (text and binary). */
  readonly memcachePort: number
  /** Redis protocol (RESP2) port. */
  readonly respPort: number
  /** Tenants, credentials and the admin token (loaded from `<dataDir>/tenants.json` and the config). */
  readonly tenants: TenantRegistry
  /** Snapshots and restore (`<dataDir>/snapshots/`). */
  readonly snapshots: SnapshotManager
  /** This node's cluster membership (null unless cluster mode: --cluster or --join). */
  readonly cluster: ClusterNode | null
  /** Peer protocol port (0 when not clustered). */
  readonly peerPort: number
  /**
   * Stops the server: listeners first, then (with `snapshot: true`, the CLI's graceful shutdown
   * when snapshot.onShutdown is on) a whole-server snapshot, then the jobs and the shards.
   * Later calls wait for the first one.
   */
  close: (options?: { snapshot?: boolean }) => Promise<void>
}

/** Starts slabcache with `config`; resolves once every port is listening. */
export async function startServer (config: Config, options: EngineOptions & { logger?: Logger } = {}): Promise<RunningServer> {
  const logger = options.logger
  // Refuse to start on uWS's slow pure-JS fallback: fail before any worker starts.
  loadUws()
  const engine = await Engine.start(config, {
    ...options,
    onShardRestart: (shardId, exitCode, repaired) => {
      logger?.warn({ shardId, exitCode, repaired }, 'shard worker exited; slab repaired and worker restarted')
      options.onShardRestart?.(shardId, exitCode, repaired)
    }
  })
  // Front ends are closed in reverse order of start; a listener that fails to bind closes the
  // ones already listening and the engine, so a failed start leaves nothing running.
  const closers: Array<() => Promise<void> | void> = [async () => await engine.close()]
  const stopAll = async (): Promise<void> => { for (const close of [...closers].reverse()) await close() }
  // Tenants before any listener: protected mode needs to know whether a credential exists
  // (in the config or in the tenant file), and no socket may open before that is decided.
  let tenants: TenantRegistry
  // Snapshots after tenants (their quotas apply to what a restore loads) and before any
  // listener: clients see either nothing or the whole restored cache.
  const snapshots = new SnapshotManager({
    dataDir: config.dataDir, shards: engine.shards, clock: engine.clock, intervalMs: config.snapshot.intervalMs, ...(logger !== undefined ? { logger } : {})
  })
  let snapshotOnClose = false
  closers.push(async () => {
    if (snapshotOnClose) {
      try {
        // An interval snapshot may be running: it started before the listeners closed, so
        // wait for it and take the shutdown snapshot after it.
        await snapshots.settle()
        await snapshots.save()
      } catch (error) {
        logger?.error({ err: error }, 'shutdown snapshot failed')
      }
    }
    await snapshots.close()
  })
  try {
    tenants = await TenantRegistry.open({ config, engine, ...(logger !== undefined ? { logger } : {}) })
    checkProtectedMode(config.host, tenants.authRequired)
    if (config.snapshot.restoreOnStart) await snapshots.restoreOnStart()
  } catch (error) {
    await stopAll()
    throw error
  }
  // The cluster before any client listener: a joining node receives its ranges first, and every
  // front end routes through the node from its first request.
  let cluster: ClusterNode | null = null
  try {
    if (clusterEnabled(config.cluster.enabled, config.cluster.join)) {
      cluster = await ClusterNode.start({ config, engine, logger, tenantConsistency: (id) => tenants.consistencyOf(id) })
      const node = cluster
      closers.push(async () => await node.close())
    }
  } catch (error) {
    await stopAll()
    throw error
  }
  // One budget of client connections shared by the TCP front ends (RESP, memcached) and the
  // WebSocket stream.
  const budget = new ConnectionBudget(config.limits.maxConnections)
  const metrics = new Metrics(engine, { tenantName: (id) => tenants.byId(id)?.name })
  if (cluster !== null) registerClusterMetrics(metrics.registry, cluster)
  const memcache = new MemcacheServer(engine, budget, tenants, metrics, cluster)
  const resp = new RespServer(engine, budget, logger, tenants, metrics, snapshots, cluster)
  cluster?.setRespExecutor(async (tenantId, argv, consistency) => await resp.executeForPeer(tenantId, argv, consistency))
  // The stream speaks memcached binary with the TCP server's backend: one SASL check (auth is
  // required on the stream exactly when it is on TCP), one set of `stats` counters.
  const http = new HttpServer(engine, {
    tenants,
    metrics,
    stream: { engine, budget, metrics, backend: memcache.backend, router: cluster },
    snapshots,
    router: cluster,
    ...(cluster !== null ? { clusterLeave: async () => { await cluster!.leave() } } : {})
  })
  try {
    await http.listen(config.host, config.httpPort)
    closers.push(() => http.close())
    closers.push(async () => await memcache.close())
    await memcache.listen(config.host, config.memcachePort)
    closers.push(async () => await resp.close())
    await resp.listen(config.host, config.respPort)
  } catch (error) {
    await stopAll()
    throw error
  }
  let closed: Promise<void> | null = null
  return {
    engine,
    metrics,
    httpPort: http.port,
    memcachePort: memcache.port,
    respPort: resp.port,
    tenants,
    snapshots,
    cluster,
    peerPort: cluster?.peerPort ?? 0,
    close: async (options = {}) => {
      if (closed === null && options.snapshot === true) snapshotOnClose = true
      closed ??= stopAll()
      await closed
    }
  }
}
