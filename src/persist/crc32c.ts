/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every snapshot block.
 * Thread: any (pure; used by the piscina snapshot jobs and by tests). No allocation per call.
 * Slicing-by-8: eight 256-entry tables built once at load, so the inner loop consumes eight
 * bytes per iteration with eight table lookups instead of eight dependent byte steps.
 * (@aws-crypto/crc32c, one table and one byte per step, measured 32–40 MB/s here; see
 * native-bench/micro/crc32c.ts for this one's rate.) Check values: RFC 3720 B.4.
 */

const POLY = 0x82f63b78

/** TABLES[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
const TABLES = buildTables()

function buildTables (): Int32Array {
  const tables = new Int32Array(8 * 256)
  for (let b = 0; b < 256; b++) {
    let crc = b
    for (let i = 0; i < 8; i++) crc = (crc & 1) !== 0 ? (crc >>> 1) ^ POLY : crc >>> 1
    tables[b] = crc
  }
  for (let b = 0; b < 256; b++) {
    let crc = tables[b]!
    for (let k = 1; k < 8; k++) {
      crc = tables[crc & 0xff]! ^ (crc >>> 8)
      tables[k * 256 + b] = crc
    }
  }
  return tables
}

/**
 * Continues CRC32C `crc` (0 to start) over bytes[start, end). Returns the unsigned CRC.
 * `crc32c(b, 0, n)` equals `crc32c(b, k, n, crc32c(b, 0, k))` for every k: blocks can be
 * checksummed in pieces.
 */
export function crc32c (bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  const t = TABLES
  let c = ~crc
  let i = start
  // Eight bytes per step: the first four are folded into the running CRC, all eight index
  // their own table (the one that accounts for the bytes still to come after them).
  const stop = end - 8
  while (i <= stop) {
    const lo = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))
    c = t[1792 + (lo & 0xff)]! ^ t[1536 + ((lo >>> 8) & 0xff)]! ^ t[1280 + ((lo >>> 16) & 0xff)]! ^ t[1024 + (lo >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^ t[512 + bytes[i + 5]!]! ^ t[256 + bytes[i + 6]!]! ^ t[bytes[i + 7]!]!
    i += 8
  }
  while (i < end) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}
