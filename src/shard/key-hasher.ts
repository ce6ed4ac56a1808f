/**
 * Key hasher: the one object that turns `(tenantId, keyBytes)` into the key identity hash.
 * Thread: main thread (every request key) and shard workers (rehash on restore/repair); each
 * thread instantiates its own xxhash-wasm module, once, through `createKeyHasher()`.
 * Owns: the choice between the pure-JS xxh32 (short keys) and xxhash-wasm `h32Raw` (long keys).
 * Invariant: both paths return exactly `keyHash(tenantId, bytes, offset, length)` from
 * `core/key-hash.ts` — the test checks it on both sides of WASM_MIN_KEY_BYTES — so the choice is
 * a speed decision only, never part of the on-disk/on-wire contract.
 */
import xxhash from 'xxhash-wasm'
import { keyHash, keySeed } from '../core/key-hash.js'

/**
 * Keys of at least this many bytes are hashed by xxhash-wasm; shorter keys by the pure-JS xxh32.
 *
 * Measured on this machine (Node 20.20, x64 Xeon at ~1.5 GHz, 2 vCPUs shared with other jobs),
 * keys at offsets 0..21 (all alignments) in an 8 KiB buffer, ns per hash, best of 7 rounds of
 * 200,000 in a tight loop (3 runs agreed within ±5 %; rechecked after xxh32's stripe loop was
 * split out: same crossing):
 *
 *   key bytes             16    64   128   176   192   200   208   216   224   256   512
 *   pure JS xxh32         21    54   101   133   141   151   155   162   164   190   369
 *   wasm h32Raw(subarray) 123  128   136   149   151   153   154   158   157   163   204
 *
 * native-bench/micro/hash-16b-key.ts (mitata, noisier on this shared machine: ±20 % near the
 * crossing) shows the same order at 16/64/256 bytes and the crossing between 192 and 256.
 * wasm pays ~120 ns of fixed cost (the subarray view alone is ~80 ns in Node 20, then the
 * JS→wasm call and the copy into wasm memory), then ~0.16 ns/byte against JS's ~0.7 ns/byte.
 * The curves cross at 200–216 bytes: 208. Typical keys (10–64 bytes) never touch wasm, and
 * near the threshold the two differ by under 5 %.
 */
export const WASM_MIN_KEY_BYTES = 208

/** Hashes keys; see `createKeyHasher`. */
export interface KeyHasher {
  /**
   * The key identity hash, equal to `keyHash(tenantId, bytes, offset, length)`.
   * Allocates nothing for keys shorter than WASM_MIN_KEY_BYTES; longer keys allocate one
   * `subarray` view (xxhash-wasm's `h32Raw` takes a whole Uint8Array). As for any function
   * returning a u32, V8 boxes a result ≥ 2^30 if this call is not inlined into its caller:
   * keep the call site monomorphic (one hasher object per thread).
   * @param tenantId the tenant id
   * @param bytes buffer holding the key; caller guarantees `offset + length ≤ bytes.length`
   * @param offset first key byte
   * @param length key length in bytes
   * @returns unsigned 32-bit hash
   */
  hash (tenantId: number, bytes: Uint8Array, offset: number, length: number): number
}

type XXHashApi = Awaited<ReturnType<typeof xxhash>>

/** One wasm instance per thread: module state is per thread, and instantiation costs ~ms. */
let wasmApi: Promise<XXHashApi> | undefined

/**
 * Creates the key hasher for this thread. The first call instantiates xxhash-wasm; later calls
 * in the same thread share that instance.
 * @returns a hasher whose `hash` agrees with `keyHash` for every input
 */
export async function createKeyHasher (): Promise<KeyHasher> {
  wasmApi ??= xxhash()
  const { h32Raw } = await wasmApi
  return {
    hash (tenantId: number, bytes: Uint8Array, offset: number, length: number): number {
      if (length < WASM_MIN_KEY_BYTES) return keyHash(tenantId, bytes, offset, length)
      // h32Raw copies its argument into wasm memory; the view is the only allocation. The seed
      // is a u32 above 2^31 for many tenants: wasm's i32 parameter takes it modulo 2^32
      // (ToInt32), which is the same seed, and h32Raw returns the result unsigned.
      return h32Raw(bytes.subarray(offset, offset + length), keySeed(tenantId))
    }
  }
}
