/**
 * A tenant's default write consistency (issue 7), end to end: the admin API sets and shows it,
 * and in an in-process two-node cluster (real servers, real peer sockets, R = 2 so both hold
 * every key) a tenant with `consistency: "all"` has its writes held until the replica
 * acknowledged. Lost replication is injected as a fault (the replica's apply methods refuse, as
 * in cluster-anti-entropy.ts): then that tenant's write answers 504 REPLICATION_TIMEOUT (RESP
 * -NOREPL) while the default tenant's async write answers 204, and a request header still wins
 * over the tenant's default.
 */
import t from 'tap'
import { assertError, call } from '../fixtures/http.js'
import { RawClient } from '../fixtures/raw-client.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { localValue, ownedBy, withLostReplication } from '../fixtures/cluster-inprocess.js'

const SECRET = 'tenant-consistency-cluster-secret-01'
const ADMIN_TOKEN = 'admin-token-for-tests'
const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` }
const strict = { Authorization: 'Bearer strict:strict-secret-1' }
const TENANTS = [
  { name: 'strict', secret: 'strict-secret-1', secretHash: null, quotaBytes: null },
  { name: 'other', secret: 'other-secret-22', secretHash: null, quotaBytes: null }
]
const node = (nodeId: string, join: string[]): Parameters<typeof startTestServer>[1] => ({
  auth: { adminToken: ADMIN_TOKEN },
  tenants: TENANTS,
  cluster: { enabled: true, nodeId, peerPort: 0, secret: SECRET, join, antiEntropyIntervalMs: 0, replicationTimeoutMs: 200 }
})

const a = await startTestServer(t, node('a', []))
const b = await startTestServer(t, node('b', [`127.0.0.1:${a.peerPort}`]))
const STRICT_ID = a.tenants.byName('strict')!.id
t.equal(b.tenants.byName('strict')!.id, STRICT_ID, 'both nodes gave the tenant the same id')

async function setConsistencyEverywhere (consistency: string | null): Promise<void> {
  for (const server of [a, b]) {
    const reply = await call(`${server.url}/v1/tenants/strict`, 'PUT', { consistency }, admin)
    if (reply.status !== 200) throw new Error(`PUT consistency on ${server.cluster!.selfId}: ${reply.status} ${JSON.stringify(reply.body)}`)
  }
}

t.test('admin API: POST and PUT accept consistency, GET shows it, bad values are 400', async (t) => {
  const created = await call(`${a.url}/v1/tenants`, 'POST', { name: 'api-all', consistency: 'all' }, admin)
  t.equal(created.status, 201)
  t.match(created.body, { tenant: { name: 'api-all', consistency: 'all', quotaBytes: 0 } })
  const plain = await call(`${a.url}/v1/tenants`, 'POST', { name: 'api-plain', quotaBytes: 4096 }, admin)
  t.match(plain.body, { tenant: { name: 'api-plain', consistency: null } }, 'absent: null (the server default)')
  t.equal(a.tenants.consistencyOf(created.body.tenant.id), 'all', 'the registry answers it')

  t.match((await call(`${a.url}/v1/tenants/api-plain`, 'PUT', { consistency: 'quorum' }, admin)).body, { tenant: { consistency: 'quorum', quotaBytes: 4096 } }, 'consistency alone keeps the quota')
  t.match((await call(`${a.url}/v1/tenants/api-plain`, 'PUT', { quotaBytes: 8192 }, admin)).body, { tenant: { consistency: 'quorum', quotaBytes: 8192 } }, 'quota alone keeps the consistency')
  t.match((await call(`${a.url}/v1/tenants/api-plain`, 'PUT', { quotaBytes: 0, consistency: 'all' }, admin)).body, { tenant: { consistency: 'all', quotaBytes: 0 } }, 'both at once')
  t.match((await call(`${a.url}/v1/tenants/api-plain`, 'GET', undefined, admin)).body, { tenant: { consistency: 'all' } })
  t.match((await call(`${a.url}/v1/tenants/api-plain`, 'PUT', { consistency: null }, admin)).body, { tenant: { consistency: null } }, 'null: back to the server default')
  const listed = await call(`${a.url}/v1/tenants`, 'GET', undefined, admin)
  t.match(listed.body.tenants.find((tenant: { name: string }) => tenant.name === 'api-all'), { consistency: 'all' })

  for (const bad of ['strong', 'ALL', '', 2, true, ['all'], { mode: 'all' }]) {
    const what = JSON.stringify(bad)
    const posted = await call(`${a.url}/v1/tenants`, 'POST', { name: 'never', consistency: bad }, admin)
    assertError(t, posted, 400, 'BAD_REQUEST', `POST consistency ${what}`)
    t.match(posted.body.error.message, /consistency/, `POST ${what}: the message names the field`)
    const put = await call(`${a.url}/v1/tenants/api-all`, 'PUT', { consistency: bad }, admin)
    assertError(t, put, 400, 'BAD_REQUEST', `PUT consistency ${what}`)
    t.match(put.body.error.message, /consistency/, `PUT ${what}: the message names the field`)
  }
  assertError(t, await call(`${a.url}/v1/tenants/never`, 'GET', undefined, admin), 404, 'TENANT_NOT_FOUND', 'no tenant was created by a bad POST')
  assertError(t, await call(`${a.url}/v1/tenants/api-all`, 'PUT', {}, admin), 400, 'BAD_REQUEST', 'PUT with nothing to change')
  assertError(t, await call(`${a.url}/v1/tenants/api-all`, 'PUT', { quotaBytes: 'lots', consistency: 'async' }, admin), 400, 'BAD_REQUEST', 'a bad quota with a good consistency')
  assertError(t, await call(`${a.url}/v1/tenants/nobody`, 'PUT', { consistency: 'all' }, admin), 404, 'TENANT_NOT_FOUND')
  t.match((await call(`${a.url}/v1/tenants/api-all`, 'GET', undefined, admin)).body, { tenant: { consistency: 'all', quotaBytes: 0 } }, 'refused PUTs changed nothing')
  assertError(t, await call(`${a.url}/v1/tenants/api-all`, 'PUT', { consistency: 'async' }, strict), 403, 'FORBIDDEN', 'a tenant cannot change its own consistency')

  for (const name of ['api-all', 'api-plain']) t.equal((await call(`${a.url}/v1/tenants/${name}`, 'DELETE', undefined, admin)).status, 204)
})

t.test('cluster: a tenant with consistency "all" has its writes held until the replica acknowledged', async (t) => {
  const keys = ownedBy(a, 'strict-', 8, STRICT_ID)
  const defaultKeys = ownedBy(a, 'default-', 2, 0)
  const put = async (server: TestServer, key: string, value: string, headers: Record<string, string>): Promise<number> =>
    (await call(`${server.url}/v1/cache/${key}`, 'PUT', value, headers)).status

  // Server default (async): the write is acknowledged even though the replica loses it.
  await withLostReplication(b, async () => {
    t.equal(await put(a, keys[0]!, 'v0', strict), 204, 'without a tenant default the write does not wait (async)')
  })

  await setConsistencyEverywhere('all')
  t.equal(a.tenants.consistencyOf(STRICT_ID), 'all')
  t.equal(a.cluster!.defaultConsistency(STRICT_ID), 'all', 'the node reads the tenant\'s default')
  t.equal(a.cluster!.defaultConsistency(0), 'async', 'the default tenant keeps the server\'s')

  // Replication working: the 204 comes only once the replica holds the value.
  t.equal(await put(a, keys[1]!, 'v1', strict), 204)
  t.equal(localValue(b, keys[1]!, STRICT_ID), 'v1', 'the replica had it when the write was acknowledged')
  t.equal(await put(b, keys[2]!, 'v2', strict), 204, 'through the non-owner (forwarded with the tenant\'s default)')
  t.equal(localValue(b, keys[2]!, STRICT_ID), 'v2')
  t.equal(localValue(a, keys[2]!, STRICT_ID), 'v2')

  await withLostReplication(b, async () => {
    assertError(t, await call(`${a.url}/v1/cache/${keys[3]!}`, 'PUT', 'v3', strict), 504, 'REPLICATION_TIMEOUT', 'the tenant\'s write through its owner')
    assertError(t, await call(`${b.url}/v1/cache/${keys[4]!}`, 'PUT', 'v4', strict), 504, 'REPLICATION_TIMEOUT', 'the tenant\'s write through the other node')
    t.equal(await put(a, defaultKeys[0]!, 'd0', admin), 204, 'the default tenant\'s async write is not held')
    t.equal(await put(a, keys[5]!, 'v5', { ...strict, 'X-Slabcache-Consistency': 'async' }), 204, 'a request header overrides the tenant\'s default')

    const resp = await RawClient.open(t, a.respPort)
    resp.write('*3\r\n$4\r\nAUTH\r\n$6\r\nstrict\r\n$15\r\nstrict-secret-1\r\n')
    t.equal(await resp.line(), '+OK')
    resp.write('*2\r\n$6\r\nCLIENT\r\n$11\r\nCONSISTENCY\r\n')
    t.same([await resp.line(), await resp.line()], ['$3', 'all'], 'RESP: the connection starts with the tenant\'s default')
    const key = keys[6]!
    resp.write(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$2\r\nv6\r\n`)
    t.match(await resp.line(), /^-NOREPL /, 'RESP: the tenant\'s SET is held and times out')
  })
  t.equal(localValue(a, keys[3]!, STRICT_ID), 'v3', 'a timed-out write stays applied on its owner')

  // Back to the server default: the same lost replication no longer holds the tenant's writes.
  await setConsistencyEverywhere(null)
  t.equal(a.cluster!.defaultConsistency(STRICT_ID), 'async')
  await withLostReplication(b, async () => {
    t.equal(await put(a, keys[7]!, 'v7', strict), 204, 'null: the server default (async) again')
  })
})
