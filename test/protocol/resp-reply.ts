/**
 * Reading complete RESP2 replies (what cluster routing merges): every reply shape found whole,
 * every cut of it incomplete, and the helpers' answers on each shape.
 */
import t from 'tap'
import { arrayElements, integerReply, isErrorReply, isOkReply, lastReplyStart, replyEnd } from '../../src/protocol/resp-reply.js'
import { RespWriter } from '../../src/protocol/resp-writer.js'

const REPLIES = [
  '+OK\r\n',
  '-ERR syntax error\r\n',
  ':0\r\n',
  ':-42\r\n',
  '$-1\r\n',
  '$0\r\n\r\n',
  '$5\r\na\r\nb\u0000\r\n',
  '*-1\r\n',
  '*0\r\n',
  '*3\r\n$1\r\na\r\n$-1\r\n-ERR one element failed\r\n',
  '*2\r\n*2\r\n:1\r\n$1\r\nx\r\n*0\r\n'
]

t.test('replyEnd - finds each reply whole, and no reply in any prefix of it', async (t) => {
  for (const text of REPLIES) {
    const bytes = Buffer.from(text, 'latin1')
    t.equal(replyEnd(bytes, 0), bytes.length, JSON.stringify(text))
    for (let cut = 0; cut < bytes.length; cut++) t.equal(replyEnd(bytes.subarray(0, cut), 0), -1, `${JSON.stringify(text)} cut at ${cut}`)
  }
  t.equal(replyEnd(Buffer.from('?what\r\n'), 0), -1, 'an unknown type')
  t.equal(replyEnd(Buffer.from('$x\r\n'), 0), -1, 'a bad length')
})

t.test('helpers - error, integer, OK, array elements', async (t) => {
  t.ok(isErrorReply(Buffer.from('-TRYAGAIN x\r\n')))
  t.notOk(isErrorReply(Buffer.from('+OK\r\n')))
  t.equal(integerReply(Buffer.from(':12345\r\n')), 12345)
  t.equal(integerReply(Buffer.from(':-7\r\n')), -7)
  t.equal(integerReply(Buffer.from('+OK\r\n')), null)
  t.equal(integerReply(Buffer.from(':1x\r\n')), null)
  t.ok(isOkReply(Buffer.from('+OK\r\n')))
  t.notOk(isOkReply(Buffer.from('+OKAY\r\n')))
  const reply = Buffer.from(REPLIES[9]!, 'latin1')
  const elements = arrayElements(reply)!
  t.same(elements.map(([start, end]) => reply.toString('latin1', start, end)), ['$1\r\na\r\n', '$-1\r\n', '-ERR one element failed\r\n'])
  t.equal(arrayElements(Buffer.from('*2\r\n$1\r\na\r\n')), null, 'an array missing an element')
  t.equal(arrayElements(Buffer.from(':1\r\n')), null, 'not an array')
})

t.test('lastReplyStart - the start of the last of a writer\'s complete replies', async (t) => {
  const out = new RespWriter()
  t.equal(lastReplyStart(out.sinkBytes, out.length), -1, 'none yet')
  out.ok()
  out.array(2)
  out.bulkString('a')
  out.integer(5)
  const last = out.length
  out.error('ERR last')
  t.equal(lastReplyStart(out.sinkBytes, out.length), last)
})
