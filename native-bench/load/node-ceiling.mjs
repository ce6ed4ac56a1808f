// The node:net ceiling for native-bench/load/bench.mjs: the least work a Node.js RESP or
// memcached-binary server can do — frame every request properly, answer it with fixed bytes of
// the right shape (RESP: SET → +OK, GET → a 100-byte bulk, PING → +PONG, CONFIG → empty array,
// anything else → +OK; memcached binary: GET/GETK → a hit with 4 flag bytes and a 100-byte value,
// every other opcode → an empty success), one socket write per read — and store nothing. It is to
// the RESP and memcached cases what uws-hello.mjs is to the HTTP case: what Node's own socket
// path costs on this machine, so a ratio against it separates slabcache's work from the
// platform's. Usage: node node-ceiling.mjs resp|mcbin <port>. Prints "listening <port>".
import net from 'node:net'

const proto = process.argv[2]
const port = Number(process.argv[3] ?? 9002)
if (proto !== 'resp' && proto !== 'mcbin') { console.error('usage: node node-ceiling.mjs resp|mcbin <port>'); process.exit(2) }

const VALUE = Buffer.alloc(100, 'v')
const OK = Buffer.from('+OK\r\n')
const PONG = Buffer.from('+PONG\r\n')
const EMPTY_ARRAY = Buffer.from('*0\r\n')
const GET_REPLY = Buffer.concat([Buffer.from(`$${VALUE.length}\r\n`), VALUE, Buffer.from('\r\n')])

/** Decimal integer in buf[from, to) (no sign: lengths and counts only); -1 if malformed. */
function int (buf, from, to) {
  if (from >= to) return -1
  let n = 0
  for (let i = from; i < to; i++) {
    const d = buf[i] - 48
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/** Parses whole RESP multibulk commands from buf[start, end); returns the offset after the last one. */
function respBatch (buf, start, end, replies) {
  let pos = start
  for (;;) {
    if (pos >= end) return pos
    if (buf[pos] !== 0x2a) throw new Error('only multibulk requests are supported')
    let eol = buf.indexOf(0x0d, pos)
    if (eol < 0 || eol + 1 >= end) return pos
    const argc = int(buf, pos + 1, eol)
    let p = eol + 2
    let name0 = 0; let name1 = 0
    let complete = true
    for (let a = 0; a < argc; a++) {
      if (p >= end) { complete = false; break }
      eol = buf.indexOf(0x0d, p)
      if (eol < 0 || eol + 1 >= end) { complete = false; break }
      const len = int(buf, p + 1, eol)
      if (a === 0) { name0 = buf[eol + 2] | 0x20; name1 = buf[eol + 3] | 0x20 }
      p = eol + 2 + len + 2
      if (p > end) { complete = false; break }
    }
    if (!complete) return pos
    replies.push(name0 === 0x67 ? GET_REPLY : name0 === 0x73 ? OK : name0 === 0x70 ? PONG : name0 === 0x63 && name1 === 0x6f ? EMPTY_ARRAY : OK)
    pos = p
  }
}

/** Parses whole memcached binary requests; appends one reply per request. */
function mcBatch (buf, start, end, replies) {
  let pos = start
  while (end - pos >= 24) {
    if (buf[pos] !== 0x80) throw new Error('bad magic')
    const body = buf.readUInt32BE(pos + 8)
    if (end - pos < 24 + body) break
    const opcode = buf[pos + 1]
    const hit = opcode === 0x00 || opcode === 0x0c
    const reply = Buffer.alloc(hit ? 24 + 4 + VALUE.length : 24)
    reply[0] = 0x81
    reply[1] = opcode
    if (hit) { reply[4] = 4; reply.writeUInt32BE(4 + VALUE.length, 8); VALUE.copy(reply, 28) }
    buf.copy(reply, 12, pos + 12, pos + 16) // opaque
    replies.push(reply)
    pos += 24 + body
  }
  return pos
}

const parse = proto === 'resp' ? respBatch : mcBatch
const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = null
  socket.on('error', () => {})
  socket.on('data', (chunk) => {
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk])
    const replies = []
    let used
    try { used = parse(buf, 0, buf.length, replies) } catch { socket.destroy(); return }
    pending = used < buf.length ? Buffer.from(buf.subarray(used)) : null
    if (replies.length === 1) socket.write(replies[0])
    else if (replies.length > 1) socket.write(Buffer.concat(replies))
  })
})
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`))
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
