import t from 'tap'
import WebSocket from 'ws'
import { StreamClient, type WebSocketConstructor } from '../../src/client/stream-client.js'
import { Metrics } from '../../src/server/metrics.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'

/** Parses the exposition text into `name{labels}` → value (labels as written by prom-client). */
function parse (text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    samples.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return samples
}

async function scrape (server: TestServer): Promise<Map<string, number>> {
  const res = await fetch(`${server.url}/metrics`)
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`)
  return parse(await res.text())
}

interface ShardStats { id: number, items: number, itemBytes: number, chunkBytes: number, capacityBytes: number, freePages: number, hits: number, misses: number, evictions: number, expirations: number }
interface Stats { items: number, itemBytes: number, shards: ShardStats[] }
const stats = async (server: TestServer): Promise<Stats> => await (await fetch(`${server.url}/v1/stats`)).json() as Stats

/**
 * A scrape taken between two equal /v1/stats readings: shard workers evict and expire in the
 * background, so values are compared only once the counters are at rest.
 */
async function quiescentScrape (server: TestServer): Promise<{ samples: Map<string, number>, stats: Stats }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const before = await stats(server)
    const samples = await scrape(server)
    const after = await stats(server)
    const strip = (s: Stats): string => JSON.stringify(s.shards.map(({ id, items, itemBytes, chunkBytes, hits, misses, evictions, expirations }) => ({ id, items, itemBytes, chunkBytes, hits, misses, evictions, expirations })))
    if (strip(before) === strip(after)) return { samples, stats: after }
  }
  throw new Error('shard counters never came to rest')
}

t.test('GET /metrics - exact counters per shard and per tenant after sets, hits, misses, deletes and expiry', async (t) => {
  const server = await startTestServer(t, { debug: { clockControl: true } })
  const shardOf = (key: string): number => server.engine.shardOf(0, Buffer.from(key))
  const expected = [0, 1].map(() => ({ sets: 0, hits: 0, misses: 0, deletes: 0, expirations: 0, items: 0 }))
  let httpRequests = 0
  const http = async (method: string, key: string, body?: string, query = ''): Promise<number> => {
    httpRequests++
    return (await fetch(`${server.url}/v1/cache/${key}${query}`, { method, ...(body === undefined ? {} : { body }) })).status
  }
  for (let i = 0; i < 20; i++) {
    t.equal(await http('PUT', `k${i}`, `value-${i}`), 204)
    expected[shardOf(`k${i}`)]!.sets++
    expected[shardOf(`k${i}`)]!.items++
  }
  for (let i = 0; i < 20; i += 2) {
    t.equal(await http('GET', `k${i}`), 200)
    expected[shardOf(`k${i}`)]!.hits++
  }
  for (let i = 0; i < 7; i++) {
    t.equal(await http('GET', `absent${i}`), 404)
    expected[shardOf(`absent${i}`)]!.misses++
  }
  for (let i = 0; i < 5; i++) {
    t.equal(await http('DELETE', `k${i}`), 204)
    expected[shardOf(`k${i}`)]!.deletes++
    expected[shardOf(`k${i}`)]!.items--
  }
  for (let i = 0; i < 4; i++) {
    t.equal(await http('PUT', `ttl${i}`, 'short-lived', '?ttl=1'), 204)
    expected[shardOf(`ttl${i}`)]!.sets++
  }
  httpRequests++
  await fetch(`${server.url}/v1/debug/clock`, { method: 'POST', body: JSON.stringify({ advanceMs: 3000 }) })
  for (let i = 0; i < 4; i++) {
    t.equal(await http('GET', `ttl${i}`), 404, 'expired')
    expected[shardOf(`ttl${i}`)]!.misses++
    expected[shardOf(`ttl${i}`)]!.expirations++
  }
  // A read skips an expired item without removing it; the shard worker's timing wheel reclaims
  // it on its next tick (the clock was moved, not waited for): poll until it has.
  for (let polls = 0; (await stats(server)).shards.reduce((sum, s) => sum + s.expirations, 0) < 4; polls++) {
    httpRequests++
    if (polls > 500) throw new Error('the timing wheel never reclaimed the expired items')
  }
  httpRequests++
  // Over the stream: one message per awaited request.
  const stream = await StreamClient.connect(`ws://127.0.0.1:${server.httpPort}/v1/stream`, { WebSocket: WebSocket as unknown as WebSocketConstructor })
  t.teardown(async () => await stream.close())
  await stream.set('ws-key', 'x')
  expected[shardOf('ws-key')]!.sets++
  expected[shardOf('ws-key')]!.items++
  await stream.get('ws-key')
  expected[shardOf('ws-key')]!.hits++
  await stream.get('ws-absent')
  expected[shardOf('ws-absent')]!.misses++

  const { samples, stats: current } = await quiescentScrape(server)
  // Every /v1/stats and /metrics request before the last scrape was an HTTP request too.
  for (const shard of [0, 1]) {
    const e = expected[shard]!
    const s = current.shards[shard]!
    const label = `{shard="${shard}"}`
    t.equal(samples.get(`slabcache_shard_sets_total${label}`), e.sets, `shard ${shard} sets`)
    t.equal(samples.get(`slabcache_shard_hits_total${label}`), e.hits, `shard ${shard} hits`)
    t.equal(samples.get(`slabcache_shard_misses_total${label}`), e.misses, `shard ${shard} misses`)
    t.equal(samples.get(`slabcache_shard_deletes_total${label}`), e.deletes, `shard ${shard} deletes`)
    t.equal(samples.get(`slabcache_shard_expirations_total${label}`), e.expirations, `shard ${shard} expirations`)
    t.equal(samples.get(`slabcache_shard_items${label}`), e.items, `shard ${shard} items`)
    t.equal(samples.get(`slabcache_shard_evictions_total${label}`), 0, `shard ${shard} evictions`)
    t.equal(samples.get(`slabcache_shard_items${label}`), s.items, 'items match /v1/stats')
    t.equal(samples.get(`slabcache_shard_item_bytes${label}`), s.itemBytes, 'item bytes match /v1/stats')
    t.equal(samples.get(`slabcache_shard_chunk_bytes${label}`), s.chunkBytes, 'chunk bytes match /v1/stats')
    t.equal(samples.get(`slabcache_shard_capacity_bytes${label}`), s.capacityBytes)
    t.equal(samples.get(`slabcache_shard_up${label}`), 1)
    t.equal(samples.get(`slabcache_shard_restarts_total${label}`), 0)
  }
  const sum = (field: 'sets' | 'hits' | 'misses' | 'deletes' | 'expirations' | 'items'): number => expected[0]![field] + expected[1]![field]
  const tenant = '{tenant="0",tenant_name="default"}'
  t.equal(samples.get(`slabcache_tenant_sets_total${tenant}`), sum('sets'), 'tenant sets, all shards')
  t.equal(samples.get(`slabcache_tenant_hits_total${tenant}`), sum('hits'))
  t.equal(samples.get(`slabcache_tenant_misses_total${tenant}`), sum('misses'))
  t.equal(samples.get(`slabcache_tenant_deletes_total${tenant}`), sum('deletes'))
  t.equal(samples.get(`slabcache_tenant_expirations_total${tenant}`), sum('expirations'))
  t.equal(samples.get(`slabcache_tenant_items${tenant}`), current.items, 'tenant items match /v1/stats')
  t.equal(samples.get(`slabcache_tenant_bytes${tenant}`), current.shards[0]!.chunkBytes + current.shards[1]!.chunkBytes, 'tenant bytes are the chunk bytes it holds')
  t.equal(samples.get('slabcache_memory_bytes'), server.engine.config.memoryBytes)

  t.equal(samples.get('slabcache_request_duration_seconds_count{protocol="ws"}'), 3, 'one ws observation per message')
  t.equal(samples.get('slabcache_request_duration_seconds_bucket{protocol="ws",le="+Inf"}'), 3)
  const httpCount = samples.get('slabcache_request_duration_seconds_count{protocol="http"}')!
  // Each quiescent attempt makes 3 requests; the last one counted is its first /v1/stats (a
  // scrape reads the histogram before its own handler returns).
  t.ok(httpCount >= httpRequests + 1 && (httpCount - httpRequests - 1) % 3 === 0, `http requests counted (${httpCount} for ${httpRequests} cache requests + scrapes)`)
  t.equal(samples.get('slabcache_request_duration_seconds_count{protocol="resp"}'), 0, 'RESP is not wired yet')
  let previous = 0
  for (const le of ['1e-5', '0.00001', '0.000025', '0.00005', '0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf']) {
    const value = samples.get(`slabcache_request_duration_seconds_bucket{protocol="http",le="${le}"}`)
    if (value === undefined) continue
    t.ok(value >= previous, `buckets are cumulative (le=${le})`)
    previous = value
  }
  t.equal(previous, httpCount, 'the +Inf bucket is the count')
  t.ok((samples.get('slabcache_process_cpu_user_seconds_total') ?? -1) >= 0, 'process metrics carry the prefix')
})

t.test('GET /metrics - Prometheus content type, HELP and TYPE lines', async (t) => {
  const server = await startTestServer(t)
  const res = await fetch(`${server.url}/metrics`)
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  const text = await res.text()
  t.match(text, /# TYPE slabcache_shard_hits_total counter/)
  t.match(text, /# TYPE slabcache_shard_items gauge/)
  t.match(text, /# TYPE slabcache_request_duration_seconds histogram/)
  t.match(text, /# HELP slabcache_tenant_bytes /)
})

t.test('GET /metrics - evictions are counted per shard and per tenant', async (t) => {
  const server = await startTestServer(t)
  const value = 'v'.repeat(100 * 1024)
  // 400 × 100 KiB into 2 × 15 MiB of pages: the older items are evicted.
  for (let i = 0; i < 400; i++) {
    const res = await fetch(`${server.url}/v1/cache/e${i}`, { method: 'PUT', body: value })
    t.equal(res.status, 204, `PUT e${i}`, { diagnostic: res.status !== 204 })
    if (res.status !== 204) return
  }
  const { samples, stats: current } = await quiescentScrape(server)
  let evictions = 0
  for (const shard of current.shards) {
    t.equal(samples.get(`slabcache_shard_evictions_total{shard="${shard.id}"}`), shard.evictions, `shard ${shard.id} evictions match /v1/stats`)
    t.equal(samples.get(`slabcache_shard_items{shard="${shard.id}"}`), shard.items)
    evictions += shard.evictions
  }
  t.ok(evictions > 0, `items were evicted (${evictions})`)
  t.equal(samples.get('slabcache_tenant_evictions_total{tenant="0",tenant_name="default"}'), evictions, 'the tenant\'s evictions are the shards\' sum')
  t.equal(samples.get('slabcache_tenant_items{tenant="0",tenant_name="default"}'), current.items)
  t.equal(current.items + evictions, 400, 'every item written is either live or evicted')
})

t.test('Metrics - tenants with any activity are listed, named by the resolver', async (t) => {
  const server = await startTestServer(t)
  const engine = server.engine
  // Only the default tenant is reachable over the wire until auth lands: write as tenant 7 in-process.
  engine.execute({ op: 'set', tenantId: 7, key: Buffer.from('a'), value: Buffer.from('1'), mode: 0, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 })
  engine.execute({ op: 'get', tenantId: 7, key: Buffer.from('a') })
  engine.execute({ op: 'get', tenantId: 9, key: Buffer.from('none') })
  const metrics = new Metrics(engine, { processMetrics: false, tenantName: (id) => ({ 0: 'default', 7: 'acme' } as Record<number, string>)[id] })
  const samples = parse(await metrics.metrics())
  t.equal(samples.get('slabcache_tenant_items{tenant="7",tenant_name="acme"}'), 1)
  t.equal(samples.get('slabcache_tenant_hits_total{tenant="7",tenant_name="acme"}'), 1)
  t.equal(samples.get('slabcache_tenant_misses_total{tenant="9",tenant_name=""}'), 1, 'an unnamed tenant has an empty name')
  t.equal(samples.get('slabcache_tenant_items{tenant="0",tenant_name="default"}'), 0, 'the default tenant is always listed')
  t.notOk([...samples.keys()].some((name) => name.includes('tenant="3"')), 'tenants without activity are not listed')
  t.notOk([...samples.keys()].some((name) => name.startsWith('slabcache_process_')), 'process metrics can be turned off')
  metrics.observeRequest('resp', 0.004)
  metrics.observeRequest('resp', 3)
  metrics.observeRequest('memcache', 5000)
  const after = parse(await metrics.metrics())
  t.equal(after.get('slabcache_request_duration_seconds_bucket{protocol="resp",le="0.00001"}'), 1, '4 µs falls in the first bucket')
  t.equal(after.get('slabcache_request_duration_seconds_bucket{protocol="resp",le="0.0025"}'), 1)
  t.equal(after.get('slabcache_request_duration_seconds_bucket{protocol="resp",le="0.005"}'), 2, '3 ms falls in the 5 ms bucket')
  t.equal(after.get('slabcache_request_duration_seconds_sum{protocol="resp"}'), 0.003004)
  t.equal(after.get('slabcache_request_duration_seconds_bucket{protocol="memcache",le="2.5"}'), 0, '5 s is beyond the last bound')
  t.equal(after.get('slabcache_request_duration_seconds_bucket{protocol="memcache",le="+Inf"}'), 1)
})
