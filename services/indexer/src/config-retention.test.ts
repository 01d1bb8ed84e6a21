import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { indexerConfigSpec } from './config.ts'

describe('indexer config: retention', () => {
  it('keeps 13 alert months and 25 months of incidents and problems, and runs hourly, by default', () => {
    const r = readConfig(indexerConfigSpec, {})
    expect(r.ok && r.value).toMatchObject({
      OPSREVIEW_ALERTS_RETENTION_MONTHS: 13, OPSREVIEW_INCIDENTS_RETENTION_MONTHS: 25, OPSREVIEW_PROBLEMS_RETENTION_MONTHS: 25, OPSREVIEW_RETENTION_INTERVAL: 3_600_000,
    })
  })

  it('takes 0 as off for the interval', () => {
    const r = readConfig(indexerConfigSpec, { OPSREVIEW_RETENTION_INTERVAL: '0', OPSREVIEW_ALERTS_RETENTION_MONTHS: '1' })
    expect(r.ok && [r.value.OPSREVIEW_RETENTION_INTERVAL, r.value.OPSREVIEW_ALERTS_RETENTION_MONTHS]).toEqual([0, 1])
  })

  it('lists every bad retention value at once', () => {
    const r = readConfig(indexerConfigSpec, {
      OPSREVIEW_ALERTS_RETENTION_MONTHS: '0', OPSREVIEW_INCIDENTS_RETENTION_MONTHS: '2.5', OPSREVIEW_PROBLEMS_RETENTION_MONTHS: 'two', OPSREVIEW_RETENTION_INTERVAL: '5s',
    })
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.errors).toHaveLength(4)
      const all = r.errors.join('\n')
      expect(all).toMatch(/OPSREVIEW_ALERTS_RETENTION_MONTHS must be >= 1, got 0/)
      expect(all).toMatch(/OPSREVIEW_INCIDENTS_RETENTION_MONTHS must be an integer, got "2.5"/)
      expect(all).toMatch(/OPSREVIEW_PROBLEMS_RETENTION_MONTHS must be an integer, got "two"/)
      expect(all).toMatch(/OPSREVIEW_RETENTION_INTERVAL must be 0 \(off\) or at least 60000 ms, got 5000 ms/)
    }
  })
})
