/**
 * Question: is build B faster than build A per pipelined request on the RESP and memcached
 * binary hot paths — measured so that a shared, busy machine cannot fake the answer?
 * Decision it informs: which optimisation of issue 4 to keep (round 3 onwards).
 *
 * Why not two processes: on a machine whose other tenants come and go, CPU time per request of
 * the same build moved by 2× between consecutive runs (a quiet second and a busy one). Here both
 * builds live in ONE process — each a real Engine (1 shard, 64 MiB, its worker from its own
 * dist) with its own RespParser/RespCommands/RespWriter and MemcacheSession — and are run in
 * short alternating bursts (A B A B …, ~10 ms each), so both see the same machine within
 * milliseconds. Per burst: process CPU time / requests. Reported: min and median per build
 * and B/A of each (interference only adds time, so the minimum is the cleanest figure).
 * Inputs are the same bytes for both builds: protocol-pipeline.ts's batches of 16 requests
 * (`key:<12 digits>`, 100-byte values, 100 k keys preloaded; INCR over 1000 counters; the
 * memcached 90/10 GET/SET mix).
 * Run: `npm run build && A=/path/to/base/dist [B=dist] node --import ./native-bench/ts-loader.mjs native-bench/micro/protocol-ab.ts [get set incr mc mset]`
 * (each dist needs node_modules reachable from it: a copy placed next to a symlinked node_modules).
 */
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const KEYS = 100_000
const PIPELINE = 16
const BATCHES = 1024
const BURST_BATCHES = Number(process.env.BURST ?? 400)
const BURSTS = Number(process.env.BURSTS ?? 40)

let seed = 42
const random = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % KEYS }
const keyText = (i: number): string => `key:${String(i).padStart(12, '0')}`
const value = 'x'.repeat(100)
const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`
const resp = (...args: string[]): string => `*${args.length}\r\n${args.map(bulk).join('')}`
const batches = (make: () => string): Buffer[] => Array.from({ length: BATCHES }, () => Buffer.from(Array.from({ length: PIPELINE }, make).join(''), 'latin1'))

function frame (opcode: number, key: string, extras: Buffer, val: Buffer, opaque: number): Buffer {
  const keyBytes = Buffer.from(key, 'latin1')
  const header = Buffer.alloc(24)
  header[0] = 0x80
  header[1] = opcode
  header.writeUInt16BE(keyBytes.length, 2)
  header[4] = extras.length
  header.writeUInt32BE(extras.length + keyBytes.length + val.length, 8)
  header.writeUInt32BE(opaque, 12)
  return Buffer.concat([header, extras, keyBytes, val])
}

const inputs: Record<string, Buffer[]> = {
  get: batches(() => resp('GET', keyText(random()))),
  set: batches(() => resp('SET', keyText(random()), value)),
  incr: batches(() => resp('INCR', `counter:${String(random() % 1000).padStart(12, '0')}`)),
  mset: batches(() => resp('MSET', ...Array.from({ length: 10 }, () => [keyText(random()), value]).flat())),
  mc: Array.from({ length: BATCHES }, () => Buffer.concat(Array.from({ length: PIPELINE }, (_, i) =>
    random() % 10 !== 0
      ? frame(0x00, keyText(random()), Buffer.alloc(0), Buffer.alloc(0), i)
      : frame(0x01, keyText(random()), Buffer.alloc(8), Buffer.alloc(100, 0x78), i))))
}

interface Build { step: (kind: string, chunk: Buffer) => number, close: () => Promise<void> }

async function build (dist: string): Promise<Build> {
  const distDir = pathToFileURL(resolve(dist) + '/').href
  const load = async (path: string): Promise<any> => await import(new URL(path, distDir).href)
  const { Engine } = await load('engine.js')
  const { defaultConfig } = await load('config/load-config.js')
  const { RespCommands } = await load('protocol/resp-commands.js')
  const { RespCounters, RespSession } = await load('protocol/resp-context.js')
  const { RespParser } = await load('protocol/resp-parser.js')
  const { RespWriter } = await load('protocol/resp-writer.js')
  const { MemcacheCounters, MemcacheSession } = await load('protocol/memcache-session.js')
  const config = defaultConfig({ host: '127.0.0.1', httpPort: 0, respPort: 0, memcachePort: 0, shards: 1, memoryBytes: 64 * 1024 * 1024, logLevel: 'silent' })
  const engine = await Engine.start(config)
  const commands = new RespCommands({
    execute: (command: unknown) => engine.execute(command),
    nowMs: () => engine.clock.nowMs(),
    settings: { maxKeyBytes: config.limits.maxKeyBytes, maxValueBytes: config.limits.maxValueBytes, maxRequestBytes: config.limits.maxRequestBytes, maxConnections: 100, memoryBytes: config.memoryBytes, bindHost: '127.0.0.1' },
    counters: new RespCounters(),
    processInfo: () => { throw new Error('unused') },
    authRequired: false
  })
  const session = new RespSession(1, new RespWriter(), 0)
  const parser = new RespParser({ maxBulkBytes: config.limits.maxRequestBytes })
  const mcSession = new MemcacheSession({
    execute: (command: unknown) => engine.execute(command),
    clock: engine.clock,
    counters: new MemcacheCounters(),
    version: 'bench',
    stats: () => null,
    scheduleFlush: () => {},
    dueFlush: () => null,
    authenticate: () => 0
  }, { maxKeyBytes: config.limits.maxKeyBytes, maxValueBytes: config.limits.maxValueBytes, maxRetrievalLineBytes: 2048 })
  const respBatch = (chunk: Buffer): number => {
    parser.feed(chunk)
    let n = 0
    while (parser.next() === 1) { commands.execute(session, parser.argv, parser.argc); n++ }
    const out = session.out
    const length = out.pending().length
    out.sent(false)
    return length + n
  }
  const mcBatch = (chunk: Buffer): number => {
    mcSession.push(chunk)
    mcSession.run()
    const length = mcSession.output.take()?.length ?? 0
    mcSession.output.recycle()
    return length
  }
  for (let i = 0; i < KEYS; i += 10) respBatch(Buffer.from(resp('MSET', ...Array.from({ length: 10 }, (_, j) => [keyText(i + j), value]).flat()), 'latin1'))
  return {
    step: (kind, chunk) => kind === 'mc' ? mcBatch(chunk) : respBatch(chunk),
    close: async () => { await engine.close() }
  }
}

if (process.env.A === undefined) {
  // Under `npm run bench:micro` there is no second build to compare with: say how, and pass.
  console.log('protocol-ab: set A=<dist of the base build> (and B=<dist>, default this tree\'s dist/) to compare two builds; skipped')
  process.exit(0)
}
const a = await build(process.env.A)
const b = await build(process.env.B ?? fileURLToPath(new URL('../../dist/', import.meta.url)))
const kinds = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['get', 'set', 'incr', 'mc', 'mset']
let sink = 0
let cursor = 0
function burst (target: Build, kind: string, count: number): number {
  const input = inputs[kind]!
  const before = process.cpuUsage()
  for (let i = 0; i < count; i++) sink += target.step(kind, input[cursor++ % BATCHES]!)
  const cpu = process.cpuUsage(before)
  return (cpu.user + cpu.system) * 1000 / (count * PIPELINE)
}
const median = (xs: number[]): number => { const s = [...xs].sort((x, y) => x - y); return s[s.length >> 1]! }
console.log(`| case (CPU ns per request) | A min | B min | B/A (min) | A median | B median | B/A (median) |`)
console.log('|---|---|---|---|---|---|---|')
for (const kind of kinds) {
  for (let i = 0; i < 20; i++) { burst(a, kind, 200); burst(b, kind, 200) } // warm-up (JIT)
  const timesA: number[] = []
  const timesB: number[] = []
  for (let i = 0; i < BURSTS; i++) {
    // Alternate which build goes first, so neither always follows the other.
    if (i % 2 === 0) { timesA.push(burst(a, kind, BURST_BATCHES)); timesB.push(burst(b, kind, BURST_BATCHES)) } else { timesB.push(burst(b, kind, BURST_BATCHES)); timesA.push(burst(a, kind, BURST_BATCHES)) }
  }
  const minA = Math.min(...timesA)
  const minB = Math.min(...timesB)
  const medA = median(timesA)
  const medB = median(timesB)
  console.log(`| ${kind} ×${PIPELINE} | ${minA.toFixed(0)} | ${minB.toFixed(0)} | ${(minB / minA).toFixed(2)} | ${medA.toFixed(0)} | ${medB.toFixed(0)} | ${(medB / medA).toFixed(2)} |`)
}
if (sink === 0) console.log('(no output)')
await a.close()
await b.close()
process.exit(0)
