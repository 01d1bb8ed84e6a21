import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { degradedRuleOf } from '@opsreview/review/degraded'
import { reviewConfigSpec } from './config.ts'

const required = { OPSREVIEW_READ_TOKENS: 'r', OPSREVIEW_WRITE_TOKENS: 'w' }

describe('review configuration: time zone and degraded rule', () => {
  it('defaults to UTC and the latency rule', () => {
    const c = readConfig(reviewConfigSpec, required)
    if (!c.ok) throw new Error(c.errors.join())
    expect(c.value.OPSREVIEW_TIMEZONE).toBe('UTC')
    expect(degradedRuleOf(c.value)).toEqual({ labels: [{ name: 'slo', value: 'latency' }], alertnames: /Latency|Slow|ResponseTime/ })
  })

  it('takes an IANA zone, label pairs, an expression or none', () => {
    const c = readConfig(reviewConfigSpec, { ...required, OPSREVIEW_TIMEZONE: 'Europe/Berlin', OPSREVIEW_DEGRADED_LABELS: 'impact=degraded,slo=latency', OPSREVIEW_DEGRADED_ALERTNAMES: 'none' })
    if (!c.ok) throw new Error(c.errors.join())
    expect(c.value.OPSREVIEW_TIMEZONE).toBe('Europe/Berlin')
    expect(degradedRuleOf(c.value)).toEqual({ labels: [{ name: 'impact', value: 'degraded' }, { name: 'slo', value: 'latency' }], alertnames: null })
  })

  it('lists every bad value at once', () => {
    const c = readConfig(reviewConfigSpec, { ...required, OPSREVIEW_TIMEZONE: 'Europe/Atlantis', OPSREVIEW_DEGRADED_LABELS: 'slo', OPSREVIEW_DEGRADED_ALERTNAMES: '(' })
    expect(c.ok).toBe(false)
    if (c.ok) return
    expect(c.errors.map((e) => e.split(' ')[0])).toEqual(['OPSREVIEW_TIMEZONE', 'OPSREVIEW_DEGRADED_LABELS', 'OPSREVIEW_DEGRADED_ALERTNAMES'])
  })

  it("refuses a decision wait longer than Node's timers wait (which would answer at once)", () => {
    const c = readConfig(reviewConfigSpec, { ...required, OPSREVIEW_WAIT_TIMEOUT: '30d' })
    expect(c.ok ? [] : c.errors).toEqual([expect.stringMatching(/^OPSREVIEW_WAIT_TIMEOUT must be at most 2147483647 ms, got 2592000000 ms/)])
  })
})
