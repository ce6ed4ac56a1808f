import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { defaultConfig, loadConfig, type Config, type LoadResult } from '../../src/config/load-config.js'
import { OPTIONS } from '../../src/config/options.js'
import { ConfigError } from '../../src/errors.js'
import { MIB } from '../../src/util/bytes.js'

const CWD = '/srv/slabcache'
const EXAMPLE = fileURLPath('../../config/example.json')

function fileURLPath (relative: string): string {
  return new URL(relative, import.meta.url).pathname
}

function run (argv: string[], env: NodeJS.ProcessEnv = {}, cwd = CWD): Config {
  const result = loadConfig({ argv, env, cwd })
  if (result.kind !== 'run') throw new Error(`expected kind run, got ${result.kind}`)
  return result.config
}

t.test('no config at all - the embedded defaults load and no file is read', async (t) => {
  const config = run([])
  t.equal(config.configFile, null)
  t.match(config, {
    host: '127.0.0.1',
    httpPort: 8080,
    respPort: 6379,
    memcachePort: 11211,
    memoryBytes: 256 * MIB,
    dataDir: path.join(CWD, 'data'),
    logLevel: 'info',
    lockTimeoutMs: 200,
    maintenanceIntervalMs: 10,
    lru: { bumpIntervalMs: 60_000 },
    limits: { maxKeyBytes: 4096, maxValueBytes: 8 * MIB, maxRequestBytes: 8 * MIB + 64 * 1024, maxConnections: 10000, maxBatchItems: 1000, maxTagsPerItem: 16, maxTagBytes: 256 },
    debug: { clockControl: false }
  })
})

t.test('the config is frozen, groups included', async (t) => {
  const config = run([])
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.limits))
  t.ok(Object.isFrozen(config.debug))
  t.ok(Object.isFrozen(config.lru))
})

t.test('config/example.json - loading it gives the defaults back', async (t) => {
  const fromExample = run(['--config', EXAMPLE])
  t.equal(fromExample.configFile, EXAMPLE)
  t.same({ ...fromExample, configFile: null }, run([]))
})

t.test('precedence - file < env < flag, per option', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ httpPort: 1001, respPort: 1002, memcachePort: 1003, limits: { maxKeyBytes: 100 } }) })
  const config = run(['--config', path.join(dir, 'c.json'), '--memcache-port', '3003'], {
    SLABCACHE_RESP_PORT: '2002',
    SLABCACHE_MEMCACHE_PORT: '2003'
  })
  t.equal(config.httpPort, 1001, 'file beats the default')
  t.equal(config.respPort, 2002, 'env beats the file')
  t.equal(config.memcachePort, 3003, 'flag beats env')
  t.equal(config.limits.maxKeyBytes, 100, 'nested keys come from the file')
  t.equal(config.host, '127.0.0.1', 'unset options keep their default')
})

t.test('precedence - the last repeated flag wins', async (t) => {
  t.equal(run(['--http-port', '1', '--http-port', '2']).httpPort, 2)
})

t.test('config - --config beats SLABCACHE_CONFIG, and a relative path resolves against cwd', async (t) => {
  const dir = t.testdir({ 'a.json': '{"httpPort": 1}', 'b.json': '{"httpPort": 2}' })
  t.equal(run([], { SLABCACHE_CONFIG: 'a.json' }, dir).httpPort, 1)
  const config = run(['--config', 'b.json'], { SLABCACHE_CONFIG: 'a.json' }, dir)
  t.equal(config.httpPort, 2)
  t.equal(config.configFile, path.join(dir, 'b.json'))
})

t.test('config file - null means "use the default"', async (t) => {
  const dir = t.testdir({ 'c.json': '{"shards": null, "limits": {"maxRequestBytes": null}, "httpPort": null}' })
  const config = run(['--config', path.join(dir, 'c.json')])
  t.same({ ...config, configFile: null }, run([]))
})

t.test('config file - unknown keys are refused by name, nested ones by dotted path', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ shard: 2, limits: { maxKeyByte: 9 }, config: 'other.json' }) })
  const file = path.join(dir, 'c.json')
  t.throws(() => run(['--config', file]), {
    code: 'CONFIG_INVALID',
    name: 'ConfigError',
    message: `config file ${file} has unknown key(s): shard, limits.maxKeyByte, config; run slabcache --help for the list`
  })
})

t.test('config file - a group that is not an object is refused', async (t) => {
  const dir = t.testdir({ 'c.json': '{"limits": 5}' })
  t.throws(() => run(['--config', path.join(dir, 'c.json')]), { code: 'CONFIG_INVALID', message: /limits must be an object; received 5$/ })
})

t.test('config file - missing, unreadable or invalid JSON is refused naming the path', async (t) => {
  const dir = t.testdir({ 'bad.json': '{"httpPort": 80,', 'list.json': '[1]', sub: {} })
  const missing = path.join(dir, 'missing.json')
  t.throws(() => run(['--config', missing]), { code: 'CONFIG_INVALID', message: `config file ${missing} (config / --config) cannot be read: ENOENT: no such file or directory, open '${missing}'` })
  t.throws(() => run(['--config', path.join(dir, 'sub')]), { code: 'CONFIG_INVALID', message: /cannot be read: EISDIR/ })
  const bad = path.join(dir, 'bad.json')
  t.throws(() => run(['--config', bad]), { code: 'CONFIG_INVALID', message: new RegExp(`^config file ${bad} \\(config / --config\\) is not valid JSON: `) })
  t.throws(() => run(['--config', path.join(dir, 'list.json')]), { code: 'CONFIG_INVALID', message: /must hold a JSON object; received \[1\]$/ })
})

t.test('env - unknown SLABCACHE_* variables are refused by name; others are ignored', async (t) => {
  t.throws(() => run([], { SLABCACHE_HTTP_PROT: '1', SLABCACHE_SHARD: '2' }), {
    code: 'CONFIG_INVALID',
    name: 'ConfigError',
    message: 'unknown environment variable(s): SLABCACHE_HTTP_PROT, SLABCACHE_SHARD; run slabcache --help for the list'
  })
  t.equal(run([], { PATH: '/bin', HOME: '/root', SLABCACHE_HOST: undefined }).host, '127.0.0.1')
})

t.test('flags - an unknown flag is refused by name', async (t) => {
  for (const flag of ['--foo', '--foo=1', '-x', '--no-host', '--HTTP-PORT']) {
    t.throws(() => run([flag]), { code: 'CONFIG_INVALID', name: 'ConfigError', message: `unknown option '${flag.split('=')[0]}'; run slabcache --help` }, flag)
  }
})

t.test('flags - a missing value, a positional argument or a value on a switch is refused', async (t) => {
  t.throws(() => run(['--shards']), { code: 'CONFIG_INVALID', message: 'shards (--shards) needs a value: --shards <n>' })
  t.throws(() => run(['--shards', '--host', 'x']), { code: 'CONFIG_INVALID', message: /^shards \(--shards\) needs a value but was followed by '--host'/ })
  t.throws(() => run(['--shards', '-1']), { message: /write --shards=-1 if that is the value$/ })
  t.throws(() => run(['serve']), { code: 'CONFIG_INVALID', message: 'unexpected argument "serve"; slabcache takes only options (run slabcache --help)' })
  t.throws(() => run(['--', 'serve']), { code: 'CONFIG_INVALID', message: /^unexpected argument "serve"/ })
  t.throws(() => run(['--help=1']), { code: 'CONFIG_INVALID', message: /^--help is a switch and takes no value/ })
  t.throws(() => run(['--no-debug-clock-control=1']), { code: 'CONFIG_INVALID', message: /^debug\.clockControl \(--debug-clock-control\) is a switch/ })
})

t.test('--help - lists every option with its flag, env var, default and help line', async (t) => {
  for (const argv of [['--help'], ['-h'], ['--shards=0', '--help']]) {
    const result: LoadResult = loadConfig({ argv, env: { SLABCACHE_NOPE: '1' }, cwd: CWD })
    t.equal(result.kind, 'help', argv.join(' '))
  }
  const result = loadConfig({ argv: ['--help'], env: {}, cwd: CWD })
  if (result.kind !== 'help') throw new Error('expected help')
  t.match(result.text, /^Usage: slabcache \[options\]/)
  for (const spec of OPTIONS) {
    t.ok(result.text.includes(spec.valueName === null ? `--[no-]${spec.flag}` : `--${spec.flag} ${spec.valueName}`), `flag of ${spec.key}`)
    t.ok(result.text.includes(spec.env), `env of ${spec.key}`)
    t.ok(result.text.includes(spec.help), `help of ${spec.key}`)
    const defaultText = 'raw' in spec.default ? String(spec.default.raw) : spec.default.text
    t.ok(result.text.includes(`default: ${defaultText}`), `default of ${spec.key}`)
  }
})

t.test('--version - prints the package.json version', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(fileURLPath('../../package.json'), 'utf8')) as { version: string }
  t.same(loadConfig({ argv: ['--version'], env: {}, cwd: CWD }), { kind: 'version', text: pkg.version })
})

t.test('defaultConfig - defaults plus validated overrides in Config shape', async (t) => {
  const config = defaultConfig({ shards: 2, memoryBytes: 32 * MIB, limits: { maxValueBytes: MIB }, debug: { clockControl: true } })
  t.match(config, { shards: 2, memoryBytes: 32 * MIB, limits: { maxValueBytes: MIB, maxKeyBytes: 4096 }, debug: { clockControl: true } })
  t.equal(config.dataDir, path.resolve('data'), 'relative dataDir resolves against process.cwd()')
  t.same(defaultConfig(), run([], {}, process.cwd()))
})

t.test('defaultConfig - an invalid or unknown override throws ConfigError', async (t) => {
  t.throws(() => defaultConfig({ shards: 0 }), { code: 'CONFIG_INVALID', message: 'shards (--shards) must be an integer from 1 to 64; received 0 (from defaultConfig overrides)' })
  t.throws(() => defaultConfig({ memoryBytes: 4 * MIB, shards: 2 }), ConfigError)
  t.throws(() => defaultConfig({ memory: 5 } as never), { code: 'CONFIG_INVALID', message: 'defaultConfig overrides have unknown field(s): memory' })
  t.throws(() => defaultConfig({ configFile: '/x' } as never), { message: /unknown field\(s\): configFile$/ })
})
