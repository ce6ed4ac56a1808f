/**
 * Secret hashing: scrypt hashes in the text form the tenant file stores,
 * `scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>`, and a limiter that bounds how many
 * scrypt computations run at once. Thread: main (the scrypt work itself runs on libuv's thread
 * pool through the async `crypto.scrypt`; nothing here blocks the main thread).
 * Invariants: plaintext secrets are never stored or logged — only `hashSecret`'s output is;
 * comparisons are constant-time; at most MAX_CONCURRENT_SCRYPT computations use the thread
 * pool, and at most MAX_QUEUED_SCRYPT wait, so a flood of bad passwords cannot starve file I/O
 * or grow memory without bound.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/** Cost parameters for new hashes: N = 2^14, r = 8 → 16 MiB and a few tens of ms per hash. */
export const SCRYPT_N = 16384
export const SCRYPT_R = 8
export const SCRYPT_P = 1
const SALT_BYTES = 16
const HASH_BYTES = 32
/** Bounds accepted when reading a stored hash (a hostile file must not ask for 1 TiB of memory). */
const MAX_N = 2 ** 20
const MAX_R = 32
const MAX_P = 16
/** scrypt computations at once: half of libuv's default pool of 4, leaving room for fs and dns. */
export const MAX_CONCURRENT_SCRYPT = 2
/** Waiting computations beyond which a verification fails at once (counted as a wrong secret); a longer queue would only mean waits of seconds. */
export const MAX_QUEUED_SCRYPT = 32

/** A parsed stored hash. */
export interface SecretHash {
  readonly n: number
  readonly r: number
  readonly p: number
  readonly salt: Buffer
  readonly hash: Buffer
}

/** Parses `scrypt$N$r$p$salt$hash`; null when malformed or its parameters are out of bounds. */
export function parseSecretHash (text: string): SecretHash | null {
  const parts = text.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  if (!Number.isSafeInteger(n) || n < 2 || n > MAX_N || (n & (n - 1)) !== 0) return null
  if (!Number.isSafeInteger(r) || r < 1 || r > MAX_R || !Number.isSafeInteger(p) || p < 1 || p > MAX_P) return null
  if (!/^[A-Za-z0-9_-]+$/.test(parts[4]!) || !/^[A-Za-z0-9_-]+$/.test(parts[5]!)) return null
  const salt = Buffer.from(parts[4]!, 'base64url')
  const hash = Buffer.from(parts[5]!, 'base64url')
  if (salt.length < 16 || hash.length < 16 || hash.length > 64) return null
  return { n, r, p, salt, hash }
}

/** Counts scrypt computations in flight and queues the rest (FIFO). */
class ScryptLimiter {
  #running = 0
  readonly #queue: Array<() => void> = []

  /** Runs `task` when a slot is free; null at once if the queue is full. */
  async run<T> (task: () => Promise<T>): Promise<T | null> {
    if (this.#running >= MAX_CONCURRENT_SCRYPT) {
      if (this.#queue.length >= MAX_QUEUED_SCRYPT) return null
      await new Promise<void>((resolve) => this.#queue.push(resolve))
    } else {
      this.#running++
    }
    try {
      return await task()
    } finally {
      // Hand the slot straight to the next waiter (the count stays), or free it.
      const next = this.#queue.shift()
      if (next !== undefined) next()
      else this.#running--
    }
  }
}

const limiter = new ScryptLimiter()

function derive (secret: string, salt: Buffer, n: number, r: number, p: number, length: number): Promise<Buffer> {
  // maxmem: scrypt needs about 128·N·r bytes; Node's default cap (32 MiB) is too small for N=2^15 and up.
  const options: ScryptOptions = { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, length, options, (error, key) => { if (error !== null) reject(error); else resolve(key) })
  })
}

/** A new hash of `secret` with a random salt (async; runs on the thread pool, through the limiter's queue). */
export async function hashSecret (secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  let key: Buffer | null = null
  // Hashing is an operator action (config, admin API): wait for a slot even when the queue is full.
  while (key === null) key = await limiter.run(() => derive(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES))
  return `scrypt$${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

/**
 * Whether `secret` matches `stored` (constant-time compare). False for a malformed hash or
 * when the limiter's queue is full. Never rejects.
 */
export async function verifySecret (secret: string, stored: SecretHash): Promise<boolean> {
  try {
    const key = await limiter.run(() => derive(secret, stored.salt, stored.n, stored.r, stored.p, stored.hash.length))
    return key !== null && timingSafeEqual(key, stored.hash)
  } catch {
    return false
  }
}
