import t from 'tap'
import { etagOf } from '../../../src/server/http/conditions.js'
import {
  ASCII_FIELD_VALUE, EtagWriter, FIELD_VALUE, fieldValueKind, isAscii, isFieldValue, NOT_FIELD_VALUE, ScratchViews, STATUS_204, STATUS_304, StatusAndEtagWriter,
  TypeAndEtagWriter, writeEtag
} from '../../../src/server/http/wire.js'

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1')

t.test('writeEtag - the bytes of etagOf at every digit count, at an offset, and -1 for non-integers', async (t) => {
  const bytes = Buffer.alloc(40, 0x78)
  const values = [0, 1, 9, 10, 99, 100, 9999999, 10000000, 99999999, 100000000, 100000001, 123456789012, 10 ** 15, 2 ** 52 + 7, Number.MAX_SAFE_INTEGER]
  for (let digits = 1; digits <= 16; digits++) values.push(10 ** (digits - 1), 10 ** digits - 1)
  for (const cas of values.filter(Number.isSafeInteger)) {
    const end = writeEtag(bytes, 3, cas)
    t.equal(bytes.toString('latin1', 3, end), etagOf(cas), `cas ${cas}`)
    t.equal(bytes[2], 0x78, 'nothing written before the offset')
  }
  for (const cas of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN]) t.equal(writeEtag(bytes, 0, cas), -1, `${cas} is refused`)
})

t.test('EtagWriter - reused bytes, and the string form for a CAS it cannot write', async (t) => {
  const etags = new EtagWriter()
  t.equal(latin1(etags.of(42)), '"42"')
  const first = etags.of(1234)
  t.equal(etags.of(5678), first, 'one view per length, reused')
  t.equal(latin1(first), '"5678"', 'valid until the next call')
  t.equal(latin1(etags.of(-3)), '"-3"')
})

t.test('TypeAndEtagWriter - the Content-Type value carrying the ETag line; null when the type does not fit', async (t) => {
  const writer = new TypeAndEtagWriter(16)
  t.equal(latin1(writer.of(Buffer.from('text/plain'), 7)!), 'text/plain\r\nETag: "7"')
  t.equal(latin1(writer.of(Buffer.from('a'), Number.MAX_SAFE_INTEGER)!), `a\r\nETag: "${Number.MAX_SAFE_INTEGER}"`)
  t.equal(writer.of(Buffer.from('x'.repeat(17)), 1), null, 'longer than the capacity')
  t.equal(writer.of(Buffer.from('x'), -1), null, 'a CAS writeEtag refuses')
})

t.test('StatusAndEtagWriter - the status line carrying the ETag line, at every digit count; null for a CAS it cannot write', async (t) => {
  const written = new StatusAndEtagWriter(STATUS_204)
  const notModified = new StatusAndEtagWriter(STATUS_304)
  for (const cas of [0, 7, 12345678, 123456789, Number.MAX_SAFE_INTEGER]) {
    t.equal(latin1(written.of(cas)!), `204 No Content\r\nETag: ${etagOf(cas)}`, `204, cas ${cas}`)
    t.equal(latin1(notModified.of(cas)!), `304 Not Modified\r\nETag: ${etagOf(cas)}`, `304, cas ${cas}`)
  }
  t.equal(latin1(written.of(99)!), '204 No Content\r\nETag: "99"', 'a shorter ETag after a longer one: the prefix stays, no stale digits')
  t.equal(written.of(-1), null)
  t.equal(written.of(1.5), null)
})

t.test('ScratchViews and isAscii', async (t) => {
  const scratch = new ScratchViews(8)
  scratch.bytes.write('abcdefgh')
  t.equal(scratch.view(3).toString(), 'abc')
  t.equal(scratch.view(3), scratch.view(3), 'the same view each time')
  t.equal(scratch.view(0).length, 0)
  t.ok(isAscii(Buffer.from('text/plain; charset=utf-8')))
  t.notOk(isAscii(Buffer.from([0x74, 0xfc])))
  t.ok(isAscii(Buffer.alloc(0)))
})

t.test('isFieldValue and fieldValueKind - HTAB, SP, visible ASCII and obs-text only', async (t) => {
  t.ok(isFieldValue(Buffer.from('text/plain;\tq=1')))
  t.ok(isFieldValue(Buffer.from([0x61, 0x80, 0xff])), 'obs-text')
  for (const byte of [0x00, 0x01, 0x0a, 0x0d, 0x1f, 0x7f]) t.notOk(isFieldValue(Buffer.from([0x61, byte])), `0x${byte.toString(16)}`)
  t.equal(fieldValueKind(Buffer.from('text/plain')), ASCII_FIELD_VALUE)
  t.equal(fieldValueKind(Buffer.from([0x61, 0xfc])), FIELD_VALUE)
  t.equal(fieldValueKind(Buffer.from([0xfc, 0x0d, 0x0a])), NOT_FIELD_VALUE, 'a control byte after obs-text')
})
