/**
 * The snapshot file format: a real snapshot (written by a running server) verifies; every
 * truncation, every single flipped bit, a wrong magic and a wrong version are refused with
 * their own code and a message naming the file; and a refused file changes nothing on restore,
 * on demand or at start.
 */
import t, { type Test } from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SlabcacheError } from '../../src/errors.js'
import { crc32c } from '../../src/persist/crc32c.js'
import { verifySnapshot } from '../../src/persist/snapshot-verify.js'
import { BLOCK_HEADER_BYTES, HEADER_BYTES, SNAPSHOT_VERSION, TRAILER_BYTES, decodeHeader } from '../../src/persist/snapshot-format.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { readItems, sameItems } from '../fixtures/snapshot-data.js'

/** A small snapshot with tags, content types, TTLs and flags, so every bit can be flipped. */
async function smallSnapshot (t: Test): Promise<{ server: TestServer, dataDir: string, file: string, bytes: Buffer, keys: string[] }> {
  const dataDir = t.testdir({})
  const server = await startTestServer(t, { dataDir })
  const keys: string[] = []
  for (let i = 0; i < 24; i++) {
    const key = `f${i}`
    const headers: Record<string, string> = { 'content-type': 'text/x-test' }
    if (i % 3 === 0) headers['x-slabcache-tags'] = `g${i % 2},h`
    const res = await fetch(`${server.url}/v1/cache/${key}${i % 2 === 0 ? '?ttl=900' : ''}`, { method: 'PUT', body: `v${i}`.repeat(i % 4 + 1), headers })
    t.equal(res.status, 204)
    keys.push(key)
  }
  const info = await server.snapshots.save()
  return { server, dataDir, file: info.file, bytes: readFileSync(info.file), keys }
}

function refusal (bytes: Buffer): string | null {
  try {
    verifySnapshot(bytes, '/x/dump.slab')
    return null
  } catch (error) {
    if (!(error instanceof SlabcacheError)) throw error
    if (!error.message.includes('/x/dump.slab')) return 'NO_FILE_NAME'
    return error.code
  }
}

/** Offsets where blocks start (and the trailer), walking the verified structure. */
function boundaries (bytes: Buffer): number[] {
  const verified = verifySnapshot(bytes, 'f')
  return [HEADER_BYTES, ...verified.blocks.map((block) => block.payloadOffset + block.payloadBytes)]
}

t.test('a real snapshot verifies; its header and counts are what was saved', async (t) => {
  const { bytes, server } = await smallSnapshot(t)
  const verified = verifySnapshot(bytes, 'f')
  t.equal(verified.header.version, SNAPSHOT_VERSION)
  t.equal(verified.header.tenantId, -1, 'whole server')
  t.equal(verified.header.shardCount, server.engine.shards.count)
  t.equal(verified.trailer.items, 24)
  t.equal(verified.blocks.length, 2, 'one block per shard for a small snapshot')
  t.equal(verified.blocks.reduce((n, b) => n + b.items, 0), 24)
  t.equal(bytes.length, HEADER_BYTES + verified.blocks.reduce((n, b) => n + BLOCK_HEADER_BYTES + b.payloadBytes, 0) + TRAILER_BYTES, 'nothing else in the file')
})

t.test('every truncation is refused as SNAPSHOT_TRUNCATED: at every block boundary and at every other byte', async (t) => {
  const { bytes } = await smallSnapshot(t)
  const cuts = boundaries(bytes)
  t.ok(cuts.length >= 3, `${cuts.length} block boundaries`)
  for (const cut of cuts) t.equal(refusal(bytes.subarray(0, cut)), 'SNAPSHOT_TRUNCATED', `cut at block boundary ${cut}`)
  const wrong: number[] = []
  for (let length = 0; length < bytes.length; length++) {
    if (refusal(bytes.subarray(0, length)) !== 'SNAPSHOT_TRUNCATED') wrong.push(length)
  }
  t.same(wrong, [], `all ${bytes.length} shorter lengths refused as truncated`)
})

t.test('every single flipped bit anywhere in the file is refused (CORRUPT, or VERSION in the magic)', async (t) => {
  const { bytes } = await smallSnapshot(t)
  const accepted: number[] = []
  const wrongCode: string[] = []
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const copy = Buffer.from(bytes)
    copy[bit >> 3]! ^= 1 << (bit & 7)
    const code = refusal(copy)
    if (code === null) accepted.push(bit)
    else if (code !== (bit < 64 ? 'SNAPSHOT_VERSION' : 'SNAPSHOT_CORRUPT')) wrongCode.push(`bit ${bit}: ${code}`)
  }
  t.same(accepted, [], `none of ${bytes.length * 8} flips accepted`)
  t.same(wrongCode, [], 'each refused with the right code')
})

t.test('a wrong magic, an unknown version, and bytes after the trailer are refused', async (t) => {
  const { bytes } = await smallSnapshot(t)
  const magic = Buffer.from(bytes)
  magic.write('REDIS000', 0, 'latin1')
  t.equal(refusal(magic), 'SNAPSHOT_VERSION', 'wrong magic')
  t.equal(refusal(Buffer.from('not a snapshot at all')), 'SNAPSHOT_VERSION', 'a short file that is not a snapshot')
  t.equal(refusal(withVersion(bytes, 2)), 'SNAPSHOT_VERSION', 'version 2 (valid header CRC)')
  t.match(errorOf(withVersion(bytes, 2)).message, /format version 2 is not supported \(this build reads version 1\)/)
  t.equal(refusal(Buffer.concat([bytes, Buffer.from([0])])), 'SNAPSHOT_CORRUPT', 'one byte after the trailer')
})

function withVersion (bytes: Buffer, version: number): Buffer {
  const copy = Buffer.from(bytes)
  copy.writeUInt32LE(version, 8)
  copy.writeUInt32LE(crc32c(copy, 0, 60), 60)
  t.notOk('fault' in decodeHeader(copy) && decodeHeader(copy).fault === 'corrupt')
  return copy
}

function errorOf (bytes: Buffer): SlabcacheError {
  try { verifySnapshot(bytes, 'f') } catch (error) { return error as SlabcacheError }
  throw new Error('accepted')
}

t.test('a refused file changes nothing: restore on demand rejects with its code and every item is as before', async (t) => {
  const { server, file, bytes, keys } = await smallSnapshot(t)
  // Change the live data after the save, so a (wrong) partial load would show.
  for (const key of keys.slice(0, 6)) t.equal((await fetch(`${server.url}/v1/cache/${key}`, { method: 'PUT', body: 'changed' })).status, 204)
  t.equal((await fetch(`${server.url}/v1/cache/extra`, { method: 'PUT', body: 'extra' })).status, 204)
  const before = await readItems(t, server.url, server.memcachePort, [...keys, 'extra'])
  const flipped = Buffer.from(bytes)
  flipped[bytes.length - TRAILER_BYTES - 3]! ^= 0x10 // inside the last block's payload
  const cases: Array<[string, Buffer, string]> = [
    ['truncated mid-block', bytes.subarray(0, bytes.length - TRAILER_BYTES - 5), 'SNAPSHOT_TRUNCATED'],
    ['truncated at the trailer', bytes.subarray(0, bytes.length - TRAILER_BYTES), 'SNAPSHOT_TRUNCATED'],
    ['one flipped bit', flipped, 'SNAPSHOT_CORRUPT'],
    ['wrong version', withVersion(bytes, 7), 'SNAPSHOT_VERSION']
  ]
  for (const [what, content, code] of cases) {
    writeFileSync(file, content)
    await t.rejects(server.snapshots.restore(), { code, message: new RegExp(file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) }, `${what}: ${code}, naming the file`)
    const after = await readItems(t, server.url, server.memcachePort, [...keys, 'extra'])
    t.equal(after.size, before.size, `${what}: no key gone`)
    sameItems(t, before, after, 5)
    t.equal(server.engine.stats().items, before.size, `${what}: no key added`)
  }
  t.equal(server.snapshots.saving, false)
})

t.test('a refused file stops start-up (no empty server that would overwrite it); --no-restore-on-start starts empty', async (t) => {
  const { server, dataDir, file, bytes } = await smallSnapshot(t)
  await server.close()
  writeFileSync(file, bytes.subarray(0, 100))
  await t.rejects(startTestServer(t, { dataDir }), { code: 'SNAPSHOT_TRUNCATED' })
  t.same(readFileSync(file), bytes.subarray(0, 100), 'the file is left as it was')
  const empty = await startTestServer(t, { dataDir, snapshot: { restoreOnStart: false } })
  t.equal(empty.engine.stats().items, 0)
  t.ok(join(dataDir, 'snapshots', 'dump.slab') === file)
})
