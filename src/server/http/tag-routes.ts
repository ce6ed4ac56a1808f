/**
 * `POST /v1/tags/{tag}/invalidate` → `{"removed": n}`: removes every key of the tenant that
 * carries the tag, on all shards. Thread: main. The engine may answer with a Promise (the sweep
 * runs on the shard workers): the reply is then deferred inside cork (Exchange.replyWhenDone),
 * which is the one case where a pipelined request behind it costs the connection (DESIGN §4).
 * In a cluster the invalidation runs here and on every peer (`router.peers()`, all at once) and
 * `removed` is their sum; any peer that cannot be reached fails the request with its error
 * (503 PEER_UNAVAILABLE, …): invalidation is idempotent, so the client retries it whole.
 */
import type { Command, Result } from '../../command/command.js'
import type { ConsistencyMode } from '../../cluster/cluster-types.js'
import type { Engine } from '../../engine.js'
import { INVALID_CONSISTENCY, parseConsistency, type ClusterDispatch } from './cluster-dispatch.js'
import type { Exchange } from './exchange.js'
import { invalidateTagCommand } from './item-commands.js'
import { keyParameter } from './params.js'
import { sendError, sendJson } from './reply.js'
import type { Router } from './router.js'

interface TagParams { tag: Buffer, consistency: ConsistencyMode | null }

export function registerTagRoutes (router: Router, engine: Engine, cluster: ClusterDispatch | null = null): void {
  router.route('/v1/tags/:tag/invalidate', {
    POST: {
      access: 'tenant',
      // Tags share the key grammar (percent-encoded UTF-8); the engine enforces the tag limits.
      parse: (res, req): TagParams | null => {
        const tag = keyParameter(res, req, 0, engine.config.limits.maxKeyBytes, 'tag')
        if (tag === null) return null
        if (cluster === null) return { tag, consistency: null }
        const consistency = parseConsistency(res, req)
        return consistency === INVALID_CONSISTENCY ? null : { tag, consistency }
      },
      run: (exchange, params: TagParams) => {
        const command = invalidateTagCommand(exchange.principal.tenantId, params.tag)
        if (cluster !== null) { invalidateEverywhere(cluster, exchange, command, params.consistency); return }
        exchange.replyWhenDone(engine.execute(command), (result) => reply(exchange, result))
      }
    }
  })
}

function reply (exchange: Exchange, result: Result): void {
  if (result.error !== null) { sendError(exchange.res, result.error, result.errorMessage); return }
  sendJson(exchange.res, 200, { removed: result.count })
}

/** Here and on every peer at once; the first error (this node's first, then peers' in order) answers. */
function invalidateEverywhere (cluster: ClusterDispatch, exchange: Exchange, command: Command, requested: ConsistencyMode | null): void {
  const tenantId = exchange.principal.tenantId
  const consistency = cluster.consistency(tenantId, requested)
  const router = cluster.router
  const all = Promise.all([cluster.localResult(command, consistency), ...router.peers().map(async (peer) => await router.forwardCommand(peer, command, consistency))])
  exchange.settle(all, (results) => {
    let removed = 0
    for (const result of results) {
      if (result.error !== null) { reply(exchange, result); return }
      removed += result.count
    }
    sendJson(exchange.res, 200, { removed })
  })
}
