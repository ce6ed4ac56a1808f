import t from 'tap'
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { startTestServer } from '../fixtures/server.js'

/** libmemcached's conformance tool: Debian installs it as memccapable, upstream as memcapable. */
function findMemcapable (): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    for (const name of ['memccapable', 'memcapable']) {
      const path = join(dir, name)
      try {
        accessSync(path, constants.X_OK)
        return path
      } catch {}
    }
  }
  return null
}

async function run (binary: string, args: string[]): Promise<{ code: number | null, output: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

const binary = findMemcapable()
if (binary === null && process.env['CI'] === 'true') {
  // .ci/run installs libmemcached-tools: in CI a missing binary is a broken setup, not a skip.
  t.fail('memcapable is not installed; .ci/run should have installed libmemcached-tools')
} else if (binary === null) {
  t.test('memcapable passes every ASCII and binary test', { skip: 'memcapable is not installed (Debian: apt-get install libmemcached-tools; .ci/run installs it)' }, () => {})
} else {
  t.test('memcapable passes every ASCII and binary test', async (t) => {
    const server = await startTestServer(t)
    const { code, output } = await run(binary, ['-h', '127.0.0.1', '-p', String(server.memcachePort), '-t', '5', '-v'])
    const results = [...output.matchAll(/^(ascii|binary) (.+?)\s+\[(pass|FAIL|skip)\]$/gm)]
    t.equal(results.filter((r) => r[1] === 'ascii').length, 27, 'all 27 ASCII tests ran')
    t.equal(results.filter((r) => r[1] === 'binary').length, 27, 'all 27 binary tests ran')
    for (const [, protocol, name, status] of results) t.equal(status, 'pass', `${protocol} ${name}`)
    t.match(output, /All tests passed/)
    t.equal(code, 0, 'memcapable exits 0')
    if (code !== 0) t.comment(output)
  })
}
