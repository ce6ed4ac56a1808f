import t from 'tap'
import { checkProtectedMode, isLoopbackHost } from '../../src/server/protected-mode.js'

t.test('isLoopbackHost - localhost, 127.0.0.0/8 and ::1 (also bracketed or IPv4-mapped) only', async (t) => {
  for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(host), host)
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::2', 'example.com', 'localhost.example.com', '::ffff:10.0.0.1', '']) t.notOk(isLoopbackHost(host), host)
})

t.test('checkProtectedMode - refuses a non-loopback host without credentials, saying how to configure them', async (t) => {
  const error = t.throws(() => checkProtectedMode('0.0.0.0', false), { code: 'PROTECTED_MODE', name: 'ProtectedModeError' }) as Error
  t.match(error.message, /^refusing to listen on 0\.0\.0\.0 without credentials \(protected mode\)/)
  t.match(error.message, /--admin-token <token>/)
  t.match(error.message, /--default-secret <secret>/)
  t.match(error.message, /--host 127\.0\.0\.1/)
  t.doesNotThrow(() => checkProtectedMode('0.0.0.0', true), 'credentials configured')
  t.doesNotThrow(() => checkProtectedMode('127.0.0.1', false), 'loopback')
})
