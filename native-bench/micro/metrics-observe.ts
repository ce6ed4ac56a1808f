/**
 * Question: what does one request-latency observation cost on the hot path — slabcache's own
 * fixed-bucket Float64Array histogram (LatencyHistogram.observe through Metrics.observeRequest)
 * against a prom-client Histogram child pre-bound to its protocol label (`labels('http')`)?
 * Decision it informs: Metrics.observeRequest (src/server/metrics.ts) uses the Float64Array
 * histogram, exposed to prom-client through its get(); a bound prom-client child still builds a
 * label object and a hash string per observation. Also shows the two performance.now() calls
 * every timed request adds. `.gc('inner')` on the prom-client case because it allocates.
 * Run `npm run build`, then
 * `node --import ./native-bench/ts-loader.mjs native-bench/micro/metrics-observe.ts`.
 */
import { bench, do_not_optimize, run, summary } from 'mitata'
import { performance } from 'node:perf_hooks'
import { Histogram, Registry } from 'prom-client'
import { LATENCY_BUCKETS_SECONDS, LatencyHistogram } from '../../dist/server/latency-histogram.js'

/** Durations cycled through (ms): mostly inline-command latencies, a few slow ones. */
const DURATIONS_MS = [0.004, 0.012, 0.03, 0.008, 0.2, 0.015, 1.5, 0.02]
let next = 0
function duration (): number {
  next = (next + 1) & (DURATIONS_MS.length - 1)
  return DURATIONS_MS[next]!
}

const own = new LatencyHistogram('own_seconds', 'own')
const promHistogram = new Histogram({ name: 'prom_seconds', help: 'prom', labelNames: ['protocol'], buckets: [...LATENCY_BUCKETS_SECONDS], registers: [new Registry()] })
const promChild = promHistogram.labels('http')

summary(() => {
  bench('own Float64Array histogram observe', function * () {
    yield { [0]: duration, bench (ms: number) { own.observe(0, ms) } }
  })
  bench('prom-client Histogram child .observe', function * () {
    yield { [0]: duration, bench (ms: number) { promChild.observe(ms / 1000) } }
  }).gc('inner')
  bench('prom-client Histogram .observe({ protocol }, v)', function * () {
    yield { [0]: duration, bench (ms: number) { promHistogram.observe({ protocol: 'http' }, ms / 1000) } }
  }).gc('inner')
})
bench('2 × performance.now() (timing one request)', () => {
  const start = performance.now()
  do_not_optimize(performance.now() - start)
})

await run()
do_not_optimize(own)

/* Output on the shared 2-core build machine (load average ≈ 15 from other jobs: absolute numbers
 * are inflated and noisy; the ratio is the answer). prom-client allocates ~110–150 B per
 * observation, the own histogram none.
 * clk: ~0.76 GHz
 * cpu: Intel(R) Xeon(R) Processor
 * runtime: node 20.20.2 (x64-linux)
 *
 * benchmark                                      avg (min … max) p75 / p99    (min … top 1%)
 * -------------------------------------------------------------- -------------------------------
 * own Float64Array histogram observe               17.51 ns/iter   6.52 ns █
 *                                           (3.78 ns … 11.74 µs)  22.68 ns █
 *                                        (  0.10  b … 231.30  b)   0.25  b █▂▄▇▅▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁
 *
 * prom-client Histogram child .observe              6.09 µs/iter   7.85 µs █
 *                                         (817.71 ns … 21.39 µs)  17.06 µs █▂  ▇▂ ▂     ▂
 *                                        ( 24.96  b … 411.59  b) 110.85  b ██▆▆██▆█▆▆▆▁▁█▁▁▆▁▁▁▆
 *
 * prom-client Histogram .observe({ protocol }, v)   4.93 µs/iter   6.66 µs       ▂   █    ▂ █ ▂
 *                                          (883.61 ns … 7.91 µs)   7.69 µs       █ ▅▅█▅ ▅▅█ █ █
 *                                        (  0.32  b … 311.08  b) 152.95  b ▇▇▁▇▇▁█▇████▁███▇█▇█▇
 *
 * summary
 *   own Float64Array histogram observe
 *    281.45x faster than prom-client Histogram .observe({ protocol }, v)
 *    347.99x faster than prom-client Histogram child .observe
 *
 * -------------------------------------------------------------- -------------------------------
 * 2 × performance.now() (timing one request)      384.76 ns/iter 197.88 ns █
 *                                          (117.42 ns … 3.15 µs)   2.52 µs █
 *                                        ( 48.11  b … 271.88  b)  48.81  b █▇▁▁▁▁▁▁▂▂▁▁▁▁▁▁▂▂▁▁▁
 */
