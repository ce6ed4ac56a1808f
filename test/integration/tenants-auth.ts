// Tenants and auth over the wire: RESP (raw and ioredis) and memcached (raw text, raw binary,
// memjs with SASL PLAIN) against a real server with credentials configured.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { binaryFrame, RawClient, respCommand } from '../fixtures/raw-client.js'
import type { ConfigOverrides } from '../../src/config/load-config.js'
import { TEXT_AUTH_REQUIRED } from '../../src/protocol/memcache-session.js'

const NOAUTH = '-NOAUTH Authentication required.'
const WRONGPASS = '-WRONGPASS invalid username-password pair or user is disabled.'
const OP = { GET: 0x00, SET: 0x01, NOOP: 0x0a, VERSION: 0x0b, SASL_LIST_MECHS: 0x20, SASL_AUTH: 0x21 }
const AUTH_ERROR = 0x20
const quiet = { log: (): void => {} }

const TENANTS: ConfigOverrides = {
  tenants: [
    { name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null },
    { name: 'beta', secret: 'beta-secret-22', secretHash: null, quotaBytes: null }
  ],
  auth: { defaultSecret: 'default-secret' }
}

async function start (t: Test, overrides: ConfigOverrides = TENANTS): Promise<TestServer> {
  return await startTestServer(t, { dataDir: t.testdir({}), ...overrides })
}

async function redisAs (t: Test, server: TestServer, username: string | undefined, password: string): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: server.respPort, ...(username !== undefined ? { username } : {}), password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  t.teardown(() => { redis.disconnect() })
  await redis.connect()
  return redis
}

function memjsAs (t: Test, server: TestServer, user: string, password: string): memjs.Client {
  const client = memjs.Client.create(`127.0.0.1:${server.memcachePort}`, { username: user, password, retries: 0, timeout: 5, logger: quiet })
  t.teardown(() => client.close())
  return client
}

function sasl (user: string, password: string, opaque = 0): Buffer {
  return binaryFrame(OP.SASL_AUTH, { key: 'PLAIN', value: `\0${user}\0${password}`, opaque })
}

function setExtras (): Buffer { return Buffer.alloc(8) }

t.test('RESP - every command but AUTH, HELLO and QUIT answers NOAUTH until AUTH succeeds', async (t) => {
  const server = await start(t)
  const raw = await RawClient.open(t, server.respPort)
  raw.write(respCommand('GET', 'k') + respCommand('PING') + respCommand('SET', 'k', 'v') + respCommand('HELLO', '2'))
  t.same(await raw.lines(3), [NOAUTH, NOAUTH, NOAUTH])
  t.match(await raw.line(), /^-NOAUTH HELLO must be called with the client already authenticated/)
  raw.write(respCommand('AUTH', 'alpha', 'wrong-secret') + respCommand('AUTH', 'nobody', 'alpha-secret-1') + respCommand('AUTH', 'alpha-secret-1') + respCommand('GET', 'k'))
  t.same(await raw.lines(4), [WRONGPASS, WRONGPASS, WRONGPASS, NOAUTH], 'wrong secret, unknown tenant, another tenant\'s secret for default')
  raw.write(respCommand('AUTH', 'a', 'b', 'c'))
  t.equal(await raw.line(), '-ERR syntax error')
  // AUTH is verified off the main thread; the pipelined commands behind it must wait for it.
  raw.write(respCommand('AUTH', 'alpha', 'alpha-secret-1') + respCommand('SET', 'k', 'v') + respCommand('GET', 'k'))
  t.same(await raw.lines(4), ['+OK', '+OK', '$1', 'v'], 'replies in order, the commands ran as alpha')
  raw.write(respCommand('AUTH', 'alpha', 'wrong-secret') + respCommand('GET', 'k'))
  t.same(await raw.lines(3), [WRONGPASS, '$1', 'v'], 'a failed AUTH keeps the earlier login, as in Redis')
})

t.test('RESP - HELLO AUTH and AUTH <secret> (the default tenant) log in', async (t) => {
  const server = await start(t)
  const raw = await RawClient.open(t, server.respPort)
  raw.write(respCommand('HELLO', '2', 'AUTH', 'beta', 'beta-secret-22', 'SETNAME', 'worker') + respCommand('CLIENT', 'GETNAME'))
  t.equal(await raw.line(), '*14', 'HELLO answers its map once authenticated')
  while (await raw.line() !== '*0');
  t.same(await raw.lines(2), ['$6', 'worker'], 'and SETNAME ran')
  const other = await RawClient.open(t, server.respPort)
  other.write(respCommand('HELLO', '2', 'AUTH', 'beta', 'nope-nope') + respCommand('AUTH', 'default-secret') + respCommand('SET', 'owner', 'default'))
  t.same(await other.lines(3), [WRONGPASS, '+OK', '+OK'])
})

t.test('RESP - tenant A never sees tenant B\'s keys (ioredis with username and password)', async (t) => {
  const server = await start(t)
  const alpha = await redisAs(t, server, 'alpha', 'alpha-secret-1')
  const beta = await redisAs(t, server, 'beta', 'beta-secret-22')
  const fallback = await redisAs(t, server, undefined, 'default-secret')
  await alpha.set('shared', 'from alpha')
  await alpha.set('alpha-only', '1')
  await beta.set('shared', 'from beta')
  await fallback.set('shared', 'from default')
  t.equal(await alpha.get('shared'), 'from alpha')
  t.equal(await beta.get('shared'), 'from beta')
  t.equal(await fallback.get('shared'), 'from default')
  t.equal(await beta.get('alpha-only'), null)
  t.equal(await beta.exists('alpha-only'), 0)
  t.same((await beta.keys('*')).sort(), ['shared'])
  t.same((await alpha.keys('*')).sort(), ['alpha-only', 'shared'])
  t.equal(await beta.del('alpha-only'), 0, 'B cannot delete A\'s key')
  await beta.flushdb()
  t.equal(await alpha.get('alpha-only'), '1', 'B\'s FLUSHDB leaves A alone')
  const wrong = new Redis({ host: '127.0.0.1', port: server.respPort, username: 'alpha', password: 'beta-secret-22', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  t.teardown(() => { wrong.disconnect() })
  const refused = new Promise<Error>((resolve) => wrong.once('error', resolve))
  wrong.connect().catch(() => {})
  t.match(await refused, { message: /^WRONGPASS/ }, 'B\'s secret is not A\'s')
})

t.test('memcached text - refused with a CLIENT_ERROR and closed when auth is required', async (t) => {
  const server = await start(t)
  const raw = await RawClient.open(t, server.memcachePort)
  raw.write('get k\r\n')
  t.equal(await raw.closed(), TEXT_AUTH_REQUIRED)
  t.match(TEXT_AUTH_REQUIRED, /^CLIENT_ERROR authentication required: .*SASL PLAIN\r\n$/)
})

t.test('memcached binary - AUTH_ERROR until SASL PLAIN succeeds; VERSION and LIST_MECHS work before', async (t) => {
  const server = await start(t)
  const raw = await RawClient.open(t, server.memcachePort)
  raw.write(Buffer.concat([binaryFrame(OP.GET, { key: 'k', opaque: 1 }), binaryFrame(OP.NOOP, { opaque: 2 }), binaryFrame(OP.VERSION, { opaque: 3 }), binaryFrame(OP.SASL_LIST_MECHS, { opaque: 4 })]))
  t.match(await raw.response(), { opcode: OP.GET, status: AUTH_ERROR, opaque: 1 })
  t.match(await raw.response(), { opcode: OP.NOOP, status: AUTH_ERROR, opaque: 2 })
  t.match(await raw.response(), { opcode: OP.VERSION, status: 0, opaque: 3 })
  const mechs = await raw.response()
  t.equal(mechs.value.toString(), 'PLAIN')
  raw.write(Buffer.concat([sasl('alpha', 'wrong-secret', 5), sasl('beta', 'alpha-secret-1', 6), binaryFrame(OP.GET, { key: 'k', opaque: 7 })]))
  t.match(await raw.response(), { opcode: OP.SASL_AUTH, status: AUTH_ERROR, opaque: 5 })
  t.match(await raw.response(), { opcode: OP.SASL_AUTH, status: AUTH_ERROR, opaque: 6 })
  t.match(await raw.response(), { opcode: OP.GET, status: AUTH_ERROR, opaque: 7 }, 'still not authenticated')
  // The SASL check runs off the main thread: the SET and GET behind it wait, then run as alpha.
  raw.write(Buffer.concat([sasl('alpha', 'alpha-secret-1', 8), binaryFrame(OP.SET, { key: 'k', extras: setExtras(), value: 'v', opaque: 9 }), binaryFrame(OP.GET, { key: 'k', opaque: 10 })]))
  const login = await raw.response()
  t.match(login, { opcode: OP.SASL_AUTH, status: 0, opaque: 8 })
  t.equal(login.value.toString(), 'Authenticated')
  t.match(await raw.response(), { opcode: OP.SET, status: 0, opaque: 9 })
  const got = await raw.response()
  t.match(got, { opcode: OP.GET, status: 0, opaque: 10 })
  t.equal(got.value.toString(), 'v')
})

t.test('memcached and RESP - a tenant is the same tenant on both protocols, and A never sees B\'s keys', async (t) => {
  const server = await start(t)
  const alphaRedis = await redisAs(t, server, 'alpha', 'alpha-secret-1')
  const alpha = memjsAs(t, server, 'alpha', 'alpha-secret-1')
  const beta = memjsAs(t, server, 'beta', 'beta-secret-22')
  await alphaRedis.set('cross', 'set over RESP by alpha')
  t.equal((await alpha.get('cross')).value?.toString(), 'set over RESP by alpha', 'alpha over memcached reads alpha\'s RESP key')
  t.equal((await beta.get('cross')).value, null, 'beta over memcached does not')
  t.equal(await beta.set('cross', 'beta value', {}), true)
  t.equal(await alphaRedis.get('cross'), 'set over RESP by alpha', 'beta\'s write went to beta\'s own key')
  t.equal((await beta.get('cross')).value?.toString(), 'beta value')
  const wrong = memjsAs(t, server, 'alpha', 'beta-secret-22')
  await t.rejects(wrong.get('cross'), 'a wrong secret gets no data')
})

t.test('restart with the same data dir - tenants, secrets and quotas survive; created ones too', async (t) => {
  const dataDir = t.testdir({})
  const first = await startTestServer(t, { dataDir, ...TENANTS })
  const { secret } = await first.tenants.create({ name: 'gamma', quotaBytes: 1024 * 1024 })
  await first.close()
  // No tenants in the config this time: everything comes from <dataDir>/tenants.json.
  const second = await startTestServer(t, { dataDir })
  t.equal(second.tenants.authRequired, true)
  t.match(second.tenants.byName('gamma'), { id: 3, quotaBytes: 1024 * 1024 })
  const raw = await RawClient.open(t, second.respPort)
  raw.write(respCommand('GET', 'k') + respCommand('AUTH', 'gamma', secret) + respCommand('AUTH', 'alpha', 'alpha-secret-1') + respCommand('AUTH', 'default-secret'))
  t.same(await raw.lines(4), [NOAUTH, '+OK', '+OK', '+OK'])
})

t.test('at runtime - creating a tenant with a secret turns auth on; rotate and delete take effect at once', async (t) => {
  const server = await start(t, {})
  const open = await RawClient.open(t, server.respPort)
  open.write(respCommand('SET', 'k', 'default'))
  t.equal(await open.line(), '+OK', 'no credentials: the default tenant, no AUTH')
  const { secret } = await server.tenants.create({ name: 'delta' })
  open.write(respCommand('GET', 'k'))
  t.equal(await open.line(), NOAUTH, 'a connection that never authenticated must now')
  const delta = await RawClient.open(t, server.respPort)
  delta.write(respCommand('AUTH', 'delta', secret) + respCommand('SET', 'mine', 'x'))
  t.same(await delta.lines(2), ['+OK', '+OK'])
  const { secret: rotated } = await server.tenants.rotateSecret('delta')
  const again = await RawClient.open(t, server.respPort)
  again.write(respCommand('AUTH', 'delta', secret) + respCommand('AUTH', 'delta', rotated) + respCommand('GET', 'mine'))
  t.same(await again.lines(4), [WRONGPASS, '+OK', '$1', 'x'])
  const mc = await RawClient.open(t, server.memcachePort)
  mc.write('get k\r\n')
  t.equal(await mc.closed(), TEXT_AUTH_REQUIRED, 'memcached text is refused too')
  await server.tenants.delete('delta')
  const gone = await RawClient.open(t, server.respPort)
  gone.write(respCommand('HELLO', '2', 'AUTH', 'delta', rotated))
  t.equal(await gone.line(), WRONGPASS, 'a deleted tenant cannot log in')
  // delta held the only credential: without any, auth is off again (as at a start without credentials).
  t.equal(server.tenants.authRequired, false)
  open.write(respCommand('GET', 'k'))
  t.same(await open.lines(2), ['$7', 'default'])
})
