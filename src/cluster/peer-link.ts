/**
 * PeerLink: this node's one outbound connection to one peer address — its REQUESTs and
 * MESSAGEs, the pending requests awaiting RESPONSE/ERROR, the byte budget, and reconnection.
 * Thread: main (L3: a socket, a timeout sweep while requests are pending and a backoff timer, all timers unref'd).
 * Owns: the dial, the PeerConnection once up, `#pending` (id → request) and the queue budget.
 * Invariants:
 *  - states: idle → dialing → up → backoff → dialing … ; any → dropped (final). A request in
 *    `backoff` fails fast with PEER_UNAVAILABLE (or the handshake's refusal code); one in
 *    `dialing` waits for the dial (bounded by connectTimeoutMs + handshakeTimeoutMs and by its
 *    own timeout);
 *  - `queuedBytes` = frame bytes of unanswered requests + MESSAGE bytes not yet handed to the
 *    kernel; a request or message that would push it over maxQueueBytes is refused (PEER_BUSY /
 *    false) rather than queued: backpressure reaches the caller, memory stays bounded;
 *  - every pending request settles exactly once: RESPONSE, ERROR, timeout (PEER_TIMEOUT, the
 *    late answer is dropped by id), connection loss or drop (PEER_UNAVAILABLE);
 *  - ids are per link, increasing, never 0 (0 marks MESSAGE and connection-level ERROR).
 */
import { connect, type Socket } from 'node:net'
import { SlabcacheError } from '../errors.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { FRAME_HEADER_BYTES, FrameKind, MAX_MESSAGE_TYPE, decodeErrorPayload, payloadLength, type PeerFrame } from './peer-frame.js'
import { PeerConnection } from './peer-handshake.js'

/** What a link needs from its transport (the transport's options, defaults applied). */
export interface PeerLinkOptions {
  nodeId: string
  /** This node's advertised address (sent in HELLO). */
  selfAddress: string
  secret: string
  onLinkUp?: ((address: string, remoteNodeId: string) => void) | undefined
  onLinkDown?: ((address: string, remoteNodeId: string | null, reason: string) => void) | undefined
  logger?: Logger | undefined
  clock: Clock
  maxFrameBytes: number
  maxQueueBytes: number
  connectTimeoutMs: number
  handshakeTimeoutMs: number
  requestTimeoutMs: number
  backoffInitialMs: number
  backoffMaxMs: number
}

type LinkState = 'idle' | 'dialing' | 'up' | 'backoff' | 'dropped'

interface PendingRequest {
  resolve: (payload: Buffer) => void
  reject: (error: Error) => void
  /** When it times out (the link's clock), and what the timeout was, for the error. */
  deadlineMs: number
  timeoutMs: number
  type: number
  /** Frame bytes, counted in queuedBytes until settled. */
  frameBytes: number
  startedMs: number
}

/**
 * How often a link with unanswered requests looks for expired ones. One interval timer per
 * link instead of a timer per request: a forwarded command then allocates no Timeout, and a
 * timeout fires at most this much late.
 */
const SWEEP_INTERVAL_MS = 10

/** A frame waiting for the dial to finish. */
interface WaitingFrame {
  kind: FrameKind
  type: number
  id: number
  payload: Buffer | readonly Buffer[]
}

/** Splits "host:port" (IPv6 hosts in brackets: "[::1]:7946"); throws on anything else. */
export function parsePeerAddress (address: string): { host: string, port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address)
  const port = match === null ? NaN : Number(match[3])
  if (match === null || port < 1 || port > 65535) {
    throw new RangeError(`peer address must be "host:port" with a port from 1 to 65535 ("[v6]:port" for IPv6); received ${JSON.stringify(address)}`)
  }
  return { host: match[1] ?? match[2]!, port }
}

/** One outbound connection. Created by `PeerTransport.link()`; never construct it directly. */
export class PeerLink {
  /** The "host:port" this link dials. */
  readonly address: string
  readonly #host: string
  readonly #port: number
  readonly #options: PeerLinkOptions
  #state: LinkState = 'idle'
  #conn: PeerConnection | null = null
  /** The socket being dialed (before its handshake is done), for drop(). */
  #dialSocket: Socket | null = null
  #remoteNodeId: string | null = null
  /** Unanswered requests by id, in send order (Map keeps insertion order: first = oldest). */
  readonly #pending = new Map<number, PendingRequest>()
  #waiting: WaitingFrame[] = []
  #nextId = 1
  #pendingBytes = 0
  /** MESSAGE bytes queued (dialing) or in the socket's user-space buffer. */
  #messageBytes = 0
  #backoffAttempt = 0
  #backoffTimer: NodeJS.Timeout | null = null
  /** Runs while requests are pending (see SWEEP_INTERVAL_MS). */
  #sweepTimer: NodeJS.Timeout | null = null
  /** Why the last dial failed: requests during the backoff fail with its code. */
  #lastFailure: SlabcacheError | null = null
  /** onLinkDown was already reported for the current outage (one call per outage, not per retry). */
  #downReported = false

  constructor (address: string, options: PeerLinkOptions) {
    const { host, port } = parsePeerAddress(address)
    this.address = address
    this.#host = host
    this.#port = port
    this.#options = options
  }

  /** True while the handshake is done and the connection is open. */
  get connected (): boolean { return this.#state === 'up' && this.#conn !== null && this.#conn.ready }
  /** The remote's node id from its last verified handshake (kept while reconnecting). */
  get remoteNodeId (): string | null { return this.#remoteNodeId }
  /** Bytes of unanswered requests plus MESSAGE bytes not yet handed to the kernel. */
  get queuedBytes (): number { return this.#pendingBytes + this.#messageBytes }
  /** Requests sent (or waiting for the dial) and not yet answered. */
  get pendingCount (): number { return this.#pending.size }

  /** Oldest unanswered request's age in ms (0 if none); `nowMs` on the transport's clock (default Date.now()). */
  oldestPendingAgeMs (nowMs: number): number {
    for (const request of this.#pending.values()) return Math.max(0, nowMs - request.startedMs)
    return 0
  }

  /**
   * Sends REQUEST `type` and resolves with the RESPONSE payload. The payload buffers are written
   * as they are (no copy): do not modify them until the promise settles. Rejects with
   * SlabcacheError PEER_UNAVAILABLE, PEER_TIMEOUT, PEER_BUSY, PEER_AUTH_FAILED, PEER_PROTOCOL,
   * REQUEST_TOO_LARGE (frame over maxFrameBytes) or the remote's ERROR code.
   */
  async request (type: number, payload: Buffer | readonly Buffer[], timeoutMs: number = this.#options.requestTimeoutMs): Promise<Buffer> {
    checkType(type)
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new RangeError(`timeoutMs must be a positive number; received ${timeoutMs}`)
    const unavailable = this.#refusal()
    if (unavailable !== null) throw unavailable
    const frameBytes = FRAME_HEADER_BYTES + payloadLength(payload)
    if (frameBytes > this.#options.maxFrameBytes) {
      throw new SlabcacheError('REQUEST_TOO_LARGE', `peer request of ${frameBytes} bytes is over the ${this.#options.maxFrameBytes}-byte frame limit`)
    }
    if (this.queuedBytes + frameBytes > this.#options.maxQueueBytes) {
      throw new SlabcacheError('PEER_BUSY', `the link to ${this.address} has ${this.queuedBytes} bytes queued; ${frameBytes} more would pass maxQueueBytes ${this.#options.maxQueueBytes}`)
    }
    const id = this.#takeId()
    const startedMs = this.#options.clock.nowMs()
    const promise = new Promise<Buffer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadlineMs: startedMs + timeoutMs, timeoutMs, type, frameBytes, startedMs })
    })
    if (this.#sweepTimer === null) {
      this.#sweepTimer = setInterval(this.#sweep, SWEEP_INTERVAL_MS)
      this.#sweepTimer.unref()
    }
    this.#pendingBytes += frameBytes
    this.#emit({ kind: FrameKind.REQUEST, type, id, payload })
    return await promise
  }

  /**
   * Fire-and-forget MESSAGE `type`. Returns false when it was not queued: the link is in backoff
   * or dropped, or the queue is full (maxQueueBytes). True means queued, not delivered. The
   * payload buffers are written without a copy: do not modify them afterwards.
   */
  send (type: number, payload: Buffer | readonly Buffer[]): boolean {
    checkType(type)
    if (this.#refusal() !== null) return false
    const frameBytes = FRAME_HEADER_BYTES + payloadLength(payload)
    if (frameBytes > this.#options.maxFrameBytes || this.queuedBytes + frameBytes > this.#options.maxQueueBytes) return false
    this.#messageBytes += frameBytes
    this.#emit({ kind: FrameKind.MESSAGE, type, id: 0, payload })
    return true
  }

  /**
   * Internal (PeerTransport.drop/close): closes for good. Pending requests reject
   * PEER_UNAVAILABLE; an open connection gets what is queued, then GOODBYE. onLinkDown is not
   * called: the caller asked for it. Resolves when the socket is closed.
   */
  async shutdown (reason: string): Promise<void> {
    if (this.#state === 'dropped') return
    this.#state = 'dropped'
    if (this.#backoffTimer !== null) clearTimeout(this.#backoffTimer)
    this.#backoffTimer = null
    this.#failAll(new SlabcacheError('PEER_UNAVAILABLE', `the link to ${this.address} was closed: ${reason}`))
    const conn = this.#conn
    this.#conn = null
    this.#dialSocket?.destroy()
    this.#dialSocket = null
    if (conn !== null) {
      conn.goodbye(reason)
      await conn.closedPromise()
    }
  }

  /** Null when a request may proceed (dialing first if idle); else the error to fail fast with. */
  #refusal (): SlabcacheError | null {
    switch (this.#state) {
      case 'up':
      case 'dialing':
        return null
      case 'idle':
        this.#dial()
        return null
      case 'backoff': {
        const last = this.#lastFailure
        // Fail fast: a request never waits out the backoff. A refusal keeps its code so the
        // operator sees "wrong secret", not just "unavailable".
        if (last !== null && (last.code === 'PEER_AUTH_FAILED' || last.code === 'PEER_PROTOCOL')) return new SlabcacheError(last.code, last.message)
        return new SlabcacheError('PEER_UNAVAILABLE', `peer ${this.address} is unreachable (reconnecting with backoff${last === null ? '' : `; last error: ${last.message}`})`)
      }
      case 'dropped':
        return new SlabcacheError('PEER_UNAVAILABLE', `the link to ${this.address} was dropped`)
    }
  }

  #takeId (): number {
    const id = this.#nextId
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1
    return id
  }

  /** Writes a frame now (up) or keeps it for the dial (dialing). */
  #emit (frame: WaitingFrame): void {
    const conn = this.#conn
    if (this.#state === 'up' && conn !== null) {
      this.#write(conn, frame)
    } else {
      this.#waiting.push(frame)
    }
  }

  #write (conn: PeerConnection, frame: WaitingFrame): void {
    if (frame.kind !== FrameKind.MESSAGE) {
      conn.write(frame.kind, frame.type, frame.id, frame.payload)
      return
    }
    const frameBytes = FRAME_HEADER_BYTES + payloadLength(frame.payload)
    conn.write(frame.kind, frame.type, frame.id, frame.payload, () => {
      // Counted down only for the connection that carried it: a close already zeroed the rest.
      if (this.#conn === conn) this.#messageBytes -= frameBytes
    })
  }

  /** Removes and returns pending request `id` (undefined if it already settled). */
  #settle (id: number): PendingRequest | undefined {
    const request = this.#pending.get(id)
    if (request === undefined) return undefined
    this.#pending.delete(id)
    this.#pendingBytes -= request.frameBytes
    return request
  }

  /** Rejects the requests past their deadline (PEER_TIMEOUT; a late answer is then dropped). */
  readonly #sweep = (): void => {
    if (this.#pending.size === 0) {
      if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer)
      this.#sweepTimer = null
      return
    }
    const nowMs = this.#options.clock.nowMs()
    for (const [id, request] of this.#pending) {
      if (request.deadlineMs > nowMs) continue
      this.#settle(id)
      request.reject(new SlabcacheError('PEER_TIMEOUT', `peer ${this.address} did not answer request ${id} (type ${request.type}) within ${request.timeoutMs} ms`))
    }
  }

  #failAll (error: SlabcacheError): void {
    const requests = [...this.#pending.values()]
    this.#pending.clear()
    this.#pendingBytes = 0
    this.#messageBytes = 0
    this.#waiting = []
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer)
    this.#sweepTimer = null
    for (const request of requests) request.reject(new SlabcacheError(error.code, error.message))
  }

  #dial (): void {
    this.#state = 'dialing'
    const options = this.#options
    let settled = false
    const socket = connect({ host: this.#host, port: this.#port })
    this.#dialSocket = socket
    const connectTimer = setTimeout(() => {
      fail(new SlabcacheError('PEER_UNAVAILABLE', `connecting to peer ${this.address} timed out after ${options.connectTimeoutMs} ms`))
    }, options.connectTimeoutMs)
    connectTimer.unref()
    const fail = (error: SlabcacheError): void => {
      if (settled) return
      settled = true
      clearTimeout(connectTimer)
      socket.destroy()
      if (this.#dialSocket === socket) this.#dialSocket = null
      this.#onDialFailed(error)
    }
    socket.once('error', (error) => { fail(new SlabcacheError('PEER_UNAVAILABLE', `cannot connect to peer ${this.address}: ${error.message}`)) })
    socket.once('connect', () => {
      if (settled) return
      clearTimeout(connectTimer)
      const conn = new PeerConnection(socket, {
        nodeId: options.nodeId,
        address: options.selfAddress,
        secret: options.secret,
        role: 'dial',
        maxFrameBytes: options.maxFrameBytes,
        handshakeTimeoutMs: options.handshakeTimeoutMs,
        logger: options.logger
      })
      conn.handshake().then(() => {
        if (settled) return
        settled = true
        this.#dialSocket = null
        this.#onUp(conn)
      }, (error: unknown) => {
        fail(error instanceof SlabcacheError ? error : new SlabcacheError('PEER_UNAVAILABLE', String(error)))
      })
    })
  }

  #onUp (conn: PeerConnection): void {
    if (this.#state === 'dropped') {
      conn.goodbye('link dropped')
      return
    }
    this.#state = 'up'
    this.#conn = conn
    this.#backoffAttempt = 0
    this.#lastFailure = null
    this.#downReported = false
    const remoteNodeId = conn.remoteNodeId!
    this.#remoteNodeId = remoteNodeId
    conn.start((frame) => { this.#onFrame(conn, frame) }, (reason) => { this.#onConnClosed(conn, reason) })
    const waiting = this.#waiting
    this.#waiting = []
    for (const frame of waiting) this.#write(conn, frame)
    this.#options.logger?.info({ peer: this.address, remoteNodeId }, 'peer link up')
    this.#options.onLinkUp?.(this.address, remoteNodeId)
  }

  #onDialFailed (error: SlabcacheError): void {
    if (this.#state === 'dropped') return
    this.#lastFailure = error
    // Requests that waited for this dial fail now; messages kept for it are dropped.
    this.#failAll(error)
    this.#scheduleReconnect()
    if (!this.#downReported) {
      this.#downReported = true
      this.#options.logger?.warn({ peer: this.address, reason: error.message }, 'peer link down')
      this.#options.onLinkDown?.(this.address, this.#remoteNodeId, error.message)
    }
  }

  #onConnClosed (conn: PeerConnection, reason: string): void {
    if (this.#conn !== conn || this.#state === 'dropped') return
    this.#conn = null
    this.#lastFailure = new SlabcacheError('PEER_UNAVAILABLE', `connection to peer ${this.address} closed: ${reason}`)
    this.#failAll(this.#lastFailure)
    this.#scheduleReconnect()
    this.#downReported = true
    this.#options.logger?.warn({ peer: this.address, remoteNodeId: this.#remoteNodeId, reason }, 'peer link down')
    this.#options.onLinkDown?.(this.address, this.#remoteNodeId, reason)
  }

  /**
   * "Equal jitter": the delay is uniform in [d/2, d], d doubling from backoffInitialMs up to
   * backoffMaxMs, so peers that lost the same node do not redial it in lockstep.
   */
  #scheduleReconnect (): void {
    this.#state = 'backoff'
    const options = this.#options
    const ceilingMs = Math.min(options.backoffMaxMs, options.backoffInitialMs * 2 ** Math.min(this.#backoffAttempt, 30))
    this.#backoffAttempt++
    const delayMs = ceilingMs / 2 + Math.random() * ceilingMs / 2
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = null
      if (this.#state === 'backoff') this.#dial()
    }, delayMs)
    this.#backoffTimer.unref()
  }

  #onFrame (conn: PeerConnection, frame: PeerFrame): void {
    switch (frame.kind) {
      case FrameKind.RESPONSE: {
        // Unknown id: a late answer to a request that timed out; dropped.
        this.#settle(frame.id)?.resolve(frame.payload)
        return
      }
      case FrameKind.ERROR: {
        const error = decodeErrorPayload(frame.payload)
        if (frame.id === 0) {
          this.#options.logger?.warn({ peer: this.address, code: error?.code, reason: error?.message }, 'peer reported a connection error')
          return
        }
        const request = this.#settle(frame.id)
        if (request === undefined) return
        request.reject(error === null
          ? new SlabcacheError('PEER_PROTOCOL', `peer ${this.address} sent a malformed ERROR for request ${frame.id}`)
          : new SlabcacheError(error.code, error.message))
        return
      }
      case FrameKind.GOODBYE:
        conn.destroy('peer said goodbye')
        return
      default:
        // An inbound-only kind (REQUEST, MESSAGE) or a second handshake on an outbound link.
        this.#options.logger?.warn({ peer: this.address, kind: frame.kind }, 'peer sent a frame an outbound link never receives; closing')
        conn.fail('PEER_PROTOCOL', `frame kind ${frame.kind} is not allowed on this connection`)
    }
  }
}

function checkType (type: number): void {
  if (!Number.isInteger(type) || type < 0 || type > MAX_MESSAGE_TYPE) {
    throw new RangeError(`message type must be an integer from 0 to ${MAX_MESSAGE_TYPE}; received ${type}`)
  }
}
