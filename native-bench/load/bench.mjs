#!/usr/bin/env node
// End-to-end load comparison for issue 4: slabcache against its peers in the same run
// (redis-server, memcached, a uWS.js hello-world ceiling) and, for RESP and memcached, the
// node:net ceiling (node-ceiling.mjs: what any Node.js server can reach), each case alternating
// slabcache / peer / ceiling (A B C A B C), every server warmed up alike, servers pinned to
// core 0 and load generators to core 1, every server started fresh on free ports and stopped
// after its run. Writes the
// "## End-to-end load (npm run bench)" section at the end of native-bench/RESULTS.md (replacing
// it, keeping everything above), native-bench/load/ratios.svg and native-bench/load/results.json.
//
//   node native-bench/load/bench.mjs [--quick] [--profile] [--no-install] [--no-build]
//   npm run bench          full: 3 rounds, ~5 s per run (< 15 min)
//   npm run bench:quick    1 round, ~2 s per run (~2 min)
//
// --profile also runs slabcache under `node --cpu-prof` for RESP GET -P 16 and lists the top 15
// self-time functions.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const LOAD = dirname(fileURLToPath(import.meta.url))
const ROOT = join(LOAD, '..', '..')
const RESULTS_MD = join(ROOT, 'native-bench', 'RESULTS.md')
const SECTION = '## End-to-end load (npm run bench)'
const argv = process.argv.slice(2)
const QUICK = argv.includes('--quick')
const onlyArg = argv.find((a) => a.startsWith('--only='))
// --only=resp,memcached,http,memory,scaling,profile runs a subset (for debugging; RESULTS.md then lists only those)
const ONLY = onlyArg ? new Set(onlyArg.slice('--only='.length).split(',')) : null
const want = (name) => ONLY === null || ONLY.has(name)
const PROFILE = argv.includes('--profile') || (ONLY?.has('profile') ?? false)
const PAIRS = QUICK ? 1 : 3
const SECONDS = QUICK ? 2 : 5
// redis-benchmark has no duration flag: request counts sized for ~SECONDS per test on this VM.
const N_P1 = QUICK ? 100_000 : 400_000
const N_P16 = QUICK ? 500_000 : 2_000_000
// Every server (slabcache, its peer and the ceiling alike) first gets the same discarded
// warm-up load: a JIT-compiled server measured cold would be charged its compilation, which a
// long-running cache pays once, and redis-server/memcached get the same treatment.
const N_WARM = QUICK ? 200_000 : 600_000
const WARM_SECONDS = QUICK ? 1 : 2
const MEMORY_KEYS = 1_000_000
const HTTP_KEYS = 1000
const SERVER_CORE = '0'
const CLIENT_CORE = os.cpus().length > 1 ? '1' : '0'
const IS_ROOT = process.getuid?.() === 0
const CLOCK_TICKS_PER_S = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100
const tmp = mkdtempSync(join(os.tmpdir(), 'slabcache-bench-'))
const commands = new Map() // template -> true, in first-use order

const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

// ---------------------------------------------------------------- setup
function ensureTools () {
  const missing = ['redis-server', 'redis-benchmark', 'redis-cli', 'memcached', 'wrk', 'taskset'].filter((c) => !has(c))
  if (missing.length === 0) return
  if (argv.includes('--no-install')) throw new Error(`missing tools: ${missing.join(', ')}`)
  log(`installing (missing: ${missing.join(', ')})`)
  const sudo = IS_ROOT ? [] : ['sudo']
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const run = (args) => execFileSync(sudo.length ? 'sudo' : args[0], sudo.length ? args : args.slice(1), { stdio: 'inherit', env })
  run(['apt-get', 'update'])
  run(['apt-get', 'install', '-y', 'redis-server', 'redis-tools', 'memcached', 'wrk', 'util-linux'])
}

function build () {
  if (argv.includes('--no-build')) return
  log('npm run build')
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
}

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

async function waitPort (port, ms = 15000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const ok = await new Promise((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port }, () => { c.destroy(); resolve(true) })
      c.on('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`nothing listens on port ${port}`)
}

/** Replaces port numbers in a command line so the recorded template is stable. */
function record (argvList, ports) {
  let line = argvList.map((a) => (/[\s']/.test(a) || a === '' ? `'${a}'` : a)).join(' ')
  for (const [name, p] of Object.entries(ports)) line = line.replace(new RegExp(`(?<![\\d])${p}(?![\\d])`, 'g'), `$${name}`)
  line = line.split(ROOT + '/').join('')
  commands.set(line, true)
}

// ---------------------------------------------------------------- servers
/** Starts a server pinned to SERVER_CORE; resolves when all its ports accept connections. */
async function startServer (kind, opts = {}) {
  let args
  const ports = {}
  if (kind === 'slabcache') {
    ports.HTTP_PORT = await freePort(); ports.RESP_PORT = await freePort(); ports.MC_PORT = await freePort()
    const dataDir = mkdtempSync(join(tmp, 'data-'))
    args = ['node', ...(opts.nodeArgs ?? []), join(ROOT, 'dist', 'main.js'), '--http-port', String(ports.HTTP_PORT),
      '--resp-port', String(ports.RESP_PORT), '--memcache-port', String(ports.MC_PORT), '--log-level', 'warn',
      '--data-dir', dataDir, '--shards', String(opts.shards ?? 1), ...(opts.memory ? ['--memory', opts.memory] : [])]
  } else if (kind === 'redis-server') {
    ports.PORT = await freePort()
    args = ['redis-server', '--port', String(ports.PORT), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--loglevel', 'warning']
  } else if (kind === 'memcached') {
    ports.PORT = await freePort()
    args = ['memcached', ...(IS_ROOT ? ['-u', 'root'] : []), '-t', '1', '-m', '1024', '-p', String(ports.PORT), '-U', '0', '-l', '127.0.0.1']
  } else if (kind === 'uws-hello') {
    ports.PORT = await freePort()
    args = ['node', join(LOAD, 'uws-hello.mjs'), String(ports.PORT)]
  } else if (kind === 'node-ceiling-resp' || kind === 'node-ceiling-mcbin') {
    ports.PORT = await freePort()
    args = ['node', join(LOAD, 'node-ceiling.mjs'), kind.slice('node-ceiling-'.length), String(ports.PORT)]
  } else throw new Error(kind)
  const full = ['taskset', '-c', SERVER_CORE, ...args]
  record(full.map((a) => a.startsWith(tmp) ? (a.includes('prof-') ? '$PROF_DIR' : '$DATA_DIR') : a), ports)
  const proc = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd ?? ROOT })
  let output = ''
  proc.stdout.on('data', (d) => { if (output.length < 20000) output += d })
  proc.stderr.on('data', (d) => { if (output.length < 20000) output += d })
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })))
  const server = {
    kind,
    ports,
    pid: proc.pid, // taskset execs the server: same pid
    port: ports.PORT ?? ports.RESP_PORT,
    async stop () {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000)
      await exited
      clearTimeout(t)
    }
  }
  try {
    await Promise.race([
      Promise.all(Object.values(ports).map((p) => waitPort(p))),
      exited.then((e) => { throw new Error(`${kind} exited early (${JSON.stringify(e)}): ${output}`) })
    ])
  } catch (e) { await server.stop(); throw e }
  await sleep(300)
  return server
}

/** CPU time (user + system, all threads) the process has used so far, in µs. */
function cpuUs (pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1e6 / CLOCK_TICKS_PER_S // utime, stime (fields 14, 15)
}

/**
 * Runs `fn` (one load-generator run against `server`) and adds `cpuUs`: the server's CPU time
 * per request over that run, `requests(result)` requests. Robust to a busy machine where
 * throughput is not: interference adds wall time, not the server's own CPU per request.
 */
async function withCpu (server, fn, requests) {
  const before = cpuUs(server.pid)
  const result = await fn()
  result.cpuUs = (cpuUs(server.pid) - before) / requests(result)
  return result
}

function rssKiB (pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m[1])
}

// ---------------------------------------------------------------- load generators
/** Runs a load generator pinned to CLIENT_CORE; resolves {stdout, stderr, status}. */
function client (args, ports) {
  const full = ['taskset', '-c', CLIENT_CORE, ...args]
  record(full, ports)
  return new Promise((resolve) => {
    const p = spawn(full[0], full.slice(1), { cwd: LOAD })
    let stdout = ''; let stderr = ''
    p.stdout.on('data', (d) => { stdout += d })
    p.stderr.on('data', (d) => { stderr += d })
    p.on('exit', (status) => resolve({ stdout, stderr, status }))
  })
}

/** redis-benchmark --csv -> { SET: {ops, p50, p99}, GET: ... }. */
async function redisBenchmark (server, tests, pipeline, n) {
  const ports = { PORT: server.port }
  const r = await client(['redis-benchmark', '-p', String(server.port), '-c', '50', '-t', tests, '-d', '100',
    '-r', '100000', '-P', String(pipeline), '-n', String(n), '--csv'], ports)
  const out = {}
  for (const line of r.stdout.split('\n')) {
    const f = line.split('","').map((s) => s.replace(/"/g, ''))
    if (f.length >= 7 && f[0] !== 'test') out[f[0]] = { ops: Number(f[1]), p50: Number(f[4]), p99: Number(f[6]) }
  }
  const errors = r.status !== 0 || /error/i.test(r.stderr + r.stdout)
  if (errors || Object.keys(out).length !== tests.split(',').length) {
    throw new Error(`redis-benchmark against ${server.kind} failed (status ${r.status}): ${(r.stderr + r.stdout).slice(-600)}`)
  }
  return out
}

function wrkTime (s) {
  const m = /([\d.]+)(us|ms|s)/.exec(s)
  const v = m ? Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 })[m[2]] : NaN
  return v > 0 ? v : NaN // wrk occasionally prints 0.00us for a percentile of pipelined runs
}

async function wrk (port, script, depth, ports, seconds = SECONDS) {
  const r = await client(['wrk', '-t1', '-c50', `-d${seconds}s`, '--latency', '-s', script,
    `http://127.0.0.1:${port}/`, '--', String(depth), String(HTTP_KEYS)], ports)
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)
  if (r.status !== 0 || !rps) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)
  const sockErr = /Socket errors: (.*)/.exec(r.stdout)
  if (!/\s99%\s+\d*[1-9]/.test(r.stdout)) log(`wrk printed no usable p99:\n${r.stdout}`)
  return {
    ops: Number(rps[1]),
    requests: Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? NaN),
    p50: wrkTime(/\s50%\s+(\S+)/.exec(r.stdout)?.[1] ?? ''),
    p99: wrkTime(/\s99%\s+(\S+)/.exec(r.stdout)?.[1] ?? ''),
    errors: (non2xx ? `${non2xx[1]} non-2xx` : '') + (sockErr ? ` socket errors: ${sockErr[1]}` : '')
  }
}

async function mcBench (port, ports, seconds = SECONDS) {
  const r = await client(['node', 'mc-bench.mjs', 'bench', '--port', String(port), '--conns', '50', '--depth', '16',
    '--seconds', String(seconds), '--keys', '100000', '--value', '100', '--get-ratio', '0.9'], ports)
  if (r.status !== 0) throw new Error(`mc-bench failed: ${r.stderr}`)
  const j = JSON.parse(r.stdout.trim().split('\n').pop())
  return { ops: j.opsPerSec, requests: j.ops, p50: j.p50Ms, p99: j.p99Ms, errors: j.errors ? `${j.errors} errors, ${j.misses} misses` : (j.misses ? `${j.misses} misses` : '') }
}

async function loadKeys (port, proto, keys, ports) {
  const r = await client(['node', 'mc-bench.mjs', 'load', '--port', String(port), '--proto', proto, '--keys', String(keys), '--value', '100'], ports)
  if (r.status !== 0) throw new Error(`load failed: ${r.stderr}`)
  const j = JSON.parse(r.stdout.trim().split('\n').pop())
  if (j.errors) throw new Error(`load: ${j.errors} error replies`)
  return j
}

async function httpPreload (port) {
  const body = Buffer.alloc(100, 'v')
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < HTTP_KEYS) {
      const i = next++
      const res = await fetch(`http://127.0.0.1:${port}/v1/cache/bk:${i}`, { method: 'PUT', body })
      await res.arrayBuffer()
      if (res.status >= 300) throw new Error(`PUT bk:${i} -> ${res.status}`)
    }
  }))
}

// ---------------------------------------------------------------- suites
// A suite starts a fresh server and measures several metrics against it; slabcache (A) and the
// peer (B) alternate A B A B for PAIRS pairs.
const suites = [
  {
    id: 'resp', name: 'RESP', peer: 'redis-server', target: 1.0, ceiling: 'node:net ceiling',
    start: (side) => startServer(side === 'A' ? 'slabcache' : side === 'B' ? 'redis-server' : 'node-ceiling-resp'),
    async warm (s) { await redisBenchmark(s, 'set,get', 16, N_WARM) },
    async measure (s) {
      // SET then GET as separate runs (the GETs hit: the warm-up and the SETs stored the keys),
      // so each gets its own CPU-per-request figure.
      const out = {}
      for (const [pipeline, n] of [[1, N_P1], [16, N_P16]]) {
        for (const t of ['SET', 'GET']) {
          out[`${t} -P ${pipeline}`] = await withCpu(s, async () => (await redisBenchmark(s, t.toLowerCase(), pipeline, n))[t], () => n)
        }
      }
      return out
    }
  },
  {
    id: 'memcached', name: 'memcached binary', peer: 'memcached', target: 1.0, ceiling: 'node:net ceiling',
    start: (side) => startServer(side === 'A' ? 'slabcache' : side === 'B' ? 'memcached' : 'node-ceiling-mcbin'),
    async warm (s) {
      const port = s.ports.MC_PORT ?? s.ports.PORT
      await mcBench(port, { PORT: port }, WARM_SECONDS)
    },
    async measure (s) {
      const port = s.ports.MC_PORT ?? s.ports.PORT
      // mc-bench first stores its 100 k keys (counted as requests too), then runs the mix.
      return { '90/10 GET/SET, 50 conns × depth 16': await withCpu(s, () => mcBench(port, { PORT: port }), (r) => r.requests + 100_000) }
    }
  },
  {
    id: 'http', name: 'HTTP', peer: 'uWS hello-world', target: 0.8,
    start: (side) => side === 'A' ? startServer('slabcache') : startServer('uws-hello'),
    async warm (s) {
      const port = s.ports.HTTP_PORT ?? s.ports.PORT
      if (s.kind === 'slabcache') await httpPreload(port)
      for (const script of ['wrk-get.lua', 'wrk-put.lua']) await wrk(port, script, 16, { PORT: port }, WARM_SECONDS)
    },
    async measure (s) {
      const port = s.ports.HTTP_PORT ?? s.ports.PORT
      const ports = { PORT: port }
      const out = {}
      for (const depth of [1, 16]) out[`GET hit, depth ${depth}`] = await withCpu(s, () => wrk(port, 'wrk-get.lua', depth, ports), (r) => r.requests)
      for (const depth of [1, 16]) out[`PUT, depth ${depth}`] = await withCpu(s, () => wrk(port, 'wrk-put.lua', depth, ports), (r) => r.requests)
      return out
    }
  }
]

const stats = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN }
  const mid = v.length >> 1
  return { median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, min: v[0], max: v[v.length - 1] }
}

async function runSuite (suite) {
  // A = slabcache, B = the peer, C = the node:net ceiling (where the suite has one): A B C A B C …
  const sides = suite.ceiling ? ['A', 'B', 'C'] : ['A', 'B']
  const runs = { A: [], B: [], C: [] }
  for (let i = 0; i < PAIRS; i++) {
    for (const side of sides) {
      log(`${suite.name}: round ${i + 1}/${PAIRS}, ${side === 'A' ? 'slabcache' : side === 'B' ? suite.peer : suite.ceiling}`)
      const s = await suite.start(side)
      try {
        await suite.warm(s)
        runs[side].push(await suite.measure(s))
      } finally { await s.stop() }
    }
  }
  const rows = []
  for (const metric of Object.keys(runs.A[0])) {
    const pick = (side, f) => stats(runs[side].map((r) => r[metric]?.[f]))
    const a = pick('A', 'ops'); const b = pick('B', 'ops')
    const c = suite.ceiling ? pick('C', 'ops') : null
    const errs = [...runs.A, ...runs.B, ...runs.C].map((r) => r[metric]?.errors).filter(Boolean)
    rows.push({
      suite: suite.name, metric, peer: suite.peer, target: suite.target,
      a, b, ratio: a.median / b.median,
      ceiling: suite.ceiling ?? null, c, ceilingRatio: c ? a.median / c.median : NaN, ceilingVsPeer: c ? c.median / b.median : NaN,
      aCpu: pick('A', 'cpuUs').median, bCpu: pick('B', 'cpuUs').median, cCpu: c ? pick('C', 'cpuUs').median : NaN,
      aP50: pick('A', 'p50').median, aP99: pick('A', 'p99').median,
      bP50: pick('B', 'p50').median, bP99: pick('B', 'p99').median,
      samplesA: runs.A.map((r) => r[metric]?.ops), samplesB: runs.B.map((r) => r[metric]?.ops), samplesC: runs.C.map((r) => r[metric]?.ops),
      errors: [...new Set(errs)].join('; ')
    })
  }
  return rows
}

async function memorySuite () {
  const out = []
  for (const kind of ['slabcache', 'redis-server', 'memcached']) {
    log(`memory: ${kind}`)
    const s = await startServer(kind, kind === 'slabcache' ? { memory: '512mb' } : {})
    try {
      await sleep(700)
      const empty = rssKiB(s.pid)
      const port = kind === 'memcached' ? s.port : (s.ports.RESP_PORT ?? s.port)
      const l = await loadKeys(port, kind === 'memcached' ? 'mcbin' : 'resp', MEMORY_KEYS, { PORT: port })
      await sleep(1500)
      const full = rssKiB(s.pid)
      out.push({ kind, emptyKiB: empty, fullKiB: full, bytesPerItem: (full - empty) * 1024 / MEMORY_KEYS, loadSeconds: l.seconds })
    } finally { await s.stop() }
  }
  return out
}

async function scalingSuite () {
  const res = { 1: [], 2: [], 4: [] }
  for (let i = 0; i < PAIRS; i++) {
    for (const shards of [1, 2, 4]) {
      log(`scaling: rep ${i + 1}/${PAIRS}, --shards ${shards}`)
      const s = await startServer('slabcache', { shards })
      try { res[shards].push((await redisBenchmark(s, 'set,get', 16, N_P16)).GET) } finally { await s.stop() }
    }
  }
  return Object.entries(res).map(([shards, rs]) => ({
    shards: Number(shards), ops: stats(rs.map((r) => r.ops)), p50: stats(rs.map((r) => r.p50)).median, p99: stats(rs.map((r) => r.p99)).median
  }))
}

async function profileSuite () {
  const dir = mkdtempSync(join(tmp, 'prof-'))
  log('profile: slabcache under --cpu-prof, RESP GET -P 16')
  const s = await startServer('slabcache', { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] })
  try {
    await loadKeys(s.ports.RESP_PORT, 'resp', 100_000, { RESP_PORT: s.ports.RESP_PORT })
    await redisBenchmark(s, 'get', 16, N_P16)
  } finally { await s.stop() }
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  if (files.length === 0) throw new Error('no .cpuprofile written (did slabcache exit cleanly on SIGTERM?)')
  // One profile per thread: the main thread (the RESP path) is the one with the most busy time.
  const parsed = files.map((f) => {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8'))
    const byId = new Map(p.nodes.map((n) => [n.id, n]))
    const self = new Map()
    let total = 0; let idle = 0
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i])
      const dt = p.timeDeltas[i] ?? 0
      const cf = n.callFrame
      if (cf.functionName === '(idle)') { idle += dt; continue }
      total += dt
      const url = cf.url.startsWith('file:') ? relative(ROOT, fileURLToPath(cf.url)) : cf.url.startsWith('/') ? relative(ROOT, cf.url) : cf.url
      const key = `${cf.functionName || '(anonymous)'}|${url}${url ? ':' + (cf.lineNumber + 1) : ''}`
      self.set(key, (self.get(key) ?? 0) + dt)
    }
    return { file: f, total, idle, top: [...self.entries()].sort((x, y) => y[1] - x[1]).slice(0, 15) }
  }).sort((x, y) => y.total - x.total)
  return parsed
}

// ---------------------------------------------------------------- report
const fmtOps = (x) => Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—'
const fmtCpu = (x) => Number.isFinite(x) ? x.toFixed(2) : '—'
const fmtMs = (x) => Number.isFinite(x) ? (x < 1 ? x.toFixed(3) : x.toFixed(2)) : '—'
const spread = (s) => Number.isFinite(s.median) && PAIRS > 1 ? ` (${fmtOps(s.min)}–${fmtOps(s.max)}, ±${(50 * (s.max - s.min) / s.median).toFixed(0)} %)` : ''

function svgChart (bars) {
  // bars: [{label, ratio, target}]
  const W = 960; const rowH = 26; const left = 460; const top = 40
  const H = top + bars.length * rowH + 40
  const maxR = Math.max(1.5, ...bars.map((b) => Number.isFinite(b.ratio) ? b.ratio : 0)) * 1.05
  const x = (r) => left + (W - left - 60) * r / maxR
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">slabcache vs peer: throughput ratio (memory: peer ÷ slabcache bytes per item); higher is better</text>`]
  bars.forEach((b, i) => {
    const y = top + i * rowH
    const r = Number.isFinite(b.ratio) ? b.ratio : 0
    const ok = b.target === undefined || r >= b.target
    parts.push(`<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(b.label)}</text>`)
    parts.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(r) - left).toFixed(1)}" height="${rowH - 8}" fill="${ok ? '#3a7d44' : '#c0392b'}"/>`)
    parts.push(`<text x="${(x(r) + 4).toFixed(1)}" y="${y + 16}">${r.toFixed(2)}×${b.target !== undefined ? ` (target ${b.target})` : ''}</text>`)
    if (b.target !== undefined) parts.push(`<line x1="${x(b.target).toFixed(1)}" x2="${x(b.target).toFixed(1)}" y1="${y + 2}" y2="${y + rowH - 2}" stroke="black" stroke-dasharray="3,2"/>`)
  })
  const y1 = top + bars.length * rowH
  parts.push(`<line x1="${x(1).toFixed(1)}" x2="${x(1).toFixed(1)}" y1="${top}" y2="${y1}" stroke="#555"/>`)
  parts.push(`<text x="${x(1).toFixed(1)}" y="${y1 + 16}" text-anchor="middle">1.0× (parity)</text>`)
  parts.push(`<text x="${left}" y="${y1 + 32}" fill="#555">green: meets target (dashed); red: below target</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

function report ({ rows, memory, scaling, profile, started, finished, failures }) {
  const L = []
  L.push(SECTION, '')
  L.push(`Generated by \`npm run bench${QUICK ? ':quick' : ''}\` (\`native-bench/load/bench.mjs${argv.length ? ' ' + argv.join(' ') : ''}\`) on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC in ${((finished - started) / 60000).toFixed(1)} min; ` +
    `Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}). Mode: ${QUICK ? 'quick' : 'full'} — ` +
    `${PAIRS} round${PAIRS > 1 ? 's' : ''} per case run alternately slabcache / peer / node:net ceiling where the case has one (A B C${PAIRS > 1 ? ' A B C …' : ''}), ` +
    'each server given the same discarded warm-up load before it is measured (RESP: `redis-benchmark -P 16 -n ' + N_WARM.toLocaleString('en-US') + '`; memcached: ' + WARM_SECONDS + ' s of `mc-bench.mjs`; HTTP: ' + WARM_SECONDS + ' s of wrk GET and PUT at depth 16), ' +
    `every server started fresh on free ports, pinned with \`taskset -c ${SERVER_CORE}\`; load generators pinned with \`taskset -c ${CLIENT_CORE}\`. ` +
    `slabcache runs with \`--shards 1\` (all its threads share core ${SERVER_CORE}, like single-threaded redis-server and \`memcached -t 1\`). ` +
    'Throughput is the median over the runs' + (PAIRS > 1 ? ' with min–max and ±half-range/median in brackets' : ' (one run each: no spread in quick mode)') +
    '; latencies are medians of the per-run p50/p99 in ms. Ratio = slabcache / peer.', '')
  L.push('| case | metric | slabcache ops/s | peer | peer ops/s | ratio | target | CPU µs/request slabcache / peer | slabcache p50 / p99 ms | peer p50 / p99 ms |')
  L.push('|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const miss = Number.isFinite(r.ratio) && r.ratio < r.target
    L.push(`| ${r.suite} | ${r.metric} | ${fmtOps(r.a.median)}${spread(r.a)} | ${r.peer} | ${fmtOps(r.b.median)}${spread(r.b)} | **${r.ratio.toFixed(2)}** | ≥ ${r.target}${miss ? ` (missed by ${((1 - r.ratio / r.target) * 100).toFixed(0)} %)` : ' ✓'} | ${fmtCpu(r.aCpu)} / ${fmtCpu(r.bCpu)} | ${fmtMs(r.aP50)} / ${fmtMs(r.aP99)} | ${fmtMs(r.bP50)} / ${fmtMs(r.bP99)} |`)
  }
  L.push('', 'CPU µs/request: the server process\'s user + system time over the run (all its threads, from `/proc/<pid>/stat`) divided by the requests of the run, median over the runs. Unlike ops/s it is not lowered by other jobs on the machine, and it charges the kernel\'s share of each socket read and write to the server that made it.')
  L.push('', 'Load generators: RESP `redis-benchmark` (SET, then GET in a second invocation; the GETs hit the keys the warm-up and the SETs stored); HTTP `wrk` with `wrk-get.lua`/`wrk-put.lua` ' +
    `(depth N = N requests pipelined per write; slabcache GETs hit ${HTTP_KEYS} keys preloaded with PUT; the uWS hello-world answers every GET/PUT with a 100-byte body); ` +
    'memcached binary: `mc-bench.mjs` (Node, one process on the client core: preloads the 100 k keys, then 50 connections each send batches of 16 pipelined ' +
    'requests, 90 % GET / 10 % SET on random keys, and wait for the batch; latency is per batch). memaslap (libmemcached-tools) is installed but reports no percentiles, hence our generator; ' +
    'being one Node thread it may cap the peer\'s figure, which would flatter the ratio. wrk latency for depth 16 is per pipelined batch, ' +
    'and "—" marks a percentile that wrk 4.1 printed as 0.00us (its latency histogram misreports the upper percentiles of pipelined runs; requests/s are unaffected). ' +
    'The VM is shared with other jobs: compare the spreads before trusting a ratio near a target.')
  const ceilingRows = rows.filter((r) => r.ceiling)
  if (ceilingRows.length) {
    L.push('', '### Against the node:net ceiling', '')
    L.push('`node-ceiling.mjs` frames every request and answers it with fixed bytes of the right shape (one socket write per read) and stores nothing: the most a Node.js server can do through `node:net` on this machine, as the uWS hello-world is for HTTP. slabcache / ceiling is how much of the platform\'s throughput slabcache keeps; ceiling / peer is the best ratio any Node.js server could reach against the peer here.', '')
    L.push('| case | metric | slabcache ops/s | ceiling ops/s | slabcache / ceiling | ceiling / peer | CPU µs/request slabcache / ceiling / peer |')
    L.push('|---|---|---|---|---|---|---|')
    for (const r of ceilingRows) L.push(`| ${r.suite} | ${r.metric} | ${fmtOps(r.a.median)} | ${fmtOps(r.c.median)}${spread(r.c)} | **${r.ceilingRatio.toFixed(2)}** | ${r.ceilingVsPeer.toFixed(2)} | ${fmtCpu(r.aCpu)} / ${fmtCpu(r.cCpu)} / ${fmtCpu(r.bCpu)} |`)
  }
  const errs = rows.filter((r) => r.errors)
  if (errs.length) { L.push(''); for (const r of errs) L.push(`- ${r.suite} ${r.metric}: ${r.errors}`) }
  if (memory) {
    L.push('', `### Memory: RSS per item after loading ${MEMORY_KEYS.toLocaleString('en-US')} keys × 100-byte values`, '')
    L.push('Keys `key:000000000000`… (16 bytes), loaded with pipelined SETs (`mc-bench.mjs load`: RESP for slabcache and redis-server, memcached binary for memcached); ' +
      'bytes per item = (VmRSS after loading − VmRSS of the empty server) / keys, read from `/proc/<pid>/status`. One run per server.', '')
    L.push('| server | empty RSS MiB | loaded RSS MiB | bytes per item | slabcache / this |')
    L.push('|---|---|---|---|---|')
    const ours = memory.find((m) => m.kind === 'slabcache')
    for (const m of memory) {
      L.push(`| ${m.kind}${m.kind === 'slabcache' ? ' (`--memory 512mb`)' : ''} | ${(m.emptyKiB / 1024).toFixed(1)} | ${(m.fullKiB / 1024).toFixed(1)} | ${m.bytesPerItem.toFixed(1)} | ${(ours.bytesPerItem / m.bytesPerItem).toFixed(2)} |`)
    }
    const redis = memory.find((m) => m.kind === 'redis-server')
    if (ours && redis) {
      const r = ours.bytesPerItem / redis.bytesPerItem
      L.push('', `Target: ≤ 0.8× redis-server's RSS per item — measured ${r.toFixed(2)}× (${r <= 0.8 ? 'met' : `missed by ${((r / 0.8 - 1) * 100).toFixed(0)} %`}).`)
    }
  }
  if (scaling) {
    L.push('', '### Scaling: slabcache RESP GET -P 16 by shard count', '')
    L.push(`\`redis-benchmark -c 50 -t set,get -d 100 -r 100000 -P 16\`, GET figure; server pinned to core ${SERVER_CORE} as everywhere else, so every shard worker shares one core with the main thread.`, '')
    L.push('| --shards | GET ops/s | vs 1 shard | p50 / p99 ms |')
    L.push('|---|---|---|---|')
    const base = scaling[0].ops.median
    for (const s of scaling) L.push(`| ${s.shards} | ${fmtOps(s.ops.median)}${spread(s.ops)} | ${(s.ops.median / base).toFixed(2)} | ${fmtMs(s.p50)} / ${fmtMs(s.p99)} |`)
    L.push('', 'GET and SET run inline on the main thread against the owning slab (DESIGN §2), so more shards add no parallelism for a single event loop here; on a machine with more cores the design predicts no RESP gain from shards either unless connections are spread over more than one event loop — shards mainly bound lock contention and slab size.')
  }
  if (profile) {
    const main = profile[0]
    L.push('', '### Profile: RESP GET -P 16 (`node --cpu-prof`)', '')
    L.push(`${profile.length} thread profile(s) written; the busiest (\`${main.file}\`, ${(main.total / 1e6).toFixed(2)} s busy, ${(main.idle / 1e6).toFixed(2)} s idle) is shown. Self time = sum of \`timeDeltas\` per sample's callFrame (function + file + line). The profile covers the whole process, including the 100 k-key RESP SET preload (\`mc-bench.mjs load\`) that makes the GETs hit, so SET-path functions (\`reserve\`, \`#set\`) appear too.`, '')
    L.push('| # | function | location | self ms | % of busy |')
    L.push('|---|---|---|---|---|')
    main.top.forEach(([key, us], i) => {
      const [fn, loc] = key.split('|')
      L.push(`| ${i + 1} | \`${fn}\` | ${loc ? '`' + loc + '`' : ''} | ${(us / 1000).toFixed(1)} | ${(100 * us / main.total).toFixed(1)} |`)
    })
  }
  if (failures.length) { L.push('', '### Failures', ''); for (const f of failures) L.push(`- ${f}`) }
  L.push('', '### Command lines', '', '`$PORT`/`$RESP_PORT`/… are free ports picked per run; `-n` sized for ~' + SECONDS + ' s per test.', '', '```')
  for (const c of commands.keys()) L.push(c)
  L.push('```', '', '![ratios](load/ratios.svg)', '')
  return L.join('\n')
}

// ---------------------------------------------------------------- main
function chartBars (rows, memory) {
  const bars = rows.map((r) => ({ label: `${r.suite} ${r.metric} vs ${r.peer}`, ratio: r.ratio, target: r.target }))
  for (const r of rows.filter((r) => r.ceiling)) bars.push({ label: `${r.suite} ${r.metric} vs ${r.ceiling}`, ratio: r.ceilingRatio })
  if (memory) {
    const ours = memory.find((m) => m.kind === 'slabcache')
    for (const m of memory.filter((m) => m !== ours)) {
      bars.push({ label: `memory per item: ${m.kind} / slabcache`, ratio: m.bytesPerItem / ours.bytesPerItem, target: m.kind === 'redis-server' ? 1.25 : undefined })
    }
  }
  return bars
}

if (argv.includes('--chart-only')) {
  // Redraws ratios.svg from results.json without running anything.
  const j = JSON.parse(readFileSync(join(LOAD, 'results.json'), 'utf8'))
  writeFileSync(join(LOAD, 'ratios.svg'), svgChart(chartBars(j.rows, j.memory)))
  process.exit(0)
}
const started = new Date()
const failures = []
const safe = async (name, fn) => {
  try { return await fn() } catch (e) { log(`${name} FAILED: ${e.message}`); failures.push(`${name}: ${e.message.split('\n')[0].slice(0, 300)}`); return null }
}
try {
  ensureTools()
  build()
  const rows = []
  for (const suite of suites.filter((x) => want(x.id))) rows.push(...((await safe(suite.name, () => runSuite(suite))) ?? []))
  const memory = want('memory') ? await safe('memory', memorySuite) : null
  const scaling = want('scaling') ? await safe('scaling', scalingSuite) : null
  const profile = PROFILE ? await safe('profile', profileSuite) : null
  const finished = new Date()
  writeFileSync(join(LOAD, 'ratios.svg'), svgChart(chartBars(rows, memory)))
  writeFileSync(join(LOAD, 'results.json'), JSON.stringify({ started, finished, quick: QUICK, pairs: PAIRS, rows, memory, scaling, profile, failures, commands: [...commands.keys()] }, null, 2) + '\n')
  const md = readFileSync(RESULTS_MD, 'utf8')
  const at = md.indexOf('\n' + SECTION)
  const head = (at >= 0 ? md.slice(0, at) : md).replace(/\s*$/, '\n')
  // Only this section is replaced: what follows it (the cluster bench's section, from its
  // marker or the next "## " heading) is kept.
  let end = -1
  if (at >= 0) {
    const after = at + 1 + SECTION.length
    const candidates = [md.indexOf('\n<!-- cluster-bench:start -->', after), md.indexOf('\n## ', after)].filter((i) => i >= 0)
    end = candidates.length > 0 ? Math.min(...candidates) : -1
  }
  const tail = end >= 0 ? '\n' + md.slice(end).replace(/^\s*/, '') : ''
  const section = report({ rows, memory, scaling, profile, started, finished, failures })
  writeFileSync(RESULTS_MD, head + '\n' + section.replace(/\s*$/, '\n') + tail)
  console.log(section)
  log(`wrote ${relative(ROOT, RESULTS_MD)}, native-bench/load/ratios.svg, native-bench/load/results.json`)
  if (failures.length) process.exitCode = 1
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
