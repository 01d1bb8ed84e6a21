import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { readConfig } from '@opsreview/config'
import { reviewConfigSpec, scopeDefaultsOf } from './config.ts'

const required = { OPSREVIEW_READ_TOKENS: 'r', OPSREVIEW_WRITE_TOKENS: 'w' }

function teamsFile(content: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'opsreview-teams-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'teams.json')
  writeFileSync(file, content)
  return file
}

describe('review configuration: default scope and teams', () => {
  it('covers every environment and knows no team by default', () => {
    const c = readConfig(reviewConfigSpec, required)
    if (!c.ok) throw new Error(c.errors.join())
    expect(scopeDefaultsOf(c.value)).toEqual({ environments: [], teams: new Map() })
  })

  it('reads the default environments and a valid teams file', () => {
    const file = teamsFile(JSON.stringify({ version: 1, teams: { payments: { services: ['checkout', 'billing'] } } }))
    const c = readConfig(reviewConfigSpec, { ...required, OPSREVIEW_REVIEW_ENVIRONMENTS: 'production, staging', OPSREVIEW_TEAMS_FILE: file })
    if (!c.ok) throw new Error(c.errors.join())
    expect(scopeDefaultsOf(c.value)).toEqual({ environments: ['production', 'staging'], teams: new Map([['payments', ['checkout', 'billing']]]) })
  })

  it('takes * as every environment, as ?environment=* says it, and refuses it beside a name', () => {
    const all = readConfig(reviewConfigSpec, { ...required, OPSREVIEW_REVIEW_ENVIRONMENTS: ' * ' })
    if (!all.ok) throw new Error(all.errors.join())
    expect(scopeDefaultsOf(all.value).environments).toEqual([])
    const mixed = readConfig(reviewConfigSpec, { ...required, OPSREVIEW_REVIEW_ENVIRONMENTS: 'production,*' })
    expect(mixed.ok).toBe(false)
    if (!mixed.ok) expect(mixed.errors).toEqual([expect.stringMatching(/^OPSREVIEW_REVIEW_ENVIRONMENTS.*\* \(every environment\) is given alone/)])
  })

  it('refuses to start on a teams file with faults, naming every one, or one it cannot read', () => {
    const file = teamsFile(JSON.stringify({ version: 1, teams: { payments: { services: [] }, search: { services: ['a'], lead: 'x' } } }))
    const c = readConfig(reviewConfigSpec, { ...required, OPSREVIEW_TEAMS_FILE: file })
    expect(c.ok).toBe(false)
    if (c.ok) return
    expect(c.errors).toHaveLength(1)
    expect(c.errors[0]).toContain('OPSREVIEW_TEAMS_FILE')
    expect(c.errors[0]).toContain('/teams/payments/services must NOT have fewer than 1 items')
    expect(c.errors[0]).toContain('/teams/search/lead must NOT have additional properties')
    const missing = readConfig(reviewConfigSpec, { ...required, OPSREVIEW_TEAMS_FILE: path.join(tmpdir(), 'no-such-opsreview-teams.json') })
    expect(missing.ok ? '' : missing.errors.join()).toContain('cannot be read: ENOENT')
  })
})
