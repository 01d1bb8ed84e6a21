import { describe, expect, it } from 'vitest'
import { defaultCorrelationConfig as d } from '@opsreview/correlation/config'
import { engineConfigOf } from './settings.ts'

describe('engineConfigOf', () => {
  it('sets nothing when nothing is given: the engine keeps its defaults', () => {
    expect(engineConfigOf({})).toEqual({})
  })

  it('maps each variable to its field, filling the rest of a group from the defaults', () => {
    expect(engineConfigOf({ OPSREVIEW_QUIET_PERIOD: 60_000, OPSREVIEW_STALENESS_PINGDOM: 3_600_000, OPSREVIEW_RECURRING_WINDOW: 86_400_000, OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT: 'false', OPSREVIEW_ALLOWED_LATENESS: 0 })).toEqual({
      quietPeriodMs: 60_000,
      stalenessMs: { ...d.stalenessMs, pingdom: 3_600_000 },
      recurring: { minIncidents: d.recurring.minIncidents, windowMs: 86_400_000 },
      postmortem: { ...d.postmortem, whenCustomerImpact: false },
      allowedLatenessMs: 0,
    })
  })
})
