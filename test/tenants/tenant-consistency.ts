// A tenant's default write consistency (issue 7: "per tenant default"): the tenant file keeps it
// and reads files written before it existed; the registry creates, updates and answers it; the
// configuration declares it. Real files in a temp dir and a real engine (shard workers from dist/).
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { defaultConfig, loadConfig, type ConfigOverrides } from '../../src/config/load-config.js'
import { Engine } from '../../src/engine.js'
import { readTenantFile, serializeTenantFile, type TenantFileData } from '../../src/tenants/tenant-file.js'
import { TenantRegistry } from '../../src/tenants/tenant-registry.js'

async function engineFor (t: Test): Promise<{ engine: Engine, dataDir: string }> {
  const dataDir = t.testdir({})
  const engine = await Engine.start(defaultConfig({ shards: 1, memoryBytes: 16 * 1024 * 1024, dataDir }))
  t.teardown(() => engine.close())
  return { engine, dataDir }
}

async function open (engine: Engine, overrides: ConfigOverrides = {}): Promise<TenantRegistry> {
  return await TenantRegistry.open({ config: defaultConfig({ dataDir: engine.config.dataDir, ...overrides }), engine })
}

const fileOf = (dataDir: string): string => path.join(dataDir, 'tenants.json')
const storedOf = (dataDir: string): TenantFileData => JSON.parse(readFileSync(fileOf(dataDir), 'utf8'))

t.test('tenant file - consistency round-trips; a file written before the field reads as null and is not rewritten', async (t) => {
  const dir = t.testdir({})
  const data: TenantFileData = {
    version: 1,
    nextId: 4,
    freeIds: [],
    tenants: [
      { id: 0, name: 'default', secretHash: null, quotaBytes: 0, consistency: null, createdMs: 1 },
      { id: 1, name: 'a', secretHash: null, quotaBytes: 0, consistency: 'async', createdMs: 2 },
      { id: 2, name: 'q', secretHash: null, quotaBytes: 7, consistency: 'quorum', createdMs: 3 },
      { id: 3, name: 'all', secretHash: null, quotaBytes: 0, consistency: 'all', createdMs: 4 }
    ]
  }
  writeFileSync(path.join(dir, 'new.json'), serializeTenantFile(data))
  t.same(await readTenantFile(path.join(dir, 'new.json')), data, 'every mode and null survive a write and a read')

  // Exactly what the previous release wrote: no consistency key anywhere.
  const old = '{\n  "version": 1,\n  "nextId": 2,\n  "freeIds": [],\n  "tenants": [\n' +
    '    {"id":0,"name":"default","secretHash":null,"quotaBytes":0,"createdMs":5},\n' +
    '    {"id":1,"name":"shop","secretHash":null,"quotaBytes":4096,"createdMs":6}\n  ]\n}\n'
  writeFileSync(path.join(dir, 'old.json'), old)
  const read = await readTenantFile(path.join(dir, 'old.json'))
  t.same(read?.tenants.map((tenant) => tenant.consistency), [null, null], 'an old file: every tenant follows the server default')
  t.same(read?.tenants[1], { id: 1, name: 'shop', secretHash: null, quotaBytes: 4096, consistency: null, createdMs: 6 })

  const { engine, dataDir } = await engineFor(t)
  writeFileSync(fileOf(dataDir), old)
  const registry = await open(engine)
  t.equal(registry.consistencyOf(1), null)
  t.match(registry.byName('shop'), { id: 1, quotaBytes: 4096, consistency: null })
  t.equal(readFileSync(fileOf(dataDir), 'utf8'), old, 'opening an old file with nothing to change writes nothing')
})

t.test('tenant file - a bad consistency is refused naming the field, and the file is left alone', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  for (const bad of ['strong', 'ALL', 1, true, {}]) {
    const text = JSON.stringify({ version: 1, nextId: 2, freeIds: [], tenants: [{ id: 0, name: 'default', secretHash: null, quotaBytes: 0, createdMs: 1 }, { id: 1, name: 'a', secretHash: null, quotaBytes: 0, consistency: bad, createdMs: 1 }] })
    writeFileSync(fileOf(dataDir), text)
    await t.rejects(open(engine), { code: 'TENANT_FILE_INVALID', message: /tenants\[1\]\.consistency must be null or one of async, quorum, all/ }, JSON.stringify(bad))
    t.equal(readFileSync(fileOf(dataDir), 'utf8'), text, `${JSON.stringify(bad)}: not replaced`)
  }
})

t.test('registry - create and update set the consistency; it persists; quota-only updates keep it', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const registry = await open(engine)
  t.equal(registry.consistencyOf(0), null, 'the default tenant follows the server')
  t.equal(registry.consistencyOf(999), null, 'an unknown id follows the server')

  const { tenant } = await registry.create({ name: 'strict', consistency: 'all' })
  t.match(tenant, { id: 1, name: 'strict', consistency: 'all' })
  const plain = (await registry.create({ name: 'plain' })).tenant
  t.equal(plain.consistency, null, 'without consistency: null')
  t.equal(registry.consistencyOf(tenant.id), 'all')
  t.equal(registry.consistencyOf(plain.id), null)
  t.equal(storedOf(dataDir).tenants[1]!.consistency, 'all', 'in the file')

  t.match(await registry.update('strict', { quotaBytes: 8192 }), { quotaBytes: 8192, consistency: 'all' }, 'a quota change keeps the consistency')
  t.match(await registry.updateQuota('strict', 4096), { quotaBytes: 4096, consistency: 'all' })
  t.match(await registry.update('strict', { consistency: 'quorum' }), { quotaBytes: 4096, consistency: 'quorum' }, 'a consistency change keeps the quota')
  t.equal(registry.consistencyOf(tenant.id), 'quorum', 'answered at once')
  t.match(await registry.update('plain', { quotaBytes: 100, consistency: 'async' }), { quotaBytes: 100, consistency: 'async' }, 'both at once')
  t.match(await registry.update('default', { consistency: 'all' }), { id: 0, consistency: 'all' }, 'the default tenant may have one too')

  const reopened = await open(engine)
  t.same(reopened.list(), registry.list(), 'a reopen reads the same consistencies')
  t.equal(reopened.consistencyOf(tenant.id), 'quorum')
  t.equal(reopened.consistencyOf(0), 'all')

  t.match(await registry.update('strict', { consistency: null }), { consistency: null }, 'null: back to the server default')
  t.equal(registry.consistencyOf(tenant.id), null)
  t.equal(storedOf(dataDir).tenants[1]!.consistency, null)

  await registry.delete('strict')
  t.equal(registry.consistencyOf(tenant.id), null, 'a deleted tenant no longer has one')
})

t.test('registry - bad values and empty updates are BAD_REQUEST and change nothing', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const registry = await open(engine)
  await registry.create({ name: 'alpha', consistency: 'quorum' })
  const before = readFileSync(fileOf(dataDir), 'utf8')
  const bad = 'strong' as unknown as 'all'
  await t.rejects(registry.create({ name: 'beta', consistency: bad }), { code: 'BAD_REQUEST', message: /consistency must be one of async, quorum, all, or null/ })
  await t.rejects(registry.update('alpha', { consistency: bad }), { code: 'BAD_REQUEST', message: /consistency must be one of/ })
  await t.rejects(registry.update('alpha', {}), { code: 'BAD_REQUEST', message: /nothing to change/ })
  await t.rejects(registry.update('nobody', { consistency: 'all' }), { code: 'TENANT_NOT_FOUND' })
  t.equal(registry.byName('beta'), undefined)
  t.equal(registry.byName('alpha')?.consistency, 'quorum')
  t.equal(readFileSync(fileOf(dataDir), 'utf8'), before, 'the file is unchanged')
})

t.test('config - declared consistency is applied; an entry without the key keeps the file\'s; null clears it', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const declared = await open(engine, { tenants: [{ name: 'shop', secret: null, secretHash: null, quotaBytes: null, consistency: 'all' }, { name: 'blog', secret: null, secretHash: null, quotaBytes: null }] })
  t.match(declared.list(), [{ name: 'default', consistency: null }, { name: 'shop', consistency: 'all' }, { name: 'blog', consistency: null }])
  t.equal(declared.consistencyOf(1), 'all')

  const text = readFileSync(fileOf(dataDir), 'utf8')
  const kept = await open(engine, { tenants: [{ name: 'shop', secret: null, secretHash: null, quotaBytes: 1024 }] })
  t.equal(kept.consistencyOf(1), 'all', 'no consistency key: the file\'s value stays')
  t.not(readFileSync(fileOf(dataDir), 'utf8'), text, 'the quota change was written')

  const changed = await open(engine, { tenants: [{ name: 'shop', secret: null, secretHash: null, quotaBytes: null, consistency: 'quorum' }] })
  t.equal(changed.consistencyOf(1), 'quorum', 'the configuration wins for what it states')
  const cleared = await open(engine, { tenants: [{ name: 'shop', secret: null, secretHash: null, quotaBytes: null, consistency: null }] })
  t.equal(cleared.consistencyOf(1), null, 'a stated null clears it')
  t.equal(storedOf(dataDir).tenants[1]!.consistency, null)
})

t.test('config - tenants[].consistency is parsed from flag, env and file; a bad value is refused naming the field', async (t) => {
  const run = (argv: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof loadConfig> => loadConfig({ argv, env, cwd: '/srv/slabcache' })
  const tenantsOf = (result: ReturnType<typeof loadConfig>): unknown => result.kind === 'run' ? result.config.tenants : null
  const json = '[{"name":"a","consistency":"all"},{"name":"b","consistency":null},{"name":"c"}]'
  const want = [
    { name: 'a', secret: null, secretHash: null, quotaBytes: null, consistency: 'all' },
    { name: 'b', secret: null, secretHash: null, quotaBytes: null, consistency: null },
    { name: 'c', secret: null, secretHash: null, quotaBytes: null }
  ]
  t.same(tenantsOf(run([`--tenants=${json}`])), want, 'flag')
  t.same(tenantsOf(run([], { SLABCACHE_TENANTS: json })), want, 'env')
  const dir = t.testdir({ 'slabcache.json': JSON.stringify({ tenants: JSON.parse(json) }) })
  t.same(tenantsOf(run(['--config', path.join(dir, 'slabcache.json')])), want, 'file')
  t.notOk(Object.hasOwn((tenantsOf(run([`--tenants=${json}`])) as object[])[2]!, 'consistency'), 'absent stays absent (keeps the file\'s value)')

  for (const bad of ['"strong"', '"ALL"', '1', 'true', '["all"]']) {
    t.throws(() => run([`--tenants=[{"name":"shop","consistency":${bad}}]`]), {
      code: 'CONFIG_INVALID',
      message: /^tenants \(--tenants\) entry 0 \(shop\) consistency must be one of async, quorum, all or null .+; received /
    }, bad)
  }
  t.throws(() => run([], { SLABCACHE_TENANTS: '[{"name":"shop","consistency":"eventual"}]' }), { code: 'CONFIG_INVALID', message: /consistency must be .+\(from env SLABCACHE_TENANTS\)$/ })
  // defaultConfig feeds a resolved Config back through the same parser.
  t.same(defaultConfig({ tenants: [{ name: 'x', secret: null, secretHash: null, quotaBytes: null, consistency: 'quorum' }] }).tenants, [{ name: 'x', secret: null, secretHash: null, quotaBytes: null, consistency: 'quorum' }])
})
