/**
 * PeerTransport: a node's end of the peer protocol — the listener, the inbound connections it
 * accepts (which only receive REQUEST/MESSAGE and answer), and the registry of outbound
 * PeerLinks (one per peer address, which carry this node's REQUESTs and MESSAGEs).
 * Thread: main (L3: a net.Server, sockets, unref'd timers).
 * Owns: the listener, every inbound PeerConnection, the links by address.
 * Invariants:
 *  - an inbound connection runs onRequest/onMessage only after both AUTHs verified, and never
 *    originates a request: A→B and B→A traffic use two TCP connections;
 *  - inbound answers go out in completion order, each with its request's id and type;
 *  - an inbound socket is paused while its unanswered request bytes plus unsent answer bytes
 *    exceed maxQueueBytes, and resumed when they fall back under it;
 *  - after close() resolves no socket, server or timer of this transport is left.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { SlabcacheError } from '../errors.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameKind, encodeErrorPayload, type PeerFrame } from './peer-frame.js'
import { PeerConnection } from './peer-handshake.js'
import { PeerLink, parsePeerAddress, type PeerLinkOptions } from './peer-link.js'

export { PeerLink, parsePeerAddress } from './peer-link.js'

export interface PeerTransportOptions {
  nodeId: string
  /** Bind host. */
  host: string
  /** Bind port; 0 = ephemeral. */
  port: number
  /** "host:port" others dial; default `${host}:${boundPort}` (127.0.0.1 for 0.0.0.0 / ::). */
  advertisedAddress?: string
  secret: string
  /** Inbound REQUEST from authenticated node `from`: resolve with the RESPONSE payload; a throw/rejection with SlabcacheError answers ERROR with its code (other errors: INTERNAL). */
  onRequest: (from: string, type: number, payload: Buffer) => Buffer | Promise<Buffer>
  /** Inbound MESSAGE. */
  onMessage: (from: string, type: number, payload: Buffer) => void
  /** An outbound link completed its handshake / lost its connection. */
  onLinkUp?: (address: string, remoteNodeId: string) => void
  /**
   * Called once per outage: when an up link loses its connection, or when a link's first dial
   * (or first since it was last up) fails (remoteNodeId null if it never connected). Retries in
   * the same outage are not reported; drop() and close() do not report.
   */
  onLinkDown?: (address: string, remoteNodeId: string | null, reason: string) => void
  logger?: Logger
  /** Largest whole frame, header included; default 64 MiB. */
  maxFrameBytes?: number
  /** Per link, bytes queued + in flight; per inbound connection, unanswered + unsent; default 64 MiB. */
  maxQueueBytes?: number
  /** Default 1000. */
  connectTimeoutMs?: number
  /** Default 2000. */
  handshakeTimeoutMs?: number
  /** Default 2000. */
  requestTimeoutMs?: number
  /** First reconnect delay; default 50, doubling, jittered. */
  backoffInitialMs?: number
  /** Default 2000. */
  backoffMaxMs?: number
  /** Stamps requests for `PeerLink.oldestPendingAgeMs(nowMs)`; default Date.now(). */
  clock?: Clock
}

export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024
export const DEFAULT_CONNECT_TIMEOUT_MS = 1000
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 2000
export const DEFAULT_REQUEST_TIMEOUT_MS = 2000
export const DEFAULT_BACKOFF_INITIAL_MS = 50
export const DEFAULT_BACKOFF_MAX_MS = 2000

const SYSTEM_CLOCK: Clock = { nowMs: () => Date.now() }

/** One accepted connection after its handshake. */
interface Inbound {
  conn: PeerConnection
  from: string
  /** Frame bytes of requests received and not yet answered. */
  unansweredBytes: number
  unansweredCount: number
  paused: boolean
  /** close() runs: new requests are refused (PEER_UNAVAILABLE), messages dropped. */
  draining: boolean
  /** close() is waiting for the unanswered requests to be answered (or the socket to go). */
  onIdle: (() => void) | null
}

export class PeerTransport {
  /** The bound port. */
  readonly port: number
  /** The advertised "host:port" (sent in HELLO; what peers dial). */
  readonly address: string
  readonly #server: Server
  readonly #options: PeerTransportOptions
  readonly #linkOptions: PeerLinkOptions
  readonly #links = new Map<string, PeerLink>()
  /** Every accepted socket, handshaking or not, for close(). */
  readonly #accepted = new Set<PeerConnection>()
  readonly #inbound = new Set<Inbound>()
  #closing: Promise<void> | null = null

  private constructor (server: Server, port: number, address: string, options: PeerTransportOptions, linkOptions: PeerLinkOptions) {
    this.#server = server
    this.port = port
    this.address = address
    this.#options = options
    this.#linkOptions = linkOptions
    server.on('connection', (socket) => { this.#accept(socket) })
    server.on('error', (error) => { options.logger?.error({ err: error }, 'peer listener error') })
  }

  /**
   * Binds the listener and resolves once it listens. Throws TypeError/RangeError naming the
   * option for bad options; rejects with the listen error (EADDRINUSE…) if binding fails.
   */
  static async listen (options: PeerTransportOptions): Promise<PeerTransport> {
    validate(options)
    const server = createServer({ noDelay: true })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const bound = server.address()
    const port = typeof bound === 'object' && bound !== null ? bound.port : options.port
    const address = options.advertisedAddress ?? defaultAddress(options.host, port)
    const linkOptions: PeerLinkOptions = {
      nodeId: options.nodeId,
      selfAddress: address,
      secret: options.secret,
      onLinkUp: options.onLinkUp,
      onLinkDown: options.onLinkDown,
      logger: options.logger,
      clock: options.clock ?? SYSTEM_CLOCK,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      maxQueueBytes: options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      backoffInitialMs: options.backoffInitialMs ?? DEFAULT_BACKOFF_INITIAL_MS,
      backoffMaxMs: options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS
    }
    return new PeerTransport(server, port, address, options, linkOptions)
  }

  /** The one link to `address` (created on first call, dials lazily, reconnects with backoff until dropped). */
  link (address: string): PeerLink {
    let link = this.#links.get(address)
    if (link === undefined) {
      if (this.#closing !== null) throw new SlabcacheError('PEER_UNAVAILABLE', 'the peer transport is closed')
      link = new PeerLink(address, this.#linkOptions)
      this.#links.set(address, link)
    }
    return link
  }

  links (): readonly PeerLink[] { return [...this.#links.values()] }

  /** Closes and forgets the link to `address` (pending requests reject PEER_UNAVAILABLE). */
  drop (address: string): void {
    const link = this.#links.get(address)
    if (link === undefined) return
    this.#links.delete(address)
    link.shutdown('dropped').catch(() => {})
  }

  /**
   * GOODBYE + close every connection and the listener; pending requests reject
   * PEER_UNAVAILABLE. Inbound requests already being served are answered first (drained), for
   * at most requestTimeoutMs: the requester gives up after that anyway.
   */
  async close (): Promise<void> {
    this.#closing ??= this.#close()
    await this.#closing
  }

  async #close (): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    const links = [...this.#links.values()]
    this.#links.clear()
    const waits: Array<Promise<void>> = links.map(async (link) => { await link.shutdown('transport closed') })
    for (const conn of this.#accepted) {
      // Still handshaking: nothing to drain.
      if (!conn.ready) conn.destroy('transport closed')
    }
    for (const inbound of this.#inbound) waits.push(this.#drainInbound(inbound))
    for (const conn of this.#accepted) waits.push(conn.closedPromise())
    await Promise.all(waits)
    await serverClosed
  }

  async #drainInbound (inbound: Inbound): Promise<void> {
    // Keep reading (a GOODBYE or FIN from the remote must end the wait), but refuse new
    // requests; answer the ones in hand.
    inbound.draining = true
    if (inbound.unansweredCount > 0 && !inbound.conn.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#linkOptions.requestTimeoutMs)
        timer.unref()
        inbound.onIdle = () => { clearTimeout(timer); resolve() }
      })
    }
    inbound.conn.goodbye('transport closed')
    await inbound.conn.closedPromise()
  }

  #accept (socket: Socket): void {
    const options = this.#linkOptions
    const conn = new PeerConnection(socket, {
      nodeId: options.nodeId,
      address: this.address,
      secret: options.secret,
      role: 'accept',
      maxFrameBytes: options.maxFrameBytes,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      logger: options.logger
    })
    if (this.#closing !== null) {
      conn.destroy('transport closed')
      return
    }
    this.#accepted.add(conn)
    socket.once('close', () => { this.#accepted.delete(conn) })
    conn.handshake().then(() => {
      if (this.#closing !== null) {
        conn.goodbye('transport closed')
        return
      }
      const inbound: Inbound = { conn, from: conn.remoteNodeId!, unansweredBytes: 0, unansweredCount: 0, paused: false, draining: false, onIdle: null }
      this.#inbound.add(inbound)
      conn.onDrain = () => { this.#maybeResume(inbound) }
      conn.start((frame) => { this.#onInboundFrame(inbound, frame) }, () => {
        this.#inbound.delete(inbound)
        // Answers to a closed socket go nowhere: close() need not wait for them.
        const onIdle = inbound.onIdle
        inbound.onIdle = null
        onIdle?.()
      })
    }, (error: unknown) => {
      // Refusals are logged where they are detected (peer-handshake.ts).
      options.logger?.debug({ remote: conn.remoteEndpoint, reason: error instanceof Error ? error.message : String(error) }, 'inbound peer handshake failed')
    })
  }

  #onInboundFrame (inbound: Inbound, frame: PeerFrame): void {
    switch (frame.kind) {
      case FrameKind.REQUEST:
        if (inbound.draining) {
          inbound.conn.write(FrameKind.ERROR, frame.type, frame.id, encodeErrorPayload('PEER_UNAVAILABLE', `node ${this.#options.nodeId} is closing its peer transport`))
          return
        }
        this.#serve(inbound, frame)
        return
      case FrameKind.MESSAGE:
        if (inbound.draining) return
        try {
          this.#options.onMessage(inbound.from, frame.type, frame.payload)
        } catch (error) {
          this.#options.logger?.error({ err: error, from: inbound.from, type: frame.type }, 'peer onMessage threw')
        }
        return
      case FrameKind.GOODBYE:
        inbound.conn.destroy('peer said goodbye')
        return
      default:
        if (frame.kind === FrameKind.ERROR && frame.id === 0) {
          this.#options.logger?.warn({ from: inbound.from }, 'peer reported a connection error on an inbound connection')
          return
        }
        // RESPONSE, an ERROR answering something, or a second handshake: never valid inbound.
        this.#options.logger?.warn({ from: inbound.from, kind: frame.kind }, 'peer sent a frame an inbound connection never receives; closing')
        inbound.conn.fail('PEER_PROTOCOL', `frame kind ${frame.kind} is not allowed on this connection (inbound connections only receive REQUEST and MESSAGE)`)
    }
  }

  #serve (inbound: Inbound, frame: PeerFrame): void {
    const frameBytes = FRAME_HEADER_BYTES + frame.payload.length
    inbound.unansweredBytes += frameBytes
    inbound.unansweredCount++
    this.#maybePause(inbound)
    const { type, id } = frame
    let result: Buffer | Promise<Buffer>
    try {
      result = this.#options.onRequest(inbound.from, type, frame.payload)
    } catch (error) {
      this.#answerError(inbound, type, id, frameBytes, error)
      return
    }
    if (Buffer.isBuffer(result)) {
      this.#answer(inbound, type, id, frameBytes, result)
      return
    }
    Promise.resolve(result).then(
      (payload) => { this.#answer(inbound, type, id, frameBytes, payload) },
      (error: unknown) => { this.#answerError(inbound, type, id, frameBytes, error) }
    )
  }

  #answer (inbound: Inbound, type: number, id: number, frameBytes: number, payload: unknown): void {
    if (!Buffer.isBuffer(payload)) {
      this.#answerError(inbound, type, id, frameBytes, new TypeError(`onRequest resolved with ${typeof payload}, not a Buffer`))
      return
    }
    inbound.conn.write(FrameKind.RESPONSE, type, id, payload)
    this.#answered(inbound, frameBytes)
  }

  #answerError (inbound: Inbound, type: number, id: number, frameBytes: number, error: unknown): void {
    let payload: Buffer
    if (error instanceof SlabcacheError) {
      payload = encodeErrorPayload(error.code, error.message)
    } else {
      this.#options.logger?.error({ err: error, from: inbound.from, type }, 'peer onRequest failed')
      payload = encodeErrorPayload('INTERNAL', error instanceof Error ? error.message : String(error))
    }
    inbound.conn.write(FrameKind.ERROR, type, id, payload)
    this.#answered(inbound, frameBytes)
  }

  #answered (inbound: Inbound, frameBytes: number): void {
    inbound.unansweredBytes -= frameBytes
    inbound.unansweredCount--
    if (inbound.unansweredCount === 0 && inbound.onIdle !== null) {
      // close() is draining: the answers go out before its GOODBYE (same batch, in order).
      const onIdle = inbound.onIdle
      inbound.onIdle = null
      onIdle()
      return
    }
    this.#maybeResume(inbound)
  }

  #maybePause (inbound: Inbound): void {
    if (!inbound.paused && inbound.unansweredBytes + inbound.conn.unsentBytes > this.#linkOptions.maxQueueBytes) {
      inbound.paused = true
      inbound.conn.pause()
    }
  }

  #maybeResume (inbound: Inbound): void {
    if (inbound.paused &&
      inbound.unansweredBytes + inbound.conn.unsentBytes <= this.#linkOptions.maxQueueBytes) {
      inbound.paused = false
      inbound.conn.resume()
    }
  }
}

/** `${host}:${port}`, with a wildcard bind host replaced by loopback and IPv6 in brackets. */
function defaultAddress (host: string, port: number): string {
  const dialable = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host
  return dialable.includes(':') ? `[${dialable}]:${port}` : `${dialable}:${port}`
}

function validate (options: PeerTransportOptions): void {
  const text = (name: 'nodeId' | 'secret' | 'host'): void => {
    const value: unknown = options[name]
    if (typeof value !== 'string' || (name !== 'host' && value === '')) {
      throw new TypeError(`PeerTransportOptions.${name} must be a non-empty string; received ${JSON.stringify(value)}`)
    }
  }
  text('nodeId')
  text('secret')
  text('host')
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new RangeError(`PeerTransportOptions.port must be an integer from 0 to 65535; received ${options.port}`)
  }
  if (options.advertisedAddress !== undefined) parsePeerAddress(options.advertisedAddress)
  if (typeof options.onRequest !== 'function') throw new TypeError('PeerTransportOptions.onRequest must be a function')
  if (typeof options.onMessage !== 'function') throw new TypeError('PeerTransportOptions.onMessage must be a function')
  const positive = ['maxFrameBytes', 'maxQueueBytes', 'connectTimeoutMs', 'handshakeTimeoutMs', 'requestTimeoutMs', 'backoffInitialMs', 'backoffMaxMs'] as const
  for (const name of positive) {
    const value = options[name]
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new RangeError(`PeerTransportOptions.${name} must be a positive integer; received ${value}`)
    }
  }
  if (options.maxFrameBytes !== undefined && options.maxFrameBytes < FRAME_HEADER_BYTES) {
    throw new RangeError(`PeerTransportOptions.maxFrameBytes must be at least ${FRAME_HEADER_BYTES}; received ${options.maxFrameBytes}`)
  }
}
