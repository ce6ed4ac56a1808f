/**
 * Response writers shared by every HTTP route: JSON bodies, the JSON error
 * `{ "error": { "code", "message" } }` with the catalog's status, and bodiless endings.
 * Thread: main (inside uWS callbacks, or inside `res.cork` for a deferred reply).
 * Invariant: every writer ends the response exactly once; callers never touch `res` afterwards.
 */
import type { HttpResponse } from 'uWebSockets.js'
import { ERROR_CATALOG, type ErrorCode } from '../../errors.js'

/** Status lines by code; anything missing falls back to `<code> Unknown`. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  304: '304 Not Modified',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  412: '412 Precondition Failed',
  413: '413 Payload Too Large',
  414: '414 URI Too Long',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
  507: '507 Insufficient Storage'
}

export function statusLine (status: number): string {
  return STATUS_TEXT[status] ?? `${status} Unknown`
}

/** Ends `res` with `body` as JSON and the given status. */
export function sendJson (res: HttpResponse, status: number, body: unknown): void {
  res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json').end(JSON.stringify(body))
}

/** Sends the JSON error with the catalog's HTTP status (see `sendErrorWith`). */
export function sendError (res: HttpResponse, code: ErrorCode, message?: string, closeConnection = false): void {
  sendErrorWith(res, code, message, null, null, closeConnection)
}

/**
 * Sends the JSON error `{ error: { code, message }, ...extra }` with the catalog's HTTP status
 * and extra `headers` (`Allow`, `WWW-Authenticate`, `Retry-After`). `extra` adds top-level
 * fields beside `error` (a denied rate limit reports its numbers there). `closeConnection` is
 * for refusals that leave a request body unread (413 on a streamed body): the connection cannot
 * stay framed.
 */
export function sendErrorWith (
  res: HttpResponse, code: ErrorCode, message: string | undefined,
  headers: Readonly<Record<string, string>> | null, extra: Readonly<Record<string, unknown>> | null, closeConnection = false
): void {
  const entry = ERROR_CATALOG[code]
  const error = { code, message: message === undefined || message === '' ? entry.message : message }
  res.writeStatus(statusLine(entry.httpStatus))
  if (headers !== null) for (const name in headers) res.writeHeader(name, headers[name]!)
  res.writeHeader('Content-Type', 'application/json')
    .end(JSON.stringify(extra === null ? { error } : { error, ...extra }), closeConnection)
}

/**
 * Ends a response without a body: a HEAD reporting `contentLength`, or a 204/304 (null: no
 * Content-Length at all). uWS v20.30 mishandles `endWithoutBody(length)`: the response does not
 * count as ended, so the process aborts when the handler returns, or (with an abort handler)
 * the next pipelined request finds it pending and the connection is dropped. Writing the header
 * ourselves and calling `endWithoutBody()` with no arguments works (test/integration/http-pipelining.ts).
 */
export function endWithoutBody (res: HttpResponse, contentLength: number | null): void {
  if (contentLength !== null) res.writeHeader('Content-Length', String(contentLength))
  res.endWithoutBody()
}
