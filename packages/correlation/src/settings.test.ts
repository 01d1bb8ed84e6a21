import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { defaultCorrelationConfig } from './config.ts'
import { overriddenConfigOf, setOverrides, thresholdConfigOf, thresholdOverridesSpec, thresholdSpec } from './settings.ts'

const { grouping: _grouping, ...defaultThresholdConfig } = defaultCorrelationConfig
/** The defaults as the variables give them: the post-mortem's service count is named (the engine's leaves it out). */
const defaults = { ...defaultThresholdConfig, postmortem: { ...defaultThresholdConfig.postmortem, minServices: 2 } }

describe('threshold variables', () => {
  it('default to the engine defaults, every one of them', () => {
    const r = readConfig(thresholdSpec, {})
    expect(r.ok && thresholdConfigOf(r.value)).toEqual(defaults)
  })

  it('map each variable onto its field of the engine configuration', () => {
    const r = readConfig(thresholdSpec, {
      OPSREVIEW_QUIET_PERIOD: '1m', OPSREVIEW_STALENESS_PINGDOM: '1h', OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT: 'false',
      OPSREVIEW_SHARED_CAUSE_LABELS: 'host,rack', OPSREVIEW_LATE_HOLD_QUIET: '10s', OPSREVIEW_ALLOWED_LATENESS: '5m',
    })
    expect(r.ok && thresholdConfigOf(r.value)).toMatchObject({
      quietPeriodMs: 60_000,
      stalenessMs: { ...defaultThresholdConfig.stalenessMs, pingdom: 3_600_000 },
      postmortem: { whenCustomerImpact: false },
      sharedCause: { labels: ['host', 'rack'], exporterJobs: ['kube-state-metrics'] },
      lateHold: { ...defaultThresholdConfig.lateHold, quietMs: 10_000 },
      allowedLatenessMs: 300_000,
    })
  })

  it('as overrides: unset ones keep the defaults and are not reported, set ones are parsed and reported', () => {
    const r = readConfig(thresholdOverridesSpec, { OPSREVIEW_RECURRING_WINDOW: '1d', OPSREVIEW_FLAPPING_MIN_FLAPS: '', OPSREVIEW_JOIN_WINDOW: '0' })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(setOverrides(r.value)).toEqual({ OPSREVIEW_RECURRING_WINDOW: 86_400_000, OPSREVIEW_JOIN_WINDOW: 0 })
    expect(overriddenConfigOf(setOverrides(r.value))).toEqual({
      ...defaults,
      recurring: { minIncidents: defaultThresholdConfig.recurring.minIncidents, windowMs: 86_400_000 },
      joinWindowMs: 0,
    })
  })

  it('as overrides, refuse a bad value naming the variable', () => {
    const r = readConfig(thresholdOverridesSpec, { OPSREVIEW_QUIET_PERIOD: 'soon', OPSREVIEW_RECURRING_MIN_INCIDENTS: '1' })
    expect(!r.ok && r.errors).toEqual([
      expect.stringMatching(/^OPSREVIEW_QUIET_PERIOD must be a duration .*\(unset: the engine's default\)\)$/),
      expect.stringMatching(/^OPSREVIEW_RECURRING_MIN_INCIDENTS must be >= 2/),
    ])
  })
})
