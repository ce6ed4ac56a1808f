/**
 * Runs every micro benchmark in this folder, one process each (so one benchmark's heap and JIT
 * state cannot colour the next), and prints their output. `npm run bench:micro`.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const loader = fileURLToPath(new URL('../ts-loader.mjs', import.meta.url))
const files = readdirSync(here).filter((name) => name.endsWith('.ts') && name !== 'run-all.ts').sort()
let failed = 0
for (const file of files) {
  process.stdout.write(`\n=== ${file}\n`)
  const result = spawnSync(process.execPath, ['--import', loader, `${here}${file}`], { stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } })
  if (result.status !== 0) failed++
}
process.exitCode = failed === 0 ? 0 : 1
