import t from 'tap'
import memjs from 'memjs'
import { startTestServer } from '../fixtures/server.js'

const quiet = { log: (): void => {} }
const server = await startTestServer(t, { debug: { clockControl: true } })
const client = memjs.Client.create(`127.0.0.1:${server.memcachePort}`, { retries: 0, timeout: 5, logger: quiet })
t.teardown(() => client.close())

/** A raw request through memjs's own server connection (memjs 1.3 has no Client#version). */
async function rawRequest (opcode: number): Promise<{ status: number, value: string }> {
  const connection = client.servers[0]! as unknown as {
    onResponse: (seq: number, callback: (response: { header: { status: number }, val: Buffer }) => void) => void
    onError: (seq: number, callback: (error: Error) => void) => void
    write: (buffer: Buffer) => void
  }
  const seq = 0x7fff0000 + opcode
  return await new Promise((resolve, reject) => {
    connection.onResponse(seq, (response) => resolve({ status: response.header.status, value: response.val.toString() }))
    connection.onError(seq, reject)
    connection.write(memjs.Utils.makeRequestBuffer(opcode, '', '', '', seq))
  })
}

t.test('memjs set/get round-trips binary-safe values with \\r\\n and NUL', async (t) => {
  const value = Buffer.from('line1\r\nline2\u0000after-nul\r\nEND\r\n')
  t.equal(await client.set('memjs:binary', value, {}), true)
  const got = await client.get('memjs:binary')
  t.ok(got.value !== null && got.value.equals(value), 'the exact bytes come back')
  t.equal(got.flags?.readUInt32BE(0), 0)
  const big = Buffer.alloc(700_000, 0xab)
  t.equal(await client.set('memjs:big', big, {}), true)
  t.ok((await client.get('memjs:big')).value?.equals(big), 'a value larger than a slab page round-trips')
  t.same(await client.get('memjs:missing'), { value: null, flags: null }, 'a miss is null, not an error')
})

// memjs 1.3.2's prepend() sends opcode 0x0e (APPEND), an upstream bug; PREPEND is covered by
// test/integration/memcache-raw.ts.
t.test('memjs add, replace, append and delete', async (t) => {
  t.equal(await client.add('memjs:add', 'one', {}), true)
  t.equal(await client.add('memjs:add', 'two', {}), false, 'add of an existing key is refused')
  t.equal(await client.replace('memjs:nothing', 'x', {}), false, 'replace of a missing key is refused')
  t.equal(await client.replace('memjs:add', 'three', {}), true)
  t.equal((await client.get('memjs:add')).value?.toString(), 'three')
  t.equal(await client.append('memjs:add', '>'), true)
  t.equal((await client.get('memjs:add')).value?.toString(), 'three>')
  await t.rejects(client.append('memjs:nothing', '>'), /Item not stored/, 'append to a missing key is refused (status 0x0005)')
  t.equal(await client.delete('memjs:add'), true)
  t.equal(await client.delete('memjs:add'), false, 'a second delete finds nothing')
  t.equal((await client.get('memjs:add')).value, null)
})

t.test('memjs increment and decrement: initial value, wrap-free floor at zero, non-numeric refusal', async (t) => {
  t.same(await client.increment('memjs:counter', 5, { initial: 10 }), { success: true, value: 10 }, 'a missing counter starts at the initial value')
  t.same(await client.increment('memjs:counter', 5, {}), { success: true, value: 15 })
  t.same(await client.decrement('memjs:counter', 4, {}), { success: true, value: 11 })
  t.same(await client.decrement('memjs:counter', 100, {}), { success: true, value: 0 }, 'decrement stops at zero')
  t.equal((await client.get('memjs:counter')).value?.toString(), '0')
  await client.set('memjs:text', 'abc', {})
  await t.rejects(client.increment('memjs:text', 1, {}), /MemJS INCREMENT/, 'incrementing a non-number is an error')
})

t.test('memjs touch and expiry follow the server clock', async (t) => {
  await client.set('memjs:ttl', 'soon', { expires: 10 })
  server.engine.clock.advance(9_000)
  t.equal((await client.get('memjs:ttl')).value?.toString(), 'soon', 'still there after 9 s')
  t.equal(await client.touch('memjs:ttl', 100), true, 'touch extends it')
  server.engine.clock.advance(50_000)
  t.equal((await client.get('memjs:ttl')).value?.toString(), 'soon', 'there 59 s after the set')
  server.engine.clock.advance(51_000)
  t.equal((await client.get('memjs:ttl')).value, null, 'gone 100 s after the touch')
  t.equal(await client.touch('memjs:ttl', 100), false, 'touching a missing key reports false')
})

t.test('memjs stats and version', async (t) => {
  const stats = await new Promise<Record<string, string>>((resolve, reject) => {
    client.stats((error, _server, values) => { if (error !== null) reject(error); else resolve(values ?? {}) })
  })
  for (const name of ['pid', 'uptime', 'time', 'version', 'curr_items', 'total_items', 'bytes', 'curr_connections', 'get_hits', 'get_misses', 'evictions', 'limit_maxbytes', 'threads', 'cmd_get', 'cmd_set']) {
    t.ok(name in stats, `stats has ${name}`)
  }
  t.ok(Number(stats['get_hits']) > 0 && Number(stats['cmd_set']) > 0, 'counters count')
  t.equal(stats['limit_maxbytes'], String(32 * 1024 * 1024))
  const version = await rawRequest(0x0b)
  t.equal(version.status, 0)
  t.match(version.value, /^1\.6\.\d+-slabcache-\d+\.\d+\.\d+/)
})

t.test('memjs flush empties the cache', async (t) => {
  await client.set('memjs:flush', 'x', {})
  const results = await client.flush()
  t.same(Object.values(results), [true])
  t.equal((await client.get('memjs:flush')).value, null)
})

t.test('memjs authenticates with SASL PLAIN (any credentials: the default tenant for now)', async (t) => {
  const authed = memjs.Client.create(`someone:secret@127.0.0.1:${server.memcachePort}`, { retries: 0, timeout: 5, logger: quiet })
  t.teardown(() => authed.close())
  t.equal(await authed.set('memjs:sasl', 'yes', {}), true)
  t.equal((await client.get('memjs:sasl')).value?.toString(), 'yes', 'the same tenant as unauthenticated clients')
})
