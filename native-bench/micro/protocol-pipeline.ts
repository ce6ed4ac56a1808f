/**
 * Question: what does the main thread spend per pipelined request in the RESP and memcached
 * binary front ends, parsing, dispatch, engine call and reply encoding included, without the
 * socket? Redis-benchmark style batches of 16 requests (`-P 16`): GET and SET of
 * `key:<12 digits>` with 100-byte values over 100,000 keys, INCR, MSET of 10 keys, and a
 * memcached binary 90/10 GET/SET mix of 16 frames (mc-bench.mjs's traffic).
 * Decision it informs: which protocol-layer costs are left once the store is subtracted (the
 * "engine get alone" row), and before/after figures for each optimisation of issue 4.
 *
 * Setup: a real Engine (1 shard, 64 MiB, its shard worker from dist/) and the real RespParser,
 * RespCommands, RespWriter and MemcacheSession, fed pre-built request batches (one chunk per
 * batch, as a socket read delivers them); each batch's replies are taken as one Buffer, as the
 * servers hand them to socket.write. Per-request cost = per-batch time / 16.
 * A/B: `DIST=/path/to/other/dist` runs the same file against another build, so two builds are
 * compared in one sitting with the same inputs.
 * Run: `npm run build && node --import ./native-bench/ts-loader.mjs native-bench/micro/protocol-pipeline.ts`
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { bench, do_not_optimize, run, summary } from 'mitata'

const distDir = process.env.DIST !== undefined ? pathToFileURL(resolve(process.env.DIST) + '/').href : new URL('../../dist/', import.meta.url).href
const load = async (path: string): Promise<any> => await import(new URL(path, distDir).href)
const { Engine } = await load('engine.js')
const { defaultConfig } = await load('config/load-config.js')
const { RespCommands } = await load('protocol/resp-commands.js')
const { RespCounters, RespSession } = await load('protocol/resp-context.js')
const { RespParser } = await load('protocol/resp-parser.js')
const { RespWriter } = await load('protocol/resp-writer.js')
const { MemcacheCounters, MemcacheSession } = await load('protocol/memcache-session.js')

const KEYS = 100_000
const PIPELINE = 16
const BATCHES = 1024
const config = defaultConfig({ host: '127.0.0.1', httpPort: 0, respPort: 0, memcachePort: 0, shards: 1, memoryBytes: 64 * 1024 * 1024, logLevel: 'silent' })
const engine = await Engine.start(config)

const host = {
  execute: (command: unknown) => engine.execute(command),
  nowMs: () => engine.clock.nowMs(),
  settings: { maxKeyBytes: config.limits.maxKeyBytes, maxValueBytes: config.limits.maxValueBytes, maxRequestBytes: config.limits.maxRequestBytes, maxConnections: 100, memoryBytes: config.memoryBytes, bindHost: '127.0.0.1' },
  counters: new RespCounters(),
  processInfo: () => { throw new Error('unused') },
  authRequired: false
}
const commands = new RespCommands(host)
const session = new RespSession(1, new RespWriter(), 0)
const parser = new RespParser({ maxBulkBytes: config.limits.maxRequestBytes })

let seed = 42
const random = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % KEYS }
const keyText = (i: number): string => `key:${String(i).padStart(12, '0')}`
const value = 'x'.repeat(100)
const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`
const resp = (...args: string[]): string => `*${args.length}\r\n${args.map(bulk).join('')}`

function batches (make: () => string): Buffer[] {
  return Array.from({ length: BATCHES }, () => Buffer.from(Array.from({ length: PIPELINE }, make).join(''), 'latin1'))
}
const getBatches = batches(() => resp('GET', keyText(random())))
const setBatches = batches(() => resp('SET', keyText(random()), value))
const incrBatches = batches(() => resp('INCR', `counter:${String(random() % 1000).padStart(12, '0')}`))
const msetBatches = batches(() => resp('MSET', ...Array.from({ length: 10 }, () => [keyText(random()), value]).flat()))

/** One RESP batch as RespConnection#run handles it. */
function respBatch (chunk: Buffer): number {
  parser.feed(chunk)
  let n = 0
  while (parser.next() === 1) {
    commands.execute(session, parser.argv, parser.argc)
    n++
  }
  const out = session.out
  if (typeof out.pending !== 'function') return out.take().length + n // builds before pending()/sent()
  // As RespConnection#flush does when the socket took the whole batch at once.
  const length = out.pending().length
  out.sent(false)
  return length + n
}

// memcached binary: 24-byte header frames.
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
const setExtras = Buffer.alloc(8)
const mcValue = Buffer.alloc(100, 0x78)
const mcBatches = Array.from({ length: BATCHES }, () => Buffer.concat(Array.from({ length: PIPELINE }, (_, i) =>
  Math.random() < 0.9 ? frame(0x00, keyText(random()), Buffer.alloc(0), Buffer.alloc(0), i) : frame(0x01, keyText(random()), setExtras, mcValue, i))))
const mcBackend = {
  execute: (command: unknown) => engine.execute(command),
  clock: engine.clock,
  counters: new MemcacheCounters(),
  version: 'bench',
  stats: () => null,
  scheduleFlush: () => {},
  dueFlush: () => null,
  authenticate: () => 0
}
const mcSession = new MemcacheSession(mcBackend, { maxKeyBytes: config.limits.maxKeyBytes, maxValueBytes: config.limits.maxValueBytes, maxRetrievalLineBytes: 2048 })
function mcBatch (chunk: Buffer): number {
  mcSession.push(chunk)
  mcSession.run()
  const length = mcSession.output.take()?.length ?? 0
  // As MemcacheServer does once the socket has written the batch at once.
  mcSession.output.recycle?.()
  return length
}

// Preload every key, as the load harness does before its GETs.
for (let i = 0; i < KEYS; i += 10) respBatch(Buffer.from(resp('MSET', ...Array.from({ length: 10 }, (_, j) => [keyText(i + j), value]).flat()), 'latin1'))

const getCommand = { op: 'get', tenantId: 0, key: Buffer.alloc(0) }
const engineKeys = Array.from({ length: BATCHES * PIPELINE }, () => Buffer.from(keyText(random())))
let cursor = 0
const cases: Record<string, () => number> = {
  get: () => respBatch(getBatches[cursor++ % BATCHES]!),
  set: () => respBatch(setBatches[cursor++ % BATCHES]!),
  incr: () => respBatch(incrBatches[cursor++ % BATCHES]!),
  mset: () => respBatch(msetBatches[cursor++ % BATCHES]!),
  mc: () => mcBatch(mcBatches[cursor++ % BATCHES]!)
}
// `LOOP=get` (set, incr, mset, mc) runs one case in a plain timed loop instead of mitata: for
// `node --cpu-prof`, and a quick per-request figure.
const loopCase = process.env.LOOP
if (loopCase !== undefined) {
  const step = cases[loopCase]!
  const iterations = Number(process.env.ITERATIONS ?? 100_000)
  for (let i = 0; i < 20_000; i++) step()
  const started = process.hrtime.bigint()
  const cpuBefore = process.cpuUsage()
  for (let i = 0; i < iterations; i++) step()
  const cpu = process.cpuUsage(cpuBefore)
  const ns = Number(process.hrtime.bigint() - started)
  // CPU time is the steadier figure on a shared machine (wall time includes being descheduled).
  const perRequest = (totalNs: number): string => (totalNs / iterations / PIPELINE).toFixed(1)
  console.log(`${loopCase}: ${perRequest((cpu.user + cpu.system) * 1000)} ns CPU, ${perRequest(ns)} ns wall per request`)
  await engine.close()
  process.exit(0)
}
summary(() => {
  bench('engine get alone ×16 (the store floor)', () => {
    let n = 0
    for (let i = 0; i < PIPELINE; i++) {
      getCommand.key = engineKeys[cursor++ % engineKeys.length]!
      n += (engine.execute(getCommand) as { valueLength: number }).valueLength
    }
    return do_not_optimize(n)
  })
  bench('RESP GET ×16', () => do_not_optimize(cases.get!()))
  bench('RESP SET ×16', () => do_not_optimize(cases.set!()))
  bench('RESP INCR ×16', () => do_not_optimize(cases.incr!()))
  bench('RESP MSET(10 keys) ×16', () => do_not_optimize(cases.mset!()))
  bench('memcached binary 90/10 GET/SET ×16', () => do_not_optimize(cases.mc!()))
})

await run()
await engine.close()
