/**
 * RESP cluster commands: CLUSTER INFO | MYID | MEMBERS | HELP and CLIENT CONSISTENCY, plus the
 * `# Cluster` fields of INFO. Thread: main (pure, L1): everything comes from the host's
 * ClusterRouter (`status()`, `defaultConsistency()`); nothing here routes a command.
 * Invariant: without a router (single node) CLUSTER answers Redis's
 * `-ERR This instance has cluster support disabled` (catalog NOT_CLUSTERED), and CLIENT
 * CONSISTENCY still records the mode, which has no effect until there are replicas to wait for.
 */
import type { ClusterRouter, ClusterStatus, ConsistencyMode } from '../cluster/cluster-types.js'
import { CONSISTENCY_MODES } from '../config/options.js'
import { keyword } from './resp-args.js'
import { command, NO_KEYS, type RespCommandSpec, type RespContext, type RespSession } from './resp-context.js'
import { ERR_SYNTAX, respErrorFor } from './resp-errors.js'

/** The consistency a connection's commands use: its CLIENT CONSISTENCY, else its tenant's default. */
export function consistencyOf (router: ClusterRouter | null | undefined, s: RespSession): ConsistencyMode {
  return s.consistency ?? router?.defaultConsistency(s.tenantId) ?? 'async'
}

const ERR_CONSISTENCY = `ERR CONSISTENCY must be one of ${CONSISTENCY_MODES.join(', ')}`

/** CLIENT CONSISTENCY [async|quorum|all]: sets (+OK) or shows (bulk string) the connection's mode. */
function clientConsistency (x: RespContext, s: RespSession, argv: Uint8Array[], argc: number): void {
  if (argc > 3) { s.out.error(ERR_SYNTAX); return }
  if (argc === 2) { s.out.bulkString(consistencyOf(x.host.router, s)); return }
  const mode = keyword(argv[2]!)
  const known = CONSISTENCY_MODES.find((name) => name === mode)
  if (known === undefined) { s.out.error(ERR_CONSISTENCY); return }
  s.consistency = known
  s.out.ok()
}

/** Members that own part of the ring, as Redis's cluster_size counts masters serving slots. */
function ringSize (status: ClusterStatus): number {
  let size = 0
  for (const member of status.members) if (member.ownership > 0) size++
  return size
}

/**
 * ok: this node is up and every member owning part of the ring is up or merely suspected (a
 * dead owner's keys are served by its successor, but until the ring drops it, clients should
 * know the cluster is degraded); fail otherwise.
 */
function clusterState (status: ClusterStatus): 'ok' | 'fail' {
  for (const member of status.members) {
    if (member.id === status.selfId && member.state !== 'up') return 'fail'
    if (member.ownership > 0 && member.state !== 'up' && member.state !== 'suspect') return 'fail'
  }
  return 'ok'
}

/** The cluster summary, as `CLUSTER INFO` and INFO's `# Cluster` section print it (field order kept). */
export function clusterInfoFields (router: ClusterRouter, consistency: ConsistencyMode): Array<[string, string | number]> {
  const status = router.status()
  const migration = status.migration
  return [
    ['cluster_enabled', 1],
    ['cluster_state', clusterState(status)],
    ['cluster_my_id', status.selfId],
    ['cluster_known_nodes', status.members.length],
    ['cluster_size', ringSize(status)],
    ['cluster_replicas', status.replicas],
    ['cluster_consistency', consistency],
    ['cluster_migration_running', migration.running ? 1 : 0],
    ['cluster_migration_progress', migration.progress.toFixed(4)],
    ['cluster_migration_items_sent', migration.itemsSent],
    ['cluster_migration_bytes_sent', migration.bytesSent],
    ['cluster_migration_passes', migration.passes],
    ['cluster_migration_interrupted', migration.interrupted]
  ]
}

/** Runs `then` with the router, or answers NOT_CLUSTERED. */
function withRouter (then: (router: ClusterRouter, x: RespContext, s: RespSession) => void) {
  return (x: RespContext, s: RespSession): void => {
    const router = x.host.router
    if (router === undefined || router === null) { s.out.error(respErrorFor('NOT_CLUSTERED')); return }
    then(router, x, s)
  }
}

const clusterInfo = withRouter((router, _x, s) => {
  let text = ''
  for (const [name, value] of clusterInfoFields(router, consistencyOf(router, s))) text += `${name}:${value}\r\n`
  s.out.bulkString(text)
})

const clusterMyid = withRouter((router, _x, s) => { s.out.bulkString(router.selfId) })

/** One array per member: id, address, state, incarnation, ownership (decimal string), replication lag ms. */
const clusterMembers = withRouter((router, _x, s) => {
  const members = router.status().members
  const out = s.out
  out.array(members.length)
  for (const member of members) {
    out.array(6)
    out.bulkString(member.id)
    out.bulkString(member.address)
    out.bulkString(member.state)
    out.integer(member.incarnation)
    out.bulkString(member.ownership.toFixed(4))
    out.integer(Math.round(member.replicationLagMs))
  }
})

function clusterHelp (_x: RespContext, s: RespSession): void {
  const lines = [
    'CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
    'INFO', '    Cluster state, size, replicas, consistency and migration progress.',
    'MYID', "    This node's id.",
    'MEMBERS', '    Every member: id, address, state, incarnation, ownership, replication lag ms.',
    'HELP', '    Print this help.'
  ]
  s.out.array(lines.length)
  for (const line of lines) s.out.simple(line)
}

/** CLIENT's CONSISTENCY subcommand (joined to CLIENT's table in resp-admin-commands.ts). */
export const CLIENT_CONSISTENCY = command('client|consistency', -2, 'noscript loading stale fast', NO_KEYS, clientConsistency)

export const CLUSTER_COMMANDS: readonly RespCommandSpec[] = [
  command('cluster', -2, '', NO_KEYS, null, [
    command('cluster|info', 2, 'loading stale', NO_KEYS, clusterInfo),
    command('cluster|myid', 2, 'loading stale', NO_KEYS, clusterMyid),
    command('cluster|members', 2, 'loading stale', NO_KEYS, clusterMembers),
    command('cluster|help', 2, 'loading stale', NO_KEYS, clusterHelp)
  ])
]
