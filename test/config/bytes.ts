import t from 'tap'
import { formatBytes, GIB, KIB, MIB, parseBytes } from '../../src/util/bytes.js'

t.test('parseBytes - accepts integers and binary units in any case', async (t) => {
  const cases: Array<[string | number, number]> = [
    [0, 0],
    [1048576, MIB],
    ['4096', 4096],
    ['100b', 100],
    ['100B', 100],
    ['64k', 64 * KIB],
    ['64kb', 64 * KIB],
    ['64KiB', 64 * KIB],
    ['512mb', 512 * MIB],
    ['512M', 512 * MIB],
    ['8MiB', 8 * MIB],
    ['1gb', GIB],
    ['1G', GIB],
    ['2gib', 2 * GIB],
    ['1.5gb', 1.5 * GIB],
    [' 16 mb ', 16 * MIB]
  ]
  for (const [text, bytes] of cases) t.equal(parseBytes(text, 'memory (--memory)'), bytes, JSON.stringify(text))
})

t.test('parseBytes - rejects negative, fractional and unparsable sizes, naming the option', async (t) => {
  const bad: Array<string | number> = [-1, '-1', '-5mb', 1.5, '1.5b', '0.3k', '', 'mb', 'lots', '12 apples', '1e3', '0x10', '5tb', Infinity, NaN, true as never]
  for (const text of bad) {
    t.throws(() => parseBytes(text, 'memory (--memory)'), {
      code: 'CONFIG_INVALID',
      name: 'ConfigError',
      message: /^memory \(--memory\) must be a whole number of bytes or a size such as .*; received /
    }, JSON.stringify(text))
  }
})

t.test('parseBytes - rejects sizes beyond the safe integer range', async (t) => {
  t.throws(() => parseBytes('99999999999999gb', 'x'), { code: 'CONFIG_INVALID' })
})

t.test('formatBytes - uses the largest unit that divides exactly', async (t) => {
  t.equal(formatBytes(16 * MIB), '16 MiB')
  t.equal(formatBytes(2 * GIB), '2 GiB')
  t.equal(formatBytes(4608 * KIB), '4608 KiB')
  t.equal(formatBytes(1000), '1000 B')
  t.equal(formatBytes(0), '0 B')
})
