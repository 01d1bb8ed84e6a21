import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { indexerConfigSpec } from './config.ts'

describe('indexer config', () => {
  it('has bounded retries and a stall detector by default', () => {
    const r = readConfig(indexerConfigSpec, {})
    expect(r.ok && r.value).toMatchObject({
      OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS: 10, OPSREVIEW_INDEXER_MIN_BACKOFF: 200, OPSREVIEW_INDEXER_MAX_BACKOFF: 10_000,
      OPSREVIEW_INDEXER_RETRY_LOG_INTERVAL: 30_000, OPSREVIEW_STALL_AFTER: 60_000, OPSREVIEW_CONSUMER_HEALTH_INTERVAL: 5_000,
    })
  })

  it('refuses values that would spin a timer, stall at once or never give up', () => {
    const r = readConfig(indexerConfigSpec, { OPSREVIEW_STALL_AFTER: '0', OPSREVIEW_CONSUMER_HEALTH_INTERVAL: '10ms', OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS: '0' })
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.errors).toHaveLength(3)
      expect(r.errors.join('\n')).toMatch(/OPSREVIEW_STALL_AFTER must be at least 1000 ms, got 0 ms/)
      expect(r.errors.join('\n')).toMatch(/OPSREVIEW_CONSUMER_HEALTH_INTERVAL must be at least 100 ms/)
      expect(r.errors.join('\n')).toMatch(/OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS must be >= 1/)
    }
  })
})
