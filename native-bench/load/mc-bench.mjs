// Small load generator for native-bench/load/bench.mjs (memaslap prints no percentiles, so the
// memcached case uses this instead; the same generator drives slabcache and memcached).
//
//   node mc-bench.mjs bench --port P [--conns 50] [--depth 16] [--seconds 5] [--keys 100000]
//        [--value 100] [--get-ratio 0.9]
//     memcached binary protocol over net sockets: preloads every key, then each connection keeps
//     sending batches of DEPTH pipelined requests (90 % GET / 10 % SET on random keys) and waits
//     for the whole batch. Prints one JSON line {ops, seconds, opsPerSec, p50Ms, p99Ms, misses, errors}.
//   node mc-bench.mjs load --port P --proto mcbin|resp [--keys 1000000] [--value 100]
//     loads keys key:000000000000 .. with 100-byte values (pipelined SETs over 4 connections) and
//     prints {loaded, seconds}.
import net from 'node:net'

const args = process.argv.slice(2)
const mode = args[0]
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i < 0 ? dflt : args[i + 1]
}
const port = Number(opt('port', 11211))
const host = opt('host', '127.0.0.1')
const keyName = (i) => `key:${String(i).padStart(12, '0')}`

function mcRequest (opcode, key, value) {
  const k = Buffer.from(key)
  const extLen = opcode === 0x01 ? 8 : 0
  const vLen = value ? value.length : 0
  const buf = Buffer.alloc(24 + extLen + k.length + vLen)
  buf[0] = 0x80
  buf[1] = opcode
  buf.writeUInt16BE(k.length, 2)
  buf[4] = extLen
  buf.writeUInt32BE(extLen + k.length + vLen, 8)
  // extras for SET: flags 0, exptime 0 (already zero)
  k.copy(buf, 24 + extLen)
  if (value) value.copy(buf, 24 + extLen + k.length)
  return buf
}

function respSet (key, value) {
  const k = Buffer.from(key)
  return Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$${k.length}\r\n`), k,
    Buffer.from(`\r\n$${value.length}\r\n`), value, Buffer.from('\r\n')])
}

/** A connection that sends a batch and resolves when `count` replies arrived. */
function connect (proto) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port }, () => resolve(conn))
    sock.setNoDelay(true)
    sock.on('error', reject)
    let pending = null // { count, done, onReply }
    let buf = Buffer.alloc(0)
    const conn = {
      sock,
      batch (data, count, onReply) {
        return new Promise((res) => { pending = { count, done: 0, res, onReply }; sock.write(data) })
      }
    }
    sock.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      let off = 0
      if (proto === 'mcbin') {
        while (buf.length - off >= 24) {
          const body = buf.readUInt32BE(off + 8)
          if (buf.length - off < 24 + body) break
          const status = buf.readUInt16BE(off + 6)
          off += 24 + body
          pending.done++
          if (pending.onReply) pending.onReply(status)
          else if (status !== 0) conn.errors = (conn.errors ?? 0) + 1
        }
      } else {
        // RESP SET replies: "+OK\r\n"; anything else is an error.
        let nl
        while ((nl = buf.indexOf(10, off)) >= 0) {
          if (buf[off] !== 0x2b) conn.errors = (conn.errors ?? 0) + 1
          off = nl + 1
          pending.done++
        }
      }
      buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off)
      if (pending && pending.done >= pending.count) { const p = pending; pending = null; p.res() }
    })
  })
}

async function load (proto, keys, value, conns = 4, batch = 512) {
  const cs = await Promise.all(Array.from({ length: conns }, () => connect(proto)))
  const t0 = performance.now()
  let next = 0
  await Promise.all(cs.map(async (c) => {
    while (next < keys) {
      const start = next
      const end = Math.min(keys, start + batch)
      next = end
      const parts = []
      for (let i = start; i < end; i++) {
        parts.push(proto === 'mcbin' ? mcRequest(0x01, keyName(i), value) : respSet(keyName(i), value))
      }
      await c.batch(Buffer.concat(parts), end - start)
    }
  }))
  const errors = cs.reduce((s, c) => s + (c.errors ?? 0), 0)
  for (const c of cs) c.sock.destroy()
  return { loaded: keys, errors, seconds: (performance.now() - t0) / 1000 }
}

async function bench () {
  const conns = Number(opt('conns', 50))
  const depth = Number(opt('depth', 16))
  const seconds = Number(opt('seconds', 5))
  const keys = Number(opt('keys', 100000))
  const value = Buffer.alloc(Number(opt('value', 100)), 'v')
  const getRatio = Number(opt('get-ratio', 0.9))
  const pre = await load('mcbin', keys, value)
  if (pre.errors) throw new Error(`preload: ${pre.errors} error replies`)
  const gets = []
  const sets = []
  for (let i = 0; i < keys; i++) { gets.push(mcRequest(0x00, keyName(i))); sets.push(mcRequest(0x01, keyName(i), value)) }
  const hist = new Uint32Array(1_000_001) // 10 µs buckets up to 10 s
  let ops = 0; let misses = 0; let errors = 0
  const cs = await Promise.all(Array.from({ length: conns }, () => connect('mcbin')))
  const onReply = (status) => { if (status === 1) misses++; else if (status !== 0) errors++ }
  const t0 = performance.now()
  const tEnd = t0 + seconds * 1000
  await Promise.all(cs.map(async (c) => {
    const parts = new Array(depth)
    while (performance.now() < tEnd) {
      for (let i = 0; i < depth; i++) {
        const k = (Math.random() * keys) | 0
        parts[i] = Math.random() < getRatio ? gets[k] : sets[k]
      }
      const s = performance.now()
      await c.batch(Buffer.concat(parts), depth, onReply)
      const b = Math.min(hist.length - 1, Math.round((performance.now() - s) * 100))
      hist[b] += depth
      ops += depth
    }
  }))
  const elapsed = (performance.now() - t0) / 1000
  for (const c of cs) c.sock.destroy()
  const pct = (p) => {
    const target = ops * p
    let acc = 0
    for (let i = 0; i < hist.length; i++) { acc += hist[i]; if (acc >= target) return i / 100 }
    return NaN
  }
  return { ops, seconds: elapsed, opsPerSec: ops / elapsed, p50Ms: pct(0.5), p99Ms: pct(0.99), misses, errors }
}

let result
if (mode === 'bench') result = await bench()
else if (mode === 'load') {
  result = await load(opt('proto', 'mcbin'), Number(opt('keys', 1000000)), Buffer.alloc(Number(opt('value', 100)), 'v'))
} else {
  console.error('usage: mc-bench.mjs bench|load --port P ...')
  process.exit(2)
}
console.log(JSON.stringify(result))
