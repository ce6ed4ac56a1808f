/**
 * The house's one direction of imports (CONVENTIONS "Layering"): every src file imports only
 * from its own layer or below, and pure layers touch no threads, sockets, timers or uWS.
 */
import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src')

function layerOf (file: string): number {
  const path = relative(SRC, file).replaceAll('\\', '/')
  if (path.startsWith('util/') || path === 'errors.ts' || path.startsWith('config/')) return 0
  if (path.startsWith('core/') || path.startsWith('command/') || path.startsWith('protocol/') || path === 'cluster/hash-ring.ts' || path === 'cluster/cluster-types.ts') return 1
  if (path.startsWith('ring/')) return 2
  if (path.startsWith('shard/') || path.startsWith('cluster/') || path.startsWith('jobs/') || path.startsWith('persist/')) return 3
  if (path === 'engine.ts' || path.startsWith('tenants/')) return 4
  if (path.startsWith('server/') || path.startsWith('client/')) return 5
  if (path === 'main.ts' || path === 'index.ts') return 6
  throw new Error(`no layer for src/${path}: add it to test/layering.ts and CONVENTIONS`)
}

/** Modules a pure (L1) file must not import. */
const IMPURE = ['node:net', 'node:worker_threads', 'node:timers', 'node:http', 'uWebSockets.js', 'piscina', 'node:child_process', 'node:fs']

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/import\(['"]([^'"]+)['"]\)/g)].map((m) => m[1]!)
}

t.test('every src file imports only from its own layer or below', async (t) => {
  const edges: string[] = []
  let seen = 0
  for (const file of sources(SRC)) {
    const layer = layerOf(file)
    for (const spec of importsOf(file)) {
      seen++
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'))
        const targetLayer = layerOf(target)
        if (targetLayer > layer) edges.push(`src/${relative(SRC, file)} (L${layer}) imports src/${relative(SRC, target)} (L${targetLayer})`)
        if (target.endsWith('shard/shard-worker.ts')) edges.push(`src/${relative(SRC, file)} imports the worker entry`)
      } else if (layer === 1 && IMPURE.some((name) => spec === name || spec.startsWith(`${name}/`))) {
        edges.push(`src/${relative(SRC, file)} (pure L1) imports ${spec}`)
      }
    }
  }
  t.ok(seen > 50, `the import scanner found ${seen} imports`)
  t.same(edges, [], 'no upward or impure import edges')
})

t.test('every src file opens with a comment saying what it is', async (t) => {
  const bare = sources(SRC).filter((file) => !/^(#!.*\n)?\/\*\*/.test(readFileSync(file, 'utf8'))).map((file) => relative(SRC, file))
  t.same(bare, [])
})
