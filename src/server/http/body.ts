/**
 * Request body reader with a hard size limit. Thread: main (uWS onData callbacks).
 * Invariants: a declared Content-Length over the limit is refused before any byte is read; a
 * streamed body is refused the moment it crosses the limit, so at most `limitBytes` are ever
 * buffered. Both refusals close the connection after the 413 (the rest of the body is unread,
 * so the connection cannot stay framed). `sink.complete` runs inside the last onData callback,
 * which keeps the reply inside a uWS callback (pipelining stays intact), and inside `res.cork`
 * (so the reply leaves in one send). The caller registers
 * `res.onAborted` before calling (uWS requires it for any reply that comes later).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { ErrorCode } from '../../errors.js'
import { sendError } from './reply.js'
import { H_CONTENT_LENGTH } from './wire.js'

/** First allocation for a body of unknown length (chunked): grows by doubling up to the limit. */
const INITIAL_UNKNOWN_BYTES = 1024

/**
 * Declared Content-Length from `req` (valid only inside the handler), or -1 when absent
 * (chunked or no body) or not a plain decimal number. Allocation-free apart from the header
 * string uWS returns.
 */
export function declaredBodyBytes (req: HttpRequest): number {
  const raw = req.getHeader(H_CONTENT_LENGTH)
  const length = raw.length
  if (length === 0 || length > 15) return length === 0 ? -1 : (/^[0-9]+$/.test(raw) ? Number(raw) : -1)
  let bytes = 0
  for (let i = 0; i < length; i++) {
    const digit = raw.charCodeAt(i) - 0x30
    if (digit < 0 || digit > 9) return -1
    bytes = bytes * 10 + digit
  }
  return bytes
}

/**
 * Answers 413 (`tooLargeCode`) and returns false when the declared length is already over the
 * limit; the handler must then stop. Call inside the handler, before registering onData.
 */
export function refuseDeclaredOverLimit (res: HttpResponse, declaredBytes: number, limitBytes: number, tooLargeCode: ErrorCode): boolean {
  if (declaredBytes <= limitBytes) return false
  const what = tooLargeCode === 'VALUE_TOO_LARGE' ? 'value' : 'request body'
  sendError(res, tooLargeCode, `${what} is ${declaredBytes} bytes; the limit is ${limitBytes}`, true)
  return true
}

/** Where a body reader delivers: the request's exchange. */
export interface BodySink {
  /** True once the client left or a reply was sent: later chunks are ignored. */
  readonly closed: boolean
  /**
   * The whole body. `borrowed`: it is a view of uWS's chunk, valid only until this call
   * returns (the body came in one chunk and was not copied); the sink copies it to keep it.
   */
  complete: (body: Buffer, borrowed: boolean) => void
  /** The 413 was sent (the body crossed the limit while streaming). */
  refused: () => void
}

/**
 * Streams the body to `sink.complete`, called from the last chunk's callback. A body that
 * arrives in one chunk (the common case: small values, pipelined requests) is passed as a view
 * of that chunk, without a copy; a longer one is gathered into one buffer, sized from
 * Content-Length when known (so it allocates once). Allocates one closure.
 */
export function readBody (res: HttpResponse, declaredBytes: number, limitBytes: number, tooLargeCode: ErrorCode, sink: BodySink): void {
  let body: Buffer | null = null
  let received = 0
  let refused = false
  res.onData((chunk, isLast) => {
    if (refused || sink.closed) return
    const bytes = chunk.byteLength
    if (received + bytes > limitBytes) {
      refused = true
      sink.refused()
      const what = tooLargeCode === 'VALUE_TOO_LARGE' ? 'value' : 'request body'
      res.cork(() => sendError(res, tooLargeCode, `${what} exceeds the limit of ${limitBytes} bytes`, true))
      return
    }
    if (isLast && received === 0) { completeCorked(res, sink, Buffer.from(chunk), true); return }
    if (body === null) body = Buffer.allocUnsafe(declaredBytes >= 0 ? Math.max(declaredBytes, bytes) : Math.min(Math.max(INITIAL_UNKNOWN_BYTES, bytes), limitBytes))
    if (received + bytes > body.length) {
      const grown = Buffer.allocUnsafe(Math.min(limitBytes, Math.max(received + bytes, body.length * 2)))
      body.copy(grown, 0, 0, received)
      body = grown
    }
    // uWS neuters `chunk` when this callback returns: copy now.
    body.set(new Uint8Array(chunk), received)
    received += bytes
    if (isLast) completeCorked(res, sink, body.subarray(0, received), false)
  })
}

// The arguments of the completion `completeCorked` runs inside res.cork (module state rather
// than a closure per request: cork calls its callback before returning, so nothing else can
// use these in between).
let pendingSink: BodySink | null = null
let pendingBody: Buffer = Buffer.alloc(0)
let pendingBorrowed = false

function completePending (): void {
  const sink = pendingSink!
  pendingSink = null
  sink.complete(pendingBody, pendingBorrowed)
}

/**
 * Calls `sink.complete` inside `res.cork`: uWS corks the socket around a request handler but
 * not around onData callbacks, so a reply written here would otherwise leave in one send()
 * per writeStatus / writeHeader / end.
 */
function completeCorked (res: HttpResponse, sink: BodySink, body: Buffer, borrowed: boolean): void {
  pendingSink = sink
  pendingBody = body
  pendingBorrowed = borrowed
  res.cork(completePending)
}
