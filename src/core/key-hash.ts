/**
 * Key hashing: pure-JS xxh32 and the slabcache key identity hash `(tenantId, keyBytes) → u32`.
 * Thread: any (pure, L1): the main thread hashes every request key once; shard workers and the
 * snapshot/restore code rehash keys with the same function.
 * Owns: the hash function, its seeds and byte order, and how a hash picks a shard and a bucket.
 * These are part of the on-disk and on-wire contract (snapshots, peer links): changing any
 * constant here changes every stored hash. The TEST VECTORS below pin them, and the test checks
 * this file against xxhash-wasm's `h32Raw`, the reference implementation. Also owns an 8-byte
 * per-thread scratch (`stripeState`) that keeps the hash free of boxed numbers.
 * Invariant: no function here allocates; each returns an unsigned 32-bit integer.
 */

// ── xxh32 primes (the xxHash specification), as signed int32 for Math.imul ────────────
const PRIME32_1 = 0x9E3779B1 | 0
const PRIME32_2 = 0x85EBCA77 | 0
const PRIME32_3 = 0xC2B2AE3D | 0
const PRIME32_4 = 0x27D4EB2F | 0
const PRIME32_5 = 0x165667B1 | 0

/**
 * Seed of the key identity hash (ASCII 'SLAB'). Per-tenant seeds derive from it, see `keySeed`.
 * Part of the on-disk/on-wire contract.
 */
export const KEY_HASH_SEED = 0x534C4142

/**
 * Seed for cluster placement (ASCII 'RING'): ring positions are xxh32 with this seed, so which
 * node owns a key and which shard holds it inside that node come from unrelated hash values.
 * With one seed they would be correlated: a node owns arcs of the ring, an arc is a range of
 * hash values sharing their high bits, so each arc would land in one shard and shard load would
 * follow arc lengths instead of being even. Part of the on-wire contract.
 */
export const RING_HASH_SEED = 0x52494E47

/** Multiplier that spreads tenant ids over the seed space (the xxh32 PRIME32_1, 2^32/φ). */
const TENANT_SEED_MULTIPLIER = 0x9E3779B1

/** 2^32: the size of the hash space; `shardOf` scales a hash down from it. */
const HASH_SPACE = 4294967296

/*
 * TEST VECTORS (also asserted in test/core/key-hash.ts; reference: xxhash-wasm 1.1
 * `h32Raw(keyBytes, keySeed(tenant))`). Keys are the bytes shown (ASCII); `0x00..0x63` is the
 * 100 bytes 0, 1, 2, …, 99.
 *
 *   tenant  key (length)                          keySeed      keyHash      shardOf(·, 4)
 *   ------  ------------------------------------  ----------   ----------   -------------
 *      0    "" (0)                                0x534C4142   0xD7A037BA   3
 *      0    "a" (1)                               0x534C4142   0x42453218   1
 *      0    "key" (3)                             0x534C4142   0x967FA234   2
 *      0    "user:1000" (9)                       0x534C4142   0x0A3FCF44   0
 *      0    "0123456789abcdef" (16)               0x534C4142   0xEE65B744   3
 *      1    "0123456789abcdef" (16)               0xF183BAF3   0xDE940B4D   3
 *      0    0x00..0x63 (100)                      0x534C4142   0xCB6F0AFB   3
 *      7    "" (0)                                0xA6D09519   0xDC6E005B   3
 *   1023    "user:1000" (9)                       0x92FB8B91   0x4D9FAC63   1
 *     42    "session:9f8e7d6c5b4a3928" (24)       0x4866384C   0x0557E4D5   0
 *
 * Plain xxh32 anchors (seed 0, from the xxHash reference): "" → 0x02CC5D05, "abc" → 0x32D153FF.
 */

/**
 * Passes values between `xxh32` and `consumeStripes` without boxing (see `xxh32`):
 * [STRIPE_SEED] the seed going in, [STRIPE_ACC] the merged accumulator coming out. Written and
 * read within one synchronous call, so no caller ever sees it; each thread has its own.
 */
const stripeState = new Int32Array(2)
const STRIPE_SEED = 0
const STRIPE_ACC = 1

/**
 * xxh32 of `bytes[offset, offset + length)` with `seed` (XXH32 from the xxHash specification,
 * little-endian lane reads). Creates no objects.
 *
 * Shape, chosen by measurement (5M hashes in a hash → shardOf → bucketOf loop, this machine):
 * - Lanes are assembled byte by byte. A cached Uint32Array over `bytes.buffer` is faster for
 *   long keys that happen to be 4-byte aligned, but was slower at 16 bytes (74 against 41 ns),
 *   allocates a view for every new buffer (each socket read brings one), needs a little-endian
 *   host, and keys parsed from socket buffers are aligned one time in four. Long keys go to
 *   wasm instead (`shard/key-hasher.ts`).
 * - This function stays under V8's inlining limit (460 bytes of bytecode) so that it inlines
 *   into its caller; the 16-byte stripe loop lives in `consumeStripes`, which is too big to
 *   inline. A u32 at or above 2^30 that crosses a non-inlined call (argument or return value)
 *   is boxed in a HeapNumber — Smis are 31-bit under pointer compression — so the seed and the
 *   accumulator cross through `stripeState`, and only small integers cross as arguments.
 *   Before this split: 84 scavenges per 5M hashes and 33 ns for a 9-byte key, 37 ns for 16
 *   bytes; after: no scavenge, 18.5 ns and 31 ns.
 *
 * @param bytes the buffer holding the input
 * @param offset first byte of the input; caller guarantees `0 ≤ offset`
 * @param length input length in bytes; caller guarantees `offset + length ≤ bytes.length`
 * @param seed an integer; only its low 32 bits are used
 * @returns the hash as an unsigned 32-bit integer
 */
export function xxh32 (bytes: Uint8Array, offset: number, length: number, seed: number): number {
  const end = offset + length
  let p = offset
  let acc: number
  if (length >= 16) {
    stripeState[STRIPE_SEED] = seed
    p = consumeStripes(bytes, p, end - 16)
    acc = stripeState[STRIPE_ACC]
  } else {
    acc = (seed + PRIME32_5) | 0
  }
  acc = (acc + length) | 0
  while (p <= end - 4) {
    const lane = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24)
    acc = (acc + Math.imul(lane, PRIME32_3)) | 0
    acc = Math.imul((acc << 17) | (acc >>> 15), PRIME32_4)
    p += 4
  }
  while (p < end) {
    acc = (acc + Math.imul(bytes[p], PRIME32_5)) | 0
    acc = Math.imul((acc << 11) | (acc >>> 21), PRIME32_1)
    p++
  }
  // Avalanche.
  acc ^= acc >>> 15
  acc = Math.imul(acc, PRIME32_2)
  acc ^= acc >>> 13
  acc = Math.imul(acc, PRIME32_3)
  acc ^= acc >>> 16
  return acc >>> 0
}

/**
 * The xxh32 stripe loop: four accumulators over 16-byte stripes from `p` while `p ≤ lastStripe`
 * (so at least one stripe), seeded from `stripeState[STRIPE_SEED]`; stores the merged
 * accumulator in `stripeState[STRIPE_ACC]`.
 * @returns the position after the last whole stripe (the tail, < 16 bytes, is the caller's)
 */
function consumeStripes (bytes: Uint8Array, p: number, lastStripe: number): number {
  const seed = stripeState[STRIPE_SEED]
  let v1 = (seed + PRIME32_1 + PRIME32_2) | 0
  let v2 = (seed + PRIME32_2) | 0
  let v3 = seed
  let v4 = (seed - PRIME32_1) | 0
  do {
    let lane = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24)
    v1 = (v1 + Math.imul(lane, PRIME32_2)) | 0
    v1 = Math.imul((v1 << 13) | (v1 >>> 19), PRIME32_1)
    lane = bytes[p + 4] | (bytes[p + 5] << 8) | (bytes[p + 6] << 16) | (bytes[p + 7] << 24)
    v2 = (v2 + Math.imul(lane, PRIME32_2)) | 0
    v2 = Math.imul((v2 << 13) | (v2 >>> 19), PRIME32_1)
    lane = bytes[p + 8] | (bytes[p + 9] << 8) | (bytes[p + 10] << 16) | (bytes[p + 11] << 24)
    v3 = (v3 + Math.imul(lane, PRIME32_2)) | 0
    v3 = Math.imul((v3 << 13) | (v3 >>> 19), PRIME32_1)
    lane = bytes[p + 12] | (bytes[p + 13] << 8) | (bytes[p + 14] << 16) | (bytes[p + 15] << 24)
    v4 = (v4 + Math.imul(lane, PRIME32_2)) | 0
    v4 = Math.imul((v4 << 13) | (v4 >>> 19), PRIME32_1)
    p += 16
  } while (p <= lastStripe)
  // The Int32Array store wraps the sum modulo 2^32.
  stripeState[STRIPE_ACC] = ((v1 << 1) | (v1 >>> 31)) + ((v2 << 7) | (v2 >>> 25)) +
    ((v3 << 12) | (v3 >>> 20)) + ((v4 << 18) | (v4 >>> 14))
  return p
}

/**
 * The per-tenant seed: `(KEY_HASH_SEED + Math.imul(tenantId, 0x9E3779B1)) >>> 0`.
 * The tenant id enters the hash through the seed, so hashing `(tenant, key)` needs no
 * concatenation and no allocation: the key bytes are hashed where they lie. Distinct tenant ids
 * below 2^32 give distinct seeds (the multiplier is odd, hence invertible mod 2^32), so the
 * same key under two tenants hashes independently. Allocation-free.
 * @param tenantId the tenant id (an integer; only its low 32 bits are used)
 * @returns the xxh32 seed as an unsigned 32-bit integer
 */
export function keySeed (tenantId: number): number {
  return (KEY_HASH_SEED + Math.imul(tenantId, TENANT_SEED_MULTIPLIER)) >>> 0
}

/**
 * The key identity hash: xxh32 over the key bytes with `keySeed(tenantId)`. Computed once per
 * request; the shard (`shardOf`) and the bucket inside it (`bucketOf`) both come from it.
 * Allocation-free. Same preconditions as `xxh32`.
 * @returns the hash as an unsigned 32-bit integer
 */
export function keyHash (tenantId: number, bytes: Uint8Array, offset: number, length: number): number {
  return xxh32(bytes, offset, length, keySeed(tenantId))
}

/**
 * The shard that owns a key: multiply-shift on the HIGH bits, `⌊hash · shardCount / 2^32⌋`.
 * Exact in doubles: `hash · shardCount < 2^38` for shardCount ≤ 64, and dividing by 2^32 is
 * exact. Not `hash % shardCount`: for a power-of-two shard count that is the low bits, which
 * `bucketOf` also uses, so shard s would only ever use the buckets ≡ s (mod shardCount) —
 * a 4-shard cache would fill a quarter of each index and chain four times deeper. It also
 * avoids an integer division. Allocation-free.
 * @param hash a u32 from `keyHash`
 * @param shardCount integer from 1 to 64 (validated by config; not checked here, hot path)
 * @returns the shard index, `0 ≤ result < shardCount`
 */
export function shardOf (hash: number, shardCount: number): number {
  return Math.floor(hash * shardCount / HASH_SPACE)
}

/**
 * The bucket of a key in its shard's hash index: the LOW bits, `hash & bucketMask`. These are
 * independent of the high bits that chose the shard (see `shardOf`). Allocation-free.
 * @param hash a u32 from `keyHash`
 * @param bucketMask `bucketCount − 1` with bucketCount a power of two ≤ 2^31
 * @returns the bucket index, `0 ≤ result ≤ bucketMask`
 */
export function bucketOf (hash: number, bucketMask: number): number {
  return (hash & bucketMask) >>> 0
}
