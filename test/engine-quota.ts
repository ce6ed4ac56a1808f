/**
 * Tenant quotas through the engine on a real server (2 shards, real workers): a tenant over its
 * quota evicts only its own least recently used items (recently read ones survive), another
 * tenant keeps every item, memory pressure without quotas still evicts, and per-tenant stats are
 * exact sums over the shards.
 */
import t from 'tap'
import { startTestServer } from './fixtures/server.js'
import type { Result } from '../src/command/command.js'
import { SetMode } from '../src/core/store-status.js'
import { newDataOffset } from '../src/core/item-ext.js'
import { itemChunkBytes } from '../src/core/tenant-lru.js'
import type { Engine } from '../src/engine.js'

const A = 1
const B = 2
const keyOf = (tenant: number, i: number): Buffer => Buffer.from(`t${tenant}:${String(i).padStart(6, '0')}`)
const valueOf = (tenant: number, i: number): Buffer => Buffer.alloc(200, `${tenant}/${i};`)

function set (engine: Engine, tenant: number, i: number, value = valueOf(tenant, i)): Result {
  return engine.execute({ op: 'set', tenantId: tenant, key: keyOf(tenant, i), value, mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 }) as Result
}

/** Whether (tenant, i) reads back with its value (a get: counted as a hit, recorded in the LRU). */
function get (engine: Engine, tenant: number, i: number): boolean {
  const result = engine.execute({ op: 'get', tenantId: tenant, key: keyOf(tenant, i) }) as Result
  return result.value !== null && result.value.subarray(0, result.valueLength).equals(valueOf(tenant, i))
}

/** Presence without a hit. */
function has (engine: Engine, tenant: number, i: number): boolean {
  return (engine.execute({ op: 'exists', tenantId: tenant, key: keyOf(tenant, i) }) as Result).status === 0
}

t.test('quota - A over its quota evicts only its own least recently used items; B keeps all; stats are exact', async (t) => {
  // Exact LRU (lru.bumpInterval 0): the reads below come within a second of the sets, and each must protect its item.
  const server = await startTestServer(t, { lru: { bumpIntervalMs: 0 } })
  const engine = server.engine
  const chunk = itemChunkBytes(engine.shards.store(0).allocator, newDataOffset(keyOf(A, 0).length, 0, 0), 200)
  const quotaBytes = 200 * 1024
  engine.setTenantQuota(A, quotaBytes)
  t.equal(engine.tenantStats(A).quotaBytes, quotaBytes, 'the shard shares add up to the quota')
  for (let i = 0; i < 500; i++) t.equal(set(engine, B, i).error, null)
  for (let i = 0; i < 2000; i++) {
    const result = set(engine, A, i)
    if (result.error !== null) t.fail(`set A ${i}: ${result.error}`)
  }
  let stats = engine.tenantStats(A)
  t.ok(stats.bytes <= quotaBytes, `A holds ${stats.bytes} ≤ ${quotaBytes} bytes`)
  t.equal(stats.bytes, stats.items * chunk, 'bytes are exactly the chunks of its items')
  t.equal(stats.evictions, 2000 - stats.items, 'every set beyond the quota evicted one of A\'s items')
  t.equal(stats.sets, 2000)

  // The ten oldest survivors are read, then A writes on: they must outlive younger, unread items.
  const survivors: number[] = []
  for (let i = 0; i < 2000; i++) if (has(engine, A, i)) survivors.push(i)
  t.equal(survivors.length, stats.items)
  const touched = survivors.slice(0, 10)
  for (const i of touched) t.ok(get(engine, A, i), `read ${i}`)
  for (let i = 2000; i < 2300; i++) set(engine, A, i)
  for (const i of touched) t.ok(has(engine, A, i), `A's item ${i}, read before, survived 300 more writes`)
  for (const i of survivors.slice(10, 30)) t.notOk(has(engine, A, i), `A's unread item ${i} (older than the new writes) was evicted`)

  for (let i = 0; i < 500; i++) if (!get(engine, B, i)) t.fail(`B's item ${i} was lost`)
  const b = engine.tenantStats(B)
  t.same({ items: b.items, bytes: b.bytes, evictions: b.evictions, sets: b.sets, hits: b.hits, quotaBytes: b.quotaBytes },
    { items: 500, bytes: 500 * chunk, evictions: 0, sets: 500, hits: 500, quotaBytes: 0 }, 'B: every item, exact counters')
  stats = engine.tenantStats(A)
  t.equal(stats.hits, 10)
  t.equal(stats.sets, 2300)
  t.equal(stats.items + stats.evictions, 2300, 'A: every set is an item or an eviction')
  t.ok(stats.bytes <= quotaBytes)
  const total = engine.stats()
  t.equal(total.items, stats.items + b.items, 'the tenants add up to the engine totals')
  t.equal(total.evictions, stats.evictions)
})

t.test('quota - an item larger than the tenant\'s share is refused with QUOTA_EXCEEDED; 0 lifts the quota', async (t) => {
  const server = await startTestServer(t)
  const engine = server.engine
  engine.setTenantQuota(A, 8 * 1024)
  const result = set(engine, A, 1, Buffer.alloc(5000))
  t.equal(result.error, 'QUOTA_EXCEEDED', 'larger than a shard\'s 4 KiB share')
  t.equal(engine.tenantStats(A).items, 0)
  engine.setTenantQuota(A, 0)
  t.equal(engine.tenantStats(A).quotaBytes, 0)
  t.equal(set(engine, A, 1, Buffer.alloc(5000)).error, null)
  t.throws(() => engine.setTenantQuota(A, -1), { code: 'BAD_REQUEST', message: 'quotaBytes must be a non-negative integer; received -1' })
  t.throws(() => engine.setTenantQuota(1024, 1), { code: 'BAD_REQUEST' })
  t.throws(() => engine.tenantStats(-1), { code: 'BAD_REQUEST' })
})

t.test('memory pressure - with no quotas a full server still evicts, and the counters add up', async (t) => {
  const server = await startTestServer(t, { shards: 2, memoryBytes: 16 * 1024 * 1024, limits: { maxValueBytes: 1024 * 1024 } })
  const engine = server.engine
  const value = Buffer.alloc(4000, 1)
  const count = 6000 // 24 MB of values into 16 MiB
  for (let i = 0; i < count; i++) {
    const result = set(engine, 0, i, value)
    if (result.error !== null) t.fail(`set ${i}: ${result.error}`)
  }
  const total = engine.stats()
  const tenant = engine.tenantStats(0)
  t.ok(total.evictions > 0, `evicted ${total.evictions}`)
  t.equal(tenant.items, total.items)
  t.equal(tenant.evictions, total.evictions)
  t.equal(tenant.items + tenant.evictions, count)
  t.ok(has(engine, 0, count - 1), 'the newest item is there')
})
