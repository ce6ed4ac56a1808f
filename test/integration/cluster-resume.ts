/**
 * Range streams are resumable: a node leaving hands its ranges to their new holders; while one
 * of them refuses what it is sent (lost batches injected as a fault), that stream stops, the
 * leaving node remembers where, and once the holder accepts again the stream continues from
 * there: the holder ends up with every key it now holds. Three in-process nodes, real sockets.
 */
import t from 'tap'
import { startTestServer } from '../fixtures/server.js'
import { localValue, withLostReplication } from '../fixtures/cluster-inprocess.js'
import { HashRing } from '../../src/cluster/hash-ring.js'

const SECRET = 'resume-test-secret-0123456789'
const node = (nodeId: string, join: string[]): Parameters<typeof startTestServer>[1] => ({
  cluster: { enabled: true, nodeId, peerPort: 0, secret: SECRET, join, antiEntropyIntervalMs: 0 }
})

const a = await startTestServer(t, node('a', []))
const b = await startTestServer(t, node('b', [`127.0.0.1:${a.peerPort}`]))
const c = await startTestServer(t, node('c', [`127.0.0.1:${a.peerPort}`]))

t.test('an interrupted hand-off resumes where it stopped once the target accepts again', async (t) => {
  for (let i = 0; i < 300; i++) {
    const response = await fetch(`${a.url}/v1/cache/resume-${i}`, { method: 'PUT', body: `v${i}`, headers: { 'X-Slabcache-Consistency': 'all' } })
    t.equal(response.status, 204)
  }
  // The keys b holds once c is gone and did not hold before: c's hand-off must bring them.
  const before = HashRing.build(['a', 'b', 'c'], 2)
  const after = HashRing.build(['a', 'b'], 2)
  const gained = Array.from({ length: 300 }, (_, i) => `resume-${i}`)
    .filter((key) => after.replicasOf(0, Buffer.from(key)).includes('b') && !before.replicasOf(0, Buffer.from(key)).includes('b'))
  t.ok(gained.length > 20, `${gained.length} keys move to b`)
  for (const key of gained) t.equal(localValue(b, key), null, `${key} is not on b yet`)

  await withLostReplication(b, async () => {
    await c.cluster!.leave()
    t.equal(gained.filter((key) => localValue(b, key) !== null).length, 0, 'the hand-off to b did not get through')
  })
  // b accepts again: c resumes on its next check (every 4 heartbeats). (a also pushes what it
  // must when it sees c leave; c's own count of streamed items shows c resumed.)
  const sentBeforeResume = c.cluster!.status().migration.itemsSent
  const deadline = Date.now() + 15_000
  while (c.cluster!.status().migration.interrupted !== 0 || c.cluster!.status().migration.itemsSent === sentBeforeResume || gained.some((key) => localValue(b, key) === null)) {
    if (Date.now() > deadline) break
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.equal(c.cluster!.status().migration.interrupted, 0, 'nothing left to resume')
  t.ok(c.cluster!.status().migration.itemsSent > sentBeforeResume, `c resumed its hand-off (${c.cluster!.status().migration.itemsSent - sentBeforeResume} items after the fault)`)
  t.same(gained.filter((key) => localValue(b, key) === null), [], 'b received every key it gained')
  for (const key of gained) t.equal(localValue(b, key), `v${key.slice('resume-'.length)}`)
})
