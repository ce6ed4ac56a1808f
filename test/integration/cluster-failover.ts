/**
 * Failure and recovery on a 3-node cluster of real processes: kill -9 one node under a `quorum`
 * write load; every acknowledged write stays readable from the survivors, the failure is
 * detected (never before the configured silence) and agreed by both survivors; the node then
 * restarts empty, rejoins, and serves every acknowledged write again.
 */
import t from 'tap'
import { kill9, startCluster, startNode, waitForView } from '../fixtures/cluster.js'
import { missingThrough, WriteLoad } from '../fixtures/cluster-load.js'

const DEAD_AFTER_MS = 2000 // the default --dead-after

const nodes = await startCluster(t, 3)
const [n1, n2, n3] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]]

t.test('kill -9 under quorum writes: no acknowledged write is lost; the death is detected and agreed', async (t) => {
  const load = new WriteLoad([n1, n3], 'fo', 'quorum')
  await load.until(300)
  const killedAt = Date.now()
  await kill9(n2)
  const views = await waitForView([n1, n3], (s) => s.members.find((m) => m.id === 'n2')?.state === 'dead', 'n2 dead on both survivors', 15_000)
  t.comment(`both survivors agreed n2 is dead ${Date.now() - killedAt} ms after kill -9 (configured: ${DEAD_AFTER_MS} ms of silence)`)
  t.equal(views.length, 2)
  for (const node of [n1, n3]) {
    const entry = await node.cli.waitFor((e) => e.msg === 'cluster member state changed' && e['member'] === 'n2' && e['to'] === 'dead', 'n2 dead logged')
    t.ok((entry['silentMs'] as number) >= DEAD_AFTER_MS, `${node.id} declared n2 dead after ${entry['silentMs'] as number} ms of silence, not earlier than configured`)
  }
  // Writes go on against the two survivors (the ring of two).
  const afterDeath = load.acked.size
  await load.until(afterDeath + 200)
  await load.stop()
  t.comment(`${load.acked.size} writes acknowledged, ${load.failed} refused during the failure`)
  for (const node of [n1, n3]) t.same(await missingThrough(node, load.acked), [], `every acknowledged write is readable through ${node.id}`)

  // Restart n2 empty (new process, new data directory): it rejoins and comes back with its data.
  const back = await startNode(t, { id: 'n2', join: [n1.peerAddress] })
  await waitForView([n1, back, n3], (s) => s.members.filter((m) => m.state === 'up').length === 3, 'n2 up again everywhere')
  const stats = await (await fetch(`${back.url}/v1/stats`)).json() as { items: number }
  t.ok(stats.items > load.acked.size / 3, `the restarted node holds its share again (${stats.items} items)`)
  for (const node of [n1, back, n3]) t.same(await missingThrough(node, load.acked), [], `after the rejoin every acknowledged write is readable through ${node.id}`)
})
