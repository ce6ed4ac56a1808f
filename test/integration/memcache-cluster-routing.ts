import t from 'tap'
import memjs from 'memjs'
import { SlabcacheError } from '../../src/errors.js'
import { ConnectionBudget } from '../../src/server/connection-budget.js'
import { MemcacheServer } from '../../src/server/memcache-server.js'
import { startLoopbackCluster } from '../fixtures/command-loopback-router.js'
import { RawClient, binaryFrame, type BinaryResponse } from '../fixtures/raw-client.js'
import { counterExtras, u32 } from '../fixtures/memcache-frames.js'

// Three in-process nodes, a memcached server on each; requests go to node 1 (the "non-owner")
// for keys owned by node 0 and node 2, and the same requests through the owner must answer alike.
const cluster = await startLoopbackCluster(t, 3, { debug: { clockControl: true } })
const servers: MemcacheServer[] = []
for (let i = 0; i < 3; i++) {
  const server = new MemcacheServer(cluster.engines[i]!, new ConnectionBudget(64), undefined, undefined, cluster.routers[i])
  await server.listen('127.0.0.1', 0)
  servers.push(server)
}
t.teardown(async () => {
  await Promise.all(servers.map(async (server) => await server.close()))
  await cluster.close()
})
const port = (node: number): number => servers[node]!.port

const OP = {
  GET: 0x00, SET: 0x01, ADD: 0x02, DELETE: 0x04, INCREMENT: 0x05, FLUSH: 0x08, GETQ: 0x09, NOOP: 0x0a, GETK: 0x0c,
  GETKQ: 0x0d, APPEND: 0x0e, SETQ: 0x11, DELETEQ: 0x14, TOUCH: 0x1c, GAT: 0x1d
} as const
const casOf = (frame: Buffer, cas: bigint): Buffer => { frame.writeBigUInt64BE(cas, 16); return frame }
let unique = 0
/** A fresh key owned by `node`. */
const keyOf = (node: number, prefix = 'k'): string => cluster.keyOwnedBy(node, `${prefix}-${unique++}-`)
/** Replies so far to requests that went out from node 1 to `to`. */
const forwardsTo = (to: number): number => cluster.forwards.filter((f) => f.from === 1 && f.to === to).length
/** Whether node `node`'s own engine holds `key` (read directly, no routing). */
const heldBy = (node: number, key: string): boolean => {
  const result = cluster.engines[node]!.execute({ op: 'get', tenantId: 0, key: Buffer.from(key) })
  return !(result instanceof Promise) && result.error === null && result.status === 0
}
/** The bytes received and not yet read, left in place. */
async function peek (client: RawClient): Promise<number> {
  let pending = 0
  await client.until((b) => { pending = b.length; return 0 }, 'a peek')
  return pending
}

/** A text script over one key; `K` in requests and replies stands for the key. */
const TEXT_SCRIPT: Array<[string, number]> = [
  ['set K 5 0 3\r\nabc\r\n', 1],
  ['get K\r\n', 3],
  ['add K 0 0 1\r\nx\r\n', 1],
  ['replace K 0 0 1\r\nx\r\n', 1],
  ['append K 0 0 2\r\nyz\r\n', 1],
  ['prepend K 0 0 1\r\nw\r\n', 1],
  ['get K\r\n', 3],
  ['incr K 1\r\n', 1],
  ['set K 0 0 2\r\n10\r\n', 1],
  ['incr K 5\r\n', 1],
  ['decr K 20\r\n', 1],
  ['touch K 100\r\n', 1],
  ['gat 200 K\r\n', 3],
  ['delete K\r\n', 1],
  ['delete K\r\n', 1],
  ['touch K 1\r\n', 1],
  ['incr K 1\r\n', 1],
  ['get K\r\n', 1],
  ['set K 0 -1 1\r\nz\r\n', 1],
  ['get K\r\n', 1],
  ['add K 3 0 1 noreply\r\nq\r\nget K\r\n', 3],
  ['cas K 0 0 1 1\r\nr\r\n', 1]
]

async function runTextScript (node: number, key: string): Promise<string[]> {
  const client = await RawClient.open(t, port(node))
  const replies: string[] = []
  for (const [request, lines] of TEXT_SCRIPT) {
    client.write(request.replaceAll('K', key))
    for (const line of await client.lines(lines)) replies.push(line.replaceAll(key, 'K'))
  }
  client.end()
  return replies
}

t.test('text - every command through a non-owner answers as through the owner', async (t) => {
  for (const owner of [0, 2]) {
    const before = forwardsTo(owner)
    const viaNode1 = await runTextScript(1, keyOf(owner))
    t.ok(forwardsTo(owner) > before, `node 1 forwarded to node ${owner}`)
    const viaOwner = await runTextScript(owner, keyOf(owner))
    t.same(viaNode1, viaOwner, `node ${owner}'s keys`)
  }
  t.same(await runTextScript(1, keyOf(1)), await runTextScript(0, keyOf(0)), 'and as a local key does')
  t.same((await runTextScript(1, keyOf(0))).slice(0, 4), ['STORED', 'VALUE K 5 3', 'abc', 'END'], 'the script does what it says')
})

t.test('text - large values (1.5 MiB) and CAS round trips through other nodes', async (t) => {
  const key = keyOf(0)
  const value = Buffer.alloc(1536 * 1024)
  for (let i = 0; i < value.length; i++) value[i] = (i * 131 + 7) & 0xff
  const node1 = await RawClient.open(t, port(1))
  node1.write(Buffer.concat([Buffer.from(`set ${key} 9 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]))
  t.equal(await node1.line(), 'STORED')
  const owner = await RawClient.open(t, port(0))
  owner.write(`gets ${key}\r\n`)
  const [atOwner] = await owner.values()
  t.ok(atOwner!.value.equals(value), 'the owner holds the exact bytes')
  t.equal(atOwner!.flags, 9)
  node1.write(`gets ${key}\r\n`)
  const [viaNode1] = await node1.values()
  t.ok(viaNode1!.value.equals(value), 'read back through node 1')
  t.equal(viaNode1!.cas, atOwner!.cas, 'with the owner\'s cas')

  const node2 = await RawClient.open(t, port(2))
  node2.write(`cas ${key} 1 0 3 ${viaNode1!.cas!}\r\nnew\r\n`)
  t.equal(await node2.line(), 'STORED', 'cas with that value through a third node')
  node2.write(`cas ${key} 1 0 3 ${viaNode1!.cas!}\r\nold\r\n`)
  t.equal(await node2.line(), 'EXISTS', 'a stale cas is refused')
  node1.write(`gets ${key}\r\n`)
  const [after] = await node1.values()
  t.equal(after!.value.toString(), 'new')
  t.not(after!.cas, viaNode1!.cas)
})

t.test('get - a multi-key get is split by owner and answered in key order', async (t) => {
  const keys = [keyOf(0), keyOf(1), keyOf(2), keyOf(2), 'absent-' + keyOf(0), keyOf(1), keyOf(0)]
  const client = await RawClient.open(t, port(1))
  for (const [i, key] of keys.entries()) {
    if (key.startsWith('absent-')) continue
    client.write(`set ${key} ${i} 0 ${key.length}\r\n${key}\r\n`)
    t.equal(await client.line(), 'STORED')
  }
  const before = [forwardsTo(0), forwardsTo(2)]
  client.write(`get ${keys.join(' ')}\r\n`)
  const items = await client.values()
  t.same(items.map((item) => item.key), keys.filter((key) => !key.startsWith('absent-')), 'hits in request order, the miss left out')
  t.same(items.map((item) => item.value.toString()), items.map((item) => item.key))
  t.same(items.map((item) => item.flags), [0, 1, 2, 3, 5, 6])
  t.ok(forwardsTo(0) >= before[0]! + 3 && forwardsTo(2) >= before[1]! + 2, 'remote keys were forwarded')
  client.write(`gets ${keys[0]!} ${keys[1]!}\r\n`)
  t.same((await client.values()).map((item) => typeof item.cas), ['number', 'number'], 'gets carries cas for both')
})

t.test('text pipeline - mixed local and remote requests keep their order, noreply too', async (t) => {
  const [a, b, c, d] = [keyOf(0), keyOf(1), keyOf(2), keyOf(2)]
  const client = await RawClient.open(t, port(1))
  client.write(`set ${a} 0 0 1\r\n1\r\nset ${b} 0 0 1 noreply\r\n2\r\nset ${d} 0 0 1 noreply\r\n4\r\nset ${c} 0 0 1\r\n3\r\n` +
    `incr ${a} 10 noreply\r\nget ${a} ${b} ${c}\r\ndelete ${c} noreply\r\nget ${c}\r\nappend ${b} 0 0 1\r\n!\r\nincr ${a} 1\r\n` +
    `version\r\ndelete ${a}\r\n`)
  t.same(await client.lines(2), ['STORED', 'STORED'])
  t.same((await client.values()).map((item) => `${item.key}=${item.value.toString()}`), [`${a}=11`, `${b}=2`, `${c}=3`])
  t.same(await client.lines(4), ['END', 'STORED', '12', `VERSION ${servers[1]!.backend.version}`])
  t.equal(await client.line(), 'DELETED')
  t.same([heldBy(1, b), heldBy(0, b), heldBy(2, d), heldBy(1, d), heldBy(2, c), heldBy(0, a)], [true, false, true, false, false, false], 'each key lived on its owner only')
})

t.test('binary - quiet pipelines across owners keep request order', async (t) => {
  const [a, b, c] = [keyOf(0), keyOf(1), keyOf(2)]
  const client = await RawClient.open(t, port(1))
  const extras = u32(7, 0)
  client.write(Buffer.concat([
    binaryFrame(OP.SETQ, { key: a, extras, value: 'va', opaque: 1 }),
    binaryFrame(OP.SETQ, { key: b, extras, value: 'vb', opaque: 2 }),
    binaryFrame(OP.SETQ, { key: c, extras, value: 'vc', opaque: 3 }),
    binaryFrame(OP.GETKQ, { key: c, opaque: 4 }),
    binaryFrame(OP.GETKQ, { key: 'absent-' + a, opaque: 5 }),
    binaryFrame(OP.GETKQ, { key: b, opaque: 6 }),
    binaryFrame(OP.GETQ, { key: a, opaque: 7 }),
    binaryFrame(OP.GETK, { key: 'absent-' + c, opaque: 8 }),
    binaryFrame(OP.DELETEQ, { key: a, opaque: 9 }),
    binaryFrame(OP.GETKQ, { key: a, opaque: 10 }),
    binaryFrame(OP.GETK, { key: c, opaque: 11 }),
    binaryFrame(OP.NOOP, { opaque: 12 })
  ]))
  const responses = await client.untilNoop()
  t.same(responses.map((r) => [r.opaque, r.status, r.key, r.value.toString()]), [
    [4, 0, c, 'vc'],
    [6, 0, b, 'vb'],
    [7, 0, '', 'va'],
    [8, 1, 'absent-' + c, ''],
    [11, 0, c, 'vc'],
    [12, 0, '', '']
  ])
  t.same(responses.slice(0, 3).map((r) => r.extras.readUInt32BE(0)), [7, 7, 7], 'flags come back')
  t.same([heldBy(2, c), heldBy(1, b), heldBy(1, c), heldBy(0, a)], [true, true, false, false], 'stored on the owners (a deleted there)')
})

t.test('binary - every command through a non-owner answers as through the owner (raw frames)', async (t) => {
  async function script (node: number, key: string): Promise<Array<[number, string]>> {
    const client = await RawClient.open(t, port(node))
    const out: Array<[number, string]> = []
    const ask = async (frame: Buffer): Promise<BinaryResponse> => {
      client.write(frame)
      const response = await client.response()
      out.push([response.status, response.value.toString('latin1').replaceAll(key, 'K')])
      return response
    }
    await ask(binaryFrame(OP.SET, { key, extras: u32(3, 0), value: 'abc' }))
    const got = await ask(binaryFrame(OP.GET, { key }))
    await ask(casOf(binaryFrame(OP.SET, { key, extras: u32(3, 0), value: 'new' }), got.cas + 1000n))
    await ask(casOf(binaryFrame(OP.SET, { key, extras: u32(3, 0), value: 'new' }), got.cas))
    await ask(binaryFrame(OP.ADD, { key, extras: u32(0, 0), value: 'x' }))
    await ask(binaryFrame(OP.APPEND, { key, value: '!' }))
    await ask(binaryFrame(OP.GETK, { key }))
    await ask(binaryFrame(OP.TOUCH, { key, extras: u32(100) }))
    await ask(binaryFrame(OP.GAT, { key, extras: u32(100) }))
    await ask(binaryFrame(OP.INCREMENT, { key, extras: counterExtras(1n, 0n, 0) }))
    await ask(binaryFrame(OP.DELETE, { key }))
    const created = await ask(binaryFrame(OP.INCREMENT, { key, extras: counterExtras(5n, 40n, 0) }))
    out.push([0, String(created.value.readBigUInt64BE(0))])
    const incremented = await ask(binaryFrame(OP.INCREMENT, { key, extras: counterExtras(5n, 40n, 0) }))
    out.push([0, String(incremented.value.readBigUInt64BE(0))])
    await ask(binaryFrame(OP.INCREMENT, { key: 'absent-' + key, extras: counterExtras(1n, 0n, 0xffffffff) }))
    await ask(casOf(binaryFrame(OP.DELETE, { key }), incremented.cas + 1n))
    await ask(casOf(binaryFrame(OP.DELETE, { key }), incremented.cas))
    await ask(binaryFrame(OP.GET, { key }))
    client.end()
    return out
  }
  for (const owner of [0, 2]) {
    const before = forwardsTo(owner)
    t.same(await script(1, keyOf(owner)), await script(owner, keyOf(owner)), `node ${owner}'s keys`)
    t.ok(forwardsTo(owner) >= before + 17, `every request went to node ${owner}`)
  }
  const sample = await script(1, keyOf(0))
  t.same(sample.slice(0, 4).map(([status]) => status), [0, 0, 2, 0], 'the script does what it says (cas mismatch, then match)')
  t.same(sample.filter(([status]) => status === 0).length > 8, true)
})

t.test('memjs - get/set/delete/incr and a 1 MiB value through a non-owner', async (t) => {
  const client = memjs.Client.create(`127.0.0.1:${port(1)}`, { retries: 0, timeout: 5, logger: { log: () => {} } })
  t.teardown(() => client.close())
  const key = keyOf(2)
  const value = Buffer.alloc(1024 * 1024, 'xyz')
  t.equal(await client.set(key, value, {}), true)
  const got = await client.get(key)
  t.ok(got.value?.equals(value), 'the large value round-trips')
  const owner = memjs.Client.create(`127.0.0.1:${port(2)}`, { retries: 0, timeout: 5, logger: { log: () => {} } })
  t.teardown(() => owner.close())
  t.ok((await owner.get(key)).value?.equals(value), 'and is stored on the owner')
  const counter = keyOf(0)
  t.equal((await client.increment(counter, 5, { initial: 10 })).value, 10)
  t.equal((await client.increment(counter, 5, {})).value, 15)
  t.equal((await owner.get(counter)).value?.toString(), '15', 'node 2 forwards to node 0 as well')
  t.equal(await client.delete(counter), true)
  t.equal((await client.get(counter)).value, null)
})

t.test('flush_all - clears every node, text and binary, now and delayed', async (t) => {
  const keys = [keyOf(0), keyOf(1), keyOf(2)]
  const client = await RawClient.open(t, port(1))
  const fill = async (): Promise<void> => {
    for (const key of keys) {
      client.write(`set ${key} 0 0 1\r\nv\r\n`)
      t.equal(await client.line(), 'STORED')
    }
  }
  const remaining = async (): Promise<number> => {
    let count = 0
    for (const [node, key] of keys.entries()) {
      const owner = await RawClient.open(t, port(node))
      owner.write(`get ${key}\r\n`)
      count += (await owner.values()).length
      owner.end()
    }
    return count
  }
  await fill()
  t.equal(await remaining(), 3)
  client.write('flush_all\r\n')
  t.equal(await client.line(), 'OK')
  t.equal(await remaining(), 0, 'text flush_all emptied every node')

  await fill()
  const binary = await RawClient.open(t, port(1))
  binary.write(binaryFrame(OP.FLUSH, { opaque: 5 }))
  const flushed = await binary.response()
  t.same([flushed.opcode, flushed.status, flushed.opaque], [OP.FLUSH, 0, 5])
  t.equal(await remaining(), 0, 'binary FLUSH emptied every node')

  await fill()
  client.write('flush_all 100\r\n')
  t.equal(await client.line(), 'OK')
  t.equal(await remaining(), 3, 'a delayed flush waits')
  const advanced = await cluster.engines[1]!.execute({ op: 'debugClock', advanceMs: 101_000 })
  t.equal(advanced.error, null)
  client.write('version\r\n')
  t.match(await client.line(), /^VERSION /)
  t.equal(await remaining(), 0, 'once due on node 1 it flushed every node')
})

t.test('forward failure - SERVER_ERROR / BUSY, and the connection keeps working', async (t) => {
  const [a, b, c] = [keyOf(0), keyOf(1), keyOf(2)]
  const client = await RawClient.open(t, port(1))
  client.write(`set ${b} 0 0 1\r\nb\r\nset ${c} 0 0 1\r\nc\r\n`)
  t.same(await client.lines(2), ['STORED', 'STORED'])
  cluster.failNode(0, 'PEER_UNAVAILABLE')
  t.teardown(() => cluster.failNode(0, null))
  client.write(`get ${a}\r\nset ${a} 0 0 1\r\nx\r\nget ${b} ${a} ${c}\r\nset ${a} 0 0 1 noreply\r\nx\r\nget ${b}\r\n`)
  const [first, second, third] = await client.lines(3)
  t.match(first, /^SERVER_ERROR .*reached/, 'get')
  t.match(second, /^SERVER_ERROR /, 'set')
  t.match(third, /^SERVER_ERROR /, 'a multi-get with one unreachable key answers the error alone')
  t.same((await client.values()).map((item) => item.key), [b], 'noreply hides the error; the next request is answered')

  const binary = await RawClient.open(t, port(1))
  binary.write(Buffer.concat([
    binaryFrame(OP.GETKQ, { key: b, opaque: 1 }),
    binaryFrame(OP.GETKQ, { key: a, opaque: 2 }),
    binaryFrame(OP.GETKQ, { key: c, opaque: 3 }),
    binaryFrame(OP.SETQ, { key: a, extras: u32(0, 0), value: 'x', opaque: 4 }),
    binaryFrame(OP.NOOP, { opaque: 5 })
  ]))
  const responses = await binary.untilNoop()
  t.same(responses.map((r) => [r.opaque, r.status]), [[1, 0], [2, 0x0085], [3, 0], [4, 0x0085], [5, 0]], 'per-key BUSY; the others answer')
  t.match(responses[1]!.value.toString(), /cannot be reached/, 'with the reason')
  cluster.failNode(0, null)
  binary.write(binaryFrame(OP.GETK, { key: b, opaque: 6 }))
  t.same([(await binary.response()).status], [0], 'healed: framing was kept')
})

t.test('replicated() - a local write\'s reply waits for it; a rejection is a server error', async (t) => {
  const local = keyOf(1)
  const remote = keyOf(0)
  // The held write's acknowledgement, settled by the test; `called` fires when it is asked for.
  const gate = { release: (): void => {}, fail: (_error: Error): void => {}, called: (): void => {} }
  let calledOnce = new Promise<void>((resolve) => { gate.called = resolve })
  cluster.setReplicated(() => {
    gate.called()
    return new Promise<void>((resolve, reject) => { gate.release = resolve; gate.fail = reject })
  })
  t.teardown(() => cluster.setReplicated(null))
  const client = await RawClient.open(t, port(1))
  const other = await RawClient.open(t, port(1))
  const callsBefore = cluster.replicatedCalls.length
  client.write(`set ${local} 0 0 1\r\nv\r\nget ${local}\r\n`)
  await calledOnce
  other.write('version\r\n')
  await other.line()
  t.equal(await peek(client), 0, 'no reply before replication acknowledged (nor to the get behind it)')
  t.equal(cluster.replicatedCalls.at(-1)!.node, 1)
  t.equal(cluster.replicatedCalls.at(-1)!.consistency, cluster.routers[1]!.defaultConsistency(0), 'the tenant\'s default consistency')
  gate.release()
  t.equal(await client.line(), 'STORED')
  t.same((await client.values()).map((item) => item.value.toString()), ['v'])

  calledOnce = new Promise<void>((resolve) => { gate.called = resolve })
  client.write(`delete ${local}\r\n`)
  await calledOnce
  gate.fail(new SlabcacheError('REPLICATION_TIMEOUT'))
  t.match(await client.line(), /^SERVER_ERROR the write was applied on its owner but not acknowledged/)

  const binary = await RawClient.open(t, port(1))
  calledOnce = new Promise<void>((resolve) => { gate.called = resolve })
  binary.write(binaryFrame(OP.SETQ, { key: local, extras: u32(0, 0), value: 'q', opaque: 9 }))
  await calledOnce
  gate.fail(new SlabcacheError('REPLICATION_TIMEOUT'))
  const failed = await binary.response()
  t.same([failed.opaque, failed.status], [9, 0x0084], 'a quiet write answers the failure')
  t.match(failed.value.toString(), /not acknowledged/)

  const calls = cluster.replicatedCalls.length
  client.write(`set ${remote} 0 0 1\r\nr\r\n`)
  t.equal(await client.line(), 'STORED', 'a forwarded write is not held here')
  t.equal(cluster.replicatedCalls.filter((call, i) => i >= calls && call.node === 1).length, 0, 'node 1 did not wait for it')
  t.ok(cluster.replicatedCalls.length > callsBefore)
})

t.test('stats - shows this node, named', async (t) => {
  const client = await RawClient.open(t, port(1))
  client.write('stats\r\n')
  const lines: string[] = []
  for (let line = await client.line(); line !== 'END'; line = await client.line()) lines.push(line)
  t.ok(lines.includes('STAT slabcache_cluster_node node-1'))
})

t.test('pipelining - forwards overlap, owners answer out of order, replies leave in request order', async (t) => {
  cluster.setForwardDelay((seq) => 6 - (seq % 6))
  t.teardown(() => cluster.setForwardDelay(null))
  cluster.forwardStats.maxInFlight = 0
  // Keys on every node (node 1 is local): each key's requests stay in order on its owner.
  const keys = Array.from({ length: 24 }, (_, i) => keyOf(i % 3, 'pipe'))
  const client = await RawClient.open(t, port(1))
  let script = ''
  const expected: string[] = []
  keys.forEach((key, i) => { script += `set ${key} 0 0 ${String(i).length}\r\n${i}\r\n`; expected.push('STORED') })
  keys.forEach((key, i) => { script += `incr ${key} 100\r\n`; expected.push(String(i + 100)) })
  keys.forEach((key) => { script += `delete ${key} noreply\r\nget ${key}\r\n`; expected.push('END') })
  script += 'version\r\n'
  expected.push(`VERSION ${servers[1]!.backend.version}`)
  client.write(script)
  t.same(await client.lines(expected.length), expected)
  t.ok(cluster.forwardStats.maxInFlight > 1, `forwards overlapped (at most ${cluster.forwardStats.maxInFlight} at once)`)

  cluster.forwardStats.maxInFlight = 0
  const binary = await RawClient.open(t, port(1))
  binary.write(Buffer.concat([...keys.map((key, i) => binaryFrame(OP.SETQ, { key, extras: u32(i, 0), value: `b${i}`, opaque: i })), binaryFrame(OP.NOOP, { opaque: 998 })]))
  t.same((await binary.untilNoop()).map((r) => r.opaque), [998], 'quiet successes answer nothing')
  t.ok(cluster.forwardStats.maxInFlight > 1, `binary SETQ forwards overlapped (at most ${cluster.forwardStats.maxInFlight} at once)`)
  const frames: Buffer[] = []
  keys.forEach((key, i) => frames.push(binaryFrame(OP.GETK, { key, opaque: 100 + i })))
  keys.forEach((key, i) => frames.push(binaryFrame(OP.DELETEQ, { key, opaque: 200 + i })))
  frames.push(binaryFrame(OP.NOOP, { opaque: 999 }))
  binary.write(Buffer.concat(frames))
  const responses = await binary.untilNoop()
  t.same(responses.map((r) => [r.opaque, r.status, r.key, r.value.toString()]),
    [...keys.map((key, i) => [100 + i, 0, key, `b${i}`]), [999, 0, '', '']], 'GETKs in request order, quiet deletes silent, NOOP last')
  t.same(keys.map((key, i) => heldBy(i % 3, key)), keys.map(() => false), 'every DELETEQ ran on its owner')
})
