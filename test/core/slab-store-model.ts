/**
 * Randomized model test of SlabStore: a seeded stream of operations runs against the store and
 * against a plain Map of (tenant, key) → {value, flags, expiryMs, cas}, and `checkSlab` walks
 * every slab invariant after EVERY operation.
 *
 * A cache may evict, so the comparison is one-sided where eviction can interfere:
 *  - a read the store answers must return exactly the model's value, flags, cas and expiry
 *    (never a stale, resurrected or foreign value);
 *  - a key the model holds may be missing only if its TENANT's eviction counter moved since the
 *    key was last written (so no tenant loses a key to another's quota); the key then leaves
 *    the model;
 *  - every other status code must be the model's.
 * Mutations of a key the model holds but that might have been evicted are preceded by `has`
 * (lock-free, not counted), so the expected status is exact. OUT_OF_MEMORY is accepted only for
 * large values (they need whole pages that in-flight allocations may pin).
 * Tags and content types ride along: sets attach random tags (duplicates included) and content
 * types, appends and incr must keep them, reads compare them (tags through getWithTags), and
 * tag invalidation in random slice sizes must remove exactly the model's members the store
 * still holds.
 *
 * Tenants 1 and 2 start with byte quotas, and a rare op changes the quota of tenant 1, 2 or 3.
 * A set is refused (QUOTA_EXCEEDED) exactly when the item alone exceeds its tenant's quota, and
 * after every successful set its tenant holds at most its quota (or only that item).
 *
 * Env: SLAB_MODEL_SEED (integer) replays a run; SLAB_MODEL_OPS overrides the operation count.
 */
import t from 'tap'
import { CounterMode, ReadResult, SetMode, SlabStore, StoreStatus, WriteOptions } from '../../src/core/slab-store.js'
import { checkSlab } from '../../src/core/slab-check.js'
import { keyHash } from '../../src/core/key-hash.js'
import { MIN_SLAB_BYTES } from '../../src/core/slab-layout.js'
import { newDataOffset } from '../../src/core/item-ext.js'
import { itemChunkBytes } from '../../src/core/tenant-lru.js'
import { ManualClock } from '../../src/util/clock.js'

const SEED = process.env.SLAB_MODEL_SEED !== undefined ? Number(process.env.SLAB_MODEL_SEED) >>> 0 : 0x5eed2024
const OPS = process.env.SLAB_MODEL_OPS !== undefined ? Number(process.env.SLAB_MODEL_OPS) : 100_000
// Three runs of 100k ops with a full invariant walk after each (tag records and lists included)
// take about a minute in all on a quiet machine; a machine shared with other builds took 613 s,
// so the limit is generous.
t.setTimeout(1_200_000)

const TENANTS = 4
const KEY_POOL = 600
const MAX_VALUE_BYTES = 1536 * 1024
/** Values at least this large may fail with OUT_OF_MEMORY on a tiny slab. */
const LARGE_VALUE_BYTES = 64 * 1024
const INT64_MAX = (1n << 63n) - 1n
const INT64_MIN = -(1n << 63n)
const UINT64_MASK = (1n << 64n) - 1n

/** mulberry32: tiny, seedable, good enough to drive a model test. */
function mulberry32 (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6D2B79F5) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return (z ^ (z >>> 14)) >>> 0
  }
}

interface Entry {
  tenant: number
  key: Uint8Array
  value: Uint8Array
  flags: number
  expiryMs: number
  cas: number
  /** Its tenant's eviction count right after this key was last written. */
  evictionsAtWrite: number
  /** Distinct tags, in the order first given. */
  tags: string[]
  contentType: string
}

/** Tag names: short ones, one of a few hundred bytes, shared by every tenant. */
const TAG_POOL = ['a', 'b', 'c', 'users', 'posts', 'page:1', 'page:2', 'x'.repeat(300), '', 'tag-9', 'tag-10', 'z']
const CONTENT_TYPES = ['', 'text/plain', 'application/json; charset=utf-8', 'c'.repeat(255)]

const STATUS_NAMES = Object.fromEntries(Object.entries(StoreStatus).map(([name, code]) => [code, name]))
const name = (status: number): string => STATUS_NAMES[status] ?? String(status)

class ModelFailure extends Error {}

/** Runs `ops` random operations on a slab of `slabBytes`; returns counters for the summary. */
/**
 * `stress`: every size (keys to 4096 B, values to 1.3 MiB) on a slab of a few pages, so that
 * eviction, page moves and chunking are constant. `strict`: keys ≤ 40 B, values ≤ 300 B and
 * short appends, so items stay in ~9 size classes and a slab of 11 pages never has to evict:
 * every miss must then be explained by the model alone.
 */
function runModel (slabBytes: number, seed: number, ops: number, profile: 'stress' | 'strict'): Record<string, number> {
  const stress = profile === 'stress'
  const random = mulberry32(seed)
  const below = (n: number): number => random() % n
  const clock = new ManualClock()
  const store = SlabStore.create(new SharedArrayBuffer(slabBytes), {
    clock, ownerId: 1, recordsHits: true, maxValueBytes: MAX_VALUE_BYTES
  })
  const read = new ReadResult()
  const write = new WriteOptions()
  const model = new Map<string, Entry>()
  const counts: Record<string, number> = {
    evictedMisses: 0, outOfMemory: 0, chunkedWrites: 0, hits: 0, flushes: 0, invalidations: 0, invalidated: 0, taggedHits: 0, checkMs: 0, quotaRefusals: 0, quotaChanges: 0
  }
  let op = 0
  let lastCas = 0
  let described = ''

  function fail (message: string): never {
    throw new ModelFailure(`op ${op} (${described}), seed ${seed}: ${message}`)
  }

  // Keys: mostly 0..40 bytes, some 41..200, a few near the 4096-byte limit. Random bytes
  // (zeros included), shared by all tenants so that a foreign tenant's value would show.
  const keys: Uint8Array[] = []
  for (let i = 0; i < KEY_POOL; i++) {
    const roll = below(1000)
    const length = stress && roll < 3 ? 4096 - below(8) : stress && roll < 30 ? 41 + below(160) : below(41)
    const key = new Uint8Array(length)
    for (let j = 0; j < length; j++) key[j] = random() & 0xff
    keys.push(key)
  }
  const modelKey = (tenant: number, key: Uint8Array): string => `${tenant}:${Buffer.from(key).toString('latin1')}`
  const evictions = (tenant: number): number => store.tenantStats(tenant).evictions
  // Quotas: tight enough that the quota tenants evict their own items in both profiles (a
  // strict-profile tenant holds ~16 KiB: expiry and deletes keep it small).
  const quotas = stress ? [0, 512 * 1024, 2 << 20, 0] : [0, 4 * 1024, 8 * 1024, 0]
  const quotaChoices = stress ? [0, 8 * 1024, 64 * 1024, 512 * 1024, 2 << 20] : [0, 2 * 1024, 4 * 1024, 8 * 1024, 64 * 1024]
  quotas.forEach((quota, tenant) => { if (store.setTenantQuota(tenant, quota) !== StoreStatus.OK) throw new Error('setTenantQuota') })

  const NUMERIC = [
    '0', '1', '42', '-1', '-0', '007', '01', '-01', '9223372036854775807', '-9223372036854775808',
    '9223372036854775806', '18446744073709551615', '18446744073709551614', '18446744073709551616',
    '99999999999999999999', '123456789012345678901', '', '12a', ' 1', '+5', 'abc', '-', '1.5'
  ]
  const makeValue = (): Uint8Array => {
    const roll = below(2000)
    // Chunked values: rare, but often enough that some fit their tenant's quota and the slab
    // (three of four tenants may have quotas below a chunked value's size).
    if (stress && roll < 3) return patternBytes(600 * 1024 + below(700 * 1024)) // chunked
    if (stress && roll === 3) return patternBytes(LARGE_VALUE_BYTES + below(460 * 1024)) // large, inline
    if (roll < 200) {
      const text = below(3) === 0 ? String(below(100000) - 50000) : NUMERIC[below(NUMERIC.length)]!
      return Buffer.from(text, 'latin1')
    }
    return patternBytes(below(301))
  }
  function patternBytes (length: number): Uint8Array {
    const bytes = new Uint8Array(length)
    let x = random() | 1
    for (let i = 0; i < length; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5 // xorshift32
      bytes[i] = x & 0xff
    }
    return bytes
  }
  const makeExpiry = (): number => {
    const roll = below(100)
    if (roll < 55) return 0
    if (roll < 90) return clock.nowMs() + 1 + below(30_000)
    if (roll < 97) return clock.nowMs() + below(4 * 3600_000)
    if (roll < 99) return clock.nowMs() + below(400 * 86400_000) // up to 400 days: overflow list
    return clock.nowMs() - below(5000) // already expired
  }

  /** The model's live entry for (tenant, key), dropping it if expired. */
  const live = (tenant: number, key: Uint8Array): Entry | undefined => {
    const id = modelKey(tenant, key)
    const entry = model.get(id)
    if (entry === undefined) return undefined
    if (entry.expiryMs !== 0 && entry.expiryMs <= clock.nowMs()) { model.delete(id); return undefined }
    return entry
  }
  /** The store does not have a key the model holds: allowed only after an eviction. */
  const evicted = (entry: Entry, what: string): undefined => {
    if (evictions(entry.tenant) <= entry.evictionsAtWrite) fail(`${what}: key missing but its tenant evicted nothing since it was written`)
    model.delete(modelKey(entry.tenant, entry.key))
    counts.evictedMisses!++
    return undefined
  }
  /** Before a mutation: the model's entry if the store still holds it (probed with `has`). */
  const present = (tenant: number, key: Uint8Array, hash: number): Entry | undefined => {
    const entry = live(tenant, key)
    const has = store.has(tenant, key, hash) === StoreStatus.OK
    if (entry === undefined) {
      if (has) fail('has: store holds a key the model does not')
      return undefined
    }
    if (!has) return evicted(entry, 'has')
    return entry
  }
  const expectStatus = (got: number, expected: number): void => {
    if (got !== expected) fail(`status ${name(got)}, expected ${name(expected)}`)
  }
  const stored = (tenant: number, key: Uint8Array, value: Uint8Array, flags: number, expiryMs: number, tags: string[], contentType: string): void => {
    if (!(store.lastCas > lastCas)) fail(`cas ${store.lastCas} does not grow (last ${lastCas})`)
    lastCas = store.lastCas
    if (value.length + key.length + 48 > 512 * 1024) counts.chunkedWrites!++
    model.set(modelKey(tenant, key), {
      tenant, key, value, flags, expiryMs, cas: store.lastCas, evictionsAtWrite: evictions(tenant), tags, contentType
    })
    const own = store.tenantStats(tenant)
    if (quotas[tenant]! > 0 && own.bytes > quotas[tenant]! && own.items > 1) fail(`tenant ${tenant} holds ${own.bytes} bytes after a set, over its quota ${quotas[tenant]}`)
    if (own.quotaBytes !== quotas[tenant]) fail(`tenant ${tenant} quota ${own.quotaBytes}, expected ${quotas[tenant]}`)
  }
  const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => Buffer.concat([a, b])

  const parseCounter = (value: Uint8Array, mode: number): bigint | null => {
    const text = Buffer.from(value).toString('latin1')
    if (mode === CounterMode.REDIS) {
      // Redis string2ll: "0", or an optional '-' then [1-9][0-9]*; at most 20 characters.
      if (text.length === 0 || text.length > 20 || !/^(0|-?[1-9][0-9]*)$/.test(text)) return null
      const n = BigInt(text)
      return n > INT64_MAX || n < INT64_MIN ? null : n
    }
    // memcached: digits only (leading zeros fine), at most 20, unsigned 64-bit.
    if (text.length === 0 || text.length > 20 || !/^[0-9]+$/.test(text)) return null
    const n = BigInt(text)
    return n > UINT64_MASK ? null : n
  }

  const opGet = (tenant: number, key: Uint8Array, hash: number): void => {
    const withTags = below(8) === 0
    const copy = withTags || below(8) !== 0
    const status = withTags ? store.getWithTags(tenant, key, hash, read) : store.get(tenant, key, hash, read, copy)
    const entry = live(tenant, key)
    if (status === StoreStatus.OK) {
      if (entry === undefined) fail('get: hit on a key the model does not hold (stale, expired or foreign)')
      if (read.valueLength !== entry.value.length) fail(`get: value length ${read.valueLength}, expected ${entry.value.length}`)
      if (copy && Buffer.compare(read.value.subarray(0, read.valueLength), entry.value) !== 0) fail('get: value bytes differ')
      if (read.flags !== entry.flags) fail(`get: flags ${read.flags}, expected ${entry.flags}`)
      if (read.cas !== entry.cas) fail(`get: cas ${read.cas}, expected ${entry.cas}`)
      if (read.expiryMs !== entry.expiryMs) fail(`get: expiry ${read.expiryMs}, expected ${entry.expiryMs}`)
      const contentType = read.contentType.toString('latin1', 0, read.contentTypeLength)
      if (contentType !== entry.contentType) fail(`get: content type '${contentType.slice(0, 40)}', expected '${entry.contentType.slice(0, 40)}'`)
      if (withTags) {
        const tags = read.tags.map((tag) => tag.toString('latin1'))
        if (tags.join('\n') !== entry.tags.join('\n')) fail(`get: tags [${tags.join(',').slice(0, 80)}], expected [${entry.tags.join(',').slice(0, 80)}]`)
        if (tags.length > 0) counts.taggedHits!++
      }
      counts.hits!++
      return
    }
    expectStatus(status, StoreStatus.NOT_FOUND)
    if (entry !== undefined) evicted(entry, 'get')
  }

  const opSet = (tenant: number, key: Uint8Array, hash: number): void => {
    const mode = [SetMode.SET, SetMode.SET, SetMode.SET, SetMode.ADD, SetMode.REPLACE, SetMode.CAS, SetMode.CAS,
      SetMode.APPEND, SetMode.PREPEND, SetMode.APPEND_OR_SET][below(10)]!
    const appends = mode === SetMode.APPEND || mode === SetMode.PREPEND || mode === SetMode.APPEND_OR_SET
    const value = stress || !appends ? makeValue() : patternBytes(below(9))
    const entry = present(tenant, key, hash)
    write.mode = mode
    write.flags = random()
    write.expiryMs = makeExpiry()
    write.keepTtl = below(10) === 0
    write.casExpected = entry !== undefined && below(2) === 0 ? entry.cas : lastCas + 1 + below(5)
    // strict: few, short tags and content types, so items stay in the few classes that fit.
    const tagNames = below(3) === 0 ? [] : Array.from({ length: below(stress ? 5 : 3) }, () => TAG_POOL[below(stress ? TAG_POOL.length : 7)]!)
    write.tags = below(4) === 0 ? null : tagNames.map((tag) => Buffer.from(tag, 'latin1'))
    const givenType = CONTENT_TYPES[below(stress ? CONTENT_TYPES.length : 2)]!
    write.contentType = givenType === '' && below(2) === 0 ? null : Buffer.from(givenType, 'latin1')
    let tags = write.tags === null ? [] : [...new Set(tagNames)]
    let contentType = givenType
    described += ` mode ${mode} value ${value.length}B${write.keepTtl ? ' keepTtl' : ''} tags ${tags.length}`
    const status = store.set(tenant, key, hash, value, write)
    if (status === StoreStatus.OUT_OF_MEMORY) {
      const total = value.length + (entry !== undefined && mode >= SetMode.APPEND ? entry.value.length : 0)
      if (total < LARGE_VALUE_BYTES) fail(`set: OUT_OF_MEMORY for a ${total}-byte value`)
      counts.outOfMemory!++
      return
    }
    let expected: number = StoreStatus.OK
    let newValue = value
    let flags = write.flags
    let expiryMs = write.keepTtl && entry !== undefined ? entry.expiryMs : write.expiryMs
    switch (mode) {
      case SetMode.ADD: if (entry !== undefined) expected = StoreStatus.NOT_STORED; break
      case SetMode.REPLACE: if (entry === undefined) expected = StoreStatus.NOT_STORED; break
      case SetMode.CAS:
        if (entry === undefined) expected = StoreStatus.NOT_FOUND
        else if (entry.cas !== write.casExpected) expected = StoreStatus.EXISTS
        break
      case SetMode.APPEND: case SetMode.PREPEND: case SetMode.APPEND_OR_SET:
        if (entry === undefined) {
          if (mode !== SetMode.APPEND_OR_SET) expected = StoreStatus.NOT_STORED
          expiryMs = write.expiryMs
          break
        }
        flags = entry.flags
        expiryMs = entry.expiryMs
        tags = entry.tags
        contentType = entry.contentType
        if (entry.value.length + value.length > MAX_VALUE_BYTES) expected = StoreStatus.VALUE_TOO_LARGE
        newValue = mode === SetMode.PREPEND ? concat(value, entry.value) : concat(entry.value, value)
        break
    }
    if (expected === StoreStatus.OK && quotas[tenant]! > 0 && itemChunkBytes(store.allocator, newDataOffset(key.length, tags.length, Buffer.byteLength(contentType, 'latin1')), newValue.length) > quotas[tenant]!) {
      expected = StoreStatus.QUOTA_EXCEEDED
      counts.quotaRefusals!++
    }
    expectStatus(status, expected)
    if (status === StoreStatus.OK) stored(tenant, key, newValue, flags, expiryMs, tags, contentType)
  }

  const opInvalidate = (tenant: number): void => {
    const tag = TAG_POOL[below(stress ? TAG_POOL.length : 7)]!
    const slice = below(2) === 0 ? 1 + below(4) : 1000
    described += ` tag '${tag.slice(0, 10)}' slice ${slice}`
    // The members the store must remove: the model's, minus those it evicted.
    let expected = 0
    for (const entry of [...model.values()]) {
      if (entry.tenant !== tenant || !entry.tags.includes(tag) || live(tenant, entry.key) === undefined) continue
      if (present(tenant, entry.key, keyHash(tenant, entry.key, 0, entry.key.length)) !== undefined) expected++
    }
    const tagBytes = Buffer.from(tag, 'latin1')
    const hash = keyHash(tenant, tagBytes, 0, tagBytes.length)
    let removed = 0
    for (let calls = 0; ; calls++) {
      if (calls > 100_000) fail('invalidateTag: does not finish')
      const left = store.invalidateTag(tenant, tagBytes, hash, slice)
      if (left < 0) fail('invalidateTag: lock timed out')
      if (store.lastTagProcessed > slice) fail(`invalidateTag: took ${store.lastTagProcessed} members in a slice of ${slice}`)
      removed += store.lastRemoved
      if (left === 0) break
      checkNow()
    }
    if (removed !== expected) fail(`invalidateTag: removed ${removed}, expected ${expected}`)
    for (const [id, entry] of model) if (entry.tenant === tenant && entry.tags.includes(tag)) model.delete(id)
    counts.invalidations!++
    counts.invalidated! += removed
  }

  const opIncr = (tenant: number, key: Uint8Array, hash: number): void => {
    const mode = below(2) === 0 ? CounterMode.REDIS : CounterMode.MEMCACHED
    const roll = below(10)
    let delta: bigint
    if (mode === CounterMode.REDIS) delta = roll === 0 ? INT64_MAX - BigInt(below(3)) : roll === 1 ? INT64_MIN + BigInt(below(3)) : BigInt(below(2001) - 1000)
    else delta = roll === 0 ? UINT64_MASK - BigInt(below(3)) : roll === 1 ? -(UINT64_MASK - BigInt(below(3))) : BigInt(below(2001) - 1000)
    described += ` mode ${mode} delta ${delta}`
    const entry = present(tenant, key, hash)
    const status = store.incr(tenant, key, hash, delta, mode)
    let current = 0n
    let flags = 0
    let expiryMs = 0
    let tags: string[] = []
    let contentType = ''
    if (entry === undefined) {
      if (mode === CounterMode.MEMCACHED) { expectStatus(status, StoreStatus.NOT_FOUND); return }
    } else {
      const parsed = parseCounter(entry.value, mode)
      if (parsed === null) { expectStatus(status, StoreStatus.NOT_NUMERIC); return }
      current = parsed
      flags = entry.flags
      expiryMs = entry.expiryMs
      tags = entry.tags
      contentType = entry.contentType
    }
    let next = current + delta
    if (mode === CounterMode.REDIS) {
      if (next > INT64_MAX || next < INT64_MIN) { expectStatus(status, StoreStatus.OVERFLOW); return }
    } else if (delta < 0n) {
      if (next < 0n) next = 0n
    } else {
      next &= UINT64_MASK
    }
    expectStatus(status, StoreStatus.OK)
    if (store.lastCounter !== next) fail(`incr: counter ${store.lastCounter}, expected ${next}`)
    stored(tenant, key, Buffer.from(next.toString(), 'latin1'), flags, expiryMs, tags, contentType)
  }

  const opDelete = (tenant: number, key: Uint8Array, hash: number): void => {
    const entry = present(tenant, key, hash)
    expectStatus(store.delete(tenant, key, hash), entry === undefined ? StoreStatus.NOT_FOUND : StoreStatus.OK)
    model.delete(modelKey(tenant, key))
  }

  const opTouch = (tenant: number, key: Uint8Array, hash: number): void => {
    const entry = present(tenant, key, hash)
    const expiryMs = makeExpiry()
    expectStatus(store.touch(tenant, key, hash, expiryMs), entry === undefined ? StoreStatus.NOT_FOUND : StoreStatus.OK)
    if (entry !== undefined) entry.expiryMs = expiryMs
  }

  const opHas = (tenant: number, key: Uint8Array, hash: number): void => {
    const entry = live(tenant, key)
    if (store.has(tenant, key, hash) === StoreStatus.OK) {
      if (entry === undefined) fail('has: true for a key the model does not hold')
    } else if (entry !== undefined) {
      evicted(entry, 'has')
    }
  }

  const checkNow = (): void => {
    const started = performance.now()
    try {
      checkSlab(store)
    } catch (error) {
      fail(`checkSlab: ${(error as Error).message}`)
    }
    counts.checkMs! += performance.now() - started
  }

  for (op = 0; op < ops; op++) {
    const roll = below(1000)
    const tenant = below(TENANTS)
    const key = keys[below(KEY_POOL)]!
    const hash = keyHash(tenant, key, 0, key.length)
    described = `tenant ${tenant} key ${key.length}B`
    if (roll < 260) { described = `get ${described}`; opGet(tenant, key, hash) }
    else if (roll < 280) { described = `invalidate tenant ${tenant}`; opInvalidate(tenant) }
    else if (roll < 600) { described = `set ${described}`; opSet(tenant, key, hash) }
    else if (roll < 650) { described = `has ${described}`; opHas(tenant, key, hash) }
    else if (roll < 710) { described = `delete ${described}`; opDelete(tenant, key, hash) }
    else if (roll < 750) { described = `touch ${described}`; opTouch(tenant, key, hash) }
    else if (roll < 840) { described = `incr ${described}`; opIncr(tenant, key, hash) }
    else if (roll < 930) {
      const ms = below(100) === 0 ? 3600_000 * (1 + below(60)) : below(2500)
      described = `advance ${ms} ms`
      clock.advance(ms)
    } else if (roll === 998 && below(4) === 0) {
      const changed = 1 + below(3)
      quotas[changed] = quotaChoices[below(quotaChoices.length)]!
      described = `quota of tenant ${changed} := ${quotas[changed]}`
      expectStatus(store.setTenantQuota(changed, quotas[changed]!), StoreStatus.OK)
      counts.quotaChanges!++
    } else if (roll < 999 || below(5) !== 0) {
      const budget = below(4) === 0 ? 1 + below(10) : 1000
      described = `maintain budget ${budget}`
      const done = store.maintain(clock.nowMs(), budget)
      if (done < 0) fail('maintain: lock timed out')
      // A slice that did not use its whole budget has trimmed every tenant to its quota.
      for (let q = 0; q < TENANTS && done < budget; q++) {
        const own = store.tenantStats(q)
        if (quotas[q]! > 0 && own.bytes > quotas[q]! && own.items > 1) fail(`tenant ${q} holds ${own.bytes} bytes after maintain, over its quota ${quotas[q]}`)
      }
    } else {
      described = `flush tenant ${tenant}`
      let cursor = 0
      do {
        cursor = store.flushStep(tenant, cursor, 1 + below(8192))
        if (cursor < 0) fail('flushStep: lock timed out')
      } while (cursor !== 0)
      for (const [id, entry] of model) if (entry.tenant === tenant) model.delete(id)
      if (store.tenantStats(tenant).items !== 0) fail(`flush left ${store.tenantStats(tenant).items} items`)
      counts.flushes!++
    }
    checkNow()
  }

  // Final sweep: every key the model still holds reads back exactly (or was evicted).
  described = 'final sweep'
  for (const entry of [...model.values()]) opGet(entry.tenant, entry.key, keyHash(entry.tenant, entry.key, 0, entry.key.length))
  const stats = store.stats()
  // Tenant 0 never has a quota; the others may have had one at some point.
  counts.unlimitedEvictions = store.tenantStats(0).evictions + (counts.quotaChanges === 0 ? store.tenantStats(3).evictions : 0)
  counts.quotaEvictions = store.tenantStats(1).evictions + store.tenantStats(2).evictions
  Object.assign(counts, {
    modelKeys: model.size, storeItems: stats.items, evictions: stats.evictions, expirations: stats.expirations,
    pagesMoved: stats.pagesMoved, pageCount: stats.pageCount
  })
  counts.checkMs = Math.round(counts.checkMs!)
  return counts
}

function summary (counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')
}

for (const { slabBytes, label, seed, profile } of [
  { slabBytes: 6 << 20, label: '6 MiB', seed: SEED, profile: 'stress' as const },
  { slabBytes: MIN_SLAB_BYTES, label: 'minimum 4 MiB', seed: (SEED ^ 0x9e3779b9) >>> 0, profile: 'stress' as const },
  { slabBytes: 12 << 20, label: '12 MiB strict (no evictions)', seed: (SEED ^ 0x7f4a7c15) >>> 0, profile: 'strict' as const }
]) {
  t.test(`store agrees with a Map model over ${OPS} random ops on a ${label} slab (seed ${seed}; replay: SLAB_MODEL_SEED=${SEED})`, async t => {
    const started = performance.now()
    let counts: Record<string, number>
    try {
      counts = runModel(slabBytes, seed, OPS, profile)
    } catch (error) {
      if (error instanceof ModelFailure) { t.fail(error.message); return }
      throw error
    }
    t.comment(`${OPS} ops in ${Math.round(performance.now() - started)} ms: ${summary(counts)}`)
    t.ok(counts.expirations! > 0, 'items expired')
    t.ok(counts.quotaEvictions! > 0, 'tenants with a quota evicted their own items')
    t.ok(counts.hits! > 0, 'reads hit')
    t.ok(counts.taggedHits! > 0, 'tagged items were read back with their tags')
    t.ok(counts.invalidated! > 0, 'tag invalidations removed items')
    if (profile === 'stress') {
      t.ok(counts.evictions! > 0, 'evictions happened')
      t.ok(counts.evictedMisses! > 0, 'some model keys were found evicted')
      t.ok(counts.pagesMoved! > 0, 'pages moved between classes')
      t.ok(counts.chunkedWrites! > 0, 'chunked values were written')
    } else {
      t.equal(counts.unlimitedEvictions, 0, 'no tenant without a quota lost an item: the quota tenants evicted only their own')
    }
  })
}
