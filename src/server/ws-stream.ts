/**
 * WebSocket /v1/stream: the memcached binary protocol inside binary WebSocket messages (DESIGN
 * §7), on the HTTP app. Thread: main (uWS callbacks). Owns: one MemcacheSession per connection
 * and the connection's admission in the shared ConnectionBudget.
 * Semantics are the TCP binary protocol's (the same MemcacheSession runs it): a message may hold
 * several frames and a frame may span messages; replies leave in request order as binary
 * messages, one per batch of requests handled. Only binary is spoken: a text message, or a
 * stream whose first byte is not the request magic 0x80, is closed with a WebSocket close code.
 * In cluster mode (a router) requests are routed by the session like TCP ones: a forwarded or
 * replication-held request makes the session wait, and later replies follow it.
 * Invariants: a message's ArrayBuffer is detached when its callback returns, so the session
 * copies (retain()) whatever input it still holds before that; uWS cannot stop reading a
 * WebSocket, so while replies wait (a flush in flight, or the peer not reading: over
 * OUTPUT_PAUSE_BYTES buffered) input is buffered up to `maxRequestBytes + INPUT_SLACK_BYTES`
 * and the connection is closed beyond; a reply batch is only sent while at most
 * OUTPUT_PAUSE_BYTES are buffered, and maxBackpressure leaves room for the largest batch, so
 * uWS never drops a reply; nothing touches a WebSocket after its close handler ran.
 */
import { performance } from 'node:perf_hooks'
import type { TemplatedApp, WebSocket } from 'uWebSockets.js'
import type { ClusterRouter } from '../cluster/cluster-types.js'
import type { Engine } from '../engine.js'
import { BINARY_HEADER_BYTES, REQUEST_MAGIC, STATUS_TEXT } from '../protocol/memcache-binary.js'
import { MemcacheSession, OUTPUT_HIGH_WATER_BYTES, SessionState, type MemcacheBackend, type MemcacheLimits } from '../protocol/memcache-session.js'
import type { ConnectionBudget } from './connection-budget.js'
import type { Metrics } from './metrics.js'
import { loadUws } from './uws-loader.js'
import { createStreamBackend } from './ws-stream-backend.js'

export const STREAM_PATH = '/v1/stream'
/** Stop handling requests while this many reply bytes wait in uWS's send buffer (resume on drain). */
export const OUTPUT_PAUSE_BYTES = 256 * 1024
/** Input beyond one maximal request a connection may buffer while its replies wait. */
export const INPUT_SLACK_BYTES = 4 * 1024 * 1024
/** Seconds without any traffic before uWS closes the connection (it pings first, so live peers stay). */
export const STREAM_IDLE_TIMEOUT_S = 120

/** WebSocket close codes the stream uses (RFC 6455 §7.4.1). */
export const StreamClose = {
  /** QUIT / QUITQ. */
  NORMAL: 1000,
  /** Framing lost (bad magic, impossible lengths): the error reply was sent first. */
  PROTOCOL_ERROR: 1002,
  /** A text message: the stream is binary only. */
  UNSUPPORTED_DATA: 1003,
  /** Input over the limit while replies were not being read. */
  POLICY_VIOLATION: 1008,
  /** A bug while handling a request: this connection only. */
  INTERNAL_ERROR: 1011,
  /** Over limits.maxConnections. */
  TRY_AGAIN_LATER: 1013
} as const

export interface StreamDeps {
  readonly engine: Engine
  /** Counts stream connections against limits.maxConnections with the other front ends. */
  readonly budget?: ConnectionBudget
  /** Receives one `ws` observation per message handled. */
  readonly metrics?: Metrics
  /**
   * The TCP memcached server's backend, to share its counters (`stats`), delayed flushes and
   * SASL check; default: a backend of the stream's own (createStreamBackend).
   */
  readonly backend?: MemcacheBackend
  /** SASL PLAIN check (tenant id or -1) for the default backend; default: every login is tenant 0. */
  readonly authenticate?: (user: string, password: string) => number
  /**
   * Cluster mode, for the default backend: keyed requests go to their owners, flushes to every
   * node (a given `backend` carries its own router: the TCP server's).
   */
  readonly router?: ClusterRouter | null
  readonly idleTimeoutSeconds?: number
}

/** What uWS keeps per WebSocket (it copies the object given at upgrade, so state is set in open). */
interface UserData { connection?: StreamConnection }

interface StreamConnection {
  readonly ws: WebSocket<UserData>
  readonly session: MemcacheSession
  admitted: boolean
  closed: boolean
  /** A Promise result (flush) is pending; run again when it settles. */
  waiting: boolean
  /** Over OUTPUT_PAUSE_BYTES buffered: run again on drain. */
  paused: boolean
  /** BLOCKED with room to send: run again after other connections had a turn. */
  scheduled: boolean
}

/**
 * Registers the WebSocket route on `app`; call before the app's catch-all route. Returns a
 * function that cancels the default backend's timers (call it when the server closes).
 */
export function registerStreamRoute (app: TemplatedApp, deps: StreamDeps): () => void {
  const { engine, budget, metrics } = deps
  const limits = engine.config.limits
  const ownBackend = deps.backend === undefined ? createStreamBackend(engine, deps.authenticate, deps.router ?? null) : null
  const backend: MemcacheBackend = deps.backend ?? ownBackend!
  const sessionLimits: MemcacheLimits = { maxKeyBytes: limits.maxKeyBytes, maxValueBytes: limits.maxValueBytes, maxRetrievalLineBytes: limits.maxRequestBytes }
  const inputLimitBytes = limits.maxRequestBytes + INPUT_SLACK_BYTES

  /** Bookkeeping of a closed connection, exactly once (the close handler, or closeWith). */
  const finish = (connection: StreamConnection): void => {
    if (connection.closed) return
    connection.closed = true
    if (connection.admitted) {
      backend.counters.currConnections--
      budget?.release()
    }
  }
  /** Closes gracefully: a close frame after the replies already sent. */
  const closeWith = (connection: StreamConnection, code: number, reason: string): void => {
    if (connection.closed) return
    connection.ws.end(code, reason) // runs the close handler at once
    finish(connection)
  }

  const drive = (connection: StreamConnection): void => {
    if (connection.closed) return
    const { ws, session } = connection
    let state: SessionState
    try {
      state = session.run()
    } catch {
      // A bug in one request must not take the server down: close this connection only.
      closeWith(connection, StreamClose.INTERNAL_ERROR, 'internal error')
      return
    }
    const bytes = session.output.take()
    if (bytes !== null) backend.counters.bytesWritten += bytes.length
    if (bytes !== null && ws.send(bytes, true) === 2) {
      // Dropped by uWS: cannot happen while maxBackpressure covers the largest batch; if it
      // does, the reply stream has a hole and the connection cannot continue.
      closeWith(connection, StreamClose.INTERNAL_ERROR, 'reply dropped by backpressure')
      return
    }
    switch (state) {
      case SessionState.CLOSING:
        closeWith(connection, ...closingReason(bytes))
        return
      case SessionState.WAITING:
        if (!connection.waiting) {
          connection.waiting = true
          void session.pending!.then(() => {
            connection.waiting = false
            if (!connection.closed) ws.cork(() => { drive(connection); session.retain() })
          })
        }
        return
    }
    if (ws.getBufferedAmount() > OUTPUT_PAUSE_BYTES) {
      connection.paused = true
      return
    }
    if (state === SessionState.BLOCKED && !connection.scheduled) {
      connection.scheduled = true
      setImmediate(() => {
        connection.scheduled = false
        if (!connection.closed && !connection.paused) ws.cork(() => { drive(connection); session.retain() })
      })
    }
  }

  app.ws<UserData>(STREAM_PATH, {
    compression: loadUws().DISABLED,
    maxPayloadLength: limits.maxRequestBytes,
    // Room for one batch (OUTPUT_HIGH_WATER_BYTES plus its last reply, at most one request's
    // size) on top of what may be buffered when it is sent.
    maxBackpressure: OUTPUT_PAUSE_BYTES + OUTPUT_HIGH_WATER_BYTES + limits.maxRequestBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: deps.idleTimeoutSeconds ?? STREAM_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    open: (ws) => {
      const connection: StreamConnection = {
        ws, session: new MemcacheSession(backend, sessionLimits), admitted: false, closed: false, waiting: false, paused: false, scheduled: false
      }
      ws.getUserData().connection = connection
      if (budget !== undefined && !budget.tryAdmit()) {
        backend.counters.rejectedConnections++
        closeWith(connection, StreamClose.TRY_AGAIN_LATER, 'too many connections')
        return
      }
      connection.admitted = true
      backend.counters.currConnections++
      backend.counters.totalConnections++
    },
    message: (ws, message, isBinary) => {
      const connection = ws.getUserData().connection!
      if (connection.closed) return
      const startMs = performance.now()
      const session = connection.session
      if (!isBinary) {
        closeWith(connection, StreamClose.UNSUPPORTED_DATA, 'text message refused: send memcached binary frames in binary messages')
        return
      }
      const bytes = Buffer.from(message)
      if (session.protocol === null && bytes.length > 0 && bytes[0] !== REQUEST_MAGIC) {
        // The session would take it for the text protocol; the stream speaks binary only.
        closeWith(connection, StreamClose.PROTOCOL_ERROR, `not a memcached binary request: first byte 0x${bytes[0]!.toString(16)}, expected 0x80`)
        return
      }
      backend.counters.bytesRead += bytes.length
      session.push(bytes)
      if (!connection.waiting && !connection.paused && !connection.scheduled) drive(connection)
      if (connection.closed) return
      session.retain()
      if (session.bufferedBytes > inputLimitBytes) {
        closeWith(connection, StreamClose.POLICY_VIOLATION, 'input limit exceeded while replies were not being read')
        return
      }
      metrics?.observeRequest('ws', performance.now() - startMs)
    },
    drain: (ws) => {
      const connection = ws.getUserData().connection
      if (connection === undefined || connection.closed || !connection.paused || ws.getBufferedAmount() > OUTPUT_PAUSE_BYTES) return
      connection.paused = false
      ws.cork(() => { drive(connection); connection.session.retain() })
    },
    close: (ws) => {
      const connection = ws.getUserData().connection
      if (connection !== undefined) finish(connection)
    }
  })
  return () => ownBackend?.close()
}

/**
 * Why a CLOSING session closes: QUIT/QUITQ (the last reply, if any, is a success) or lost
 * framing (the last reply is the error that explains it).
 */
function closingReason (bytes: Buffer | null): [number, string] {
  let last = -1
  if (bytes !== null) {
    for (let offset = 0; offset + BINARY_HEADER_BYTES <= bytes.length; offset += BINARY_HEADER_BYTES + bytes.readUInt32BE(offset + 8)) last = offset
  }
  const status = last < 0 ? 0 : bytes!.readUInt16BE(last + 6)
  if (status === 0) return [StreamClose.NORMAL, 'quit']
  return [StreamClose.PROTOCOL_ERROR, `framing lost: ${STATUS_TEXT[status] ?? `status 0x${status.toString(16)}`}`]
}
