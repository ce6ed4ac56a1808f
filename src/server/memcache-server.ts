/**
 * MemcacheServer: the memcached listener on node:net — text and binary protocol on one port,
 * chosen per connection by its first byte (MemcacheSession does the protocol work).
 * Thread: main. Owns: the listening socket, its connections, the memcached counters (`stats`)
 * and the timers of delayed flushes.
 * Invariants: replies leave in request order, with one socket.write per read batch; a socket
 * is not read while its session waits for a Promise result, has OUTPUT_HIGH_WATER_BYTES of
 * replies pending, or the socket has unflushed output past its high-water mark (resumed on
 * 'drain'); every admitted connection is released from the shared ConnectionBudget exactly
 * once, on 'close'; an exception in one connection closes that connection only.
 * Cluster mode (a router is given): sessions forward keyed requests to their owners and fan
 * flush_all out to every peer (a delayed flush fans out when it fires, from this node); `stats`
 * reports this node only.
 */
import { readFileSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { ClusterRouter } from '../cluster/cluster-types.js'
import type { Result } from '../command/command.js'
import type { Engine } from '../engine.js'
import { MemcacheCounters, MemcacheSession, SessionState, runOnEveryNode, type MemcacheBackend, type MemcacheLimits } from '../protocol/memcache-session.js'
import { REQUEST_MAGIC } from '../protocol/memcache-binary.js'
import { TextReply } from '../protocol/memcache-text.js'
import type { TenantRegistry } from '../tenants/tenant-registry.js'
import type { ConnectionBudget } from './connection-budget.js'
import type { Metrics } from './metrics.js'

/**
 * What `version` reports: the memcached protocol level slabcache follows (clients and
 * memcapable key behaviour on "1.6"), then slabcache's own version.
 */
export const MEMCACHE_VERSION = `1.6.0-slabcache-${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version}`
/** A refused connection gets this long to send its first byte (text or binary?) before it is told. */
const REFUSE_WAIT_MS = 1000
/** Refused connections held at once while their protocol is unknown; beyond, they are dropped at once. */
const MAX_REFUSING = 64
/** After our FIN, a peer that does not close within this is destroyed. */
const CLOSE_GRACE_MS = 5000
/** Longest setTimeout delay Node accepts; later flushes re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1

interface Connection {
  readonly socket: net.Socket
  readonly session: MemcacheSession
  closed: boolean
  /** The peer finished sending: close once every reply is out. */
  inputEnded: boolean
  /** We sent FIN (quit, framing lost, or the peer ended). */
  ending: boolean
  waiting: boolean
  draining: boolean
  scheduled: boolean
}

export class MemcacheServer {
  readonly counters = new MemcacheCounters()
  readonly #engine: Engine
  readonly #budget: ConnectionBudget
  readonly #server: net.Server
  readonly #backend: MemcacheBackend
  readonly #limits: MemcacheLimits
  readonly #metrics: Metrics | undefined
  readonly #router: ClusterRouter | null
  readonly #connections = new Set<Connection>()
  readonly #refusing = new Set<net.Socket>()
  readonly #flushes = new Map<number, { atMs: number, timer: NodeJS.Timeout }>()
  #closed = false
  port = 0

  /**
   * Without `tenants` nobody has credentials: every connection is the default tenant.
   * `metrics` receives one `memcache` latency observation per read batch. `router` (cluster
   * mode) routes keyed requests to their owners; null or absent: everything runs here.
   */
  constructor (engine: Engine, budget: ConnectionBudget, tenants?: TenantRegistry, metrics?: Metrics, router?: ClusterRouter | null) {
    this.#engine = engine
    this.#metrics = metrics
    this.#router = router ?? null
    this.#budget = budget
    const limits = engine.config.limits
    this.#limits = { maxKeyBytes: limits.maxKeyBytes, maxValueBytes: limits.maxValueBytes, maxRetrievalLineBytes: limits.maxRequestBytes }
    this.#backend = {
      execute: (command) => engine.execute(command),
      clock: engine.clock,
      counters: this.counters,
      version: MEMCACHE_VERSION,
      stats: (group) => group === '' ? this.#generalStats() : null,
      scheduleFlush: (tenantId, atMs) => this.#scheduleFlush(tenantId, atMs),
      dueFlush: (tenantId) => this.#dueFlush(tenantId),
      // With no credential configured anywhere, every SASL PLAIN login is the default tenant
      // (as every unauthenticated connection is); otherwise the registry checks the secret.
      authenticate: (user, password) => {
        if (tenants === undefined || !tenants.authRequired) return 0
        const outcome = tenants.authenticateFast(user, password)
        return outcome instanceof Promise ? outcome.then((tenantId) => tenantId ?? -1) : outcome ?? -1
      },
      // Read per request: a tenant created with a secret turns auth on without a restart.
      get authRequired () { return tenants?.authRequired ?? false },
      router: this.#router
    }
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket))
  }

  /** The protocol backend (counters, delayed flushes, SASL check), shared with the WebSocket stream. */
  get backend (): MemcacheBackend { return this.#backend }

  /** Listens on host:port (0 = ephemeral); resolves with the bound port. */
  async listen (host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject)
        resolve()
      })
    })
    this.port = (this.#server.address() as AddressInfo).port
    return this.port
  }

  /** Stops accepting, closes every connection and cancels delayed flushes. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const { timer } of this.#flushes.values()) clearTimeout(timer)
    this.#flushes.clear()
    const stopped = new Promise<void>((resolve) => {
      if (!this.#server.listening) { resolve(); return }
      this.#server.close(() => resolve())
    })
    for (const connection of this.#connections) connection.socket.destroy()
    for (const socket of this.#refusing) socket.destroy()
    await stopped
  }

  #accept (socket: net.Socket): void {
    socket.on('error', () => {}) // 'close' follows; a reset peer is not a server error
    if (this.#closed) {
      socket.destroy()
      return
    }
    if (!this.#budget.tryAdmit()) {
      this.#refuse(socket)
      return
    }
    const counters = this.counters
    counters.currConnections++
    counters.totalConnections++
    const connection: Connection = {
      socket,
      session: new MemcacheSession(this.#backend, this.#limits),
      closed: false,
      inputEnded: false,
      ending: false,
      waiting: false,
      draining: false,
      scheduled: false
    }
    this.#connections.add(connection)
    socket.on('data', (chunk: Buffer) => {
      if (connection.ending) return
      counters.bytesRead += chunk.length
      const startMs = this.#metrics === undefined ? 0 : performance.now()
      connection.session.push(chunk)
      this.#drive(connection)
      this.#metrics?.observeRequest('memcache', performance.now() - startMs)
    })
    socket.on('end', () => {
      connection.inputEnded = true
      this.#drive(connection)
    })
    socket.on('close', () => {
      connection.closed = true
      this.#connections.delete(connection)
      counters.currConnections--
      this.#budget.release()
    })
  }

  /**
   * Over the budget: a binary client (first byte 0x80) is closed; a text client is told
   * memcached's "ERROR Too many open connections" first. memcached writes that line at accept
   * time; waiting (briefly) for the first byte spares binary clients a line they cannot parse.
   */
  #refuse (socket: net.Socket): void {
    this.counters.rejectedConnections++
    if (this.#refusing.size >= MAX_REFUSING) {
      socket.destroy()
      return
    }
    this.#refusing.add(socket)
    const finish = (binary: boolean): void => {
      clearTimeout(timer)
      if (!this.#refusing.delete(socket)) return
      socket.pause()
      if (binary) socket.destroy()
      else endSocket(socket, TextReply.TOO_MANY_CONNECTIONS)
    }
    const timer = setTimeout(() => finish(false), REFUSE_WAIT_MS)
    socket.once('data', (chunk: Buffer) => finish(chunk[0] === REQUEST_MAGIC))
    socket.once('end', () => finish(false))
    socket.once('close', () => {
      clearTimeout(timer)
      this.#refusing.delete(socket)
    })
  }

  /** Runs the session, writes its replies, and decides whether to keep reading. */
  #drive (connection: Connection): void {
    if (connection.closed || connection.ending) return
    const { socket, session } = connection
    let state: SessionState
    try {
      state = session.run()
    } catch {
      // A bug in one request must not take the server down: drop this connection only.
      socket.destroy()
      return
    }
    const bytes = session.output.take()
    if (bytes !== null) {
      this.counters.bytesWritten += bytes.length
      socket.write(bytes)
      // Written at once (nothing queued): the output buffer can be reused from its start.
      if (socket.writableLength === 0) session.output.recycle()
    }
    switch (state) {
      case SessionState.CLOSING:
        connection.ending = true
        endSocket(socket)
        return
      case SessionState.WAITING:
        socket.pause()
        if (!connection.waiting) {
          connection.waiting = true
          void session.pending!.then(() => {
            connection.waiting = false
            this.#drive(connection)
          }, () => socket.destroy())
        }
        return
    }
    if (socket.writableNeedDrain) {
      socket.pause()
      if (!connection.draining) {
        connection.draining = true
        socket.once('drain', () => {
          connection.draining = false
          this.#drive(connection)
        })
      }
      return
    }
    if (state === SessionState.BLOCKED) {
      // The socket took everything at once: continue after other connections had a turn.
      socket.pause()
      if (!connection.scheduled) {
        connection.scheduled = true
        setImmediate(() => {
          connection.scheduled = false
          this.#drive(connection)
        })
      }
      return
    }
    if (connection.inputEnded) {
      connection.ending = true
      endSocket(socket)
      return
    }
    socket.resume()
  }

  #scheduleFlush (tenantId: number, atMs: number): void {
    const previous = this.#flushes.get(tenantId)
    if (previous !== undefined) clearTimeout(previous.timer)
    this.#flushes.delete(tenantId)
    if (atMs === 0 || this.#closed) return
    const timer = setTimeout(() => this.#fireFlush(tenantId), Math.min(MAX_TIMER_MS, Math.max(0, atMs - this.#engine.clock.nowMs())))
    timer.unref()
    this.#flushes.set(tenantId, { atMs, timer })
  }

  /** Checked before each request, so a debug clock moved past the time flushes at once. */
  #dueFlush (tenantId: number): Promise<Result> | null {
    if (this.#flushes.size === 0) return null
    const entry = this.#flushes.get(tenantId)
    if (entry === undefined || this.#engine.clock.nowMs() < entry.atMs) return null
    clearTimeout(entry.timer)
    this.#flushes.delete(tenantId)
    return this.#runFlush(tenantId)
  }

  /** Flushes `tenantId` now: here, and on every peer in cluster mode. */
  #runFlush (tenantId: number): Promise<Result> {
    const engine = this.#engine
    if (this.#router === null) return Promise.resolve(engine.execute({ op: 'flush', tenantId }))
    return runOnEveryNode((command) => engine.execute(command), this.#router, { op: 'flush', tenantId })
  }

  #fireFlush (tenantId: number): void {
    const entry = this.#flushes.get(tenantId)
    if (entry === undefined) return
    if (this.#engine.clock.nowMs() < entry.atMs) {
      // Early (the coarse clock lags a tick, or the delay exceeded MAX_TIMER_MS): re-arm.
      this.#scheduleFlush(tenantId, entry.atMs)
      return
    }
    this.#flushes.delete(tenantId)
    this.#runFlush(tenantId).catch(() => {})
  }

  /** General stats, with memcached's names, in memcached's order: this node's alone, also in cluster mode. */
  #generalStats (): Array<[string, string]> {
    const engine = this.#engine
    const stats = engine.stats()
    const c = this.counters
    const cpu = process.cpuUsage()
    let totalItems = 0
    for (let id = 0; id < engine.shards.count; id++) totalItems += engine.shards.store(id).tenantStats(0).sets
    const rows: Array<[string, number | string]> = [
      ['pid', process.pid],
      ['uptime', Math.floor(stats.uptimeMs / 1000)],
      ['time', Math.floor(engine.clock.nowMs() / 1000)],
      ['version', MEMCACHE_VERSION],
      ['pointer_size', 64],
      ['rusage_user', (cpu.user / 1e6).toFixed(6)],
      ['rusage_system', (cpu.system / 1e6).toFixed(6)],
      ['max_connections', this.#budget.max],
      ['curr_connections', c.currConnections],
      ['total_connections', c.totalConnections],
      ['rejected_connections', c.rejectedConnections],
      ['cmd_get', c.cmdGet],
      ['cmd_set', c.cmdSet],
      ['cmd_flush', c.cmdFlush],
      ['cmd_touch', c.cmdTouch],
      ['get_hits', c.getHits],
      ['get_misses', c.getMisses],
      ['delete_misses', c.deleteMisses],
      ['delete_hits', c.deleteHits],
      ['incr_misses', c.incrMisses],
      ['incr_hits', c.incrHits],
      ['decr_misses', c.decrMisses],
      ['decr_hits', c.decrHits],
      ['cas_misses', c.casMisses],
      ['cas_hits', c.casHits],
      ['cas_badval', c.casBadval],
      ['touch_hits', c.touchHits],
      ['touch_misses', c.touchMisses],
      ['auth_cmds', c.authCmds],
      ['auth_errors', c.authErrors],
      ['bytes_read', c.bytesRead],
      ['bytes_written', c.bytesWritten],
      ['limit_maxbytes', stats.memoryBytes],
      ['threads', 1],
      ['bytes', stats.itemBytes],
      ['curr_items', stats.items],
      ['total_items', totalItems],
      ['evictions', stats.evictions],
      // slabcache's own, beyond memcached's names:
      ['slabcache_expirations', stats.expirations],
      ['slabcache_shards', stats.shardCount]
    ]
    // Cluster mode: which node these numbers describe.
    if (this.#router !== null) rows.push(['slabcache_cluster_node', this.#router.selfId])
    return rows.map(([name, value]) => [name, String(value)])
  }
}

/** Half-closes after `data`; a peer that never closes its side is destroyed after CLOSE_GRACE_MS. */
function endSocket (socket: net.Socket, data?: string): void {
  if (data === undefined) socket.end()
  else socket.end(data, 'latin1')
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref()
}
