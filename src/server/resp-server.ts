/**
 * RespServer: the Redis protocol (RESP2) front end on `node:net`. Thread: main.
 * Owns: the listening socket and every RESP connection (its parser, writer and session).
 * Per connection, each 'data' chunk is parsed and its commands run in order; the replies of
 * the batch are written with one socket write.
 * Invariants:
 *  - replies leave in request order: a command whose reply is a Promise (FLUSHALL) holds back
 *    the connection's later commands — they are not even run — until it has replied;
 *  - memory per connection is bounded: the parser bounds each request, and reading stops
 *    (socket.pause) while a Promise is pending or more than OUTPUT_LIMIT_BYTES of replies sit
 *    unsent, resuming on 'drain';
 *  - admission is by the shared ConnectionBudget; a client over it gets
 *    `-ERR max number of clients reached` and is closed; the budget is released exactly once;
 *  - a socket error or a client vanishing mid-reply closes that connection only;
 *  - cluster mode (a router): commands for keys other members own are forwarded and pipelined:
 *    the connection goes on parsing and running later commands while up to
 *    MAX_FORWARDS_IN_FLIGHT forwards are pending; each forward's reply keeps a slot in the reply
 *    queue and the local replies behind it wait there, so replies still leave in request order.
 *    Commands that are not keyed (AUTH, CLIENT, QUIT, FLUSHALL, KEYS …) are barriers: they run
 *    only once every forward before them has answered. `executeForPeer` runs members'
 *    forwarded commands here without routing them again.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { readFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import type { ClusterRouter, ConsistencyMode } from '../cluster/cluster-types.js'
import type { Engine } from '../engine.js'
import { DeferredReply, RespCommands } from '../protocol/resp-commands.js'
import { RespCounters, RespSession, type RespHost, type RespProcessInfo, type RespSettings } from '../protocol/resp-context.js'
import { ERR_MAX_CLIENTS } from '../protocol/resp-errors.js'
import { ParseStatus, RespParser } from '../protocol/resp-parser.js'
import { RespWriter } from '../protocol/resp-writer.js'
import type { Logger } from '../util/log.js'
import type { TenantRegistry } from '../tenants/tenant-registry.js'
import type { ConnectionBudget } from './connection-budget.js'
import type { Metrics } from './metrics.js'
import type { SnapshotManager } from '../persist/snapshot-manager.js'
import { respSnapshots } from './resp-snapshots.js'

/**
 * Unsent reply bytes at which a connection stops running commands and reading: the batch is
 * flushed mid-way when the writer passes it, and reading resumes once the socket drains.
 */
const OUTPUT_LIMIT_BYTES = 1024 * 1024
/**
 * Forwarded (or split) commands one connection may have pending at once; at the cap it stops
 * running commands and reading until one answers. 128 covers `redis-benchmark -P 128`.
 */
const MAX_FORWARDS_IN_FLIGHT = 128
const MAX_CLIENTS_REPLY = Buffer.from(`-${ERR_MAX_CLIENTS}\r\n`)
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

export class RespServer {
  readonly #engine: Engine
  readonly #budget: ConnectionBudget
  readonly #logger: Logger | undefined
  readonly #metrics: Metrics | undefined
  readonly #commands: RespCommands
  readonly #counters = new RespCounters()
  readonly #connections = new Set<RespConnection>()
  readonly #server: Server
  readonly #runId = randomBytes(20).toString('hex')
  #nextClientId = 1
  port = 0

  /** Without `tenants` nobody has credentials: every connection is the default tenant. */
  /** `metrics` receives one `resp` latency observation per read batch (the commands of one chunk). */
  /** Without `snapshots`, SAVE, BGSAVE, LASTSAVE, SNAPSHOT and RESTORE answer that snapshots are unavailable. */
  /** Without `router` (single node) every command runs here, exactly as before clustering. */
  constructor (engine: Engine, budget: ConnectionBudget, logger?: Logger, tenants?: TenantRegistry, metrics?: Metrics, snapshots?: SnapshotManager, router?: ClusterRouter | null) {
    this.#engine = engine
    this.#metrics = metrics
    this.#budget = budget
    this.#logger = logger
    const limits = engine.config.limits
    const settings: RespSettings = {
      maxKeyBytes: limits.maxKeyBytes,
      maxValueBytes: limits.maxValueBytes,
      maxRequestBytes: limits.maxRequestBytes,
      maxConnections: limits.maxConnections,
      memoryBytes: engine.config.memoryBytes,
      bindHost: engine.config.host
    }
    const host: RespHost = {
      execute: (command) => engine.execute(command),
      nowMs: () => engine.clock.nowMs(),
      settings,
      counters: this.#counters,
      processInfo: () => this.#processInfo(),
      tenantItems: (tenantId) => {
        let items = 0
        for (let id = 0; id < engine.shards.count; id++) items += engine.shards.store(id).tenantStats(tenantId).items
        return items
      },
      // Read per command: a tenant created with a secret turns auth on without a restart.
      get authRequired () { return tenants?.authRequired ?? false },
      ...(tenants !== undefined
        ? {
            authenticate: (user: string, secret: string) => tenants.authenticateFast(user, secret),
            tenantId: (name: string) => tenants.byName(name)?.id,
            tenantName: (tenantId: number) => tenants.byId(tenantId)?.name
          }
        : {}),
      ...(snapshots !== undefined ? { snapshots: respSnapshots(snapshots, Date.now(), logger) } : {}),
      router: router ?? null
    }
    this.#commands = new RespCommands(host)
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket))
  }

  /** Listens on host:port (0 = ephemeral); resolves with the bound port. */
  async listen (host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error)
      this.#server.once('error', onError)
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError)
        resolve()
      })
    })
    const address = this.#server.address()
    this.port = typeof address === 'object' && address !== null ? address.port : port
    this.#server.on('error', (error) => this.#logger?.error({ err: error }, 'RESP listener error'))
    return this.port
  }

  /**
   * Runs one RESP command a cluster member forwarded, as an authenticated session of
   * `tenantId` writing with `consistency`, here and without routing it again; resolves with its
   * complete reply bytes (an error reply is a result, not a rejection). Sessions are reused
   * per tenant; `argv` must not change until the Promise settles.
   */
  async executeForPeer (tenantId: number, argv: readonly Uint8Array[], consistency: ConsistencyMode): Promise<Buffer> {
    return await this.#commands.executeForPeer(tenantId, argv, consistency)
  }

  /** Stops accepting and closes every connection (replies not yet sent are dropped). */
  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (!this.#server.listening) { resolve(); return }
      this.#server.close(() => resolve())
    })
    for (const connection of this.#connections) connection.destroy()
    await closed
  }

  #accept (socket: Socket): void {
    socket.on('error', () => {}) // a reset or EPIPE closes this connection only ('close' follows)
    this.#counters.totalConnectionsReceived++
    if (!this.#budget.tryAdmit()) {
      this.#counters.rejectedConnections++
      socket.end(MAX_CLIENTS_REPLY, () => socket.destroy())
      return
    }
    this.#counters.connectedClients++
    const connection = new RespConnection(socket, this.#commands, this.#nextClientId++, this.#engine.clock.nowMs(), this.#engine.config.limits.maxRequestBytes, this.#metrics)
    this.#connections.add(connection)
    socket.once('close', () => {
      this.#connections.delete(connection)
      this.#counters.connectedClients--
      this.#budget.release()
    })
  }

  #processInfo (): RespProcessInfo {
    return {
      version: VERSION,
      processId: process.pid,
      os: `${process.platform} ${process.arch}`,
      archBits: process.arch.endsWith('64') ? 64 : 32,
      runId: this.#runId,
      tcpPort: this.port,
      rssBytes: process.memoryUsage.rss(),
      executable: process.argv[1] ?? process.execPath
    }
  }
}

/**
 * A place in a connection's reply order ahead of its writer's bytes: a deferred reply not yet
 * answered (bytes null), or complete bytes (an answered one, or local replies queued behind one).
 */
interface ReplySlot { bytes: Buffer | null }

/** One client: parser → commands → writer → socket, with ordering and backpressure. */
class RespConnection {
  readonly #socket: Socket
  readonly #commands: RespCommands
  readonly #parser: RespParser
  readonly #session: RespSession
  /**
   * No command may run now: a command's reply is a pending Promise, or (#forwardWait) the
   * connection waits for its forwards in flight. Reading is paused meanwhile.
   */
  #stalled = false
  /** Too many unsent bytes: waiting for 'drain'. */
  #draining = false
  /** An #answered() is scheduled for the end of this I/O phase. */
  #answerScheduled = false
  /** The client finished sending (half-close): end once everything is answered. */
  #readEnded = false
  /** QUIT or a protocol error: the connection ends after the replies; input is ignored. */
  #closing = false
  #destroyed = false
  /**
   * Cluster mode: the replies that precede the writer's bytes, oldest first. Empty on a single
   * node and whenever no forward is pending; while not empty, the writer's bytes stay unsent.
   */
  readonly #slots: ReplySlot[] = []
  /** Slots whose deferred reply has not answered yet. */
  #inFlight = 0
  /** Bytes held in #slots (answered replies and local replies queued behind pending ones). */
  #slotBytes = 0
  /** #stalled because of forwards: it ends once #inFlight <= #resumeAt. */
  #forwardWait = false
  #resumeAt = 0
  /** A barrier command (copied: the parser's views die with its input) waiting for #inFlight 0. */
  #barrier: Uint8Array[] | null = null

  constructor (socket: Socket, commands: RespCommands, id: number, nowMs: number, maxRequestBytes: number, metrics?: Metrics) {
    this.#socket = socket
    this.#commands = commands
    this.#parser = new RespParser({ maxBulkBytes: maxRequestBytes })
    const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`
    const local = `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`
    this.#session = new RespSession(id, new RespWriter(), nowMs, remote, local)
    socket.on('data', (chunk: Buffer) => {
      if (this.#closing) return
      const startMs = metrics === undefined ? 0 : performance.now()
      this.#parser.feed(chunk)
      this.#run()
      metrics?.observeRequest('resp', performance.now() - startMs)
    })
    socket.on('end', () => {
      this.#readEnded = true
      this.#endIfIdle()
    })
    socket.once('close', () => { this.#destroyed = true })
  }

  destroy (): void {
    this.#destroyed = true
    this.#socket.destroy()
  }

  /** Runs the buffered commands until the input is used up, a reply is pending, or output is backed up. */
  #run (): void {
    const parser = this.#parser
    const session = this.#session
    const out = session.out
    const socket = this.#socket
    while (!this.#stalled && !this.#draining && !this.#closing && !this.#destroyed) {
      if (out.length + socket.writableLength + this.#slotBytes >= OUTPUT_LIMIT_BYTES) {
        this.#flush()
        // Replies queued behind a pending forward cannot be flushed: wait for the forwards.
        if (this.#slots.length !== 0) { this.#waitForForwards(0); break }
        if (socket.writableLength >= OUTPUT_LIMIT_BYTES) { this.#waitForDrain(); break }
      }
      const status = parser.next()
      if (status === ParseStatus.NEED_MORE) break
      if (status === ParseStatus.ERROR) {
        // Framing is lost: answer with Redis's protocol error, then close (Redis setProtocolError).
        out.error(`ERR ${parser.error}`)
        this.#closeAfterReplies()
        break
      }
      // Forwards pending (cluster mode only): a command that may not overtake them waits.
      if (this.#inFlight !== 0 && !this.#commands.pipelines(parser.argv)) {
        const barrier: Uint8Array[] = []
        for (let i = 0; i < parser.argc; i++) barrier.push(Buffer.from(parser.argv[i]!))
        this.#barrier = barrier
        this.#waitForForwards(0)
        break
      }
      const pending = this.#commands.execute(session, parser.argv, parser.argc)
      if (pending !== undefined) {
        if (pending instanceof DeferredReply) {
          this.#defer(pending)
          if (this.#inFlight >= MAX_FORWARDS_IN_FLIGHT) { this.#waitForForwards(MAX_FORWARDS_IN_FLIGHT - 1); break }
          continue
        }
        this.#stall(pending)
        break
      }
      if (session.closeAfterReply) { this.#closeAfterReplies(); break }
    }
    this.#flush()
    if (!this.#draining && !this.#closing && !this.#destroyed && socket.writableLength >= OUTPUT_LIMIT_BYTES) this.#waitForDrain()
    this.#endIfIdle()
  }

  /**
   * Writes the batch's replies in one socket write, straight from the writer's buffer: when the
   * kernel took them all at once (nothing left queued in the socket), the writer reuses its
   * buffer; otherwise the socket keeps that buffer and the writer starts a new one. Nothing is
   * written while a reply ahead of the writer's (a slot) is pending.
   */
  #flush (): void {
    if (this.#slots.length !== 0) return
    const out = this.#session.out
    if (out.length === 0 || this.#destroyed) { out.length = 0; return }
    const socket = this.#socket
    socket.write(out.pending())
    out.sent(socket.writableLength !== 0)
  }

  /**
   * Gives a deferred reply its place in the order: after the replies written so far (sent now
   * when nothing is pending ahead of them, else queued as a slot), before every later one.
   */
  #defer (deferred: DeferredReply): void {
    const slots = this.#slots
    if (slots.length === 0) {
      this.#flush()
    } else {
      const out = this.#session.out
      if (out.length !== 0) {
        const bytes = out.take()
        this.#slotBytes += bytes.length
        slots.push({ bytes })
      }
    }
    const slot: ReplySlot = { bytes: null }
    slots.push(slot)
    this.#inFlight++
    void deferred.reply.then((bytes) => {
      slot.bytes = bytes
      this.#slotBytes += bytes.length
      this.#inFlight--
      // Answers arrive one per peer frame, many per peer socket read: send them together, once
      // this I/O phase is over (one socket write for all, not one per forwarded reply).
      if (!this.#answerScheduled) {
        this.#answerScheduled = true
        setImmediate(this.#answeredLater)
      }
    })
  }

  readonly #answeredLater = (): void => {
    this.#answerScheduled = false
    this.#answered()
  }

  /**
   * A deferred reply answered: sends the answered slots at the head of the queue (and the
   * writer's bytes once none is left), then ends a wait for forwards that this satisfies.
   */
  #answered (): void {
    if (this.#destroyed) return
    const slots = this.#slots
    let ready = 0
    while (ready < slots.length && slots[ready]!.bytes !== null) ready++
    if (ready > 0) {
      const socket = this.#socket
      socket.cork()
      if (ready === 1) {
        const bytes = slots[0]!.bytes!
        this.#slotBytes -= bytes.length
        socket.write(bytes)
      } else {
        // Many short replies: one copy beats one iovec each.
        const parts: Buffer[] = []
        let total = 0
        for (let i = 0; i < ready; i++) {
          const bytes = slots[i]!.bytes!
          parts.push(bytes)
          total += bytes.length
        }
        this.#slotBytes -= total
        socket.write(Buffer.concat(parts, total))
      }
      slots.splice(0, ready)
      this.#flush()
      socket.uncork()
    }
    if (this.#closing) {
      if (slots.length === 0) this.#endAfterReplies()
      return
    }
    if (this.#forwardWait && this.#inFlight <= this.#resumeAt) {
      this.#forwardWait = false
      this.#stalled = false
      if (this.#barrier !== null && !this.#runBarrier()) { this.#updateReading(); this.#endIfIdle(); return }
      this.#updateReading()
    }
    // Runs what the wait held back; otherwise only flushes and applies backpressure.
    this.#run()
  }

  /** Stops running commands (and reading) until at most `resumeAt` forwards are in flight. */
  #waitForForwards (resumeAt: number): void {
    this.#forwardWait = true
    this.#resumeAt = resumeAt
    this.#stalled = true
    this.#updateReading()
  }

  /**
   * Runs the barrier command now that nothing is in flight; returns whether commands may go on
   * running (false: it stalled or closes the connection).
   */
  #runBarrier (): boolean {
    const argv = this.#barrier!
    this.#barrier = null
    const session = this.#session
    const pending = this.#commands.execute(session, argv, argv.length)
    /* c8 ignore next -- barriers are the commands RespRouting never forwards; still handled right */
    if (pending instanceof DeferredReply) { this.#defer(pending); return true }
    if (pending !== undefined) { this.#stall(pending); return false }
    if (session.closeAfterReply) { this.#closeAfterReplies(); return false }
    return true
  }

  #stall (pending: Promise<void>): void {
    this.#stalled = true
    this.#updateReading()
    void pending.then(() => {
      this.#stalled = false
      if (this.#destroyed) return
      this.#updateReading()
      this.#run()
    })
  }

  #waitForDrain (): void {
    this.#draining = true
    this.#updateReading()
    this.#socket.once('drain', () => {
      this.#draining = false
      if (this.#destroyed) return
      this.#updateReading()
      this.#run()
    })
  }

  /** Reads only while commands can run: not while a reply is pending or output is backed up. */
  #updateReading (): void {
    if (this.#destroyed) return
    if (this.#stalled || this.#draining) this.#socket.pause()
    else this.#socket.resume()
  }

  /** Ends the connection once every reply is written (at once, or when the last forward answers). */
  #closeAfterReplies (): void {
    if (this.#closing) return
    this.#closing = true
    if (this.#slots.length === 0) this.#endAfterReplies()
  }

  #endAfterReplies (): void {
    this.#flush()
    // end() sends the queued replies, then FIN; destroy once they are handed to the kernel, so
    // a client that never closes its side does not hold the connection (and its budget slot).
    this.#socket.end(() => this.#socket.destroy())
  }

  /**
   * After the client's FIN: end our side once every complete command it sent is answered
   * (#run leaves only an incomplete one in the parser, which can no longer complete).
   */
  #endIfIdle (): void {
    if (!this.#readEnded || this.#closing || this.#stalled || this.#draining || this.#destroyed || this.#slots.length !== 0) return
    this.#closeAfterReplies()
  }
}
