import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { indexerConfigSpec } from './config.ts'

describe('indexer config', () => {
  it('has bounded retries and a stall detector by default', () => {
    const r = readConfig(indexerConfigSpec, {})
    expect(r.ok && r.value).toMatchObject({
      OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS: 10, OPSREVIEW_INDEXER_UNAVAILABLE_RETRY: 300_000, OPSREVIEW_INDEXER_MIN_BACKOFF: 200, OPSREVIEW_INDEXER_MAX_BACKOFF: 10_000,
      OPSREVIEW_INDEXER_RETRY_LOG_INTERVAL: 30_000, OPSREVIEW_STALL_AFTER: 60_000, OPSREVIEW_CONSUMER_HEALTH_INTERVAL: 5_000,
    })
  })

  it('refuses values that would spin a timer, stall at once or never give up', () => {
    const r = readConfig(indexerConfigSpec, { OPSREVIEW_STALL_AFTER: '0', OPSREVIEW_CONSUMER_HEALTH_INTERVAL: '10ms', OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS: '0', OPSREVIEW_INDEXER_UNAVAILABLE_RETRY: '2d' })
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.errors).toHaveLength(4)
      expect(r.errors.join('\n')).toMatch(/OPSREVIEW_INDEXER_UNAVAILABLE_RETRY must be at most 86400000 ms/)
      expect(r.errors.join('\n')).toMatch(/OPSREVIEW_STALL_AFTER must be at least 1000 ms, got 0 ms/)
      expect(r.errors.join('\n')).toMatch(/OPSREVIEW_CONSUMER_HEALTH_INTERVAL must be at least 100 ms/)
      expect(r.errors.join('\n')).toMatch(/OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS must be >= 1/)
    }
  })

  it("refuses a backoff, health or retention interval longer than Node's timers wait (which then fire every millisecond)", () => {
    const r = readConfig(indexerConfigSpec, { OPSREVIEW_INDEXER_MIN_BACKOFF: '25d', OPSREVIEW_INDEXER_MAX_BACKOFF: '30d', OPSREVIEW_CONSUMER_HEALTH_INTERVAL: '25d', OPSREVIEW_RETENTION_INTERVAL: '30d' })
    expect(r.ok ? [] : r.errors).toEqual(['OPSREVIEW_INDEXER_MIN_BACKOFF', 'OPSREVIEW_INDEXER_MAX_BACKOFF', 'OPSREVIEW_CONSUMER_HEALTH_INTERVAL', 'OPSREVIEW_RETENTION_INTERVAL']
      .map((name) => expect.stringMatching(new RegExp(`^${name} must be at most 2147483647 ms`))))
    const ok = readConfig(indexerConfigSpec, { OPSREVIEW_INDEXER_MAX_BACKOFF: '24d', OPSREVIEW_RETENTION_INTERVAL: '24d' })
    expect(ok.ok && [ok.value.OPSREVIEW_INDEXER_MAX_BACKOFF, ok.value.OPSREVIEW_RETENTION_INTERVAL]).toEqual([24 * 86_400_000, 24 * 86_400_000])
  })

  it("refuses a Kafka fetch size past what Kafka's fetch request carries (a 32-bit signed integer)", () => {
    const r = readConfig(indexerConfigSpec, { OPSREVIEW_INDEXER_FETCH_BYTES: '2048mb', OPSREVIEW_INDEXER_FETCH_BYTES_PER_PARTITION: '4096mb' })
    expect(r.ok ? [] : r.errors).toEqual(['OPSREVIEW_INDEXER_FETCH_BYTES', 'OPSREVIEW_INDEXER_FETCH_BYTES_PER_PARTITION']
      .map((name) => expect.stringMatching(new RegExp(`^${name} must be at most 2147483647 bytes, got "\\d+mb"`))))
    const ok = readConfig(indexerConfigSpec, { OPSREVIEW_INDEXER_FETCH_BYTES: '2147483647', OPSREVIEW_INDEXER_FETCH_BYTES_PER_PARTITION: '2047mb' })
    expect(ok.ok && [ok.value.OPSREVIEW_INDEXER_FETCH_BYTES, ok.value.OPSREVIEW_INDEXER_FETCH_BYTES_PER_PARTITION]).toEqual([2 ** 31 - 1, 2047 * 1024 * 1024])
  })

  it('takes an Elasticsearch time value or -1 as the alert indices\' refresh interval, and refuses anything else at start', () => {
    for (const good of ['250ms', '1s', '30s', '1m', '-1', ' 5s ']) {
      const r = readConfig(indexerConfigSpec, { OPSREVIEW_ES_REFRESH_INTERVAL: good })
      expect(r.ok && r.value.OPSREVIEW_ES_REFRESH_INTERVAL).toBe(good.trim())
    }
    const d = readConfig(indexerConfigSpec, {})
    expect(d.ok && d.value.OPSREVIEW_ES_REFRESH_INTERVAL).toBe('1s')
    for (const bad of ['1', '1 s', 'fast', '0s', '-2', '1.5s', '1sec']) {
      const r = readConfig(indexerConfigSpec, { OPSREVIEW_ES_REFRESH_INTERVAL: bad })
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.errors.join('\n')).toContain(`OPSREVIEW_ES_REFRESH_INTERVAL must be an Elasticsearch time value like 250ms, 1s or 30s, or -1 (no periodic refresh), got ${JSON.stringify(bad)}`)
    }
  })
})
