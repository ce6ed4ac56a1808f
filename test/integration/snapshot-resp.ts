// Persistence commands over RESP (issue 6): SAVE, BGSAVE, LASTSAVE with Redis's exact replies,
// and slabcache's SNAPSHOT [tenant] / RESTORE [tenant] — over raw sockets and ioredis, with
// every error, with auth off and on.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import type { ConfigOverrides } from '../../src/config/load-config.js'
import { RawClient, respCommand } from '../fixtures/raw-client.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'

const IN_PROGRESS = '-ERR Background save already in progress'
const TENANTS: ConfigOverrides = {
  tenants: [
    { name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null },
    { name: 'beta', secret: 'beta-secret-22', secretHash: null, quotaBytes: null }
  ],
  auth: { adminToken: 'admin-token-for-tests' }
}

async function start (t: Test, overrides: ConfigOverrides = {}): Promise<{ server: TestServer, dataDir: string }> {
  const dataDir = t.testdir({})
  const server = await startTestServer(t, { dataDir, ...overrides })
  return { server, dataDir }
}

async function redisAs (t: Test, server: TestServer, auth: { username: string, password: string } | null = null): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: server.respPort, ...(auth ?? {}), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  t.teardown(() => { redis.disconnect() })
  await redis.connect()
  return redis
}

async function replyError (t: Test, promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  await t.rejects(promise, { name: 'ReplyError', message }, String(message))
}

/** Until the running save finishes (polled every millisecond). */
async function saveFinished (server: TestServer): Promise<void> {
  while (server.snapshots.saving) await new Promise((resolve) => setTimeout(resolve, 1))
}

/** A flat [name, value, …] reply as an object. */
function fields (reply: unknown): Record<string, unknown> {
  const list = reply as unknown[]
  const out: Record<string, unknown> = {}
  for (let i = 0; i < list.length; i += 2) out[String(list[i])] = list[i + 1]
  return out
}

t.test('SAVE - +OK once the snapshot is on disk; LASTSAVE moves to the save\'s time', async (t) => {
  const { server } = await start(t)
  const redis = await redisAs(t, server)
  const before = await redis.lastsave()
  t.ok(Math.abs(before - Date.now() / 1000) < 60, 'before any save LASTSAVE is the server\'s start (as in Redis)')
  for (let i = 0; i < 20; i++) await redis.set(`k${i}`, `v${i}`)
  const startedSeconds = Math.floor(Date.now() / 1000)
  t.equal(await redis.save(), 'OK')
  const after = await redis.lastsave()
  t.ok(after >= startedSeconds, `LASTSAVE ${after} is the save's time, not before it (${startedSeconds})`)
  const list = await server.snapshots.list()
  t.equal(list.length, 1)
  t.equal(list[0]!.items, 20, 'the saved snapshot holds every key')
  t.equal(list[0]!.tenantId, null, 'SAVE is a whole-server snapshot')
})

t.test('BGSAVE - started at once; a second one while it runs is refused with Redis\'s text', async (t) => {
  const { server } = await start(t)
  const raw = await RawClient.open(t, server.respPort)
  raw.write(respCommand('SET', 'k', 'v'))
  t.equal(await raw.line(), '+OK')
  // One write: the second BGSAVE, SAVE and SNAPSHOT run right after the first, while it saves.
  raw.write(respCommand('BGSAVE') + respCommand('BGSAVE') + respCommand('SAVE') + respCommand('SNAPSHOT') + respCommand('RESTORE') + respCommand('PING'))
  t.same(await raw.lines(3), ['+Background saving started', IN_PROGRESS, IN_PROGRESS])
  t.equal(await raw.line(), IN_PROGRESS, 'SNAPSHOT during a save')
  t.equal(await raw.line(), IN_PROGRESS, 'RESTORE during a save')
  t.equal(await raw.line(), '+PONG', 'the connection stays framed')
  await saveFinished(server)
  const list = await server.snapshots.list()
  t.equal(list.length, 1, 'exactly one snapshot was written')
  t.equal(list[0]!.items, 1)
  raw.write(respCommand('LASTSAVE'))
  const lastsave = await raw.line()
  t.match(lastsave, /^:\d{10}$/, 'LASTSAVE is an integer of unix seconds')
  const redis = await redisAs(t, server)
  const info = await redis.info('persistence')
  t.match(info, /\r\nrdb_bgsave_in_progress:0\r\n/, 'INFO: no save in progress any more')
  t.match(info, `\r\nrdb_last_save_time:${lastsave.slice(1)}\r\n`, 'INFO: rdb_last_save_time is LASTSAVE')
})

t.test('INFO persistence - rdb_bgsave_in_progress is 1 while a BGSAVE runs', async (t) => {
  const { server } = await start(t)
  const raw = await RawClient.open(t, server.respPort)
  raw.write(respCommand('SET', 'k', 'v') + respCommand('BGSAVE') + respCommand('INFO', 'persistence'))
  t.same(await raw.lines(2), ['+OK', '+Background saving started'])
  await raw.line() // the bulk length
  const lines: string[] = []
  for (let line = await raw.line(); line !== ''; line = await raw.line()) lines.push(line)
  t.ok(lines.includes('rdb_bgsave_in_progress:1'), 'the save started by BGSAVE is still running when INFO runs right after it')
  await saveFinished(server)
})

t.test('BGSAVE and SAVE during a restore - refused with Redis\'s in-progress text; the restore completes', async (t) => {
  const { server } = await start(t, { memoryBytes: 64 * 1024 * 1024 })
  const redis = await redisAs(t, server)
  for (let from = 0; from < 20_000; from += 1000) {
    const args: string[] = []
    for (let i = from; i < from + 1000; i++) args.push(`k${i}`, 'v'.repeat(200))
    await redis.mset(...args)
  }
  await server.snapshots.save()
  let settled = false
  const restoring = server.snapshots.restore().finally(() => { settled = true })
  const raw = await RawClient.open(t, server.respPort)
  raw.write(respCommand('BGSAVE') + respCommand('SAVE'))
  t.same(await raw.lines(2), [IN_PROGRESS, IN_PROGRESS])
  t.notOk(settled, 'the restore was still running when they were answered')
  t.equal((await restoring).items, 20_000)
  t.same(await server.snapshots.list().then((list) => list.length), 1, 'no second snapshot was written')
})

t.test('SAVE - holds back only its own connection\'s later commands; replies stay in order', async (t) => {
  const { server } = await start(t)
  const raw = await RawClient.open(t, server.respPort)
  raw.write(respCommand('SET', 'a', '1') + respCommand('SAVE') + respCommand('SET', 'a', '2') + respCommand('GET', 'a'))
  t.same(await raw.lines(5), ['+OK', '+OK', '+OK', '$1', '2'])
  const list = await server.snapshots.list()
  t.equal(list[0]!.items, 1)
  // The SET after SAVE ran only after the save: restoring brings back the value before it.
  raw.write(respCommand('RESTORE') + respCommand('GET', 'a'))
  t.equal(await raw.line(), '*10')
  await raw.lines(16) // five names (bulk: 2 lines each) and their values (file: 2 lines, counts: 1)
  t.same(await raw.lines(2), ['$1', '1'])
})

t.test('SNAPSHOT / RESTORE - whole server and one tenant, with their reports (ioredis)', async (t) => {
  const { server, dataDir } = await start(t)
  const redis = await redisAs(t, server)
  await redis.mset('a', '1', 'b', '2', 'c', '3')
  await redis.set('ttl-key', 'x', 'EX', 1000)
  const whole = fields(await redis.call('SNAPSHOT'))
  t.equal(whole['file'], join(dataDir, 'snapshots', 'dump.slab'))
  t.equal(whole['items'], 4)
  t.ok(typeof whole['bytes'] === 'number' && whole['bytes'] > 0)
  t.ok(typeof whole['duration_ms'] === 'number' && whole['duration_ms'] >= 0)
  const own = fields(await redis.call('SNAPSHOT', 'default'))
  t.equal(own['file'], join(dataDir, 'snapshots', 'tenant-0.slab'), 'SNAPSHOT <tenant> writes the tenant\'s file')
  t.equal(own['items'], 4)

  await redis.del('a')
  await redis.set('b', 'changed')
  await redis.set('new', 'n')
  const restored = fields(await redis.call('RESTORE'))
  t.same(restored, { file: whole['file'], items: 4, skipped_expired: 0, evicted: 0, duration_ms: restored['duration_ms'] })
  t.same(await redis.mget('a', 'b', 'c', 'new'), ['1', '2', '3', null], 'the whole server is back to the snapshot')
  t.ok(await redis.ttl('ttl-key') > 990, 'the TTL came back with the item')

  await redis.set('c', 'changed-again')
  const tenantRestore = fields(await redis.call('RESTORE', 'default'))
  t.equal(tenantRestore['items'], 4)
  t.equal(await redis.get('c'), '3', 'RESTORE <tenant> restored the tenant')
})

t.test('RESTORE - Redis\'s DUMP form and other wrong arities are refused; the keyspace is untouched', async (t) => {
  const { server } = await start(t)
  const redis = await redisAs(t, server)
  await redis.set('k', 'v')
  await replyError(t, redis.call('RESTORE', 'k', '0', '\x00\x01payload'), "ERR RESTORE key ttl serialized-value (Redis DUMP payloads) is not supported; slabcache's RESTORE [tenant] restores a snapshot")
  await replyError(t, redis.call('RESTORE', 'k', '0', 'payload', 'REPLACE'), /^ERR RESTORE key ttl serialized-value/)
  await replyError(t, redis.call('RESTORE', 'k', '0'), "ERR wrong number of arguments for 'restore' command")
  await replyError(t, redis.call('SNAPSHOT', 'a', 'b'), "ERR wrong number of arguments for 'snapshot' command")
  await replyError(t, redis.call('SAVE', 'now'), "ERR wrong number of arguments for 'save' command")
  await replyError(t, redis.call('LASTSAVE', 'x'), "ERR wrong number of arguments for 'lastsave' command")
  await replyError(t, redis.call('BGSAVE', 'SCHEDULE'), 'ERR syntax error')
  await replyError(t, redis.call('SNAPSHOT', 'nobody'), 'ERR TENANT_NOT_FOUND no tenant named "nobody"')
  await replyError(t, redis.call('RESTORE', 'nobody'), 'ERR TENANT_NOT_FOUND no tenant named "nobody"')
  await replyError(t, redis.call('RESTORE'), /^ERR SNAPSHOT_NOT_FOUND /)
  await replyError(t, redis.call('RESTORE', 'default'), /^ERR SNAPSHOT_NOT_FOUND /)
  t.equal(await redis.get('k'), 'v', 'nothing was changed')
  t.same(await server.snapshots.list(), [], 'nothing was written')
})

t.test('auth on - a tenant snapshots and restores only itself; whole-server commands answer NOPERM', async (t) => {
  const { server } = await start(t, TENANTS)
  const raw = await RawClient.open(t, server.respPort)
  raw.write(respCommand('SAVE') + respCommand('LASTSAVE') + respCommand('SNAPSHOT', 'alpha'))
  t.same(await raw.lines(3), ['-NOAUTH Authentication required.', '-NOAUTH Authentication required.', '-NOAUTH Authentication required.'])

  const alpha = await redisAs(t, server, { username: 'alpha', password: 'alpha-secret-1' })
  const beta = await redisAs(t, server, { username: 'beta', password: 'beta-secret-22' })
  await replyError(t, alpha.save(), "NOPERM User alpha has no permissions to run the 'save' command")
  await replyError(t, alpha.bgsave(), "NOPERM User alpha has no permissions to run the 'bgsave' command")
  await replyError(t, alpha.call('SNAPSHOT'), "NOPERM User alpha has no permissions to run the 'snapshot' command")
  await replyError(t, alpha.call('RESTORE'), "NOPERM User alpha has no permissions to run the 'restore' command")
  await replyError(t, alpha.call('SNAPSHOT', 'beta'), "NOPERM User alpha may run 'snapshot' only for its own tenant")
  await replyError(t, alpha.call('RESTORE', 'beta'), "NOPERM User alpha may run 'restore' only for its own tenant")
  await replyError(t, alpha.call('SNAPSHOT', 'default'), "NOPERM User alpha may run 'snapshot' only for its own tenant")
  await replyError(t, alpha.call('RESTORE', 'nobody'), "NOPERM User alpha may run 'restore' only for its own tenant")
  t.same(await server.snapshots.list(), [], 'no refused command wrote a snapshot')
  t.equal(typeof await alpha.lastsave(), 'number', 'LASTSAVE is open to every tenant')

  await alpha.set('k', 'alpha-1')
  await beta.set('k', 'beta-1')
  t.equal(fields(await alpha.call('SNAPSHOT', 'alpha'))['items'], 1)
  await alpha.set('k', 'alpha-2')
  await beta.set('k', 'beta-2')
  t.equal(fields(await alpha.call('RESTORE', 'alpha'))['items'], 1)
  t.equal(await alpha.get('k'), 'alpha-1', 'alpha is back to its snapshot')
  t.equal(await beta.get('k'), 'beta-2', 'beta is untouched by alpha\'s restore')
})
