/**
 * Cluster administration (DESIGN §9): `GET /v1/cluster` → `router.status()` as JSON (members,
 * states, ring ownership, replication lag, migration progress) and `POST /v1/cluster/leave` →
 * the node hands its data off and leaves the cluster, answering once that is done. Both need
 * the admin token (as /v1/tenants); on a node that is not clustered (no router, or no leave
 * hook) they answer 409 NOT_CLUSTERED. Thread: main; leave is awaited, so its reply is deferred
 * (Exchange.settle: onAborted first, the reply inside cork).
 */
import type { ClusterRouter } from '../../cluster/cluster-types.js'
import { optionalJsonObject, answerParamErrors } from './params.js'
import { sendError, sendJson } from './reply.js'
import type { Router } from './router.js'

export function registerClusterRoutes (router: Router, cluster: ClusterRouter | null, leave: (() => Promise<void>) | null, maxRequestBytes: number): void {
  const none = (): true => true
  router.route('/v1/cluster', {
    GET: {
      access: 'admin',
      parse: none,
      run: (exchange) => {
        if (cluster === null) { sendError(exchange.res, 'NOT_CLUSTERED'); return }
        sendJson(exchange.res, 200, cluster.status())
      }
    }
  })
  router.route('/v1/cluster/leave', {
    POST: {
      access: 'admin',
      body: { limitBytes: maxRequestBytes, tooLargeCode: 'REQUEST_TOO_LARGE' },
      parse: none,
      run: (exchange, _params: true, body) => answerParamErrors(exchange.res, () => {
        optionalJsonObject(body, '{} or no body')
        if (cluster === null || leave === null) { sendError(exchange.res, 'NOT_CLUSTERED'); return }
        const selfId = cluster.selfId
        exchange.settle(leave(), () => sendJson(exchange.res, 200, { left: selfId }))
      })
    }
  })
}
