/**
 * The cluster message codecs: round trips, and malformed payloads refused with PEER_PROTOCOL
 * (a peer speaking garbage must never take a node down).
 */
import t, { type Test } from 'tap'
import {
  decodeCounts, decodeDigests, decodeForwardHead, decodeForwardResp, decodePartitions, decodeReplicate, decodeU32,
  encodeCounts, encodeDigests, encodeForwardHead, encodeForwardResp, encodePartitions, encodeReplicate, encodeU32
} from '../../src/cluster/cluster-messages.js'
import { SlabcacheError } from '../../src/errors.js'

const join = (parts: Buffer | Buffer[]): Buffer => Buffer.isBuffer(parts) ? parts : Buffer.concat(parts)

function refused (t: Test, fn: () => unknown, what: string): void {
  try {
    fn()
    t.fail(`${what}: accepted`)
  } catch (error) {
    t.ok(error instanceof SlabcacheError && error.code === 'PEER_PROTOCOL', `${what}: PEER_PROTOCOL`)
  }
}

t.test('FORWARD_RESP round trip, every truncation refused', async (t) => {
  const argv = [Buffer.from('SET'), Buffer.from('key'), Buffer.alloc(0), new Uint8Array([0, 13, 10, 255])]
  const payload = join(encodeForwardResp(7, argv, 'quorum'))
  const decoded = decodeForwardResp(payload)
  t.equal(decoded.consistency, 'quorum')
  t.equal(decoded.tenantId, 7)
  t.same(decoded.argv.map((a) => [...a]), argv.map((a) => [...a]))
  for (let cut = 0; cut < payload.length; cut++) refused(t, () => decodeForwardResp(payload.subarray(0, cut)), `cut at ${cut}`)
  refused(t, () => decodeForwardResp(Buffer.concat([payload, Buffer.of(0)])), 'trailing byte')
  const bad = Buffer.from(payload)
  bad[0] = 9
  refused(t, () => decodeForwardResp(bad), 'unknown consistency')
})

t.test('FORWARD_CMD head', async (t) => {
  const decoded = decodeForwardHead(Buffer.concat([encodeForwardHead('all'), Buffer.from('rest')]))
  t.equal(decoded.consistency, 'all')
  t.equal(decoded.command.toString(), 'rest')
  refused(t, () => decodeForwardHead(Buffer.alloc(0)), 'empty')
})

t.test('REPLICATE round trip with records and tombstones; truncations refused', async (t) => {
  const records = [Buffer.from('record-one'), Buffer.from('record-two!')]
  const tombstones = [{ tenantId: 3, key: Buffer.from('gone'), stamp: 1_700_000_000_000 * 1024 + 5 }, { tenantId: 0, key: Buffer.alloc(0), stamp: 1 }]
  const payload = join(encodeReplicate(1, records, 21, tombstones))
  const decoded = decodeReplicate(payload)
  t.equal(decoded.kind, 1)
  t.equal(decoded.records.toString(), 'record-onerecord-two!')
  t.same(decoded.tombstones.map((x) => [x.tenantId, x.key.toString(), x.stamp]), tombstones.map((x) => [x.tenantId, x.key.toString(), x.stamp]))
  for (let cut = 0; cut < payload.length; cut++) refused(t, () => decodeReplicate(payload.subarray(0, cut)), `cut at ${cut}`)
  refused(t, () => decodeReplicate(Buffer.concat([payload, Buffer.of(1)])), 'trailing byte')
})

t.test('DIGEST, partition lists, counts', async (t) => {
  const digests = [{ partition: 0, items: 5, digest: 0xdeadbeef }, { partition: 4095, items: 0, digest: 0 }]
  t.same(decodeDigests(encodeDigests(digests)), digests)
  t.same(decodePartitions(encodePartitions([1, 2, 4095])), [1, 2, 4095])
  t.same(decodeCounts(encodeCounts(9, 10)), [9, 10])
  t.equal(decodeU32(encodeU32(123456)), 123456)
  refused(t, () => decodeDigests(encodeDigests(digests).subarray(0, 13)), 'short digest list')
  refused(t, () => decodePartitions(Buffer.of(2, 0, 0, 0, 1, 0)), 'short partition list')
  refused(t, () => decodeCounts(Buffer.alloc(7)), 'short counts')
})
