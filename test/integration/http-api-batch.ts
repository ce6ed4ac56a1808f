import t from 'tap'
import { startTestServer } from '../fixtures/server.js'
import { assertError, call } from '../fixtures/http.js'

t.test('POST /v1/mset stores every item; POST /v1/mget returns values in order, null for misses', async (t) => {
  const server = await startTestServer(t, { debug: { clockControl: true } })
  const mset = await call(`${server.url}/v1/mset`, 'POST', {
    items: [
      { key: 'a', value: 'alpha' },
      { key: 'b', value: '/wD+', encoding: 'base64', ttl: 10 },
      { key: 'c', value: '{}', contentType: 'application/json' }
    ]
  })
  t.equal(mset.status, 200)
  t.same(mset.body, { stored: 3 })
  const mget = await call(`${server.url}/v1/mget`, 'POST', { keys: ['a', 'missing', 'b', 'c'] })
  t.equal(mget.status, 200)
  t.same(mget.body, {
    items: [
      { key: 'a', value: 'alpha' },
      { key: 'missing', value: null },
      { key: 'b', value: '/wD+', encoding: 'base64' },
      { key: 'c', value: '{}' }
    ]
  })
  t.equal(await (await fetch(`${server.url}/v1/cache/a`)).text(), 'alpha', 'mset items are ordinary keys')
  await call(`${server.url}/v1/debug/clock`, 'POST', { advanceMs: 10_001 })
  t.same((await call(`${server.url}/v1/mget`, 'POST', { keys: ['b'] })).body, { items: [{ key: 'b', value: null }] }, 'the item ttl applied')
})

t.test('mget/mset: malformed bodies are 400, nothing of a bad mset is written', async (t) => {
  const server = await startTestServer(t, { limits: { maxKeyBytes: 8 } })
  const cases: Array<[string, string, unknown]> = [
    ['mget', 'not JSON', '{"keys"'],
    ['mget', 'keys missing', {}],
    ['mget', 'keys empty', { keys: [] }],
    ['mget', 'a key not a string', { keys: ['a', 5] }],
    ['mget', 'an empty key', { keys: [''] }],
    ['mset', 'items missing', { keys: ['a'] }],
    ['mset', 'an item not an object', { items: ['a'] }],
    ['mset', 'an item without value', { items: [{ key: 'a', value: 'x' }, { key: 'b' }] }],
    ['mset', 'a bad ttl', { items: [{ key: 'a', value: 'x', ttl: -1 }] }],
    ['mset', 'bad tags', { items: [{ key: 'a', value: 'x', tags: 'x' }] }]
  ]
  for (const [endpoint, what, body] of cases) assertError(t, await call(`${server.url}/v1/${endpoint}`, 'POST', body), 400, 'BAD_REQUEST', `${endpoint}: ${what}`)
  t.equal((await fetch(`${server.url}/v1/cache/a`)).status, 404, 'the first item of the refused mset was not written')
  assertError(t, await call(`${server.url}/v1/mget`, 'POST', { keys: ['123456789'] }), 414, 'KEY_TOO_LARGE', 'mget key over the limit')
  assertError(t, await call(`${server.url}/v1/mset`, 'POST', { items: [{ key: '123456789', value: 'x' }] }), 414, 'KEY_TOO_LARGE', 'mset key over the limit')
})

t.test('mget/mset: --max-batch-items and --max-request-bytes are enforced at the boundary', async (t) => {
  const server = await startTestServer(t, { limits: { maxBatchItems: 3, maxValueBytes: 1024, maxRequestBytes: 2048 } })
  const items = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 'v' }))
  t.same((await call(`${server.url}/v1/mset`, 'POST', { items: items(3) })).body, { stored: 3 }, 'exactly the limit')
  assertError(t, await call(`${server.url}/v1/mset`, 'POST', { items: items(4) }), 413, 'REQUEST_TOO_LARGE', 'mset over --max-batch-items')
  t.equal((await call(`${server.url}/v1/mget`, 'POST', { keys: ['k0', 'k1', 'k2'] })).status, 200, 'mget of exactly the limit')
  assertError(t, await call(`${server.url}/v1/mget`, 'POST', { keys: ['k0', 'k1', 'k2', 'k3'] }), 413, 'REQUEST_TOO_LARGE', 'mget over --max-batch-items')
  assertError(t, await call(`${server.url}/v1/mset`, 'POST', { items: [{ key: 'big', value: 'x'.repeat(1025) }] }), 413, 'VALUE_TOO_LARGE', 'an item value over the limit')
  const big = await call(`${server.url}/v1/mget`, 'POST', { keys: ['k0'], pad: 'x'.repeat(2100) })
  assertError(t, big, 413, 'REQUEST_TOO_LARGE', 'a body over --max-request-bytes')
})

t.test('a streamed JSON body is refused the moment it crosses --max-request-bytes', async (t) => {
  const server = await startTestServer(t, { limits: { maxValueBytes: 1024, maxRequestBytes: 4096 } })
  const body = new ReadableStream({
    start (controller) {
      controller.enqueue(new TextEncoder().encode('{"keys": ["'))
      for (let i = 0; i < 64; i++) controller.enqueue(new Uint8Array(1024).fill(97))
      controller.enqueue(new TextEncoder().encode('"]}'))
      controller.close()
    }
  })
  const res = await fetch(`${server.url}/v1/mget`, { method: 'POST', body, duplex: 'half' } as RequestInit)
  t.equal(res.status, 413)
  t.equal((await res.json() as { error: { code: string } }).error.code, 'REQUEST_TOO_LARGE')
})
