import { describe, expect, it } from 'vitest'
import { defaultDegradedRule, isDegraded, parseDegradedAlertnames, parseDegradedLabels } from './degraded.ts'

describe('the degraded rule', () => {
  it('picks latency alerts by label or alertname by default, and nothing else', () => {
    const r = defaultDegradedRule
    expect(isDegraded(r, { labels: { alertname: 'KubePodCrashLooping', slo: 'latency' } })).toBe(true)
    for (const alertname of ['HighLatency', 'CheckoutSlowResponses', 'ResponseTimeP99High']) expect(isDegraded(r, { labels: { alertname } }), alertname).toBe(true)
    expect(isDegraded(r, { alertname: 'ApiLatencyHigh' })).toBe(true)
    for (const labels of [{ alertname: 'InstanceDown' }, { alertname: 'latency' }, { slo: 'availability' }, {}]) expect(isDegraded(r, { labels }), JSON.stringify(labels)).toBe(false)
    expect(isDegraded(r, {})).toBe(false)
  })

  it('parses the configured labels and alertnames, naming what is wrong', () => {
    expect(parseDegradedLabels('slo=latency, kind="slow"')).toEqual({ ok: true, value: [{ name: 'slo', value: 'latency' }, { name: 'kind', value: 'slow' }] })
    expect(parseDegradedLabels('none')).toEqual({ ok: true, value: [] })
    for (const bad of ['slo', '=x', 'slo=', '1a=b', 'a-b=c']) expect(parseDegradedLabels(bad).ok, bad).toBe(false)
    expect(parseDegradedAlertnames('none')).toEqual({ ok: true, value: null })
    expect(parseDegradedAlertnames('^Slow')).toMatchObject({ ok: true })
    expect(parseDegradedAlertnames('(')).toMatchObject({ ok: false, error: expect.stringContaining('regular expression') })
    const custom = { labels: [{ name: 'impact', value: 'degraded' }], alertnames: null }
    expect(isDegraded(custom, { labels: { alertname: 'HighLatency' } })).toBe(false)
    expect(isDegraded(custom, { labels: { impact: 'degraded' } })).toBe(true)
  })
})
