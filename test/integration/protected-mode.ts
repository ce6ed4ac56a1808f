// Protected mode through startServer and through the CLI: without credentials slabcache
// refuses to listen on anything but loopback, and says how to configure auth.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startTestServer } from '../fixtures/server.js'
import { RawClient, respCommand } from '../fixtures/raw-client.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const MAIN = join(ROOT, 'dist/main.js')
const PORTS = ['--http-port', '0', '--resp-port', '0', '--memcache-port', '0', '--memory', '16mb', '--shards', '1']

t.test('startServer - a non-loopback host without credentials is refused with PROTECTED_MODE', async (t) => {
  await t.rejects(startTestServer(t, { host: '0.0.0.0', dataDir: t.testdir({}) }), {
    code: 'PROTECTED_MODE',
    name: 'ProtectedModeError',
    message: /^refusing to listen on 0\.0\.0\.0 without credentials \(protected mode\).*--admin-token <token>.*--host 127\.0\.0\.1/
  })
})

t.test('startServer - with an admin token it listens on 0.0.0.0, and every protocol requires auth', async (t) => {
  const server = await startTestServer(t, { host: '0.0.0.0', dataDir: t.testdir({}), auth: { adminToken: 'admin-token-123' } })
  const resp = await RawClient.open(t, server.respPort)
  resp.write(respCommand('GET', 'k'))
  t.equal(await resp.line(), '-NOAUTH Authentication required.')
  const memcache = await RawClient.open(t, server.memcachePort)
  memcache.write('get k\r\n')
  t.match(await memcache.closed(), /^CLIENT_ERROR authentication required/)
})

t.test('startServer - a secret in the tenant file counts as a credential', async (t) => {
  const dataDir = t.testdir({})
  const first = await startTestServer(t, { dataDir, tenants: [{ name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null }] })
  await first.close()
  const server = await startTestServer(t, { host: '0.0.0.0', dataDir })
  t.equal(server.tenants.authRequired, true)
})

t.test('CLI - --host 0.0.0.0 without credentials exits 1 with PROTECTED_MODE and the way out', async (t) => {
  const dataDir = t.testdir({})
  const run = spawnSync(process.execPath, [MAIN, '--host', '0.0.0.0', '--data-dir', dataDir, ...PORTS], { encoding: 'utf8', timeout: 60_000 })
  t.equal(run.status, 1, 'exit code 1')
  const fatal = run.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { code?: string, msg: string, err?: { message: string } })
    .find((entry) => entry.msg === 'slabcache could not start')
  t.equal(fatal?.code, 'PROTECTED_MODE')
  t.match(fatal?.err?.message, /--admin-token <token>.*--default-secret <secret>.*--host 127\.0\.0\.1/)
  t.notMatch(run.stdout + run.stderr, /slabcache listening/)
})

t.test('CLI - a bad tenant file stops start-up with TENANT_FILE_INVALID naming the file', async (t) => {
  const dataDir = t.testdir({})
  writeFileSync(join(dataDir, 'tenants.json'), '{"version": 1,')
  const run = spawnSync(process.execPath, [MAIN, '--data-dir', dataDir, ...PORTS], { encoding: 'utf8', timeout: 60_000 })
  t.equal(run.status, 1)
  const fatal = run.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { code?: string, msg: string, err?: { message: string } })
    .find((entry) => entry.msg === 'slabcache could not start')
  t.equal(fatal?.code, 'TENANT_FILE_INVALID')
  t.match(fatal?.err?.message, `tenant file ${join(dataDir, 'tenants.json')} is not valid JSON`)
})

t.test('CLI - SLABCACHE_AUTH_DEFAULT_SECRET allows 0.0.0.0; the secret is not logged', async (t) => {
  const dataDir = t.testdir({})
  const child = spawn(process.execPath, [MAIN, '--host', '0.0.0.0', '--data-dir', dataDir, ...PORTS], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLABCACHE_AUTH_DEFAULT_SECRET: 'env-default-secret' }
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output += line + '\n'
      const entry = JSON.parse(line) as Record<string, unknown>
      if (entry.msg === 'slabcache listening') resolve(entry)
    })
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)))
  })
  t.equal(listening.host, '0.0.0.0')
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.match(output, /"tenants loaded"/)
  t.notMatch(output, /env-default-secret/, 'the secret appears in no log line')
})
