import { describe, expect, it } from 'vitest'
import { createReviewMetrics } from './metrics.ts'

describe('the review metrics', () => {
  it('exposes each read of response times at 0 from the start when Prometheus is configured, so the first unavailable one is an increase', async () => {
    // increase() takes a series' first sample as its start: a counter born at 1 (the digest's one read a day,
    // failed) gave 0, and OpsreviewResponseTimesUnavailable did not fire.
    const metrics = createReviewMetrics({ breakerState: () => 'closed' }, { responseTimeReads: ['review', 'lookback', 'digest'] })
    const text = await metrics.registry.metrics()
    for (const read of ['review', 'lookback', 'digest']) {
      for (const outcome of ['ok', 'unavailable']) expect(text).toContain(`opsreview_review_response_time_reads_total{read="${read}",outcome="${outcome}"} 0`)
    }
    metrics.responseTimesRead('digest', 'unavailable')
    expect(await metrics.registry.metrics()).toContain('opsreview_review_response_time_reads_total{read="digest",outcome="unavailable"} 1')
    // None without Prometheus, as before.
    expect(await createReviewMetrics({ breakerState: () => 'closed' }).registry.metrics()).not.toContain('opsreview_review_response_time_reads_total{')
  })
})
