import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { BucketHistogram } from './metrics-histogram.js'

describe('BucketHistogram', () => {
  it('writes the exposition a prom-client Histogram writes for the same observations', async () => {
    const buckets = [0.001, 0.01, 0.1, 1]
    const observations: [Record<string, string>, number][] = [
      [{ queue: 'default', task: 'email' }, 0.0004],
      [{ queue: 'default', task: 'email' }, 0.01],
      [{ queue: 'default', task: 'email' }, 0.5],
      [{ queue: 'default', task: 'report' }, 7],
      [{ queue: 'bulk', task: 'email' }, 0.05],
    ]
    const theirs = new Registry()
    const reference = new Histogram({ name: 'run_seconds', help: 'Run time', labelNames: ['queue', 'task'], buckets, registers: [theirs] })
    const ours = new Registry()
    const histogram = new BucketHistogram('run_seconds', 'Run time', buckets)
    ours.registerMetric(histogram.metric())
    for (const [labels, value] of observations) {
      reference.observe(labels, value)
      histogram.observe(labels, value)
    }
    expect(await ours.metrics()).toBe(await theirs.metrics())
  })
})
