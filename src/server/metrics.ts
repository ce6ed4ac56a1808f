/**
 * Metrics: the Prometheus view of slabcache (DESIGN §11). Thread: main.
 * Owns: a private prom-client Registry (never the global one, so several servers in one process
 * — tests — do not collide), the request-latency histogram, and the snapshot of shard counters
 * taken once per scrape.
 * Invariants: cache counters cost nothing per request — they are the counters every shard
 * already keeps in its slab header and tenant table (shared memory), read only at scrape time;
 * every gauge and counter of one scrape comes from one pass over the shards (metrics()), so
 * items, bytes and hit counts in one exposition agree with each other; observeRequest() is the
 * only per-request cost: O(buckets), no allocation.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { MAX_TENANTS } from '../core/slab-layout.js'
import type { Engine } from '../engine.js'
import { LatencyHistogram, type Protocol } from './latency-histogram.js'

export type { Protocol } from './latency-histogram.js'

/** Prefix of every metric name, the process and Node.js defaults included. */
export const METRIC_PREFIX = 'slabcache_'

export interface MetricsOptions {
  /** Name of a tenant id for the `tenant_name` label ('' or undefined: unnamed). */
  tenantName?: (tenantId: number) => string | undefined
  /** Register prom-client's process and Node.js metrics (default true). */
  processMetrics?: boolean
}

/** Per-tenant counters summed over shards: the 8 doubles of the slab's tenant table. */
const TENANT_FIELDS = ['items', 'bytes', 'hits', 'misses', 'sets', 'deletes', 'evictions', 'expirations'] as const
const FIELD_COUNT = TENANT_FIELDS.length

interface ShardRow {
  label: string
  up: number
  restarts: number
  items: number
  itemBytes: number
  chunkBytes: number
  capacityBytes: number
  freePages: number
  hits: number
  misses: number
  sets: number
  deletes: number
  evictions: number
  expirations: number
}

type ShardField = Exclude<keyof ShardRow, 'label'>

export class Metrics {
  readonly registry = new Registry()
  readonly #engine: Engine
  readonly #tenantName: (tenantId: number) => string | undefined
  readonly #latency = new LatencyHistogram(`${METRIC_PREFIX}request_duration_seconds`,
    'Main-thread time to handle requests, by protocol: one observation per HTTP request, per WebSocket message and per TCP read batch (all the requests it carried)')
  #shards: ShardRow[] = []
  /** Tenant counters summed over shards, TENANT_FIELDS per tenant id. */
  readonly #tenants = new Float64Array(MAX_TENANTS * FIELD_COUNT)
  /** Tenant ids with any counter above zero in the last snapshot (tenant 0 always). */
  #activeTenants: number[] = []

  constructor (engine: Engine, options: MetricsOptions = {}) {
    this.#engine = engine
    // Tenant 0 is always `default` (DESIGN §8); others are named once a registry resolves them.
    this.#tenantName = options.tenantName ?? ((tenantId) => tenantId === 0 ? 'default' : undefined)
    const registers = [this.registry]
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX })
    this.registry.registerMetric(this.#latency.asPromMetric())

    const shardGauge = (name: string, help: string, field: ShardField): void => {
      const rows = (): ShardRow[] => this.#shards
      // prom-client calls collect with `this` bound to the metric.
      new Gauge({ name: `${METRIC_PREFIX}shard_${name}`, help, labelNames: ['shard'], registers, collect (this: Gauge<'shard'>) {
        this.reset()
        for (const row of rows()) this.set({ shard: row.label }, row[field])
      } })
    }
    const shardCounter = (name: string, help: string, field: ShardField): void => {
      const rows = (): ShardRow[] => this.#shards
      new Counter({ name: `${METRIC_PREFIX}shard_${name}_total`, help, labelNames: ['shard'], registers, collect (this: Counter<'shard'>) {
        this.reset()
        for (const row of rows()) this.inc({ shard: row.label }, row[field])
      } })
    }
    shardGauge('up', '1 while the shard worker is running, 0 while it is being restarted', 'up')
    shardCounter('restarts', 'Shard worker restarts (each after a crash, with the slab repaired)', 'restarts')
    shardGauge('items', 'Live items in the shard', 'items')
    shardGauge('item_bytes', 'Bytes of live items: header, key and value', 'itemBytes')
    shardGauge('chunk_bytes', 'Slab chunk bytes held by live items (what they cost, size-class rounding included)', 'chunkBytes')
    shardGauge('capacity_bytes', 'Bytes of the shard\'s pages (the memory items can use)', 'capacityBytes')
    shardGauge('free_pages', 'Pages of the shard not assigned to any size class', 'freePages')
    shardCounter('hits', 'Reads that found their key', 'hits')
    shardCounter('misses', 'Reads that did not find their key', 'misses')
    shardCounter('sets', 'Items written (set, add, replace, append, prepend, incr/decr)', 'sets')
    shardCounter('deletes', 'Items removed by delete', 'deletes')
    shardCounter('evictions', 'Items evicted to make room', 'evictions')
    shardCounter('expirations', 'Items removed because their TTL passed', 'expirations')

    const tenantMetric = (kind: 'gauge' | 'counter', name: string, help: string, field: number): void => {
      const snapshot = (): { ids: number[], values: Float64Array } => ({ ids: this.#activeTenants, values: this.#tenants })
      const label = (id: number): { tenant: string, tenant_name: string } => ({ tenant: String(id), tenant_name: this.#tenantName(id) ?? '' })
      const labelNames = ['tenant', 'tenant_name'] as const
      if (kind === 'gauge') {
        new Gauge({ name: `${METRIC_PREFIX}tenant_${name}`, help, labelNames, registers, collect (this: Gauge<'tenant' | 'tenant_name'>) {
          this.reset()
          const { ids, values } = snapshot()
          for (const id of ids) this.set(label(id), values[id * FIELD_COUNT + field]!)
        } })
      } else {
        new Counter({ name: `${METRIC_PREFIX}tenant_${name}_total`, help, labelNames, registers, collect (this: Counter<'tenant' | 'tenant_name'>) {
          this.reset()
          const { ids, values } = snapshot()
          for (const id of ids) this.inc(label(id), values[id * FIELD_COUNT + field]!)
        } })
      }
    }
    tenantMetric('gauge', 'items', 'Live items of the tenant, all shards', 0)
    tenantMetric('gauge', 'bytes', 'Slab chunk bytes held by the tenant\'s items, all shards', 1)
    tenantMetric('counter', 'hits', 'Reads by the tenant that found their key', 2)
    tenantMetric('counter', 'misses', 'Reads by the tenant that did not find their key', 3)
    tenantMetric('counter', 'sets', 'Items written by the tenant', 4)
    tenantMetric('counter', 'deletes', 'Items of the tenant removed by delete', 5)
    tenantMetric('counter', 'evictions', 'Items of the tenant evicted to make room', 6)
    tenantMetric('counter', 'expirations', 'Items of the tenant removed because their TTL passed', 7)

    const memoryBytes = engine.config.memoryBytes
    new Gauge({ name: `${METRIC_PREFIX}memory_bytes`, help: 'Configured slab memory, all shards', registers, collect (this: Gauge) { this.set(memoryBytes) } })
  }

  /** The Content-Type of metrics(): Prometheus text format 0.0.4. */
  get contentType (): string { return this.registry.contentType }

  /**
   * Records one request's duration. Called by every front end on its request path: O(buckets),
   * no allocation. `protocol` is one of PROTOCOLS; anything else is ignored.
   */
  observeRequest (protocol: Protocol, durationMs: number): void {
    switch (protocol) {
      case 'http': this.#latency.observe(0, durationMs); return
      case 'resp': this.#latency.observe(1, durationMs); return
      case 'memcache': this.#latency.observe(2, durationMs); return
      case 'ws': this.#latency.observe(3, durationMs)
    }
  }

  /** Requests observed so far for `protocol`. */
  observedRequests (protocol: Protocol): number { return this.#latency.count(protocol) }

  /**
   * The exposition text: takes one snapshot of every shard's counters, then lets the registry
   * format it (prom-client's API is async although every collect here is synchronous).
   */
  async metrics (): Promise<string> {
    this.#snapshot()
    return await this.registry.metrics()
  }

  /** Reads every shard's header and tenant counters (lock-free reads of shared-memory doubles). */
  #snapshot (): void {
    const shards = this.#engine.shards
    const tenants = this.#tenants
    tenants.fill(0)
    const rows: ShardRow[] = []
    for (let id = 0; id < shards.count; id++) {
      const store = shards.store(id)
      const s = store.stats()
      let sets = 0
      let deletes = 0
      for (let tenant = 0; tenant < MAX_TENANTS; tenant++) {
        const t = store.tenantStats(tenant)
        const base = tenant * FIELD_COUNT
        tenants[base]! += t.items
        tenants[base + 1]! += t.bytes
        tenants[base + 2]! += t.hits
        tenants[base + 3]! += t.misses
        tenants[base + 4]! += t.sets
        tenants[base + 5]! += t.deletes
        tenants[base + 6]! += t.evictions
        tenants[base + 7]! += t.expirations
        sets += t.sets
        deletes += t.deletes
      }
      rows.push({
        label: String(id),
        up: shards.alive(id) ? 1 : 0,
        restarts: shards.restarts(id),
        items: s.items,
        itemBytes: s.itemBytes,
        chunkBytes: s.chunkBytes,
        capacityBytes: s.capacityBytes,
        freePages: s.freePages,
        hits: s.hits,
        misses: s.misses,
        sets,
        deletes,
        evictions: s.evictions,
        expirations: s.expirations
      })
    }
    this.#shards = rows
    const active: number[] = []
    for (let tenant = 0; tenant < MAX_TENANTS; tenant++) {
      if (tenant === 0 || tenants.subarray(tenant * FIELD_COUNT, (tenant + 1) * FIELD_COUNT).some((v) => v !== 0)) active.push(tenant)
    }
    this.#activeTenants = active
  }
}
