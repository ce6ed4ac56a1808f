import t from 'tap'
import { connect } from 'node:net'
import { startTestServer } from '../fixtures/server.js'

/** Sends `request` on a fresh connection and resolves with the first `length` bytes of the answer. */
async function exchange (port: number, request: string | Buffer, length: number): Promise<Buffer> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  const chunks: Buffer[] = []
  let received = 0
  return await new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      received += chunk.length
      if (received >= length) { socket.destroy(); resolve(Buffer.concat(chunks).subarray(0, length)) }
    })
    socket.once('close', () => { if (received < length) reject(new Error(`closed after ${received} of ${length} bytes`)) })
    socket.write(request)
  })
}

const command = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`

t.test('counters - INCR/DECR/INCRBY replies across ±2^53 and up to ±2^63 (the number fast path and the BigInt path)', async (t) => {
  const server = await startTestServer(t)
  const steps: Array<[string[], string]> = [
    [['SET', 'c', '9007199254740990'], '+OK'],
    [['INCR', 'c'], ':9007199254740991'],
    [['INCR', 'c'], ':9007199254740992'],
    [['INCRBY', 'c', '1'], ':9007199254740993'],
    [['DECRBY', 'c', '3'], ':9007199254740990'],
    [['SET', 'n', '-9007199254740990'], '+OK'],
    [['DECR', 'n'], ':-9007199254740991'],
    [['DECR', 'n'], ':-9007199254740992'],
    [['INCRBY', 'n', '-1'], ':-9007199254740993'],
    [['SET', 'max', '9223372036854775806'], '+OK'],
    [['INCR', 'max'], ':9223372036854775807'],
    [['INCR', 'max'], '-ERR increment or decrement would overflow'],
    [['SET', 'min', '-9223372036854775807'], '+OK'],
    [['DECR', 'min'], ':-9223372036854775808'],
    [['DECR', 'min'], '-ERR increment or decrement would overflow'],
    [['INCRBY', 'z', '-5'], ':-5'],
    [['INCR', 'z'], ':-4'],
    [['INCRBY', 'z', '4'], ':0'],
    [['INCR', 'z'], ':1']
  ]
  const expected = steps.map(([, reply]) => `${reply}\r\n`).join('')
  const answer = await exchange(server.respPort, steps.map(([args]) => command(...args)).join(''), Buffer.byteLength(expected))
  t.equal(answer.toString('latin1'), expected)
})

t.test('replies - a pipelined batch far larger than the socket takes at once arrives intact, and later batches after it', async (t) => {
  const server = await startTestServer(t, { limits: { maxValueBytes: 4 * 1024 * 1024, maxRequestBytes: 4 * 1024 * 1024 } })
  const big = Buffer.alloc(3 * 1024 * 1024)
  for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff
  const setBig = Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${big.length}\r\n`), big, Buffer.from('\r\n')])
  const gets = 6
  const smalls = 50
  const request = Buffer.concat([setBig, Buffer.from(command('GET', 'big').repeat(gets) + command('SET', 's', 'v').repeat(smalls) + command('GET', 's'))])
  const bulk = Buffer.concat([Buffer.from(`$${big.length}\r\n`), big, Buffer.from('\r\n')])
  const expected = Buffer.concat([Buffer.from('+OK\r\n'), ...Array.from({ length: gets }, () => bulk), Buffer.from('+OK\r\n'.repeat(smalls) + '$1\r\nv\r\n')])
  const answer = await exchange(server.respPort, request, expected.length)
  t.ok(answer.equals(expected), `${expected.length} bytes identical`)
})
