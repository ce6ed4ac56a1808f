import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { OPTIONS } from '../../src/config/options.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const MAIN = join(ROOT, 'dist/main.js')

t.test('--help lists every option; --version prints the package version', async (t) => {
  const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' })
  t.equal(help.status, 0)
  for (const spec of OPTIONS) t.match(help.stdout, new RegExp(`--(\\[no-\\])?${spec.flag}\\b`), `help names --${spec.flag}`)
  const version = spawnSync(process.execPath, [MAIN, '--version'], { encoding: 'utf8' })
  t.equal(version.status, 0)
  t.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version)
})

t.test('an invalid option exits 1 with a message naming it', async (t) => {
  const run = spawnSync(process.execPath, [MAIN, '--shards', '0'], { encoding: 'utf8' })
  t.equal(run.status, 1)
  t.match(run.stderr, /shards \(--shards\) must be an integer from 1 to 64; received 0/)
})

t.test('starts on the embedded defaults (ports overridden), serves, and exits 0 on SIGTERM', async (t) => {
  // Its own working directory: the default data dir (./data) gets the shutdown snapshot.
  const cwd = t.testdir({})
  const child = spawn(process.execPath, [MAIN, '--http-port', '0', '--resp-port', '0', '--memcache-port', '0', '--memory', '32mb'], { stdio: ['ignore', 'pipe', 'pipe'], cwd })
  t.teardown(() => { child.kill('SIGKILL') })
  const lines = createInterface({ input: child.stdout! })
  const logs: Array<Record<string, unknown>> = []
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>
      logs.push(entry)
      if (entry.msg === 'slabcache listening') resolve(entry)
    })
    child.once('exit', (code) => reject(new Error(`exited ${code}`)))
  })
  t.equal(listening.host, '127.0.0.1', 'binds loopback by default')
  const url = `http://127.0.0.1:${listening.httpPort as number}/v1/cache/cli`
  t.equal((await fetch(url, { method: 'PUT', body: 'from the cli test' })).status, 204)
  t.equal(await (await fetch(url)).text(), 'from the cli test')
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exit code 0 after SIGTERM')
  t.ok(logs.some((entry) => entry.msg === 'stopped'))
})

t.test('refuses to start when the uWebSockets.js native binary cannot load (no silent JS fallback)', async (t) => {
  // A copy of the installation whose uWebSockets.js package has no binaries/.
  const dir = mkdtempSync(join(tmpdir(), 'slabcache-nouws-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true })
  writeFileSync(join(dir, 'package.json'), readFileSync(join(ROOT, 'package.json')))
  mkdirSync(join(dir, 'node_modules'))
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== 'uWebSockets.js') symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name))
  }
  cpSync(join(ROOT, 'node_modules/uWebSockets.js'), join(dir, 'node_modules/uWebSockets.js'), { recursive: true })
  rmSync(join(dir, 'node_modules/uWebSockets.js/binaries'), { recursive: true })
  const run = spawnSync(process.execPath, [join(dir, 'dist/main.js'), '--http-port', '0', '--resp-port', '0', '--memcache-port', '0', '--memory', '16mb'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(run.status, 1, 'exit code 1')
  const fatal = run.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { code?: string, msg: string }).find((entry) => entry.msg === 'slabcache could not start')
  t.equal(fatal?.code, 'UWS_NATIVE_UNAVAILABLE')
  t.notMatch(run.stdout + run.stderr, /slabcache listening/)
})
