import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { get } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { us_listen_socket } from 'uWebSockets.js'
import { SlabcacheError } from '../../src/errors.js'
import { isNativeUws, loadUws } from '../../src/server/uws-loader.js'

const require = createRequire(import.meta.url)
const packageDir = dirname(require.resolve('uWebSockets.js/package.json'))

t.test('loadUws - loads the native addon for this platform and ABI', async (t) => {
  const uws = loadUws()
  t.ok(isNativeUws(uws), 'isNativeUws is true')
  t.equal(loadUws(), uws, 'cached: the same module object on the second call')
  t.equal(typeof uws.App, 'function')
})

t.test('loadUws - an App listens on port 0 and closes with us_listen_socket_close', async (t) => {
  const uws = loadUws()
  const app = uws.App()
  app.get('/*', (res) => { res.end('ok') })
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (socket) => { socket === false ? reject(new Error('listen failed')) : resolve(socket) })
  })
  // Close before the test ends: a uWS listen socket left open keeps the process (or aborts a worker).
  let closed = false
  t.teardown(() => { if (!closed) uws.us_listen_socket_close(listenSocket) })
  const port = uws.us_socket_local_port(listenSocket as unknown as Parameters<typeof uws.us_socket_local_port>[0])
  t.ok(port > 0, `listening on port ${port}`)
  t.equal(await httpGet(port), 'ok', 'serves a request')
  uws.us_listen_socket_close(listenSocket)
  closed = true
  await t.rejects(httpGet(port), { code: 'ECONNREFUSED' }, 'refuses connections once closed')
})

t.test('loadUws - a wrong ABI throws UWS_NATIVE_UNAVAILABLE naming the path', async (t) => {
  const expectedPath = join(packageDir, 'binaries', `uws_${process.platform}_${process.arch}_1.node`)
  const error = catchError(() => loadUws({ abi: '1' }))
  t.ok(error instanceof SlabcacheError)
  t.equal(error.code, 'UWS_NATIVE_UNAVAILABLE')
  t.equal(error.name, 'UwsNativeUnavailableError')
  t.match(error.message, expectedPath, 'names the path tried')
  t.match(error.message, `platform ${process.platform}, arch ${process.arch}, Node ABI 1`, 'names platform, arch and ABI')
  t.match(error.message, 'Cannot find module', 'includes the underlying error')
  t.ok(error.cause instanceof Error, 'keeps the underlying error as cause')
})

t.test('loadUws - a missing binary directory throws UWS_NATIVE_UNAVAILABLE naming the path', async (t) => {
  const binaryDir = join(tmpdir(), 'slabcache-no-such-dir')
  const error = catchError(() => loadUws({ binaryDir }))
  t.equal(error.code, 'UWS_NATIVE_UNAVAILABLE')
  t.match(error.message, join(binaryDir, `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`))
})

t.test('loadUws - a file that is not a valid addon throws UWS_NATIVE_UNAVAILABLE', async (t) => {
  const binaryDir = mkdtempSync(join(tmpdir(), 'slabcache-uws-'))
  t.teardown(() => rmSync(binaryDir, { recursive: true, force: true }))
  const binaryPath = join(binaryDir, `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)
  writeFileSync(binaryPath, 'not an ELF file')
  const error = catchError(() => loadUws({ binaryDir }))
  t.equal(error.code, 'UWS_NATIVE_UNAVAILABLE')
  t.match(error.message, binaryPath)
  t.match(error.message, `Node ABI ${process.versions.modules}`)
})

t.test('loadUws - a binary path that resolves to JS is refused even when it exports App', async (t) => {
  // A directory named like the binary: require() loads its index.js, here the package fallback.
  const binaryDir = mkdtempSync(join(tmpdir(), 'slabcache-uws-'))
  t.teardown(() => rmSync(binaryDir, { recursive: true, force: true }))
  const binaryPath = join(binaryDir, `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)
  mkdirSync(binaryPath)
  writeFileSync(join(binaryPath, 'index.js'), `module.exports = require(${JSON.stringify(join(packageDir, 'dist', 'index.js'))})`)
  const error = catchError(() => loadUws({ binaryDir }))
  t.equal(error.code, 'UWS_NATIVE_UNAVAILABLE')
  t.match(error.message, `${binaryPath} loaded for platform ${process.platform}`)
  t.match(error.message, 'is not the uWebSockets.js native addon')
})

t.test('isNativeUws - the package\'s JS fallback is not native', async (t) => {
  const fallback: unknown = require(join(packageDir, 'dist', 'index.js'))
  t.equal(typeof (fallback as { App: unknown }).App, 'function', 'the fallback does export App')
  t.equal(isNativeUws(fallback), false)
})

t.test('isNativeUws - rejects look-alikes', async (t) => {
  const native = loadUws()
  t.equal(isNativeUws(undefined), false)
  t.equal(isNativeUws({}), false)
  t.equal(isNativeUws({ ...native, getParts: undefined }), false, 'missing getParts')
  t.equal(isNativeUws({ ...native, App: native.App.bind(null) }), false, 'bound App prints [native code] but is not the addon')
  t.equal(isNativeUws({ ...native, App: () => null }), false, 'JS App')
  t.equal(isNativeUws({ ...native }), true, 'a copy of the addon\'s exports still counts')
})

/** GET / with `Connection: close` (agent: false), so no keep-alive socket outlives the test. */
function httpGet (port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve(body))
      res.on('error', reject)
    }).on('error', reject)
  })
}

function catchError (fn: () => unknown): SlabcacheError {
  try {
    fn()
  } catch (error) {
    if (error instanceof SlabcacheError) return error
    throw error
  }
  throw new Error('expected a SlabcacheError; nothing was thrown')
}
