/**
 * Growing a cluster under load: a 4th node joins a 3-node cluster while writes go on; keys
 * move to it, no acknowledged write is lost, and ownership ends even (25 % ± 5 % each).
 */
import t from 'tap'
import { clusterStatus, startCluster, startNode, waitForView } from '../fixtures/cluster.js'
import { missingThrough, WriteLoad } from '../fixtures/cluster-load.js'

/** The nodes' default dead-after silence (`--dead-after`, 2 s). */
const DEAD_AFTER_MS = 2000

const nodes = await startCluster(t, 3)

t.test('a 4th node joins under load: keys move, nothing acknowledged is lost, ownership is even', async (t) => {
  const load = new WriteLoad(nodes, 'grow', null)
  await load.until(600)
  const n4 = await startNode(t, { id: 'n4', join: [nodes[1]!.peerAddress] })
  const all = [...nodes, n4]
  await waitForView(all, (s) => s.members.filter((m) => m.state === 'up').length === 4, '4 members up everywhere')
  const atJoin = load.acked.size
  await load.until(atJoin + 300)
  await load.stop()
  t.comment(`${load.acked.size} writes acknowledged (${load.failed} failed)`)
  for (const node of all) t.same(await missingThrough(node, load.acked), [], `every acknowledged write is readable through ${node.id}`)
  const status = await clusterStatus(n4)
  for (const member of status.members) t.ok(Math.abs(member.ownership - 0.25) <= 0.05 * 0.25, `${member.id} owns ${member.ownership} (25 % ± 5 %)`)
  const stats = await (await fetch(`${n4.url}/v1/stats`)).json() as { items: number }
  t.ok(stats.items > load.acked.size / 4, `keys moved to the new node (${stats.items} items there)`)

  // The new node leaves gracefully: it hands its ranges off first, then the ring shrinks back.
  const leave = await fetch(`${n4.url}/v1/cluster/leave`, { method: 'POST' })
  t.equal(leave.status, 200)
  t.same(await leave.json(), { left: 'n4' })
  await waitForView(nodes, (s) => s.members.find((m) => m.id === 'n4')?.state === 'left', 'n4 left everywhere')
  // Nobody heartbeats a left member: it must still keep a live view (the members answer its
  // own heartbeats), or after the dead-after silence (2 s) it would route every key to itself.
  const watchUntil = Date.now() + DEAD_AFTER_MS + 1000
  let staleView = ''
  while (Date.now() < watchUntil && staleView === '') {
    const view = await clusterStatus(n4)
    const notUp = view.members.filter((m) => m.id !== 'n4' && m.state !== 'up')
    if (notUp.length > 0) staleView = notUp.map((m) => `${m.id}:${m.state}`).join(', ')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.equal(staleView, '', `n4, left, still sees every member up ${DEAD_AFTER_MS + 1000} ms later`)
  for (const node of nodes) t.same(await missingThrough(node, load.acked), [], `after n4 left, every acknowledged write is readable through ${node.id}`)
  t.same(await missingThrough(n4, load.acked), [], 'and through n4, which now forwards everything')
  for (const member of (await clusterStatus(nodes[0]!)).members) {
    if (member.id !== 'n4') t.ok(Math.abs(member.ownership - 1 / 3) <= 0.05 / 3, `${member.id} owns ${member.ownership} again`)
    else t.equal(member.ownership, 0, 'n4 owns nothing')
  }
})
