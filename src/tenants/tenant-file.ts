/**
 * The tenant file `<dataDir>/tenants.json`: its JSON shape, strict validation on read, and
 * serialisation. Thread: main (async fs reads at start-up).
 * Invariant: a file that does not validate completely is refused with TENANT_FILE_INVALID
 * naming the file and the first problem — never half loaded, never silently replaced (that
 * would forget tenants and their secrets). Secrets appear only as scrypt hashes.
 *
 *   { "version": 1,
 *     "nextId": 3,                 ids below this were handed out at some point
 *     "freeIds": [2],              deleted tenants' ids (data flushed), reused once nextId runs out
 *     "tenants": [ { "id": 0, "name": "default", "secretHash": null, "quotaBytes": 0, "consistency": null, "createdMs": 0 }, … ] }
 *
 * `consistency` (issue 7: the tenant's default write acknowledgement, null = the server's
 * `--consistency`) came later: files written before it lack the key and read as null.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { CONSISTENCY_MODES, TENANT_NAME_PATTERN, type ConsistencyMode } from '../config/options.js'
import { MAX_TENANTS } from '../core/slab-layout.js'
import { SlabcacheError } from '../errors.js'
import { parseSecretHash } from './secret-hash.js'

export const TENANT_FILE_NAME = 'tenants.json'
export const TENANT_FILE_VERSION = 1
/** Tenant 0: always present, cannot be deleted; what unauthenticated connections use when auth is off. */
export const DEFAULT_TENANT_ID = 0
export const DEFAULT_TENANT_NAME = 'default'

/** One tenant as stored. */
export interface StoredTenant {
  readonly id: number
  readonly name: string
  /** scrypt hash of the secret, or null: the tenant cannot authenticate. */
  readonly secretHash: string | null
  /** 0 = unlimited. */
  readonly quotaBytes: number
  /** Default write consistency in cluster mode; null = the server's `--consistency`. */
  readonly consistency: ConsistencyMode | null
  readonly createdMs: number
}

export interface TenantFileData {
  readonly version: number
  readonly nextId: number
  readonly freeIds: readonly number[]
  readonly tenants: readonly StoredTenant[]
}

/** `<dataDir>/tenants.json`. */
export function tenantFilePath (dataDir: string): string {
  return path.join(dataDir, TENANT_FILE_NAME)
}

function invalid (file: string, problem: string): SlabcacheError {
  return new SlabcacheError('TENANT_FILE_INVALID', `tenant file ${file} ${problem}; fix it or restore a backup (deleting it forgets every tenant created through the admin API)`)
}

function isId (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < MAX_TENANTS
}

/**
 * Reads and validates the tenant file; null when it does not exist.
 * @throws SlabcacheError TENANT_FILE_INVALID when it cannot be read or does not validate
 */
export async function readTenantFile (file: string): Promise<TenantFileData | null> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw invalid(file, `cannot be read: ${(error as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw invalid(file, `is not valid JSON: ${(error as Error).message}`)
  }
  return validate(file, json)
}

function validate (file: string, json: unknown): TenantFileData {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid(file, 'must hold a JSON object')
  const data = json as Record<string, unknown>
  if (data['version'] !== TENANT_FILE_VERSION) throw invalid(file, `has version ${JSON.stringify(data['version'])}; this slabcache reads version ${TENANT_FILE_VERSION}`)
  const nextId = data['nextId']
  if (!Number.isSafeInteger(nextId) || (nextId as number) < 1 || (nextId as number) > MAX_TENANTS) throw invalid(file, `nextId must be an integer from 1 to ${MAX_TENANTS}`)
  if (!Array.isArray(data['freeIds']) || !Array.isArray(data['tenants'])) throw invalid(file, 'must have the arrays freeIds and tenants')
  const ids = new Set<number>()
  const names = new Set<string>()
  const tenants = (data['tenants'] as unknown[]).map((entry, index): StoredTenant => {
    const at = `tenants[${index}]`
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid(file, `${at} must be an object`)
    const t = entry as Record<string, unknown>
    const { id, name, secretHash, quotaBytes, createdMs } = t
    const consistency = t['consistency'] ?? null
    if (!isId(id) || id >= (nextId as number)) throw invalid(file, `${at}.id must be an integer from 0 to nextId - 1`)
    if (typeof name !== 'string' || !TENANT_NAME_PATTERN.test(name)) throw invalid(file, `${at}.name must be 1 to 64 characters from A-Z a-z 0-9 _ -`)
    if (ids.has(id) || names.has(name)) throw invalid(file, `${at} repeats the id ${id} or the name "${name}"`)
    if ((id === DEFAULT_TENANT_ID) !== (name === DEFAULT_TENANT_NAME)) throw invalid(file, `${at}: id 0 is the tenant named "${DEFAULT_TENANT_NAME}" and no other`)
    if (secretHash !== null && (typeof secretHash !== 'string' || parseSecretHash(secretHash) === null)) throw invalid(file, `${at}.secretHash must be null or a scrypt hash (scrypt$N$r$p$salt$hash)`)
    if (!Number.isSafeInteger(quotaBytes) || (quotaBytes as number) < 0) throw invalid(file, `${at}.quotaBytes must be a non-negative integer`)
    if (consistency !== null && !(CONSISTENCY_MODES as readonly unknown[]).includes(consistency)) throw invalid(file, `${at}.consistency must be null or one of ${CONSISTENCY_MODES.join(', ')}`)
    if (typeof createdMs !== 'number' || !Number.isFinite(createdMs) || createdMs < 0) throw invalid(file, `${at}.createdMs must be a non-negative number`)
    ids.add(id)
    names.add(name)
    return { id, name, secretHash: secretHash as string | null, quotaBytes: quotaBytes as number, consistency: consistency as ConsistencyMode | null, createdMs }
  })
  const freeIds = (data['freeIds'] as unknown[]).map((id, index) => {
    if (!isId(id) || id === DEFAULT_TENANT_ID || id >= (nextId as number) || ids.has(id)) throw invalid(file, `freeIds[${index}] must be an unused id from 1 to nextId - 1`)
    ids.add(id)
    return id
  })
  return { version: TENANT_FILE_VERSION, nextId: nextId as number, freeIds, tenants }
}

/** The file's text: stable key order, one tenant per line for readable diffs. */
export function serializeTenantFile (data: TenantFileData): string {
  const tenants = data.tenants.map((t) => '    ' + JSON.stringify({ id: t.id, name: t.name, secretHash: t.secretHash, quotaBytes: t.quotaBytes, consistency: t.consistency, createdMs: t.createdMs }))
  return `{\n  "version": ${data.version},\n  "nextId": ${data.nextId},\n  "freeIds": ${JSON.stringify(data.freeIds)},\n  "tenants": [\n${tenants.join(',\n')}\n  ]\n}\n`
}
