import t from 'tap'
import { setImmediate as tick } from 'node:timers/promises'
import { connect } from 'node:net'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { SetMode } from '../../src/core/store-status.js'
import { J_DELETE, J_SET_COMMIT } from '../../src/core/slab-lock.js'
import { OP_CHECK, OP_DEBUG_HANG_HOLDING_LOCK, OP_DEBUG_HANG_MID_SET, OP_PING } from '../../src/shard/shard-messages.js'
import type { Result } from '../../src/command/command.js'

/** Polls `condition` once per event-loop turn (each turn lets worker events through). */
async function until (condition: () => boolean, what: string, maxTurns = 200_000): Promise<void> {
  for (let turn = 0; turn < maxTurns; turn++) {
    if (condition()) return
    await tick()
  }
  throw new Error(`gave up waiting for ${what}`)
}

function put (server: TestServer, key: string, value: string, ttlMs = 0): Result {
  return server.engine.execute({
    op: 'set', tenantId: 0, key: Buffer.from(key), value: Buffer.from(value), mode: SetMode.SET, ttlMs, flags: 0, keepTtl: false, casExpected: 0
  }) as Result
}

async function httpGet (server: TestServer, key: string): Promise<{ status: number, body: string }> {
  const res = await fetch(`${server.url}/v1/cache/${encodeURIComponent(key)}`)
  return { status: res.status, body: await res.text() }
}

/** A key that lands on `shard`. */
function keyOnShard (server: TestServer, shard: number, prefix: string): string {
  for (let i = 0; ; i++) if (server.engine.shardOf(0, Buffer.from(`${prefix}${i}`)) === shard) return `${prefix}${i}`
}

async function restarted (server: TestServer, shard: number, restarts: number): Promise<void> {
  await until(() => server.engine.shards.restarts(shard) === restarts && server.engine.shards.alive(shard), `shard ${shard} restart ${restarts}`)
}

t.test('a worker killed while holding the slab lock: requests in flight fail typed, the replacement serves every item', async (t) => {
  const server = await startTestServer(t, { lockTimeoutMs: 20 }, { debugOps: true })
  const shards = server.engine.shards
  let stored = 0
  for (let i = 0; i < 2000; i++) if (put(server, `item-${i}`, `value-${i}`).error === null) stored++
  t.equal(stored, 2000)
  const store = shards.store(0)
  const hanging = shards.send(0, OP_DEBUG_HANG_HOLDING_LOCK, 0)
  const queued = shards.send(0, OP_PING, 0)
  const queuedFails = t.rejects(queued, { code: 'SHARD_CRASHED', name: 'ShardCrashedError' }, 'the command queued behind the hang fails typed')
  await hanging // the worker answers once it holds the lock, then spins
  t.not(store.lock.holder(), 0, 'the worker holds the lock')
  // With the lock held and the seqlock odd, an inline read on shard 0 cannot complete: it
  // fails after lockTimeoutMs instead of hanging.
  const busyKey = keyOnShard(server, 0, 'item-')
  const busy = await httpGet(server, busyKey)
  t.equal(busy.status, 503, 'inline command on the locked shard fails fast')
  t.match(JSON.parse(busy.body), { error: { code: 'SHARD_UNAVAILABLE' } })
  const exists = server.engine.execute({ op: 'exists', tenantId: 0, key: Buffer.from(busyKey) }) as Result
  t.equal(exists.error, 'SHARD_UNAVAILABLE', 'EXISTS on the locked shard fails too, instead of claiming the key is absent')
  const respReply = await new Promise<string>((resolve, reject) => {
    const socket = connect(server.respPort, '127.0.0.1')
    socket.setEncoding('latin1')
    socket.once('data', (data: string) => { socket.destroy(); resolve(data) })
    socket.once('error', reject)
    socket.write(`*2\r\n$6\r\nEXISTS\r\n$${busyKey.length}\r\n${busyKey}\r\n`)
  })
  t.match(respReply, /^-/, 'RESP EXISTS answers an error, not :0')

  await shards.worker(0).terminate()
  await queuedFails
  await restarted(server, 0, 1)
  t.equal(store.lock.holder(), 0, 'the dead holder\'s lock was recovered')
  for (let i = 0; i < 2000; i++) {
    const got = await httpGet(server, `item-${i}`)
    if (got.status !== 200 || got.body !== `value-${i}`) { t.fail(`item-${i} lost: ${got.status} ${got.body}`); break }
  }
  t.pass('all 2000 items are still served')
  const check = await shards.send(0, OP_CHECK, 0)
  t.equal(check.number, shards.store(0).stats().items, 'slab invariants hold after repair')
  t.equal(put(server, busyKey, 'after').error, null, 'writes work again')
})

t.test('a worker killed in the middle of a set (old item unlinked, new not yet linked) is repaired from the journal', async (t) => {
  const server = await startTestServer(t, {}, { debugOps: true })
  const shards = server.engine.shards
  const key = keyOnShard(server, 1, 'torn-')
  put(server, key, 'old value')
  for (let i = 0; i < 500; i++) put(server, `other-${i}`, `v${i}`)
  const store = shards.store(1)
  // A value of another size class: a new item (a same-class one is rewritten in place, below).
  const newValue = 'new value '.repeat(30)
  await shards.send(1, OP_DEBUG_HANG_MID_SET, 0, Buffer.from(key), Buffer.from(newValue))
  t.equal(store.lock.journalOp(), J_SET_COMMIT, 'the worker stopped inside the journaled commit')
  t.not(store.lock.holder(), 0, 'holding the lock')
  await shards.worker(1).terminate()
  await restarted(server, 1, 1)
  t.same(await httpGet(server, key), { status: 200, body: newValue }, 'the committed set took effect whole')
  for (let i = 0; i < 500; i++) {
    const got = await httpGet(server, `other-${i}`)
    if (got.body !== `v${i}`) { t.fail(`other-${i} lost`); break }
  }
  const check = await shards.send(1, OP_CHECK, 0)
  t.equal(check.number, store.stats().items, 'slab invariants hold')
})

t.test('a worker killed in the middle of an in-place overwrite: repair drops the key, never serves a torn value', async (t) => {
  const server = await startTestServer(t, {}, { debugOps: true })
  const shards = server.engine.shards
  const key = keyOnShard(server, 1, 'inplace-')
  put(server, key, 'old value')
  for (let i = 0; i < 500; i++) put(server, `other-${i}`, `v${i}`)
  const store = shards.store(1)
  // The same length: the worker rewrites the item in its own chunk and stops after the copy.
  await shards.send(1, OP_DEBUG_HANG_MID_SET, 0, Buffer.from(key), Buffer.from('new value'))
  t.equal(store.lock.journalOp(), J_DELETE, 'the worker stopped inside the overwrite, journaled as a delete')
  t.not(store.lock.holder(), 0, 'holding the lock')
  await shards.worker(1).terminate()
  await restarted(server, 1, 1)
  t.equal((await httpGet(server, key)).status, 404, 'the key is gone: neither the old nor a torn value')
  for (let i = 0; i < 500; i++) {
    const got = await httpGet(server, `other-${i}`)
    if (got.body !== `v${i}`) { t.fail(`other-${i} lost`); break }
  }
  const check = await shards.send(1, OP_CHECK, 0)
  t.equal(check.number, store.stats().items, 'slab invariants hold')
  put(server, key, 'after')
  t.same(await httpGet(server, key), { status: 200, body: 'after' }, 'the key can be written again')
})

t.test('workers killed repeatedly under a write and expiry load lose no acknowledged write', async (t) => {
  const server = await startTestServer(t, { debug: { clockControl: true } }, { debugOps: true })
  const shards = server.engine.shards
  const acknowledged = new Map<string, string>()
  let kills = 0
  for (let round = 0; round < 30; round++) {
    for (let i = 0; i < 200; i++) {
      // Short-lived items keep the workers' timing wheels busy expiring while they are killed.
      put(server, `ephemeral-${round}-${i}`, 'x'.repeat(50), 1000)
      const key = `durable-${(round * 200 + i) % 3000}`
      const value = `r${round}-i${i}`
      const result = put(server, key, value)
      if (result.error === null) acknowledged.set(key, value)
    }
    server.engine.clock.advance(1500)
    if (round % 6 === 3) {
      const shard = round % 2
      const before = shards.restarts(shard)
      await shards.worker(shard).terminate()
      kills++
      await restarted(server, shard, before + 1)
    } else {
      await tick()
    }
  }
  t.equal(kills, 5)
  let lost = 0
  for (const [key, value] of acknowledged) {
    const result = server.engine.execute({ op: 'get', tenantId: 0, key: Buffer.from(key) }) as Result
    if (result.value?.subarray(0, result.valueLength).toString() !== value) lost++
  }
  t.equal(lost, 0, `all ${acknowledged.size} acknowledged writes are readable`)
  for (let shard = 0; shard < 2; shard++) {
    // The worker walks every invariant under the lock and fails the request if one is broken.
    // (Its item count is not compared with stats(): expiries may run between the two reads.)
    await t.resolves(shards.send(shard, OP_CHECK, 0), `shard ${shard} invariants hold`)
  }
})

t.test('an exception thrown inside an inline mutation is repaired before the lock is released', async (t) => {
  const server = await startTestServer(t, {}, { debugOps: true })
  const shards = server.engine.shards
  for (let i = 0; i < 300; i++) put(server, `k${i}`, `v${i}`)
  const key = keyOnShard(server, 0, 'boom-')
  put(server, key, 'before')
  const store = shards.store(0)
  store.faultHook = (point) => { if (point === 'set:old-removed') throw new Error('injected fault') }
  const res = await fetch(`${server.url}/v1/cache/${key}`, { method: 'PUT', body: 'after' })
  store.faultHook = null
  t.equal(res.status, 500)
  t.match(await res.json(), { error: { code: 'INTERNAL' } })
  t.equal(store.lock.holder(), 0, 'the lock was released')
  t.equal((await httpGet(server, key)).body, 'after', 'the journaled commit was completed by the repair')
  for (let i = 0; i < 300; i++) {
    if ((await httpGet(server, `k${i}`)).body !== `v${i}`) { t.fail(`k${i} lost`); break }
  }
  const check = await shards.send(0, OP_CHECK, 0)
  t.equal(check.number, store.stats().items, 'slab invariants hold')
})

t.test('debug ring ops are refused when the server was not started with them', async (t) => {
  const server = await startTestServer(t)
  await t.rejects(server.engine.shards.send(0, OP_DEBUG_HANG_HOLDING_LOCK, 0), { code: 'DEBUG_DISABLED' })
  t.ok(server.engine.shards.alive(0))
})
