import t from 'tap'
import { Result, type Command } from '../../src/command/command.js'
import { ERROR_CATALOG, SlabcacheError, type ErrorCode } from '../../src/errors.js'
import { RespCommands } from '../../src/protocol/resp-commands.js'
import { RespCounters, RespSession, type RespHost } from '../../src/protocol/resp-context.js'
import { RESP_ERROR_TABLE, respErrorFor } from '../../src/protocol/resp-errors.js'
import { incrByFloat } from '../../src/protocol/resp-float.js'
import { globMatch } from '../../src/protocol/resp-glob.js'
import { RespWriter } from '../../src/protocol/resp-writer.js'

/** A host whose engine is `execute`; the rest is fixed. */
function host (execute: (command: Command) => Result | Promise<Result>, authRequired = false): RespHost {
  return {
    execute,
    nowMs: () => 1_700_000_000_000,
    settings: { maxKeyBytes: 4096, maxValueBytes: 1024, maxRequestBytes: 2048, maxConnections: 10, memoryBytes: 1 << 24, bindHost: '127.0.0.1' },
    counters: new RespCounters(),
    processInfo: () => ({ version: '0.0.0', processId: 1, os: 'test', archBits: 64, runId: 'x', tcpPort: 0, rssBytes: 0, executable: 'test' }),
    authRequired
  }
}

function run (commands: RespCommands, session: RespSession, ...args: string[]): string {
  void commands.execute(session, args.map((arg) => Buffer.from(arg)), args.length)
  return session.out.take().toString('latin1')
}

t.test('NOAUTH - with auth required, only AUTH, HELLO and QUIT run before authenticating', async (t) => {
  const commands = new RespCommands(host(() => { throw new Error('the engine must not be reached') }, true))
  const session = new RespSession(1, new RespWriter(), 0)
  t.equal(run(commands, session, 'GET', 'k'), '-NOAUTH Authentication required.\r\n')
  t.equal(run(commands, session, 'PING'), '-NOAUTH Authentication required.\r\n')
  t.equal(run(commands, session, 'AUTH', 'default', 'pw'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n')
  t.equal(run(commands, session, 'QUIT'), '+OK\r\n')
  t.equal(session.closeAfterReply, true)
})

t.test('errors - a handler that throws answers INTERNAL and drops its partial reply', async (t) => {
  const commands = new RespCommands(host(() => { throw new Error('boom') }))
  const session = new RespSession(1, new RespWriter(), 0)
  t.equal(run(commands, session, 'MGET', 'a', 'b'), '-ERR INTERNAL boom\r\n')
  t.equal(run(commands, session, 'PING'), '+PONG\r\n', 'the next command runs normally')
})

t.test('errors - a FLUSHALL whose engine promise rejects still answers, with the catalog code', async (t) => {
  const commands = new RespCommands(host((command) => command.op === 'flush' ? Promise.reject(new Error('ring gone')) : new Result()))
  const session = new RespSession(1, new RespWriter(), 0)
  const pending = commands.execute(session, [Buffer.from('FLUSHALL')], 1)
  t.ok(pending instanceof Promise)
  await pending
  t.equal(session.out.take().toString(), '-ERR INTERNAL ring gone\r\n')
})

t.test('SAVE/BGSAVE/LASTSAVE/SNAPSHOT/RESTORE - a host without snapshots answers so; a failed save answers its catalog code', async (t) => {
  const bare = new RespCommands(host(() => new Result()))
  const session = new RespSession(1, new RespWriter(), 0)
  for (const name of ['SAVE', 'BGSAVE', 'LASTSAVE', 'SNAPSHOT', 'RESTORE']) {
    t.equal(run(bare, session, name), '-ERR snapshots are not available on this server\r\n', name)
  }
  const failing = new RespCommands({
    ...host(() => new Result()),
    snapshots: {
      saving: false,
      lastSaveMs: 1_700_000_000_999,
      save: async () => await Promise.reject(new SlabcacheError('SNAPSHOT_IO', 'snapshot /data/dump.slab could not be written: ENOSPC')),
      saveInBackground: () => true,
      restore: async () => await Promise.reject(new Error('job thread died'))
    }
  })
  t.equal(run(failing, session, 'LASTSAVE'), ':1700000000\r\n', 'unix seconds, rounded down')
  for (const [name, reply] of [
    ['SAVE', '-ERR SNAPSHOT_IO snapshot /data/dump.slab could not be written: ENOSPC\r\n'],
    ['SNAPSHOT', '-ERR SNAPSHOT_IO snapshot /data/dump.slab could not be written: ENOSPC\r\n'],
    ['RESTORE', '-ERR INTERNAL job thread died\r\n']
  ] as const) {
    const pending = failing.execute(session, [Buffer.from(name)], 1)
    t.ok(pending instanceof Promise, `${name} replies when the manager settles`)
    await pending
    t.equal(session.out.take().toString('latin1'), reply, name)
  }
})

t.test('errors - every catalog code has one single-line RESP reply with a Redis error prefix', async (t) => {
  const codes = Object.keys(ERROR_CATALOG) as ErrorCode[]
  t.same(Object.keys(RESP_ERROR_TABLE).sort(), [...codes].sort())
  for (const code of codes) {
    const line = respErrorFor(code)
    t.match(line, /^(ERR|BUSY|OOM|NOAUTH|NOPERM|TRYAGAIN|TIMEOUT|NOREPL) [^\r\n]+$/, code)
    if (RESP_ERROR_TABLE[code].text === null) t.ok(line.includes(code), `${code} names itself`)
  }
  t.equal(respErrorFor('OUT_OF_MEMORY'), "OOM command not allowed when used memory > 'maxmemory'.")
  t.equal(respErrorFor('VALUE_TOO_LARGE'), 'ERR string exceeds maximum allowed size')
  t.equal(respErrorFor('SHARD_UNAVAILABLE', 'shard 1 is restarting'), 'BUSY SHARD_UNAVAILABLE shard 1 is restarting')
})

t.test('unknown command - Redis quotes at most ~128 characters of arguments', async (t) => {
  const commands = new RespCommands(host(() => new Result()))
  const session = new RespSession(1, new RespWriter(), 0)
  const reply = run(commands, session, 'NOPE', 'a'.repeat(100), 'b'.repeat(100), 'c')
  t.equal(reply, `-ERR unknown command 'NOPE', with args beginning with: '${'a'.repeat(100)}' '${'b'.repeat(25)}' \r\n`, 'as Redis 7 cuts them')
  t.equal(run(commands, session, 'NO\r\nPE'), "-ERR unknown command 'NO  PE', with args beginning with: \r\n", 'CR and LF become spaces')
})

t.test('glob - Redis stringmatchlen semantics', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['*', '', true], ['*', 'anything', true], ['a*', 'abc', true], ['a*', 'ba', false],
    ['h?llo', 'hello', true], ['h?llo', 'hllo', false], ['h*llo', 'heeeello', true],
    ['h[ae]llo', 'hallo', true], ['h[ae]llo', 'hillo', false], ['h[^e]llo', 'hallo', true], ['h[^e]llo', 'hello', false],
    ['h[a-b]llo', 'hbllo', true], ['h[b-a]llo', 'hallo', true], ['h[a-b]llo', 'hcllo', false],
    ['h\\*llo', 'h*llo', true], ['h\\*llo', 'hello', false], ['[\\]]', ']', true],
    ['a*b*c', 'aXbYc', true], ['a*b*c', 'aXbY', false], ['*a*a*a*a*a*a*a*a*b', 'a'.repeat(60), false],
    ['[abc', 'a', true], ['ab[', 'ab', false]
  ]
  for (const [pattern, subject, expected] of cases) {
    t.equal(globMatch(Buffer.from(pattern), Buffer.from(subject)), expected, `'${pattern}' vs '${subject}'`)
  }
  t.equal(globMatch(Buffer.from('MAXMEM*'), Buffer.from('maxmemory'), true), true, 'noCase')
  t.equal(globMatch(Buffer.from('MAXMEM*'), Buffer.from('maxmemory')), false)
})

t.test('INCRBYFLOAT - Redis formatting: 17 decimals, trailing zeros removed, no binary noise', async (t) => {
  const cases: Array<[string | null, string, string]> = [
    ['10.50', '0.1', '10.6'], ['10.6', '-5', '5.6'], ['5.0e3', '2.0e2', '5200'], [null, '0.1', '0.1'],
    ['0.1', '0.2', '0.3'], ['1', '-1', '0'], ['0', '-0.5', '-0.5'], ['3', '1e-20', '3'],
    ['0', '1.000000000000000005', '1.00000000000000001'], ['+1', '.5', '1.5'], ['1.', '1', '2'],
    ['9007199254740993', '0', '9007199254740993']
  ]
  for (const [current, increment, expected] of cases) t.same(incrByFloat(current, increment), { ok: true, text: expected }, `${current} + ${increment}`)
  for (const [current, increment] of [['abc', '1'], ['1', 'abc'], ['1', ''], [' 1', '1'], ['1', '0x10'], ['1', 'nan']]) {
    t.same(incrByFloat(current, increment!), { ok: false, reason: 'NOT_FLOAT' }, `${current} + ${increment}`)
  }
  t.same(incrByFloat('1', 'inf'), { ok: false, reason: 'NAN_OR_INFINITY' })
  t.same(incrByFloat('1e308', '1e308'), { ok: false, reason: 'NAN_OR_INFINITY' })
})

t.test('writer - RESP2 encodings; take() empties the writer', async (t) => {
  const out = new RespWriter(8)
  out.simple('OK')
  out.error('ERR bad\r\nthing')
  out.integer(0)
  out.integer(-42n)
  out.bulk(Buffer.from('a\r\nb'))
  out.bulk(Buffer.alloc(0))
  out.bulkString('é')
  out.nullBulk()
  out.array(2)
  out.nullArray()
  out.array(0)
  t.equal(out.take().toString('utf8'), '+OK\r\n-ERR bad  thing\r\n:0\r\n:-42\r\n$4\r\na\r\nb\r\n$0\r\n\r\n$2\r\né\r\n$-1\r\n*2\r\n*-1\r\n*0\r\n')
  t.equal(out.length, 0)
  const mark = out.mark()
  out.simple('dropped')
  out.rewind(mark)
  out.bulk(Buffer.alloc(100_000, 1))
  const large = out.take()
  t.equal(large.length, '$100000\r\n'.length + 100_000 + 2)
  out.simple('after')
  t.equal(out.take().toString(), '+after\r\n')
  t.equal(large[10], 1, 'a large batch handed over is not overwritten by later replies')
})

t.test('dispatch - the last command is tried first; names that differ from it in case, length or a byte go to the table', async (t) => {
  const commands = new RespCommands(host(() => new Result()))
  const session = new RespSession(1, new RespWriter(), 0)
  t.equal(run(commands, session, 'PING'), '+PONG\r\n')
  t.equal(run(commands, session, 'ping'), '+PONG\r\n', 'the same command in another case')
  t.equal(run(commands, session, 'PINGS'), "-ERR unknown command 'PINGS', with args beginning with: \r\n", 'longer than the last')
  t.equal(run(commands, session, 'PINH'), "-ERR unknown command 'PINH', with args beginning with: \r\n", 'same length, one byte off')
  t.equal(run(commands, session, 'PiNg', 'hello'), '$5\r\nhello\r\n', 'still PING after the misses')
  t.equal(run(commands, session, 'ECHO', 'x'), '$1\r\nx\r\n', 'another command')
  t.equal(run(commands, session, 'ECHO'), "-ERR wrong number of arguments for 'echo' command\r\n", 'arity still checked on the repeat')
  t.equal(run(commands, session, 'PING'), '+PONG\r\n', 'and back')
})
