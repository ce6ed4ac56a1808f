import t from 'tap'
import { startTestServer } from '../fixtures/server.js'
import { assertError, call } from '../fixtures/http.js'

t.test('POST /v1/tags/{tag}/invalidate removes exactly the keys carrying the tag', async (t) => {
  const server = await startTestServer(t)
  await fetch(`${server.url}/v1/cache/p1?tags=users,team-7`, { method: 'PUT', body: 'x' })
  await fetch(`${server.url}/v1/cache/p2`, { method: 'PUT', body: 'x', headers: { 'X-Slabcache-Tags': 'users' } })
  await call(`${server.url}/v1/cache/p3`, 'POST', { value: 'x', tags: ['team-7'] })
  await call(`${server.url}/v1/mset`, 'POST', { items: [{ key: 'p4', value: 'x', tags: ['users'] }, { key: 'p5', value: 'x' }] })
  const envelope = await call(`${server.url}/v1/cache/p1?envelope=1`, 'GET')
  t.same([...envelope.body.tags].sort(), ['team-7', 'users'], 'the envelope lists the tags')

  const removed = await call(`${server.url}/v1/tags/users/invalidate`, 'POST')
  t.equal(removed.status, 200)
  t.same(removed.body, { removed: 3 })
  for (const key of ['p1', 'p2', 'p4']) t.equal((await fetch(`${server.url}/v1/cache/${key}`)).status, 404, `${key} is gone`)
  for (const key of ['p3', 'p5']) t.equal((await fetch(`${server.url}/v1/cache/${key}`)).status, 200, `${key} stays`)
  t.same((await call(`${server.url}/v1/tags/users/invalidate`, 'POST')).body, { removed: 0 }, 'a second invalidation finds nothing')
  t.same((await call(`${server.url}/v1/tags/nothing/invalidate`, 'POST')).body, { removed: 0 }, 'an unknown tag')
})

t.test('a rewrite replaces the tags: the old tag no longer reaches the key', async (t) => {
  const server = await startTestServer(t)
  await fetch(`${server.url}/v1/cache/k?tags=old`, { method: 'PUT', body: 'x' })
  await fetch(`${server.url}/v1/cache/k?tags=new`, { method: 'PUT', body: 'y' })
  t.same((await call(`${server.url}/v1/tags/old/invalidate`, 'POST')).body, { removed: 0 })
  t.equal(await (await fetch(`${server.url}/v1/cache/k`)).text(), 'y')
  t.same((await call(`${server.url}/v1/tags/new/invalidate`, 'POST')).body, { removed: 1 })
})

t.test('tags are validated: empty tags are 400, wrong method 405', async (t) => {
  const server = await startTestServer(t)
  assertError(t, await call(`${server.url}/v1/cache/k?tags=a,,b`, 'PUT', 'x'), 400, 'BAD_REQUEST', 'an empty tag in the list')
  assertError(t, await call(`${server.url}/v1/cache/k`, 'POST', { value: 'x', tags: [''] }), 400, 'BAD_REQUEST', 'an empty tag in the envelope')
  assertError(t, await call(`${server.url}/v1/tags/a/invalidate`, 'GET'), 405, 'METHOD_NOT_ALLOWED', 'GET on invalidate')
  assertError(t, await call(`${server.url}/v1/tags/%E0%A4%A/invalidate`, 'POST'), 400, 'BAD_REQUEST', 'a badly encoded tag')
})
