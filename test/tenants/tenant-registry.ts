// TenantRegistry over real files in a temp dir and a real engine (shard workers from dist/).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { Result } from '../../src/command/command.js'
import { defaultConfig, type ConfigOverrides } from '../../src/config/load-config.js'
import { SetMode } from '../../src/core/store-status.js'
import { Engine } from '../../src/engine.js'
import { MAX_CONCURRENT_SCRYPT, MAX_QUEUED_SCRYPT } from '../../src/tenants/secret-hash.js'
import { TenantRegistry } from '../../src/tenants/tenant-registry.js'

async function engineFor (t: Test, overrides: ConfigOverrides = {}): Promise<{ engine: Engine, dataDir: string }> {
  const dataDir = t.testdir({})
  const engine = await Engine.start(defaultConfig({ shards: 2, memoryBytes: 32 * 1024 * 1024, dataDir, ...overrides }))
  t.teardown(() => engine.close())
  return { engine, dataDir }
}

async function open (engine: Engine, overrides: ConfigOverrides = {}): Promise<TenantRegistry> {
  return await TenantRegistry.open({ config: defaultConfig({ dataDir: engine.config.dataDir, ...overrides }), engine })
}

function fileOf (dataDir: string): { nextId: number, freeIds: number[], tenants: Array<{ id: number, name: string, secretHash: string | null, quotaBytes: number }> } {
  return JSON.parse(readFileSync(path.join(dataDir, 'tenants.json'), 'utf8'))
}

function set (engine: Engine, tenantId: number, key: string, value: string): void {
  const result = engine.execute({ op: 'set', tenantId, key: Buffer.from(key), value: Buffer.from(value), mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 }) as Result
  if (result.error !== null) throw new Error(result.error)
}

function get (engine: Engine, tenantId: number, key: string): string | null {
  const result = engine.execute({ op: 'get', tenantId, key: Buffer.from(key) }) as Result
  return result.value === null ? null : result.value.toString('utf8', 0, result.valueLength)
}

t.test('open - with nothing configured: only the default tenant, no auth, and no file is written', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const registry = await open(engine)
  t.equal(registry.authRequired, false)
  t.match(registry.list(), [{ id: 0, name: 'default', quotaBytes: 0 }])
  t.equal(registry.list().length, 1)
  t.same(readdirSync(dataDir), [], 'nothing written')
})

t.test('open - declared tenants are hashed into the file, authenticate, and survive a reopen unchanged', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const declared: ConfigOverrides = { tenants: [{ name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: 1024 * 1024 }, { name: 'beta', secret: 'beta-secret-22', secretHash: null, quotaBytes: null }], auth: { defaultSecret: 'default-secret' } }
  const registry = await open(engine, declared)
  t.equal(registry.authRequired, true)
  t.match(registry.list(), [{ id: 0, name: 'default' }, { id: 1, name: 'alpha', quotaBytes: 1024 * 1024 }, { id: 2, name: 'beta', quotaBytes: 0 }])
  const text = readFileSync(path.join(dataDir, 'tenants.json'), 'utf8')
  t.notMatch(text, /alpha-secret-1|beta-secret-22|default-secret/, 'no plaintext secret in the file')
  t.match(fileOf(dataDir).tenants[1]!.secretHash, /^scrypt\$16384\$8\$1\$/)
  t.equal(await registry.authenticate('alpha', 'alpha-secret-1'), 1)
  t.equal(await registry.authenticate('beta', 'beta-secret-22'), 2)
  t.equal(await registry.authenticate('default', 'default-secret'), 0)
  t.equal(await registry.authenticate('alpha', 'beta-secret-22'), null, 'another tenant\'s secret')
  t.equal(await registry.authenticate('gamma', 'alpha-secret-1'), null, 'unknown tenant')

  const reopened = await open(engine, declared)
  t.same(reopened.list(), registry.list(), 'same ids, quotas and creation times')
  t.equal(readFileSync(path.join(dataDir, 'tenants.json'), 'utf8'), text, 'a matching secret is not re-hashed: the file is untouched')
  t.equal(await reopened.authenticate('alpha', 'alpha-secret-1'), 1)

  const withoutConfig = await open(engine)
  t.equal(withoutConfig.authRequired, true, 'the file alone keeps auth on')
  t.equal(await withoutConfig.authenticate('beta', 'beta-secret-22'), 2)

  const changed = await open(engine, { tenants: [{ name: 'alpha', secret: 'a-new-secret', secretHash: null, quotaBytes: 0 }] })
  t.equal(await changed.authenticate('alpha', 'alpha-secret-1'), null, 'the configuration wins over the file')
  t.equal(await changed.authenticate('alpha', 'a-new-secret'), 1)
  t.equal(changed.byName('alpha')?.quotaBytes, 0)
})

t.test('open - a declared secretHash is used as given; an out-of-range one is refused', async (t) => {
  const { engine } = await engineFor(t)
  const first = await open(engine, { tenants: [{ name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null }] })
  const hash = fileOf(engine.config.dataDir).tenants[1]!.secretHash!
  const { engine: other } = await engineFor(t)
  const copied = await open(other, { tenants: [{ name: 'alpha', secret: null, secretHash: hash, quotaBytes: null }] })
  t.equal(await copied.authenticate('alpha', 'alpha-secret-1'), 1)
  t.ok(first)
  const huge = hash.replace('scrypt$16384$', 'scrypt$2097152$')
  await t.rejects(open(other, { tenants: [{ name: 'alpha', secret: null, secretHash: huge, quotaBytes: null }] }), { code: 'CONFIG_INVALID', message: /entry "alpha" secretHash/ })
})

t.test('open - a bad tenant file is refused with a clear error and left as it is', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const file = path.join(dataDir, 'tenants.json')
  const good = { version: 1, nextId: 2, freeIds: [], tenants: [{ id: 0, name: 'default', secretHash: null, quotaBytes: 0, createdMs: 1 }, { id: 1, name: 'a', secretHash: null, quotaBytes: 0, createdMs: 1 }] }
  const cases: Array<[string, string | object, RegExp]> = [
    ['truncated JSON', '{"version": 1, "nextId"', /is not valid JSON/],
    ['a list', '[]', /must hold a JSON object/],
    ['another version', { ...good, version: 2 }, /has version 2; this slabcache reads version 1/],
    ['a repeated name', { ...good, tenants: [good.tenants[0], good.tenants[1], { ...good.tenants[1], id: 1 }] }, /repeats the id 1 or the name "a"/],
    ['an id past nextId', { ...good, nextId: 1 }, /tenants\[1\]\.id must be an integer from 0 to nextId - 1/],
    ['a plaintext secret', { ...good, tenants: [good.tenants[0], { ...good.tenants[1], secretHash: 'hunter2hunter2' }] }, /tenants\[1\]\.secretHash must be null or a scrypt hash/],
    ['a bad name', { ...good, tenants: [good.tenants[0], { ...good.tenants[1], name: 'a b' }] }, /tenants\[1\]\.name must be/],
    ['id 0 renamed', { ...good, tenants: [{ ...good.tenants[0], name: 'zero' }] }, /id 0 is the tenant named "default"/],
    ['a used free id', { ...good, freeIds: [1] }, /freeIds\[0\] must be an unused id/],
    ['a negative quota', { ...good, tenants: [good.tenants[0], { ...good.tenants[1], quotaBytes: -1 }] }, /quotaBytes must be a non-negative integer/]
  ]
  for (const [what, content, message] of cases) {
    const text = typeof content === 'string' ? content : JSON.stringify(content)
    writeFileSync(file, text)
    await t.rejects(open(engine), { code: 'TENANT_FILE_INVALID', name: 'TenantFileInvalidError', message }, what)
    await t.rejects(open(engine), { message: new RegExp(`^tenant file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} `) }, `${what}: names the file`)
    t.equal(readFileSync(file, 'utf8'), text, `${what}: the file is not replaced`)
  }
  writeFileSync(file, JSON.stringify(good))
  t.match((await open(engine)).list(), [{ name: 'default' }, { name: 'a' }], 'the valid file loads')
})

t.test('create - returns a generated secret once; it authenticates and survives a reopen', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const registry = await open(engine)
  const { tenant, secret } = await registry.create({ name: 'alpha', quotaBytes: 4096 })
  t.match(tenant, { id: 1, name: 'alpha', quotaBytes: 4096 })
  t.match(secret, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url')
  t.equal(registry.authRequired, true, 'a tenant secret turns auth on')
  t.equal(registry.authenticateCached('alpha', secret), undefined, 'not verified yet')
  t.equal(await registry.authenticate('alpha', secret), 1)
  t.equal(registry.authenticateCached('alpha', secret), 1, 'a success is cached')
  t.equal(registry.authenticateCached('alpha', 'short'), null, 'an implausible secret is refused without scrypt')
  t.equal(registry.authenticateCached('bad name', secret), null)
  const chosen = await registry.create({ name: 'beta', secret: 'chosen-secret' })
  t.equal(chosen.secret, 'chosen-secret')
  t.notMatch(readFileSync(path.join(dataDir, 'tenants.json'), 'utf8'), new RegExp(`${secret}|chosen-secret`))

  const reopened = await open(engine)
  t.same(reopened.list(), registry.list())
  t.equal(await reopened.authenticate('alpha', secret), 1)
  t.equal(await reopened.authenticate('beta', 'chosen-secret'), 2)
})

t.test('create - refuses a taken name, a bad name, a bad quota and a bad secret', async (t) => {
  const { engine } = await engineFor(t)
  const registry = await open(engine)
  await registry.create({ name: 'alpha' })
  await t.rejects(registry.create({ name: 'alpha' }), { code: 'TENANT_EXISTS', name: 'TenantExistsError' })
  await t.rejects(registry.create({ name: 'default' }), { code: 'TENANT_EXISTS' })
  await t.rejects(registry.create({ name: 'no spaces' }), { code: 'BAD_REQUEST', message: /tenant name must be/ })
  await t.rejects(registry.create({ name: 'x'.repeat(65) }), { code: 'BAD_REQUEST' })
  await t.rejects(registry.create({ name: 'beta', quotaBytes: -1 }), { code: 'BAD_REQUEST', message: /quotaBytes/ })
  await t.rejects(registry.create({ name: 'beta', quotaBytes: 1.5 }), { code: 'BAD_REQUEST' })
  await t.rejects(registry.create({ name: 'beta', secret: 'short' }), { code: 'BAD_REQUEST', message: /secret must be 8 to 512/ })
  await t.rejects(registry.create({ name: 'beta', secret: 'has a space' }), { code: 'BAD_REQUEST' })
  t.equal(registry.list().length, 2, 'nothing was created by the refused calls')
})

t.test('rotateSecret - the old secret stops working at once, even when cached', async (t) => {
  const { engine } = await engineFor(t)
  const registry = await open(engine)
  const { secret: old } = await registry.create({ name: 'alpha' })
  t.equal(await registry.authenticate('alpha', old), 1)
  const { secret } = await registry.rotateSecret('alpha')
  t.not(secret, old)
  t.equal(registry.authenticateCached('alpha', old), undefined, 'the cached success is gone')
  t.equal(await registry.authenticate('alpha', old), null)
  t.equal(await registry.authenticate('alpha', secret), 1)
  t.equal(await (await open(engine)).authenticate('alpha', old), null, 'the file holds the new hash')
  await t.rejects(registry.rotateSecret('nobody'), { code: 'TENANT_NOT_FOUND', name: 'TenantNotFoundError' })
})

t.test('updateQuota - persists; bad values and unknown tenants are refused', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const registry = await open(engine)
  await registry.create({ name: 'alpha' })
  t.match(await registry.updateQuota('alpha', 65536), { name: 'alpha', quotaBytes: 65536 })
  t.equal(fileOf(dataDir).tenants[1]!.quotaBytes, 65536)
  t.equal((await open(engine)).byName('alpha')?.quotaBytes, 65536)
  await t.rejects(registry.updateQuota('alpha', -5), { code: 'BAD_REQUEST' })
  await t.rejects(registry.updateQuota('nobody', 5), { code: 'TENANT_NOT_FOUND' })
  t.match(await registry.updateQuota('default', 1024), { id: 0, quotaBytes: 1024 })
})

t.test('delete - flushes the tenant\'s data on every shard, forgets it, and does not reuse its id', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const registry = await open(engine)
  const { tenant: alpha, secret } = await registry.create({ name: 'alpha' })
  const { tenant: beta } = await registry.create({ name: 'beta' })
  for (let i = 0; i < 50; i++) {
    set(engine, alpha.id, `k${i}`, 'alpha')
    set(engine, beta.id, `k${i}`, 'beta')
  }
  set(engine, 0, 'k0', 'default')
  t.equal(await registry.authenticate('alpha', secret), alpha.id)
  await registry.delete('alpha')
  for (let i = 0; i < 50; i++) t.equal(get(engine, alpha.id, `k${i}`), null, `alpha k${i} flushed`)
  t.equal(get(engine, beta.id, 'k7'), 'beta', 'other tenants keep their data')
  t.equal(get(engine, 0, 'k0'), 'default')
  t.equal(registry.byName('alpha'), undefined)
  t.equal(registry.byId(alpha.id), undefined)
  t.equal(registry.authenticateCached('alpha', secret), undefined)
  t.equal(await registry.authenticate('alpha', secret), null)
  t.same(fileOf(dataDir).freeIds, [alpha.id])
  const { tenant: gamma } = await registry.create({ name: 'gamma' })
  t.equal(gamma.id, 3, 'a fresh id, not the deleted one')
  t.equal((await open(engine)).byName('alpha'), undefined, 'gone after a reopen too')
  await t.rejects(registry.delete('default'), { code: 'BAD_REQUEST', message: /default tenant cannot be deleted/ })
  await t.rejects(registry.delete('alpha'), { code: 'TENANT_NOT_FOUND' })
})

t.test('writes are atomic: no temp file is left, and a failed write changes nothing', async (t) => {
  const { engine, dataDir } = await engineFor(t)
  const registry = await open(engine)
  await Promise.all(['a', 'b', 'c', 'd'].map(async (name) => await registry.create({ name })))
  t.same(readdirSync(dataDir), ['tenants.json'], 'only the file itself')
  t.same(fileOf(dataDir).tenants.map((tenant) => tenant.name).sort(), ['a', 'b', 'c', 'd', 'default'], 'concurrent creates all landed')
  // The rename cannot replace a directory: the write fails after the temp file was written.
  const blocked = t.testdir({})
  const stuck = await TenantRegistry.open({ config: defaultConfig({ dataDir: blocked }), engine })
  mkdirSync(path.join(blocked, 'tenants.json'))
  await t.rejects(stuck.create({ name: 'e' }))
  t.equal(stuck.byName('e'), undefined, 'memory did not move ahead of the disk')
  t.same(readdirSync(blocked), ['tenants.json'], 'the temp file was removed')
  t.equal(stuck.authRequired, false)
})

t.test('verifyAdminToken - only the configured token, and never without one', async (t) => {
  const { engine } = await engineFor(t)
  const none = await open(engine)
  t.equal(none.verifyAdminToken(''), false)
  t.equal(none.verifyAdminToken('anything-at-all'), false)
  const registry = await open(engine, { auth: { adminToken: 'admin-token-123' } })
  t.equal(registry.authRequired, true, 'an admin token alone turns auth on')
  t.equal(registry.verifyAdminToken('admin-token-123'), true)
  t.equal(registry.verifyAdminToken('admin-token-124'), false)
  t.equal(registry.verifyAdminToken('admin-token-1234'), false)
  t.equal(await registry.authenticate('default', 'admin-token-123'), null, 'the admin token is not a tenant secret')
})

t.test('authenticate - concurrent verifications are bounded: past the queue they fail at once', async (t) => {
  const { engine } = await engineFor(t)
  const registry = await open(engine, { tenants: [{ name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null }] })
  const total = MAX_CONCURRENT_SCRYPT + MAX_QUEUED_SCRYPT + 5
  const results = await Promise.all(Array.from({ length: total }, async (_, i) => await registry.authenticate('alpha', i < total - 5 ? 'wrong-secret-x' : 'alpha-secret-1')))
  t.equal(results.filter((id) => id === null).length, total, 'every wrong secret failed, and the overflow failed without running')
  t.equal(await registry.authenticate('alpha', 'alpha-secret-1'), 1, 'once the queue drained, the right secret works')
})
