import t from 'tap'
import { startTestServer } from '../fixtures/server.js'
import { assertError, call } from '../fixtures/http.js'

t.test('GET /v1/keys pages through every key with an opaque cursor; prefix filters', async (t) => {
  const server = await startTestServer(t)
  const names: string[] = []
  for (let i = 0; i < 60; i++) names.push(`user:${i}`)
  for (let i = 0; i < 40; i++) names.push(`order:${i}`)
  for (let i = 0; i < names.length; i += 50) {
    await call(`${server.url}/v1/mset`, 'POST', { items: names.slice(i, i + 50).map((key) => ({ key, value: 'x' })) })
  }
  const list = async (query: string): Promise<string[]> => {
    const seen: string[] = []
    let cursor: string | null = ''
    let pages = 0
    do {
      const reply = await call(`${server.url}/v1/keys?${query}&cursor=${cursor}`, 'GET')
      t.equal(reply.status, 200)
      t.ok(Array.isArray(reply.body.keys))
      seen.push(...reply.body.keys as string[])
      cursor = reply.body.cursor as string | null
      t.ok(cursor === null || typeof cursor === 'string')
      pages++
    } while (cursor !== null && pages < 1000)
    return [...new Set(seen)].sort()
  }
  t.same(await list('count=7'), [...names].sort(), 'every key, in pages of about 7')
  t.same(await list('count=10&prefix=order:'), names.filter((n) => n.startsWith('order:')).sort(), 'prefix=order:')
  t.same(await list('prefix=nothing'), [], 'a prefix that matches nothing')
})

t.test('GET /v1/keys validates count and cursor', async (t) => {
  const server = await startTestServer(t, { limits: { maxBatchItems: 50 } })
  t.equal((await call(`${server.url}/v1/keys?count=50`, 'GET')).status, 200, 'count at the limit')
  for (const query of ['count=0', 'count=51', 'count=abc', 'cursor=!!', 'cursor=0', 'cursor=zzzzzzzzzzzz']) {
    assertError(t, await call(`${server.url}/v1/keys?${query}`, 'GET'), 400, 'BAD_REQUEST', query)
  }
})

t.test('POST /v1/counters/{key}/incr and /decr follow INCRBY semantics', async (t) => {
  const server = await startTestServer(t)
  const counter = `${server.url}/v1/counters/hits`
  t.same((await call(`${counter}/incr`, 'POST')).body, { value: 1 }, 'a missing key counts from 0; by defaults to 1')
  t.same((await call(`${counter}/incr`, 'POST', { by: 41 })).body, { value: 42 })
  t.same((await call(`${counter}/decr`, 'POST', { by: 50 })).body, { value: -8 })
  t.same((await call(`${counter}/incr`, 'POST', { by: -2 })).body, { value: -10 }, 'a negative by')
  t.equal(await (await fetch(`${server.url}/v1/cache/hits`)).text(), '-10', 'stored as a decimal string')
  const big = await call(`${server.url}/v1/counters/big/incr`, 'POST', { by: '9223372036854775800' })
  t.same(big.body, { value: '9223372036854775800' }, 'beyond 2^53 the value is a string')
  assertError(t, await call(`${server.url}/v1/counters/big/incr`, 'POST', { by: 8 }), 409, 'COUNTER_OVERFLOW', 'past INT64_MAX')
  assertError(t, await call(`${server.url}/v1/counters/x/decr`, 'POST', { by: '-9223372036854775808' }), 409, 'COUNTER_OVERFLOW', 'decr by INT64_MIN')
  await fetch(`${server.url}/v1/cache/text`, { method: 'PUT', body: 'abc' })
  assertError(t, await call(`${server.url}/v1/counters/text/incr`, 'POST'), 409, 'NOT_NUMERIC', 'a non-numeric value')
  t.equal(await (await fetch(`${server.url}/v1/cache/text`)).text(), 'abc', 'left unchanged')
  for (const body of ['{"by": 1.5}', '{"by": "x"}', '{"by": "99999999999999999999"}', '[1]', 'nope']) {
    assertError(t, await call(`${counter}/incr`, 'POST', body), 400, 'BAD_REQUEST', `body ${body}`)
  }
  assertError(t, await call(`${counter}/incr`, 'GET'), 405, 'METHOD_NOT_ALLOWED', 'GET on incr')
})
