/**
 * LatencyHistogram: request durations per protocol in fixed buckets, counted in Float64Arrays
 * and exposed to a prom-client Registry as one `histogram` metric with a `protocol` label.
 * Thread: main (observe() runs on the request path of every front end; get() at scrape time).
 * Owns: the bucket counts, sums and counts of every protocol.
 * Invariant: observe() is O(buckets) with no allocation and no label hashing — a prom-client
 * Histogram child allocates a label object and a hash string per observation (measured in
 * native-bench/micro/metrics-observe.ts) — and counts[p × STRIDE + b] holds the observations
 * of protocol p in bucket b alone (not cumulative; get() accumulates).
 */
import type { Metric } from 'prom-client'

/** The front ends that report request durations; the index is the protocol's row. */
export const PROTOCOLS = ['http', 'resp', 'memcache', 'ws'] as const
export type Protocol = typeof PROTOCOLS[number]

/**
 * Upper bounds in seconds (Prometheus' unit). Inline commands take microseconds, so the
 * buckets start at 10 µs; a flush waiting on every shard can take a second.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
]
const BUCKET_COUNT = LATENCY_BUCKETS_SECONDS.length
/** Counts per protocol: one per bucket, then +Inf. */
const STRIDE = BUCKET_COUNT + 1
/** The bounds in milliseconds, so observe() compares without converting. */
const BOUNDS_MS = Float64Array.from(LATENCY_BUCKETS_SECONDS, (seconds) => seconds * 1000)
const BUCKET_LABELS = LATENCY_BUCKETS_SECONDS.map(String)

interface Sample { value: number, labels: Record<string, string | number>, metricName: string }

export class LatencyHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly #counts = new Float64Array(PROTOCOLS.length * STRIDE)
  readonly #sumsMs = new Float64Array(PROTOCOLS.length)
  readonly #totals = new Float64Array(PROTOCOLS.length)

  constructor (name: string, help: string) {
    this.name = name
    this.help = help
  }

  /** Counts one duration for protocol row `protocol` (an index into PROTOCOLS). Allocation-free. */
  observe (protocol: number, durationMs: number): void {
    let bucket = 0
    while (bucket < BUCKET_COUNT && durationMs > BOUNDS_MS[bucket]!) bucket++
    this.#counts[protocol * STRIDE + bucket]!++
    this.#sumsMs[protocol]! += durationMs
    this.#totals[protocol]!++
  }

  /** Observations of `protocol` so far (tests, stats). */
  count (protocol: Protocol): number {
    return this.#totals[PROTOCOLS.indexOf(protocol)]!
  }

  /** The prom-client metric contract (Registry calls get() at scrape time). Allocates. */
  async get (): Promise<{ name: string, help: string, type: 'histogram', aggregator: 'sum', values: Sample[] }> {
    const values: Sample[] = []
    const bucketName = `${this.name}_bucket`
    for (let p = 0; p < PROTOCOLS.length; p++) {
      const protocol = PROTOCOLS[p]!
      let cumulative = 0
      for (let b = 0; b < BUCKET_COUNT; b++) {
        cumulative += this.#counts[p * STRIDE + b]!
        values.push({ value: cumulative, labels: { protocol, le: BUCKET_LABELS[b]! }, metricName: bucketName })
      }
      values.push({ value: this.#totals[p]!, labels: { protocol, le: '+Inf' }, metricName: bucketName })
      values.push({ value: this.#sumsMs[p]! / 1000, labels: { protocol }, metricName: `${this.name}_sum` })
      values.push({ value: this.#totals[p]!, labels: { protocol }, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset (): void {
    this.#counts.fill(0)
    this.#sumsMs.fill(0)
    this.#totals.fill(0)
  }

  /** This object as the Registry's metric type: the Registry uses only name, help, type, get() and reset(). */
  asPromMetric (): Metric {
    return this as unknown as Metric
  }
}
