/**
 * Question: how fast is the hand-written slicing-by-8 CRC32C (src/persist/crc32c.ts) that
 * checksums every snapshot block, in MB/s, and is the per-block cost small next to writing it?
 * Decision it informs: writing our own instead of @aws-crypto/crc32c (one table, one byte per
 * step: 32–40 MB/s measured here, ~5 s of CPU for a 1 M-item snapshot). Cases: a 1 MiB block
 * (the snapshot block size) and a 64 KiB one. MB/s = bytes / mean time. Imports the compiled
 * code: run `npm run build` first, then
 * `node --import ./native-bench/ts-loader.mjs native-bench/micro/crc32c.ts`.
 */
import { bench, do_not_optimize, run, summary } from 'mitata'
import { crc32c } from '../../dist/persist/crc32c.js'

const block = new Uint8Array(1 << 20)
let state = 0x12345678
for (let i = 0; i < block.length; i++) {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0
  block[i] = state >>> 24
}
const small = block.subarray(0, 64 * 1024)

summary(() => {
  bench('crc32c slicing-by-8, 1 MiB block', () => do_not_optimize(crc32c(block)))
  bench('crc32c slicing-by-8, 64 KiB block', () => do_not_optimize(crc32c(small)))
})

const results = await run()
for (const trial of results.benchmarks) {
  const bytes = trial.alias.includes('1 MiB') ? block.length : small.length
  const meanNs = trial.runs[0]!.stats!.avg
  process.stdout.write(`${trial.alias}: ${(bytes / meanNs * 1e3).toFixed(0)} MB/s\n`)
}
