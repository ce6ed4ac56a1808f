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

t.test('tag limits: more than --max-tags-per-item or a tag over --max-tag-bytes is 400, nothing stored', async (t) => {
  const server = await startTestServer(t, { limits: { maxTagsPerItem: 2, maxTagBytes: 8 } })
  t.equal((await call(`${server.url}/v1/cache/k?tags=a,b`, 'PUT', 'x')).status, 204, 'exactly the tag count limit')
  t.equal((await call(`${server.url}/v1/cache/k?tags=${'t'.repeat(8)}`, 'PUT', 'x')).status, 204, 'a tag of exactly the byte limit')
  assertError(t, await call(`${server.url}/v1/cache/k2?tags=a,b,c`, 'PUT', 'x'), 400, 'TOO_MANY_TAGS', 'three tags')
  assertError(t, await call(`${server.url}/v1/cache/k2`, 'POST', { value: 'x', tags: ['t'.repeat(9)] }), 400, 'TAG_TOO_LARGE', 'a 9-byte tag')
  assertError(t, await call(`${server.url}/v1/mset`, 'POST', { items: [{ key: 'k2', value: 'x', tags: ['a', 'b', 'c'] }] }), 400, 'TOO_MANY_TAGS', 'mset with three tags')
  t.equal((await fetch(`${server.url}/v1/cache/k2`)).status, 404, 'nothing stored')
})
