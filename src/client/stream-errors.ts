/**
 * Errors of the stream client. Thread: the client's. Owns: nothing.
 * These are client-side: the server's error catalog (src/errors.ts) travels on this stream as
 * memcached binary statuses, which StreamStatusError carries as they came.
 */
import { statusName } from './stream-protocol.js'

/** The server answered a request with a non-success binary status. */
export class StreamStatusError extends Error {
  readonly code = 'STREAM_STATUS'
  /** The binary status, e.g. 0x0002 (Status.KEY_EXISTS). */
  readonly status: number
  /** Its name in `Status`, e.g. 'KEY_EXISTS'. */
  readonly statusName: string
  /** The request's opcode. */
  readonly opcode: number

  constructor (opcode: number, status: number, message: string) {
    super(`${statusName(status)} (0x${status.toString(16).padStart(4, '0')}): ${message}`)
    this.name = 'StreamStatusError'
    this.status = status
    this.statusName = statusName(status)
    this.opcode = opcode
  }
}

/** The WebSocket closed (or failed) with this request unanswered. */
export class StreamClosedError extends Error {
  readonly code = 'STREAM_CLOSED'
  /** The WebSocket close code (1006 when the connection dropped without one). */
  readonly closeCode: number
  readonly reason: string

  constructor (closeCode: number, reason: string) {
    super(`stream closed (${closeCode}${reason === '' ? '' : `: ${reason}`})`)
    this.name = 'StreamClosedError'
    this.closeCode = closeCode
    this.reason = reason
  }
}
