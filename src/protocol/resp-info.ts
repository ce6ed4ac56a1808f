/**
 * The INFO reply text in Redis's format: `# Section\r\nkey:value\r\n…`, sections separated by
 * a blank line, the keyspace as `db0:keys=N,expires=M,avg_ttl=0`. Thread: main (pure, L1);
 * every number comes in through InfoInput (engine counters, server counters, process facts).
 * Invariant: field names are Redis's where the meaning matches, since tools parse them
 * (ioredis's ready check reads `loading`); slabcache-only fields say so in their name.
 */
import type { RespCounters, RespProcessInfo, RespSettings, RespStatsView } from './resp-context.js'

/** The Redis version slabcache reports for compatibility (its command set is Redis 7's). */
export const REDIS_COMPAT_VERSION = '7.2.0'

export interface InfoInput {
  readonly stats: RespStatsView
  readonly process: RespProcessInfo
  readonly counters: RespCounters
  readonly settings: RespSettings
  readonly nowMs: number
  /** Snapshot state (SAVE/BGSAVE); absent when the server has no snapshots. */
  readonly persistence?: { readonly saving: boolean, readonly lastSaveMs: number }
  /** The cluster summary (CLUSTER INFO's fields); absent on a single node: `cluster_enabled:0`. */
  readonly cluster?: ReadonlyArray<readonly [string, string | number]>
}

/** Sections in output order; `default`, `all` and `everything` select all of them. */
export const INFO_SECTIONS = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cluster', 'keyspace'] as const
type Section = typeof INFO_SECTIONS[number]

/** Redis `bytesToHuman`: 1023B, 1.00K, 2.50M, 1.00G. */
export function bytesToHuman (bytes: number): string {
  const units = ['K', 'M', 'G', 'T', 'P']
  if (bytes < 1024) return `${bytes}B`
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${value.toFixed(2)}${units[unit]!}`
}

function fields (input: InfoInput, section: Section): Array<[string, string | number]> {
  const { stats, process, counters, settings } = input
  switch (section) {
    case 'server': return [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['slabcache_version', process.version],
      ['redis_mode', 'standalone'],
      ['os', process.os],
      ['arch_bits', process.archBits],
      ['process_id', process.processId],
      ['run_id', process.runId],
      ['tcp_port', process.tcpPort],
      ['server_time_usec', Math.floor(input.nowMs) * 1000],
      ['uptime_in_seconds', Math.floor(stats.uptimeMs / 1000)],
      ['uptime_in_days', Math.floor(stats.uptimeMs / 86_400_000)],
      ['executable', process.executable]
    ]
    case 'clients': return [
      ['connected_clients', counters.connectedClients],
      ['maxclients', settings.maxConnections],
      ['blocked_clients', 0]
    ]
    case 'memory': return [
      ['used_memory', stats.chunkBytes],
      ['used_memory_human', bytesToHuman(stats.chunkBytes)],
      ['used_memory_rss', process.rssBytes],
      ['used_memory_rss_human', bytesToHuman(process.rssBytes)],
      ['used_memory_dataset', stats.itemBytes],
      ['maxmemory', settings.memoryBytes],
      ['maxmemory_human', bytesToHuman(settings.memoryBytes)],
      ['maxmemory_policy', 'allkeys-lru'],
      ['slabcache_capacity_bytes', stats.capacityBytes]
    ]
    case 'persistence': return [
      ['loading', 0],
      ['async_loading', 0],
      ['rdb_changes_since_last_save', 0],
      // Tools poll these after BGSAVE; a running snapshot of any kind counts as a save in progress.
      ['rdb_bgsave_in_progress', input.persistence?.saving === true ? 1 : 0],
      ['rdb_last_save_time', Math.floor((input.persistence?.lastSaveMs ?? 0) / 1000)],
      ['aof_enabled', 0]
    ]
    case 'stats': return [
      ['total_connections_received', counters.totalConnectionsReceived],
      ['total_commands_processed', counters.totalCommandsProcessed],
      ['rejected_connections', counters.rejectedConnections],
      ['expired_keys', stats.expirations],
      ['evicted_keys', stats.evictions],
      ['keyspace_hits', stats.hits],
      ['keyspace_misses', stats.misses]
    ]
    case 'replication': return [
      ['role', 'master'],
      ['connected_slaves', 0]
    ]
    // Redis prints `# Cluster` before `# Keyspace`; its keyspace is this node's items only.
    case 'cluster': return input.cluster !== undefined ? input.cluster.map(([name, value]) => [name, value]) : [['cluster_enabled', 0]]
    case 'keyspace': {
      // Redis lists only non-empty databases.
      if (stats.items === 0) return []
      const expires = stats.shards.reduce((sum, shard) => sum + shard.wheelItems, 0)
      return [['db0', `keys=${stats.items},expires=${expires},avg_ttl=0`]]
    }
  }
}

/** The INFO text for the requested section names (lower case); none means all. */
export function formatInfo (requested: readonly string[], input: InfoInput): string {
  const everything = requested.length === 0 || requested.some((name) => name === 'default' || name === 'all' || name === 'everything')
  let text = ''
  for (const section of INFO_SECTIONS) {
    if (!everything && !requested.includes(section)) continue
    if (text !== '') text += '\r\n'
    text += `# ${section[0]!.toUpperCase()}${section.slice(1)}\r\n`
    for (const [name, value] of fields(input, section)) text += `${name}:${value}\r\n`
  }
  return text
}
