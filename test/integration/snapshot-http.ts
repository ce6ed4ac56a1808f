// Snapshot endpoints over HTTP (issue 6): POST /v1/snapshots (whole or ?tenant=), GET
// /v1/snapshots, POST /v1/snapshots/restore; who may call them, and every error they answer
// (damaged files and disk errors also through RESP RESTORE/SAVE, on the same server).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import t, { type Test } from 'tap'
import type { ConfigOverrides } from '../../src/config/load-config.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { assertError, call } from '../fixtures/http.js'
import { RawClient, respCommand } from '../fixtures/raw-client.js'
import { crc32c } from '../../src/persist/crc32c.js'

const ADMIN_TOKEN = 'admin-token-for-tests'
const TENANTS: ConfigOverrides = {
  tenants: [
    { name: 'alpha', secret: 'alpha-secret-1', secretHash: null, quotaBytes: null },
    { name: 'beta', secret: 'beta-secret-22', secretHash: null, quotaBytes: null }
  ],
  auth: { adminToken: ADMIN_TOKEN }
}
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` }
const ALPHA = { authorization: 'Bearer alpha:alpha-secret-1' }
const BETA = { authorization: 'Bearer beta:beta-secret-22' }

async function start (t: Test, overrides: ConfigOverrides = {}): Promise<{ server: TestServer, dataDir: string }> {
  const dataDir = t.testdir({})
  const server = await startTestServer(t, { dataDir, ...overrides })
  return { server, dataDir }
}

/** `bytes` with another format version and a header CRC32C that matches it (a future file). */
function withVersion (bytes: Buffer, version: number): Buffer {
  const copy = Buffer.from(bytes)
  copy.writeUInt32LE(version, 8)
  copy.writeUInt32LE(crc32c(copy, 0, 60), 60)
  return copy
}

async function put (t: Test, server: TestServer, key: string, value: string, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(`${server.url}/v1/cache/${key}`, { method: 'PUT', headers, body: value })
  if (res.status !== 204) t.fail(`PUT ${key}: ${res.status} ${await res.text()}`)
}

async function get (server: TestServer, key: string, headers: Record<string, string> = {}): Promise<string | null> {
  const res = await fetch(`${server.url}/v1/cache/${key}`, { headers })
  if (res.status === 404) { await res.arrayBuffer(); return null }
  return await res.text()
}

t.test('POST /v1/snapshots - snapshots the whole server; GET lists it; restore brings the items back', async (t) => {
  const { server, dataDir } = await start(t)
  for (let i = 0; i < 100; i++) await put(t, server, `k${i}`, `value-${i}`)

  const saved = await call(`${server.url}/v1/snapshots`, 'POST')
  t.equal(saved.status, 201)
  t.equal(saved.headers.get('content-type'), 'application/json')
  const snapshot = saved.body.snapshot
  t.equal(snapshot.items, 100, 'every item is in it')
  t.equal(snapshot.tenant, null, 'whole server')
  t.equal(snapshot.tenantId, null)
  t.ok(snapshot.bytes > 100 * 'value-0'.length, `bytes reported (${snapshot.bytes})`)
  t.ok(Number.isFinite(snapshot.createdMs) && snapshot.createdMs > 0)
  t.ok(snapshot.durationMs >= 0)
  t.equal(snapshot.file, join(dataDir, 'snapshots', 'dump.slab'))
  t.ok(existsSync(snapshot.file), 'the file is on disk')

  const listed = await call(`${server.url}/v1/snapshots`, 'GET')
  t.equal(listed.status, 200)
  t.same(listed.body.snapshots.map((s: { file: string }) => basename(s.file)), ['dump.slab'])
  t.equal(listed.body.snapshots[0].items, 100)

  // Change the data: overwrite, delete, add.
  await put(t, server, 'k0', 'changed')
  t.equal((await fetch(`${server.url}/v1/cache/k1`, { method: 'DELETE' })).status, 204)
  await put(t, server, 'added-later', 'x')

  const restored = await call(`${server.url}/v1/snapshots/restore`, 'POST')
  t.equal(restored.status, 200)
  t.match(restored.body.restore, { file: snapshot.file, tenant: null, tenantId: null, items: 100, skippedExpired: 0, evicted: 0 })
  t.equal(await get(server, 'k0'), 'value-0', 'an overwritten item is back')
  t.equal(await get(server, 'k1'), 'value-1', 'a deleted item is back')
  t.equal(await get(server, 'added-later'), null, 'an item written after the snapshot is gone (the contents were replaced)')
  for (let i = 0; i < 100; i++) {
    if (await get(server, `k${i}`) !== `value-${i}`) t.fail(`k${i} after restore`)
  }
})

t.test('POST /v1/snapshots?tenant= - one tenant\'s snapshot, listed with its tenant name', async (t) => {
  const { server, dataDir } = await start(t, TENANTS)
  await put(t, server, 'a1', 'alpha-1', ALPHA)
  await put(t, server, 'a2', 'alpha-2', ALPHA)
  await put(t, server, 'b1', 'beta-1', BETA)
  const saved = await call(`${server.url}/v1/snapshots?tenant=alpha`, 'POST', undefined, ADMIN)
  t.equal(saved.status, 201)
  t.match(saved.body.snapshot, { tenant: 'alpha', items: 2 })
  t.equal(typeof saved.body.snapshot.tenantId, 'number')
  t.equal(saved.body.snapshot.file, join(dataDir, 'snapshots', `tenant-${saved.body.snapshot.tenantId as number}.slab`))
  const whole = await call(`${server.url}/v1/snapshots`, 'POST', undefined, ADMIN)
  t.equal(whole.status, 201)
  t.equal(whole.body.snapshot.items, 3, 'the whole server holds every tenant\'s items')
  const listed = await call(`${server.url}/v1/snapshots`, 'GET', undefined, ADMIN)
  t.same(listed.body.snapshots.map((s: { tenant: string | null }) => s.tenant ?? '(whole)').sort(), ['(whole)', 'alpha'], 'the admin sees both')
})

t.test('per-tenant restore replaces that tenant\'s items and leaves other tenants untouched', async (t) => {
  const { server } = await start(t, TENANTS)
  for (let i = 0; i < 50; i++) {
    await put(t, server, `k${i}`, `alpha-${i}`, ALPHA)
    await put(t, server, `k${i}`, `beta-${i}`, BETA)
  }
  t.equal((await call(`${server.url}/v1/snapshots?tenant=alpha`, 'POST', undefined, ALPHA)).status, 201, 'alpha snapshots itself')
  t.equal((await call(`${server.url}/v1/snapshots?tenant=beta`, 'POST', undefined, BETA)).status, 201, 'beta snapshots itself')

  // After the snapshots both tenants change their data.
  for (let i = 0; i < 50; i += 2) {
    await put(t, server, `k${i}`, `alpha-new-${i}`, ALPHA)
    await put(t, server, `k${i}`, `beta-new-${i}`, BETA)
  }
  await put(t, server, 'alpha-only-later', 'x', ALPHA)
  await put(t, server, 'beta-only-later', 'y', BETA)

  const restored = await call(`${server.url}/v1/snapshots/restore?tenant=alpha`, 'POST', undefined, ALPHA)
  t.equal(restored.status, 200)
  t.match(restored.body.restore, { tenant: 'alpha', items: 50, evicted: 0 })

  for (let i = 0; i < 50; i++) {
    if (await get(server, `k${i}`, ALPHA) !== `alpha-${i}`) t.fail(`alpha k${i} is not its snapshot value`)
    const beta = i % 2 === 0 ? `beta-new-${i}` : `beta-${i}`
    if (await get(server, `k${i}`, BETA) !== beta) t.fail(`beta k${i} changed: the restore of alpha touched beta`)
  }
  t.equal(await get(server, 'alpha-only-later', ALPHA), null, 'alpha\'s later item is gone')
  t.equal(await get(server, 'beta-only-later', BETA), 'y', 'beta\'s later item is still there')
  const betaStats = await call(`${server.url}/v1/stats`, 'GET', undefined, BETA)
  t.equal(betaStats.body.items, 51, 'beta holds exactly what it held before alpha\'s restore')
  const alphaStats = await call(`${server.url}/v1/stats`, 'GET', undefined, ALPHA)
  t.equal(alphaStats.body.items, 50, 'alpha holds exactly its snapshot')
})

t.test('auth - admin token for the whole server; a tenant only for itself; nothing without credentials', async (t) => {
  const { server } = await start(t, TENANTS)
  const url = `${server.url}/v1/snapshots`
  assertError(t, await call(url, 'POST'), 401, 'UNAUTHORIZED', 'snapshot without credentials')
  assertError(t, await call(url, 'GET'), 401, 'UNAUTHORIZED', 'list without credentials')
  assertError(t, await call(`${url}/restore`, 'POST'), 401, 'UNAUTHORIZED', 'restore without credentials')
  assertError(t, await call(url, 'POST', undefined, { authorization: 'Bearer alpha:wrong-secret-x' }), 401, 'UNAUTHORIZED', 'wrong secret')
  assertError(t, await call(url, 'POST', undefined, ALPHA), 403, 'FORBIDDEN', 'a tenant snapshotting the whole server')
  assertError(t, await call(`${url}/restore`, 'POST', undefined, ALPHA), 403, 'FORBIDDEN', 'a tenant restoring the whole server')
  assertError(t, await call(`${url}?tenant=beta`, 'POST', undefined, ALPHA), 403, 'FORBIDDEN', 'a tenant snapshotting another tenant')
  assertError(t, await call(`${url}/restore?tenant=beta`, 'POST', undefined, ALPHA), 403, 'FORBIDDEN', 'a tenant restoring another tenant')
  assertError(t, await call(`${url}?tenant=default`, 'POST', undefined, ALPHA), 403, 'FORBIDDEN', 'a tenant snapshotting the default tenant')
  assertError(t, await call(`${url}?tenant=nobody`, 'POST', undefined, ALPHA), 403, 'FORBIDDEN', 'a tenant naming a tenant that does not exist (no probing of names)')
  t.same((await call(url, 'GET', undefined, ADMIN)).body, { snapshots: [] }, 'none of the refused requests wrote a snapshot')

  t.equal((await call(`${url}?tenant=alpha`, 'POST', undefined, ALPHA)).status, 201, 'alpha may snapshot itself')
  t.equal((await call(`${url}?tenant=beta`, 'POST', undefined, ADMIN)).status, 201, 'the admin may snapshot beta')
  t.equal((await call(url, 'POST', undefined, ADMIN)).status, 201, 'the admin may snapshot the whole server')
  const alphaList = await call(url, 'GET', undefined, ALPHA)
  t.equal(alphaList.status, 200)
  t.same(alphaList.body.snapshots.map((s: { tenant: string | null }) => s.tenant), ['alpha'], 'a tenant lists only its own snapshots')
  const adminList = await call(url, 'GET', undefined, ADMIN)
  t.same(adminList.body.snapshots.map((s: { tenant: string | null }) => s.tenant ?? '(whole)').sort(), ['(whole)', 'alpha', 'beta'])
  t.equal((await call(`${url}/restore?tenant=alpha`, 'POST', undefined, ALPHA)).status, 200, 'alpha may restore itself')
  t.equal((await call(`${url}/restore`, 'POST', undefined, ADMIN)).status, 200, 'the admin may restore the whole server')
})

t.test('errors - bad query, unknown tenant, missing snapshot, wrong method; the server keeps serving', async (t) => {
  const { server } = await start(t, TENANTS)
  const url = `${server.url}/v1/snapshots`
  assertError(t, await call(`${url}?tenant=`, 'POST', undefined, ADMIN), 400, 'BAD_REQUEST', 'empty tenant')
  assertError(t, await call(`${url}?tenant=alpha&tenant=beta`, 'POST', undefined, ADMIN), 400, 'BAD_REQUEST', 'tenant twice')
  assertError(t, await call(`${url}?tenants=alpha`, 'POST', undefined, ADMIN), 400, 'BAD_REQUEST', 'misspelt parameter')
  assertError(t, await call(`${url}/restore?tenant=`, 'POST', undefined, ADMIN), 400, 'BAD_REQUEST', 'restore: empty tenant')
  assertError(t, await call(`${url}?tenant=nobody`, 'POST', undefined, ADMIN), 404, 'TENANT_NOT_FOUND', 'unknown tenant')
  assertError(t, await call(`${url}/restore?tenant=nobody`, 'POST', undefined, ADMIN), 404, 'TENANT_NOT_FOUND', 'restore: unknown tenant')
  assertError(t, await call(`${url}/restore`, 'POST', undefined, ADMIN), 404, 'SNAPSHOT_NOT_FOUND', 'restore before any snapshot')
  assertError(t, await call(`${url}/restore?tenant=alpha`, 'POST', undefined, ALPHA), 404, 'SNAPSHOT_NOT_FOUND', 'tenant restore before any snapshot')
  const wrongMethod = await call(url, 'DELETE', undefined, ADMIN)
  assertError(t, wrongMethod, 405, 'METHOD_NOT_ALLOWED', 'DELETE /v1/snapshots')
  t.equal(wrongMethod.headers.get('allow'), 'GET, POST')
  const getRestore = await call(`${url}/restore`, 'GET', undefined, ADMIN)
  assertError(t, getRestore, 405, 'METHOD_NOT_ALLOWED', 'GET /v1/snapshots/restore')
  t.equal(getRestore.headers.get('allow'), 'POST')
  t.equal((await call(`${server.url}/v1/health`, 'GET')).status, 200, 'the server is still up')
})

t.test('POST /v1/snapshots while a snapshot runs - 409 SNAPSHOT_IN_PROGRESS, and the running one completes', async (t) => {
  const { server } = await start(t, { memoryBytes: 64 * 1024 * 1024 })
  // Enough data that the first save is still running when the request arrives.
  const value = 'v'.repeat(1000)
  const mset = (from: number): unknown => ({ items: Array.from({ length: 500 }, (_, i) => ({ key: `k${from + i}`, value })) })
  for (let from = 0; from < 30_000; from += 500) {
    const reply = await call(`${server.url}/v1/mset`, 'POST', mset(from))
    if (reply.status !== 200 && reply.status !== 204) t.fail(`mset: ${reply.status} ${JSON.stringify(reply.body)}`)
  }
  const first = server.snapshots.save()
  t.ok(server.snapshots.saving, 'the first save is running')
  assertError(t, await call(`${server.url}/v1/snapshots`, 'POST'), 409, 'SNAPSHOT_IN_PROGRESS', 'a second snapshot')
  assertError(t, await call(`${server.url}/v1/snapshots/restore`, 'POST'), 409, 'SNAPSHOT_IN_PROGRESS', 'a restore during a snapshot')
  const info = await first
  t.equal(info.items, 30_000, 'the running snapshot completed with every item')
  t.equal((await call(`${server.url}/v1/snapshots`, 'POST')).status, 201, 'the next snapshot is accepted')
})

t.test('restore of a damaged file - flipped bit, truncated, wrong version: refused with its code over HTTP and RESP; nothing changes', async (t) => {
  const { server } = await start(t)
  for (let i = 0; i < 200; i++) await put(t, server, `k${i}`, `value-${i}`)
  const saved = await call(`${server.url}/v1/snapshots`, 'POST')
  t.equal(saved.status, 201)
  const file: string = saved.body.snapshot.file
  const good = readFileSync(file)
  // Data written after the snapshot: any (even partial) load would overwrite or remove it.
  for (let i = 0; i < 200; i++) await put(t, server, `k${i}`, `after-${i}`)
  await put(t, server, 'only-after', 'x')

  const flipped = Buffer.from(good)
  flipped[Math.floor(good.length / 2)]! ^= 0x10
  const damages: Array<[string, Buffer, string]> = [
    ['one flipped bit', flipped, 'SNAPSHOT_CORRUPT'],
    ['cut in half', good.subarray(0, Math.floor(good.length / 2)), 'SNAPSHOT_TRUNCATED'],
    ['format version 99 (header CRC valid)', withVersion(good, 99), 'SNAPSHOT_VERSION'],
    ['not a snapshot (wrong magic)', Buffer.concat([Buffer.from('NOTASNAP'), good.subarray(8)]), 'SNAPSHOT_VERSION']
  ]
  const raw = await RawClient.open(t, server.respPort)
  for (const [what, bytes, code] of damages) {
    writeFileSync(file, bytes)
    const reply = await call(`${server.url}/v1/snapshots/restore`, 'POST')
    assertError(t, reply, 500, code, `HTTP: ${what}`)
    t.match(reply.body.error.message, file, `${what}: the message names the file`)
    raw.write(respCommand('RESTORE'))
    t.match(await raw.line(), new RegExp(`^-ERR ${code} `), `RESP: ${what}`)
  }
  for (let i = 0; i < 200; i++) {
    if (await get(server, `k${i}`) !== `after-${i}`) t.fail(`k${i} changed: the refused file was partly loaded`)
  }
  t.equal(await get(server, 'only-after'), 'x', 'nothing was removed either')
  const stats = await call(`${server.url}/v1/stats`, 'GET')
  t.equal(stats.body.items, 201, 'the item count is what it was')
})

t.test('disk errors - a data dir where snapshots/ cannot be created answers SNAPSHOT_IO over HTTP and RESP', async (t) => {
  const dataDir = t.testdir({ snapshots: 'a file where the snapshot directory should be' })
  const server = await startTestServer(t, { dataDir })
  await put(t, server, 'k', 'v')
  const saved = await call(`${server.url}/v1/snapshots`, 'POST')
  assertError(t, saved, 500, 'SNAPSHOT_IO', 'POST /v1/snapshots')
  t.match(saved.body.error.message, join(dataDir, 'snapshots'), 'the message names the path')
  assertError(t, await call(`${server.url}/v1/snapshots`, 'GET'), 500, 'SNAPSHOT_IO', 'GET /v1/snapshots')
  const raw = await RawClient.open(t, server.respPort)
  raw.write(respCommand('LASTSAVE'))
  const before = await raw.line()
  raw.write(respCommand('SAVE') + respCommand('SNAPSHOT') + respCommand('LASTSAVE') + respCommand('GET', 'k'))
  t.match(await raw.line(), /^-ERR SNAPSHOT_IO /, 'SAVE')
  t.match(await raw.line(), /^-ERR SNAPSHOT_IO /, 'SNAPSHOT')
  t.equal(await raw.line(), before, 'LASTSAVE did not move: no save succeeded')
  t.same(await raw.lines(2), ['$1', 'v'], 'the server keeps serving its data')
})
