// Lets Node 20 run the TypeScript benchmarks directly:
//   node --import ./native-bench/ts-loader.mjs native-bench/micro/<file>.ts
// Thread: the main thread registers the hooks; Node runs them on its module-loader thread.
// It strips types with the `typescript` package's transpileModule (no type checking: `npx tsc`
// does that) and maps a relative `./x.js` import to `./x.ts` when that file exists, the
// NodeNext convention the sources use. The same file is both the `--import` entry and the hook
// module: the `?hooks` query tells the two loads apart.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { register } from 'node:module'
import { fileURLToPath } from 'node:url'

const HOOKS_QUERY = '?hooks'

if (!import.meta.url.endsWith(HOOKS_QUERY)) register(new URL(HOOKS_QUERY, import.meta.url))

/** Loaded on first use, on the loader thread only. */
let typescript = null

/** Relative `.js` specifiers resolve to a sibling `.ts` file when one exists. */
export async function resolve (specifier, context, nextResolve) {
  const parentURL = context.parentURL
  if (parentURL !== undefined && parentURL.startsWith('file:') && specifier.endsWith('.js') &&
      (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const tsUrl = new URL(specifier.slice(0, -'.js'.length) + '.ts', parentURL)
    if (existsSync(tsUrl)) return { url: tsUrl.href, shortCircuit: true }
  }
  return nextResolve(specifier, context)
}

/** `.ts` files load as ES modules with their types stripped; everything else is untouched. */
export async function load (url, context, nextLoad) {
  if (!url.startsWith('file:') || !new URL(url).pathname.endsWith('.ts')) return nextLoad(url, context)
  typescript ??= (await import('typescript')).default
  const fileName = fileURLToPath(url)
  const { outputText } = typescript.transpileModule(await readFile(fileName, 'utf8'), {
    fileName,
    compilerOptions: {
      module: typescript.ModuleKind.ESNext,
      target: typescript.ScriptTarget.ES2022,
      inlineSourceMap: true,
      inlineSources: true
    }
  })
  return { format: 'module', source: outputText, shortCircuit: true }
}
