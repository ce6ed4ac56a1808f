/**
 * One peer TCP connection up to and through its handshake: HELLO/AUTH (version check and the
 * HMAC challenge on the cluster secret), frame decoding, and writes batched per event-loop turn.
 * Thread: main (L3: owns a socket and a handshake timer, unref'd).
 * Owns: the socket, its FrameDecoder and its write batch. PeerLink (outbound) and PeerTransport
 * (inbound) take the connection over once `handshake()` resolves.
 * Invariants:
 *  - nothing but HELLO, AUTH and ERROR is accepted before the handshake is done; any other
 *    frame is a PEER_PROTOCOL error;
 *  - the accepting side sends its AUTH only after it verified the dialer's, so a dialer that
 *    receives a valid AUTH knows its own was accepted: its first request never races a refusal;
 *  - one socket write per event-loop turn: frames queue in `#batch` and are written corked in
 *    one setImmediate, so 1000 pipelined requests cost one writev, not 1000 writes;
 *  - after `destroy()`/close nothing is written and `onFrame` is never called again.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Socket } from 'node:net'
import { SlabcacheError, type ErrorCode } from '../errors.js'
import type { Logger } from '../util/log.js'
import {
  DecodeStatus, FrameDecoder, FrameKind, decodeErrorPayload, encodeErrorPayload, encodeFrame,
  type PeerFrame
} from './peer-frame.js'

/** The one protocol version this build speaks. */
/** A turn's batch of frames up to this size is written as one copied buffer, larger ones as a writev. */
const COALESCE_BYTES = 256 * 1024

export const PEER_PROTOCOL_VERSION = 1
/** HELLO's random challenge. */
export const NONCE_BYTES = 32
/** The HMAC's domain separator: a proof for this protocol is useless anywhere else. */
export const AUTH_CONTEXT = 'slabcache-peer-v1'
/**
 * Largest frame accepted before the handshake is done. HELLO carries a node id and an address,
 * AUTH 32 bytes: an unauthenticated socket must not make this node buffer megabytes.
 */
export const HANDSHAKE_MAX_FRAME_BYTES = 16 * 1024

/** What a HELLO says. */
export interface Hello {
  version: number
  nonce: Buffer
  nodeId: string
  /** The "host:port" the sender's peers dial. */
  address: string
}

/** HELLO payload: `u16 version | 32-byte nonce | u16 len + nodeId utf8 | u16 len + address utf8`. Allocates. */
export function encodeHello (hello: Hello): Buffer {
  const nodeId = Buffer.from(hello.nodeId, 'utf8')
  const address = Buffer.from(hello.address, 'utf8')
  if (hello.nonce.length !== NONCE_BYTES) throw new RangeError(`HELLO nonce must be ${NONCE_BYTES} bytes; received ${hello.nonce.length}`)
  if (nodeId.length > 0xffff || address.length > 0xffff) throw new RangeError('HELLO nodeId and address must each be under 64 KiB of utf8')
  const payload = Buffer.allocUnsafe(2 + NONCE_BYTES + 2 + nodeId.length + 2 + address.length)
  let at = payload.writeUInt16LE(hello.version, 0)
  at += hello.nonce.copy(payload, at)
  at = payload.writeUInt16LE(nodeId.length, at)
  at += nodeId.copy(payload, at)
  at = payload.writeUInt16LE(address.length, at)
  address.copy(payload, at)
  return payload
}

/**
 * Reads a HELLO. Returns null when the payload is malformed. A different version returns just
 * `{ version }` semantics: the rest is read only when the version is this build's (a future
 * version may lay it out differently), so check `version` first.
 */
export function decodeHello (payload: Buffer): Hello | null {
  if (payload.length < 2) return null
  const version = payload.readUInt16LE(0)
  if (version !== PEER_PROTOCOL_VERSION) return { version, nonce: Buffer.alloc(0), nodeId: '', address: '' }
  let at = 2
  if (payload.length < at + NONCE_BYTES + 2) return null
  const nonce = Buffer.from(payload.subarray(at, at + NONCE_BYTES))
  at += NONCE_BYTES
  const nodeIdBytes = payload.readUInt16LE(at)
  at += 2
  if (payload.length < at + nodeIdBytes + 2) return null
  const nodeId = payload.toString('utf8', at, at + nodeIdBytes)
  at += nodeIdBytes
  const addressBytes = payload.readUInt16LE(at)
  at += 2
  if (payload.length !== at + addressBytes) return null
  const address = payload.toString('utf8', at, at + addressBytes)
  if (nodeId.length === 0) return null
  return { version, nonce, nodeId, address }
}

/** AUTH payload: HMAC-SHA256(secret, AUTH_CONTEXT ‖ the OTHER side's nonce ‖ own nodeId). Allocates. */
export function authProof (secret: string, otherNonce: Buffer, ownNodeId: string): Buffer {
  return createHmac('sha256', secret).update(AUTH_CONTEXT).update(otherNonce).update(ownNodeId, 'utf8').digest()
}

/** True when `proof` is the remote's proof over OUR nonce; constant time in the proof's bytes. */
export function verifyAuthProof (secret: string, ownNonce: Buffer, remoteNodeId: string, proof: Buffer): boolean {
  const expected = authProof(secret, ownNonce, remoteNodeId)
  return proof.length === expected.length && timingSafeEqual(proof, expected)
}

export interface PeerConnectionOptions {
  /** This node. */
  nodeId: string
  /** This node's advertised "host:port" (sent in HELLO). */
  address: string
  secret: string
  /** 'dial': this node opened the socket (a PeerLink); 'accept': the listener accepted it. */
  role: 'dial' | 'accept'
  maxFrameBytes: number
  handshakeTimeoutMs: number
  logger?: Logger | undefined
}

/**
 * A framed peer socket. Usage: construct on a connected socket and call `handshake()` at once
 * (rejects with SlabcacheError PEER_AUTH_FAILED, PEER_PROTOCOL or PEER_UNAVAILABLE); once it
 * resolves, `start(onFrame, onClose)` and `write()` frames.
 */
export class PeerConnection {
  readonly socket: Socket
  readonly role: 'dial' | 'accept'
  /** The remote's node id, from its verified HELLO (null until the handshake is done). */
  remoteNodeId: string | null = null
  /** The remote's advertised address, from its HELLO. */
  remoteAddress: string | null = null
  /** Called after each batch went out or the kernel drained the socket (for backpressure). */
  onDrain: () => void = () => {}
  #onFrame: (frame: PeerFrame) => void = () => {}
  #onClose: (reason: string) => void = () => {}
  #started = false
  #paused = false

  readonly #options: PeerConnectionOptions
  readonly #decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES)
  readonly #nonce = randomBytes(NONCE_BYTES)
  #remoteHello: Hello | null = null
  #sentAuth = false
  #ready = false
  #closed = false
  /** fail()/goodbye() ran: the last frames are on their way, nothing more is read or queued. */
  #closing = false
  #closeReason = 'closed'
  #batch: Buffer[] = []
  #batchBytes = 0
  #batchCallbacks: Array<() => void> = []
  #flushScheduled = false
  #settle: ((error: SlabcacheError | null) => void) | null = null
  #handshakeTimer: NodeJS.Timeout | null = null
  /** Read once: a destroyed socket no longer knows its remote address. */
  readonly #endpoint: string

  constructor (socket: Socket, options: PeerConnectionOptions) {
    this.socket = socket
    this.role = options.role
    this.#options = options
    this.#endpoint = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`
    // Frames are batched per turn already; Nagle would only add latency to the batch.
    socket.setNoDelay(true)
    // A peer that vanished without a FIN (power loss, partition) is noticed by the kernel too,
    // not only by request timeouts and heartbeats.
    socket.setKeepAlive(true, 1000)
    socket.on('data', (chunk: Buffer) => { this.#onData(chunk) })
    socket.on('error', (error) => { this.#closeReason = `socket error: ${error.message}` })
    socket.on('close', () => { this.#onSocketClose() })
    socket.on('drain', () => { this.onDrain() })
  }

  /** True once both AUTHs are verified and until the socket closes. */
  get ready (): boolean { return this.#ready && !this.#closed && !this.#closing }
  get closed (): boolean { return this.#closed }
  /** Bytes queued in this turn's batch plus bytes the socket has not handed to the kernel. */
  get unsentBytes (): number { return this.#batchBytes + (this.#closed ? 0 : this.socket.writableLength) }
  /** "ip:port" of the socket's other end, for logs. */
  get remoteEndpoint (): string { return this.#endpoint }

  /**
   * Sends HELLO and runs the handshake. Resolves when this side verified the remote's AUTH (and,
   * dialing, the remote thereby accepted ours). Rejects with PEER_AUTH_FAILED (bad proof, either
   * side), PEER_PROTOCOL (version or framing) or PEER_UNAVAILABLE (closed or timed out); the
   * socket is then destroyed.
   */
  async handshake (): Promise<void> {
    const promise = new Promise<void>((resolve, reject) => {
      this.#settle = (error) => {
        this.#settle = null
        if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer)
        this.#handshakeTimer = null
        if (error === null) resolve()
        else reject(error)
      }
    })
    if (this.#closed) {
      this.#settle!(new SlabcacheError('PEER_UNAVAILABLE', `peer connection ${this.remoteEndpoint} closed before the handshake`))
      return await promise
    }
    this.#handshakeTimer = setTimeout(() => {
      this.#failHandshake(new SlabcacheError('PEER_UNAVAILABLE', `peer handshake with ${this.remoteEndpoint} not done within ${this.#options.handshakeTimeoutMs} ms`))
    }, this.#options.handshakeTimeoutMs)
    this.#handshakeTimer.unref()
    this.write(FrameKind.HELLO, 0, 0, encodeHello({ version: PEER_PROTOCOL_VERSION, nonce: this.#nonce, nodeId: this.#options.nodeId, address: this.#options.address }))
    this.#pump()
    return await promise
  }

  /**
   * Hands the connection over after `handshake()` resolved: frames decoded from now on (and any
   * that arrived behind the AUTH) go to `onFrame` in wire order; `onClose` runs once when the
   * socket is gone, at once if it already is.
   */
  start (onFrame: (frame: PeerFrame) => void, onClose: (reason: string) => void): void {
    this.#onFrame = onFrame
    this.#onClose = onClose
    this.#started = true
    if (this.#closed) {
      onClose(this.#closeReason)
      return
    }
    this.#pump()
  }

  /**
   * Queues one frame for this turn's batch; a no-op once closed. Never copies the payload: the
   * caller must not modify the buffers until the socket wrote them. `onWritten` runs once the
   * frame left the user-space buffer (never if the connection closes first).
   */
  write (kind: FrameKind, type: number, id: number, payload?: Buffer | readonly Buffer[], onWritten?: () => void): void {
    if (this.#closed || this.#closing) return
    for (const chunk of encodeFrame(kind, type, id, payload)) {
      this.#batch.push(chunk)
      this.#batchBytes += chunk.length
    }
    if (onWritten !== undefined) this.#batchCallbacks.push(onWritten)
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => { this.#flush() })
    }
  }

  /** Writes the batch now (corked: one writev). Called by the turn's setImmediate and by close paths. */
  flush (): void { this.#flush() }

  /** Sends ERROR `code` (id 0: the connection itself), flushes it, and ends the socket. */
  fail (code: ErrorCode, message: string): void {
    if (this.#closed || this.#closing) return
    this.#closeReason = `${code}: ${message}`
    this.write(FrameKind.ERROR, 0, 0, encodeErrorPayload(code, message))
    this.#flush()
    this.#closing = true
    this.#endSoon()
  }

  /** Orderly close: flushes what is queued, sends GOODBYE, ends the socket. */
  goodbye (reason = 'closed'): void {
    if (this.#closed || this.#closing) return
    this.#closeReason = reason
    this.write(FrameKind.GOODBYE, 0, 0)
    this.#flush()
    this.#closing = true
    this.#endSoon()
  }

  /** Closes at once; queued frames are dropped. */
  destroy (reason: string): void {
    if (this.#closed) return
    if (!this.#closing) this.#closeReason = reason
    this.#closing = true
    this.socket.destroy()
  }

  /** Resolves when the socket has closed (immediately if it has). */
  async closedPromise (): Promise<void> {
    if (this.#closed) return
    await new Promise<void>((resolve) => { this.socket.once('close', () => { resolve() }) })
  }

  /**
   * Pauses/resumes reading (inbound backpressure). Paused, no frame is delivered either, even
   * one already buffered: a chunk holding 1000 requests must not bypass the budget.
   */
  pause (): void {
    this.#paused = true
    this.socket.pause()
  }

  resume (): void {
    if (!this.#paused || this.#closed) return
    this.#paused = false
    this.socket.resume()
    // Not synchronously: resume() runs inside an answer, which may run inside #pump.
    queueMicrotask(() => { this.#pump() })
  }

  #endSoon (): void {
    // end() lets the written frames reach the remote; the remote closes its side on our FIN.
    // A remote that never does is cut off after the handshake timeout.
    this.socket.end()
    const timer = setTimeout(() => { this.socket.destroy() }, this.#options.handshakeTimeoutMs)
    timer.unref()
    this.socket.once('close', () => { clearTimeout(timer) })
  }

  #flush (): void {
    this.#flushScheduled = false
    if (this.#batch.length === 0) return
    let batch = this.#batch
    const callbacks = this.#batchCallbacks
    const batchBytes = this.#batchBytes
    this.#batch = []
    this.#batchCallbacks = []
    this.#batchBytes = 0
    if (this.#closed || this.socket.destroyed || !this.socket.writable) return
    // Small frames (a forwarded GET is a header and three short parts) cost more as separate
    // iovecs than as one copy: up to COALESCE_BYTES the batch is copied into one buffer.
    if (batch.length > 1 && batchBytes <= COALESCE_BYTES) batch = [Buffer.concat(batch, batchBytes)]
    const last = batch.length - 1
    this.socket.cork()
    for (let i = 0; i < last; i++) this.socket.write(batch[i]!)
    // Writes complete in order: the last chunk's callback covers the whole batch.
    this.socket.write(batch[last]!, callbacks.length === 0
      ? undefined
      : (error) => { if (error == null) for (const callback of callbacks) callback() })
    this.socket.uncork()
    this.onDrain()
  }

  #onData (chunk: Buffer): void {
    if (this.#closed || this.#closing) return
    this.#decoder.push(chunk)
    this.#pump()
  }

  /** Decodes every complete frame; handshake frames first, then `onFrame`. */
  #pump (): void {
    while (!this.#closed && !this.#closing && !this.#paused && (this.#started || !this.#ready)) {
      const status = this.#decoder.next()
      if (status === DecodeStatus.NEED_MORE) return
      if (status === DecodeStatus.ERROR) {
        const reason = `bad framing from ${this.remoteEndpoint}: ${this.#decoder.error ?? ''}`
        this.#options.logger?.warn({ remote: this.remoteEndpoint, reason: this.#decoder.error }, 'peer protocol error; closing the connection')
        // Framing is lost either way: say why if the socket still writes, then close.
        this.fail('PEER_PROTOCOL', reason)
        this.#settle?.(new SlabcacheError('PEER_PROTOCOL', reason))
        return
      }
      const frame = this.#decoder.frame
      if (this.#ready) {
        this.#onFrame(frame)
      } else {
        this.#handshakeFrame(frame)
      }
    }
  }

  #handshakeFrame (frame: PeerFrame): void {
    const options = this.#options
    switch (frame.kind) {
      case FrameKind.HELLO: {
        if (this.#remoteHello !== null) return this.#protocolError('a second HELLO')
        const hello = decodeHello(frame.payload)
        if (hello === null) return this.#protocolError('a malformed HELLO')
        if (hello.version !== PEER_PROTOCOL_VERSION) {
          return this.#protocolError(`protocol version ${hello.version} (this node speaks ${PEER_PROTOCOL_VERSION})`)
        }
        this.#remoteHello = hello
        // The dialer proves itself first; the acceptor answers only after verifying (see header).
        if (this.role === 'dial') this.#sendAuth()
        return
      }
      case FrameKind.AUTH: {
        const hello = this.#remoteHello
        if (hello === null) return this.#protocolError('AUTH before HELLO')
        if (!verifyAuthProof(options.secret, this.#nonce, hello.nodeId, frame.payload)) {
          options.logger?.warn({ remote: this.remoteEndpoint, remoteNodeId: hello.nodeId, remoteAddress: hello.address }, `peer ${this.remoteEndpoint} failed authentication (wrong cluster secret?); closing the connection`)
          const error = new SlabcacheError('PEER_AUTH_FAILED', `peer ${this.remoteEndpoint} (node ${JSON.stringify(hello.nodeId)}) did not prove the cluster secret`)
          this.fail('PEER_AUTH_FAILED', 'AUTH proof did not verify: the cluster secrets differ')
          this.#settle?.(error)
          return
        }
        if (!this.#sentAuth) this.#sendAuth()
        this.remoteNodeId = hello.nodeId
        this.remoteAddress = hello.address
        this.#ready = true
        this.#decoder.maxFrameBytes = options.maxFrameBytes
        this.#settle?.(null)
        return
      }
      case FrameKind.ERROR: {
        // The remote refused us (bad secret, version): relay its code.
        const error = decodeErrorPayload(frame.payload)
        const refusal = error === null
          ? new SlabcacheError('PEER_PROTOCOL', `peer ${this.remoteEndpoint} sent a malformed ERROR during the handshake`)
          : new SlabcacheError(error.code, `peer ${this.remoteEndpoint} refused the handshake: ${error.message}`)
        if (error?.code === 'PEER_AUTH_FAILED') {
          options.logger?.warn({ remote: this.remoteEndpoint }, `peer ${this.remoteEndpoint} refused this node's authentication (wrong cluster secret?)`)
        }
        this.#failHandshake(refusal)
        return
      }
      default:
        return this.#protocolError(`a frame of kind ${frame.kind} before the handshake was done`)
    }
  }

  #sendAuth (): void {
    this.#sentAuth = true
    this.write(FrameKind.AUTH, 0, 0, authProof(this.#options.secret, this.#remoteHello!.nonce, this.#options.nodeId))
  }

  /** Handshake-time protocol violation: ERROR PEER_PROTOCOL to the remote, close, reject. */
  #protocolError (what: string): void {
    const message = `peer ${this.remoteEndpoint} sent ${what}`
    this.#options.logger?.warn({ remote: this.remoteEndpoint }, `${message}; closing the connection`)
    this.fail('PEER_PROTOCOL', `handshake refused: received ${what}`)
    this.#settle?.(new SlabcacheError('PEER_PROTOCOL', message))
  }

  #failHandshake (error: SlabcacheError): void {
    if (!this.#closed) {
      this.#closeReason = error.message
      this.#closing = true
      // An ERROR from the remote or a timeout: nothing to say back, just close.
      this.socket.destroy()
    }
    this.#settle?.(error)
  }

  #onSocketClose (): void {
    if (this.#closed) return
    this.#closed = true
    this.#batch = []
    this.#batchCallbacks = []
    this.#batchBytes = 0
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer)
    if (this.#settle !== null) {
      this.#settle(new SlabcacheError('PEER_UNAVAILABLE', `peer connection ${this.remoteEndpoint} closed during the handshake (${this.#closeReason})`))
      return
    }
    if (this.#ready && this.#started) this.#onClose(this.#closeReason)
  }
}
