import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { defaultGroupingRules } from '@opsreview/grouping'
import { backoffMs } from '@opsreview/lifecycle/backoff'
import { ingestOptionsOf, receiverConfigSpec, spoolOptionsOf } from './config.ts'

const required = { OPSREVIEW_INGEST_TOKENS: 't' }

function file(name: string, text: string): string {
  const p = path.join(mkdtempSync(path.join(os.tmpdir(), 'receiver-config-')), name)
  writeFileSync(p, text)
  return p
}

describe('receiver grouping rules', () => {
  it('maps with the defaults when OPSREVIEW_GROUPING_RULES is empty, and with the file when given', () => {
    const d = readConfig(receiverConfigSpec, required)
    expect(d.ok && ingestOptionsOf(d.value).grouping).toBe(defaultGroupingRules)
    const r = readConfig(receiverConfigSpec, { ...required, OPSREVIEW_GROUPING_RULES: file('r.json', '{"version":1,"environment":{"labels":["stage"],"default":"prd"}}') })
    expect(r.ok && ingestOptionsOf(r.value).grouping.environment).toEqual({ labels: ['stage'], default: 'prd' })
    expect(r.ok && ingestOptionsOf(r.value)).toMatchObject({ pingdomServiceTagPrefixes: ['service:', 'service_'], maxClockSkewMs: 3_600_000 })
  })

  it('refuses to start on a bad file, listing every problem, and on the variables the file replaced', () => {
    const bad = file('rules.yaml', 'version: 1\nservice:\n  labels: service\n  rulez: []\n')
    const r = readConfig(receiverConfigSpec, { ...required, OPSREVIEW_GROUPING_RULES: bad, OPSREVIEW_SERVICE_LABELS: 'app', OPSREVIEW_DEFAULT_ENVIRONMENT: 'prod' })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors).toEqual([
      `OPSREVIEW_GROUPING_RULES 2 problem(s) in the grouping rules:\n    ${bad}:3 /service/labels: must be array\n    ${bad}:4 /service/rulez: is not a known key (${receiverConfigSpec.OPSREVIEW_GROUPING_RULES.doc})`,
      expect.stringMatching(/^OPSREVIEW_SERVICE_LABELS is no longer read: give the labels in the OPSREVIEW_GROUPING_RULES file/),
      expect.stringMatching(/^OPSREVIEW_DEFAULT_ENVIRONMENT is no longer read/),
    ])
    const missing = readConfig(receiverConfigSpec, { ...required, OPSREVIEW_GROUPING_RULES: '/nonexistent/rules.yaml' })
    expect(!missing.ok && missing.errors[0]).toMatch(/^OPSREVIEW_GROUPING_RULES \/nonexistent\/rules\.yaml: cannot read the grouping rules/)
  })
})

describe('receiver limits', () => {
  it('takes bodies up to 16 MiB by default: a storm\'s notification group, which Alertmanager never retries if refused', () => {
    const d = readConfig(receiverConfigSpec, required)
    expect(d.ok && d.value.OPSREVIEW_BODY_LIMIT).toBe(16 * 1024 * 1024)
  })

  it('refuses at start an OPSREVIEW_MAX_EVENT_AGE under an hour, listed with the other errors', () => {
    const hour = readConfig(receiverConfigSpec, { ...required, OPSREVIEW_MAX_EVENT_AGE: '1h' })
    expect(hour.ok && ingestOptionsOf(hour.value).maxEventAgeMs).toBe(3_600_000)
    for (const tooShort of ['0', '1s', '59m']) {
      const bad = readConfig(receiverConfigSpec, { ...required, OPSREVIEW_MAX_EVENT_AGE: tooShort, OPSREVIEW_ALERTS_PARTITIONS: '0' })
      expect(!bad.ok && bad.errors, tooShort).toEqual([
        expect.stringMatching(/^OPSREVIEW_ALERTS_PARTITIONS /),
        expect.stringMatching(/^OPSREVIEW_MAX_EVENT_AGE must be at least 3600000 ms/),
      ])
    }
  })

  it('has the spool retry a failed drain after 1 s, doubling to 5 s at most, and keeps its size limit', () => {
    const d = readConfig(receiverConfigSpec, { ...required, OPSREVIEW_SPOOL_MAX_BYTES: '256mb' })
    if (!d.ok) throw new Error(d.errors.join('\n'))
    const options = spoolOptionsOf(d.value)
    expect(options.maxBytes).toBe(256 * 1024 * 1024)
    expect(Array.from({ length: 8 }, (_, i) => backoffMs(i + 1, options.retryDelayMs!, options.maxRetryDelayMs!))).toEqual([1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000])
  })
})
