import t from 'tap'
import { Result, type Command } from '../../src/command/command.js'
import { SetMode, StoreStatus } from '../../src/core/store-status.js'
import { MemcacheCounters, MemcacheSession, OUTPUT_HIGH_WATER_BYTES, SessionState, type MemcacheBackend } from '../../src/protocol/memcache-session.js'
import { ManualClock } from '../../src/util/clock.js'

/** An in-memory backend: inline commands answer synchronously, flush waits for the test. */
class FakeBackend implements MemcacheBackend {
  readonly items = new Map<string, { value: Buffer, flags: number, cas: number }>()
  readonly clock = new ManualClock()
  readonly counters = new MemcacheCounters()
  readonly version = '1.6.0-test'
  readonly flushes: Array<() => void> = []
  readonly #result = new Result()
  #cas = 0

  execute = (command: Command): Result | Promise<Result> => {
    const result = this.#result.reset()
    switch (command.op) {
      case 'get': {
        const item = this.items.get(Buffer.from(command.key).toString('latin1'))
        if (item === undefined) { result.status = StoreStatus.NOT_FOUND; return result }
        result.value = item.value
        result.valueLength = item.value.length
        result.flags = item.flags
        result.cas = item.cas
        return result
      }
      case 'set': {
        const key = Buffer.from(command.key).toString('latin1')
        const present = this.items.has(key)
        if ((command.mode === SetMode.ADD && present) || (command.mode === SetMode.REPLACE && !present)) { result.status = StoreStatus.NOT_STORED; return result }
        this.items.set(key, { value: Buffer.from(command.value), flags: command.flags, cas: ++this.#cas })
        result.cas = this.#cas
        return result
      }
      case 'delete':
        result.status = this.items.delete(Buffer.from(command.key).toString('latin1')) ? StoreStatus.OK : StoreStatus.NOT_FOUND
        return result
      case 'flush':
        return new Promise((resolve) => {
          this.flushes.push(() => {
            this.items.clear()
            resolve(new Result())
          })
        })
      default:
        throw new Error(`unexpected ${command.op}`)
    }
  }

  stats = (): Array<[string, string]> => [['pid', '1']]
  scheduleFlush = (): void => {}
  dueFlush = (): null => null
  authenticate = (): number => 0
}

const LIMITS = { maxKeyBytes: 250, maxValueBytes: 1024 * 1024, maxRetrievalLineBytes: 64 * 1024 }
const text = (session: MemcacheSession): string => session.output.take()?.toString('latin1') ?? ''

t.test('flush_all - later requests wait for the flush to finish; replies stay in order', async (t) => {
  const backend = new FakeBackend()
  const session = new MemcacheSession(backend, LIMITS)
  session.push(Buffer.from('set a 0 0 1\r\n1\r\nflush_all\r\nset b 0 0 1\r\n2\r\nget a b\r\n'))
  t.equal(session.run(), SessionState.WAITING, 'the flush is pending')
  t.equal(text(session), 'STORED\r\n', 'only the reply before the flush')
  t.equal(session.run(), SessionState.WAITING, 'nothing runs while it is pending')
  t.notOk(backend.items.has('b'), 'the set after the flush has not run')
  backend.flushes[0]!()
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  t.equal(text(session), 'OK\r\nSTORED\r\nVALUE b 0 1\r\n2\r\nEND\r\n', 'b was stored after the flush and survived it')
})

t.test('FLUSHQ - a binary quiet flush still holds back later requests, and answers nothing', async (t) => {
  const backend = new FakeBackend()
  const session = new MemcacheSession(backend, LIMITS)
  const flushq = Buffer.alloc(24)
  flushq[0] = 0x80
  flushq[1] = 0x18
  const noop = Buffer.from(flushq)
  noop[1] = 0x0a
  session.push(Buffer.concat([flushq, noop]))
  t.equal(session.run(), SessionState.WAITING)
  t.equal(session.output.take(), null)
  backend.flushes[0]!()
  await session.pending
  t.equal(session.run(), SessionState.IDLE)
  const reply = session.output.take()!
  t.same([reply.length, reply[1]], [24, 0x0a], 'only the NOOP answers')
})

t.test('a multi-key get larger than the output bound yields mid-command and resumes with the same keys', async (t) => {
  const backend = new FakeBackend()
  const session = new MemcacheSession(backend, LIMITS)
  const value = Buffer.alloc(100 * 1024, 0x76)
  for (const key of ['k1', 'k2', 'k3']) backend.items.set(key, { value, flags: 1, cas: 1 })
  const keys = Array.from({ length: 30 }, (_, i) => `k${(i % 3) + 1}`)
  session.push(Buffer.from(`get ${keys.join(' ')}\r\nversion\r\n`))
  let received = Buffer.alloc(0)
  let yields = 0
  for (;;) {
    const state = session.run()
    received = Buffer.concat([received, session.output.take() ?? Buffer.alloc(0)])
    if (state === SessionState.IDLE) break
    t.equal(state, SessionState.BLOCKED)
    yields++
    // New input arriving meanwhile must not disturb the keys of the get in progress.
    if (yields === 1) session.push(Buffer.from('x'.repeat(100)))
  }
  t.ok(yields >= Math.floor((30 * value.length) / OUTPUT_HIGH_WATER_BYTES) - 1, `yielded ${yields} times`)
  let at = 0
  for (const key of keys) {
    const line = `VALUE ${key} 1 ${value.length}\r\n`
    if (received.toString('latin1', at, at + line.length) !== line) { t.fail(`VALUE line for ${key} at ${at}`); break }
    at += line.length
    if (!received.subarray(at, at + value.length).equals(value)) { t.fail(`value of ${key}`); break }
    at += value.length + 2
  }
  t.equal(received.toString('latin1', at), 'END\r\nVERSION 1.6.0-test\r\n', 'then END, then the next command')
})

t.test('input is bounded: an idle session holds no buffer; a large value is copied into one buffer of its size', async (t) => {
  const backend = new FakeBackend()
  const session = new MemcacheSession(backend, LIMITS)
  const value = Buffer.alloc(500_000, 0x61)
  const request = Buffer.concat([Buffer.from(`set big 0 0 ${value.length}\r\n`), value, Buffer.from('\r\n')])
  for (let at = 0; at < request.length; at += 65536) {
    session.push(request.subarray(at, at + 65536))
    session.run()
    t.ok(session.bufferedBytes <= request.length, `buffered ${session.bufferedBytes}`)
  }
  t.equal(text(session), 'STORED\r\n')
  t.equal(session.bufferedBytes, 0)
  t.ok(backend.items.get('big')!.value.equals(value))
})

t.test('retain - pending input is copied out of a chunk the transport will reuse', async (t) => {
  const backend = new FakeBackend()
  const session = new MemcacheSession(backend, LIMITS)
  const frame = Buffer.alloc(24 + 8 + 3 + 5)
  frame[0] = 0x80
  frame[1] = 0x01 // SET
  frame.writeUInt16BE(3, 2)
  frame[4] = 8
  frame.writeUInt32BE(16, 8)
  frame.write('keyvalue', 32, 'latin1')
  const chunk = Buffer.from(frame.subarray(0, 30))
  session.push(chunk)
  t.equal(session.run(), SessionState.IDLE, 'a partial frame waits')
  session.retain()
  chunk.fill(0xee) // the transport reuses (or detaches) its chunk
  session.push(frame.subarray(30))
  t.equal(session.run(), SessionState.IDLE)
  t.equal(session.output.take()?.readUInt16BE(6), 0, 'the SET succeeded from the retained bytes')
  t.equal(backend.items.get('key')?.value.toString(), 'value')
  session.retain()
  t.equal(session.bufferedBytes, 0, 'nothing pending: retain copies nothing')
})
