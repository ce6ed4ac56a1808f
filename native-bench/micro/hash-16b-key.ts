/**
 * Question: from which key length on is xxhash-wasm `h32Raw` faster than the pure-JS xxh32?
 * Decision it informs: WASM_MIN_KEY_BYTES in src/shard/key-hasher.ts (pure JS below it, wasm at
 * or above it). Also shows what `h32` on a string costs (encoding included), the route we avoid
 * by hashing the key bytes where they lie.
 *
 * Each case hashes a key at a varying offset (computed parameter, so alignment varies as it does
 * for keys parsed out of socket buffers) inside an 8 KiB buffer of fixed pseudo-random bytes.
 * No `.gc('inner')`: the only allocation is the wasm path's subarray view, which the real path
 * pays too, and a collection before every batch of a ~100 ns operation measured the collector
 * (it tripled the wasm numbers here). Imports the compiled code: run `npm run build` first, then
 * `node --import ./native-bench/ts-loader.mjs native-bench/micro/hash-16b-key.ts`.
 */
import { bench, do_not_optimize, run, summary } from 'mitata'
import xxhash from 'xxhash-wasm'
import { keySeed, xxh32 } from '../../dist/core/key-hash.js'
import { createKeyHasher } from '../../dist/shard/key-hasher.js'

const BUFFER_BYTES = 8192
const KEY_LENGTHS = [16, 64, 128, 192, 208, 224, 256, 512]
/** Offsets the key starts at, cycled through; mixes all four alignments. */
const OFFSETS = [0, 1, 2, 3, 5, 8, 13, 21]
const TENANT_ID = 3

const wasm = await xxhash()
const hasher = await createKeyHasher()
const seed = keySeed(TENANT_ID)

const buffer = new Uint8Array(BUFFER_BYTES)
let state = 0x12345678
for (let i = 0; i < BUFFER_BYTES; i++) {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0
  buffer[i] = state >>> 24
}

let nextOffset = 0
function offset (): number {
  nextOffset = (nextOffset + 1) & (OFFSETS.length - 1)
  return OFFSETS[nextOffset]
}

for (const length of KEY_LENGTHS) {
  // Printable key of the same length for the string API.
  const keyString = Array.from(buffer.subarray(0, length), (b) => String.fromCharCode(97 + (b % 26))).join('')
  summary(() => {
    bench(`js xxh32 ${length} B`, function * () {
      yield { [0]: offset, bench (at: number) { do_not_optimize(xxh32(buffer, at, length, seed)) } }
    })
    bench(`wasm h32Raw(subarray) ${length} B`, function * () {
      yield { [0]: offset, bench (at: number) { do_not_optimize(wasm.h32Raw(buffer.subarray(at, at + length), seed)) } }
    })
    bench(`wasm h32(string) ${length} B`, function * () {
      yield { [0]: () => keyString, bench (key: string) { do_not_optimize(wasm.h32(key, seed)) } }
    })
    bench(`keyHasher.hash ${length} B`, function * () {
      yield { [0]: offset, bench (at: number) { do_not_optimize(hasher.hash(TENANT_ID, buffer, at, length)) } }
    })
  })
}

await run()

/*
Output of one run, 2026-11-21, after xxh32's stripe loop was split out (`node --import
./native-bench/ts-loader.mjs native-bench/micro/hash-16b-key.ts`, NO_COLOR=1). The machine is a
2-vCPU VM shared with other jobs: absolute numbers vary up to 2x between runs (compare clk),
the order does not. Reading it: JS wins clearly up to 128 B, the two are level at 192–224 B,
wasm wins from 256 B (2x at 512 B); `h32` on a string beats `h32Raw` because `subarray` costs
more than `encodeInto`, but our keys are bytes and decoding them first would cost more still.
The ~12 b/iter on every row is mitata's computed-parameter plumbing, not the hash.

clk: ~1.22 GHz
cpu: Intel(R) Xeon(R) Processor
runtime: node 20.20.2 (x64-linux)

benchmark                   avg (min … max) p75 / p99    (min … top 1%)
------------------------------------------- -------------------------------
js xxh32 16 B                 36.04 ns/iter  38.00 ns  █
                     (27.43 ns … 250.30 ns)  67.07 ns  █▄▃
                    (  1.30  b … 150.58  b)  12.26  b ▇███▅▃▂▂▂▂▃▃▃▃▃▂▂▁▁▁▁

wasm h32Raw(subarray) 16 B   178.07 ns/iter 221.30 ns  ▅█
                    (127.00 ns … 342.76 ns) 301.97 ns  ██         ▂
                    ( 10.37  b … 226.17  b) 108.76  b ▄███▅▄▄▂▃▆▄▇█▄▄▃▁▁▂▂▁

wasm h32(string) 16 B        165.56 ns/iter 177.34 ns         ▂█
                     (84.59 ns … 378.54 ns) 282.81 ns         ██▃
                    (  4.32  b … 137.05  b)  16.99  b ▃▇▄▂▂▁▂▇███▂▁▁▁▁▁▁▂▂▂

keyHasher.hash 16 B           57.53 ns/iter  62.13 ns         ▃▄▃ █
                     (30.87 ns … 183.39 ns)  81.67 ns        ▆█████▅▂
                    (  7.88  b …  77.92  b)  12.32  b ▁▁▁▁▁▂▇████████▄▂▁▁▁▁

summary
  js xxh32 16 B
   1.6x faster than keyHasher.hash 16 B
   4.59x faster than wasm h32(string) 16 B
   4.94x faster than wasm h32Raw(subarray) 16 B

------------------------------------------- -------------------------------
js xxh32 64 B                130.10 ns/iter 135.25 ns            ▂█▃
                     (68.45 ns … 248.19 ns) 173.86 ns            ███
                    ( 10.11  b …  70.46  b)  10.53  b ▁▁▁▁▁▁▁▂▃▅████▄▁▁▁▁▂▁

wasm h32Raw(subarray) 64 B   274.61 ns/iter 280.59 ns     ▃█▅
                    (231.13 ns … 404.02 ns) 383.31 ns     ███▅
                    ( 14.69  b … 262.19  b) 107.32  b ▁▂▅█████▆▃▃▁▁▁▁▁▁▁▁▁▁

wasm h32(string) 64 B        196.07 ns/iter 203.55 ns     ▅▅█
                    (162.41 ns … 335.75 ns) 264.84 ns    ▃████▇▅
                    ( 11.99  b … 116.17  b)  16.76  b ▂▃▇███████▅▃▃▃▂▁▂▁▂▁▁

keyHasher.hash 64 B          141.74 ns/iter 149.57 ns               █▃
                     (68.12 ns … 257.68 ns) 176.51 ns             ▂▆██
                    (  5.84  b …  70.17  b)  10.40  b ▁▁▁▁▁▁▁▂▂▃▇██████▅▃▂▁

summary
  js xxh32 64 B
   1.09x faster than keyHasher.hash 64 B
   1.51x faster than wasm h32(string) 64 B
   2.11x faster than wasm h32Raw(subarray) 64 B

------------------------------------------- -------------------------------
js xxh32 128 B               234.70 ns/iter 241.65 ns         ▃▆█▄
                    (189.35 ns … 368.71 ns) 280.98 ns        ▃████▆
                    (  8.10  b … 112.18  b)  12.80  b ▂▁▃▄▃▄▆███████▆▃▃▃▂▂▁

wasm h32Raw(subarray) 128 B  273.20 ns/iter 285.32 ns     ▂▃▆█
                    (220.23 ns … 408.69 ns) 381.87 ns    ▆█████▃
                    ( 44.94  b … 226.16  b) 109.37  b ▄▆████████▆▄▃▂▂▃▃▂▂▁▁

wasm h32(string) 128 B       219.78 ns/iter 227.20 ns          ▆█▅
                    (135.62 ns … 330.99 ns) 303.14 ns         ▂███
                    (  4.01  b … 101.09  b)  17.10  b ▁▁▁▁▁▁▃▆█████▃▂▂▁▁▁▁▂

keyHasher.hash 128 B         242.12 ns/iter 254.81 ns               █▇
                    (121.82 ns … 387.91 ns) 301.29 ns            ▄▆███
                    (  7.01  b …  99.50  b)  12.67  b ▂▁▁▁▁▁▁▁▂▄▆█████▇▃▃▂▁

summary
  wasm h32(string) 128 B
   1.07x faster than js xxh32 128 B
   1.1x faster than keyHasher.hash 128 B
   1.24x faster than wasm h32Raw(subarray) 128 B

------------------------------------------- -------------------------------
js xxh32 192 B               298.86 ns/iter 325.22 ns              ▄█▆
                    (163.60 ns … 398.76 ns) 379.06 ns             ▆███▅
                    (  4.11  b … 100.46  b)   5.16  b ▄▇▃▁▁▁▁▃▃▄████████▃▂▂

wasm h32Raw(subarray) 192 B  297.87 ns/iter 334.16 ns             ██
                    (165.27 ns … 459.46 ns) 427.31 ns           ▅███▄
                    ( 19.75  b … 264.20  b) 101.38  b ▆█▅▃▃▃▂▄▃▇█████▅▃▂▁▁▁

wasm h32(string) 192 B       251.27 ns/iter 255.31 ns     ▆█▇
                    (219.62 ns … 387.48 ns) 319.99 ns    ▃███▆
                    (  0.57  b … 114.96  b)  16.98  b ▂▂▅██████▅▃▃▄▃▂▂▂▁▂▁▁

keyHasher.hash 192 B         301.52 ns/iter 335.47 ns                 ▄█
                    (166.11 ns … 441.64 ns) 368.38 ns             ▂▂ ▄██▃
                    (  4.11  b … 100.15  b)   5.37  b ▂▆▃▄▂▁▂▁▄▆▅████████▅▂

summary
  wasm h32(string) 192 B
   1.19x faster than wasm h32Raw(subarray) 192 B
   1.19x faster than js xxh32 192 B
   1.2x faster than keyHasher.hash 192 B

------------------------------------------- -------------------------------
js xxh32 208 B               310.14 ns/iter 323.85 ns         ▂█▇
                    (180.05 ns … 515.83 ns) 462.46 ns         ███▃
                    ( 10.02  b … 178.98  b)  10.87  b ▂▂▃▁▂▃▅█████▅▃▂▂▁▂▂▂▁

wasm h32Raw(subarray) 208 B  270.12 ns/iter 298.66 ns            █
                    (168.82 ns … 427.09 ns) 404.40 ns           ▃█
                    (  2.53  b … 238.14  b) 107.04  b ▃█▅▃▂▂▁▁▂▆██▇▃▂▁▁▁▁▁▁

wasm h32(string) 208 B       228.00 ns/iter 228.80 ns      █▂
                    (213.44 ns … 331.11 ns) 259.80 ns     ▂██
                    (  3.98  b … 117.10  b)  16.81  b ▁▃▂▃████▅▃▂▂▁▁▁▁▁▂▂▁▁

keyHasher.hash 208 B         308.16 ns/iter 309.64 ns     █
                    (273.24 ns … 450.82 ns) 402.50 ns     ██
                    ( 26.72  b … 271.02  b) 107.10  b ▁▁▁▂███▃▂▁▂▁▁▁▁▁▁▁▁▁▁

summary
  wasm h32(string) 208 B
   1.18x faster than wasm h32Raw(subarray) 208 B
   1.35x faster than keyHasher.hash 208 B
   1.36x faster than js xxh32 208 B

------------------------------------------- -------------------------------
js xxh32 224 B               298.95 ns/iter 301.56 ns      ▃█
                    (277.43 ns … 371.41 ns) 347.12 ns     ▃██▃
                    (  1.84  b … 106.99  b)   6.77  b ▁▁▂▆█████▄▃▁▁▁▁▁▁▁▁▁▁

wasm h32Raw(subarray) 224 B  302.94 ns/iter 302.91 ns    █
                    (282.66 ns … 420.54 ns) 387.69 ns   ▃█
                    (  9.33  b … 223.27  b) 103.46  b ▂▂███▅▃▁▂▁▁▁▁▁▁▁▁▁▁▁▁

wasm h32(string) 224 B       236.61 ns/iter 235.57 ns   █
                    (216.84 ns … 670.37 ns) 327.19 ns   █
                    (  9.10  b … 106.79  b)  16.90  b ▁▆██▅▂▂▂▂▁▂▁▁▁▁▁▁▁▁▁▁

keyHasher.hash 224 B         296.31 ns/iter 298.46 ns  █
                    (280.33 ns … 418.80 ns) 391.46 ns  ██▅
                    ( 20.60  b … 243.03  b) 102.81  b ▂████▃▁▁▁▁▂▁▁▁▁▁▁▁▂▁▁

summary
  wasm h32(string) 224 B
   1.25x faster than keyHasher.hash 224 B
   1.26x faster than js xxh32 224 B
   1.28x faster than wasm h32Raw(subarray) 224 B

------------------------------------------- -------------------------------
js xxh32 256 B               306.58 ns/iter 341.73 ns           ▇█
                    (212.32 ns … 461.48 ns) 446.14 ns █▂        ██
                    (  8.10  b … 141.01  b)   9.16  b ██▃▃▁▁▁▁▁▄███▄▂▂▂▂▂▂▁

wasm h32Raw(subarray) 256 B  311.15 ns/iter 320.99 ns       █
                    (252.82 ns … 464.50 ns) 424.22 ns      ▅██▄
                    ( 31.47  b … 208.18  b) 105.01  b ▁▂▂██████▇▅▃▃▁▂▂▁▁▂▁▁

wasm h32(string) 256 B       263.96 ns/iter 268.37 ns          █
                    (154.12 ns … 419.05 ns) 389.18 ns          █
                    ( 10.57  b … 125.11  b)  16.81  b ▂▂▁▁▁▁▁▂▆██▃▂▂▁▁▁▁▁▁▁

keyHasher.hash 256 B         326.92 ns/iter 332.69 ns      ▇█
                    (271.56 ns … 498.12 ns) 446.08 ns     ▄███
                    ( 75.90  b … 261.03  b) 104.97  b ▂▂▃██████▃▂▂▂▂▂▂▁▂▂▁▁

summary
  wasm h32(string) 256 B
   1.16x faster than js xxh32 256 B
   1.18x faster than wasm h32Raw(subarray) 256 B
   1.24x faster than keyHasher.hash 256 B

------------------------------------------- -------------------------------
js xxh32 512 B               806.35 ns/iter 814.54 ns  █▂
                      (770.48 ns … 1.01 µs) 927.42 ns  ██
                    (  8.11  b … 193.30  b)  10.00  b ▄██▇▆▆▅▃▂▃▃▃▂▂▂▂▃▂▂▁▁

wasm h32Raw(subarray) 512 B  376.24 ns/iter 400.88 ns      ▃  █▃
                    (237.05 ns … 987.04 ns) 593.87 ns     ▃█ ▅██▄
                    (  1.94  b … 197.01  b) 105.02  b ▃▃▃▃██▇████▇▄▂▂▂▁▁▂▂▁

wasm h32(string) 512 B       285.81 ns/iter 338.75 ns  █
                    (208.62 ns … 492.74 ns) 407.70 ns ▄█          ▂█▂
                    (  0.12  b … 168.83  b)  17.48  b ██▆▃▂▂▄▃▄▄▃▆███▄▃▃▂▁▁

keyHasher.hash 512 B         380.32 ns/iter 409.87 ns         █  ▂ ▇
                    (251.26 ns … 589.18 ns) 494.98 ns        ▂█ ▅█▂█▆
                    (104.02  b … 245.13  b) 105.47  b ▂▂▂▂▂▂▁████████▃▂▂▂▁▁

summary
  wasm h32(string) 512 B
   1.32x faster than wasm h32Raw(subarray) 512 B
   1.33x faster than keyHasher.hash 512 B
   2.82x faster than js xxh32 512 B
*/
