import t from 'tap'
import { startTestServer } from './fixtures/server.js'
import type { Result } from '../src/command/command.js'
import { SetMode } from '../src/core/store-status.js'

t.test('scan - one call visits a bounded number of buckets; following the cursor finds every key once', async (t) => {
  const server = await startTestServer(t)
  const engine = server.engine
  const empty = engine.execute({ op: 'scan', tenantId: 0, cursor: 0, count: 10 }) as Result
  t.equal(empty.keys.length, 0)
  t.not(empty.cursor, 0, 'an empty table is not walked whole in one call: the cursor says where to go on')
  for (let i = 0; i < 500; i++) {
    engine.execute({ op: 'set', tenantId: 0, key: Buffer.from(`k${i}`), value: Buffer.from('v'), mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 })
  }
  const seen = new Set<string>()
  let cursor = 0
  let calls = 0
  do {
    const page = engine.execute({ op: 'scan', tenantId: 0, cursor, count: 100 }) as Result
    for (const key of page.keys) {
      t.notOk(seen.has(key.toString()), `${key.toString()} returned once`)
      seen.add(key.toString())
    }
    cursor = page.cursor
    calls++
  } while (cursor !== 0 && calls < 10_000)
  t.equal(seen.size, 500, 'every key was found')
})
