import t from 'tap'
import { exchange } from '../fixtures/http-raw.js'
import { startTestServer } from '../fixtures/server.js'

function post (path: string, body: string, headers = ''): string {
  return `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`
}

t.test('pipelined JSON endpoints, conditional requests and errors are all answered, in order', async (t) => {
  const server = await startTestServer(t)
  const requests = [
    post('/v1/mset', '{"items":[{"key":"a","value":"1"},{"key":"b","value":"2"}]}'),
    post('/v1/mget', '{"keys":["a","b"]}'),
    post('/v1/counters/n/incr', '{"by":7}'),
    post('/v1/counters/n/incr', ''),
    post('/v1/cache/env', '{"value":"e","ttl":5}'),
    'GET /v1/cache/env?envelope=1 HTTP/1.1\r\nHost: x\r\n\r\n',
    'PUT /v1/cache/c HTTP/1.1\r\nHost: x\r\nIf-Match: "1"\r\nContent-Length: 1\r\n\r\nx',
    post('/v1/mget', '{"keys":'),
    'PATCH /v1/cache/c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc',
    'GET /v1/keys?count=10 HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n'
  ]
  const expected = ['200', '200', '200', '200', '204', '200', '412', '400', '405', '200', '404', '200']
  const received = await exchange(server.httpPort, requests.join(''), (r) => (r.match(/HTTP\/1\.1 \d{3}/g) ?? []).length === requests.length && /\}$|\r\n\r\n$/.test(r))
  t.same((received.match(/HTTP\/1\.1 (\d{3})/g) ?? []).map((line) => line.slice(9)), expected, 'every status, in request order')
  t.match(received, /"value":8/, 'the second incr saw the first')
  t.match(received, /"items":\[\{"key":"a","value":"1"\},\{"key":"b","value":"2"\}\]/)
})
