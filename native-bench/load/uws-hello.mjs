// The uWS.js ceiling for native-bench/load/bench.mjs: a hello-world server that answers every
// GET with a 100-byte body and every PUT (after reading its body) with the same body, loading
// uWS exactly as slabcache does (createRequire + the native binary for this platform/ABI, never
// the package's JS fallback). Usage: node uws-hello.mjs <port>. Prints "listening <port>".
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const uws = require(`uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)
const port = Number(process.argv[2] ?? 9001)
const BODY = Buffer.alloc(100, 'v')

uws.App()
  .get('/*', (res) => { res.end(BODY) })
  .put('/*', (res) => {
    res.onAborted(() => { res.aborted = true })
    res.onData((_chunk, isLast) => { if (isLast && !res.aborted) res.cork(() => res.end(BODY)) })
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) { console.error(`cannot listen on ${port}`); process.exit(1) }
    console.log(`listening ${port}`)
  })
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
