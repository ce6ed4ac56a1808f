/**
 * CL.THROTTLE over the wire with ioredis: redis-cell's reply and errors, a burst allowed then
 * limited with the right retry-after, refill when the debug clock moves (no sleeping), peeking,
 * and the limiter's state being an ordinary expiring item of the connection's tenant.
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { startTestServer, type TestServer } from '../fixtures/server.js'

async function connect (t: Test): Promise<{ server: TestServer, redis: Redis }> {
  const server = await startTestServer(t, { debug: { clockControl: true } })
  const redis = new Redis({ host: '127.0.0.1', port: server.respPort, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  await redis.connect()
  t.teardown(() => { redis.disconnect() })
  return { server, redis }
}

const throttle = async (redis: Redis, ...args: Array<string | number>): Promise<unknown> => await redis.call('CL.THROTTLE', ...args)
const advance = async (redis: Redis, ms: number): Promise<unknown> => await redis.call('DEBUG', 'CLOCK', String(ms))

t.test('CL.THROTTLE - a burst of max_burst + 1 is allowed, then limited with retry-after; moving the clock refills', async (t) => {
  const { redis } = await connect(t)
  // 1 action per second, bursts of 5 (max_burst 4): the reply is [limited, limit, remaining, retry_after, reset_after].
  for (let k = 1; k <= 5; k++) t.same(await throttle(redis, 'user:1', 4, 1, 1), [0, 5, 5 - k, -1, k], `action ${k} allowed`)
  t.same(await throttle(redis, 'user:1', 4, 1, 1), [1, 5, 0, 1, 5], 'the sixth is limited: retry in 1 s, full in 5 s')
  t.same(await throttle(redis, 'user:1', 4, 1, 1), [1, 5, 0, 1, 5], 'a limited action changes nothing')
  await advance(redis, 2000)
  t.same(await throttle(redis, 'user:1', 4, 1, 1, 0), [0, 5, 2, -1, 3], 'quantity 0 peeks: two seconds refilled two')
  t.same(await throttle(redis, 'user:1', 4, 1, 1), [0, 5, 1, -1, 4], 'allowed again after the clock moved')
  t.same(await throttle(redis, 'user:1', 4, 1, 1, 3), [1, 5, 1, 2, 4], 'a cost of 3 with 1 left: retry in 2 s')
  t.same(await throttle(redis, 'user:1', 4, 1, 1, 6), [1, 5, 1, -1, 4], 'a cost above the limit can never pass: retry -1')
  t.same(await throttle(redis, 'user:2', 4, 1, 1), [0, 5, 4, -1, 1], 'another key has its own limiter')
  // 30 per minute with bursts of 16, as in redis-cell's README.
  t.same(await throttle(redis, 'user:3', 15, 30, 60), [0, 16, 15, -1, 2])
})

t.test('CL.THROTTLE - the state is an ordinary item that expires when the limiter is full again', async (t) => {
  const { redis } = await connect(t)
  await throttle(redis, 'idle', 1, 1, 10)
  const stored = await redis.get('idle')
  t.match(stored, /^\d{16}$/, 'the theoretical arrival time, in µs')
  const ttl = await redis.pttl('idle')
  t.ok(ttl > 9000 && ttl <= 10_000, `expires with the limiter (${ttl} ms)`)
  await advance(redis, 10_001)
  t.equal(await redis.exists('idle'), 0, 'an idle limiter vanishes')
  t.same(await throttle(redis, 'idle', 1, 1, 10), [0, 2, 1, -1, 10], 'and starts full')
  await redis.set('text', 'hello')
  await t.rejects(throttle(redis, 'text', 1, 1, 10), { message: 'ERR value is not an integer or out of range' }, 'a key holding another value')
  t.equal(await redis.get('text'), 'hello', 'is left alone')
})

t.test('CL.THROTTLE - bad arguments get redis-cell\'s errors', async (t) => {
  const { redis } = await connect(t)
  const usage = 'Cell error: Usage: cl.throttle <key> <max_burst> <count per period> <period> [<quantity>]'
  await t.rejects(throttle(redis, 'k', 1, 1), { message: usage }, 'too few')
  await t.rejects(throttle(redis, 'k', 1, 1, 1, 1, 1), { message: usage }, 'too many')
  await t.rejects(redis.call('CL.THROTTLE'), { message: usage }, 'none')
  await t.rejects(throttle(redis, 'k', 'x', 1, 1), { message: "Cell error: Couldn't parse as integer: x" })
  await t.rejects(throttle(redis, 'k', 1, 1, 1, '1.5'), { message: "Cell error: Couldn't parse as integer: 1.5" })
  await t.rejects(throttle(redis, 'k', 1, 0, 1), { message: 'Cell error: Zero rates are not supported' })
  await t.rejects(throttle(redis, 'k', 1, 1, 0), { message: 'Cell error: Zero rates are not supported' })
  await t.rejects(throttle(redis, 'k', -1, 1, 1), { message: 'Cell error: max_burst must be an integer >= 0' })
  await t.rejects(throttle(redis, 'k', 1, 1, 1, -2), { message: 'Cell error: quantity must be an integer >= 0' })
  await t.rejects(throttle(redis, 'k', '99999999999999999999', 1, 1), { message: "Cell error: Couldn't parse as integer: 99999999999999999999" }, 'beyond i64')
  await t.rejects(throttle(redis, 'x'.repeat(5000), 1, 1, 1), { message: 'ERR key exceeds maximum allowed size' })
  t.same(await throttle(redis, 'k', '+1', '01', 1), [0, 2, 1, -1, 1], 'a sign and leading zeros parse, as in Rust')
  t.equal(await redis.ping(), 'PONG', 'the connection stays usable')
})
