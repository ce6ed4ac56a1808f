import t from 'tap'
import { randomBytes } from 'node:crypto'
import { startTestServer } from '../fixtures/server.js'

t.test('PUT then GET returns the exact bytes, for small, binary and chunked (> 512 KiB) values', async (t) => {
  const server = await startTestServer(t)
  for (const size of [0, 1, 100, 4096, 600_000, 3 * 1024 * 1024 + 17]) {
    const value = randomBytes(size)
    const put = await fetch(`${server.url}/v1/cache/k${size}`, { method: 'PUT', body: value })
    t.equal(put.status, 204, `PUT ${size} bytes`)
    const get = await fetch(`${server.url}/v1/cache/k${size}`)
    t.equal(get.status, 200)
    t.equal(get.headers.get('content-type'), 'application/octet-stream')
    t.ok(Buffer.from(await get.arrayBuffer()).equals(value), `GET returns the ${size} bytes unchanged`)
  }
})

t.test('keys are percent-decoded UTF-8 and binary-safe in values', async (t) => {
  const server = await startTestServer(t)
  const value = Buffer.from('a\r\nb\u0000c')
  t.equal((await fetch(`${server.url}/v1/cache/${encodeURIComponent('ключ/with slash')}`, { method: 'PUT', body: value })).status, 204)
  const get = await fetch(`${server.url}/v1/cache/${encodeURIComponent('ключ/with slash')}`)
  t.ok(Buffer.from(await get.arrayBuffer()).equals(value))
  const bad = await fetch(`${server.url}/v1/cache/%E0%A4%A`)
  t.equal(bad.status, 400)
  t.equal((await bad.json() as { error: { code: string } }).error.code, 'BAD_REQUEST')
})

t.test('HEAD reports the length without a body; ETag changes on every write', async (t) => {
  const server = await startTestServer(t)
  await fetch(`${server.url}/v1/cache/h`, { method: 'PUT', body: 'hello' })
  const first = await fetch(`${server.url}/v1/cache/h`, { method: 'HEAD' })
  t.equal(first.status, 200)
  t.equal(first.headers.get('content-length'), '5')
  t.equal((await first.arrayBuffer()).byteLength, 0)
  const etag = first.headers.get('etag')
  await fetch(`${server.url}/v1/cache/h`, { method: 'PUT', body: 'hello' })
  const second = await fetch(`${server.url}/v1/cache/h`, { method: 'HEAD' })
  t.not(second.headers.get('etag'), etag)
})

t.test('DELETE removes; a missing key is 404 with a JSON error', async (t) => {
  const server = await startTestServer(t)
  await fetch(`${server.url}/v1/cache/d`, { method: 'PUT', body: 'x' })
  t.equal((await fetch(`${server.url}/v1/cache/d`, { method: 'DELETE' })).status, 204)
  const again = await fetch(`${server.url}/v1/cache/d`, { method: 'DELETE' })
  t.equal(again.status, 404)
  const get = await fetch(`${server.url}/v1/cache/d`)
  t.equal(get.status, 404)
  t.same(await get.json(), { error: { code: 'NOT_FOUND', message: 'no such key' } })
  const head = await fetch(`${server.url}/v1/cache/d`, { method: 'HEAD' })
  t.equal(head.status, 404)
})

t.test('?ttl= expires the item when the debug clock moves past it', async (t) => {
  const server = await startTestServer(t, { debug: { clockControl: true } })
  t.equal((await fetch(`${server.url}/v1/cache/t?ttl=10`, { method: 'PUT', body: 'soon gone' })).status, 204)
  await fetch(`${server.url}/v1/cache/forever`, { method: 'PUT', body: 'stays' })
  const advance = async (ms: number): Promise<Response> => await fetch(`${server.url}/v1/debug/clock`, { method: 'POST', body: JSON.stringify({ advanceMs: ms }) })
  t.equal((await advance(9_000)).status, 200)
  t.equal((await fetch(`${server.url}/v1/cache/t`)).status, 200, 'still there at 9 s')
  await advance(1_001)
  t.equal((await fetch(`${server.url}/v1/cache/t`)).status, 404, 'gone after 10 s')
  t.equal((await fetch(`${server.url}/v1/cache/forever`)).status, 200, 'items without ttl stay')
  const bad = await advance(-1)
  t.equal(bad.status, 400)
})

t.test('debug clock is refused when debug.clockControl is off', async (t) => {
  const server = await startTestServer(t)
  const res = await fetch(`${server.url}/v1/debug/clock`, { method: 'POST', body: '{"advanceMs":1000}' })
  t.equal(res.status, 403)
  t.equal((await res.json() as { error: { code: string } }).error.code, 'DEBUG_DISABLED')
})

t.test('limits: key and value sizes are enforced at the boundary, ttl must be valid', async (t) => {
  const server = await startTestServer(t, { limits: { maxKeyBytes: 16, maxValueBytes: 1024 } })
  t.equal((await fetch(`${server.url}/v1/cache/${'k'.repeat(16)}`, { method: 'PUT', body: 'ok' })).status, 204, 'key of exactly the limit')
  const longKey = await fetch(`${server.url}/v1/cache/${'k'.repeat(17)}`, { method: 'PUT', body: 'no' })
  t.equal(longKey.status, 414)
  t.equal((await longKey.json() as { error: { code: string } }).error.code, 'KEY_TOO_LARGE')
  t.equal((await fetch(`${server.url}/v1/cache/v`, { method: 'PUT', body: Buffer.alloc(1024) })).status, 204, 'value of exactly the limit')
  const big = await fetch(`${server.url}/v1/cache/v`, { method: 'PUT', body: Buffer.alloc(1025) })
  t.equal(big.status, 413)
  t.equal((await big.json() as { error: { code: string } }).error.code, 'VALUE_TOO_LARGE')
  t.equal((await fetch(`${server.url}/v1/cache/v`)).headers.get('content-length'), '1024', 'the refused write changed nothing')
  for (const ttl of ['0', '-1', 'abc', '1.5', '99999999999']) {
    const res = await fetch(`${server.url}/v1/cache/v?ttl=${ttl}`, { method: 'PUT', body: 'x' })
    t.equal(res.status, 400, `ttl=${ttl} is refused`)
  }
})

t.test('a streamed (chunked) body over the limit is refused without buffering it', async (t) => {
  const server = await startTestServer(t, { limits: { maxValueBytes: 64 * 1024 } })
  const body = new ReadableStream({
    start (controller) {
      for (let i = 0; i < 16; i++) controller.enqueue(new Uint8Array(16 * 1024))
      controller.close()
    }
  })
  const res = await fetch(`${server.url}/v1/cache/s`, { method: 'PUT', body, duplex: 'half' } as RequestInit)
  t.equal(res.status, 413)
  t.equal((await fetch(`${server.url}/v1/cache/s`)).status, 404)
})

t.test('health and stats report the shards and counters', async (t) => {
  const server = await startTestServer(t)
  await fetch(`${server.url}/v1/cache/a`, { method: 'PUT', body: 'x' })
  await fetch(`${server.url}/v1/cache/a`)
  await fetch(`${server.url}/v1/cache/missing`)
  const health = await (await fetch(`${server.url}/v1/health`)).json() as { status: string, shards: unknown[] }
  t.equal(health.status, 'ok')
  t.equal(health.shards.length, 2)
  const stats = await (await fetch(`${server.url}/v1/stats`)).json() as Record<string, number>
  t.equal(stats.items, 1)
  t.equal(stats.hits, 1)
  t.equal(stats.misses, 1)
  t.equal(stats.shardCount, 2)
  t.ok(stats.capacityBytes! > 0 && stats.capacityBytes! <= 32 * 1024 * 1024)
})

t.test('unknown endpoints are 404 with a JSON error', async (t) => {
  const server = await startTestServer(t)
  const res = await fetch(`${server.url}/v2/whatever`)
  t.equal(res.status, 404)
  t.equal((await res.json() as { error: { code: string } }).error.code, 'NOT_FOUND')
})

t.test('a non-value request body over --max-request-bytes is refused with REQUEST_TOO_LARGE', async (t) => {
  const server = await startTestServer(t, { debug: { clockControl: true }, limits: { maxValueBytes: 1024, maxRequestBytes: 1024 } })
  const ok = await fetch(`${server.url}/v1/debug/clock`, { method: 'POST', body: JSON.stringify({ advanceMs: 1, pad: 'x'.repeat(900) }) })
  t.equal(ok.status, 200)
  const res = await fetch(`${server.url}/v1/debug/clock`, { method: 'POST', body: JSON.stringify({ advanceMs: 1, pad: 'x'.repeat(1100) }) })
  t.equal(res.status, 413)
  t.equal((await res.json() as { error: { code: string } }).error.code, 'REQUEST_TOO_LARGE')
})
