/**
 * Server: composes the engine and the front ends into one running slabcache, and stops them
 * in order. Thread: main. Used by the CLI (main.ts) and by integration tests, which start it on
 * ephemeral ports (port 0) and read the bound ports from the returned object.
 * Invariant: close() stops accepting first, then stops the shard workers, then the clock.
 */
import { Engine, type EngineOptions } from '../engine.js'
import type { Config } from '../config/load-config.js'
import { HttpServer } from './http-server.js'
import { loadUws } from './uws-loader.js'
import type { Logger } from '../util/log.js'

export interface RunningServer {
  readonly engine: Engine
  readonly httpPort: number
  close: () => Promise<void>
}

/** Starts slabcache with `config`; resolves once every port is listening. */
export async function startServer (config: Config, options: EngineOptions & { logger?: Logger } = {}): Promise<RunningServer> {
  const logger = options.logger
  // Refuse to start on uWS's slow pure-JS fallback: fail before any worker starts.
  loadUws()
  const engine = await Engine.start(config, {
    ...options,
    onShardRestart: (shardId, exitCode, repaired) => {
      logger?.warn({ shardId, exitCode, repaired }, 'shard worker exited; slab repaired and worker restarted')
      options.onShardRestart?.(shardId, exitCode, repaired)
    }
  })
  const http = new HttpServer(engine)
  try {
    await http.listen(config.host, config.httpPort)
  } catch (error) {
    await engine.close()
    throw error
  }
  let closed: Promise<void> | null = null
  return {
    engine,
    httpPort: http.port,
    close: async () => {
      closed ??= (async () => {
        http.close()
        await engine.close()
      })()
      await closed
    }
  }
}
