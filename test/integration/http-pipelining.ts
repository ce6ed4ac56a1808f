import t from 'tap'
import autocannon from 'autocannon'
import { exchange } from '../fixtures/http-raw.js'
import { startTestServer } from '../fixtures/server.js'

function count (haystack: string, needle: string): number {
  return haystack.split(needle).length - 1
}

t.test('pipelined GET, HEAD, PUT and DELETE requests in one write are all answered, in order', async (t) => {
  const server = await startTestServer(t)
  let payload = ''
  const n = 50
  for (let i = 0; i < n; i++) {
    const body = `value-${i}`
    payload += `PUT /v1/cache/p${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`
    payload += `GET /v1/cache/p${i} HTTP/1.1\r\nHost: x\r\n\r\n`
    payload += `HEAD /v1/cache/p${i} HTTP/1.1\r\nHost: x\r\n\r\n`
    payload += `GET /v1/cache/missing${i} HTTP/1.1\r\nHost: x\r\n\r\n`
  }
  payload += 'DELETE /v1/cache/p0 HTTP/1.1\r\nHost: x\r\n\r\n'
  const received = await exchange(server.httpPort, payload, (r) => count(r, 'HTTP/1.1 ') === 4 * n + 1 && r.endsWith('\r\n\r\n'))
  t.equal(count(received, 'HTTP/1.1 204'), n + 1, 'every PUT and the DELETE answered')
  t.equal(count(received, 'HTTP/1.1 200'), 2 * n, 'every GET and HEAD hit answered')
  t.equal(count(received, 'HTTP/1.1 404'), n, 'every miss answered')
  const bodies = [...received.matchAll(/value-(\d+)/g)].map((m) => Number(m[1]))
  t.same(bodies, Array.from({ length: n }, (_, i) => i), 'GET bodies come back in request order')
})

t.test('autocannon with pipelining 16 gets only 2xx answers, no errors or timeouts', async (t) => {
  const server = await startTestServer(t)
  await fetch(`${server.url}/v1/cache/bench`, { method: 'PUT', body: 'x'.repeat(100) })
  const result = await autocannon({
    url: `${server.url}/v1/cache/bench`, connections: 4, pipelining: 16, amount: 4000, timeout: 10
  })
  t.equal(result.errors, 0, 'no socket errors')
  t.equal(result.timeouts, 0, 'no timeouts')
  t.equal(result.non2xx, 0, 'only 2xx')
  t.equal(result.resets, 0, 'no connection was reset (uWS drops a connection that pipelines onto a pending response)')
  // With `amount`, autocannon stops counting once it has sent that many, so the last
  // pipeline's answers may go uncounted: most, not all, are tallied.
  t.ok(result['2xx'] >= 4000 - 4 * 16, `${result['2xx']} requests answered`)
  const puts = await autocannon({
    url: `${server.url}/v1/cache/bench`, method: 'PUT', body: 'y'.repeat(100), connections: 2, pipelining: 16, amount: 2000, timeout: 10
  })
  t.equal(puts.errors + puts.timeouts + puts.non2xx + puts.resets, 0, 'pipelined PUTs: no errors, timeouts, resets or non-2xx')
})
