/**
 * Protected mode (like Redis's): without any credential, slabcache listens on loopback only,
 * because anyone who can reach a non-loopback port could read and change every key.
 * Thread: main, at start-up. Owns: the loopback test and the refusal message.
 */
import net from 'node:net'
import { SlabcacheError } from '../errors.js'

/** Whether `host` names a loopback interface: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped). */
export function isLoopbackHost (host: string): boolean {
  const name = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (name === 'localhost') return true
  const v4 = name.startsWith('::ffff:') && net.isIPv4(name.slice(7)) ? name.slice(7) : name
  if (net.isIPv4(v4)) return v4.split('.')[0] === '127'
  if (!net.isIPv6(name)) return false
  const list = new net.BlockList()
  list.addAddress('::1', 'ipv6')
  return list.check(name, 'ipv6')
}

/**
 * Throws PROTECTED_MODE when `host` is not loopback and no credential is configured; the
 * message says how to configure one.
 */
export function checkProtectedMode (host: string, authRequired: boolean): void {
  if (authRequired || isLoopbackHost(host)) return
  throw new SlabcacheError('PROTECTED_MODE',
    `refusing to listen on ${host} without credentials (protected mode): anyone who can reach it could read and change every key. ` +
    'Configure auth with --admin-token <token> or --default-secret <secret> (env SLABCACHE_AUTH_ADMIN_TOKEN, SLABCACHE_AUTH_DEFAULT_SECRET; ' +
    'config keys auth.adminToken, auth.defaultSecret, or a "secret" in tenants), or listen on loopback only with --host 127.0.0.1')
}
