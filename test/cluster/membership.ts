import t, { type Test } from 'tap'
import {
  FORGET_DEAD_AFTER_MS, Membership, supersedes
} from '../../src/cluster/membership.js'
import type { MemberChange, MemberRecord, MemberState, MembershipOptions } from '../../src/cluster/membership.js'

const SUSPECT_MS = 1000
const DEAD_MS = 2000
const TICK_MS = 50 // the simulated heartbeat interval
const T0 = 1_765_000_000_000

function options (selfId: string, nowMs: number, joining = false, extra: Partial<MembershipOptions> = {}): MembershipOptions {
  return { selfId, selfAddress: `${selfId}.test:7946`, nowMs, suspectAfterMs: SUSPECT_MS, deadAfterMs: DEAD_MS, joining, ...extra }
}

/**
 * In-process cluster with a fake clock. Each `step` advances the clock by TICK_MS, then every
 * running node ticks and heartbeats its targets: a delivered heartbeat is `heard` plus a
 * `merge` of the sender's records (what the transport does with a heartbeat frame). Every
 * PROBE_EVERY steps each node also probes its dead members: an exchange of records both ways
 * (what the transport should do with `probeTargets()`).
 * `blocked` drops messages on a directed link; a stopped node neither sends nor receives; a
 * paused node (a stalled process) sends nothing and finds what was sent to it queued in its
 * socket buffers when it resumes.
 */
const PROBE_EVERY = 5

class Sim {
  nowMs = T0
  steps = 0
  readonly nodes = new Map<string, Membership>()
  readonly stopped = new Set<string>()
  readonly blocked = new Set<string>() // `${from}>${to}`
  readonly #paused = new Map<string, Array<{ from: string, records: MemberRecord[] }>>()
  /** Every change, with the observer and time, in order. */
  readonly log: Array<MemberChange & { at: string, nowMs: number }> = []

  add (id: string, joining: boolean, extra: Partial<MembershipOptions> = {}): Membership {
    const m = new Membership(options(id, this.nowMs, joining, extra))
    this.nodes.set(id, m)
    this.stopped.delete(id)
    return m
  }

  #record (at: string, changes: MemberChange[]): void {
    for (const c of changes) this.log.push({ ...c, at, nowMs: this.nowMs })
  }

  #deliver (from: string, to: string, records: MemberRecord[]): void {
    const target = this.nodes.get(to)!
    target.heard(from, this.nowMs)
    this.#record(to, target.merge(records, this.nowMs))
  }

  #down (id: string): boolean {
    return this.stopped.has(id) || this.#paused.has(id)
  }

  /** `from` sends its records to `to` (a heartbeat, or a join request to a seed). */
  send (from: string, to: string): void {
    if (this.#down(from) || this.stopped.has(to) || this.blocked.has(`${from}>${to}`)) return
    const records = this.nodes.get(from)!.records()
    const queue = this.#paused.get(to)
    if (queue !== undefined) queue.push({ from, records })
    else this.#deliver(from, to, records)
  }

  pause (id: string): void {
    this.#paused.set(id, [])
  }

  /** The stalled node wakes: its timer fires first, then it reads its socket backlog. */
  resume (id: string): MemberChange[] {
    const queue = this.#paused.get(id)!
    this.#paused.delete(id)
    const changes = this.nodes.get(id)!.tick(this.nowMs)
    this.#record(id, changes)
    for (const { from, records } of queue) this.#deliver(from, id, records)
    return changes
  }

  step (): void {
    this.nowMs += TICK_MS
    this.steps++
    for (const [id, m] of this.nodes) {
      if (this.#down(id)) continue
      this.#record(id, m.tick(this.nowMs))
    }
    for (const [id, m] of this.nodes) {
      if (this.#down(id)) continue
      for (const target of m.heartbeatTargets()) if (this.nodes.has(target.id)) this.send(id, target.id)
      if (this.steps % PROBE_EVERY !== 0) continue
      for (const target of m.probeTargets()) {
        if (!this.nodes.has(target.id)) continue
        this.send(id, target.id)
        this.send(target.id, id) // the probe's answer
      }
    }
  }

  run (ms: number): void {
    for (let elapsed = 0; elapsed < ms; elapsed += TICK_MS) this.step()
  }

  /** Records of every running node, which must all be equal once gossip has converged. */
  views (): MemberRecord[][] {
    return this.running().map((m) => m.records())
  }

  running (): Membership[] {
    return [...this.nodes].filter(([id]) => !this.#down(id)).map(([, m]) => m)
  }
}

/** Starts `count` nodes: n1 up, the others joining through seed n1, all up after gossip. */
function cluster (t: Test, count: number): Sim {
  const sim = new Sim()
  sim.add('n1', false)
  for (let i = 2; i <= count; i++) {
    sim.add(`n${i}`, true)
    sim.send(`n${i}`, 'n1') // join request to the seed
    sim.send('n1', `n${i}`) // its reply
  }
  sim.run(200)
  for (const m of sim.running()) m.markSelfUp(sim.nowMs)
  sim.run(200)
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`)
  for (const m of sim.running()) t.same(m.ringMembers(), ids, `${m.selfId} sees every member up`)
  return sim
}

t.test('constructor - self starts up, or joining, with incarnation = nowMs', async (t) => {
  const up = new Membership(options('a', T0))
  t.same(up.self, { id: 'a', address: 'a.test:7946', state: 'up', incarnation: T0, lastHeardMs: T0, stateSinceMs: T0 })
  t.equal(up.selfId, 'a')
  t.same(up.ringMembers(), ['a'])
  t.same(up.joiningMembers(), [])
  t.same(up.heartbeatTargets(), [])
  const joining = new Membership(options('b', T0, true))
  t.equal(joining.self.state, 'joining')
  t.same(joining.ringMembers(), [])
  t.same(joining.joiningMembers(), ['b'])
  t.same(joining.records(), [{ id: 'b', address: 'b.test:7946', state: 'joining', incarnation: T0 }])
})

t.test('constructor - rejects each bad option with a message naming it', async (t) => {
  const bad: Array<[Partial<MembershipOptions>, RegExp]> = [
    [{ selfId: '' }, /selfId must be a non-empty string/],
    [{ selfAddress: 7 as unknown as string }, /selfAddress must be a string/],
    [{ nowMs: -1 }, /nowMs must be a non-negative integer/],
    [{ nowMs: 1.5 }, /nowMs must be a non-negative integer/],
    [{ suspectAfterMs: 0 }, /suspectAfterMs must be above 0/],
    [{ deadAfterMs: SUSPECT_MS }, /deadAfterMs must be longer than suspectAfterMs/],
    [{ forgetDeadAfterMs: -5 }, /forgetDeadAfterMs must be 0 or more/]
  ]
  for (const [override, message] of bad) {
    t.throws(() => new Membership({ ...options('a', T0), ...override }), { name: 'RangeError', message }, JSON.stringify(override))
  }
})

t.test('supersedes - higher incarnation, then joining < up < suspect < dead < left', async (t) => {
  const order: MemberState[] = ['joining', 'up', 'suspect', 'dead', 'left']
  for (let i = 0; i < order.length; i++) {
    for (let j = 0; j < order.length; j++) {
      t.equal(supersedes({ state: order[i]!, incarnation: 5 }, { state: order[j]!, incarnation: 5 }), i > j, `${order[i]} over ${order[j]}`)
      t.equal(supersedes({ state: order[i]!, incarnation: 6 }, { state: order[j]!, incarnation: 5 }), true)
      t.equal(supersedes({ state: order[i]!, incarnation: 4 }, { state: order[j]!, incarnation: 5 }), false)
    }
  }
})

for (const count of [3, 4, 5]) {
  t.test(`join - ${count} nodes through one seed learn each other and agree`, async (t) => {
    const sim = cluster(t, count)
    const views = sim.views()
    for (const view of views) t.same(view, views[0], 'identical tables')
    t.equal(views[0]!.length, count)
    for (const m of sim.running()) {
      t.equal(m.heartbeatTargets().length, count - 1)
      t.notOk(m.heartbeatTargets().some((h) => h.id === m.selfId), 'never heartbeats itself')
    }
    t.notOk(sim.log.some((c) => c.to === 'suspect' || c.to === 'dead'), 'no false suspicion while joining')
    // Every node saw every other go joining → up (or learned it up directly).
    const n1 = sim.nodes.get('n1')!
    t.same(n1.members().map((m) => m.state), Array(count).fill('up'))
  })
}

t.test('a silent node goes suspect then dead at the configured times, and every node agrees', async (t) => {
  const sim = cluster(t, 4)
  const silentFrom = sim.nowMs
  const logFrom = sim.log.length
  sim.stopped.add('n4')
  sim.run(DEAD_MS + 1000)
  for (const observer of ['n1', 'n2', 'n3']) {
    const changes = sim.log.slice(logFrom).filter((c) => c.at === observer && c.id === 'n4')
    t.same(changes.map((c) => [c.from, c.to]), [['up', 'suspect'], ['suspect', 'dead']], `${observer}: up → suspect → dead`)
    const suspectAt = changes[0]!.nowMs - silentFrom
    const deadAt = changes[1]!.nowMs - silentFrom
    // The last heartbeat from n4 arrived at silentFrom; detection happens on the first tick past each limit.
    t.ok(suspectAt > SUSPECT_MS && suspectAt <= SUSPECT_MS + TICK_MS, `${observer} suspected after ${suspectAt} ms`)
    t.ok(deadAt > DEAD_MS && deadAt <= DEAD_MS + 2 * TICK_MS, `${observer} declared dead after ${deadAt} ms`)
  }
  const views = sim.views()
  for (const view of views) t.same(view, views[0])
  t.equal(views[0]!.find((r) => r.id === 'n4')!.state, 'dead')
  for (const m of sim.running()) {
    t.same(m.ringMembers(), ['n1', 'n2', 'n3'])
    t.notOk(m.heartbeatTargets().some((h) => h.id === 'n4'), 'dead members get no heartbeats')
    t.same(m.probeTargets(), [{ id: 'n4', address: 'n4.test:7946' }])
  }
})

t.test('a suspected-but-alive node refutes and ends up up everywhere, never dead', async (t) => {
  const sim = cluster(t, 4)
  const incarnation = sim.nodes.get('n3')!.self.incarnation
  // n3's heartbeats to n1 are lost for longer than suspectAfterMs; n1 → n3 still works.
  sim.blocked.add('n3>n1')
  sim.run(SUSPECT_MS + 300)
  t.ok(sim.log.some((c) => c.at === 'n1' && c.id === 'n3' && c.to === 'suspect'), 'n1 suspected n3')
  sim.blocked.clear()
  sim.run(1000)
  t.notOk(sim.log.some((c) => c.to === 'dead'), 'nobody was declared dead')
  t.ok(sim.nodes.get('n3')!.self.incarnation > incarnation, 'n3 raised its incarnation to refute')
  const views = sim.views()
  for (const view of views) t.same(view, views[0])
  for (const m of sim.running()) t.equal(m.get('n3')!.state, 'up', `${m.selfId} sees n3 up`)
})

t.test('a one-way link loss longer than deadAfterMs still never kills a node others hear', async (t) => {
  // n1 never hears n3 directly, but n3's refutations reach it through n2 and n4: second-hand
  // evidence of life keeps n1 from declaring n3 dead.
  const sim = cluster(t, 4)
  sim.blocked.add('n3>n1')
  sim.run(DEAD_MS * 4)
  t.notOk(sim.log.some((c) => c.to === 'dead'), 'nobody was declared dead')
  for (const m of sim.running()) t.ok(m.ringMembers().includes('n3'), `${m.selfId} keeps n3 in the ring`)
})

t.test('a stall of this process suspects everyone but kills no one', async (t) => {
  const sim = cluster(t, 3)
  // n1 freezes (a long GC pause) for longer than deadAfterMs: nothing in or out; the others
  // suspect it, then declare it dead, as they must. Their heartbeats wait in n1's buffers.
  sim.pause('n1')
  sim.run(DEAD_MS * 1.5)
  t.equal(sim.nodes.get('n2')!.get('n1')!.state, 'dead')
  const logFrom = sim.log.length
  const wake = sim.resume('n1') // the timer fires before the backlog is read
  t.same(wake.map((c) => [c.id, c.to]), [['n2', 'suspect'], ['n3', 'suspect']], 'everyone silent > deadAfterMs is only suspected')
  sim.run(DEAD_MS * 2)
  t.same(sim.log.slice(logFrom).filter((c) => c.to === 'dead'), [], 'nobody declared anybody dead after the wake')
  const views = sim.views()
  for (const view of views) t.same(view, views[0])
  for (const m of sim.running()) t.same(m.ringMembers(), ['n1', 'n2', 'n3'], `${m.selfId} sees everyone in the ring`)
})

t.test('tick - a member silent far beyond deadAfterMs still gets the whole suspect window', async (t) => {
  // Ticks that stop for a while (a stalled timer) must not go up → dead in two consecutive
  // ticks: frames from the member may be waiting to be read.
  const m = new Membership(options('a', T0))
  m.merge([{ id: 'x', address: 'x:1', state: 'up', incarnation: 1 }], T0)
  const wake = T0 + 3 * DEAD_MS
  t.same(m.tick(wake), [{ id: 'x', from: 'up', to: 'suspect' }])
  t.same(m.tick(wake + 1), [], 'silent > deadAfterMs, but suspect for 1 ms only')
  t.same(m.tick(wake + DEAD_MS - SUSPECT_MS), [], 'exactly the window: not yet')
  t.same(m.tick(wake + DEAD_MS - SUSPECT_MS + 1), [{ id: 'x', from: 'suspect', to: 'dead' }])
})

t.test('tick - gossip of a suspicion does not shorten the time to dead', async (t) => {
  const m = new Membership(options('a', T0))
  m.merge([{ id: 'x', address: 'x:1', state: 'up', incarnation: 1 }], T0)
  m.merge([{ id: 'x', address: 'x:1', state: 'suspect', incarnation: 1 }], T0 + 100)
  t.same(m.tick(T0 + DEAD_MS), [])
  t.same(m.tick(T0 + DEAD_MS + 1), [{ id: 'x', from: 'suspect', to: 'dead' }], 'dead after deadAfterMs of silence')
})

t.test('a partition longer than deadAfterMs heals through probes of dead members', async (t) => {
  const sim = cluster(t, 4)
  const cut = ['n3>n1', 'n3>n2', 'n4>n1', 'n4>n2', 'n1>n3', 'n1>n4', 'n2>n3', 'n2>n4']
  for (const link of cut) sim.blocked.add(link)
  sim.run(DEAD_MS + 500)
  t.same(sim.nodes.get('n1')!.ringMembers(), ['n1', 'n2'])
  t.same(sim.nodes.get('n3')!.ringMembers(), ['n3', 'n4'], 'each half sees the other dead')
  sim.blocked.clear()
  sim.run(PROBE_EVERY * TICK_MS * 6)
  const views = sim.views()
  for (const view of views) t.same(view, views[0])
  for (const m of sim.running()) t.same(m.ringMembers(), ['n1', 'n2', 'n3', 'n4'], `${m.selfId} sees everyone up again`)
})

t.test('20 % message loss for 10 s: nobody is declared dead, and views converge after', async (t) => {
  const sim = cluster(t, 5)
  let state = 4242
  const lossy = (): void => {
    sim.blocked.clear()
    for (const from of sim.nodes.keys()) {
      for (const to of sim.nodes.keys()) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0
        if (state % 5 === 0) sim.blocked.add(`${from}>${to}`)
      }
    }
  }
  for (let elapsed = 0; elapsed < 10_000; elapsed += TICK_MS) {
    lossy()
    sim.step()
  }
  sim.blocked.clear()
  sim.run(1000)
  t.notOk(sim.log.some((c) => c.to === 'dead'), 'no false death')
  const views = sim.views()
  for (const view of views) t.same(view, views[0])
  for (const m of sim.running()) t.equal(m.ringMembers().length, 5)
})

t.test('a restarted node (new incarnation = later nowMs) supersedes its dead record', async (t) => {
  const sim = cluster(t, 3)
  const oldIncarnation = sim.nodes.get('n3')!.self.incarnation
  sim.stopped.add('n3')
  sim.run(DEAD_MS + 500)
  for (const m of sim.running()) t.equal(m.get('n3')!.state, 'dead')
  const restarted = sim.add('n3', true) // a new process, same id
  t.ok(restarted.self.incarnation > oldIncarnation)
  sim.send('n3', 'n1')
  t.same(sim.log.filter((c) => c.at === 'n1' && c.id === 'n3').slice(-1).map((c) => [c.from, c.to]), [['dead', 'joining']])
  sim.send('n1', 'n3')
  sim.run(200)
  for (const m of sim.running()) t.same(m.joiningMembers(), ['n3'], `${m.selfId} sees n3 joining`)
  restarted.markSelfUp(sim.nowMs)
  sim.run(200)
  const views = sim.views()
  for (const view of views) t.same(view, views[0])
  for (const m of sim.running()) t.same(m.ringMembers(), ['n1', 'n2', 'n3'])
})

t.test('stale gossip cannot resurrect a dead node at its old incarnation', async (t) => {
  const m = new Membership(options('a', T0))
  m.merge([{ id: 'x', address: 'x:1', state: 'up', incarnation: 100 }], T0)
  m.tick(T0 + SUSPECT_MS + 1)
  m.tick(T0 + DEAD_MS + 2)
  t.equal(m.get('x')!.state, 'dead')
  const epoch = m.epoch
  t.same(m.merge([{ id: 'x', address: 'x:1', state: 'up', incarnation: 100 }], T0 + DEAD_MS + 3), [])
  t.same(m.merge([{ id: 'x', address: 'x:1', state: 'suspect', incarnation: 100 }], T0 + DEAD_MS + 3), [])
  t.same(m.merge([{ id: 'x', address: 'x:1', state: 'joining', incarnation: 99 }], T0 + DEAD_MS + 3), [])
  t.equal(m.get('x')!.state, 'dead')
  t.equal(m.epoch, epoch, 'nothing changed')
  t.same(m.merge([{ id: 'x', address: 'x:2', state: 'up', incarnation: 101 }], T0 + DEAD_MS + 4), [{ id: 'x', from: 'dead', to: 'up' }])
  t.equal(m.get('x')!.address, 'x:2', 'a superseding record brings its address')
})

t.test('left is final for that incarnation', async (t) => {
  const sim = cluster(t, 3)
  const n2 = sim.nodes.get('n2')!
  const incarnation = n2.self.incarnation
  t.same(n2.markSelfLeft(sim.nowMs), [{ id: 'n2', from: 'up', to: 'left' }])
  t.same(n2.markSelfLeft(sim.nowMs), [], 'leaving twice changes nothing')
  t.same(n2.markSelfUp(sim.nowMs), [], 'a left node cannot come back up in this incarnation')
  sim.send('n2', 'n1')
  sim.send('n2', 'n3')
  sim.stopped.add('n2')
  sim.run(DEAD_MS * 2)
  for (const m of sim.running()) {
    t.equal(m.get('n2')!.state, 'left', `${m.selfId} sees n2 left, not dead`)
    t.same(m.ringMembers(), ['n1', 'n3'])
    t.same(m.probeTargets(), [], 'left members are not probed')
  }
  const n1 = sim.nodes.get('n1')!
  for (const state of ['joining', 'up', 'suspect', 'dead'] as const) {
    t.same(n1.merge([{ id: 'n2', address: 'n2.test:7946', state, incarnation }], sim.nowMs), [], `${state} at the same incarnation is ignored`)
  }
  // The leaving node itself does not fight dead claims.
  t.same(n2.merge([{ id: 'n2', address: 'n2.test:7946', state: 'dead', incarnation }], sim.nowMs), [])
  t.equal(n2.self.incarnation, incarnation)
})

t.test('forgetting - dead and left members are dropped after forgetDeadAfterMs, and not re-learned', async (t) => {
  const forgetMs = 5000
  const m = new Membership(options('a', T0, false, { forgetDeadAfterMs: forgetMs }))
  m.merge([
    { id: 'x', address: 'x:1', state: 'up', incarnation: 1 },
    { id: 'y', address: 'y:1', state: 'up', incarnation: 1 }
  ], T0)
  m.merge([{ id: 'y', address: 'y:1', state: 'left', incarnation: 1 }], T0 + 10)
  m.tick(T0 + SUSPECT_MS + 1)
  m.tick(T0 + DEAD_MS + 2)
  t.equal(m.get('x')!.state, 'dead')
  m.tick(T0 + 10 + forgetMs)
  t.ok(m.get('y'), 'not yet: exactly forgetDeadAfterMs in left')
  const epoch = m.epoch
  t.same(m.tick(T0 + 11 + forgetMs), [], 'forgetting is not a state change')
  t.equal(m.get('y'), undefined, 'left member forgotten')
  t.ok(m.epoch > epoch, 'epoch moves')
  m.tick(T0 + DEAD_MS + 3 + forgetMs)
  t.equal(m.get('x'), undefined, 'dead member forgotten')
  t.same(m.members().map((r) => r.id), ['a'])
  // Gossip from a node that has not forgotten yet must not restart the cycle.
  t.same(m.merge([{ id: 'x', address: 'x:1', state: 'dead', incarnation: 1 }, { id: 'y', address: 'y:1', state: 'left', incarnation: 1 }], T0 + 9000), [])
  t.equal(m.get('x'), undefined)
  t.equal(FORGET_DEAD_AFTER_MS, 60_000)
})

t.test('forgetting - the default keeps dead members for 60 s', async (t) => {
  const m = new Membership(options('a', T0))
  m.merge([{ id: 'x', address: 'x:1', state: 'up', incarnation: 1 }], T0)
  m.tick(T0 + SUSPECT_MS + 1)
  m.tick(T0 + DEAD_MS + 2)
  m.tick(T0 + DEAD_MS + 2 + 59_999)
  t.ok(m.get('x'))
  m.tick(T0 + DEAD_MS + 2 + 60_001)
  t.equal(m.get('x'), undefined)
})

t.test('heard - refreshes lastHeardMs so heartbeats keep a member from suspicion, changes no state', async (t) => {
  const m = new Membership(options('a', T0))
  m.merge([{ id: 'x', address: 'x:1', state: 'up', incarnation: 1 }], T0)
  for (let now = T0; now <= T0 + 10 * SUSPECT_MS; now += 250) {
    m.heard('x', now)
    t.same(m.tick(now + 10), [], `no suspicion at +${now - T0} ms`)
  }
  t.equal(m.get('x')!.lastHeardMs, T0 + 10 * SUSPECT_MS)
  m.heard('x', T0) // an old, delayed frame
  t.equal(m.get('x')!.lastHeardMs, T0 + 10 * SUSPECT_MS, 'never moves backwards')
  t.same(m.tick(T0 + 11 * SUSPECT_MS + 1), [{ id: 'x', from: 'up', to: 'suspect' }])
  m.heard('x', T0 + 11 * SUSPECT_MS + 2)
  t.equal(m.get('x')!.state, 'suspect', 'hearing a suspect does not make it up: only its refutation does')
  t.same(m.tick(T0 + 20 * SUSPECT_MS), [{ id: 'x', from: 'suspect', to: 'dead' }], 'silence after the last heartbeat still kills it')
  m.heard('nobody', T0)
  m.heard('a', T0 + 99)
  t.equal(m.get('nobody'), undefined, 'unknown ids are ignored')
})

t.test('heard - a suspect that keeps being heard is never declared dead', async (t) => {
  const m = new Membership(options('a', T0))
  m.merge([{ id: 'x', address: 'x:1', state: 'up', incarnation: 1 }], T0)
  m.tick(T0 + SUSPECT_MS + 1)
  t.equal(m.get('x')!.state, 'suspect')
  for (let now = T0 + SUSPECT_MS + 250; now < T0 + 10 * DEAD_MS; now += 250) {
    m.heard('x', now)
    t.same(m.tick(now), [])
  }
})

t.test('merge - refutes suspect, dead and left claims about self', async (t) => {
  const m = new Membership(options('a', T0))
  const self = (state: MemberState, incarnation: number): MemberRecord => ({ id: 'a', address: 'elsewhere', state, incarnation })
  t.same(m.merge([self('suspect', T0)], T0), [], 'refutation is not a state change')
  t.equal(m.self.incarnation, T0 + 1)
  t.equal(m.self.state, 'up')
  t.equal(m.self.address, 'a.test:7946', 'gossip never changes our own address')
  m.merge([self('dead', T0 + 7)], T0)
  t.equal(m.self.incarnation, T0 + 8)
  m.merge([self('left', T0 + 8)], T0)
  t.equal(m.self.incarnation, T0 + 9)
  m.merge([self('suspect', T0 + 3), self('up', T0 + 9), self('joining', T0 + 9)], T0)
  t.equal(m.self.incarnation, T0 + 9, 'older or weaker claims need no refutation')
  t.equal(m.records().find((r) => r.id === 'a')!.incarnation, T0 + 9, 'the refutation is in what we gossip')
  const joining = new Membership(options('j', T0, true))
  joining.merge([{ id: 'j', address: '', state: 'dead', incarnation: T0 }], T0)
  t.same([joining.self.state, joining.self.incarnation], ['joining', T0 + 1], 'a joining node refutes too and stays joining')
})

t.test('merge - gossip order does not matter: any order of the same records gives the same table', async (t) => {
  const records: MemberRecord[] = []
  const states: MemberState[] = ['joining', 'up', 'suspect', 'dead', 'left']
  let seed = 7
  const next = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 8 }
  for (let i = 0; i < 60; i++) {
    records.push({ id: `m${next() % 6}`, address: `addr${next() % 3}`, state: states[next() % 5]!, incarnation: next() % 4 })
  }
  // Seed every member live first, so news of deaths applies (unknown dead members are not added).
  const seedRecords = Array.from({ length: 6 }, (_, i): MemberRecord => ({ id: `m${i}`, address: 'seed', state: 'joining', incarnation: 0 }))
  let expected: MemberRecord[] | undefined
  for (let round = 0; round < 20; round++) {
    const m = new Membership(options('self', T0))
    m.merge(seedRecords, T0)
    const order = [...records]
    for (let i = order.length - 1; i > 0; i--) {
      const j = next() % (i + 1)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    // In one batch or record by record.
    if (round % 2 === 0) m.merge(order, T0)
    else for (const r of order) m.merge([r], T0)
    const states = m.records().map(({ id, state, incarnation }) => ({ id, state, incarnation }))
    if (expected === undefined) expected = states as MemberRecord[]
    else t.same(states, expected, `order ${round}`)
  }
})

t.test('merge - validates every record first and applies none of a bad batch', async (t) => {
  const m = new Membership(options('a', T0))
  const good: MemberRecord = { id: 'x', address: 'x:1', state: 'up', incarnation: 1 }
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...good, id: '' }, /id must be a non-empty string/],
    [{ ...good, state: 'zombie' }, /state must be one of joining, up, suspect, dead, left/],
    [{ ...good, state: 'toString' }, /state must be one of/],
    [{ ...good, incarnation: -1 }, /incarnation must be a non-negative integer/],
    [{ ...good, incarnation: 0.5 }, /incarnation/],
    [{ ...good, address: null }, /address must be a string/]
  ]
  for (const [record, message] of bad) {
    t.throws(() => m.merge([good, record as unknown as MemberRecord], T0), { name: 'RangeError', message })
  }
  t.equal(m.get('x'), undefined, 'the good record of a bad batch was not applied')
  t.throws(() => m.tick(Number.NaN), { name: 'RangeError', message: /nowMs must be a finite number/ })
})

t.test('merge - reports each change once, in record order', async (t) => {
  const m = new Membership(options('a', T0))
  const changes = m.merge([
    { id: 'y', address: 'y:1', state: 'joining', incarnation: 1 },
    { id: 'x', address: 'x:1', state: 'up', incarnation: 1 },
    { id: 'y', address: 'y:1', state: 'up', incarnation: 1 },
    { id: 'y', address: 'y:1', state: 'up', incarnation: 1 }
  ], T0)
  t.same(changes, [{ id: 'y', from: null, to: 'joining' }, { id: 'x', from: null, to: 'up' }, { id: 'y', from: 'joining', to: 'up' }])
  t.same(m.merge(m.records(), T0), [], 'merging our own records is a no-op')
})

t.test('accessors - sorted ids, copies that cannot change the table', async (t) => {
  const m = new Membership(options('m', T0, true))
  m.merge([
    { id: 'z', address: 'z:1', state: 'up', incarnation: 1 },
    { id: 'b', address: 'b:1', state: 'suspect', incarnation: 1 },
    { id: 'c', address: 'c:1', state: 'joining', incarnation: 1 }
  ], T0)
  m.merge([{ id: 'd', address: 'd:1', state: 'up', incarnation: 1 }], T0)
  m.merge([{ id: 'd', address: 'd:1', state: 'dead', incarnation: 1 }], T0)
  t.same(m.members().map((r) => r.id), ['b', 'c', 'd', 'm', 'z'])
  t.same(m.ringMembers(), ['b', 'z'], 'up and suspect; self is still joining')
  t.same(m.joiningMembers(), ['c', 'm'])
  t.same(m.heartbeatTargets(), [{ id: 'b', address: 'b:1' }, { id: 'c', address: 'c:1' }, { id: 'z', address: 'z:1' }])
  t.same(m.probeTargets(), [{ id: 'd', address: 'd:1' }])
  t.equal(m.stateOf('b'), 'suspect')
  t.equal(m.stateOf('nope'), undefined)
  const copy = m.get('z')!
  copy.state = 'dead'
  m.self.state = 'left'
  t.equal(m.get('z')!.state, 'up')
  t.equal(m.self.state, 'joining')
  t.same(m.markSelfUp(T0 + 5), [{ id: 'm', from: 'joining', to: 'up' }])
  t.same(m.markSelfUp(T0 + 6), [], 'idempotent')
  t.equal(m.self.stateSinceMs, T0 + 5)
  t.same(m.ringMembers(), ['b', 'm', 'z'])
})
