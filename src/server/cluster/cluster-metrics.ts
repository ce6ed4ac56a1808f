/**
 * Cluster metrics: the Prometheus view of this node's membership, replication and range
 * streaming, registered next to the cache metrics when the node is clustered. Thread: main.
 * Owns: nothing but the metric definitions; every value is read from the ClusterNode at scrape
 * time (no per-request cost).
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import { METRIC_PREFIX } from '../metrics.js'
import type { ClusterNode } from './cluster-node.js'

const STATES = ['joining', 'up', 'suspect', 'dead', 'left'] as const

export function registerClusterMetrics (registry: Registry, node: ClusterNode): void {
  const registers = [registry]
  const p = `${METRIC_PREFIX}cluster_`
  new Gauge({ name: `${p}members`, help: 'Members this node knows, by state', labelNames: ['state'], registers, collect (this: Gauge<'state'>) {
    const counts = new Map<string, number>(STATES.map((s) => [s, 0]))
    for (const m of node.status().members) counts.set(m.state, (counts.get(m.state) ?? 0) + 1)
    for (const [state, n] of counts) this.set({ state }, n)
  } })
  new Gauge({ name: `${p}ownership_ratio`, help: 'Fraction of the ring each member owns as primary', labelNames: ['node'], registers, collect (this: Gauge<'node'>) {
    this.reset()
    for (const m of node.status().members) this.set({ node: m.id }, m.ownership)
  } })
  new Gauge({ name: `${p}replication_queue`, help: 'Writes sent to a peer and not yet acknowledged', labelNames: ['node'], registers, collect (this: Gauge<'node'>) {
    this.reset()
    for (const m of node.status().members) if (m.id !== node.selfId) this.set({ node: m.id }, m.replicationQueue)
  } })
  new Gauge({ name: `${p}replication_lag_seconds`, help: 'Age of the oldest unacknowledged replication batch to a peer', labelNames: ['node'], registers, collect (this: Gauge<'node'>) {
    this.reset()
    for (const m of node.status().members) if (m.id !== node.selfId) this.set({ node: m.id }, m.replicationLagMs / 1000)
  } })
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({ name: `${p}${name}_total`, help, registers, collect (this: Counter) {
      this.reset()
      this.inc(read())
    } })
  }
  counter('replicated_writes', 'Writes this node sent to replicas (one per key and replica)', () => node.counters().replicatedWrites)
  counter('applied_records', 'Replicated records and tombstones applied here', () => node.counters().appliedRecords)
  counter('stale_records', 'Replicated records ignored here because a newer version was present', () => node.counters().staleRecords)
  counter('stream_items', 'Items this node streamed to others (membership changes, joins, leaves, repairs)', () => node.status().migration.itemsSent)
  counter('stream_bytes', 'Bytes of items this node streamed to others', () => node.status().migration.bytesSent)
  counter('stream_passes', 'Range stream and anti-entropy passes completed', () => node.status().migration.passes)
  counter('repaired_partitions', 'Ring partitions anti-entropy found different and repaired', () => node.counters().repairedPartitions)
}
