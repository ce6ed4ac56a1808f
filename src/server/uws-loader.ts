/**
 * uWebSockets.js loader: loads the package's native addon explicitly, or refuses to start.
 * Thread: main thread at start-up (and any acceptor worker thread, each loading its own copy).
 * Owns: the path of the native binary and the per-thread cache of loaded modules.
 * Invariant: the module returned is the native addon, never the package's pure-JS imitation:
 * the package main (`src/uws.js`) falls back to `dist/index.js` with only a console warning
 * when the binary fails to load, so we never import the package main. A failure throws
 * UWS_NATIVE_UNAVAILABLE naming the path, platform, arch and ABI.
 * Design rule for callers: close every uWS listen socket (`us_listen_socket_close`) before the
 * worker or process that opened it ends, or Node aborts.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { SlabcacheError } from '../errors.js'

/** The uWebSockets.js module type (the native addon's API as the package declares it). */
export type Uws = typeof import('uWebSockets.js')

/** Options for `loadUws`; both exist so tests (and packagers) can point at other binaries. */
export interface LoadUwsOptions {
  /** Directory holding `uws_<platform>_<arch>_<abi>.node`; default `<package dir>/binaries`. */
  binaryDir?: string
  /** Node ABI version to load the binary for; default `process.versions.modules`. */
  abi?: string
}

const require = createRequire(import.meta.url)

/** Loaded modules by binary path. Node caches addons too; this also skips the path checks. */
const loaded = new Map<string, Uws>()

/** Matches V8's source text for a function implemented in C++ (an addon's FunctionTemplate). */
const NATIVE_FUNCTION_SOURCE = /^function \w*\(\) \{ \[native code\] \}$/

/**
 * Loads the native uWebSockets.js addon from
 * `<package dir>/binaries/uws_${process.platform}_${process.arch}_${abi}.node` with `require`
 * (never the package main, which would silently fall back to a slow JS imitation). Cached per
 * binary path and thread. Blocks on file I/O the first time (start-up only).
 * @param options `binaryDir` and `abi` override the binary's directory and Node ABI
 * @returns the native module
 * @throws SlabcacheError with code `UWS_NATIVE_UNAVAILABLE` when the package cannot be resolved,
 *   the binary is missing or fails to load, or what loaded is not a native addon; the message
 *   names the path tried, the platform/arch/ABI and the underlying error (also in `cause`)
 */
export function loadUws (options: LoadUwsOptions = {}): Uws {
  const abi = options.abi ?? process.versions.modules
  const target = `platform ${process.platform}, arch ${process.arch}, Node ABI ${abi} (Node ${process.version})`
  let binaryDir = options.binaryDir
  if (binaryDir === undefined) {
    try {
      binaryDir = join(dirname(require.resolve('uWebSockets.js/package.json')), 'binaries')
    } catch (error) {
      /* c8 ignore next 2 -- the package is a dependency; only a broken install gets here */
      throw unavailable(`the uWebSockets.js package could not be resolved for ${target}: ${describe(error)}`, error)
    }
  }
  const binaryPath = join(binaryDir, `uws_${process.platform}_${process.arch}_${abi}.node`)
  const cached = loaded.get(binaryPath)
  if (cached !== undefined) return cached

  let mod: Uws
  try {
    mod = require(binaryPath) as Uws
  } catch (error) {
    throw unavailable(
      `the uWebSockets.js native binary ${binaryPath} could not be loaded for ${target}: ${describe(error)}. ` +
      'slabcache does not run on the package\'s pure-JS fallback; install a uWebSockets.js build ' +
      'that ships a binary for this platform and Node version', error)
  }
  // `require` of a path that is a directory loads its index.js: the path alone does not prove
  // that what loaded is the addon.
  if (!isNativeUws(mod)) {
    throw unavailable(`${binaryPath} loaded for ${target} but is not the uWebSockets.js native addon`)
  }
  loaded.set(binaryPath, mod)
  return mod
}

/**
 * Tells the native addon from the package's pure-JS fallback (`dist/index.js`).
 *
 * How: V8 prints the source of a function implemented in C++ as
 * `function () { [native code] }`, while the fallback's `App` and `us_listen_socket_close` are
 * ordinary JS functions whose source text is shown. Checked with `Function.prototype.toString`
 * (not the object's own `toString`), and bound functions — which also print `[native code]` —
 * are excluded because their name starts with `bound `. The addon also exports `getParts`,
 * `getString`/`setString` and the compressor constants, which the fallback lacks; we require
 * `getParts` too, so a JS shim that binds builtins still fails. Allocates strings; start-up only.
 * @param mod a module object that claims to be uWebSockets.js
 * @returns true only for the native addon
 */
export function isNativeUws (mod: unknown): boolean {
  if (typeof mod !== 'object' || mod === null) return false
  const candidate = mod as Record<string, unknown>
  return isNativeFunction(candidate.App) &&
    isNativeFunction(candidate.us_listen_socket_close) &&
    isNativeFunction(candidate.getParts)
}

function isNativeFunction (value: unknown): boolean {
  return typeof value === 'function' &&
    !value.name.startsWith('bound ') &&
    NATIVE_FUNCTION_SOURCE.test(Function.prototype.toString.call(value))
}

function unavailable (message: string, cause?: unknown): SlabcacheError {
  const error = new SlabcacheError('UWS_NATIVE_UNAVAILABLE', message)
  if (cause !== undefined) error.cause = cause
  return error
}

function describe (error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
