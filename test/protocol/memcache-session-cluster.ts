import t from 'tap'
import type { ClusterRouter, ClusterStatus, ConsistencyMode, NodeId } from '../../src/cluster/cluster-types.js'
import { Result, type Command } from '../../src/command/command.js'
import { StoreStatus } from '../../src/core/store-status.js'
import { SlabcacheError } from '../../src/errors.js'
import { MAX_IN_FLIGHT } from '../../src/protocol/memcache-cluster.js'
import { MemcacheCounters, MemcacheSession, SessionState, type MemcacheBackend } from '../../src/protocol/memcache-session.js'
import { ManualClock } from '../../src/util/clock.js'

/** A local store of plain maps; keys starting with `r` belong to node "remote" (see TestRouter). */
class LocalBackend implements MemcacheBackend {
  readonly items = new Map<string, Buffer>()
  readonly ran: string[] = []
  readonly clock = new ManualClock()
  readonly counters = new MemcacheCounters()
  readonly version = '1.6.0-test'
  readonly router: ClusterRouter
  readonly #result = new Result()
  constructor (router: ClusterRouter) { this.router = router }

  execute = (command: Command): Result => {
    const result = this.#result.reset()
    this.ran.push(`${command.op}${'key' in command ? ' ' + Buffer.from(command.key).toString() : ''}`)
    if (command.op === 'get') {
      const value = this.items.get(Buffer.from(command.key).toString())
      if (value === undefined) result.status = StoreStatus.NOT_FOUND
      else { result.value = value; result.valueLength = value.length; result.cas = 1 }
    } else if (command.op === 'set') {
      this.items.set(Buffer.from(command.key).toString(), Buffer.from(command.value))
    } else if (command.op === 'invalidateTag') {
      result.count = 2
    }
    return result
  }

  stats = (): Array<[string, string]> => []
  scheduleFlush = (): void => {}
  dueFlush = (): null => null
  authenticate = (): number => 0
}

/** A router whose forwards the test settles one by one, in any order. */
class TestRouter implements ClusterRouter {
  readonly selfId = 'self'
  readonly forwarded: Array<{ node: NodeId, command: Command, consistency: ConsistencyMode, settle: (result: Result | Error) => void }> = []
  replicatedResult: Promise<void> | null = null
  replicatedCalls = 0
  ownerOf = (_tenantId: number, key: Uint8Array): NodeId | null => key[0] === 0x72 ? 'remote' : null
  peers = (): readonly NodeId[] => ['remote', 'other']
  forwardResp = async (): Promise<Buffer> => { throw new Error('unused') }
  forwardCommand = async (node: NodeId, command: Command, consistency: ConsistencyMode): Promise<Result> =>
    await new Promise<Result>((resolve, reject) => {
      this.forwarded.push({ node, command, consistency, settle: (outcome) => { if (outcome instanceof Error) reject(outcome); else resolve(outcome) } })
    })

  replicated = (): Promise<void> | null => { this.replicatedCalls++; return this.replicatedResult }
  defaultConsistency = (): ConsistencyMode => 'quorum'
  status = (): ClusterStatus => { throw new Error('unused') }
}

const LIMITS = { maxKeyBytes: 250, maxValueBytes: 1024 * 1024, maxRetrievalLineBytes: 64 * 1024 }
const hit = (value: string): Result => { const result = new Result(); result.value = Buffer.from(value); result.valueLength = value.length; result.flags = 4; result.cas = 9; return result }
const miss = (): Result => { const result = new Result(); result.status = StoreStatus.NOT_FOUND; return result }
const text = (session: MemcacheSession): string => session.output.take()?.toString('latin1') ?? ''
function setup (): { router: TestRouter, backend: LocalBackend, session: MemcacheSession } {
  const router = new TestRouter()
  const backend = new LocalBackend(router)
  return { router, backend, session: new MemcacheSession(backend, LIMITS) }
}

t.test('get - remote keys answered out of order still reply in key order; local keys read at once', async (t) => {
  const { router, backend, session } = setup()
  backend.items.set('l1', Buffer.from('local'))
  session.push(Buffer.from('get r1 l1 r2 r3\r\nversion\r\n'))
  t.equal(session.run(), SessionState.WAITING)
  t.same(router.forwarded.map((f) => [f.node, f.command.op, Buffer.from((f.command as { key: Uint8Array }).key).toString(), f.consistency]),
    [['remote', 'get', 'r1', 'quorum'], ['remote', 'get', 'r2', 'quorum'], ['remote', 'get', 'r3', 'quorum']], 'all remote keys at once, the tenant\'s consistency')
  router.forwarded[2]!.settle(hit('three'))
  router.forwarded[1]!.settle(miss())
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(session.run(), SessionState.WAITING, 'still waiting for r1')
  t.equal(text(session), '')
  router.forwarded[0]!.settle(hit('one'))
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  t.equal(text(session), 'VALUE r1 4 3\r\none\r\nVALUE l1 0 5\r\nlocal\r\nVALUE r3 4 5\r\nthree\r\nEND\r\nVERSION 1.6.0-test\r\n')
})

t.test('SETQ - a quiet forwarded write: its key and value survive new input; the GETK behind it answers after it', async (t) => {
  const { router, backend, session } = setup()
  const setq = Buffer.alloc(24 + 8 + 2 + 5)
  setq[0] = 0x80
  setq[1] = 0x11
  setq.writeUInt16BE(2, 2)
  setq[4] = 8
  setq.writeUInt32BE(8 + 2 + 5, 8)
  setq.write('r9', 32, 'latin1')
  setq.write('hello', 34, 'latin1')
  const getk = Buffer.alloc(24 + 2)
  getk[0] = 0x80
  getk[1] = 0x0c
  getk.writeUInt16BE(2, 2)
  getk.writeUInt32BE(2, 8)
  getk.write('l9', 24, 'latin1')
  session.push(Buffer.concat([setq, getk.subarray(0, 10)]))
  t.equal(session.run(), SessionState.WAITING)
  // More input while waiting (the TCP server may still be handed a chunk): it lands in the
  // session's buffer, possibly over the consumed SETQ bytes.
  session.push(getk.subarray(10))
  session.push(Buffer.alloc(0))
  t.same(backend.ran, [], 'the GETK was not complete')
  const forwarded = router.forwarded[0]!.command as Extract<Command, { op: 'set' }>
  t.same([Buffer.from(forwarded.key).toString(), Buffer.from(forwarded.value).toString()], ['r9', 'hello'])
  router.forwarded[0]!.settle(new Result())
  await session.pending
  t.equal(session.output.take(), null, 'a quiet success answers nothing')
  t.equal(session.run(), SessionState.IDLE)
  t.same(backend.ran, ['get l9'])
  const reply = session.output.take()!
  t.same([reply[1], reply.readUInt16BE(6)], [0x0c, 1], 'then the GETK answers (a miss)')
})

t.test('forward rejection - text SERVER_ERROR with the reason, binary BUSY; later requests run', async (t) => {
  const { router, session } = setup()
  session.push(Buffer.from('delete r1\r\nversion\r\n'))
  t.equal(session.run(), SessionState.WAITING)
  router.forwarded[0]!.settle(new SlabcacheError('PEER_TIMEOUT'))
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  t.equal(text(session), 'SERVER_ERROR the peer did not answer in time; the request may or may not have been applied\r\nVERSION 1.6.0-test\r\n')

  const binary = setup()
  const get = Buffer.alloc(26)
  get[0] = 0x80
  get.writeUInt16BE(2, 2)
  get.writeUInt32BE(2, 8)
  get.writeUInt32BE(77, 12)
  get.write('r1', 24, 'latin1')
  binary.session.push(get)
  t.equal(binary.session.run(), SessionState.WAITING)
  binary.router.forwarded[0]!.settle(new SlabcacheError('PEER_BUSY'))
  await binary.session.pending
  binary.session.run()
  const reply = binary.session.output.take()!
  t.same([reply.readUInt16BE(6), reply.readUInt32BE(12), reply.toString('latin1', 24)], [0x0085, 77, 'the link to the peer has too much queued; retry later'])
})

t.test('replicated - a local write is held until it resolves; without a wait nothing is held', async (t) => {
  const { router, backend, session } = setup()
  session.push(Buffer.from('set l1 0 0 1\r\na\r\nget l1\r\n'))
  t.equal(session.run(), SessionState.IDLE, 'replicated() null: answered at once')
  t.equal(text(session), 'STORED\r\nVALUE l1 0 1\r\na\r\nEND\r\n')
  t.equal(router.replicatedCalls, 1, 'asked once, after the write only')
  let release: () => void = () => {}
  router.replicatedResult = new Promise<void>((resolve) => { release = resolve })
  session.push(Buffer.from('set l2 0 0 1\r\nb\r\nget l2\r\n'))
  t.equal(session.run(), SessionState.WAITING)
  t.equal(text(session), '', 'STORED held, and the reply of the get behind it too')
  t.same(backend.ran.at(-1), 'get l2', 'the get behind it ran at once (local)')
  release()
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  t.equal(text(session), 'STORED\r\nVALUE l2 0 1\r\nb\r\nEND\r\n')
})

t.test('tag_invalidate and flush_all - fan out to every peer; counts add up; a failure is reported', async (t) => {
  const { router, session } = setup()
  session.push(Buffer.from('tag_invalidate news\r\n'))
  t.equal(session.run(), SessionState.WAITING)
  t.same(router.forwarded.map((f) => [f.node, f.command.op]), [['remote', 'invalidateTag'], ['other', 'invalidateTag']])
  const counted = (count: number): Result => { const result = new Result(); result.count = count; return result }
  router.forwarded[0]!.settle(counted(3))
  router.forwarded[1]!.settle(counted(4))
  await session.pending
  session.run()
  t.equal(text(session), '9\r\n', '2 here + 3 + 4')

  router.forwarded.length = 0
  session.push(Buffer.from('flush_all\r\n'))
  t.equal(session.run(), SessionState.WAITING)
  t.same(router.forwarded.map((f) => [f.node, f.command.op]), [['remote', 'flush'], ['other', 'flush']])
  router.forwarded[0]!.settle(new Result())
  router.forwarded[1]!.settle(new SlabcacheError('PEER_UNAVAILABLE'))
  await session.pending
  session.run()
  t.equal(text(session), 'SERVER_ERROR the node that owns the key cannot be reached; retry\r\n')
})

t.test('no router - a backend without one never routes', async (t) => {
  const router = new TestRouter()
  const backend = new LocalBackend(router)
  const session = new MemcacheSession({ ...backend, execute: backend.execute, stats: backend.stats, scheduleFlush: backend.scheduleFlush, dueFlush: backend.dueFlush, authenticate: backend.authenticate, clock: backend.clock, counters: backend.counters, version: backend.version, router: null }, LIMITS)
  session.push(Buffer.from('set r1 0 0 1\r\nx\r\nget r1\r\n'))
  t.equal(session.run(), SessionState.IDLE)
  t.equal(text(session), 'STORED\r\nVALUE r1 0 1\r\nx\r\nEND\r\n')
  t.same([router.forwarded.length, router.replicatedCalls], [0, 0])
})

const setReply = (outcome: StoreStatus): Result => { const result = new Result(); result.status = outcome; return result }
const counted = (counter: bigint): Result => { const result = new Result(); result.counter = counter; return result }

t.test('pipelined forwards - run at once, settle in any order, replies leave in request order; local requests run at once', async (t) => {
  const { router, backend, session } = setup()
  backend.items.set('l1', Buffer.from('loc'))
  session.push(Buffer.from('set r1 0 0 1\r\na\r\nget l1\r\ndelete r2\r\nset l2 0 0 1\r\nb\r\nincr r3 5\r\ndelete r4 noreply\r\n'))
  t.equal(session.run(), SessionState.WAITING)
  t.same(router.forwarded.map((f) => f.command.op), ['set', 'delete', 'incr', 'delete'], 'every forward is in flight at once')
  t.same(backend.ran, ['get l1', 'set l2'], 'the local requests ran without waiting for the forwards before them')
  t.equal(text(session), '', 'nothing leaves before the first reply')
  router.forwarded[3]!.settle(setReply(StoreStatus.OK))
  router.forwarded[2]!.settle(counted(7n))
  router.forwarded[1]!.settle(setReply(StoreStatus.NOT_FOUND))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(session.run(), SessionState.WAITING, 'still waiting for the head')
  t.equal(text(session), '')
  router.forwarded[0]!.settle(setReply(StoreStatus.OK))
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  t.equal(text(session), 'STORED\r\nVALUE l1 0 3\r\nloc\r\nEND\r\nNOT_FOUND\r\nSTORED\r\n7\r\n', 'request order; noreply adds nothing')
})

t.test('barriers - flush_all, verbosity and a forwarded store with a past exptime wait for the forwards in flight', async (t) => {
  const { router, session } = setup()
  session.push(Buffer.from('delete r1\r\nflush_all\r\nverbosity 1\r\nset r2 0 -1 1\r\nx\r\nversion\r\n'))
  t.equal(session.run(), SessionState.WAITING)
  t.same(router.forwarded.map((f) => f.command.op), ['delete'], 'flush_all has not fanned out yet')
  router.forwarded[0]!.settle(setReply(StoreStatus.OK))
  await session.pending
  t.equal(session.run(), SessionState.WAITING, 'now the flush runs, alone')
  t.same(router.forwarded.map((f) => [f.node, f.command.op]), [['remote', 'delete'], ['remote', 'flush'], ['other', 'flush']])
  router.forwarded[1]!.settle(new Result())
  router.forwarded[2]!.settle(new Result())
  await session.pending
  t.equal(session.run(), SessionState.WAITING, 'the set with a past exptime is two forwards: it runs alone')
  t.same(router.forwarded.slice(3).map((f) => f.command.op), ['set'])
  router.forwarded[3]!.settle(setReply(StoreStatus.OK))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(router.forwarded.slice(4).map((f) => f.command.op), ['delete'], 'its delete before anything behind it')
  router.forwarded[4]!.settle(setReply(StoreStatus.OK))
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  t.equal(text(session), 'DELETED\r\nOK\r\nOK\r\nSTORED\r\nVERSION 1.6.0-test\r\n')
})

t.test('in-flight bound - at MAX_IN_FLIGHT queued replies the session stops parsing until the head settles', async (t) => {
  const { router, session } = setup()
  const requests = Array.from({ length: MAX_IN_FLIGHT + 3 }, (_, i) => `delete r${i}\r\n`).join('')
  session.push(Buffer.from(requests))
  t.equal(session.run(), SessionState.WAITING)
  t.equal(router.forwarded.length, MAX_IN_FLIGHT)
  router.forwarded[1]!.settle(setReply(StoreStatus.OK))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(session.run(), SessionState.WAITING)
  t.equal(router.forwarded.length, MAX_IN_FLIGHT, 'a settled reply behind the head frees nothing')
  router.forwarded[0]!.settle(setReply(StoreStatus.OK))
  await session.pending
  t.equal(session.run(), SessionState.WAITING)
  t.equal(router.forwarded.length, MAX_IN_FLIGHT + 2, 'two replies left: two more requests start')
  t.equal(text(session), 'DELETED\r\nDELETED\r\n')
  for (const forward of router.forwarded.slice(2)) forward.settle(setReply(StoreStatus.NOT_FOUND))
  await session.pending
  t.equal(session.run(), SessionState.WAITING)
  t.equal(router.forwarded.length, MAX_IN_FLIGHT + 3)
  router.forwarded.at(-1)!.settle(setReply(StoreStatus.NOT_FOUND))
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  t.equal(text(session), 'NOT_FOUND\r\n'.repeat(MAX_IN_FLIGHT + 1))
})

t.test('binary - quiet forwards pipeline; a NOOP waits for them and answers last; a failed quiet one still answers', async (t) => {
  const { router, session } = setup()
  // DELETEQ (0x14) and NOOP (0x0a) carry no extras: the body is the key.
  const frame = (opcode: number, key: string, opaque: number): Buffer => {
    const buf = Buffer.alloc(24 + key.length)
    buf[0] = 0x80
    buf[1] = opcode
    buf.writeUInt16BE(key.length, 2)
    buf.writeUInt32BE(key.length, 8)
    buf.writeUInt32BE(opaque, 12)
    buf.write(key, 24, 'latin1')
    return buf
  }
  session.push(Buffer.concat([frame(0x14, 'r1', 1), frame(0x14, 'r2', 2), frame(0x0a, '', 3)]))
  t.equal(session.run(), SessionState.WAITING)
  t.equal(router.forwarded.length, 2, 'both DELETEQs in flight')
  router.forwarded[1]!.settle(new SlabcacheError('PEER_BUSY'))
  router.forwarded[0]!.settle(setReply(StoreStatus.OK))
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  const reply = session.output.take()!
  const headers: Array<[number, number, number]> = []
  for (let at = 0; at < reply.length; at += 24 + reply.readUInt32BE(at + 8)) headers.push([reply[at + 1]!, reply.readUInt16BE(at + 6), reply.readUInt32BE(at + 12)])
  t.same(headers, [[0x14, 0x0085, 2], [0x0a, 0, 3]], 'the failure (BUSY) for opaque 2, then NOOP')
})
