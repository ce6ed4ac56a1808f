#!/usr/bin/env node
/**
 * The `slabcache` command: loads the configuration (defaults < config file < SLABCACHE_* env
 * < flags), starts the server (restoring the latest snapshot first) and stops it gracefully on
 * SIGTERM/SIGINT: stop accepting, snapshot if snapshot.onShutdown, stop the shards. Thread: main. L6.
 * Exit codes: 0 after a clean stop (or --help/--version), 1 on a configuration or start-up error.
 */
import { loadConfig } from './config/load-config.js'
import { SlabcacheError } from './errors.js'
import { startServer } from './server/server.js'
import { createLogger } from './util/log.js'

async function main (): Promise<number> {
  let loaded
  try {
    loaded = loadConfig({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() })
  } catch (error) {
    process.stderr.write(`slabcache: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
  if (loaded.kind !== 'run') {
    process.stdout.write(loaded.text + '\n')
    return 0
  }
  const config = loaded.config
  const logger = createLogger(config.logLevel)
  let server
  try {
    server = await startServer(config, { logger })
  } catch (error) {
    const code = error instanceof SlabcacheError ? error.code : undefined
    logger.fatal({ code, err: error }, 'slabcache could not start')
    return 1
  }
  logger.info({
    host: config.host, httpPort: server.httpPort, respPort: server.respPort, memcachePort: server.memcachePort, peerPort: server.peerPort, nodeId: server.cluster?.selfId ?? null,
    shards: config.shards, memoryBytes: config.memoryBytes
  }, 'slabcache listening')
  const running = server
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down')
      // Graceful: listeners stop, then the snapshot (if configured), then the shards.
      running.close({ snapshot: config.snapshot.onShutdown }).then(resolve, (error: unknown) => { logger.error({ err: error }, 'error while shutting down'); resolve() })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
  logger.info('stopped')
  return 0
}

main().then((code) => { process.exitCode = code }, (error: unknown) => {
  process.stderr.write(`slabcache: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
