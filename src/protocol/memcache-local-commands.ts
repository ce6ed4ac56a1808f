/**
 * MemcacheLocalCommands: the memcached requests' commands on this node, built in reused
 * Command objects for the connection's current tenant and run through the backend (the
 * engine answers them synchronously). Thread: main (L1). Owns: one reused Command per op, so a
 * request allocates nothing. Invariant: a returned Result is the engine's reused one: read it
 * before the next call.
 * memcached semantics live here: an exptime already past stores then removes (or reads then
 * removes), so the item vanishes at once, as memcached's do.
 */
import type { Command, Result } from '../command/command.js'
import { CounterMode, SetMode, StoreStatus } from '../core/store-status.js'
import type { ValueSink } from '../core/slab-values.js'
import { EXPIRED, type MemcacheBackend } from './memcache-backend.js'
import { MAX_RELATIVE_EXPTIME_S } from './memcache-text.js'

const EMPTY = Buffer.alloc(0)

type GetCommand = Extract<Command, { op: 'get' }>
type SetCommand = Extract<Command, { op: 'set' }>
type KeyCommand = Extract<Command, { op: 'delete' }>
type TouchCommand = Extract<Command, { op: 'touch' }>
type IncrCommand = Extract<Command, { op: 'incr' }>

export class MemcacheLocalCommands {
  readonly #backend: MemcacheBackend
  /** Whose tenant the commands run for (the session: SASL may change it). */
  readonly #tenant: { readonly tenantId: number }
  readonly #get: GetCommand = { op: 'get', tenantId: 0, key: EMPTY, sink: null }
  readonly #set: SetCommand = { op: 'set', tenantId: 0, key: EMPTY, value: EMPTY, mode: SetMode.SET, ttlMs: 0, flags: 0, keepTtl: false, casExpected: 0 }
  readonly #delete: KeyCommand = { op: 'delete', tenantId: 0, key: EMPTY }
  readonly #touch: TouchCommand = { op: 'touch', tenantId: 0, key: EMPTY, ttlMs: 0 }
  readonly #incr: IncrCommand = { op: 'incr', tenantId: 0, key: EMPTY, delta: 0n, mode: CounterMode.MEMCACHED }
  readonly #invalidateTag: Extract<Command, { op: 'invalidateTag' }> = { op: 'invalidateTag', tenantId: 0, tag: EMPTY }

  constructor (backend: MemcacheBackend, tenant: { readonly tenantId: number }) {
    this.#backend = backend
    this.#tenant = tenant
  }

  /** Reads (tenant, key); with a sink, a hit's value is copied straight into it (see MemcacheOutput.expectValue). */
  get (key: Buffer, sink: ValueSink | null = null): Result {
    const command = this.#keyCommand(this.#get, key)
    command.sink = sink
    const result = this.#run(command)
    command.sink = null
    return result
  }

  delete (key: Buffer): Result {
    return this.#run(this.#keyCommand(this.#delete, key))
  }

  /** tag_invalidate on this node only. */
  invalidateTag (tag: Buffer): Result {
    const command = this.#invalidateTag
    command.tenantId = this.#tenant.tenantId
    command.tag = tag
    return this.#run(command)
  }

  /**
   * A write in `mode`. An exptime already in the past stores the item (conditions apply, so
   * add/replace/cas answer as usual) and removes it at once, as memcached's items then vanish;
   * append/prepend keep the old item's flags and expiry, so their exptime is ignored.
   */
  store (key: Buffer, value: Buffer, mode: SetMode, flags: number, exptime: number, cas: number, tags?: readonly Uint8Array[]): Result {
    const concat = mode === SetMode.APPEND || mode === SetMode.PREPEND
    const ttlMs = concat ? 0 : this.ttlMs(exptime)
    const command = this.#set
    command.tenantId = this.#tenant.tenantId
    command.key = key
    command.value = value
    command.mode = mode
    command.ttlMs = ttlMs === EXPIRED ? 0 : ttlMs
    command.flags = flags
    command.casExpected = cas
    command.tags = tags
    const result = this.#run(command)
    command.tags = undefined
    if (ttlMs === EXPIRED && result.error === null && result.status === StoreStatus.OK) {
      const cas = result.cas
      this.delete(key)
      // The delete reused the Result: restore what the caller reads.
      result.status = StoreStatus.OK
      result.error = null
      result.cas = cas
    }
    return result
  }

  counter (key: Buffer, delta: bigint): Result {
    const command = this.#incr
    command.tenantId = this.#tenant.tenantId
    command.key = key
    command.delta = delta
    return this.#run(command)
  }

  touchKey (key: Buffer, ttlMs: number): Result {
    const command = this.#touch
    command.tenantId = this.#tenant.tenantId
    command.key = key
    command.ttlMs = ttlMs
    return this.#run(command)
  }

  /** Touch then read (one atomic step on the main thread); an exptime already past reads then removes. */
  getAndTouch (key: Buffer, ttlMs: number): Result {
    if (ttlMs === EXPIRED) {
      const result = this.get(key)
      if (result.error !== null || result.status !== StoreStatus.OK) return result
      // Copy the read out before the delete reuses the Result and its scratch value.
      const value = Buffer.from(result.value!.subarray(0, result.valueLength))
      const { flags, cas } = result
      this.delete(key)
      result.reset()
      result.value = value
      result.valueLength = value.length
      result.flags = flags
      result.cas = cas
      return result
    }
    const touched = this.touchKey(key, ttlMs)
    if (touched.error !== null || touched.status !== StoreStatus.OK) return touched
    return this.get(key)
  }

  #keyCommand<C extends GetCommand | KeyCommand> (command: C, key: Buffer): C {
    command.tenantId = this.#tenant.tenantId
    command.key = key
    return command
  }

  /** Runs an O(1) command, which the engine answers synchronously. */
  #run (command: Command): Result {
    const result = this.#backend.execute(command)
    if (result instanceof Promise) throw new Error(`engine returned a Promise for inline command '${command.op}'`)
    return result
  }

  /** ttl for an exptime in seconds: 0 = none, ≤ 30 days relative, else a Unix time; EXPIRED if already past. */
  ttlMs (exptime: number): number {
    if (exptime === 0) return 0
    if (exptime < 0) return EXPIRED
    if (exptime <= MAX_RELATIVE_EXPTIME_S) return exptime * 1000
    const ttlMs = exptime * 1000 - this.#backend.clock.nowMs()
    return ttlMs > 0 ? ttlMs : EXPIRED
  }
}
