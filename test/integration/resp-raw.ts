import t, { type Test } from 'tap'
import { connect, type Socket } from 'node:net'
import { startTestServer } from '../fixtures/server.js'

/** A raw RESP conversation over a real socket: send bytes, expect exact bytes back. */
class Raw {
  readonly socket: Socket
  #received = Buffer.alloc(0)
  #waiters: Array<() => void> = []
  closed: Promise<void>

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk])
      this.#wake()
    })
    this.closed = new Promise((resolve) => socket.once('close', () => { this.#wake(); resolve() }))
    socket.on('error', () => {})
  }

  static async open (t: Test, port: number): Promise<Raw> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    t.teardown(() => { socket.destroy() })
    return new Raw(socket)
  }

  send (bytes: string | Buffer): void { this.socket.write(bytes) }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  /** Resolves with exactly `length` bytes (or fewer if the connection closed first). */
  async read (length: number): Promise<Buffer> {
    while (this.#received.length < length && !this.socket.destroyed) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
    const bytes = this.#received.subarray(0, length)
    this.#received = this.#received.subarray(bytes.length)
    return bytes
  }

  async expect (t: Test, text: string, message?: string): Promise<void> {
    const got = await this.read(Buffer.byteLength(text, 'latin1'))
    t.equal(got.toString('latin1'), text, message)
  }

  /** Reads one bulk-string reply and returns its text. */
  async readBulk (): Promise<string> {
    let header = ''
    while (!header.endsWith('\r\n')) {
      const byte = await this.read(1)
      if (byte.length === 0) throw new Error('connection closed in a bulk header')
      header += byte.toString('latin1')
    }
    const length = Number(/^\$(-?\d+)\r\n$/.exec(header)![1])
    return (await this.read(length + 2)).toString('latin1', 0, length)
  }

  get pending (): number { return this.#received.length }
}

function command (...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

t.test('PING - inline and multibulk forms both get +PONG', async (t) => {
  const server = await startTestServer(t)
  const raw = await Raw.open(t, server.respPort)
  raw.send('PING\r\n')
  await raw.expect(t, '+PONG\r\n')
  raw.send(command('PING'))
  await raw.expect(t, '+PONG\r\n')
  raw.send('PING "hello world"\n')
  await raw.expect(t, '$11\r\nhello world\r\n')
})

t.test('errors - a command error keeps the connection usable', async (t) => {
  const server = await startTestServer(t)
  const raw = await Raw.open(t, server.respPort)
  raw.send('FOO a b\r\nGET\r\nSET k v EX 0\r\nINCR\r\nPING\r\n')
  await raw.expect(t, "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n")
  await raw.expect(t, "-ERR wrong number of arguments for 'get' command\r\n")
  await raw.expect(t, "-ERR invalid expire time in 'set' command\r\n")
  await raw.expect(t, "-ERR wrong number of arguments for 'incr' command\r\n")
  await raw.expect(t, '+PONG\r\n')
})

t.test('protocol error - replies to what came before, then the error, then closes', async (t) => {
  const server = await startTestServer(t)
  const raw = await Raw.open(t, server.respPort)
  raw.send('PING\r\n*x\r\nPING\r\n')
  await raw.expect(t, '+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n')
  await raw.closed
  t.equal(raw.pending, 0, 'nothing after the error')
  const other = await Raw.open(t, server.respPort)
  other.send('SET "unbalanced\r\n')
  await other.expect(t, '-ERR Protocol error: unbalanced quotes in request\r\n')
  await other.closed
})

t.test('protocol error - a bulk longer than max-request-bytes is refused from its header, before the body is sent', async (t) => {
  const server = await startTestServer(t, { limits: { maxValueBytes: 1024, maxRequestBytes: 2048 } })
  const raw = await Raw.open(t, server.respPort)
  raw.send('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2049\r\n')
  await raw.expect(t, '-ERR Protocol error: invalid bulk length\r\n')
  await raw.closed
  const again = await Raw.open(t, server.respPort)
  again.send(command('SET', 'k', Buffer.alloc(1025, 0x61)))
  again.send(command('SET', 'k', Buffer.alloc(1024, 0x61)))
  again.send(command('STRLEN', 'k'))
  await again.expect(t, '-ERR string exceeds maximum allowed size\r\n+OK\r\n:1024\r\n', 'a value over the limit is a command error; the connection stays')
})

t.test('QUIT - replies +OK then closes; later pipelined commands are not run', async (t) => {
  const server = await startTestServer(t)
  const raw = await Raw.open(t, server.respPort)
  raw.send('SET a 1\r\nQUIT\r\nSET a 2\r\n')
  await raw.expect(t, '+OK\r\n+OK\r\n')
  await raw.closed
  const check = await Raw.open(t, server.respPort)
  check.send('GET a\r\n')
  await check.expect(t, '$1\r\n1\r\n')
})

t.test('half-close - a client that sends then shuts its side gets every reply', async (t) => {
  const server = await startTestServer(t)
  const raw = await Raw.open(t, server.respPort)
  raw.socket.end('SET x y\r\nGET x\r\n')
  await raw.expect(t, '+OK\r\n$1\r\ny\r\n')
  await raw.closed
})

t.test('pipelining - FLUSHALL (a Promise in the engine) holds later replies and commands in order', async (t) => {
  const server = await startTestServer(t)
  const raw = await Raw.open(t, server.respPort)
  raw.send(Buffer.concat([
    command('SET', 'a', '1'), command('FLUSHALL'), command('SET', 'b', '2'), command('GET', 'a'),
    command('GET', 'b'), command('DBSIZE'), command('FLUSHDB', 'ASYNC'), command('DBSIZE')
  ]))
  await raw.expect(t, '+OK\r\n+OK\r\n+OK\r\n$-1\r\n$1\r\n2\r\n:1\r\n+OK\r\n:0\r\n')
})

t.test('pipelining - commands split across many small writes are answered once each, in order', async (t) => {
  const server = await startTestServer(t)
  const raw = await Raw.open(t, server.respPort)
  raw.socket.setNoDelay(true)
  const frames = Buffer.concat(Array.from({ length: 50 }, (_, i) => command('ECHO', `m${i}`)))
  for (let at = 0; at < frames.length; at += 3) raw.send(frames.subarray(at, at + 3))
  let expected = ''
  for (let i = 0; i < 50; i++) expected += `$${`m${i}`.length}\r\nm${i}\r\n`
  await raw.expect(t, expected)
})

t.test('binary - a 1 MiB value with CRLF and NUL bytes round-trips exactly', async (t) => {
  const server = await startTestServer(t)
  const raw = await Raw.open(t, server.respPort)
  const value = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < value.length; i++) value[i] = i % 3 === 0 ? 0x0d : i % 3 === 1 ? 0x0a : 0
  const frame = command('SET', 'bin', value)
  for (let at = 0; at < frame.length; at += 65_536) raw.send(frame.subarray(at, at + 65_536))
  await raw.expect(t, '+OK\r\n')
  raw.send(command('GET', 'bin'))
  await raw.expect(t, `$${value.length}\r\n`)
  t.ok((await raw.read(value.length)).equals(value))
  await raw.expect(t, '\r\n')
})

t.test('backpressure - a client that stops reading stops the server from running its commands', async (t) => {
  const server = await startTestServer(t)
  const size = 4 * 1024 * 1024
  const setup = await Raw.open(t, server.respPort)
  setup.send(command('SET', 'big', Buffer.alloc(size, 0x78)))
  await setup.expect(t, '+OK\r\n')
  const raw = await Raw.open(t, server.respPort)
  raw.socket.pause()
  const count = 32
  raw.send(Buffer.concat(Array.from({ length: count }, () => command('GET', 'big'))))
  // Poll until the server has done all it can: its unsent output passes the bound and it stops.
  let polls = 0
  const processed = async (): Promise<number> => {
    polls++
    setup.send('INFO stats\r\n')
    return Number(/total_commands_processed:(\d+)/.exec(await setup.readBulk())![1])
  }
  let before = -1
  let now = await processed()
  for (let i = 0; i < 50 && now !== before; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    before = now
    now = await processed()
  }
  // The loopback socket buffers here hold up to ~40 MiB (tcp_rmem + tcp_wmem); beyond that the
  // server holds at most OUTPUT_LIMIT_BYTES plus one reply, then stops running commands.
  const gets = now - 1 - polls
  t.ok(gets < count * 3 / 4, `the server ran ${gets} of ${count} GETs of ${size} bytes while the client was not reading`)
  raw.socket.resume()
  const reply = `$${size}\r\n`
  for (let i = 0; i < count; i++) {
    const header = await raw.read(reply.length)
    if (!t.equal(header.toString(), reply, `reply ${i}`)) break
    const body = await raw.read(size + 2)
    if (body.length !== size + 2 || body[size - 1] !== 0x78) { t.fail(`reply ${i} body`); break }
  }
})

t.test('a client that disconnects mid-reply does not disturb the server', async (t) => {
  const server = await startTestServer(t)
  const setup = await Raw.open(t, server.respPort)
  setup.send(command('SET', 'big', Buffer.alloc(2 * 1024 * 1024, 0x79)))
  await setup.expect(t, '+OK\r\n')
  const raw = await Raw.open(t, server.respPort)
  raw.send(Buffer.concat(Array.from({ length: 20 }, () => command('GET', 'big'))))
  await raw.read(1000)
  raw.socket.destroy()
  setup.send('PING\r\n')
  await setup.expect(t, '+PONG\r\n')
  const fresh = await Raw.open(t, server.respPort)
  fresh.send('DBSIZE\r\n')
  await fresh.expect(t, ':1\r\n')
})

t.test('max clients - a connection over limits.maxConnections gets the Redis error and is closed', async (t) => {
  const server = await startTestServer(t, { limits: { maxConnections: 2 } })
  const first = await Raw.open(t, server.respPort)
  const second = await Raw.open(t, server.respPort)
  first.send('PING\r\n')
  second.send('PING\r\n')
  await first.expect(t, '+PONG\r\n')
  await second.expect(t, '+PONG\r\n')
  const third = await Raw.open(t, server.respPort)
  third.send('PING\r\n')
  await third.expect(t, '-ERR max number of clients reached\r\n')
  await third.closed
  // A slot freed is a slot reusable: once the server has seen the close, a new client gets in.
  first.socket.destroy()
  await first.closed
  let admitted = false
  for (let attempt = 0; attempt < 100 && !admitted; attempt++) {
    const next = await Raw.open(t, server.respPort)
    next.send('PING\r\n')
    const reply = (await next.read(7)).toString()
    admitted = reply === '+PONG\r\n'
    if (!admitted) await new Promise((resolve) => setTimeout(resolve, 2))
  }
  t.ok(admitted, 'a new client is admitted after one left')
  second.send('INFO clients\r\n')
  const info = await second.readBulk()
  t.match(info, /connected_clients:2\r\n/)
  t.match(info, /maxclients:2\r\n/)
})
