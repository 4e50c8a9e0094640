import type { Metric } from 'prom-client'

type Labels = Record<string, string>

interface Series {
  labels: Labels
  /** Observations per bucket, not cumulative; the last slot counts those above every bound. */
  counts: number[]
  sum: number
  count: number
}

/**
 * A Prometheus histogram kept in plain numbers, so observations made before prom-client is loaded
 * (it loads with the first scrape) are not lost. `metric()` gives prom-client an object to register
 * that reads the same exposition a prom-client Histogram would write: cumulative `_bucket` lines with
 * `le`, `+Inf`, then `_sum` and `_count`, per label set.
 */
export class BucketHistogram {
  readonly #series = new Map<string, Series>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = Object.values(labels).join('\u0000')
    let series = this.#series.get(key)
    if (series === undefined) {
      series = { labels, counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 }
      this.#series.set(key, series)
    }
    let slot = this.buckets.findIndex((bound) => value <= bound)
    if (slot === -1) slot = this.buckets.length
    series.counts[slot] = (series.counts[slot] as number) + 1
    series.sum += value
    series.count++
  }

  /** What prom-client's Registry reads at scrape time (`registerMetric`). */
  metric(): Metric {
    const own = { name: this.name, help: this.help, type: 'histogram' as const, aggregator: 'sum' as const }
    return { ...own, get: async () => ({ ...own, values: this.#values() }) } as unknown as Metric
  }

  #values(): { labels: Record<string, string | number>; value: number; metricName: string }[] {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = []
    for (const s of this.#series.values()) {
      let cumulative = 0
      this.buckets.forEach((bound, i) => {
        cumulative += s.counts[i] as number
        values.push({ labels: { le: bound, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` })
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` })
    }
    return values
  }
}
