import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { defaultGroupingRules } from '@opsreview/grouping'
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

  it("refuses a tick or health interval longer than Node's timers wait (which then fire every millisecond), naming the variable", () => {
    const bad = readConfig(correlatorConfigSpec, { OPSREVIEW_TICK_INTERVAL: '30d', OPSREVIEW_CONSUMER_HEALTH_INTERVAL: '25d' })
    expect(bad.ok ? [] : bad.errors).toEqual([
      expect.stringMatching(/^OPSREVIEW_TICK_INTERVAL must be at most 2147483647 ms, got 2592000000 ms/),
      expect.stringMatching(/^OPSREVIEW_CONSUMER_HEALTH_INTERVAL must be at most 2147483647 ms, got 2160000000 ms/),
    ])
    const ok = readConfig(correlatorConfigSpec, { OPSREVIEW_TICK_INTERVAL: '24d', OPSREVIEW_CONSUMER_HEALTH_INTERVAL: '24d' })
    expect(ok.ok && [ok.value.OPSREVIEW_TICK_INTERVAL, ok.value.OPSREVIEW_CONSUMER_HEALTH_INTERVAL]).toEqual([24 * 86_400_000, 24 * 86_400_000])
  })

  it('refuses a session timeout the broker would refuse every join with (6 s to 30 min), naming the variable', () => {
    for (const [raw, error] of [['0', /must be at least 6000 ms, got 0 ms/], ['2s', /must be at least 6000 ms, got 2000 ms/], ['2h', /must be at most 1800000 ms, got 7200000 ms/]] as const) {
      const r = readConfig(correlatorConfigSpec, { OPSREVIEW_KAFKA_SESSION_TIMEOUT: raw })
      expect(r.ok ? [] : r.errors).toEqual([expect.stringMatching(new RegExp(`^OPSREVIEW_KAFKA_SESSION_TIMEOUT ${error.source}`))])
    }
    const ok = readConfig(correlatorConfigSpec, { OPSREVIEW_KAFKA_SESSION_TIMEOUT: '6s' })
    expect(ok.ok && ok.value.OPSREVIEW_KAFKA_SESSION_TIMEOUT).toBe(6000)
  })

  it('hands the engine its event-time settings', () => {
    const r = readConfig(correlatorConfigSpec, { OPSREVIEW_ALLOWED_LATENESS: '5m', OPSREVIEW_FUTURE_TOLERANCE: '0' })
    expect(r.ok && engineConfigOf(r.value)).toMatchObject({ allowedLatenessMs: 5 * 60_000, futureToleranceMs: 0 })
    const d = readConfig(correlatorConfigSpec, {})
    expect(d.ok && engineConfigOf(d.value)).toMatchObject({ allowedLatenessMs: 0, futureToleranceMs: 60_000 })
  })
})

describe('correlator grouping rules', () => {
  const file = (name: string, text: string) => {
    const p = path.join(mkdtempSync(path.join(os.tmpdir(), 'correlator-config-')), name)
    writeFileSync(p, text)
    return p
  }

  it('hands the engine the rules of OPSREVIEW_GROUPING_RULES, or the defaults', () => {
    const d = readConfig(correlatorConfigSpec, {})
    expect(d.ok && engineConfigOf(d.value).grouping).toBe(defaultGroupingRules)
    const rules = file('rules.yaml', 'version: 1\ngroupBy:\n  default: [service, labels.cluster]\n')
    const r = readConfig(correlatorConfigSpec, { OPSREVIEW_GROUPING_RULES: rules })
    expect(r.ok && engineConfigOf(r.value).grouping.groupBy.default.fields).toEqual(['environment', 'labels.cluster', 'service'])
  })

  it('refuses a bad file with every problem and its line, and the variables the file replaced', () => {
    const bad = file('rules.yml', 'version: 1\ngroupBy:\n  rules:\n    - match: { labels: { pod: { regex: "(" } } }\n      by: [pod]\n')
    const r = readConfig(correlatorConfigSpec, { OPSREVIEW_GROUPING_RULES: bad, OPSREVIEW_GROUP_BY: 'service', OPSREVIEW_INCIDENT_KEY_LABEL: 'ticket' })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors).toEqual([
      expect.stringMatching(new RegExp(`^OPSREVIEW_GROUPING_RULES 2 problem\\(s\\) in the grouping rules:\\n {4}${bad}:4 /groupBy/rules/0/match/labels/pod/regex: is not a valid regex.*\\n {4}${bad}:5 /groupBy/rules/0/by/0: must be service, environment`)),
      expect.stringMatching(/^OPSREVIEW_GROUP_BY is no longer read: give the grouping in the OPSREVIEW_GROUPING_RULES file/),
      expect.stringMatching(/^OPSREVIEW_INCIDENT_KEY_LABEL is no longer read/),
    ])
    const regex = file('rules.json', '{"version":1,"groupBy":{"rules":[{"match":{"labels":{"pod":{"regex":"("}}},"by":["labels.pod"]}]}}')
    const r2 = readConfig(correlatorConfigSpec, { OPSREVIEW_GROUPING_RULES: regex })
    expect(!r2.ok && r2.errors[0]).toMatch(/\/groupBy\/rules\/0\/match\/labels\/pod\/regex: is not a valid regex/)
  })
})
