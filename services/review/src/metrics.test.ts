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

  it('exposes each digest outcome at 0 from the start when a digest is configured, so the first failed post is an increase', async () => {
    // OpsreviewDigestFailed asks for increase(…{outcome="failed"}[1d]) > 0: born at 1, a restart's first failed post gave 0.
    const metrics = createReviewMetrics({ breakerState: () => 'closed' }, { digestPosts: true })
    const text = await metrics.registry.metrics()
    for (const outcome of ['posted', 'failed', 'skipped']) expect(text).toContain(`opsreview_review_digest_posts_total{outcome="${outcome}"} 0`)
    metrics.digest('failed')
    expect(await metrics.registry.metrics()).toContain('opsreview_review_digest_posts_total{outcome="failed"} 1')
    expect(await createReviewMetrics({ breakerState: () => 'closed' }).registry.metrics()).not.toContain('opsreview_review_digest_posts_total{')
  })
})
