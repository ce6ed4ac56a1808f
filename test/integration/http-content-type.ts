/**
 * A stored content type goes back out as a response header, so it must be a valid header field
 * value (RFC 9110: HTAB, SP, visible ASCII, obs-text): a CR or LF in it would let a writer add
 * headers to every reader's response. PUT (header), POST (envelope) and mset refuse control
 * characters with 400 BAD_REQUEST and store nothing.
 */
import t from 'tap'
import { exchange } from '../fixtures/http-raw.js'
import { assertError, call } from '../fixtures/http.js'
import { startTestServer } from '../fixtures/server.js'

t.test('POST and mset refuse a contentType with CR, LF or another control character; nothing is stored', async (t) => {
  const server = await startTestServer(t)
  for (const contentType of ['text/plain\r\nX-Injected: 1', 'text/plain\nX: 1', 'a\u0000b', 'a\u007fb', 'a\u010ab']) {
    assertError(t, await call(`${server.url}/v1/cache/p`, 'POST', { value: 'v', contentType }), 400, 'BAD_REQUEST', `POST ${JSON.stringify(contentType)}`)
    assertError(t, await call(`${server.url}/v1/mset`, 'POST', { items: [{ key: 'm', value: 'v', contentType }] }), 400, 'BAD_REQUEST', `mset ${JSON.stringify(contentType)}`)
  }
  assertError(t, await call(`${server.url}/v1/cache/p`, 'GET'), 404, 'NOT_FOUND', 'the refused POST stored nothing')
  assertError(t, await call(`${server.url}/v1/cache/m`, 'GET'), 404, 'NOT_FOUND', 'the refused mset stored nothing')

  // Tabs, spaces, visible ASCII and latin1 letters are valid field values.
  t.equal((await call(`${server.url}/v1/cache/p`, 'POST', { value: 'v', contentType: 'text/plain;\tq=1; x=ü' })).status, 204)
  t.equal((await call(`${server.url}/v1/mset`, 'POST', { items: [{ key: 'm', value: 'v', contentType: 'text/csv' }] })).status, 200)
  t.equal((await fetch(`${server.url}/v1/cache/m`)).headers.get('content-type'), 'text/csv')
  const raw = await exchange(server.httpPort, 'GET /v1/cache/p HTTP/1.1\r\nHost: x\r\n\r\n', (r) => r.endsWith('\r\n\r\nv'))
  t.match(raw, /\r\nContent-Type: text\/plain;\tq=1; x=\u00c3\u00bc\r\nETag: "\d+"\r\n/, 'the stored type, one header line')
})

t.test('PUT refuses a Content-Type header with a control character', async (t) => {
  const server = await startTestServer(t)
  // uWS's parser itself never delivers CR, LF or most controls in a header value; DEL it does.
  const raw = await exchange(server.httpPort, 'PUT /v1/cache/k HTTP/1.1\r\nHost: x\r\nContent-Type: a\u007fb\r\nContent-Length: 1\r\n\r\nv', (r) => r.includes('}}'))
  t.match(raw, /^HTTP\/1\.1 400 /)
  t.match(raw, /"code":"BAD_REQUEST"/)
  assertError(t, await call(`${server.url}/v1/cache/k`, 'GET'), 404, 'NOT_FOUND', 'nothing stored')
  t.equal((await call(`${server.url}/v1/cache/k`, 'PUT', 'v', { 'Content-Type': 'text/plain; charset=utf-8' })).status, 204, 'an ordinary type')
})
