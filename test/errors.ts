import t from 'tap'
import { readFileSync } from 'node:fs'
import { ERROR_CATALOG, SlabcacheError, errorFromStatus, type ErrorCode } from '../src/errors.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
const section = readme.slice(readme.indexOf('## Error codes'))
const documented = new Map([...section.matchAll(/^\| `([A-Z_]+)` \| (\d+) \|/gm)].map((m) => [m[1]!, Number(m[2])]))

t.test('the README error table lists exactly the catalog, with the same HTTP statuses', async (t) => {
  t.same([...documented.keys()].sort(), Object.keys(ERROR_CATALOG).sort())
  for (const [code, entry] of Object.entries(ERROR_CATALOG)) t.equal(documented.get(code), entry.httpStatus, `${code} HTTP status`)
})

t.test('every code constructs an error with its stable code and name, and survives a status round trip', async (t) => {
  const statuses = new Set<number>()
  for (const code of Object.keys(ERROR_CATALOG) as ErrorCode[]) {
    const error = new SlabcacheError(code)
    t.equal(error.code, code)
    t.equal(error.name, ERROR_CATALOG[code].name)
    t.ok(error.message.length > 0)
    const rebuilt = errorFromStatus(ERROR_CATALOG[code].status, 'detail')
    t.equal(rebuilt.code, code)
    t.equal(rebuilt.message, 'detail')
    t.notOk(statuses.has(ERROR_CATALOG[code].status), `${code} has a unique status`)
    statuses.add(ERROR_CATALOG[code].status)
  }
  t.equal(errorFromStatus(9999).code, 'INTERNAL', 'an unknown status becomes INTERNAL')
})
