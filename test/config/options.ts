// One test per option: a valid value is accepted from a flag, an env var and the config file,
// and invalid values from each source throw a ConfigError naming the option.
import path from 'node:path'
import fs from 'node:fs'
import t, { type Test } from 'tap'
import { loadConfig, type Config } from '../../src/config/load-config.js'
import { defaultShardCount, envName, OPTIONS, optionByKey, type OptionSpec } from '../../src/config/options.js'
import { GIB, KIB, MIB } from '../../src/util/bytes.js'
import { DEFAULT_BUMP_INTERVAL_MS } from '../../src/core/bump-epoch.js'

const CWD = '/srv/slabcache'

interface OptionCase {
  /** Raw strings accepted from every source, with the resolved value they give. */
  readonly valid: ReadonlyArray<readonly [string, unknown]>
  /** JSON values accepted from the config file. */
  readonly validJson?: ReadonlyArray<readonly [unknown, unknown]>
  /** Strings rejected from flag and env (and file). */
  readonly invalid: readonly string[]
  /** JSON values rejected from the config file. */
  readonly invalidJson?: readonly unknown[]
}

const CASES: Record<string, OptionCase> = {
  host: { valid: [['0.0.0.0', '0.0.0.0'], ['::1', '::1']], invalid: ['', '  '], invalidJson: [5, true] },
  httpPort: { valid: [['0', 0], ['9090', 9090], ['65535', 65535]], validJson: [[8081, 8081]], invalid: ['-1', '65536', 'http', '80.5', '1e3'], invalidJson: [80.5, false] },
  respPort: { valid: [['0', 0], ['6380', 6380]], validJson: [[6381, 6381]], invalid: ['-1', '65536', 'resp'], invalidJson: [1.5] },
  memcachePort: { valid: [['0', 0], ['11212', 11212]], validJson: [[11213, 11213]], invalid: ['-1', '65536', 'mc'], invalidJson: [[]] },
  shards: { valid: [['1', 1], ['2', 2]], validJson: [[2, 2]], invalid: ['0', '65', '1.5', 'many'], invalidJson: [0, '2x'] },
  memory: { valid: [['64mb', 64 * MIB], ['1GiB', GIB], ['33554432', 32 * MIB]], validJson: [[32 * MIB, 32 * MIB]], invalid: ['lots', '-5mb', '1.5b', '0'], invalidJson: [-1, true] },
  dataDir: { valid: [['cache', path.join(CWD, 'cache')], ['/var/lib/slabcache', '/var/lib/slabcache']], invalid: [''], invalidJson: [7] },
  logLevel: { valid: [['debug', 'debug'], ['silent', 'silent'], ['WARN', 'warn']], invalid: ['loud', 'verbose'], invalidJson: [3] },
  lockTimeoutMs: { valid: [['1', 1], ['60000', 60000]], validJson: [[500, 500]], invalid: ['0', '60001', 'soon'] },
  maintenanceIntervalMs: { valid: [['1', 1], ['1000', 1000]], validJson: [[50, 50]], invalid: ['0', '1001'] },
  'lru.bumpInterval': {
    valid: [['0', 0], ['1ms', 1], ['60s', 60_000], ['1.5m', 90_000], ['30d', 30 * 86_400_000]],
    validJson: [[0, 0], [1, 1], [30_000, 30_000], ['2s', 2000]],
    invalid: ['31d', '60', '-1s', '0.4ms', 'sometimes', ''],
    invalidJson: [-1, 1.5, 30 * 86_400_000 + 1, true]
  },
  'limits.maxKeyBytes': { valid: [['250', 250], ['4096', 4096]], validJson: [[1, 1]], invalid: ['0', '4097', '4k'] },
  'limits.maxValueBytes': { valid: [['1mb', MIB], ['100', 100]], validJson: [[KIB, KIB]], invalid: ['0', '2gb', 'big'] },
  'limits.maxRequestBytes': { valid: [['16mb', 16 * MIB]], validJson: [[9 * MIB, 9 * MIB]], invalid: ['0', 'huge'] },
  'limits.maxConnections': { valid: [['1', 1], ['1000000', 1_000_000]], validJson: [[5, 5]], invalid: ['0', '1000001'] },
  'limits.maxTagsPerItem': { valid: [['0', 0], ['16', 16], ['255', 255]], validJson: [[4, 4]], invalid: ['-1', '256', 'some'], invalidJson: [1.5] },
  'limits.maxTagBytes': { valid: [['1', 1], ['4096', 4096]], validJson: [[64, 64]], invalid: ['0', '4097', '1k'], invalidJson: [true] },
  'debug.clockControl': { valid: [['true', true], ['1', true], ['false', false], ['0', false], ['TRUE', true]], validJson: [[true, true], [false, false]], invalid: ['yes', 'on', ''], invalidJson: [1, 'enabled'] },
  'auth.adminToken': { valid: [['admin-token-1', 'admin-token-1'], ['x'.repeat(512), 'x'.repeat(512)]], invalid: ['short', 'has a space', 'x'.repeat(513), 'tab\there!'], invalidJson: [12345678, true] },
  'auth.defaultSecret': { valid: [['s3cret-default', 's3cret-default']], invalid: ['1234567', 'two words here'], invalidJson: [['an', 'array']] },
  tenants: {
    valid: [
      ['[]', []],
      ['[{"name":"alpha","secret":"alpha-secret"}]', [{ name: 'alpha', secret: 'alpha-secret', secretHash: null, quotaBytes: null }]],
      ['[{"name":"b_2-x","quota":"1mb"},{"name":"c","quotaBytes":0}]', [{ name: 'b_2-x', secret: null, secretHash: null, quotaBytes: MIB }, { name: 'c', secret: null, secretHash: null, quotaBytes: 0 }]]
    ],
    validJson: [[[{ name: 'alpha', secretHash: `scrypt$16384$8$1$${'a'.repeat(22)}$${'b'.repeat(43)}`, quota: 4096 }], [{ name: 'alpha', secret: null, secretHash: `scrypt$16384$8$1$${'a'.repeat(22)}$${'b'.repeat(43)}`, quotaBytes: 4096 }]]],
    invalid: ['{', '{"name":"a"}', '[{"name":"a b"}]', '[{"name":"a"},{"name":"a"}]', '[{"name":"a","secret":"short"}]', '[{"name":"a","secret":"long-enough","secretHash":"scrypt$1$1$1$aaaaaaaaaaaaaaaa$bbbbbbbbbbbbbbbb"}]',
      '[{"name":"a","secretHash":"plaintext-password"}]', '[{"name":"a","quota":"lots"}]', '[{"name":"a","quota":1,"quotaBytes":1}]', '[{"name":"a","colour":"red"}]', '["a"]'],
    invalidJson: [5, { name: 'a' }, [{ name: '' }], [{ name: 'x'.repeat(65) }]]
  },
  'limits.maxBatchItems': { valid: [['1', 1], ['1000000', 1_000_000]], validJson: [[50, 50]], invalid: ['0', '1000001', 'many'] },
  'snapshot.interval': {
    valid: [['0', 0], ['100ms', 100], ['30s', 30_000], ['15m', 900_000], ['1.5h', 5_400_000], ['30d', 30 * 86_400_000], [' 2S ', 2000]],
    validJson: [[0, 0], [60_000, 60_000], ['5m', 300_000]],
    invalid: ['99ms', '31d', '60', 'often', '-5s', '1w', ''],
    invalidJson: [99, 1.5, true]
  },
  'snapshot.onShutdown': { valid: [['true', true], ['false', false], ['0', false]], validJson: [[false, false]], invalid: ['yes', ''], invalidJson: [1] },
  'snapshot.restoreOnStart': { valid: [['true', true], ['false', false], ['1', true]], validJson: [[false, false]], invalid: ['no'], invalidJson: ['off'] },
  // Cluster mode needs a secret (a relation, tested below), so the cases that turn it on are there.
  'cluster.enabled': { valid: [['false', false], ['0', false]], validJson: [[false, false]], invalid: ['yes'], invalidJson: [1] },
  'cluster.nodeId': { valid: [['node-a', 'node-a'], ['10.0.0.1:7946', '10.0.0.1:7946']], invalid: ['has space', 'x'.repeat(65), 'ü'], invalidJson: [7] },
  'cluster.join': { valid: [['', []]], validJson: [[[], []]], invalid: ['nohost', 'a:0', 'a:70000', 'a:b'], invalidJson: [5, ['a']] },
  'cluster.peerPort': { valid: [['0', 0], ['7947', 7947]], validJson: [[7000, 7000]], invalid: ['-1', '65536', 'peer'] },
  'cluster.advertiseHost': { valid: [['10.1.2.3', '10.1.2.3']], invalid: [''], invalidJson: [1] },
  'cluster.secret': { valid: [['cluster-secret-1', 'cluster-secret-1']], invalid: ['short', 'two words here'], invalidJson: [12345678] },
  'cluster.replicas': { valid: [['1', 1], ['3', 3]], validJson: [[2, 2]], invalid: ['0', '6', 'two'] },
  'cluster.consistency': { valid: [['async', 'async'], ['QUORUM', 'quorum'], ['all', 'all']], invalid: ['most', ''], invalidJson: [2] },
  'cluster.heartbeatInterval': { valid: [['100ms', 100], ['1s', 1000]], validJson: [[50, 50]], invalid: ['5ms', '2m', 'fast'] },
  'cluster.suspectAfter': { valid: [['500ms', 500], ['5s', 5000]], validJson: [[900, 900]], invalid: ['10ms', 'soon'] },
  'cluster.deadAfter': { valid: [['3s', 3000], ['1m', 60_000]], validJson: [[4000, 4000]], invalid: ['20ms', 'later'] },
  'cluster.replicationTimeout': { valid: [['500ms', 500], ['10s', 10_000]], invalid: ['5ms', 'long'] },
  'cluster.rebalanceRate': { valid: [['1mb', MIB], ['64kb', 64 * KIB]], validJson: [[MIB, MIB]], invalid: ['1kb', 'fast'] },
  'cluster.antiEntropyInterval': { valid: [['0', 0], ['30s', 30_000]], validJson: [[60_000, 60_000]], invalid: ['50ms', 'often'] }
}

function field (config: Config, spec: OptionSpec): unknown {
  return spec.field.split('.').reduce<unknown>((obj, name) => (obj as Record<string, unknown>)[name], config)
}

function nested (key: string, value: unknown): Record<string, unknown> {
  const [group, leaf] = key.split('.')
  return leaf === undefined ? { [group!]: value } : { [group!]: { [leaf]: value } }
}

function run (argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const result = loadConfig({ argv, env, cwd: CWD })
  if (result.kind !== 'run') throw new Error(`expected kind run, got ${result.kind}`)
  return result.config
}

function withFile (t: Test, json: unknown): string[] {
  const dir = t.testdir({ 'slabcache.json': JSON.stringify(json) })
  return ['--config', path.join(dir, 'slabcache.json')]
}

function errorFor (spec: OptionSpec): { code: string, name: string, message: RegExp } {
  const label = spec.label.replace(/[.()-]/g, (c) => `\\${c}`)
  // A list option (tenants) names the entry too: `tenants (--tenants) entry 1 (a) quota must be …`.
  return { code: 'CONFIG_INVALID', name: 'ConfigError', message: new RegExp(`^${label}( entry \\d+[^;]*?)? must be .+; received `) }
}

t.test('every option except config has a case here', async (t) => {
  t.same(OPTIONS.map((spec) => spec.key).filter((key) => key !== 'config').sort(), Object.keys(CASES).sort())
})

for (const [key, c] of Object.entries(CASES)) {
  const spec = optionByKey(key)
  t.test(`${key} - accepted from --${spec.flag}, ${spec.env} and the config file; bad values are refused by name`, async (t) => {
    for (const [raw, value] of c.valid) {
      const argv = spec.valueName === null ? [value === true ? `--${spec.flag}` : `--no-${spec.flag}`] : [`--${spec.flag}=${raw}`]
      t.same(field(run(argv), spec), value, `flag ${argv.join(' ')}`)
      t.same(field(run([], { [spec.env]: raw }), spec), value, `env ${spec.env}=${raw}`)
      t.same(field(run(withFile(t, nested(key, raw))), spec), value, `file ${JSON.stringify(raw)}`)
    }
    for (const [raw, value] of c.validJson ?? []) {
      t.same(field(run(withFile(t, nested(key, raw))), spec), value, `file ${JSON.stringify(raw)}`)
    }
    for (const raw of c.invalid) {
      if (spec.valueName !== null) t.throws(() => run([`--${spec.flag}=${raw}`]), errorFor(spec), `flag ${raw}`)
      t.throws(() => run([], { [spec.env]: raw }), errorFor(spec), `env ${raw}`)
      t.throws(() => run(withFile(t, nested(key, raw))), errorFor(spec), `file ${JSON.stringify(raw)}`)
    }
    for (const raw of c.invalidJson ?? []) {
      t.throws(() => run(withFile(t, nested(key, raw))), errorFor(spec), `file ${JSON.stringify(raw)}`)
    }
  })
}

t.test('config - an empty path is refused before any file is read', async (t) => {
  t.throws(() => run(['--config=']), errorFor(optionByKey('config')))
  t.throws(() => run([], { SLABCACHE_CONFIG: '' }), { code: 'CONFIG_INVALID', message: /\(from env SLABCACHE_CONFIG\)$/ })
})

t.test('error messages say which source a bad value came from', async (t) => {
  t.throws(() => run([], { SLABCACHE_SHARDS: '0' }), { message: 'shards (--shards) must be an integer from 1 to 64; received 0 (from env SLABCACHE_SHARDS)' })
  t.throws(() => run(['--shards=0']), { message: 'shards (--shards) must be an integer from 1 to 64; received 0' })
  const argv = withFile(t, { shards: 0 })
  t.throws(() => run(argv), { message: `shards (--shards) must be an integer from 1 to 64; received 0 (from config file ${argv[1]})` })
})

t.test('memory - must give every shard at least 8 MiB', async (t) => {
  t.throws(() => run(['--memory=4mb', '--shards=2']), {
    code: 'CONFIG_INVALID',
    message: 'memory (--memory) must be at least 8 MiB per shard (2 shards need 16 MiB); received 4 MiB'
  })
  t.throws(() => run(['--memory=4mb']), { message: /^memory \(--memory\) must be at least 8 MiB per shard \(1 shard needs 8 MiB\)/ })
  t.equal(run(['--memory=16mb', '--shards=2', '--max-value-bytes=4mb']).memoryBytes, 16 * MIB)
})

t.test('limits.maxValueBytes - must be at most half of one shard\'s memory, naming both options', async (t) => {
  t.throws(() => run(['--memory=32mb', '--shards=2', '--max-value-bytes=9mb']), {
    code: 'CONFIG_INVALID',
    message: 'limits.maxValueBytes (--max-value-bytes) must be at most half of one shard\'s memory, memory (--memory) / shards (--shards) / 2 = 8 MiB; received 9 MiB'
  })
  t.equal(run(['--memory=32mb', '--shards=2', '--max-value-bytes=8mb']).limits.maxValueBytes, 8 * MIB)
})

t.test('limits.maxRequestBytes - defaults to maxValueBytes + 64 KiB and may not be below it', async (t) => {
  t.equal(run([]).limits.maxRequestBytes, 8 * MIB + 64 * KIB)
  t.equal(run(['--max-value-bytes=1mb']).limits.maxRequestBytes, MIB + 64 * KIB)
  t.throws(() => run(['--max-request-bytes=1mb']), {
    code: 'CONFIG_INVALID',
    message: 'limits.maxRequestBytes (--max-request-bytes) must be at least limits.maxValueBytes (--max-value-bytes) = 8 MiB; received 1 MiB'
  })
})

t.test('shards - defaults to CPUs - 1, at least 1, and fewer when memory is small', async (t) => {
  t.equal(run([]).shards, defaultShardCount(256 * MIB, 8 * MIB))
  t.equal(defaultShardCount(256 * MIB, 8 * MIB, 1), 1)
  t.equal(defaultShardCount(256 * MIB, 8 * MIB, 4), 3)
  t.equal(defaultShardCount(256 * MIB, 8 * MIB, 128), 16, 'each shard keeps room for two 8 MiB values')
  t.equal(defaultShardCount(4 * GIB, 1 * MIB, 128), 64, 'never above 64')
  t.equal(defaultShardCount(8 * MIB, 1 * MIB, 8), 1)
  t.equal(run(['--memory=16mb']).shards, 1, 'the defaults stay valid with little memory')
})

t.test('debug.clockControl - --no-debug-clock-control overrides an env true; a switch takes no value', async (t) => {
  t.equal(run(['--no-debug-clock-control'], { SLABCACHE_DEBUG_CLOCK_CONTROL: 'true' }).debug.clockControl, false)
  t.throws(() => run(['--debug-clock-control=1']), {
    code: 'CONFIG_INVALID',
    message: /^debug\.clockControl \(--debug-clock-control\) is a switch and takes no value/
  })
})

t.test('env var names are SLABCACHE_ + UPPER_SNAKE of the dotted key', async (t) => {
  t.equal(envName('httpPort'), 'SLABCACHE_HTTP_PORT')
  t.equal(envName('debug.clockControl'), 'SLABCACHE_DEBUG_CLOCK_CONTROL')
  t.equal(envName('limits.maxValueBytes'), 'SLABCACHE_LIMITS_MAX_VALUE_BYTES')
  t.equal(optionByKey('config').env, 'SLABCACHE_CONFIG')
  t.throws(() => optionByKey('nope'))
})

t.test('lru.bumpInterval - defaults to the store default (memcached\'s 60 s), and 0 means exact LRU', async (t) => {
  t.equal(run([]).lru.bumpIntervalMs, DEFAULT_BUMP_INTERVAL_MS)
  t.equal(DEFAULT_BUMP_INTERVAL_MS, 60_000)
  t.equal(run(['--lru-bump-interval', '0']).lru.bumpIntervalMs, 0)
  t.equal(run([], { SLABCACHE_LRU_BUMP_INTERVAL: '250ms' }).lru.bumpIntervalMs, 250)
})

t.test('config/example.json lists every file key', async (t) => {
  const example = JSON.parse(fs.readFileSync(new URL('../../config/example.json', import.meta.url), 'utf8')) as Record<string, unknown>
  const keys = Object.entries(example).flatMap(([name, value]) =>
    value !== null && typeof value === 'object' ? Object.keys(value).map((leaf) => `${name}.${leaf}`) : [name])
  t.same(keys.sort(), OPTIONS.filter((spec) => spec.inFile).map((spec) => spec.key).sort())
})

t.test('secrets - a refused secret or token is never echoed in the message', async (t) => {
  for (const argv of [['--admin-token=has a space!'], ['--default-secret=shortpw'], ['--tenants=[{"name":"a","secret":"secret with spaces"}]']]) {
    const error = t.throws(() => run(argv), { code: 'CONFIG_INVALID' }) as Error
    t.notMatch(error.message, /has a space|shortpw|secret with spaces/, argv[0]!)
    t.match(error.message, /not shown/)
  }
})

t.test('auth.defaultSecret - may not be given twice (also as a secret of the default tenant in tenants)', async (t) => {
  t.throws(() => run(['--default-secret=default-secret', '--tenants=[{"name":"default","secret":"other-secret"}]']), {
    code: 'CONFIG_INVALID',
    message: /^auth\.defaultSecret \(--default-secret\) must be unset when tenants \(--tenants\) gives the default tenant a secret/
  })
  t.equal(run(['--default-secret=default-secret', '--tenants=[{"name":"default","quota":"1mb"}]']).tenants[0]!.quotaBytes, MIB, 'a quota for the default tenant is fine')
})

t.test('cluster mode (--cluster or --join) needs a secret and heartbeat < suspect < dead', async (t) => {
  const secret = ['--cluster-secret', 'cluster-secret-1']
  t.throws(() => run(['--cluster']), { code: 'CONFIG_INVALID', message: /^cluster\.secret \(--cluster-secret\) must be set in cluster mode/ })
  t.throws(() => run(['--join', 'a:7946']), { code: 'CONFIG_INVALID', message: /^cluster\.secret/ })
  const joined = run(['--join', 'a.example:7946, 10.0.0.2:7000', ...secret])
  t.same(joined.cluster.join, ['a.example:7946', '10.0.0.2:7000'])
  t.equal(joined.cluster.enabled, false, 'the flag stays as given; clusterEnabled() reads both')
  const viaEnv = run(['--cluster'], { SLABCACHE_CLUSTER_SECRET: 'cluster-secret-2' })
  t.equal(viaEnv.cluster.secret, 'cluster-secret-2')
  t.equal(viaEnv.cluster.advertiseHost, '127.0.0.1', 'a loopback host is advertised as itself')
  t.equal(run(['--host', '0.0.0.0']).cluster.advertiseHost, '127.0.0.1', 'a wildcard host advertises loopback')
  t.equal(run(['--host', '10.9.8.7']).cluster.advertiseHost, '10.9.8.7')
  t.throws(() => run(['--cluster', ...secret, '--heartbeat-interval', '1s', '--suspect-after', '1s']), { message: /^cluster\.suspectAfter \(--suspect-after\) must be longer than/ })
  t.throws(() => run(['--cluster', ...secret, '--suspect-after', '2s', '--dead-after', '2s']), { message: /^cluster\.deadAfter \(--dead-after\) must be longer than/ })
  t.throws(() => run(['--cluster', ...secret, '--heartbeat-interval', '0']), { message: /^cluster\.heartbeatInterval/ })
  const config = run(['--cluster', ...secret])
  t.match(config.cluster, { peerPort: 7946, replicas: 2, consistency: 'async', heartbeatIntervalMs: 250, suspectAfterMs: 1000, deadAfterMs: 2000, nodeId: null })
})
