import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { defaultGroupingRules } from '@opsreview/grouping'
import { ingestOptionsOf, receiverConfigSpec } from './config.ts'

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
