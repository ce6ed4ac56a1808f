import t from 'tap'
import { parseBearer } from '../../../src/server/http/auth.js'
import { etagMatches, etagOf, parseEtags } from '../../../src/server/http/conditions.js'
import { valueFromJson, valueToJson } from '../../../src/server/http/params.js'

t.test('parseBearer - tenant:secret, bare secret, and everything else refused', async (t) => {
  t.same(parseBearer('Bearer alpha:s3cret'), { tenant: 'alpha', secret: 's3cret' })
  t.same(parseBearer('bearer s3cret'), { tenant: null, secret: 's3cret' }, 'the scheme is case-insensitive')
  t.same(parseBearer('Bearer alpha:se:cret'), { tenant: 'alpha', secret: 'se:cret' }, 'only the first colon splits')
  for (const header of ['', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer :x', 'Bearer x:', 'Bearerx abc']) t.equal(parseBearer(header), null, JSON.stringify(header))
})

t.test('parseEtags - lists, weak tags, * and foreign tags', async (t) => {
  t.equal(parseEtags(''), null)
  t.same(parseEtags('*'), { any: true, cas: [] })
  t.same(parseEtags('"12", W/"34" ,"x"'), { any: false, cas: [12, 34] }, 'a tag that is not a CAS never matches')
  t.equal(etagOf(7), '"7"')
  t.ok(etagMatches(parseEtags(etagOf(7))!, 7))
  t.notOk(etagMatches(parseEtags('"8"')!, 7))
  t.ok(etagMatches(parseEtags('*')!, 123))
})

t.test('JSON values - UTF-8 text round-trips as text, other bytes as base64', async (t) => {
  t.same(valueToJson(Buffer.from('héllo')), { value: 'héllo' })
  t.same(valueToJson(Buffer.from([0xff, 0x00])), { value: '/wA=', encoding: 'base64' })
  t.same(valueToJson(Buffer.alloc(0)), { value: '' })
  t.same(valueFromJson('/wA=', 'base64'), Buffer.from([0xff, 0x00]))
  t.same(valueFromJson('héllo', undefined), Buffer.from('héllo'))
  t.throws(() => valueFromJson('abc', 'base64'), { code: 'BAD_REQUEST' }, 'base64 length not a multiple of 4')
  t.throws(() => valueFromJson(5, undefined), { code: 'BAD_REQUEST' })
  t.throws(() => valueFromJson('x', 'hex'), { code: 'BAD_REQUEST' })
})
