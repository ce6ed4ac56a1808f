/**
 * HTTP authentication: turns `Authorization: Bearer <tenant>:<secret>` (or `Bearer <secret>`
 * for the default tenant, or the admin token) into a Principal. Thread: main.
 * Owns: the header grammar and the split between a synchronous answer (credential already
 * verified and cached) and an asynchronous one (scrypt must run). Invariant: `check` never
 * blocks and never awaits; it returns null only when the credential needs `verify`.
 */

/** Who is asking: the tenant whose keyspace the request uses, and whether it may administer. */
export interface Principal {
  readonly tenantId: number
  readonly tenantName: string
  /** True for the admin token (or when auth is off): admin endpoints are allowed. */
  readonly admin: boolean
}

/** A refused credential: 401 UNAUTHORIZED with `WWW-Authenticate: Bearer`. */
export interface AuthRefusal {
  readonly refused: true
  readonly message: string
}

export type AuthOutcome = Principal | AuthRefusal

export function isRefusal (outcome: AuthOutcome): outcome is AuthRefusal {
  return (outcome as AuthRefusal).refused === true
}

/** What the HTTP front end needs from the tenant registry. */
export interface HttpAuthenticator {
  /**
   * False while no credential is needed: `check` then answers the same for every header, so
   * the hot path does not read `Authorization` at all.
   */
  required: () => boolean
  /**
   * The outcome for an `Authorization` header value ('' when absent) if it can be decided now
   * (no auth required, a cached credential, a malformed header), else null: call `verify`.
   */
  check: (authorization: string) => AuthOutcome | null
  /** Verifies a credential the cache does not know (scrypt); never rejects. */
  verify: (authorization: string) => Promise<AuthOutcome>
}

/** The default tenant with admin rights: every request when auth is not configured. */
export const OPEN_PRINCIPAL: Principal = { tenantId: 0, tenantName: 'default', admin: true }

/** Auth off: everyone is the default tenant and may administer (loopback-only, DESIGN §8). */
export const OPEN_AUTHENTICATOR: HttpAuthenticator = {
  required: () => false,
  check: () => OPEN_PRINCIPAL,
  verify: async () => OPEN_PRINCIPAL
}

/** A parsed bearer credential: `tenant` is null for `Bearer <secret>` (default tenant or admin). */
export interface BearerCredential {
  readonly tenant: string | null
  readonly secret: string
}

/**
 * Parses `Bearer <tenant>:<secret>` or `Bearer <secret>`; null when the header is absent or not
 * a bearer credential. The scheme is case-insensitive (RFC 7235); the token is not.
 */
export function parseBearer (authorization: string): BearerCredential | null {
  if (authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return null
  const token = authorization.slice(7).trim()
  if (token === '') return null
  const colon = token.indexOf(':')
  if (colon < 0) return { tenant: null, secret: token }
  const tenant = token.slice(0, colon)
  const secret = token.slice(colon + 1)
  if (tenant === '' || secret === '') return null
  return { tenant, secret }
}
