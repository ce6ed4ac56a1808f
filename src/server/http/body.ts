/**
 * Request body reader with a hard size limit. Thread: main (uWS onData callbacks).
 * Invariants: a declared Content-Length over the limit is refused before any byte is read; a
 * streamed body is refused the moment it crosses the limit, so at most `limitBytes` are ever
 * buffered. Both refusals close the connection after the 413 (the rest of the body is unread,
 * so the connection cannot stay framed). `onComplete` runs inside the last onData callback,
 * which keeps the reply inside a uWS callback (pipelining stays intact). The caller registers
 * `res.onAborted` before calling (uWS requires it for any reply that comes later).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { ErrorCode } from '../../errors.js'
import { sendError } from './reply.js'

/** First allocation for a body of unknown length (chunked): grows by doubling up to the limit. */
const INITIAL_UNKNOWN_BYTES = 1024

/** What the handler knows before the body arrives; read from `req` while it is valid. */
export interface BodyHeader {
  /** Declared Content-Length, or -1 when absent (chunked or no body). */
  readonly declaredBytes: number
}

/** Reads Content-Length from `req` (valid only inside the handler). NaN-safe: garbage is -1. */
export function bodyHeader (req: HttpRequest): BodyHeader {
  const raw = req.getHeader('content-length')
  const declaredBytes = raw === '' || !/^[0-9]+$/.test(raw) ? -1 : Number(raw)
  return { declaredBytes }
}

/**
 * Answers 413 (`tooLargeCode`) and returns false when the declared length is already over the
 * limit; the handler must then stop. Call inside the handler, before registering onData.
 */
export function refuseDeclaredOverLimit (res: HttpResponse, header: BodyHeader, limitBytes: number, tooLargeCode: ErrorCode): boolean {
  if (header.declaredBytes <= limitBytes) return false
  const what = tooLargeCode === 'VALUE_TOO_LARGE' ? 'value' : 'request body'
  sendError(res, tooLargeCode, `${what} is ${header.declaredBytes} bytes; the limit is ${limitBytes}`, true)
  return true
}

/**
 * Streams the body into one buffer (sized from Content-Length when known, so the common case
 * allocates once) and calls `onComplete(body)` from the last chunk's callback. `isAborted` lets
 * the caller's abort flag stop the reader; `onRefused` tells it the 413 was sent. Allocates the
 * body buffer and one closure.
 */
export function readBody (
  res: HttpResponse, header: BodyHeader, limitBytes: number, tooLargeCode: ErrorCode,
  isAborted: () => boolean, onComplete: (body: Buffer) => void, onRefused?: () => void
): void {
  let body = Buffer.allocUnsafe(header.declaredBytes >= 0 ? header.declaredBytes : Math.min(INITIAL_UNKNOWN_BYTES, limitBytes))
  let received = 0
  let refused = false
  res.onData((chunk, isLast) => {
    if (refused || isAborted()) return
    const bytes = chunk.byteLength
    if (received + bytes > limitBytes) {
      refused = true
      onRefused?.()
      const what = tooLargeCode === 'VALUE_TOO_LARGE' ? 'value' : 'request body'
      sendError(res, tooLargeCode, `${what} exceeds the limit of ${limitBytes} bytes`, true)
      return
    }
    if (received + bytes > body.length) {
      const grown = Buffer.allocUnsafe(Math.min(limitBytes, Math.max(received + bytes, body.length * 2)))
      body.copy(grown, 0, 0, received)
      body = grown
    }
    // uWS neuters `chunk` when this callback returns: copy now.
    body.set(new Uint8Array(chunk), received)
    received += bytes
    if (isLast) onComplete(body.subarray(0, received))
  })
}
