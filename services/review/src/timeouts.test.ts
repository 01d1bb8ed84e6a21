import { describe, expect, it } from 'vitest'
import { RESPONSE_TIME_TIMEOUT_MAX_MS } from '@opsreview/review/response-times'
import { elasticsearchTimeouts, longestReadMs, reviewServerTimeouts } from './timeouts.ts'

describe('the review\'s time limits', () => {
  it('end a read whose attempts all fail late before the socket\'s idle timeout, so its client gets a 503, not a dropped connection', () => {
    // 2 × 10 s and one back-off of at most 2 s.
    expect(longestReadMs(elasticsearchTimeouts)).toBe(22_000)
    for (const wait of [0, 10_000, 60_000]) expect(longestReadMs(elasticsearchTimeouts)).toBeLessThan(reviewServerTimeouts(wait).idleTimeoutMs)
    // The transport's default, three retries: 4 × 10 s and back-offs of 2, 4 and 4 s.
    expect(longestReadMs({ requestTimeout: 10_000, maxRetries: 3 })).toBe(50_000)
  })

  it('end the wait for Prometheus before the socket\'s idle timeout, so a silent one leaves the review with its response times unavailable, not a dropped connection', () => {
    // Read after the dataset's indices, beside the review's own reads: 10 s spare.
    for (const wait of [0, 10_000]) expect(RESPONSE_TIME_TIMEOUT_MAX_MS + 10_000).toBeLessThanOrEqual(reviewServerTimeouts(wait).idleTimeoutMs)
  })

  it('keep the socket open through a ?wait=true', () => {
    expect(reviewServerTimeouts(10_000).idleTimeoutMs).toBe(30_000)
    expect(reviewServerTimeouts(60_000).idleTimeoutMs).toBe(65_000)
  })
})
