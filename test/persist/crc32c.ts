import t from 'tap'
import { crc32c } from '../../src/persist/crc32c.js'

t.test('RFC 3720 B.4 check values', async (t) => {
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, '32 zero bytes')
  t.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, '32 bytes of 0xff')
  t.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e, '32 incrementing bytes')
  t.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c, '32 decrementing bytes')
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, '"123456789"')
  t.equal(crc32c(new Uint8Array(0)), 0, 'empty input')
})

t.test('slicing-by-8 agrees with the bitwise definition at every length, offset and split', async (t) => {
  const bitwise = (bytes: Uint8Array, start: number, end: number): number => {
    let c = 0xffffffff
    for (let i = start; i < end; i++) {
      c ^= bytes[i]!
      for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    }
    return ~c >>> 0
  }
  const data = Uint8Array.from({ length: 200 }, (_, i) => (i * 131 + 17) & 0xff)
  let mismatches = 0
  for (let start = 0; start < 9; start++) {
    for (let end = start; end <= data.length; end++) {
      const whole = crc32c(data, start, end)
      if (whole !== bitwise(data, start, end)) mismatches++
      const mid = start + ((end - start) >> 1)
      if (crc32c(data, mid, end, crc32c(data, start, mid)) !== whole) mismatches++
    }
  }
  t.equal(mismatches, 0)
})
