import t, { type Test } from 'tap'
import { decodeMemberRecords, encodeMemberRecords } from '../../src/cluster/member-codec.js'
import { Membership } from '../../src/cluster/membership.js'
import type { MemberRecord } from '../../src/cluster/membership.js'
import { SlabcacheError } from '../../src/errors.js'

const T0 = 1_765_000_000_000

const RECORDS: MemberRecord[] = [
  { id: 'n1', address: '127.0.0.1:7946', state: 'up', incarnation: T0 },
  { id: 'n2', address: '[::1]:7947', state: 'joining', incarnation: T0 + 5 },
  { id: 'nœud-3', address: 'hôte:7948', state: 'suspect', incarnation: 0 },
  { id: 'n4', address: '', state: 'dead', incarnation: 2 ** 53 - 1 },
  { id: 'n5', address: 'h:1', state: 'left', incarnation: 42 }
]

function refused (t: Test, payload: Buffer, message: RegExp, name: string): void {
  t.throws(() => decodeMemberRecords(payload), { code: 'PEER_PROTOCOL', name: 'PeerProtocolError', message }, name)
}

t.test('round trip - every state, unicode, empty address, the largest incarnation', async (t) => {
  const payload = encodeMemberRecords(RECORDS)
  t.ok(Buffer.isBuffer(payload))
  t.same(decodeMemberRecords(payload), RECORDS)
  t.same(decodeMemberRecords(encodeMemberRecords([])), [], 'no records')
})

t.test('round trip - a Membership table survives the wire and merges to the same table', async (t) => {
  const a = new Membership({ selfId: 'a', selfAddress: 'a:1', nowMs: T0, suspectAfterMs: 1000, deadAfterMs: 2000, joining: false })
  a.merge([{ id: 'b', address: 'b:1', state: 'suspect', incarnation: T0 - 9 }, { id: 'c', address: 'c:1', state: 'joining', incarnation: T0 + 1 }], T0)
  const b = new Membership({ selfId: 'b', selfAddress: 'b:1', nowMs: T0 - 9, suspectAfterMs: 1000, deadAfterMs: 2000, joining: false })
  b.merge(decodeMemberRecords(encodeMemberRecords(a.records())), T0)
  t.same(b.records().filter((r) => r.id !== 'b'), a.records().filter((r) => r.id !== 'b'))
  t.equal(b.self.incarnation, T0 - 8, 'b refuted the suspicion it received over the wire')
})

t.test('layout - pinned bytes (big-endian u16 count; u8 state, f64 incarnation, u16+utf8 id, u16+utf8 address)', async (t) => {
  const payload = encodeMemberRecords([{ id: 'ab', address: 'h:1', state: 'suspect', incarnation: 1 }])
  t.equal(payload.toString('hex'), '0001' + '02' + '3ff0000000000000' + '0002' + '6162' + '0003' + '683a31')
})

t.test('decode - a payload truncated at any byte is refused', async (t) => {
  const payload = encodeMemberRecords(RECORDS)
  let failures = 0
  for (let length = 0; length < payload.length; length++) {
    try {
      decodeMemberRecords(payload.subarray(0, length))
      failures++
      t.fail(`decoded a payload truncated to ${length} of ${payload.length} bytes`)
    } catch (err) {
      if (!(err instanceof SlabcacheError) || err.code !== 'PEER_PROTOCOL') {
        failures++
        t.fail(`truncated to ${length}: ${String(err)}`)
      }
    }
  }
  t.equal(failures, 0, `all ${payload.length} truncations refused with PEER_PROTOCOL`)
})

t.test('decode - refuses malformed payloads with PEER_PROTOCOL, saying what is wrong', async (t) => {
  const one = encodeMemberRecords([{ id: 'ab', address: 'h:1', state: 'up', incarnation: 7 }])
  const patched = (offset: number, bytes: number[]): Buffer => {
    const copy = Buffer.from(one)
    Buffer.from(bytes).copy(copy, offset)
    return copy
  }
  const withIncarnation = (value: number): Buffer => {
    const copy = Buffer.from(one)
    copy.writeDoubleBE(value, 3)
    return copy
  }
  refused(t, Buffer.alloc(0), /no record count/, 'empty')
  refused(t, Buffer.from([0]), /no record count/, 'one byte')
  refused(t, Buffer.concat([one, Buffer.from([0])]), /1 bytes after the last record/, 'a trailing byte')
  refused(t, patched(0, [0x00, 0x00]), /bytes after the last record/, 'count too small')
  refused(t, patched(0, [0xff, 0xff]), /65535 records cannot fit/, 'absurd count')
  refused(t, patched(2, [5]), /unknown state 5/, 'state 5')
  refused(t, patched(2, [0xff]), /unknown state 255/, 'state 255')
  refused(t, withIncarnation(Number.NaN), /invalid incarnation NaN/, 'NaN incarnation')
  refused(t, withIncarnation(-1), /invalid incarnation -1/, 'negative incarnation')
  refused(t, withIncarnation(1.5), /invalid incarnation 1.5/, 'fractional incarnation')
  refused(t, withIncarnation(2 ** 53), /invalid incarnation/, 'incarnation beyond 2^53')
  refused(t, withIncarnation(Infinity), /invalid incarnation Infinity/, 'infinite incarnation')
  refused(t, patched(11, [0x00, 0x09]), /id of 9 bytes is truncated/, 'id length past the end')
  refused(t, patched(13, [0xc3, 0x28]), /id is not valid UTF-8/, 'invalid UTF-8 id')
  refused(t, patched(17, [0xff]), /address is not valid UTF-8/, 'invalid UTF-8 address')
  const emptyId = Buffer.from('0001' + '01' + '401c000000000000' + '0000' + '0001' + '68', 'hex')
  refused(t, emptyId, /empty id/, 'empty id')
})

t.test('decode - random garbage never throws anything but PEER_PROTOCOL', async (t) => {
  let state = 12345
  const next = (): number => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state >>> 24 }
  const valid = encodeMemberRecords(RECORDS)
  let other = 0
  let decoded = 0
  for (let i = 0; i < 2000; i++) {
    // Half pure noise, half a valid payload with one byte flipped.
    const payload = i % 2 === 0
      ? Buffer.from(Array.from({ length: next() % 64 }, next))
      : Buffer.from(valid)
    if (i % 2 === 1) payload[next() % payload.length] ^= 1 + (next() % 255)
    try {
      decodeMemberRecords(payload)
      decoded++
    } catch (err) {
      if (!(err instanceof SlabcacheError) || err.code !== 'PEER_PROTOCOL') other++
    }
  }
  t.equal(other, 0, 'no other error escaped')
  t.ok(decoded < 2000, `${2000 - decoded} of 2000 refused`)
})

t.test('encode - refuses records that cannot be sent', async (t) => {
  const ok: MemberRecord = { id: 'a', address: 'h:1', state: 'up', incarnation: 1 }
  const bad: Array<[unknown, RegExp]> = [
    [{ ...ok, id: '' }, /id must be 1 to 65535 UTF-8 bytes; received 0/],
    [{ ...ok, id: 'x'.repeat(65536) }, /id must be 1 to 65535 UTF-8 bytes; received 65536/],
    [{ ...ok, address: 'é'.repeat(40000) }, /address must be at most 65535 UTF-8 bytes; received 80000/],
    [{ ...ok, state: 'gone' }, /state must be one of joining, up, suspect, dead, left/],
    [{ ...ok, incarnation: -2 }, /incarnation must be a non-negative integer/],
    [{ ...ok, incarnation: Number.NaN }, /incarnation/]
  ]
  for (const [record, message] of bad) {
    t.throws(() => encodeMemberRecords([record as MemberRecord]), { name: 'RangeError', message })
  }
  t.throws(() => encodeMemberRecords(Array(65536).fill(ok)), { name: 'RangeError', message: /at most 65535 member records/ })
  t.equal(decodeMemberRecords(encodeMemberRecords(Array(65535).fill(ok))).length, 65535, 'the largest count round-trips')
})
