import t from 'tap'
import { createServer } from 'node:net'
import { defaultConfig } from '../../src/config/load-config.js'
import { startServer } from '../../src/server/server.js'

t.test('a port already in use fails the start and leaves nothing listening or running', async (t) => {
  const squatter = createServer()
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve))
  t.teardown(() => squatter.close())
  const port = (squatter.address() as { port: number }).port
  const base = { host: '127.0.0.1', httpPort: 0, memcachePort: 0, shards: 1, memoryBytes: 16 * 1024 * 1024, logLevel: 'silent' } as const
  await t.rejects(startServer(defaultConfig({ ...base, respPort: port })), /EADDRINUSE|listen/)
  // The same configuration with a free port starts: the failed attempt released its shards and ports.
  const server = await startServer(defaultConfig({ ...base, respPort: 0 }))
  t.ok(server.respPort > 0)
  await server.close()
})
