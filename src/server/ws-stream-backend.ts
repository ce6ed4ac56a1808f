/**
 * createStreamBackend: a memcached protocol backend of its own for the WebSocket stream, used
 * when the server does not hand the stream the TCP memcached server's backend. Thread: main.
 * Owns: the stream's memcached counters (`stats`) and the timers of its delayed flushes.
 * Invariant: a delayed flush_all fires at most once per tenant and schedule (a later schedule or
 * a flush now replaces it), and is also run on the next request once the (debug) clock has
 * passed its time, exactly as the TCP server does. With a router (cluster mode) sessions route
 * keyed requests to their owners and flushes, delayed ones included, run on every node.
 */
import type { ClusterRouter } from '../cluster/cluster-types.js'
import type { Result } from '../command/command.js'
import type { Engine } from '../engine.js'
import { MemcacheCounters, runOnEveryNode, type MemcacheBackend } from '../protocol/memcache-session.js'
import { MEMCACHE_VERSION } from './memcache-server.js'

/** Longest setTimeout delay Node accepts; later flushes re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * A backend over `engine`. `authenticate` is the SASL PLAIN check (tenant id or -1); without one
 * every login is the default tenant, as on the TCP port until auth is configured. `router`:
 * cluster mode (null or absent: everything runs on `engine`).
 */
export function createStreamBackend (engine: Engine, authenticate: (user: string, password: string) => number = () => 0, router: ClusterRouter | null = null): MemcacheBackend & { close: () => void } {
  const counters = new MemcacheCounters()
  const flushes = new Map<number, { atMs: number, timer: NodeJS.Timeout }>()
  const runFlush = (tenantId: number): Promise<Result> => router === null
    ? Promise.resolve(engine.execute({ op: 'flush', tenantId }))
    : runOnEveryNode((command) => engine.execute(command), router, { op: 'flush', tenantId })
  const schedule = (tenantId: number, atMs: number): void => {
    const previous = flushes.get(tenantId)
    if (previous !== undefined) clearTimeout(previous.timer)
    flushes.delete(tenantId)
    if (atMs === 0) return
    const timer = setTimeout(() => {
      const entry = flushes.get(tenantId)
      if (entry === undefined) return
      // Early (the coarse clock lags, or the delay exceeded MAX_TIMER_MS): re-arm.
      if (engine.clock.nowMs() < entry.atMs) { schedule(tenantId, entry.atMs); return }
      flushes.delete(tenantId)
      runFlush(tenantId).catch(() => {})
    }, Math.min(MAX_TIMER_MS, Math.max(0, atMs - engine.clock.nowMs())))
    timer.unref()
    flushes.set(tenantId, { atMs, timer })
  }
  return {
    execute: (command) => engine.execute(command),
    clock: engine.clock,
    counters,
    version: MEMCACHE_VERSION,
    stats: (group) => {
      if (group !== '') return null
      const stats = engine.stats()
      const rows: Array<[string, number | string]> = [
        ['pid', process.pid], ['uptime', Math.floor(stats.uptimeMs / 1000)], ['time', Math.floor(engine.clock.nowMs() / 1000)],
        ['version', MEMCACHE_VERSION], ['cmd_get', counters.cmdGet], ['cmd_set', counters.cmdSet], ['cmd_flush', counters.cmdFlush],
        ['cmd_touch', counters.cmdTouch], ['get_hits', counters.getHits], ['get_misses', counters.getMisses],
        ['delete_hits', counters.deleteHits], ['delete_misses', counters.deleteMisses], ['auth_cmds', counters.authCmds],
        ['auth_errors', counters.authErrors], ['limit_maxbytes', stats.memoryBytes], ['bytes', stats.itemBytes],
        ['curr_items', stats.items], ['evictions', stats.evictions]
      ]
      // This node's numbers, also in cluster mode (the row says which node).
      if (router !== null) rows.push(['slabcache_cluster_node', router.selfId])
      return rows.map(([name, value]) => [name, String(value)] as const)
    },
    scheduleFlush: schedule,
    dueFlush: (tenantId) => {
      if (flushes.size === 0) return null
      const entry = flushes.get(tenantId)
      if (entry === undefined || engine.clock.nowMs() < entry.atMs) return null
      clearTimeout(entry.timer)
      flushes.delete(tenantId)
      return runFlush(tenantId)
    },
    authenticate,
    router,
    close: () => {
      for (const { timer } of flushes.values()) clearTimeout(timer)
      flushes.clear()
    }
  }
}
