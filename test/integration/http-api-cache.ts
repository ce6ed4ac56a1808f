import t from 'tap'
import { startTestServer } from '../fixtures/server.js'
import { assertError, call } from '../fixtures/http.js'

t.test('PUT stores the Content-Type and GET/HEAD echo it; without one GET says application/octet-stream', async (t) => {
  const server = await startTestServer(t)
  const url = `${server.url}/v1/cache/doc`
  t.equal((await fetch(url, { method: 'PUT', body: '{"a":1}', headers: { 'Content-Type': 'application/json; charset=utf-8' } })).status, 204)
  const get = await fetch(url)
  t.equal(get.headers.get('content-type'), 'application/json; charset=utf-8')
  t.equal(await get.text(), '{"a":1}')
  const head = await fetch(url, { method: 'HEAD' })
  t.equal(head.headers.get('content-type'), 'application/json; charset=utf-8')
  t.equal(head.headers.get('content-length'), '7')
  // A later PUT without a Content-Type replaces it (the stored type belongs to the value).
  await fetch(url, { method: 'PUT', body: new Uint8Array([1, 2, 3]) })
  t.equal((await fetch(url)).headers.get('content-type'), 'application/octet-stream')
  const long = await call(url, 'PUT', 'x', { 'Content-Type': 'a/' + 'b'.repeat(300) })
  assertError(t, long, 400, 'BAD_REQUEST', 'a Content-Type over 255 bytes')
})

t.test('X-Slabcache-TTL sets the TTL like ?ttl= and is validated the same way', async (t) => {
  const server = await startTestServer(t, { debug: { clockControl: true } })
  t.equal((await fetch(`${server.url}/v1/cache/h`, { method: 'PUT', body: 'x', headers: { 'X-Slabcache-TTL': '5' } })).status, 204)
  const envelope = await call(`${server.url}/v1/cache/h?envelope=1`, 'GET')
  t.equal(envelope.body.ttl, 5)
  await call(`${server.url}/v1/debug/clock`, 'POST', { advanceMs: 5_001 })
  t.equal((await fetch(`${server.url}/v1/cache/h`)).status, 404, 'expired by the header TTL')
  for (const bad of ['0', 'x', '-3']) {
    assertError(t, await call(`${server.url}/v1/cache/h`, 'PUT', 'x', { 'X-Slabcache-TTL': bad }), 400, 'BAD_REQUEST', `X-Slabcache-TTL: ${bad}`)
  }
})

t.test('ETag: If-None-Match answers 304 while the CAS is unchanged, 200 after a write', async (t) => {
  const server = await startTestServer(t)
  const url = `${server.url}/v1/cache/e`
  const put = await fetch(url, { method: 'PUT', body: 'v1' })
  const etag = put.headers.get('etag')!
  t.match(etag, /^"\d+"$/)
  const get = await fetch(url)
  t.equal(get.headers.get('etag'), etag, 'GET reports the ETag the PUT returned')
  const notModified = await fetch(url, { headers: { 'If-None-Match': etag } })
  t.equal(notModified.status, 304)
  t.equal(notModified.headers.get('etag'), etag)
  t.equal(await notModified.text(), '')
  t.equal((await fetch(url, { headers: { 'If-None-Match': `"1", W/${etag}` } })).status, 304, 'a list with a weak match')
  t.equal((await fetch(url, { headers: { 'If-None-Match': '*' } })).status, 304, '* matches any present item')
  t.equal((await fetch(url, { method: 'HEAD', headers: { 'If-None-Match': etag } })).status, 304, 'HEAD too')
  await fetch(url, { method: 'PUT', body: 'v2' })
  const changed = await fetch(url, { headers: { 'If-None-Match': etag } })
  t.equal(changed.status, 200)
  t.equal(await changed.text(), 'v2')
  t.equal((await fetch(`${server.url}/v1/cache/none`, { headers: { 'If-None-Match': '*' } })).status, 404, 'a missing key is still 404')
})

t.test('If-Match on PUT and DELETE: 412 unless the ETag is current; If-None-Match: * creates only', async (t) => {
  const server = await startTestServer(t)
  const url = `${server.url}/v1/cache/c`
  assertError(t, await call(url, 'PUT', 'x', { 'If-Match': '"123"' }), 412, 'PRECONDITION_FAILED', 'If-Match on a missing key')
  assertError(t, await call(url, 'PUT', 'x', { 'If-Match': '*' }), 412, 'PRECONDITION_FAILED', 'If-Match: * on a missing key')
  const created = await fetch(url, { method: 'PUT', body: 'one', headers: { 'If-None-Match': '*' } })
  t.equal(created.status, 204, 'If-None-Match: * creates')
  const etag1 = created.headers.get('etag')!
  assertError(t, await call(url, 'PUT', 'two', { 'If-None-Match': '*' }), 412, 'PRECONDITION_FAILED', 'If-None-Match: * on a present key')
  assertError(t, await call(url, 'PUT', 'two', { 'If-None-Match': etag1 }), 400, 'BAD_REQUEST', 'If-None-Match with a tag on a write')
  assertError(t, await call(url, 'PUT', 'two', { 'If-Match': '"999999"' }), 412, 'PRECONDITION_FAILED', 'stale If-Match')
  t.equal(await (await fetch(url)).text(), 'one', 'the refused writes changed nothing')
  const updated = await fetch(url, { method: 'PUT', body: 'two', headers: { 'If-Match': etag1 } })
  t.equal(updated.status, 204, 'current If-Match writes')
  const etag2 = updated.headers.get('etag')!
  t.not(etag2, etag1)
  assertError(t, await call(url, 'PUT', 'three', { 'If-Match': etag1 }), 412, 'PRECONDITION_FAILED', 'the old ETag no longer matches')
  t.equal((await fetch(url, { method: 'PUT', body: 'three', headers: { 'If-Match': `"1", ${etag2}` } })).status, 204, 'a list containing the current ETag')
  const etag3 = (await fetch(url, { method: 'HEAD' })).headers.get('etag')!
  assertError(t, await call(url, 'DELETE', undefined, { 'If-Match': etag2 }), 412, 'PRECONDITION_FAILED', 'DELETE with a stale If-Match')
  t.equal((await fetch(url)).status, 200, 'still there')
  t.equal((await fetch(url, { method: 'DELETE', headers: { 'If-Match': etag3 } })).status, 204, 'DELETE with the current ETag')
  assertError(t, await call(url, 'DELETE', undefined, { 'If-Match': '*' }), 412, 'PRECONDITION_FAILED', 'DELETE If-Match: * on a missing key')
})

t.test('POST envelope stores {value, ttl, contentType}; GET ?envelope=1 returns it; binary values use base64', async (t) => {
  const server = await startTestServer(t)
  const url = `${server.url}/v1/cache/${encodeURIComponent('user:1')}`
  const post = await fetch(url, { method: 'POST', body: JSON.stringify({ value: 'héllo', ttl: 60, contentType: 'text/plain' }) })
  t.equal(post.status, 204)
  t.match(post.headers.get('etag'), /^"\d+"$/)
  const raw = await fetch(url)
  t.equal(await raw.text(), 'héllo', 'the raw GET returns the UTF-8 bytes')
  t.equal(raw.headers.get('content-type'), 'text/plain')
  const envelope = await call(`${url}?envelope=1`, 'GET')
  t.equal(envelope.status, 200)
  t.equal(envelope.headers.get('content-type'), 'application/json')
  t.match(envelope.body, { key: 'user:1', value: 'héllo', ttl: 60, tags: [], contentType: 'text/plain' })
  t.equal(`"${envelope.body.cas}"`, post.headers.get('etag'))
  t.notOk('encoding' in envelope.body)

  await fetch(`${server.url}/v1/cache/bin`, { method: 'PUT', body: new Uint8Array([0xff, 0x00, 0xfe]) })
  const binary = await call(`${server.url}/v1/cache/bin?envelope=1`, 'GET')
  t.match(binary.body, { value: '/wD+', encoding: 'base64', ttl: null, contentType: null })
  t.equal((await fetch(`${server.url}/v1/cache/b64`, { method: 'POST', body: JSON.stringify({ value: '/wD+', encoding: 'base64' }) })).status, 204)
  t.same(new Uint8Array(await (await fetch(`${server.url}/v1/cache/b64`)).arrayBuffer()), new Uint8Array([0xff, 0x00, 0xfe]))
})

t.test('POST envelope: malformed bodies are 400 BAD_REQUEST and change nothing', async (t) => {
  const server = await startTestServer(t, { limits: { maxValueBytes: 64, maxRequestBytes: 1024 } })
  const url = `${server.url}/v1/cache/k`
  const cases: Array<[string, string]> = [
    ['not JSON', '{"value": '],
    ['an array', '[1]'],
    ['an empty body', ''],
    ['value missing', '{"ttl": 5}'],
    ['value not a string', '{"value": 5}'],
    ['bad ttl', '{"value": "x", "ttl": 0}'],
    ['fractional ttl', '{"value": "x", "ttl": 1.5}'],
    ['tags not strings', '{"value": "x", "tags": [1]}'],
    ['bad encoding', '{"value": "x", "encoding": "hex"}'],
    ['bad base64', '{"value": "***", "encoding": "base64"}'],
    ['contentType not a string', '{"value": "x", "contentType": 5}']
  ]
  for (const [what, body] of cases) assertError(t, await call(url, 'POST', body), 400, 'BAD_REQUEST', what)
  t.equal((await fetch(url)).status, 404, 'nothing was stored')
  assertError(t, await call(url, 'POST', { value: 'x'.repeat(65) }), 413, 'VALUE_TOO_LARGE', 'a value over --max-value-bytes')
  assertError(t, await call(url, 'POST', { value: 'x', pad: 'y'.repeat(1100) }), 413, 'REQUEST_TOO_LARGE', 'a body over --max-request-bytes')
})

t.test('wrong methods are 405 METHOD_NOT_ALLOWED with Allow; empty keys are 400', async (t) => {
  const server = await startTestServer(t)
  const patch = await call(`${server.url}/v1/cache/k`, 'PATCH', 'x')
  assertError(t, patch, 405, 'METHOD_NOT_ALLOWED', 'PATCH on a key')
  t.equal(patch.headers.get('allow'), 'GET, HEAD, PUT, POST, DELETE')
  const getMget = await call(`${server.url}/v1/mget`, 'GET')
  assertError(t, getMget, 405, 'METHOD_NOT_ALLOWED', 'GET on mget')
  t.equal(getMget.headers.get('allow'), 'POST')
  const putHealth = await call(`${server.url}/v1/health`, 'PUT', 'x')
  assertError(t, putHealth, 405, 'METHOD_NOT_ALLOWED', 'PUT on health')
  t.equal(putHealth.headers.get('allow'), 'GET')
  assertError(t, await call(`${server.url}/v1/cache/`, 'GET'), 404, 'NOT_FOUND', 'no key at all')
})
