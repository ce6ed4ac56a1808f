/**
 * The engine's replication hooks on real engines (real shard workers): onWrite reports every
 * successful local write once, with the CAS the store gave it (the tombstone stamp for a
 * delete), and nothing else; applyRecords moves a whole engine's contents into another with a
 * different shard count LWW (then re-applying is all stale); applyTombstone, versionOf,
 * exportKey, exportShard and visitShard on the key's or the named shard.
 */
import t, { type Test } from 'tap'
import { defaultConfig } from '../src/config/load-config.js'
import { Engine } from '../src/engine.js'
import type { Command, Result } from '../src/command/command.js'
import { CounterMode, SetMode, StoreStatus } from '../src/core/store-status.js'
import { ExportBuffer } from '../src/core/slab-export.js'
import { decodeRecord } from '../src/persist/snapshot-format.js'
import { SlabcacheError } from '../src/errors.js'

const b = (s: string): Buffer => Buffer.from(s)

async function startEngine (t: Test, shards: number): Promise<Engine> {
  const engine = await Engine.start(defaultConfig({ shards, memoryBytes: 48 * 1024 * 1024, logLevel: 'silent' }))
  t.teardown(async () => { await engine.close() })
  return engine
}

function run (engine: Engine, command: Command): Result {
  const result = engine.execute(command)
  if (result instanceof Promise) throw new Error('inline command expected')
  return result
}

interface SetArgs { mode?: SetMode, ttlMs?: number, flags?: number, casExpected?: number, tags?: string[], contentType?: string, tenantId?: number }
function set (engine: Engine, key: string, value: string | Buffer, args: SetArgs = {}): Result {
  return run(engine, {
    op: 'set',
    tenantId: args.tenantId ?? 0,
    key: b(key),
    value: typeof value === 'string' ? b(value) : value,
    mode: args.mode ?? SetMode.SET,
    ttlMs: args.ttlMs ?? 0,
    flags: args.flags ?? 0,
    keepTtl: false,
    casExpected: args.casExpected ?? 0,
    ...(args.tags !== undefined ? { tags: args.tags.map(b) } : {}),
    ...(args.contentType !== undefined ? { contentType: b(args.contentType) } : {})
  })
}

interface Observed { tenantId: number, key: string, cas: number, deleted: boolean }
function observe (engine: Engine): Observed[] {
  const seen: Observed[] = []
  engine.onWrite = (tenantId, key, cas, deleted) => { seen.push({ tenantId, key: Buffer.from(key).toString(), cas, deleted }) }
  return seen
}

/** Every record of every shard of `engine`, decoded, keyed "tenant/key". */
function exportAll (engine: Engine): Map<string, string> {
  const records = new Map<string, string>()
  const out = new ExportBuffer(256)
  for (let shard = 0; shard < engine.shardCount; shard++) {
    let cursor = 0
    do {
      cursor = engine.exportShard(shard, cursor, 64, 4096, out, null)
      if (cursor < 0) throw new Error('lock timeout')
    } while (cursor !== 0)
  }
  for (let at = 0; at < out.length;) {
    const record = decodeRecord(out.bytes.subarray(0, out.length), at)
    if (record === null) throw new Error('malformed export')
    records.set(`${record.tenantId}/${record.key.toString('latin1')}`, JSON.stringify({
      flags: record.flags,
      expiryMs: record.expiryMs,
      cas: record.cas,
      contentType: record.contentType?.toString('latin1') ?? null,
      tags: record.tags?.map((tag) => tag.toString('latin1')).sort() ?? null,
      value: record.value.toString('latin1')
    }))
    at += record.recordBytes
  }
  return records
}

/** All records of `engine` as one buffer (what a rebalancing stream would carry). */
function exportBytes (engine: Engine, filter: ((tenantId: number, bytes: Uint8Array, offset: number, length: number) => boolean) | null = null): Buffer {
  const out = new ExportBuffer(256)
  for (let shard = 0; shard < engine.shardCount; shard++) {
    let cursor = 0
    do { cursor = engine.exportShard(shard, cursor, 1 << 20, 1 << 30, out, filter) } while (cursor > 0)
    if (cursor < 0) throw new Error('lock timeout')
  }
  return Buffer.from(out.bytes.subarray(0, out.length))
}

t.test('onWrite - once per successful local write of every kind, with the new CAS; never for failed writes', async (t) => {
  const engine = await startEngine(t, 2)
  const seen = observe(engine)
  const expectOne = (label: string, key: string, deleted = false): Observed | undefined => {
    if (seen.length !== 1) { t.fail(`${label}: ${seen.length} calls`); seen.length = 0; return undefined }
    const call = seen.pop()!
    t.equal(call.key, key, `${label}: the key`)
    t.equal(call.deleted, deleted, `${label}: deleted = ${deleted}`)
    if (!deleted) t.equal(call.cas, engine.versionOf(call.tenantId, b(key)), `${label}: the item's CAS`)
    return call
  }
  const expectNone = (label: string): void => { t.equal(seen.length, 0, `${label}: not observed`); seen.length = 0 }

  let result = set(engine, 'k', 'v', { tenantId: 4 })
  const first = expectOne('SET', 'k')!
  t.equal(first.cas, result.cas, 'the CAS the client was told')
  t.equal(first.tenantId, 4)
  set(engine, 'k', 'v', { tenantId: 4, mode: SetMode.ADD }); expectNone('ADD on a present key (NOT_STORED)')
  set(engine, 'k', 'v'); seen.length = 0
  set(engine, 'absent', 'v', { mode: SetMode.REPLACE }); expectNone('REPLACE on an absent key')
  set(engine, 'absent', 'v', { mode: SetMode.APPEND }); expectNone('APPEND on an absent key')
  set(engine, 'k', 'v', { mode: SetMode.CAS, casExpected: 1 }); expectNone('CAS with a wrong cas (EXISTS)')
  set(engine, 'absent', 'v', { mode: SetMode.CAS, casExpected: 1 }); expectNone('CAS on an absent key (NOT_FOUND)')
  set(engine, 'k'.repeat(5000), 'v'); expectNone('KEY_TOO_LARGE')
  set(engine, 'big', Buffer.alloc(9 << 20)); expectNone('VALUE_TOO_LARGE')
  const casOfK = engine.versionOf(0, b('k'))
  result = set(engine, 'k', 'w', { mode: SetMode.CAS, casExpected: casOfK })
  t.ok(expectOne('CAS', 'k')!.cas > casOfK)
  set(engine, 'k', 'x', { mode: SetMode.ADD, tenantId: 1 }); expectOne('ADD', 'k')
  set(engine, 'k', 'r', { mode: SetMode.REPLACE }); expectOne('REPLACE', 'k')
  set(engine, 'k', '+', { mode: SetMode.APPEND }); expectOne('APPEND', 'k')
  set(engine, 'k', '-', { mode: SetMode.PREPEND }); expectOne('PREPEND', 'k')
  set(engine, 'new', 'a', { mode: SetMode.APPEND_OR_SET }); expectOne('APPEND_OR_SET creating', 'new')

  const beforeTouch = engine.versionOf(0, b('k'))
  run(engine, { op: 'touch', tenantId: 0, key: b('k'), ttlMs: 60_000 })
  t.ok(expectOne('touch', 'k')!.cas > beforeTouch, 'a touch is a new version when observed')
  run(engine, { op: 'touch', tenantId: 0, key: b('absent'), ttlMs: 1 }); expectNone('touch of an absent key')

  run(engine, { op: 'incr', tenantId: 0, key: b('n'), delta: 5n, mode: CounterMode.REDIS }); expectOne('incr creating', 'n')
  run(engine, { op: 'incr', tenantId: 0, key: b('n'), delta: -2n, mode: CounterMode.REDIS }); expectOne('decr in place', 'n')
  run(engine, { op: 'incr', tenantId: 0, key: b('n'), delta: 2n ** 62n, mode: CounterMode.REDIS }); expectOne('incr rewriting', 'n')
  run(engine, { op: 'incr', tenantId: 0, key: b('k'), delta: 1n, mode: CounterMode.REDIS }); expectNone('incr of a non-number')
  run(engine, { op: 'incr', tenantId: 0, key: b('absent'), delta: 1n, mode: CounterMode.MEMCACHED }); expectNone('memcached incr of an absent key')

  const allowed = run(engine, { op: 'rateLimit', tenantId: 0, key: b('rl'), burst: 0, count: 1, periodMs: 60_000, cost: 1 })
  t.equal(allowed.allowed, true)
  expectOne('rateLimit that wrote', 'rl')
  const limited = run(engine, { op: 'rateLimit', tenantId: 0, key: b('rl'), burst: 0, count: 1, periodMs: 60_000, cost: 1 })
  t.equal(limited.allowed, false)
  expectNone('rateLimit that refused (nothing written)')

  const beforeDelete = engine.versionOf(0, b('k'))
  run(engine, { op: 'delete', tenantId: 0, key: b('k') })
  const tombstone = expectOne('delete', 'k', true)!
  t.ok(tombstone.cas > beforeDelete, 'the tombstone stamp is above the deleted version')
  run(engine, { op: 'delete', tenantId: 0, key: b('k') }); expectNone('delete of an absent key')

  set(engine, 'tagged', 'v', { tags: ['x'] }); seen.length = 0
  run(engine, { op: 'invalidateTag', tenantId: 0, tag: b('x') }); expectNone('invalidateTag')
  await engine.execute({ op: 'flush', tenantId: -1 }); expectNone('flush')
  run(engine, { op: 'get', tenantId: 0, key: b('n') }); expectNone('get')

  engine.onWrite = null
  set(engine, 'quiet', 'v')
  t.equal(seen.length, 0, 'a cleared observer is not called')
  t.equal(engine.versionOf(0, b('quiet')) > 0, true)
  run(engine, { op: 'touch', tenantId: 0, key: b('quiet'), ttlMs: 60_000 })
})

t.test('applyRecords - all of A into B (another shard count) makes B equal to A; re-applying is all stale; no onWrite', async (t) => {
  const a = await startEngine(t, 2)
  const bEngine = await startEngine(t, 3)
  t.equal(a.shardCount, 2)
  t.equal(bEngine.shardCount, 3)
  for (let i = 0; i < 400; i++) {
    set(a, `key:${i}`, i === 11 ? 'z'.repeat(600_000) : `value ${i} `.repeat(i % 6), {
      tenantId: i % 5,
      flags: i,
      ttlMs: i % 4 === 0 ? 3_600_000 : 0,
      ...(i % 3 === 0 ? { tags: [`t${i % 7}`, 'all'] } : {}),
      ...(i % 2 === 0 ? { contentType: 'text/plain' } : {})
    })
  }
  const source = exportAll(a)
  t.equal(source.size, 400)
  const seen = observe(bEngine)
  const bytes = exportBytes(a)
  t.same(bEngine.applyRecords(bytes, false), { applied: 400, stale: 0, failed: 0 })
  t.same(exportAll(bEngine), source, 'B holds every record of A, field for field (CAS included)')
  t.same(bEngine.applyRecords(bytes, false), { applied: 0, stale: 400, failed: 0 }, 're-applying: all stale')
  t.same(bEngine.applyRecords(bytes, true), { applied: 400, stale: 0, failed: 0 }, 'equal versions winning ties are applied')
  t.same(bEngine.applyRecords(Buffer.alloc(0), false), { applied: 0, stale: 0, failed: 0 })
  t.equal(seen.length, 0, 'onWrite is not called for applied records')
  const tagged = run(bEngine, { op: 'get', tenantId: 0, key: b('key:0'), withTags: true })
  t.same(tagged.tags.map(String).sort(), ['all', 't0'])
  t.equal(tagged.contentType?.toString(), 'text/plain')

  // A newer local write on B wins over A's older record; a tombstone applies LWW.
  set(bEngine, 'key:1', 'newer on B', { tenantId: 1 })
  seen.length = 0
  const newer = bEngine.versionOf(1, b('key:1'))
  const one = new ExportBuffer(64)
  t.equal(a.exportKey(1, b('key:1'), one), JSON.parse(source.get('1/key:1')!).cas)
  t.same(bEngine.applyRecords(one.take(), false), { applied: 0, stale: 1, failed: 0 })
  t.equal(run(bEngine, { op: 'get', tenantId: 1, key: b('key:1') }).value!.toString('latin1', 0, 10), 'newer on B')
  t.equal(bEngine.applyTombstone(1, b('key:1'), newer - 1, true), StoreStatus.EXISTS)
  t.equal(bEngine.applyTombstone(1, b('key:1'), newer, false), StoreStatus.EXISTS)
  t.equal(bEngine.applyTombstone(1, b('key:1'), newer, true), StoreStatus.OK)
  t.equal(bEngine.versionOf(1, b('key:1')), 0)
  t.equal(bEngine.applyTombstone(1, b('key:1'), newer + 1, false), StoreStatus.NOT_FOUND)
  t.equal(seen.length, 0, 'nor for tombstones')
  t.equal(a.exportKey(1, b('absent'), one), 0)
  t.equal(one.length, 0)

  // Records the store refuses count as failed; a malformed one throws PEER_PROTOCOL.
  const refused = Buffer.from(exportBytes(a, (tenant, key, offset, length) => tenant === 0 && key[offset + length - 1] === 0x30))
  t.equal(decodeRecord(refused, 0) !== null, true)
  refused.writeUInt32LE(5000, 0) // tenant out of range
  t.same(bEngine.applyRecords(refused.subarray(0, decodeRecord(refused, 0)!.recordBytes), false), { applied: 0, stale: 0, failed: 1 })
  const cut = bytes.subarray(0, bytes.length - 1)
  let thrown: unknown = null
  try { bEngine.applyRecords(cut, false) } catch (error) { thrown = error }
  t.ok(thrown instanceof SlabcacheError, 'a malformed record throws a SlabcacheError')
  t.match(thrown, { code: 'PEER_PROTOCOL', name: 'PeerProtocolError' })
})

t.test('exportShard with a filter and visitShard cover each shard\'s items once', async (t) => {
  const engine = await startEngine(t, 3)
  for (let i = 0; i < 300; i++) set(engine, `k${i}`, 'v', { tenantId: i % 2 })
  const visited = new Map<string, number>()
  let total = 0
  for (let shard = 0; shard < engine.shardCount; shard++) {
    let cursor = 0
    do {
      cursor = engine.visitShard(shard, cursor, 100, (tenantId, bytes, offset, length, cas) => {
        const key = Buffer.from(bytes.subarray(offset, offset + length)).toString()
        visited.set(`${tenantId}/${key}`, cas)
        total++
        if (engine.shardOf(tenantId, Buffer.from(key)) !== shard) t.fail(`${key} visited on shard ${shard}`)
      })
      if (cursor < 0) throw new Error('lock timeout')
    } while (cursor !== 0)
  }
  t.equal(total, 300, 'every item visited once')
  t.equal(visited.size, 300)
  let right = 0
  for (const [id, cas] of visited) {
    const [tenant, key] = id.split('/') as [string, string]
    if (engine.versionOf(Number(tenant), b(key)) === cas) right++
  }
  t.equal(right, 300, 'with its CAS')
  const filtered = exportBytes(engine, (tenantId) => tenantId === 1)
  let records = 0
  for (let at = 0; at < filtered.length; records++) {
    const record = decodeRecord(filtered, at)!
    t.equal(record.tenantId, 1)
    at += record.recordBytes
  }
  t.equal(records, 150)
})
