/**
 * Anti-entropy repairs what replication missed: two in-process nodes (real servers, real peer
 * sockets, R = 2 so both hold every key). Lost replication is injected as a fault: while the
 * receiving engine's apply methods refuse, writes, overwrites and deletes made through the
 * owner are acknowledged (async) but never reach the replica; then one repair pass on each side
 * makes both copies equal, deletes included.
 */
import t from 'tap'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { localValue, ownedBy, withLostReplication } from '../fixtures/cluster-inprocess.js'

const SECRET = 'anti-entropy-test-secret-0123'
const cluster = (nodeId: string, join: string[]): { cluster: { enabled: true, nodeId: string, peerPort: number, secret: string, join: string[], antiEntropyIntervalMs: number } } => ({
  cluster: { enabled: true, nodeId, peerPort: 0, secret: SECRET, join, antiEntropyIntervalMs: 0 }
})

const a = await startTestServer(t, cluster('a', []))
const b = await startTestServer(t, cluster('b', [`127.0.0.1:${a.peerPort}`]))

async function put (server: TestServer, key: string, value: string, consistency = 'async'): Promise<void> {
  const response = await fetch(`${server.url}/v1/cache/${key}`, { method: 'PUT', body: value, headers: { 'X-Slabcache-Consistency': consistency } })
  if (response.status !== 204) throw new Error(`PUT ${key}: ${response.status}`)
}

t.test('missed writes, overwrites and deletes are repaired in both directions', async (t) => {
  const onA = ownedBy(a, 'a-', 50)
  const onB = ownedBy(b, 'b-', 50)
  for (const key of [...onA, ...onB]) await put(onA.includes(key) ? a : b, key, `v-${key}`, 'all')
  for (const key of [...onA, ...onB]) t.equal(localValue(a, key) !== null && localValue(b, key) !== null, true, `${key} on both`)

  await withLostReplication(b, async () => {
    await put(a, onA[0]!, 'newer on a')
    await put(a, 'fresh-on-a', 'A')
    const response = await fetch(`${a.url}/v1/cache/${onA[1]!}`, { method: 'DELETE' })
    t.equal(response.status, 204)
  }, a)
  await withLostReplication(a, async () => { await put(b, onB[0]!, 'newer on b') }, b)
  t.equal(localValue(b, onA[0]!), `v-${onA[0]!}`, 'b missed the overwrite')
  t.equal(localValue(b, onA[1]!), `v-${onA[1]!}`, 'b missed the delete')
  t.equal(localValue(a, onB[0]!), `v-${onB[0]!}`, 'a missed b\'s overwrite')

  const repaired = await a.cluster!.repair() + await b.cluster!.repair()
  t.ok(repaired > 0, `digests found ${repaired} differing partition(s)`)
  for (const server of [a, b]) {
    t.equal(localValue(server, onA[0]!), 'newer on a', 'the newer version won')
    t.equal(localValue(server, onA[1]!), null, 'the delete reached every copy (its tombstone travelled with the repair)')
    t.equal(localValue(server, onB[0]!), 'newer on b')
    if (server.cluster!.ownerOf(0, Buffer.from('fresh-on-a')) === null || server === b) t.equal(localValue(server, 'fresh-on-a'), 'A', 'the missed write arrived')
  }
  t.equal(await a.cluster!.repair() + await b.cluster!.repair(), 0, 'a second pass finds nothing to repair')
})

t.test('a burst of large writes reaches the replica whole', async (t) => {
  const keys = ownedBy(a, 'big-', 12)
  const value = (key: string): string => key.padEnd(1024 * 1024, '.')
  await Promise.all(keys.map(async (key) => { await put(a, key, value(key)) }))
  const deadline = Date.now() + 15_000
  while (keys.some((key) => localValue(b, key) !== value(key)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  t.same(keys.filter((key) => localValue(b, key) !== value(key)), [], '12 MiB of values written at once reached the replica')
})

t.test('concurrent writes to one key through both nodes leave the same value in both copies', async (t) => {
  for (let round = 0; round < 5; round++) {
    const key = `contended-${round}`
    await Promise.all([a, b].flatMap((server, i) => Array.from({ length: 25 }, async (_, n) => { await put(server, key, `${i}-${n}`) })))
    // Async replication: wait until both copies agree (they must, by last-write-wins).
    const deadline = Date.now() + 5000
    while ((localValue(a, key) === null || localValue(a, key) !== localValue(b, key)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    t.ok(localValue(a, key) !== null, `${key} is stored`)
    t.equal(localValue(b, key), localValue(a, key), `${key}: both copies hold ${localValue(a, key)}`)
  }
})

t.test('a replica that cannot store a version does not acknowledge it', async (t) => {
  const [key] = ownedBy(a, 'unstorable-', 1)
  const { applyRecords } = b.engine
  // As when b is out of memory or over the tenant's quota: applied nowhere, counted as failed.
  b.engine.applyRecords = () => ({ applied: 0, stale: 0, failed: 1 })
  try {
    const response = await fetch(`${a.url}/v1/cache/${key!}`, { method: 'PUT', body: 'x', headers: { 'X-Slabcache-Consistency': 'all' } })
    t.equal(response.status, 504, 'the write is not acknowledged')
    t.equal(((await response.json()) as { error: { code: string } }).error.code, 'REPLICATION_TIMEOUT')
  } finally {
    b.engine.applyRecords = applyRecords
  }
  t.equal(localValue(a, key!), 'x', 'the owner keeps it (as for any unacknowledged write)')
})
