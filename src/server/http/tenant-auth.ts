/**
 * The HTTP authenticator over the TenantRegistry: `Authorization: Bearer <tenant>:<secret>`
 * picks the tenant, `Bearer <secret>` is the default tenant, and `Bearer <admin token>` is the
 * admin (acting as the default tenant for data endpoints). Thread: main.
 * Invariants: `check` is synchronous — a credential verified before is answered from the
 * registry's cache (`authenticateCached`), the admin token by a constant-time digest compare —
 * and returns null only when scrypt must run (`verify`). While the registry holds no credential
 * at all (`authRequired` false) every request is the default tenant with admin rights, which
 * protected mode confines to loopback (DESIGN §8).
 */
import type { TenantRegistry } from '../../tenants/tenant-registry.js'
import { OPEN_PRINCIPAL, parseBearer, type AuthOutcome, type AuthRefusal, type HttpAuthenticator, type Principal } from './auth.js'

const DEFAULT_TENANT_NAME = 'default'
const MISSING: AuthRefusal = { refused: true, message: 'authentication required: send Authorization: Bearer <tenant>:<secret> (or Bearer <secret> for the default tenant)' }
const WRONG: AuthRefusal = { refused: true, message: 'invalid credentials' }
const ADMIN: Principal = { tenantId: 0, tenantName: DEFAULT_TENANT_NAME, admin: true }

export function registryAuthenticator (registry: TenantRegistry): HttpAuthenticator {
  /** Principals by tenant id, so a cached credential allocates nothing here. */
  const principals = new Map<number, Principal>()
  const principal = (tenantId: number, tenantName: string): Principal => {
    let found = principals.get(tenantId)
    if (found === undefined || found.tenantName !== tenantName) {
      found = { tenantId, tenantName, admin: false }
      principals.set(tenantId, found)
    }
    return found
  }
  return {
    required: () => registry.authRequired,
    check: (authorization: string): AuthOutcome | null => {
      if (!registry.authRequired) return OPEN_PRINCIPAL
      const credential = parseBearer(authorization)
      if (credential === null) return MISSING
      if (credential.tenant === null && registry.verifyAdminToken(credential.secret)) return ADMIN
      const name = credential.tenant ?? DEFAULT_TENANT_NAME
      const id = registry.authenticateCached(name, credential.secret)
      if (id === undefined) return null
      return id === null ? WRONG : principal(id, name)
    },
    verify: async (authorization: string): Promise<AuthOutcome> => {
      const credential = parseBearer(authorization)
      if (credential === null) return MISSING
      const name = credential.tenant ?? DEFAULT_TENANT_NAME
      const id = await registry.authenticate(name, credential.secret)
      return id === null ? WRONG : principal(id, name)
    }
  }
}
