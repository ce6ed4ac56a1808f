/**
 * AuthCache: remembers successful secret verifications so that a client reconnecting (or an
 * HTTP request with the same bearer token) does not pay an scrypt computation each time.
 * Thread: main. Owns: a bounded map from SHA-256(name, secret) to the tenant id.
 * Invariants: only successes are cached (a wrong secret always costs a real verification);
 * the plaintext secret is never kept, only its digest; at most MAX_ENTRIES entries (the oldest
 * insertion is dropped first); `forget(id)` removes every entry of a tenant, and the registry
 * calls it on rotate and delete, so an old secret stops working at once.
 */
import { createHash } from 'node:crypto'

/** Entries kept; a digest key is ~44 bytes, so the cache stays well under a megabyte. */
export const MAX_AUTH_CACHE_ENTRIES = 4096

export class AuthCache {
  readonly #ids = new Map<string, number>()

  /** The digest that keys (name, secret). Allocates; cheap next to scrypt. */
  static key (name: string, secret: string): string {
    return createHash('sha256').update(name).update('\0').update(secret).digest('base64')
  }

  get size (): number { return this.#ids.size }

  /** The tenant id cached for `key`, or undefined. */
  get (key: string): number | undefined {
    return this.#ids.get(key)
  }

  set (key: string, tenantId: number): void {
    this.#ids.delete(key)
    if (this.#ids.size >= MAX_AUTH_CACHE_ENTRIES) {
      const oldest = this.#ids.keys().next().value
      if (oldest !== undefined) this.#ids.delete(oldest)
    }
    this.#ids.set(key, tenantId)
  }

  /** Drops every cached verification of `tenantId` (cold path: rotate, delete). */
  forget (tenantId: number): void {
    for (const [key, id] of this.#ids) if (id === tenantId) this.#ids.delete(key)
  }
}
