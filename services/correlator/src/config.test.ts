import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { correlatorConfigSpec, engineConfigOf, topicsOf } from './config.ts'

describe('correlator config', () => {
  it('has a stall time of a minute and the dead-letter topic among its topics by default', () => {
    const r = readConfig(correlatorConfigSpec, {})
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.value.OPSREVIEW_STALL_AFTER).toBe(60_000)
    expect(topicsOf(r.value).deadLetter).toBe('opsreview.correlator.dead-letter.v1')
  })

  it('takes a stall time as a duration and refuses one below its floor or nonsense, naming the variable', () => {
    const ok = readConfig(correlatorConfigSpec, { OPSREVIEW_STALL_AFTER: '2m', OPSREVIEW_CONSUMER_HEALTH_INTERVAL: '500ms' })
    expect(ok.ok && [ok.value.OPSREVIEW_STALL_AFTER, ok.value.OPSREVIEW_CONSUMER_HEALTH_INTERVAL]).toEqual([120_000, 500])
    const bad = readConfig(correlatorConfigSpec, { OPSREVIEW_STALL_AFTER: '500ms', OPSREVIEW_CONSUMER_HEALTH_INTERVAL: 'soon' })
    expect(bad.ok).toBe(false)
    if (bad.ok) return
    expect(bad.errors).toEqual([
      expect.stringMatching(/^OPSREVIEW_STALL_AFTER must be at least 1000 ms, got 500 ms/),
      expect.stringMatching(/^OPSREVIEW_CONSUMER_HEALTH_INTERVAL must be a duration/),
    ])
  })

  it('hands the engine its event-time settings', () => {
    const r = readConfig(correlatorConfigSpec, { OPSREVIEW_ALLOWED_LATENESS: '5m', OPSREVIEW_FUTURE_TOLERANCE: '0' })
    expect(r.ok && engineConfigOf(r.value)).toMatchObject({ allowedLatenessMs: 5 * 60_000, futureToleranceMs: 0 })
    const d = readConfig(correlatorConfigSpec, {})
    expect(d.ok && engineConfigOf(d.value)).toMatchObject({ allowedLatenessMs: 0, futureToleranceMs: 60_000 })
  })
})
