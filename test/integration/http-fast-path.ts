/**
 * The HTTP hot paths of /v1/cache/{key} (native-bench/RESULTS.md, "HTTP path, optimisation
 * round 3"): GET/HEAD answered from the `respond` fast path (scratch key, reused value view,
 * Content-Type and ETag written as one header), PUT bodies passed without a copy when they
 * arrive in one chunk, body replies inside res.cork. Each behaviour the slow path had is
 * checked here on the fast one: auth, conditional requests, HEAD, errors, and that reused
 * buffers never leak one request's bytes into another's reply.
 */
import t from 'tap'
import { connect } from 'node:net'
import { exchange } from '../fixtures/http-raw.js'
import { assertError, call } from '../fixtures/http.js'
import { startTestServer } from '../fixtures/server.js'

function count (haystack: string, needle: string): number {
  return haystack.split(needle).length - 1
}

/** The header lines of each response in `raw` (latin1), lower-cased names. */
function responses (raw: string): Array<{ status: string, headers: Map<string, string[]>, rest: string }> {
  return raw.split(/(?=HTTP\/1\.1 )/).filter((part) => part !== '').map((part) => {
    const [head, rest = ''] = part.split('\r\n\r\n', 2)
    const [status, ...lines] = head!.split('\r\n')
    const headers = new Map<string, string[]>()
    for (const line of lines) {
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).toLowerCase()
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()])
    }
    return { status: status!, headers, rest }
  })
}

t.test('GET fast path: stored type and ETag arrive as two ordinary headers; HEAD has the length and no body', async (t) => {
  const server = await startTestServer(t)
  const put = await fetch(`${server.url}/v1/cache/typed`, { method: 'PUT', body: 'hello', headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
  const etag = put.headers.get('etag')!
  t.match(etag, /^"\d+"$/)
  const raw = await exchange(server.httpPort, 'GET /v1/cache/typed HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v1/cache/typed HTTP/1.1\r\nHost: x\r\n\r\n',
    (r) => count(r, 'HTTP/1.1 200') === 2 && r.endsWith('\r\n\r\n'))
  const [get, head] = responses(raw)
  t.equal(get!.status, 'HTTP/1.1 200 OK')
  t.same(get!.headers.get('content-type'), ['text/plain; charset=utf-8'], 'exactly one Content-Type, the stored one')
  t.same(get!.headers.get('etag'), [etag], 'exactly one ETag, the PUT\'s')
  t.same(get!.headers.get('content-length'), ['5'])
  t.ok(get!.rest.startsWith('hello'), 'the body')
  t.equal(head!.status, 'HTTP/1.1 200 OK')
  t.same(head!.headers.get('content-length'), ['5'], 'HEAD reports the value length')
  t.same(head!.headers.get('etag'), [etag])
  t.equal(head!.rest, '', 'HEAD has no body')

  await fetch(`${server.url}/v1/cache/plain`, { method: 'PUT', body: Buffer.from('x') })
  const plain = await fetch(`${server.url}/v1/cache/plain`)
  t.equal(plain.headers.get('content-type'), 'application/octet-stream', 'no stored type: the default')
})

t.test('GET fast path: If-None-Match answers 304 with the ETag; other tags and * behave as before', async (t) => {
  const server = await startTestServer(t)
  const etag = (await fetch(`${server.url}/v1/cache/k`, { method: 'PUT', body: 'v' })).headers.get('etag')!
  const hit = await fetch(`${server.url}/v1/cache/k`, { headers: { 'If-None-Match': etag } })
  t.equal(hit.status, 304)
  t.equal(hit.headers.get('etag'), etag)
  t.equal(await hit.text(), '')
  const star = await fetch(`${server.url}/v1/cache/k`, { headers: { 'If-None-Match': '*' } })
  t.equal(star.status, 304, '* matches any current item')
  const other = await fetch(`${server.url}/v1/cache/k`, { headers: { 'If-None-Match': '"1", W/"2"' } })
  t.equal(other.status, 200, 'a list without the current tag')
  t.equal(await other.text(), 'v')
  const head = await fetch(`${server.url}/v1/cache/k`, { method: 'HEAD', headers: { 'If-None-Match': etag } })
  t.equal(head.status, 304, 'HEAD honours If-None-Match too')
})

t.test('GET fast path: errors and keys it does not take (percent-encoded, oversized) go the full way', async (t) => {
  const server = await startTestServer(t, { limits: { maxKeyBytes: 8 } })
  assertError(t, await call(`${server.url}/v1/cache/absent`, 'GET'), 404, 'NOT_FOUND', 'a missing key')
  assertError(t, await call(`${server.url}/v1/cache/${'k'.repeat(9)}`, 'GET'), 414, 'KEY_TOO_LARGE', 'one byte over the key limit')
  assertError(t, await call(`${server.url}/v1/cache/%E0%A4%A`, 'GET'), 400, 'BAD_REQUEST', 'malformed percent-encoding')
  await fetch(`${server.url}/v1/cache/${'k'.repeat(8)}`, { method: 'PUT', body: 'at the limit' })
  t.equal(await (await fetch(`${server.url}/v1/cache/${'k'.repeat(8)}`)).text(), 'at the limit', 'a key at the limit')
  await fetch(`${server.url}/v1/cache/a%20b`, { method: 'PUT', body: 'spaced' })
  t.equal(await (await fetch(`${server.url}/v1/cache/a%20b`)).text(), 'spaced', 'a percent-encoded key is decoded')
  // 'é' is 2 UTF-8 bytes: 4 characters, 8 bytes fits; sent raw (not percent-encoded; the
  // helper writes its payload as UTF-8) it takes the fast path's non-ASCII branch.
  await fetch(`${server.url}/v1/cache/${encodeURIComponent('éééé')}`, { method: 'PUT', body: 'accents' })
  const raw = await exchange(server.httpPort, 'GET /v1/cache/éééé HTTP/1.1\r\nHost: x\r\n\r\n', (r) => r.includes('accents'))
  t.match(raw, /^HTTP\/1\.1 200 OK/, 'a raw UTF-8 key reads the same item')
  const over = await exchange(server.httpPort, 'GET /v1/cache/ééééé HTTP/1.1\r\nHost: x\r\n\r\n', (r) => r.includes('}}'))
  t.match(over, /^HTTP\/1\.1 414 /, 'a raw UTF-8 key one character over: 10 bytes')
  const envelope = await call(`${server.url}/v1/cache/a%20b?envelope=1`, 'GET')
  t.match(envelope.body, { key: 'a b', value: 'spaced' }, 'a query string takes the parsed path')
})

t.test('GET fast path: a stored non-ASCII type is sent as before (its latin1 string, UTF-8 encoded)', async (t) => {
  const server = await startTestServer(t)
  t.equal((await call(`${server.url}/v1/cache/u`, 'POST', { value: 'v', contentType: 'text/plain; x=ü' })).status, 204)
  const raw = await exchange(server.httpPort, 'GET /v1/cache/u HTTP/1.1\r\nHost: x\r\n\r\n', (r) => r.endsWith('\r\n\r\nv'))
  const bytes = Buffer.from(raw, 'latin1')
  t.ok(bytes.includes(Buffer.from('Content-Type: text/plain; x=\u00c3\u00bc\r\n', 'latin1')), 'ü as UTF-8 bytes C3 BC')
  t.match(raw, /\r\nETag: "\d+"\r\n/, 'and its ETag')
})

t.test('pipelined GETs of values of different sizes and types: no bytes of one reply in another', async (t) => {
  const server = await startTestServer(t)
  const n = 40
  for (let i = 0; i < n; i++) {
    await fetch(`${server.url}/v1/cache/m${i}`, { method: 'PUT', body: `${i}:`.padEnd(1 + (i * 7) % 50, String.fromCharCode(97 + i % 26)), headers: { 'Content-Type': `type/${i}` } })
  }
  let payload = ''
  for (let round = 0; round < 3; round++) for (let i = 0; i < n; i++) payload += `GET /v1/cache/m${(i * 13 + round) % n} HTTP/1.1\r\nHost: x\r\n\r\n`
  const raw = await exchange(server.httpPort, payload, (r) => count(r, 'HTTP/1.1 200') === 3 * n && /\d+:[a-z]*$/.test(r))
  const replies = responses(raw)
  t.equal(replies.length, 3 * n)
  let k = 0
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < n; i++) {
      const key = (i * 13 + round) % n
      const reply = replies[k++]!
      const expected = `${key}:`.padEnd(1 + (key * 7) % 50, String.fromCharCode(97 + key % 26))
      if (reply.rest !== expected || reply.headers.get('content-type')?.[0] !== `type/${key}`) {
        t.fail(`reply ${k} for m${key}: ${JSON.stringify(reply)}`)
        return
      }
    }
  }
  t.pass('every reply carries its own key\'s value and type')
})

t.test('PUT: one-chunk bodies are not aliased; a body split over writes is gathered; replies are framed', async (t) => {
  const server = await startTestServer(t)
  let payload = ''
  for (let i = 0; i < 20; i++) payload += `PUT /v1/cache/w${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nbody${String(i).padStart(2, '0')}`
  for (let i = 0; i < 20; i++) payload += `GET /v1/cache/w${i} HTTP/1.1\r\nHost: x\r\n\r\n`
  const raw = await exchange(server.httpPort, payload, (r) => count(r, 'HTTP/1.1 200') === 20 && r.endsWith('body19'))
  t.equal(count(raw, 'HTTP/1.1 204'), 20)
  t.same([...raw.matchAll(/body(\d\d)/g)].map((m) => Number(m[1])), Array.from({ length: 20 }, (_, i) => i), 'each key holds its own body')

  const split = await new Promise<string>((resolve, reject) => {
    const socket = connect(server.httpPort, '127.0.0.1')
    let received = ''
    socket.setEncoding('latin1')
    socket.on('error', reject)
    socket.on('data', (chunk: string) => { received += chunk; if (received.includes('\r\n\r\n')) { socket.end(); resolve(received) } })
    socket.write('PUT /v1/cache/split HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfirst')
    setTimeout(() => socket.write('-half'), 20)
  })
  t.match(split, /^HTTP\/1\.1 204 /)
  t.equal(await (await fetch(`${server.url}/v1/cache/split`)).text(), 'first-half')
})

t.test('fast paths honour auth: 401 without a token, tenants separated, first-seen credential with a one-chunk body', async (t) => {
  const server = await startTestServer(t, {
    dataDir: t.testdir({}),
    auth: { adminToken: 'admin-token-for-tests', defaultSecret: 'default-secret-1' },
    tenants: [{ name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null }]
  })
  const alpha = { Authorization: 'Bearer alpha:alpha-secret-1' }
  // First sight of alpha's credential: scrypt runs, the reply is deferred, so the one-chunk
  // body must outlive its onData callback.
  const raw = await exchange(server.httpPort, 'PUT /v1/cache/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alpha:alpha-secret-1\r\nContent-Length: 5\r\n\r\nalpha',
    (r) => r.endsWith('\r\n\r\n'))
  t.match(raw, /^HTTP\/1\.1 204 /)
  t.equal(await (await fetch(`${server.url}/v1/cache/k`, { headers: alpha })).text(), 'alpha', 'the deferred write stored the whole body')
  const anonymous = await call(`${server.url}/v1/cache/k`, 'GET')
  assertError(t, anonymous, 401, 'UNAUTHORIZED', 'GET without a token')
  t.match(anonymous.headers.get('www-authenticate'), /^Bearer/)
  const head = await fetch(`${server.url}/v1/cache/k`, { method: 'HEAD', headers: { Authorization: 'Bearer alpha:wrong-secret-1' } })
  t.equal(head.status, 401, 'HEAD with a wrong secret')
  t.match(head.headers.get('www-authenticate'), /^Bearer/)
  assertError(t, await call(`${server.url}/v1/cache/k`, 'GET', undefined, { Authorization: 'Bearer default-secret-1' }), 404, 'NOT_FOUND', 'the default tenant does not see alpha\'s key')
  t.equal((await call(`${server.url}/v1/cache/k`, 'PUT', 'default', { Authorization: 'Bearer default-secret-1' })).status, 204)
  t.equal(await (await fetch(`${server.url}/v1/cache/k`, { headers: alpha })).text(), 'alpha', 'nor overwrites it')
})

t.test('fast paths are timed: each GET and PUT adds one http observation', async (t) => {
  const server = await startTestServer(t)
  const observed = async (): Promise<number> => {
    const text = await (await fetch(`${server.url}/metrics`)).text()
    return Number(/^slabcache_request_duration_seconds_count\{protocol="http"\} (\d+)$/m.exec(text)?.[1])
  }
  const before = await observed()
  await fetch(`${server.url}/v1/cache/timed`, { method: 'PUT', body: 'v' })
  for (let i = 0; i < 5; i++) await (await fetch(`${server.url}/v1/cache/timed`)).text()
  // The scrape that reads `before` is counted after its own handler returns: +1.
  t.equal(await observed(), before + 1 + 6)
})

t.test('GET fast path: If-None-Match is read only for a hit; a miss answers 404 with or without it', async (t) => {
  const server = await startTestServer(t)
  assertError(t, await call(`${server.url}/v1/cache/nothing`, 'GET', undefined, { 'If-None-Match': '*' }), 404, 'NOT_FOUND', 'a miss with If-None-Match: *')
  assertError(t, await call(`${server.url}/v1/cache/nothing`, 'GET', undefined, { 'If-None-Match': '"1"' }), 404, 'NOT_FOUND', 'a miss with a tag')
  const etag = (await fetch(`${server.url}/v1/cache/here`, { method: 'PUT', body: 'v' })).headers.get('etag')!
  // Pipelined on one connection: a hit with the tag, one without, a miss with it, a hit again.
  const raw = await exchange(server.httpPort,
    `GET /v1/cache/here HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\n\r\n` +
    'GET /v1/cache/here HTTP/1.1\r\nHost: x\r\n\r\n' +
    `GET /v1/cache/nothing HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\n\r\n` +
    `HEAD /v1/cache/here HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/${etag}\r\n\r\n`,
    (r) => count(r, 'HTTP/1.1 ') === 4 && r.endsWith('\r\n\r\n'))
  const [notModified, hit, miss, head] = responses(raw)
  t.equal(notModified!.status, 'HTTP/1.1 304 Not Modified')
  t.same(notModified!.headers.get('etag'), [etag], '304: exactly one ETag')
  t.equal(hit!.status, 'HTTP/1.1 200 OK', 'the next request without the header is not affected')
  t.ok(hit!.rest.startsWith('v'))
  t.match(miss!.status, /^HTTP\/1\.1 404 /)
  t.equal(head!.status, 'HTTP/1.1 304 Not Modified', 'HEAD with a weak tag of the item')
})

t.test('GET fast path: a query string other than envelope reads the same item; an empty one too', async (t) => {
  const server = await startTestServer(t)
  const etag = (await fetch(`${server.url}/v1/cache/q`, { method: 'PUT', body: 'queried', headers: { 'Content-Type': 'text/x-q' } })).headers.get('etag')!
  for (const path of ['/v1/cache/q', '/v1/cache/q?', '/v1/cache/q?x=1', '/v1/cache/q?envelope=0']) {
    const res = await fetch(`${server.url}${path}`)
    t.equal(res.status, 200, path)
    t.equal(res.headers.get('etag'), etag, `${path}: ETag`)
    t.equal(res.headers.get('content-type'), 'text/x-q', `${path}: stored type`)
    t.equal(await res.text(), 'queried', `${path}: value`)
  }
  const conditional = await fetch(`${server.url}/v1/cache/q?x=1`, { headers: { 'If-None-Match': etag } })
  t.equal(conditional.status, 304, 'If-None-Match on the parsed path too')
  t.equal(conditional.headers.get('etag'), etag)
})

t.test('PUT, DELETE and 304 replies: the ETag arrives as one ordinary header line after the status, pipelined', async (t) => {
  const server = await startTestServer(t)
  const raw = await exchange(server.httpPort,
    'PUT /v1/cache/s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none' +
    'PUT /v1/cache/s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nIf-None-Match: *\r\n\r\ntwo' +
    'PUT /v1/cache/s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthree' +
    'DELETE /v1/cache/s HTTP/1.1\r\nHost: x\r\n\r\n',
    (r) => count(r, 'HTTP/1.1 ') === 4 && r.endsWith('\r\n\r\n'))
  const [first, refused, second, deleted] = responses(raw)
  t.equal(first!.status, 'HTTP/1.1 204 No Content')
  t.match(first!.headers.get('etag'), [/^"\d+"$/], 'exactly one ETag')
  t.equal(first!.headers.get('etag')!.length, 1)
  t.equal(first!.rest, '', 'no body')
  t.match(refused!.status, /^HTTP\/1\.1 412 /, 'create-only on a present key')
  t.equal(second!.status, 'HTTP/1.1 204 No Content')
  t.not(second!.headers.get('etag')![0], first!.headers.get('etag')![0], 'a new ETag for the new version')
  t.equal(deleted!.status, 'HTTP/1.1 204 No Content')
  t.equal(deleted!.headers.get('etag'), undefined, 'a delete carries no ETag')
  const again = await fetch(`${server.url}/v1/cache/s`, { method: 'PUT', body: 'x' })
  t.equal(again.status, 204)
  const etag = again.headers.get('etag')!
  t.equal((await fetch(`${server.url}/v1/cache/s`)).headers.get('etag'), etag, 'the 204\'s ETag is the one GET reports')
})

t.test('pipelined requests are timed one observation each: 16 GETs and 4 PUTs in one write add 20', async (t) => {
  const server = await startTestServer(t)
  await fetch(`${server.url}/v1/cache/p`, { method: 'PUT', body: 'v' })
  const before = server.metrics.observedRequests('http')
  let payload = ''
  for (let i = 0; i < 4; i++) payload += `PUT /v1/cache/p${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv`
  for (let i = 0; i < 16; i++) payload += 'GET /v1/cache/p HTTP/1.1\r\nHost: x\r\n\r\n'
  const raw = await exchange(server.httpPort, payload, (r) => count(r, 'HTTP/1.1 200') === 16 && r.endsWith('\r\n\r\nv'))
  t.equal(count(raw, 'HTTP/1.1 204'), 4)
  t.equal(server.metrics.observedRequests('http') - before, 20, 'one observation per request, not per read')
})
