/**
 * TenantRegistry: the tenants (id, name, secret hash, byte quota, default write consistency), their credentials and the
 * admin token. Loads `<dataDir>/tenants.json`, merges the tenants declared in the configuration,
 * persists every change atomically, and answers "who is this (name, secret)?" for every front
 * end (RESP AUTH, memcached SASL PLAIN, HTTP bearer tokens). Thread: main.
 * Invariants:
 *  - tenant 0 is `default`, always exists and cannot be deleted;
 *  - mutations run one at a time; each writes the file (temp, fsync, rename) BEFORE the
 *    in-memory state changes, so memory never holds what the disk does not;
 *  - a deleted tenant's data is flushed on every shard before it disappears, and its id is
 *    reused only when no fresh id is left — and flushed again then;
 *  - secrets are never logged or stored in plaintext; scrypt runs on the thread pool behind a
 *    limiter (secret-hash.ts), never blocking the main thread.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Config } from '../config/load-config.js'
import { CONSISTENCY_MODES, MAX_SECRET_CHARS, MIN_SECRET_CHARS, TENANT_NAME_PATTERN, type ConsistencyMode } from '../config/options.js'
import { MAX_TENANTS } from '../core/slab-layout.js'
import type { Engine } from '../engine.js'
import { ConfigError, SlabcacheError } from '../errors.js'
import type { Logger } from '../util/log.js'
import { writeFileAtomic } from './atomic-file.js'
import { AuthCache } from './auth-cache.js'
import { hashSecret, parseSecretHash, verifySecret, type SecretHash } from './secret-hash.js'
import {
  DEFAULT_TENANT_ID, DEFAULT_TENANT_NAME, readTenantFile, serializeTenantFile, tenantFilePath, TENANT_FILE_VERSION,
  type StoredTenant, type TenantFileData
} from './tenant-file.js'

export { DEFAULT_TENANT_ID, DEFAULT_TENANT_NAME } from './tenant-file.js'

/** Random bytes of a generated secret (base64url: 43 characters). */
export const GENERATED_SECRET_BYTES = 32

/** What the registry tells about a tenant (never its secret or hash). */
export interface TenantInfo {
  readonly id: number
  readonly name: string
  /** 0 = unlimited. */
  readonly quotaBytes: number
  /** Default write consistency in cluster mode; null = the server's `--consistency`. */
  readonly consistency: ConsistencyMode | null
  readonly createdMs: number
}

interface Entry extends StoredTenant {
  /** secretHash parsed once; null when the tenant has no secret. */
  readonly parsed: SecretHash | null
}

interface State {
  readonly nextId: number
  readonly freeIds: readonly number[]
  /** By name; insertion order is irrelevant (list() sorts by id). */
  readonly tenants: ReadonlyMap<string, Entry>
}

/** The engine as the registry uses it; `setTenantQuota` arrives with the quota work (optional until then). */
type QuotaEngine = Pick<Engine, 'execute' | 'clock'> & { setTenantQuota?: (tenantId: number, quotaBytes: number) => void }

/** A hash that never matches: verified against for unknown names so a miss costs what a wrong secret costs. */
const NO_MATCH: SecretHash = parseSecretHash(`scrypt$16384$8$1$${randomBytes(16).toString('base64url')}$${randomBytes(32).toString('base64url')}`)!

function entryOf (tenant: StoredTenant): Entry {
  return { ...tenant, parsed: tenant.secretHash === null ? null : parseSecretHash(tenant.secretHash) }
}

function info (entry: Entry): TenantInfo {
  return { id: entry.id, name: entry.name, quotaBytes: entry.quotaBytes, consistency: entry.consistency, createdMs: entry.createdMs }
}

function badRequest (message: string): SlabcacheError {
  return new SlabcacheError('BAD_REQUEST', message)
}

function checkName (name: unknown): asserts name is string {
  if (typeof name !== 'string' || !TENANT_NAME_PATTERN.test(name)) throw badRequest('tenant name must be 1 to 64 characters from A-Z a-z 0-9 _ -')
}

function checkQuota (quotaBytes: unknown): asserts quotaBytes is number {
  if (!Number.isSafeInteger(quotaBytes) || (quotaBytes as number) < 0) throw badRequest('quotaBytes must be a non-negative integer (0 = unlimited)')
}

function checkConsistency (consistency: unknown): asserts consistency is ConsistencyMode | null {
  if (consistency !== null && !(CONSISTENCY_MODES as readonly unknown[]).includes(consistency)) {
    throw badRequest(`consistency must be one of ${CONSISTENCY_MODES.join(', ')}, or null for the server's --consistency`)
  }
}

/** Whether `secret` could be a secret at all (checked before any hashing). */
function plausibleSecret (secret: unknown): secret is string {
  return typeof secret === 'string' && secret.length >= MIN_SECRET_CHARS && secret.length <= MAX_SECRET_CHARS && /^[\x21-\x7e]+$/.test(secret)
}

export class TenantRegistry {
  readonly #file: string
  readonly #engine: QuotaEngine
  readonly #logger: Logger | undefined
  readonly #cache = new AuthCache()
  /** SHA-256 of the admin token (compared in constant time), or null when none is configured. */
  readonly #adminDigest: Buffer | null
  #state: State
  #byId = new Map<number, Entry>()
  /** Tenants being deleted: they no longer authenticate while their data is flushed. */
  readonly #deleting = new Set<number>()
  #authRequired = false
  /** Tail of the mutation queue: each mutation starts when the previous one settled. */
  #tail: Promise<unknown> = Promise.resolve()

  private constructor (file: string, engine: QuotaEngine, state: State, adminToken: string | null, logger: Logger | undefined) {
    this.#file = file
    this.#engine = engine
    this.#logger = logger
    this.#adminDigest = adminToken === null ? null : createHash('sha256').update(adminToken).digest()
    this.#state = state
    this.#index()
  }

  /**
   * Loads `<dataDir>/tenants.json` (if present), merges `config.tenants` and
   * `config.auth.defaultSecret` into it (the configuration wins for what it states), writes
   * the file when anything changed, and applies every tenant's quota to the engine.
   * @throws SlabcacheError TENANT_FILE_INVALID for a bad file; ConfigError for a bad declared hash
   */
  static async open ({ config, engine, logger }: { config: Config, engine: QuotaEngine, logger?: Logger }): Promise<TenantRegistry> {
    const file = tenantFilePath(config.dataDir)
    const stored = await readTenantFile(file)
    const data: TenantFileData = stored ?? {
      version: TENANT_FILE_VERSION,
      nextId: 1,
      freeIds: [],
      tenants: [{ id: DEFAULT_TENANT_ID, name: DEFAULT_TENANT_NAME, secretHash: null, quotaBytes: 0, consistency: null, createdMs: engine.clock.nowMs() }]
    }
    const tenants = new Map(data.tenants.map((tenant) => [tenant.name, entryOf(tenant)]))
    let nextId = data.nextId
    const freeIds = [...data.freeIds]
    let changed = false
    if (!tenants.has(DEFAULT_TENANT_NAME)) {
      tenants.set(DEFAULT_TENANT_NAME, entryOf({ id: DEFAULT_TENANT_ID, name: DEFAULT_TENANT_NAME, secretHash: null, quotaBytes: 0, consistency: null, createdMs: engine.clock.nowMs() }))
      changed = true
    }
    const declared = [...config.tenants]
    if (config.auth.defaultSecret !== null) declared.push({ name: DEFAULT_TENANT_NAME, secret: config.auth.defaultSecret, secretHash: null, quotaBytes: null })
    for (const want of declared) {
      let entry = tenants.get(want.name)
      if (entry === undefined) {
        if (nextId >= MAX_TENANTS) throw new ConfigError(`tenants (--tenants): no tenant id is free for "${want.name}" (at most ${MAX_TENANTS} tenants)`)
        entry = entryOf({ id: nextId++, name: want.name, secretHash: null, quotaBytes: 0, consistency: null, createdMs: engine.clock.nowMs() })
        changed = true
      }
      let secretHash = entry.secretHash
      if (want.secretHash !== null) {
        if (parseSecretHash(want.secretHash) === null) throw new ConfigError(`tenants (--tenants) entry "${want.name}" secretHash has parameters out of range or a short salt or hash`)
        secretHash = want.secretHash
      } else if (want.secret !== null && (entry.parsed === null || !(await verifySecret(want.secret, entry.parsed)))) {
        // Re-hash only when the stored hash does not already match: a restart rewrites nothing.
        secretHash = await hashSecret(want.secret)
      }
      const quotaBytes = want.quotaBytes ?? entry.quotaBytes
      // Absent keeps the file's value; a stated null clears it (the server default).
      const consistency = want.consistency === undefined ? entry.consistency : want.consistency
      if (secretHash !== entry.secretHash || quotaBytes !== entry.quotaBytes || consistency !== entry.consistency) {
        entry = entryOf({ ...entry, secretHash, quotaBytes, consistency })
        changed = true
      }
      tenants.set(want.name, entry)
    }
    const state: State = { nextId, freeIds, tenants }
    if (changed) await writeFileAtomic(file, serializeTenantFile(toFile(state)))
    const registry = new TenantRegistry(file, engine, state, config.auth.adminToken, logger)
    for (const entry of tenants.values()) if (entry.quotaBytes > 0) registry.#applyQuota(entry.id, entry.quotaBytes)
    logger?.info({ tenants: tenants.size, authRequired: registry.authRequired, written: changed }, 'tenants loaded')
    return registry
  }

  /** Whether any credential exists (admin token or a tenant secret): then every connection must authenticate. */
  get authRequired (): boolean { return this.#authRequired }

  /** Every tenant, by id. */
  list (): TenantInfo[] {
    return [...this.#byId.values()].sort((a, b) => a.id - b.id).map(info)
  }

  byName (name: string): TenantInfo | undefined {
    const entry = this.#state.tenants.get(name)
    return entry === undefined ? undefined : info(entry)
  }

  byId (id: number): TenantInfo | undefined {
    const entry = this.#byId.get(id)
    return entry === undefined ? undefined : info(entry)
  }

  /**
   * The tenant's own default write consistency, or null (the server's `--consistency`; also for
   * an unknown id). Called per write in cluster mode: one map lookup, no allocation.
   */
  consistencyOf (tenantId: number): ConsistencyMode | null {
    return this.#byId.get(tenantId)?.consistency ?? null
  }

  /**
   * Creates a tenant. Without `secret`, one is generated (32 random bytes, base64url). The
   * secret is returned here once and never again. `consistency` null (the default) follows the
   * server's `--consistency`.
   * @throws SlabcacheError BAD_REQUEST (name, quota, consistency or secret invalid), TENANT_EXISTS, TENANT_LIMIT
   */
  async create ({ name, quotaBytes = 0, consistency = null, secret }: { name: string, quotaBytes?: number, consistency?: ConsistencyMode | null, secret?: string }): Promise<{ tenant: TenantInfo, secret: string }> {
    checkName(name)
    checkQuota(quotaBytes)
    checkConsistency(consistency)
    if (secret !== undefined && !plausibleSecret(secret)) throw badRequest(`secret must be ${MIN_SECRET_CHARS} to ${MAX_SECRET_CHARS} printable ASCII characters without spaces`)
    const plain = secret ?? randomBytes(GENERATED_SECRET_BYTES).toString('base64url')
    const secretHash = await hashSecret(plain)
    return await this.#exclusive(async () => {
      const state = this.#state
      if (state.tenants.has(name)) throw new SlabcacheError('TENANT_EXISTS', `tenant "${name}" exists`)
      let nextId = state.nextId
      const freeIds = [...state.freeIds]
      let id: number
      if (nextId < MAX_TENANTS) {
        id = nextId++
      } else {
        const reused = freeIds.shift()
        if (reused === undefined) throw new SlabcacheError('TENANT_LIMIT')
        // The id's old data was flushed on delete, but a connection still authenticated as the
        // deleted tenant may have written since: flush again before anyone else owns the id.
        await this.#flush(reused)
        id = reused
      }
      const entry = entryOf({ id, name, secretHash, quotaBytes, consistency, createdMs: this.#engine.clock.nowMs() })
      await this.#commit({ nextId, freeIds, tenants: new Map(state.tenants).set(name, entry) })
      this.#applyQuota(id, quotaBytes)
      this.#logger?.info({ tenant: name, id }, 'tenant created')
      return { tenant: info(entry), secret: plain }
    })
  }

  /**
   * Sets a tenant's byte quota (0 = unlimited) and applies it at once.
   * @throws SlabcacheError BAD_REQUEST, TENANT_NOT_FOUND
   */
  async updateQuota (name: string, quotaBytes: number): Promise<TenantInfo> {
    return await this.update(name, { quotaBytes })
  }

  /**
   * Changes what `changes` states — the byte quota (0 = unlimited; applied at once) and/or the
   * default write consistency (null = the server's; the next write uses it) — in one file write.
   * @throws SlabcacheError BAD_REQUEST (a bad value, or nothing to change), TENANT_NOT_FOUND
   */
  async update (name: string, changes: { quotaBytes?: number, consistency?: ConsistencyMode | null }): Promise<TenantInfo> {
    const { quotaBytes, consistency } = changes
    if (quotaBytes === undefined && consistency === undefined) throw badRequest('nothing to change: give quotaBytes, consistency or both')
    if (quotaBytes !== undefined) checkQuota(quotaBytes)
    if (consistency !== undefined) checkConsistency(consistency)
    return await this.#exclusive(async () => {
      const entry = this.#existing(name)
      const updated = {
        ...entry,
        ...(quotaBytes !== undefined ? { quotaBytes } : {}),
        ...(consistency !== undefined ? { consistency } : {})
      }
      await this.#commit({ ...this.#state, tenants: new Map(this.#state.tenants).set(name, updated) })
      if (quotaBytes !== undefined) this.#applyQuota(entry.id, quotaBytes)
      if (consistency !== undefined && consistency !== entry.consistency) this.#logger?.info({ tenant: name, id: entry.id, consistency }, 'tenant consistency changed')
      return info(updated)
    })
  }

  /**
   * Replaces a tenant's secret with a generated one, returned once. The old secret stops
   * working at once (cached verifications are dropped). Connections already authenticated
   * keep their session.
   * @throws SlabcacheError TENANT_NOT_FOUND
   */
  async rotateSecret (name: string): Promise<{ secret: string }> {
    const plain = randomBytes(GENERATED_SECRET_BYTES).toString('base64url')
    const secretHash = await hashSecret(plain)
    return await this.#exclusive(async () => {
      const entry = this.#existing(name)
      await this.#commit({ ...this.#state, tenants: new Map(this.#state.tenants).set(name, entryOf({ ...entry, secretHash })) })
      this.#cache.forget(entry.id)
      this.#logger?.info({ tenant: name, id: entry.id }, 'tenant secret rotated')
      return { secret: plain }
    })
  }

  /**
   * Deletes a tenant and its data: it stops authenticating, its items are flushed on every
   * shard, then it leaves the file. If the flush fails the tenant stays (and authenticates again).
   * @throws SlabcacheError BAD_REQUEST (the default tenant), TENANT_NOT_FOUND, or the flush's error
   */
  async delete (name: string): Promise<void> {
    if (name === DEFAULT_TENANT_NAME) throw badRequest('the default tenant cannot be deleted')
    await this.#exclusive(async () => {
      const entry = this.#existing(name)
      this.#deleting.add(entry.id)
      this.#cache.forget(entry.id)
      try {
        await this.#flush(entry.id)
        const tenants = new Map(this.#state.tenants)
        tenants.delete(name)
        await this.#commit({ nextId: this.#state.nextId, freeIds: [...this.#state.freeIds, entry.id], tenants })
      } finally {
        this.#deleting.delete(entry.id)
      }
      this.#applyQuota(entry.id, 0)
      this.#logger?.info({ tenant: name, id: entry.id }, 'tenant deleted')
    })
  }

  /**
   * The tenant id `name` authenticates as with `secret`, or null. A cached success answers at
   * once; otherwise scrypt runs on the thread pool (bounded; an unknown name costs the same
   * as a wrong secret, so names cannot be probed by timing). Never rejects.
   */
  async authenticate (name: string, secret: string): Promise<number | null> {
    const cached = this.authenticateCached(name, secret)
    if (cached !== undefined) return cached
    const entry = this.#state.tenants.get(name)
    const hash = entry?.parsed ?? NO_MATCH
    const ok = await verifySecret(secret, hash)
    // The tenant may have been rotated or deleted while scrypt ran: only the current hash counts.
    const now = this.#state.tenants.get(name)
    if (!ok || entry === undefined || now?.parsed !== hash || this.#deleting.has(entry.id)) return null
    this.#cache.set(AuthCache.key(name, secret), entry.id)
    return entry.id
  }

  /**
   * Synchronous check for hot paths (HTTP): the tenant id if (name, secret) verified before,
   * null if it cannot be valid (malformed name or secret), undefined when only `authenticate`
   * can tell. Allocates a digest.
   */
  authenticateCached (name: string, secret: string): number | null | undefined {
    if (!TENANT_NAME_PATTERN.test(name) || !plausibleSecret(secret)) return null
    const id = this.#cache.get(AuthCache.key(name, secret))
    if (id === undefined || this.#deleting.has(id)) return undefined
    return id
  }

  /**
   * `authenticateCached`'s verdict when it has one (synchronous: no stall for a client that
   * authenticated before, nor for a malformed name or secret), else `authenticate`'s Promise.
   */
  authenticateFast (name: string, secret: string): number | null | Promise<number | null> {
    const cached = this.authenticateCached(name, secret)
    return cached !== undefined ? cached : this.authenticate(name, secret)
  }

  /** Whether `token` is the configured admin token (constant-time); false when none is configured. */
  verifyAdminToken (token: string): boolean {
    if (this.#adminDigest === null) return false
    return timingSafeEqual(createHash('sha256').update(token).digest(), this.#adminDigest)
  }

  /** Runs `task` after every earlier mutation settled (so file writes never interleave). */
  async #exclusive<T> (task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task)
    this.#tail = run.catch(() => {})
    return await run
  }

  #existing (name: string): Entry {
    const entry = this.#state.tenants.get(name)
    if (entry === undefined) throw new SlabcacheError('TENANT_NOT_FOUND', `no tenant named "${name}"`)
    return entry
  }

  /** Writes `state` to the file, then makes it current. On a write error nothing changes. */
  async #commit (state: State): Promise<void> {
    await writeFileAtomic(this.#file, serializeTenantFile(toFile(state)))
    this.#state = state
    this.#index()
  }

  #index (): void {
    this.#byId = new Map([...this.#state.tenants.values()].map((entry) => [entry.id, entry]))
    this.#authRequired = this.#adminDigest !== null || [...this.#state.tenants.values()].some((entry) => entry.secretHash !== null)
  }

  async #flush (tenantId: number): Promise<void> {
    const result = await this.#engine.execute({ op: 'flush', tenantId })
    if (result.error !== null) throw new SlabcacheError(result.error, result.errorMessage === '' ? undefined : result.errorMessage)
  }

  /** engine.setTenantQuota when the engine has it (the quota work adds it). */
  #applyQuota (tenantId: number, quotaBytes: number): void {
    this.#engine.setTenantQuota?.(tenantId, quotaBytes)
  }
}

function toFile (state: State): TenantFileData {
  const tenants = [...state.tenants.values()]
    .sort((a, b) => a.id - b.id)
    .map(({ id, name, secretHash, quotaBytes, consistency, createdMs }) => ({ id, name, secretHash, quotaBytes, consistency, createdMs }))
  return { version: TENANT_FILE_VERSION, nextId: state.nextId, freeIds: state.freeIds, tenants }
}
