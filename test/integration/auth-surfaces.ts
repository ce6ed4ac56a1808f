// Auth on the surfaces that sit beside the main protocols, with credentials configured: the
// WebSocket stream (SASL PLAIN, the TCP memcached backend's check) and GET /metrics (admin
// token). Also: RESP and memcached report request latency to the metrics.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import WS from 'ws'
import { StreamClient } from '../../src/client/stream-client.js'
import { StreamStatusError } from '../../src/client/stream-errors.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import type { ConfigOverrides } from '../../src/config/load-config.js'

const ADMIN = 'admin-token-for-tests'
const CREDENTIALS: ConfigOverrides = {
  tenants: [
    { name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null },
    { name: 'beta', secret: 'beta-secret-22', secretHash: null, quotaBytes: null }
  ],
  auth: { adminToken: ADMIN }
}
const AUTH_ERROR = 0x20

async function start (t: Test): Promise<TestServer> {
  return await startTestServer(t, { dataDir: t.testdir({}), ...CREDENTIALS })
}

async function stream (t: Test, server: TestServer): Promise<StreamClient> {
  const client = await StreamClient.connect(`ws://127.0.0.1:${server.httpPort}/v1/stream`, { WebSocket: WS })
  t.teardown(async () => { await client.close() })
  return client
}

t.test('WebSocket stream: SASL is required when credentials exist, and the login picks the tenant', async (t) => {
  const server = await start(t)
  const anonymous = await stream(t, server)
  const refused = await anonymous.get('k').then(() => null, (error: unknown) => error)
  t.ok(refused instanceof StreamStatusError && refused.status === AUTH_ERROR, 'a get before login is refused with auth error 0x20')
  const wrong = await anonymous.saslPlain('alpha', 'not-the-secret').then(() => null, (error: unknown) => error)
  t.ok(wrong instanceof StreamStatusError && wrong.status === AUTH_ERROR, 'a wrong secret is refused')

  const alpha = await stream(t, server)
  await alpha.saslPlain('alpha', 'alpha-secret-1')
  await alpha.set('shared-key', 'alpha value')
  const beta = await stream(t, server)
  await beta.saslPlain('beta', 'beta-secret-22')
  t.equal(await beta.get('shared-key'), null, 'beta does not see alpha\'s key over the stream')
  await beta.set('shared-key', 'beta value')
  t.equal(Buffer.from((await alpha.get('shared-key'))!.value).toString(), 'alpha value', 'alpha still reads its own value')

  // The same tenant over RESP sees what the stream wrote.
  const redis = new Redis({ host: '127.0.0.1', port: server.respPort, username: 'alpha', password: 'alpha-secret-1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  t.teardown(() => { redis.disconnect() })
  await redis.connect()
  t.equal(await redis.get('shared-key'), 'alpha value', 'alpha over RESP reads the value alpha wrote over the stream')
})

t.test('GET /metrics needs the admin token when credentials exist', async (t) => {
  const server = await start(t)
  const url = `http://127.0.0.1:${server.httpPort}/metrics`
  const none = await fetch(url)
  t.equal(none.status, 401, 'no credential: 401')
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="slabcache"')
  t.equal((await none.json() as { error: { code: string } }).error.code, 'UNAUTHORIZED')
  const tenant = await fetch(url, { headers: { authorization: 'Bearer alpha:alpha-secret-1' } })
  t.equal(tenant.status, 403, 'a tenant credential: 403')
  t.equal((await tenant.json() as { error: { code: string } }).error.code, 'FORBIDDEN')
  const admin = await fetch(url, { headers: { authorization: `Bearer ${ADMIN}` } })
  t.equal(admin.status, 200, 'the admin token: 200')
  const text = await admin.text()
  t.match(text, /slabcache_tenant_items\{tenant="0",tenant_name="default"\}/, 'tenant series are named')
})

t.test('RESP and memcached report their request latency', async (t) => {
  const server = await startTestServer(t, {})
  const redis = new Redis({ host: '127.0.0.1', port: server.respPort, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  t.teardown(() => { redis.disconnect() })
  await redis.connect()
  for (let i = 0; i < 5; i++) await redis.set(`k${i}`, 'v')
  const mc = memjs.Client.create(`127.0.0.1:${server.memcachePort}`, { retries: 0, timeout: 5, logger: { log: () => {} } })
  t.teardown(() => mc.close())
  for (let i = 0; i < 3; i++) await mc.get(`k${i}`)
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text()
  const count = (protocol: string): number => Number(new RegExp(`^slabcache_request_duration_seconds_count\\{protocol="${protocol}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN)
  // One observation per read batch: ioredis sends each awaited command in its own write (the
  // connection's own handshake commands may add more), so at least one per command.
  t.ok(count('resp') >= 5, `resp observations: ${count('resp')}`)
  t.ok(count('memcache') >= 3, `memcache observations: ${count('memcache')}`)
})
