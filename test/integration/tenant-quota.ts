// Tenant isolation over the wire (issue 5 must-show): tenant A fills its byte quota and goes far
// beyond it; every item of tenant B is still there, A stays within its quota by evicting its own
// least recently used items, and A's credential never reads B's keys.
import t from 'tap'
import { Redis } from 'ioredis'
import { startTestServer } from '../fixtures/server.js'

const QUOTA_BYTES = 1024 * 1024
const VALUE = 'x'.repeat(1000)

t.test('tenant A over its quota evicts only its own items; B keeps all of its items', async (t) => {
  const server = await startTestServer(t, {
    dataDir: t.testdir({}),
    shards: 2,
    memoryBytes: 64 * 1024 * 1024,
    tenants: [
      { name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: QUOTA_BYTES },
      { name: 'beta', secret: 'beta-secret-22', secretHash: null, quotaBytes: null }
    ],
    auth: { adminToken: 'admin-token-for-tests' }
  })
  const base = `http://127.0.0.1:${server.httpPort}`
  const as = (tenant: string, secret: string): Record<string, string> => ({ authorization: `Bearer ${tenant}:${secret}` })
  const alpha = as('alpha', 'alpha-secret-1')
  const beta = as('beta', 'beta-secret-22')

  // B writes 500 items first (they are older than everything A writes).
  for (let i = 0; i < 500; i++) {
    const res = await fetch(`${base}/v1/cache/b${i}`, { method: 'PUT', headers: beta, body: VALUE })
    if (res.status !== 204) t.fail(`beta PUT b${i}: ${res.status} ${await res.text()}`)
  }
  // A writes 5× its quota: ~5 MiB of 1000-byte values.
  const written = Math.ceil((5 * QUOTA_BYTES) / VALUE.length)
  for (let i = 0; i < written; i++) {
    const res = await fetch(`${base}/v1/cache/a${i}`, { method: 'PUT', headers: alpha, body: VALUE })
    if (res.status !== 204) t.fail(`alpha PUT a${i}: ${res.status} ${await res.text()}`)
  }

  const stats = await (await fetch(`${base}/v1/stats`, { headers: alpha })).json() as { bytes: number, quotaBytes: number, evictions: number, items: number }
  t.equal(stats.quotaBytes, QUOTA_BYTES, 'the quota from the config is in force')
  t.ok(stats.bytes <= QUOTA_BYTES, `alpha holds ${stats.bytes} bytes, within its quota`)
  t.ok(stats.evictions > 0 && stats.items + stats.evictions === written, `alpha evicted its own items (${stats.evictions}) and kept ${stats.items}`)
  t.equal((await fetch(`${base}/v1/cache/a${written - 1}`, { headers: alpha })).status, 200, 'alpha\'s newest item is there')
  t.equal((await fetch(`${base}/v1/cache/a1`, { headers: alpha })).status, 404, 'alpha\'s oldest untouched item was evicted')

  const betaStats = await (await fetch(`${base}/v1/stats`, { headers: beta })).json() as { items: number, evictions: number }
  t.equal(betaStats.items, 500, 'beta still has all 500 items')
  t.equal(betaStats.evictions, 0, 'nothing of beta was evicted')
  const redisBeta = new Redis({ host: '127.0.0.1', port: server.respPort, username: 'beta', password: 'beta-secret-22', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  t.teardown(() => { redisBeta.disconnect() })
  await redisBeta.connect()
  const values = await redisBeta.mget(Array.from({ length: 500 }, (_, i) => `b${i}`))
  t.equal(values.filter((value) => value === VALUE).length, 500, 'every beta item reads back byte-identical over RESP')

  // A's credential never reaches B's keys.
  t.equal((await fetch(`${base}/v1/cache/b0`, { headers: alpha })).status, 404, 'alpha cannot read beta\'s key over HTTP')
  const redisAlpha = new Redis({ host: '127.0.0.1', port: server.respPort, username: 'alpha', password: 'alpha-secret-1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  t.teardown(() => { redisAlpha.disconnect() })
  await redisAlpha.connect()
  t.equal(await redisAlpha.get('b0'), null, 'alpha cannot read beta\'s key over RESP')
})
