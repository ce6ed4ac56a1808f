/**
 * Byte sizes for humans: `parseBytes('512mb')` → 536870912 and `formatBytes(536870912)` → '512 MiB'.
 * Thread: main thread, at start-up (config loading); pure, no I/O. Owns: the unit table.
 * Invariant: every unit is binary (k = KiB = 1024) and a parsed size is always a non-negative
 * safe integer; anything else is a ConfigError that names the option, so a typo never becomes a
 * silently different cache size.
 */
import { ConfigError } from '../errors.js'

export const KIB = 1024
export const MIB = 1024 * KIB
export const GIB = 1024 * MIB

/** Suffix (lower case) → bytes per unit. `kb` means KiB here, as in memcached's `-m`. */
const UNIT_BYTES: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: KIB, kb: KIB, kib: KIB,
  m: MIB, mb: MIB, mib: MIB,
  g: GIB, gb: GIB, gib: GIB
}

/** A decimal number (`8`, `1.5`) then an optional unit; whitespace between them is allowed. */
const BYTES_PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i

/**
 * Parses a byte size: an integer number of bytes, or a string like `100b`, `64k`, `512mb`,
 * `8MiB`, `1.5gb` (case-insensitive, binary units). The result must be a whole number of bytes.
 * @param text the raw value (a JSON number, or a string from a flag, env var or file)
 * @param optionName how the caller names the option in errors, e.g. `memory (--memory)`
 * @throws ConfigError naming `optionName` for negative, fractional, unsafe or unparsable input
 */
export function parseBytes (text: string | number, optionName: string): number {
  const mustBe = 'a whole number of bytes or a size such as 100b, 64k, 512mb, 8MiB or 1gb'
  const received = typeof text === 'number' ? String(text) : JSON.stringify(text)
  let bytes: number
  if (typeof text === 'number') {
    bytes = text
  } else if (typeof text === 'string') {
    const match = BYTES_PATTERN.exec(text.trim())
    const unitBytes = match === null ? undefined : UNIT_BYTES[match[2]!.toLowerCase()]
    if (match === null || unitBytes === undefined) {
      throw new ConfigError(`${optionName} must be ${mustBe}; received ${received}`)
    }
    // Multiply the parts separately so '1.5gb' is exact: 1.5 * GIB has no rounding error, and a
    // genuinely fractional result ('1.5b', '0.3k') fails the integer check below.
    bytes = Number(match[1]) * unitBytes
  } else {
    throw new ConfigError(`${optionName} must be ${mustBe}; received ${JSON.stringify(text)}`)
  }
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new ConfigError(`${optionName} must be ${mustBe}; received ${received}`)
  }
  return bytes
}

/**
 * Formats a byte count with the largest binary unit that divides it exactly, so the text is
 * never rounded: 16777216 → '16 MiB', 4718592 → '4608 KiB', 1000 → '1000 B'.
 */
export function formatBytes (n: number): string {
  if (Number.isSafeInteger(n) && n > 0) {
    if (n % GIB === 0) return `${n / GIB} GiB`
    if (n % MIB === 0) return `${n / MIB} MiB`
    if (n % KIB === 0) return `${n / KIB} KiB`
  }
  return `${n} B`
}
