/**
 * `POST /v1/tags/{tag}/invalidate` → `{"removed": n}`: removes every key of the tenant that
 * carries the tag, on all shards. Thread: main. The engine may answer with a Promise (the sweep
 * runs on the shard workers): the reply is then deferred inside cork (Exchange.replyWhenDone),
 * which is the one case where a pipelined request behind it costs the connection (DESIGN §4).
 */
import type { Engine } from '../../engine.js'
import { invalidateTagCommand } from './item-commands.js'
import { keyParameter } from './params.js'
import { sendError, sendJson } from './reply.js'
import type { Router } from './router.js'

export function registerTagRoutes (router: Router, engine: Engine): void {
  router.route('/v1/tags/:tag/invalidate', {
    POST: {
      access: 'tenant',
      // Tags share the key grammar (percent-encoded UTF-8); the engine enforces the tag limits.
      parse: (res, req) => keyParameter(res, req, 0, engine.config.limits.maxKeyBytes, 'tag'),
      run: (exchange, tag: Buffer) => {
        exchange.replyWhenDone(engine.execute(invalidateTagCommand(exchange.principal.tenantId, tag)), (result) => {
          if (result.error !== null) { sendError(exchange.res, result.error, result.errorMessage); return }
          sendJson(exchange.res, 200, { removed: result.count })
        })
      }
    }
  })
}
