// A snapshot taken while clients keep writing is internally consistent per key (issue 6 must-show):
// every key is in it exactly once, with a value some write actually wrote for that key — never a
// torn mix of two writes — and no older than the last write acknowledged before the snapshot began.
// Each value encodes its key and a version, and its length varies with the version, so a record
// copied half before and half after an overwrite would not decode.
import t from 'tap'
import { Redis } from 'ioredis'
import { startTestServer } from '../fixtures/server.js'
import { call } from '../fixtures/http.js'

const KEYS = 20_000
const WRITERS = 3
const ATTEMPTS = 5

function keyOf (i: number): string { return `key:${i}` }

/** The value of version `version` of key i: self-describing, 20–420 bytes long. */
function valueOf (i: number, version: number): string {
  const fill = String.fromCharCode(97 + ((i + version) % 26)).repeat((version * 37 + i) % 400)
  return `${keyOf(i)}|v${version}|${fill}|end`
}

function versionIn (i: number, value: string): number {
  const match = /^key:(\d+)\|v(\d+)\|/.exec(value)
  if (match === null || Number(match[1]) !== i) return -1
  const version = Number(match[2])
  return valueOf(i, version) === value ? version : -1
}

t.test('a snapshot taken under a write load holds, per key, one complete version that was written', async (t) => {
  const server = await startTestServer(t, { dataDir: t.testdir({}), memoryBytes: 64 * 1024 * 1024 })
  const clients = Array.from({ length: WRITERS + 1 }, () => new Redis({ host: '127.0.0.1', port: server.respPort, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 }))
  t.teardown(() => { for (const client of clients) client.disconnect() })
  for (const client of clients) await client.connect()
  const reader = clients[WRITERS]!

  // Version 0 of every key; each key then belongs to one writer, whose writes to it are sequential,
  // so the order writes are applied in is the order they were issued.
  for (let from = 0; from < KEYS; from += 1000) {
    const args: string[] = []
    for (let i = from; i < Math.min(from + 1000, KEYS); i++) args.push(keyOf(i), valueOf(i, 0))
    await reader.mset(...args)
  }
  const issued = new Int32Array(KEYS)
  const acked = new Int32Array(KEYS)
  let running = true
  let writes = 0
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    const client = clients[w]!
    let seed = w + 1
    while (running) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      const i = (Math.floor(seed / 8) % Math.ceil(KEYS / WRITERS)) * WRITERS + w
      if (i >= KEYS) continue
      const version = ++issued[i]!
      await client.set(keyOf(i), valueOf(i, version))
      acked[i] = version
      writes++
    }
  })

  let overlapped = false
  for (let attempt = 1; attempt <= ATTEMPTS && !overlapped; attempt++) {
    // Let the load run for a while before each snapshot.
    const warm = writes + 2000
    while (writes < warm) await new Promise((resolve) => setTimeout(resolve, 1))
    const ackedAtStart = Int32Array.from(acked)
    const writesAtStart = writes
    const saved = await call(`${server.url}/v1/snapshots`, 'POST')
    const issuedAtEnd = Int32Array.from(issued)
    const during = writes - writesAtStart
    t.equal(saved.status, 201, `attempt ${attempt}: the snapshot was taken`)
    t.equal(saved.body.snapshot.items, KEYS, `attempt ${attempt}: every key is in the snapshot exactly once`)
    overlapped = during > 0
    t.comment(`attempt ${attempt}: ${during} writes were acknowledged while the snapshot ran (${saved.body.snapshot.durationMs} ms)`)

    if (!overlapped && attempt < ATTEMPTS) continue
    // Check the snapshot's contents: stop the writers, restore it, and read every key back.
    running = false
    await Promise.all(writers)
    const restored = await call(`${server.url}/v1/snapshots/restore`, 'POST')
    t.equal(restored.status, 200, JSON.stringify(restored.body))
    t.equal(restored.body.restore?.items, KEYS, 'every key was restored')
    let bad = 0
    let newer = 0
    for (let from = 0; from < KEYS; from += 1000) {
      const keys = Array.from({ length: Math.min(1000, KEYS - from) }, (_, j) => keyOf(from + j))
      const values = await reader.mget(...keys)
      for (let j = 0; j < values.length; j++) {
        const i = from + j
        const value = values[j]
        const version = value === null || value === undefined ? -1 : versionIn(i, value)
        if (version < ackedAtStart[i]! || version > issuedAtEnd[i]!) {
          if (bad++ < 5) t.fail(`${keyOf(i)}: ${value === null ? 'missing' : `version ${version}`}; expected a complete version from ${ackedAtStart[i]!} to ${issuedAtEnd[i]!}`)
        }
        if (version > ackedAtStart[i]!) newer++
      }
    }
    t.equal(bad, 0, 'every key holds a complete version written between the snapshot\'s start and end')
    t.comment(`${newer} keys hold a version written after the snapshot started`)
  }
  t.ok(overlapped, 'at least one snapshot ran while writes were being acknowledged (otherwise this test proves nothing)')
  running = false
  await Promise.all(writers)
})
