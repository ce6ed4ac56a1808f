/**
 * Configuration loading: merges built-in defaults < the JSON file named by `--config` or
 * SLABCACHE_CONFIG < SLABCACHE_* environment variables < CLI flags into one frozen `Config`.
 * Thread: main thread, once at start-up (synchronous file reads are fine there).
 * Owns: the `Config` shape, source precedence, `--help` and `--version`.
 * Invariant: a returned Config passed every check in options.ts; any typo (unknown flag, env
 * var or file key) or bad value is a ConfigError naming it, never a silent default.
 */
import fs from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError } from '../errors.js'
import { checkRelations, optionByKey, OPTIONS, showValue, type ConsistencyMode, type LogLevel, type OptionSpec, type ParseContext, type TenantConfig } from './options.js'

export type { LogLevel, TenantConfig } from './options.js'

/** The fully resolved configuration. Sizes are in bytes, paths are absolute. */
export interface Config {
  /** Absolute path of the config file that was read, or null when none was given. */
  readonly configFile: string | null
  readonly host: string
  readonly httpPort: number
  readonly respPort: number
  readonly memcachePort: number
  readonly shards: number
  /** Total slab memory across all shards (config key `memory`). */
  readonly memoryBytes: number
  readonly dataDir: string
  readonly logLevel: LogLevel
  readonly lockTimeoutMs: number
  readonly maintenanceIntervalMs: number
  /** LRU maintenance. */
  readonly lru: {
    /** A read moves an item to its LRU head at most once per this many ms; 0 = every read (exact LRU). */
    readonly bumpIntervalMs: number
  }
  readonly limits: {
    readonly maxKeyBytes: number
    readonly maxValueBytes: number
    readonly maxRequestBytes: number
    readonly maxConnections: number
    /** Most keys/items in one HTTP mget, mset or key-listing page. */
    readonly maxBatchItems: number
    readonly maxTagsPerItem: number
    readonly maxTagBytes: number
  }
  readonly debug: {
    readonly clockControl: boolean
  }
  /** Credentials outside any tenant file; either one set means every protocol requires auth. */
  readonly auth: {
    readonly adminToken: string | null
    readonly defaultSecret: string | null
  }
  /** Persistence: snapshots in `<dataDir>/snapshots/`. */
  readonly snapshot: {
    /** Interval of automatic whole-server snapshots, ms; 0 = none. */
    readonly intervalMs: number
    /** Snapshot on SIGTERM/SIGINT before exiting. */
    readonly onShutdown: boolean
    /** Restore `dump.slab` at start, before any listener opens. */
    readonly restoreOnStart: boolean
  }
  /** Cluster membership, replication and repair (DESIGN §9). */
  readonly cluster: {
    /** Cluster mode: --cluster, or implied by a non-empty join list. */
    readonly enabled: boolean
    /** This node's name; null until resolved (`<advertiseHost>:<peerPort>`, see clusterNodeId). */
    readonly nodeId: string | null
    /** Peer addresses (host:port) to join through. */
    readonly join: readonly string[]
    readonly peerPort: number
    readonly advertiseHost: string
    readonly secret: string | null
    readonly replicas: number
    readonly consistency: ConsistencyMode
    readonly heartbeatIntervalMs: number
    readonly suspectAfterMs: number
    readonly deadAfterMs: number
    readonly replicationTimeoutMs: number
    readonly rebalanceRateBytes: number
    readonly antiEntropyIntervalMs: number
  }
  /** Tenants declared in the configuration, merged into the tenant file at start. */
  readonly tenants: readonly TenantConfig[]
}

/** What `loadConfig` decided: print help, print the version, or run with a config. */
export type LoadResult =
  | { readonly kind: 'help', readonly text: string }
  | { readonly kind: 'version', readonly text: string }
  | { readonly kind: 'run', readonly config: Config }

/** Partial `Config` for `defaultConfig`; nested groups may be partial too. */
export type ConfigOverrides = {
  readonly [K in Exclude<keyof Config, 'configFile'>]?: Config[K] extends readonly unknown[] ? Config[K] : Config[K] extends object ? Partial<Config[K]> : Config[K]
}

/** One raw value and where it came from (undefined for flags: the label already names them). */
interface RawValue { readonly raw: unknown, readonly source: string | undefined }
/** Raw values of one source, by dotted option key. */
type Layer = Map<string, RawValue>

const BY_FLAG = new Map(OPTIONS.map((spec) => [spec.flag, spec]))
const BY_ENV = new Map(OPTIONS.map((spec) => [spec.env, spec]))
const BY_FILE_KEY = new Map(OPTIONS.filter((spec) => spec.inFile).map((spec) => [spec.key, spec]))
const BY_FIELD = new Map(OPTIONS.filter((spec) => spec.key !== 'config').map((spec) => [spec.field, spec]))
/** First segments of dotted keys (`limits`, `debug`): nested objects in the file. */
const GROUPS = new Set(OPTIONS.filter((spec) => spec.key.includes('.')).map((spec) => spec.key.split('.')[0]!))

const META_FLAGS = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } } as const
const PARSE_OPTIONS = {
  ...Object.fromEntries(OPTIONS.map((spec) => [spec.flag, { type: spec.valueName === null ? 'boolean' : 'string' } as const])),
  ...META_FLAGS
}

/**
 * Loads the configuration from the given argv (without `node` and the script), environment
 * and working directory. Reads the config file synchronously when one is named.
 * @throws ConfigError (code CONFIG_INVALID) naming the offending option, flag, env var or key
 */
export function loadConfig ({ argv, env, cwd }: { argv: string[], env: NodeJS.ProcessEnv, cwd: string }): LoadResult {
  const { flags, help, version } = readFlags(argv)
  if (help) return { kind: 'help', text: helpText() }
  if (version) return { kind: 'version', text: readVersion() }
  const fromEnv = readEnv(env)
  const configRaw = flags.get('config') ?? fromEnv.get('config')
  const fromFile = configRaw === undefined ? new Map() : readConfigFile(parseRaw(optionByKey('config'), configRaw, { cwd }) as string)
  return { kind: 'run', config: resolve([fromFile, fromEnv, flags], { cwd }) }
}

/**
 * A validated Config from the built-in defaults plus `overrides` (in `Config` shape, e.g.
 * `{ shards: 2, memoryBytes: 32 * MIB, debug: { clockControl: true } }`). Reads no file and
 * no environment; a relative `dataDir` resolves against `process.cwd()`.
 * @throws ConfigError when an override is invalid or unknown
 */
export function defaultConfig (overrides: ConfigOverrides = {}): Config {
  const layer: Layer = new Map()
  const unknown: string[] = []
  flatten(overrides, '', (field, raw) => {
    const spec = BY_FIELD.get(field)
    if (spec === undefined) unknown.push(field)
    else layer.set(spec.key, { raw, source: 'defaultConfig overrides' })
  })
  if (unknown.length > 0) throw new ConfigError(`defaultConfig overrides have unknown field(s): ${unknown.join(', ')}`)
  return resolve([layer], { cwd: process.cwd() })
}

/** Validates one raw value; a rejection also says which source the value came from. */
function parseRaw (spec: OptionSpec, { raw, source }: RawValue, ctx: ParseContext): unknown {
  try {
    return spec.parse(raw, spec.label, ctx)
  } catch (err) {
    if (err instanceof ConfigError && source !== undefined) throw new ConfigError(`${err.message} (from ${source})`)
    throw err
  }
}

/** Picks each option's highest-precedence raw value (layers are lowest first) and validates. */
function resolve (layers: readonly Layer[], ctx: ParseContext): Config {
  const values: Record<string, unknown> = {}
  const explicit = (spec: OptionSpec): RawValue | undefined =>
    layers.reduce<RawValue | undefined>((found, layer) => layer.get(spec.key) ?? found, undefined)
  // Raw defaults first, so derived defaults (shards, maxRequestBytes) can read their inputs.
  for (const spec of OPTIONS) {
    if (!('raw' in spec.default)) continue
    values[spec.key] = parseRaw(spec, explicit(spec) ?? { raw: spec.default.raw, source: 'the default' }, ctx)
  }
  for (const spec of OPTIONS) {
    if (!('derive' in spec.default)) continue
    const raw = explicit(spec)
    values[spec.key] = raw === undefined ? spec.default.derive(values) : parseRaw(spec, raw, ctx)
  }
  checkRelations(values)

  const config: Record<string, unknown> = {}
  for (const spec of OPTIONS) {
    const [group, leaf] = spec.field.split('.')
    if (leaf === undefined) config[group!] = values[spec.key]
    else ((config[group!] ??= {}) as Record<string, unknown>)[leaf] = values[spec.key]
  }
  for (const group of GROUPS) Object.freeze(config[group])
  return Object.freeze(config) as unknown as Config
}

/** Calls `visit` with each dotted leaf path of a parsed JSON object; null and undefined mean "not set". */
function flatten (obj: object, prefix: string, visit: (dotted: string, raw: unknown) => void): void {
  for (const [name, raw] of Object.entries(obj)) {
    const dotted = prefix + name
    if (raw === null || raw === undefined) continue
    if (prefix === '' && GROUPS.has(name) && typeof raw === 'object' && !Array.isArray(raw)) flatten(raw, dotted + '.', visit)
    else visit(dotted, raw)
  }
}

function readConfigFile (file: string): Layer {
  let json: unknown
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    const what = err instanceof SyntaxError ? 'is not valid JSON' : 'cannot be read'
    throw new ConfigError(`config file ${file} (config / --config) ${what}: ${(err as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`config file ${file} (config / --config) must hold a JSON object; received ${showValue(json)}`)
  }
  const layer: Layer = new Map()
  const unknown: string[] = []
  flatten(json, '', (key, raw) => {
    if (BY_FILE_KEY.has(key)) layer.set(key, { raw, source: `config file ${file}` })
    else if (GROUPS.has(key)) throw new ConfigError(`config file ${file}: ${key} must be an object; received ${showValue(raw)}`)
    else unknown.push(key)
  })
  if (unknown.length > 0) {
    throw new ConfigError(`config file ${file} has unknown key(s): ${unknown.join(', ')}; run slabcache --help for the list`)
  }
  return layer
}

function readEnv (env: NodeJS.ProcessEnv): Layer {
  const layer: Layer = new Map()
  const unknown: string[] = []
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('SLABCACHE_') || raw === undefined) continue
    const spec = BY_ENV.get(name)
    if (spec === undefined) unknown.push(name)
    else layer.set(spec.key, { raw, source: `env ${name}` })
  }
  if (unknown.length > 0) {
    throw new ConfigError(`unknown environment variable(s): ${unknown.join(', ')}; run slabcache --help for the list`)
  }
  return layer
}

function readFlags (argv: string[]): { flags: Layer, help: boolean, version: boolean } {
  let values: Record<string, string | boolean | undefined>
  try {
    ({ values } = parseArgs({ args: argv, options: PARSE_OPTIONS, strict: true, allowPositionals: false, allowNegative: true }))
  } catch (err) {
    throw flagError(argv, err as Error)
  }
  const flags: Layer = new Map()
  for (const spec of OPTIONS) {
    if (values[spec.flag] !== undefined) flags.set(spec.key, { raw: values[spec.flag], source: undefined })
  }
  return { flags, help: values['help'] === true, version: values['version'] === true }
}

/**
 * Turns a strict parseArgs failure into a ConfigError naming the culprit: re-reads argv
 * leniently and reports the first token the strict pass would have refused.
 */
function flagError (argv: string[], err: Error): ConfigError {
  const { tokens } = parseArgs({ args: argv, options: PARSE_OPTIONS, strict: false, tokens: true, allowNegative: true })
  for (const token of tokens) {
    if (token.kind === 'positional') {
      return new ConfigError(`unexpected argument ${JSON.stringify(token.value)}; slabcache takes only options (run slabcache --help)`)
    }
    if (token.kind !== 'option') continue
    const name = token.rawName.replace(/^--?/, '')
    const negated = name.startsWith('no-') && BY_FLAG.get(name.slice(3))?.valueName === null
    const spec = BY_FLAG.get(negated ? name.slice(3) : name)
    const isMeta = token.rawName === '-h' || token.rawName === '--help' || token.rawName === '--version'
    if (spec === undefined && !isMeta) return new ConfigError(`unknown option '${token.rawName}'; run slabcache --help`)
    const label = spec?.label ?? token.rawName
    if (spec === undefined || spec.valueName === null) {
      if (token.inlineValue === true) {
        return new ConfigError(`${label} is a switch and takes no value; received ${token.rawName}=${token.value ?? ''}`)
      }
    } else if (token.value === undefined) {
      return new ConfigError(`${label} needs a value: --${spec.flag} ${spec.valueName}`)
    } else if (token.inlineValue !== true && token.value.startsWith('-')) {
      return new ConfigError(`${label} needs a value but was followed by '${token.value}'; write --${spec.flag}=${token.value} if that is the value`)
    }
  }
  /* c8 ignore next -- every parseArgs failure is matched above; this keeps its text if Node adds one */
  return new ConfigError(`${err.message}; run slabcache --help`)
}

/** The version from package.json, two directories up from both src/config and dist/config. */
function readVersion (): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** `--help` text, generated from the option table so it cannot drift from it. */
export function helpText (): string {
  const rows = OPTIONS.map((spec) => {
    const flag = spec.valueName === null ? `--[no-]${spec.flag}` : `--${spec.flag} ${spec.valueName}`
    const defaultText = 'raw' in spec.default ? String(spec.default.raw) : spec.default.text
    const key = spec.inFile ? `key ${spec.key}, ` : ''
    return `  ${flag.padEnd(34)}${spec.help}\n${' '.repeat(36)}${key}env ${spec.env}, default: ${defaultText}`
  })
  return [
    'Usage: slabcache [options]',
    '',
    'Each option is read from, lowest precedence first: the built-in default, the JSON config file',
    '(nested objects for dotted keys, e.g. {"limits": {"maxKeyBytes": 250}}; null means the default),',
    'its SLABCACHE_* environment variable, then its flag. Sizes accept b, k/kb/kib, m/mb/mib and',
    'g/gb/gib (all binary: 1k = 1024 bytes). Switches from env or file accept true, false, 1 or 0.',
    '',
    ...rows,
    `  ${'-h, --help'.padEnd(34)}print this help and exit`,
    `  ${'--version'.padEnd(34)}print the version and exit`,
    ''
  ].join('\n')
}
