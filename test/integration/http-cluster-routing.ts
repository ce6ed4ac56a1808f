/**
 * HTTP routing in a cluster: HttpServers on the in-process loopback cluster (real engines, real
 * uWS listeners, every forward through the peer codec). Every keyed route answers the same
 * through any node; writes land on the key's owner only; batches split by owner and merge in
 * request order; tag invalidation is cluster-wide; X-Slabcache-Consistency holds a local
 * write's reply until replication settles; peer failures are catalog errors and the node keeps
 * serving; /v1/cluster and /v1/cluster/leave with and without a router.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { Result } from '../../src/command/command.js'
import { StoreStatus } from '../../src/core/store-status.js'
import type { ConfigOverrides } from '../../src/config/load-config.js'
import { SlabcacheError } from '../../src/errors.js'
import { HttpServer } from '../../src/server/http-server.js'
import { TenantRegistry } from '../../src/tenants/tenant-registry.js'
import { startLoopbackCluster, type LoopbackCluster } from '../fixtures/command-loopback-router.js'
import { assertError, call } from '../fixtures/http.js'

interface HttpCluster { cluster: LoopbackCluster, urls: string[] }

async function startHttpCluster (t: Test, nodes = 3, config: ConfigOverrides = {}): Promise<HttpCluster> {
  const cluster = await startLoopbackCluster(t, nodes, config)
  const urls: string[] = []
  for (let i = 0; i < nodes; i++) {
    const server = new HttpServer(cluster.engines[i]!, { router: cluster.routers[i]! })
    t.teardown(() => server.close())
    urls.push(`http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`)
  }
  return { cluster, urls }
}

/** The item as the owner's engine holds it (null: absent there). */
function held (cluster: LoopbackCluster, node: number, key: string, tenantId = 0): Buffer | null {
  const result = cluster.engines[node]!.execute({ op: 'get', tenantId, key: Buffer.from(key) }) as Result
  return result.status === StoreStatus.OK ? Buffer.from(result.value!.subarray(0, result.valueLength)) : null
}

/** Deterministic bytes of every value 0..255. */
function bigBody (bytes: number): Buffer {
  const body = Buffer.alloc(bytes)
  let x = 0x9e3779b9
  for (let i = 0; i < bytes; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; body[i] = x >>> 24 }
  return body
}

t.test('every value route through a non-owner answers as through the owner; the write lands on the owner only', async (t) => {
  const { cluster, urls } = await startHttpCluster(t)
  const key = cluster.keyOwnedBy(2, 'big-')
  const body = bigBody(1024 * 1024 + 17)
  const put = await fetch(`${urls[1]}/v1/cache/${key}?ttl=3600&tags=a,b`, { method: 'PUT', body, headers: { 'Content-Type': 'image/x-test' } })
  t.equal(put.status, 204, 'PUT through node 1')
  const etag = put.headers.get('etag')
  t.match(etag, /^"\d+"$/)
  t.same(cluster.forwards.map((f) => [f.from, f.to, f.op]), [[1, 2, 'set']], 'the set was forwarded to the owner')
  t.ok(held(cluster, 2, key)?.equals(body), 'the owner holds the whole body')
  t.equal(held(cluster, 0, key), null, 'node 0 does not')
  t.equal(held(cluster, 1, key), null, 'node 1 does not')

  for (const node of [0, 1, 2]) {
    const got = await fetch(`${urls[node]}/v1/cache/${key}`)
    t.equal(got.status, 200, `GET through node ${node}`)
    t.ok(Buffer.from(await got.arrayBuffer()).equals(body), `node ${node}: the same bytes`)
    t.equal(got.headers.get('content-type'), 'image/x-test', `node ${node}: the stored type`)
    t.equal(got.headers.get('etag'), etag, `node ${node}: the same ETag`)
    const head = await fetch(`${urls[node]}/v1/cache/${key}`, { method: 'HEAD' })
    t.equal(head.status, 200)
    t.equal(head.headers.get('content-length'), String(body.length), `HEAD through node ${node}`)
  }
  const envelopes = await Promise.all(urls.map(async (url) => await call(`${url}/v1/cache/${key}?envelope=1`, 'GET')))
  for (const [node, envelope] of envelopes.entries()) {
    t.equal(envelope.status, 200)
    t.same({ ...envelope.body, ttl: 0 }, { ...envelopes[2]!.body, ttl: 0 }, `envelope through node ${node}`)
    t.same([...envelope.body.tags].sort(), ['a', 'b'])
    t.ok(envelope.body.ttl > 3500 && envelope.body.ttl <= 3600, `node ${node}: ttl from the owner`)
  }

  // POST envelope and a percent-encoded key (the parse path, not the GET fast path).
  const odd = cluster.keyOwnedBy(0, 'dir/é-')
  const url = (node: number): string => `${urls[node]}/v1/cache/${encodeURIComponent(odd)}`
  t.equal((await call(url(2), 'POST', { value: 'hello', contentType: 'text/plain', tags: ['x'] })).status, 204, 'POST through node 2')
  t.equal(held(cluster, 0, odd)?.toString(), 'hello', 'stored on its owner')
  for (const node of [0, 1, 2]) {
    const got = await fetch(url(node))
    t.equal(await got.text(), 'hello', `percent-encoded key through node ${node}`)
    t.equal(got.headers.get('content-type'), 'text/plain')
  }
  t.equal((await fetch(url(1), { method: 'DELETE' })).status, 204, 'DELETE through node 1')
  t.equal(held(cluster, 0, odd), null, 'deleted on the owner')
  for (const node of [0, 1, 2]) assertError(t, await call(url(node), 'GET'), 404, 'NOT_FOUND', `gone through node ${node}`)
  assertError(t, await call(url(2), 'DELETE'), 404, 'NOT_FOUND', 'a second DELETE through a non-owner')
  t.equal((await fetch(`${urls[0]}/v1/cache/${cluster.keyOwnedBy(1, 'nope-')}`, { method: 'HEAD' })).status, 404, 'HEAD of a missing key')
})

t.test('a key served by this node is not forwarded', async (t) => {
  const { cluster, urls } = await startHttpCluster(t, 2)
  const key = cluster.keyOwnedBy(1, 'mine-')
  t.equal((await fetch(`${urls[1]}/v1/cache/${key}`, { method: 'PUT', body: 'v' })).status, 204)
  t.equal(await (await fetch(`${urls[1]}/v1/cache/${key}`)).text(), 'v')
  t.same(cluster.forwards, [], 'no forward')
  t.equal(held(cluster, 1, key)?.toString(), 'v')
})

t.test('conditional requests through a non-owner', async (t) => {
  const { cluster, urls } = await startHttpCluster(t)
  const key = cluster.keyOwnedBy(1, 'cond-')
  const at = (node: number): string => `${urls[node]}/v1/cache/${key}`
  t.equal((await fetch(at(0), { method: 'PUT', body: 'v1', headers: { 'If-None-Match': '*' } })).status, 204, 'create-only on an absent key')
  assertError(t, await call(at(2), 'PUT', 'again', { 'If-None-Match': '*' }), 412, 'PRECONDITION_FAILED', 'create-only on a present key')
  const etag = (await fetch(at(0))).headers.get('etag')!
  const notModified = await fetch(at(2), { headers: { 'If-None-Match': etag } })
  t.equal(notModified.status, 304, 'If-None-Match with the current ETag: 304 through a non-owner')
  t.equal(notModified.headers.get('etag'), etag)
  t.equal((await fetch(at(0), { headers: { 'If-None-Match': '"1"' } })).status, 200, 'another ETag: 200')

  const swapped = await fetch(at(2), { method: 'PUT', body: 'v2', headers: { 'If-Match': etag } })
  t.equal(swapped.status, 204, 'If-Match with the current ETag writes')
  const etag2 = swapped.headers.get('etag')!
  t.not(etag2, etag)
  assertError(t, await call(at(0), 'PUT', 'v3', { 'If-Match': etag }), 412, 'PRECONDITION_FAILED', 'a stale ETag')
  // A list of ETags: the owner's CAS is read first, then a CAS write there.
  t.equal((await fetch(at(0), { method: 'PUT', body: 'v3', headers: { 'If-Match': `"1", ${etag2}` } })).status, 204, 'a list holding the current ETag')
  assertError(t, await call(at(2), 'PUT', 'v4', { 'If-Match': `"1", ${etag2}` }), 412, 'PRECONDITION_FAILED', 'a list of stale ETags')
  assertError(t, await call(`${urls[0]}/v1/cache/${cluster.keyOwnedBy(1, 'absent-')}`, 'PUT', 'x', { 'If-Match': '"1", "2"' }), 412, 'PRECONDITION_FAILED', 'a list on an absent key')
  t.equal(held(cluster, 1, key)?.toString(), 'v3', 'the owner holds the last successful write')
  t.equal((await call(at(2), 'POST', { value: 'v5' }, { 'If-Match': '*' })).status, 204, 'POST If-Match: * on a present key')

  const current = (await fetch(at(1))).headers.get('etag')!
  assertError(t, await call(at(0), 'DELETE', undefined, { 'If-Match': etag }), 412, 'PRECONDITION_FAILED', 'DELETE with a stale ETag')
  t.equal(held(cluster, 1, key)?.toString(), 'v5', 'still there')
  t.equal((await fetch(at(2), { method: 'DELETE', headers: { 'If-Match': current } })).status, 204, 'DELETE with the current ETag')
  t.equal(held(cluster, 1, key), null, 'deleted on the owner')
})

t.test('counters and rate limits run on the owner whichever node is asked', async (t) => {
  const { cluster, urls } = await startHttpCluster(t)
  const key = cluster.keyOwnedBy(1, 'hits-')
  const values: unknown[] = []
  for (const node of [0, 1, 2, 0]) values.push((await call(`${urls[node]}/v1/counters/${key}/incr`, 'POST', { by: 2 })).body.value)
  t.same(values, [2, 4, 6, 8], 'one counter, incremented through every node')
  t.same((await call(`${urls[2]}/v1/counters/${key}/decr`, 'POST')).body, { value: 7 })
  t.same((await call(`${urls[0]}/v1/counters/${key}/incr`, 'POST', { by: '9223372036854775800' })).body, { value: '9223372036854775807' }, 'beyond 2^53 as a string')
  assertError(t, await call(`${urls[2]}/v1/counters/${key}/incr`, 'POST'), 409, 'COUNTER_OVERFLOW', 'overflow reported from the owner')
  t.equal(held(cluster, 1, key)?.toString(), '9223372036854775807')
  t.equal(held(cluster, 0, key), null)

  const text = cluster.keyOwnedBy(2, 'text-')
  await fetch(`${urls[2]}/v1/cache/${text}`, { method: 'PUT', body: 'abc' })
  assertError(t, await call(`${urls[0]}/v1/counters/${text}/incr`, 'POST'), 409, 'NOT_NUMERIC', 'NOT_NUMERIC through a non-owner')

  const limiter = cluster.keyOwnedBy(0, 'login-')
  const limit = { limit: 2, period: 60 }
  const first = await call(`${urls[1]}/v1/ratelimit/${limiter}`, 'POST', limit)
  t.equal(first.status, 200)
  t.same(first.body, { allowed: true, limit: 2, remaining: 1, retryAfter: 0, reset: 30 })
  t.equal(first.headers.get('ratelimit-remaining'), '1')
  t.equal((await call(`${urls[2]}/v1/ratelimit/${limiter}`, 'POST', limit)).body.remaining, 0, 'the same limiter through node 2')
  const denied = await call(`${urls[0]}/v1/ratelimit/${limiter}`, 'POST', limit)
  assertError(t, denied, 429, 'RATE_LIMITED', 'the third action, through the owner')
  // 30 s after the first action; 29 if a loaded machine let a second pass since.
  t.ok(['29', '30'].includes(denied.headers.get('retry-after')!), 'Retry-After from the owner\'s limiter')
  t.ok(held(cluster, 0, limiter) !== null, "the limiter's state is on the owner")
  t.equal(held(cluster, 1, limiter), null)
})

t.test('mget and mset split by owner and merge in request order', async (t) => {
  const { cluster, urls } = await startHttpCluster(t)
  const keys = [cluster.keyOwnedBy(2, 'b-'), cluster.keyOwnedBy(0, 'b-'), cluster.keyOwnedBy(1, 'b-'), cluster.keyOwnedBy(2, 'c-'), cluster.keyOwnedBy(1, 'c-')]
  const items = keys.map((key, i) => ({ key, value: `value-${i}`, ...(i === 3 ? { value: Buffer.from([0xff, 0]).toString('base64'), encoding: 'base64' } : {}) }))
  const stored = await call(`${urls[0]}/v1/mset`, 'POST', { items })
  t.same(stored.body, { stored: 5 })
  for (const [i, key] of keys.entries()) {
    const owner = cluster.ownerIndexOf(0, key)
    t.ok(held(cluster, owner, key) !== null, `${key} is on its owner ${owner}`)
    for (const other of [0, 1, 2].filter((n) => n !== owner)) t.equal(held(cluster, other, key), null, `${key} is not on node ${other}`)
    if (i !== 3) t.equal(held(cluster, owner, key)?.toString(), `value-${i}`)
  }
  t.same(held(cluster, 2, keys[3]!), Buffer.from([0xff, 0]), 'binary value')

  const order = [keys[4]!, 'missing-1', keys[0]!, keys[1]!, keys[3]!, keys[2]!, keys[0]!]
  for (const node of [1, 2]) {
    const got = await call(`${urls[node]}/v1/mget`, 'POST', { keys: order })
    t.equal(got.status, 200)
    t.same(got.body.items, [
      { key: keys[4], value: 'value-4' },
      { key: 'missing-1', value: null },
      { key: keys[0], value: 'value-0' },
      { key: keys[1], value: 'value-1' },
      { key: keys[3], value: Buffer.from([0xff, 0]).toString('base64'), encoding: 'base64' },
      { key: keys[2], value: 'value-2' },
      { key: keys[0], value: 'value-0' }
    ], `request order through node ${node}`)
  }

  const tooLarge = await call(`${urls[1]}/v1/mset`, 'POST', { items: [{ key: keys[1], value: 'ok' }, { key: keys[0], value: 'x'.repeat(2000) }] }, {})
  t.equal(tooLarge.status, 200, 'a large but valid batch')
  cluster.failNode(2, 'PEER_UNAVAILABLE')
  const partial = await call(`${urls[1]}/v1/mset`, 'POST', { items: [{ key: keys[1], value: 'new-1' }, { key: keys[0], value: 'lost' }, { key: keys[2], value: 'new-2' }] })
  assertError(t, partial, 503, 'PEER_UNAVAILABLE', 'mset with an unreachable owner')
  t.equal(partial.body.stored, 2, 'stored counts the items stored elsewhere')
  t.equal(held(cluster, 0, keys[1]!)?.toString(), 'new-1')
  t.equal(held(cluster, 1, keys[2]!)?.toString(), 'new-2')
  assertError(t, await call(`${urls[0]}/v1/mget`, 'POST', { keys: [keys[1], keys[0]] }), 503, 'PEER_UNAVAILABLE', 'mget with an unreachable owner')
  t.equal((await call(`${urls[0]}/v1/mget`, 'POST', { keys: [keys[1], keys[2]] })).status, 200, 'an mget avoiding it still works')
})

t.test('tag invalidation is cluster-wide and sums what every node removed', async (t) => {
  const { cluster, urls } = await startHttpCluster(t)
  const tagged = [0, 1, 2, 2].map((node, i) => cluster.keyOwnedBy(node, `t${i}-`))
  const untagged = cluster.keyOwnedBy(1, 'keep-')
  for (const [i, key] of tagged.entries()) {
    const via = urls[(i + 1) % 3]!
    t.equal((await fetch(`${via}/v1/cache/${key}?tags=grp,other`, { method: 'PUT', body: 'x' })).status, 204)
  }
  await fetch(`${urls[0]}/v1/cache/${untagged}?tags=other`, { method: 'PUT', body: 'y' })
  await call(`${urls[2]}/v1/mset`, 'POST', { items: [{ key: cluster.keyOwnedBy(0, 'm-'), value: 'z', tags: ['grp'] }] })

  const removed = await call(`${urls[1]}/v1/tags/grp/invalidate`, 'POST')
  t.equal(removed.status, 200)
  t.same(removed.body, { removed: 5 }, 'keys of every node')
  for (const key of tagged) for (const node of [0, 1, 2]) t.equal((await fetch(`${urls[node]}/v1/cache/${key}`)).status, 404, `${key} gone through node ${node}`)
  t.equal(await (await fetch(`${urls[2]}/v1/cache/${untagged}`)).text(), 'y', 'an untagged key stays')
  t.same((await call(`${urls[0]}/v1/tags/grp/invalidate`, 'POST')).body, { removed: 0 }, 'nothing left anywhere')
  t.same((await call(`${urls[0]}/v1/tags/other/invalidate`, 'POST')).body, { removed: 1 })

  cluster.failNode(2, 'PEER_TIMEOUT')
  assertError(t, await call(`${urls[0]}/v1/tags/grp/invalidate`, 'POST'), 504, 'PEER_TIMEOUT', 'a peer that does not answer fails the invalidation')
})

t.test('X-Slabcache-Consistency: a local write is held until replicated; forwards carry the mode', async (t) => {
  const { cluster, urls } = await startHttpCluster(t, 2, { cluster: { consistency: 'quorum' } })
  const local = cluster.keyOwnedBy(0, 'w-')
  const remote = cluster.keyOwnedBy(1, 'w-')
  let release: (() => void) | null = null
  let fail: ((error: Error) => void) | null = null
  let called: () => void = () => {}
  cluster.setReplicated(() => new Promise<void>((resolve, reject) => {
    release = resolve
    fail = reject
    called()
  }))
  const replicatedCalled = async (): Promise<void> => await new Promise<void>((resolve) => { called = resolve })

  // Held: the reply waits for the replication acknowledgement.
  const asked = replicatedCalled()
  let answered = false
  const put = fetch(`${urls[0]}/v1/cache/${local}`, { method: 'PUT', body: 'held', headers: { 'X-Slabcache-Consistency': 'all' } }).then((res) => { answered = true; return res })
  await asked
  t.same(cluster.replicatedCalls.at(-1), { node: 0, consistency: 'all' }, 'asked with the header\'s mode')
  t.equal(held(cluster, 0, local)?.toString(), 'held', 'the write is applied at once')
  t.equal((await fetch(`${urls[0]}/v1/health`)).status, 200, 'the server answers others meanwhile')
  t.equal(answered, false, 'the write\'s reply is held')
  release!()
  t.equal((await put).status, 204, 'answered once replicated')

  // Without the header: the tenant's default (the config's --consistency).
  const asked2 = replicatedCalled()
  const counted = call(`${urls[0]}/v1/counters/${cluster.keyOwnedBy(0, 'n-')}/incr`, 'POST')
  await asked2
  t.same(cluster.replicatedCalls.at(-1), { node: 0, consistency: 'quorum' }, 'the default mode')
  release!()
  t.same((await counted).body, { value: 1 })

  // Rejected: REPLICATION_TIMEOUT with its catalog status.
  const asked3 = replicatedCalled()
  const timedOut = call(`${urls[0]}/v1/cache/${local}`, 'DELETE', undefined, { 'X-Slabcache-Consistency': 'quorum' })
  await asked3
  fail!(new SlabcacheError('REPLICATION_TIMEOUT'))
  assertError(t, await timedOut, 504, 'REPLICATION_TIMEOUT', 'replication not acknowledged')

  // Reads never wait; a forwarded write carries the mode to its owner.
  const before = cluster.replicatedCalls.length
  t.equal((await fetch(`${urls[0]}/v1/cache/${local}`)).status, 404, 'a read')
  t.equal(cluster.replicatedCalls.length, before, 'a read does not ask for replication')
  cluster.setReplicated(null)
  t.equal((await fetch(`${urls[0]}/v1/cache/${remote}`, { method: 'PUT', body: 'r', headers: { 'X-Slabcache-Consistency': 'ALL' } })).status, 204)
  t.same(cluster.forwards.at(-1), { from: 0, to: 1, op: 'set', consistency: 'all' }, 'forwarded with the mode')
  t.equal((await call(`${urls[0]}/v1/mset`, 'POST', { items: [{ key: remote, value: 'm' }] }, { 'X-Slabcache-Consistency': 'async' })).status, 200)
  t.same(cluster.forwards.at(-1), { from: 0, to: 1, op: 'set', consistency: 'async' }, 'mset forwards with the mode')

  for (const [method, path, body] of [['PUT', `/v1/cache/${local}`, 'x'], ['GET', `/v1/cache/${local}`, undefined], ['GET', `/v1/cache/${remote}`, undefined], ['POST', `/v1/counters/${local}/incr`, undefined], ['POST', '/v1/mget', { keys: [local] }], ['POST', '/v1/tags/x/invalidate', undefined]] as const) {
    assertError(t, await call(`${urls[0]}${path}`, method, body, { 'X-Slabcache-Consistency': 'eventually' }), 400, 'BAD_REQUEST', `${method} ${path} with an unknown mode`)
  }
})

t.test('an unreachable owner is 503 PEER_UNAVAILABLE (a slow one 504) and the node keeps serving', async (t) => {
  const { cluster, urls } = await startHttpCluster(t)
  const away = cluster.keyOwnedBy(2, 'away-')
  const home = cluster.keyOwnedBy(0, 'home-')
  await fetch(`${urls[0]}/v1/cache/${away}`, { method: 'PUT', body: 'a' })
  cluster.failNode(2, 'PEER_UNAVAILABLE')
  assertError(t, await call(`${urls[0]}/v1/cache/${away}`, 'GET'), 503, 'PEER_UNAVAILABLE', 'GET')
  assertError(t, await call(`${urls[0]}/v1/cache/${away}?envelope=1`, 'GET'), 503, 'PEER_UNAVAILABLE', 'GET envelope')
  assertError(t, await call(`${urls[1]}/v1/cache/${away}`, 'PUT', 'b'), 503, 'PEER_UNAVAILABLE', 'PUT')
  assertError(t, await call(`${urls[1]}/v1/counters/${away}/incr`, 'POST'), 503, 'PEER_UNAVAILABLE', 'incr')
  t.equal((await fetch(`${urls[0]}/v1/cache/${home}`, { method: 'PUT', body: 'h' })).status, 204, 'a local key is still served')
  t.equal(await (await fetch(`${urls[0]}/v1/cache/${home}`)).text(), 'h')
  cluster.failNode(2, 'PEER_TIMEOUT')
  assertError(t, await call(`${urls[0]}/v1/cache/${away}`, 'DELETE'), 504, 'PEER_TIMEOUT', 'DELETE')
  cluster.failNode(2, 'PEER_BUSY')
  assertError(t, await call(`${urls[0]}/v1/ratelimit/${away}`, 'POST', { limit: 1, period: 1 }), 503, 'PEER_BUSY', 'rate limit')
  cluster.failNode(2, null)
  t.equal(await (await fetch(`${urls[0]}/v1/cache/${away}`)).text(), 'a', 'the owner is back: nothing was lost')
})

t.test('GET /v1/cluster and POST /v1/cluster/leave', async (t) => {
  const { cluster, urls } = await startHttpCluster(t, 2)
  const status = await call(`${urls[1]}/v1/cluster`, 'GET')
  t.equal(status.status, 200)
  t.same(status.body, cluster.routers[1]!.status(), 'the router\'s status')
  t.equal(status.body.selfId, 'node-1')
  assertError(t, await call(`${urls[1]}/v1/cluster/leave`, 'POST'), 409, 'NOT_CLUSTERED', 'leave without a hook')
  assertError(t, await call(`${urls[1]}/v1/cluster`, 'PUT'), 405, 'METHOD_NOT_ALLOWED')

  // Without a router: 409 NOT_CLUSTERED, and every route is the single-node one.
  const single = new HttpServer(cluster.engines[0]!, {})
  t.teardown(() => single.close())
  const url = `http://127.0.0.1:${await single.listen('127.0.0.1', 0)}`
  assertError(t, await call(`${url}/v1/cluster`, 'GET'), 409, 'NOT_CLUSTERED', 'no router')
  assertError(t, await call(`${url}/v1/cluster/leave`, 'POST'), 409, 'NOT_CLUSTERED', 'no router: leave')
  const key = cluster.keyOwnedBy(1, 'single-')
  t.equal((await fetch(`${url}/v1/cache/${key}`, { method: 'PUT', body: 'here', headers: { 'X-Slabcache-Consistency': 'nonsense' } })).status, 204, 'no router: stored here, the header is not read')
  t.equal(held(cluster, 0, key)?.toString(), 'here')

  // With a hook, admin only.
  const dataDir = mkdtempSync(join(tmpdir(), 'slabcache-cluster-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const secured = await startLoopbackCluster(t, 1, { dataDir, auth: { adminToken: 'admin-token-for-tests' }, tenants: [{ name: 'shop', secret: 'shop-secret-123', secretHash: null, quotaBytes: null }] })
  const tenants = await TenantRegistry.open({ config: secured.engines[0]!.config, engine: secured.engines[0]! })
  let left = 0
  const server = new HttpServer(secured.engines[0]!, { tenants, router: secured.routers[0]!, clusterLeave: async () => { left++ } })
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`
  assertError(t, await call(`${base}/v1/cluster`, 'GET'), 401, 'UNAUTHORIZED', 'no credentials')
  assertError(t, await call(`${base}/v1/cluster`, 'GET', undefined, { Authorization: 'Bearer shop:shop-secret-123' }), 403, 'FORBIDDEN', "a tenant's credential")
  assertError(t, await call(`${base}/v1/cluster/leave`, 'POST', undefined, { Authorization: 'Bearer shop:shop-secret-123' }), 403, 'FORBIDDEN', "leave with a tenant's credential")
  t.equal(left, 0)
  const admin = { Authorization: 'Bearer admin-token-for-tests' }
  t.equal((await call(`${base}/v1/cluster`, 'GET', undefined, admin)).body.selfId, 'node-0', 'the admin sees the status')
  const leave = await call(`${base}/v1/cluster/leave`, 'POST', undefined, admin)
  t.equal(leave.status, 200)
  t.same(leave.body, { left: 'node-0' })
  t.equal(left, 1, 'the hook ran once')
})
