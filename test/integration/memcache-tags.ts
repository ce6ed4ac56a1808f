/**
 * Tags on the memcached text protocol (slabcache extensions tag_set / tag_invalidate) over raw
 * sockets against a real server: a tag set over memcached, RESP and HTTP is one tag of the same
 * tenant, invalidation counts exactly, the engine's tag limits answer CLIENT_ERROR at the
 * boundary with the data block swallowed, and noreply suppresses the replies. The binary
 * extension opcodes TAG_SET (0x61) and TAG_INVALIDATE (0x60) likewise.
 */
import t, { type Test } from 'tap'
import { startTestServer } from '../fixtures/server.js'
import { RawClient as Raw, binaryFrame, respCommand } from '../fixtures/raw-client.js'

const MAX_TAGS = 3
const MAX_TAG_BYTES = 8
const server = await startTestServer(t, { limits: { maxTagsPerItem: MAX_TAGS, maxTagBytes: MAX_TAG_BYTES } })

async function open (t: Test, port = server.memcachePort): Promise<Raw> {
  const raw = await Raw.open(t, port)
  t.teardown(() => raw.end())
  return raw
}

t.test('tag_set stores like set; tag_invalidate removes the keys tagged over memcached, RESP and HTTP', async (t) => {
  const mc = await open(t)
  const resp = await open(t, server.respPort)
  mc.write('tag_set mc:1 7 0 3 shared,mc\r\none\r\ntag_set mc:2 0 100 3 mc\r\ntwo\r\nset mc:plain 0 0 1\r\nx\r\n')
  t.same(await mc.lines(3), ['STORED', 'STORED', 'STORED'])
  mc.write('get mc:1 mc:2\r\n')
  t.same((await mc.values()).map((v) => [v.key, v.flags, v.value.toString()]), [['mc:1', 7, 'one'], ['mc:2', 0, 'two']], 'values and flags as set')

  resp.write(respCommand('TAG.GET', 'mc:1'))
  t.equal(await resp.line(), '*2', 'RESP sees the tags stored over memcached')
  t.same(await resp.lines(4), ['$6', 'shared', '$2', 'mc'])
  resp.write(respCommand('TAG.SET', 'resp:1', 'r', 'TAGS', 'shared'))
  t.equal(await resp.line(), '+OK')
  const put = await fetch(`${server.url}/v1/cache/http%3A1?tags=shared`, { method: 'PUT', body: 'h' })
  t.equal(put.status, 204)

  mc.write('tag_invalidate shared\r\n')
  t.equal(await mc.line(), '3', 'one memcached, one RESP and one HTTP key removed')
  mc.write('get mc:1 resp:1 http:1 mc:2 mc:plain\r\n')
  t.same((await mc.values()).map((v) => v.key), ['mc:2', 'mc:plain'], 'untouched keys stay')
  mc.write('tag_invalidate shared\r\ntag_invalidate mc\r\ntag_invalidate never\r\n')
  t.same(await mc.lines(3), ['0', '1', '0'])

  // A plain set replaces the item's tags with none.
  mc.write('tag_set mc:3 0 0 1 mc\r\na\r\nset mc:3 0 0 1\r\nb\r\ntag_invalidate mc\r\nget mc:3\r\n')
  t.same(await mc.lines(3), ['STORED', 'STORED', '0'])
  t.same((await mc.values()).map((v) => v.value.toString()), ['b'])
})

t.test('tag limits at the boundary: CLIENT_ERROR, the block swallowed, nothing stored', async (t) => {
  const mc = await open(t)
  const longest = 'x'.repeat(MAX_TAG_BYTES)
  mc.write(`tag_set lim:ok 0 0 2 a,b,${longest}\r\nok\r\n`)
  t.equal(await mc.line(), 'STORED', `${MAX_TAGS} tags, the longest ${MAX_TAG_BYTES} bytes`)
  mc.write('tag_set lim:many 0 0 2 a,b,c,d\r\nno\r\nget lim:many\r\n')
  t.equal(await mc.line(), `CLIENT_ERROR an item may carry at most ${MAX_TAGS} tags; received ${MAX_TAGS + 1}`)
  t.same(await mc.values(), [], 'the block was swallowed and nothing stored')
  mc.write(`tag_set lim:long 0 0 2 ${longest}y\r\nno\r\nget lim:long\r\n`)
  t.equal(await mc.line(), `CLIENT_ERROR a tag may be at most ${MAX_TAG_BYTES} bytes; received ${MAX_TAG_BYTES + 1}`)
  t.same(await mc.values(), [])
  mc.write(`tag_invalidate ${longest}y\r\ntag_invalidate ${longest}\r\n`)
  t.equal(await mc.line(), `CLIENT_ERROR a tag may be at most ${MAX_TAG_BYTES} bytes; received ${MAX_TAG_BYTES + 1}`)
  t.equal(await mc.line(), '1', 'the longest tag invalidates')
})

t.test('malformed tag lines keep framing; noreply suppresses replies', async (t) => {
  const mc = await open(t)
  for (const tags of [',a', 'a,', 'a,,b']) {
    mc.write(`tag_set bad 0 0 2 ${tags}\r\nno\r\n`)
    t.equal(await mc.line(), 'CLIENT_ERROR bad command line format', `empty tag in "${tags}"`)
  }
  mc.write('tag_set bad 0 0 2\r\ntag_invalidate\r\ntag_invalidate a b\r\n')
  t.same(await mc.lines(3), ['ERROR', 'ERROR', 'CLIENT_ERROR bad command line format'], 'missing tags token, missing tag, extra token')
  mc.write('get bad\r\n')
  t.same(await mc.values(), [], 'nothing stored')

  mc.write('tag_set nr:1 0 0 1 q noreply\r\n1\r\ntag_set nr:2 0 0 1 q,a,b,c noreply\r\n2\r\ntag_invalidate q noreply\r\ntag_invalidate zzzzzzzzz noreply\r\nget nr:1 nr:2\r\n')
  t.same(await mc.values(), [], 'no reply before END: nr:1 stored then invalidated, nr:2 refused')
  mc.write('tag_set nr:3 0 0 1 q noreply\r\n3\r\nget nr:3\r\n')
  t.same((await mc.values()).map((v) => v.key), ['nr:3'], 'tag_set noreply stores')
  mc.write('tag_invalidate q noreply\r\nget nr:3\r\n')
  t.same(await mc.values(), [], 'tag_invalidate noreply removes')
})

const TAG_INVALIDATE = 0x60
const TAG_SET = 0x61
const GET = 0x00
const storeExtras = (flags: number, exptime: number): Buffer => { const b = Buffer.alloc(8); b.writeUInt32BE(flags, 0); b.writeUInt32BE(exptime, 4); return b }
/** A TAG_SET value: u16 tag-block length, the block, the data. */
function tagged (block: string, data: string, blockBytes = Buffer.byteLength(block)): Buffer {
  const length = Buffer.alloc(2)
  length.writeUInt16BE(blockBytes)
  return Buffer.concat([length, Buffer.from(block), Buffer.from(data)])
}

t.test('binary TAG_SET / TAG_INVALIDATE: stored with flags, counted removal across protocols, limits', async (t) => {
  const raw = await open(t)
  const resp = await open(t, server.respPort)
  raw.write(binaryFrame(TAG_SET, { key: 'bin:1', extras: storeExtras(9, 0), value: tagged('btag,other', 'payload'), opaque: 1 }))
  let reply = await raw.response()
  t.match(reply, { opcode: TAG_SET, status: 0, opaque: 1 })
  t.ok(reply.cas > 0n, 'answers with the new cas')
  raw.write(binaryFrame(GET, { key: 'bin:1', opaque: 2 }))
  reply = await raw.response()
  t.equal(reply.value.toString(), 'payload', 'the data without the tag block')
  t.equal(reply.extras.readUInt32BE(0), 9, 'flags')
  resp.write(respCommand('TAG.SET', 'resp:b', 'r', 'TAGS', 'btag'))
  t.equal(await resp.line(), '+OK')

  raw.write(binaryFrame(TAG_INVALIDATE, { key: 'btag', opaque: 3 }))
  reply = await raw.response()
  t.match(reply, { opcode: TAG_INVALIDATE, status: 0, opaque: 3 })
  t.equal(reply.value.length, 8)
  t.equal(reply.value.readBigUInt64BE(0), 2n, 'the binary and the RESP key')
  raw.write(binaryFrame(TAG_INVALIDATE, { key: 'btag', opaque: 4 }))
  t.equal((await raw.response()).value.readBigUInt64BE(0), 0n)

  raw.write(binaryFrame(TAG_SET, { key: 'bin:2', extras: storeExtras(0, 0), value: tagged('a,b,c,d', 'x'), opaque: 5 }))
  reply = await raw.response()
  t.same([reply.status, reply.value.toString()], [0x04, `an item may carry at most ${MAX_TAGS} tags; received ${MAX_TAGS + 1}`], 'too many tags: INVALID_ARGUMENTS')
  raw.write(binaryFrame(TAG_SET, { key: 'bin:2', extras: storeExtras(0, 0), value: tagged('x'.repeat(MAX_TAG_BYTES + 1), 'x'), opaque: 6 }))
  t.equal((await raw.response()).status, 0x04, 'tag too large')
  raw.write(binaryFrame(TAG_INVALIDATE, { key: 'x'.repeat(MAX_TAG_BYTES + 1), opaque: 7 }))
  t.equal((await raw.response()).status, 0x04, 'invalidating a tag too large')
  for (const [block, blockBytes] of [['', 0], ['a,', 2], ['a', 50]] as const) {
    raw.write(binaryFrame(TAG_SET, { key: 'bin:2', extras: storeExtras(0, 0), value: tagged(block, 'x', blockBytes), opaque: 8 }))
    t.match(await raw.response(), { status: 0x04, opaque: 8 }, `malformed tag block ${JSON.stringify(block)} (${blockBytes} bytes)`)
  }
  raw.write(binaryFrame(GET, { key: 'bin:2', opaque: 9 }))
  t.equal((await raw.response()).status, 0x01, 'nothing was stored')
  raw.write(binaryFrame(0x62, { key: 'k', opaque: 10 }))
  t.match(await raw.response(), { status: 0x81, opaque: 10 }, 'the next opcode is still unknown')
})
