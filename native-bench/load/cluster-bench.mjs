// Cluster benchmark (`npm run bench:cluster`): what forwarding and quorum replication cost, as
// ratios against a single node measured in the same run with the same load generator.
//
// Cases (RESP, 50 connections × 16 pipelined commands, 100-byte values, 20 k keys):
//   single      one slabcache, no cluster: GET and SET (the reference)
//   owner       3-node cluster, keys the contacted node owns: GET, SET (async replication)
//   forwarded   3-node cluster, keys another node owns: every command crosses the peer link
//   quorum      3-node cluster, owned keys, CLIENT CONSISTENCY quorum: SET waits for the replica
// Servers share core 0 (the machine has 2); the load generator runs on core 1. A, B, A, B:
// each case runs `--rounds` times (default 3) alternating with the single-node reference;
// medians are reported. Writes the "Cluster" section of native-bench/RESULTS.md.
//
//   node native-bench/load/cluster-bench.mjs [--rounds 3] [--seconds 4] [--no-build]
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

const LOAD = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(LOAD, '../..')
const argv = process.argv.slice(2)
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i < 0 ? dflt : argv[i + 1] }
const ROUNDS = Number(opt('rounds', 3))
const SECONDS = Number(opt('seconds', 4))
const CONNS = 50
const DEPTH = 16
const KEYS = 20000
const VALUE = Buffer.alloc(100, 'v')
const SECRET = 'cluster-bench-secret-0123456789'
const tmp = mkdtempSync(join(tmpdir(), 'slabcache-cluster-bench-'))
const log = (...a) => console.error('[cluster-bench]', ...a)

if (!argv.includes('--no-build')) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
const { HashRing } = await import(join(ROOT, 'dist/cluster/hash-ring.js'))

function hasTaskset () { try { execFileSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }); return true } catch { return false } }
const PIN = hasTaskset()
const pinned = (core, args) => PIN ? ['taskset', '-c', core, ...args] : args

/** Starts one slabcache process; resolves with its RESP port (and peer address in cluster mode). */
async function startNode (id, clusterArgs) {
  const dataDir = mkdtempSync(join(tmp, `${id}-`))
  const args = pinned('0', [process.execPath, join(ROOT, 'dist/main.js'), '--http-port', '0', '--resp-port', '0', '--memcache-port', '0',
    '--shards', '1', '--memory', '256mb', '--log-level', 'info', '--data-dir', dataDir, ...clusterArgs])
  const proc = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  let buffer = ''
  const info = {}
  await new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${id} exited ${code}`)))
    proc.stdout.on('data', (chunk) => {
      buffer += chunk
      let nl
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        try {
          const e = JSON.parse(line)
          if (e.msg === 'cluster peer port listening') info.peerAddress = e.address
          if (e.msg === 'slabcache listening') { info.respPort = e.respPort; info.httpPort = e.httpPort; resolve() }
        } catch {}
      }
    })
  })
  proc.stdout.resume()
  return { id, proc, ...info, async stop () { proc.kill('SIGTERM'); await new Promise((resolve) => proc.once('exit', resolve)) } }
}

async function waitUp (node, n) {
  for (;;) {
    const status = await (await fetch(`http://127.0.0.1:${node.httpPort}/v1/cluster`)).json()
    if (status.members.filter((m) => m.state === 'up').length === n) return
    await sleep(50)
  }
}

function command (...args) {
  const parts = [`*${args.length}\r\n`]
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n`, a, '\r\n')
  return Buffer.from(parts.join(''))
}

/** Counts complete RESP replies in a chunk stream (simple strings, bulk strings, errors, integers). */
function replyCounter () {
  let pending = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let count = 0
    let errors = 0
    let at = 0
    for (;;) {
      const nl = pending.indexOf('\r\n', at)
      if (nl < 0) break
      const type = pending[at]
      if (type === 0x24) { // $
        const length = Number(pending.subarray(at + 1, nl).toString())
        const end = length < 0 ? nl + 2 : nl + 2 + length + 2
        if (end > pending.length) break
        at = end
      } else {
        if (type === 0x2d) errors++
        at = nl + 2
      }
      count++
    }
    pending = pending.subarray(at)
    return [count, errors]
  }
}

/** One load run: CONNS connections each sending batches of DEPTH commands from `make(i)`. */
async function run (port, make, setup = null) {
  const deadline = Date.now() + SECONDS * 1000
  let ops = 0
  let errors = 0
  const latencies = []
  await Promise.all(Array.from({ length: CONNS }, (_, c) => new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    sock.setNoDelay(true)
    const count = replyCounter()
    let waiting = 0
    let started = 0
    let n = c * 7919
    const send = () => {
      if (Date.now() > deadline) { sock.end(); resolve(); return }
      const batch = []
      for (let i = 0; i < DEPTH; i++) batch.push(make(n++ % KEYS))
      waiting = DEPTH
      started = performance.now()
      sock.write(Buffer.concat(batch))
    }
    sock.on('data', (chunk) => {
      const [got, bad] = count(chunk)
      waiting -= got
      errors += bad
      if (waiting <= 0 && got > 0) {
        if (started !== 0) { ops += DEPTH; latencies.push(performance.now() - started) }
        send()
      }
    })
    sock.on('error', reject)
    sock.on('connect', () => {
      if (setup !== null) { waiting = 1; started = 0; sock.write(setup) } else send()
    })
  })))
  latencies.sort((a, b) => a - b)
  return { opsPerSec: ops / SECONDS, p50Ms: latencies[Math.floor(latencies.length * 0.5)] ?? 0, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0, errors }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

async function main () {
  log(`pinning: ${PIN ? 'servers on core 0, load on core 1' : 'taskset missing: not pinned'}`)
  // The load generator itself runs in this process: pin it to core 1.
  if (PIN) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' })
  const single = await startNode('single', [])
  const n1 = await startNode('n1', ['--cluster', '--node-id', 'n1', '--peer-port', '0', '--cluster-secret', SECRET])
  const n2 = await startNode('n2', ['--node-id', 'n2', '--peer-port', '0', '--cluster-secret', SECRET, '--join', n1.peerAddress])
  const n3 = await startNode('n3', ['--node-id', 'n3', '--peer-port', '0', '--cluster-secret', SECRET, '--join', n1.peerAddress])
  await waitUp(n1, 3)
  const ring = HashRing.build(['n1', 'n2', 'n3'], 2)
  const owned = []
  const foreign = []
  for (let i = 0; owned.length < KEYS || foreign.length < KEYS; i++) {
    const key = `key:${String(i).padStart(12, '0')}`
    const owner = ring.ownerOf(0, Buffer.from(key))
    if (owner === 'n1' && owned.length < KEYS) owned.push(key)
    else if (owner !== 'n1' && foreign.length < KEYS) foreign.push(key)
  }
  const value = VALUE.toString()
  const cases = {
    'GET single': [single, (i) => command('GET', owned[i])],
    'SET single': [single, (i) => command('SET', owned[i], value)],
    'GET owner': [n1, (i) => command('GET', owned[i])],
    'SET owner (async)': [n1, (i) => command('SET', owned[i], value)],
    'GET forwarded': [n1, (i) => command('GET', foreign[i])],
    'SET forwarded (async)': [n1, (i) => command('SET', foreign[i], value)],
    'SET owner (quorum)': [n1, (i) => command('SET', owned[i], value), command('CLIENT', 'CONSISTENCY', 'quorum')]
  }
  // Preload so GETs hit.
  await run(single.respPort, (i) => command('SET', owned[i], value))
  await run(n1.respPort, (i) => command('SET', i % 2 === 0 ? owned[i] : foreign[i], value))
  const results = Object.fromEntries(Object.keys(cases).map((name) => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, [node, make, setup]] of Object.entries(cases)) {
      const r = await run(node.respPort, make, setup ?? null)
      results[name].push(r)
      log(`round ${round + 1} ${name}: ${Math.round(r.opsPerSec)} ops/s p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms errors ${r.errors}`)
    }
  }
  for (const node of [single, n1, n2, n3]) await node.stop()
  rmSync(tmp, { recursive: true, force: true })

  const row = (name, reference) => {
    const ops = median(results[name].map((r) => r.opsPerSec))
    const ref = median(results[reference].map((r) => r.opsPerSec))
    const spread = results[name].map((r) => Math.round(r.opsPerSec)).join(' / ')
    return `| ${name} | ${Math.round(ops)} | ${spread} | ${(ops / ref).toFixed(2)}× | ${median(results[name].map((r) => r.p50Ms)).toFixed(2)} | ${median(results[name].map((r) => r.p99Ms)).toFixed(2)} | ${results[name].reduce((a, r) => a + r.errors, 0)} |`
  }
  const lines = [
    '<!-- cluster-bench:start -->',
    '## Cluster: forwarding and quorum cost (`npm run bench:cluster`)',
    '',
    `${new Date().toISOString()}; ${ROUNDS} rounds × ${SECONDS} s per case, RESP, ${CONNS} connections × ${DEPTH} pipelined, 100-byte values, ${KEYS} keys; ` +
      `every slabcache process (the single node and the three cluster nodes) on core 0, the load generator (in \`cluster-bench.mjs\`) on core 1${PIN ? '' : ' (taskset missing: not pinned)'}. ` +
      'Ratio = median ops/s against the single node measured in the same run (GET cases against single GET, SET against single SET).',
    '',
    '| case | median ops/s | rounds | ratio | p50 ms (batch of 16) | p99 ms | errors |',
    '|---|---|---|---|---|---|---|',
    row('GET single', 'GET single'),
    row('SET single', 'SET single'),
    row('GET owner', 'GET single'),
    row('SET owner (async)', 'SET single'),
    row('GET forwarded', 'GET single'),
    row('SET forwarded (async)', 'SET single'),
    row('SET owner (quorum)', 'SET single'),
    '',
    'On two cores the three cluster nodes share one core: a forwarded command costs the contacted node its parse and the peer round trip, and the owner its execution, on the same core, and every SET in the cluster also costs the replica an apply. The ratios are an upper bound on the per-node overhead; on a machine with a core per node the forwarded and replicated work runs in parallel.',
    '<!-- cluster-bench:end -->'
  ]
  const path = join(ROOT, 'native-bench/RESULTS.md')
  let text = readFileSync(path, 'utf8')
  const start = text.indexOf('<!-- cluster-bench:start -->')
  const end = text.indexOf('<!-- cluster-bench:end -->')
  text = start >= 0 && end > start ? text.slice(0, start) + lines.join('\n') + text.slice(end + '<!-- cluster-bench:end -->'.length) : `${text.trimEnd()}\n\n${lines.join('\n')}\n`
  writeFileSync(path, text)
  console.log(lines.join('\n'))
}

main().catch((error) => { console.error(error); process.exit(1) })
